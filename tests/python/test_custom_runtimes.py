"""Custom runtimes as users deploy them: a `lambda_runtime` (Rust) bootstrap on `provided.al2`, and
a Go bootstrap (tests/fixtures/go, standard library only: the Runtime API client aws-lambda-go
implements) built here with `go build` and deployed on `provided.al2023` and `provided.al2`."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROLE, ROOT, fixture_zip, zip_bytes
from lambdad_host import tail

GO_SOURCE = ROOT / "tests" / "fixtures" / "go"


@pytest.fixture(scope="module")
def go_zip(tmp_path_factory):
    """The Go fixture built as AWS documents for custom runtimes (static, GOOS=linux), zipped."""
    go = shutil.which("go")
    if go is None:
        pytest.fail("the Go toolchain is missing: install Debian's golang-go (`apt-get install golang-go`)")
    out = tmp_path_factory.mktemp("go") / "bootstrap"
    env = dict(os.environ, CGO_ENABLED="0", GOOS="linux", GOPROXY="off", GOFLAGS="-mod=mod", GOTOOLCHAIN="local")
    env.setdefault("GOCACHE", str(Path.home() / ".cache" / "go-build"))
    build = subprocess.run([go, "build", "-o", str(out), "."], cwd=GO_SOURCE, env=env,
                           capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, f"go build failed: {build.stderr}"
    return zip_bytes({"bootstrap": (out.read_bytes(), 0o755)})


def report(out):
    return next(line for line in tail(out).splitlines() if line.startswith("REPORT "))


def create(lam, name, runtime, zip_file):
    lam.create_function(FunctionName=name, Runtime=runtime, Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": zip_file})
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    assert lam.get_function_configuration(FunctionName=name)["Runtime"] == runtime


@pytest.mark.timeout(120)
def test_a_lambda_runtime_bootstrap_runs_on_provided_al2(lam):
    create(lam, "rust-al2", "provided.al2", fixture_zip("echo"))
    for n in (1, 2):
        out = lam.invoke(FunctionName="rust-al2", Payload=json.dumps({"n": n}), LogType="Tail")
        assert out["StatusCode"] == 200 and "FunctionError" not in out
        assert json.loads(out["Payload"].read()) == {"n": n}
        assert ("Init Duration: " in report(out)) == (n == 1), "cold, then warm"


@pytest.mark.timeout(660)
@pytest.mark.parametrize("runtime", ["provided.al2023", "provided.al2"])
def test_a_go_bootstrap_runs_unmodified(lam, go_zip, runtime):
    name = "go-" + runtime.replace(".", "-")
    create(lam, name, runtime, go_zip)

    out = lam.invoke(FunctionName=name, Payload=json.dumps({"hello": "go"}), LogType="Tail")
    assert out["StatusCode"] == 200 and "FunctionError" not in out, out
    body = json.loads(out["Payload"].read())
    assert body["event"] == {"hello": "go"}
    assert re.fullmatch(r"go1\.\d+(\.\d+)?", body["go"]), body
    assert body["function_arn"] == f"arn:aws:lambda:us-east-1:000000000000:function:{name}"
    assert (body["function"], body["memory"], body["handler"]) == (name, "128", "bootstrap"), body
    assert 0 < body["remaining_ms"] <= 3000, "the deadline is the function's 3 s timeout"
    assert body["count"] == 1
    log = tail(out)
    assert f"REPORT RequestId: {body['request_id']}\t" in log, log
    assert f"go handler request {body['request_id']}" in log, "the bootstrap's stdout is in the log"
    assert "Init Duration: " in report(out)

    again = lam.invoke(FunctionName=name, Payload=b'{"second": true}', LogType="Tail")
    body = json.loads(again["Payload"].read())
    assert body["count"] == 2, "the warm environment's process is reused"
    assert "Init Duration: " not in report(again)

    failed = lam.invoke(FunctionName=name, Payload=b'{"fail": "it broke"}')
    assert failed["FunctionError"] == "Unhandled"
    assert json.loads(failed["Payload"].read()) == {
        "errorMessage": "it broke", "errorType": "HandlerError", "stackTrace": []}
    after = json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())
    assert after["count"] == 4, "a function error does not end the environment"
