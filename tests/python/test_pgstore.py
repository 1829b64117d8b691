"""The PostgreSQL metadata store: `lambdad serve --store postgres://…` (or LAMBDAD_STORE) keeps
functions, versions and aliases in a database of the machine's PostgreSQL server, so they are
found again after a restart; DATA_DIR then holds no meta.db (code archives and the key that seals
environment variables stay there), and the database holds no variable's value in clear."""

import json
import subprocess
import uuid

import pytest

from conftest import BIN, ROLE, Server, fixture_zip, make_client, require_tool

PG = "postgres://root@127.0.0.1:5432"


def psql(*args, db="test"):
    """Runs psql against the server; its output (fails the test when psql fails)."""
    out = subprocess.run([require_tool("psql"), f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-qAt", *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture
def database():
    """A fresh database, dropped afterwards."""
    name = f"lambdad_py_{uuid.uuid4().hex[:12]}"
    psql("-c", f'CREATE DATABASE "{name}"')
    yield name
    psql("-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.timeout(180)
def test_functions_live_in_postgres_across_restarts(database):
    url = f"{PG}/{database}"
    server = Server(extra=["--store", url])
    try:
        server.start()
        lam = make_client(server.endpoint)
        lam.create_function(
            FunctionName="pg-echo", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
            Code={"ZipFile": fixture_zip("echo")}, MemorySize=128,
            Environment={"Variables": {"DB_PASSWORD": "hunter2-in-postgres"}})
        lam.get_waiter("function_active_v2").wait(FunctionName="pg-echo", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        out = lam.invoke(FunctionName="pg-echo", Payload=json.dumps({"n": 1}))
        assert json.loads(out["Payload"].read()) == {"n": 1}
        version = lam.publish_version(FunctionName="pg-echo")["Version"]
        lam.create_alias(FunctionName="pg-echo", Name="live", FunctionVersion=version)

        assert not (server.data_dir / "meta.db").exists(), "the metadata went to PostgreSQL"
        assert (server.data_dir / "meta.key").exists(), "the sealing key stays in the data dir"
        rows = psql("-c", "SELECT name, config FROM functions", db=database)
        assert rows.startswith("pg-echo|"), rows
        assert "hunter2-in-postgres" not in rows and "DB_PASSWORD" not in rows, "variables are sealed"
        assert psql("-c", "SELECT count(*) FROM versions", db=database).strip() == "1"

        assert server.stop() == 0, server.log()[-2000:]
        # Started again, by the environment variable this time.
        server.extra = [a for a in server.extra if a not in ("--store", url)]
        server.env["LAMBDAD_STORE"] = url
        server.start()
        lam = make_client(server.endpoint)
        config = lam.get_function_configuration(FunctionName="pg-echo")
        assert config["Environment"]["Variables"] == {"DB_PASSWORD": "hunter2-in-postgres"}
        assert lam.get_alias(FunctionName="pg-echo", Name="live")["FunctionVersion"] == version
        out = lam.invoke(FunctionName="pg-echo", Qualifier="live", Payload=json.dumps({"n": 2}))
        assert json.loads(out["Payload"].read()) == {"n": 2}
        assert not (server.data_dir / "meta.db").exists()
    finally:
        code = server.stop()
        server.tmp.cleanup()
    assert code in (0, None), f"lambdad did not shut down cleanly (exit {code})"


@pytest.mark.timeout(60)
def test_an_unreachable_store_fails_the_start():
    server = Server(extra=["--store", "postgres://root@127.0.0.1:1/none?connect_timeout=2"])
    try:
        with pytest.raises(RuntimeError, match="PostgreSQL"):
            server.start()
    finally:
        server.stop()
        server.tmp.cleanup()


def store_command(*args):
    out = subprocess.run([str(BIN), "store", *args], capture_output=True, text=True, timeout=120)
    return out.returncode, out.stdout, out.stderr


@pytest.mark.timeout(180)
def test_a_data_dir_moves_to_postgres_with_store_export(database):
    url = f"{PG}/{database}"
    server = Server()
    try:
        server.start()
        lam = make_client(server.endpoint)
        lam.create_function(
            FunctionName="moving", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
            Code={"ZipFile": fixture_zip("echo")}, MemorySize=128,
            Environment={"Variables": {"SECRET": "s3cr3t"}})
        lam.get_waiter("function_active_v2").wait(FunctionName="moving", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        version = lam.publish_version(FunctionName="moving")["Version"]
        assert server.stop() == 0, server.log()[-2000:]

        code, out, err = store_command("export", "--data-dir", str(server.data_dir), "--postgres", url)
        assert code == 0, err
        assert out.startswith("Exported ") and "functions 1" in out and "versions 1" in out, out
        # Into a store that is not empty: refused, nothing changed.
        code, _, err = store_command("export", "--data-dir", str(server.data_dir), "--postgres", url)
        assert code == 1 and "already exists" in err, err
        code, _, err = store_command("import", "--data-dir", str(server.data_dir), "--postgres", url)
        assert code == 1 and "already exists" in err, err

        server.extra += ["--store", url]
        server.start()
        lam = make_client(server.endpoint)
        config = lam.get_function_configuration(FunctionName="moving", Qualifier=version)
        assert config["Environment"]["Variables"] == {"SECRET": "s3cr3t"}
        out = lam.invoke(FunctionName="moving", Qualifier=version, Payload=json.dumps({"moved": True}))
        assert json.loads(out["Payload"].read()) == {"moved": True}
    finally:
        code = server.stop()
        server.tmp.cleanup()
    assert code in (0, None), f"lambdad did not shut down cleanly (exit {code})"
