"""Managed runtimes: unmodified Python and Node.js handlers written for AWS, through boto3 and the aws CLI."""

import base64
import json
import subprocess
from pathlib import Path

from conftest import NODE_RUNTIMES, ROLE, Server, aws, make_client, require_tool, zip_bytes

PY_APP = '''
import json, logging, os, time
logger = logging.getLogger()
logger.setLevel(logging.INFO)
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    print("print:", json.dumps(event))
    logger.info("logged %s", COUNT)
    if event.get("fail"):
        raise ValueError("it failed: " + event["fail"])
    return {
        "count": COUNT,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "identity": context.identity.cognito_identity_id,
        "client_context": context.client_context.custom if context.client_context else None,
        "execution_env": os.environ.get("AWS_EXECUTION_ENV"),
        "cwd": os.getcwd(),
    }
'''

PKG_MOD = '''
from pkg.helpers import shout

def run(event, context):
    return shout(event["word"])
'''


# `logging` imported only inside the handler, at its first invocation.
LATE_LOGGING = '''
def handler(event, context):
    import logging
    logging.getLogger().warning("late %s", event["n"])
    return {"handlers": len(logging.getLogger().handlers)}
'''


def py_zip():
    return zip_bytes({
        "app.py": (PY_APP, 0o644),
        "pkg/__init__.py": ("", 0o644),
        "pkg/helpers.py": ("def shout(w):\n    return w.upper() + '!'\n", 0o644),
        "pkg/mod.py": (PKG_MOD, 0o644),
        "broken.py": ("import not_a_module_anywhere\n", 0o644),
        "late.py": (LATE_LOGGING, 0o644),
    })


def create(lam, name, runtime, handler, zip_file, **kw):
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Code={"ZipFile": zip_file}, **kw)


def invoke(lam, name, event, **kw):
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode(), LogType="Tail", **kw)
    return out, json.loads(out["Payload"].read()), base64.b64decode(out.get("LogResult", "")).decode()


def test_python_handler_context_and_logs(lam):
    create(lam, "py-app", "python3.12", "app.handler", py_zip(), Timeout=5, MemorySize=256)
    cc = base64.b64encode(json.dumps({"custom": {"k": "v"}, "client": {}, "env": {}}).encode()).decode()
    out, body, log = invoke(lam, "py-app", {"hello": "world"}, ClientContext=cc)
    assert "FunctionError" not in out, body
    rid = out["ResponseMetadata"]["RequestId"]
    assert body["count"] == 1 and body["request_id"] == rid
    assert body["function_name"] == "py-app" and body["function_version"] == "$LATEST"
    assert body["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:py-app"
    assert body["memory_limit_in_mb"] == "256"
    assert body["log_group_name"] == "/aws/lambda/py-app" and "[$LATEST]" in body["log_stream_name"]
    assert 0 < body["remaining"] <= 5000
    assert body["client_context"] == {"k": "v"}
    assert body["execution_env"] == "AWS_Lambda_python3.12" and body["cwd"] == "/var/task"
    assert 'print: {"hello": "world"}' in log.splitlines()
    assert any(l.startswith("[INFO]\t") and l.endswith(f"\t{rid}\tlogged 1") for l in log.splitlines()), log
    _, body, _ = invoke(lam, "py-app", {})
    assert body["count"] == 2, "the module is imported once per environment"


def test_python_logging_imported_late_has_the_lambda_format(lam):
    create(lam, "py-late", "python3.12", "late.handler", py_zip())
    for n in (1, 2):
        out, body, log = invoke(lam, "py-late", {"n": n})
        rid = out["ResponseMetadata"]["RequestId"]
        assert body == {"handlers": 1}, body
        lines = log.splitlines()
        assert any(l.startswith("[WARNING]\t") and l.endswith(f"\t{rid}\tlate {n}") for l in lines), log


def test_python_errors_match_aws_format(lam):
    create(lam, "py-err", "python3.12", "app.handler", py_zip())
    out, body, log = invoke(lam, "py-err", {"fail": "bad"})
    rid = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    assert list(body) == ["errorMessage", "errorType", "requestId", "stackTrace"]
    assert (body["errorMessage"], body["errorType"], body["requestId"]) == ("it failed: bad", "ValueError", rid)
    assert body["stackTrace"][0].startswith('  File "/var/task/app.py", line ')
    assert "[ERROR] ValueError: it failed: bad\rTraceback (most recent call last):" in log

    create(lam, "py-noimport", "python3.12", "broken.handler", py_zip())
    out, body, _ = invoke(lam, "py-noimport", {})
    assert out["FunctionError"] == "Unhandled"
    assert body == {"errorMessage": "Unable to import module 'broken': No module named 'not_a_module_anywhere'",
                    "errorType": "Runtime.ImportModuleError", "requestId": "", "stackTrace": []}

    create(lam, "py-nohandler", "python3.12", "app.missing", py_zip())
    _, body, _ = invoke(lam, "py-nohandler", {})
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.HandlerNotFound", "Handler 'missing' missing on module 'app'")


def test_python_package_handler_and_json_logs(lam):
    create(lam, "py-pkg", "python3.11", "pkg/mod.run", py_zip(),
           LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "INFO"})
    out, body, log = invoke(lam, "py-pkg", {"word": "hey"})
    assert body == "HEY!"
    create(lam, "py-json", "python3.11", "app.handler", py_zip(), LoggingConfig={"LogFormat": "JSON"})
    out, body, log = invoke(lam, "py-json", {"x": 1})
    rid = out["ResponseMetadata"]["RequestId"]
    records = [json.loads(l) for l in log.splitlines() if l.startswith("{")]
    assert records[0]["type"] == "platform.start", "platform lines are JSON records too"
    app = [r for r in records if "message" in r]
    assert {"level": "INFO", "message": "logged 1", "requestId": rid, "logger": "root"}.items() <= app[0].items(), records


NODE_ESM = '''
let count = 0;
export const handler = async (event, context) => {
  count++;
  console.log("hello", JSON.stringify(event));
  if (event.fail) throw new TypeError("bad thing: " + event.fail);
  await new Promise((r) => setTimeout(r, 5));
  return { count, rid: context.awsRequestId, name: context.functionName, remaining: context.getRemainingTimeInMillis(),
           mem: context.memoryLimitInMB, exec: process.env.AWS_EXECUTION_ENV, waits: context.callbackWaitsForEmptyEventLoop };
};
'''
NODE_CJS = '''
exports.handler = function (event, context, callback) {
  console.error("cjs", event.n);
  setTimeout(() => callback(null, { doubled: event.n * 2 }), 5);
};
exports.sync = (event) => ({ sync: true, event });
'''
NODE_TYPE_MODULE_PKG = '{"type": "module"}'
NODE_TYPE_MODULE_JS = 'export async function handler(e) { return { esm_js: e.v }; }\n'


def node_zip():
    return zip_bytes({
        "index.mjs": (NODE_ESM, 0o644),
        "cjs.js": (NODE_CJS, 0o644),
        "esm/package.json": (NODE_TYPE_MODULE_PKG, 0o644),
        "esm/app.js": (NODE_TYPE_MODULE_JS, 0o644),
    })


def node_major(node):
    return subprocess.run([node, "--version"], capture_output=True, text=True,
                          timeout=30).stdout.strip().lstrip("v").split(".")[0]


def node_runtime():
    """The runtime of the host's `node` (the one on PATH); it must be one lambdad supports."""
    node = require_tool("node")
    runtime = f"nodejs{node_major(node)}.x"
    assert runtime in NODE_RUNTIMES, f"{node} is {runtime}, not one of {NODE_RUNTIMES}"
    return runtime


def test_node_handlers(lam):
    runtime = node_runtime()
    create(lam, "nd-esm", runtime, "index.handler", node_zip())
    out, body, log = invoke(lam, "nd-esm", {"a": 1})
    rid = out["ResponseMetadata"]["RequestId"]
    assert "FunctionError" not in out, body
    assert (body["count"], body["rid"], body["name"], body["mem"]) == (1, rid, "nd-esm", "128")
    assert body["exec"] == f"AWS_Lambda_{runtime}" and body["waits"] is True and 0 < body["remaining"] <= 3000
    assert any(l.endswith(f"\t{rid}\tINFO\thello {{\"a\":1}}") for l in log.splitlines()), log
    out, body, _ = invoke(lam, "nd-esm", {"fail": "x"})
    assert out["FunctionError"] == "Unhandled"
    assert (body["errorType"], body["errorMessage"]) == ("TypeError", "bad thing: x")
    assert body["trace"][0] == "TypeError: bad thing: x" and "index.mjs" in body["trace"][1]

    create(lam, "nd-cjs", runtime, "cjs.handler", node_zip())
    out, body, log = invoke(lam, "nd-cjs", {"n": 21})
    assert body == {"doubled": 42}
    assert "\tERROR\tcjs 21" in log
    create(lam, "nd-sync", runtime, "cjs.sync", node_zip())
    assert invoke(lam, "nd-sync", {"q": 1})[1] == {"sync": True, "event": {"q": 1}}
    create(lam, "nd-typemodule", runtime, "esm/app.handler", node_zip())
    assert invoke(lam, "nd-typemodule", {"v": 7})[1] == {"esm_js": 7}

    create(lam, "nd-missing", runtime, "index.nothere", node_zip())
    out, body, _ = invoke(lam, "nd-missing", {})
    assert (body["errorType"], body["errorMessage"]) == ("Runtime.HandlerNotFound", "index.nothere is undefined or not exported")


def test_missing_interpreter_is_a_clear_error(tmp_path):
    # A server given no --interpreter and an empty nvm directory finds only /usr/bin/node and
    # /usr/local/bin/node: of the three Node.js majors, at least one is missing.
    system = {f"nodejs{node_major(n)}.x" for n in ("/usr/bin/node", "/usr/local/bin/node") if Path(n).is_file()}
    missing = next(r for r in NODE_RUNTIMES if r not in system)
    server = Server(interpreters=False, env={"NVM_DIR": str(tmp_path / "no-nvm")})
    server.start()
    try:
        lam = make_client(server.endpoint)
        create(lam, "nd-none", missing, "index.handler", node_zip())
        out, body, _ = invoke(lam, "nd-none", {})
        assert out["FunctionError"] == "Unhandled"
        assert body["errorType"] == "Runtime.InterpreterNotFound"
        assert f"lambdad cannot run runtime {missing}" in body["errorMessage"] and "node v" in body["errorMessage"]
    finally:
        assert server.stop() == 0


def test_python_via_aws_cli(server):
    zip_path = server.data_dir.parent / "py.zip"
    zip_path.write_bytes(py_zip())
    aws(server, "lambda", "create-function", "--function-name", "py-cli", "--runtime", "python3.12", "--handler",
        "pkg/mod.run", "--role", ROLE, "--zip-file", f"fileb://{zip_path}")
    out_file = server.data_dir.parent / "py-out.json"
    _, out, _ = aws(server, "lambda", "invoke", "--function-name", "py-cli", "--payload", '{"word":"cli"}', str(out_file))
    assert out["StatusCode"] == 200
    assert json.loads(out_file.read_text()) == "CLI!"
