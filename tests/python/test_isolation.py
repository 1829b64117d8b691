"""Isolation claims of the namespace sandbox, observed by the probe fixture from inside and by
the host from outside: each environment has its own IPC namespace (System V objects and POSIX
message queues), its own uid from lambdad's range, and cgroups with the function's memory limit,
a pids limit and a CPU weight proportional to its memory."""

import ctypes
import ctypes.util
import json
import os
import random
import threading
from pathlib import Path

import pytest

from conftest import ROLE, fixture_zip
from lambdad_host import cgroup_files, runtimes

ENOENT = 2
IPC_CREAT, IPC_RMID = 0o1000, 0
# lambdad's uids for environments (crates/engine/src/uids.rs).
UIDS = range(20_000, 60_000)


@pytest.fixture(scope="module", autouse=True)
def namespace_sandbox(server):
    assert os.geteuid() == 0, "these tests need root: the namespace sandbox is what they test"
    assert 'backend="namespace"' in server.log(), f"as root lambdad uses the namespace sandbox: {server.log()}"


def probe(lam, name, event):
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event))
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, f"probe {event} failed: {body}"
    return body


def create_probe(lam, name, **kw):
    lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("probe")}, **kw)


class HostIpc:
    """System V IPC and POSIX message queues of the host's (the test's) IPC namespace, via libc."""

    def __init__(self):
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        self.rt = ctypes.CDLL(ctypes.util.find_library("rt") or ctypes.util.find_library("c"), use_errno=True)
        self.rt.mq_open.restype = ctypes.c_int
        self.created = []

    def _rc(self, rc):
        return {"ok": rc} if rc >= 0 else {"errno": ctypes.get_errno()}

    def get(self, key, create=False):
        flags = IPC_CREAT | 0o600 if create else 0
        out = {
            "msg": self._rc(self.libc.msgget(key, flags)),
            "shm": self._rc(self.libc.shmget(key, ctypes.c_size_t(4096), flags)),
            "sem": self._rc(self.libc.semget(key, 1, flags)),
        }
        if create:
            self.created.append(out)
        return out

    def mq_open(self, name, create=False):
        if create:
            rc = self.rt.mq_open(name.encode(), os.O_CREAT | os.O_RDWR, 0o600, None)
        else:
            rc = self.rt.mq_open(name.encode(), os.O_RDONLY)
        out = self._rc(rc)
        if rc >= 0:
            self.rt.mq_close(rc)
        return out

    def cleanup(self, mq_names):
        for objs in self.created:
            if "ok" in objs["msg"]:
                self.libc.msgctl(objs["msg"]["ok"], IPC_RMID, None)
            if "ok" in objs["shm"]:
                self.libc.shmctl(objs["shm"]["ok"], IPC_RMID, None)
            if "ok" in objs["sem"]:
                self.libc.semctl(objs["sem"]["ok"], 0, IPC_RMID)
        for name in mq_names:
            self.rt.mq_unlink(name.encode())


@pytest.mark.timeout(120)
def test_environments_do_not_share_ipc_objects(lam):
    create_probe(lam, "ipc-a")
    create_probe(lam, "ipc-b")
    rnd = random.Random()
    key_a, key_host = rnd.randrange(1 << 24, 1 << 30), rnd.randrange(1 << 24, 1 << 30)
    mq_a, mq_host = f"/lambdad-ipc-a-{key_a}", f"/lambdad-ipc-host-{key_host}"
    host = HostIpc()
    try:
        made = host.get(key_host, create=True)
        assert all("ok" in v for v in made.values()), f"the host can create System V objects: {made}"
        assert "ok" in host.mq_open(mq_host, create=True), "the host can create a POSIX queue"

        # Environment A creates every kind of object, and sees its own (the probe works).
        a = probe(lam, "ipc-a", {"op": "ipc", "key": key_a, "name": mq_a, "create": True})
        assert all("ok" in a[k] for k in ("msg", "shm", "sem", "mq")), a
        a = probe(lam, "ipc-a", {"op": "ipc", "key": key_a, "name": mq_a})
        assert all("ok" in a[k] for k in ("msg", "shm", "sem", "mq")), f"A's objects outlive its invocation: {a}"
        assert key_a in a["visible"]["msg"] and key_a in a["visible"]["shm"] and key_a in a["visible"]["sem"], a
        assert key_host not in a["visible"]["msg"] + a["visible"]["shm"] + a["visible"]["sem"], \
            f"the host's objects are not listed inside: {a}"

        # Environment B, of another function, sees neither A's objects nor the host's.
        for key, name in ((key_a, mq_a), (key_host, mq_host)):
            b = probe(lam, "ipc-b", {"op": "ipc", "key": key, "name": name})
            for kind in ("msg", "shm", "sem", "mq"):
                assert b[kind].get("errno") == ENOENT, f"{kind} {key:#x}/{name} is invisible to B: {b}"
            assert b["visible"] == {"msg": [], "shm": [], "sem": []}, f"B's IPC namespace is empty: {b}"
        # Nor does A see the host's.
        a = probe(lam, "ipc-a", {"op": "ipc", "key": key_host, "name": mq_host})
        for kind in ("msg", "shm", "sem", "mq"):
            assert a[kind].get("errno") == ENOENT, f"the host's {kind} is invisible to A: {a}"

        # And the host does not see A's.
        seen = host.get(key_a)
        assert all(v.get("errno") == ENOENT for v in seen.values()), f"A's objects are not the host's: {seen}"
        assert host.mq_open(mq_a).get("errno") == ENOENT, "A's POSIX queue is not the host's"
    finally:
        host.cleanup([mq_host, mq_a])


def host_uid(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])


@pytest.mark.timeout(120)
def test_each_environment_runs_as_its_own_uid(server, lam):
    create_probe(lam, "uids", Timeout=60)
    n = 3
    barrier = threading.Barrier(n)
    seen, errors = [], []

    def call():
        try:
            barrier.wait(timeout=30)
            seen.append(probe(lam, "uids", {"op": "whoami", "sleep_ms": 3000})["ok"])
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=call) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=90)
    assert not errors, errors
    assert len(seen) == n
    uids = sorted(s["uid"] for s in seen)
    assert len(set(uids)) == n, f"{n} concurrent environments of one function, {n} uids: {seen}"
    assert all(u in UIDS for u in uids), f"unprivileged uids from lambdad's range: {uids}"
    assert all(s["pid"] == 1 for s in seen), "each runtime is PID 1 of its own namespace"
    # The host sees the same: each runtime process (of every environment alive on this
    # server, these and the other tests') under a uid of its own.
    on_host = [host_uid(p) for p in runtimes(server)]
    assert len(set(on_host)) == len(on_host), f"no two runtimes share a uid: {on_host}"
    assert set(uids) <= set(on_host), f"host view {on_host}, inside view {uids}"


def expected_weight(memory_mb):
    """The CPU weight lambdad gives a function (crates/engine/src/env.rs): 100 at 1,769 MB, as Lambda's vCPU."""
    return max(1, min(10_000, memory_mb * 100 // 1769))


@pytest.mark.timeout(120)
def test_cgroups_carry_memory_pids_and_cpu_weight(server, lam):
    memories = {"weight-small": 512, "weight-big": 3538}
    uid_of = {}
    for name, mb in memories.items():
        create_probe(lam, name, MemorySize=mb)
        uid_of[probe(lam, name, {"op": "whoami"})["ok"]["uid"]] = name
    checked = set()
    for pid in runtimes(server):
        name = uid_of.get(host_uid(pid))
        if name is None:
            continue
        mb = memories[name]
        groups = cgroup_files(pid)
        weight = expected_weight(mb)
        if "cpu" in groups and "lambdad" in str(groups["cpu"]):  # cgroup v1
            assert int((groups["cpu"] / "cpu.shares").read_text()) == max(2, weight * 1024 // 100), name
            assert int((groups["memory"] / "memory.limit_in_bytes").read_text()) == mb << 20, name
            assert (groups["pids"] / "pids.max").read_text().strip() == "1024", name
        else:  # cgroup v2
            unified = groups[""]
            assert "lambdad" in str(unified), f"{name} runs in a lambdad cgroup: {groups}"
            assert int((unified / "cpu.weight").read_text()) == weight, name
            assert int((unified / "memory.max").read_text()) == mb << 20, name
            assert (unified / "pids.max").read_text().strip() == "1024", name
        checked.add(name)
    assert checked == set(memories), f"found the runtimes of {checked}"
    assert expected_weight(3538) == 2 * expected_weight(1769) == 200, "weight is proportional to memory"
