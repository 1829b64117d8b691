"""API Gateway REST APIs (apigateway v1): the control plane through the aws CLI v2 and boto3, the
data plane (Host `API.execute-api.REGION.localhost:PORT`, path `/STAGE/...`) through http.client
and curl, asserting the REST proxy events functions received field by field and the answers
clients got; TOKEN and REQUEST Lambda authorizers; a FastAPI app through Mangum behind a REST API."""

import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import ROLE, make_client, require_tool, wait_for, zip_bytes
from gateway_helpers import allow_gateway, aws2, call, fastapi_zip, invocations

APP = r'''
import base64, json, time

def handler(event, context):
    path = event["path"]
    if path.endswith("/fail"):
        raise RuntimeError("boom")
    if path.endswith("/slow"):
        time.sleep(3)
        return {"statusCode": 200, "body": "late"}
    if path.endswith("/malformed"):
        return {"hello": "world"}
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"content-type": "image/png"}, "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    if path.endswith("/multi"):
        return {"statusCode": 201, "headers": {"x-single": "s"},
                "multiValueHeaders": {"x-m": ["1", "2"]}, "body": "made"}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"event": event})}
'''

# A TOKEN authorizer: `allow` gets an Allow policy on the methodArn with a context, `deny` a Deny,
# `other` an Allow of another method only, `unauthorized` the "Unauthorized" error. It counts calls.
TOKEN_AUTHORIZER = r'''
CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    token = event.get("authorizationToken") or event.get("headers", {}).get("x-token", "")
    if token == "unauthorized":
        raise Exception("Unauthorized")
    arn = event["methodArn"]
    resource = arn.rsplit("/", 2)[0] + "/POST/nothing" if token == "other" else arn
    effect = "Deny" if token == "deny" else "Allow"
    return {"principalId": "alice",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]},
            "context": {"calls": CALLS, "type": event["type"], "arn": arn, "vip": True}}
'''


def uri(arn):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


def endpoint(server, api_id):
    return f"http://{api_id}.execute-api.us-east-1.localhost:{server.port}"


def function(lam, name, code, timeout=10):
    return lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                               Role=ROLE, Code={"ZipFile": zip_bytes({"app.py": (code, 0o644)})},
                               Timeout=timeout)["FunctionArn"]


def event_of(body):
    return json.loads(body)["event"]


@pytest.fixture(scope="module")
def agw(server):
    return make_client(server.endpoint, "apigateway")


@pytest.fixture(scope="module")
def echo(lam):
    return function(lam, "rest-echo", APP)


def proxy_method(agw, api_id, resource_id, method, target, timeout=None, auth="NONE", authorizer=None):
    extra = {"authorizerId": authorizer} if authorizer else {}
    agw.put_method(restApiId=api_id, resourceId=resource_id, httpMethod=method,
                   authorizationType=auth, **extra)
    t = {"timeoutInMillis": timeout} if timeout else {}
    agw.put_integration(restApiId=api_id, resourceId=resource_id, httpMethod=method, type="AWS_PROXY",
                        integrationHttpMethod="POST", uri=uri(target), **t)


@pytest.fixture(scope="module")
def rest(server, lam, agw, echo):
    """An API: GET /items/{id}, GET /items/special, ANY /{proxy+}, GET /slow (1 s timeout),
    deployed to `prod` with a stage variable; image/png is binary."""
    api = agw.create_rest_api(name="shop", binaryMediaTypes=["image/png"])
    api_id, root = api["id"], api["rootResourceId"]
    items = agw.create_resource(restApiId=api_id, parentId=root, pathPart="items")["id"]
    item = agw.create_resource(restApiId=api_id, parentId=items, pathPart="{id}")["id"]
    special = agw.create_resource(restApiId=api_id, parentId=items, pathPart="special")["id"]
    proxy = agw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    slow = agw.create_resource(restApiId=api_id, parentId=root, pathPart="slow")["id"]
    for rid in (item, special):
        proxy_method(agw, api_id, rid, "GET", echo)
    proxy_method(agw, api_id, proxy, "ANY", echo)
    proxy_method(agw, api_id, slow, "GET", echo, timeout=1000)
    agw.create_deployment(restApiId=api_id, stageName="prod", variables={"color": "blue"})
    allow_gateway(lam, "rest-echo", api_id, sid=f"rest-{api_id}")
    return {"id": api_id, "url": endpoint(server, api_id), "item": item, "proxy": proxy, "root": root}


def test_control_plane_with_the_cli(server, lam, echo):
    api = aws2(server, "apigateway", "create-rest-api", "--name", "cli", "--description", "made by the CLI",
               "--binary-media-types", "image/png", "--endpoint-configuration", "types=REGIONAL")
    api_id = api["id"]
    assert (api["name"], api["description"], api["binaryMediaTypes"]) == ("cli", "made by the CLI", ["image/png"])
    assert api["endpointConfiguration"]["types"] == ["REGIONAL"] and api["apiKeySource"] == "HEADER"
    resources = aws2(server, "apigateway", "get-resources", "--rest-api-id", api_id)["items"]
    assert [r["path"] for r in resources] == ["/"] and "parentId" not in resources[0]
    root = resources[0]["id"]
    res = aws2(server, "apigateway", "create-resource", "--rest-api-id", api_id,
               "--parent-id", root, "--path-part", "pets")
    assert (res["path"], res["pathPart"], res["parentId"]) == ("/pets", "pets", root)
    m = aws2(server, "apigateway", "put-method", "--rest-api-id", api_id, "--resource-id", res["id"],
             "--http-method", "GET", "--authorization-type", "NONE",
             "--request-parameters", "method.request.querystring.q=false")
    assert (m["httpMethod"], m["authorizationType"], m["apiKeyRequired"]) == ("GET", "NONE", False)
    assert m["requestParameters"] == {"method.request.querystring.q": False}
    i = aws2(server, "apigateway", "put-integration", "--rest-api-id", api_id, "--resource-id", res["id"],
             "--http-method", "GET", "--type", "AWS_PROXY", "--integration-http-method", "POST",
             "--uri", uri(echo))
    assert (i["type"], i["httpMethod"], i["uri"], i["timeoutInMillis"]) == ("AWS_PROXY", "POST", uri(echo), 29000)
    mr = aws2(server, "apigateway", "put-method-response", "--rest-api-id", api_id, "--resource-id", res["id"],
              "--http-method", "GET", "--status-code", "200")
    assert mr["statusCode"] == "200"
    ir = aws2(server, "apigateway", "put-integration-response", "--rest-api-id", api_id,
              "--resource-id", res["id"], "--http-method", "GET", "--status-code", "200",
              "--selection-pattern", "")
    assert ir["statusCode"] == "200"
    got = aws2(server, "apigateway", "get-method", "--rest-api-id", api_id, "--resource-id", res["id"],
               "--http-method", "GET")
    assert got["methodIntegration"]["uri"] == uri(echo) and "200" in got["methodResponses"]
    assert "200" in got["methodIntegration"]["integrationResponses"]
    d = aws2(server, "apigateway", "create-deployment", "--rest-api-id", api_id, "--stage-name", "dev",
             "--variables", "color=red")
    assert d["id"] and d["createdDate"]
    stage = aws2(server, "apigateway", "get-stage", "--rest-api-id", api_id, "--stage-name", "dev")
    assert (stage["deploymentId"], stage["variables"]) == (d["id"], {"color": "red"})
    stage = aws2(server, "apigateway", "update-stage", "--rest-api-id", api_id, "--stage-name", "dev",
                 "--patch-operations", "op=replace,path=/variables/color,value=green",
                 "op=add,path=/variables/size,value=L")
    assert stage["variables"] == {"color": "green", "size": "L"}
    deployments = aws2(server, "apigateway", "get-deployments", "--rest-api-id", api_id)["items"]
    assert [x["id"] for x in deployments] == [d["id"]]
    # test-invoke-method runs the method without a deployment or a permission check bypass.
    allow_gateway(lam, "rest-echo", api_id, sid=f"cli-{api_id}")
    out = aws2(server, "apigateway", "test-invoke-method", "--rest-api-id", api_id, "--resource-id", res["id"],
               "--http-method", "GET", "--path-with-query-string", "/pets?q=cat",
               "--headers", "X-Test=yes")
    assert out["status"] == 200, out
    e = event_of(out["body"])
    assert (e["resource"], e["path"], e["queryStringParameters"]) == ("/pets", "/pets", {"q": "cat"})
    assert e["headers"]["x-test"] == "yes" and e["requestContext"]["stage"] == "test-invoke-stage"
    assert out["headers"]["content-type"] == "application/json" and "latency" in out and out["log"]
    api = aws2(server, "apigateway", "update-rest-api", "--rest-api-id", api_id, "--patch-operations",
               "op=replace,path=/name,value=renamed", "op=add,path=/binaryMediaTypes/image~1gif")
    assert (api["name"], api["binaryMediaTypes"]) == ("renamed", ["image/png", "image/gif"])
    aws2(server, "apigateway", "delete-rest-api", "--rest-api-id", api_id)
    proc = subprocess.run(["/usr/bin/aws", "--endpoint-url", server.endpoint, "apigateway", "get-rest-api",
                           "--rest-api-id", api_id], capture_output=True, text=True, timeout=60,
                          env={"AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "secret",
                               "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0 and "NotFoundException" in proc.stderr, proc.stderr


def test_errors_as_api_gateway_reports_them(agw, echo):
    with pytest.raises(ClientError) as e:
        agw.get_rest_api(restApiId="nope123456")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    api = agw.create_rest_api(name="errors")
    api_id, root = api["id"], api["rootResourceId"]
    with pytest.raises(ClientError) as e:
        agw.create_deployment(restApiId=api_id, stageName="prod")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    assert "doesn't contain any methods" in e.value.response["Error"]["Message"]
    agw.create_resource(restApiId=api_id, parentId=root, pathPart="a")
    with pytest.raises(ClientError) as e:
        agw.create_resource(restApiId=api_id, parentId=root, pathPart="a")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    greedy = agw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    with pytest.raises(ClientError) as e:
        agw.create_resource(restApiId=api_id, parentId=greedy, pathPart="x")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    agw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    with pytest.raises(ClientError) as e:
        agw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    assert e.value.response["Error"]["Code"] == "ConflictException"
    with pytest.raises(ClientError) as e:
        agw.get_integration(restApiId=api_id, resourceId=root, httpMethod="GET")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as e:
        agw.create_deployment(restApiId=api_id, stageName="prod")
    assert e.value.response["Error"]["Message"] == "No integration defined for method"
    with pytest.raises(ClientError) as e:
        agw.put_method(restApiId=api_id, resourceId=greedy, httpMethod="GET", authorizationType="CUSTOM",
                       authorizerId="missing")
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as e:
        agw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="AWS_PROXY",
                            integrationHttpMethod="POST", uri=uri(echo), timeoutInMillis=40000)
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    with pytest.raises(ClientError) as e:
        agw.get_stage(restApiId=api_id, stageName="nope")
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    # REST and HTTP APIs share the id space but not each other's operations.
    v2 = make_client(agw.meta.endpoint_url, "apigatewayv2")
    with pytest.raises(ClientError) as e:
        v2.get_api(ApiId=api_id)
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    assert api_id not in [a["ApiId"] for a in v2.get_apis()["Items"]]
    assert api_id in [a["id"] for a in agw.get_rest_apis()["items"]]


def test_the_proxy_event_field_by_field(server, rest):
    status, headers, body = call(rest["url"], "GET", "/prod/items/42?a=1&a=2&b=x",
                                 headers=[("X-Multi", "1"), ("X-Multi", "2"), ("User-Agent", "tester/1")])
    assert status == 200, body
    assert headers["x-amzn-RequestId"]
    e = event_of(body)
    assert "version" not in e
    assert (e["resource"], e["path"], e["httpMethod"]) == ("/items/{id}", "/items/42", "GET")
    assert e["headers"]["x-multi"] == "2" and e["multiValueHeaders"]["x-multi"] == ["1", "2"]
    assert e["headers"]["user-agent"] == "tester/1"
    assert e["queryStringParameters"] == {"a": "2", "b": "x"}
    assert e["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x"]}
    assert e["pathParameters"] == {"id": "42"}
    assert e["stageVariables"] == {"color": "blue"}
    assert (e["body"], e["isBase64Encoded"]) == (None, False)
    rc = e["requestContext"]
    assert (rc["resourceId"], rc["resourcePath"], rc["httpMethod"]) == (rest["item"], "/items/{id}", "GET")
    assert (rc["path"], rc["stage"], rc["protocol"]) == ("/prod/items/42", "prod", "HTTP/1.1")
    assert (rc["apiId"], rc["domainPrefix"]) == (rest["id"], rest["id"])
    assert rc["domainName"] == urlsplit(rest["url"]).hostname
    assert rc["accountId"].isdigit() and rc["requestId"] and rc["extendedRequestId"]
    assert abs(rc["requestTimeEpoch"] / 1000 - time.time()) < 60
    assert time.strptime(rc["requestTime"], "%d/%b/%Y:%H:%M:%S +0000")
    assert rc["identity"]["sourceIp"] == "127.0.0.1" and rc["identity"]["userAgent"] == "tester/1"
    assert rc["identity"]["apiKey"] is None and "authorizer" not in rc
    # Literal before {param} before {proxy+}; the greedy parameter takes the rest of the path.
    assert event_of(call(rest["url"], "GET", "/prod/items/special")[2])["resource"] == "/items/special"
    e = event_of(call(rest["url"], "DELETE", "/prod/a/b/c")[2])
    assert (e["resource"], e["pathParameters"], e["httpMethod"]) == ("/{proxy+}", {"proxy": "a/b/c"}, "DELETE")
    assert e["requestContext"]["resourceId"] == rest["proxy"]
    e = event_of(call(rest["url"], "POST", "/prod/items/42", body=b"hi", headers=[("Content-Type", "text/plain")])[2])
    assert (e["resource"], e["body"], e["isBase64Encoded"]) == ("/{proxy+}", "hi", False)


def test_binary_bodies_both_ways(server, rest):
    data = bytes(range(256))
    status, _, body = call(rest["url"], "POST", "/prod/upload", body=data, headers=[("Content-Type", "image/png")])
    e = event_of(body)
    assert (e["isBase64Encoded"], base64.b64decode(e["body"])) == (True, data)
    # A binary answer reaches curl as bytes.
    require_tool("curl")
    host = urlsplit(rest["url"]).netloc
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.bin"
        subprocess.run(["curl", "-sS", "--resolve", f"{host}:127.0.0.1", "-H", "Accept: image/png",
                        "-o", str(out), f"{rest['url']}/prod/binary"], check=True, timeout=60)
        assert out.read_bytes() == data
    # Without a binary Accept, the answer's own content type (image/png) is binary: decoded too.
    assert call(rest["url"], "GET", "/prod/binary")[2] == data
    status, headers, body = call(rest["url"], "GET", "/prod/multi")
    assert (status, body, headers.get_all("x-m"), headers["x-single"]) == (201, b"made", ["1", "2"], "s")


def test_gateway_errors_as_rest_apis_answer_them(server, rest):
    status, headers, body = call(rest["url"], "GET", "/prod/")
    assert (status, json.loads(body)) == (403, {"message": "Missing Authentication Token"})
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    status, _, body = call(rest["url"], "POST", "/prod/items/special")
    assert status == 200  # falls to ANY /{proxy+}
    status, _, body = call(rest["url"], "GET", "/nostage/items/1")
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    status, _, body = call(rest["url"], "GET", "/prod/fail")
    assert (status, body) == (502, b'{"message": "Internal server error"}')
    status, _, body = call(rest["url"], "GET", "/prod/malformed")
    assert (status, json.loads(body)) == (502, {"message": "Internal server error"})
    started = time.time()
    status, _, body = call(rest["url"], "GET", "/prod/slow")
    assert (status, json.loads(body)) == (504, {"message": "Endpoint request timed out"})
    assert time.time() - started < 2.5


def test_missing_permission_is_a_500_and_nothing_runs(server, lam, agw):
    function(lam, "rest-unallowed", APP)
    arn = lam.get_function(FunctionName="rest-unallowed")["Configuration"]["FunctionArn"]
    api = agw.create_rest_api(name="unallowed")
    proxy_method(agw, api["id"], api["rootResourceId"], "GET", arn)
    agw.create_deployment(restApiId=api["id"], stageName="prod")
    # Allowed only for POST: the GET's SourceArn does not match.
    allow_gateway(lam, "rest-unallowed", api["id"], pattern="prod/POST/*")
    status, _, body = call(endpoint(server, api["id"]), "GET", "/prod/")
    assert (status, json.loads(body)) == (500, {"message": "Internal server error"})
    assert invocations(server, "rest-unallowed") == 0
    allow_gateway(lam, "rest-unallowed", api["id"], sid="get", pattern="prod/GET/")
    assert call(endpoint(server, api["id"]), "GET", "/prod/")[0] == 200
    assert invocations(server, "rest-unallowed") == 1


def test_undeployed_changes_are_not_served(server, lam, agw, echo):
    api = agw.create_rest_api(name="deploys")
    api_id, root = api["id"], api["rootResourceId"]
    allow_gateway(lam, "rest-echo", api_id, sid=f"deploys-{api_id}")
    proxy_method(agw, api_id, root, "GET", echo)
    first = agw.create_deployment(restApiId=api_id, stageName="live")["id"]
    url = endpoint(server, api_id)
    new = agw.create_resource(restApiId=api_id, parentId=root, pathPart="new")["id"]
    proxy_method(agw, api_id, new, "GET", echo)
    assert call(url, "GET", "/live/new")[0] == 403
    assert call(url, "GET", "/live/")[0] == 200
    second = agw.create_deployment(restApiId=api_id, stageName="live")["id"]
    assert event_of(call(url, "GET", "/live/new")[2])["resource"] == "/new"
    # Pointing the stage back at the first deployment serves it again.
    agw.update_stage(restApiId=api_id, stageName="live",
                     patchOperations=[{"op": "replace", "path": "/deploymentId", "value": first}])
    assert call(url, "GET", "/live/new")[0] == 403
    assert {d["id"] for d in agw.get_deployments(restApiId=api_id)["items"]} == {first, second}
    # A stage made by CreateStage, with its own variables.
    agw.create_stage(restApiId=api_id, stageName="beta", deploymentId=second, variables={"v": "1"})
    e = event_of(call(url, "GET", "/beta/new")[2])
    assert (e["stageVariables"], e["requestContext"]["stage"]) == ({"v": "1"}, "beta")
    agw.delete_stage(restApiId=api_id, stageName="beta")
    assert call(url, "GET", "/beta/new")[0] == 403


def test_token_authorizer_allows_denies_and_caches(server, lam, agw, echo):
    auth_arn = function(lam, "rest-token-auth", TOKEN_AUTHORIZER)
    api = agw.create_rest_api(name="guarded")
    api_id, root = api["id"], api["rootResourceId"]
    a = agw.create_authorizer(restApiId=api_id, name="tok", type="TOKEN", authorizerUri=uri(auth_arn),
                              identitySource="method.request.header.Authorization",
                              identityValidationExpression="^[a-z]+$", authorizerResultTtlInSeconds=300)
    assert (a["type"], a["authorizerResultTtlInSeconds"]) == ("TOKEN", 300)
    assert agw.get_authorizer(restApiId=api_id, authorizerId=a["id"])["name"] == "tok"
    assert [x["id"] for x in agw.get_authorizers(restApiId=api_id)["items"]] == [a["id"]]
    pets = agw.create_resource(restApiId=api_id, parentId=root, pathPart="pets")["id"]
    proxy_method(agw, api_id, pets, "GET", echo, auth="CUSTOM", authorizer=a["id"])
    agw.create_deployment(restApiId=api_id, stageName="prod")
    allow_gateway(lam, "rest-echo", api_id, sid=f"guarded-{api_id}")
    allow_gateway(lam, "rest-token-auth", api_id)
    url = endpoint(server, api_id)
    status, headers, body = call(url, "GET", "/prod/pets")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    assert invocations(server, "rest-token-auth") == 0
    status, _, body = call(url, "GET", "/prod/pets", headers=[("Authorization", "Not-Valid!")])
    assert status == 401 and invocations(server, "rest-token-auth") == 0
    status, _, body = call(url, "GET", "/prod/pets", headers=[("Authorization", "allow")])
    assert status == 200, body
    auth = event_of(body)["requestContext"]["authorizer"]
    account = auth_arn.split(":")[4]
    method_arn = f"arn:aws:execute-api:us-east-1:{account}:{api_id}/prod/GET/pets"
    assert (auth["principalId"], auth["type"], auth["arn"], auth["vip"], auth["calls"]) == \
        ("alice", "TOKEN", method_arn, "true", "1")
    assert isinstance(auth["integrationLatency"], int)
    # Cached by token for the TTL: the authorizer is not asked again.
    assert event_of(call(url, "GET", "/prod/pets", headers=[("Authorization", "allow")])[2]) \
        ["requestContext"]["authorizer"]["calls"] == "1"
    assert invocations(server, "rest-token-auth") == 1
    status, headers, body = call(url, "GET", "/prod/pets", headers=[("Authorization", "deny")])
    assert (status, json.loads(body)) == \
        (403, {"Message": "User is not authorized to access this resource with an explicit deny"})
    assert headers["x-amzn-ErrorType"] == "AccessDeniedException"
    status, _, body = call(url, "GET", "/prod/pets", headers=[("Authorization", "other")])
    assert (status, json.loads(body)) == (403, {"Message": "User is not authorized to access this resource"})
    status, _, body = call(url, "GET", "/prod/pets", headers=[("Authorization", "unauthorized")])
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    ran = invocations(server, "rest-echo")
    assert ran >= 1


def test_request_authorizer_and_its_permission(server, lam, agw, echo):
    auth_arn = function(lam, "rest-request-auth", TOKEN_AUTHORIZER)
    api = agw.create_rest_api(name="requested")
    api_id, root = api["id"], api["rootResourceId"]
    a = agw.create_authorizer(restApiId=api_id, name="req", type="REQUEST", authorizerUri=uri(auth_arn),
                              identitySource="method.request.header.x-token,method.request.querystring.user",
                              authorizerResultTtlInSeconds=0)
    proxy_method(agw, api_id, root, "GET", echo, auth="CUSTOM", authorizer=a["id"])
    agw.create_deployment(restApiId=api_id, stageName="prod")
    allow_gateway(lam, "rest-echo", api_id, sid=f"requested-{api_id}")
    url = endpoint(server, api_id)
    # The authorizer's function does not allow API Gateway yet: 500 with {"message": null}.
    status, headers, body = call(url, "GET", "/prod/?user=bob", headers=[("x-token", "allow")])
    assert (status, json.loads(body)) == (500, {"message": None})
    assert headers["x-amzn-ErrorType"] == "AuthorizerConfigurationException"
    allow_gateway(lam, "rest-request-auth", api_id)
    assert call(url, "GET", "/prod/", headers=[("x-token", "allow")])[0] == 401  # no ?user
    status, _, body = call(url, "GET", "/prod/?user=bob", headers=[("x-token", "allow")])
    assert status == 200, body
    auth = event_of(body)["requestContext"]["authorizer"]
    assert (auth["type"], auth["principalId"]) == ("REQUEST", "alice")
    # TTL 0: asked each time.
    call(url, "GET", "/prod/?user=bob", headers=[("x-token", "allow")])
    wait_for(lambda: invocations(server, "rest-request-auth") == 2, 10, "two authorizer runs")


def test_aws_iam_methods_need_a_signature_and_throttles_are_429(server, lam, agw, echo):
    api = agw.create_rest_api(name="iam")
    api_id, root = api["id"], api["rootResourceId"]
    proxy_method(agw, api_id, root, "POST", echo, auth="AWS_IAM")
    agw.create_deployment(restApiId=api_id, stageName="prod")
    allow_gateway(lam, "rest-echo", api_id, sid=f"iam-{api_id}")
    url = endpoint(server, api_id)
    assert call(url, "POST", "/prod/", body=b"{}")[0] == 403
    signed = AWSRequest(method="POST", url=url + "/prod/?x=1", data=b'{"a": 1}',
                        headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("AKIDTEST", "secret"), "execute-api", "us-east-1").add_auth(signed)
    headers = [(k, v) for k, v in signed.headers.items() if k.lower() != "host"]
    status, _, body = call(url, "POST", "/prod/?x=1", body=b'{"a": 1}', headers=headers)
    assert status == 200, body
    identity = event_of(body)["requestContext"]["identity"]
    assert (identity["accessKey"], identity["user"]) == ("AKIDTEST", "AKIDTEST")
    assert identity["userArn"].startswith("arn:aws:iam::")
    # A throttled function is the gateway's 429.
    function(lam, "rest-throttled", APP)
    arn = lam.get_function(FunctionName="rest-throttled")["Configuration"]["FunctionArn"]
    proxy_method(agw, api_id, root, "GET", arn)
    agw.create_deployment(restApiId=api_id, stageName="prod")
    allow_gateway(lam, "rest-throttled", api_id)
    lam.put_function_concurrency(FunctionName="rest-throttled", ReservedConcurrentExecutions=0)
    status, headers, body = call(url, "GET", "/prod/")
    assert (status, json.loads(body)) == (429, {"message": "Too Many Requests"})
    assert headers["x-amzn-ErrorType"] == "TooManyRequestsException"


def test_mock_integration(server, agw):
    api = agw.create_rest_api(name="mock")
    api_id, root = api["id"], api["rootResourceId"]
    agw.put_method(restApiId=api_id, resourceId=root, httpMethod="GET", authorizationType="NONE")
    agw.put_integration(restApiId=api_id, resourceId=root, httpMethod="GET", type="MOCK",
                        requestTemplates={"application/json": '{"statusCode": 202}'})
    agw.put_method_response(restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="202",
                            responseParameters={"method.response.header.X-Mock": False})
    agw.put_integration_response(restApiId=api_id, resourceId=root, httpMethod="GET", statusCode="202",
                                 responseParameters={"method.response.header.X-Mock": "'yes'"},
                                 responseTemplates={"application/json": '{"mocked": true}'})
    agw.create_deployment(restApiId=api_id, stageName="m")
    status, headers, body = call(endpoint(server, api_id), "GET", "/m/")
    assert (status, headers["x-mock"], json.loads(body)) == (202, "yes", {"mocked": True})


@pytest.mark.timeout(600)
def test_fastapi_through_mangum_behind_a_rest_api(server, lam, agw):
    runtime = f"python3.{sys.version_info.minor}"
    arn = lam.create_function(FunctionName="rest-fastapi", Runtime=runtime, Handler="app.handler",
                              Role=ROLE, Code={"ZipFile": fastapi_zip()}, Timeout=30,
                              MemorySize=512)["FunctionArn"]
    api = agw.create_rest_api(name="fastapi")
    proxy = agw.create_resource(restApiId=api["id"], parentId=api["rootResourceId"], pathPart="{proxy+}")["id"]
    proxy_method(agw, api["id"], proxy, "ANY", arn)
    agw.create_deployment(restApiId=api["id"], stageName="prod")
    allow_gateway(lam, "rest-fastapi", api["id"])
    url = endpoint(server, api["id"])
    status, headers, body = call(url, "GET", "/prod/items/5?q=hello")
    assert status == 200, body
    assert json.loads(body) == {"item_id": 5, "q": "hello"}
    assert headers["content-type"] == "application/json"
    status, _, body = call(url, "POST", "/prod/items", body=json.dumps({"name": "pen", "price": 2.5}).encode(),
                           headers=[("Content-Type", "application/json")])
    assert (status, json.loads(body)) == (201, {"name": "pen", "price_with_tax": 3.0})
    status, _, body = call(url, "POST", "/prod/items", body=b'{"name": 1}',
                           headers=[("Content-Type", "application/json")])
    assert status == 422 and json.loads(body)["detail"]


def test_rest_apis_survive_a_restart(server, agw, rest):
    server.stop()
    server.start()
    assert agw.get_rest_api(restApiId=rest["id"])["name"] == "shop"
    assert call(rest["url"], "GET", "/prod/items/1")[0] == 200
