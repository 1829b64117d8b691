"""Kinesis mappings against moto's server, past one batch at a time: ParallelizationFactor (several
batches of a shard in flight, in order per partition key, checkpoints behind the slowest lane),
TumblingWindowInSeconds (state carried between a window's invocations, a final call per window, each
window aggregated once; ReportBatchItemFailures, bisection, retries and MaximumRecordAgeInSeconds
within windows, with the OnFailure queue), and the per-mapping metrics at /metrics."""

import base64
import json
import time
import urllib.request
from datetime import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, aws_client, make_client, start_moto, zip_bytes
from test_streams import put, stream, wait_for

SLOW = '''
import base64, json, time

def handler(event, context):
    start = time.time()
    shard = None
    for r in event["Records"]:
        shard = r["eventID"].rsplit(":", 1)[0]
        data = base64.b64decode(r["kinesis"]["data"]).decode()
        print("PREC " + json.dumps({"shard": shard, "data": data, "t": time.time()}))
    time.sleep(1.0)
    print("PBATCH " + json.dumps({"shard": shard, "start": start, "end": time.time(),
                                  "n": len(event["Records"])}))
    return {}
'''

AGGREGATE = '''
import base64, json

def handler(event, context):
    values = [int(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
    seen = {k: event.get(k) for k in ("window", "state", "shardId", "eventSourceARN",
                                       "isFinalInvokeForWindow", "isWindowTerminatedEarly")}
    seen["values"] = values
    print("WIN " + json.dumps(seen))
    if event["isFinalInvokeForWindow"]:
        return {}
    state = event["state"]
    return {"state": {"count": state.get("count", 0) + len(values), "sum": state.get("sum", 0) + sum(values)}}
'''

# A window's aggregation that fails in every way a stream batch can: "poison" always raises;
# "bad-…" is reported as a failed item once (with the state of the items before it); "nostate-…"
# makes the call answer without a state once. The state lists the values aggregated.
TROUBLED = '''
import base64, json, os

def once(name):
    if os.path.exists("/tmp/" + name):
        return False
    open("/tmp/" + name, "w").close()
    return True

def handler(event, context):
    values = [base64.b64decode(r["kinesis"]["data"]).decode() for r in event["Records"]]
    print("TWIN " + json.dumps({"window": event["window"], "state": event["state"], "values": values,
                                "final": event["isFinalInvokeForWindow"]}))
    if event["isFinalInvokeForWindow"]:
        return {}
    if "poison" in values:
        raise Exception("poison record")
    state = event["state"]
    seen = state.setdefault("seen", [])
    for v, r in zip(values, event["Records"]):
        if v.startswith("bad-") and once(v):
            return {"state": state, "batchItemFailures": [{"itemIdentifier": r["kinesis"]["sequenceNumber"]}]}
        seen.append(v)
    if any(v.startswith("nostate-") and once(v) for v in values):
        return {}
    return {"state": state}
'''

AGED = {}


@pytest.fixture(scope="module")
def world():
    moto, url = start_moto()
    server = Server(extra=["--aws-endpoint-url", url, "--aws-endpoint-url-kinesis", url,
                           "--aws-endpoint-url-dynamodbstreams", url])
    server.start()
    # Records for test_tumbling_window_skips_old_records: put first, so that most of the minute
    # they must age passes while the other tests run.
    k, _ = stream(url, "win-aged")
    put(k, "win-aged", [(f"aged{i}", "pk") for i in range(3)])
    AGED["put_at"] = time.time()
    try:
        yield server, url
    finally:
        server.stop()
        server.tmp.cleanup()
        moto.terminate()
        moto.wait()


def function(server, name, code):
    make_client(server.endpoint).create_function(
        FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": zip_bytes({"app.py": (code, 0o644)})}, Timeout=30)


def lines(server, function, tag):
    """The JSON after `tag` of every line the function printed with it, in log order."""
    logs = make_client(server.endpoint, "logs")
    out, token = [], None
    while True:
        args = {"logGroupName": f"/aws/lambda/{function}", "filterPattern": f'"{tag} "'}
        if token:
            args["nextToken"] = token
        try:
            page = logs.filter_log_events(**args)
        except ClientError:
            return []
        out += [json.loads(e["message"][len(tag) + 1:]) for e in page["events"]]
        token = page.get("nextToken")
        if not token:
            return out


def mapping_metrics(server, uuid):
    """The /metrics samples of one mapping: {(family, shard or None): value}."""
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if f'mapping="{uuid}"' not in line:
            continue
        name = line.split("{", 1)[0]
        shard = line.split('shard="', 1)[1].split('"', 1)[0] if 'shard="' in line else None
        out[(name, shard)] = float(line.rsplit(" ", 1)[1])
    return out


@pytest.mark.timeout(400)
def test_parallelization_factor_keeps_key_order(world):
    server, url = world
    lam = make_client(server.endpoint)
    function(server, "sc-par", SLOW)
    k, arn = stream(url, "par", shards=2)
    keys, per_key = 40, 10
    items = [(f"k{i % keys}:{i // keys}", f"k{i % keys}") for i in range(keys * per_key)]
    put(k, "par", items)
    m = lam.create_event_source_mapping(FunctionName="sc-par", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                        BatchSize=10, ParallelizationFactor=4)
    assert m["ParallelizationFactor"] == 4
    assert wait_for(lambda: len({r["data"] for r in lines(server, "sc-par", "PREC")}) == len(items), 300)

    # Order per partition key: each key's records in the order they were put, by when the
    # function saw them (a key's records all go through one lane of one shard).
    records = sorted(lines(server, "sc-par", "PREC"), key=lambda r: r["t"])
    by_key = {}
    for r in records:
        key, n = r["data"].split(":")
        by_key.setdefault(key, []).append(int(n))
    assert {key: ns for key, ns in by_key.items() if ns != list(range(per_key))} == {}

    # More than one batch of each shard ran at once.
    batches = lines(server, "sc-par", "PBATCH")
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        mine = [b for b in batches if b["shard"] == shard]
        assert mine, shard
        # The most batches running at one time (ends before starts at a tie).
        events = sorted([(b["start"], 1) for b in mine] + [(b["end"], -1) for b in mine])
        running, most = 0, 0
        for _, change in events:
            running += change
            most = max(most, running)
        print(f"{shard}: {len(mine)} batches, at most {most} at once")
        assert 1 < most <= 4, (shard, mine)

    # The mapping's metrics: every record counted, and every shard checkpointed to its end
    # (no lag once the lanes are done).
    uuid = m["UUID"]
    assert wait_for(lambda: mapping_metrics(server, uuid).get(("lambdad_esm_records_total", None), 0) >= len(items), 60)
    assert wait_for(lambda: {s: v for (name, s), v in mapping_metrics(server, uuid).items()
                             if name == "lambdad_esm_lag_records"} ==
                    {"shardId-000000000000": 0, "shardId-000000000001": 0}, 60)
    got = mapping_metrics(server, uuid)
    assert got[("lambdad_esm_batches_total", None)] >= len(batches)
    assert got[("lambdad_esm_failures_total", None)] == 0
    ages = {s for (name, s) in got if name == "lambdad_esm_iterator_age_seconds"}
    assert ages == {"shardId-000000000000", "shardId-000000000001"}
    assert all(v >= 0 for (name, _), v in got.items() if name == "lambdad_esm_iterator_age_seconds")
    lam.delete_event_source_mapping(UUID=uuid)
    assert wait_for(lambda: mapping_metrics(server, uuid) == {}, 30)


def iso(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").timestamp()


@pytest.mark.timeout(300)
def test_tumbling_window_carries_state(world):
    server, url = world
    lam = make_client(server.endpoint)
    function(server, "sc-win", AGGREGATE)
    k, arn = stream(url, "win")
    lam.create_event_source_mapping(FunctionName="sc-win", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=3, TumblingWindowInSeconds=2)
    finals = lambda: [c for c in lines(server, "sc-win", "WIN") if c["isFinalInvokeForWindow"]]  # noqa: E731
    # Three waves, each put after the previous one's window has closed: three windows at least.
    values = list(range(1, 31))
    for wave in range(3):
        before = len(finals())
        put(k, "win", [(str(v), "pk") for v in values[wave * 10:(wave + 1) * 10]])
        assert wait_for(lambda: len(finals()) > before, 60)
    assert wait_for(lambda: sum(f["state"].get("count", 0) for f in finals()) >= 30, 60)

    calls = lines(server, "sc-win", "WIN")
    done = finals()
    assert sum(f["state"]["count"] for f in done) == 30
    assert sum(f["state"]["sum"] for f in done) == sum(values)
    for c in calls:
        assert (c["shardId"], c["eventSourceARN"], c["isWindowTerminatedEarly"]) == ("shardId-000000000000", arn, False)
        start, end = iso(c["window"]["start"]), iso(c["window"]["end"])
        assert end - start == 2 and start % 2 == 0
    # One aggregation runs from a window's first call to its final call. On a slow machine a
    # window can close (by the clock) before the poller has read all the records that arrived in
    # it; those start a second aggregation with the same bounds and fresh state (CI saw this once).
    windows = []
    open_ = {}
    for c in calls:
        group = open_.setdefault(c["window"]["start"], [])
        group.append(c)
        if c["isFinalInvokeForWindow"]:
            windows.append(open_.pop(c["window"]["start"]))
    assert not open_, open_
    assert len({g[0]["window"]["start"] for g in windows}) >= 3
    for group in windows:
        # Within an aggregation, each call gets the state the previous ones built; the last call
        # is the final one, with no records and the whole aggregation's state.
        count, total = 0, 0
        for c in group[:-1]:
            assert not c["isFinalInvokeForWindow"]
            assert c["state"] == ({} if count == 0 else {"count": count, "sum": total})
            count, total = count + len(c["values"]), total + sum(c["values"])
        last = group[-1]
        assert last["isFinalInvokeForWindow"] and last["values"] == []
        assert last["state"] == {"count": count, "sum": total}
    # Batches of 3: some window had more than one call before its final one.
    assert max(len(g) for g in windows) > 2
    # Each window is aggregated once: a window closes by the clock only when the shard is read to
    # its tip, and a record arriving for a window already closed joins the next one.
    starts = [g[0]["window"]["start"] for g in windows]
    assert len(starts) == len(set(starts)), starts


@pytest.mark.timeout(400)
def test_parallel_lanes_checkpoint_across_restart(world):
    server, url = world
    lam = make_client(server.endpoint)
    function(server, "sc-restart", SLOW)
    k, arn = stream(url, "par-restart")
    keys, per_key = 30, 10
    items = [(f"k{i % keys}:{i // keys}", f"k{i % keys}") for i in range(keys * per_key)]
    put(k, "par-restart", items)
    lam.create_event_source_mapping(FunctionName="sc-restart", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
                                    BatchSize=5, ParallelizationFactor=3)
    assert wait_for(lambda: len(lines(server, "sc-restart", "PREC")) >= 60, 200)
    # A restart while lanes are mid-batch: processing resumes from the checkpoint, which is
    # behind every record some lane had not finished.
    server.stop()
    server.start()
    assert wait_for(lambda: len({r["data"] for r in lines(server, "sc-restart", "PREC")}) == len(items), 300)
    records = sorted(lines(server, "sc-restart", "PREC"), key=lambda r: r["t"])
    first_seen = {}
    for r in records:
        key, n = r["data"].split(":")
        seen_ns = first_seen.setdefault(key, [])
        if int(n) not in seen_ns:
            seen_ns.append(int(n))
    assert {key: ns for key, ns in first_seen.items() if ns != list(range(per_key))} == {}
    duplicates = len(records) - len(items)
    print(f"duplicates after restart: {duplicates}")
    assert duplicates <= 3 * 5 * 4, duplicates


def on_failure_queue(url, name):
    sqs = aws_client("sqs", url)
    q = sqs.create_queue(QueueName=name)["QueueUrl"]
    return sqs, q, sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def failures(sqs, q, count, timeout=60):
    """The OnFailure records in queue `q`, once `count` have arrived."""
    messages = []
    assert wait_for(lambda: messages.extend(sqs.receive_message(QueueUrl=q, WaitTimeSeconds=1).get("Messages", []))
                    or len(messages) >= count, timeout)
    return [json.loads(m["Body"]) for m in messages]


def aggregations(server, fn):
    """The TWIN calls grouped into aggregations, each ending at its final call."""
    out, open_ = [], {}
    for c in lines(server, fn, "TWIN"):
        open_.setdefault(c["window"]["start"], []).append(c)
        if c["final"]:
            out.append(open_.pop(c["window"]["start"]))
    return out


@pytest.mark.timeout(240)
def test_tumbling_window_error_handling(world):
    server, url = world
    lam = make_client(server.endpoint)
    function(server, "sc-win-err", TROUBLED)
    sqs, q, q_arn = on_failure_queue(url, "sc-win-failures")
    k, arn = stream(url, "win-err")
    values = ["a0", "a1", "a2", "bad-w", "a4", "a5", "poison", "a7", "nostate-w", "a9"]
    put(k, "win-err", [(v, "pk") for v in values])
    lam.create_event_source_mapping(
        FunctionName="sc-win-err", EventSourceArn=arn, StartingPosition="TRIM_HORIZON", BatchSize=10,
        TumblingWindowInSeconds=3, FunctionResponseTypes=["ReportBatchItemFailures"],
        BisectBatchOnFunctionError=True, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": q_arn}})
    expected = [v for v in values if v != "poison"]
    done = lambda: [v for g in aggregations(server, "sc-win-err") for v in g[-1]["state"].get("seen", [])]  # noqa: E731
    assert wait_for(lambda: done() == expected, 120), (done(), lines(server, "sc-win-err", "TWIN"))

    # The poison record alone, after bisection and its one retry, went to the OnFailure queue.
    [record] = failures(sqs, q, 1)
    info = record["KinesisBatchInfo"]
    shard_it = k.get_shard_iterator(StreamName="win-err", ShardId="shardId-000000000000",
                                    ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
    poison_seq = k.get_records(ShardIterator=shard_it)["Records"][values.index("poison")]["SequenceNumber"]
    assert (info["batchSize"], info["startSequenceNumber"], info["endSequenceNumber"]) == (1, poison_seq, poison_seq)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2

    calls = lines(server, "sc-win-err", "TWIN")
    groups = aggregations(server, "sc-win-err")
    for group in groups:
        assert group[-1]["values"] == [] and not any(c["final"] for c in group[:-1])
    starts = [g[0]["window"]["start"] for g in groups]
    assert len(starts) == len(set(starts)), starts
    # The reported failure: the next call starts at the failed item, with the state answered beside
    # the report (the items before it aggregated once).
    report = next(i for i, c in enumerate(calls) if "bad-w" in c["values"] and "poison" not in c["values"])
    retry = next(c for c in calls[report + 1:] if c["values"] and c["window"] == calls[report]["window"])
    assert retry["values"][0] == "bad-w", calls
    before = calls[report]["values"][:calls[report]["values"].index("bad-w")]
    assert retry["state"].get("seen", []) == calls[report]["state"].get("seen", []) + before, calls
    # An answer without a state failed the call: its records were aggregated again.
    assert sum("nostate-w" in c["values"] for c in calls if not c["final"]) >= 2


@pytest.mark.timeout(240)
def test_tumbling_window_skips_old_records(world):
    server, url = world
    lam = make_client(server.endpoint)
    function(server, "sc-win-aged", TROUBLED)
    sqs, q, q_arn = on_failure_queue(url, "sc-win-aged-failures")
    k = aws_client("kinesis", url)
    arn = k.describe_stream(StreamName="win-aged")["StreamDescription"]["StreamARN"]
    # The three records of the fixture are older than the smallest MaximumRecordAgeInSeconds (60).
    assert wait_for(lambda: time.time() > AGED["put_at"] + 62, 120)
    lam.create_event_source_mapping(
        FunctionName="sc-win-aged", EventSourceArn=arn, StartingPosition="TRIM_HORIZON",
        TumblingWindowInSeconds=2, MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": q_arn}})
    put(k, "win-aged", [("fresh", "pk")])
    assert wait_for(lambda: any(g[-1]["state"].get("seen") == ["fresh"]
                                for g in aggregations(server, "sc-win-aged")), 60)
    [record] = failures(sqs, q, 1)
    assert record["requestContext"]["condition"] == "RecordAgeExpired"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["KinesisBatchInfo"]["batchSize"] == 3
    # The old records never reached the function; the fresh one did, once.
    aggregated = [v for c in lines(server, "sc-win-aged", "TWIN") if not c["final"] for v in c["values"]]
    assert aggregated == ["fresh"]
