"""Functions that bring the official runtime interface clients, run as custom runtimes."""

import json
import shutil
import subprocess

import pytest

from conftest import ROLE, ROOT, awslambdaric_files, dir_files, require_tool, zip_bytes

CACHE = ROOT / "target" / "test-cache"


def sandbox_python():
    """The python3 the sandbox sees on PATH (the host's /usr/bin/python3) and its version."""
    py = require_tool("/usr/bin/python3")
    out = subprocess.run([py, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')"], capture_output=True, text=True)
    return out.stdout.strip()


@pytest.mark.timeout(600)  # the first run pip-installs awslambdaric (up to 300 s)
def test_awslambdaric_echo(lam):
    version = sandbox_python()
    assert version, "/usr/bin/python3 did not report its version"
    files = awslambdaric_files(version)
    files["app.py"] = ("def handler(event, context):\n    return {'echo': event, 'request_id': context.aws_request_id}\n", 0o644)
    files["bootstrap"] = ("#!/bin/sh\nexport PYTHONPATH=/var/task\nexec /usr/bin/python3 -m awslambdaric \"$_HANDLER\"\n", 0o755)
    lam.create_function(FunctionName="ric-python", Runtime="provided.al2023", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes(files)}, Timeout=10)
    for i in range(2):
        out = lam.invoke(FunctionName="ric-python", Payload=json.dumps({"n": i}).encode())
        body = json.loads(out["Payload"].read())
        assert "FunctionError" not in out, body
        assert body == {"echo": {"n": i}, "request_id": out["ResponseMetadata"]["RequestId"]}


@pytest.mark.timeout(1200)  # the first run builds aws-lambda-ric's native code (npm install: up to 900 s)
def test_aws_lambda_ric_echo(lam):
    require_tool("node")
    require_tool("npm")
    target = CACHE / "aws-lambda-ric"
    if not (target / "node_modules" / "aws-lambda-ric").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        result = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "aws-lambda-ric"], cwd=target,
                                capture_output=True, text=True, timeout=900)
        if result.returncode != 0:
            pytest.fail(f"npm install aws-lambda-ric failed: {result.stderr[-2000:]}")
    files = {k: v for k, v in dir_files(target).items() if k.startswith("node_modules/")}
    files["index.js"] = ("exports.handler = async (event, context) => ({ echo: event, id: context.awsRequestId });\n", 0o644)
    files["bootstrap"] = ("#!/bin/sh\ncd /var/task\nexec node node_modules/aws-lambda-ric/bin/index.mjs \"$_HANDLER\"\n", 0o755)
    lam.create_function(FunctionName="ric-node", Runtime="provided.al2023", Handler="index.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes(files)}, Timeout=10, MemorySize=256)
    out = lam.invoke(FunctionName="ric-node", Payload=b'{"hello":"ric"}')
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    assert body == {"echo": {"hello": "ric"}, "id": out["ResponseMetadata"]["RequestId"]}
