"""Function logs through the CloudWatch Logs API: the real aws CLI (v1 from the venv, and v2's
`aws logs tail --follow`) against lambdad's logs endpoint."""

import base64
import json
import os
import queue
import re
import subprocess
import threading
import time

import pytest

from conftest import ROLE, aws, require_tool, zip_bytes

APP = '''
import base64
import json

def handler(event, context):
    print("plain line", event["tag"])
    print(json.dumps({"level": event["level"], "msg": "structured", "tag": event["tag"]}))
    return "ok"
'''
GROUP = "/aws/lambda/logged"


@pytest.fixture(scope="module")
def logged(lam):
    lam.create_function(FunctionName="logged", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
    for tag, level in (("one", "INFO"), ("two", "ERROR")):
        out = lam.invoke(FunctionName="logged", Payload=json.dumps({"tag": tag, "level": level}))
        assert "FunctionError" not in out
    return "logged"


def test_log_groups_streams_and_events(server, logged):
    _, out, _ = aws(server, "logs", "describe-log-groups", "--log-group-name-prefix", "/aws/lambda/logg")
    groups = out["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP]
    assert groups[0]["arn"] == f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}:*"
    assert groups[0]["storedBytes"] > 0

    _, out, _ = aws(server, "logs", "describe-log-streams", "--log-group-name", GROUP,
                    "--order-by", "LastEventTime", "--descending")
    streams = out["logStreams"]
    assert len(streams) == 1, "both invocations ran in one warm environment"
    name = streams[0]["logStreamName"]
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]+", name), name
    assert streams[0]["firstEventTimestamp"] <= streams[0]["lastEventTimestamp"]

    _, out, _ = aws(server, "logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", name,
                    "--start-from-head")
    messages = [e["message"] for e in out["events"]]
    assert messages[0].startswith("START RequestId: ") and "plain line one" in messages
    assert sum(m.startswith("REPORT RequestId: ") for m in messages) == 2
    assert out["nextForwardToken"].startswith("f/")
    _, page, _ = aws(server, "logs", "get-log-events", "--log-group-name", GROUP, "--log-stream-name", name,
                     "--start-from-head", "--limit", "2")
    assert [e["message"] for e in page["events"]] == messages[:2]

    code, _, err = aws(server, "logs", "get-log-events", "--log-group-name", "/aws/lambda/none",
                       "--log-stream-name", "x", check=False)
    assert code != 0 and "ResourceNotFoundException" in err


def test_filter_patterns(server, logged):
    def filtered(pattern):
        _, out, _ = aws(server, "logs", "filter-log-events", "--log-group-name", GROUP, "--filter-pattern", pattern)
        return [e["message"] for e in out["events"]]

    assert len(filtered("structured")) == 2
    assert filtered("plain two") == ["plain line two"]
    assert len(filtered("?one ?two")) == 4
    errors = filtered('{ $.level = "ERROR" }')
    assert len(errors) == 1 and json.loads(errors[0])["tag"] == "two"
    assert filtered('{ $.level = "ERROR" && $.tag = "one" }') == []
    code, _, err = aws(server, "logs", "filter-log-events", "--log-group-name", GROUP,
                       "--filter-pattern", "{ $.level = ", check=False)
    assert code != 0 and "InvalidParameterException" in err


def test_retention_policy(server, logged):
    aws(server, "logs", "put-retention-policy", "--log-group-name", GROUP, "--retention-in-days", "7")
    _, out, _ = aws(server, "logs", "describe-log-groups", "--log-group-name-prefix", GROUP)
    assert out["logGroups"][0]["retentionInDays"] == 7
    code, _, err = aws(server, "logs", "put-retention-policy", "--log-group-name", GROUP,
                       "--retention-in-days", "8", check=False)
    assert code != 0 and "InvalidParameterException" in err
    aws(server, "logs", "delete-retention-policy", "--log-group-name", GROUP)
    _, out, _ = aws(server, "logs", "describe-log-groups", "--log-group-name-prefix", GROUP)
    assert "retentionInDays" not in out["logGroups"][0]


def aws_v2():
    """The aws CLI v2 (Debian's package; scripts/test installs it), which has `logs tail`."""
    path = require_tool("/usr/bin/aws")
    out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60)
    assert out.stdout.startswith("aws-cli/2"), f"{path} is not the aws CLI v2: {out.stdout}{out.stderr}"
    return path


class Lines:
    """The lines of a pipe, read by a thread of their own, so that waiting for one takes at most
    its timeout (a plain `readline()` blocks for as long as the writer stays silent)."""

    def __init__(self, stream):
        self.lines = queue.Queue()
        self.seen = ""
        threading.Thread(target=lambda: [self.lines.put(l) for l in stream], daemon=True).start()

    def until(self, needle, timeout):
        """Reads until a line containing `needle`; fails after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line with {needle!r} within {timeout}s; saw:\n{self.seen}"
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen += line
            if needle in line:
                return line


def test_aws_logs_tail_follow(server, lam, logged):
    cli = aws_v2()
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    base = [cli, "--endpoint-url", server.endpoint, "logs", "tail", GROUP]
    out = subprocess.run(base + ["--since", "1h", "--format", "short"], capture_output=True, text=True,
                         env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "plain line one" in out.stdout and "plain line two" in out.stdout

    proc = subprocess.Popen(base + ["--follow", "--since", "1h"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        out = Lines(proc.stdout)
        out.until("plain line two", timeout=30)  # the CLI has made its first poll: it follows now
        lam.invoke(FunctionName="logged", Payload=json.dumps({"tag": "followed", "level": "INFO"}))
        out.until("plain line followed", timeout=30)
    finally:
        proc.kill()
        proc.wait()


LEVELS_PY = '''
import logging

def handler(event, context):
    logging.getLogger().debug("debug line")
    logging.getLogger().info("info line")
    logging.getLogger().warning("warn line")
    logging.getLogger().error("error line")
    return "ok"
'''

LEVELS_NODE = '''
export const handler = async () => {
  console.debug("debug line");
  console.info("info line");
  console.warn("warn line");
  console.error("error line");
  return "ok";
};
'''


def tail_records(lam, name):
    out = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    assert "FunctionError" not in out
    return [json.loads(l) for l in base64.b64decode(out["LogResult"]).decode().splitlines() if l.strip()]


def test_json_log_format_and_levels(lam):
    from test_runtimes import node_runtime
    config = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "INFO"}
    functions = [("json-py", "python3.12", "app.handler", {"app.py": (LEVELS_PY, 0o644)})]
    if node_runtime():
        functions.append(("json-node", node_runtime(), "index.handler", {"index.mjs": (LEVELS_NODE, 0o644)}))
    for name, runtime, handler, files in functions:
        lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                            Code={"ZipFile": zip_bytes(files)}, LoggingConfig=config)
        records = tail_records(lam, name)
        types = [r.get("type") for r in records if "type" in r]
        assert types[0] == "platform.start" and types[-2:] == ["platform.runtimeDone", "platform.report"], records
        report = records[-1]["record"]
        assert report["status"] == "success" and report["metrics"]["memorySizeMB"] == 128
        assert report["metrics"]["billedDurationMs"] >= 1 and "initDurationMs" in report["metrics"]
        messages = [r.get("message") for r in records if "message" in r]
        assert messages == ["warn line", "error line"], (name, records)
        assert all(r["level"] in ("WARN", "WARNING", "ERROR") for r in records if "message" in r)

        lam.update_function_configuration(FunctionName=name, LoggingConfig={"SystemLogLevel": "WARN"})
        lam.get_waiter("function_updated_v2").wait(FunctionName=name)
        records = tail_records(lam, name)
        assert not any(str(r.get("type", "")).startswith("platform.") for r in records), records


def test_each_warm_invocation_logs_its_output_before_its_report(lam):
    """What a function prints is in the log before its END and REPORT lines, on
    every invocation (the engine skips the flush round trip when the pipe is
    already empty: this would catch a line left behind)."""
    code = 'import sys\ndef handler(event, context):\n    print("out", event["i"])\n' \
           '    print("err", event["i"], file=sys.stderr)\n    return event["i"]\n'
    lam.create_function(FunctionName="ordered-logs", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (code, 0o644)})})
    for i in range(150):
        out = lam.invoke(FunctionName="ordered-logs", Payload=json.dumps({"i": i}), LogType="Tail")
        assert json.loads(out["Payload"].read()) == i
        tail = base64.b64decode(out["LogResult"]).decode()
        report = tail.index("REPORT RequestId")
        for stream in ("out", "err"):
            line = f"{stream} {i}\n"
            assert line in tail[:report], f"invocation {i}: {line!r} missing before REPORT in {tail!r}"
