"""The web console's test-event templates and operate tabs (docs/console.md), in headless Chromium:
every template is an event the function receives as shown; the concurrency, asynchronous
invocation, function URL and settings tabs change what the public API then reports (checked with
boto3); the triggers tab lists the mappings, rules, subscriptions and HTTP API routes made with
boto3 and edits them. Screenshots go to target/console-screenshots/."""

import http.client
import json
import re
from urllib.parse import urlsplit

import pytest

from conftest import ROLE, make_client, wait_for, zip_bytes
from test_console import browser, page, saved_events, shot  # noqa: F401 (fixtures)

ECHO = "def lambda_handler(event, context):\n    return event\n"
TEMPLATES = ["apigateway-rest", "apigateway-http", "function-url", "s3-put", "sqs", "sns", "eventbridge", "schedule"]


@pytest.fixture(scope="module")
def echo(server):
    lam = make_client(server.endpoint)
    name = "console-echo"
    arn = lam.create_function(FunctionName=name, Runtime="python3.12", Role=ROLE, Handler="lambda_function.lambda_handler",
                              Code={"ZipFile": zip_bytes({"lambda_function.py": (ECHO, 0o644)})})["FunctionArn"]
    yield name, arn
    lam.delete_function(FunctionName=name)


def open_tab(page, server, name, tab):
    from playwright.sync_api import expect
    page.goto(f"{server.endpoint}/console/#/functions/{name}/{tab}")
    expect(page.locator(".tabs a[aria-current=page]")).to_have_attribute("id", f"tab-{tab}")


def status_is(page, text):
    from playwright.sync_api import expect
    expect(page.locator("#status")).to_have_text(text)


@pytest.mark.timeout(300)
def test_templates_are_events_the_function_receives(page, server, echo):
    from playwright.sync_api import expect
    name, _ = echo
    open_tab(page, server, name, "test")
    options = page.locator("#test-template option").evaluate_all("os => os.map(o => o.value)")
    assert options == [""] + TEMPLATES
    rid = page.locator("#result-request-id")
    for template in TEMPLATES:
        page.get_by_label("Template").select_option(template)
        expect(page.get_by_label("Event name")).to_have_value(template)
        event = json.loads(page.get_by_label("Event JSON").input_value())
        before = rid.text_content() if rid.count() else None
        page.get_by_role("button", name="Test", exact=True).click()
        if before is None:
            expect(rid).to_have_text(re.compile(r"^[0-9A-Za-z-]{8,}$"))
        else:
            expect(rid).not_to_have_text(before)
        expect(page.locator("#result-status")).to_have_text("Succeeded")
        assert json.loads(page.locator("#result-response").text_content()) == event, template
        if template == "sqs":
            assert event["Records"][0]["eventSource"] == "aws:sqs"
            assert event["Records"][0]["eventSourceARN"] == "arn:aws:sqs:us-east-1:000000000000:MyQueue"
        if template == "function-url":
            assert event["version"] == "2.0" and event["requestContext"]["domainName"].endswith(".lambda-url.us-east-1.on.aws")
        if template == "schedule":
            assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    shot(page, "13-templates")
    # A template saved under its name.
    page.get_by_label("Template").select_option("s3-put")
    page.get_by_role("button", name="Save event").click()
    status_is(page, "Saved event s3-put.")
    assert json.loads(saved_events(server, name)["s3-put"])["Records"][0]["eventSource"] == "aws:s3"


@pytest.mark.timeout(300)
def test_concurrency_async_url_and_settings(page, server, echo):
    from playwright.sync_api import expect
    name, arn = echo
    lam = make_client(server.endpoint)
    sqs = make_client(server.endpoint, "sqs")
    lam.publish_version(FunctionName=name)

    # Reserved and provisioned concurrency.
    open_tab(page, server, name, "concurrency")
    page.get_by_label("Reserved concurrency").fill("5")
    page.get_by_role("button", name="Save reserved concurrency").click()
    status_is(page, "Reserved concurrency: 5.")
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 5
    page.get_by_label("Version or alias").select_option("1")
    page.get_by_label("Provisioned concurrency").fill("1")
    page.get_by_role("button", name="Add provisioned concurrency").click()
    status_is(page, "Provisioned concurrency on 1: 1.")
    pc = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert pc["RequestedProvisionedConcurrentExecutions"] == 1
    expect(page.locator("#provisioned tbody tr")).to_have_count(1)
    shot(page, "14-concurrency")
    page.get_by_role("button", name="Remove provisioned concurrency of 1").click()
    status_is(page, "Provisioned concurrency of 1 removed.")
    assert lam.list_provisioned_concurrency_configs(FunctionName=name)["ProvisionedConcurrencyConfigs"] == []
    page.get_by_role("button", name="Remove reserved concurrency").click()
    status_is(page, "Reserved concurrency removed.")
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)

    # Asynchronous invocation: retries, event age, a failure destination.
    queue = sqs.create_queue(QueueName="console-failures")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    open_tab(page, server, name, "async")
    page.get_by_label("Retry attempts").select_option("1")
    page.get_by_label("Maximum event age (seconds)").fill("120")
    page.get_by_label("On-failure destination").fill(queue_arn)
    page.get_by_role("button", name="Save asynchronous configuration").click()
    status_is(page, "Asynchronous configuration saved.")
    conf = lam.get_function_event_invoke_config(FunctionName=name)
    assert (conf["MaximumRetryAttempts"], conf["MaximumEventAgeInSeconds"]) == (1, 120)
    assert conf["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn
    shot(page, "15-async")

    # A public function URL with CORS; the page's URL answers, and Copy URL copies it.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_tab(page, server, name, "url")
    page.get_by_label("Auth type").select_option("NONE")
    page.get_by_label("Allow origins").fill("https://example.com")
    page.get_by_label("Allow methods").fill("GET, POST")
    page.get_by_role("button", name="Create function URL").click()
    status_is(page, "Function URL created.")
    url = lam.get_function_url_config(FunctionName=name)
    assert url["AuthType"] == "NONE"
    assert (url["Cors"]["AllowOrigins"], url["Cors"]["AllowMethods"]) == (["https://example.com"], ["GET", "POST"])
    expect(page.locator("#function-url")).to_have_text(url["FunctionUrl"])
    page.get_by_role("button", name="Copy URL").click()
    status_is(page, "Copied the URL.")
    assert page.evaluate("navigator.clipboard.readText()") == url["FunctionUrl"]
    # The URL's host names the function (…lambda-url.REGION.localhost); connect to loopback.
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("GET", "/hi?x=1", headers={"Host": urlsplit(url["FunctionUrl"]).netloc})
    resp = conn.getresponse()
    assert resp.status == 200 and json.loads(resp.read())["rawPath"] == "/hi"
    conn.close()
    shot(page, "16-url")
    page.get_by_label("Auth type").select_option("AWS_IAM")
    page.get_by_role("button", name="Save function URL").click()
    status_is(page, "Function URL saved.")
    assert lam.get_function_url_config(FunctionName=name)["AuthType"] == "AWS_IAM"
    page.get_by_role("button", name="Delete function URL").click()
    status_is(page, "Function URL deleted.")
    assert lam.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []

    # Settings: ephemeral storage, JSON logs, a tag.
    open_tab(page, server, name, "settings")
    page.get_by_label("Ephemeral storage (MB)").fill("1024")
    page.get_by_label("Log format").select_option("JSON")
    page.get_by_label("Application log level").select_option("WARN")
    page.get_by_role("button", name="Save settings").click()
    status_is(page, "Saved: 1024 MB of ephemeral storage, JSON logs.")
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["EphemeralStorage"]["Size"] == 1024
    assert (conf["LoggingConfig"]["LogFormat"], conf["LoggingConfig"]["ApplicationLogLevel"]) == ("JSON", "WARN")
    page.get_by_label("Tag key").fill("team")
    page.get_by_label("Tag value").fill("blue")
    page.get_by_role("button", name="Add tag").click()
    status_is(page, "Tagged team.")
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "blue"}
    shot(page, "17-settings")
    page.get_by_role("button", name="Remove tag team").click()
    status_is(page, "Removed tag team.")
    assert lam.list_tags(Resource=arn)["Tags"] == {}


@pytest.mark.timeout(300)
def test_triggers_are_listed_and_edited(page, server, echo):
    from playwright.sync_api import expect
    name, arn = echo
    lam, sqs, sns, events, gw = (make_client(server.endpoint, s) for s in ("lambda", "sqs", "sns", "events", "apigatewayv2"))
    queue = sqs.create_queue(QueueName="console-trigger")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    mapping = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=queue_arn, BatchSize=5)["UUID"]
    events.put_rule(Name="console-nightly", ScheduleExpression="cron(0 3 * * ? *)")
    events.put_targets(Rule="console-nightly", Targets=[{"Id": "echo", "Arn": arn}])
    topic = sns.create_topic(Name="console-topic")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    api = gw.create_api(Name="console-api", ProtocolType="HTTP", Target=arn)
    try:
        open_tab(page, server, name, "triggers")
        expect(page.locator("#mappings tbody tr")).to_have_count(1)
        expect(page.locator("#mappings")).to_contain_text(queue_arn)
        expect(page.locator("#rules")).to_contain_text("cron(0 3 * * ? *)")
        expect(page.locator("#subscriptions")).to_contain_text(topic)
        expect(page.locator("#routes")).to_contain_text("console-api")
        expect(page.locator("#routes")).to_contain_text("$default")
        shot(page, "18-triggers")

        page.get_by_role("button", name=f"Disable mapping {mapping}").click()
        status_is(page, "Mapping disabled.")
        assert lam.get_event_source_mapping(UUID=mapping)["State"] in ("Disabled", "Disabling")
        page.get_by_role("button", name="Disable rule console-nightly").click()
        status_is(page, "Rule console-nightly disabled.")
        assert events.describe_rule(Name="console-nightly")["State"] == "DISABLED"
        page.get_by_label("Rule name").fill("console-every-hour")
        page.get_by_label("Schedule expression").fill("rate(1 hour)")
        page.get_by_role("button", name="Add schedule").click()
        status_is(page, "Schedule console-every-hour added.")
        assert events.describe_rule(Name="console-every-hour")["ScheduleExpression"] == "rate(1 hour)"
        assert [t["Arn"] for t in events.list_targets_by_rule(Rule="console-every-hour")["Targets"]] == [arn]
        page.get_by_role("button", name=f"Unsubscribe from {topic}").click()
        status_is(page, f"Unsubscribed from {topic}.")
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
        page.get_by_role("button", name=f"Delete mapping {mapping}").click()
        status_is(page, "Mapping deleted.")
        wait_for(lambda: not lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"], 30,
                 "the mapping's deletion")
    finally:
        gw.delete_api(ApiId=api["ApiId"])
        for rule in ("console-nightly", "console-every-hour"):
            targets = events.list_targets_by_rule(Rule=rule)["Targets"] if rule_exists(events, rule) else []
            if targets:
                events.remove_targets(Rule=rule, Ids=[t["Id"] for t in targets])
            if rule_exists(events, rule):
                events.delete_rule(Name=rule)


def rule_exists(events, name):
    return any(r["Name"] == name for r in events.list_rules()["Rules"])
