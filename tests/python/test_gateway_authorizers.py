"""Authorizers of API Gateway HTTP APIs: the control plane through the aws CLI v2 and boto3; Lambda
REQUEST authorizers (real Python functions, simple and IAM-policy answers, payload 1.0 and 2.0,
identity sources, caching by TTL) and JWT authorizers (keys served by a JWKS server the test
starts, tokens made with PyJWT) in front of a real integration function, asserting what clients
got and what the functions received."""

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from conftest import ROLE, make_client, wait_for, zip_bytes
from gateway_helpers import aws2, call, invocations
from test_gateway_http import APP

# The authorizer: answers by the `x-token` header; MODE=simple answers {"isAuthorized"}, else an
# IAM policy on the request's ARN. It counts its own invocations and passes them on as context.
AUTHORIZER = r'''
import os

CALLS = 0

def handler(event, context):
    global CALLS
    CALLS += 1
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    token = headers.get("x-token", "")
    ctx = {"user": "alice", "calls": CALLS, "version": event["version"], "type": event["type"],
           "identity": str(event["identitySource"]),
           "arn": event.get("routeArn") or event.get("methodArn")}
    if os.environ.get("MODE") == "simple":
        return {"isAuthorized": token == "allow", "context": ctx}
    effect = "Allow" if token == "allow" else "Deny"
    return {"principalId": "alice-id",
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": effect,
                 "Resource": [event.get("routeArn") or event.get("methodArn")]}]},
            "context": ctx}
'''


@pytest.fixture(scope="module")
def gw(server):
    return make_client(server.endpoint, "apigatewayv2")


def function(lam, name, code, env=None):
    return lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler",
                               Role=ROLE, Code={"ZipFile": zip_bytes({"app.py": (code, 0o644)})},
                               Environment={"Variables": env or {}}, Timeout=10)["FunctionArn"]


def account_of(arn):
    return arn.split(":")[4]


def uri(arn):
    return f"arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations"


@pytest.fixture(scope="module")
def api(server, lam, gw):
    """An HTTP API with a `$default` auto-deploy stage and integrations (2.0 and 1.0) to an echo
    function the gateway may invoke."""
    echo = function(lam, "gwa-echo", APP)
    created = gw.create_api(Name="authz", ProtocolType="HTTP")
    api_id = created["ApiId"]
    gw.create_stage(ApiId=api_id, StageName="$default", AutoDeploy=True)
    v2 = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                               PayloadFormatVersion="2.0")["IntegrationId"]
    v1 = gw.create_integration(ApiId=api_id, IntegrationType="AWS_PROXY", IntegrationUri=echo,
                               PayloadFormatVersion="1.0")["IntegrationId"]
    lam.add_permission(FunctionName="gwa-echo", StatementId="apigw", Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{account_of(echo)}:{api_id}/*")
    return {"id": api_id, "endpoint": created["ApiEndpoint"], "v2": v2, "v1": v1,
            "account": account_of(echo)}


def allow_authorizer(lam, name, api, authorizer_id):
    lam.add_permission(FunctionName=name, StatementId=f"auth-{authorizer_id}",
                       Action="lambda:InvokeFunction", Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{api['account']}:{api['id']}"
                                 f"/authorizers/{authorizer_id}")


def event_of(body):
    return json.loads(body)["event"]


def test_authorizers_through_the_cli_and_boto3(server, lam, gw, api):
    arn = function(lam, "gwa-cli-auth", AUTHORIZER, {"MODE": "simple"})
    a = aws2(server, "apigatewayv2", "create-authorizer", "--api-id", api["id"], "--name", "cli",
             "--authorizer-type", "REQUEST", "--authorizer-uri", uri(arn),
             "--authorizer-payload-format-version", "2.0", "--enable-simple-responses",
             "--identity-source", "$request.header.x-token", "$request.querystring.q",
             "--authorizer-result-ttl-in-seconds", "60")
    assert a["AuthorizerType"] == "REQUEST" and a["Name"] == "cli"
    assert a["IdentitySource"] == ["$request.header.x-token", "$request.querystring.q"]
    assert (a["AuthorizerPayloadFormatVersion"], a["EnableSimpleResponses"],
            a["AuthorizerResultTtlInSeconds"], a["AuthorizerUri"]) == ("2.0", True, 60, uri(arn))
    got = gw.get_authorizer(ApiId=api["id"], AuthorizerId=a["AuthorizerId"])
    assert got["Name"] == "cli" and got["AuthorizerId"] == a["AuthorizerId"]
    assert a["AuthorizerId"] in [x["AuthorizerId"] for x in gw.get_authorizers(ApiId=api["id"])["Items"]]
    updated = gw.update_authorizer(ApiId=api["id"], AuthorizerId=a["AuthorizerId"], Name="renamed",
                                   AuthorizerResultTtlInSeconds=0)
    assert (updated["Name"], updated["AuthorizerResultTtlInSeconds"]) == ("renamed", 0)

    jwt_auth = gw.create_authorizer(ApiId=api["id"], Name="jwt", AuthorizerType="JWT",
                                    IdentitySource=["$request.header.Authorization"],
                                    JwtConfiguration={"Audience": ["app"],
                                                      "Issuer": "https://issuer.example"})
    assert jwt_auth["JwtConfiguration"] == {"Audience": ["app"], "Issuer": "https://issuer.example"}

    def refused(call_, status, text):
        with pytest.raises(ClientError) as e:
            call_()
        err = e.value.response
        assert err["Error"]["Code"] == ("BadRequestException" if status == 400 else "ConflictException")
        assert err["ResponseMetadata"]["HTTPStatusCode"] == status
        assert text in err["Error"]["Message"]

    refused(lambda: gw.create_authorizer(
        ApiId=api["id"], Name="x", AuthorizerType="REQUEST", AuthorizerUri=uri(arn),
        AuthorizerPayloadFormatVersion="1.0", EnableSimpleResponses=True,
        IdentitySource=["$request.header.a"]), 400, "EnableSimpleResponses")
    refused(lambda: gw.create_authorizer(
        ApiId=api["id"], Name="x", AuthorizerType="REQUEST", AuthorizerUri="not-a-function",
        AuthorizerPayloadFormatVersion="2.0", IdentitySource=["$request.header.a"]), 400,
        "Invalid Authorizer URI")
    refused(lambda: gw.create_authorizer(
        ApiId=api["id"], Name="x", AuthorizerType="REQUEST", AuthorizerUri=uri(arn),
        AuthorizerPayloadFormatVersion="2.0", AuthorizerResultTtlInSeconds=4000,
        IdentitySource=["$request.header.a"]), 400, "3600")
    refused(lambda: gw.create_authorizer(
        ApiId=api["id"], Name="x", AuthorizerType="JWT", IdentitySource=["$request.header.a"]),
        400, "JwtConfiguration")
    # Routes: CUSTOM needs a REQUEST authorizer, JWT a JWT one; scopes only with JWT.
    refused(lambda: gw.create_route(ApiId=api["id"], RouteKey="GET /bad", AuthorizationType="CUSTOM",
                                    AuthorizerId=jwt_auth["AuthorizerId"]), 400, "does not match")
    refused(lambda: gw.create_route(ApiId=api["id"], RouteKey="GET /bad", AuthorizationType="CUSTOM"),
            400, "AuthorizerId is required")
    route = gw.create_route(ApiId=api["id"], RouteKey="GET /cli", AuthorizationType="JWT",
                            AuthorizerId=jwt_auth["AuthorizerId"], AuthorizationScopes=["read"],
                            Target=f"integrations/{api['v2']}")
    assert (route["AuthorizationType"], route["AuthorizerId"], route["AuthorizationScopes"]) == \
        ("JWT", jwt_auth["AuthorizerId"], ["read"])
    refused(lambda: gw.delete_authorizer(ApiId=api["id"], AuthorizerId=jwt_auth["AuthorizerId"]),
            409, "used by route")
    gw.delete_route(ApiId=api["id"], RouteId=route["RouteId"])
    gw.delete_authorizer(ApiId=api["id"], AuthorizerId=jwt_auth["AuthorizerId"])
    aws2(server, "apigatewayv2", "delete-authorizer", "--api-id", api["id"],
         "--authorizer-id", a["AuthorizerId"])
    with pytest.raises(ClientError) as e:
        gw.get_authorizer(ApiId=api["id"], AuthorizerId=a["AuthorizerId"])
    assert e.value.response["Error"]["Code"] == "NotFoundException"
    # apigatewayv2's error body as botocore models it: `message` (and `resourceType`), no `Type`.
    url = f"{server.endpoint}/v2/apis/{api['id']}/authorizers/nope"
    signed = AWSRequest(method="GET", url=url)
    SigV4Auth(Credentials("AKIDTEST", "secret"), "apigateway", "us-east-1").add_auth(signed)
    with pytest.raises(urllib.error.HTTPError) as raw:
        urllib.request.urlopen(urllib.request.Request(url, headers=dict(signed.headers)), timeout=30)
    assert raw.value.code == 404
    assert raw.value.headers["x-amzn-ErrorType"] == "NotFoundException"
    assert json.loads(raw.value.read()) == {
        "message": f"Invalid Authorizer identifier specified {api['account']}:nope",
        "resourceType": "Authorizer"}


def test_simple_authorizer_allows_denies_and_passes_its_context(server, lam, gw, api):
    arn = function(lam, "gwa-simple", AUTHORIZER, {"MODE": "simple"})
    a = gw.create_authorizer(ApiId=api["id"], Name="simple", AuthorizerType="REQUEST",
                             AuthorizerUri=uri(arn), AuthorizerPayloadFormatVersion="2.0",
                             EnableSimpleResponses=True, IdentitySource=["$request.header.x-token"])
    gw.create_route(ApiId=api["id"], RouteKey="GET /simple", AuthorizationType="CUSTOM",
                    AuthorizerId=a["AuthorizerId"], Target=f"integrations/{api['v2']}")
    # Without the authorizer's own permission: the gateway's 500, and the authorizer does not run.
    status, _, body = call(api["endpoint"], path="/simple", headers=[("x-token", "allow")])
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    assert invocations(server, "gwa-simple") == 0
    allow_authorizer(lam, "gwa-simple", api, a["AuthorizerId"])

    # A missing identity source: 401 before the authorizer runs.
    status, _, body = call(api["endpoint"], path="/simple")
    assert (status, json.loads(body)) == (401, {"message": "Unauthorized"})
    status, _, body = call(api["endpoint"], path="/simple", headers=[("x-token", "nope")])
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    status, _, body = call(api["endpoint"], path="/simple?x=1", headers=[("X-Token", "allow")])
    assert status == 200, body
    e = event_of(body)
    lam_ctx = e["requestContext"]["authorizer"]["lambda"]
    assert lam_ctx["user"] == "alice" and lam_ctx["version"] == "2.0" and lam_ctx["type"] == "REQUEST"
    assert lam_ctx["identity"] == "['allow']"
    assert lam_ctx["arn"] == f"arn:aws:execute-api:us-east-1:{api['account']}:{api['id']}/$default/GET/simple"
    # TTL 0: every request runs the authorizer.
    assert lam_ctx["calls"] == 2
    status, _, body = call(api["endpoint"], path="/simple", headers=[("x-token", "allow")])
    assert event_of(body)["requestContext"]["authorizer"]["lambda"]["calls"] == 3


def test_policy_authorizer_with_payload_1_and_a_cache(server, lam, gw, api):
    arn = function(lam, "gwa-policy", AUTHORIZER, {"MODE": "policy"})
    a = gw.create_authorizer(ApiId=api["id"], Name="policy", AuthorizerType="REQUEST",
                             AuthorizerUri=uri(arn), AuthorizerPayloadFormatVersion="1.0",
                             IdentitySource=["$request.header.x-token"],
                             AuthorizerResultTtlInSeconds=300)
    allow_authorizer(lam, "gwa-policy", api, a["AuthorizerId"])
    gw.create_route(ApiId=api["id"], RouteKey="GET /policy/{id}", AuthorizationType="CUSTOM",
                    AuthorizerId=a["AuthorizerId"], Target=f"integrations/{api['v1']}")
    status, _, body = call(api["endpoint"], path="/policy/1", headers=[("x-token", "allow")])
    assert status == 200, body
    auth = event_of(body)["requestContext"]["authorizer"]
    assert (auth["user"], auth["principalId"], auth["version"], auth["calls"]) == \
        ("alice", "alice-id", "1.0", 1)
    assert auth["identity"] == "allow"
    assert auth["arn"] == f"arn:aws:execute-api:us-east-1:{api['account']}:{api['id']}/$default/GET/policy/1"
    assert isinstance(auth["integrationLatency"], int)
    before = invocations(server, "gwa-policy")
    # The same identity within the TTL: the cached answer, and the authorizer does not run. Its
    # policy names /policy/1 only, so another path with the same token is denied by the cache.
    status, _, body = call(api["endpoint"], path="/policy/1", headers=[("x-token", "allow")])
    assert status == 200 and event_of(body)["requestContext"]["authorizer"]["calls"] == 1
    status, _, body = call(api["endpoint"], path="/policy/2", headers=[("x-token", "allow")])
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    assert invocations(server, "gwa-policy") == before
    # Another identity runs it again; its Deny is a 403.
    status, _, body = call(api["endpoint"], path="/policy/1", headers=[("x-token", "deny")])
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})
    assert invocations(server, "gwa-policy") == before + 1
    # A TTL of 0 turns the cache off (an update forgets what was cached).
    gw.update_authorizer(ApiId=api["id"], AuthorizerId=a["AuthorizerId"],
                         AuthorizerResultTtlInSeconds=0)
    status, _, body = call(api["endpoint"], path="/policy/1", headers=[("x-token", "allow")])
    assert status == 200 and event_of(body)["requestContext"]["authorizer"]["calls"] == 3


def test_an_authorizer_error_is_a_500(lam, gw, api):
    arn = function(lam, "gwa-broken", "def handler(event, context):\n    raise ValueError('no')\n")
    a = gw.create_authorizer(ApiId=api["id"], Name="broken", AuthorizerType="REQUEST",
                             AuthorizerUri=uri(arn), AuthorizerPayloadFormatVersion="2.0",
                             EnableSimpleResponses=True, IdentitySource=["$request.header.x-token"])
    allow_authorizer(lam, "gwa-broken", api, a["AuthorizerId"])
    gw.create_route(ApiId=api["id"], RouteKey="GET /broken", AuthorizationType="CUSTOM",
                    AuthorizerId=a["AuthorizerId"], Target=f"integrations/{api['v2']}")
    status, _, body = call(api["endpoint"], path="/broken", headers=[("x-token", "allow")])
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})


class Issuer:
    """An OpenID issuer: discovery document and JWKS over HTTP on loopback, RSA keys made with
    `cryptography`, tokens signed with PyJWT."""

    def __init__(self):
        self.keys = {}
        self.fetches = 0
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    doc = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks.json"}
                elif self.path == "/jwks.json":
                    issuer.fetches += 1
                    doc = {"keys": [dict(json.loads(RSAAlgorithm.to_jwk(k.public_key())),
                                         kid=kid, alg="RS256", use="sig")
                                    for kid, k in list(issuer.keys.items())]}
                else:
                    self.send_error(404)
                    return
                data = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.add_key("k1")

    def add_key(self, kid):
        self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def token(self, kid="k1", **claims):
        now = int(time.time())
        body = {"iss": self.url, "aud": "app", "sub": "user-1", "iat": now, "exp": now + 300,
                "scope": "read write"}
        body.update(claims)
        body = {k: v for k, v in body.items() if v is not None}
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def issuer():
    i = Issuer()
    yield i
    i.httpd.shutdown()


def test_jwt_authorizer_checks_tokens_and_passes_claims(gw, api, issuer):
    a = gw.create_authorizer(ApiId=api["id"], Name="jwt", AuthorizerType="JWT",
                             IdentitySource=["$request.header.Authorization"],
                             JwtConfiguration={"Audience": ["app", "other"], "Issuer": issuer.url})
    for key, target, scopes in (("GET /jwt", api["v2"], ["read"]), ("GET /jwt1", api["v1"], []),
                                ("GET /admin", api["v2"], ["admin"])):
        gw.create_route(ApiId=api["id"], RouteKey=key, AuthorizationType="JWT",
                        AuthorizerId=a["AuthorizerId"], AuthorizationScopes=scopes,
                        Target=f"integrations/{target}")

    def get(path, token):
        headers = [("Authorization", f"Bearer {token}")] if token is not None else []
        status, headers, body = call(api["endpoint"], path=path, headers=headers)
        return status, headers, body

    status, _, body = get("/jwt", issuer.token())
    assert status == 200, body
    j = event_of(body)["requestContext"]["authorizer"]["jwt"]
    assert j["scopes"] == ["read", "write"]
    assert (j["claims"]["sub"], j["claims"]["aud"], j["claims"]["iss"]) == ("user-1", "app", issuer.url)
    assert j["claims"]["exp"].isdigit()
    # Payload 1.0 integrations get the block itself; `client_id` stands in for `aud`.
    status, _, body = get("/jwt1", issuer.token(aud=None, client_id="other", scope=None))
    assert status == 200, body
    auth = event_of(body)["requestContext"]["authorizer"]
    assert auth["claims"]["client_id"] == "other" and auth["scopes"] is None

    def refused(path, token, status, error):
        got, headers, body = get(path, token)
        message = "Unauthorized" if status == 401 else "Forbidden"
        assert (got, json.loads(body)) == (status, {"message": message}), body
        if error:
            assert f'error="{error}"' in headers["www-authenticate"]

    now = int(time.time())
    refused("/jwt", None, 401, None)
    refused("/jwt", issuer.token(exp=now - 10, iat=now - 100), 401, "invalid_token")
    refused("/jwt", issuer.token(nbf=now + 600), 401, "invalid_token")
    refused("/jwt", issuer.token(aud="someone-else"), 401, "invalid_token")
    refused("/jwt", issuer.token(iss="http://127.0.0.1:1"), 401, "invalid_token")
    refused("/jwt", "not.a.jwt", 401, "invalid_token")
    forged = issuer.token()[:-4] + "AAAA"
    refused("/jwt", forged, 401, "invalid_token")
    refused("/admin", issuer.token(), 403, "insufficient_scope")
    status, _, _ = get("/admin", issuer.token(scp=["admin"], scope=None))
    assert status == 200
    # The key set is cached, and fetched again when a token names a new key.
    fetched = issuer.fetches
    assert fetched == 1
    issuer.add_key("k2")
    wait_for(lambda: get("/jwt", issuer.token(kid="k2"))[0] == 200, 30, "the rotated key to be used",
             interval=1)
    assert issuer.fetches >= 2


def test_aws_iam_routes_need_a_signature(gw, api):
    gw.create_route(ApiId=api["id"], RouteKey="POST /iam", AuthorizationType="AWS_IAM",
                    Target=f"integrations/{api['v2']}")
    status, _, body = call(api["endpoint"], "POST", "/iam", body=b"{}")
    assert (status, json.loads(body)) == (403, {"message": "Forbidden"})

    url = api["endpoint"] + "/iam?x=1"
    signed = AWSRequest(method="POST", url=url, data=b'{"a": 1}',
                        headers={"Content-Type": "application/json"})
    SigV4Auth(Credentials("AKIDTEST", "secret"), "execute-api", "us-east-1").add_auth(signed)
    headers = [(k, v) for k, v in signed.headers.items() if k.lower() != "host"]
    status, _, body = call(api["endpoint"], "POST", "/iam?x=1", body=b'{"a": 1}', headers=headers)
    assert status == 200, body
    iam = event_of(body)["requestContext"]["authorizer"]["iam"]
    assert (iam["accessKey"], iam["accountId"]) == ("AKIDTEST", api["account"])
