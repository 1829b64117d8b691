#!/usr/bin/env python3
"""S3 throughput of lambdad's built-in object store and of moto's server, measured with the
same boto3 clients in the same run: PUT and GET of small objects (8 clients) and of one 64 MiB
object (single PUT, whole GET), and the delay from a PUT's answer to the start of the function
its bucket notification invokes (lambdad only; moto runs no functions).

Usage: .venv/bin/python scripts/bench_s3.py [--bin target/release/lambdad] [--objects 1000]
Figures for BENCHMARKS.md, never test thresholds."""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
import conftest  # noqa: E402
from conftest import ROLE, Server, parallel, make_client, start_moto, zip_bytes  # noqa: E402

CLIENTS = 8
SMALL = 4096
LARGE = 64 << 20


def s3_at(url, key):
    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key="secret",
                        config=Config(s3={"addressing_style": "path"}, max_pool_connections=CLIENTS))


def measure(name, url, key, objects):
    s3 = s3_at(url, key)
    s3.create_bucket(Bucket="bench")
    body = os.urandom(SMALL)
    per = objects // CLIENTS

    def put(i):
        c = s3_at(url, key)
        for k in range(per):
            c.put_object(Bucket="bench", Key=f"small/{i}/{k}", Body=body)

    def get(i):
        c = s3_at(url, key)
        for k in range(per):
            assert len(c.get_object(Bucket="bench", Key=f"small/{i}/{k}")["Body"].read()) == SMALL

    took = parallel(CLIENTS, put)
    print(f"{name}: PUT {per * CLIENTS / took:,.0f} objects/s ({SMALL // 1024} KiB, {CLIENTS} clients)")
    took = parallel(CLIENTS, get)
    print(f"{name}: GET {per * CLIENTS / took:,.0f} objects/s ({SMALL // 1024} KiB, {CLIENTS} clients)")
    big = os.urandom(LARGE)
    puts, gets = [], []
    for i in range(3):
        start = time.monotonic()
        s3.put_object(Bucket="bench", Key=f"large/{i}", Body=big)
        puts.append(time.monotonic() - start)
        start = time.monotonic()
        got = s3.get_object(Bucket="bench", Key=f"large/{i}")["Body"].read()
        gets.append(time.monotonic() - start)
        assert len(got) == LARGE
    mib = LARGE >> 20
    print(f"{name}: PUT 64 MiB {mib / statistics.median(puts):,.0f} MiB/s, "
          f"GET 64 MiB {mib / statistics.median(gets):,.0f} MiB/s (median of 3, one client)")


HANDLER = "import time\n\ndef handler(event, context):\n    print('STARTED', time.time())\n"


def put_to_start(server, key, rounds):
    lam = make_client(server.endpoint)
    logs = make_client(server.endpoint, "logs")
    s3 = s3_at(server.endpoint, key)
    lam.create_function(FunctionName="bench-on-put", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (HANDLER, 0o644)})})
    lam.add_permission(FunctionName="bench-on-put", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bench-notify")
    s3.create_bucket(Bucket="bench-notify")
    arn = lam.get_function(FunctionName="bench-on-put")["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(Bucket="bench-notify", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
    delays = []
    for i in range(rounds):
        seen = len(started(logs))
        s3.put_object(Bucket="bench-notify", Key=f"k{i}", Body=b"x")
        answered = time.time()
        deadline = time.monotonic() + 30
        while len(times := started(logs)) <= seen:
            assert time.monotonic() < deadline, "the function did not start"
            time.sleep(0.01)
        delays.append((max(times) - answered) * 1000)
    delays.sort()
    print(f"lambdad: PUT answered -> function started p50 {statistics.median(delays):,.1f} ms, "
          f"max {delays[-1]:,.1f} ms ({rounds} PUTs, one at a time, warm Python function)")


def started(logs):
    try:
        events = logs.filter_log_events(logGroupName="/aws/lambda/bench-on-put", filterPattern='"STARTED"')["events"]
    except logs.exceptions.ResourceNotFoundException:  # no run yet
        return []
    return [float(e["message"].split()[1]) for e in events]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=None)
    p.add_argument("--objects", type=int, default=1000)
    p.add_argument("--rounds", type=int, default=20)
    args = p.parse_args()
    if args.bin:
        conftest.BIN = Path(args.bin).resolve()
    print(f"lambdad binary: {conftest.BIN}")
    server = Server()
    server.start()
    moto, moto_url = start_moto()
    try:
        measure("lambdad", server.endpoint, "AKIDTEST", args.objects)
        measure("moto", moto_url, "lambdad", args.objects)
        put_to_start(server, "AKIDTEST", args.rounds)
    finally:
        server.stop()
        server.tmp.cleanup()
        moto.terminate()
        moto.wait()


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
