"""S3 server access logging (issue 20's "access in the Logs"): PutBucketLogging / GetBucketLogging
with boto3 and the aws CLI, S3's validation errors (as LocalStack's AWS-validated snapshots record
them), and the requests a logged bucket answers delivered as log objects in S3's server access log
format into the target bucket, and as the same lines in lambdad's Logs service."""

import re

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import Server, aws, make_client, wait_for

ACCOUNT = "000000000000"
GROUP = "/lambdad/s3-access"

# S3's fields, in order: owner, bucket, [time], ip, requester, request id, operation, key,
# "request-uri", status, error code, bytes sent, object size, total time, turn-around time,
# "referer", "user agent", version id, host id, signature version, cipher suite, auth type,
# host header, TLS version, access point ARN, acl required.
LINE = re.compile(
    r'(\S+) (\S+) \[([^\]]+)\] (\S+) (\S+) (\S+) (\S+) (\S+) "([^"]*)" (\d{3}) (\S+) (\S+) (\S+) (\d+) (\d+) '
    r'"([^"]*)" "([^"]*)" (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+) (\S+)$'
)
NAMES = ["owner", "bucket", "time", "ip", "requester", "request_id", "operation", "key", "request_uri",
         "status", "error", "bytes_sent", "object_size", "total_ms", "turnaround_ms", "referer", "user_agent",
         "version_id", "host_id", "signature", "cipher", "auth_type", "host", "tls", "access_point", "acl"]
KEY = re.compile(r"^access/\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{16}$")


def parse(line):
    m = LINE.match(line)
    assert m, f"not an S3 access log line: {line!r}"
    return dict(zip(NAMES, m.groups()))


@pytest.fixture(scope="module")
def server():
    s = Server(extra=["--s3-log-flush-interval", "1s", "--s3-access-log-group", GROUP], interpreters=False)
    s.start()
    yield s
    code = s.stop()
    assert code == 0, f"lambdad did not shut down cleanly (exit {code}): {s.log()[-2000:]}"
    s.tmp.cleanup()


@pytest.fixture(scope="module")
def s3(server):
    return boto3.client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}),
    )


def error(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def log_lines(s3, bucket, prefix):
    """Every line of every log object under `prefix` of `bucket`, parsed, with the objects' keys."""
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    lines = []
    for k in keys:
        body = s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode()
        lines += [parse(line) for line in body.splitlines()]
    return keys, lines


def rid(response):
    return response["ResponseMetadata"]["RequestId"]


def wait_for_ids(s3, bucket, prefix, ids):
    """The parsed lines once every request id in `ids` has its line."""
    def all_there():
        keys, lines = log_lines(s3, bucket, prefix)
        found = {line["request_id"] for line in lines}
        return set(ids) <= found and (keys, lines)

    return wait_for(all_there, 30, f"the access log lines of {ids}", interval=0.3)


@pytest.mark.timeout(60)
def test_get_and_put_bucket_logging_shapes(server, s3):
    s3.create_bucket(Bucket="shape-src")
    s3.create_bucket(Bucket="shape-logs")
    got = s3.get_bucket_logging(Bucket="shape-src")
    assert "LoggingEnabled" not in got and got["ResponseMetadata"]["HTTPStatusCode"] == 200
    r = s3.put_bucket_logging(Bucket="shape-src", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "shape-logs", "TargetPrefix": "log"}})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_logging(Bucket="shape-src")["LoggingEnabled"] == {
        "TargetBucket": "shape-logs", "TargetPrefix": "log"}
    # The aws CLI, with a partitioned key format.
    aws(server, "s3api", "put-bucket-logging", "--bucket", "shape-src", "--bucket-logging-status",
        '{"LoggingEnabled": {"TargetBucket": "shape-logs", "TargetPrefix": "p/",'
        ' "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}}}')
    _, out, _ = aws(server, "s3api", "get-bucket-logging", "--bucket", "shape-src")
    assert out == {"LoggingEnabled": {"TargetBucket": "shape-logs", "TargetPrefix": "p/",
                                      "TargetObjectKeyFormat": {"PartitionedPrefix": {"PartitionDateSource": "EventTime"}}}}
    # An empty status turns logging off.
    s3.put_bucket_logging(Bucket="shape-src", BucketLoggingStatus={})
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket="shape-src")


@pytest.mark.timeout(60)
def test_validation_errors_are_s3s(server, s3):
    s3.create_bucket(Bucket="val-src")
    s3.create_bucket(Bucket="val-west", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    status = {"LoggingEnabled": {"TargetBucket": "val-nowhere", "TargetPrefix": "log"}}
    assert error(s3.put_bucket_logging, Bucket="val-src", BucketLoggingStatus=status) == (
        "InvalidTargetBucketForLogging", "The target bucket for logging does not exist", 400)
    status["LoggingEnabled"]["TargetBucket"] = "val-west"
    assert error(s3.put_bucket_logging, Bucket="val-src", BucketLoggingStatus=status) == (
        "CrossLocationLoggingProhibitted", "Cross S3 location logging not allowed. ", 403)
    assert error(s3.put_bucket_logging, Bucket="val-missing", BucketLoggingStatus=status) == (
        "NoSuchBucket", "The specified bucket does not exist", 404)
    assert error(s3.get_bucket_logging, Bucket="val-missing")[0] == "NoSuchBucket"
    code, _, err = aws(server, "s3api", "put-bucket-logging", "--bucket", "val-src", "--bucket-logging-status",
                       '{"LoggingEnabled": {"TargetBucket": "val-nowhere", "TargetPrefix": "x"}}', check=False)
    assert code != 0 and "InvalidTargetBucketForLogging" in err


@pytest.mark.timeout(90)
def test_requests_become_log_objects_and_log_events(server, s3):
    s3.create_bucket(Bucket="acc-src")
    s3.create_bucket(Bucket="acc-logs")
    s3.put_bucket_logging(Bucket="acc-src", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "acc-logs", "TargetPrefix": "access/"}})
    body = b"hello world"
    put = rid(s3.put_object(Bucket="acc-src", Key="dir/a b.txt", Body=body))
    get = rid(s3.get_object(Bucket="acc-src", Key="dir/a b.txt"))
    rng = rid(s3.get_object(Bucket="acc-src", Key="dir/a b.txt", Range="bytes=0-4"))
    delete = rid(s3.delete_object(Bucket="acc-src", Key="dir/a b.txt"))
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="acc-src", Key="missing")
    missing = rid(e.value.response)
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket="acc-src", Key="missing")
    head = rid(e.value.response)
    ids = [put, get, rng, delete, missing, head]
    assert all(ids)
    keys, lines = wait_for_ids(s3, "acc-logs", "access/", ids)
    assert keys and all(KEY.match(k) for k in keys), keys
    by_id = {line["request_id"]: line for line in lines}
    for line in by_id.values():
        assert (line["owner"], line["bucket"], line["ip"]) == (ACCOUNT, "acc-src", "127.0.0.1")
        assert re.fullmatch(r"\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000", line["time"]), line
        assert "Boto3" in line["user_agent"] and line["signature"] == "SigV4" and line["auth_type"] == "AuthHeader"
        assert line["requester"] == "-"  # AKIDTEST is no key lambdad knows: unauthenticated
        assert line["host"].startswith("127.0.0.1:")
    expect = {
        put: ("REST.PUT.OBJECT", "dir/a%20b.txt", "PUT /acc-src/dir/a%20b.txt", "200", "-", "-", "11"),
        get: ("REST.GET.OBJECT", "dir/a%20b.txt", "GET /acc-src/dir/a%20b.txt", "200", "-", "11", "11"),
        rng: ("REST.GET.OBJECT", "dir/a%20b.txt", "GET /acc-src/dir/a%20b.txt", "206", "-", "5", "11"),
        delete: ("REST.DELETE.OBJECT", "dir/a%20b.txt", "DELETE /acc-src/dir/a%20b.txt", "204", "-", "-", "-"),
        missing: ("REST.GET.OBJECT", "missing", "GET /acc-src/missing", "404", "NoSuchKey", None, "-"),
        head: ("REST.HEAD.OBJECT", "missing", "HEAD /acc-src/missing", "404", "NoSuchKey", "-", "-"),
    }
    for request_id, (op, key, uri, status, code, sent, size) in expect.items():
        line = by_id[request_id]
        got = (line["operation"], line["key"], line["request_uri"].rsplit(" ", 1)[0], line["status"], line["error"],
               line["bytes_sent"], line["object_size"])
        if sent is None:  # the XML error's length
            assert int(line["bytes_sent"]) > 0
            sent = line["bytes_sent"]
        assert got == (op, key, uri, status, code, sent, size), line
        assert line["request_uri"].endswith(" HTTP/1.1")

    # The same lines in lambdad's Logs service, a stream per source bucket.
    logs = make_client(server.endpoint, "logs")
    events = wait_for(lambda: (e := logs.get_log_events(logGroupName=GROUP, logStreamName="acc-src")["events"])
                      and len(e) >= len(ids) and e, 30, "the log events")
    assert {parse(ev["message"])["request_id"] for ev in events} >= set(ids)

    # A bucket that logs into itself: the deliveries are not logged.
    s3.create_bucket(Bucket="acc-self")
    s3.put_bucket_logging(Bucket="acc-self", BucketLoggingStatus={
        "LoggingEnabled": {"TargetBucket": "acc-self", "TargetPrefix": "access/"}})
    first = rid(s3.put_object(Bucket="acc-self", Key="data", Body=b"x"))
    wait_for_ids(s3, "acc-self", "access/", [first])
    # The test's own listing and reads of the log objects are requests to log; one more request
    # whose line arrives means the deliveries since have been flushed too.
    last = rid(s3.head_bucket(Bucket="acc-self"))
    keys, lines = wait_for_ids(s3, "acc-self", "access/", [last])
    puts = [line["key"] for line in lines if line["operation"] == "REST.PUT.OBJECT"]
    assert puts == ["data"], puts
    assert any(line["operation"] == "REST.GET.BUCKET" for line in lines)
