"""Kinesis mappings against moto's server, past one batch at a time: ParallelizationFactor (several
batches of a shard in flight, in order per partition key, checkpoints behind the slowest lane),
TumblingWindowInSeconds (state carried between a window's invocations, a final call per window), and
the per-mapping metrics at /metrics."""

import base64
import json
import time
import urllib.request
from datetime import datetime

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, Server, make_client, start_moto, zip_bytes
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


@pytest.fixture(scope="module")
def world():
    moto, url = start_moto()
    server = Server(extra=["--aws-endpoint-url", url, "--aws-endpoint-url-kinesis", url,
                           "--aws-endpoint-url-dynamodbstreams", url])
    server.start()
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
