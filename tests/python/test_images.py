"""Container image functions (`PackageType: Image`) from a real OCI registry, without Docker: Debian's
`docker-registry` on loopback, images assembled with umoci (an OCI layout: the fixture functions
built with lambda_runtime, the shared libraries they link, layers with whiteouts) and pushed with
skopeo; functions created, invoked, updated and published through boto3."""

import base64
import json
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import bcrypt
import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, TARGET, Server, awslambdaric_files, make_client, require_root, require_tool, wait_for

BLOB_GET = re.compile(r'"GET /v2/[^ ]+/blobs/(sha256:[0-9a-f]{64}) ')


def run(*args, cwd=None):
    out = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{args} failed: {out.stderr}{out.stdout}"
    return out.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """docker-registry serving from a temporary directory on 127.0.0.1, its access log in a file."""

    def __init__(self, tmp, users=None):
        """`users`: {name: password} of an htpasswd file the registry requires (basic auth)."""
        require_root("the image tests (umoci and the sandbox)")
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.log_path = tmp / "registry.log"
        config = tmp / "registry.yml"
        auth = ""
        if users:
            htpasswd = tmp / "htpasswd"
            htpasswd.write_text("".join(f"{u}:{bcrypt.hashpw(p.encode(), bcrypt.gensalt()).decode()}\n"
                                        for u, p in users.items()))
            auth = f"auth:\n  htpasswd:\n    realm: lambdad-test\n    path: {htpasswd}\n"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {tmp / 'storage'}\n"
            f"http:\n  addr: {self.host}\n" + auth
        )
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([require_tool("docker-registry"), "serve", str(config)], stdout=log, stderr=log)

        def up():
            try:
                with urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1) as r:
                    return r.status == 200
            except urllib.error.HTTPError as e:
                return bool(users) and e.code == 401
            except OSError:
                assert self.proc.poll() is None, f"docker-registry exited: {self.log_path.read_text()}"
                return False

        wait_for(up, 30, "docker-registry to answer /v2/")

    def blob_gets(self):
        """The digests of the blobs downloaded so far, in order."""
        return BLOB_GET.findall(self.log_path.read_text(errors="replace"))

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


def shared_libraries(binary):
    """The absolute paths of what `binary` loads (ldd), the program interpreter included."""
    paths = set()
    for line in run("ldd", binary).splitlines():
        for word in line.split():
            if word.startswith("/"):
                paths.add(word)
    return sorted(paths)


class Images:
    """An OCI layout under `tmp` (umoci) and pushes of its tags to the registry (skopeo)."""

    def __init__(self, tmp, registry):
        self.umoci = require_tool("umoci")
        self.skopeo = require_tool("skopeo")
        self.tmp = tmp
        self.registry = registry
        self.layout = tmp / "layout"
        run(self.umoci, "init", "--layout", self.layout)
        # The base: the two fixture functions and the libraries they link, in one layer.
        run(self.umoci, "new", "--image", f"{self.layout}:base")
        bundle = tmp / "bundle"
        run(self.umoci, "unpack", "--image", f"{self.layout}:base", bundle)
        rootfs = bundle / "rootfs"
        for fixture in ("echo", "probe"):
            binary = TARGET / fixture
            assert binary.exists(), f"{binary} is missing: run `cargo build --workspace --bins`"
            (rootfs / "function").mkdir(exist_ok=True)
            shutil.copy(binary, rootfs / "function" / fixture)
            for lib in shared_libraries(binary):
                dest = rootfs / lib.lstrip("/")
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(lib, dest)
        # What the root of an environment holds: the image's top directories and the mount points.
        self.root_entries = sorted({p.name for p in rootfs.iterdir()} | {"data", "dev", "proc", "tmp"})
        (rootfs / "data").mkdir()
        (rootfs / "data" / "kept.txt").write_text("kept")
        (rootfs / "data" / "gone.txt").write_text("gone")
        run(self.umoci, "repack", "--image", f"{self.layout}:base", bundle)
        # A second layer deletes a file of the first (a whiteout entry).
        run(self.umoci, "insert", "--image", f"{self.layout}:base", "--whiteout", "/data/gone.txt")

    def tag(self, tag, *config, arch="amd64"):
        """Tags `base` as `tag` with umoci config flags, pushes it; returns its manifest digest."""
        run(self.umoci, "tag", "--image", f"{self.layout}:base", tag)
        run(self.umoci, "config", "--image", f"{self.layout}:{tag}", "--architecture", arch, *config)
        return self.push(tag)

    def derive(self, tag, files, *config):
        """`base` with one layer more (`files`: {absolute path: text}, added by unpacking and
        repacking), and umoci config flags, pushed as `tag`; returns its manifest digest."""
        run(self.umoci, "tag", "--image", f"{self.layout}:base", tag)
        bundle = self.tmp / f"bundle-{tag}"
        run(self.umoci, "unpack", "--image", f"{self.layout}:{tag}", bundle)
        for path, text in files.items():
            dest = bundle / "rootfs" / path.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
        run(self.umoci, "repack", "--image", f"{self.layout}:{tag}", bundle)
        run(self.umoci, "config", "--image", f"{self.layout}:{tag}", "--architecture", "amd64", *config)
        return self.push(tag)

    def push_zstd(self, tag, as_tag):
        """Pushes `tag` of the layout as `functions:AS_TAG` with its layers recompressed with zstd."""
        # Recompressed into a layout of its own (a registry that has the gzip blobs would be
        # offered those instead), then pushed as it is.
        zstd_layout = self.tmp / f"layout-{as_tag}"
        run(self.skopeo, "copy", "--quiet", "--dest-compress-format", "zstd",
            f"oci:{self.layout}:{tag}", f"oci:{zstd_layout}:{as_tag}")
        run(self.skopeo, "copy", "--quiet", "--dest-tls-verify=false",
            f"oci:{zstd_layout}:{as_tag}", f"docker://{self.registry.host}/functions:{as_tag}")

    def manifest(self, tag):
        return json.loads(run(self.skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{self.uri(tag)}"))

    def push(self, tag, registry=None, creds=None):
        """Pushes `tag` of the layout to `registry` (default: the fixture's), as `functions:TAG`;
        returns its manifest digest."""
        registry = registry or self.registry
        digest_file = self.tmp / f"{tag}-{registry.port}.digest"
        auth = ["--dest-creds", creds] if creds else []
        run(self.skopeo, "copy", "--quiet", "--dest-tls-verify=false", *auth, "--digestfile", digest_file,
            f"oci:{self.layout}:{tag}", f"docker://{registry.host}/functions:{tag}")
        return digest_file.read_text().strip()

    def python(self, tag, app):
        """An image of its own, as AWS documents for awslambdaric: the host's /usr/bin/python3 with its
        standard library and the libraries they load, awslambdaric and `app` (app.py's source) in
        /var/task, ENTRYPOINT `python3 -m awslambdaric`, CMD `app.handler`, WORKDIR /var/task.
        Pushed as `tag`; returns its manifest digest."""
        python = Path(require_tool("/usr/bin/python3")).resolve()
        version = run(python, "-c", "import sys; print(f'{sys.version_info[0]}.{sys.version_info[1]}')").strip()
        stdlib = Path(f"/usr/lib/python{version}")
        run(self.umoci, "new", "--image", f"{self.layout}:{tag}")
        bundle = self.tmp / f"bundle-{tag}"
        run(self.umoci, "unpack", "--image", f"{self.layout}:{tag}", bundle)
        rootfs = bundle / "rootfs"
        (rootfs / "usr/bin").mkdir(parents=True)
        shutil.copy(python, rootfs / "usr/bin/python3")
        skip = shutil.ignore_patterns("__pycache__", "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip")
        shutil.copytree(stdlib, rootfs / stdlib.relative_to("/"), ignore=skip, symlinks=True)
        task = rootfs / "var/task"
        for name, (data, mode) in {**awslambdaric_files(version), "app.py": (app, 0o644)}.items():
            dest = task / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(data if isinstance(data, bytes) else data.encode())
            dest.chmod(mode)
        # What the interpreter and every extension module load (awslambdaric's C++ client: libstdc++).
        loaded = [python, *(stdlib / "lib-dynload").glob("*.so"), *task.rglob("*.so")]
        for lib in sorted({lib for binary in loaded for lib in shared_libraries(binary)}):
            dest = rootfs / lib.lstrip("/")
            if not lib.startswith(f"{rootfs}/") and not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(lib, dest)
        run(self.umoci, "repack", "--image", f"{self.layout}:{tag}", bundle)
        run(self.umoci, "config", "--image", f"{self.layout}:{tag}", "--architecture", "amd64",
            "--config.entrypoint", "/usr/bin/python3", "--config.entrypoint", "-m", "--config.entrypoint",
            "awslambdaric", "--config.cmd", "app.handler", "--config.workingdir", "/var/task")
        return self.push(tag)

    def layers(self, tag):
        raw = run(self.skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{self.uri(tag)}")
        return {layer["digest"] for layer in json.loads(raw)["layers"]}

    def uri(self, tag):
        return f"{self.registry.host}/functions:{tag}"


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("registry"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    imgs = Images(tmp_path_factory.mktemp("images"), registry)
    imgs.digests = {
        "echo": imgs.tag("echo", "--config.entrypoint", "/function/echo"),
        "probe": imgs.tag("probe", "--config.entrypoint", "/function/probe", "--config.cmd", "image.handler",
                          "--config.env", "FROM_IMAGE=yes", "--config.workingdir", "/function"),
        "arm": imgs.tag("arm", "--config.entrypoint", "/function/echo", arch="arm64"),
    }
    return imgs


def invoke(lam, name, payload, qualifier=None):
    args = {"Qualifier": qualifier} if qualifier else {}
    out = lam.invoke(FunctionName=name, Payload=json.dumps(payload), LogType="Tail", **args)
    body = json.loads(out["Payload"].read())
    assert out["StatusCode"] == 200 and "FunctionError" not in out, body
    return body


def create_image_function(lam, name, uri, **extra):
    created = lam.create_function(FunctionName=name, Role=ROLE, PackageType="Image", Code={"ImageUri": uri},
                                  **extra)
    assert created["PackageType"] == "Image" and "Runtime" not in created and "Handler" not in created
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return created


@pytest.mark.timeout(300)
def test_an_image_with_a_rust_entrypoint_runs_in_its_own_root(lam, images, registry):
    created = create_image_function(lam, "img-echo", images.uri("echo"))
    assert created["State"] == "Pending"
    digest = images.digests["echo"]
    assert created["CodeSha256"] == digest.removeprefix("sha256:")
    got = lam.get_function(FunctionName="img-echo")
    assert got["Code"] == {"RepositoryType": "ECR", "ImageUri": images.uri("echo"),
                           "ResolvedImageUri": f"{registry.host}/functions@{digest}"}
    assert got["Configuration"]["State"] == "Active"
    for n in (1, 2):
        assert invoke(lam, "img-echo", {"n": n}) == {"n": n}

    # Caching: a second function on the same image downloads no layer again (only the manifest
    # and the config blob are read, to resolve the tag and check the platform).
    layers = images.layers("echo")
    before = registry.blob_gets()
    assert layers <= set(before), "the first pull downloaded the layers"
    create_image_function(lam, "img-echo-2", images.uri("echo"))
    assert invoke(lam, "img-echo-2", {"again": True}) == {"again": True}
    assert not layers & set(registry.blob_gets()[len(before):])

    # The same image named by its digest.
    by_digest = f"{registry.host}/functions@{digest}"
    create_image_function(lam, "img-echo-digest", by_digest)
    assert lam.get_function(FunctionName="img-echo-digest")["Code"]["ResolvedImageUri"] == by_digest
    assert invoke(lam, "img-echo-digest", {"d": 1}) == {"d": 1}
    assert not layers & set(registry.blob_gets()[len(before):])


@pytest.mark.timeout(300)
def test_the_root_is_the_images_with_its_config_and_whiteouts(lam, images):
    create_image_function(lam, "img-probe", images.uri("probe"), Environment={"Variables": {"MINE": "1"}})
    assert invoke(lam, "img-probe", {"op": "ls", "path": "/data"}) == {"ok": ["kept.txt"]}
    assert invoke(lam, "img-probe", {"op": "ls", "path": "."})["ok"] == ["echo", "probe"], "WORKDIR /function"
    assert invoke(lam, "img-probe", {"op": "read", "path": "/proc/self/cmdline"})["ok"] == \
        "/function/probe\0image.handler\0"
    env = dict(kv.split("=", 1) for kv in
               invoke(lam, "img-probe", {"op": "read", "path": "/proc/self/environ"})["ok"].split("\0") if kv)
    assert env["FROM_IMAGE"] == "yes" and env["MINE"] == "1" and env["_HANDLER"] == "image.handler"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "img-probe" and env["AWS_LAMBDA_RUNTIME_API"]
    # The host's system directories are not there; the image's root is read-only, /tmp is writable.
    assert invoke(lam, "img-probe", {"op": "ls", "path": "/"})["ok"] == images.root_entries
    assert "error" in invoke(lam, "img-probe", {"op": "write", "path": "/function/x"})
    assert invoke(lam, "img-probe", {"op": "write", "path": "/tmp/x"}) == {"ok": True}
    assert "error" in invoke(lam, "img-probe", {"op": "read", "path": "/etc/hostname"})


@pytest.mark.timeout(300)
def test_image_config_overrides_entrypoint_command_and_workdir(lam, images):
    created = create_image_function(lam, "img-override", images.uri("echo"), ImageConfig={
        "EntryPoint": ["/function/probe"], "Command": ["my.handler", "arg"], "WorkingDirectory": "/data"})
    config = {"EntryPoint": ["/function/probe"], "Command": ["my.handler", "arg"], "WorkingDirectory": "/data"}
    assert created["ImageConfigResponse"] == {"ImageConfig": config}
    assert lam.get_function_configuration(FunctionName="img-override")["ImageConfigResponse"] == {
        "ImageConfig": config}
    assert invoke(lam, "img-override", {"op": "read", "path": "/proc/self/cmdline"})["ok"] == \
        "/function/probe\0my.handler\0arg\0"
    assert invoke(lam, "img-override", {"op": "ls", "path": "."}) == {"ok": ["kept.txt"]}
    # UpdateFunctionConfiguration changes them; the next environment runs the new command.
    lam.update_function_configuration(FunctionName="img-override", ImageConfig={"Command": ["other.handler"]})
    lam.get_waiter("function_updated_v2").wait(FunctionName="img-override")
    # The whole ImageConfig is replaced: the image's ENTRYPOINT (echo) runs again.
    assert invoke(lam, "img-override", {"op": "ls"}) == {"op": "ls"}
    assert lam.get_function_configuration(FunctionName="img-override")["ImageConfigResponse"] == {
        "ImageConfig": {"Command": ["other.handler"]}}


@pytest.mark.timeout(300)
def test_update_to_a_new_tag_and_a_version_pinned_to_its_digest(lam, images, registry):
    create_image_function(lam, "img-update", images.uri("echo"))
    assert invoke(lam, "img-update", {"v": 1}) == {"v": 1}
    updated = lam.update_function_code(FunctionName="img-update", ImageUri=images.uri("probe"))
    assert updated["CodeSha256"] == images.digests["probe"].removeprefix("sha256:")
    lam.get_waiter("function_updated_v2").wait(FunctionName="img-update")
    assert "uid" in invoke(lam, "img-update", {"op": "whoami"})["ok"]
    version = lam.publish_version(FunctionName="img-update")["Version"]
    lam.update_function_code(FunctionName="img-update", ImageUri=images.uri("echo"))
    lam.get_waiter("function_updated_v2").wait(FunctionName="img-update")
    assert invoke(lam, "img-update", {"v": 2}) == {"v": 2}
    pinned = lam.get_function(FunctionName="img-update", Qualifier=version)
    assert pinned["Code"]["ResolvedImageUri"] == f"{registry.host}/functions@{images.digests['probe']}"
    assert pinned["Code"]["ImageUri"] == images.uri("probe")
    assert "uid" in invoke(lam, "img-update", {"op": "whoami"}, qualifier=version)["ok"]


def refused(call, code, message):
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["Error"]["Code"] == code
    assert e.value.response["Error"]["Message"] == message


@pytest.mark.timeout(120)
def test_missing_images_wrong_platforms_and_invalid_requests_are_refused(lam, images, registry):
    missing = images.uri("no-such-tag")
    refused(lambda: lam.create_function(FunctionName="img-missing", Role=ROLE, PackageType="Image",
                                        Code={"ImageUri": missing}),
            "InvalidParameterValueException", f"Source image {missing} does not exist. Provide a valid source image.")
    other_repo = f"{registry.host}/nothing-here:latest"
    refused(lambda: lam.create_function(FunctionName="img-missing", Role=ROLE, PackageType="Image",
                                        Code={"ImageUri": other_repo}),
            "InvalidParameterValueException",
            f"Source image {other_repo} does not exist. Provide a valid source image.")
    with pytest.raises(ClientError):
        lam.get_function(FunctionName="img-missing")
    arm = images.uri("arm")
    refused(lambda: lam.create_function(FunctionName="img-arm", Role=ROLE, PackageType="Image",
                                        Code={"ImageUri": arm}),
            "InvalidParameterValueException", f"Source image {arm} is not valid. Provide a valid source image.")
    created = create_image_function(lam, "img-arm", arm, Architectures=["arm64"])
    assert created["Architectures"] == ["arm64"]
    assert created["CodeSha256"] == images.digests["arm"].removeprefix("sha256:")
    refused(lambda: lam.create_function(FunctionName="img-rt", Role=ROLE, PackageType="Image", Runtime="python3.12",
                                        Handler="app.handler", Code={"ImageUri": images.uri("echo")}),
            "InvalidParameterValueException",
            "The Runtime and Handler parameters are not supported for functions created with container images.")
    refused(lambda: lam.create_function(FunctionName="img-bad", Role=ROLE, PackageType="Image",
                                        Code={"ImageUri": "functions:latest"}),
            "InvalidParameterValueException",
            "Source image functions:latest is not valid. Provide a valid source image.")
    refused(lambda: lam.update_function_code(FunctionName="img-arm", ImageUri=missing),
            "InvalidParameterValueException", f"Source image {missing} does not exist. Provide a valid source image.")


PYTHON_APP = """
import os

cold = True


def handler(event, context):
    global cold
    was_cold, cold = cold, False
    return {"echo": event, "request_id": context.aws_request_id, "name": context.function_name,
            "memory": context.memory_limit_in_mb, "cold": was_cold, "cwd": os.getcwd()}


def other(event, context):
    raise ValueError("from other")
"""


@pytest.mark.timeout(600)  # the first run pip-installs awslambdaric (up to 300 s)
def test_a_python_image_with_awslambdaric_and_its_handler_as_cmd(lam, images):
    digest = images.python("python", PYTHON_APP)
    created = create_image_function(lam, "img-python", images.uri("python"), MemorySize=256)
    assert created["CodeSha256"] == digest.removeprefix("sha256:")
    for n, cold in ((1, True), (2, False)):
        out = lam.invoke(FunctionName="img-python", Payload=json.dumps({"n": n}), LogType="Tail")
        body = json.loads(out["Payload"].read())
        log = base64.b64decode(out["LogResult"]).decode()
        assert "FunctionError" not in out, (body, log)
        assert body == {"echo": {"n": n}, "request_id": out["ResponseMetadata"]["RequestId"], "name": "img-python",
                        "memory": "256", "cold": cold, "cwd": "/var/task"}
        assert f"REPORT RequestId: {body['request_id']}" in log
    # ImageConfig's Command names another handler of the same image; its error is awslambdaric's.
    lam.update_function_configuration(FunctionName="img-python", ImageConfig={"Command": ["app.other"]})
    lam.get_waiter("function_updated_v2").wait(FunctionName="img-python")
    out = lam.invoke(FunctionName="img-python", Payload=b"{}")
    assert out["FunctionError"] == "Unhandled"
    error = json.loads(out["Payload"].read())
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "from other", error


@pytest.mark.timeout(300)
def test_a_registry_that_requires_credentials(images, tmp_path):
    """A registry with basic auth: refused without credentials (AWS's AccessDeniedException), pulled
    with the registry's entry of `--registry-auth-file` (the containers auth-file format)."""
    (tmp_path / "private").mkdir()
    private = Registry(tmp_path / "private", users={"alice": "s3cret"})
    try:
        digest = images.push("echo", registry=private, creds="alice:s3cret")
        uri = f"{private.host}/functions:echo"
        auth_file = tmp_path / "auth.json"
        auth_file.write_text(json.dumps({"auths": {private.host: {
            "auth": base64.b64encode(b"alice:s3cret").decode()}}}))
        wrong_file = tmp_path / "wrong.json"
        wrong_file.write_text(json.dumps({"auths": {private.host: {"username": "alice", "password": "nope"}}}))
        for extra in ([], ["--registry-auth-file", str(wrong_file)]):
            s = Server(extra=extra)
            s.start()
            try:
                refused(lambda: make_client(s.endpoint).create_function(
                    FunctionName="img-private", Role=ROLE, PackageType="Image", Code={"ImageUri": uri}),
                    "AccessDeniedException",
                    "Lambda does not have permission to access the ECR image. Check the ECR permissions.")
            finally:
                s.stop()
                s.tmp.cleanup()
        s = Server(extra=["--registry-auth-file", str(auth_file)])
        s.start()
        try:
            lam = make_client(s.endpoint)
            created = create_image_function(lam, "img-private", uri)
            assert created["CodeSha256"] == digest.removeprefix("sha256:")
            assert invoke(lam, "img-private", {"private": True}) == {"private": True}
            assert "s3cret" not in s.log()
        finally:
            s.stop()
            s.tmp.cleanup()
    finally:
        private.stop()
