"""Real frameworks, unmodified, behind the front doors: a Powertools for AWS Lambda (Python)
`ALBResolver` app behind an Application Load Balancer and an `APIGatewayHttpResolver` app behind
an HTTP API (aws-lambda-powertools from PyPI), and an Express app through serverless-http
behind an HTTP API and a load balancer (express and serverless-http from npm), each zip built
here by pip or npm with pinned versions."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROLE, ROOT, make_client, require_tool, zip_bytes
from gateway_helpers import allow_gateway, call

POWERTOOLS = "aws-lambda-powertools==3.37.0"
EXPRESS = ["express@4.21.2", "serverless-http@3.2.0"]

ALB_APP = r'''
import json
from aws_lambda_powertools.event_handler import ALBResolver, Response, content_types

app = ALBResolver()

@app.get("/hello/<name>")
def hello(name):
    return {"hello": name, "q": app.current_event.get_query_string_value("q")}

@app.post("/items")
def create():
    return Response(status_code=201, content_type=content_types.APPLICATION_JSON,
                    body=json.dumps({"got": app.current_event.json_body}))

def handler(event, context):
    return app.resolve(event, context)
'''

HTTP_APP = ALB_APP.replace("ALBResolver", "APIGatewayHttpResolver")

EXPRESS_APP = r'''
const express = require("express");
const serverless = require("serverless-http");
const app = express();
app.use(express.json());
app.get("/users/:id", (req, res) => res.set("x-app", "express").json({id: req.params.id, q: req.query.q}));
app.post("/users", (req, res) => res.status(201).json({created: req.body.name}));
module.exports.handler = serverless(app);
'''


def cached(name, install):
    """A directory of packages installed once by `install(target)` under ROOT/.cache."""
    cache = ROOT / ".cache" / name
    if not cache.is_dir():
        tmp = Path(str(cache) + ".tmp")
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
        tmp.mkdir(parents=True)
        install(tmp)
        tmp.rename(cache)
    return cache


def zip_with(app_name, app_code, directory, prefix=""):
    files = {app_name: (app_code, 0o644)}
    for p in directory.rglob("*"):
        if p.is_file() and "__pycache__" not in p.parts:
            files[prefix + str(p.relative_to(directory))] = (p.read_bytes(), 0o644)
    return zip_bytes(files)


def powertools_zip(code):
    minor = sys.version_info.minor
    deps = cached(f"powertools-3.37.0-py3{minor}", lambda t: subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--target", str(t), POWERTOOLS], check=True, timeout=600))
    return zip_with("app.py", code, deps)


def express_zip():
    npm = require_tool("npm")

    def install(t):
        (t / "package.json").write_text('{"name": "fn", "version": "1.0.0", "private": true}')
        subprocess.run([npm, "install", "--no-audit", "--no-fund", "--omit=dev", *EXPRESS], cwd=t,
                       check=True, timeout=600, capture_output=True)
    deps = cached("express-4.21.2-serverless-http-3.2.0", install)
    return zip_with("index.js", EXPRESS_APP, deps)


@pytest.fixture(scope="module")
def elb(server):
    return make_client(server.endpoint, "elbv2")


@pytest.fixture(scope="module")
def gw(server):
    return make_client(server.endpoint, "apigatewayv2")


def behind_alb(lam, elb, name, arn):
    tg = elb.create_target_group(Name=name, TargetType="lambda")["TargetGroups"][0]["TargetGroupArn"]
    lam.add_permission(FunctionName=arn, StatementId="elb", Action="lambda:InvokeFunction",
                       Principal="elasticloadbalancing.amazonaws.com", SourceArn=tg)
    elb.register_targets(TargetGroupArn=tg, Targets=[{"Id": arn}])
    lb = elb.create_load_balancer(Name=name)["LoadBalancers"][0]
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=80,
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg}])
    return "http://" + lb["DNSName"]


@pytest.mark.timeout(900)
def test_powertools_resolvers_behind_an_alb_and_an_http_api(server, lam, elb, gw):
    runtime = f"python3.{sys.version_info.minor}"
    alb_fn = lam.create_function(FunctionName="pt-alb", Runtime=runtime, Handler="app.handler", Role=ROLE,
                                 Code={"ZipFile": powertools_zip(ALB_APP)}, Timeout=30)["FunctionArn"]
    ep = behind_alb(lam, elb, "powertools", alb_fn)
    status, headers, body = call(ep, "GET", "/hello/ann?q=x%20y")
    assert status == 200, body
    assert json.loads(body) == {"hello": "ann", "q": "x%20y"}  # ALB leaves the query encoded
    status, headers, body = call(ep, "POST", "/items", body=b'{"n": 1}',
                                 headers=[("Content-Type", "application/json")])
    assert (status, json.loads(body)) == (201, {"got": {"n": 1}})
    assert headers["content-type"] == "application/json"
    assert call(ep, "GET", "/nowhere")[0] == 404

    http_fn = lam.create_function(FunctionName="pt-http", Runtime=runtime, Handler="app.handler", Role=ROLE,
                                  Code={"ZipFile": powertools_zip(HTTP_APP)}, Timeout=30)["FunctionArn"]
    api = gw.create_api(Name="powertools", ProtocolType="HTTP", Target=http_fn)
    allow_gateway(lam, "pt-http", api["ApiId"])
    status, _, body = call(api["ApiEndpoint"], "GET", "/hello/bo?q=x%20y")
    assert (status, json.loads(body)) == (200, {"hello": "bo", "q": "x y"})
    status, _, body = call(api["ApiEndpoint"], "POST", "/items", body=b'{"n": 2}',
                           headers=[("Content-Type", "application/json")])
    assert (status, json.loads(body)) == (201, {"got": {"n": 2}})


@pytest.mark.timeout(900)
def test_express_through_serverless_http_behind_an_http_api_and_an_alb(server, lam, elb, gw):
    arn = lam.create_function(FunctionName="express", Runtime="nodejs20.x", Handler="index.handler", Role=ROLE,
                              Code={"ZipFile": express_zip()}, Timeout=30)["FunctionArn"]
    api = gw.create_api(Name="express", ProtocolType="HTTP", Target=arn)
    allow_gateway(lam, "express", api["ApiId"])
    alb = behind_alb(lam, elb, "express", arn)
    for ep in (api["ApiEndpoint"], alb):
        status, headers, body = call(ep, "GET", "/users/7?q=hi")
        assert status == 200, body
        assert json.loads(body) == {"id": "7", "q": "hi"}
        assert headers["x-app"] == "express"
        status, _, body = call(ep, "POST", "/users", body=b'{"name": "ann"}',
                               headers=[("Content-Type", "application/json")])
        assert (status, json.loads(body)) == (201, {"created": "ann"})
