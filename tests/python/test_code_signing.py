"""Code signing configurations and the recursion configuration, with AWS's values from
LocalStack's AWS-validated snapshots (TestCodeSigningConfig, TestLambdaRecursion in
tests/aws/services/lambda_/test_lambda_api.snapshot.json of LocalStack's repository)."""

import json
import re

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, aws, zip_bytes

PY = zip_bytes({"index.py": ("def handler(event, context):\n    return event\n", 0o644)})
PY2 = zip_bytes({"index.py": ("def handler(event, context):\n    return {'v': 2}\n", 0o644)})
CSC_ARN = re.compile(r"^arn:aws:lambda:us-east-1:\d{12}:code-signing-config:(csc-[a-z0-9]{17})$")
PROFILE = "arn:aws:signer:us-east-1:111111111111:/signing-profiles/test"
DATE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")


def create(lam, name, **kw):
    return lam.create_function(FunctionName=name, Runtime="python3.12", Handler="index.handler", Role=ROLE,
                               Code={"ZipFile": PY}, **kw)


def new_config(lam, policy="Enforce"):
    return lam.create_code_signing_config(
        Description="Testing CodeSigning Config",
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
        CodeSigningPolicies={"UntrustedArtifactOnDeployment": policy},
    )


def failure(call):
    with pytest.raises(ClientError) as e:
        call()
    return e.value.response


def test_code_signing_config_lifecycle(lam):
    """test_function_code_signing_config: the shapes and statuses of the whole family."""
    create(lam, "csc-life")
    created = new_config(lam)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    config = created["CodeSigningConfig"]
    arn = config["CodeSigningConfigArn"]
    match = CSC_ARN.match(arn)
    assert match and config["CodeSigningConfigId"] == match.group(1), config
    assert config["AllowedPublishers"] == {"SigningProfileVersionArns": [PROFILE]}
    assert config["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    assert config["Description"] == "Testing CodeSigning Config"
    assert DATE.match(config["LastModified"]), config["LastModified"]

    updated = lam.update_code_signing_config(CodeSigningConfigArn=arn,
                                             CodeSigningPolicies={"UntrustedArtifactOnDeployment": "Warn"})
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert updated["CodeSigningConfig"]["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert updated["CodeSigningConfig"]["Description"] == "Testing CodeSigning Config"
    got = lam.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]
    assert got == updated["CodeSigningConfig"]

    put = lam.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName="csc-life")
    assert (put["CodeSigningConfigArn"], put["FunctionName"]) == (arn, "csc-life")
    got = lam.get_function_code_signing_config(FunctionName="csc-life")
    assert (got["CodeSigningConfigArn"], got["FunctionName"]) == (arn, "csc-life")

    listed = lam.list_code_signing_configs()["CodeSigningConfigs"]
    assert [c for c in listed if c["CodeSigningConfigArn"] == arn] == [updated["CodeSigningConfig"]]
    fns = lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"]
    assert fns == [lam.get_function(FunctionName="csc-life")["Configuration"]["FunctionArn"]]

    # In use: not deletable until detached.
    err = failure(lambda: lam.delete_code_signing_config(CodeSigningConfigArn=arn))
    assert err["Error"]["Code"] == "ResourceConflictException"
    assert lam.delete_function_code_signing_config(FunctionName="csc-life")["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert lam.delete_code_signing_config(CodeSigningConfigArn=arn)["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.delete_function(FunctionName="csc-life")


def test_code_signing_not_found_errors(lam):
    """test_code_signing_not_found_excs: AWS's errors, messages and `Type` members."""
    create(lam, "csc-errors")
    arn = new_config(lam)["CodeSigningConfig"]["CodeSigningConfigArn"]
    invalid = arn[:-1] + ("x" if arn[-1] != "x" else "y")
    missing_fn = "csc-test-doesnotexist"
    account = arn.split(":")[4]
    fn_not_found = f"Function not found: arn:aws:lambda:us-east-1:{account}:function:{missing_fn}"
    csc_not_found = f"The Lambda code signing configuration {invalid} can not be found."

    for call in (lambda: lam.delete_code_signing_config(CodeSigningConfigArn=invalid),
                 lambda: lam.update_code_signing_config(CodeSigningConfigArn=invalid, Description="new-description"),
                 lambda: lam.update_code_signing_config(CodeSigningConfigArn=invalid),
                 lambda: lam.get_code_signing_config(CodeSigningConfigArn=invalid),
                 lambda: lam.list_functions_by_code_signing_config(CodeSigningConfigArn=invalid)):
        err = failure(call)
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert err["Error"] == {"Code": "ResourceNotFoundException", "Message": csc_not_found}
        assert err["Message"] == csc_not_found and "Type" not in err, err

    nothing = lam.delete_function_code_signing_config(FunctionName="csc-errors")
    assert nothing["ResponseMetadata"]["HTTPStatusCode"] == 204
    for call in (lambda: lam.delete_function_code_signing_config(FunctionName=missing_fn),
                 lambda: lam.put_function_code_signing_config(FunctionName=missing_fn, CodeSigningConfigArn=arn),
                 lambda: lam.get_function_code_signing_config(FunctionName=missing_fn)):
        err = failure(call)
        assert err["Error"] == {"Code": "ResourceNotFoundException", "Message": fn_not_found}
        assert err["Type"] == "User"

    csc_missing = ("The code signing configuration cannot be found. Check that the provided configuration is not "
                   f"deleted: {invalid}.")
    for fn in ("csc-errors", missing_fn):  # the configuration is checked first
        err = failure(lambda: lam.put_function_code_signing_config(FunctionName=fn, CodeSigningConfigArn=invalid))
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
        assert err["Error"] == {"Code": "CodeSigningConfigNotFoundException", "Message": csc_missing}
        assert err["Type"] == "User"

    unchanged = lam.update_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]
    assert unchanged["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Enforce"}
    without = lam.get_function_code_signing_config(FunctionName="csc-errors")
    assert set(without) == {"ResponseMetadata"}, without
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)["FunctionArns"] == []


def test_enforce_blocks_unsigned_code_and_warn_deploys_it(lam, server):
    """Nothing lambdad receives is signed: Enforce refuses every deployment, Warn deploys it."""
    enforce = new_config(lam, "Enforce")["CodeSigningConfig"]["CodeSigningConfigArn"]
    warn = new_config(lam, "Warn")["CodeSigningConfig"]["CodeSigningConfigArn"]

    err = failure(lambda: create(lam, "csc-enforced", CodeSigningConfigArn=enforce))
    assert err["Error"]["Code"] == "CodeVerificationFailedException", err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "ENFORCE" in err["Error"]["Message"]
    assert failure(lambda: lam.get_function(FunctionName="csc-enforced"))["Error"]["Code"] == \
        "ResourceNotFoundException"
    arn_missing = enforce[:-1] + ("x" if enforce[-1] != "x" else "y")
    err = failure(lambda: create(lam, "csc-missing", CodeSigningConfigArn=arn_missing))
    assert err["Error"]["Code"] == "CodeSigningConfigNotFoundException"
    assert arn_missing in err["Error"]["Message"]

    create(lam, "csc-warned", CodeSigningConfigArn=warn)
    assert lam.get_function_code_signing_config(FunctionName="csc-warned")["CodeSigningConfigArn"] == warn
    lam.get_waiter("function_active_v2").wait(FunctionName="csc-warned")
    lam.update_function_code(FunctionName="csc-warned", ZipFile=PY2)
    lam.get_waiter("function_updated_v2").wait(FunctionName="csc-warned")
    out = lam.invoke(FunctionName="csc-warned", Payload=b"{}")
    assert json.loads(out["Payload"].read()) == {"v": 2}

    # Switching the function to the enforcing configuration blocks its next deployment.
    lam.put_function_code_signing_config(FunctionName="csc-warned", CodeSigningConfigArn=enforce)
    err = failure(lambda: lam.update_function_code(FunctionName="csc-warned", ZipFile=PY))
    assert err["Error"]["Code"] == "CodeVerificationFailedException"
    out = lam.invoke(FunctionName="csc-warned", Payload=b"{}")
    assert json.loads(out["Payload"].read()) == {"v": 2}

    # DeleteFunction forgets the attachment: the configuration is free to delete.
    lam.delete_function(FunctionName="csc-warned")
    assert lam.list_functions_by_code_signing_config(CodeSigningConfigArn=enforce)["FunctionArns"] == []
    lam.delete_code_signing_config(CodeSigningConfigArn=enforce)

    # The aws CLI lists what is left.
    _, listed, _ = aws(server, "lambda", "list-code-signing-configs")
    arns = [c["CodeSigningConfigArn"] for c in listed["CodeSigningConfigs"]]
    assert warn in arns and enforce not in arns


def test_recursion_config(lam):
    """TestLambdaRecursion: Terminate by default, Allow once put, AWS's enum error."""
    create(lam, "recursion-cfg")
    got = lam.get_function_recursion_config(FunctionName="recursion-cfg")
    assert got["RecursiveLoop"] == "Terminate"
    put = lam.put_function_recursion_config(FunctionName="recursion-cfg", RecursiveLoop="Allow")
    assert (put["RecursiveLoop"], put["ResponseMetadata"]["HTTPStatusCode"]) == ("Allow", 200)
    assert lam.get_function_recursion_config(FunctionName="recursion-cfg")["RecursiveLoop"] == "Allow"
    err = failure(lambda: lam.put_function_recursion_config(FunctionName="recursion-cfg",
                                                            RecursiveLoop="InvalidValue"))
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"] == {
        "Code": "ValidationException",
        "Message": "1 validation error detected: Value 'InvalidValue' at 'recursiveLoop' failed to satisfy "
                   "constraint: Member must satisfy enum value set: [Terminate, Allow]"}
    assert failure(lambda: lam.get_function_recursion_config(FunctionName="recursion-none"))["Error"]["Code"] == \
        "ResourceNotFoundException"
    # A new function of the same name starts from the default again.
    lam.delete_function(FunctionName="recursion-cfg")
    create(lam, "recursion-cfg")
    assert lam.get_function_recursion_config(FunctionName="recursion-cfg")["RecursiveLoop"] == "Terminate"
