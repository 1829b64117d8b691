"""Bursts: a burst at ten times a function's reserved concurrency throttles exactly the excess
(429 with AWS's Reason) while the others are answered, without a deadlock or a stalled pool."""

import json
import threading

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROLE, fixture_zip, metric, wait_for

RESERVED = 5
BURST = 50


def burst_client(server):
    """A client with a connection per concurrent call (botocore's pool holds 10 by default)."""
    return boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
                        config=Config(retries={"max_attempts": 1}, read_timeout=120,
                                      max_pool_connections=BURST))


def run_burst(client, name, n, sleep_ms):
    """n invokes released at once; each result is ("ok", env id) or the throttle's details."""
    gate = threading.Barrier(n)
    results = [None] * n

    def call(i):
        gate.wait(timeout=60)
        try:
            out = client.invoke(FunctionName=name, Payload=json.dumps({"op": "sleep", "ms": sleep_ms}).encode())
            body = json.loads(out["Payload"].read())
            results[i] = ("ok", body.get("env_id"), out.get("FunctionError"))
        except ClientError as e:
            r = e.response
            results[i] = ("throttled", r["Error"]["Code"], r["Error"]["Message"], r.get("Reason"),
                          r["ResponseMetadata"]["HTTPStatusCode"])

    threads = [threading.Thread(target=call, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=110)
    assert not any(t.is_alive() for t in threads), "a burst's invocation never returned"
    return results


@pytest.mark.timeout(240)
def test_burst_at_ten_times_reserved_concurrency_throttles_exactly_the_excess(server, lam):
    lam.create_function(FunctionName="burst", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")}, Timeout=60)
    lam.put_function_concurrency(FunctionName="burst", ReservedConcurrentExecutions=RESERVED)
    client = burst_client(server)

    # Each admitted invocation holds its slot for 8 s, longer than the whole burst takes to
    # arrive: the 45 others find all 5 slots taken.
    results = run_burst(client, "burst", BURST, 8000)
    ok = [r for r in results if r[0] == "ok"]
    throttled = [r for r in results if r[0] == "throttled"]
    assert len(ok) == RESERVED, results
    assert all(r[2] is None for r in ok), ok
    assert len({r[1] for r in ok}) == RESERVED, f"each admitted invocation ran in its own environment: {ok}"
    assert throttled == [("throttled", "TooManyRequestsException", "Rate Exceeded.",
                          "ReservedFunctionConcurrentInvocationLimitExceeded", 429)] * (BURST - RESERVED)

    # The pool is not stalled: the function serves at once, from the environments the burst
    # started, and a second burst within the reservation is answered whole.
    out = lam.invoke(FunctionName="burst", Payload=b'{"op":"echo","n":1}')
    assert out["StatusCode"] == 200 and json.loads(out["Payload"].read()) == {"op": "echo", "n": 1}
    again = run_burst(client, "burst", RESERVED, 500)
    assert [r[0] for r in again] == ["ok"] * RESERVED, again
    assert {r[1] for r in again} <= {r[1] for r in ok}, "the second burst reused the warm environments"

    # Every slot was released: no invocation is counted as running any more.
    wait_for(lambda: metric(server, "lambdad_concurrent_executions") == 0, 30, "every slot to be released")
    lam.delete_function_concurrency(FunctionName="burst")
    assert lam.invoke(FunctionName="burst", Payload=b'{"op":"echo"}')["StatusCode"] == 200
