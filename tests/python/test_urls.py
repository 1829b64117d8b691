"""Function URLs and resource policies: the URL API through boto3 and the aws CLI, requests
through plain HTTP clients (http.client and curl), SigV4-signed requests, CORS, streaming,
and InvokeWithResponseStream."""

import base64
import datetime
import http.client
import json
import subprocess
import tempfile
import time
from pathlib import Path
from unittest import mock
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws, fixture_zip, make_client, require_tool, zip_bytes

APP = r'''
import base64, json

def handler(event, context):
    path = event["rawPath"]
    if path == "/event":
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": json.dumps(event)}
    if path == "/binary":
        return {"statusCode": 202, "headers": {"content-type": "application/octet-stream", "x-extra": "1"},
                "cookies": ["a=1; Path=/", "b=2"], "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    if path == "/bare":
        return {"hello": "world"}
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/status":
        return {"statusCode": int(event["queryStringParameters"]["code"]), "body": "custom"}
    return {"statusCode": 200, "body": context.invoked_function_arn}
'''


def public_url(lam, name, qualifier=None, **kw):
    """A URL with AuthType NONE plus the policy statement AWS requires for it."""
    q = {"Qualifier": qualifier} if qualifier else {}
    url = lam.create_function_url_config(FunctionName=name, AuthType="NONE", **q, **kw)
    lam.add_permission(FunctionName=name, StatementId="public-url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE", **q)
    return url["FunctionUrl"]


def request(url, method="GET", path="/", body=None, headers=None):
    """A plain HTTP request to a function URL (connecting to loopback, Host from the URL)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=60)
    h = {"Host": parts.netloc, **(headers or {})}
    conn.request(method, path, body=body, headers=h)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.headers, data


@pytest.fixture(scope="module")
def app(lam):
    lam.create_function(FunctionName="web", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
    return public_url(lam, "web")


def test_url_config_api_lifecycle(lam, server):
    lam.create_function(FunctionName="urlapi", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})}, Publish=True)
    lam.create_alias(FunctionName="urlapi", Name="live", FunctionVersion="1")
    created = lam.create_function_url_config(FunctionName="urlapi", AuthType="AWS_IAM",
                                             Cors={"AllowOrigins": ["https://a.example"], "MaxAge": 60})
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    url = created["FunctionUrl"]
    host = urlsplit(url).hostname
    assert url == f"http://{host}:{server.port}/"
    assert host.endswith(".lambda-url.us-east-1.localhost") and len(host.split(".")[0]) == 32
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:urlapi"
    assert created["Cors"] == {"AllowOrigins": ["https://a.example"], "MaxAge": 60}

    with pytest.raises(ClientError) as e:
        lam.create_function_url_config(FunctionName="urlapi", AuthType="NONE")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    assert "FunctionUrlConfig exists for this Lambda function" in e.value.response["Error"]["Message"]
    for bad in ("1", "$LATEST"):
        with pytest.raises(ClientError) as e:
            lam.create_function_url_config(FunctionName="urlapi", Qualifier=bad, AuthType="NONE")
        assert e.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as e:
        lam.create_function_url_config(FunctionName="urlapi", AuthType="OPEN")
    assert e.value.response["Error"]["Code"] == "ValidationException"

    alias = lam.create_function_url_config(FunctionName="urlapi", Qualifier="live", AuthType="NONE",
                                           InvokeMode="RESPONSE_STREAM")
    assert alias["FunctionArn"].endswith(":function:urlapi:live") and alias["FunctionUrl"] != url
    got = lam.get_function_url_config(FunctionName="urlapi", Qualifier="live")
    assert (got["AuthType"], got["InvokeMode"]) == ("NONE", "RESPONSE_STREAM")
    assert got["LastModifiedTime"] and got["CreationTime"]

    updated = lam.update_function_url_config(FunctionName="urlapi", AuthType="NONE", Cors={"AllowOrigins": ["*"]})
    assert (updated["AuthType"], updated["Cors"], updated["FunctionUrl"]) == ("NONE", {"AllowOrigins": ["*"]}, url)
    listed = lam.list_function_url_configs(FunctionName="urlapi")["FunctionUrlConfigs"]
    assert sorted(c["FunctionArn"].rsplit(":", 1)[-1] for c in listed) == ["live", "urlapi"]
    page = lam.list_function_url_configs(FunctionName="urlapi", MaxItems=1)
    assert len(page["FunctionUrlConfigs"]) == 1 and page["NextMarker"]

    # The aws CLI sees the same.
    _, out, _ = aws(server, "lambda", "get-function-url-config", "--function-name", "urlapi")
    assert out["FunctionUrl"] == url

    lam.delete_function_url_config(FunctionName="urlapi")
    with pytest.raises(ClientError) as e:
        lam.get_function_url_config(FunctionName="urlapi")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == "The resource you requested does not exist."
    lam.delete_alias(FunctionName="urlapi", Name="live")
    assert lam.list_function_url_configs(FunctionName="urlapi")["FunctionUrlConfigs"] == []


def test_permissions_and_policy(lam):
    lam.create_function(FunctionName="pol", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
    with pytest.raises(ClientError) as e:
        lam.get_policy(FunctionName="pol")
    # AWS (test_permission_exceptions, test_remove_multi_permissions snapshots).
    assert (e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]) == (
        "ResourceNotFoundException", "The resource you requested does not exist.")
    out = lam.add_permission(FunctionName="pol", StatementId="s3", Action="lambda:InvokeFunction",
                             Principal="s3.amazonaws.com", SourceAccount="123456789012",
                             SourceArn="arn:aws:s3:::my-bucket")
    statement = json.loads(out["Statement"])
    assert statement == {
        "Sid": "s3", "Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": "arn:aws:lambda:us-east-1:000000000000:function:pol",
        "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::my-bucket"}},
    }
    lam.add_permission(FunctionName="pol", StatementId="acct", Action="lambda:GetFunction", Principal="111122223333")
    policy = lam.get_policy(FunctionName="pol")
    doc = json.loads(policy["Policy"])
    assert (doc["Version"], doc["Id"]) == ("2012-10-17", "default")
    assert [s["Sid"] for s in doc["Statement"]] == ["s3", "acct"]
    assert doc["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}

    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="pol", StatementId="s3", Action="lambda:InvokeFunction", Principal="*")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    assert e.value.response["Error"]["Message"] == ("The statement id (s3) provided already exists. "
                                                    "Please provide a new statement id, or remove the existing statement.")
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="pol", StatementId="x", Action="lambda:InvokeFunction", Principal="!!")
    assert e.value.response["Error"]["Message"] == "The provided principal was invalid. Please check the principal and try again."
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="pol", Qualifier="$LATEST", StatementId="x",
                           Action="lambda:InvokeFunction", Principal="*")
    assert e.value.response["Error"]["Message"] == "We currently do not support adding policies for $LATEST."
    with pytest.raises(ClientError) as e:
        lam.add_permission(FunctionName="pol", StatementId="x", Action="lambda:InvokeFunction", Principal="*",
                           RevisionId="not-the-revision")
    assert e.value.response["Error"]["Code"] == "PreconditionFailedException"
    lam.add_permission(FunctionName="pol", StatementId="x", Action="lambda:InvokeFunction", Principal="*",
                       RevisionId=policy["RevisionId"])

    lam.remove_permission(FunctionName="pol", StatementId="s3")
    with pytest.raises(ClientError) as e:
        lam.remove_permission(FunctionName="pol", StatementId="s3")
    assert e.value.response["Error"]["Message"] == "Statement s3 is not found in resource policy."
    lam.remove_permission(FunctionName="pol", StatementId="acct")
    lam.remove_permission(FunctionName="pol", StatementId="x")
    with pytest.raises(ClientError):
        lam.get_policy(FunctionName="pol")


def test_url_requests_map_to_payload_v2_events(app):
    status, headers, body = request(app, "POST", "/event?a=1&a=2&b=x%20y",
                                    body=b'{"k": "v"}',
                                    headers={"Content-Type": "application/json", "X-Multi": "one",
                                             "Cookie": "c1=v1; c2=v2", "User-Agent": "plain-http"})
    assert status == 200, body
    event = json.loads(body)
    host = urlsplit(app).hostname
    assert (event["version"], event["routeKey"], event["rawPath"]) == ("2.0", "$default", "/event")
    assert event["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert event["cookies"] == ["c1=v1", "c2=v2"]
    assert event["headers"]["x-multi"] == "one" and "cookie" not in event["headers"]
    assert (event["body"], event["isBase64Encoded"]) == ('{"k": "v"}', False)
    ctx = event["requestContext"]
    assert ctx["apiId"] == ctx["domainPrefix"] == host.split(".")[0]
    assert ctx["domainName"] == host and ctx["accountId"] == "anonymous"
    assert ctx["http"] == {"method": "POST", "path": "/event", "protocol": "HTTP/1.1",
                           "sourceIp": "127.0.0.1", "userAgent": "plain-http"}
    assert abs(ctx["timeEpoch"] / 1000 - time.time()) < 60 and ctx["time"].endswith(" +0000")
    assert headers["x-amzn-RequestId"] == ctx["requestId"]

    # Binary in both directions: a non-text body arrives base64-encoded; a base64 answer is decoded.
    status, _, body = request(app, "PUT", "/event", body=bytes([0, 255, 1]),
                              headers={"Content-Type": "application/octet-stream"})
    event = json.loads(body)
    assert (event["isBase64Encoded"], base64.b64decode(event["body"])) == (True, bytes([0, 255, 1]))
    status, headers, body = request(app, "GET", "/binary")
    assert (status, body) == (202, bytes(range(256)))
    assert headers["x-extra"] == "1" and headers["content-type"] == "application/octet-stream"
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]

    status, headers, body = request(app, "GET", "/bare")
    assert (status, json.loads(body), headers["content-type"]) == (200, {"hello": "world"}, "application/json")
    status, _, body = request(app, "GET", "/status?code=418")
    assert (status, body) == (418, b"custom")
    status, _, body = request(app, "GET", "/fail")
    assert (status, body) == (502, b'{"Message":"Internal Server Error"}')
    status, _, body = request(app, "POST", "/event", body=b"x" * (6 * 1024 * 1024 + 1))
    assert status == 413


def test_url_with_curl(app):
    curl = require_tool("curl")
    # curl resolves *.localhost to loopback itself: the FunctionUrl works as it is.
    out = subprocess.run([curl, "-s", "-i", "-X", "POST", "-H", "content-type: text/plain", "--data", "hi there",
                          "-H", "x-rep: 1", "-H", "x-rep: 2",
                          "-b", "session=abc", app + "event?x=1"], capture_output=True, timeout=60)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), out
    event = json.loads(body)
    assert (event["body"], event["cookies"], event["queryStringParameters"]) == ("hi there", ["session=abc"], {"x": "1"})
    assert event["requestContext"]["http"]["userAgent"].startswith("curl/")
    assert event["headers"]["x-rep"] == "1,2", "repeated headers are comma-joined"
    # Binary out, through curl: the bytes arrive decoded.
    out = subprocess.run([curl, "-s", app + "binary"], capture_output=True, timeout=60)
    assert out.stdout == bytes(range(256))


def test_none_auth_needs_the_policy(lam):
    lam.create_function(FunctionName="private", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
    url = lam.create_function_url_config(FunctionName="private", AuthType="NONE")["FunctionUrl"]
    status, headers, body = request(url)
    assert (status, json.loads(body)) == (403, {"Message": "Forbidden"})
    # A statement without the FunctionUrlAuthType condition is not enough.
    lam.add_permission(FunctionName="private", StatementId="no-cond", Action="lambda:InvokeFunctionUrl", Principal="*")
    assert request(url)[0] == 403
    lam.add_permission(FunctionName="private", StatementId="url", Action="lambda:InvokeFunctionUrl",
                       Principal="*", FunctionUrlAuthType="NONE")
    status, _, body = request(url)
    assert (status, body) == (200, b"arn:aws:lambda:us-east-1:000000000000:function:private")
    lam.remove_permission(FunctionName="private", StatementId="url")
    assert request(url)[0] == 403
    # An unknown URL id is refused as well.
    bogus = url.replace(urlsplit(url).hostname.split(".")[0], "a" * 32)
    assert request(bogus)[0] == 403


def test_alias_url_runs_the_alias(lam):
    lam.create_function(FunctionName="aliased", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})}, Publish=True)
    lam.create_alias(FunctionName="aliased", Name="prod", FunctionVersion="1")
    url = public_url(lam, "aliased", qualifier="prod")
    status, headers, body = request(url)
    assert (status, body) == (200, b"arn:aws:lambda:us-east-1:000000000000:function:aliased:prod")
    # The $LATEST URL is a different one, with its own policy.
    latest = lam.create_function_url_config(FunctionName="aliased", AuthType="NONE")["FunctionUrl"]
    assert request(latest)[0] == 403


def test_cors_preflight_and_headers(lam):
    lam.create_function(FunctionName="cors", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
    url = public_url(lam, "cors", Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["GET", "POST"],
                                        "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-extra"],
                                        "MaxAge": 300, "AllowCredentials": True})
    status, headers, body = request(url, "OPTIONS", "/", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-custom"})
    assert (status, body) == (200, b"")
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "x-custom"
    assert headers["access-control-max-age"] == "300"
    assert headers["access-control-allow-credentials"] == "true"
    status, headers, _ = request(url, "OPTIONS", "/", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert status == 200 and "access-control-allow-origin" not in headers
    status, headers, _ = request(url, "GET", "/binary", headers={"Origin": "https://app.example"})
    assert status == 202
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert headers["access-control-expose-headers"] == "x-extra"
    status, headers, _ = request(url, "GET", "/binary", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in headers


def signed(url, key, secret, method="GET", path="/", body=b"", when=None):
    creds = Credentials(key, secret)
    req = AWSRequest(method=method, url=url.rstrip("/") + path, data=body)
    auth = SigV4Auth(creds, "lambda", "us-east-1")
    if when is None:
        auth.add_auth(req)
    else:  # a client whose clock is wrong: a correct signature, made at `when`
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            auth.add_auth(req)
    return dict(req.headers.items())


def test_iam_auth_verifies_signatures():
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-creds-"))
    creds = tmp / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDURL\naws_secret_access_key = url-secret\n")
    server = Server(extra=["--credentials-file", str(creds)])
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="iam", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
        url = lam.create_function_url_config(FunctionName="iam", AuthType="AWS_IAM")["FunctionUrl"]
        assert request(url)[0] == 403, "unsigned"
        assert request(url, headers=signed(url, "AKIDURL", "wrong"))[0] == 403, "bad signature"
        assert request(url, headers=signed(url, "AKIDOTHER", "url-secret"))[0] == 403, "unknown key"
        old = datetime.datetime(2020, 1, 1)
        assert request(url, headers=signed(url, "AKIDURL", "url-secret", when=old))[0] == 403, "skewed clock"
        body = b'{"signed": true}'
        status, _, out = request(url, "POST", "/event?q=1", body=body,
                                 headers={**signed(url + "event?q=1", "AKIDURL", "url-secret", "POST", "", body),
                                          "Content-Type": "application/json"})
        assert status == 200, out
        event = json.loads(out)
        iam = event["requestContext"]["authorizer"]["iam"]
        assert iam["accessKey"] == "AKIDURL" and event["requestContext"]["accountId"] == "000000000000"
        # Tampering with the signed body breaks the signature.
        headers = {**signed(url + "event", "AKIDURL", "url-secret", "POST", "", body), "Content-Type": "application/json"}
        assert request(url, "POST", "/event", body=b'{"signed": false}', headers=headers)[0] == 403
    finally:
        assert server.stop() == 0


def test_streamed_url_response_arrives_as_it_is_written(lam):
    lam.create_function(FunctionName="streamer", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("stream")}, Timeout=10)
    url = public_url(lam, "streamer", InvokeMode="RESPONSE_STREAM")
    parts = urlsplit(url)
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=60)
    conn.request("GET", "/", headers={"Host": parts.netloc})
    resp = conn.getresponse()
    assert resp.status == 201
    assert resp.headers["x-streamed"] == "yes" and resp.headers["content-type"] == "text/plain"
    assert resp.headers.get_all("set-cookie") == ["flavour=oat"]
    first = resp.read1(64)
    t_first = time.monotonic()
    rest = resp.read()
    t_end = time.monotonic()
    assert (first, rest) == (b"first\n", b"second\n")
    # The first line was readable while the function still had 1.5 s to go.
    assert t_end - t_first > 1.0, (t_end - t_first)
    conn.close()


def test_invoke_with_response_stream(lam):
    lam.create_function(FunctionName="streamer2", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("stream")}, Timeout=10)
    out = lam.invoke_with_response_stream(FunctionName="streamer2", Payload=b'{"pause_ms": 200}')
    assert out["StatusCode"] == 200 and out["ExecutedVersion"] == "$LATEST"
    events = list(out["EventStream"])
    data = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    prelude, _, body = data.partition(b"\0" * 8)
    assert json.loads(prelude)["statusCode"] == 201 and body == b"first\nsecond\n"
    assert events[-1] == {"InvokeComplete": {}}

    out = lam.invoke_with_response_stream(FunctionName="streamer2", Payload=b'{"pause_ms": 100, "fail": true}')
    events = list(out["EventStream"])
    done = events[-1]["InvokeComplete"]
    assert done["ErrorCode"] == "Runtime.StreamError", done

    # A buffered function answers in one chunk.
    lam.create_function(FunctionName="buffered", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": ("def handler(e, c):\n    return {'got': e}\n", 0o644)})})
    out = lam.invoke_with_response_stream(FunctionName="buffered", Payload=b'{"x": 1}', LogType="Tail")
    events = list(out["EventStream"])
    assert json.loads(events[0]["PayloadChunk"]["Payload"]) == {"got": {"x": 1}}
    assert "START RequestId" in base64.b64decode(events[-1]["InvokeComplete"]["LogResult"]).decode()
    with pytest.raises(ClientError) as e:
        lam.invoke_with_response_stream(FunctionName="buffered", InvocationType="Event", Payload=b"{}")
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"


NODE_STREAM = r'''
export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const body = event.rawPath !== undefined ? {} : event;
  if (body.fail) {
    responseStream.write("partial\n");
    throw new TypeError("stream broke");
  }
  const out = awslambda.HttpResponseStream.from(responseStream, {
    statusCode: 206, headers: { "content-type": "text/plain", "x-node": "yes" }, cookies: ["n=1"] });
  out.write("node first\n");
  await new Promise((r) => setTimeout(r, 1200));
  out.write("node second\n");
  out.end();
});
'''


def test_node_streamify_response():
    from test_runtimes import node_runtime
    runtime = node_runtime()
    server = Server()
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="node-stream", Runtime=runtime, Handler="index.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"index.mjs": (NODE_STREAM, 0o644)})}, Timeout=10)
        url = public_url(lam, "node-stream", InvokeMode="RESPONSE_STREAM")
        parts = urlsplit(url)
        conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=60)
        conn.request("GET", "/", headers={"Host": parts.netloc})
        resp = conn.getresponse()
        assert resp.status == 206, resp.read()
        assert resp.headers["x-node"] == "yes" and resp.headers.get_all("set-cookie") == ["n=1"]
        first = resp.read1(64)
        t_first = time.monotonic()
        rest = resp.read()
        assert (first, rest) == (b"node first\n", b"node second\n")
        assert time.monotonic() - t_first > 0.8
        conn.close()

        out = lam.invoke_with_response_stream(FunctionName="node-stream", Payload=b'{"fail": true}')
        events = list(out["EventStream"])
        data = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
        assert data == b"partial\n"
        done = events[-1]["InvokeComplete"]
        assert done["ErrorCode"] == "TypeError" and "stream broke" in done["ErrorDetails"], done
    finally:
        assert server.stop() == 0
