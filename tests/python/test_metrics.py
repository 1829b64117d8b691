"""Observability: Prometheus metrics scraped by a real Prometheus server, metered usage
(`lambdad usage`), the `lambdad logs` command, and logging that never blocks an invocation."""

import json
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

from lambdad_host import metric as value
from pathlib import Path

import pytest

from conftest import BIN, ROLE, Server, _free_port, make_client, require_root, require_tool, zip_bytes

APP = '''
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
'''

LOUD = '''
import sys

def handler(event, context):
    line = "x" * 1023 + "\\n"
    for _ in range(event["mb"] * 1024):
        sys.stdout.write(line)
    sys.stdout.flush()
    return "done"
'''


def scrape(server):
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        assert r.headers["content-type"].startswith("application/openmetrics-text")
        return r.read().decode()


@pytest.fixture(scope="module")
def measured(lam):
    lam.create_function(FunctionName="measured", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})}, MemorySize=512)
    for fail in (False, False, False, True):
        lam.invoke(FunctionName="measured", Payload=json.dumps({"fail": fail}))
    lam.put_function_concurrency(FunctionName="measured", ReservedConcurrentExecutions=0)
    # One plain request (an SDK would retry the 429).
    req = urllib.request.Request(lam.meta.endpoint_url + "/2015-03-31/functions/measured/invocations",
                                 data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=30)
    assert e.value.code == 429
    lam.delete_function_concurrency(FunctionName="measured")
    return "measured"


def test_metrics_count_invocations(server, measured):
    text = scrape(server)
    fn = {"function": "measured", "version": "$LATEST"}
    assert value(text, "lambdad_invocations_total", **fn) == 4
    assert value(text, "lambdad_errors_total", **fn) == 1
    assert value(text, "lambdad_cold_starts_total", **fn) == 1
    assert value(text, "lambdad_throttles_total", function="measured") == 1
    assert value(text, "lambdad_duration_seconds_count", **fn) == 4
    assert value(text, "lambdad_init_duration_seconds_count", **fn) == 1
    assert value(text, "lambdad_environments", state="idle") + value(text, "lambdad_environments", state="frozen") >= 1
    assert value(text, "lambdad_memory_committed_bytes") >= 512 * 1024 * 1024
    assert value(text, "lambdad_async_queue_depth") == 0
    gbs = value(text, "lambdad_billed_gb_seconds_total", function="measured")
    assert 0 < gbs < 4 * 0.5 * 10, gbs
    cost = value(text, "lambdad_estimated_cost_usd", function="measured")
    assert cost == pytest.approx(4 / 1e6 * 0.20 + gbs * 0.0000166667, rel=1e-6)


def test_an_idle_environment_is_frozen_and_thawed(server, lam):
    require_root("freezing (the namespace sandbox)")
    lam.create_function(FunctionName="freezes", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
    frozen = lambda: value(scrape(server), "lambdad_environments", state="frozen")
    before = frozen()
    out = lam.invoke(FunctionName="freezes", Payload=b"{}")
    assert "FunctionError" not in out
    deadline = time.time() + 10
    while frozen() < before + 1:
        assert time.time() < deadline, "the idle environment was not frozen"
        time.sleep(0.05)
    out = lam.invoke(FunctionName="freezes", Payload=b"{}")
    assert "FunctionError" not in out, "a frozen environment is thawed for the next invocation"
    assert value(scrape(server), "lambdad_cold_starts_total", function="freezes", version="$LATEST") == 1


def test_usage_command(server, measured):
    out = subprocess.run([str(BIN), "usage", "--endpoint", f"127.0.0.1:{server.port}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    row = next(l for l in out.stdout.splitlines() if l.startswith("measured "))
    fields = row.split()
    assert fields[1:3] == ["x86_64", "4"], row
    assert float(fields[3]) > 0 and float(fields[4]) > 0


def test_logs_command(server, measured):
    out = subprocess.run([str(BIN), "logs", "measured", "--data-dir", str(server.data_dir), "--since", "1h"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("START RequestId: ") == 4
    assert "asked to fail" in out.stdout
    assert "\x1b[" not in out.stdout, "no colours when not on a terminal"
    filtered = subprocess.run([str(BIN), "logs", "measured", "--data-dir", str(server.data_dir), "--since", "1h",
                               "--filter", "REPORT"], capture_output=True, text=True, timeout=30)
    assert filtered.stdout.count("\n") == 4 and filtered.stdout.count("REPORT RequestId") == 4


def test_prometheus_scrapes_metrics(server, measured):
    prometheus = require_tool("prometheus")
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-prom-"))
    (tmp / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n"
        "scrape_configs:\n  - job_name: lambdad\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{server.port}']\n")
    port = _free_port()
    proc = subprocess.Popen([prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "wb"))
    try:
        query = f"http://127.0.0.1:{port}/api/v1/query?query=" + urllib.parse.quote(
            'lambdad_invocations_total{function="measured"}')
        deadline = time.time() + 60
        result = []
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(query, timeout=5) as r:
                    result = json.load(r)["data"]["result"]
                if result:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        assert result, (tmp / "prometheus.log").read_text()[-2000:]
        assert result[0]["metric"]["version"] == "$LATEST" and float(result[0]["value"][1]) == 4
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def test_50_mb_of_output_does_not_block(server, lam):
    lam.create_function(FunctionName="loud", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (LOUD, 0o644)})}, Timeout=120, MemorySize=256)
    result = {}

    def run():
        result["out"] = lam.invoke(FunctionName="loud", Payload=json.dumps({"mb": 50}))

    t = threading.Thread(target=run)
    t.start()
    health = []
    while t.is_alive():
        start = time.monotonic()
        with urllib.request.urlopen(server.endpoint + "/health", timeout=10) as r:
            assert r.status == 200
        health.append(time.monotonic() - start)
        time.sleep(0.1)
    t.join()
    out = result["out"]
    assert "FunctionError" not in out and json.loads(out["Payload"].read()) == "done"
    assert health, "the server was polled while the function wrote"
    # The log holds all of it.
    logs = server.data_dir / "logs" / "aws" / "lambda" / "loud"
    size = sum(p.stat().st_size for p in logs.rglob("*.log"))
    assert size > 50 * 1024 * 1024


def test_log_stream_size_cap():
    server = Server(extra=["--log-max-stream-mb", "1"])
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="capped", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (LOUD, 0o644)})}, Timeout=60)
        out = lam.invoke(FunctionName="capped", Payload=json.dumps({"mb": 3}))
        assert "FunctionError" not in out and json.loads(out["Payload"].read()) == "done"
        files = list((server.data_dir / "logs" / "aws" / "lambda" / "capped").rglob("*.log"))
        assert len(files) == 1
        size = files[0].stat().st_size
        assert 1024 * 1024 - 2048 < size < 1024 * 1024 + 1024, size
        assert "reached its size limit of 1048576 bytes" in files[0].read_text()[-300:]
    finally:
        assert server.stop() == 0
