"""Kinesis and DynamoDB Streams mapping throughput and added latency, end to end (BENCHMARKS.md).

Run from the repository root after `cargo build [--release] --workspace --bins`:

    LAMBDAD_BIN=target/release/lambdad .venv/bin/python scripts/bench_streams.py [RECORDS] [BATCH] [FACTOR]

It starts moto's server (the streams) and lambdad, then for a Kinesis stream of 2 shards and a
DynamoDB table's stream: writes RECORDS records (default 20,000; DynamoDB a quarter of that, since
moto writes items slowly), creates a TRIM_HORIZON mapping with BatchSize BATCH (default 1,000) and
ParallelizationFactor FACTOR (default 1) to a Python function that reports each batch's size to an
HTTP recorder here, and times from the mapping's creation until every record was reported. Then,
with the mapping idle, it writes single records carrying their write time and reports the time from
the write to the function's start (p50 and max over 20)."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "python"))

from conftest import ROLE, Server, aws_client, make_client, start_moto, zip_bytes  # noqa: E402
from test_rabbitmq import Recorder  # noqa: E402

FUNCTION = '''
import base64, json, os, time, urllib.request

def handler(event, context):
    started = time.time()
    r = event["Records"][0]
    if r["eventSource"] == "aws:kinesis":
        first = base64.b64decode(r["kinesis"]["data"]).decode()
    else:
        first = r["dynamodb"].get("NewImage", {}).get("v", {}).get("S", "")
    body = json.dumps({"count": len(event["Records"]), "first": first, "started": started}).encode()
    urllib.request.urlopen(urllib.request.Request(os.environ["RECORDER"], data=body), timeout=10).read()
'''


def reported(recorder):
    with recorder.lock:
        return sum(e["count"] for e in recorder.events), len(recorder.events)


def wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.02)


def measure(lam, recorder, name, arn, total, batch, factor, write_one):
    with recorder.lock:
        recorder.events.clear()
    start = time.time()
    lam.create_event_source_mapping(FunctionName="bench", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=batch, ParallelizationFactor=factor)
    wait(lambda: reported(recorder)[0] >= total, 1800, f"{name}'s records")
    took = time.time() - start
    _, batches = reported(recorder)
    print(f"{name}: {total} records in {batches} batches of up to {batch}, factor {factor}: "
          f"{took:.2f} s, {total / took:,.0f} records/s")
    latencies = []
    for _ in range(20):
        before = reported(recorder)[1]
        write_one(f"t{time.time()!r}")
        wait(lambda: reported(recorder)[1] > before, 60, f"{name}'s single record")
        with recorder.lock:
            e = recorder.events[-1]
        latencies.append(e["started"] - float(e["first"][1:]))
    latencies.sort()
    print(f"{name}: write to function start, idle mapping: p50 {latencies[10] * 1000:.0f} ms, "
          f"max {latencies[-1] * 1000:.0f} ms")


def main():
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    batch = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000
    factor = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    recorder = Recorder()
    moto, url = start_moto()
    server = Server(extra=["--aws-endpoint-url", url, "--aws-endpoint-url-kinesis", url,
                           "--aws-endpoint-url-dynamodbstreams", url])
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="bench", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (FUNCTION, 0o644)})}, Timeout=60,
                            MemorySize=512, Environment={"Variables": {"RECORDER": recorder.url}})

        k = aws_client("kinesis", url)
        k.create_stream(StreamName="bench", ShardCount=2)
        arn = k.describe_stream(StreamName="bench")["StreamDescription"]["StreamARN"]
        for i in range(0, total, 500):
            k.put_records(StreamName="bench", Records=[{"Data": f"r{j}".encode(), "PartitionKey": f"pk{j % 97}"}
                                                       for j in range(i, min(i + 500, total))])
        measure(lam, recorder, "kinesis", arn, total, batch, factor,
                lambda data: k.put_record(StreamName="bench", Data=data.encode(), PartitionKey="one"))

        ddb = aws_client("dynamodb", url)
        items = max(total // 4, 1)
        t = ddb.create_table(TableName="bench", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                             AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                             BillingMode="PAY_PER_REQUEST",
                             StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
        for i in range(0, items, 25):
            ddb.batch_write_item(RequestItems={"bench": [
                {"PutRequest": {"Item": {"id": {"S": f"i{j}"}, "v": {"S": f"d{j}"}}}}
                for j in range(i, min(i + 25, items))]})
        measure(lam, recorder, "dynamodb", t["TableDescription"]["LatestStreamArn"], items, min(batch, 1000), factor,
                lambda data: ddb.put_item(TableName="bench", Item={"id": {"S": data}, "v": {"S": data}}))
    finally:
        server.stop()
        server.tmp.cleanup()
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    main()
