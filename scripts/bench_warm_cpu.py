#!/usr/bin/env python3
"""lambdad's own CPU per warm invocation: the user + system time of the lambdad process (all its
threads; not its sandbox helpers, not the function) from /proc/PID/stat before and after N warm
Invokes of the `echo` fixture (built with the lambda_runtime crate), divided by N. With several
`--bin`s the builds alternate, round after round, so that the machine's load falls on each alike.

With `--callgrind` lambdad runs under valgrind's callgrind instead: the counters are zeroed after
the warm-up (callgrind_control -z) and dumped after the N invocations (-d), and the figure is
instructions per invocation, which the machine's noise does not move. The dump stays in
`--out` for callgrind_annotate.

Usage: .venv/bin/python scripts/bench_warm_cpu.py --bin target/release/lambdad [--bin OTHER]
       [--echo target/release/echo] [--invokes 5000] [--clients 1] [--rounds 3] [--callgrind]
Figures for BENCHMARKS.md, never test thresholds."""

import argparse
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
import conftest  # noqa: E402
from conftest import ROLE, Server, make_client, zip_bytes  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of the whole process (exited threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def switches(pid):
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def invoke_loop(port, n, clients):
    """n warm invocations spread over `clients` keep-alive connections; the seconds they took."""
    per = n // clients
    errors = []

    def work(_):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for _ in range(per):
            conn.request("POST", "/2015-03-31/functions/echo/invocations", body=b'{"k":1}',
                         headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200 or body != b'{"k":1}':
                errors.append((resp.status, body[:100]))
        conn.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - start
    assert not errors, f"{len(errors)} failed invocations, first {errors[0]}"
    return per * clients, took


class Valgrind(Server):
    """lambdad under callgrind (a wrapper keeps the pid: valgrind execs nothing else)."""

    def __init__(self, out, **kw):
        super().__init__(**kw)
        self.out = out

    def start(self):
        wrapper = Path(self.tmp.name) / "lambdad-callgrind"
        wrapper.write_text(f"#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={self.out} "
                           f"--dump-instr=no --collect-jumps=no {self.real} \"$@\"\n")
        wrapper.chmod(0o755)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDAD_")}
        self.proc = subprocess.Popen(
            [str(wrapper), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir),
             *self.extra], stdout=subprocess.DEVNULL, stderr=open(self.log_path, "ab"), env=env)
        deadline = time.time() + 300
        while time.time() < deadline:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            assert self.proc.poll() is None, f"lambdad exited: {self.log()}"
            time.sleep(0.2)
        raise RuntimeError(f"lambdad under valgrind did not become healthy: {self.log()[-2000:]}")


def run(binary, echo, args, out_dir):
    conftest.BIN = binary
    extra = ["--memory-budget-mb", "16384", "--cpu-quota", "off"]
    if args.callgrind:
        server = Valgrind(out_dir / f"callgrind.{binary.parent.parent.name}.{time.time_ns()}", extra=extra)
        server.real = binary
    else:
        server = Server(extra=extra)
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="echo", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                            MemorySize=1769, Code={"ZipFile": zip_bytes({"bootstrap": (echo.read_bytes(), 0o755)})})
        invoke_loop(server.port, args.warmup * args.clients, args.clients)
        pid = server.proc.pid
        if args.callgrind:
            subprocess.run(["callgrind_control", "-z", str(pid)], check=True, capture_output=True)
        cpu, ctx = cpu_seconds(pid), switches(pid)
        n, took = invoke_loop(server.port, args.invokes, args.clients)
        cpu, ctx = cpu_seconds(pid) - cpu, switches(pid) - ctx
        line = (f"{binary}: {args.clients} client(s), {n} invocations, {n / took:,.0f}/s, "
                f"lambdad CPU {cpu / n * 1e6:.1f} µs each, {ctx / n:.2f} context switches each")
        if args.callgrind:
            subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
            time.sleep(1)
            dumps = sorted(out_dir.glob(f"{server.out.name}*"), key=lambda p: p.stat().st_mtime)
            total = 0
            for text in dumps[-1].read_text().splitlines():
                if text.startswith("summary:") or text.startswith("totals:"):
                    total = int(text.split()[1])
            line += f", {total / n:,.0f} instructions each ({dumps[-1].name})"
        print(line, flush=True)
    finally:
        server.stop()
        server.tmp.cleanup()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", action="append", default=[])
    p.add_argument("--echo", default=None)
    p.add_argument("--invokes", type=int, default=5000)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--clients", type=int, default=1)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--callgrind", action="store_true")
    p.add_argument("--out", default=None, help="where callgrind's dumps go (default: a temporary directory)")
    args = p.parse_args()
    bins = [Path(b).resolve() for b in args.bin] or [conftest.BIN]
    echo = Path(args.echo).resolve() if args.echo else bins[0].parent / "echo"
    assert echo.is_file(), f"{echo} is missing: build the fixtures (cargo build --release -p lambdad-fixture-functions)"
    if args.callgrind:
        assert shutil.which("valgrind") and shutil.which("callgrind_control"), "valgrind is not installed"
    out_dir = Path(args.out or tempfile.mkdtemp(prefix="callgrind-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    for r in range(args.rounds):
        print(f"round {r + 1}", flush=True)
        for b in bins:
            run(b, echo, args, out_dir)


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
