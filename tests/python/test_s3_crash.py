"""Object store crash consistency: lambdad is killed with SIGKILL while clients upload objects to a
bucket whose uploads notify a function and a queue; after each restart every acknowledged object
is there intact (MD5), no object is partial, and in the end every acknowledged upload's event
reached the function and the queue."""

import hashlib
import json
import random
import threading
import time

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError

from conftest import ROLE, Server, make_client, wait_for, zip_bytes

GONE = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectionError, OSError)

HANDLER = """
import json
def handler(event, context):
    for r in event["Records"]:
        print("S3KEY " + r["s3"]["object"]["key"] + " " + r["s3"]["object"]["eTag"])
    return {}
"""


def s3_client(server):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
                        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"},
                                      connect_timeout=5, read_timeout=30))


def upload(s3, prefix, seed, acked, stop, errors):
    rng = random.Random(seed)
    n = 0
    try:
        while not stop.is_set():
            key = f"{prefix}-{n}"
            body = rng.randbytes(rng.choice([100, 50_000, 700_000, 2_500_000]))
            try:
                out = s3.put_object(Bucket="crash", Key=key, Body=body)
            except GONE:
                return
            except ClientError as e:
                if e.response["ResponseMetadata"].get("HTTPStatusCode", 0) >= 500:
                    raise AssertionError(f"{key} got a server error: {e}") from e
                raise
            assert out["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
            acked[key] = hashlib.md5(body).hexdigest()
            n += 1
    except BaseException as e:  # the main thread fails the test with it
        errors.append(e)


def events_seen(server):
    root = server.data_dir / "logs" / "aws" / "lambda" / "seen"
    seen = {}
    for p in root.rglob("*.log") if root.exists() else []:
        for line in p.read_text().splitlines():
            if "S3KEY " in line:
                key, etag = line.split("S3KEY ", 1)[1].split(" ")
                seen[key] = etag
    return seen


@pytest.mark.timeout(300)
def test_kill_9_during_uploads_loses_no_acknowledged_object_or_event():
    server = Server()
    server.start()
    rng = random.Random(11)
    acked = {}
    errors = []
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="seen", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (HANDLER, 0o644)})})
        lam.add_permission(FunctionName="seen", StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::crash")
        s3 = s3_client(server)
        s3.create_bucket(Bucket="crash")
        sqs = make_client(server.endpoint, "sqs")
        url = sqs.create_queue(QueueName="crash-events")["QueueUrl"]
        # As on AWS, the queue's policy must let S3 send this bucket's events.
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps({"Statement": [{
            "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "sqs:SendMessage",
            "Resource": "arn:aws:sqs:us-east-1:000000000000:crash-events",
            "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::crash"}}}]})})
        s3.put_bucket_notification_configuration(Bucket="crash", NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"Id": "all", "Events": ["s3:ObjectCreated:*"],
                                              "LambdaFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:seen"}],
            "QueueConfigurations": [{"Id": "q", "Events": ["s3:ObjectCreated:*"],
                                     "QueueArn": "arn:aws:sqs:us-east-1:000000000000:crash-events"}]})
        for round_no in range(8):
            stop = threading.Event()
            workers = [threading.Thread(target=upload, args=(s3_client(server), f"r{round_no}-t{t}", round_no * 10 + t,
                                                             acked, stop, errors)) for t in range(3)]
            for w in workers:
                w.start()
            time.sleep(rng.uniform(0.3, 1.2))
            server.proc.kill()  # SIGKILL: no shutdown of any kind
            server.proc.wait()
            server.proc = None
            stop.set()
            for w in workers:
                w.join(timeout=60)
                assert not w.is_alive(), f"round {round_no}: a client did not notice lambdad's death"
            assert not errors, f"round {round_no}: {errors[0]!r}"
            server.start()
            s3 = s3_client(server)
            listed = {o["Key"]: o for p in s3.get_paginator("list_objects_v2").paginate(Bucket="crash")
                      for o in p.get("Contents", [])}
            for key, md5 in acked.items():
                assert key in listed, f"round {round_no}: acknowledged {key} was lost"
            # No file is left that no object names (one renamed but not committed is removed at start).
            files = [p for p in (server.data_dir / "objects" / "data").rglob("*") if p.is_file()]
            assert len(files) == len(listed), f"round {round_no}: {len(files)} files for {len(listed)} objects"
            # Every object listed, acknowledged or not, is whole: its bytes match its ETag and size.
            for key, o in listed.items():
                if not key.startswith(f"r{round_no}-"):
                    continue
                body = s3.get_object(Bucket="crash", Key=key)["Body"].read()
                assert len(body) == o["Size"], f"{key} is partial"
                assert f'"{hashlib.md5(body).hexdigest()}"' == o["ETag"], f"{key} does not match its ETag"
                if key in acked:
                    assert hashlib.md5(body).hexdigest() == acked[key]
        assert len(acked) >= 20, "the kills landed before any upload"
        seen = wait_for(lambda: (lambda s: s if all(k in s for k in acked) else None)(events_seen(server)),
                        120, "every acknowledged upload's event")
        for key, md5 in acked.items():
            assert seen[key] == md5, f"the event of {key} names another object"
        # The queue destination got every acknowledged upload's record too (at least once).
        sqs = make_client(server.endpoint, "sqs")
        url = sqs.get_queue_url(QueueName="crash-events")["QueueUrl"]
        queued = {}

        def drain():
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                for r in json.loads(m["Body"]).get("Records", []):
                    queued[r["s3"]["object"]["key"]] = r["s3"]["object"]["eTag"]
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return all(k in queued for k in acked)
        wait_for(drain, 120, "every acknowledged upload's record in the queue")
        for key, md5 in acked.items():
            assert queued[key] == md5, f"the queued record of {key} names another object"
    finally:
        assert server.stop() == 0
