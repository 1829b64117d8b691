"""The web console (/console/, docs/console.md) in headless Chromium through Playwright: create a
Python function from the editor, save and run a test event (output, log tail, REPORT numbers),
deploy edited code, change memory and see a new cold start, publish a version and run it, delete
the function. Every step is checked through boto3 as well; screenshots of each page go to
target/console-screenshots/. Debian's chromium (scripts/test installs it) is driven, never a
downloaded browser; a missing chromium fails the test."""

import json
import re
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, ROOT, Server, make_client, require_tool, zip_bytes

SHOTS = ROOT / "target" / "console-screenshots"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Playwright's own waits (each expect and action) give up after this many milliseconds.
WAIT_MS = 60_000

CODE = '''import json


def lambda_handler(event, context):
    print("console-log-line", event.get("who"))
    return {"greeting": "hello " + event.get("who", "?"), "memory": context.memory_limit_in_mb}
'''


@pytest.fixture(scope="module")
def browser():
    chromium = require_tool("chromium")
    from playwright.sync_api import expect, sync_playwright
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    p = context.new_page()
    errors = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    # A refused API call is reported by the page itself (and by Chromium as a failed load).
    p.on("console", lambda m: errors.append(m.text)
         if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    p.goto(server.endpoint + "/console/")
    yield p
    context.close()
    assert not errors, f"the console logged errors: {errors}"


def events_url(server, function, event=None):
    return f"{server.endpoint}/_lambdad/functions/{function}/test-events" + (f"/{event}" if event else "")


def saved_events(server, function):
    """The function's saved test events, read from the server."""
    with urllib.request.urlopen(events_url(server, function), timeout=10) as r:
        return json.loads(r.read())["TestEvents"]


def request(method, url, body=None):
    """(status, error type, body) of a request."""
    req = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, None, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("x-amzn-ErrorType"), e.read()


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def run_test_event(page):
    """Clicks Test and waits for this run's result (a new request id)."""
    from playwright.sync_api import expect
    rid = page.locator("#result-request-id")
    before = rid.text_content() if rid.count() else None
    page.get_by_role("button", name="Test", exact=True).click()
    if before is None:
        expect(rid).to_have_text(re.compile(r"^[0-9A-Za-z-]{8,}$"))
    else:
        expect(rid).not_to_have_text(before)
    expect(page.locator("#status")).to_have_text(re.compile(r"^Invocation (succeeded|failed)"))


@pytest.mark.timeout(300)
def test_create_test_configure_publish_delete(page, server):
    from playwright.sync_api import expect
    lam = make_client(server.endpoint)
    name = "console-hello"

    # The list, then the create page: a Python function from code typed in the editor.
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Functions \(\d+\)$"))
    page.get_by_role("button", name="Create function").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Create function")
    page.get_by_label("Function name").fill(name)
    page.get_by_label("Runtime").select_option("python3.12")
    expect(page.get_by_label("Handler")).to_have_value("lambda_function.lambda_handler")
    editor = page.get_by_label("Code: lambda_function.py")
    expect(editor).to_have_value(re.compile("Hello from lambdad"))
    editor.fill(CODE)
    expect(page.locator(".editor-wrap pre .tok-keyword").first).to_have_text("import")
    shot(page, "01-create")
    page.get_by_role("button", name="Create function").click()
    expect(page).to_have_url(re.compile(rf"#/functions/{name}/code$"))
    expect(page.locator("#status")).to_have_text(f"Created {name}.")
    conf = lam.get_function_configuration(FunctionName=name)
    assert (conf["Runtime"], conf["Handler"], conf["MemorySize"]) == ("python3.12", "lambda_function.lambda_handler", 128)

    # The code tab opens the deployed package again.
    expect(page.get_by_role("textbox", name="Code", exact=True)).to_have_value(CODE)
    shot(page, "02-code")

    # A saved test event, kept across a reload, run against $LATEST: a cold start.
    page.get_by_role("link", name="Test").click()
    page.get_by_label("Event name").fill("greet")
    page.get_by_label("Event JSON").fill('{"who": "console"}')
    page.get_by_role("button", name="Save event").click()
    expect(page.locator("#status")).to_have_text("Saved event greet.")
    assert saved_events(server, name) == {"greet": '{"who": "console"}'}
    page.reload()
    expect(page.get_by_label("Saved event")).to_have_value("greet")
    expect(page.get_by_label("Event JSON")).to_have_value('{"who": "console"}')
    run_test_event(page)
    expect(page.locator("#result-status")).to_have_text("Succeeded")
    response = json.loads(page.locator("#result-response").text_content())
    assert response == {"greeting": "hello console", "memory": "128"}
    expect(page.locator("#result-log")).to_contain_text("console-log-line console")
    expect(page.locator("#result-log")).to_contain_text("REPORT RequestId:")
    expect(page.locator("#result-init")).to_have_text(re.compile(r"^[0-9.]+ ms$"))
    expect(page.locator("#result-duration")).to_have_text(re.compile(r"^[0-9.]+ ms$"))
    expect(page.locator("#result-billed")).to_have_text(re.compile(r"^[0-9]+ ms$"))
    expect(page.locator("#result-memory")).to_have_text("128 MB")
    expect(page.locator("#result-max-memory")).to_have_text(re.compile(r"^[0-9]+ MB$"))
    expect(page.locator("#result-version")).to_have_text("$LATEST")
    shot(page, "03-test")
    # Again: the environment is warm.
    run_test_event(page)
    expect(page.locator("#result-init")).to_have_text("— (warm start)")

    # Edited code, deployed.
    page.get_by_role("link", name="Code").click()
    code = page.get_by_role("textbox", name="Code", exact=True)
    expect(code).to_have_value(CODE)
    code.fill(CODE.replace('"hello "', '"howdy "'))
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#status")).to_have_text(re.compile(r"^Deployed: code "))
    out = json.loads(lam.invoke(FunctionName=name, Payload=b'{"who": "cli"}')["Payload"].read())
    assert out["greeting"] == "howdy cli"

    # Configuration: more memory and a variable; the next run is a new cold start.
    page.get_by_role("link", name="Configuration").click()
    page.get_by_label("Memory (MB)").fill("256")
    page.get_by_role("button", name="Add environment variable").click()
    page.get_by_label("Key 1").fill("GREETING")
    page.get_by_label("Value 1").fill("hi")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#status")).to_have_text("Saved: 256 MB, 3 s, 1 variable(s).")
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["MemorySize"] == 256 and conf["Environment"]["Variables"] == {"GREETING": "hi"}
    shot(page, "04-configuration")
    page.get_by_role("link", name="Test").click()
    expect(page.get_by_label("Saved event")).to_have_value("greet")
    run_test_event(page)
    expect(page.locator("#result-memory")).to_have_text("256 MB")
    expect(page.locator("#result-init")).to_have_text(re.compile(r"^[0-9.]+ ms$"))
    assert json.loads(page.locator("#result-response").text_content())["memory"] == "256"

    # Publish a version and run the saved event against it.
    page.get_by_role("link", name="Versions").click()
    page.get_by_label("Description").fill("from the console")
    page.get_by_role("button", name="Publish new version").click()
    expect(page.locator("#status")).to_have_text("Published version 1.")
    expect(page.locator("#versions tbody tr")).to_have_count(2)
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(v["Version"], v.get("Description", "")) for v in versions] == [("$LATEST", ""), ("1", "from the console")]
    shot(page, "05-versions")
    page.get_by_role("link", name="Test").click()
    page.get_by_label("Version or alias").select_option("1")
    run_test_event(page)
    expect(page.locator("#result-version")).to_have_text("1")
    expect(page.locator("#result-status")).to_have_text("Succeeded")
    assert json.loads(page.locator("#result-response").text_content())["greeting"] == "howdy console"

    # The list shows it with its runtime and memory.
    page.get_by_role("link", name="Functions").first.click()
    row = page.get_by_role("row").filter(has=page.get_by_role("link", name=name))
    expect(row).to_contain_text("python3.12")
    expect(row).to_contain_text("256 MB")
    shot(page, "06-functions")

    # Delete, through the confirmation dialog.
    row.get_by_role("link", name=name).click()
    page.get_by_role("button", name="Delete", exact=True).click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete {name}?")
    shot(page, "07-delete")
    dialog.get_by_role("button", name="Delete", exact=True).click()
    expect(page.locator("#status")).to_have_text(f"Deleted {name}.")
    expect(page.get_by_role("link", name=name)).to_have_count(0)
    with pytest.raises(ClientError) as e:
        lam.get_function(FunctionName=name)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # Its saved events went with it: a new function of the same name has none.
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": zip_bytes({"lambda_function.py": (CODE, 0o644)})})
    assert saved_events(server, name) == {}
    lam.delete_function(FunctionName=name)


@pytest.mark.timeout(120)
def test_api_errors_are_shown(page):
    from playwright.sync_api import expect
    # A function that does not exist: AWS's error, on the page.
    page.goto(page.url.split("#")[0] + "#/functions/no-such-function/code")
    expect(page.locator("main")).to_contain_text("Function not found")


@pytest.mark.timeout(120)
def test_dark_mode_on_a_phone(browser, server):
    """prefers-color-scheme: dark on a phone-sized screen: dark background, the list readable."""
    from playwright.sync_api import expect
    lam = make_client(server.endpoint)
    name = "console-dark"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": zip_bytes({"lambda_function.py": (CODE, 0o644)})})
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    context.set_default_timeout(WAIT_MS)
    try:
        p = context.new_page()
        p.goto(server.endpoint + "/console/")
        expect(p.get_by_role("link", name=name)).to_be_visible()
        background = p.evaluate("getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(21, 24, 29)", background
        # Keyboard: the skip link, then the header's links, reach the Create button.
        p.keyboard.press("Tab")
        expect(p.locator(".skip")).to_be_focused()
        for _ in range(3):
            p.keyboard.press("Tab")
        expect(p.get_by_role("button", name="Create function")).to_be_focused()
        p.keyboard.press("Enter")
        expect(p.get_by_role("heading", level=1)).to_have_text("Create function")
        shot(p, "09-create-dark-phone")
    finally:
        context.close()
        lam.delete_function(FunctionName=name)


def test_saved_test_events_api(server):
    """The saved events' limits and AWS-shaped errors (lambdad's own API, docs/console.md)."""
    lam = make_client(server.endpoint)
    name = "console-events"
    assert request("GET", events_url(server, name))[:2] == (404, "ResourceNotFoundException")
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="lambda_function.lambda_handler",
                        Code={"ZipFile": zip_bytes({"lambda_function.py": (CODE, 0o644)})})
    try:
        assert request("PUT", events_url(server, name, "a"), b'{"x": 1}')[0] == 204
        assert request("PUT", events_url(server, name, "a"), b'{"x": 2}')[0] == 204
        assert saved_events(server, name) == {"a": '{"x": 2}'}
        status, kind, _ = request("PUT", events_url(server, name, "bad"), b"{not json")
        assert (status, kind) == (400, "InvalidRequestContentException")
        status, kind, _ = request("PUT", events_url(server, name, "x" * 26), b"{}")
        assert (status, kind) == (400, "InvalidParameterValueException")
        for i in range(9):
            assert request("PUT", events_url(server, name, f"e{i}"), b"{}")[0] == 204
        status, kind, body = request("PUT", events_url(server, name, "eleventh"), b"{}")
        assert (status, kind) == (409, "ResourceConflictException"), body
        assert len(saved_events(server, name)) == 10
        assert request("DELETE", events_url(server, name, "a"))[0] == 204
        status, kind, _ = request("DELETE", events_url(server, name, "a"))
        assert (status, kind) == (404, "ResourceNotFoundException")
        assert "a" not in saved_events(server, name)
    finally:
        lam.delete_function(FunctionName=name)


def test_assets_are_served_with_a_strict_policy(server):
    with urllib.request.urlopen(server.endpoint + "/console/app.js", timeout=10) as r:
        assert r.headers["content-type"].startswith("text/javascript")
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert r.headers["x-frame-options"] == "DENY"
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(server.endpoint + "/console/nothing.js", timeout=10)
    assert e.value.code == 404
    # The list page's script stays small (the issue's budget: 100 KB); the operate tabs' modules
    # are loaded when a tab opens.
    total = 0
    for name in ("app.js", "ui.js", "api.js", "pages.js", "function.js", "test.js", "editor.js", "zip.js",
                 "login.js", "templates.js", "operate.js"):
        with urllib.request.urlopen(f"{server.endpoint}/console/{name}", timeout=10) as r:
            total += len(r.read())
    assert total < 100_000, total
