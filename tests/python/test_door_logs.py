"""What the front doors record: access log lines of API Gateway stages (HTTP APIs through the
aws CLI v2, REST APIs through boto3's patch operations), read back with `aws logs
filter-log-events`, and the per-API, per-stage request, 4xx/5xx and latency series at /metrics."""

import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, make_client, metric, wait_for, zip_bytes
from gateway_helpers import aws2, allow_gateway, call

APP = r'''
def handler(event, context):
    path = event.get("rawPath") or event.get("path")
    if path.endswith("/fail"):
        raise RuntimeError("boom")
    if path.endswith("/missing"):
        return {"statusCode": 404, "body": "nothing here"}
    return {"statusCode": 200, "body": "hello"}
'''

ACCOUNT = "000000000000"
FORMAT = ('{"requestId":"$context.requestId","ip":"$context.identity.sourceIp",'
          '"requestTime":"$context.requestTime","httpMethod":"$context.httpMethod",'
          '"routeKey":"$context.routeKey","status":"$context.status",'
          '"protocol":"$context.protocol","responseLength":"$context.responseLength",'
          '"integrationLatency":"$context.integrationLatency","stage":"$context.stage",'
          '"apiId":"$context.apiId","error":"$context.error.message"}')
REST_FORMAT = FORMAT.replace("$context.routeKey", "$context.resourcePath")


@pytest.fixture(scope="module")
def gw(server):
    return make_client(server.endpoint, "apigatewayv2")


@pytest.fixture(scope="module")
def agw(server):
    return make_client(server.endpoint, "apigateway")


@pytest.fixture(scope="module")
def fn(lam):
    return lam.create_function(FunctionName="logs-echo", Runtime="python3.12", Handler="app.handler",
                               Role=ROLE, Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})},
                               Timeout=10)["FunctionArn"]


def group_arn(name):
    return f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:{name}"


def log_lines(server, group, count):
    """The access log lines of `group` (as JSON), once there are `count` of them."""
    found = []

    def enough():
        out = aws2(server, "logs", "filter-log-events", "--log-group-name", group)
        found[:] = [json.loads(e["message"]) for e in out["events"]]
        return len(found) >= count
    wait_for(enough, 60, f"{count} access log lines in {group}")
    return found


def test_http_api_stage_access_logs_with_the_cli(server, lam, gw, fn):
    api = aws2(server, "apigatewayv2", "create-api", "--name", "logged", "--protocol-type", "HTTP",
               "--target", fn)
    api_id, ep = api["ApiId"], api["ApiEndpoint"]
    allow_gateway(lam, "logs-echo", api_id, sid=f"logs-{api_id}")
    group = "/lambdad/test/http-access"
    stage = aws2(server, "apigatewayv2", "update-stage", "--api-id", api_id, "--stage-name", "$default",
                 "--access-log-settings",
                 json.dumps({"DestinationArn": group_arn(group), "Format": FORMAT}))
    assert stage["AccessLogSettings"] == {"DestinationArn": group_arn(group), "Format": FORMAT}
    got = aws2(server, "apigatewayv2", "get-stage", "--api-id", api_id, "--stage-name", "$default")
    assert got["AccessLogSettings"] == {"DestinationArn": group_arn(group), "Format": FORMAT}

    ok = call(ep, "GET", "/hello")
    assert ok[0] == 200 and ok[2] == b"hello"
    assert call(ep, "POST", "/missing", body=b"{}")[0] == 404
    assert call(ep, "GET", "/fail")[0] == 502
    lines = log_lines(server, group, 3)
    assert len(lines) == 3
    by_status = {line["status"]: line for line in lines}
    assert set(by_status) == {"200", "404", "502"}
    first = by_status["200"]
    assert first["requestId"] == ok[1]["apigw-requestid"]
    assert (first["httpMethod"], first["routeKey"], first["protocol"]) == ("GET", "$default", "HTTP/1.1")
    assert (first["ip"], first["stage"], first["apiId"]) == ("127.0.0.1", "$default", api_id)
    assert first["responseLength"] == "5"
    assert int(first["integrationLatency"]) >= 0
    assert first["error"] == "-"
    t = time.strptime(first["requestTime"], "%d/%b/%Y:%H:%M:%S +0000")
    assert abs(time.mktime(t) - time.mktime(time.gmtime())) < 600
    assert by_status["404"]["httpMethod"] == "POST"

    # One stream for the stage, found by the CLI too.
    streams = aws2(server, "logs", "describe-log-streams", "--log-group-name", group)["logStreams"]
    assert [s["logStreamName"] for s in streams] == [f"{api_id}_$default"]

    # Per API and stage in /metrics.
    labels = f'{{door="execute-api",id="{api_id}",stage="$default"}}'
    assert metric(server, "lambdad_door_requests_total" + labels) == 3
    assert metric(server, "lambdad_door_4xx_total" + labels) == 1
    assert metric(server, "lambdad_door_5xx_total" + labels) == 1
    assert metric(server, "lambdad_door_latency_seconds_count" + labels) == 3
    assert metric(server, f'lambdad_door_latency_seconds_bucket{{le="+Inf",door="execute-api",id="{api_id}",'
                          f'stage="$default"}}') == 3

    # Turned off: no more lines.
    aws2(server, "apigatewayv2", "delete-access-log-settings", "--api-id", api_id,
         "--stage-name", "$default")
    got = aws2(server, "apigatewayv2", "get-stage", "--api-id", api_id, "--stage-name", "$default")
    assert "AccessLogSettings" not in got
    assert call(ep, "GET", "/after")[0] == 200
    # The request above is counted once its answer is recorded; its line would precede this one.
    wait_for(lambda: metric(server, "lambdad_door_requests_total" + labels) == 4, 30, "4 requests")
    assert len(log_lines(server, group, 3)) == 3


def test_access_log_settings_are_validated(gw, fn):
    api_id = gw.create_api(Name="checked", ProtocolType="HTTP")["ApiId"]
    for settings, words in [
        ({"DestinationArn": "arn:aws:s3:::bucket", "Format": "$context.requestId"}, "ARN"),
        ({"DestinationArn": group_arn("g"), "Format": "$context.status"}, "$context.requestId"),
    ]:
        with pytest.raises(ClientError) as e:
            gw.create_stage(ApiId=api_id, StageName="s", AccessLogSettings=settings)
        assert e.value.response["Error"]["Code"] == "BadRequestException"
        assert words in e.value.response["Error"]["Message"]
    s = gw.create_stage(ApiId=api_id, StageName="s",
                        AccessLogSettings={"DestinationArn": group_arn("g"),
                                           "Format": "$context.requestId"})
    assert s["AccessLogSettings"]["Format"] == "$context.requestId"


def test_rest_api_stage_access_logs_by_patch(server, lam, agw, fn):
    api = agw.create_rest_api(name="logged-rest")
    api_id, root = api["id"], api["rootResourceId"]
    res = agw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")["id"]
    agw.put_method(restApiId=api_id, resourceId=res, httpMethod="ANY", authorizationType="NONE")
    agw.put_integration(restApiId=api_id, resourceId=res, httpMethod="ANY", type="AWS_PROXY",
                        integrationHttpMethod="POST",
                        uri=f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{fn}/invocations")
    agw.create_deployment(restApiId=api_id, stageName="prod")
    allow_gateway(lam, "logs-echo", api_id, sid=f"logs-{api_id}")
    group = "rest-access"
    with pytest.raises(ClientError) as e:
        agw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
            {"op": "replace", "path": "/accessLogSettings/format", "value": "$context.status"}])
    assert e.value.response["Error"]["Code"] == "BadRequestException"
    stage = agw.update_stage(restApiId=api_id, stageName="prod", patchOperations=[
        {"op": "replace", "path": "/accessLogSettings/destinationArn", "value": group_arn(group)},
        {"op": "replace", "path": "/accessLogSettings/format", "value": REST_FORMAT}])
    assert stage["accessLogSettings"] == {"destinationArn": group_arn(group), "format": REST_FORMAT}
    assert agw.get_stage(restApiId=api_id, stageName="prod")["accessLogSettings"]["format"] == REST_FORMAT

    ep = f"http://{api_id}.execute-api.us-east-1.localhost:{server.port}"
    ok = call(ep, "GET", "/prod/a/b")
    assert ok[0] == 200
    assert call(ep, "GET", "/prod/fail")[0] == 502
    lines = log_lines(server, group, 2)
    by_status = {line["status"]: line for line in lines}
    assert set(by_status) == {"200", "502"}
    assert by_status["200"]["requestId"] == ok[1]["x-amzn-requestid"]
    assert (by_status["200"]["routeKey"], by_status["200"]["stage"]) == ("/{proxy+}", "prod")
    labels = f'{{door="execute-api",id="{api_id}",stage="prod"}}'
    assert metric(server, "lambdad_door_requests_total" + labels) == 2
    assert metric(server, "lambdad_door_5xx_total" + labels) == 1

    agw.update_stage(restApiId=api_id, stageName="prod",
                     patchOperations=[{"op": "remove", "path": "/accessLogSettings"}])
    assert "accessLogSettings" not in agw.get_stage(restApiId=api_id, stageName="prod")
