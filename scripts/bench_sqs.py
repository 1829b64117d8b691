#!/usr/bin/env python3
"""SQS throughput of lambdad's built-in queues and of moto's server, measured with the same
boto3 clients in the same run: SendMessage, ReceiveMessage (10) + DeleteMessageBatch, and
end to end through an SQS event source mapping (lambdad only; moto runs no functions).

Usage: .venv/bin/python scripts/bench_sqs.py [--bin target/release/lambdad] [--messages 2000] [--rounds 3]
Each round measures lambdad, then moto, then lambdad's end to end, so the two servers alternate
under the same conditions; the summary gives each figure's median over the rounds.
Figures for BENCHMARKS.md, never test thresholds."""

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "python"))
import conftest  # noqa: E402
from conftest import ROLE, Server, parallel, aws_client, make_client, start_moto, zip_bytes  # noqa: E402

CLIENTS = 8


def measure(name, client_of, url, messages):
    per = messages // CLIENTS

    def send(i):
        c = client_of()
        for k in range(per):
            c.send_message(QueueUrl=url, MessageBody=f"message {i}-{k}")

    took = parallel(CLIENTS, send)
    sent = per * CLIENTS / took
    print(f"{name}: send {sent:,.0f} msg/s ({CLIENTS} clients, SendMessage)")
    done = [0]
    lock = threading.Lock()

    def drain(i):
        c = client_of()
        while True:
            out = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if not out:
                return
            c.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(out)])
            with lock:
                done[0] += len(out)

    took = parallel(CLIENTS, drain) - 1.0  # the last empty long poll of each client
    drained = done[0] / took
    print(f"{name}: receive+delete {drained:,.0f} msg/s ({CLIENTS} clients, batches of 10)")
    return sent, drained


HANDLER = "def handler(event, context):\n    return {}\n"


def end_to_end(server, sqs, messages, round_):
    lam = make_client(server.endpoint)
    function = f"bench-noop-{round_}"
    lam.create_function(FunctionName=function, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (HANDLER, 0o644)})})
    url = sqs.create_queue(QueueName=f"bench-e2e-{round_}")["QueueUrl"]
    for start in range(0, messages, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)])
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    start = time.monotonic()
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName=function, BatchSize=10)["UUID"]
    while True:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0":
            break
        time.sleep(0.05)
    took = time.monotonic() - start
    lam.delete_event_source_mapping(UUID=uuid)
    print(f"lambdad: SQS -> Lambda end to end {messages / took:,.0f} msg/s (batches of 10, no-op Python function)")
    return messages / took


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bin", default=None)
    p.add_argument("--messages", type=int, default=2000)
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args()
    if args.bin:
        conftest.BIN = Path(args.bin).resolve()
    print(f"lambdad binary: {conftest.BIN}")
    server = Server()
    server.start()
    moto, moto_url = start_moto()
    results = {"lambdad send": [], "lambdad receive+delete": [], "moto send": [], "moto receive+delete": [],
               "lambdad SQS -> Lambda": []}
    try:
        sqs = make_client(server.endpoint, "sqs")
        msqs = aws_client("sqs", moto_url)
        for r in range(args.rounds):
            print(f"round {r + 1} (load average {os.getloadavg()[0]:.2f})")
            url = sqs.create_queue(QueueName=f"bench-{r}")["QueueUrl"]
            sent, drained = measure("lambdad", lambda: make_client(server.endpoint, "sqs"), url, args.messages)
            results["lambdad send"].append(sent)
            results["lambdad receive+delete"].append(drained)
            murl = msqs.create_queue(QueueName=f"bench-{r}")["QueueUrl"]
            sent, drained = measure("moto", lambda: aws_client("sqs", moto_url), murl, args.messages)
            results["moto send"].append(sent)
            results["moto receive+delete"].append(drained)
            results["lambdad SQS -> Lambda"].append(end_to_end(server, sqs, args.messages, r))
    finally:
        server.stop()
        server.tmp.cleanup()
        moto.terminate()
        moto.wait()
    print(f"median of {args.rounds} round(s):")
    for name, values in results.items():
        print(f"  {name}: {statistics.median(values):,.0f} msg/s  (runs: {', '.join(f'{v:,.0f}' for v in values)})")


if __name__ == "__main__":
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    main()
