"""A full disk: lambdad answers with clear errors, loses nothing it
acknowledged, keeps serving what needs no space, and recovers by itself once
space is free again. The data directory is a small tmpfs (needs root)."""

import json
import re
import subprocess
import urllib.request

import botocore.exceptions
import pytest

from conftest import ROLE, Server, fixture_zip, make_client, metric, require_root, wait_for



def fill(path):
    """Writes `path` until the disk is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError as e:
                assert e.errno == 28, e  # ENOSPC
                break
    # Small writes too, so that no partial block is left.
    with open(path, "ab", buffering=0) as f:
        while True:
            try:
                f.write(b"\0" * 512)
                written += 512
            except OSError:
                return written


def invocations(server, name):
    """lambdad_invocations_total of `name`, summed over its versions."""
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        m = re.fullmatch(r"lambdad_invocations_total\{(.*)\} (\S+)", line)
        if m and f'function="{name}"' in m.group(1):
            total += float(m.group(2))
    return total


def assert_disk_full(resp):
    """A 5xx ServiceException whose message names the cause."""
    assert resp["ResponseMetadata"]["HTTPStatusCode"] >= 500, resp
    assert resp["Error"]["Code"] == "ServiceException", resp
    message = resp["Error"]["Message"]
    assert "No space left on device" in message or "disk is full" in message, resp


def error_of(call):
    with pytest.raises(botocore.exceptions.ClientError) as e:
        call()
    return e.value.response


@pytest.fixture
def small_disk():
    """A server whose data directory is a 48 MiB tmpfs: (server, Lambda client). It must
    still be running at the end, and stop cleanly."""
    require_root("mounting a tmpfs")
    server = Server()
    server.data_dir.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(server.data_dir)], check=True)
    try:
        server.start()
        yield server, make_client(server.endpoint)
        assert server.proc.poll() is None, "lambdad is still running"
    finally:
        code = server.stop()
        subprocess.run(["umount", "-l", str(server.data_dir)], check=False)
        server.tmp.cleanup()
    assert code == 0, server.log()[-3000:]


def test_a_full_disk_gives_clear_errors_and_recovers(small_disk):
    server, lam = small_disk
    code = fixture_zip("echo")
    lam.create_function(FunctionName="before", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE, Code={"ZipFile": code})
    r = lam.invoke(FunctionName="before", Payload=b'{"n": 1}')
    assert r["StatusCode"] == 200 and "FunctionError" not in r, r
    accepted = lam.invoke(FunctionName="before", InvocationType="Event", Payload=b'{"n": "async-before"}')
    assert accepted["StatusCode"] == 202

    filler = server.data_dir / "filler"
    assert fill(filler) > 0

    # Writes fail with a clear error, as AWS's 5xx ServiceException.
    resp = error_of(lambda: lam.create_function(FunctionName="during", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE, Code={"ZipFile": code}))
    assert_disk_full(resp)
    resp = error_of(lambda: lam.update_function_configuration(FunctionName="before", Description="x" * 200))
    assert_disk_full(resp)
    # An event that cannot be stored durably is refused, not acknowledged and lost.
    resp = error_of(lambda: lam.invoke(FunctionName="before", InvocationType="Event", Payload=b'{"n": "async-during"}'))
    assert_disk_full(resp)

    # Reads still work, and what was there is intact.
    assert lam.get_function(FunctionName="before")["Configuration"]["Description"] == ""
    names = [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    assert names == ["before"], names
    r = lam.invoke(FunctionName="before", Payload=b'{"n": 2}')
    assert r["StatusCode"] == 200 and json.loads(r["Payload"].read()) == {"n": 2}, r

    # Space again: everything works without a restart.
    filler.unlink()
    lam.create_function(FunctionName="after", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE, Code={"ZipFile": code})
    lam.update_function_configuration(FunctionName="before", Description="recovered")
    assert lam.invoke(FunctionName="before", InvocationType="Event", Payload=b'{"n": "async-after"}')["StatusCode"] == 202
    r = lam.invoke(FunctionName="after", Payload=b'{"n": 3}')
    assert json.loads(r["Payload"].read()) == {"n": 3}
    # Both acknowledged events ran (with the two synchronous calls: 4), the refused one never.
    # Once the async queue is empty, no other invocation can come.
    wait_for(lambda: invocations(server, "before") >= 4 and metric(server, "lambdad_async_queue_depth") == 0,
             30, "the acknowledged events to run")
    assert invocations(server, "before") == 4


def async_stats(server):
    with urllib.request.urlopen(server.endpoint + "/_lambdad/async-stats", timeout=10) as r:
        return json.loads(r.read())


def test_an_event_that_finishes_on_a_full_disk_leaves_the_queue_once_space_returns(small_disk):
    server, lam = small_disk
    """The event ran while the disk filled up, so its removal from the queue
    failed: it is removed as soon as there is room again (not left leased
    until its lease ends, 16 minutes later), and it does not run twice."""
    lam.create_function(FunctionName="slow", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Timeout=30, Code={"ZipFile": fixture_zip("behave")})
    lam.get_waiter("function_active_v2").wait(FunctionName="slow")
    assert lam.invoke(FunctionName="slow", Payload=b'{"op": "echo"}')["StatusCode"] == 200
    event = json.dumps({"op": "sleep", "ms": 3000}).encode()
    assert lam.invoke(FunctionName="slow", InvocationType="Event", Payload=event)["StatusCode"] == 202
    wait_for(lambda: metric(server, "lambdad_concurrent_executions") >= 1, 30, "the event to start running")

    filler = server.data_dir / "filler"
    assert fill(filler) > 0
    wait_for(lambda: async_stats(server)["storeErrors"] >= 1, 30, "the event's removal to fail on the full disk")
    assert invocations(server, "slow") == 2
    assert metric(server, "lambdad_errors_total") == 0
    assert metric(server, "lambdad_async_queue_depth") == 1

    filler.unlink()
    wait_for(lambda: metric(server, "lambdad_async_queue_depth") == 0, 30, "the handled event to leave the queue")
    assert invocations(server, "slow") == 2
