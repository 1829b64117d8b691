"""Asynchronous invocation: durable queue, retries, destinations, crash safety."""

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, fixture_zip, make_client, zip_bytes


def log_text(server, function):
    root = server.data_dir / "logs" / "aws" / "lambda" / function
    return "\n".join(p.read_text() for p in root.rglob("*.log")) if root.exists() else ""


def wait_for(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


@pytest.fixture(scope="module")
def fast():
    server = Server(extra=["--async-retry-delays", "1s,1s"])
    server.start()
    yield server, make_client(server.endpoint)
    assert server.stop() == 0
    server.tmp.cleanup()


def test_event_is_accepted_and_runs(fast):
    server, lam = fast
    lam.create_function(FunctionName="ev", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")})
    out = lam.invoke(FunctionName="ev", InvocationType="Event", Payload=b'{"op":"print","text":"async hello"}')
    assert out["StatusCode"] == 202 and out["Payload"].read() == b""
    assert wait_for(lambda: "async hello" in log_text(server, "ev"))
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="ev", InvocationType="Event", Payload=b'{"pad":"' + b"x" * 262144 + b'"}')
    err = e.value.response["Error"]
    assert err["Code"] == "RequestEntityTooLargeException"
    assert err["Message"] == "262154 byte payload is too large for the Event invocation type (limit 262144 bytes)"


def intervals(server, function):
    """(start ms, end ms) of each invocation, from the START and END records of its log."""
    starts, ends = {}, {}
    for line in log_text(server, function).splitlines():
        ms, _, text = line.partition("\t")
        m = re.match(r"(START|END) RequestId: (\S+)", text)
        if m:
            (starts if m.group(1) == "START" else ends)[m.group(2)] = int(ms)
    return [(starts[r], ends[r]) for r in ends if r in starts]


def max_overlap(spans):
    edges = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans], key=lambda x: (x[0], x[1]))
    running = best = 0
    for _, step in edges:
        running += step
        best = max(best, running)
    return best


def test_a_backlog_of_slow_events_runs_concurrently(fast):
    """Events that wait on something (here: sleep 2 s) run side by side, as on
    Lambda: the queue's adaptive limit grows while the CPUs are idle."""
    server, lam = fast
    lam.create_function(FunctionName="slow-ev", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")})
    n = 24
    for _ in range(n):
        lam.invoke(FunctionName="slow-ev", InvocationType="Event", Payload=b'{"op":"sleep","ms":2000}')
    assert wait_for(lambda: len(intervals(server, "slow-ev")) == n, timeout=120), intervals(server, "slow-ev")
    overlap = max_overlap(intervals(server, "slow-ev"))
    assert overlap >= 16, f"at most {overlap} of {n} sleeping events ran at once"


def test_async_payload_limit_is_configurable():
    server = Server(extra=["--async-max-payload", "1048576"])
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="big-ev", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                            Code={"ZipFile": fixture_zip("behave")})
        ok = lam.invoke(FunctionName="big-ev", InvocationType="Event", Payload=b'{"pad":"' + b"x" * 500_000 + b'"}')
        assert ok["StatusCode"] == 202
        with pytest.raises(ClientError) as e:
            lam.invoke(FunctionName="big-ev", InvocationType="Event", Payload=b'{"pad":"' + b"x" * 1_048_576 + b'"}')
        assert e.value.response["Error"]["Message"] == (
            "1048586 byte payload is too large for the Event invocation type (limit 1048576 bytes)")
    finally:
        assert server.stop() == 0
        server.tmp.cleanup()


def test_retries_counted_exactly_and_on_failure_destination(fast):
    server, lam = fast
    sink = "import json\ndef handler(event, context):\n    print('RECORD ' + json.dumps(event))\n"
    lam.create_function(FunctionName="sink", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (sink, 0o644)})})
    lam.create_function(FunctionName="failing", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")})
    cfg = lam.put_function_event_invoke_config(
        FunctionName="failing", MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:sink"}})
    assert cfg["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:failing:$LATEST"
    assert cfg["MaximumRetryAttempts"] == 1
    assert lam.get_function_event_invoke_config(FunctionName="failing")["MaximumRetryAttempts"] == 1
    assert len(lam.list_function_event_invoke_configs(FunctionName="failing")["FunctionEventInvokeConfigs"]) == 1
    out = lam.invoke(FunctionName="failing", InvocationType="Event", Payload=b'{"op":"error","message":"always"}')
    rid = out["ResponseMetadata"]["RequestId"]
    records = wait_for(lambda: re.findall(r"RECORD (\{.*\})", log_text(server, "sink")))
    assert records, log_text(server, "sink")
    rec = json.loads(records[0])
    assert rec["requestContext"]["requestId"] == rid
    assert rec["requestContext"]["condition"] == "RetriesExhausted"
    assert rec["requestContext"]["approximateInvokeCount"] == 2
    assert rec["requestContext"]["functionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:failing:$LATEST"
    assert rec["requestPayload"] == {"op": "error", "message": "always"}
    assert rec["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"}
    assert rec["responsePayload"]["errorMessage"] == "handled failure: always"
    starts = log_text(server, "failing").count(f"START RequestId: {rid}")
    assert starts == 2, "MaximumRetryAttempts 1: the event ran exactly twice"
    import urllib.request as _rq
    stats = json.loads(_rq.urlopen(server.endpoint + "/_lambdad/async-stats").read())
    assert stats["retriesExhausted"] >= 1 and stats["received"] >= 2, stats

    import urllib.error
    import urllib.request
    req = urllib.request.Request(server.endpoint + "/2019-09-25/functions/failing/event-invoke-config",
                                 data=b'{"MaximumEventAgeInSeconds": 30}', method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req)
    assert e.value.code == 400 and e.value.headers["x-amzn-ErrorType"] == "ValidationException"
    lam.delete_function_event_invoke_config(FunctionName="failing")
    with pytest.raises(ClientError) as e:
        lam.get_function_event_invoke_config(FunctionName="failing")
    assert e.value.response["Error"]["Message"] == (
        "The function arn:aws:lambda:us-east-1:000000000000:function:failing:$LATEST doesn't have an EventInvokeConfig")


def test_on_success_destination(fast):
    server, lam = fast
    lam.create_function(FunctionName="ok-src", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")})
    lam.put_function_event_invoke_config(
        FunctionName="ok-src",
        DestinationConfig={"OnSuccess": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:sink"}})
    out = lam.invoke(FunctionName="ok-src", InvocationType="Event", Payload=b'{"op":"echo","n":7}')
    rid = out["ResponseMetadata"]["RequestId"]
    found = wait_for(lambda: [json.loads(r) for r in re.findall(r"RECORD (\{.*\})", log_text(server, "sink"))
                              if json.loads(r)["requestContext"]["requestId"] == rid])
    assert found and found[0]["requestContext"]["condition"] == "Success"
    assert found[0]["responsePayload"] == {"op": "echo", "n": 7}


def test_event_age_exceeded_goes_to_on_failure():
    server = Server(extra=["--async-retry-delays", "61s"])
    server.start()
    try:
        lam = make_client(server.endpoint)
        sink = "import json\ndef handler(event, context):\n    print('RECORD ' + json.dumps(event))\n"
        lam.create_function(FunctionName="age-sink", Runtime="python3.11", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (sink, 0o644)})})
        lam.create_function(FunctionName="aging", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                            Code={"ZipFile": fixture_zip("behave")})
        lam.put_function_event_invoke_config(
            FunctionName="aging", MaximumEventAgeInSeconds=60,
            DestinationConfig={"OnFailure": {"Destination": "arn:aws:lambda:us-east-1:000000000000:function:age-sink"}})
        out = lam.invoke(FunctionName="aging", InvocationType="Event", Payload=b'{"op":"error"}')
        rid = out["ResponseMetadata"]["RequestId"]
        records = wait_for(lambda: re.findall(r"RECORD (\{.*\})", log_text(server, "age-sink")))
        rec = json.loads(records[0])
        assert (rec["requestContext"]["requestId"], rec["requestContext"]["condition"]) == (rid, "EventAgeExceeded")
        assert rec["requestContext"]["approximateInvokeCount"] == 1
        assert log_text(server, "aging").count(f"START RequestId: {rid}") == 1, "not retried past its maximum age"
    finally:
        assert server.stop() == 0
        server.tmp.cleanup()


def test_nothing_accepted_is_lost_across_kill_9():
    server = Server(extra=["--async-retry-delays", "1s"])
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="crash", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                            Code={"ZipFile": fixture_zip("behave")})
        # A slow function with little concurrency, so that a backlog builds up.
        lam.put_function_concurrency(FunctionName="crash", ReservedConcurrentExecutions=8)
        total = 2000
        accepted = []

        def send(i):
            out = lam.invoke(FunctionName="crash", InvocationType="Event",
                             Payload=json.dumps({"op": "print", "ms": 30, "text": f"EVENT-{i}-END"}).encode())
            assert out["StatusCode"] == 202
            accepted.append(str(i))

        for i in range(total // 2):
            send(i)
        # Kill -9 in the middle of processing, then start again on the same data dir.
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        delivered_before = set(re.findall(r"EVENT-(\d+)-END", log_text(server, "crash")))
        assert len(delivered_before) < len(accepted), "the kill came while events were still queued"
        server.start()
        lam = make_client(server.endpoint)
        for i in range(total // 2, total):
            send(i)
        expected = set(accepted)
        seen = wait_for(lambda: (s := set(re.findall(r"EVENT-(\d+)-END", log_text(server, "crash")))) >= expected and s, 180)
        assert seen and seen >= expected, f"missing {len(expected - (seen or set()))} of {len(expected)} events"
        printed = re.findall(r"\tEVENT-(\d+)-END", log_text(server, "crash"))
        print(f"\n{len(expected)} events accepted; {len(delivered_before)} delivered before the kill -9; "
              f"all delivered after the restart; {len(printed) - len(set(printed))} duplicate deliveries")
    finally:
        server.stop()
        server.tmp.cleanup()
