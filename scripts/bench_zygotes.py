#!/usr/bin/env python3
"""Cold starts of a Python hello-world with and without zygotes (BENCHMARKS.md).

Starts two `lambdad serve` of the same build, one with `--zygotes 0` and one with `--zygotes 1`
(both `--cpu-quota off`, as the invoke harness runs), and alternates rounds between them: each
round changes the function's configuration (so that the invoke needs a new environment), waits
until the server is quiet (with zygotes: until one is ready, `lambdad_zygotes_ready`; without:
until no environment is initialising), then times one Invoke on a keep-alive connection, from
the request to the response's last byte.

    scripts/bench_zygotes.py --bin target/release/lambdad --rounds 40 --runtime python3.11
"""

import argparse
import http.client
import io
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

HELLO = {
    "python": ("app.handler", "app.py", "def handler(event, context):\n    return {'hello': 'world'}\n"),
    "nodejs": ("index.handler", "index.mjs", "export const handler = async () => ({ hello: 'world' });\n"),
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lambdad:
    def __init__(self, binary, zygotes, runtime):
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-zygotes-")
        self.port = free_port()
        self.zygotes = zygotes
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(Path(self.tmp.name) / "data"),
             "--cpu-quota", "off", "--zygotes", str(zygotes), "--memory-budget-mb", "8192"],
            stdout=subprocess.DEVNULL, stderr=open(Path(self.tmp.name) / "log", "wb"),
            env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home()), "LAMBDAD_LOG": "warn"},
        )
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.request("GET", "/health")[0] == 200:
                    break
            except OSError:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            assert time.monotonic() < deadline, "lambdad did not start"
            time.sleep(0.05)
        handler, file, source = HELLO["nodejs" if runtime.startswith("nodejs") else "python"]
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(file, source)
        import base64
        body = {"FunctionName": "hello", "Runtime": runtime, "Handler": handler,
                "Role": "arn:aws:iam::000000000000:role/r", "Code": {"ZipFile": base64.b64encode(buf.getvalue()).decode()}}
        status, out = self.request("POST", "/2015-03-31/functions", json.dumps(body))
        assert status == 201, out

    def request(self, method, path, body=None):
        self.conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return r.status, r.read()

    def gauge(self, name):
        _, text = self.request("GET", "/metrics")
        total = 0.0
        for line in text.decode().splitlines():
            if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def quiet(self, first=False):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # The first cold start of a runtime starts its zygotes' pool.
            ready = self.gauge("lambdad_zygotes_ready") >= 1 if self.zygotes and not first else True
            if ready and self.gauge('lambdad_environments{state="initialising"}') == 0:
                return
            time.sleep(0.02)
        raise AssertionError("no zygote became ready")

    def cold(self, round_no):
        cfg = json.dumps({"Environment": {"Variables": {"ROUND": str(round_no)}}})
        status, out = self.request("PUT", "/2015-03-31/functions/hello/configuration", cfg)
        assert status == 200, out
        self.quiet(first=round_no < 0)
        time.sleep(0.1)  # the refill's and the retired environment's work settle
        t = time.perf_counter()
        status, out = self.request("POST", "/2015-03-31/functions/hello/invocations", "{}")
        took = time.perf_counter() - t
        assert status == 200 and b"world" in out, out
        return took * 1000

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)
        self.tmp.cleanup()


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--rounds", type=int, default=40)
    ap.add_argument("--runtime", default="python3.11")
    a = ap.parse_args()
    servers = [Lambdad(a.bin, 0, a.runtime), Lambdad(a.bin, 1, a.runtime)]
    times = {0: [], 1: []}
    try:
        # A first cold start of each (the zygotes' pool starts with it), not counted.
        for s in servers:
            s.cold(-1)
        for i in range(a.rounds):
            for s in servers if i % 2 == 0 else reversed(servers):
                times[s.zygotes].append(s.cold(i))
    finally:
        for s in servers:
            s.stop()
    for z, xs in times.items():
        label = "zygotes" if z else "no zygotes"
        print(f"{a.runtime} cold start, {label} (n={len(xs)}): p50 {statistics.median(xs):.1f} ms, "
              f"p90 {pct(xs, 0.9):.1f} ms, min {min(xs):.1f} ms, max {max(xs):.1f} ms")


if __name__ == "__main__":
    sys.exit(main())
