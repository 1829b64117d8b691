"""What the API Gateway tests share: the aws CLI v2, plain HTTP calls to an execute-api host,
lambdad's invocation counts, the gateway's permission on a function, and a FastAPI app through
Mangum (packages from PyPI) as its users write it."""

import http.client
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from conftest import ROOT, require_tool, zip_bytes

# A FastAPI app as its users write it, served through Mangum.
FASTAPI_APP = r'''
from typing import Optional

from fastapi import FastAPI
from mangum import Mangum
from pydantic import BaseModel

app = FastAPI()

class Item(BaseModel):
    name: str
    price: float

@app.get("/items/{item_id}")
def read_item(item_id: int, q: Optional[str] = None):
    return {"item_id": item_id, "q": q}

@app.post("/items", status_code=201)
def create_item(item: Item):
    return {"name": item.name, "price_with_tax": round(item.price * 1.2, 2)}

handler = Mangum(app, lifespan="off")
'''

AWS2 = "/usr/bin/aws"


def aws2(server, *args):
    """The aws CLI v2 against the server; returns its parsed JSON output."""
    require_tool(AWS2)
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDTEST", AWS_SECRET_ACCESS_KEY="secret",
               AWS_DEFAULT_REGION="us-east-1", AWS_PAGER="")
    proc = subprocess.run([AWS2, "--endpoint-url", server.endpoint, "--output", "json", *args],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, f"aws {' '.join(args)} failed ({proc.returncode}): {proc.stderr}"
    return json.loads(proc.stdout) if proc.stdout.strip() else None


def call(endpoint, method="GET", path="/", body=None, headers=()):
    """A plain HTTP request to an HTTP API (connecting to loopback, Host from its endpoint);
    `headers` is a list of pairs, so names may repeat."""
    parts = urlsplit(endpoint)
    conn = http.client.HTTPConnection("127.0.0.1", parts.port, timeout=60)
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", parts.netloc)
    for k, v in headers:
        conn.putheader(k, v)
    if body is not None:
        conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body)
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, resp.headers, data


def invocations(server, function):
    """lambdad's count of invocations of `function` (all versions) at /metrics."""
    import urllib.request
    with urllib.request.urlopen(server.endpoint + "/metrics", timeout=10) as r:
        text = r.read().decode()
    prefix = f'lambdad_invocations_total{{function="{function}"'
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix))


def allow_gateway(lam, function, api_id, sid="apigw", pattern="*", qualifier=None):
    account = lam.get_function(FunctionName=function)["Configuration"]["FunctionArn"].split(":")[4]
    q = {"Qualifier": qualifier} if qualifier else {}
    lam.add_permission(FunctionName=function, StatementId=sid, Action="lambda:InvokeFunction",
                       Principal="apigateway.amazonaws.com",
                       SourceArn=f"arn:aws:execute-api:us-east-1:{account}:{api_id}/{pattern}", **q)


def fastapi_zip():
    """The app and FastAPI + Mangum from PyPI (pip install --target), for this interpreter's
    Python (the function runs on the same minor version)."""
    cache = ROOT / ".cache" / f"fastapi-mangum-py3{sys.version_info.minor}"
    if not (cache / "mangum").is_dir():
        tmp = Path(str(cache) + ".tmp")
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(tmp), "fastapi==0.115.12", "mangum==0.19.0"],
                       check=True, timeout=600)
        tmp.rename(cache)
    files = {"app.py": (FASTAPI_APP, 0o644)}
    for p in cache.rglob("*"):
        if p.is_file() and "__pycache__" not in p.parts:
            files[str(p.relative_to(cache))] = (p.read_bytes(), 0o644)
    return zip_bytes(files)
