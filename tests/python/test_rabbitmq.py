"""RabbitMQ event source mappings (Amazon MQ's shape) against the machine's RabbitMQ at
127.0.0.1:5672 (guest/guest; the test fails, never skips, when it is not reachable): the mapping
API's validation (boto3), 1,000 messages in batches with the event checked field by field, a
failed batch redelivered with `redelivered: true`, the queue's dead-letter exchange receiving
what keeps failing, and nothing lost across a kill -9 of lambdad mid-stream.

The function reports every event to an HTTP recorder in the test before it returns, so a
message the mapping acknowledged has been recorded."""

import base64
import json
import subprocess
import time
import urllib.request
import uuid

import pika
import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, EventRecorder, Server, make_client, zip_bytes

AMQP = "amqp://guest:guest@127.0.0.1:5672"
SECRET = "arn:aws:secretsmanager:us-east-1:000000000000:secret:mq-credentials"
BROKER = "arn:aws:mq:us-east-1:000000000000:broker:main:b-6f5d1b3c-2f1e-4a59-9d0c-1a2b3c4d5e6f"
RUN = uuid.uuid4().hex[:8]

CONSUMER = '''
import base64, json, os, time, urllib.request

def handler(event, context):
    body = json.dumps({"request": context.aws_request_id, "event": event}).encode()
    urllib.request.urlopen(urllib.request.Request(os.environ["RECORDER"], data=body), timeout=10).read()
    for msgs in event["rmqMessagesByQueue"].values():
        for m in msgs:
            data = base64.b64decode(m["data"]).decode(errors="replace")
            if data.startswith("poison"):
                raise Exception("poison message")
            if data.startswith("flaky") and not m["redelivered"]:
                raise Exception("fails on first delivery")
    time.sleep(float(os.environ.get("PAUSE", "0")))
    return "ok"
'''


class Recorder(EventRecorder):
    """The function's events, read as RabbitMQ messages."""

    def messages(self, queue=None):
        """(request id, batch size, message) for every message recorded, in order."""
        out = []
        with self.lock:
            events = list(self.events)
        for e in events:
            for key, msgs in e["event"]["rmqMessagesByQueue"].items():
                if queue is None or key.startswith(queue + "::"):
                    out += [(e["request"], len(msgs), m) for m in msgs]
        return out

    def bodies(self, queue):
        return [base64.b64decode(m["data"]).decode() for _, _, m in self.messages(queue)]


def connect():
    """A pika connection to the machine's RabbitMQ (an error, not a skip, when it is down)."""
    try:
        return pika.BlockingConnection(pika.URLParameters(AMQP + "/%2F"))
    except pika.exceptions.AMQPConnectionError as e:
        pytest.fail(f"RabbitMQ is not reachable at 127.0.0.1:5672: {e!r}")


def publish(queue, bodies, **props):
    conn = connect()
    ch = conn.channel()
    for b in bodies:
        ch.basic_publish("", queue, b.encode() if isinstance(b, str) else b,
                         pika.BasicProperties(**props))
    conn.close()


def declare(queue, arguments=None):
    conn = connect()
    conn.channel().queue_declare(queue, durable=True, arguments=arguments)
    conn.close()


def depth(queue):
    """Messages ready in the queue."""
    conn = connect()
    n = conn.channel().queue_declare(queue, passive=True).method.message_count
    conn.close()
    return n


def wait_for(predicate, timeout=90):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


@pytest.fixture(scope="module")
def world():
    connect().close()
    recorder = Recorder()
    server = Server(extra=["--broker", f"main={AMQP}", "--secret", f"{SECRET}=guest:guest"])
    server.start()
    queues = []
    try:
        yield server, recorder, queues
    finally:
        server.stop()
        server.tmp.cleanup()
        recorder.httpd.shutdown()
        conn = connect()
        ch = conn.channel()
        for q in queues:
            ch.queue_delete(q)
        conn.close()


def function(server, recorder, name, pause="0"):
    make_client(server.endpoint).create_function(
        FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": zip_bytes({"app.py": (CONSUMER, 0o644)})}, Timeout=30,
        Environment={"Variables": {"RECORDER": recorder.url, "PAUSE": pause}})


def queue(queues, stem, arguments=None):
    name = f"lambdad-test-{stem}-{RUN}"
    declare(name, arguments)
    queues.append(name)
    return name


def test_mapping_api_and_validation(world):
    server, recorder, queues = world
    lam = make_client(server.endpoint)
    function(server, recorder, "rmq-api")
    q = queue(queues, "api")

    def error(**kw):
        args = {"FunctionName": "rmq-api", "EventSourceArn": BROKER, "Queues": [q], **kw}
        args = {k: v for k, v in args.items() if v is not None}
        with pytest.raises(ClientError) as e:
            lam.create_event_source_mapping(**args)
        return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]

    assert error(Queues=None) == ("InvalidParameterValueException", "Required 'queues' parameter is missing.")
    assert error(Queues=["a", "b"]) == (
        "ValidationException",
        "1 validation error detected: Value '[a, b]' at 'queues' failed to satisfy constraint: "
        "Member must have length less than or equal to 1")
    assert error(BatchSize=10001) == (
        "ValidationException",
        "1 validation error detected: Value '10001' at 'batchSize' failed to satisfy constraint: "
        "Member must have value less than or equal to 10000")
    assert error(MaximumBatchingWindowInSeconds=301) == (
        "InvalidParameterValueException", "Maximum batch window in seconds must be less than or equal to 300")
    code, message = error(SourceAccessConfigurations=[{"Type": "NOPE", "URI": "x"}])
    assert code == "ValidationException"
    assert message.startswith("1 validation error detected: Value 'NOPE' at "
                              "'sourceAccessConfigurations.1.member.type' failed to satisfy constraint: "
                              "Member must satisfy enum value set: [BASIC_AUTH, ")
    assert error(SourceAccessConfigurations=[{"Type": "VPC_SUBNET", "URI": "subnet:s-1"}])[0] == \
        "InvalidParameterValueException"
    assert error(SourceAccessConfigurations=[{"Type": "BASIC_AUTH", "URI": "not-a-secret"}])[0] == \
        "InvalidParameterValueException"
    assert error(SourceAccessConfigurations=[{"Type": "VIRTUAL_HOST", "URI": "/"},
                                             {"Type": "VIRTUAL_HOST", "URI": "/"}])[0] == \
        "InvalidParameterValueException"
    assert error(EventSourceArn="arn:aws:mq:us-east-1:000000000000:broker:main")[0] == \
        "InvalidParameterValueException"

    access = [{"Type": "BASIC_AUTH", "URI": SECRET}, {"Type": "VIRTUAL_HOST", "URI": "/"}]
    out = lam.create_event_source_mapping(FunctionName="rmq-api", EventSourceArn=BROKER, Queues=[q],
                                          SourceAccessConfigurations=access, Enabled=False)
    assert (out["State"], out["BatchSize"], out["Queues"], out["SourceAccessConfigurations"],
            out["EventSourceArn"]) == ("Disabled", 100, [q], access, BROKER)  # created disabled, as AWS
    assert "StartingPosition" not in out
    with pytest.raises(ClientError) as e:
        lam.create_event_source_mapping(FunctionName="rmq-api", EventSourceArn=BROKER, Queues=[q])
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    got = lam.get_event_source_mapping(UUID=out["UUID"])
    assert (got["State"], got["Queues"]) == ("Disabled", [q])
    upd = lam.update_event_source_mapping(UUID=out["UUID"], BatchSize=10000, MaximumBatchingWindowInSeconds=2)
    assert (upd["BatchSize"], upd["MaximumBatchingWindowInSeconds"], upd["Queues"]) == (10000, 2, [q])
    listed = lam.list_event_source_mappings(EventSourceArn=BROKER)["EventSourceMappings"]
    assert [m["UUID"] for m in listed] == [out["UUID"]]
    lam.delete_event_source_mapping(UUID=out["UUID"])


def test_thousand_messages_in_batches_with_amazon_mq_event_shape(world):
    server, recorder, queues = world
    lam = make_client(server.endpoint)
    function(server, recorder, "rmq-many")
    q = queue(queues, "many")
    publish(q, ["shape"], content_type="text/plain", content_encoding="utf-8",
            headers={"header1": "value1", "numberInHeader": 10}, delivery_mode=2, priority=3,
            correlation_id="corr-1", reply_to="replies", expiration="600000", message_id="msg-1",
            timestamp=2021, type="greeting", user_id="guest", app_id="tests", cluster_id="c1")
    publish(q, [f"m{i}" for i in range(1000)])
    m = lam.create_event_source_mapping(
        FunctionName="rmq-many", EventSourceArn=BROKER, Queues=[q], BatchSize=100,
        SourceAccessConfigurations=[{"Type": "BASIC_AUTH", "URI": SECRET}, {"Type": "VIRTUAL_HOST", "URI": "/"}])
    try:
        assert wait_for(lambda: len(set(recorder.bodies(q))) == 1001, 100), len(recorder.bodies(q))
        got = recorder.messages(q)
        bodies = [base64.b64decode(msg["data"]).decode() for _, _, msg in got]
        assert len(bodies) == 1001, "no message delivered twice without a failure"
        assert bodies[0] == "shape" and bodies[1:] == [f"m{i}" for i in range(1000)], "queue order kept"
        batches = {}
        for request, size, _ in got:
            batches[request] = size
        assert max(batches.values()) <= 100 and len(batches) >= 11, batches

        first = recorder.events[0]["event"]
        assert first["eventSource"] == "aws:rmq"
        assert first["eventSourceArn"] == BROKER
        assert list(first["rmqMessagesByQueue"]) == [f"{q}::/"]
        shape = first["rmqMessagesByQueue"][f"{q}::/"][0]
        assert set(shape) == {"basicProperties", "redelivered", "data"}
        assert shape["redelivered"] is False
        assert base64.b64decode(shape["data"]) == b"shape"
        p = shape["basicProperties"]
        assert p == {
            "contentType": "text/plain", "contentEncoding": "utf-8",
            "headers": {"header1": {"bytes": list(b"value1")}, "numberInHeader": 10},
            "deliveryMode": 2, "priority": 3, "correlationId": "corr-1", "replyTo": "replies",
            "expiration": "600000", "messageId": "msg-1", "timestamp": "Jan 1, 1970, 12:33:41 AM",
            "type": "greeting", "userId": "guest", "appId": "tests", "clusterId": "c1", "bodySize": 5,
        }
        plain = first["rmqMessagesByQueue"][f"{q}::/"][1]["basicProperties"]
        assert plain["contentType"] is None and plain["headers"] is None and plain["timestamp"] is None
        assert plain["bodySize"] == 2
        # Everything was acknowledged: nothing is left, even after the consumer goes away.
        lam.delete_event_source_mapping(UUID=m["UUID"])
        assert wait_for(lambda: depth(q) == 0 and len(recorder.bodies(q)) == 1001, 10)
        m = None
    finally:
        if m:
            lam.delete_event_source_mapping(UUID=m["UUID"])


def test_failed_batch_is_redelivered(world):
    server, recorder, queues = world
    lam = make_client(server.endpoint)
    function(server, recorder, "rmq-flaky")
    q = queue(queues, "flaky")
    publish(q, ["flaky-1", "ok-2"])
    m = lam.create_event_source_mapping(FunctionName="rmq-flaky", EventSourceArn=BROKER, Queues=[q], BatchSize=10)
    try:
        assert wait_for(lambda: len(recorder.bodies(q)) >= 4, 60), recorder.bodies(q)
        got = [(base64.b64decode(msg["data"]).decode(), msg["redelivered"]) for _, _, msg in recorder.messages(q)]
        # The whole failed batch comes back, redelivered; then it succeeds and is acknowledged.
        assert got[:2] == [("flaky-1", False), ("ok-2", False)]
        assert sorted(got[2:4]) == [("flaky-1", True), ("ok-2", True)]
        assert wait_for(lambda: depth(q) == 0, 10)
        # The mapping's metrics: two batches' records, one failed invocation.
        with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
            mine = {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in r.read().decode().splitlines()
                    if f'mapping="{m["UUID"]}",function="rmq-flaky",source="rmq"' in line}
        assert (mine["lambdad_esm_records_total"], mine["lambdad_esm_failures_total"]) == (4, 1), mine
        assert mine["lambdad_esm_batches_total"] >= 2, mine
        lam.delete_event_source_mapping(UUID=m["UUID"])
        m = None
        # Acknowledged after the success: nothing comes back when the consumer goes away.
        assert not wait_for(lambda: depth(q) > 0 or len(recorder.bodies(q)) > 4, 3)
    finally:
        if m:
            lam.delete_event_source_mapping(UUID=m["UUID"])


def test_dead_letter_exchange_receives_what_keeps_failing(world):
    server, recorder, queues = world
    lam = make_client(server.endpoint)
    function(server, recorder, "rmq-dlx")
    dlx = f"lambdad-test-dlx-{RUN}"
    conn = connect()
    ch = conn.channel()
    ch.exchange_declare(dlx, "fanout", auto_delete=False)
    conn.close()
    dlq = queue(queues, "dlq")
    conn = connect()
    conn.channel().queue_bind(dlq, dlx)
    conn.close()
    q = queue(queues, "with-dlx", {"x-dead-letter-exchange": dlx})
    publish(q, ["poison-1"])
    m = lam.create_event_source_mapping(FunctionName="rmq-dlx", EventSourceArn=BROKER, Queues=[q], BatchSize=1)
    try:
        assert wait_for(lambda: depth(dlq) == 1, 60), recorder.bodies(q)
        deliveries = [msg["redelivered"] for _, _, msg in recorder.messages(q)]
        # The first delivery and Amazon MQ's 6 redeliveries, then the reject without requeue.
        assert deliveries == [False] + [True] * 6
        conn = connect()
        method, props, body = conn.channel().basic_get(dlq, auto_ack=True)
        conn.close()
        assert body == b"poison-1"
        assert props.headers["x-death"][0]["reason"] == "rejected"
        assert depth(q) == 0
    finally:
        lam.delete_event_source_mapping(UUID=m["UUID"])
        conn = connect()
        conn.channel().exchange_delete(dlx)
        conn.close()


@pytest.mark.timeout(240)
def test_nothing_lost_across_kill_9(world):
    server, recorder, queues = world
    lam = make_client(server.endpoint)
    function(server, recorder, "rmq-restart", pause="0.2")
    q = queue(queues, "restart")
    publish(q, [f"r{i}" for i in range(1000)])
    lam.create_event_source_mapping(FunctionName="rmq-restart", EventSourceArn=BROKER, Queues=[q], BatchSize=25)
    assert wait_for(lambda: len(recorder.bodies(q)) >= 200, 100)
    server.proc.kill()  # SIGKILL mid-stream: the batch in flight was never acknowledged
    server.proc.wait()
    server.proc = None
    before = len(recorder.bodies(q))
    assert before < 1000, "the kill happened mid-stream"
    server.start()
    assert wait_for(lambda: set(recorder.bodies(q)) == {f"r{i}" for i in range(1000)}, 150), \
        len(set(recorder.bodies(q)))
    assert wait_for(lambda: depth(q) == 0, 10)
    duplicates = len(recorder.bodies(q)) - 1000
    print(f"duplicates after kill -9: {duplicates}")
    assert 0 <= duplicates <= 25, "at most the batch in flight is delivered again"
    redelivered = [msg for _, _, msg in recorder.messages(q) if msg["redelivered"]]
    assert len(redelivered) >= duplicates


def close_connection(mapping_uuid):
    """Has the broker close the mapping's connection (as when the broker restarts); False if none."""
    out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "pid", "client_properties"],
                         capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        if f"lambdad mapping {mapping_uuid}" in line:
            pid = line.split("\t")[0]
            subprocess.run(["rabbitmqctl", "close_connection", pid, "test: broker going away"],
                           check=True, capture_output=True, timeout=60)
            return True
    return False


def test_reconnects_when_the_broker_closes_the_connection(world):
    server, recorder, queues = world
    lam = make_client(server.endpoint)
    function(server, recorder, "rmq-reconnect")
    q = queue(queues, "reconnect")
    m = lam.create_event_source_mapping(FunctionName="rmq-reconnect", EventSourceArn=BROKER, Queues=[q], BatchSize=10)
    try:
        publish(q, ["before"])
        assert wait_for(lambda: recorder.bodies(q) == ["before"], 30)
        assert close_connection(m["UUID"]), "the mapping's connection is listed by the broker"
        publish(q, ["after"])
        assert wait_for(lambda: "after" in recorder.bodies(q), 60), recorder.bodies(q)
        assert "The mapping's broker is unavailable." in server.log()
        # Disabling the mapping closes its connection: nothing more is consumed.
        lam.update_event_source_mapping(UUID=m["UUID"], Enabled=False)
        assert wait_for(lambda: not connection_listed(m["UUID"]), 30)
        publish(q, ["while-disabled"])
        assert wait_for(lambda: depth(q) == 1, 10)
        assert "while-disabled" not in recorder.bodies(q)
    finally:
        lam.delete_event_source_mapping(UUID=m["UUID"])


def connection_listed(mapping_uuid):
    out = subprocess.run(["rabbitmqctl", "-q", "list_connections", "client_properties"],
                         capture_output=True, text=True, timeout=60).stdout
    return f"lambdad mapping {mapping_uuid}" in out
