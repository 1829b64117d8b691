"""Application Load Balancers (elbv2) with Lambda targets: the control plane through the aws CLI
v2 and boto3 (AWS's error codes), the data plane (Host = the load balancer's DNSName) through
http.client and curl, asserting the ALB events functions received field by field, with and
without multi-value headers, rule matching by priority, and ALB's answers to missing permissions,
function errors and malformed responses."""

import base64
import json
import subprocess
import tempfile

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, make_client, metric, require_tool, zip_bytes
from gateway_helpers import aws2, call, invocations

APP = r'''
import base64, json

def handler(event, context):
    path = event["path"]
    multi = "multiValueHeaders" in event
    if path.endswith("/fail"):
        raise RuntimeError("boom")
    if path.endswith("/malformed"):
        return {"hello": "world"}
    if path.endswith("/binary"):
        h = {"content-type": "application/octet-stream"}
        return {"statusCode": 200, "isBase64Encoded": True,
                "body": base64.b64encode(bytes(range(256))[::-1]).decode(),
                **({"multiValueHeaders": {k: [v] for k, v in h.items()}} if multi else {"headers": h})}
    if multi:
        return {"statusCode": 201, "statusDescription": "201 Created",
                "multiValueHeaders": {"content-type": ["application/json"], "set-cookie": ["a=1", "b=2"]},
                "body": json.dumps(event)}
    return {"statusCode": 200, "statusDescription": "200 OK",
            "headers": {"content-type": "application/json", "x-fn": "alb"}, "body": json.dumps(event)}
'''


@pytest.fixture(scope="module")
def elb(server):
    return make_client(server.endpoint, "elbv2")


@pytest.fixture(scope="module")
def echo(lam):
    return lam.create_function(FunctionName="alb-echo", Runtime="python3.12", Handler="app.handler",
                               Role=ROLE, Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})},
                               Timeout=10)["FunctionArn"]


def allow_elb(lam, function, tg_arn, sid="elb"):
    lam.add_permission(FunctionName=function, StatementId=sid, Action="lambda:InvokeFunction",
                       Principal="elasticloadbalancing.amazonaws.com", SourceArn=tg_arn)


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def target_group(elb, lam, name, function, multi=False):
    tg = elb.create_target_group(Name=name, TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    allow_elb(lam, function, tg, sid=f"elb-{name}")
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": function}])
    if multi:
        elb.modify_target_group_attributes(
            TargetGroupArn=tg, Attributes=[{"Key": "lambda.multi_value_headers.enabled", "Value": "true"}])
    return tg


def load_balancer(elb, name, tg):
    lb = elb.create_load_balancer(Name=name, Subnets=["subnet-1", "subnet-2"])["LoadBalancers"][0]
    listener = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                                   DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return lb, listener["Listeners"][0]["ListenerArn"]


def test_control_plane_with_the_cli_and_boto3(server, lam, elb, echo):
    lb = aws2(server, "elbv2", "create-load-balancer", "--name", "cli-lb", "--subnets", "subnet-a",
              "subnet-b")["LoadBalancers"][0]
    account = echo.split(":")[4]
    lb_id = lb["LoadBalancerArn"].rsplit("/", 1)[1]
    assert lb["LoadBalancerArn"] == f"arn:aws:elasticloadbalancing:us-east-1:{account}:loadbalancer/app/cli-lb/{lb_id}"
    assert lb["DNSName"] == f"cli-lb-{lb_id}.us-east-1.elb.localhost:{server.port}"
    assert (lb["State"], lb["Type"], lb["Scheme"]) == ({"Code": "active"}, "application", "internet-facing")
    assert [z["SubnetId"] for z in lb["AvailabilityZones"]] == ["subnet-a", "subnet-b"]
    # The same name and settings return the same load balancer; other settings are refused.
    again = elb.create_load_balancer(Name="cli-lb", Subnets=["subnet-a"])["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == lb["LoadBalancerArn"]
    with pytest.raises(ClientError) as e:
        elb.create_load_balancer(Name="cli-lb", Scheme="internal", Subnets=["subnet-a"])
    assert code_of(e) == "DuplicateLoadBalancerName"
    with pytest.raises(ClientError) as e:
        elb.describe_load_balancers(Names=["nope"])
    assert code_of(e) == "LoadBalancerNotFound"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as e:
        elb.create_load_balancer(Name="-bad-")
    assert code_of(e) == "ValidationError"

    tg = aws2(server, "elbv2", "create-target-group", "--name", "cli-tg", "--target-type", "lambda",
              "--health-check-enabled", "--health-check-interval-seconds", "60",
              "--health-check-path", "/health")["TargetGroups"][0]
    tg_arn = tg["TargetGroupArn"]
    assert tg_arn.startswith(f"arn:aws:elasticloadbalancing:us-east-1:{account}:targetgroup/cli-tg/")
    assert (tg["TargetType"], tg["HealthCheckEnabled"], tg["HealthCheckIntervalSeconds"], tg["HealthCheckPath"]) == \
        ("lambda", True, 60, "/health")
    attrs = elb.describe_target_group_attributes(TargetGroupArn=tg_arn)["Attributes"]
    assert {"Key": "lambda.multi_value_headers.enabled", "Value": "false"} in attrs
    with pytest.raises(ClientError) as e:
        elb.modify_target_group_attributes(TargetGroupArn=tg_arn, Attributes=[{"Key": "nope", "Value": "1"}])
    assert code_of(e) == "ValidationError"
    with pytest.raises(ClientError) as e:
        elb.describe_target_groups(TargetGroupArns=[tg_arn + "0"])
    assert code_of(e) == "TargetGroupNotFound"

    # AWS refuses a Lambda target unless the function's policy lets ELB invoke it.
    with pytest.raises(ClientError) as e:
        elb.register_targets(TargetGroupArn=tg_arn, Targets=[{"Id": echo}])
    assert code_of(e) == "AccessDenied"
    assert e.value.response["Error"]["Message"] == \
        f"elasticloadbalancing principal does not have permission to invoke {echo} from target group {tg_arn}"
    allow_elb(lam, "alb-echo", tg_arn, sid="cli")
    aws2(server, "elbv2", "register-targets", "--target-group-arn", tg_arn, "--targets", f"Id={echo}")
    health = elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
    assert [(h["Target"]["Id"], h["TargetHealth"]["State"]) for h in health] == [(echo, "unused")]

    listener = aws2(server, "elbv2", "create-listener", "--load-balancer-arn", lb["LoadBalancerArn"],
                    "--protocol", "HTTP", "--port", "80",
                    "--default-actions", f"Type=forward,TargetGroupArn={tg_arn}")["Listeners"][0]
    assert listener["ListenerArn"].startswith(
        f"arn:aws:elasticloadbalancing:us-east-1:{account}:listener/app/cli-lb/{lb_id}/")
    assert listener["DefaultActions"][0]["TargetGroupArn"] == tg_arn
    with pytest.raises(ClientError) as e:
        elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                            DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    assert code_of(e) == "DuplicateListener"
    assert elb.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"][0]["TargetHealth"]["State"] \
        == "healthy"
    assert elb.describe_target_groups(LoadBalancerArn=lb["LoadBalancerArn"])["TargetGroups"][0]["TargetGroupArn"] \
        == tg_arn

    rule = aws2(server, "elbv2", "create-rule", "--listener-arn", listener["ListenerArn"], "--priority", "10",
                "--conditions", "Field=path-pattern,Values=/api/*",
                "--actions", f"Type=forward,TargetGroupArn={tg_arn}")["Rules"][0]
    assert (rule["Priority"], rule["IsDefault"], rule["Conditions"][0]["Values"]) == ("10", False, ["/api/*"])
    with pytest.raises(ClientError) as e:
        elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=10,
                        Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["a.example"]}}],
                        Actions=[{"Type": "forward", "TargetGroupArn": tg_arn}])
    assert code_of(e) == "PriorityInUse"
    other = elb.create_rule(ListenerArn=listener["ListenerArn"], Priority=20,
                            Conditions=[{"Field": "http-request-method",
                                         "HttpRequestMethodConfig": {"Values": ["DELETE"]}}],
                            Actions=[{"Type": "fixed-response",
                                      "FixedResponseConfig": {"StatusCode": "418", "MessageBody": "no"}}])
    other_arn = other["Rules"][0]["RuleArn"]
    elb.set_rule_priorities(RulePriorities=[{"RuleArn": other_arn, "Priority": 5}])
    rules = elb.describe_rules(ListenerArn=listener["ListenerArn"])["Rules"]
    assert [r["Priority"] for r in rules] == ["5", "10", "default"]
    elb.modify_rule(RuleArn=other_arn, Conditions=[{"Field": "path-pattern", "Values": ["/x"]}])
    assert elb.describe_rules(RuleArns=[other_arn])["Rules"][0]["Conditions"][0]["Values"] == ["/x"]
    with pytest.raises(ClientError) as e:
        elb.describe_rules(RuleArns=[other_arn + "0"])
    assert code_of(e) == "RuleNotFound"

    elb.add_tags(ResourceArns=[lb["LoadBalancerArn"], tg_arn], Tags=[{"Key": "team", "Value": "web"}])
    tags = elb.describe_tags(ResourceArns=[lb["LoadBalancerArn"], tg_arn])["TagDescriptions"]
    assert [t["Tags"] for t in tags] == [[{"Key": "team", "Value": "web"}]] * 2
    elb.remove_tags(ResourceArns=[tg_arn], TagKeys=["team"])
    assert elb.describe_tags(ResourceArns=[tg_arn])["TagDescriptions"][0]["Tags"] == []

    with pytest.raises(ClientError) as e:
        elb.delete_target_group(TargetGroupArn=tg_arn)
    assert code_of(e) == "ResourceInUse"
    elb.delete_rule(RuleArn=other_arn)
    aws2(server, "elbv2", "delete-listener", "--listener-arn", listener["ListenerArn"])
    with pytest.raises(ClientError) as e:
        elb.describe_listeners(ListenerArns=[listener["ListenerArn"]])
    assert code_of(e) == "ListenerNotFound"
    elb.deregister_targets(TargetGroupArn=tg_arn, Targets=[{"Id": echo}])
    elb.delete_target_group(TargetGroupArn=tg_arn)
    aws2(server, "elbv2", "delete-load-balancer", "--load-balancer-arn", lb["LoadBalancerArn"])
    assert [x["LoadBalancerName"] for x in elb.describe_load_balancers()["LoadBalancers"]
            if x["LoadBalancerName"] == "cli-lb"] == []


def test_single_value_event_field_by_field(server, lam, elb, echo):
    tg = target_group(elb, lam, "single", echo)
    lb, _ = load_balancer(elb, "single", tg)
    endpoint = "http://" + lb["DNSName"]
    status, headers, body = call(endpoint, "POST", "/a/b%20c?x=1&y=a%20b&x=2&flag",
                                 body=b'{"k": "v"}',
                                 headers=[("Content-Type", "application/json"), ("X-Rep", "one"),
                                          ("X-Rep", "two"), ("X-Mixed-Case", "Yes")])
    assert status == 200, body
    assert headers["x-fn"] == "alb" and headers["content-type"] == "application/json"
    event = json.loads(body)
    assert event["requestContext"] == {"elb": {"targetGroupArn": tg}}
    assert (event["httpMethod"], event["path"]) == ("POST", "/a/b%20c")
    # ALB passes query values as sent (URL-encoded); a repeated one: the last value.
    assert event["queryStringParameters"] == {"x": "2", "y": "a%20b", "flag": ""}
    h = event["headers"]
    assert h["x-rep"] == "two" and h["x-mixed-case"] == "Yes" and h["content-type"] == "application/json"
    assert h["host"] == lb["DNSName"]
    assert h["x-forwarded-port"] == "80" and h["x-forwarded-proto"] == "http"
    assert h["x-forwarded-for"] == "127.0.0.1" and h["x-amzn-trace-id"].startswith("Root=1-")
    assert (event["isBase64Encoded"], event["body"]) == (False, '{"k": "v"}')
    assert "multiValueHeaders" not in event and "multiValueQueryStringParameters" not in event

    status, _, body = call(endpoint, "GET", "/")
    event = json.loads(body)
    assert (event["queryStringParameters"], event["body"], event["isBase64Encoded"]) == ({}, "", False)


def test_multi_value_event_and_binary_bodies_with_curl(server, lam, elb, echo):
    curl = require_tool("curl")
    tg = target_group(elb, lam, "multi", echo, multi=True)
    lb, _ = load_balancer(elb, "multi", tg)
    status, headers, body = call("http://" + lb["DNSName"], "GET", "/m?x=1&x=2&e=%C3%A9",
                                 headers=[("X-Rep", "one"), ("X-Rep", "two")])
    assert status == 201
    assert headers.get_all("set-cookie") == ["a=1", "b=2"]
    event = json.loads(body)
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "e": ["%C3%A9"]}
    assert event["multiValueHeaders"]["x-rep"] == ["one", "two"]
    assert "headers" not in event and "queryStringParameters" not in event

    # Binary both ways: a body that is not text goes base64-encoded; the answer is decoded.
    payload = bytes(range(256))
    with tempfile.NamedTemporaryFile() as f, tempfile.NamedTemporaryFile() as out:
        f.write(payload)
        f.flush()
        port = lb["DNSName"].rsplit(":", 1)[1]
        run = lambda path, *extra: subprocess.run(  # noqa: E731
            [curl, "-s", "-o", out.name, "-w", "%{http_code}", "--resolve", f"{lb['DNSName'].rsplit(':', 1)[0]}:{port}:127.0.0.1",
             "-H", "Content-Type: application/octet-stream", "--data-binary", f"@{f.name}", *extra,
             f"http://{lb['DNSName']}{path}"], capture_output=True, text=True, timeout=60)
        proc = run("/echo")
        assert proc.stdout == "201", proc.stderr
        event = json.loads(open(out.name, "rb").read())
        assert event["isBase64Encoded"] is True
        assert base64.b64decode(event["body"]) == payload
        proc = run("/binary")
        assert proc.stdout == "200"
        assert open(out.name, "rb").read() == payload[::-1]


def test_rules_by_priority_and_fixed_responses(server, lam, elb, echo):
    tg = target_group(elb, lam, "rules", echo)
    lb = elb.create_load_balancer(Name="rules")["LoadBalancers"][0]
    listener = elb.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=8080,
        DefaultActions=[{"Type": "fixed-response", "FixedResponseConfig": {
            "StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no rule"}}])["Listeners"][0]
    fixed = lambda body: [{"Type": "fixed-response", "FixedResponseConfig": {  # noqa: E731
        "StatusCode": "200", "ContentType": "text/plain", "MessageBody": body}}]
    larn = listener["ListenerArn"]
    elb.create_rule(ListenerArn=larn, Priority=40, Actions=[{"Type": "forward", "TargetGroupArn": tg}],
                    Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/api/*"]}}])
    elb.create_rule(ListenerArn=larn, Priority=30, Actions=fixed("header"),
                    Conditions=[{"Field": "http-header", "HttpHeaderConfig": {
                        "HttpHeaderName": "X-Client", "Values": ["*mobile*"]}}])
    elb.create_rule(ListenerArn=larn, Priority=20, Actions=fixed("query"),
                    Conditions=[{"Field": "query-string", "QueryStringConfig": {
                        "Values": [{"Key": "version", "Value": "v2"}]}}])
    elb.create_rule(ListenerArn=larn, Priority=10, Actions=fixed("host"),
                    Conditions=[{"Field": "host-header", "HostHeaderConfig": {"Values": ["rules-*.elb.*"]}},
                                {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/host"]}}])
    ep = "http://" + lb["DNSName"]
    get = lambda path, headers=(): call(ep, "GET", path, headers=list(headers))  # noqa: E731
    status, headers, body = get("/api/items")
    assert status == 200 and json.loads(body)["path"] == "/api/items"
    assert get("/api/items", [("X-Client", "ios mobile app")])[2] == b"header"
    assert get("/api/items?version=V2", [("X-Client", "ios mobile app")])[2] == b"query"
    assert get("/host?version=v2")[2] == b"host"
    status, headers, body = get("/other")
    assert (status, body) == (404, b"no rule")
    assert headers["content-type"].startswith("text/plain")


def test_missing_permission_function_error_and_malformed_answers(server, lam, elb, echo):
    tg = target_group(elb, lam, "perm", echo)
    lb, _ = load_balancer(elb, "perm", tg)
    ep = "http://" + lb["DNSName"]
    status, headers, body = call(ep, "GET", "/fail")
    assert status == 502 and b"502 Bad Gateway" in body and headers["server"] == "awselb/2.0"
    assert call(ep, "GET", "/malformed")[0] == 502
    before = invocations(server, "alb-echo")
    lam.remove_permission(FunctionName="alb-echo", StatementId="elb-perm")
    assert call(ep, "GET", "/x")[0] == 502
    assert invocations(server, "alb-echo") == before
    # An empty target group: ALB's 503.
    empty = elb.create_target_group(Name="empty", TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    lb2, _ = load_balancer(elb, "empty", empty)
    assert call("http://" + lb2["DNSName"], "GET", "/")[0] == 503

    # /metrics counts each load balancer's requests and 5xx answers.
    label = '{door="elb",id="' + lb["DNSName"].split(".")[0] + '"}'
    assert metric(server, "lambdad_door_requests_total" + label) == 3
    assert metric(server, "lambdad_door_5xx_total" + label) == 3
    assert metric(server, "lambdad_door_latency_seconds_count" + label) == 3


def call_host(server, host, path="/"):
    """A plain HTTP request to lambdad's port with the Host `host` (which may name another port)."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", host)
    conn.endheaders()
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, data


def fixed(body, status="200"):
    return [{"Type": "fixed-response",
             "FixedResponseConfig": {"StatusCode": status, "ContentType": "text/plain", "MessageBody": body}}]


def test_listeners_by_port_modify_and_source_ip_rules(server, lam, elb, echo):
    tg = target_group(elb, lam, "ports", echo)
    lb, l80 = load_balancer(elb, "ports", tg)
    name = lb["DNSName"].rsplit(":", 1)[0]
    l8080 = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=8080,
                                DefaultActions=fixed("eighty-eighty"))["Listeners"][0]["ListenerArn"]
    # The Host's port picks the listener; another port is served by the lowest one.
    assert call_host(server, f"{name}:8080") == (200, b"eighty-eighty")
    status, body = call_host(server, lb["DNSName"])
    assert status == 200 and json.loads(body)["headers"]["x-forwarded-port"] == "80"

    out = elb.modify_listener(ListenerArn=l8080, Port=9090, DefaultActions=fixed("ninety"))["Listeners"][0]
    assert (out["Port"], out["DefaultActions"][0]["FixedResponseConfig"]["MessageBody"]) == (9090, "ninety")
    described = elb.describe_listeners(ListenerArns=[l8080])["Listeners"][0]
    assert described["Port"] == 9090
    assert call_host(server, f"{name}:9090") == (200, b"ninety")
    assert json.loads(call_host(server, f"{name}:8080")[1])["headers"]["x-forwarded-port"] == "80"
    with pytest.raises(ClientError) as e:
        elb.modify_listener(ListenerArn=l8080, Port=80)
    assert code_of(e) == "DuplicateListener"

    # redirect actions: Location from the request's parts.
    rule = elb.create_rule(ListenerArn=l8080, Priority=5, Conditions=[{"Field": "path-pattern", "Values": ["/old/*"]}],
                           Actions=[{"Type": "redirect", "RedirectConfig": {
                               "Protocol": "HTTPS", "Host": "example.com", "Port": "443",
                               "Path": "/new/#{path}", "StatusCode": "HTTP_301"}}])["Rules"][0]
    assert rule["Actions"][0]["RedirectConfig"] == {
        "Protocol": "HTTPS", "Port": "443", "Host": "example.com", "Path": "/new/#{path}",
        "Query": "#{query}", "StatusCode": "HTTP_301"}
    conn = __import__("http.client").client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", "/old/x?a=1", headers={"Host": f"{name}:9090"})
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert (resp.status, resp.headers["location"]) == (301, "https://example.com:443/new/old/x?a=1")
    with pytest.raises(ClientError) as e:
        elb.create_rule(ListenerArn=l8080, Priority=6, Conditions=[{"Field": "path-pattern", "Values": ["/y"]}],
                        Actions=[{"Type": "redirect", "RedirectConfig": {"StatusCode": "HTTP_307"}}])
    assert code_of(e) == "ValidationError"

    # source-ip conditions match the caller's address against CIDR blocks.
    elb.create_rule(ListenerArn=l80, Priority=1, Actions=fixed("ten", "403"),
                    Conditions=[{"Field": "source-ip", "SourceIpConfig": {"Values": ["10.0.0.0/8"]}}])
    elb.create_rule(ListenerArn=l80, Priority=2, Actions=fixed("local"),
                    Conditions=[{"Field": "source-ip", "SourceIpConfig": {"Values": ["192.168.0.0/16", "127.0.0.0/8"]}}])
    assert call_host(server, lb["DNSName"], "/any") == (200, b"local")
    with pytest.raises(ClientError) as e:
        elb.create_rule(ListenerArn=l80, Priority=3, Actions=fixed("x"),
                        Conditions=[{"Field": "source-ip", "SourceIpConfig": {"Values": ["300.1.1.1/8"]}}])
    assert code_of(e) == "ValidationError"

    # ModifyTargetGroup: health-check settings, returned by Describe.
    out = elb.modify_target_group(TargetGroupArn=tg, HealthCheckEnabled=True, HealthCheckIntervalSeconds=120,
                                  HealthCheckPath="/ping", Matcher={"HttpCode": "200-299"})["TargetGroups"][0]
    got = elb.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]
    for t in (out, got):
        assert (t["HealthCheckEnabled"], t["HealthCheckIntervalSeconds"], t["HealthCheckPath"],
                t["Matcher"]["HttpCode"], t["HealthCheckTimeoutSeconds"]) == (True, 120, "/ping", "200-299", 30)
    # Out of elbv2's range: refused by the server too (boto3's own check off).
    import boto3
    from botocore.config import Config
    raw = boto3.client("elbv2", endpoint_url=server.endpoint, region_name="us-east-1",
                       aws_access_key_id="AKIDTEST", aws_secret_access_key="secret",
                       config=Config(retries={"max_attempts": 1}, parameter_validation=False))
    with pytest.raises(ClientError) as e:
        raw.modify_target_group(TargetGroupArn=tg, HealthCheckIntervalSeconds=1)
    assert code_of(e) == "ValidationError"
    assert elb.describe_target_groups(TargetGroupArns=[tg])["TargetGroups"][0]["HealthCheckIntervalSeconds"] == 120
