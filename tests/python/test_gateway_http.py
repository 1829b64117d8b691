"""API Gateway HTTP APIs (apigatewayv2): the control plane through the aws CLI v2 and boto3, the
data plane (Host `API.execute-api.REGION.localhost:PORT`) through http.client and curl, asserting
the events functions received field by field and the answers clients got; and a FastAPI app
through Mangum, unmodified, behind an HTTP API."""

import base64
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, make_client, require_tool, wait_for, zip_bytes
from gateway_helpers import aws2, allow_gateway, call, fastapi_zip, invocations

APP = r'''
import base64, json, time

def handler(event, context):
    path = event.get("rawPath") or event.get("path")
    if path.endswith("/fail"):
        raise RuntimeError("boom")
    if path.endswith("/binary"):
        return {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
                "cookies": ["a=1; Path=/", "b=2"], "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))).decode()}
    if path.endswith("/badstatus"):
        return {"statusCode": "abc", "body": "x"}
    if path.endswith("/farstatus"):
        return {"statusCode": 700, "body": "x"}
    if path.endswith("/bare"):
        return {"hello": "world"}
    if path.endswith("/multi"):
        return {"statusCode": 201, "headers": {"x-single": "s"},
                "multiValueHeaders": {"x-m": ["1", "2"]}, "body": "made"}
    if path.endswith("/slow"):
        time.sleep(3)
        return {"statusCode": 200, "body": "late"}
    return {"statusCode": 200, "headers": {"content-type": "application/json"},
            "body": json.dumps({"event": event, "invoked": context.invoked_function_arn})}
'''

@pytest.fixture(scope="module")
def gw(server):
    return make_client(server.endpoint, "apigatewayv2")


@pytest.fixture(scope="module")
def echo(lam):
    arn = lam.create_function(FunctionName="gw-echo", Runtime="python3.12", Handler="app.handler",
                              Role=ROLE, Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})},
                              Timeout=10)["FunctionArn"]
    return arn


def test_quick_create_with_the_cli_then_permission_then_payload_2(server, lam, echo):
    api = aws2(server, "apigatewayv2", "create-api", "--name", "quick", "--protocol-type", "HTTP",
               "--target", echo)
    api_id = api["ApiId"]
    assert api["ProtocolType"] == "HTTP" and api["Name"] == "quick"
    assert api["ApiEndpoint"] == f"http://{api_id}.execute-api.us-east-1.localhost:{server.port}"
    assert api["RouteSelectionExpression"] == "$request.method $request.path"
    routes = aws2(server, "apigatewayv2", "get-routes", "--api-id", api_id)["Items"]
    integrations = aws2(server, "apigatewayv2", "get-integrations", "--api-id", api_id)["Items"]
    stages = aws2(server, "apigatewayv2", "get-stages", "--api-id", api_id)["Items"]
    assert [r["RouteKey"] for r in routes] == ["$default"]
    assert len(integrations) == 1
    i = integrations[0]
    assert (i["IntegrationType"], i["IntegrationUri"], i["PayloadFormatVersion"], i["TimeoutInMillis"]) == \
        ("AWS_PROXY", echo, "2.0", 30000)
    assert routes[0]["Target"] == f"integrations/{i['IntegrationId']}"
    assert routes[0]["ApiGatewayManaged"] is True
    assert [(s["StageName"], s["AutoDeploy"]) for s in stages] == [("$default", True)]

    # Quick create adds no permission (as on AWS): the gateway's 500, and nothing runs.
    before = invocations(server, "gw-echo")
    status, headers, body = call(api["ApiEndpoint"], path="/x")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert headers["apigw-requestid"]
    assert invocations(server, "gw-echo") == before

    allow_gateway(lam, "gw-echo", api_id, pattern="*/$default")
    status, headers, body = call(
        api["ApiEndpoint"], "POST", "/items/7?a=1&a=2&b=x%20y",
        body=b'{"k": "v"}',
        headers=[("Content-Type", "application/json"), ("X-Multi", "one"), ("X-Multi", "two"),
                 ("Cookie", "c1=v1; c2=v2"), ("User-Agent", "gw-test/1")])
    assert status == 200, body
    out = json.loads(body)
    e = out["event"]
    assert out["invoked"] == echo
    assert e["version"] == "2.0"
    assert e["routeKey"] == "$default"
    assert e["rawPath"] == "/items/7"
    assert e["rawQueryString"] == "a=1&a=2&b=x%20y"
    assert e["cookies"] == ["c1=v1", "c2=v2"]
    assert e["headers"]["x-multi"] == "one,two"
    assert "cookie" not in e["headers"]
    assert e["headers"]["host"] == urlsplit(api["ApiEndpoint"]).netloc
    assert e["queryStringParameters"] == {"a": "1,2", "b": "x y"}
    assert e["body"] == '{"k": "v"}' and e["isBase64Encoded"] is False
    assert "pathParameters" not in e and "stageVariables" not in e
    rc = e["requestContext"]
    assert rc["accountId"] == echo.split(":")[4]
    assert rc["apiId"] == api_id
    assert rc["domainName"] == f"{api_id}.execute-api.us-east-1.localhost"
    assert rc["domainPrefix"] == api_id
    assert rc["http"] == {"method": "POST", "path": "/items/7", "protocol": "HTTP/1.1",
                          "sourceIp": "127.0.0.1", "userAgent": "gw-test/1"}
    assert rc["requestId"] == headers["apigw-requestid"]
    assert (rc["routeKey"], rc["stage"]) == ("$default", "$default")
    assert abs(rc["timeEpoch"] / 1000 - time.time()) < 60
    assert rc["time"].endswith(" +0000")


def test_control_plane_with_boto3(gw, echo):
    created = gw.create_api(Name="manual", ProtocolType="HTTP", Description="d")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    api_id = created["ApiId"]
    assert gw.get_api(ApiId=api_id)["Description"] == "d"
    assert api_id in [a["ApiId"] for a in gw.get_apis()["Items"]]
    updated = gw.update_api(ApiId=api_id, Name="renamed")
    assert (updated["Name"], updated["Description"]) == ("renamed", "d")

    integ = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                  PayloadFormatVersion="1.0", TimeoutInMillis=5000)
    assert integ["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (integ["PayloadFormatVersion"], integ["TimeoutInMillis"], integ["IntegrationMethod"],
            integ["ConnectionType"]) == ("1.0", 5000, "POST", "INTERNET")
    target = f"integrations/{integ['IntegrationId']}"
    route = gw.create_route(ApiId=api_id, RouteKey="GET /items/{id}", Target=target)
    assert route["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (route["RouteKey"], route["Target"], route["AuthorizationType"]) == \
        ("GET /items/{id}", target, "NONE")
    assert gw.get_route(ApiId=api_id, RouteId=route["RouteId"])["RouteKey"] == "GET /items/{id}"
    stage = gw.create_stage(ApiId=api_id, StageName="prod", StageVariables={"color": "blue"})
    assert stage["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (stage["StageName"], stage["AutoDeploy"], stage["StageVariables"]) == \
        ("prod", False, {"color": "blue"})
    assert gw.get_stage(ApiId=api_id, StageName="prod")["StageVariables"] == {"color": "blue"}

    def error(call, **kw):
        with pytest.raises(ClientError) as e:
            call(**kw)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"], \
            e.value.response["ResponseMetadata"]["HTTPStatusCode"]

    code, message, status = error(gw.get_api, ApiId="nope")
    assert (code, status) == ("NotFoundException", 404)
    assert message == "Invalid API identifier specified 000000000000:nope"
    assert error(gw.get_route, ApiId=api_id, RouteId="nope")[::2] == ("NotFoundException", 404)
    assert error(gw.get_stage, ApiId=api_id, StageName="nope")[::2] == ("NotFoundException", 404)
    assert error(gw.create_route, ApiId=api_id, RouteKey="GET /items/{id}")[::2] == \
        ("ConflictException", 409)
    assert error(gw.create_stage, ApiId=api_id, StageName="prod")[::2] == ("ConflictException", 409)
    assert error(gw.create_route, ApiId=api_id, RouteKey="FETCH items")[::2] == \
        ("BadRequestException", 400)
    assert error(gw.create_route, ApiId=api_id, RouteKey="GET /a", Target="integrations/zzz")[::2] == \
        ("BadRequestException", 400)
    assert error(gw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY",
                 IntegrationUri=echo)[::2] == ("BadRequestException", 400)
    assert error(gw.create_integration, ApiId=api_id, IntegrationType="AWS_PROXY",
                 IntegrationUri=echo, PayloadFormatVersion="2.0", TimeoutInMillis=40000)[::2] == \
        ("BadRequestException", 400)

    # Updates change only the members given.
    moved = gw.update_route(ApiId=api_id, RouteId=route["RouteId"], RouteKey="GET /things/{id}")
    assert (moved["RouteKey"], moved["Target"]) == ("GET /things/{id}", target)
    assert error(gw.update_route, ApiId=api_id, RouteId=route["RouteId"], Target="integrations/zzz")[::2] == \
        ("BadRequestException", 400)
    changed = gw.update_integration(ApiId=api_id, IntegrationId=integ["IntegrationId"], TimeoutInMillis=900)
    assert (changed["TimeoutInMillis"], changed["PayloadFormatVersion"]) == (900, "1.0")
    staged = gw.update_stage(ApiId=api_id, StageName="prod", StageVariables={"size": "xl"}, AutoDeploy=True)
    assert (staged["StageVariables"], staged["AutoDeploy"]) == ({"color": "blue", "size": "xl"}, True)
    staged = gw.update_stage(ApiId=api_id, StageName="prod", StageVariables={"color": ""})
    assert staged["StageVariables"] == {"size": "xl"}
    assert error(gw.update_stage, ApiId=api_id, StageName="nope", AutoDeploy=True)[::2] == \
        ("NotFoundException", 404)

    deleted = gw.delete_route(ApiId=api_id, RouteId=route["RouteId"])
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert gw.get_routes(ApiId=api_id)["Items"] == []
    gw.delete_stage(ApiId=api_id, StageName="prod")
    gw.delete_integration(ApiId=api_id, IntegrationId=integ["IntegrationId"])
    assert gw.get_integrations(ApiId=api_id)["Items"] == []
    assert gw.delete_api(ApiId=api_id)["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert error(gw.get_api, ApiId=api_id)[::2] == ("NotFoundException", 404)


@pytest.fixture(scope="module")
def routed(server, lam, gw, echo):
    """An API with routes of both payload formats, a `$default` stage and a named stage."""
    api = gw.create_api(Name="routed", ProtocolType="HTTP")
    api_id = api["ApiId"]
    v1 = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                               PayloadFormatVersion="1.0")["IntegrationId"]
    v2 = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                               PayloadFormatVersion="2.0")["IntegrationId"]
    short = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                                  PayloadFormatVersion="2.0", TimeoutInMillis=500)["IntegrationId"]
    for key, target in [("GET /items/{id}", v1), ("ANY /{proxy+}", v2), ("GET /v1/{proxy+}", v1),
                        ("GET /slow", short)]:
        gw.create_route(ApiId=api_id, RouteKey=key, Target=f"integrations/{target}")
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True,
                    StageVariables={"env": "default"})
    gw.create_stage(ApiId=api_id, StageName="prod", AutoDeploy=True, StageVariables={"env": "prod"})
    allow_gateway(lam, "gw-echo", api_id, sid="routed")
    return api


def test_payload_1_with_path_parameters_and_a_named_stage(routed):
    status, _, body = call(routed["ApiEndpoint"], "GET", "/prod/items/42?q=1&q=2&r=x",
                           headers=[("X-Multi", "a"), ("X-Multi", "b"), ("User-Agent", "ua")])
    assert status == 200, body
    e = json.loads(body)["event"]
    assert e["version"] == "1.0"
    assert e["resource"] == "/items/{id}"
    assert e["path"] == "/prod/items/42"
    assert e["httpMethod"] == "GET"
    assert e["headers"]["x-multi"] == "b"
    assert e["multiValueHeaders"]["x-multi"] == ["a", "b"]
    assert e["queryStringParameters"] == {"q": "2", "r": "x"}
    assert e["multiValueQueryStringParameters"] == {"q": ["1", "2"], "r": ["x"]}
    assert e["pathParameters"] == {"id": "42"}
    assert e["stageVariables"] == {"env": "prod"}
    assert e["body"] is None and e["isBase64Encoded"] is False
    rc = e["requestContext"]
    assert (rc["stage"], rc["resourcePath"], rc["httpMethod"], rc["apiId"]) == \
        ("prod", "/items/{id}", "GET", routed["ApiId"])
    assert rc["identity"]["sourceIp"] == "127.0.0.1" and rc["identity"]["userAgent"] == "ua"
    assert rc["requestId"] and rc["requestTimeEpoch"] > 0


def test_routes_match_the_most_specific_first(routed):
    ep = routed["ApiEndpoint"]
    # GET /items/{id} beats ANY /{proxy+}; on the $default stage the path is the route path.
    e = json.loads(call(ep, "GET", "/items/9")[2])["event"]
    assert (e["version"], e["pathParameters"], e["stageVariables"]) == ("1.0", {"id": "9"}, {"env": "default"})
    # Another method falls to the greedy ANY route (payload 2.0).
    e = json.loads(call(ep, "DELETE", "/items/9")[2])["event"]
    assert (e["version"], e["routeKey"], e["pathParameters"]) == ("2.0", "ANY /{proxy+}", {"proxy": "items/9"})
    assert e["requestContext"]["stage"] == "$default" and e["stageVariables"] == {"env": "default"}
    e = json.loads(call(ep, "PUT", "/prod/a/b/c")[2])["event"]
    assert (e["routeKey"], e["pathParameters"], e["rawPath"]) == ("ANY /{proxy+}", {"proxy": "a/b/c"}, "/prod/a/b/c")
    assert e["requestContext"]["stage"] == "prod" and e["stageVariables"] == {"env": "prod"}
    e = json.loads(call(ep, "GET", "/v1/x/y")[2])["event"]
    assert (e["resource"], e["pathParameters"]) == ("/v1/{proxy+}", {"proxy": "x/y"})
    # No route matches `/` (a greedy variable needs a segment), and no API at all.
    status, _, body = call(ep, "GET", "/")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    other = ep.replace(routed["ApiId"], "nosuchapi0")
    status, _, body = call(other, "GET", "/items/1")
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_responses_map_back_as_api_gateway_does(routed):
    ep = routed["ApiEndpoint"]
    # Binary both ways, with curl: a binary request body arrives base64-encoded.
    require_tool("curl")
    host = urlsplit(ep).netloc
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "in.bin"
        src.write_bytes(bytes(range(256)))
        out = subprocess.run(["curl", "-sS", "--resolve", f"{host}:127.0.0.1",
                              "-H", "Content-Type: application/octet-stream",
                              "--data-binary", f"@{src}", f"{ep}/echo"],
                             capture_output=True, check=True, timeout=60).stdout
    e = json.loads(out)["event"]
    assert e["isBase64Encoded"] is True
    assert base64.b64decode(e["body"]) == bytes(range(256))
    status, headers, body = call(ep, "GET", "/binary")
    assert status == 200 and body == bytes(range(256))
    assert headers["content-type"] == "application/octet-stream"
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]
    # 2.0's simple form: a JSON result without statusCode is the body of a 200.
    status, headers, body = call(ep, "GET", "/prod/bare")
    assert (status, json.loads(body), headers["content-type"]) == (200, {"hello": "world"}, "application/json")
    # 1.0: multiValueHeaders; a result without statusCode is malformed (502).
    status, headers, body = call(ep, "GET", "/v1/multi")
    assert (status, body, headers["x-single"], headers.get_all("x-m")) == (201, b"made", "s", ["1", "2"])
    status, _, body = call(ep, "GET", "/v1/bare")
    assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"})
    # A function error.
    status, _, body = call(ep, "GET", "/fail")
    assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"})
    # A statusCode API Gateway cannot send (not a number, out of range): 502 in both formats.
    for path in ("/prod/badstatus", "/prod/farstatus", "/v1/badstatus", "/v1/farstatus"):
        status, _, body = call(ep, "GET", path)
        assert (status, json.loads(body)) == (502, {"message": "Internal Server Error"}), path
    # The integration's timeout (500 ms) passes before the function answers.
    started = time.monotonic()
    status, _, body = call(ep, "GET", "/slow")
    assert (status, json.loads(body)) == (503, {"message": "Service Unavailable"})
    assert time.monotonic() - started < 2.5


def test_source_arn_must_match_and_throttles_are_429(server, lam, gw):
    lam.create_function(FunctionName="gw-guarded", Runtime="python3.12", Handler="app.handler",
                        Role=ROLE, Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
    arn = lam.get_function(FunctionName="gw-guarded")["Configuration"]["FunctionArn"]
    api = gw.create_api(Name="guarded", ProtocolType="HTTP", Target=arn, RouteKey="GET /ok")
    # A permission for another API, and one for another route of this one, allow nothing here.
    allow_gateway(lam, "gw-guarded", "someotherapi", sid="other")
    allow_gateway(lam, "gw-guarded", api["ApiId"], sid="route", pattern="*/POST/ok")
    status, _, body = call(api["ApiEndpoint"], "GET", "/ok")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert invocations(server, "gw-guarded") == 0
    allow_gateway(lam, "gw-guarded", api["ApiId"], sid="get", pattern="$default/GET/ok")
    status, _, body = call(api["ApiEndpoint"], "GET", "/ok")
    assert status == 200 and json.loads(body)["event"]["routeKey"] == "GET /ok"
    assert call(api["ApiEndpoint"], "GET", "/other")[0] == 404
    lam.put_function_concurrency(FunctionName="gw-guarded", ReservedConcurrentExecutions=0)
    status, _, body = call(api["ApiEndpoint"], "GET", "/ok")
    assert (status, json.loads(body)) == (429, {"message": "Too Many Requests"})


def test_cors_is_answered_by_the_gateway(server, lam, gw, echo):
    cors = {"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET", "POST"],
            "AllowHeaders": ["x-custom"], "ExposeHeaders": ["x-out"], "MaxAge": 300,
            "AllowCredentials": True}
    api = gw.create_api(Name="cors", ProtocolType="HTTP", Target=echo, CorsConfiguration=cors)
    assert api["CorsConfiguration"] == cors
    allow_gateway(lam, "gw-echo", api["ApiId"], sid="cors")
    ep = api["ApiEndpoint"]
    before = invocations(server, "gw-echo")
    status, headers, _ = call(ep, "OPTIONS", "/anything", headers=[
        ("Origin", "https://a.example"), ("Access-Control-Request-Method", "POST")])
    assert status == 204
    assert headers["access-control-allow-origin"] == "https://a.example"
    assert headers["access-control-allow-methods"] == "GET,POST"
    assert headers["access-control-allow-headers"] == "x-custom"
    assert headers["access-control-max-age"] == "300"
    assert headers["access-control-allow-credentials"] == "true"
    assert invocations(server, "gw-echo") == before, "a preflight runs nothing"
    status, headers, _ = call(ep, "GET", "/x", headers=[("Origin", "https://a.example")])
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://a.example"
    assert headers["access-control-expose-headers"] == "x-out"
    status, headers, _ = call(ep, "GET", "/x", headers=[("Origin", "https://evil.example")])
    assert status == 200 and "access-control-allow-origin" not in headers
    with pytest.raises(ClientError) as e:
        gw.update_api(ApiId=api["ApiId"], CorsConfiguration={"MaxAge": 100000})
    assert e.value.response["Error"]["Code"] == "BadRequestException"


def test_apis_survive_a_restart(server, gw):
    api = gw.create_api(Name="durable", ProtocolType="HTTP")
    gw.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
    server.stop()
    server.start()
    assert gw.get_api(ApiId=api["ApiId"])["Name"] == "durable"
    assert [s["StageName"] for s in gw.get_stages(ApiId=api["ApiId"])["Items"]] == ["$default"]


@pytest.mark.timeout(600)
def test_fastapi_through_mangum_behind_an_http_api(server, lam, gw):
    runtime = f"python3.{sys.version_info.minor}"
    arn = lam.create_function(FunctionName="gw-fastapi", Runtime=runtime, Handler="app.handler",
                              Role=ROLE, Code={"ZipFile": fastapi_zip()}, Timeout=30,
                              MemorySize=512)["FunctionArn"]
    api = gw.create_api(Name="fastapi", ProtocolType="HTTP", Target=arn)
    allow_gateway(lam, "gw-fastapi", api["ApiId"])
    status, headers, body = call(api["ApiEndpoint"], "GET", "/items/5?q=hello")
    assert status == 200, body
    assert json.loads(body) == {"item_id": 5, "q": "hello"}
    assert headers["content-type"] == "application/json"
    status, _, body = call(api["ApiEndpoint"], "POST", "/items",
                           body=json.dumps({"name": "pen", "price": 2.5}).encode(),
                           headers=[("Content-Type", "application/json")])
    assert (status, json.loads(body)) == (201, {"name": "pen", "price_with_tax": 3.0})
    status, _, body = call(api["ApiEndpoint"], "POST", "/items", body=b'{"name": 1}',
                           headers=[("Content-Type", "application/json")])
    assert status == 422 and json.loads(body)["detail"]
