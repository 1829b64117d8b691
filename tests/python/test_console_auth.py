"""The web console under --auth sigv4 (docs/console.md, Security), in headless Chromium and with
plain HTTP: the login with an access key and secret of the credentials file (a wrong key or secret
is refused), the session cookie's attributes, the CSRF token every change needs, the same IAM policy
checks as the signed API (a key denied DeleteFunction sees AWS's AccessDeniedException on the page),
environment variables never shown to a key denied GetFunctionConfiguration, logout. boto3 checks
each outcome with a signed client."""

import json
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import ROLE, Server, zip_bytes
from test_console import CHROMIUM_ARGS, WAIT_MS, browser, shot  # noqa: F401 (the browser fixture)

ADMIN = ("AKIDCONSOLEADMIN", "admin-secret-4f2a")
LIMITED = ("AKIDCONSOLELIMITED", "limited-secret-9c1d")
SEALED = "sealed-value-7e3b"
CODE = 'def lambda_handler(event, context):\n    return {"ok": True}\n'


@pytest.fixture(scope="module")
def secured():
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-console-auth-"))
    (tmp / "limited.json").write_text(json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "lambda:*", "Resource": "*"},
        {"Effect": "Deny", "Action": ["lambda:DeleteFunction", "lambda:GetFunctionConfiguration"],
         "Resource": "*"}]}))
    creds = tmp / "credentials"
    creds.write_text(f"[admin]\naws_access_key_id = {ADMIN[0]}\naws_secret_access_key = {ADMIN[1]}\n"
                     f"[limited]\naws_access_key_id = {LIMITED[0]}\naws_secret_access_key = {LIMITED[1]}\n"
                     "policy = limited.json\n")
    s = Server(extra=["--auth", "sigv4", "--credentials-file", str(creds)])
    s.start()
    yield s
    assert s.stop() == 0
    # The secrets never reach the log.
    log = s.log()
    assert ADMIN[1] not in log and LIMITED[1] not in log


@pytest.fixture(scope="module")
def admin(secured):
    return boto3.client("lambda", endpoint_url=secured.endpoint, region_name="us-east-1",
                        aws_access_key_id=ADMIN[0], aws_secret_access_key=ADMIN[1],
                        config=Config(retries={"max_attempts": 1}, read_timeout=120))


@pytest.fixture(scope="module")
def function(admin):
    name = "console-sealed"
    admin.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="lambda_function.lambda_handler",
                          Code={"ZipFile": zip_bytes({"lambda_function.py": (CODE, 0o644)})},
                          Environment={"Variables": {"SEALED": SEALED}})
    yield name
    admin.delete_function(FunctionName=name)


def http(method, url, body=None, headers=None):
    """(status, headers, JSON or text body) of a request."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            status, h, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, h, raw = e.code, e.headers, e.read()
    try:
        return status, h, json.loads(raw) if raw else None
    except ValueError:
        return status, h, raw.decode()


def message(body):
    """The message of an AWS error body (`message` or `Message`, as the error type has it)."""
    return body.get("message") or body.get("Message")


def login(server, key, secret):
    body = json.dumps({"AccessKeyId": key, "SecretAccessKey": secret}).encode()
    return http("POST", server.endpoint + "/console/login", body, {"content-type": "application/json"})


def new_page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(server.endpoint + "/console/")
    return context, page


def log_in(page, key, secret):
    from playwright.sync_api import expect
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
    page.get_by_label("Access key ID").fill(key)
    page.get_by_label("Secret access key").fill(secret)
    page.get_by_role("button", name="Log in").click()


@pytest.mark.timeout(120)
def test_a_wrong_key_is_refused(browser, secured):
    from playwright.sync_api import expect
    context, page = new_page(browser, secured)
    try:
        # Unsigned, without a session: the API refuses, the page asks for a key.
        status, _, body = http("GET", secured.endpoint + "/2015-03-31/functions/")
        assert status == 403 and body["Type"] == "User", body
        for key, secret in ((ADMIN[0], "not-the-secret"), ("AKIDNOSUCHKEY", ADMIN[1])):
            log_in(page, key, secret)
            expect(page.locator("#status")).to_have_text(
                "UnrecognizedClientException: The access key ID or the secret access key is not valid.")
            expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
        assert context.cookies() == []
        shot(page, "10-login-refused")
    finally:
        context.close()


@pytest.mark.timeout(180)
def test_a_denied_delete_is_shown_and_variables_stay_hidden(browser, secured, admin, function):
    from playwright.sync_api import expect
    context, page = new_page(browser, secured)
    try:
        log_in(page, *LIMITED)
        expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Functions \(\d+\)$"))
        expect(page.locator("#user")).to_have_text(LIMITED[0])
        # The session cookie: HttpOnly, SameSite=Strict, Path=/, expiring; not the secret.
        [cookie] = context.cookies()
        assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == \
            ("lambdad_console", True, "Strict", "/")
        assert cookie["expires"] > 0 and LIMITED[1] not in cookie["value"]
        assert page.evaluate("document.cookie") == ""

        # The configuration: the variables this key may not read are not on the page.
        page.get_by_role("link", name=function).click()
        page.get_by_role("link", name="Configuration").click()
        expect(page.locator("#env-hidden")).to_contain_text(
            "AccessDeniedException: User: arn:aws:iam::000000000000:user/limited is not authorized to perform: "
            "lambda:GetFunctionConfiguration")
        assert SEALED not in page.content()
        # Saving memory leaves them as they are.
        page.get_by_label("Memory (MB)").fill("192")
        page.get_by_role("button", name="Save", exact=True).click()
        expect(page.locator("#status")).to_have_text(re.compile(r"^Saved: 192 MB"))
        conf = admin.get_function_configuration(FunctionName=function)
        assert conf["MemorySize"] == 192 and conf["Environment"]["Variables"] == {"SEALED": SEALED}
        shot(page, "11-variables-hidden")

        # Delete: the policy denies it, the page says so, the function stays.
        page.get_by_role("button", name="Delete", exact=True).click()
        page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
        expect(page.locator("#status")).to_have_text(
            f"AccessDeniedException: User: arn:aws:iam::000000000000:user/limited is not authorized to perform: "
            f"lambda:DeleteFunction on resource: arn:aws:lambda:us-east-1:000000000000:function:{function} "
            "with an explicit deny in an identity-based policy")
        shot(page, "12-delete-denied")
        assert admin.get_function(FunctionName=function)["Configuration"]["FunctionName"] == function

        # Log out: the login again, and the cookie no longer opens the API.
        session = cookie["value"]
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_role("heading", level=1)).to_have_text("Log in")
        status, _, body = http("GET", secured.endpoint + "/2015-03-31/functions/",
                               headers={"cookie": f"lambdad_console={session}"})
        assert status == 403 and "expired or was closed" in message(body), body
    finally:
        context.close()


@pytest.mark.timeout(120)
def test_a_full_key_sees_the_variables(browser, secured, function):
    from playwright.sync_api import expect
    context, page = new_page(browser, secured)
    try:
        log_in(page, *ADMIN)
        page.get_by_role("link", name=function).click()
        page.get_by_role("link", name="Configuration").click()
        expect(page.get_by_label("Value 1")).to_have_value(SEALED)
        expect(page.locator("#env-hidden")).to_have_count(0)
    finally:
        context.close()


def test_session_cookie_and_csrf(secured, function):
    """With plain HTTP and the cookie: reads need only the session, changes its CSRF token too."""
    status, _, body = http("POST", secured.endpoint + "/console/login",
                           json.dumps({"AccessKeyId": LIMITED[0], "SecretAccessKey": LIMITED[1]}).encode(),
                           {"content-type": "text/plain"})
    assert (status, body["Type"]) == (415, "User"), body
    status, headers, body = login(secured, *LIMITED)
    assert status == 200, body
    set_cookie = headers["set-cookie"]
    parts = [p.strip() for p in set_cookie.split(";")]
    assert parts[0].startswith("lambdad_console=") and len(parts[0]) == len("lambdad_console=") + 64
    assert {"HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"} <= set(parts), set_cookie
    assert LIMITED[1] not in set_cookie and LIMITED[1] not in json.dumps(body)
    assert body["user"] == "arn:aws:iam::000000000000:user/limited" and len(body["csrfToken"]) == 64
    cookie = {"cookie": parts[0]}
    csrf = body["csrfToken"]
    config_url = f"{secured.endpoint}/2015-03-31/functions/{function}/configuration"

    # config.json: the session's token with the cookie, 401 without.
    assert http("GET", secured.endpoint + "/console/config.json", headers=cookie)[2]["csrfToken"] == csrf
    assert http("GET", secured.endpoint + "/console/config.json")[0] == 401

    # A read: the session alone. GetFunction's configuration carries no variables for this key.
    status, _, fn = http("GET", f"{secured.endpoint}/2015-03-31/functions/{function}", headers=cookie)
    assert status == 200 and "Variables" not in fn["Configuration"]["Environment"], fn
    assert fn["Configuration"]["Environment"]["Error"]["ErrorCode"] == "AccessDeniedException"
    status, _, listed = http("GET", secured.endpoint + "/2015-03-31/functions/", headers=cookie)
    assert status == 200 and SEALED not in json.dumps(listed)
    # GetFunctionConfiguration itself is denied, as for a signed request.
    status, headers, body = http("GET", config_url, headers=cookie)
    assert (status, headers["x-amzn-errortype"].split(":")[0]) == (403, "AccessDeniedException"), body

    # A change: without the token, or with a wrong one, refused; with it, done.
    change = json.dumps({"Timeout": 7}).encode()
    for extra in ({}, {"x-lambdad-csrf": "0" * 64}):
        status, headers, body = http("PUT", config_url, change, {**cookie, **extra, "content-type": "application/json"})
        assert status == 403 and "CSRF" in message(body), body
    status, _, body = http("PUT", config_url, change,
                           {**cookie, "x-lambdad-csrf": csrf, "content-type": "application/json"})
    assert status == 200 and body["Timeout"] == 7 and SEALED not in json.dumps(body), body

    # Logout needs the token too; then the cookie is refused.
    assert http("POST", secured.endpoint + "/console/logout", headers=cookie)[0] == 403
    status, headers, _ = http("POST", secured.endpoint + "/console/logout", headers={**cookie, "x-lambdad-csrf": csrf})
    assert status == 204 and "Max-Age=0" in headers["set-cookie"]
    status, headers, body = http("GET", secured.endpoint + "/2015-03-31/functions/", headers=cookie)
    assert (status, headers["x-amzn-errortype"].split(":")[0]) == (403, "ExpiredTokenException"), body
