"""EventBridge: rules, targets and PutEvents through boto3 and the aws CLI, EventBridge's
content filtering on 20 pattern cases, and schedules that fire on time across a restart."""

import datetime
import json
import time

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws, make_client, metric, wait_for, zip_bytes

SINK = '''
import json

def handler(event, context):
    print("GOT " + json.dumps(event, sort_keys=True))
    return "ok"
'''
SINK_ARN = "arn:aws:lambda:us-east-1:000000000000:function:"


def received(logs, function, marker="GOT "):
    """The events a sink function printed, from its logs."""
    try:
        out = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}", filterPattern=f'"{marker}"')
    except ClientError:
        return []
    return [json.loads(e["message"][len(marker):]) for e in out["events"]]


def sink(lam, name):
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (SINK, 0o644)})})


def test_rule_and_target_api(server, lam):
    events = make_client(server.endpoint, "events")
    sink(lam, "rule-api-sink")
    arn = events.put_rule(Name="orders", EventPattern=json.dumps({"source": ["shop"]}),
                          Description="orders")["RuleArn"]
    assert arn == "arn:aws:events:us-east-1:000000000000:rule/orders"
    assert events.put_rule(Name="every-minute", ScheduleExpression="rate(1 minute)")["RuleArn"].endswith("every-minute")
    rule = events.describe_rule(Name="orders")
    assert (rule["State"], rule["EventBusName"], json.loads(rule["EventPattern"])) == ("ENABLED", "default", {"source": ["shop"]})
    for bad in ("rate(2 seconds)", "rate(1 minutes)", "cron(0 10 * * * *)", "hourly"):
        with pytest.raises(ClientError) as e:
            events.put_rule(Name="bad", ScheduleExpression=bad)
        assert e.value.response["Error"]["Code"] == "ValidationException", bad
    with pytest.raises(ClientError) as e:
        events.put_rule(Name="bad", EventPattern='{"source": "shop"}')
    assert e.value.response["Error"]["Code"] == "InvalidEventPatternException"
    with pytest.raises(ClientError) as e:
        events.describe_rule(Name="nope")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    out = events.put_targets(Rule="orders", Targets=[{"Id": "1", "Arn": SINK_ARN + "rule-api-sink"}])
    assert out["FailedEntryCount"] == 0
    assert [t["Id"] for t in events.list_targets_by_rule(Rule="orders")["Targets"]] == ["1"]
    with pytest.raises(ClientError) as e:
        events.delete_rule(Name="orders")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    events.disable_rule(Name="orders")
    assert events.describe_rule(Name="orders")["State"] == "DISABLED"
    events.enable_rule(Name="orders")
    names = [r["Name"] for r in events.list_rules(NamePrefix="ord")["Rules"]]
    assert names == ["orders"]
    _, out, _ = aws(server, "events", "list-rules")
    assert {"orders", "every-minute"} <= {r["Name"] for r in out["Rules"]}

    # An event reaches the target as EventBridge's envelope.
    out = events.put_events(Entries=[{"Source": "shop", "DetailType": "Order Placed", "Detail": '{"id": 1}'}])
    assert out["FailedEntryCount"] == 0 and out["Entries"][0]["EventId"]
    logs = make_client(server.endpoint, "logs")
    wait_for(lambda: received(logs, "rule-api-sink"), 30, "the event to reach the target")
    (event,) = received(logs, "rule-api-sink")
    assert event["id"] == out["Entries"][0]["EventId"]
    assert (event["source"], event["detail-type"], event["detail"]) == ("shop", "Order Placed", {"id": 1})
    assert (event["account"], event["region"], event["version"]) == ("000000000000", "us-east-1", "0")

    events.remove_targets(Rule="orders", Ids=["1"])
    events.delete_rule(Name="orders")
    with pytest.raises(ClientError):
        events.describe_rule(Name="orders")


# (pattern, detail of the event, whether it matches); each case also filters on its own source.
CASES = [
    ({"detail": {"state": ["paid"]}}, {"state": "paid"}, True),
    ({"detail": {"state": ["paid"]}}, {"state": "new"}, False),
    ({"detail": {"state": [{"prefix": "pe"}]}}, {"state": "pending"}, True),
    ({"detail": {"state": [{"suffix": "ed"}]}}, {"state": "paid"}, False),
    ({"detail": {"state": [{"anything-but": ["paid", "new"]}]}}, {"state": "shipped"}, True),
    ({"detail": {"state": [{"anything-but": ["paid", "new"]}]}}, {"state": "new"}, False),
    ({"detail": {"total": [{"numeric": [">", 100]}]}}, {"total": 150}, True),
    ({"detail": {"total": [{"numeric": [">=", 10, "<", 20]}]}}, {"total": 20}, False),
    ({"detail": {"total": [{"numeric": ["=", 5]}]}}, {"total": 5.0}, True),
    ({"detail": {"coupon": [{"exists": True}]}}, {"coupon": "X1"}, True),
    ({"detail": {"coupon": [{"exists": False}]}}, {"coupon": "X1"}, False),
    ({"detail": {"coupon": [{"exists": False}]}}, {"other": 1}, True),
    ({"detail": {"tags": ["gift"]}}, {"tags": ["sale", "gift"]}, True),
    ({"detail": {"tags": ["gift"]}}, {"tags": ["sale"]}, False),
    ({"detail": {"customer": {"tier": ["gold"]}}}, {"customer": {"tier": "gold"}}, True),
    ({"detail": {"customer": {"tier": ["gold"]}}}, {"customer": {"tier": "silver"}}, False),
    ({"detail": {"file": [{"wildcard": "img/*.png"}]}}, {"file": "img/cat.png"}, True),
    ({"detail": {"name": [{"equals-ignore-case": "ALICE"}]}}, {"name": "alice"}, True),
    ({"$or": [{"detail": {"a": [1]}}, {"detail": {"b": [2]}}]}, {"b": 2}, True),
    ({"detail": {"flag": [True], "n": [None]}}, {"flag": True, "n": 1}, False),
]


def test_put_events_routes_pattern_cases(server, lam):
    events = make_client(server.endpoint, "events")
    logs = make_client(server.endpoint, "logs")
    sink(lam, "pattern-sink")
    for i, (pattern, _, _) in enumerate(CASES):
        events.put_rule(Name=f"case-{i}", EventPattern=json.dumps({**pattern, "source": [f"case.{i}"]}))
        events.put_targets(Rule=f"case-{i}", Targets=[{"Id": "sink", "Arn": SINK_ARN + "pattern-sink",
                                                       "InputTransformer": {
                                                           "InputPathsMap": {"src": "$.source"},
                                                           "InputTemplate": '{"case": "<src>"}'}}])
    entries = [{"Source": f"case.{i}", "DetailType": "t", "Detail": json.dumps(detail)}
               for i, (_, detail, _) in enumerate(CASES)]
    for chunk in (entries[:10], entries[10:]):
        assert events.put_events(Entries=chunk)["FailedEntryCount"] == 0
    expected = sorted(f"case.{i}" for i, (_, _, match) in enumerate(CASES) if match)
    # PutEvents queued its invocations before answering: once they have run and the async queue
    # is empty, nothing else can arrive.
    wait_for(lambda: len(received(logs, "pattern-sink")) >= len(expected)
             and metric(server, "lambdad_async_queue_depth") == 0, 30, "the matching events to arrive")
    got = sorted(e["case"] for e in received(logs, "pattern-sink"))
    assert got == expected


def ticks(logs):
    """The schedule's ticks the sink received: (tick time, when the sink printed it), epoch
    seconds, in order."""
    try:
        out = logs.filter_log_events(logGroupName="/aws/lambda/ticker", filterPattern='"GOT "')
    except ClientError:
        return []
    found = []
    for e in out["events"]:
        event = json.loads(e["message"][len("GOT "):])
        if event.get("detail-type") == "Scheduled Event":
            tick = datetime.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
            found.append((tick.replace(tzinfo=datetime.timezone.utc).timestamp(), e["timestamp"] / 1000, event))
    return sorted(found, key=lambda t: t[0])


def test_fast_schedule_fires_on_time_across_a_restart():
    server = Server(extra=["--schedule-min-interval", "1s"])
    server.start()
    try:
        lam = make_client(server.endpoint)
        events = make_client(server.endpoint, "events")
        logs = make_client(server.endpoint, "logs")
        sink(lam, "ticker")
        events.put_rule(Name="fast", ScheduleExpression="rate(2 seconds)")
        events.put_targets(Rule="fast", Targets=[{"Id": "t", "Arn": SINK_ARN + "ticker"}])
        def at_least(n, after=0):
            found = [t for t in ticks(logs) if t[0] > after]
            return found if len(found) >= n else None

        first = wait_for(lambda: at_least(3), 60, "three ticks")
        times = [t for t, _, _ in first]
        assert all(b - a == 2 for a, b in zip(times, times[1:])), f"one tick every 2 s, none twice: {times}"
        # On time: each tick reached the function within seconds of its time (the scheduler
        # polls every second; a tick is never early: its time is when it fell due).
        lags = [round(printed - tick, 1) for tick, printed, _ in first]
        assert all(0 <= lag < 5 for lag in lags), lags
        assert first[0][2]["source"] == "aws.events" and first[0][2]["resources"] == [
            "arn:aws:events:us-east-1:000000000000:rule/fast"]

        assert server.stop() == 0
        stopped = time.time()
        time.sleep(8)  # the outage itself (not a wait for a result): four ticks fall due meanwhile
        restarted = time.time()
        server.start()
        # A tick fires only when the scheduler sees it within its grace (3 polls: 3 s); the ticks
        # due earlier in the outage are skipped, not fired in a burst at start-up. Tick times are
        # whole seconds: 1 s of slack on each side.
        fresh = int(restarted) - 4
        later = wait_for(lambda: at_least(2, after=fresh), 60, "two ticks after the restart")
        new = [t for t, _, _ in later]
        missed = [t for t, _, _ in ticks(logs) if stopped + 1 < t <= fresh]
        assert not missed, f"ticks due while lambdad was down were fired: {missed} (down {stopped}-{restarted})"
        assert all(b - a == 2 for a, b in zip(new, new[1:])), f"one tick every 2 s after the restart: {new}"
        times = [t for t, _, _ in ticks(logs)]
        assert len(set(times)) == len(times), f"no tick fired twice: {times}"
    finally:
        assert server.stop() == 0
