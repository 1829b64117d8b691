"""SQS and SNS destinations and dead-letter queues, against moto's server (a compatible AWS)."""

import json
import time

import pytest

from conftest import ROLE, Server, aws_client, fixture_zip, make_client, start_moto, wait_for

ACCOUNT_QUEUE = "arn:aws:sqs:us-east-1:123456789012:"


@pytest.fixture(scope="module")
def aws_world():
    moto, url = start_moto()
    server = Server(extra=["--aws-endpoint-url", url, "--async-retry-delays", "1s"])
    server.start()
    try:
        yield server, make_client(server.endpoint), url
    finally:
        server.stop()
        server.tmp.cleanup()
        moto.terminate()
        moto.wait()


def receive(sqs, queue_url, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1, MessageAttributeNames=["All"])
        if out.get("Messages"):
            return out["Messages"][0]
    return None


def test_on_success_sqs_destination(aws_world):
    server, lam, url = aws_world
    sqs = aws_client("sqs", url)
    queue = sqs.create_queue(QueueName="successes")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_function(FunctionName="to-sqs", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")})
    lam.put_function_event_invoke_config(FunctionName="to-sqs", DestinationConfig={"OnSuccess": {"Destination": arn}})
    out = lam.invoke(FunctionName="to-sqs", InvocationType="Event", Payload=b'{"op":"echo","x":1}')
    msg = receive(sqs, queue)
    assert msg, server.log()[-2000:]
    rec = json.loads(msg["Body"])
    assert rec["requestContext"]["requestId"] == out["ResponseMetadata"]["RequestId"]
    assert rec["requestContext"]["condition"] == "Success"
    assert rec["responsePayload"] == {"op": "echo", "x": 1}


def test_on_failure_sns_destination_and_dead_letter_queue(aws_world):
    server, lam, url = aws_world
    sqs, sns = aws_client("sqs", url), aws_client("sns", url)
    failures = sqs.create_queue(QueueName="failures")["QueueUrl"]
    failures_arn = sqs.get_queue_attributes(QueueUrl=failures, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="failures")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=failures_arn, Attributes={"RawMessageDelivery": "true"})
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_function(FunctionName="to-sns", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")}, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName="to-sns", MaximumRetryAttempts=0,
                                         DestinationConfig={"OnFailure": {"Destination": topic}})
    out = lam.invoke(FunctionName="to-sns", InvocationType="Event", Payload=b'{"op":"error","message":"boom"}')
    rid = out["ResponseMetadata"]["RequestId"]
    msg = receive(sqs, failures)
    assert msg, server.log()[-2000:]
    rec = json.loads(msg["Body"])
    assert (rec["requestContext"]["requestId"], rec["requestContext"]["condition"]) == (rid, "RetriesExhausted")
    assert rec["responseContext"]["functionError"] == "Unhandled"
    dead = receive(sqs, dlq)
    assert dead, server.log()[-2000:]
    assert json.loads(dead["Body"]) == {"op": "error", "message": "boom"}
    attrs = {k: v.get("StringValue") for k, v in dead["MessageAttributes"].items()}
    assert attrs == {"RequestID": rid, "ErrorCode": "200", "ErrorMessage": "handled failure: boom"}


def test_eventbridge_destination(aws_world):
    server, lam, url = aws_world
    sqs, events = aws_client("sqs", url), aws_client("events", url)
    queue = sqs.create_queue(QueueName="bus-target")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = events.describe_event_bus(Name="default")["Arn"]
    events.put_rule(Name="lambda-results", EventPattern=json.dumps({"source": ["lambda"]}))
    events.put_targets(Rule="lambda-results", Targets=[{"Id": "q", "Arn": queue_arn}])
    lam.create_function(FunctionName="to-bus", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")})
    lam.put_function_event_invoke_config(FunctionName="to-bus", DestinationConfig={"OnSuccess": {"Destination": bus}})
    out = lam.invoke(FunctionName="to-bus", InvocationType="Event", Payload=b'{"op":"echo","bus":true}')
    msg = receive(sqs, queue)
    assert msg, server.log()[-2000:]
    event = json.loads(msg["Body"])
    assert (event["source"], event["detail-type"]) == ("lambda", "Lambda Function Invocation Result - Success")
    assert event["detail"]["requestContext"]["requestId"] == out["ResponseMetadata"]["RequestId"]
    assert event["detail"]["responsePayload"] == {"op": "echo", "bus": True}
    assert bus in event["resources"]


@pytest.mark.timeout(120)
def test_rule_target_on_an_external_queue(aws_world):
    """A lambdad rule whose target is a queue of another account (moto's): sent with the SDK at
    --aws-endpoint-url, with the FIFO group of SqsParameters."""
    server, _, url = aws_world
    sqs, events = aws_client("sqs", url), make_client(server.endpoint, "events")
    queue = sqs.create_queue(QueueName="rule-target.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert queue_arn.startswith(ACCOUNT_QUEUE)
    events.put_rule(Name="to-moto", EventPattern=json.dumps({"source": ["far"]}))
    events.put_targets(Rule="to-moto", Targets=[
        {"Id": "q", "Arn": queue_arn, "SqsParameters": {"MessageGroupId": "far-group"}}])
    sent = events.put_events(Entries=[{"Source": "far", "DetailType": "Far", "Detail": '{"k": 1}'}])
    msg = wait_for(lambda: sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1, AttributeNames=["All"]).get(
        "Messages"), 30, "the event on moto's queue")[0]
    assert json.loads(msg["Body"])["id"] == sent["Entries"][0]["EventId"]
    assert msg["Attributes"]["MessageGroupId"] == "far-group"
