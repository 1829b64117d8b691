"""API authentication: with --auth sigv4 every Lambda, Logs and EventBridge request must be
signed by a key of the credentials file; boto3 and the aws CLI with real credentials get in,
and each kind of refusal gets AWS's error type."""

import datetime
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from unittest import mock

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import BIN, ROLE, VENV_BIN, Server, _free_port, tiny_zip, wait_for_sdk, zip_bytes

KEY, SECRET = "AKIDLAMBDAD", "lambdad-secret-key"
KMS_KEY = "arn:aws:kms:us-east-1:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def client(server, service="lambda", key=KEY, secret=SECRET, **config):
    return boto3.client(service, endpoint_url=server.endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 0}, **config))


@pytest.fixture(scope="module")
def secured():
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-auth-"))
    creds = tmp / "credentials"
    (tmp / "reader.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*", "lambda:InvokeFunction"], "Resource": "*"},
        {"Effect": "Deny", "Action": "lambda:Invoke*", "Resource": "arn:aws:lambda:*:*:function:secret*"},
        {"Effect": "Allow", "Action": "logs:Describe*", "Resource": "*"}]}))
    creds.write_text(f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
                     "[other]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other-secret\n"
                     "[reader]\naws_access_key_id = AKIDREADER\naws_secret_access_key = reader-secret\n"
                     "policy = reader.json\n")
    server = Server(extra=["--auth", "sigv4", "--credentials-file", str(creds)])
    server.start()
    yield server
    assert server.stop() == 0


def error_code(call):
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_signed_requests_get_in(secured):
    lam = client(secured)
    lam.create_function(FunctionName="authed", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": tiny_zip()})
    assert [f["FunctionName"] for f in lam.list_functions()["Functions"]] == ["authed"]
    # Any key of the file works; so do the Logs and EventBridge APIs.
    assert client(secured, key="AKIDOTHER", secret="other-secret").get_function(FunctionName="authed")
    assert "logGroups" in client(secured, "logs").describe_log_groups()
    assert "Rules" in client(secured, "events").list_rules()


def test_each_refusal_has_aws_error_type(secured):
    assert error_code(lambda: client(secured, secret="wrong").list_functions())[0] == "InvalidSignatureException"
    assert error_code(lambda: client(secured, key="AKIDNOBODY").list_functions()) == (
        "UnrecognizedClientException", "The security token included in the request is invalid.")
    assert error_code(lambda: client(secured, signature_version=UNSIGNED).list_functions())[0] == \
        "MissingAuthenticationTokenException"
    with mock.patch("botocore.auth.get_current_datetime", return_value=datetime.datetime(2020, 1, 1)):
        code, message = error_code(lambda: client(secured).list_functions())
    assert code == "InvalidSignatureException" and message.startswith("Signature expired")
    # The JSON 1.1 services refuse the same way.
    assert error_code(lambda: client(secured, "logs", secret="wrong").describe_log_groups())[0] == \
        "InvalidSignatureException"
    assert error_code(lambda: client(secured, "events", key="AKIDNOBODY").list_rules())[0] == \
        "UnrecognizedClientException"


def test_aws_cli_with_real_credentials(secured):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=KEY, AWS_SECRET_ACCESS_KEY=SECRET, AWS_DEFAULT_REGION="us-east-1")
    base = [str(VENV_BIN / "aws"), "--endpoint-url", secured.endpoint, "lambda", "list-functions"]
    ok = subprocess.run(base, capture_output=True, text=True, env=env, timeout=60)
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(base + ["--no-sign-request"], capture_output=True, text=True, env=env, timeout=60)
    assert refused.returncode != 0 and "MissingAuthenticationToken" in refused.stderr


def test_health_stays_open(secured):
    import urllib.request
    with urllib.request.urlopen(secured.endpoint + "/health", timeout=5) as r:
        assert r.status == 200


def test_beyond_loopback_needs_credentials():
    data = tempfile.mkdtemp(prefix="lambdad-auth-")
    out = subprocess.run([str(BIN), "serve", "--listen", f"0.0.0.0:{_free_port()}", "--data-dir", data],
                         capture_output=True, text=True, timeout=30,
                         env={k: v for k, v in os.environ.items() if not k.startswith("LAMBDAD_")})
    assert out.returncode != 0 and "--credentials-file" in out.stderr


def test_policies_limit_what_a_key_may_do(secured):
    admin = client(secured)
    for name in ("open-fn", "secret-fn"):
        admin.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                              Code={"ZipFile": tiny_zip()})
    reader = client(secured, key="AKIDREADER", secret="reader-secret")
    assert {"open-fn", "secret-fn"} <= {f["FunctionName"] for f in reader.list_functions()["Functions"]}
    assert reader.get_function(FunctionName="open-fn")["Configuration"]["FunctionName"] == "open-fn"
    out = reader.invoke(FunctionName="open-fn", Payload=b"{}")
    assert out["StatusCode"] == 200, "allowed (the function itself fails, which is not a 403)"
    code, message = error_code(lambda: reader.delete_function(FunctionName="open-fn"))
    assert code == "AccessDeniedException"
    assert message == ("User: arn:aws:iam::000000000000:user/reader is not authorized to perform: "
                       "lambda:DeleteFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:open-fn "
                       "because no identity-based policy allows the lambda:DeleteFunction action")
    code, message = error_code(lambda: reader.invoke(FunctionName="secret-fn", Payload=b"{}"))
    assert code == "AccessDeniedException" and message.endswith("with an explicit deny in an identity-based policy")
    assert "logGroups" in client(secured, "logs", key="AKIDREADER", secret="reader-secret").describe_log_groups()
    code, _ = error_code(lambda: client(secured, "events", key="AKIDREADER", secret="reader-secret").list_rules())
    assert code == "AccessDeniedException"


CALLER = """
import json
import os

import boto3


def handler(event, context):
    lam = boto3.client("lambda")
    try:
        out = lam.invoke(FunctionName=event["name"], Payload=b"{}")
        return {"ok": json.loads(out["Payload"].read())}
    except Exception as e:  # the service's refusal, as the SDK reports it
        code = getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)
        return {"error": code, "key": os.environ["AWS_ACCESS_KEY_ID"][:4]}
"""


def role_server(tmp, ttl=None):
    """A SigV4 server whose role `caller` may invoke only `target`, with the three functions."""
    (tmp / "caller.json").write_text(json.dumps({"Statement": [
        {"Effect": "Allow", "Action": "lambda:InvokeFunction",
         "Resource": "arn:aws:lambda:*:*:function:target"}]}))
    creds = tmp / "credentials"
    creds.write_text(f"[default]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"
                     "[role/caller]\npolicy = caller.json\n")
    extra = ["--auth", "sigv4", "--credentials-file", str(creds)]
    server = Server(extra=extra + (["--role-credentials-ttl", ttl] if ttl else []))
    server.start()
    wait_for_sdk(server)  # the caller imports the runtime's boto3
    admin = client(server)
    for name in ("target", "other"):
        admin.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                              Code={"ZipFile": zip_bytes({"app.py": (f"def handler(e, c):\n    return '{name} says hi'\n", 0o644)})})
    admin.create_function(FunctionName="caller", Runtime="python3.12", Handler="app.handler",
                          Role="arn:aws:iam::000000000000:role/caller", Timeout=30,
                          Code={"ZipFile": zip_bytes({"app.py": (CALLER, 0o644)})})

    def call(name):
        out = admin.invoke(FunctionName="caller", Payload=json.dumps({"name": name}))
        return json.loads(out["Payload"].read())
    return server, call


def test_execution_role_credentials():
    # The role's credentials (of the default lifetime, 12 h) allow what its policy allows.
    server, call = role_server(Path(tempfile.mkdtemp(prefix="lambdad-roles-")))
    try:
        assert call("target") == {"ok": "target says hi"}, ("the role may invoke target", server.log()[-3000:])
        assert call("other") == {"error": "AccessDeniedException", "key": "ASIA"}, "but nothing else"
    finally:
        assert server.stop() == 0


def test_execution_role_credentials_expire():
    # A warm environment keeps the credentials it started with: they work until they expire
    # (6 s after the environment started), then lambdad refuses them with AWS's error. (On a
    # loaded machine the first call may already come after the expiry: it then sees the refusal.)
    server, call = role_server(Path(tempfile.mkdtemp(prefix="lambdad-roles-")), ttl="6s")
    try:
        started = time.monotonic()
        while (got := call("target")) == {"ok": "target says hi"}:
            assert time.monotonic() - started < 60, "the role's credentials never expired"
            time.sleep(0.5)
        assert got == {"error": "ExpiredTokenException", "key": "ASIA"}, (got, server.log()[-3000:])
    finally:
        assert server.stop() == 0


def test_environment_variables_sealed_at_rest(server, lam):
    lam.create_function(FunctionName="sealed", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (
                            "import os\ndef handler(e, c):\n    return os.environ['API_TOKEN']\n", 0o644)})},
                        Environment={"Variables": {"API_TOKEN": "tok-4f9a8e7d6c"}}, KMSKeyArn=KMS_KEY)
    config = lam.get_function_configuration(FunctionName="sealed")
    assert config["Environment"]["Variables"] == {"API_TOKEN": "tok-4f9a8e7d6c"}
    assert config["KMSKeyArn"] == KMS_KEY
    out = lam.invoke(FunctionName="sealed", Payload=b"{}")
    assert json.loads(out["Payload"].read()) == "tok-4f9a8e7d6c"
    for name in ("meta.db", "meta.db-wal"):
        path = server.data_dir / name
        data = path.read_bytes() if path.exists() else b""
        assert b"tok-4f9a8e7d6c" not in data, f"{name} holds the value in clear"
    assert oct((server.data_dir / "meta.key").stat().st_mode & 0o777) == "0o600"
