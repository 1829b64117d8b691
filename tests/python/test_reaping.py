"""Idle reaping (`--idle-timeout`): an environment idle longer than the timeout is destroyed
(its runtime process gone, the environment gauges back to zero) and the next invocation is a
cold start again."""

import json
import time

import pytest

from conftest import ROLE, Server, fixture_zip, make_client
from lambdad_host import environments, metric, runtimes, scrape, tail, wait_for

IDLE = 2.0


@pytest.fixture(scope="module")
def reaping():
    s = Server(extra=["--idle-timeout", f"{IDLE:g}s"])
    s.start()
    yield s
    code = s.stop()
    assert code == 0, f"lambdad did not shut down cleanly (exit {code}): {s.log()[-2000:]}"
    s.tmp.cleanup()


def report(out):
    return next(line for line in tail(out).splitlines() if line.startswith("REPORT "))


def pooled(server):
    env = environments(server)
    return env["idle"] + env["frozen"]


@pytest.mark.timeout(120)
def test_idle_environment_is_reaped_and_the_next_invocation_is_cold(reaping):
    lam = make_client(reaping.endpoint)
    lam.create_function(FunctionName="reaped", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("echo")})

    first = lam.invoke(FunctionName="reaped", Payload=b'{"n": 1}', LogType="Tail")
    assert json.loads(first["Payload"].read()) == {"n": 1}
    assert "Init Duration: " in report(first), "the first invocation is a cold start"
    second = lam.invoke(FunctionName="reaped", Payload=b'{"n": 2}', LogType="Tail")
    returned = time.time()
    assert "Init Duration: " not in report(second), "an environment idle for less than the timeout is reused"

    # One environment, pooled, with its runtime running on the host.
    assert wait_for("the environment to be pooled", lambda: pooled(reaping) == 1, 10)
    alive = runtimes(reaping)
    assert len(alive) == 1, f"one runtime process: {alive}"

    # Reaped: no environment pooled and its runtime process gone, within a generous deadline
    # (the reaper looks every 0.5 s), but not before the idle timeout.
    wait_for("the idle environment to be reaped",
             lambda: pooled(reaping) == 0 and not runtimes(reaping), IDLE + 30)
    waited = time.time() - returned
    assert waited >= IDLE - 0.2, f"reaped after {waited:.2f} s, before the {IDLE} s idle timeout"
    env = environments(reaping)
    assert env == {"initialising": 0, "busy": 0, "idle": 0, "frozen": 0}, env

    third = lam.invoke(FunctionName="reaped", Payload=b'{"n": 3}', LogType="Tail")
    assert json.loads(third["Payload"].read()) == {"n": 3}
    assert "Init Duration: " in report(third), "after reaping the next invocation is a cold start"
    cold = metric(scrape(reaping), "lambdad_cold_starts_total", function="reaped", version="$LATEST")
    assert cold == 2, cold
    assert len(runtimes(reaping)) == 1, "a new runtime process serves it"
