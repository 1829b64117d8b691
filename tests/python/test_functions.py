"""The functions API through boto3 (waiters, paginators, errors) and the aws CLI."""

import base64
import hashlib
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, aws, tiny_zip, zip_bytes


def create(lam, name, zip_file=None, **kw):
    params = dict(
        FunctionName=name,
        Runtime="provided.al2023",
        Handler="bootstrap",
        Role=ROLE,
        Code={"ZipFile": zip_file or tiny_zip()},
    )
    params.update(kw)
    return lam.create_function(**params)


def test_lifecycle_with_waiters(lam):
    zip_file = zip_bytes({"bootstrap": ("#!/bin/sh\necho lifecycle\n", 0o755)})
    out = create(lam, "py-life", zip_file)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert out["State"] == "Pending"
    assert out["StateReasonCode"] == "Creating"
    assert "LastUpdateStatus" not in out
    assert out["CodeSha256"] == base64.b64encode(hashlib.sha256(zip_file).digest()).decode()
    assert out["CodeSize"] == len(zip_file)
    assert (out["Timeout"], out["MemorySize"], out["EphemeralStorage"]["Size"]) == (3, 128, 512)
    assert out["Architectures"] == ["x86_64"]
    assert out["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "/aws/lambda/py-life"}
    assert out["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:py-life"
    request_id = out["ResponseMetadata"]["RequestId"]
    assert len(request_id) == 36 and request_id == request_id.lower()

    lam.get_waiter("function_active_v2").wait(FunctionName="py-life", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    got = lam.get_function(FunctionName="py-life")
    assert got["Configuration"]["State"] == "Active"
    with urllib.request.urlopen(got["Code"]["Location"]) as r:
        assert r.read() == zip_file

    upd = lam.update_function_configuration(FunctionName="py-life", Timeout=10, Environment={"Variables": {"STAGE": "test"}})
    assert upd["LastUpdateStatus"] == "InProgress"
    lam.get_waiter("function_updated_v2").wait(FunctionName="py-life", WaiterConfig={"Delay": 1, "MaxAttempts": 10})
    conf = lam.get_function_configuration(FunctionName="py-life")
    assert conf["Timeout"] == 10 and conf["Environment"]["Variables"] == {"STAGE": "test"}
    assert conf["LastUpdateStatus"] == "Successful"

    with pytest.raises(ClientError) as e:
        lam.update_function_code(FunctionName="py-life", ZipFile=tiny_zip(), RevisionId=out["RevisionId"])
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412

    new_zip = zip_bytes({"bootstrap": ("#!/bin/sh\necho v2\n", 0o755)})
    code = lam.update_function_code(FunctionName="py-life", ZipFile=new_zip, RevisionId=conf["RevisionId"])
    assert code["CodeSha256"] == base64.b64encode(hashlib.sha256(new_zip).digest()).decode()

    deleted = lam.delete_function(FunctionName="py-life")
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="py-life")


def test_paginator_walks_every_page(lam):
    names = [f"py-page-{i:02d}" for i in range(7)]
    for n in names:
        create(lam, n)
    pages = list(lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 3}))
    listed = [f["FunctionName"] for p in pages for f in p["Functions"] if f["FunctionName"].startswith("py-page-")]
    assert listed == names
    assert "NextMarker" not in pages[-1]
    raw = lam.list_functions(MaxItems=50)
    assert "NextMarker" not in raw
    for n in names:
        lam.delete_function(FunctionName=n)


def test_tags(lam):
    arn = create(lam, "py-tags", Tags={"team": "core"})["FunctionArn"]
    lam.tag_resource(Resource=arn, Tags={"env": "dev", "cost": "1"})
    lam.untag_resource(Resource=arn, TagKeys=["cost"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "core", "env": "dev"}
    assert lam.get_function(FunctionName="py-tags")["Tags"] == {"team": "core", "env": "dev"}
    settings = lam.get_account_settings()
    assert settings["AccountLimit"]["CodeSizeUnzipped"] == 262144000
    assert settings["AccountUsage"]["FunctionCount"] >= 1
    lam.delete_function(FunctionName="py-tags")


ERRORS = [
    ("missing", lambda lam: lam.get_function(FunctionName="nope"), "ResourceNotFoundException",
     "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"),
    ("duplicate", lambda lam: create(lam, "py-dup"), "ResourceConflictException", "Function already exist: py-dup"),
    ("memory", lambda lam: create(lam, "py-m", MemorySize=20000), "ValidationException",
     "1 validation error detected: Value '20000' at 'memorySize' failed to satisfy constraint: Member must have value less than or equal to 10240"),
    ("timeout", lambda lam: create(lam, "py-t", Timeout=1000), "ValidationException",
     "1 validation error detected: Value '1000' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to 900"),
    ("role", lambda lam: create(lam, "py-r", Role="r1"), "ValidationException",
     "1 validation error detected: Value 'r1' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+"),
    ("deprecated runtime", lambda lam: create(lam, "py-rt", Runtime="go1.x"), "InvalidParameterValueException",
     "The runtime parameter of go1.x is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."),
    ("reserved env", lambda lam: create(lam, "py-env", Environment={"Variables": {"AWS_LAMBDA_FUNCTION_NAME": "x"}}),
     "InvalidParameterValueException",
     "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: AWS_LAMBDA_FUNCTION_NAME"),
    ("not a zip", lambda lam: create(lam, "py-nz", zip_file=b"PK but not really"), "InvalidParameterValueException",
     "Could not unzip uploaded file. Please check your file, then try to upload again."),
    ("long name", lambda lam: create(lam, "a" * 65), "InvalidParameterValueException",
     "1 validation error detected: Value '" + "a" * 65 + "' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 64"),
    ("delete latest", lambda lam: lam.delete_function(FunctionName="py-dup", Qualifier="$LATEST"), "InvalidParameterValueException",
     "$LATEST version cannot be deleted without deleting the function."),
]


@pytest.mark.parametrize("what,call,code,message", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_match_aws(lam, what, call, code, message):
    try:
        lam.get_function(FunctionName="py-dup")
    except ClientError:
        create(lam, "py-dup")
    with pytest.raises(ClientError) as e:
        call(lam)
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == (code, message)


def test_aws_cli(server):
    zip_path = server.data_dir.parent / "cli.zip"
    zip_path.write_bytes(tiny_zip())
    rc, out, _ = aws(server, "lambda", "create-function", "--function-name", "cli-fn", "--runtime", "provided.al2023",
                     "--handler", "bootstrap", "--role", ROLE, "--zip-file", f"fileb://{zip_path}")
    assert out["State"] == "Pending"
    aws(server, "lambda", "wait", "function-active-v2", "--function-name", "cli-fn")
    _, out, _ = aws(server, "lambda", "get-function", "--function-name", "cli-fn")
    assert out["Configuration"]["State"] == "Active"
    _, out, _ = aws(server, "lambda", "list-functions")
    assert "cli-fn" in [f["FunctionName"] for f in out["Functions"]]
    _, out, _ = aws(server, "lambda", "update-function-configuration", "--function-name", "cli-fn", "--memory-size", "512")
    assert out["MemorySize"] == 512
    aws(server, "lambda", "wait", "function-updated-v2", "--function-name", "cli-fn")
    rc, _, err = aws(server, "lambda", "get-function", "--function-name", "cli-missing", check=False)
    assert rc == 255  # aws CLI v1's exit code for a service error
    assert "ResourceNotFoundException" in err and "Function not found: arn:aws:lambda:us-east-1:000000000000:function:cli-missing" in err
    rc, out, _ = aws(server, "lambda", "delete-function", "--function-name", "cli-fn")
    assert rc == 0
