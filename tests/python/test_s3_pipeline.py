"""The example every introduction to Lambda gives, end to end on lambdad alone: a JPEG uploaded
under `uploads/` triggers a Python function (Pillow and boto3 in its zip, deployed from a bucket
with Code.S3Bucket) that writes a thumbnail to a second bucket through the S3 API, with its
execution role's temporary credentials: the role may read the first bucket and write the second,
and nothing else."""

import io
import json
import subprocess
import tempfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from PIL import Image

from conftest import ROOT, VENV_BIN, Server, boto3_files, wait_for, zip_bytes

PILLOW = "11.3.0"
RUNTIME = "python3.12"
KEY, SECRET = "AKIDPIPELINE", "pipeline-secret"

HANDLER = """
import io
import json
import os
import urllib.parse

import boto3
from botocore.exceptions import ClientError
from PIL import Image

s3 = boto3.client("s3")


def refusal(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = urllib.parse.unquote_plus(record["s3"]["object"]["key"])
        image = Image.open(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        image.thumbnail((128, 128))
        out = io.BytesIO()
        image.save(out, "JPEG")
        s3.put_object(Bucket="thumbnails", Key=key, Body=out.getvalue(), ContentType="image/jpeg")
        # The role may write only to the thumbnails bucket, and its key only with its own token.
        forged = boto3.client("s3", aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                              aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
                              aws_session_token="not-the-token")
        print("PIPELINE " + json.dumps({
            "key": key,
            "size": list(image.size),
            "elsewhere": refusal(lambda: s3.put_object(Bucket=bucket, Key="copy/" + key, Body=b"x")),
            "forged": refusal(lambda: forged.get_object(Bucket=bucket, Key=key)),
        }))
"""


def pillow_files():
    """Pillow's manylinux wheel for the function's Python, installed once into .cache by pip
    (the test set-up installs what the function bundles, as a user's build would)."""
    target = ROOT / ".cache" / f"pillow-{PILLOW}-{RUNTIME}"
    if not (target / "PIL" / "__init__.py").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent))
        subprocess.run([str(VENV_BIN / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(tmp), "--only-binary=:all:", "--implementation", "cp",
                        "--python-version", RUNTIME.removeprefix("python"), "--platform", "manylinux2014_x86_64",
                        "--platform", "manylinux_2_28_x86_64", f"pillow=={PILLOW}"],
                       check=True, timeout=300)
        tmp.rename(target)
    return {str(p.relative_to(target)): (p.read_bytes(), 0o755 if p.suffix == ".so" else 0o644)
            for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pipeline")
    (tmp / "thumbnailer.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::photos/*"},
        {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::thumbnails/*"}]}))
    (tmp / "credentials").write_text(f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
                                     "[role/thumbnailer]\npolicy = thumbnailer.json\n")
    server = Server(extra=["--auth", "sigv4", "--credentials-file", str(tmp / "credentials")])
    server.start()
    yield server
    assert server.stop() == 0


def client(server, service):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=KEY, aws_secret_access_key=SECRET,
                        config=Config(retries={"max_attempts": 1}, read_timeout=120,
                                      s3={"addressing_style": "path"}))


def pipeline_lines(server):
    root = server.data_dir / "logs" / "aws" / "lambda" / "thumbnailer"
    return [json.loads(line.split("PIPELINE ", 1)[1])
            for p in (root.rglob("*.log") if root.exists() else []) for line in p.read_text().splitlines()
            if "PIPELINE " in line]


@pytest.mark.timeout(400)
def test_uploaded_images_get_thumbnails(secured):
    s3, lam = client(secured, "s3"), client(secured, "lambda")
    for bucket in ("photos", "thumbnails", "deploys"):
        s3.create_bucket(Bucket=bucket)
    # Deployed as SAM or Terraform deploy: the zip goes to a bucket, the function comes from it.
    files = {**pillow_files(), **boto3_files(("s3",)), "app.py": (HANDLER, 0o644)}
    s3.put_object(Bucket="deploys", Key="thumbnailer.zip", Body=zip_bytes(files))
    lam.create_function(FunctionName="thumbnailer", Runtime=RUNTIME, Handler="app.handler", Timeout=60,
                        MemorySize=512, Role="arn:aws:iam::000000000000:role/thumbnailer",
                        Code={"S3Bucket": "deploys", "S3Key": "thumbnailer.zip"})
    lam.add_permission(FunctionName="thumbnailer", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::photos")
    s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": "arn:aws:lambda:us-east-1:000000000000:function:thumbnailer",
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "uploads/"},
                                               {"Name": "suffix", "Value": ".jpg"}]}}}]})

    picture = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 40, 90)).save(picture, "JPEG")
    s3.put_object(Bucket="photos", Key="notes/skipped.jpg", Body=picture.getvalue())
    s3.put_object(Bucket="photos", Key="uploads/skipped.png", Body=picture.getvalue())
    s3.put_object(Bucket="photos", Key="uploads/red square.jpg", Body=picture.getvalue())

    (line,) = wait_for(lambda: pipeline_lines(secured), 180, "the thumbnailer's run")
    assert line == {"key": "uploads/red square.jpg", "size": [128, 96],
                    "elsewhere": "AccessDenied", "forged": "InvalidToken"}
    thumb = s3.get_object(Bucket="thumbnails", Key="uploads/red square.jpg")
    assert thumb["ContentType"] == "image/jpeg"
    assert Image.open(io.BytesIO(thumb["Body"].read())).size == (128, 96)
    # Only the one matching upload ran the function, and its refused write left nothing.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="thumbnails")["Contents"]] == ["uploads/red square.jpg"]
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket="photos")["Contents"]) == [
        "notes/skipped.jpg", "uploads/red square.jpg", "uploads/skipped.png"]
    assert len(pipeline_lines(secured)) == 1
