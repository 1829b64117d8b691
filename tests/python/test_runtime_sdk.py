"""The AWS SDK inside the managed runtimes (issue 28): functions with nothing in their zip import
boto3 (Python) and @aws-sdk/client-lambda (Node.js, as an ES module and through require), which
call lambdad with the endpoint and role credentials it gives each environment; a function's or a
layer's own SDK wins; the SDK cannot be written to from a sandbox; a damaged install is noticed."""

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import boto3
import pytest

from conftest import (BIN, NODE_RUNTIMES, PYTHON_RUNTIMES, ROLE, Server, boto3_files, make_client, wait_for_sdk,
                      zip_bytes)

BOTO3 = "1.42.97"
AWS_SDK_JS = "3.967.0"

PY_SELF = """
import boto3, botocore

def handler(event, context):
    fn = boto3.client("lambda").get_function(FunctionName=context.function_name)
    return {"name": fn["Configuration"]["FunctionName"], "runtime": fn["Configuration"]["Runtime"],
            "boto3": boto3.__version__, "botocore": botocore.__version__, "file": boto3.__file__}
"""

NODE_ESM = """
import { LambdaClient, GetFunctionCommand } from "@aws-sdk/client-lambda";
import { createRequire } from "node:module";
const pkg = createRequire(import.meta.url)("@aws-sdk/client-lambda/package.json");
const client = new LambdaClient({});
export const handler = async (event, context) => {
  const fn = await client.send(new GetFunctionCommand({ FunctionName: context.functionName }));
  return { name: fn.Configuration.FunctionName, runtime: fn.Configuration.Runtime, version: pkg.version,
           file: createRequire(import.meta.url).resolve("@aws-sdk/client-lambda") };
};
"""

NODE_CJS = """
const { LambdaClient, GetFunctionCommand } = require("@aws-sdk/client-lambda");
const pkg = require("@aws-sdk/client-lambda/package.json");
const client = new LambdaClient({});
exports.handler = async (event, context) => {
  const fn = await client.send(new GetFunctionCommand({ FunctionName: context.functionName }));
  return { name: fn.Configuration.FunctionName, runtime: fn.Configuration.Runtime, version: pkg.version,
           file: require.resolve("@aws-sdk/client-lambda") };
};
"""


@pytest.fixture(scope="module")
def sdk_server():
    s = Server()
    s.start()
    wait_for_sdk(s)
    yield s
    assert s.stop() == 0, s.log()[-2000:]
    s.tmp.cleanup()


@pytest.fixture(scope="module")
def sdk_lam(sdk_server):
    return make_client(sdk_server.endpoint)


def invoke(lam, name, event=None):
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event or {}))
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return body


def create(lam, name, runtime, handler, files, **kw):
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Timeout=60,
                        Code={"ZipFile": zip_bytes(files)}, **kw)


def test_health_reports_the_sdks_ready(sdk_server):
    assert wait_for_sdk(sdk_server) == {"python": "ready", "node": "ready", "java": "ready"}


@pytest.mark.parametrize("runtime", PYTHON_RUNTIMES)
def test_python_function_without_dependencies_calls_lambda_with_boto3(sdk_lam, runtime):
    name = "py-self-" + runtime.replace(".", "")
    create(sdk_lam, name, runtime, "app.handler", {"app.py": (PY_SELF, 0o644)})
    got = invoke(sdk_lam, name)
    assert got == {"name": name, "runtime": runtime, "boto3": BOTO3, "botocore": BOTO3,
                   "file": f"/var/lang/lib/{runtime}/site-packages/boto3/__init__.py"}
    # Not part of the function's code: its size is the zip's.
    assert sdk_lam.get_function(FunctionName=name)["Configuration"]["CodeSize"] < 2000


@pytest.mark.parametrize("runtime", NODE_RUNTIMES)
@pytest.mark.parametrize("style", ["esm", "cjs"])
def test_node_function_without_dependencies_calls_lambda_with_sdk_v3(sdk_lam, runtime, style):
    name = f"node-{style}-{runtime.replace('.', '')}"
    files = {"index.mjs": (NODE_ESM, 0o644)} if style == "esm" else {"index.js": (NODE_CJS, 0o644)}
    create(sdk_lam, name, runtime, "index.handler", files)
    got = invoke(sdk_lam, name)
    assert got == {"name": name, "runtime": runtime, "version": AWS_SDK_JS,
                   "file": "/var/runtime/node_modules/@aws-sdk/client-lambda/dist-cjs/index.js"}


def test_function_bundling_its_own_boto3_sees_its_own(sdk_lam):
    own = boto3.__version__  # the test venv's: another version than lambdad's
    assert own != BOTO3
    create(sdk_lam, "py-own-boto3", "python3.12", "app.handler",
           {"app.py": (PY_SELF, 0o644), **boto3_files(("lambda",))})
    got = invoke(sdk_lam, "py-own-boto3")
    assert (got["boto3"], got["file"], got["name"]) == (own, "/var/task/boto3/__init__.py", "py-own-boto3")
    # In a layer (/opt/python) it wins as well.
    layer = sdk_lam.publish_layer_version(LayerName="own-boto3",
                                          Content={"ZipFile": zip_bytes(boto3_files(("lambda",), "python/"))})
    create(sdk_lam, "py-layer-boto3", "python3.12", "app.handler", {"app.py": (PY_SELF, 0o644)},
           Layers=[layer["LayerVersionArn"]])
    got = invoke(sdk_lam, "py-layer-boto3")
    assert (got["boto3"], got["file"]) == (own, "/opt/python/boto3/__init__.py")


FAKE_CLIENT = """
exports.LambdaClient = class { async send() { return { Configuration: { FunctionName: "from the layer", Runtime: "-" } }; } };
exports.GetFunctionCommand = class {};
"""


@pytest.mark.parametrize("style", ["esm", "cjs"])
def test_node_layer_with_its_own_client_wins(sdk_lam, style):
    layer = sdk_lam.publish_layer_version(LayerName=f"own-client-{style}", Content={"ZipFile": zip_bytes({
        "nodejs/node_modules/@aws-sdk/client-lambda/package.json":
            (json.dumps({"name": "@aws-sdk/client-lambda", "version": "0.0.1-layer", "main": "index.js"}), 0o644),
        "nodejs/node_modules/@aws-sdk/client-lambda/index.js": (FAKE_CLIENT, 0o644),
    })})
    files = {"index.mjs": (NODE_ESM, 0o644)} if style == "esm" else {"index.js": (NODE_CJS, 0o644)}
    create(sdk_lam, f"node-layer-{style}", "nodejs20.x", "index.handler", files,
           Layers=[layer["LayerVersionArn"]])
    got = invoke(sdk_lam, f"node-layer-{style}")
    assert got == {"name": "from the layer", "runtime": "-", "version": "0.0.1-layer",
                   "file": "/opt/nodejs/node_modules/@aws-sdk/client-lambda/index.js"}


PY_WRITE = """
import errno, os, boto3

def handler(event, context):
    out = {}
    for d in ("/var/lang/lib/python3.12/site-packages", os.path.dirname(boto3.__file__)):
        try:
            with open(os.path.join(d, "planted.py"), "w") as f:
                f.write("x = 1")
            out[d] = "written"
        except OSError as e:
            out[d] = errno.errorcode[e.errno]
    return out
"""

NODE_WRITE = """
const fs = require("node:fs");
exports.handler = async () => {
  const out = {};
  for (const d of ["/var/runtime/node_modules", "/var/runtime/node_modules/@aws-sdk/client-lambda"]) {
    try { fs.writeFileSync(d + "/planted.js", "1"); out[d] = "written"; } catch (e) { out[d] = e.code; }
  }
  return out;
};
"""


def test_sandbox_cannot_write_to_the_sdk(sdk_lam, sdk_server):
    create(sdk_lam, "py-write-sdk", "python3.12", "app.handler", {"app.py": (PY_WRITE, 0o644)})
    got = invoke(sdk_lam, "py-write-sdk")
    assert len(got) == 2 and set(got.values()) <= {"EROFS", "EACCES"}, got
    create(sdk_lam, "node-write-sdk", "nodejs20.x", "index.handler", {"index.js": (NODE_WRITE, 0o644)})
    got = invoke(sdk_lam, "node-write-sdk")
    assert len(got) == 2 and set(got.values()) <= {"EROFS", "EACCES"}, got


def install(*args, timeout=540):
    """`lambdad runtimes install ARGS`: its exit code, stdout and stderr; {language: the directory
    functions see} from its report."""
    run = subprocess.run([str(BIN), "runtimes", "install", *args], capture_output=True, text=True, timeout=timeout)
    ready = dict(line.split(": ", 1)[0:1] + [line.rsplit(" ready in ", 1)[1]]
                 for line in run.stdout.splitlines() if " ready in " in line)
    return run, {lang: Path(d) for lang, d in ready.items()}


# The Java runtime client's sources, as `lambdad runtimes install` counts them.
JAVA_SOURCES = len(list((Path(__file__).resolve().parents[2] / "crates/engine/runtimes/java").rglob("*.java")))

@pytest.mark.timeout(900)
def test_install_command_notices_a_damaged_install_and_installs_again():
    # The cache these tests' servers use (filled by scripts/test's `lambdad runtimes install`).
    run, trees = install()
    assert run.returncode == 0 and set(trees) == {"python", "node", "java"}, run.stderr
    with tempfile.TemporaryDirectory(prefix="lambdad-sdk-") as tmp:
        for tree in trees.values():
            shutil.copytree(tree.parent, Path(tmp) / tree.parent.name, symlinks=True)
        planted = Path(tmp) / trees["python"].parent.name / "site-packages" / "boto3" / "__init__.py"
        planted.write_text(planted.read_text() + "\nraise SystemExit('tampered')\n")
        run, copies = install("--sdk-dir", tmp)
        assert run.returncode == 0, run.stderr
        assert "The AWS SDK for Python does not match its recorded hash; installing it again" in run.stderr
        assert "The AWS SDK for JavaScript v3 is installed and matches its hash" in run.stderr
        assert f"python: boto3 {BOTO3}, botocore {BOTO3} ready in" in run.stdout
        assert f"node: 11 @aws-sdk packages {AWS_SDK_JS} ready in" in run.stdout
        assert "The Java runtime client of lambdad is installed and matches its hash" in run.stderr
        assert f"java: {JAVA_SOURCES} sources ready in" in run.stdout
        assert copies == {lang: Path(tmp) / t.parent.name / t.name for lang, t in trees.items()}
        assert "tampered" not in planted.read_text()
        # Now both are intact.
        again, _ = install("--sdk-dir", tmp, timeout=120)
        assert again.returncode == 0 and again.stderr.count("is installed and matches its hash") == 3, again.stderr
