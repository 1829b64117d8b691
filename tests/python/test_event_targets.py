"""EventBridge rules with SQS queue and SNS topic targets on lambdad's built-in services, with boto3
and the aws CLI and no external AWS endpoint: a pattern rule's events (the envelope, or InputPath's
part) read back from a queue; a FIFO queue target needs SqsParameters (EventBridge's
ValidationException) and its messages carry the MessageGroupId; a schedule rule's ticks fanned out by
a topic to a subscribed function and queue; and deliveries the queue's or topic's policy does not
allow to events.amazonaws.com for the rule (or to a queue that does not exist) dropped and counted,
as on AWS, until the policy allows them."""

import json
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws, make_client, wait_for, zip_bytes

ACCOUNT = "000000000000"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/"
QUEUE = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:"

RECORDER = '''
import json

def handler(event, context):
    print("SNS " + json.dumps(event))
    return {}
'''


@pytest.fixture(scope="module")
def world():
    server = Server(extra=["--schedule-min-interval", "1s"])
    server.start()
    try:
        yield (server, make_client(server.endpoint, "events"), make_client(server.endpoint, "sqs"),
               make_client(server.endpoint, "sns"), make_client(server.endpoint))
    finally:
        code = server.stop()
        assert code == 0, server.log()[-2000:]
        server.tmp.cleanup()


def events_statement(action, resource, rule):
    """The statement AWS's guides (and the console) add for a rule's target."""
    return {"Sid": f"events-{rule}", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": action, "Resource": resource, "Condition": {"ArnEquals": {"aws:SourceArn": RULE + rule}}}


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def queue_for(sqs, name, rule, **attrs):
    """Queue `name` whose policy lets rule `rule` send to it: its URL and ARN."""
    arn = QUEUE + name
    attrs["Policy"] = policy(events_statement("sqs:SendMessage", arn, rule))
    return sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"], arn


def take(sqs, url, want, timeout=60):
    """Receives (and deletes) messages until `want` have come; then none more may be waiting."""
    got = []

    def more():
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  AttributeNames=["All"])
        for m in out.get("Messages", []):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            got.append(m)
        return len(got) >= want

    wait_for(more, timeout, f"{want} messages on {url}")
    assert len(got) == want, got
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    return got


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def destination_failures(server):
    with urllib.request.urlopen(server.endpoint + "/_lambdad/async-stats", timeout=10) as r:
        return json.loads(r.read())["destinationFailures"]


@pytest.mark.timeout(120)
def test_pattern_rule_sends_events_to_a_builtin_queue(world):
    _, events, sqs, _, _ = world
    url, arn = queue_for(sqs, "orders-in", "big-orders")
    events.put_rule(Name="big-orders", EventPattern=json.dumps(
        {"source": ["shop"], "detail": {"total": [{"numeric": [">", 100]}]}}))
    out = events.put_targets(Rule="big-orders", Targets=[
        {"Id": "whole", "Arn": arn},
        {"Id": "part", "Arn": arn, "InputPath": "$.detail.customer"},
    ])
    assert (out["FailedEntryCount"], out["FailedEntries"]) == (0, [])
    assert events.list_targets_by_rule(Rule="big-orders")["Targets"] == [
        {"Id": "whole", "Arn": arn}, {"Id": "part", "Arn": arn, "InputPath": "$.detail.customer"}]

    sent = events.put_events(Entries=[
        {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"total": 150, "customer": {"id": "c1"}})},
        {"Source": "shop", "DetailType": "Order Placed", "Detail": json.dumps({"total": 5, "customer": {"id": "c2"}})},
    ])
    assert sent["FailedEntryCount"] == 0
    bodies = [json.loads(m["Body"]) for m in take(sqs, url, 2)]
    envelope = next(b for b in bodies if "detail" in b)
    assert bodies == [envelope, {"id": "c1"}] or bodies == [{"id": "c1"}, envelope]
    assert envelope["id"] == sent["Entries"][0]["EventId"]
    assert (envelope["source"], envelope["detail-type"], envelope["account"], envelope["region"]) == (
        "shop", "Order Placed", ACCOUNT, "us-east-1")
    assert envelope["detail"] == {"total": 150, "customer": {"id": "c1"}}

    # Targets of services lambdad does not deliver to are failed entries; a malformed ARN fails the call.
    out = events.put_targets(Rule="big-orders", Targets=[
        {"Id": "stream", "Arn": f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/s"}])
    assert out["FailedEntryCount"] == 1 and out["FailedEntries"][0]["TargetId"] == "stream"
    assert error_of(events.put_targets, Rule="big-orders", Targets=[{"Id": "x", "Arn": "orders-in"}]) == (
        "ValidationException", "Parameter orders-in is not valid. Reason: Provided Arn is not in correct format.", 400)
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="big-orders")["Targets"]] == ["whole", "part"]


@pytest.mark.timeout(120)
def test_fifo_queue_target_needs_sqs_parameters_and_gets_the_group(world):
    server, events, sqs, _, _ = world
    url, arn = queue_for(sqs, "audit.fifo", "audit", FifoQueue="true")
    events.put_rule(Name="audit", EventPattern=json.dumps({"source": ["audit"]}))
    missing = "Parameter(s) SqsParameters must be specified for target: log."
    for target in ({"Id": "log", "Arn": arn}, {"Id": "log", "Arn": arn, "SqsParameters": {}}):
        assert error_of(events.put_targets, Rule="audit", Targets=[target]) == ("ValidationException", missing, 400)
    # Checked before the rule is looked up, as EventBridge does.
    assert error_of(events.put_targets, Rule="no-such-rule", Targets=[{"Id": "log", "Arn": arn}])[1] == missing
    code, _, stderr = aws(server, "events", "put-targets", "--rule", "audit", "--targets",
                          json.dumps([{"Id": "log", "Arn": arn}]), check=False)
    assert code != 0 and f"An error occurred (ValidationException) when calling the PutTargets operation: {missing}" in stderr
    assert error_of(events.put_targets, Rule="audit", Targets=[
        {"Id": "log", "Arn": arn, "SqsParameters": {"MessageGroupId": "g" * 101}}])[0] == "ValidationException"

    _, out, _ = aws(server, "events", "put-targets", "--rule", "audit", "--targets",
                    json.dumps([{"Id": "log", "Arn": arn, "SqsParameters": {"MessageGroupId": "audit-trail"}}]))
    assert out["FailedEntryCount"] == 0
    assert events.list_targets_by_rule(Rule="audit")["Targets"] == [
        {"Id": "log", "Arn": arn, "SqsParameters": {"MessageGroupId": "audit-trail"}}]
    sent = events.put_events(Entries=[{"Source": "audit", "DetailType": "Entry", "Detail": json.dumps({"n": n})}
                                      for n in range(3)])
    got = take(sqs, url, 3)
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"audit-trail"}
    assert len({m["Attributes"]["MessageDeduplicationId"] for m in got}) == 3
    assert sorted(json.loads(m["Body"])["id"] for m in got) == sorted(e["EventId"] for e in sent["Entries"])


@pytest.mark.timeout(120)
def test_schedule_rule_through_a_topic_to_a_function_and_a_queue(world):
    server, events, sqs, sns, lam = world
    topic = sns.create_topic(Name="ticks")["TopicArn"]
    assert topic == TOPIC + "ticks"
    # SNS's default policy and the statement the console adds for the rule.
    document = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    document["Statement"].append(events_statement("sns:Publish", topic, "heartbeat"))
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(document))
    lam.create_function(FunctionName="tick-recorder", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (RECORDER, 0o644)})}, Timeout=30)
    lam.add_permission(FunctionName="tick-recorder", StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=topic)
    fn = lam.get_function(FunctionName="tick-recorder")["Configuration"]["FunctionArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=fn)
    url = sqs.create_queue(QueueName="tick-copies")["QueueUrl"]
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE + "tick-copies")["SubscriptionArn"]
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true")

    events.put_rule(Name="heartbeat", ScheduleExpression="rate(1 second)")
    events.put_targets(Rule="heartbeat", Targets=[{"Id": "topic", "Arn": topic}])
    got = []

    def copy():
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1)
        got.extend(out.get("Messages", []))
        return got

    wait_for(copy, 60, "a tick on the subscribed queue")
    events.disable_rule(Name="heartbeat")
    tick = json.loads(got[0]["Body"])
    assert (tick["detail-type"], tick["source"], tick["resources"]) == ("Scheduled Event", "aws.events", [RULE + "heartbeat"])

    def recorded():
        logs = make_client(server.endpoint, "logs")
        try:
            out = logs.filter_log_events(logGroupName="/aws/lambda/tick-recorder", filterPattern='"SNS "')
        except ClientError:
            return []
        return [json.loads(e["message"][4:]) for e in out["events"]]

    [record] = wait_for(recorded, 90, "a tick at the function")[0]["Records"]
    assert (record["EventSource"], record["Sns"]["TopicArn"], record["Sns"]["Type"]) == ("aws:sns", topic, "Notification")
    assert json.loads(record["Sns"]["Message"])["detail-type"] == "Scheduled Event"


@pytest.mark.timeout(120)
def test_deliveries_the_policy_does_not_allow_are_dropped(world):
    server, events, sqs, sns, _ = world
    url = sqs.create_queue(QueueName="guarded")["QueueUrl"]
    arn = QUEUE + "guarded"
    topic = sns.create_topic(Name="guarded-topic")["TopicArn"]
    copies = sqs.create_queue(QueueName="guarded-copies")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=QUEUE + "guarded-copies")
    events.put_rule(Name="guarded", EventPattern=json.dumps({"source": ["guarded"]}))
    events.put_targets(Rule="guarded", Targets=[
        {"Id": "q", "Arn": arn}, {"Id": "t", "Arn": topic}, {"Id": "gone", "Arn": QUEUE + "no-such-queue"}])
    entry = {"Source": "guarded", "DetailType": "Try", "Detail": "{}"}

    def refused(n):
        before = destination_failures(server)
        events.put_events(Entries=[entry])
        wait_for(lambda: destination_failures(server) >= before + n, 60, f"{n} refused deliveries counted")

    # No queue policy, SNS's default topic policy, a queue that does not exist: three drops.
    refused(3)
    assert "its policy does not let EventBridge send the rule's events" in server.log()
    assert "it does not exist" in server.log()
    # A policy for another rule, or a Deny, still refuses.
    other = events_statement("sqs:SendMessage", arn, "another-rule")
    mine = events_statement("sqs:SendMessage", arn, "guarded")
    deny = {"Effect": "Deny", "Principal": "*", "Action": "sqs:SendMessage", "Resource": arn}
    for document in (policy(other), policy(mine, deny)):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document})
        refused(3)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []

    # Once both policies allow the rule, its events arrive (the missing queue is still dropped).
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy(mine)})
    document = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    document["Statement"].append(events_statement("SNS:Publish", topic, "guarded"))
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(document))
    refused(1)
    assert json.loads(take(sqs, url, 1)[0]["Body"])["source"] == "guarded"
    envelope = json.loads(take(sqs, copies, 1)[0]["Body"])
    assert (envelope["Type"], envelope["TopicArn"]) == ("Notification", topic)
    assert json.loads(envelope["Message"])["detail-type"] == "Try"
