"""The built-in S3-compatible object store: boto3, the aws CLI (v1 and v2), curl on a presigned
URL, S3's errors, and bucket notifications to functions."""

import hashlib
import json
import os
import subprocess
import urllib.parse

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROLE, VENV_BIN, require_tool, wait_for, zip_bytes


def s3_client(server, **config):
    return boto3.client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, s3={"addressing_style": "path"}, **config),
    )


@pytest.fixture(scope="module")
def s3(server):
    return s3_client(server)


def error(call, *args, **kwargs):
    with pytest.raises(ClientError) as e:
        call(*args, **kwargs)
    return e.value.response["Error"], e.value.response["ResponseMetadata"]["HTTPStatusCode"]


def cli(server, aws_bin, *args, check=True):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    proc = subprocess.run([aws_bin, "--endpoint-url", server.endpoint, *args],
                          capture_output=True, text=True, env=env, timeout=110)
    if check:
        assert proc.returncode == 0, f"aws {' '.join(args)}: {proc.stderr}"
    return proc


def test_buckets_and_their_errors(s3):
    s3.create_bucket(Bucket="alpha")
    s3.create_bucket(Bucket="beta", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert {"alpha", "beta"} <= set(names)
    s3.head_bucket(Bucket="alpha")
    assert s3.get_bucket_location(Bucket="beta")["LocationConstraint"] == "eu-west-1"
    assert s3.get_bucket_location(Bucket="alpha")["LocationConstraint"] is None
    err, status = error(s3.create_bucket, Bucket="alpha")
    assert (err["Code"], status) == ("BucketAlreadyOwnedByYou", 409)
    assert err["Message"] == "Your previous request to create the named bucket succeeded and you already own it."
    err, status = error(s3.get_object, Bucket="nope", Key="k")
    assert (err["Code"], err["Message"], status) == ("NoSuchBucket", "The specified bucket does not exist", 404)
    err, status = error(s3.create_bucket, Bucket="Bad_Name")
    assert err["Code"] == "InvalidBucketName"
    s3.put_object(Bucket="beta", Key="x", Body=b"1")
    err, status = error(s3.delete_bucket, Bucket="beta")
    assert (err["Code"], err["Message"], status) == ("BucketNotEmpty", "The bucket you tried to delete is not empty", 409)
    s3.delete_object(Bucket="beta", Key="x")
    s3.delete_bucket(Bucket="beta")
    err, status = error(s3.head_bucket, Bucket="beta")
    assert status == 404


def test_objects_metadata_ranges_conditions_copy(s3):
    s3.create_bucket(Bucket="objs")
    body = b"hello, object store"
    put = s3.put_object(Bucket="objs", Key="dir/a b.txt", Body=body, ContentType="text/plain",
                        ContentEncoding="identity", Metadata={"Owner": "me"})
    md5 = hashlib.md5(body).hexdigest()
    assert put["ETag"] == f'"{md5}"'
    got = s3.get_object(Bucket="objs", Key="dir/a b.txt")
    assert got["Body"].read() == body
    assert got["ContentType"] == "text/plain" and got["ContentEncoding"] == "identity"
    assert got["Metadata"] == {"owner": "me"} and got["ContentLength"] == len(body)
    head = s3.head_object(Bucket="objs", Key="dir/a b.txt")
    assert head["ETag"] == put["ETag"] and head["ContentLength"] == len(body)
    part = s3.get_object(Bucket="objs", Key="dir/a b.txt", Range="bytes=7-12")
    assert part["Body"].read() == body[7:13]
    assert part["ContentRange"] == f"bytes 7-12/{len(body)}"
    assert part["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert s3.get_object(Bucket="objs", Key="dir/a b.txt", Range="bytes=-5")["Body"].read() == body[-5:]
    err, status = error(s3.get_object, Bucket="objs", Key="dir/a b.txt", Range="bytes=100-200")
    assert (err["Code"], status) == ("InvalidRange", 416)
    err, status = error(s3.get_object, Bucket="objs", Key="dir/a b.txt", IfNoneMatch=put["ETag"])
    assert status == 304
    err, status = error(s3.get_object, Bucket="objs", Key="dir/a b.txt", IfMatch='"0000"')
    assert (err["Code"], status) == ("PreconditionFailed", 412)
    assert s3.get_object(Bucket="objs", Key="dir/a b.txt", IfMatch=put["ETag"])["Body"].read() == body
    err, status = error(s3.get_object, Bucket="objs", Key="missing")
    assert (err["Code"], err["Message"], status) == ("NoSuchKey", "The specified key does not exist.", 404)
    s3.copy_object(Bucket="objs", Key="copy.txt", CopySource={"Bucket": "objs", "Key": "dir/a b.txt"})
    copy = s3.get_object(Bucket="objs", Key="copy.txt")
    assert copy["Body"].read() == body and copy["Metadata"] == {"owner": "me"}
    # Content-MD5 that does not match what was sent.
    err, status = error(s3.put_object, Bucket="objs", Key="bad", Body=b"abc",
                        ContentMD5="1B2M2Y8AsgTpgAmY7PhCfg==")
    assert (err["Code"], status) == ("BadDigest", 400)
    err, _ = error(s3.head_object, Bucket="objs", Key="bad")
    # Checksums the SDK computes are verified and kept.
    for alg in ("CRC32", "SHA1", "SHA256"):
        out = s3.put_object(Bucket="objs", Key=f"sum-{alg}", Body=b"checked", ChecksumAlgorithm=alg)
        assert out[f"Checksum{alg}"]
        got = s3.get_object(Bucket="objs", Key=f"sum-{alg}", ChecksumMode="ENABLED")
        assert got["Body"].read() == b"checked" and got[f"Checksum{alg}"] == out[f"Checksum{alg}"]
    err, _ = error(s3.put_object, Bucket="objs", Key="sum-bad", Body=b"checked", ChecksumCRC32="AAAAAA==")
    assert err["Code"] == "BadDigest"
    out = s3.delete_objects(Bucket="objs", Delete={"Objects": [{"Key": "copy.txt"}, {"Key": "never"}]})
    assert sorted(d["Key"] for d in out["Deleted"]) == ["copy.txt", "never"]
    err, _ = error(s3.head_object, Bucket="objs", Key="copy.txt")


def test_listing_v2_and_v1(s3):
    s3.create_bucket(Bucket="lists")
    keys = [f"a/{i:03}" for i in range(25)] + ["b/1", "b/2", "c", "a+b c"]
    for k in keys:
        s3.put_object(Bucket="lists", Key=k, Body=k.encode())
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket="lists", MaxKeys=7, **kw)
        seen += [o["Key"] for o in page.get("Contents", [])]
        assert page["KeyCount"] == len(page.get("Contents", []))
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert seen == sorted(keys, key=lambda k: k.encode())
    top = s3.list_objects_v2(Bucket="lists", Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["a/", "b/"]
    assert [o["Key"] for o in top["Contents"]] == ["a+b c", "c"]
    # Bytewise order: "a+b c" < "a/" < "b/" < "c"; a page ends on a common prefix.
    page = s3.list_objects_v2(Bucket="lists", Delimiter="/", MaxKeys=2)
    assert page["IsTruncated"] and page["KeyCount"] == 2
    assert [o["Key"] for o in page["Contents"]] == ["a+b c"] and page["CommonPrefixes"] == [{"Prefix": "a/"}]
    rest = s3.list_objects_v2(Bucket="lists", Delimiter="/", ContinuationToken=page["NextContinuationToken"])
    assert [p["Prefix"] for p in rest["CommonPrefixes"]] == ["b/"] and [o["Key"] for o in rest["Contents"]] == ["c"]
    assert not rest["IsTruncated"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="lists", Prefix="b/")["Contents"]] == ["b/1", "b/2"]
    after = s3.list_objects_v2(Bucket="lists", Prefix="a/", StartAfter="a/020")
    assert [o["Key"] for o in after["Contents"]] == [f"a/{i:03}" for i in range(21, 25)]
    paginator = s3.get_paginator("list_objects")
    v1 = [o["Key"] for p in paginator.paginate(Bucket="lists", PaginationConfig={"PageSize": 4}) for o in p["Contents"]]
    assert v1 == sorted(keys, key=lambda k: k.encode())


def test_multipart_through_the_transfer_manager(s3, tmp_path):
    from boto3.s3.transfer import TransferConfig
    s3.create_bucket(Bucket="big")
    data = os.urandom(17 * 1024 * 1024 + 123)
    src = tmp_path / "src.bin"
    src.write_bytes(data)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    s3.upload_file(str(src), "big", "blob.bin", Config=config)
    head = s3.head_object(Bucket="big", Key="blob.bin")
    assert head["ContentLength"] == len(data) and head["ETag"].endswith('-4"')
    dst = tmp_path / "dst.bin"
    s3.download_file("big", "blob.bin", str(dst), Config=config)
    assert hashlib.md5(dst.read_bytes()).hexdigest() == hashlib.md5(data).hexdigest()
    # The low-level calls, and their errors.
    up = s3.create_multipart_upload(Bucket="big", Key="parts")
    p1 = s3.upload_part(Bucket="big", Key="parts", UploadId=up["UploadId"], PartNumber=1, Body=b"x" * (5 * 1024 * 1024))
    p2 = s3.upload_part(Bucket="big", Key="parts", UploadId=up["UploadId"], PartNumber=2, Body=b"tail")
    listed = s3.list_parts(Bucket="big", Key="parts", UploadId=up["UploadId"])
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * 1024 * 1024), (2, 4)]
    err, _ = error(s3.complete_multipart_upload, Bucket="big", Key="parts", UploadId=up["UploadId"],
                   MultipartUpload={"Parts": [{"PartNumber": 2, "ETag": p2["ETag"]}, {"PartNumber": 1, "ETag": p1["ETag"]}]})
    assert err["Code"] == "InvalidPartOrder"
    done = s3.complete_multipart_upload(Bucket="big", Key="parts", UploadId=up["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": p1["ETag"]}, {"PartNumber": 2, "ETag": p2["ETag"]}]})
    md5s = bytes.fromhex(p1["ETag"].strip('"')) + bytes.fromhex(p2["ETag"].strip('"'))
    assert done["ETag"] == f'"{hashlib.md5(md5s).hexdigest()}-2"'
    err, status = error(s3.upload_part, Bucket="big", Key="parts", UploadId=up["UploadId"], PartNumber=3, Body=b"z")
    assert (err["Code"], status) == ("NoSuchUpload", 404)
    aborted = s3.create_multipart_upload(Bucket="big", Key="gone")
    s3.abort_multipart_upload(Bucket="big", Key="gone", UploadId=aborted["UploadId"])
    err, _ = error(s3.list_parts, Bucket="big", Key="gone", UploadId=aborted["UploadId"])
    assert err["Code"] == "NoSuchUpload"


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_the_aws_cli(server, tmp_path, which):
    aws_bin = str(VENV_BIN / "aws") if which == "v1" else require_tool("/usr/bin/aws")
    bucket = f"cli-{which}"
    cli(server, aws_bin, "s3", "mb", f"s3://{bucket}")
    small = tmp_path / "small.txt"
    small.write_text("small file\n")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(50 * 1024 * 1024))
    cli(server, aws_bin, "s3", "cp", str(small), f"s3://{bucket}/small.txt")
    cli(server, aws_bin, "s3", "cp", str(big), f"s3://{bucket}/big.bin")
    etag = json.loads(cli(server, aws_bin, "s3api", "head-object", "--bucket", bucket, "--key", "big.bin").stdout)["ETag"]
    assert etag.endswith('-7"'), etag  # 8 MB parts: the CLI went multipart
    back = tmp_path / "back.bin"
    cli(server, aws_bin, "s3", "cp", f"s3://{bucket}/big.bin", str(back))
    assert hashlib.md5(back.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()
    tree = tmp_path / "tree"
    (tree / "sub").mkdir(parents=True)
    for name in ("one.txt", "sub/two.txt", "sub/three.txt"):
        (tree / name).write_text(name)
    cli(server, aws_bin, "s3", "sync", str(tree), f"s3://{bucket}/tree")
    listing = cli(server, aws_bin, "s3", "ls", "--recursive", f"s3://{bucket}/tree/").stdout
    assert all(f"tree/{n}" in listing for n in ("one.txt", "sub/two.txt", "sub/three.txt")), listing
    top = cli(server, aws_bin, "s3", "ls", f"s3://{bucket}/").stdout
    assert "PRE tree/" in top and "small.txt" in top
    url = cli(server, aws_bin, "s3", "presign", f"s3://{bucket}/small.txt").stdout.strip()
    fetched = subprocess.run(["curl", "-sf", url], capture_output=True, timeout=30)
    assert fetched.returncode == 0 and fetched.stdout == b"small file\n"
    cli(server, aws_bin, "s3", "rm", "--recursive", f"s3://{bucket}/")
    out = json.loads(cli(server, aws_bin, "s3api", "list-objects-v2", "--bucket", bucket).stdout or "{}")
    assert out.get("KeyCount", 0) == 0
    cli(server, aws_bin, "s3", "rb", f"s3://{bucket}")


def test_virtual_hosted_style(server, s3):
    """`BUCKET.s3.localhost` and `BUCKET.s3.REGION.localhost` (names that resolve nowhere here:
    the requests go to 127.0.0.1 with that Host header, unsigned)."""
    import http.client
    port = int(server.endpoint.rsplit(":", 1)[1])

    def call(method, host, path, body=None):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request(method, path, body=body, headers={"Host": f"{host}:{port}"})
        resp = conn.getresponse()
        return resp.status, resp.read()

    s3.create_bucket(Bucket="vhost")
    assert call("PUT", "vhost.s3.localhost", "/dir/k", b"virtual")[0] == 200
    assert call("GET", "vhost.s3.localhost", "/dir/k") == (200, b"virtual")
    assert call("GET", "vhost.s3.us-east-1.localhost", "/dir/k") == (200, b"virtual")
    # Path style on the s3 host, and a Lambda-like path inside a bucket.
    assert call("GET", "s3.localhost", "/vhost/dir/k") == (200, b"virtual")
    assert call("PUT", "vhost.s3.localhost", "/2015-03-31/functions", b"a key")[0] == 200
    assert s3.get_object(Bucket="vhost", Key="2015-03-31/functions")["Body"].read() == b"a key"
    status, listing = call("GET", "vhost.s3.localhost", "/?list-type=2")
    assert status == 200 and b"<Key>dir/k</Key>" in listing
    status, err = call("GET", "vhost.s3.localhost", "/missing")
    assert status == 404 and b"<Code>NoSuchKey</Code>" in err


HANDLER = """
import json
def handler(event, context):
    print("S3EVENT " + json.dumps(event))
    return {}
"""


def logged_events(server, function):
    root = server.data_dir / "logs" / "aws" / "lambda" / function
    out = []
    for p in root.rglob("*.log") if root.exists() else []:
        for line in p.read_text().splitlines():
            if "S3EVENT " in line:
                out.append(json.loads(line.split("S3EVENT ", 1)[1]))
    return out


def test_notifications_reach_functions(server, lam, s3):
    code = zip_bytes({"app.py": (HANDLER, 0o644)})
    for name in ("on-upload", "on-delete"):
        lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": code})
    s3.create_bucket(Bucket="photos")
    arn = lambda n: f"arn:aws:lambda:us-east-1:000000000000:function:{n}"
    config = {"LambdaFunctionConfigurations": [
        {"Id": "jpgs", "LambdaFunctionArn": arn("on-upload"), "Events": ["s3:ObjectCreated:*"],
         "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"}, {"Name": "suffix", "Value": ".jpg"}]}}},
        {"Id": "gone", "LambdaFunctionArn": arn("on-delete"), "Events": ["s3:ObjectRemoved:*"]},
    ]}
    # Without the permission, S3 cannot validate the destination.
    err, status = error(s3.put_bucket_notification_configuration, Bucket="photos", NotificationConfiguration=config)
    assert (err["Code"], err["Message"], status) == (
        "InvalidArgument", "Unable to validate the following destination configurations", 400)
    for name in ("on-upload", "on-delete"):
        lam.add_permission(FunctionName=name, StatementId="s3", Action="lambda:InvokeFunction",
                           Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::photos")
    s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration=config)
    got = s3.get_bucket_notification_configuration(Bucket="photos")["LambdaFunctionConfigurations"]
    assert [(c["Id"], c["LambdaFunctionArn"], c["Events"]) for c in got] == [
        ("jpgs", arn("on-upload"), ["s3:ObjectCreated:*"]), ("gone", arn("on-delete"), ["s3:ObjectRemoved:*"])]
    s3.put_object(Bucket="photos", Key="other/skip.jpg", Body=b"no")
    s3.put_object(Bucket="photos", Key="uploads/skip.png", Body=b"no")
    body = b"\xff\xd8 a jpeg"
    put = s3.put_object(Bucket="photos", Key="uploads/my cat.jpg", Body=body)
    events = wait_for(lambda: logged_events(server, "on-upload"), 60, "the upload event")
    assert len(events) == 1, events
    (record,) = events[0]["Records"]
    assert record["eventVersion"] == "2.1" and record["eventSource"] == "aws:s3"
    assert record["awsRegion"] == "us-east-1" and record["eventName"] == "ObjectCreated:Put"
    assert record["eventTime"].endswith("Z") and "T" in record["eventTime"]
    assert record["userIdentity"] == {"principalId": "AWS:AKIDTEST"}
    assert record["requestParameters"] == {"sourceIPAddress": "127.0.0.1"}
    assert set(record["responseElements"]) == {"x-amz-request-id", "x-amz-id-2"}
    assert record["responseElements"]["x-amz-request-id"] == put["ResponseMetadata"]["RequestId"]
    s3r = record["s3"]
    assert s3r["s3SchemaVersion"] == "1.0" and s3r["configurationId"] == "jpgs"
    assert s3r["bucket"] == {"name": "photos", "ownerIdentity": {"principalId": "000000000000"},
                             "arn": "arn:aws:s3:::photos"}
    assert s3r["object"]["key"] == "uploads/my+cat.jpg"
    assert urllib.parse.unquote_plus(s3r["object"]["key"]) == "uploads/my cat.jpg"
    assert s3r["object"]["size"] == len(body) and s3r["object"]["eTag"] == put["ETag"].strip('"')
    assert len(s3r["object"]["sequencer"]) >= 16
    s3.delete_object(Bucket="photos", Key="uploads/my cat.jpg")
    deleted = wait_for(lambda: logged_events(server, "on-delete"), 60, "the delete event")
    (gone,) = deleted[0]["Records"]
    assert gone["eventName"] == "ObjectRemoved:Delete" and gone["s3"]["configurationId"] == "gone"
    assert gone["s3"]["object"]["key"] == "uploads/my+cat.jpg" and "size" not in gone["s3"]["object"]
    # Only the one matching upload reached the upload function.
    assert len(logged_events(server, "on-upload")) == 1


def test_function_code_from_s3(server, lam, s3):
    s3.create_bucket(Bucket="deploys")
    code = zip_bytes({"app.py": ("def handler(event, context):\n    return {'from': 's3'}\n", 0o644)})
    s3.put_object(Bucket="deploys", Key="builds/app.zip", Body=code)
    lam.create_function(FunctionName="from-s3", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"S3Bucket": "deploys", "S3Key": "builds/app.zip"})
    out = lam.invoke(FunctionName="from-s3", Payload=b"{}")
    assert json.loads(out["Payload"].read()) == {"from": "s3"}
    v2 = zip_bytes({"app.py": ("def handler(event, context):\n    return {'from': 's3', 'v': 2}\n", 0o644)})
    s3.put_object(Bucket="deploys", Key="builds/app2.zip", Body=v2)
    lam.update_function_code(FunctionName="from-s3", S3Bucket="deploys", S3Key="builds/app2.zip")
    out = lam.invoke(FunctionName="from-s3", Payload=b"{}")
    assert json.loads(out["Payload"].read()) == {"from": "s3", "v": 2}
    layer = lam.publish_layer_version(LayerName="s3-layer", Content={"S3Bucket": "deploys", "S3Key": "builds/app.zip"})
    assert layer["Version"] == 1 and layer["Content"]["CodeSize"] == len(code)
    for bucket, key, message in [
        ("deploys", "missing.zip", "Error occurred while GetObject. S3 Error Code: NoSuchKey. S3 Error Message: The specified key does not exist."),
        ("no-bucket", "x.zip", "Error occurred while GetObject. S3 Error Code: NoSuchBucket. S3 Error Message: The specified bucket does not exist"),
    ]:
        err, status = error(lam.create_function, FunctionName="bad-s3", Runtime="python3.12", Handler="app.handler",
                            Role=ROLE, Code={"S3Bucket": bucket, "S3Key": key})
        assert (err["Code"], err["Message"], status) == ("InvalidParameterValueException", message, 400)


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    from conftest import Server
    tmp = tmp_path_factory.mktemp("s3-auth")
    (tmp / "reader.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "arn:aws:s3:::shared*"}]}))
    (tmp / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDS3\naws_secret_access_key = s3-secret\n"
        "[reader]\naws_access_key_id = AKIDREADER\naws_secret_access_key = reader-secret\npolicy = reader.json\n")
    server = Server(extra=["--auth", "sigv4", "--credentials-file", str(tmp / "credentials")])
    server.start()
    yield server
    assert server.stop() == 0


def keyed(server, key, secret, **config):
    return boto3.client("s3", endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 0}, s3={"addressing_style": "path"}, **config))


def test_signatures_and_policies_when_required(secured):
    import urllib.request
    owner = keyed(secured, "AKIDS3", "s3-secret")
    owner.create_bucket(Bucket="shared")
    owner.put_object(Bucket="shared", Key="doc.txt", Body=b"signed")
    assert owner.get_object(Bucket="shared", Key="doc.txt")["Body"].read() == b"signed"
    url = owner.generate_presigned_url("get_object", Params={"Bucket": "shared", "Key": "doc.txt"}, ExpiresIn=60)
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == b"signed"
    # A tampered presigned URL, an unsigned request, a wrong secret, an unknown key.
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(url.replace("doc.txt", "doc.txt2"), timeout=10)
    assert e.value.code == 403 and b"<Code>SignatureDoesNotMatch</Code>" in e.value.read()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"{secured.endpoint}/shared/doc.txt", timeout=10)
    assert e.value.code == 403 and b"<Code>AccessDenied</Code>" in e.value.read()
    err, status = error(keyed(secured, "AKIDS3", "wrong").get_object, Bucket="shared", Key="doc.txt")
    assert (err["Code"], status) == ("SignatureDoesNotMatch", 403)
    err, status = error(keyed(secured, "AKIDNOBODY", "x").get_object, Bucket="shared", Key="doc.txt")
    assert (err["Code"], status) == ("InvalidAccessKeyId", 403)
    # The reader's policy lets it read, not write.
    reader = keyed(secured, "AKIDREADER", "reader-secret")
    assert reader.get_object(Bucket="shared", Key="doc.txt")["Body"].read() == b"signed"
    assert [o["Key"] for o in reader.list_objects_v2(Bucket="shared")["Contents"]] == ["doc.txt"]
    err, status = error(reader.put_object, Bucket="shared", Key="new.txt", Body=b"no")
    assert (err["Code"], status) == ("AccessDenied", 403)
    assert err["Message"] == ('User: arn:aws:iam::000000000000:user/reader is not authorized to perform: '
                              's3:PutObject on resource: "arn:aws:s3:::shared/new.txt" because no '
                              'identity-based policy allows the s3:PutObject action')
    # The Lambda API is still there, signed as before.
    lam = boto3.client("lambda", endpoint_url=secured.endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIDS3", aws_secret_access_key="s3-secret")
    assert lam.list_functions()["Functions"] == []


def test_a_stalled_upload_is_cut_off_and_not_stored():
    import socket
    import time as _time
    from conftest import Server
    server = Server(extra=["--client-timeout", "1s"])
    server.start()
    try:
        s3 = s3_client(server)
        s3.create_bucket(Bucket="stall")
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=20)
        sock.sendall(b"PUT /stall/half HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n" + b"x" * 10)
        started = _time.monotonic()
        answer = sock.recv(65536)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 400"), answer
        assert b"<Code>RequestTimeout</Code>" in answer
        assert _time.monotonic() - started < 10
        err, status = error(s3.head_object, Bucket="stall", Key="half")
        assert status == 404
        assert list((server.data_dir / "objects" / "tmp").iterdir()) == []
    finally:
        assert server.stop() == 0
