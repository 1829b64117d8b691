"""Bucket notifications to the built-in SQS queues and SNS topics (validation, the s3:TestEvent,
the S3 records), S3 event records posted by external S3-compatible servers (MinIO's webhook
format) to a lambdad webhook, bucket tagging, and the S3 metrics in /metrics."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, make_client, wait_for, zip_bytes
from test_s3 import HANDLER, logged_events, s3_client

ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server)


@pytest.fixture(scope="module")
def sqs(server):
    return make_client(server.endpoint, "sqs")


@pytest.fixture(scope="module")
def sns(server):
    return make_client(server.endpoint, "sns")


def error(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def receive(sqs, url, what, timeout=60):
    """The body of the next message of the queue at `url` (deleted), polled with a deadline."""
    def one():
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
        if got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
            return got[0]["Body"]
        return None
    return wait_for(one, timeout, what)


def s3_may_send(arn, bucket, action):
    """A queue's or topic's policy letting S3 `action` (sqs:SendMessage, SNS:Publish) for `bucket`,
    as AWS's guide writes it."""
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": "s3-notifications", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": action, "Resource": arn,
        "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                      "StringEquals": {"aws:SourceAccount": ACCOUNT}}}]})


def allow_s3_queue(sqs, url, arn, bucket):
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": s3_may_send(arn, bucket, "sqs:SendMessage")})


def allow_s3_topic(sns, arn, bucket):
    sns.set_topic_attributes(TopicArn=arn, AttributeName="Policy", AttributeValue=s3_may_send(arn, bucket, "SNS:Publish"))


def test_queue_and_topic_destinations(s3, sqs, sns):
    s3.create_bucket(Bucket="inbox")
    q_url = sqs.create_queue(QueueName="s3-events")["QueueUrl"]
    q_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:s3-events"
    t_arn = sns.create_topic(Name="s3-topic")["TopicArn"]
    sub_url = sqs.create_queue(QueueName="topic-subscriber")["QueueUrl"]
    sns.subscribe(TopicArn=t_arn, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:topic-subscriber")
    # A destination that does not exist cannot be validated.
    missing = {"QueueConfigurations": [{"QueueArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:nope",
                                        "Events": ["s3:ObjectCreated:*"]}]}
    err, status = error(s3.put_bucket_notification_configuration, Bucket="inbox", NotificationConfiguration=missing)
    assert (err["Code"], err["Message"], status) == (
        "InvalidArgument", "Unable to validate the following destination configurations", 400)
    assert (err["ArgumentName"], err["ArgumentValue"]) == (
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:nope", "The destination queue does not exist")
    err, _ = error(s3.put_bucket_notification_configuration, Bucket="inbox", NotificationConfiguration={
        "TopicConfigurations": [{"TopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:nope", "Events": ["s3:ObjectCreated:*"]}]})
    assert err["Message"] == "Unable to validate the following destination configurations"
    assert err["ArgumentValue"] == "The destination topic does not exist"
    # As on AWS, each destination's policy must let S3 send for this bucket.
    allow_s3_queue(sqs, q_url, q_arn, "inbox")
    allow_s3_topic(sns, t_arn, "inbox")
    config = {
        "QueueConfigurations": [{"Id": "to-queue", "QueueArn": q_arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "in/"}]}}}],
        "TopicConfigurations": [{"Id": "to-topic", "TopicArn": t_arn, "Events": ["s3:ObjectRemoved:*"]}],
    }
    put = s3.put_bucket_notification_configuration(Bucket="inbox", NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket="inbox")
    assert [(c["Id"], c["QueueArn"], c["Events"]) for c in got["QueueConfigurations"]] == [
        ("to-queue", q_arn, ["s3:ObjectCreated:*"])]
    assert got["QueueConfigurations"][0]["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "in/"}]
    assert [(c["Id"], c["TopicArn"]) for c in got["TopicConfigurations"]] == [("to-topic", t_arn)]
    assert "LambdaFunctionConfigurations" not in got

    # S3 sends its test event to each destination on configuration.
    test = json.loads(receive(sqs, q_url, "the queue's s3:TestEvent"))
    assert (test["Service"], test["Event"], test["Bucket"]) == ("Amazon S3", "s3:TestEvent", "inbox")
    assert test["RequestId"] == put["ResponseMetadata"]["RequestId"] and test["Time"].endswith("Z")
    envelope = json.loads(receive(sqs, sub_url, "the topic's s3:TestEvent"))
    assert envelope["Subject"] == "Amazon S3 Notification" and envelope["TopicArn"] == t_arn
    assert json.loads(envelope["Message"])["Event"] == "s3:TestEvent"

    s3.put_object(Bucket="inbox", Key="other/skip.txt", Body=b"no")
    body = b"queued bytes"
    created = s3.put_object(Bucket="inbox", Key="in/a file.txt", Body=body)
    (record,) = json.loads(receive(sqs, q_url, "the upload's record"))["Records"]
    assert (record["eventSource"], record["eventName"], record["eventVersion"]) == ("aws:s3", "ObjectCreated:Put", "2.1")
    assert record["s3"]["configurationId"] == "to-queue"
    assert record["s3"]["bucket"]["name"] == "inbox" and record["s3"]["bucket"]["arn"] == "arn:aws:s3:::inbox"
    assert record["s3"]["object"]["key"] == "in/a+file.txt" and record["s3"]["object"]["size"] == len(body)
    assert record["s3"]["object"]["eTag"] == created["ETag"].strip('"')
    assert record["responseElements"]["x-amz-request-id"] == created["ResponseMetadata"]["RequestId"]

    s3.delete_object(Bucket="inbox", Key="in/a file.txt")
    envelope = json.loads(receive(sqs, sub_url, "the delete's record through the topic"))
    assert envelope["Type"] == "Notification" and envelope["Subject"] == "Amazon S3 Notification"
    (gone,) = json.loads(envelope["Message"])["Records"]
    assert gone["eventName"] == "ObjectRemoved:Delete" and gone["s3"]["configurationId"] == "to-topic"
    # The skipped upload sent nothing: the queue is empty.
    assert sqs.receive_message(QueueUrl=q_url, WaitTimeSeconds=1).get("Messages", []) == []


def test_topic_destination_reaches_a_subscribed_function(server, lam, s3, sns):
    lam.create_function(FunctionName="via-topic", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (HANDLER, 0o644)})})
    fn_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:via-topic"
    t_arn = sns.create_topic(Name="s3-to-function")["TopicArn"]
    lam.add_permission(FunctionName="via-topic", StatementId="sns", Action="lambda:InvokeFunction",
                       Principal="sns.amazonaws.com", SourceArn=t_arn)
    sns.subscribe(TopicArn=t_arn, Protocol="lambda", Endpoint=fn_arn)
    allow_s3_topic(sns, t_arn, "fanout")
    s3.create_bucket(Bucket="fanout")
    s3.put_bucket_notification_configuration(Bucket="fanout", NotificationConfiguration={
        "TopicConfigurations": [{"Id": "t", "TopicArn": t_arn, "Events": ["s3:ObjectCreated:Put"]}]})
    s3.put_object(Bucket="fanout", Key="x.bin", Body=b"123")

    def records():
        out = []
        for event in logged_events(server, "via-topic"):
            message = json.loads(event["Records"][0]["Sns"]["Message"])
            out.extend(message.get("Records", []))
        return out
    (record,) = wait_for(records, 90, "the S3 record through SNS in the function")
    assert record["eventName"] == "ObjectCreated:Put" and record["s3"]["object"]["key"] == "x.bin"


def test_bucket_tagging(s3):
    s3.create_bucket(Bucket="tagged")
    err, status = error(s3.get_bucket_tagging, Bucket="tagged")
    assert (err["Code"], err["Message"], status) == ("NoSuchTagSet", "The TagSet does not exist", 404)
    s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "team", "Value": "media"},
                                                               {"Key": "env", "Value": ""}]})
    assert sorted((t["Key"], t["Value"]) for t in s3.get_bucket_tagging(Bucket="tagged")["TagSet"]) == [
        ("env", ""), ("team", "media")]
    # A put replaces the whole set.
    s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "team", "Value": "web"}]})
    assert s3.get_bucket_tagging(Bucket="tagged")["TagSet"] == [{"Key": "team", "Value": "web"}]
    err, status = error(s3.put_bucket_tagging, Bucket="tagged", Tagging={"TagSet": [
        {"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]})
    assert (err["Code"], err["Message"], status) == ("InvalidTag", "Cannot provide multiple Tags with the same key", 400)
    err, _ = error(s3.put_bucket_tagging, Bucket="tagged", Tagging={"TagSet": [{"Key": "aws:x", "Value": "1"}]})
    assert (err["Code"], err["Message"]) == ("InvalidTag", "System tags cannot be added/updated by requester")
    err, status = error(s3.put_bucket_tagging, Bucket="no-such-bucket", Tagging={"TagSet": []})
    assert (err["Code"], status) == ("NoSuchBucket", 404)
    assert s3.delete_bucket_tagging(Bucket="tagged")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error(s3.get_bucket_tagging, Bucket="tagged")[0]["Code"] == "NoSuchTagSet"
    # A deleted bucket's tags do not come back with a new bucket of that name.
    s3.put_bucket_tagging(Bucket="tagged", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    s3.delete_bucket(Bucket="tagged")
    s3.create_bucket(Bucket="tagged")
    assert error(s3.get_bucket_tagging, Bucket="tagged")[0]["Code"] == "NoSuchTagSet"


def metrics_text(server):
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        return r.read().decode()


def sample(text, name, bucket, operation):
    prefix = f'{name}{{bucket="{bucket}",operation="{operation}"}} '
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return 0.0


def test_s3_metrics_by_bucket_and_operation(server, s3):
    s3.create_bucket(Bucket="counted")
    s3.put_object(Bucket="counted", Key="a", Body=b"x" * 1000)
    s3.put_object(Bucket="counted", Key="b", Body=b"y" * 500)
    assert s3.get_object(Bucket="counted", Key="a")["Body"].read() == b"x" * 1000
    assert error(s3.get_object, Bucket="counted", Key="missing")[1] == 404
    text = metrics_text(server)
    assert "# TYPE lambdad_s3_requests counter" in text
    assert sample(text, "lambdad_s3_requests_total", "counted", "PutObject") == 2
    assert sample(text, "lambdad_s3_received_bytes_total", "counted", "PutObject") == 1500
    assert sample(text, "lambdad_s3_requests_total", "counted", "GetObject") == 2
    assert sample(text, "lambdad_s3_sent_bytes_total", "counted", "GetObject") >= 1000
    assert sample(text, "lambdad_s3_errors_total", "counted", "GetObject") == 1
    assert sample(text, "lambdad_s3_errors_total", "counted", "PutObject") == 0
    assert sample(text, "lambdad_s3_requests_total", "counted", "CreateBucket") == 1


def http(server, method, path, body=None, headers=None):
    req = urllib.request.Request(server.endpoint + path, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def minio_event(bucket, key, event_name="s3:ObjectCreated:Put"):
    """A notification as MinIO's webhook target posts it (internal/event/target/webhook.go)."""
    encoded = urllib.parse.quote_plus(key, safe="/")
    record = {
        "eventVersion": "2.0", "eventSource": "minio:s3", "awsRegion": "", "eventTime": "2026-12-07T10:00:00.000Z",
        "eventName": event_name, "userIdentity": {"principalId": "minioadmin"},
        "requestParameters": {"principalId": "minioadmin", "region": "", "sourceIPAddress": "10.0.0.5"},
        "responseElements": {"x-amz-id-2": "dd9025bab4ad464b049177c95eb6ebf374d3b3fd1af9251148b658df7ac2e3e8",
                             "x-amz-request-id": "187F2E1A4B4E6B2C", "x-minio-deployment-id": "d7f2c1e0",
                             "x-minio-origin-endpoint": "http://10.0.0.5:9000"},
        "s3": {"s3SchemaVersion": "1.0", "configurationId": "Config",
               "bucket": {"name": bucket, "ownerIdentity": {"principalId": "minioadmin"}, "arn": f"arn:aws:s3:::{bucket}"},
               "object": {"key": encoded, "size": 5, "eTag": "5d41402abc4b2a76b9719d911017c592",
                          "contentType": "image/jpeg", "userMetadata": {"content-type": "image/jpeg"},
                          "sequencer": "187F2E1A4B8C8E1D"}},
        "source": {"host": "10.0.0.5", "port": "", "userAgent": "MinIO (linux; amd64) minio-go/v7.0.70"},
    }
    return {"EventName": event_name, "Key": f"{bucket}/{key}", "Records": [record]}


def test_external_store_webhook(server, lam):
    lam.create_function(FunctionName="from-minio", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (HANDLER, 0o644)})})
    fn_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:from-minio"
    token = "s3cret-webhook-token"
    config = {"AuthToken": token, "Buckets": ["photos"], "LambdaFunctionConfigurations": [
        {"Id": "jpgs", "LambdaFunctionArn": fn_arn, "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".jpg"}]}}}]}
    # The configuration is the API's: a missing function is refused.
    missing = dict(config, LambdaFunctionConfigurations=[dict(config["LambdaFunctionConfigurations"][0],
                                                               LambdaFunctionArn="nope")])
    status, body = http(server, "PUT", "/_lambdad/s3-webhooks/minio", json.dumps(missing).encode())
    assert status == 404 and json.loads(body)["Type"] == "User", body
    status, body = http(server, "PUT", "/_lambdad/s3-webhooks/minio", json.dumps(dict(config, AuthToken="short")).encode())
    assert status == 400 and b"AuthToken" in body
    status, body = http(server, "PUT", "/_lambdad/s3-webhooks/minio", json.dumps(config).encode())
    assert status == 200, body
    view = json.loads(body)
    assert view["EndpointPath"] == "/_lambdad/s3-webhooks/minio/events" and "AuthToken" not in view
    status, body = http(server, "GET", "/_lambdad/s3-webhooks/minio")
    assert status == 200 and json.loads(body)["LambdaFunctionConfigurations"][0]["Id"] == "jpgs"

    events = "/_lambdad/s3-webhooks/minio/events"
    payload = json.dumps(minio_event("photos", "cats/red cat.jpg")).encode()
    minio_headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    # MinIO probes the endpoint with HEAD (and the token) before sending.
    assert http(server, "HEAD", events, headers={"Authorization": f"Bearer {token}"})[0] == 200
    # A missing or wrong secret is refused and queues nothing.
    status, body = http(server, "POST", events, payload, {"Content-Type": "application/json"})
    assert status == 403 and json.loads(body)["Type"] == "User"
    status, _ = http(server, "POST", events, payload, dict(minio_headers, Authorization="Bearer wrong-token"))
    assert status == 403
    assert http(server, "HEAD", events, headers={"Authorization": "Bearer wrong-token"})[0] == 403
    # Other buckets and keys the filter skips queue nothing.
    for skipped in (minio_event("other", "a.jpg"), minio_event("photos", "a.png")):
        status, body = http(server, "POST", events, json.dumps(skipped).encode(), minio_headers)
        assert (status, json.loads(body)) == (200, {"Queued": 0})
    status, body = http(server, "POST", events, payload, minio_headers)
    assert (status, json.loads(body)) == (200, {"Queued": 1})
    got = wait_for(lambda: logged_events(server, "from-minio"), 60, "the MinIO event in the function")
    assert len(got) == 1
    (record,) = got[0]["Records"]
    assert record["eventSource"] == "minio:s3" and record["s3"]["object"]["key"] == "cats/red+cat.jpg"
    # Ceph's push endpoint is a URL: the secret may be its `token` query parameter.
    ceph = minio_event("photos", "b.jpg", "ObjectCreated:Put")
    status, body = http(server, "POST", f"{events}?token={token}", json.dumps({"Records": ceph["Records"]}).encode(),
                        {"Content-Type": "application/json"})
    assert (status, json.loads(body)) == (200, {"Queued": 1})
    wait_for(lambda: len(logged_events(server, "from-minio")) == 2, 60, "the Ceph-style event")
    status, body = http(server, "POST", events, b"not json", minio_headers)
    assert status == 400
    assert http(server, "DELETE", "/_lambdad/s3-webhooks/minio")[0] == 204
    assert http(server, "POST", events, payload, minio_headers)[0] == 404
