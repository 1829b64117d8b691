"""Lambda's event classes (aws-lambda-java-events) in Java functions: an SQS mapping's batches, a
function URL's requests and answers and a bucket's notifications arrive as SQSEvent,
APIGatewayV2HTTPEvent/Response and S3Event, named and typed as AWS's Java runtime maps them. The
classes are tests/fixtures/java/events (Maven Central is not reachable here), bundled in the zip's
lib/ as the function's own jar."""

import hashlib
import json
from datetime import datetime

from conftest import ROLE, make_client, wait_for
from test_java import code as _code  # noqa: F401  (the module's Java functions)
from test_java import create, invoke
from test_s3 import s3_client
from test_urls import public_url, request

code = _code
ACCOUNT = "000000000000"


def logged(server, function, prefix):
    """The function's log lines starting with `prefix`, as `key=value` dicts."""
    root = server.data_dir / "logs" / "aws" / "lambda" / function
    out = []
    for p in sorted(root.rglob("*.log")) if root.exists() else []:
        for record in p.read_text().splitlines():
            line = record.split("\t", 1)[-1]  # "<epoch ms>\t<line>"
            if line.startswith(prefix + " "):
                out.append(dict(f.split("=", 1) for f in line[len(prefix) + 1:].split(" ")))
    return out


def test_sqs_mapping_delivers_an_sqs_event(server, lam, code):
    sqs = make_client(server.endpoint, "sqs")
    create(lam, "jv-queue", "example.Queue", code)
    url = sqs.create_queue(QueueName="java-orders")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="one-tea", MessageAttributes={
        "color": {"DataType": "String", "StringValue": "red"},
        "blob": {"DataType": "Binary", "BinaryValue": b"raw-bytes"}})
    lam.create_event_source_mapping(EventSourceArn=arn, FunctionName="jv-queue", BatchSize=1)
    (seen,) = wait_for(lambda: logged(server, "jv-queue", "SQSMESSAGE"), 90, "the SQS message in the Java function")
    assert seen == {"id": sent["MessageId"], "arn": arn, "source": "aws:sqs", "region": "us-east-1",
                    "md5": hashlib.md5(b"one-tea").hexdigest(), "body": "one-tea", "color": "red/String",
                    "blob": "raw-bytes/Binary", "receives": "1"}, "eventSourceARN and Records reach the getters"


def test_sqs_event_written_back_with_aws_names(lam, code):
    create(lam, "jv-queue-echo", "example.Queue::echo", code)
    message = {"messageId": "m-1", "receiptHandle": "rh", "body": "b", "md5OfBody": "92eb5ffee6ae2fec3ad71c777531578f",
               "eventSourceARN": f"arn:aws:sqs:us-east-1:{ACCOUNT}:q", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
               "attributes": {"SentTimestamp": "1700000000000"},
               "messageAttributes": {"k": {"stringValue": "v", "stringListValues": [], "binaryListValues": [],
                                           "dataType": "String"},
                                     "bin": {"binaryValue": "AAEC", "stringListValues": [], "binaryListValues": ["Aw=="],
                                             "dataType": "Binary"}}}
    out, body, _ = invoke(lam, "jv-queue-echo", {"Records": [message]})
    assert "FunctionError" not in out, body
    assert body == {"Records": [message]}, "Records, eventSourceARN and ByteBuffers (base64) as AWS writes them"


def test_function_url_with_api_gateway_v2_classes(lam, code):
    create(lam, "jv-web", "example.Web", code)
    url = public_url(lam, "jv-web")
    status, headers, data = request(url, "POST", "/orders/7?name=ann", body=b"payload",
                                    headers={"x-test": "yes", "Cookie": "a=1; b=2", "Content-Type": "text/plain"})
    assert status == 201, data
    assert (headers["x-route"], headers["x-method"], headers["x-path"]) == ("$default", "POST", "/orders/7")
    assert headers["content-type"] == "text/plain" and headers.get_all("set-cookie") == ["seen=2"]
    assert data.decode() == "hello ann (2.0, yes, payload, base64 false, epoch true)"


def test_s3_notification_arrives_as_an_s3_event(server, lam, code):
    s3 = s3_client(server)
    create(lam, "jv-uploads", "example.Uploads", code)
    lam.add_permission(FunctionName="jv-uploads", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::java-inbox")
    s3.create_bucket(Bucket="java-inbox")
    s3.put_bucket_notification_configuration(Bucket="java-inbox", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"Id": "java", "Events": ["s3:ObjectCreated:*"],
                                          "LambdaFunctionArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:jv-uploads"}]})
    put = s3.put_object(Bucket="java-inbox", Key="in/my file.txt", Body=b"12345")
    (seen,) = wait_for(lambda: logged(server, "jv-uploads", "S3RECORD"), 90, "the S3 record in the Java function")
    assert seen == {"event": "ObjectCreated:Put", "source": "aws:s3", "region": "us-east-1", "bucket": "java-inbox",
                    "arn": "arn:aws:s3:::java-inbox", "key": "in/my_file.txt", "size": "5",
                    "etag": put["ETag"].strip('"'), "year": str(datetime.now().year), "config": "java"}, \
        "the key arrives URL-encoded and getUrlDecodedKey decodes it (the function logs spaces as _)"


def test_s3_event_written_back_with_aws_names(lam, code):
    create(lam, "jv-uploads-echo", "example.Uploads::echo", code)
    record = {"awsRegion": "us-east-1", "eventName": "ObjectCreated:Put", "eventSource": "aws:s3",
              "eventTime": "2024-05-01T12:30:45.123Z", "eventVersion": "2.1",
              "requestParameters": {"sourceIPAddress": "127.0.0.1"},
              "responseElements": {"x-amz-id-2": "id2", "x-amz-request-id": "rid"},
              "s3": {"configurationId": "c", "bucket": {"name": "b", "ownerIdentity": {"principalId": "o"},
                                                        "arn": "arn:aws:s3:::b"},
                     "object": {"key": "a%20b", "size": 3, "eTag": "e", "sequencer": "0A"}, "s3SchemaVersion": "1.0"},
              "userIdentity": {"principalId": "p"}}
    out, body, _ = invoke(lam, "jv-uploads-echo", {"Records": [record]})
    assert "FunctionError" not in out, body
    (got,) = body["Records"]
    when = got.pop("eventTime")
    assert datetime.fromisoformat(when.replace("Z", "+00:00")) == datetime.fromisoformat("2024-05-01T12:30:45.123+00:00")
    record.pop("eventTime")
    assert got == record, "made through the constructors, written from the getters under the JSON's keys"


def test_a_malformed_event_is_a_json_parsing_error(lam, code):
    create(lam, "jv-uploads-bad", "example.Uploads", code)
    out, body, _ = invoke(lam, "jv-uploads-bad", {"Records": [{"s3": {"object": {"size": "big"}}}]})
    assert out["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("java.lang.RuntimeException", "An error occurred during JSON parsing")
    assert body["cause"]["errorMessage"] == '"big" is not a number (java.lang.Long)', body
