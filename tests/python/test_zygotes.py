"""Python environments started from zygotes (crates/engine/src/zygotes.rs, crates/sandbox/src/zygote.rs):
a Python probe function reports from inside what it sees, and an environment handed to a zygote
is as isolated as a fresh one (PID 1 of its own PID namespace, its own mount, IPC, UTS namespaces,
its own uid, no capabilities, seccomp, no stray descriptor, exactly the function's environment)
with the same semantics (AWS_LAMBDA_INITIALIZATION_TYPE, Init Duration, module-level code run
once per cold start)."""

import base64
import json
import os
import re

import pytest

from conftest import ROLE, Server, metric, wait_for, zip_bytes

RUNTIME = "python3.12"
UIDS = range(20_000, 60_000)

PROBE = r'''
import json, os, sys, time

INITS = 0
INITS += 1
CALLS = 0
print("module init ran", flush=True)


def ns(kind):
    return os.readlink(f"/proc/self/ns/{kind}")


def status():
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def handler(event, context):
    global CALLS
    CALLS += 1
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            pass  # the listing's own descriptor, closed meanwhile
    with open("/proc/self/environ", "rb") as f:
        raw = [e.decode() for e in f.read().split(b"\0") if e]
    with open("/proc/self/cgroup") as f:
        cgroup = f.read()
    st = status()
    try:
        open("/var/task/written", "w").close()
        task_writable = True
    except OSError:
        task_writable = False
    tmp = os.statvfs("/tmp")
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "uid": [os.getuid(), os.geteuid()],
        "gid": [os.getgid(), os.getegid()],
        "groups": os.getgroups(),
        "ns": {k: ns(k) for k in ("pid", "mnt", "ipc", "uts", "net")},
        "fds": fds,
        "environ": dict(os.environ),
        "proc_environ": raw,
        "cgroup": cgroup,
        "seccomp": st.get("Seccomp"),
        "no_new_privs": st.get("NoNewPrivs"),
        "cap_eff": st.get("CapEff"),
        "cap_prm": st.get("CapPrm"),
        "inits": INITS,
        "calls": CALLS,
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "hostname": os.uname().nodename,
        "task_writable": task_writable,
        "tmp_bytes": tmp.f_blocks * tmp.f_frsize,
        "tmp_files": os.listdir("/tmp"),
        "init_type": os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE"),
    }
'''


NODE_PROBE = r'''
const fs = require("fs");
let INITS = 0;
INITS += 1;
let CALLS = 0;
console.log("module init ran");

exports.handler = async () => {
  CALLS += 1;
  const fds = {};
  for (const fd of fs.readdirSync("/proc/self/fd")) {
    try { fds[fd] = fs.readlinkSync(`/proc/self/fd/${fd}`); } catch {}
  }
  const raw = fs.readFileSync("/proc/self/environ").toString().split("\0").filter(Boolean);
  const status = {};
  for (const line of fs.readFileSync("/proc/self/status", "utf8").split("\n")) {
    const i = line.indexOf(":");
    status[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  let task_writable = true;
  try { fs.writeFileSync("/var/task/written", ""); } catch { task_writable = false; }
  const tmp = fs.statfsSync("/tmp");
  const ns = {};
  for (const k of ["pid", "mnt", "ipc", "uts", "net"]) ns[k] = fs.readlinkSync(`/proc/self/ns/${k}`);
  return {
    pid: process.pid, ppid: process.ppid,
    uid: [process.getuid(), process.geteuid()], gid: [process.getgid(), process.getegid()],
    groups: process.getgroups(), ns, fds, environ: { ...process.env }, proc_environ: raw,
    cgroup: fs.readFileSync("/proc/self/cgroup", "utf8"),
    seccomp: status.Seccomp, no_new_privs: status.NoNewPrivs, cap_eff: status.CapEff, cap_prm: status.CapPrm,
    inits: INITS, calls: CALLS, argv: process.argv, cwd: process.cwd(), hostname: require("os").hostname(),
    task_writable, tmp_bytes: tmp.blocks * tmp.bsize, tmp_files: fs.readdirSync("/tmp"),
    init_type: process.env.AWS_LAMBDA_INITIALIZATION_TYPE,
  };
};
'''

PROBES = {
    "python3.12": ("probe.handler", {"probe.py": (PROBE, 0o644)}),
    "nodejs20.x": ("probe.handler", {"probe.js": (NODE_PROBE, 0o644)}),
}


@pytest.fixture(scope="module")
def server():
    assert os.geteuid() == 0, "zygotes live in the namespace sandbox: run the tests as root"
    s = Server(extra=["--zygotes", "1"])
    s.start()
    yield s
    code = s.stop()
    assert code == 0, f"lambdad did not shut down cleanly (exit {code}): {s.log()[-2000:]}"
    s.tmp.cleanup()


def create(lam, name, runtime=RUNTIME, **kw):
    handler, files = PROBES[runtime]
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE,
                        Code={"ZipFile": zip_bytes(files)}, **kw)


def invoke(lam, name):
    out = lam.invoke(FunctionName=name, Payload=b"{}", LogType="Tail")
    body = json.loads(out["Payload"].read())
    log = base64.b64decode(out["LogResult"]).decode()
    assert "FunctionError" not in out, (body, log)
    return body, log


def zygote_ready(server, runtime=RUNTIME):
    name = f'lambdad_zygotes_ready{{runtime="{runtime}"}}'
    return wait_for(lambda: metric(server, name) >= 1, 60, f"a ready {runtime} zygote")


def from_zygote(body):
    return re.search(r"/zygote-\d+\s*$", body["cgroup"], re.M) is not None


@pytest.mark.parametrize("runtime", list(PROBES))
def test_a_zygote_started_environment_is_isolated_like_a_fresh_one(server, lam, runtime):
    env = {"Variables": {"GREETING": "hello", "SHARED": "same"}}
    short = runtime.split(".")[0]
    create(lam, f"zy-fresh-{short}", runtime, Environment=env, MemorySize=256)
    # The first cold start of the runtime starts the fresh way and starts the zygote pool.
    fresh, _ = invoke(lam, f"zy-fresh-{short}")
    assert not from_zygote(fresh), fresh["cgroup"]
    zygote_ready(server, runtime)

    name = f"zy-zygote-{short}"
    create(lam, name, runtime, Environment=env, MemorySize=256, EphemeralStorage={"Size": 600})
    body, log = invoke(lam, name)
    assert from_zygote(body), f"this environment did not come from a zygote: {body['cgroup']}"

    # Its own PID namespace, as its PID 1; its own namespaces, not the other function's.
    assert body["pid"] == 1 and body["ppid"] == 0
    for kind in ("pid", "mnt", "ipc", "uts"):
        assert body["ns"][kind] != fresh["ns"][kind], kind
        assert body["ns"][kind] != f"{kind}:[{os.stat(f'/proc/self/ns/{kind}').st_ino}]", kind
    # Its own uid from lambdad's range, no capabilities, seccomp and no_new_privs.
    uid = body["uid"][0]
    assert body["uid"] == [uid, uid] and uid in UIDS and uid != fresh["uid"][0]
    assert body["gid"] == fresh["gid"] and body["groups"] == fresh["groups"]
    assert body["cap_eff"] == body["cap_prm"] == "0000000000000000"
    assert (body["seccomp"], body["no_new_privs"]) == ("2", "1") == (fresh["seccomp"], fresh["no_new_privs"])
    # No descriptor but stdin, stdout, stderr and the Runtime API connection (as a fresh start has).
    def kinds(fds):
        return sorted(re.sub(r"\[\d+\]", "", t) for t in fds.values())
    assert kinds(body["fds"]) == kinds(fresh["fds"]), (body["fds"], fresh["fds"])
    # Exactly the function's environment: the same names as a fresh start's, its own values.
    assert set(body["environ"]) == set(fresh["environ"]), set(body["environ"]) ^ set(fresh["environ"])
    assert body["environ"]["GREETING"] == "hello"
    assert body["environ"]["AWS_LAMBDA_FUNCTION_NAME"] == name
    # What the process started with holds nothing the function does not have.
    for entry in body["proc_environ"]:
        key, _, value = entry.partition("=")
        assert body["environ"].get(key) == value, entry
    # The same view as a fresh start: argv, working directory, hostname, read-only code,
    # a private /tmp of the function's size, empty.
    for key in ("argv", "cwd", "hostname", "task_writable", "tmp_files"):
        assert body[key] == fresh[key], key
    assert body["cwd"] == "/var/task" and body["task_writable"] is False
    assert body["tmp_bytes"] == 600 << 20 and fresh["tmp_bytes"] == 512 << 20

    # Semantics: the init type, an Init Duration, module-level code ran once at this cold start.
    assert body["init_type"] == "on-demand"
    assert re.search(r"Init Duration: [0-9.]+ ms", log), log
    assert log.count("module init ran") == 1, log
    assert (body["inits"], body["calls"]) == (1, 1)
    warm, log = invoke(lam, name)
    assert (warm["inits"], warm["calls"], warm["ns"]) == (1, 2, body["ns"])
    assert "Init Duration" not in log and "module init ran" not in log


def test_each_zygote_serves_one_environment(server, lam):
    for name in ("zy-start", "zy-a", "zy-b"):
        create(lam, name)
    invoke(lam, "zy-start")  # starts the runtime's pool, if no test did
    seen = []
    for name in ("zy-a", "zy-b"):
        zygote_ready(server)
        body, _ = invoke(lam, name)
        assert from_zygote(body), body["cgroup"]
        seen.append(body)
    a, b = seen
    assert a["cgroup"] != b["cgroup"]
    assert a["uid"] != b["uid"]
    for kind in ("pid", "mnt", "ipc", "uts"):
        assert a["ns"][kind] != b["ns"][kind], kind


def test_a_function_setting_interpreter_variables_starts_fresh(server, lam):
    create(lam, "zy-start-2")
    invoke(lam, "zy-start-2")  # starts the runtime's pool, if no test did
    create(lam, "zy-pythonpath", Environment={"Variables": {"PYTHONDONTWRITEBYTECODE": "1"}})
    zygote_ready(server)
    body, _ = invoke(lam, "zy-pythonpath")
    assert not from_zygote(body), body["cgroup"]
    assert body["environ"]["PYTHONDONTWRITEBYTECODE"] == "1"
    # The zygote is still there for the next function that fits.
    assert metric(server, f'lambdad_zygotes_ready{{runtime="{RUNTIME}"}}') >= 1
