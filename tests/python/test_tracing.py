"""Tracing: the X-Amzn-Trace-Id header reaches the function as _X_AMZN_TRACE_ID (generated
when absent, as on AWS), and each invocation's spans (queue, init, invoke, overhead under one
root in the caller's trace) reach an OTLP/HTTP receiver the test runs."""

import json
import re
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

from conftest import ROLE, Server, _free_port, make_client, zip_bytes

APP = '''
import os

def handler(event, context):
    return os.environ.get("_X_AMZN_TRACE_ID")
'''
HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


class Receiver(BaseHTTPRequestHandler):
    bodies = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Receiver.bodies.append((self.path, self.headers.get("content-type"), body))
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def invoke(server, name, trace=None):
    req = urllib.request.Request(f"{server.endpoint}/2015-03-31/functions/{name}/invocations",
                                 data=b"{}", method="POST")
    if trace:
        req.add_header("X-Amzn-Trace-Id", trace)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def test_trace_header_and_otlp_spans():
    port = _free_port()
    receiver = HTTPServer(("127.0.0.1", port), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = Server(extra=["--otlp-endpoint", f"http://127.0.0.1:{port}"])
    server.start()
    try:
        lam = make_client(server.endpoint)
        lam.create_function(FunctionName="traced", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})})
        assert invoke(server, "traced", HEADER) == HEADER
        generated = invoke(server, "traced")
        assert re.fullmatch(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", generated), generated
    finally:
        assert server.stop() == 0  # flushes the exporter
        receiver.shutdown()

    assert Receiver.bodies, "no OTLP request arrived"
    spans = []
    for path, content_type, body in Receiver.bodies:
        assert path == "/v1/traces" and content_type.startswith("application/json")
        for rs in json.loads(body)["resourceSpans"]:
            service = {a["key"]: a["value"] for a in rs["resource"]["attributes"]}["service.name"]
            assert service == {"stringValue": "lambdad"}
            for ss in rs["scopeSpans"]:
                spans.extend(ss["spans"])
    first = [s for s in spans if s["traceId"] == "5759e988bd862e3fe1be46a994272793"]
    by_name = {s["name"]: s for s in first}
    assert set(by_name) == {"lambdad.invocation", "queue", "init", "invoke", "overhead"}, by_name.keys()
    root = by_name["lambdad.invocation"]
    assert root["parentSpanId"] == "53995c3f42cd8ad8", "the caller's segment is the parent"
    for name in ("queue", "init", "invoke", "overhead"):
        assert by_name[name]["parentSpanId"] == root["spanId"], name
    assert int(by_name["init"]["endTimeUnixNano"]) <= int(by_name["invoke"]["startTimeUnixNano"])
    attrs = {a["key"]: a["value"] for a in root["attributes"]}
    assert attrs["faas.name"] == {"stringValue": "traced"} and attrs["faas.coldstart"] == {"boolValue": True}

    # The warm second invocation: its own trace (the generated Root), no init span.
    trace_hex = generated.split(";")[0].split("-", 1)[1].replace("-", "")
    second = {s["name"] for s in spans if s["traceId"] == trace_hex}
    assert second == {"lambdad.invocation", "queue", "invoke", "overhead"}, second
