"""What a test sees of a running lambdad from the host: its Prometheus gauges, the
runtime processes of its execution environments, and their cgroups."""

import base64
import re
import time
import urllib.request
from pathlib import Path


def scrape(server):
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        return r.read().decode()


def metric(text, name, **labels):
    """The sample of metric `name` whose labels include `labels`, or None."""
    for line in text.splitlines():
        m = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


def environments(server):
    """lambdad_environments by state: {"idle": n, "frozen": n, "busy": n, "initialising": n}."""
    text = scrape(server)
    return {s: metric(text, "lambdad_environments", state=s) or 0
            for s in ("initialising", "busy", "idle", "frozen")}


def _ppid(pid):
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def descendants(root):
    """The pids of every live process below `root` (as the host sees them)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            ppid = _ppid(int(entry.name))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry.name))
    out, stack = [], [root]
    while stack:
        for c in children.get(stack.pop(), []):
            out.append(c)
            stack.append(c)
    return out


def _alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def runtimes(server, prefix=b"/var/task/bootstrap"):
    """The host pids of the server's function runtimes (processes whose command starts with `prefix`)."""
    found = []
    for pid in descendants(server.proc.pid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmdline.startswith(prefix) and _alive(pid):
            found.append(pid)
    return found


def wait_for(what, predicate, timeout, interval=0.1):
    """Polls `predicate` until it returns a true value (returned), failing after `timeout` seconds."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(interval)


def cgroup_files(pid):
    """{controller: directory} of the cgroups of process `pid`, with "" for the cgroup2 unified hierarchy."""
    mounts = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        sep = fields.index("-")
        fstype, mountpoint, options = fields[sep + 1], fields[4], fields[-1].split(",")
        if fstype == "cgroup2":
            mounts.setdefault("", mountpoint)
        elif fstype == "cgroup":
            for o in options:
                mounts.setdefault(o, mountpoint)
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        for c in controllers.split(",") if controllers else [""]:
            if c in mounts:
                out[c] = Path(mounts[c] + path)
    return out


def tail(out):
    """The decoded `LogType: Tail` log of an invoke answer."""
    return base64.b64decode(out.get("LogResult", "")).decode()
