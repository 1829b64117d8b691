"""RabbitMQ mapping throughput and added latency, end to end (BENCHMARKS.md).

Run from the repository root after `cargo build [--release] --workspace --bins`, with RabbitMQ
at 127.0.0.1:5672 (guest/guest):

    LAMBDAD_BIN=target/release/lambdad .venv/bin/python scripts/bench_rabbitmq.py [MESSAGES] [BATCH]

It publishes MESSAGES (default 20,000) small messages, creates a mapping with BatchSize BATCH
(default 1,000) to a Python function that reports each batch's size to an HTTP recorder here,
and times from the mapping's creation until every message was reported. Then, with the
mapping idle, it publishes single messages carrying their publish time and reports the time
from publish to the function's start (p50 over 20)."""

import os
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

from conftest import ROLE, Server, make_client, zip_bytes  # noqa: E402
from test_rabbitmq import AMQP, BROKER, Recorder, connect, declare, publish  # noqa: E402

FUNCTION = '''
import base64, json, os, time, urllib.request

def handler(event, context):
    started = time.time()
    msgs = [m for ms in event["rmqMessagesByQueue"].values() for m in ms]
    first = base64.b64decode(msgs[0]["data"]).decode()
    body = json.dumps({"count": len(msgs), "first": first, "started": started}).encode()
    urllib.request.urlopen(urllib.request.Request(os.environ["RECORDER"], data=body), timeout=10).read()
'''


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    recorder = Recorder()
    server = Server(extra=["--broker", f"main={AMQP}"])
    server.start()
    q = f"lambdad-bench-{uuid.uuid4().hex[:8]}"
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="bench", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (FUNCTION, 0o644)})}, Timeout=30,
                            Environment={"Variables": {"RECORDER": recorder.url}})
        declare(q)
        publish(q, [f"m{i}" for i in range(total)])
        start = time.time()
        lam.create_event_source_mapping(FunctionName="bench", EventSourceArn=BROKER, Queues=[q], BatchSize=batch)

        def done():
            with recorder.lock:
                return sum(e["count"] for e in recorder.events)
        while done() < total:
            time.sleep(0.05)
        took = time.time() - start
        with recorder.lock:
            batches = len(recorder.events)
        print(f"{total} messages in {batches} batches of up to {batch}: {took:.2f} s, {total / took:,.0f} messages/s")

        latencies = []
        for i in range(20):
            with recorder.lock:
                before = len(recorder.events)
            publish(q, [f"t{time.time()!r}"])
            while True:
                with recorder.lock:
                    if len(recorder.events) > before:
                        e = recorder.events[-1]
                        break
                time.sleep(0.005)
            latencies.append(e["started"] - float(e["first"][1:]))
        latencies.sort()
        print(f"publish to function start: p50 {latencies[10] * 1000:.0f} ms, "
              f"max {latencies[-1] * 1000:.0f} ms (includes the 500 ms batching window)")
    finally:
        server.stop()
        server.tmp.cleanup()
        conn = connect()
        conn.channel().queue_delete(q)
        conn.close()


if __name__ == "__main__":
    main()
