"""Metered usage survives a restart: lambdad saves it to DATA_DIR/usage.json when it stops
(SIGTERM) and every 10 s while it runs (so a SIGKILL loses at most the last 10 s), and restores it
at start: `lambdad usage` and GET /_lambdad/usage still count the earlier requests."""

import json
import subprocess
import urllib.request

import pytest

from conftest import BIN, ROLE, Server, fixture_zip, make_client
from lambdad_host import metric, scrape, wait_for


@pytest.fixture
def server():
    s = Server()
    s.start()
    yield s
    code = s.stop()
    assert code in (0, None), f"lambdad did not shut down cleanly (exit {code}): {s.log()[-2000:]}"
    s.tmp.cleanup()


def usage(server):
    """{function: row} from GET /_lambdad/usage."""
    with urllib.request.urlopen(server.endpoint + "/_lambdad/usage", timeout=10) as r:
        return {f["FunctionName"]: f for f in json.loads(r.read())["Functions"]}


def usage_command(server):
    """{function: (requests, gb-seconds)} as `lambdad usage` prints them."""
    out = subprocess.run([str(BIN), "usage", "--endpoint", f"127.0.0.1:{server.port}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] != "TOTAL":
            rows[fields[0]] = (int(fields[2]), float(fields[3]))
    return rows


def invoke_n(server, name, n):
    lam = make_client(server.endpoint)
    for i in range(n):
        out = lam.invoke(FunctionName=name, Payload=json.dumps({"i": i}))
        assert json.loads(out["Payload"].read()) == {"i": i}


def saved(server):
    try:
        return json.loads((server.data_dir / "usage.json").read_text())
    except (OSError, ValueError):
        return {}


def create(server, name):
    make_client(server.endpoint).create_function(
        FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
        Code={"ZipFile": fixture_zip("echo")}, MemorySize=1024)


@pytest.mark.timeout(120)
def test_usage_survives_a_graceful_restart(server):
    create(server, "metered")
    invoke_n(server, "metered", 3)
    before = usage(server)["metered"]
    assert before["Requests"] == 3 and before["GbSeconds"] > 0, before
    gbs = metric(scrape(server), "lambdad_billed_gb_seconds_total", function="metered")

    assert server.stop() == 0
    assert saved(server)["metered"]["requests"] == 3, "saved at shutdown"
    server.start()
    after = usage(server)["metered"]
    assert (after["Requests"], after["Architecture"]) == (3, before["Architecture"]), after
    assert after["GbSeconds"] == pytest.approx(before["GbSeconds"]), "restored as it was"
    assert after["EstimatedCostUsd"] == pytest.approx(before["EstimatedCostUsd"])
    assert usage_command(server)["metered"][0] == 3
    assert metric(scrape(server), "lambdad_billed_gb_seconds_total", function="metered") == pytest.approx(gbs)

    invoke_n(server, "metered", 1)
    again = usage(server)["metered"]
    assert again["Requests"] == 4, "counting goes on from the restored usage"
    assert again["GbSeconds"] > before["GbSeconds"]


@pytest.mark.timeout(120)
def test_usage_saved_periodically_survives_a_kill(server):
    create(server, "killed")
    invoke_n(server, "killed", 2)
    # The periodic save (every 10 s) writes the count before the kill.
    wait_for("usage.json to hold the 2 requests",
             lambda: saved(server).get("killed", {}).get("requests") == 2, 40, interval=0.2)
    server.proc.kill()
    server.proc.wait(timeout=30)
    server.proc = None
    server.start()
    assert usage(server)["killed"]["Requests"] == 2, "restored after a SIGKILL"
    assert usage_command(server)["killed"][0] == 2
    invoke_n(server, "killed", 1)
    assert usage(server)["killed"]["Requests"] == 3
