"""lambdad's built-in SQS, driven with boto3 and the aws CLI v1 (JSON protocol) and the aws CLI v2
of the machine (Query protocol), with no external
AWS endpoint: errors by type and message, standard queues (send, receive, visibility, delete,
batches, delays, long polling, attributes and the MD5 digests the SDKs verify), FIFO queues
(order, deduplication, group locking), redrive to a dead-letter queue, an SQS event source
mapping and an OnFailure destination on built-in queues, and a SIGKILL during sends and
receives."""

import hashlib
import json
import os
import signal
import struct
import subprocess
import threading
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import FIFO_SPAN, ROLE, Server, assert_groups_in_order, aws, make_client, require_tool, wait_for, zip_bytes

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def world():
    server = Server()
    server.start()
    try:
        yield server, make_client(server.endpoint, "sqs"), make_client(server.endpoint)
    finally:
        code = server.stop()
        assert code == 0, server.log()[-2000:]
        server.tmp.cleanup()


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def attributes_md5(attrs):
    """AWS's digest of message attributes, computed independently of lambdad."""
    buf = b""
    for name in sorted(attrs):
        a = attrs[name]
        for part in (name.encode(), a["DataType"].encode()):
            buf += struct.pack(">I", len(part)) + part
        if "StringValue" in a:
            value = a["StringValue"].encode()
            buf += b"\x01" + struct.pack(">I", len(value)) + value
        else:
            buf += b"\x02" + struct.pack(">I", len(a["BinaryValue"])) + a["BinaryValue"]
    return hashlib.md5(buf).hexdigest()


def arn_of(sqs, url):
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def receive_all(sqs, url, **kwargs):
    out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, **kwargs)
    return out.get("Messages", [])


def test_queues_and_errors(world):
    server, sqs, _ = world
    url = sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "7"}, tags={"team": "a"})["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/jobs"
    # Same attributes: the same queue; other values: QueueNameExists.
    assert sqs.create_queue(QueueName="jobs", Attributes={"VisibilityTimeout": "7"})["QueueUrl"] == url
    assert error_of(sqs.create_queue, QueueName="jobs", Attributes={"VisibilityTimeout": "8"}) == (
        "QueueAlreadyExists",
        "A queue already exists with the same name and a different value for attribute VisibilityTimeout", 400)
    assert sqs.get_queue_url(QueueName="jobs")["QueueUrl"] == url
    assert error_of(sqs.get_queue_url, QueueName="nope") == (
        "AWS.SimpleQueueService.NonExistentQueue", "The specified queue does not exist.", 400)
    assert error_of(sqs.send_message, QueueUrl=f"{server.endpoint}/{ACCOUNT}/nope", MessageBody="x")[0] == (
        "AWS.SimpleQueueService.NonExistentQueue")
    assert error_of(sqs.create_queue, QueueName="bad name!") == (
        "InvalidParameterValue",
        "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length", 400)
    assert error_of(sqs.create_queue, QueueName="q", Attributes={"VisibilityTimeout": "50000"}) == (
        "InvalidAttributeValue", "Invalid value for the parameter VisibilityTimeout.", 400)
    assert error_of(sqs.create_queue, QueueName="q", Attributes={"Colour": "blue"}) == (
        "InvalidAttributeName", "Unknown Attribute Colour.", 400)
    assert error_of(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11) == (
        "InvalidParameterValue",
        "Value 11 for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided.", 400)
    assert error_of(sqs.delete_message, QueueUrl=url, ReceiptHandle="garbage")[0] == "ReceiptHandleIsInvalid"
    assert error_of(sqs.send_message_batch, QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "1"}, {"Id": "a", "MessageBody": "2"}]) == (
        "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "Id a repeated.", 400)
    assert error_of(sqs.send_message_batch, QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": "x"} for i in range(11)])[:2] == (
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
        "Maximum number of entries per request are 10. You have sent 11.")

    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "7"
    assert attrs["QueueArn"] == f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
    assert (attrs["DelaySeconds"], attrs["MessageRetentionPeriod"], attrs["MaximumMessageSize"]) == (
        "0", "345600", "262144")
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert abs(int(attrs["CreatedTimestamp"]) - time.time()) < 60
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1", "Policy": json.dumps({"Version": "2012-10-17", "Statement": []})})
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["DelaySeconds", "Policy"])["Attributes"]
    assert got["DelaySeconds"] == "1" and json.loads(got["Policy"])["Statement"] == []
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "0"})

    sqs.tag_queue(QueueUrl=url, Tags={"env": "test"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}

    for name in ("list-a", "list-b", "list-c"):
        sqs.create_queue(QueueName=name)
    assert sqs.list_queues(QueueNamePrefix="list-")["QueueUrls"] == [
        f"{server.endpoint}/{ACCOUNT}/list-{x}" for x in "abc"]
    page = sqs.list_queues(QueueNamePrefix="list-", MaxResults=2)
    assert len(page["QueueUrls"]) == 2 and page["NextToken"]
    rest = sqs.list_queues(QueueNamePrefix="list-", MaxResults=2, NextToken=page["NextToken"])
    assert rest["QueueUrls"] == [f"{server.endpoint}/{ACCOUNT}/list-c"] and "NextToken" not in rest
    sqs.delete_queue(QueueUrl=f"{server.endpoint}/{ACCOUNT}/list-c")
    assert error_of(sqs.get_queue_url, QueueName="list-c")[0] == "AWS.SimpleQueueService.NonExistentQueue"


def test_send_receive_visibility_and_digests(world):
    server, sqs, _ = world
    url = sqs.create_queue(QueueName="std", Attributes={"VisibilityTimeout": "3"})["QueueUrl"]
    attrs = {"colour": {"DataType": "String", "StringValue": "blue"},
             "n": {"DataType": "Number", "StringValue": "42"},
             "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}}
    body = "héllo wörld"
    sent = sqs.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attrs)
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == attributes_md5(attrs)
    assert "SequenceNumber" not in sent
    [m] = receive_all(sqs, url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"])
    assert (m["MessageId"], m["Body"]) == (sent["MessageId"], body)
    assert m["MD5OfBody"] == hashlib.md5(body.encode()).hexdigest()
    assert m["MessageAttributes"] == attrs
    assert m["MD5OfMessageAttributes"] == attributes_md5(attrs)
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    assert m["Attributes"]["SenderId"] == ACCOUNT
    assert abs(int(m["Attributes"]["SentTimestamp"]) / 1000 - time.time()) < 60
    # In flight: hidden from other receivers, back after its 3 s visibility timeout.
    assert receive_all(sqs, url) == []
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (counts["ApproximateNumberOfMessages"], counts["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    again = wait_for(lambda: receive_all(sqs, url, AttributeNames=["ApproximateReceiveCount"]), 10, "redelivery")
    assert again[0]["MessageId"] == m["MessageId"]
    assert again[0]["Attributes"] == {"ApproximateReceiveCount": "2"}
    assert again[0]["ReceiptHandle"] != m["ReceiptHandle"]
    # A stale receipt deletes nothing; the latest does.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"], VisibilityTimeout=0)
    third = receive_all(sqs, url)
    assert [x["MessageId"] for x in third] == [m["MessageId"]]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"])
    assert error_of(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=third[0]["ReceiptHandle"],
                    VisibilityTimeout=5)[0] == "AWS.SimpleQueueService.MessageNotInflight"

    # Batches, per-entry failures, delays. AWS leaves `Failed` out when nothing failed
    # (LocalStack's test_sqs_event_source_mapping_batch_size snapshots).
    other = sqs.create_queue(QueueName="jobs-clean")["QueueUrl"]
    clean = sqs.send_message_batch(QueueUrl=other, Entries=[{"Id": "z", "MessageBody": "zero"}])
    assert "Failed" not in clean and [e["Id"] for e in clean["Successful"]] == ["z"]
    out = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": "two", "DelaySeconds": 5},
        {"Id": "c", "MessageBody": "x" * 300_000}])
    assert sorted(e["Id"] for e in out["Successful"]) == ["a", "b"]
    [fail] = out["Failed"]
    assert (fail["Id"], fail["Code"], fail["SenderFault"]) == ("c", "InvalidParameterValue", True)
    first = receive_all(sqs, url, VisibilityTimeout=30)
    assert [x["Body"] for x in first] == ["one"]
    delayed = wait_for(lambda: receive_all(sqs, url, VisibilityTimeout=30), 15, "the delayed message")
    assert [x["Body"] for x in delayed] == ["two"]
    done = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "1", "ReceiptHandle": first[0]["ReceiptHandle"]},
        {"Id": "2", "ReceiptHandle": delayed[0]["ReceiptHandle"]},
        {"Id": "3", "ReceiptHandle": "not-a-handle"}])
    assert sorted(e["Id"] for e in done["Successful"]) == ["1", "2"]
    assert [(f["Id"], f["Code"]) for f in done["Failed"]] == [("3", "ReceiptHandleIsInvalid")]
    counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                     "ApproximateNumberOfMessagesNotVisible"])
    assert set(counts["Attributes"].values()) == {"0"}

    sqs.send_message(QueueUrl=url, MessageBody="purge me")
    sqs.purge_queue(QueueUrl=url)
    assert receive_all(sqs, url) == []
    assert error_of(sqs.purge_queue, QueueUrl=url)[0] == "AWS.SimpleQueueService.PurgeQueueInProgress"

    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        text = r.read().decode()
    assert 'lambdad_sqs_messages_sent_total{queue="std"} 4' in text
    assert 'lambdad_sqs_messages_deleted_total{queue="std"} 3' in text


def test_long_polling_wakes_on_send(world):
    server, sqs, _ = world
    url = sqs.create_queue(QueueName="poll")["QueueUrl"]
    start = time.monotonic()
    assert receive_all(sqs, url, WaitTimeSeconds=2) == []
    waited = time.monotonic() - start
    assert 1.8 < waited < 8, waited
    got = {}

    def poll():
        t = time.monotonic()
        got["messages"] = receive_all(sqs, url, WaitTimeSeconds=20)
        got["took"] = time.monotonic() - t

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(1)  # the receive is waiting meanwhile: that is what is tested
    make_client(server.endpoint, "sqs").send_message(QueueUrl=url, MessageBody="wake up")
    t.join(30)
    assert [m["Body"] for m in got["messages"]] == ["wake up"]
    assert got["took"] < 8, got["took"]


def test_fifo_order_dedup_and_group_locking(world):
    server, sqs, _ = world
    assert error_of(sqs.create_queue, QueueName="plain", Attributes={"FifoQueue": "true"})[0] == "InvalidParameterValue"
    url = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "30"})["QueueUrl"]
    assert error_of(sqs.send_message, QueueUrl=url, MessageBody="x", MessageGroupId="g") == (
        "InvalidParameterValue",
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
        400)
    assert error_of(sqs.send_message, QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")[:2] == (
        "MissingParameter", "The request must contain the parameter MessageGroupId.")
    seqs = []
    for i in range(4):
        for g in ("a", "b"):
            out = sqs.send_message(QueueUrl=url, MessageBody=f"{g}{i}", MessageGroupId=g, MessageDeduplicationId=f"{g}{i}")
            seqs.append(int(out["SequenceNumber"]))
    assert seqs == sorted(seqs)
    dup = sqs.send_message(QueueUrl=url, MessageBody="a0 again", MessageGroupId="a", MessageDeduplicationId="a0")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["All"])["Messages"][0]
    assert first["Body"] == "a0" and dup["MessageId"] == first["MessageId"]
    assert (first["Attributes"]["MessageGroupId"], first["Attributes"]["MessageDeduplicationId"]) == ("a", "a0")
    # Group a is locked while a0 is in flight: a second receiver gets only group b, in order.
    other = make_client(server.endpoint, "sqs")
    second = receive_all(other, url)
    assert [m["Body"] for m in second] == ["b0", "b1", "b2", "b3"]
    assert receive_all(other, url) == []
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    rest = receive_all(other, url)
    assert [m["Body"] for m in rest] == ["a1", "a2", "a3"]

    cbd = sqs.create_queue(QueueName="cbd.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    one = sqs.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    two = sqs.send_message(QueueUrl=cbd, MessageBody="same", MessageGroupId="g")
    assert one["MessageId"] == two["MessageId"]
    assert [m["Body"] for m in receive_all(sqs, cbd)] == ["same"]


def test_redrive_to_dead_letter_queue(world):
    server, sqs, _ = world
    dlq = sqs.create_queue(QueueName="dead")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 2})
    assert error_of(sqs.create_queue, QueueName="src-bad", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:missing", "maxReceiveCount": 2})
    })[0] == "InvalidParameterValue"
    src = sqs.create_queue(QueueName="src", Attributes={"RedrivePolicy": policy, "VisibilityTimeout": "1"})["QueueUrl"]
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    assert json.loads(sqs.get_queue_attributes(QueueUrl=src, AttributeNames=["RedrivePolicy"])
                      ["Attributes"]["RedrivePolicy"])["maxReceiveCount"] == 2
    sent = sqs.send_message(QueueUrl=src, MessageBody="poison")["MessageId"]
    for count in (1, 2):
        got = wait_for(lambda: receive_all(sqs, src, AttributeNames=["ApproximateReceiveCount"]), 10, f"receive {count}")
        assert got[0]["Attributes"]["ApproximateReceiveCount"] == str(count)
    moved = wait_for(lambda: receive_all(sqs, src) or receive_all(sqs, dlq), 10, "the move")
    assert [(m["MessageId"], m["Body"]) for m in moved] == [(sent, "poison")]
    assert receive_all(sqs, src, WaitTimeSeconds=2) == []


def test_aws_cli(world):
    server, sqs, _ = world
    _, out, _ = aws(server, "sqs", "create-queue", "--queue-name", "cli-q", "--attributes", "VisibilityTimeout=5")
    url = out["QueueUrl"]
    _, sent, _ = aws(server, "sqs", "send-message", "--queue-url", url, "--message-body", "from the cli",
                     "--message-attributes", '{"k":{"DataType":"String","StringValue":"v"}}')
    assert sent["MD5OfMessageBody"] == hashlib.md5(b"from the cli").hexdigest()
    _, got, _ = aws(server, "sqs", "receive-message", "--queue-url", url, "--message-attribute-names", "All")
    [m] = got["Messages"]
    assert (m["Body"], m["MessageAttributes"]["k"]["StringValue"]) == ("from the cli", "v")
    aws(server, "sqs", "delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"])
    code, _, err = aws(server, "sqs", "get-queue-url", "--queue-name", "nope", check=False)
    assert code != 0 and "AWS.SimpleQueueService.NonExistentQueue" in err


def aws_v2(server, *args):
    """The aws CLI v2 the machine has (/usr/bin/aws 2.9: SQS on the Query protocol)."""
    cli = require_tool("/usr/bin/aws")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    p = subprocess.run([cli, "--endpoint-url", server.endpoint, "--output", "json", "sqs", *args],
                       capture_output=True, text=True, env=env, timeout=120)
    return p.returncode, json.loads(p.stdout) if p.stdout.strip() else None, p.stderr


def test_query_protocol_with_aws_cli_v2(world):
    server, sqs, _ = world
    code, out, err = aws_v2(server, "create-queue", "--queue-name", "query-q", "--attributes", "VisibilityTimeout=9",
                            "--tags", "team=q")
    assert code == 0, err
    url = out["QueueUrl"]
    assert url == f"{server.endpoint}/{ACCOUNT}/query-q"
    body = "a <b> & c\r\nd"
    attrs = {"k": {"DataType": "String", "StringValue": "v"}, "b": {"DataType": "Binary", "BinaryValue": "AAE="}}
    code, sent, err = aws_v2(server, "send-message", "--queue-url", url, "--message-body", body,
                             "--message-attributes", json.dumps(attrs))
    assert code == 0, err
    assert sent["MD5OfMessageBody"] == hashlib.md5(body.encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == attributes_md5(
        {"k": attrs["k"], "b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    code, batch, err = aws_v2(server, "send-message-batch", "--queue-url", url, "--entries",
                              json.dumps([{"Id": "1", "MessageBody": "x"}, {"Id": "2", "MessageBody": ""}]))
    assert [e["Id"] for e in batch["Successful"]] == ["1"]
    assert [(f["Id"], f["Code"]) for f in batch["Failed"]] == [("2", "MissingParameter")]
    code, got, err = aws_v2(server, "receive-message", "--queue-url", url, "--message-attribute-names", "All",
                            "--attribute-names", "All", "--max-number-of-messages", "10")
    assert code == 0, err
    first = got["Messages"][0]
    assert (first["Body"], first["MessageAttributes"], first["MessageId"]) == (body, attrs, sent["MessageId"])
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    # The same queue through the JSON protocol.
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"] == {"ApproximateNumberOfMessagesNotVisible": "2"}
    for m in got["Messages"]:
        assert aws_v2(server, "delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"])[0] == 0
    code, attrs_out, _ = aws_v2(server, "get-queue-attributes", "--queue-url", url, "--attribute-names", "All")
    assert attrs_out["Attributes"]["VisibilityTimeout"] == "9"
    assert attrs_out["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert aws_v2(server, "list-queue-tags", "--queue-url", url)[1] == {"Tags": {"team": "q"}}
    assert url in aws_v2(server, "list-queues", "--queue-name-prefix", "query-")[1]["QueueUrls"]
    code, _, err = aws_v2(server, "get-queue-url", "--queue-name", "nope")
    assert code != 0 and "(AWS.SimpleQueueService.NonExistentQueue)" in err
    assert "The specified queue does not exist." in err


CONSUMER = '''
import json

def handler(event, context):
    failures = []
    for r in event["Records"]:
        print("MSG " + json.dumps(r, sort_keys=True))
        if "bad" in r["body"]:
            failures.append({"itemIdentifier": r["messageId"]})
    print("BATCH " + str(len(event["Records"])))
    return {"batchItemFailures": failures}
'''


def seen(server, function, pattern='"MSG "'):
    logs = make_client(server.endpoint, "logs")
    try:
        out = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern=pattern)
    except ClientError:
        return []
    return [e["message"] for e in out["events"]]


@pytest.mark.timeout(180)
def test_mapping_on_a_builtin_queue(world):
    server, sqs, lam = world
    lam.create_function(FunctionName="consumer", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (CONSUMER, 0o644)})}, Timeout=30)
    dlq = sqs.create_queue(QueueName="mapping-dlq")["QueueUrl"]
    url = sqs.create_queue(QueueName="mapped", Attributes={
        "VisibilityTimeout": "2",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 2})})["QueueUrl"]
    bodies = [f"bad {i}" if i in (4, 9) else f"good {i}" for i in range(25)]
    for start in range(0, 25, 5):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": bodies[start + i]} for i in range(5)])
    lam.create_event_source_mapping(EventSourceArn=arn_of(sqs, url), FunctionName="consumer", BatchSize=5,
                                    FunctionResponseTypes=["ReportBatchItemFailures"])
    # Every good message is processed once and deleted; the bad ones fail twice and move to the DLQ.
    wait_for(lambda: {json.loads(m[4:])["body"] for m in seen(server, "consumer")} == set(bodies), 60, "all bodies")
    moved = []
    wait_for(lambda: moved.extend(m["Body"] for m in receive_all(sqs, dlq, VisibilityTimeout=600)) or len(moved) == 2,
             60, "the DLQ")
    assert sorted(moved) == ["bad 4", "bad 9"]
    records = [json.loads(m[4:]) for m in seen(server, "consumer")]
    good = [r["body"] for r in records if r["body"].startswith("good")]
    assert sorted(good) == sorted(b for b in bodies if b.startswith("good"))
    r = records[0]
    assert (r["eventSource"], r["eventSourceARN"], r["awsRegion"]) == ("aws:sqs", arn_of(sqs, url), "us-east-1")
    assert r["md5OfBody"] == hashlib.md5(r["body"].encode()).hexdigest()
    # AWS (LocalStack's test_lambda_integration_sqs snapshots): null without message attributes.
    assert "md5OfMessageAttributes" in r and r["md5OfMessageAttributes"] is None
    assert {"ApproximateReceiveCount", "SentTimestamp", "SenderId"} <= set(r["attributes"])
    batches = [int(m.split()[1]) for m in seen(server, "consumer", '"BATCH "')]
    assert max(batches) <= 5
    wait_for(lambda: sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
             ["ApproximateNumberOfMessagesNotVisible"] == "0", 30, "an empty queue")
    assert receive_all(sqs, url) == []


def test_mapping_batching_window_on_a_builtin_queue(world):
    """A batch larger than one receive (10) needs a window (AWS's error otherwise); with one, the
    mapping gathers the queue's 30 messages over several receives into one invocation: the batch
    is not full (50), so it waits out the window rather than invoking per receive."""
    server, sqs, lam = world
    lam.create_function(FunctionName="windowed", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (CONSUMER, 0o644)})}, Timeout=30)
    url = sqs.create_queue(QueueName="windowed")["QueueUrl"]
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(EventSourceArn=arn_of(sqs, url), FunctionName="windowed", BatchSize=50)
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    for start in range(0, 30, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"w{start + i}"} for i in range(10)])
    mapping = lam.create_event_source_mapping(EventSourceArn=arn_of(sqs, url), FunctionName="windowed",
                                              BatchSize=50, MaximumBatchingWindowInSeconds=2)
    assert (mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]) == (50, 2)
    wait_for(lambda: sum(int(m.split()[1]) for m in seen(server, "windowed", '"BATCH "')) >= 30, 60, "every message")
    batches = [int(m.split()[1]) for m in seen(server, "windowed", '"BATCH "')]
    assert sum(batches) == 30 and max(batches) > 10, batches


@pytest.mark.timeout(180)
def test_fifo_mapping_on_a_builtin_queue_keeps_groups_in_order(world):
    """Issue 30 on the built-in queue: several workers (batches of 2, a slow function, six groups);
    from the function's own start and end times no two batches of one group overlap, and every
    group runs in order."""
    server, sqs, lam = world
    lam.create_function(FunctionName="fifo-span", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (FIFO_SPAN, 0o644)})}, Timeout=30)
    url = sqs.create_queue(QueueName="spans.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
    groups = "abcdef"
    for seq in range(10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": g, "MessageBody": f"{g}-{seq}", "MessageGroupId": g} for g in groups])
    lam.create_event_source_mapping(EventSourceArn=arn_of(sqs, url), FunctionName="fifo-span", BatchSize=2,
                                    ScalingConfig={"MaximumConcurrency": 6})

    def spans():
        return [json.loads(m[5:]) for m in seen(server, "fifo-span", '"SPAN "')]

    wait_for(lambda: len({b for s in spans() for b in s["bodies"]}) == 60, 120, "every message")
    assert_groups_in_order(spans(), groups, 10)


FAILING = '''
def handler(event, context):
    raise RuntimeError("always fails: " + event["tag"])
'''


def test_async_on_failure_destination_is_a_builtin_queue(world):
    server, sqs, lam = world
    url = sqs.create_queue(QueueName="failures")["QueueUrl"]
    lam.create_function(FunctionName="failing", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (FAILING, 0o644)})})
    lam.put_function_event_invoke_config(FunctionName="failing", MaximumRetryAttempts=0, DestinationConfig={
        "OnFailure": {"Destination": arn_of(sqs, url)}})
    lam.invoke(FunctionName="failing", InvocationType="Event", Payload=json.dumps({"tag": "t-1"}))
    [m] = wait_for(lambda: receive_all(sqs, url, WaitTimeSeconds=5), 60, "the failure record")
    record = json.loads(m["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["functionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:failing:$LATEST"
    assert record["requestPayload"] == {"tag": "t-1"}
    assert record["responsePayload"]["errorMessage"] == "always fails: t-1"


@pytest.mark.timeout(240)
def test_sigkill_during_sends_and_receives():
    """Acknowledged messages survive a SIGKILL (received at least once after the restart); a
    message deleted before it never comes back; in-flight ones return after their timeout."""
    server = Server(interpreters=False)
    server.start()
    try:
        sqs = make_client(server.endpoint, "sqs")
        url = sqs.create_queue(QueueName="crash", Attributes={"VisibilityTimeout": "10"})["QueueUrl"]
        acked, attempted, deleted, stop = set(), set(), set(), threading.Event()

        def send(worker):
            client = make_client(server.endpoint, "sqs")
            i = 0
            while not stop.is_set():
                try:
                    client.send_message(QueueUrl=url, MessageBody=f"{worker}-{i}")
                    acked.add(f"{worker}-{i}")
                except Exception:  # not acknowledged (the server died mid-request)
                    time.sleep(0.05)
                i += 1

        def receive():
            client = make_client(server.endpoint, "sqs")
            while not stop.is_set():
                try:
                    for m in receive_all(client, url):
                        if hash(m["Body"]) % 2 == 0:
                            # A delete cut off by the kill may have committed: the message
                            # need not come back, but only answered deletes must stay gone.
                            attempted.add(m["Body"])
                            client.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
                            deleted.add(m["Body"])
                except Exception:  # a delete not acknowledged is not counted
                    time.sleep(0.05)

        threads = [threading.Thread(target=send, args=(w,)) for w in range(3)] + [threading.Thread(target=receive)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 300 and len(deleted) >= 20, 90, "300 sends and 20 deletes")
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        server.proc = None
        stop.set()
        for t in threads:
            t.join(30)
        server.start()
        sqs = make_client(server.endpoint, "sqs")
        got = set()

        def drain():
            for m in receive_all(sqs, url, VisibilityTimeout=600, WaitTimeSeconds=1):
                got.add(m["Body"])
            return (acked - attempted) <= got

        try:
            wait_for(drain, 60, "every acknowledged message", interval=0)
        except AssertionError:
            lost = acked - attempted - got
            raise AssertionError(f"{len(lost)} acknowledged messages lost, e.g. {sorted(lost)[:5]}; "
                                 f"{len(acked)} sent, {len(deleted)} deleted")
        assert not (got & deleted), sorted(got & deleted)[:5]
    finally:
        server.stop()
        server.tmp.cleanup()
