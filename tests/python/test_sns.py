"""lambdad's built-in SNS, driven with boto3 and the aws CLI (v1 from the venv, v2 of the machine),
with no external AWS endpoint: errors by code and message; a topic fanning out to two functions
(AWS's SNS event checked field by field) and built-in queues (a filter policy, the envelope, raw
delivery); a function without a policy for SNS is not invoked; a FIFO topic keeps a group's order
into a FIFO queue; an HTTP subscriber confirms through its SubscribeURL and then receives
notifications with SNS's headers; an async function's DLQ is a built-in topic and its OnFailure
destination a built-in queue; and a SIGKILL during publishes loses no acknowledged message."""

import json
import os
import re
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws, make_client, require_tool, wait_for, zip_bytes

ACCOUNT = "000000000000"
TOPIC_PREFIX = f"arn:aws:sns:us-east-1:{ACCOUNT}:"


@pytest.fixture(scope="module")
def world():
    server = Server()
    server.start()
    try:
        yield server, make_client(server.endpoint, "sns"), make_client(server.endpoint, "sqs"), make_client(server.endpoint)
    finally:
        code = server.stop()
        assert code == 0, server.log()[-2000:]
        server.tmp.cleanup()


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def queue(sqs, name, **attrs):
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def drain(sqs, url, into, want):
    out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600, WaitTimeSeconds=1)
    into.extend(out.get("Messages", []))
    return len(into) >= want


def test_topics_and_errors(world):
    _, sns, _, _ = world
    arn = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"}, Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    assert arn == TOPIC_PREFIX + "orders"
    # Same attributes: the same topic; other values: InvalidParameter.
    assert sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"})["TopicArn"] == arn
    assert error_of(sns.create_topic, Name="orders", Attributes={"DisplayName": "Other"}) == (
        "InvalidParameter", "Invalid parameter: Attributes Reason: Topic already exists with different attributes", 400)
    assert error_of(sns.create_topic, Name="bad name!") == ("InvalidParameter", "Invalid parameter: Topic Name", 400)
    assert error_of(sns.create_topic, Name="nofifo", Attributes={"FifoTopic": "true"})[:2] == (
        "InvalidParameter",
        "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase "
        "ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.")
    missing = TOPIC_PREFIX + "missing"
    assert error_of(sns.get_topic_attributes, TopicArn=missing) == ("NotFound", "Topic does not exist", 404)
    assert error_of(sns.publish, TopicArn=missing, Message="x") == ("NotFound", "Topic does not exist", 404)
    assert error_of(sns.publish, TopicArn="not-an-arn", Message="x")[:2] == ("InvalidParameter", "Invalid parameter: TopicArn")
    assert error_of(sns.publish, TopicArn=arn, Message="") == ("InvalidParameter", "Invalid parameter: Empty message", 400)
    assert error_of(sns.publish, TopicArn=arn, Message="{}", MessageStructure="json")[:2] == (
        "InvalidParameter", "Invalid parameter: Message Structure - No default entry in JSON message body")
    assert error_of(sns.subscribe, TopicArn=arn, Protocol="carrier-pigeon", Endpoint="x")[:2] == (
        "InvalidParameter", "Invalid parameter: Amazon SNS does not support this protocol string: carrier-pigeon")
    assert error_of(sns.subscribe, TopicArn=arn, Protocol="sqs", Endpoint="queue")[:2] == (
        "InvalidParameter", "Invalid parameter: SQS endpoint ARN")
    assert error_of(sns.get_subscription_attributes, SubscriptionArn=arn + ":0b3c3d1c-0000-0000-0000-000000000000") == (
        "NotFound", "Subscription does not exist", 404)
    assert error_of(sns.publish_batch, TopicArn=arn, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}])[:2] == (
        "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")

    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert (attrs["TopicArn"], attrs["Owner"], attrs["DisplayName"]) == (arn, ACCOUNT, "Orders")
    assert (attrs["SubscriptionsConfirmed"], attrs["SubscriptionsPending"]) == ("0", "0")
    assert json.loads(attrs["Policy"])["Statement"][0]["Resource"] == arn
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Renamed <&>")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Renamed <&>"
    assert error_of(sns.set_topic_attributes, TopicArn=arn, AttributeName="Colour", AttributeValue="x")[:2] == (
        "InvalidParameter", "Invalid parameter: AttributeName")

    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "test"}])
    sns.untag_resource(ResourceArn=arn, TagKeys=["team"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "test"}]

    fifo = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    assert error_of(sns.publish, TopicArn=fifo, Message="x")[:2] == (
        "InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
    assert error_of(sns.publish, TopicArn=fifo, Message="x", MessageGroupId="g")[:2] == (
        "InvalidParameter",
        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
    first = sns.publish(TopicArn=fifo, Message="x", MessageGroupId="g", MessageDeduplicationId="d")
    again = sns.publish(TopicArn=fifo, Message="x", MessageGroupId="g", MessageDeduplicationId="d")
    assert first["MessageId"] == again["MessageId"] and re.fullmatch(r"\d{20}", first["SequenceNumber"])

    topics = [t["TopicArn"] for t in sns.list_topics()["Topics"]]
    assert arn in topics and fifo in topics
    sns.delete_topic(TopicArn=fifo)
    sns.delete_topic(TopicArn=fifo)  # deleting what is gone succeeds, as on AWS
    assert fifo not in [t["TopicArn"] for t in sns.list_topics()["Topics"]]


def test_aws_cli_v1_and_v2(world):
    server, sns, _, _ = world
    cli = require_tool("/usr/bin/aws")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    p = subprocess.run([cli, "--endpoint-url", server.endpoint, "--output", "json", "sns", "create-topic",
                        "--name", "cli-v2"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["TopicArn"] == TOPIC_PREFIX + "cli-v2"
    p = subprocess.run([cli, "--endpoint-url", server.endpoint, "--output", "json", "sns", "publish", "--topic-arn",
                        TOPIC_PREFIX + "nope", "--message", "x"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode != 0 and "(NotFound)" in p.stderr and "Topic does not exist" in p.stderr
    _, out, _ = aws(server, "sns", "publish", "--topic-arn", TOPIC_PREFIX + "cli-v2", "--message", "hi",
                    "--subject", "s")
    assert re.fullmatch(r"[0-9a-f-]{36}", out["MessageId"])
    _, out, _ = aws(server, "sns", "list-topics")
    assert TOPIC_PREFIX + "cli-v2" in [t["TopicArn"] for t in out["Topics"]]
    sns.delete_topic(TopicArn=TOPIC_PREFIX + "cli-v2")


RECORDER = '''
import json

def handler(event, context):
    print("SNS " + json.dumps(event))
    return {}
'''


def seen(server, function):
    logs = make_client(server.endpoint, "logs")
    try:
        out = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern='"SNS "')
    except ClientError:
        return []
    return [json.loads(e["message"][4:]) for e in out["events"]]


def iso_ms(text):
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text), text
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


@pytest.mark.timeout(240)
def test_fan_out_to_functions_and_queues(world):
    server, sns, sqs, lam = world
    topic = sns.create_topic(Name="fanout")["TopicArn"]
    subs = {}
    for name in ("rec-a", "rec-b", "rec-denied"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (RECORDER, 0o644)})}, Timeout=30)
        if name != "rec-denied":
            lam.add_permission(FunctionName=name, StatementId="sns", Action="lambda:InvokeFunction",
                               Principal="sns.amazonaws.com", SourceArn=topic)
        fn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        subs[name] = sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)["SubscriptionArn"]
    filtered_url, filtered_arn = queue(sqs, "fanout-orders")
    policy = {"kind": ["order"], "price": [{"numeric": [">", 10]}]}
    sub_q = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=filtered_arn,
                          Attributes={"FilterPolicy": json.dumps(policy)}, ReturnSubscriptionArn=True)["SubscriptionArn"]
    body_url, body_arn = queue(sqs, "fanout-body")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=body_arn, Attributes={
        "FilterPolicy": json.dumps({"order": {"size": [{"prefix": "bi"}]}}), "FilterPolicyScope": "MessageBody"})
    raw_url, raw_arn = queue(sqs, "fanout-raw")
    sub_raw = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn)["SubscriptionArn"]
    sns.set_subscription_attributes(SubscriptionArn=sub_raw, AttributeName="RawMessageDelivery", AttributeValue="true")

    got = sns.get_subscription_attributes(SubscriptionArn=sub_q)["Attributes"]
    assert (got["Protocol"], got["Endpoint"], got["TopicArn"], got["PendingConfirmation"]) == ("sqs", filtered_arn, topic, "false")
    assert (json.loads(got["FilterPolicy"]), got["FilterPolicyScope"], got["RawMessageDelivery"]) == (
        policy, "MessageAttributes", "false")
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert len(listed) == 6 and {s["Protocol"] for s in listed} == {"lambda", "sqs"}
    assert sub_q in [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]]
    assert error_of(sns.set_subscription_attributes, SubscriptionArn=sub_q, AttributeName="FilterPolicy",
                    AttributeValue="[1]")[0] == "InvalidParameter"

    before = time.time()
    order = sns.publish(TopicArn=topic, Message=json.dumps({"order": {"size": "big"}}), Subject="New order",
                        MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"},
                                           "price": {"DataType": "Number", "StringValue": "12.5"}})["MessageId"]
    other = sns.publish(TopicArn=topic, Message="just news",
                        MessageAttributes={"kind": {"DataType": "String", "StringValue": "news"}})["MessageId"]

    for name in ("rec-a", "rec-b"):
        wait_for(lambda: len(seen(server, name)) == 2, 90, f"two events at {name}")
        events = {e["Records"][0]["Sns"]["MessageId"]: e for e in seen(server, name)}
        assert set(events) == {order, other}
        [record] = events[order]["Records"]
        assert (record["EventSource"], record["EventVersion"], record["EventSubscriptionArn"]) == (
            "aws:sns", "1.0", subs[name])
        s = record["Sns"]
        assert (s["Type"], s["TopicArn"], s["Subject"], s["Message"]) == (
            "Notification", topic, "New order", json.dumps({"order": {"size": "big"}}))
        assert s["MessageAttributes"] == {"kind": {"Type": "String", "Value": "order"},
                                          "price": {"Type": "Number", "Value": "12.5"}}
        assert before - 5 <= iso_ms(s["Timestamp"]) <= time.time() + 5
        assert s["SignatureVersion"] == "1" and s["Signature"] and s["SigningCertUrl"].startswith("http")
        assert "Action=Unsubscribe" in s["UnsubscribeUrl"]
        news = events[other]["Records"][0]["Sns"]
        assert (news["Subject"], news["Message"], news["MessageAttributes"]) == (
            None, "just news", {"kind": {"Type": "String", "Value": "news"}})

    envelopes = []
    wait_for(lambda: drain(sqs, filtered_url, envelopes, 1), 60, "the filtered queue")
    env = json.loads(envelopes[0]["Body"])
    assert (env["Type"], env["MessageId"], env["TopicArn"], env["Subject"]) == ("Notification", order, topic, "New order")
    assert env["MessageAttributes"] == {"kind": {"Type": "String", "Value": "order"},
                                        "price": {"Type": "Number", "Value": "12.5"}}
    assert {"Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL"} <= set(env)
    by_body = []
    wait_for(lambda: drain(sqs, body_url, by_body, 1), 60, "the body-filtered queue")
    assert json.loads(by_body[0]["Body"])["MessageId"] == order
    raw = []
    wait_for(lambda: drain(sqs, raw_url, raw, 2), 60, "the raw queue")
    assert sorted(m["Body"] for m in raw) == sorted([json.dumps({"order": {"size": "big"}}), "just news"])
    # Only the matching message passed either filter.
    assert sqs.receive_message(QueueUrl=filtered_url, WaitTimeSeconds=2).get("Messages", []) == []
    assert sqs.receive_message(QueueUrl=body_url, WaitTimeSeconds=1).get("Messages", []) == []
    # A function whose policy does not let SNS invoke it is not invoked (as on AWS).
    assert seen(server, "rec-denied") == []
    wait_for(lambda: 'lambdad_sns_deliveries_failed_total{topic="fanout",protocol="lambda"} 2' in
             metrics(server), 30, "the failed deliveries metric")
    text = metrics(server)
    assert 'lambdad_sns_messages_published_total{topic="fanout"} 2' in text
    assert 'lambdad_sns_deliveries_succeeded_total{topic="fanout",protocol="sqs"} 4' in text


def metrics(server):
    import urllib.request
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        return r.read().decode()


def test_fifo_topic_keeps_group_order_into_a_fifo_queue(world):
    _, sns, sqs, _ = world
    topic = sns.create_topic(Name="seq.fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"})["TopicArn"]
    url, arn = queue(sqs, "seq.fifo", FifoQueue="true")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    sent = []
    for i in range(0, 30, 10):
        out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
            {"Id": f"e{j}", "Message": f"{'ab'[j % 2]}-{i + j}", "MessageGroupId": "ab"[j % 2]} for j in range(10)])
        assert out["Failed"] == [] and len(out["Successful"]) == 10
        sent.extend(f"{'ab'[j % 2]}-{i + j}" for j in range(10))
    # A duplicate by content is not delivered again.
    sns.publish(TopicArn=topic, Message="a-0", MessageGroupId="a")
    got = []

    def more():
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for m in out.get("Messages", []):
            got.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(got) >= 30

    wait_for(more, 60, "thirty messages")
    for g in "ab":
        assert [b for b in got if b.startswith(g)] == [b for b in sent if b.startswith(g)]
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


class Recorder(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        Recorder.received.append((dict((k.lower(), v) for k, v in self.headers.items()), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.mark.timeout(120)
def test_http_subscriber_confirms_and_receives(world):
    _, sns, _, _ = world
    import urllib.request
    httpd = HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        topic = sns.create_topic(Name="web")["TopicArn"]
        endpoint = f"http://127.0.0.1:{httpd.server_port}/hook"
        assert sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint)["SubscriptionArn"] == "pending confirmation"
        assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsPending"] == "1"
        wait_for(lambda: Recorder.received, 30, "the confirmation request")
        headers, body = Recorder.received.pop(0)
        msg = json.loads(body)
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert headers["x-amz-sns-topic-arn"] == topic and headers["x-amz-sns-message-id"] == msg["MessageId"]
        assert (msg["Type"], msg["TopicArn"]) == ("SubscriptionConfirmation", topic)
        assert msg["Token"] and f"Token={msg['Token']}" in msg["SubscribeURL"]
        # Nothing is delivered before the confirmation.
        sns.publish(TopicArn=topic, Message="too early")
        assert error_of(sns.confirm_subscription, TopicArn=topic, Token="wrong")[:2] == (
            "InvalidParameter", "Invalid parameter: Invalid token")
        with urllib.request.urlopen(msg["SubscribeURL"], timeout=10) as r:
            xml = r.read().decode()
        arn = re.search(r"<SubscriptionArn>(.*)</SubscriptionArn>", xml).group(1)
        assert arn.startswith(topic + ":")
        assert sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]["PendingConfirmation"] == "false"
        published = sns.publish(TopicArn=topic, Message="hello web", Subject="greeting")["MessageId"]
        wait_for(lambda: Recorder.received, 30, "the notification")
        headers, body = Recorder.received.pop(0)
        note = json.loads(body)
        assert (headers["x-amz-sns-message-type"], headers["x-amz-sns-message-id"]) == ("Notification", published)
        assert (headers["x-amz-sns-subscription-arn"], headers["x-amz-sns-topic-arn"]) == (arn, topic)
        assert (note["Type"], note["Message"], note["Subject"], note["MessageId"]) == (
            "Notification", "hello web", "greeting", published)
        sns.unsubscribe(SubscriptionArn=arn)
        assert error_of(sns.get_subscription_attributes, SubscriptionArn=arn)[0] == "NotFound"
    finally:
        httpd.shutdown()


FAILING = '''
def handler(event, context):
    raise RuntimeError("always fails: " + event["tag"])
'''


@pytest.mark.timeout(180)
def test_async_dead_letter_topic_and_on_failure_queue(world):
    """One async function whose DLQ is a built-in topic and whose OnFailure destination is a
    built-in queue: the original event reaches the topic's subscriber, the failure record the queue."""
    _, sns, sqs, lam = world
    topic = sns.create_topic(Name="dead-letters")["TopicArn"]
    url, arn = queue(sqs, "dead-letters-q")
    failures_url, failures_arn = queue(sqs, "sns-failing-failures")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    lam.create_function(FunctionName="sns-failing", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (FAILING, 0o644)})},
                        DeadLetterConfig={"TargetArn": topic})
    lam.put_function_event_invoke_config(FunctionName="sns-failing", MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": failures_arn}})
    out = lam.invoke(FunctionName="sns-failing", InvocationType="Event", Payload=json.dumps({"tag": "t-9"}))
    failures = []
    wait_for(lambda: drain(sqs, failures_url, failures, 1), 90, "the failure record")
    record = json.loads(failures[0]["Body"])
    assert (record["requestContext"]["requestId"], record["requestContext"]["condition"]) == (
        out["ResponseMetadata"]["RequestId"], "RetriesExhausted")
    assert record["requestContext"]["functionArn"] == f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:sns-failing:$LATEST"
    assert record["requestPayload"] == {"tag": "t-9"}
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "always fails: t-9"
    got = []
    wait_for(lambda: drain(sqs, url, got, 1), 90, "the dead letter")
    env = json.loads(got[0]["Body"])
    assert (env["Type"], env["TopicArn"]) == ("Notification", topic)
    assert json.loads(env["Message"]) == {"tag": "t-9"}
    attrs = env["MessageAttributes"]
    assert attrs["ErrorMessage"]["Value"] == "always fails: t-9"
    assert attrs["RequestID"]["Type"] == "String" and attrs["RequestID"]["Value"]


@pytest.mark.timeout(240)
def test_sigkill_during_publishes():
    """Every acknowledged publish reaches the subscribed queue at least once after a SIGKILL."""
    server = Server(interpreters=False)
    server.start()
    try:
        sns = make_client(server.endpoint, "sns")
        sqs = make_client(server.endpoint, "sqs")
        topic = sns.create_topic(Name="crash")["TopicArn"]
        url, arn = queue(sqs, "crash-q")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        acked, stop = set(), threading.Event()

        def publish(worker):
            client = make_client(server.endpoint, "sns")
            i = 0
            while not stop.is_set():
                try:
                    client.publish(TopicArn=topic, Message=f"{worker}-{i}")
                    acked.add(f"{worker}-{i}")
                except Exception:  # not acknowledged (the server died mid-request)
                    time.sleep(0.05)
                i += 1

        threads = [threading.Thread(target=publish, args=(w,)) for w in range(3)]
        for t in threads:
            t.start()
        wait_for(lambda: len(acked) >= 300, 90, "300 publishes")
        os.kill(server.proc.pid, signal.SIGKILL)
        server.proc.wait()
        server.proc = None
        stop.set()
        for t in threads:
            t.join(30)
        server.start()
        sqs = make_client(server.endpoint, "sqs")
        got = set()

        def drained():
            out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600, WaitTimeSeconds=1)
            got.update(m["Body"] for m in out.get("Messages", []))
            return acked <= got

        try:
            wait_for(drained, 90, "every acknowledged publish", interval=0)
        except AssertionError:
            lost = acked - got
            raise AssertionError(f"{len(lost)} acknowledged publishes lost, e.g. {sorted(lost)[:5]}; {len(acked)} acked")
    finally:
        server.stop()
        server.tmp.cleanup()
