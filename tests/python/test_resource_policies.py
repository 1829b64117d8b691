"""Queue and topic resource policies for cross-service delivery, as AWS enforces them, with boto3,
the aws CLI and raw HTTP against a running lambdad:

- S3 notifications: PutBucketNotificationConfiguration refuses a queue or topic whose policy does
  not let s3.amazonaws.com send for the bucket (a topic's default policy does not), with S3's
  InvalidArgument and its ArgumentName/ArgumentValue, whatever the --auth mode (AWS always checks);
  a policy removed later stops deliveries (dropped, counted, logged).
- SNS topic policies under --auth sigv4: the default policy admits the owner's account only, so a
  key of another account (`account =` in the credentials file) is refused Publish and Subscribe
  with SNS's AuthorizationError until the policy allows it; a Deny refuses a same-account user."""

import json
import os
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROLE, VENV_BIN, Server, aws, make_client, wait_for, zip_bytes
from test_s3 import s3_client

ACCOUNT = "000000000000"
OTHER = "111122223333"
INVALID = "Unable to validate the following destination configurations"
QUEUE_REFUSED = "Permissions on the destination queue do not allow S3 to publish notifications from this bucket"
TOPIC_REFUSED = "Permissions on the destination topic do not allow S3 to publish notifications from this bucket"


def error(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def s3_statement(action, resource, bucket, **extra):
    return {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": action,
            "Resource": resource, "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}}, **extra}


def queue_config(arn):
    return {"QueueConfigurations": [{"Id": "q", "QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]}


def topic_config(arn):
    return {"TopicConfigurations": [{"Id": "t", "TopicArn": arn, "Events": ["s3:ObjectCreated:*"]}]}


def async_stats(server):
    with urllib.request.urlopen(server.endpoint + "/_lambdad/async-stats", timeout=10) as r:
        return json.loads(r.read())


def receive(sqs, url, timeout=60):
    def one():
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        if got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
            return json.loads(got[0]["Body"])
        return None
    return wait_for(one, timeout, f"a message on {url}")


def bucket_and_queue(s3, sqs, name):
    """Bucket `name` and queue `name-events`: the queue's URL and ARN."""
    s3.create_bucket(Bucket=name)
    url = sqs.create_queue(QueueName=f"{name}-events")["QueueUrl"]
    return url, f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}-events"


@pytest.fixture(scope="module")
def clients(server):
    return (s3_client(server), make_client(server.endpoint, "sqs"), make_client(server.endpoint, "sns"),
            make_client(server.endpoint))


@pytest.mark.timeout(120)
def test_queue_destinations_need_a_policy_admitting_s3(server, clients):
    s3, sqs, _, _ = clients
    url, arn = bucket_and_queue(s3, sqs, "qpol")
    put = s3.put_bucket_notification_configuration
    refused = [
        None,  # no policy at all
        policy(s3_statement("sqs:SendMessage", arn, "other-bucket")),  # another bucket's
        policy(s3_statement("sqs:ReceiveMessage", arn, "qpol")),  # another action
        policy(s3_statement("sqs:SendMessage", arn, "qpol"),  # a Deny wins
               {"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": arn}),
        policy(s3_statement("sqs:SendMessage", arn, "qpol",  # another account's buckets
                            Condition={"StringEquals": {"aws:SourceAccount": OTHER}})),
        policy({**s3_statement("sqs:SendMessage", arn, "qpol"),  # a key S3's request lacks
                "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-123"}}}),
    ]
    for document in refused:
        if document is not None:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document})
        err, status = error(put, Bucket="qpol", NotificationConfiguration=queue_config(arn))
        assert (err["Code"], err["Message"], status) == ("InvalidArgument", INVALID, 400), document
        assert (err["ArgumentName"], err["ArgumentValue"]) == (arn, QUEUE_REFUSED), document
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(Bucket="qpol")
    # S3 cannot send to FIFO queues.
    sqs.create_queue(QueueName="qpol.fifo", Attributes={"FifoQueue": "true"})
    fifo = f"arn:aws:sqs:us-east-1:{ACCOUNT}:qpol.fifo"
    err, _ = error(put, Bucket="qpol", NotificationConfiguration=queue_config(fifo))
    assert (err["Code"], err["ArgumentName"]) == ("InvalidArgument", fifo)

    # The ways AWS's guides write it: the bucket's ARN (or a wildcard), "*" principals, sqs:*.
    for document in (
        policy(s3_statement("sqs:SendMessage", arn, "qpol",
                            Condition={"ArnLike": {"aws:SourceArn": "arn:aws:s3:*:*:qpol"},
                                       "StringEquals": {"aws:SourceAccount": ACCOUNT}})),
        policy({"Effect": "Allow", "Principal": "*", "Action": "SQS:*", "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": "arn:aws:s3:::qpol"}}}),
    ):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": document})
        put(Bucket="qpol", NotificationConfiguration=queue_config(arn))
        assert receive(sqs, url)["Event"] == "s3:TestEvent"


@pytest.mark.timeout(120)
def test_topic_destinations_need_more_than_the_default_policy(server, clients):
    s3, sqs, sns, _ = clients
    s3.create_bucket(Bucket="tpol")
    topic = sns.create_topic(Name="tpol-events")["TopicArn"]
    # The default policy SNS gives a topic admits the owner's account, not S3.
    default = json.loads(sns.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    assert default == {
        "Version": "2008-10-17", "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID", "Effect": "Allow", "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                       "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                       "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
            "Resource": topic, "Condition": {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}}]}
    err, status = error(s3.put_bucket_notification_configuration, Bucket="tpol",
                        NotificationConfiguration=topic_config(topic))
    assert (err["Code"], err["Message"], err["ArgumentName"], err["ArgumentValue"], status) == (
        "InvalidArgument", INVALID, topic, TOPIC_REFUSED, 400)
    # The aws CLI shows S3's error as it does against AWS.
    code, _, stderr = aws(server, "s3api", "put-bucket-notification-configuration", "--bucket", "tpol",
                          "--notification-configuration", json.dumps(topic_config(topic)), check=False)
    assert code != 0
    assert ("An error occurred (InvalidArgument) when calling the PutBucketNotificationConfiguration "
            f"operation: {INVALID}") in stderr

    # The default statement and one for S3, as the console writes it.
    document = {**default, "Statement": default["Statement"] + [
        s3_statement("SNS:Publish", topic, "tpol")]}
    sns.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(document))
    sub_url = sqs.create_queue(QueueName="tpol-subscriber")["QueueUrl"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:tpol-subscriber")
    s3.put_bucket_notification_configuration(Bucket="tpol", NotificationConfiguration=topic_config(topic))
    assert json.loads(receive(sqs, sub_url)["Message"])["Event"] == "s3:TestEvent"


@pytest.mark.timeout(120)
def test_the_error_document_is_s3s(server, clients):
    """The raw XML of the refusal (unsigned, as --auth none allows): ArgumentName and ArgumentValue
    after Message, as S3 writes them."""
    s3, _, _, lam = clients
    s3.create_bucket(Bucket="rawxml")
    lam.create_function(FunctionName="no-s3-permission", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (b"def handler(e, c): return e", 0o644)})})
    fn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:no-s3-permission"
    body = ("<NotificationConfiguration><CloudFunctionConfiguration><Id>f</Id>"
            f"<CloudFunction>{fn}</CloudFunction><Event>s3:ObjectCreated:*</Event>"
            "</CloudFunctionConfiguration></NotificationConfiguration>").encode()
    req = urllib.request.Request(server.endpoint + "/rawxml?notification", data=body, method="PUT")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 400
    text = e.value.read().decode()
    assert e.value.headers["Content-Type"] == "application/xml"
    assert "x-lambdad-argument-name" not in {k.lower() for k in e.value.headers.keys()}
    start = text.index("<Error>")
    assert text[start:].startswith(
        f"<Error><Code>InvalidArgument</Code><Message>{INVALID}</Message>"
        f"<ArgumentName>{fn}, null</ArgumentName>"
        f"<ArgumentValue>Not authorized to invoke function [{fn}]</ArgumentValue>"), text
    # A destination that does not exist.
    missing = fn.replace("no-s3-permission", "absent")
    err, _ = error(s3.put_bucket_notification_configuration, Bucket="rawxml", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": missing, "Events": ["s3:ObjectCreated:*"]}]})
    assert (err["ArgumentName"], err["ArgumentValue"]) == (missing, "The destination Lambda does not exist")


@pytest.mark.timeout(120)
def test_skip_destination_validation_and_a_policy_removed_later(server, clients):
    s3, sqs, _, _ = clients
    url, arn = bucket_and_queue(s3, sqs, "later")
    before = async_stats(server)["destinationFailures"]
    # SkipDestinationValidation writes the configuration unchecked ...
    s3.put_bucket_notification_configuration(Bucket="later", NotificationConfiguration=queue_config(arn),
                                             SkipDestinationValidation=True)
    assert s3.get_bucket_notification_configuration(Bucket="later")["QueueConfigurations"][0]["QueueArn"] == arn
    # ... but deliveries are still checked: the test event and this upload are dropped and counted.
    s3.put_object(Bucket="later", Key="refused.txt", Body=b"x")
    wait_for(lambda: async_stats(server)["destinationFailures"] >= before + 2, 60, "both refused records counted")
    wait_for(lambda: "the destination's policy does not let S3 send it" in server.log(), 30, "the warning")

    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy(s3_statement("sqs:SendMessage", arn, "later"))})
    s3.put_object(Bucket="later", Key="allowed.txt", Body=b"y")
    (record,) = receive(sqs, url)["Records"]
    assert record["s3"]["object"]["key"] == "allowed.txt"

    # The policy is taken away: the next upload's record is not delivered.
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": ""})
    before = async_stats(server)["destinationFailures"]
    s3.put_object(Bucket="later", Key="after-removal.txt", Body=b"z")
    wait_for(lambda: async_stats(server)["destinationFailures"] >= before + 1, 60, "the dropped record counted")
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []


def keyed_client(server, service, key, secret):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def guarded():
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-tpol-"))
    creds = tmp / "credentials"
    creds.write_text(
        "[default]\naws_access_key_id = AKIDTEST\naws_secret_access_key = secret\n"
        "[carol]\naws_access_key_id = AKIDCAROL\naws_secret_access_key = carol-secret\n"
        f"[bob]\naws_access_key_id = AKIDBOB\naws_secret_access_key = bob-secret\naccount = {OTHER}\n")
    server = Server(extra=["--auth", "sigv4", "--credentials-file", str(creds)], interpreters=False)
    server.start()
    try:
        yield server, creds
    finally:
        code = server.stop()
        assert code == 0, server.log()[-2000:]
        server.tmp.cleanup()


@pytest.mark.timeout(120)
def test_topic_policies_govern_callers_under_auth(guarded):
    server, creds = guarded
    owner = make_client(server.endpoint, "sns")
    bob = keyed_client(server, "sns", "AKIDBOB", "bob-secret")
    carol = keyed_client(server, "sns", "AKIDCAROL", "carol-secret")
    topic = owner.create_topic(Name="guarded-topic")["TopicArn"]
    bob_arn = f"arn:aws:iam::{OTHER}:user/bob"

    def refused(client, action, **kwargs):
        err, status = error(getattr(client, action), **kwargs)
        assert (err["Code"], err["Type"], status) == ("AuthorizationError", "Sender", 403)
        return err["Message"]

    # The default policy: the owner's account only.
    assert owner.publish(TopicArn=topic, Message="from the owner")["MessageId"]
    assert carol.publish(TopicArn=topic, Message="from a user of the account")["MessageId"]
    assert refused(bob, "publish", TopicArn=topic, Message="from elsewhere") == (
        f"User: {bob_arn} is not authorized to perform: SNS:Publish on resource: {topic} "
        "because no resource-based policy allows the SNS:Publish action")
    assert refused(bob, "subscribe", TopicArn=topic, Protocol="sqs",
                   Endpoint=f"arn:aws:sqs:us-east-1:{OTHER}:q") == (
        f"User: {bob_arn} is not authorized to perform: SNS:Subscribe on resource: {topic} "
        "because no resource-based policy allows the SNS:Subscribe action")
    assert "SNS:GetTopicAttributes" in refused(bob, "get_topic_attributes", TopicArn=topic)
    assert "SNS:Publish" in refused(bob, "publish_batch", TopicArn=topic,
                                    PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}])
    # The aws CLI with bob's key sees the same error.
    code, _, stderr = aws_as(server, creds, "bob", "sns", "publish", "--topic-arn", topic, "--message", "cli")
    assert code != 0 and "An error occurred (AuthorizationError) when calling the Publish operation" in stderr

    # Bob's account may publish once the policy says so; Subscribe stays refused; a Deny stops carol.
    document = json.loads(owner.get_topic_attributes(TopicArn=topic)["Attributes"]["Policy"])
    document["Statement"] += [
        {"Sid": "bob-publishes", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
         "Action": "sns:Publish", "Resource": topic},
        {"Sid": "not-carol", "Effect": "Deny", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/carol"},
         "Action": "SNS:*", "Resource": topic},
    ]
    owner.set_topic_attributes(TopicArn=topic, AttributeName="Policy", AttributeValue=json.dumps(document))
    assert bob.publish(TopicArn=topic, Message="now allowed")["MessageId"]
    code, out, stderr = aws_as(server, creds, "bob", "sns", "publish", "--topic-arn", topic, "--message", "cli")
    assert code == 0 and out["MessageId"], stderr
    assert "SNS:Subscribe" in refused(bob, "subscribe", TopicArn=topic, Protocol="sqs",
                                      Endpoint=f"arn:aws:sqs:us-east-1:{OTHER}:q")
    assert refused(carol, "publish", TopicArn=topic, Message="denied") == (
        f"User: arn:aws:iam::{ACCOUNT}:user/carol is not authorized to perform: SNS:Publish on resource: "
        f"{topic} with an explicit deny in a resource-based policy")
    assert owner.publish(TopicArn=topic, Message="still fine")["MessageId"]
    # A topic that does not exist is SNS's NotFound, not an authorization error.
    err, status = error(bob.publish, TopicArn=topic + "-absent", Message="m")
    assert (err["Code"], status) == ("NotFound", 404)


def aws_as(server, creds, profile, *args):
    """The aws CLI with the key of `profile` in the credentials file."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_SHARED_CREDENTIALS_FILE=str(creds), AWS_PROFILE=profile, AWS_DEFAULT_REGION="us-east-1",
               AWS_PAGER="", AWS_CONFIG_FILE=os.devnull)
    proc = subprocess.run([str(VENV_BIN / "aws"), "--endpoint-url", server.endpoint, "--output", "json", *args],
                          capture_output=True, text=True, env=env, timeout=120)
    out = json.loads(proc.stdout) if proc.returncode == 0 and proc.stdout.strip() else None
    return proc.returncode, out, proc.stderr
