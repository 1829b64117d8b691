"""AWS's values where LocalStack's AWS-validated Lambda tests (scripts/localstack-fidelity)
found lambdad differing: each expectation comes from a snapshot recorded against real AWS
(tests/aws/services/lambda_/test_lambda_api.snapshot.json in LocalStack's repository)."""

import json
import re

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import ROLE, zip_bytes

PY = zip_bytes({"index.py": ("def handler(event, context):\n    return event\n", 0o644)})
PY2 = zip_bytes({"index.py": ("def handler(event, context):\n    return {'v': 2}\n", 0o644)})
RUNTIME_ARN = re.compile(r"^arn:aws:lambda:us-east-1::runtime:[0-9a-f]{64}$")


def create(lam, name, runtime="python3.12", **kw):
    return lam.create_function(FunctionName=name, Runtime=runtime, Handler="index.handler", Role=ROLE,
                               Code={"ZipFile": PY}, **kw)


def wait_active(lam, name):
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def wait_updated(lam, name):
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def runtime_arn(conf):
    return conf["RuntimeVersionConfig"]["RuntimeVersionArn"]


def test_runtime_version_config(lam):
    """test_function_lifecycle: one RuntimeVersionArn per runtime, kept by a code update, a new
    one with a new runtime; ListFunctions/ListVersionsByFunction carry none."""
    created = create(lam, "fid-rtv")
    assert RUNTIME_ARN.match(runtime_arn(created)), created.get("RuntimeVersionConfig")
    wait_active(lam, "fid-rtv")
    got = lam.get_function(FunctionName="fid-rtv")["Configuration"]
    assert runtime_arn(got) == runtime_arn(created)

    lam.update_function_configuration(FunctionName="fid-rtv", Runtime="python3.11")
    wait_updated(lam, "fid-rtv")
    py311 = runtime_arn(lam.get_function_configuration(FunctionName="fid-rtv"))
    assert RUNTIME_ARN.match(py311) and py311 != runtime_arn(created)

    code = lam.update_function_code(FunctionName="fid-rtv", ZipFile=PY2)
    assert runtime_arn(code) == py311
    wait_updated(lam, "fid-rtv")
    assert runtime_arn(lam.get_function_configuration(FunctionName="fid-rtv")) == py311

    provided = lam.create_function(FunctionName="fid-rtv-provided", Runtime="provided.al2023", Handler="bootstrap",
                                   Role=ROLE, Code={"ZipFile": zip_bytes({"bootstrap": ("#!/bin/sh\n", 0o755)})})
    assert RUNTIME_ARN.match(runtime_arn(provided))

    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == "fid-rtv"]
    assert listed and "RuntimeVersionConfig" not in listed[0]
    versions = lam.list_versions_by_function(FunctionName="fid-rtv")["Versions"]
    assert all("RuntimeVersionConfig" not in v for v in versions)


def test_revision_id_regenerated_by_state_transitions(lam):
    """test_function_lifecycle: the RevisionId of the Pending answer (uuid:1) is not the Active
    function's (uuid:2); the InProgress answer's (uuid:3) is not the Successful one's (uuid:4)."""
    created = create(lam, "fid-rev")
    wait_active(lam, "fid-rev")
    active = lam.get_function(FunctionName="fid-rev")["Configuration"]
    assert active["State"] == "Active"
    assert active["RevisionId"] != created["RevisionId"]

    updating = lam.update_function_configuration(FunctionName="fid-rev", Description="changed")
    assert updating["LastUpdateStatus"] == "InProgress"
    wait_updated(lam, "fid-rev")
    done = lam.get_function_configuration(FunctionName="fid-rev")
    assert done["LastUpdateStatus"] == "Successful"
    assert len({created["RevisionId"], active["RevisionId"], updating["RevisionId"], done["RevisionId"]}) == 4

    code = lam.update_function_code(FunctionName="fid-rev", ZipFile=PY2)
    wait_updated(lam, "fid-rev")
    after_code = lam.get_function_configuration(FunctionName="fid-rev")
    assert code["RevisionId"] not in (done["RevisionId"], after_code["RevisionId"])
    # The current RevisionId is the one GetFunction reports.
    lam.update_function_configuration(FunctionName="fid-rev", Timeout=9, RevisionId=after_code["RevisionId"])


def test_publish_on_create(lam):
    """test_publish_version_on_create: the unqualified, pending function with Version "1";
    the version has a RevisionId of its own; GetFunction(Qualifier="$LATEST") names $LATEST."""
    created = create(lam, "fid-pub", Publish=True)
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fid-pub"
    assert created["Version"] == "1"
    assert (created["State"], created["StateReasonCode"]) == ("Pending", "Creating")
    wait_active(lam, "fid-pub")

    latest = lam.get_function(FunctionName="fid-pub")["Configuration"]
    assert latest["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fid-pub"
    assert latest["Version"] == "$LATEST"
    v1 = lam.get_function(FunctionName="fid-pub", Qualifier="1")["Configuration"]
    assert v1["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fid-pub:1"
    assert len({created["RevisionId"], latest["RevisionId"], v1["RevisionId"]}) == 3
    qualified = lam.get_function(FunctionName="fid-pub", Qualifier="$LATEST")["Configuration"]
    assert qualified["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:fid-pub:$LATEST"
    assert qualified["RevisionId"] == latest["RevisionId"]
    # Nothing changed: publishing again answers with version 1.
    again = lam.publish_version(FunctionName="fid-pub")
    assert (again["Version"], again["RevisionId"]) == ("1", v1["RevisionId"])


def test_publish_after_description_only_update(lam):
    """test_version_lifecycle: an update of $LATEST's description alone is a change to
    publish (version 2), and publishing again without a change answers with version 2."""
    create(lam, "fid-ver", Description="No version :(")
    wait_active(lam, "fid-ver")
    lam.update_function_configuration(FunctionName="fid-ver", Description="First version :)")
    wait_updated(lam, "fid-ver")
    first = lam.publish_version(FunctionName="fid-ver", Description="First version description :)")
    assert first["Version"] == "1"
    lam.update_function_configuration(FunctionName="fid-ver", Description="Second version :))")
    wait_updated(lam, "fid-ver")
    second = lam.publish_version(FunctionName="fid-ver")
    assert second["Version"] == "2"
    assert second["Description"] == "Second version :))"
    third = lam.publish_version(FunctionName="fid-ver", Description="Third version description :)))")
    assert third["Version"] == "2"
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName="fid-ver")["Versions"]]
    assert versions == ["$LATEST", "1", "2"]


GET_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
               r"(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?")
CREATE_PATTERN = (r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?(\d{12}:)?"
                  r"(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?")


def error_of(call):
    try:
        call()
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["Error"]["Message"]
    raise AssertionError("the call succeeded")


def pattern_error(value, member, pattern):
    return f"Value '{value}' at '{member}' failed to satisfy constraint: Member must satisfy regular expression pattern: {pattern}"


def test_function_name_and_qualifier_validation(lam):
    """test_function_name_and_qualifier_validation: AWS's patterns, lengths and error counts."""
    bad_region = "arn:aws:lambda:invalid-region:000000000000:function:my-function"
    for name in ["my-function!", "*", "invalid-account:function:my-function", bad_region,
                 "arn:aws:ec2:us-east-1:000000000000:instance:i-1234567890abcdef0",
                 "arn:aws:lambda:us-east-1:000000000000:function:my-function:1:2",
                 "function:my-function:$LATEST:extra", "arn:aws:lambda::000000000000:function:my-function",
                 "arn:aws:lambda:us-east-1::function:my-function",
                 "arn:aws:lambda:us-east-1:000000000000:function:my-function:$LATES"]:
        expected = ("ValidationException", "1 validation error detected: " + pattern_error(name, "functionName", GET_PATTERN))
        assert error_of(lambda: lam.get_function(FunctionName=name)) == expected, name
        assert error_of(lambda: lam.delete_function(FunctionName=name)) == expected, name
        assert error_of(lambda: lam.invoke(FunctionName=name)) == expected, name
        created = ("ValidationException", "1 validation error detected: " + pattern_error(name, "functionName", CREATE_PATTERN))
        assert error_of(lambda: create(lam, name)) == created, name

    assert error_of(lambda: lam.get_function(FunctionName="my-function", Qualifier="invalid!")) == (
        "ValidationException",
        "1 validation error detected: " + pattern_error("invalid!", "qualifier", r"\$(LATEST(\.PUBLISHED)?)|[a-zA-Z0-9-_$]+"))
    long_arn = bad_region + "a" * 170
    code, message = error_of(lambda: lam.get_function(FunctionName=long_arn, Qualifier="a" * 129))
    assert code == "ValidationException" and message.startswith("2 validation errors detected: ")
    assert f"Value '{'a' * 129}' at 'qualifier' failed to satisfy constraint: Member must have length less than or equal to 128" in message
    assert pattern_error(long_arn, "functionName", GET_PATTERN) in message
    code, message = error_of(lambda: create(lam, long_arn))
    assert code == "ValidationException" and message.startswith("2 validation errors detected: ")
    assert f"Value '{long_arn}' at 'functionName' failed to satisfy constraint: Member must have length less than or equal to 140" in message

    assert error_of(lambda: create(lam, "a" * 65)) == (
        "InvalidParameterValueException",
        f"1 validation error detected: Value '{'a' * 65}' at 'functionName' failed to satisfy constraint: "
        "Member must have length less than or equal to 64")
    assert error_of(lambda: lam.delete_function(FunctionName="my-function", Qualifier="a" * 65)) == (
        "InvalidParameterValueException", "Deletion of aliases is not currently supported.")
    assert error_of(lambda: lam.get_function(FunctionName="arn:aws:lambda:us-east-1:000000000000:function")) == (
        "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:function")
    assert error_of(lambda: lam.delete_function(FunctionName="my-function", Qualifier="$latest")) == (
        "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:my-function")
    # An unqualified invocation that finds no function names $LATEST.
    assert error_of(lambda: lam.invoke(FunctionName="arn:aws:lambda:us-east-1:000000000000:function")) == (
        "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:function:$LATEST")


def test_delete_on_nonexisting_version(lam):
    """test_delete_on_nonexisting_version: deleting a version the function lacks succeeds;
    once the function is gone, AWS names it unqualified."""
    create(lam, "fid-del")
    wait_active(lam, "fid-del")
    for _ in range(2):
        assert lam.delete_function(FunctionName="fid-del", Qualifier="1233")["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.delete_function(FunctionName="fid-del")
    missing = ("ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:fid-del")
    assert error_of(lambda: lam.delete_function(FunctionName="fid-del")) == missing
    assert error_of(lambda: lam.delete_function(FunctionName="fid-del", Qualifier="1233")) == missing


def test_mapping_of_a_missing_builtin_queue(lam):
    """test_esm_with_not_existing_sqs_queue: AWS refuses a mapping of a queue that does not exist."""
    create(lam, "fid-esm")
    assert error_of(lambda: lam.create_event_source_mapping(
        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:not-existing-queue", FunctionName="fid-esm", BatchSize=1)) == (
        "InvalidParameterValueException",
        "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. "
        "SQS Error Message: The specified queue does not exist.")


def test_not_found_messages_of_sub_resources(lam):
    """test_url_config_exceptions, test_permission_exceptions, test_ops_on_nonexisting_fn: AWS's
    words for a missing function under the URL-config, policy and EventInvokeConfig operations."""
    arn = "arn:aws:lambda:us-east-1:000000000000:function:fid-nofn"
    gone = ("ResourceNotFoundException", "The resource you requested does not exist.")
    assert error_of(lambda: lam.get_function_url_config(FunctionName="fid-nofn")) == gone
    assert error_of(lambda: lam.delete_function_url_config(FunctionName="fid-nofn")) == gone
    no_function = ("ResourceNotFoundException", "Function does not exist")
    assert error_of(lambda: lam.create_function_url_config(FunctionName="fid-nofn", AuthType="NONE")) == no_function
    assert error_of(lambda: lam.update_function_url_config(FunctionName="fid-nofn", AuthType="NONE")) == no_function
    assert error_of(lambda: lam.list_function_url_configs(FunctionName="fid-nofn")) == no_function
    assert error_of(lambda: lam.get_policy(FunctionName="fid-nofn")) == gone
    assert error_of(lambda: lam.get_function_event_invoke_config(FunctionName="fid-nofn")) == (
        "ResourceNotFoundException", f"The function {arn}:$LATEST doesn't have an EventInvokeConfig")
    create(lam, "fid-eic")
    assert error_of(lambda: lam.get_function_event_invoke_config(FunctionName="fid-eic", Qualifier="1221")) == (
        "ResourceNotFoundException",
        "The function arn:aws:lambda:us-east-1:000000000000:function:fid-eic:1221 doesn't have an EventInvokeConfig")
    assert error_of(lambda: lam.get_policy(FunctionName="fid-eic")) == gone


def test_validation_messages(lam):
    """test_create_lambda_exceptions, test_notfound_and_invalid_routingconfigs: AWS's constraint lists."""
    assert error_of(lambda: create(lam, "fid-arch", Architectures=["X86_64"])) == (
        "ValidationException",
        "1 validation error detected: Value '[X86_64]' at 'architectures' failed to satisfy constraint: "
        "Member must satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], Member must not be null]")
    create(lam, "fid-alias", Publish=True)
    # boto3 would refuse -1.0 itself (LocalStack's test turns its validation off too).
    raw = boto3.client("lambda", endpoint_url=lam.meta.endpoint_url, region_name="us-east-1",
                       aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
                       config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    bounds = ("Map value must satisfy constraint: [Member must have value less than or equal to 1.0, "
              "Member must have value greater than or equal to 0.0, Member must not be null]")
    for weight in (2.0, -1.0):
        assert error_of(lambda: raw.create_alias(FunctionName="fid-alias", Name="a", FunctionVersion="1",
                                                 RoutingConfig={"AdditionalVersionWeights": {"2": weight}})) == (
            "ValidationException",
            f"1 validation error detected: Value '{{2={weight}}}' at 'routingConfig.additionalVersionWeights' "
            f"failed to satisfy constraint: {bounds}")
    assert error_of(lambda: lam.create_alias(FunctionName="fid-alias", Name="a", FunctionVersion="1",
                                             RoutingConfig={"AdditionalVersionWeights": {"$LATEST": 0.5}})) == (
        "ValidationException",
        "1 validation error detected: Value '{$LATEST=0.5}' at 'routingConfig.additionalVersionWeights' failed to "
        "satisfy constraint: Map keys must satisfy constraint: [Member must have length less than or equal to 1024, "
        "Member must have length greater than or equal to 1, Member must satisfy regular expression pattern: [0-9]+]")


def test_url_config_without_invoke_mode(lam):
    """test_url_config_lifecycle: InvokeMode is not echoed when it was never set."""
    create(lam, "fid-url")
    created = lam.create_function_url_config(FunctionName="fid-url", AuthType="NONE")
    assert "InvokeMode" not in created
    assert "InvokeMode" not in lam.get_function_url_config(FunctionName="fid-url")
    updated = lam.update_function_url_config(FunctionName="fid-url", InvokeMode="BUFFERED")
    assert updated["InvokeMode"] == "BUFFERED"


def test_empty_lists_left_out(lam):
    """test_layer_s3_content, test_create_event_filter_criteria_validation: AWS leaves out
    empty CompatibleRuntimes/CompatibleArchitectures and a FilterCriteria without filters."""
    layer = lam.publish_layer_version(LayerName="fid-layer", Content={"ZipFile": PY})
    assert "CompatibleRuntimes" not in layer and "CompatibleArchitectures" not in layer
    got = lam.get_layer_version(LayerName="fid-layer", VersionNumber=layer["Version"])
    assert "CompatibleRuntimes" not in got and "CompatibleArchitectures" not in got
    create(lam, "fid-filters")
    sqs = boto3.client("sqs", endpoint_url=lam.meta.endpoint_url, region_name="us-east-1",
                       aws_access_key_id="AKIDTEST", aws_secret_access_key="secret")
    sqs.create_queue(QueueName="fid-filters")
    mapping = lam.create_event_source_mapping(EventSourceArn="arn:aws:sqs:us-east-1:000000000000:fid-filters",
                                              FunctionName="fid-filters", FilterCriteria={"Filters": []}, Enabled=False)
    assert "FilterCriteria" not in mapping


TAGGABLE = (r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
            r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|"
            r"code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
            r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)")


def test_tags_on_event_source_mappings(server, lam):
    """TestLambdaTag (test_create_tag_on_esm_create, test_tag_lifecycle[event_source_mapping],
    test_tag_exceptions[*]): mappings take Tags at creation and through TagResource; missing
    resources and ARNs outside AWS's pattern are refused with AWS's texts."""
    from conftest import make_client
    sqs = make_client(server.endpoint, "sqs")
    queue = sqs.create_queue(QueueName="fid-tags")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    create(lam, "fid-tags")
    created = lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="fid-tags", BatchSize=1,
                                              Enabled=False, Tags={"testtag": "custom"})
    arn = created["EventSourceMappingArn"]
    assert "Tags" not in lam.get_event_source_mapping(UUID=created["UUID"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"testtag": "custom"}

    lam.untag_resource(Resource=arn, TagKeys=["testtag"])
    steps = [({"A": "tag-a"}, None, {"A": "tag-a"}),
             ({"B": "tag-b", "C": "tag-c"}, None, {"A": "tag-a", "B": "tag-b", "C": "tag-c"}),
             ({"C": "tag-c-newsuffix", "D": "tag-d"}, None,
              {"A": "tag-a", "B": "tag-b", "C": "tag-c-newsuffix", "D": "tag-d"}),
             (None, ["A"], {"B": "tag-b", "C": "tag-c-newsuffix", "D": "tag-d"}),
             (None, ["B", "C"], {"D": "tag-d"}),
             (None, ["F"], {"D": "tag-d"}),
             (None, ["D", "F"], {})]
    for tags, keys, want in steps:
        if tags:
            lam.tag_resource(Resource=arn, Tags=tags)
        else:
            lam.untag_resource(Resource=arn, TagKeys=keys)
        assert lam.list_tags(Resource=arn)["Tags"] == want, (tags, keys)

    prefix = "arn:aws:lambda:us-east-1:000000000000"
    uuid = "3f2c1e4a-5b6d-4e7f-8a9b-0c1d2e3f4a5b"
    for kind, name, text in (("event-source-mapping", uuid, "Event source mapping not found"),
                             ("capacity-provider", uuid, "Capacity provider not found"),
                             ("function", uuid, "Function not found")):
        missing = f"{prefix}:{kind}:{name}"
        want = ("ResourceNotFoundException", f"{text}: {missing}")
        assert error_of(lambda: lam.tag_resource(Resource=missing, Tags={"A": "B"})) == want
        assert error_of(lambda: lam.untag_resource(Resource=missing, TagKeys=["A"])) == want
        assert error_of(lambda: lam.list_tags(Resource=missing)) == want
    for bad in (f"{prefix}:event-source-mapping:{uuid}:alias", f"{prefix}:foobar:{uuid}"):
        assert error_of(lambda: lam.list_tags(Resource=bad)) == (
            "ValidationException", "1 validation error detected: " + pattern_error(bad, "resource", TAGGABLE))
    assert error_of(lambda: lam.list_tags(Resource=f"{prefix}:function:{uuid}:alias")) == (
        "InvalidParameterValueException",
        "Tags on function aliases and versions are not supported. Please specify a function ARN.")


def test_list_functions_with_all_versions(lam):
    """test_list_functions: FunctionVersion=ALL lists `$LATEST` (its ARN qualified) and every
    published version, page by page; any other value is refused with AWS's enum message."""
    create(lam, "fid-list-a", Publish=True)
    create(lam, "fid-list-b")
    err = error_of(lambda: lam.list_functions(FunctionVersion="invalid"))
    assert err == ("ValidationException", "1 validation error detected: Value 'invalid' at 'functionVersion' failed "
                   "to satisfy constraint: Member must satisfy enum value set: [ALL]")
    pages = lam.get_paginator("list_functions")
    everything = pages.paginate(FunctionVersion="ALL", PaginationConfig={"PageSize": 1}).build_full_result()
    ours = [(f["FunctionName"], f["Version"], f["FunctionArn"].rsplit(":", 1)[-1])
            for f in everything["Functions"] if f["FunctionName"].startswith("fid-list-")]
    assert ours == [("fid-list-a", "$LATEST", "$LATEST"), ("fid-list-a", "1", "1"),
                    ("fid-list-b", "$LATEST", "$LATEST")], ours
    assert all("State" not in f for f in everything["Functions"])
    default = pages.paginate(PaginationConfig={"PageSize": 1}).build_full_result()
    ours = [(f["FunctionName"], f["Version"], f["FunctionArn"].split(":")[-1])
            for f in default["Functions"] if f["FunctionName"].startswith("fid-list-")]
    assert ours == [("fid-list-a", "$LATEST", "fid-list-a"), ("fid-list-b", "$LATEST", "fid-list-b")], ours


def test_add_permission_to_an_alias_with_its_revision_id(lam):
    """test_lambda_permission_fn_versioning: an alias without a policy takes the alias's own
    RevisionId; any other is refused as AWS words it."""
    create(lam, "fid-perm-alias")
    wait_active(lam, "fid-perm-alias")
    lam.publish_version(FunctionName="fid-perm-alias")
    alias = lam.create_alias(FunctionName="fid-perm-alias", Name="permission-alias", FunctionVersion="1")
    statement = dict(StatementId="s3", Action="lambda:InvokeFunction", Principal="s3.amazonaws.com",
                     SourceArn="arn:aws:s3:::some-bucket")
    err = error_of(lambda: lam.add_permission(FunctionName="fid-perm-alias", Qualifier="permission-alias",
                                              RevisionId="wrong", **statement))
    assert err == ("PreconditionFailedException", "The Revision Id provided does not match the latest Revision Id. "
                   "Call the GetPolicy API to retrieve the latest Revision Id")
    err = error_of(lambda: lam.add_permission(FunctionName="fid-perm-alias:$LATEST", **statement))
    assert err == ("InvalidParameterValueException", "We currently do not support adding policies for $LATEST.")
    added = lam.add_permission(FunctionName="fid-perm-alias:permission-alias", Qualifier="permission-alias",
                               RevisionId=alias["RevisionId"], **statement)
    assert added["ResponseMetadata"]["HTTPStatusCode"] == 201
    policy = lam.get_policy(FunctionName="fid-perm-alias", Qualifier="permission-alias")
    resource = json.loads(policy["Policy"])["Statement"][0]["Resource"]
    assert resource.endswith(":function:fid-perm-alias:permission-alias"), resource
