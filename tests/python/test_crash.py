"""Crash consistency: lambdad is killed with SIGKILL at 50 points while functions are created,
updated, published and aliased; after each restart every acknowledged change is there, and the
store is consistent (every function readable with its code, versions and aliases)."""

import random
import threading
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ConnectionClosedError
from botocore.exceptions import ReadTimeoutError

from conftest import ROLE, Server, make_client, zip_bytes

GONE = (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError, ConnectionError, OSError)


def mutate(lam, round_no, acked, stop, errors):
    """Creates, updates, publishes and aliases until lambdad dies; records what was acknowledged,
    and in `errors` what must not happen (a 5xx, or any other exception)."""
    try:
        _mutate(lam, round_no, acked, stop)
    except BaseException as e:  # the main thread fails the test with it
        errors.append(e)


def _mutate(lam, round_no, acked, stop):
    n = 0
    while not stop.is_set():
        name = f"c{round_no}-{n}"
        try:
            lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                                Code={"ZipFile": zip_bytes({"bootstrap": (f"#!/bin/sh\necho {name}\n", 0o755)})})
            acked.append(("function", name))
            lam.update_function_configuration(FunctionName=name, Description=f"round {round_no}")
            acked.append(("description", name))
            v = lam.publish_version(FunctionName=name)["Version"]
            acked.append(("version", name, v))
            lam.create_alias(FunctionName=name, Name="live", FunctionVersion=v)
            acked.append(("alias", name, v))
        except GONE:
            return
        except ClientError as e:
            if e.response["ResponseMetadata"].get("HTTPStatusCode", 0) >= 500:
                raise AssertionError(f"round {round_no}: {name} got a server error: {e}") from e
        n += 1


def check(lam, acked, everything):
    names = set()
    marker = None
    while True:
        page = lam.list_functions(**({"Marker": marker} if marker else {}))
        names |= {f["FunctionName"] for f in page["Functions"]}
        marker = page.get("NextMarker")
        if not marker:
            break
    for kind, name, *rest in acked:
        assert name in names, f"acknowledged {kind} of {name} was lost"
        if kind == "description":
            assert lam.get_function_configuration(FunctionName=name)["Description"].startswith("round")
        if kind == "version":
            assert lam.get_function(FunctionName=name, Qualifier=rest[0])["Configuration"]["Version"] == rest[0]
        if kind == "alias":
            assert lam.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == rest[0]
    for name in names if everything else {a[1] for a in acked}:
        f = lam.get_function(FunctionName=name)
        with urllib.request.urlopen(f["Code"]["Location"], timeout=10) as r:
            assert r.status == 200 and r.read(2) == b"PK", f"the code of {name} is missing"
        versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
        for v in versions[1:]:
            lam.get_function_configuration(FunctionName=name, Qualifier=v)
        for a in lam.list_aliases(FunctionName=name)["Aliases"]:
            assert a["FunctionVersion"] in versions, f"alias {a['Name']} of {name} points nowhere"


@pytest.mark.timeout(600)  # 58 s measured on 2 loaded cores
def test_kill_9_at_50_points_keeps_the_store_consistent():
    server = Server()
    server.start()
    rng = random.Random(7)
    acked = []
    errors = []
    try:
        lam = make_client(server.endpoint)
        for round_no in range(50):
            stop = threading.Event()
            worker = threading.Thread(target=mutate, args=(lam, round_no, acked, stop, errors))
            worker.start()
            time.sleep(rng.uniform(0.01, 0.25))
            server.proc.kill()  # SIGKILL: no shutdown of any kind
            server.proc.wait()
            server.proc = None
            stop.set()
            worker.join(timeout=30)
            assert not worker.is_alive(), f"round {round_no}: the client did not notice lambdad's death"
            assert not errors, f"round {round_no}: {errors[0]!r}"
            server.start()
            # Each round checks its own acknowledgements; every tenth, the whole store.
            mine = [a for a in acked if a[1].startswith(f"c{round_no}-")]
            check(lam, acked if round_no % 10 == 9 else mine, everything=round_no % 10 == 9)
        assert len([a for a in acked if a[0] == "function"]) >= 50, "the kills landed mid-work"
    finally:
        assert server.stop() == 0
