"""`--log-retention-days`: at start-up (then hourly) lambdad deletes log streams whose file was last
written longer ago than the retention of their group (PutRetentionPolicy), or than
`--log-retention-days` where the group sets none; the CloudWatch Logs API no longer lists them."""

import json
import os
import time

import pytest

from conftest import ROLE, Server, aws, fixture_zip, make_client
from lambdad_host import wait_for

DAY = 86_400


def streams(server, group):
    _, out, _ = aws(server, "logs", "describe-log-streams", "--log-group-name", group)
    return [s["logStreamName"] for s in out["logStreams"]]


def stream_file(server, group, stream):
    return server.data_dir / "logs" / group.lstrip("/") / f"{stream}.log"


def age(path, days):
    """Makes a stream look as the server sees one last written `days` ago: its mtime."""
    old = time.time() - days * DAY
    os.utime(path, (old, old))


@pytest.fixture
def server():
    s = Server()
    yield s
    code = s.stop()
    assert code in (0, None), f"lambdad did not shut down cleanly (exit {code}): {s.log()[-2000:]}"
    s.tmp.cleanup()


@pytest.mark.timeout(180)
def test_streams_older_than_the_retention_are_deleted(server):
    server.start()
    lam = make_client(server.endpoint)
    for name in ("aged", "kept"):
        lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                            Code={"ZipFile": fixture_zip("echo")})
        assert "FunctionError" not in lam.invoke(FunctionName=name, Payload=b"{}")
    [old_stream] = streams(server, "/aws/lambda/aged")
    # A second environment of `aged` (new configuration, new environment) writes a second stream.
    lam.update_function_configuration(FunctionName="aged", Environment={"Variables": {"VERSION": "2"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName="aged")
    assert "FunctionError" not in lam.invoke(FunctionName="aged", Payload=b"{}")
    # `kept`'s group keeps its logs a week, whatever the server's default.
    aws(server, "logs", "put-retention-policy", "--log-group-name", "/aws/lambda/kept", "--retention-in-days", "7")
    [new_stream] = [s for s in streams(server, "/aws/lambda/aged") if s != old_stream]
    [kept_stream] = streams(server, "/aws/lambda/kept")
    assert server.stop() == 0

    # Three days old: past the default retention (1 day), within `kept`'s (7 days).
    old_file = stream_file(server, "/aws/lambda/aged", old_stream)
    kept_file = stream_file(server, "/aws/lambda/kept", kept_stream)
    for f in (old_file, kept_file):
        assert f.is_file(), f
        age(f, 3)
    server.extra = ["--log-retention-days", "1"]
    server.start()
    wait_for("the expired stream to be deleted", lambda: not old_file.exists(), 60)
    # The sweep logs once it has finished, just after the deletion.
    wait_for("the sweep's log line", lambda: "Expired log streams deleted." in server.log(), 30)
    assert "streams=1" in server.log(), server.log()[-2000:]

    assert streams(server, "/aws/lambda/aged") == [new_stream], "the recent stream is kept"
    assert streams(server, "/aws/lambda/kept") == [kept_stream], "the group's own retention wins"
    assert kept_file.is_file()
    code, _, err = aws(server, "logs", "get-log-events", "--log-group-name", "/aws/lambda/aged",
                       "--log-stream-name", old_stream, check=False)
    assert code != 0 and "ResourceNotFoundException" in err, err
    # The function's logging carries on in its group.
    out = lam.invoke(FunctionName="aged", Payload=json.dumps({"after": "retention"}))
    assert json.loads(out["Payload"].read()) == {"after": "retention"}
    assert len(streams(server, "/aws/lambda/aged")) == 2
