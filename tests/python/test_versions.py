"""Versions and aliases with weighted routing, through boto3 and the aws CLI."""

import json
import urllib.error
import urllib.request

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, aws, fixture_zip

ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


@pytest.fixture(scope="module")
def fn(lam):
    lam.create_function(FunctionName="ver", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")}, Environment={"Variables": {"STAGE": "one"}})
    return "ver"


def env_of(lam, qualifier=None):
    kw = {"Qualifier": qualifier} if qualifier else {}
    out = lam.invoke(FunctionName="ver", Payload=b'{"op":"env"}', **kw)
    body = json.loads(out["Payload"].read())
    return out["ExecutedVersion"], body["env"]["STAGE"], body["env"]["AWS_LAMBDA_FUNCTION_VERSION"], body["invoked_function_arn"]


def test_publish_list_and_qualified_invokes(lam, fn):
    v1 = lam.publish_version(FunctionName=fn, Description="first")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (v1["Version"], v1["FunctionArn"], v1["Description"]) == ("1", ARN + "ver:1", "first")
    again = lam.publish_version(FunctionName=fn)
    assert again["Version"] == "1", "nothing changed: the latest version is returned"
    lam.update_function_configuration(FunctionName=fn, Environment={"Variables": {"STAGE": "two"}})
    lam.get_waiter("function_updated_v2").wait(FunctionName=fn)
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName=fn, CodeSha256="nope")
    assert e.value.response["Error"]["Message"].startswith("CodeSHA256 (nope) is different from current CodeSHA256 in $LATEST (")
    with pytest.raises(ClientError) as e:
        lam.publish_version(FunctionName=fn, RevisionId="stale")
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"
    v2 = lam.publish_version(FunctionName=fn)
    assert v2["Version"] == "2"
    lam.get_waiter("published_version_active").wait(FunctionName=fn, Qualifier="2", WaiterConfig={"Delay": 1})

    versions = lam.list_versions_by_function(FunctionName=fn)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"] == ARN + "ver:$LATEST"
    pages = list(lam.get_paginator("list_versions_by_function").paginate(FunctionName=fn, PaginationConfig={"PageSize": 2}))
    assert [v["Version"] for p in pages for v in p["Versions"]] == ["$LATEST", "1", "2"]

    assert lam.get_function_configuration(FunctionName=fn, Qualifier="1")["Environment"]["Variables"] == {"STAGE": "one"}
    assert lam.get_function(FunctionName=ARN + "ver:2")["Configuration"]["Version"] == "2"
    assert env_of(lam, "1") == ("1", "one", "1", ARN + "ver:1")
    assert env_of(lam, "2") == ("2", "two", "2", ARN + "ver:2")
    assert env_of(lam) == ("$LATEST", "two", "$LATEST", ARN + "ver")
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName=fn, Qualifier="9")
    assert e.value.response["Error"]["Message"] == f"Function not found: {ARN}ver:9"


@pytest.fixture
def two_versions(lam, fn):
    """Versions 1 (STAGE one) and 2 (STAGE two) of `fn`: those the previous test published, or
    published here when it did not run."""
    if [v["Version"] for v in lam.list_versions_by_function(FunctionName=fn)["Versions"]] == ["$LATEST"]:
        lam.publish_version(FunctionName=fn)
        lam.update_function_configuration(FunctionName=fn, Environment={"Variables": {"STAGE": "two"}})
        lam.get_waiter("function_updated_v2").wait(FunctionName=fn)
        lam.publish_version(FunctionName=fn)
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=fn)["Versions"]]
    assert versions == ["$LATEST", "1", "2"], versions


def test_aliases_and_weighted_routing(lam, fn, two_versions):
    alias = lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1", Description="prod")
    assert (alias["AliasArn"], alias["FunctionVersion"]) == (ARN + "ver:live", "1")
    with pytest.raises(ClientError) as e:
        lam.create_alias(FunctionName=fn, Name="live", FunctionVersion="1")
    assert (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]) == ("ResourceConflictException", f"Alias already exists: {ARN}ver:live")
    assert env_of(lam, "live") == ("1", "one", "1", ARN + "ver:live")
    assert lam.get_function_configuration(FunctionName=fn, Qualifier="live")["FunctionArn"] == ARN + "ver:live"

    lam.update_alias(FunctionName=fn, Name="live", RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}})
    got = lam.get_alias(FunctionName=fn, Name="live")
    assert got["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.2}}
    executed = [lam.invoke(FunctionName=fn, Qualifier="live", Payload=b'{"op":"echo"}')["ExecutedVersion"] for _ in range(1000)]
    share = executed.count("2") / len(executed)
    assert set(executed) == {"1", "2"}
    assert 0.15 <= share <= 0.25, f"version 2 got {share:.1%} of invocations"

    cases = [
        (dict(RoutingConfig={"AdditionalVersionWeights": {"1": 0.5}}), "InvalidParameterValueException",
         "Invalid function version 1. Function version 1 is already included in routing configuration."),
        (dict(FunctionVersion="$LATEST", RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}}), "InvalidParameterValueException",
         "$LATEST is not supported for an alias pointing to more than 1 version"),
        (dict(RoutingConfig={"AdditionalVersionWeights": {"2": 0.5, "3": 0.1}}), "InvalidParameterValueException",
         "Number of items in AdditionalVersionWeights cannot be greater than 1"),
    ]
    for kw, code, message in cases:
        with pytest.raises(ClientError) as e:
            lam.update_alias(FunctionName=fn, Name="live", **kw)
        assert (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]) == (code, message), kw
    with pytest.raises(ClientError) as e:
        lam.get_alias(FunctionName=fn, Name="nope")
    assert e.value.response["Error"]["Message"] == f"Cannot find alias arn: {ARN}ver:nope"
    with pytest.raises(ClientError) as e:
        lam.update_alias(FunctionName=fn, Name="nope", FunctionVersion="1")
    assert e.value.response["Error"]["Message"] == f"Alias not found: {ARN}ver:nope"
    with pytest.raises(ClientError) as e:
        lam.update_alias(FunctionName=fn, Name="live", RevisionId="stale", Description="x")
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"

    assert [a["Name"] for a in lam.list_aliases(FunctionName=fn)["Aliases"]] == ["live"]
    with pytest.raises(ClientError) as e:
        lam.delete_function(FunctionName=fn, Qualifier="1")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    lam.delete_alias(FunctionName=fn, Name="live")
    lam.delete_function(FunctionName=fn, Qualifier="1")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=fn)["Versions"]] == ["$LATEST", "2"]


def test_publish_on_create_and_cli(server, lam):
    out = lam.create_function(FunctionName="ver-pub", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                              Code={"ZipFile": fixture_zip("behave")}, Publish=True)
    # AWS (test_publish_version_on_create's snapshot): the unqualified, pending function
    # with the new version's number.
    assert (out["Version"], out["FunctionArn"], out["State"]) == ("1", ARN + "ver-pub", "Pending")
    _, out, _ = aws(server, "lambda", "publish-version", "--function-name", "ver-pub")
    assert out["Version"] == "1"
    _, out, _ = aws(server, "lambda", "create-alias", "--function-name", "ver-pub", "--name", "blue", "--function-version", "1")
    assert out["AliasArn"] == ARN + "ver-pub:blue"
    _, out, _ = aws(server, "lambda", "list-versions-by-function", "--function-name", "ver-pub")
    assert [v["Version"] for v in out["Versions"]] == ["$LATEST", "1"]
    out_file = server.data_dir.parent / "alias-out.json"
    _, out, _ = aws(server, "lambda", "invoke", "--function-name", "ver-pub", "--qualifier", "blue", "--payload", '{"op":"echo"}', str(out_file))
    assert out["ExecutedVersion"] == "1"


def tuning_version(server, name, body):
    req = urllib.request.Request(f"{server.endpoint}/_lambdad/functions/{name}/tuning-versions",
                                 data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.headers, json.loads(e.read())


def test_tuning_versions_copy_latest_with_another_memory_size(server, lam):
    # lambdad's own operation for `lambdad tune`: a new version of $LATEST's code and
    # configuration at another MemorySize, $LATEST untouched, a RevisionId of its own.
    lam.create_function(FunctionName="tunable", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")}, MemorySize=128, Description="mine")
    def latest_config():
        c = lam.get_function_configuration(FunctionName="tunable")
        c.pop("ResponseMetadata")
        return c
    latest = latest_config()
    status, _, v = tuning_version(server, "tunable", {"MemorySize": 1024})
    assert status == 201, v
    assert (v["Version"], v["MemorySize"], v["Description"]) == ("1", 1024, "lambdad tune: 1024 MB")
    assert v["CodeSha256"] == latest["CodeSha256"] and v["RevisionId"] != latest["RevisionId"]
    assert latest_config() == latest
    out = lam.invoke(FunctionName="tunable", Qualifier="1", Payload=b'{"op": "echo"}')
    assert "FunctionError" not in out
    status, headers, err = tuning_version(server, "tunable", {"MemorySize": 100})
    assert status == 400 and headers["x-amzn-errortype"].startswith("ValidationException"), err
    status, headers, err = tuning_version(server, "missing-fn", {"MemorySize": 512})
    assert status == 404 and headers["x-amzn-errortype"].startswith("ResourceNotFoundException"), err
