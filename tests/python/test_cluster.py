"""Cluster mode: three `lambdad serve` nodes, each with its own data directory and port, on one
fresh PostgreSQL database and one sealing key (`--store-key-file`), driven through different nodes
with boto3 and the aws CLI. Code uploaded through one node is fetched from PostgreSQL by the
others; a change on one node reaches every other node's caches, and `function-updated-v2` waits
until every live node has applied it; `lambdad cluster status` lists the nodes, and a node killed
with SIGKILL is declared dead. A node killed in the middle of CreateFunction leaves no function
without its code."""

import base64
import json
import os
import signal
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import BIN, ROLE, Server, aws, make_client, require_tool, wait_for, zip_bytes

PG = "postgres://root@127.0.0.1:5432"


def psql(sql, db="test"):
    out = subprocess.run([require_tool("psql"), f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


@pytest.fixture
def database():
    name = f"lambdad_cluster_{uuid.uuid4().hex[:12]}"
    psql(f'CREATE DATABASE "{name}"')
    yield name
    psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Cluster:
    def __init__(self, database, size=3):
        self.db = database
        self.url = f"{PG}/{database}"
        self.key_dir = tempfile.TemporaryDirectory(prefix="lambdad-cluster-")
        self.key = Path(self.key_dir.name) / "store.key"
        # Made once, before any node starts: every node seals with the same key.
        self.key.write_bytes(os.urandom(32))
        self.nodes = [Server(extra=["--store", self.url, "--store-key-file", str(self.key)])
                      for _ in range(size)]

    def start(self):
        for n in self.nodes:
            n.start()

    def client(self, i):
        return make_client(self.nodes[i].endpoint)

    def kill(self, i):
        self.nodes[i].proc.send_signal(signal.SIGKILL)
        self.nodes[i].proc.wait(timeout=10)
        self.nodes[i].proc = None

    def stop(self):
        codes = [n.stop() for n in self.nodes]
        for n in self.nodes:
            n.tmp.cleanup()
        self.key_dir.cleanup()
        return codes


@pytest.fixture
def cluster(database):
    c = Cluster(database)
    try:
        c.start()
        yield c
    finally:
        codes = c.stop()
    assert all(code in (0, None) for code in codes), f"a node did not shut down cleanly: {codes}"


def app(version):
    return zip_bytes({"app.py": (
        "import os\n"
        f"def handler(event, context):\n    return {{'v': {version}, 'greeting': os.environ.get('GREETING')}}\n",
        0o644)})


def invoke(lam, name, qualifier=None):
    kw = {"Qualifier": qualifier} if qualifier else {}
    out = lam.invoke(FunctionName=name, Payload=b"{}", **kw)
    assert "FunctionError" not in out, out["Payload"].read()
    return json.loads(out["Payload"].read())


def create(lam, name, version=1, greeting="hello"):
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": app(version)}, Timeout=10,
                        Environment={"Variables": {"GREETING": greeting}})
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})


def hex_of(config):
    return base64.b64decode(config["CodeSha256"]).hex()


def all_applied(c, function):
    """Whether every active node has applied the function's latest change (by the database)."""
    return psql(
        "SELECT COALESCE((SELECT MIN(applied_seq) FROM cluster_nodes WHERE state = 'active'), 0) >= "
        f"(SELECT MAX(seq) FROM cluster_changes WHERE function = '{function}')", db=c.db) == "t"


@pytest.mark.timeout(300)
def test_any_node_serves_what_another_created_and_sees_its_changes(cluster):
    c = cluster
    lam0, lam1, lam2 = (c.client(i) for i in range(3))
    create(lam0, "shared")
    config = lam0.get_function_configuration(FunctionName="shared")
    # Invoked through the others: their code caches fetch the archive from PostgreSQL.
    for lam in (lam1, lam2):
        assert invoke(lam, "shared") == {"v": 1, "greeting": "hello"}
    for node in c.nodes:
        assert (node.data_dir / "code" / f"{hex_of(config)}.zip").is_file(), "cached on every node"
    assert psql("SELECT count(*) FROM cluster_code_blobs", db=c.db) == "1"

    # New code through node 1; the CLI's waiter through node 0; node 2 (which ran v1 and cached
    # its snapshot) runs the new code at once.
    lam1.update_function_code(FunctionName="shared", ZipFile=app(2))
    aws(c.nodes[0], "lambda", "wait", "function-updated-v2", "--function-name", "shared")
    assert all_applied(c, "shared"), "the waiter returned before every node applied the update"
    assert invoke(lam2, "shared") == {"v": 2, "greeting": "hello"}

    # A configuration change through node 2, boto3's waiter through node 0, invoked on node 1.
    lam2.update_function_configuration(FunctionName="shared", Environment={"Variables": {"GREETING": "bonjour"}})
    lam0.get_waiter("function_updated_v2").wait(FunctionName="shared", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    assert invoke(lam1, "shared") == {"v": 2, "greeting": "bonjour"}
    got = lam1.get_function_configuration(FunctionName="shared")
    assert got["LastUpdateStatus"] == "Successful" and got["Environment"]["Variables"] == {"GREETING": "bonjour"}

    # Alias weights: versions published through node 0, the alias made on node 1, invoked on 2.
    lam0.update_function_code(FunctionName="shared", ZipFile=app(3))
    lam0.get_waiter("function_updated_v2").wait(FunctionName="shared", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    v_old = lam0.publish_version(FunctionName="shared")["Version"]
    lam0.update_function_code(FunctionName="shared", ZipFile=app(4))
    lam0.get_waiter("function_updated_v2").wait(FunctionName="shared", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    v_new = lam0.publish_version(FunctionName="shared")["Version"]
    lam1.create_alias(FunctionName="shared", Name="live", FunctionVersion=v_old,
                      RoutingConfig={"AdditionalVersionWeights": {v_new: 0.5}})
    seen = {invoke(lam2, "shared", "live")["v"] for _ in range(40)}
    assert seen == {3, 4}, seen
    lam2.update_alias(FunctionName="shared", Name="live", FunctionVersion=v_new,
                      RoutingConfig={"AdditionalVersionWeights": {}})
    assert {invoke(lam0, "shared", "live")["v"] for _ in range(10)} == {4}

    # Deleted through node 2: the others answer ResourceNotFound (the control plane at once, the
    # invoke path once the change reached the node's snapshot cache).
    lam2.delete_function(FunctionName="shared")
    for lam in (lam0, lam1):
        with pytest.raises(ClientError) as e:
            lam.get_function(FunctionName="shared")
        assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"

    def gone():
        try:
            invoke(lam1, "shared")
            return False
        except ClientError as e:
            return e.response["Error"]["Code"] == "ResourceNotFoundException"
    wait_for(gone, 10, "node 1 to forget the deleted function")


def cluster_status(node, *extra):
    out = subprocess.run([str(BIN), "cluster", "status", "--endpoint", node.endpoint, *extra],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.timeout(180)
def test_cluster_status_lists_the_nodes_and_declares_a_killed_one_dead(cluster):
    c = cluster
    status = json.loads(cluster_status(c.nodes[0], "--json"))
    assert status["Mode"] == "cluster"
    ids = [(n.data_dir / "node-id").read_text().strip() for n in c.nodes]
    assert status["Self"]["NodeId"] == ids[0]
    nodes = {n["NodeId"]: n for n in status["Nodes"]}
    assert set(nodes) == set(ids)
    for i, node_id in enumerate(ids):
        n = nodes[node_id]
        assert n["State"] == "active" and n["ApiAddr"] == c.nodes[i].endpoint, n
        assert 0 <= n["HeartbeatAgeMs"] < 5000, n
        assert set(n["Load"]) >= {"Busy", "Idle", "InFlight"}, n
    table = cluster_status(c.nodes[1])
    assert table.splitlines()[1].split()[:3] == ["NODE", "INC", "STATE"], table
    assert sum(" active " in line for line in table.splitlines()) == 3, table

    killed = ids[2]
    c.kill(2)

    def state_of(node_id):
        doc = json.loads(cluster_status(c.nodes[1], "--json"))
        return {n["NodeId"]: n for n in doc["Nodes"]}[node_id]
    dead = wait_for(lambda: (s := state_of(killed))["State"] == "dead" and s, 20, "the killed node to be declared dead")
    assert dead["HeartbeatAgeMs"] >= 5000, dead
    assert f"{killed}" in cluster_status(c.nodes[0]) and " dead " in cluster_status(c.nodes[0])

    # SIGTERM: the node drains, then leaves.
    assert c.nodes[1].stop() == 0
    assert state_of_via(c.nodes[0], ids[1])["State"] == "left"
    # Restarted with its data directory: the same node, a new incarnation (joined before it serves).
    c.nodes[2].start()
    back = state_of_via(c.nodes[0], killed)
    assert back["State"] == "active" and back["Incarnation"] == 2, back


def state_of_via(node, node_id):
    doc = json.loads(cluster_status(node, "--json"))
    return {n["NodeId"]: n for n in doc["Nodes"]}[node_id]


def big_app(seed):
    """A zip of ~24 MB that does not compress: its upload to PostgreSQL takes a while."""
    return zip_bytes({"app.py": ("def handler(e, c):\n    return {'ok': True}\n", 0o644),
                      "blob.bin": (os.urandom(24 * 1024 * 1024) + seed.encode(), 0o644)})


def functions_without_code(c):
    return psql("SELECT count(*) FROM (SELECT code_hex FROM functions UNION ALL SELECT code_hex FROM versions) f "
                "WHERE NOT EXISTS (SELECT 1 FROM cluster_code_blobs b WHERE b.hex = f.code_hex)", db=c.db)


@pytest.mark.timeout(300)
def test_a_node_killed_in_the_middle_of_create_function_leaves_no_function_without_code(cluster):
    c = cluster
    survivor = c.client(0)
    victim = c.nodes[2]
    outcomes = []
    for round_, moment in enumerate(["uploading", "sent", "answered"]):
        name = f"crash-{round_}"
        lam = make_client(victim.endpoint)
        result = {}

        def call():
            try:
                result["ok"] = lam.create_function(
                    FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                    Code={"ZipFile": big_app(name)}, Timeout=10)
            except Exception as e:  # the node dies under it
                result["error"] = e
        t = threading.Thread(target=call)
        t.start()
        if moment == "uploading":
            # Killed while its transaction writes the archive's chunks.
            wait_for(lambda: psql("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                  "AND backend_xid IS NOT NULL AND query LIKE '%cluster_code_%'", db=c.db) != "0",
                     60, "the archive's upload to PostgreSQL", interval=0.005)
        elif moment == "answered":
            t.join(timeout=120)
        c.kill(2)
        t.join(timeout=120)
        assert functions_without_code(c) == "0"
        # Whatever exists is whole: another node runs it with the code from PostgreSQL.
        try:
            survivor.get_function(FunctionName=name)
            exists = True
        except ClientError as e:
            assert e.response["Error"]["Code"] == "ResourceNotFoundException"
            exists = False
        if exists:
            survivor.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
            assert invoke(survivor, name) == {"ok": True}
        outcomes.append((moment, exists))
        victim.start()
    assert outcomes[0] == ("uploading", False), outcomes
    assert outcomes[2] == ("answered", True), outcomes


@pytest.mark.timeout(180)
def test_a_data_dir_exported_to_postgres_serves_its_functions_from_another_node(database):
    url = f"{PG}/{database}"
    single = Server()
    other = None
    try:
        single.start()
        create(make_client(single.endpoint), "moved", version=7, greeting="exported")
        assert single.stop() == 0, single.log()[-2000:]
        out = subprocess.run([str(BIN), "store", "export", "--data-dir", str(single.data_dir), "--postgres", url],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "Stored 1 code archives in the database." in out.stdout, out.stdout
        # A new node with its own (empty) data directory and the exported data dir's key.
        other = Server(extra=["--store", url, "--store-key-file", str(single.data_dir / "meta.key")])
        other.start()
        assert invoke(make_client(other.endpoint), "moved") == {"v": 7, "greeting": "exported"}
    finally:
        if other:
            assert other.stop() in (0, None)
            other.tmp.cleanup()
        single.stop()
        single.tmp.cleanup()
