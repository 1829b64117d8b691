"""Kinesis and DynamoDB Streams event source mappings against moto's server: the mapping API
(boto3 and the aws CLI) with AWS's validation, records in order per shard across 2 shards, at
least once across a restart, bisection isolating a poison record into the OnFailure queue,
ReportBatchItemFailures resuming at the failed item, filters, AT_TIMESTAMP, MaximumRecordAgeInSeconds
skipping old records into the OnFailure queue, and DynamoDB INSERT/MODIFY/REMOVE with
NEW_AND_OLD_IMAGES."""

import base64
import json
import math
import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws_client, make_client, start_moto, zip_bytes

CONSUMER = '''
import base64, json, os

def handler(event, context):
    records = event["Records"]
    failures = []
    for r in records:
        if r["eventSource"] == "aws:kinesis":
            data = base64.b64decode(r["kinesis"]["data"]).decode()
            seq = r["kinesis"]["sequenceNumber"]
            out = {"shard": r["eventID"].rsplit(":", 1)[0], "seq": seq, "data": data}
        else:
            data, seq = "", r["dynamodb"]["SequenceNumber"]
            out = r
        print("REC " + json.dumps(out, sort_keys=True))
        if "poison" in data:
            raise Exception("poison record")
        if "bad" in data and not os.path.exists("/tmp/" + data):
            open("/tmp/" + data, "w").close()
            failures.append({"itemIdentifier": seq})
    return {"batchItemFailures": failures}
'''


AGED = {}


@pytest.fixture(scope="module")
def world():
    moto, url = start_moto()
    server = Server(extra=["--aws-endpoint-url", url, "--aws-endpoint-url-kinesis", url,
                           "--aws-endpoint-url-dynamodbstreams", url])
    server.start()
    # Records for test_maximum_record_age: put first, so that most of the minute they must age
    # passes while the other tests run.
    k, _ = stream(url, "aged")
    put(k, "aged", [(f"aged{i}", "pk") for i in range(3)])
    AGED["put_at"] = time.time()
    try:
        yield server, url
    finally:
        server.stop()
        server.tmp.cleanup()
        moto.terminate()
        moto.wait()


def consumer(server, name):
    make_client(server.endpoint).create_function(
        FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": zip_bytes({"app.py": (CONSUMER, 0o644)})}, Timeout=30)


def stream(url, name, shards=1):
    k = aws_client("kinesis", url)
    k.create_stream(StreamName=name, ShardCount=shards)
    return k, k.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]


def seen(server, function):
    """Every record the consumer printed, in log order."""
    logs = make_client(server.endpoint, "logs")
    out, token = [], None
    while True:
        args = {"logGroupName": f"/aws/lambda/{function}", "filterPattern": '"REC "'}
        if token:
            args["nextToken"] = token
        try:
            page = logs.filter_log_events(**args)
        except ClientError:
            return []
        out += [json.loads(e["message"][4:]) for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            return out


def wait_for(predicate, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def put(k, name, items):
    for i in range(0, len(items), 100):
        k.put_records(StreamName=name, Records=[{"Data": d.encode(), "PartitionKey": pk}
                                                for d, pk in items[i:i + 100]])


def test_mapping_api_and_validation(world):
    server, url = world
    lam = make_client(server.endpoint)
    consumer(server, "st-api")
    _, arn = stream(url, "api")

    def error(**kw):
        with pytest.raises(ClientError) as e:
            lam.create_event_source_mapping(FunctionName="st-api", **kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    assert error(EventSourceArn=arn) == (
        "InvalidParameterValueException",
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: Member must not be null.")
    assert error(EventSourceArn=arn, StartingPosition="LATEST", ParallelizationFactor=11) == (
        "ValidationException",
        "1 validation error detected: Value '11' at 'parallelizationFactor' failed to satisfy constraint: "
        "Member must have value less than or equal to 10")
    assert error(EventSourceArn=arn, StartingPosition="LATEST", MaximumRecordAgeInSeconds=30)[0] == \
        "InvalidParameterValueException"
    assert error(EventSourceArn=arn, StartingPosition="bogus")[0] == "ValidationException"
    ddb_arn = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00.000"
    assert error(EventSourceArn=ddb_arn, StartingPosition="AT_TIMESTAMP", StartingPositionTimestamp=1) == (
        "InvalidParameterValueException", f"Unsupported starting position for arn type: {ddb_arn}")
    assert error(EventSourceArn=arn, StartingPosition="LATEST",
                 DestinationConfig={"OnFailure": {"Destination": "arn:aws:s4:x"}})[0] == "InvalidParameterValueException"

    # The aws CLI: defaults and the stream members AWS returns.
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    out = json.loads(subprocess.run(
        ["/usr/bin/aws", "--endpoint-url", server.endpoint, "lambda", "create-event-source-mapping",
         "--function-name", "st-api", "--event-source-arn", arn, "--starting-position", "TRIM_HORIZON",
         "--no-enabled"], check=True, capture_output=True, env=env, timeout=60).stdout)
    # Created disabled: AWS answers `Disabled` (as LocalStack's AWS-validated SQS snapshots record).
    assert out["State"] == "Disabled" and out["BatchSize"] == 100
    assert (out["StartingPosition"], out["ParallelizationFactor"], out["MaximumRetryAttempts"],
            out["MaximumRecordAgeInSeconds"], out["BisectBatchOnFunctionError"], out["TumblingWindowInSeconds"]) == \
        ("TRIM_HORIZON", 1, -1, -1, False, 0)
    assert out["LastProcessingResult"] == "No records processed"
    assert out["DestinationConfig"] == {"OnFailure": {}}
    got = lam.get_event_source_mapping(UUID=out["UUID"])
    assert got["State"] == "Disabled"
    code, message = error(EventSourceArn=arn, StartingPosition="LATEST")
    assert code == "ResourceConflictException"
    assert message == (f'The event source arn (" {arn} ") and function (" st-api ") provided mapping already exists. '
                       f'Please update or delete the existing mapping with UUID {out["UUID"]}')
    up = lam.update_event_source_mapping(UUID=out["UUID"], MaximumRetryAttempts=3, BisectBatchOnFunctionError=True)
    assert (up["MaximumRetryAttempts"], up["BisectBatchOnFunctionError"], up["State"]) == (3, True, "Updating")
    assert [m["UUID"] for m in lam.list_event_source_mappings(EventSourceArn=arn)["EventSourceMappings"]] == [out["UUID"]]
    lam.delete_event_source_mapping(UUID=out["UUID"])


@pytest.mark.timeout(300)
def test_order_per_shard_and_restart(world):
    server, url = world
    lam = make_client(server.endpoint)
    consumer(server, "st-order")
    k, arn = stream(url, "order", shards=2)
    items = [(f"r{i}", f"pk{i % 17}") for i in range(1000)]
    put(k, "order", items[:600])
    lam.create_event_source_mapping(FunctionName="st-order", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=50)
    assert wait_for(lambda: len(seen(server, "st-order")) >= 200, 120)
    # Restart mid-stream: processing resumes after the last checkpoint.
    server.stop()
    server.start()
    put(k, "order", items[600:])
    assert wait_for(lambda: len({r["data"] for r in seen(server, "st-order")}) == 1000, 200)
    records = seen(server, "st-order")
    assert {r["shard"] for r in records} == {"shardId-000000000000", "shardId-000000000001"}
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        seqs = [int(r["seq"]) for r in records if r["shard"] == shard]
        # In order per shard; a restart may replay the end of one batch (at least once), never skip.
        distinct = sorted(set(seqs))
        assert distinct == list(range(distinct[0], distinct[0] + len(distinct)))
        first_pass = []
        for s in seqs:
            if first_pass and s <= first_pass[-1]:
                break
            first_pass.append(s)
        assert first_pass == sorted(first_pass)
    duplicates = len(records) - 1000
    print(f"duplicates after restart: {duplicates}")
    assert duplicates <= 100


def test_bisect_poison_goes_to_on_failure_queue(world):
    server, url = world
    lam = make_client(server.endpoint)
    consumer(server, "st-bisect")
    sqs = aws_client("sqs", url)
    q = sqs.create_queue(QueueName="st-failures")["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    k, arn = stream(url, "bisect")
    put(k, "bisect", [(f"b{i}" if i != 5 else "poison", "pk") for i in range(10)])
    lam.create_event_source_mapping(FunctionName="st-bisect", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=10, BisectBatchOnFunctionError=True, MaximumRetryAttempts=1,
                                    DestinationConfig={"OnFailure": {"Destination": q_arn}})
    messages = []
    assert wait_for(lambda: messages.extend(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages", []))
                    or messages, 120)
    record = json.loads(messages[0]["Body"])
    info = record["KinesisBatchInfo"]
    poison_seq = [r["seq"] for r in seen(server, "st-bisect") if r["data"] == "poison"][0]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (1, poison_seq, poison_seq)
    assert (info["shardId"], info["streamArn"], record["version"]) == ("shardId-000000000000", arn, "1.0")
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["functionError"] == "Unhandled"
    # The halves after the poison record may still be running when its failure is delivered.
    good = {f"b{i}" for i in range(10) if i != 5}
    assert wait_for(lambda: {r["data"] for r in seen(server, "st-bisect")} - {"poison"} == good, 60), \
        sorted(r["data"] for r in seen(server, "st-bisect"))


def test_report_batch_item_failures_resumes_at_failed_item(world):
    server, url = world
    lam = make_client(server.endpoint)
    consumer(server, "st-report")
    k, arn = stream(url, "report")
    put(k, "report", [("i0", "pk"), ("i1", "pk"), ("bad-report", "pk"), ("i3", "pk"), ("i4", "pk")])
    lam.create_event_source_mapping(FunctionName="st-report", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=10, FunctionResponseTypes=["ReportBatchItemFailures"])
    assert wait_for(lambda: len(seen(server, "st-report")) >= 8, 60)
    assert [r["data"] for r in seen(server, "st-report")] == \
        ["i0", "i1", "bad-report", "i3", "i4", "bad-report", "i3", "i4"]


def test_filters_and_at_timestamp(world):
    server, url = world
    lam = make_client(server.endpoint)
    consumer(server, "st-filter")
    k, arn = stream(url, "filter")
    # Before the starting timestamp: a record the filter would keep, which AT_TIMESTAMP must skip.
    put(k, "filter", [(json.dumps({"kind": "keep", "n": 0}), "pk")])
    # botocore sends StartingPositionTimestamp in whole seconds: start at the next whole second.
    start = float(math.ceil(time.time() + 0.05))
    assert wait_for(lambda: time.time() > start + 0.05, 5)
    put(k, "filter", [(json.dumps({"kind": "keep", "n": 1}), "pk"), (json.dumps({"kind": "drop"}), "pk"),
                      (json.dumps({"kind": "keep", "n": 2}), "pk")])
    lam.create_event_source_mapping(
        FunctionName="st-filter", EventSourceArn=arn, StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp=start,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"data": {"kind": ["keep"]}})}]})
    assert wait_for(lambda: len(seen(server, "st-filter")) >= 2, 60)
    put(k, "filter", [(json.dumps({"kind": "keep", "n": 3}), "pk")])
    assert wait_for(lambda: len(seen(server, "st-filter")) >= 3, 60)
    assert [json.loads(r["data"]).get("n") for r in seen(server, "st-filter")] == [1, 2, 3]


@pytest.mark.timeout(240)
def test_maximum_record_age_skips_old_records(world):
    server, url = world
    lam = make_client(server.endpoint)
    consumer(server, "st-aged")
    sqs = aws_client("sqs", url)
    q = sqs.create_queue(QueueName="st-aged-failures")["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    k = aws_client("kinesis", url)
    arn = k.describe_stream(StreamName="aged")["StreamDescription"]["StreamARN"]
    # The three records of the fixture are older than the smallest MaximumRecordAgeInSeconds (60).
    assert wait_for(lambda: time.time() > AGED["put_at"] + 62, 120)
    lam.create_event_source_mapping(FunctionName="st-aged", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    MaximumRecordAgeInSeconds=60,
                                    DestinationConfig={"OnFailure": {"Destination": q_arn}})
    put(k, "aged", [("fresh", "pk")])
    assert wait_for(lambda: len(seen(server, "st-aged")) >= 1, 60)
    messages = []
    assert wait_for(lambda: messages.extend(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages", []))
                    or messages, 60)
    record = json.loads(messages[0]["Body"])
    assert record["requestContext"]["condition"] == "RecordAgeExpired"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["KinesisBatchInfo"]["batchSize"] == 3
    # The old records never reached the function; the fresh one did.
    assert [r["data"] for r in seen(server, "st-aged")] == ["fresh"]


def test_dynamodb_insert_modify_remove(world):
    server, url = world
    lam = make_client(server.endpoint)
    consumer(server, "st-ddb")
    ddb = aws_client("dynamodb", url)
    t = ddb.create_table(TableName="st-table", KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                         BillingMode="PAY_PER_REQUEST",
                         StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"})
    arn = t["TableDescription"]["LatestStreamArn"]
    ddb.put_item(TableName="st-table", Item={"id": {"S": "a"}, "v": {"N": "1"}})
    ddb.put_item(TableName="st-table", Item={"id": {"S": "a"}, "v": {"N": "2"}})
    ddb.delete_item(TableName="st-table", Key={"id": {"S": "a"}})
    lam.create_event_source_mapping(FunctionName="st-ddb", EventSourceArn=arn, StartingPosition="TRIM_HORIZON")
    assert wait_for(lambda: len(seen(server, "st-ddb")) >= 3, 60)
    records = seen(server, "st-ddb")
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    for r in records:
        assert (r["eventSource"], r["eventVersion"], r["awsRegion"], r["eventSourceARN"]) == \
            ("aws:dynamodb", "1.1", "us-east-1", arn)
        assert r["dynamodb"]["Keys"] == {"id": {"S": "a"}}
        assert r["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert isinstance(r["dynamodb"]["ApproximateCreationDateTime"], (int, float))
        assert r["dynamodb"]["SizeBytes"] > 0
    assert records[0]["dynamodb"]["NewImage"] == {"id": {"S": "a"}, "v": {"N": "1"}}
    assert "OldImage" not in records[0]["dynamodb"]
    assert records[1]["dynamodb"]["OldImage"]["v"] == {"N": "1"}
    assert records[1]["dynamodb"]["NewImage"]["v"] == {"N": "2"}
    assert records[2]["dynamodb"]["OldImage"]["v"] == {"N": "2"}
    assert "NewImage" not in records[2]["dynamodb"]
