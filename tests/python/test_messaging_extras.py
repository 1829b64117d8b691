"""lambdad's built-in SQS and SNS, the parts issue 21 finished last, with boto3 and no external AWS
endpoint: message move tasks from a dead-letter queue (back to each message's source, or to a given
destination; their list, cancel and errors, as LocalStack's AWS-validated snapshots have them);
queue policies governing SNS -> SQS deliveries under --auth sigv4; FIFO publish deduplication that
survives a restart; an https subscriber whose CA lambdad trusts through SSL_CERT_FILE, and one whose
CA it does not trust, which gets nothing; and a move task that survives a kill -9 and completes after
the restart; a function's own boto3 reaching the built-in queues and topics under its execution
role's IAM policy."""

import base64
import json
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import Server, make_client, require_tool, wait_for, wait_for_sdk, zip_bytes

ACCOUNT = "000000000000"


def error_of(call, **kwargs):
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    r = e.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def queue(sqs, name, **attrs):
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive_all(sqs, url, want, timeout=60):
    got = []

    def more():
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                  VisibilityTimeout=600, MessageAttributeNames=["All"])
        got.extend(out.get("Messages", []))
        return len(got) >= want

    wait_for(more, timeout, f"{want} messages")
    return got


def dead_letter(sqs, url, n):
    """Receives `n` messages of `url` (whose maxReceiveCount is 1) once, so that the next receive
    moves them to its dead-letter queue."""
    seen = set()

    def received_once():
        out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=0)
        seen.update(m["MessageId"] for m in out.get("Messages", []))
        return len(seen) >= n

    wait_for(received_once, 60, f"{n} first receives")
    # Received once already: the next receive moves them instead.
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []) == []


@pytest.fixture(scope="module")
def open_server():
    server = Server(interpreters=False)
    server.start()
    try:
        yield server, make_client(server.endpoint, "sqs"), make_client(server.endpoint, "sns")
    finally:
        code = server.stop()
        assert code == 0, server.log()[-2000:]
        server.tmp.cleanup()


@pytest.mark.timeout(180)
def test_move_tasks_take_dead_letters_back(open_server):
    server, sqs, _ = open_server
    dlq_url, dlq_arn = queue(sqs, "mv-dlq")
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    src_urls = []
    for name in ("mv-src-a", "mv-src-b"):
        url, _ = queue(sqs, name, RedrivePolicy=redrive, VisibilityTimeout="0")
        src_urls.append(url)
        for i in range(2):
            sqs.send_message(QueueUrl=url, MessageBody=f"{name}-{i}",
                             MessageAttributes={"n": {"DataType": "Number", "StringValue": str(i)}})
        dead_letter(sqs, url, 2)
    wait_for(lambda: sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
             ["Attributes"]["ApproximateNumberOfMessages"] == "4", 30, "four dead letters")

    # Without a destination each message goes back to the queue it came from.
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert json.loads(base64.b64decode(handle))["sourceArn"] == dlq_arn

    def done():
        r = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        return r and r[0]["Status"] == "COMPLETED" and r[0]

    task = wait_for(done, 60, "the move task to complete")
    assert (task["ApproximateNumberOfMessagesMoved"], task["ApproximateNumberOfMessagesToMove"]) == (4, 4)
    assert task["SourceArn"] == dlq_arn and "DestinationArn" not in task and "TaskHandle" not in task
    for url, name in zip(src_urls, ("mv-src-a", "mv-src-b")):
        bodies = sorted(m["Body"] for m in receive_all(sqs, url, 2))
        assert bodies == [f"{name}-0", f"{name}-1"]
    assert sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0).get("Messages", []) == []

    # To a given destination, with a rate limit, then the list and cancel of a finished task.
    dest_url, dest_arn = queue(sqs, "mv-dest")
    src_c, _ = queue(sqs, "mv-src-c", RedrivePolicy=redrive, VisibilityTimeout="0")
    for i in range(2):
        sqs.send_message(QueueUrl=src_c, MessageBody=f"mv-src-c-{i}",
                         MessageAttributes={"n": {"DataType": "Number", "StringValue": str(i)}})
    dead_letter(sqs, src_c, 2)
    wait_for(lambda: sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
             ["Attributes"]["ApproximateNumberOfMessages"] == "2", 30, "two dead letters")
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, DestinationArn=dest_arn,
                                         MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    moved = receive_all(sqs, dest_url, 2)
    assert sorted(m["Body"] for m in moved) == ["mv-src-c-0", "mv-src-c-1"]
    assert {m["MessageAttributes"]["n"]["StringValue"] for m in moved} == {"0", "1"}
    tasks = wait_for(lambda: (r := sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"])
                     and r[0]["Status"] == "COMPLETED" and r, 30, "the second task to complete")
    assert [t["Status"] for t in tasks] == ["COMPLETED", "COMPLETED"]
    assert (tasks[0]["DestinationArn"], tasks[0]["MaxNumberOfMessagesPerSecond"]) == (dest_arn, 1)
    assert error_of(sqs.cancel_message_move_task, TaskHandle=handle) == (
        "ResourceNotFoundException", "Task does not exist.", 404)

    # Errors, as AWS answers them.
    plain_url, plain_arn = queue(sqs, "mv-plain")
    assert error_of(sqs.start_message_move_task, SourceArn=plain_arn) == (
        "InvalidParameterValue", "Source queue must be configured as a Dead Letter Queue.", 400)
    assert error_of(sqs.start_message_move_task, SourceArn=dlq_arn,
                    DestinationArn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere") == (
        "ResourceNotFoundException",
        "The resource that you specified for the DestinationArn parameter doesn't exist.", 404)
    assert error_of(sqs.start_message_move_task, SourceArn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere")[0] == (
        "ResourceNotFoundException")
    assert error_of(sqs.cancel_message_move_task, TaskHandle="not-a-handle") == (
        "InvalidParameterValue", "Value for parameter TaskHandle is invalid.", 400)
    bogus = base64.b64encode(json.dumps({"taskId": "x", "sourceArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere"})
                             .encode()).decode()
    assert error_of(sqs.cancel_message_move_task, TaskHandle=bogus) == (
        "ResourceNotFoundException", "The resource that you specified for the SourceArn parameter doesn't exist.", 404)
    assert error_of(sqs.start_message_move_task, SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=501)[0] == (
        "InvalidParameterValue")


@pytest.mark.timeout(180)
def test_a_running_move_task_is_cancelled(open_server):
    _, sqs, _ = open_server
    dlq_url, dlq_arn = queue(sqs, "cx-dlq")
    url, _ = queue(sqs, "cx-src", VisibilityTimeout="0",
                   RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": f"m{i}"} for i in range(10)])
    dead_letter(sqs, url, 10)
    wait_for(lambda: sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
             ["Attributes"]["ApproximateNumberOfMessages"] == "10", 30, "ten dead letters")
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    running = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
    assert (running["Status"], running["TaskHandle"], running["ApproximateNumberOfMessagesToMove"]) == (
        "RUNNING", handle, 10)
    assert error_of(sqs.start_message_move_task, SourceArn=dlq_arn) == (
        "InvalidParameterValue",
        "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
        400)
    sqs.cancel_message_move_task(TaskHandle=handle)
    task = wait_for(lambda: (r := sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0])
                    ["Status"] == "CANCELLED" and r, 30, "the task to stop")
    left = int(sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"])
    assert task["ApproximateNumberOfMessagesMoved"] < 10 and left == 10 - task["ApproximateNumberOfMessagesMoved"]


@pytest.mark.timeout(180)
def test_fifo_publish_deduplication_survives_a_restart():
    server = Server(interpreters=False)
    server.start()
    try:
        sns, sqs = make_client(server.endpoint, "sns"), make_client(server.endpoint, "sqs")
        topic = sns.create_topic(Name="dd.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
        url, arn = queue(sqs, "dd-q.fifo", FifoQueue="true")
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        first = sns.publish(TopicArn=topic, Message="once", MessageGroupId="g", MessageDeduplicationId="d-1")
        again = sns.publish(TopicArn=topic, Message="once", MessageGroupId="g", MessageDeduplicationId="d-1")
        assert (again["MessageId"], again["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
        server.stop()
        server.start()
        sns, sqs = make_client(server.endpoint, "sns"), make_client(server.endpoint, "sqs")
        after = sns.publish(TopicArn=topic, Message="once", MessageGroupId="g", MessageDeduplicationId="d-1")
        assert (after["MessageId"], after["SequenceNumber"]) == (first["MessageId"], first["SequenceNumber"])
        new = sns.publish(TopicArn=topic, Message="twice", MessageGroupId="g", MessageDeduplicationId="d-2")
        assert new["MessageId"] != first["MessageId"] and new["SequenceNumber"] > first["SequenceNumber"]
        got = []

        def two():
            # A FIFO group hands out its next message once the one before is deleted.
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                got.append(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            return len(got) >= 2

        wait_for(two, 60, "both messages")
        assert got == ["once", "twice"]
        # Nothing more is owed: the duplicates stored no delivery.
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", []) == []
    finally:
        server.stop()
        server.tmp.cleanup()


@pytest.mark.timeout(180)
def test_queue_policies_govern_sns_deliveries_under_auth():
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-qpol-"))
    creds = tmp / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDTEST\naws_secret_access_key = secret\n")
    server = Server(extra=["--auth", "sigv4", "--credentials-file", str(creds)], interpreters=False)
    server.start()
    try:
        sns, sqs = make_client(server.endpoint, "sns"), make_client(server.endpoint, "sqs")
        topic = sns.create_topic(Name="guarded")["TopicArn"]
        open_url, open_arn = queue(sqs, "allowed-q")
        shut_url, shut_arn = queue(sqs, "no-policy-q")
        other_url, other_arn = queue(sqs, "other-topic-q")
        sqs.set_queue_attributes(QueueUrl=open_url, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": open_arn, "Condition": {"ArnEquals": {"aws:SourceArn": topic}}}]})})
        sqs.set_queue_attributes(QueueUrl=other_url, Attributes={"Policy": json.dumps({
            "Version": "2012-10-17", "Statement": {
                "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}, "Action": "sqs:SendMessage",
                "Resource": other_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic + "-other"}}}})})
        for arn in (open_arn, shut_arn, other_arn):
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        sns.publish(TopicArn=topic, Message="guarded hello")
        got = receive_all(sqs, open_url, 1)
        assert json.loads(got[0]["Body"])["Message"] == "guarded hello"

        def refused():
            text = server.log()
            return text.count("the queue's policy does not allow sns.amazonaws.com") >= 2

        wait_for(refused, 30, "both refusals")
        for url in (shut_url, other_url):
            assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
        metrics = urllib_get(server.endpoint + "/metrics")
        assert 'lambdad_sns_deliveries_failed_total{topic="guarded",protocol="sqs"} 2' in metrics, metrics
    finally:
        server.stop()
        server.tmp.cleanup()


def urllib_get(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


class Recorder(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        Recorder.received.append((self.headers.get("x-amz-sns-message-type"), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def make_ca_and_leaf(tmp):
    """A CA and a leaf certificate for 127.0.0.1 it signed (openssl CLI)."""
    require_tool("openssl")

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=lambdad test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr", "-subj", "/CN=127.0.0.1")
    (tmp / "leaf.ext").write_text("basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n"
                                  "extendedKeyUsage=serverAuth\n")
    run("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "leaf.pem", "-days", "2", "-extfile", "leaf.ext")
    return tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"


def serve_tls(httpd, leaf, key, **wrap):
    """Serves `httpd` over TLS with the certificate `leaf`, in a daemon thread."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(leaf, key)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True, **wrap)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()


@pytest.mark.timeout(180)
def test_https_subscriber_with_a_trusted_ca():
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-tls-"))
    ca, leaf, key = make_ca_and_leaf(tmp)
    httpd = HTTPServer(("127.0.0.1", 0), Recorder)
    serve_tls(httpd, leaf, key)
    server = Server(interpreters=False, env={"SSL_CERT_FILE": str(ca)})
    server.start()
    try:
        sns = make_client(server.endpoint, "sns")
        topic = sns.create_topic(Name="secure-web")["TopicArn"]
        endpoint = f"https://127.0.0.1:{httpd.server_port}/hook"
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=endpoint)
        wait_for(lambda: Recorder.received, 60, "the confirmation over TLS")
        kind, body = Recorder.received.pop(0)
        msg = json.loads(body)
        assert (kind, msg["Type"]) == ("SubscriptionConfirmation", "SubscriptionConfirmation")
        arn = sns.confirm_subscription(TopicArn=topic, Token=msg["Token"])["SubscriptionArn"]
        assert arn.startswith(topic + ":")
        published = sns.publish(TopicArn=topic, Message="over https")["MessageId"]
        wait_for(lambda: Recorder.received, 60, "the notification over TLS")
        kind, body = Recorder.received.pop(0)
        note = json.loads(body)
        assert (kind, note["Message"], note["MessageId"]) == ("Notification", "over https", published)
    finally:
        server.stop()
        server.tmp.cleanup()
        httpd.shutdown()


@pytest.mark.timeout(240)
def test_a_move_task_survives_a_kill_and_completes_after_the_restart():
    """A RUNNING task is resumed by the next start: SIGKILL mid-move, then every dead letter is in
    its source queue exactly once, the dead-letter queue is empty, and the task (started before the
    restart, still listed) is COMPLETED; an earlier finished task is listed too."""
    server = Server(interpreters=False)
    server.start()
    try:
        sqs = make_client(server.endpoint, "sqs")
        dlq_url, dlq_arn = queue(sqs, "rs-dlq")
        url, _ = queue(sqs, "rs-src", VisibilityTimeout="0",
                       RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}))

        def dead_letters(bodies):
            for i in range(0, len(bodies), 10):
                sqs.send_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(j), "MessageBody": b} for j, b in enumerate(bodies[i:i + 10])])
            dead_letter(sqs, url, len(bodies))
            wait_for(lambda: sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["ApproximateNumberOfMessages"])
                     ["Attributes"]["ApproximateNumberOfMessages"] == str(len(bodies)), 30, "the dead letters")

        # A first task that finishes before the restart.
        dead_letters(["early"])
        sqs.start_message_move_task(SourceArn=dlq_arn)
        wait_for(lambda: sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] == "COMPLETED",
                 30, "the first task")
        assert [m["Body"] for m in receive_all(sqs, url, 1)] == ["early"]
        sqs.purge_queue(QueueUrl=url)

        bodies = [f"m{i:02}" for i in range(16)]
        dead_letters(bodies)
        handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=2)["TaskHandle"]
        wait_for(lambda: sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]
                 ["ApproximateNumberOfMessagesMoved"] >= 4, 60, "four messages moved")
        server.proc.kill()  # SIGKILL: no chance to finish or save anything
        server.proc.wait()
        server.proc = None
        server.start()
        assert "Resumed message move tasks" in server.log()
        sqs = make_client(server.endpoint, "sqs")

        def completed():
            r = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10)["Results"]
            return r[0]["Status"] == "COMPLETED" and r

        tasks = wait_for(completed, 90, "the resumed task to complete")
        assert [t["Status"] for t in tasks] == ["COMPLETED", "COMPLETED"]
        task = tasks[0]
        assert (task["ApproximateNumberOfMessagesToMove"], task["MaxNumberOfMessagesPerSecond"]) == (16, 2)
        # Progress is saved after each batch (of two here): a kill may forget the last batch's count.
        assert 14 <= task["ApproximateNumberOfMessagesMoved"] <= 16, task
        assert "TaskHandle" not in task
        assert error_of(sqs.cancel_message_move_task, TaskHandle=handle) == (
            "ResourceNotFoundException", "Task does not exist.", 404)
        moved = receive_all(sqs, url, 16)
        assert sorted(m["Body"] for m in moved) == bodies
        assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
        assert sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["All"])["Attributes"][
            "ApproximateNumberOfMessages"] == "0"
    finally:
        code = server.stop()
        assert code == 0, server.log()[-2000:]
        server.tmp.cleanup()


class Handshakes(socketserver.ThreadingMixIn, HTTPServer):
    """An https server counting the TLS handshakes clients broke off (a client that does not trust
    its certificate aborts the handshake)."""
    daemon_threads = True
    refused = 0

    def get_request(self):
        sock, addr = self.socket.accept()
        try:
            sock.do_handshake()
        except (ssl.SSLError, OSError):
            Handshakes.refused += 1
            sock.close()
            raise
        return sock, addr


@pytest.mark.timeout(180)
def test_https_subscriber_with_an_untrusted_ca_gets_nothing():
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-tls-"))
    _, leaf, key = make_ca_and_leaf(tmp)
    Recorder.received.clear()
    httpd = Handshakes(("127.0.0.1", 0), Recorder)
    serve_tls(httpd, leaf, key, do_handshake_on_connect=False)
    # lambdad trusts the public CAs and the system's store, not this test's CA.
    server = Server(interpreters=False)
    server.start()
    try:
        sns = make_client(server.endpoint, "sns")
        topic = sns.create_topic(Name="untrusted-web")["TopicArn"]
        endpoint = f"https://127.0.0.1:{httpd.server_port}/hook"
        sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=endpoint)
        # The confirmation is tried (each time refused at the handshake), then given up and counted.
        failed = 'lambdad_sns_deliveries_failed_total{topic="untrusted-web",protocol="https"} 1'
        wait_for(lambda: failed in urllib_get(server.endpoint + "/metrics"), 120, "the confirmation given up")
        assert Handshakes.refused >= 2, Handshakes.refused
        assert Recorder.received == []
        (sub,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert (sub["Endpoint"], sub["SubscriptionArn"]) == (endpoint, "PendingConfirmation")
        # A publish reaches no pending subscription.
        sns.publish(TopicArn=topic, Message="never delivered")
        published = 'lambdad_sns_messages_published_total{topic="untrusted-web"} 1'
        wait_for(lambda: published in urllib_get(server.endpoint + "/metrics"), 30, "the publish counted")
        assert Recorder.received == []
    finally:
        server.stop()
        server.tmp.cleanup()
        httpd.shutdown()


MESSENGER = '''
import boto3


def handler(event, context):
    # No endpoint and no keys in the code: the runtime's boto3 reaches lambdad's built-in queues and
    # topics through AWS_ENDPOINT_URL_SQS/_SNS, with the execution role's temporary credentials.
    sqs, sns = boto3.client("sqs"), boto3.client("sns")
    out = {}
    for name in event["queues"]:
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody="from " + context.function_name)
            out[name] = "sent"
        except Exception as e:
            out[name] = getattr(e, "response", {}).get("Error", {}).get("Code") or repr(e)[:400]
    for arn in event["topics"]:
        try:
            sns.publish(TopicArn=arn, Message="from " + context.function_name)
            out[arn] = "published"
        except Exception as e:
            out[arn] = getattr(e, "response", {}).get("Error", {}).get("Code") or repr(e)[:400]
    return out
'''


@pytest.mark.timeout(300)
def test_a_functions_sdk_reaches_the_builtin_queues_and_topics_under_its_roles_policy():
    """The Wiring of issue 21: a function's own boto3 (the runtime's) finds the built-in SQS and SNS
    through the AWS_ENDPOINT_URL_* variables lambdad sets, signs with its execution role's
    credentials, and the role's IAM policy decides which sqs:* and sns:* actions it may take."""
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-msg-role-"))
    (tmp / "messenger.json").write_text(json.dumps({"Statement": [
        {"Effect": "Allow", "Action": ["sqs:GetQueueUrl", "sqs:SendMessage"],
         "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:open"},
        {"Effect": "Allow", "Action": "sqs:GetQueueUrl", "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:*"},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": f"arn:aws:sns:us-east-1:{ACCOUNT}:open-topic"}]}))
    creds = tmp / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDTEST\naws_secret_access_key = secret\n"
                     "[role/messenger]\npolicy = messenger.json\n")
    server = Server(extra=["--auth", "sigv4", "--credentials-file", str(creds)])
    server.start()
    try:
        wait_for_sdk(server)
        lam, sqs, sns = (make_client(server.endpoint, s) for s in ("lambda", "sqs", "sns"))
        urls = {name: sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("open", "closed")}
        topics = {name: sns.create_topic(Name=name)["TopicArn"] for name in ("open-topic", "closed-topic")}
        lam.create_function(FunctionName="messenger", Runtime="python3.12", Handler="app.handler", Timeout=30,
                            Role=f"arn:aws:iam::{ACCOUNT}:role/messenger",
                            Code={"ZipFile": zip_bytes({"app.py": (MESSENGER, 0o644)})})
        out = lam.invoke(FunctionName="messenger", Payload=json.dumps(
            {"queues": ["open", "closed"], "topics": [topics["open-topic"], topics["closed-topic"]]}))
        got = json.loads(out["Payload"].read())
        assert "FunctionError" not in out, (got, server.log()[-3000:])
        assert got == {"open": "sent", "closed": "AccessDenied", topics["open-topic"]: "published",
                       topics["closed-topic"]: "AuthorizationError"}, (got, server.log()[-3000:])
        messages = sqs.receive_message(QueueUrl=urls["open"], WaitTimeSeconds=5)["Messages"]
        assert [m["Body"] for m in messages] == ["from messenger"]
        assert "Messages" not in sqs.receive_message(QueueUrl=urls["closed"], WaitTimeSeconds=1)
    finally:
        assert server.stop() == 0
