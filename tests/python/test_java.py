"""The Java runtimes: functions compiled here with the host's javac (tests/fixtures/java), zipped,
created with boto3 and invoked through lambdad's own Java runtime client."""

import base64
import io
import json
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from conftest import ROLE, ROOT, require_tool, zip_bytes

FIXTURES = ROOT / "tests" / "fixtures" / "java"
RUNTIME = "java17"


def javac(out, sources, classpath=()):
    out.mkdir(parents=True, exist_ok=True)
    cmd = [require_tool("javac"), "--release", "17", "-d", str(out)]
    if classpath:
        cmd += ["-cp", ":".join(str(c) for c in classpath)]
    proc = subprocess.run(cmd + [str(s) for s in sources], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def tree_files(root, prefix=""):
    """Every file under `root`, as zip entries under `prefix`."""
    return {prefix + p.relative_to(root).as_posix(): (p.read_bytes(), 0o644)
            for p in sorted(root.rglob("*")) if p.is_file()}


def jar(root):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\r\n\r\n")
        for name, (data, _) in tree_files(root).items():
            z.writestr(name, data)
    return buf.getvalue()


@pytest.fixture(scope="module")
def code(tmp_path_factory):
    """The fixture functions' zip: their classes at the root, helper.jar, the event classes of
    aws-lambda-java-events and (as fat jars bundle it) the aws-lambda-java-core interfaces they
    were compiled against in lib/."""
    build = tmp_path_factory.mktemp("java")
    javac(build / "core", sorted((FIXTURES / "core").rglob("*.java")))
    javac(build / "helper", sorted((FIXTURES / "lib").rglob("*.java")))
    javac(build / "events", sorted((FIXTURES / "events").rglob("*.java")))
    javac(build / "fn", sorted((FIXTURES / "functions").rglob("*.java")),
          [build / "core", build / "helper", build / "events"])
    files = tree_files(build / "fn")
    files["lib/helper.jar"] = (jar(build / "helper"), 0o644)
    files["lib/aws-lambda-java-events.jar"] = (jar(build / "events"), 0o644)
    files["lib/aws-lambda-java-core.jar"] = (jar(build / "core"), 0o644)
    files["wrapper.sh"] = ('#!/bin/sh\njava=$1\nshift\nexec "$java" -Dlambdad.test.option=wrapped "$@"\n', 0o755)
    return zip_bytes(files)


def create(lam, name, handler, code, runtime=RUNTIME, **kw):
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Code={"ZipFile": code}, **kw)


def invoke(lam, name, event, **kw):
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail", **kw)
    return out, json.loads(out["Payload"].read()), base64.b64decode(out.get("LogResult", "")).decode()


def test_pojo_handler_and_warm_static_state(lam, code):
    create(lam, "jv-orders", "example.Orders", code, MemorySize=256)
    order = {"item": "tea", "quantity": 3, "unitPrice": 1.5, "tags": ["hot"], "customer": {"name": "Ann", "vip": True},
             "extras": {"milk": 2}, "notAProperty": [1]}
    out, first, _ = invoke(lam, "jv-orders", order)
    assert "FunctionError" not in out, first
    assert {k: v for k, v in first.items() if k != "loadedAt"} == {
        "summary": "3 x tea", "total": 6.5, "invocation": 1, "tags": ["hot", "extras:[milk]"],
        "customer": {"name": "Ann", "vip": True}}, "null properties (note) are left out"
    out, second, _ = invoke(lam, "jv-orders", {"item": "cake", "quantity": 1, "unitPrice": 2})
    assert second["invocation"] == 2 and second["loadedAt"] == first["loadedAt"], "the class is loaded once"
    assert second["tags"] == ["no-extras"] and "customer" not in second


def test_stream_handler(lam, code):
    create(lam, "jv-upper", "example.Upper::handleRequest", code)
    out, body, log = invoke(lam, "jv-upper", "hello java")
    assert body == "HELLO JAVA"
    assert "stream of 12 chars" in log.splitlines(), log


def test_map_handler_gets_jacksons_types(lam, code):
    create(lam, "jv-maps", "example.Maps", code)
    event = {"small": 1, "big": 12345678901, "decimal": 2.5, "text": "s", "flag": True, "list": [1], "obj": {"x": None}}
    out, body, _ = invoke(lam, "jv-maps", event)
    assert body["event"] == event
    assert body["types"] == {"small": "java.lang.Integer", "big": "java.lang.Long", "decimal": "java.lang.Double",
                             "text": "java.lang.String", "flag": "java.lang.Boolean", "list": "java.util.ArrayList",
                             "obj": "java.util.LinkedHashMap"}
    assert body["list"] == [1, 2.5, "three", True] and body["array"] == [3, 4]
    assert "nothing" in body and body["nothing"] is None, "a Map's null values are kept"


def test_context_fields_tool_options_and_the_runtimes_interfaces(lam, code):
    create(lam, "jv-ctx", "example.Describe::context", code, Timeout=7, MemorySize=512,
           Environment={"Variables": {"JAVA_TOOL_OPTIONS": "-Dlambdad.test.option=from-tool-options"}})
    cc = base64.b64encode(json.dumps({"custom": {"k": "v"}, "client": {"app_title": "Shop"}, "env": {}}).encode()).decode()
    out, body, log = invoke(lam, "jv-ctx", {}, ClientContext=cc)
    assert "FunctionError" not in out, body
    rid = out["ResponseMetadata"]["RequestId"]
    assert body["requestId"] == rid
    assert (body["functionName"], body["functionVersion"]) == ("jv-ctx", "$LATEST")
    assert body["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:jv-ctx"
    assert body["memoryLimitInMB"] == 512 and 0 < body["remaining"] <= 7000
    assert body["logGroupName"] == "/aws/lambda/jv-ctx" and "[$LATEST]" in body["logStreamName"]
    assert (body["identity"], body["custom"], body["appTitle"]) == ("none", {"k": "v"}, "Shop")
    assert (body["executionEnv"], body["javaVersion"], body["cwd"]) == ("AWS_Lambda_java17", "17", "/var/task")
    assert body["toolOption"] == "from-tool-options"
    # AWS's heap: 85% of the function's memory (the JVM reports a little less: one survivor space).
    assert 380 <= body["maxHeapMB"] <= 436, body["maxHeapMB"]
    assert body["loader"] == "runtime", "the runtime's copy of aws-lambda-java-core shadows the zip's"
    lines = log.splitlines()
    assert f"stdout line for {rid}" in lines and "logger line" in lines, log
    assert "Picked up JAVA_TOOL_OPTIONS: -Dlambdad.test.option=from-tool-options" in lines, log


def test_exec_wrapper_runs_the_jvm(lam, code):
    create(lam, "jv-wrapped", "example.Describe::context", code,
           Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/wrapper.sh"}})
    out, body, _ = invoke(lam, "jv-wrapped", {})
    assert "FunctionError" not in out, body
    assert body["toolOption"] == "wrapped", "the wrapper got the java command line and changed it"


def test_plain_methods_primitives_and_a_jar_in_lib(lam, code):
    create(lam, "jv-twice", "example.Describe::twice", code)
    assert invoke(lam, "jv-twice", 21)[1] == 42
    create(lam, "jv-shout", "example.Describe::shout", code)
    assert invoke(lam, "jv-shout", "hey")[1] == "HEY!", "helper.Shout comes from lib/helper.jar"


def test_exception_with_its_cause(lam, code):
    create(lam, "jv-fail", "example.Fail", code)
    out, body, log = invoke(lam, "jv-fail", {"quantity": 0})
    assert out["FunctionError"] == "Unhandled"
    assert list(body) == ["errorMessage", "errorType", "stackTrace", "cause"], body
    assert (body["errorType"], body["errorMessage"]) == ("java.lang.IllegalStateException", "order rejected")
    assert body["stackTrace"][:2] == ["example.Fail.check(Fail.java:26)", "example.Fail.handleRequest(Fail.java:19)"]
    assert not any("lambdad" in f or "reflect" in f for f in body["stackTrace"]), body["stackTrace"]
    cause = body["cause"]
    assert (cause["errorType"], cause["errorMessage"]) == ("java.lang.IllegalArgumentException",
                                                            "quantity must be positive, got 0")
    assert cause["stackTrace"][0] == "example.Fail.validate(Fail.java:33)" and "cause" not in cause
    assert "java.lang.IllegalStateException: order rejected" in log.splitlines(), log
    assert invoke(lam, "jv-fail", {"quantity": 2})[1] == "ok", "the environment serves on after an error"

    out, body, _ = invoke(lam, "jv-fail", [1, 2])
    assert (body["errorType"], body["errorMessage"]) == ("java.lang.RuntimeException", "An error occurred during JSON parsing")
    assert body["cause"]["errorMessage"] == "Cannot map an array to java.util.Map<java.lang.String, java.lang.Object>"


def test_timeout(lam, code):
    create(lam, "jv-slow", "example.Fail", code, Timeout=2)
    out, body, _ = invoke(lam, "jv-slow", {"sleep": True})
    rid = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    assert body == {"errorType": "Sandbox.Timedout", "errorMessage": f"RequestId: {rid} Error: Task timed out after 2.00 seconds"}


def test_init_errors(lam, code):
    create(lam, "jv-missing", "example.Missing", code)
    out, body, _ = invoke(lam, "jv-missing", {})
    assert out["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("java.lang.ClassNotFoundException", "Class not found: example.Missing")

    create(lam, "jv-nomethod", "example.Describe::nope", code)
    _, body, _ = invoke(lam, "jv-nomethod", {})
    assert body["errorType"] == "java.lang.NoSuchMethodException"
    assert body["errorMessage"] == "No public method named nope with appropriate method signature found on class example.Describe"

    create(lam, "jv-broken", "example.Broken::handle", code)
    _, body, _ = invoke(lam, "jv-broken", "x")
    assert body["errorType"] == "java.lang.ExceptionInInitializerError"
    assert (body["cause"]["errorType"], body["cause"]["errorMessage"]) == ("java.lang.IllegalStateException",
                                                                          "cannot start without a database")
    assert body["cause"]["stackTrace"][0] == "example.Broken.<clinit>(Broken.java:7)"


def jdk_majors():
    """The Java majors lambdad runs that have a JDK on this host, as lambdad looks for them."""
    majors = set()
    for home in Path("/usr/lib/jvm").iterdir():
        release = home / "release"
        found = re.search(r'^JAVA_VERSION="(\d+)', release.read_text(), re.M) if release.is_file() else None
        if found and int(found[1]) in (17, 21, 25):
            majors.add(int(found[1]))
    assert 17 in majors, "no JDK 17 in /usr/lib/jvm: scripts/test installs openjdk-17-jdk-headless"
    return sorted(majors)


def test_each_java_runtime_runs_on_its_own_jdk(lam, code):
    for major in jdk_majors():
        name = f"jv-version-{major}"
        create(lam, name, "example.Describe::context", code, runtime=f"java{major}")
        out, body, _ = invoke(lam, name, {})
        assert "FunctionError" not in out, body
        assert (body["javaVersion"], body["executionEnv"]) == (str(major), f"AWS_Lambda_java{major}")
