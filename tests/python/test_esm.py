"""SQS event source mappings against moto's SQS server: the mapping API through boto3, a queue
of 1,000 messages drained in batches of 10, partial batch failures left for redelivery, and a
FIFO queue consumed in order per message group."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import FIFO_SPAN, ROLE, Server, assert_groups_in_order, aws_client, make_client, start_moto, zip_bytes

CONSUMER = '''
import json

def handler(event, context):
    records = event["Records"]
    print("BATCH " + str(len(records)))
    failures = []
    for r in records:
        print("MSG " + json.dumps(r, sort_keys=True))
        if "bad" in r["body"]:
            failures.append({"itemIdentifier": r["messageId"]})
    return {"batchItemFailures": failures}
'''


@pytest.fixture(scope="module")
def world():
    moto, url = start_moto()
    server = Server(extra=["--aws-endpoint-url", url])
    server.start()
    try:
        yield server, make_client(server.endpoint), aws_client("sqs", url)
    finally:
        server.stop()
        server.tmp.cleanup()
        moto.terminate()
        moto.wait()


def consumer(lam, name):
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (CONSUMER, 0o644)})}, Timeout=30)


def queue(sqs, name, **attributes):
    url = sqs.create_queue(QueueName=name, Attributes={k: str(v) for k, v in attributes.items()})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def seen(server, function):
    """Every record the consumer printed, in the order the log has them."""
    logs = make_client(server.endpoint, "logs")
    try:
        out = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern='"MSG "')
    except ClientError:
        return []
    return [json.loads(e["message"][4:]) for e in out["events"]]


def wait_for(predicate, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.5)
    return False


def test_mapping_api(world):
    server, lam, sqs = world
    consumer(lam, "esm-api")
    _, arn = queue(sqs, "api-queue")
    out = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="esm-api", BatchSize=5, Enabled=False)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    # AWS answers a mapping created disabled with `Disabled` (LocalStack's AWS-validated
    # test_fifo_message_group_parallelism snapshot).
    assert (out["State"], out["BatchSize"], out["EventSourceArn"]) == ("Disabled", 5, arn)
    assert out["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:esm-api"
    assert isinstance(out["LastModified"].timestamp(), float)
    uuid = out["UUID"]
    assert lam.get_event_source_mapping(UUID=uuid)["State"] == "Disabled"
    listed = lam.list_event_source_mappings(FunctionName="esm-api")["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uuid]
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="esm-api")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    with pytest.raises(ClientError) as e:
        lam.update_event_source_mapping(UUID=uuid, BatchSize=100)
    assert e.value.response["Error"]["Message"] == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10")
    updated = lam.update_event_source_mapping(UUID=uuid, BatchSize=100, MaximumBatchingWindowInSeconds=1,
                                              ScalingConfig={"MaximumConcurrency": 2})
    assert (updated["BatchSize"], updated["ScalingConfig"]) == (100, {"MaximumConcurrency": 2})
    assert updated["State"] == "Updating"
    # Enabling and disabling answer with AWS's transitional states.
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=True)["State"] == "Enabling"
    assert lam.update_event_source_mapping(UUID=uuid, Enabled=False)["State"] == "Disabling"
    # AWS does not repeat an invalid filter pattern (test_sqs_invalid_event_filter).
    with pytest.raises(ClientError) as e:
        lam.update_event_source_mapping(UUID=uuid, FilterCriteria={"Filters": [{"Pattern": "simple string"}]})
    assert (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]) == (
        "InvalidParameterValueException", "Invalid filter pattern definition.")
    gone = lam.delete_event_source_mapping(UUID=uuid)
    assert (gone["ResponseMetadata"]["HTTPStatusCode"], gone["State"]) == (202, "Deleting")
    with pytest.raises(ClientError) as e:
        lam.get_event_source_mapping(UUID=uuid)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


@pytest.mark.timeout(480)  # 82 s measured on 2 loaded cores
def test_drains_a_thousand_messages_in_batches(world):
    server, lam, sqs = world
    consumer(lam, "drain")
    url, arn = queue(sqs, "big-queue")
    bodies = [f"message {i}" for i in range(1000)]
    for start in range(0, 1000, 10):
        entries = [{"Id": str(i), "MessageBody": bodies[start + i],
                    "MessageAttributes": {"n": {"DataType": "Number", "StringValue": str(start + i)}}}
                   for i in range(10)]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="drain", BatchSize=10)
    assert wait_for(lambda: len({r["body"] for r in seen(server, "drain")}) == 1000), len(seen(server, "drain"))
    records = seen(server, "drain")
    assert {r["body"] for r in records} == set(bodies)
    r = records[0]
    assert (r["eventSource"], r["eventSourceARN"], r["awsRegion"]) == ("aws:sqs", arn, "us-east-1")
    assert r["messageId"] and r["receiptHandle"] and r["md5OfBody"]
    assert {"ApproximateReceiveCount", "SentTimestamp"} <= set(r["attributes"])
    assert r["messageAttributes"]["n"]["dataType"] == "Number"
    logs = make_client(server.endpoint, "logs")
    batches = [int(e["message"].split()[1]) for e in
               logs.filter_log_events(logGroupName="/aws/lambda/drain", filterPattern='"BATCH "')["events"]]
    assert sum(batches) >= 1000 and max(batches) <= 10
    assert wait_for(lambda: all(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"][k] == "0"
                                for k in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")), 30)


def test_partial_batch_failures_are_left_for_redelivery(world):
    server, lam, sqs = world
    consumer(lam, "partial")
    url, arn = queue(sqs, "partial-queue", VisibilityTimeout=8)
    bodies = [f"bad {i}" if i in (3, 7, 11) else f"good {i}" for i in range(20)]
    for i, b in enumerate(bodies):
        sqs.send_message(QueueUrl=url, MessageBody=b)
    uuid = lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="partial", BatchSize=10,
                                           FunctionResponseTypes=["ReportBatchItemFailures"])["UUID"]
    assert wait_for(lambda: {r["body"] for r in seen(server, "partial")} == set(bodies), 60)
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    time.sleep(10)  # the failed ones become visible again; the mapping is off
    left = []
    for _ in range(5):
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        left += [m["Body"] for m in out.get("Messages", [])]
    assert sorted(left) == ["bad 11", "bad 3", "bad 7"]


def test_fifo_queue_in_order_per_group(world):
    server, lam, sqs = world
    consumer(lam, "fifo")
    url, arn = queue(sqs, "orders.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for seq in range(10):
        for group in ("a", "b", "c"):
            sqs.send_message(QueueUrl=url, MessageBody=f"{group}-{seq}", MessageGroupId=group)
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fifo", BatchSize=10)
    assert wait_for(lambda: len({r["body"] for r in seen(server, "fifo")}) == 30, 60)
    order = {}
    for r in seen(server, "fifo"):
        group, seq = r["body"].split("-")
        assert r["attributes"]["MessageGroupId"] == group
        if int(seq) not in order.setdefault(group, []):
            order[group].append(int(seq))
    assert order == {g: list(range(10)) for g in "abc"}


def test_fifo_batches_of_one_group_never_overlap(world):
    """Several workers (small batches, a slow function) on a FIFO queue: from the function's own
    start and end times, no two batches holding one message group ran at once, and each group
    ran in order. (moto's server hands two concurrent receives messages of one group; lambdad's
    workers receive one at a time and hold a group while a batch of it runs.)"""
    server, lam, sqs = world
    lam.create_function(FunctionName="fifo-span", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (FIFO_SPAN, 0o644)})}, Timeout=30)
    url, arn = queue(sqs, "overlap.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    groups = "abcdef"
    for seq in range(12):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": g, "MessageBody": f"{g}-{seq}", "MessageGroupId": g} for g in groups])
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="fifo-span", BatchSize=2,
                                    ScalingConfig={"MaximumConcurrency": 6})
    logs = make_client(server.endpoint, "logs")

    def spans():
        try:
            out = logs.filter_log_events(logGroupName="/aws/lambda/fifo-span", filterPattern='"SPAN "')
        except ClientError:
            return []
        return [json.loads(e["message"][5:]) for e in out["events"]]

    assert wait_for(lambda: len({b for s in spans() for b in s["bodies"]}) == 72, 90)
    assert_groups_in_order(spans(), groups, 12)


SLOW = '''
import json
import time

def handler(event, context):
    start = time.time()
    time.sleep(0.5)
    print("SPAN " + json.dumps({"start": start, "end": time.time(), "n": len(event["Records"])}))
    return {}
'''


def test_pollers_grow_with_the_backlog_up_to_maximum_concurrency(world):
    server, lam, sqs = world
    lam.create_function(FunctionName="slow", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (SLOW, 0o644)})}, Timeout=30)
    url, arn = queue(sqs, "backlog-queue")
    for start in range(0, 40, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{start + i}"} for i in range(10)])
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="slow", BatchSize=1,
                                    ScalingConfig={"MaximumConcurrency": 2})
    logs = make_client(server.endpoint, "logs")

    def spans():
        try:
            out = logs.filter_log_events(logGroupName="/aws/lambda/slow", filterPattern='"SPAN "')
        except ClientError:
            return []
        return [json.loads(e["message"][5:]) for e in out["events"]]

    assert wait_for(lambda: sum(s["n"] for s in spans()) >= 40, 90)
    points = sorted([(s["start"], 1) for s in spans()] + [(s["end"], -1) for s in spans()])
    running = peak = 0
    for _, step in points:
        running += step
        peak = max(peak, running)
    assert peak == 2, f"a second poller joined for the backlog, and no third: peak {peak}"
