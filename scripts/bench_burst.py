#!/usr/bin/env python3
"""Bursts of first invocations: N concurrent Invokes of a Python function that has no environment
yet (each invocation sleeps, so each needs an environment of its own), sent at once from N
threads, one keep-alive connection each. Each invocation reports when its handler started
(time.time(), the same host's clock) and its environment's log stream; the figures are the
time from the burst's start until N environments were running (the last handler's start), the
environments created per second over that time, and the p50 of the handlers' start.

Then, with `--throttle-burst`, a burst at ten times a reserved concurrency: how many were
answered and refused (429 and its Reason), and how long the refusals took.

Usage: .venv/bin/python scripts/bench_burst.py [--bin target/release/lambdad] [--burst 200]
       [--sleep 10] [--runtime python3.11] [--rounds 2] [--throttle-burst]
Figures for BENCHMARKS.md, never test thresholds."""

import argparse
import collections
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
import conftest  # noqa: E402
from conftest import ROLE, Server, make_client, zip_bytes  # noqa: E402

APP = """import os, time
def handler(event, context):
    started = time.time()
    time.sleep(event.get("sleep", 0))
    return {"started": started, "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}
"""


def burst(port, function, n, sleep):
    """n invocations released at once; (burst start, [(status, body, headers)])."""
    conns = []
    for _ in range(n):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        c.connect()
        conns.append(c)
    gate = threading.Barrier(n + 1)
    results = [None] * n
    body = json.dumps({"sleep": sleep}).encode()

    def work(i):
        c = conns[i]
        gate.wait()
        c.request("POST", f"/2015-03-31/functions/{function}/invocations", body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        results[i] = (r.status, r.read(), dict(r.getheaders()), time.time())
        c.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    start = time.time()
    gate.wait()
    for t in threads:
        t.join()
    return start, results


def deploy(lam, name, runtime, memory):
    lam.create_function(FunctionName=name, Runtime=runtime, Handler="app.handler", Role=ROLE, MemorySize=memory,
                        Timeout=120, Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def cold_burst(server, lam, name, args):
    deploy(lam, name, args.runtime, args.memory)
    start, results = burst(server.port, name, args.burst, args.sleep)
    bad = [(s, b[:120]) for s, b, _, _ in results if s != 200]
    assert not bad, f"{len(bad)} of {args.burst} failed, first {bad[0]}"
    answers = [json.loads(b) for _, b, _, _ in results]
    streams = {a["stream"] for a in answers}
    starts = sorted(a["started"] - start for a in answers)
    last = starts[-1]
    overlapped = last < args.sleep
    print(f"{name}: {args.burst} first invocations, {len(streams)} environments; all running "
          f"{last * 1e3:,.0f} ms after the burst ({args.burst / last:,.0f} environments/s), "
          f"handler start p50 {statistics.median(starts) * 1e3:,.0f} ms, first {starts[0] * 1e3:,.0f} ms"
          f"{'' if overlapped else ' (NOT all running at once: raise --sleep)'}", flush=True)
    return last


def throttle_burst(server, lam, name, args):
    reserved = max(1, args.burst // 10)
    deploy(lam, name, args.runtime, args.memory)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
    start, results = burst(server.port, name, reserved * 10, 2)
    kinds = collections.Counter()
    refused_after = []
    for status, body, headers, at in results:
        if status == 200:
            kinds["answered"] += 1
        else:
            reason = json.loads(body).get("Reason")
            kinds[f"{status} {headers.get('x-amzn-ErrorType', '')} {reason}"] += 1
            refused_after.append(at - start)
    refused_after.sort()
    print(f"{name}: reserved {reserved}, burst of {reserved * 10}: {dict(kinds)}; refusals answered within "
          f"p50 {statistics.median(refused_after) * 1e3:,.0f} ms, max {refused_after[-1] * 1e3:,.0f} ms", flush=True)
    # Still serving afterwards.
    out = lam.invoke(FunctionName=name, Payload=b'{"sleep": 0}')
    assert out["StatusCode"] == 200 and "FunctionError" not in out, out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=None)
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--sleep", type=float, default=10.0, help="seconds each invocation sleeps")
    p.add_argument("--runtime", default="python3.11")
    p.add_argument("--memory", type=int, default=128)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--throttle-burst", action="store_true")
    args = p.parse_args()
    if args.bin:
        conftest.BIN = Path(args.bin).resolve()
    print(f"lambdad binary: {conftest.BIN}", flush=True)
    budget = str(max(16384, args.burst * args.memory * 2))
    server = Server(extra=["--memory-budget-mb", budget])
    server.start()
    try:
        lam = make_client(server.endpoint)
        for r in range(args.rounds):
            cold_burst(server, lam, f"burst{r}", args)
        if args.throttle_burst:
            throttle_burst(server, lam, "throttled", args)
    finally:
        server.stop()
        server.tmp.cleanup()


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
