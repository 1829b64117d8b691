"""Synchronous Invoke of a real lambda_runtime function through boto3 and the aws CLI."""

import base64
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, aws, fixture_zip, make_client, wait_for, zip_bytes


@pytest.fixture(scope="module")
def fn(lam):
    lam.create_function(
        FunctionName="py-behave",
        Runtime="provided.al2023",
        Handler="bootstrap",
        Role=ROLE,
        Code={"ZipFile": fixture_zip("behave")},
        Timeout=2,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName="py-behave")
    return "py-behave"


def call(lam, name, event, **kw):
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail", **kw)
    body = out["Payload"].read()
    log = base64.b64decode(out.get("LogResult", "")).decode()
    return out, (json.loads(body) if body else None), log


def test_echo_and_log_tail(lam, fn):
    out, body, log = call(lam, fn, {"op": "echo", "x": [1, "two"]})
    assert out["StatusCode"] == 200 and "FunctionError" not in out
    assert body == {"op": "echo", "x": [1, "two"]}
    assert out["ExecutedVersion"] == "$LATEST"
    request_id = out["ResponseMetadata"]["RequestId"]
    lines = log.splitlines()
    assert lines[0] == f"START RequestId: {request_id} Version: $LATEST"
    assert f"END RequestId: {request_id}" in lines
    report = [l for l in lines if l.startswith("REPORT")][0]
    assert report.startswith(f"REPORT RequestId: {request_id}\tDuration: ")
    assert "\tMemory Size: 128 MB\tMax Memory Used: " in report


def test_function_errors(lam, fn):
    out, body, _ = call(lam, fn, {"op": "error", "message": "nope"})
    assert out["StatusCode"] == 200 and out["FunctionError"] == "Unhandled"
    assert body["errorMessage"] == "handled failure: nope"
    out, body, _ = call(lam, fn, {"op": "panic"})
    assert out["FunctionError"] == "Unhandled"
    assert "the handler panicked" in json.dumps(body)


def test_timeout_then_recovery(lam, fn):
    out, body, log = call(lam, fn, {"op": "sleep", "ms": 4000})
    rid = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Sandbox.Timedout", "errorMessage": f"RequestId: {rid} Error: Task timed out after 2.00 seconds"}
    assert f"{rid} Task timed out after 2.00 seconds" in log
    out, body, log = call(lam, fn, {"op": "echo"})
    assert "FunctionError" not in out and "Init Duration" in log


def test_warm_reuse(lam, fn):
    counts = [call(lam, fn, {"op": "counter"})[1] for _ in range(3)]
    assert [c["count"] for c in counts] == sorted(c["count"] for c in counts)
    assert counts[2]["count"] == counts[0]["count"] + 2
    assert counts[2]["tmp_lines"] == counts[0]["tmp_lines"] + 2
    assert len({c["env_id"] for c in counts}) == 1


def test_parallel_invocations_get_their_own_environments(lam, fn):
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: call(lam, fn, {"op": "sleep", "ms": 1000})[1], range(8)))
    assert len({r["env_id"] for r in results}) == 8


def test_init_failure(lam):
    lam.create_function(
        FunctionName="py-badinit", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
        Code={"ZipFile": fixture_zip("behave")}, Environment={"Variables": {"FAIL_INIT": "1"}},
    )
    out, body, log = call(lam, "py-badinit", {})
    assert out["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ExitError"
    assert body["errorMessage"].endswith("Error: Runtime exited with error: exit status 3")
    assert "init failed on purpose" in log


def test_payload_limit_and_dry_run(lam, fn):
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=fn, Payload=b'{"pad":"' + b"x" * (7 * 1024 * 1024) + b'"}')
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == ("RequestEntityTooLargeException", "Request must be smaller than 6291456 bytes for the InvokeFunction operation")
    out = lam.invoke(FunctionName=fn, InvocationType="DryRun")
    assert out["StatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="py-missing")


def test_aws_cli_invoke(server, fn):
    out_file = server.data_dir.parent / "out.json"
    _, out, _ = aws(server, "lambda", "invoke", "--function-name", fn, "--payload", '{"op":"echo","via":"cli"}',
                    "--log-type", "Tail", str(out_file))
    assert out["StatusCode"] == 200
    assert json.loads(out_file.read_text()) == {"op": "echo", "via": "cli"}
    assert "START RequestId:" in base64.b64decode(out["LogResult"]).decode()
    _, out, _ = aws(server, "lambda", "invoke", "--function-name", fn, "--payload", '{"op":"error","message":"cli"}', str(out_file))
    assert out["FunctionError"] == "Unhandled"
    assert json.loads(out_file.read_text())["errorMessage"] == "handled failure: cli"


SLOW_INIT = """
import time
time.sleep(10.5)  # module init: longer than the 10 s init limit


def handler(event, context):
    return "ready"
"""


def test_init_over_ten_seconds_is_retried_with_the_function_timeout(server, lam):
    # AWS: an Init phase over 10 s is retried at the first invocation with the
    # function's timeout; it succeeds when that timeout allows it, and times
    # out after the function's timeout when not.
    for name, timeout in (("slow-init-30", 30), ("slow-init-5", 5)):
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Timeout=timeout, Code={"ZipFile": zip_bytes({"app.py": (SLOW_INIT, 0o644)})})
    logs = make_client(server.endpoint, "logs")
    with ThreadPoolExecutor(2) as pool:
        long, short = pool.map(lambda n: lam.invoke(FunctionName=n, Payload=b"{}"), ["slow-init-30", "slow-init-5"])
    assert "FunctionError" not in long and json.loads(long["Payload"].read()) == "ready"
    assert short["FunctionError"] == "Unhandled"
    body = json.loads(short["Payload"].read())
    assert body["errorType"] == "Sandbox.Timedout" and body["errorMessage"].endswith("Task timed out after 5.00 seconds")

    def init_report():
        events = logs.filter_log_events(logGroupName="/aws/lambda/slow-init-30", filterPattern="INIT_REPORT")["events"]
        return [e["message"] for e in events]
    lines = wait_for(init_report, 30, "the first init's INIT_REPORT line")
    assert "Phase: init\tStatus: timeout" in lines[0] and lines[0].startswith("INIT_REPORT Init Duration: 10")
