"""Power tuning: CPU time in proportion to memory (CFS quotas: MemorySize / 1769 MB of one CPU, at
most the host's cores) and `lambdad tune` (temporary versions and aliases per size, the table, the
JSON, the SVG and PNG charts, the recommendation, cleanup also on SIGINT, SigV4-signed requests). The server runs as root with the
namespace sandbox, as the other tests do."""

import json
import os
import re
import signal
import statistics
import struct
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

from conftest import BIN, ROLE, Server, make_client, require_root, wait_for, zip_bytes
from lambdad_host import metric, scrape, tail

# A fixed amount of pure-Python work in each of `procs` processes (forked, so that several
# CPUs can be used), or a sleep.
APP = '''
import os, time

def work(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) % 1000003
    return x

def handler(event, context):
    if "sleep" in event:
        time.sleep(event["sleep"])
        return "slept"
    n, procs = event.get("n", 300000), event.get("procs", 1)
    if procs == 1:
        start = time.process_time()
        work(n)
        return {"cpu": time.process_time() - start}
    before = os.times()
    children = []
    for _ in range(procs):
        pid = os.fork()
        if pid == 0:
            work(n)
            os._exit(0)
        children.append(pid)
    for pid in children:
        os.waitpid(pid, 0)
    after = os.times()
    return {"cpu": after.children_user + after.children_system - before.children_user - before.children_system}
'''

REPORT = re.compile(r"Duration: ([0-9.]+) ms\tBilled Duration: ([0-9]+) ms")


@pytest.fixture(scope="module")
def server():
    require_root("the namespace sandbox's CPU quotas")
    s = Server(extra=["--sandbox", "namespace", "--memory-budget-mb", "16384"], interpreters=False)
    s.start()
    yield s
    code = s.stop()
    assert code == 0, f"lambdad did not shut down cleanly (exit {code}): {s.log()[-2000:]}"
    s.tmp.cleanup()


@pytest.fixture(scope="module")
def lam(server):
    return make_client(server.endpoint)


def create(lam, name, memory=128):
    lam.create_function(FunctionName=name, Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (APP, 0o644)})}, MemorySize=memory, Timeout=120)


def durations(lam, name, sizes, event, runs=5):
    """For each MemorySize, the Durations (REPORT) of `runs` warm invocations and the share of a
    CPU each used (CPU time / Duration), taking turns between the sizes so that a change of the
    host's load hits each alike. Each size is a version behind an alias `m<size>`; the first,
    cold invocation of each is left out."""
    for mb in sizes:
        lam.update_function_configuration(FunctionName=name, MemorySize=mb)
        v = lam.publish_version(FunctionName=name)["Version"]
        lam.create_alias(FunctionName=name, Name=f"m{mb}", FunctionVersion=v)
    out = {mb: [] for mb in sizes}
    for i in range(runs + 1):
        for mb in sizes:
            answer = lam.invoke(FunctionName=name, Qualifier=f"m{mb}", Payload=json.dumps(event), LogType="Tail")
            body = json.loads(answer["Payload"].read())
            assert "FunctionError" not in answer, body
            log = tail(answer)
            m = REPORT.search(log)
            assert m, log
            assert ("Init Duration" in log) == (i == 0), log
            if i:
                ms = float(m.group(1))
                out[mb].append((ms, body["cpu"] * 1000 / ms))
    return out


@pytest.mark.timeout(400)
def test_single_threaded_work_speeds_up_in_proportion_to_memory(server, lam):
    create(lam, "cpu")
    # About 0.6 s of one CPU: many 100 ms CFS periods, so the quota, not a burst, decides.
    runs = durations(lam, "cpu", (512, 1024, 1769), {"n": 3000000})
    d = {mb: statistics.median(ms for ms, _ in r) for mb, r in runs.items()}
    print("medians (ms):", d, "CPU shares:", {mb: [round(c, 2) for _, c in r] for mb, r in runs.items()})
    # Whatever the host's load, no run uses more CPU than its quota (0.289 and 0.578 CPU). A run
    # of D ms touches at most D/100 + 1 CFS periods of 100 ms, and an idle sandbox starts with its
    # current period's quota unspent, so the bound is quota * (1 + 100/D) (CI once measured 0.335
    # at 512 MB over 640 ms: 0.289 * 1.156 = 0.335), plus the kernel's 5 ms runtime slices.
    for mb, quota in ((512, 512 / 1769), (1024, 1024 / 1769)):
        for ms, c in runs[mb]:
            assert c < quota * (1 + 100 / ms) + 0.02, runs[mb]
    # Ideal ratios of the medians: 1024/512 = 2, 1769/512 = 3.46, 1769/1024 = 1.73. Measured
    # on the 2-core development machine at load average 7.5 (other builds): 1.89 between 512 and
    # 1024 MB (CPU shares 0.30 and 0.58: the quotas), but 1769 MB got only ~0.6 of a CPU there
    # (contention, not the quota), giving 2.09 and 1.10 for the others. The bounds below are for
    # a machine where a function can get one CPU (CI's); a loaded one fails the last two.
    # On the quiet CI machine: 2.41 (CPU shares 0.29-0.30 and 0.61-0.66; the smaller quota's
    # run also spends more CPU on the same work, throttled every period).
    assert 1.6 < d[512] / d[1024] < 2.7, d
    r512, r1024 = d[512] / d[1769], d[1024] / d[1769]
    assert 2.4 < r512 < 4.3, d
    assert 1.35 < r1024 < 2.2, d
    # The quota in force is visible in the metrics (CPUs): 1769 MB is one.
    text = scrape(server)
    assert metric(text, "lambdad_cpu_quota", function="cpu", version=str(len(runs))) == pytest.approx(1.0), text


@pytest.mark.timeout(400)
def test_beyond_the_hosts_cores_more_memory_does_not_speed_up(server, lam):
    cores = os.cpu_count()
    assert cores == len(os.sched_getaffinity(0)), "the test assumes no CPU affinity limit"
    create(lam, "parallel")
    # Twice as many processes as the host's cores: more CPUs help up to the host's.
    sizes = (1769, 1769 * cores, min(10240, 1769 * cores * 2))
    runs = durations(lam, "parallel", sizes, {"n": 1500000, "procs": 2 * cores}, runs=3)
    one, at_cores, beyond = (statistics.median(ms for ms, _ in runs[mb]) for mb in sizes)
    print("medians (ms):", one, at_cores, beyond)
    # One CPU, whatever the load (unlimited, these processes would use all the host's).
    # CFS charges the quota in per-CPU slices within 100 ms periods, so a run of a few
    # periods can overshoot a little (1.19 measured on a 0.4 s run).
    assert max(c for _, c in runs[sizes[0]]) < 1.3, runs[sizes[0]]
    # One CPU against all the host's: ideally `cores` times faster; loaded, less.
    assert one / at_cores > 1.3, (one, at_cores)
    # Twice the memory past the host's cores: the quota stays at the host's cores.
    assert 0.75 < beyond / at_cores < 1.3, (at_cores, beyond)
    text = scrape(server)
    assert metric(text, "lambdad_cpu_quota", function="parallel", version="3") == pytest.approx(cores), text


def run_tune(server, name, *args, timeout=240):
    return subprocess.run([str(BIN), "tune", name, "--endpoint", server.endpoint.removeprefix("http://"), *args],
                          capture_output=True, text=True, timeout=timeout)


def assert_nothing_left(lam, name, versions_before):
    versions = [v["Version"] for v in lam.list_versions_by_function(FunctionName=name)["Versions"]]
    assert versions == versions_before, versions
    assert lam.list_aliases(FunctionName=name)["Aliases"] == []


@pytest.mark.timeout(400)
def test_tune_recommends_by_strategy_and_cleans_up(server, lam):
    create(lam, "tuned")
    lam.publish_version(FunctionName="tuned")
    before = [v["Version"] for v in lam.list_versions_by_function(FunctionName="tuned")["Versions"]]
    sizes = [128, 512, 1024, 1769]
    out = Path(tempfile.mkdtemp(prefix="tune-"))
    results = {}
    for strategy in ("cost", "speed"):
        done = run_tune(server, "tuned", "--memory", ",".join(map(str, sizes)), "--payload", '{"n": 1000000}',
                        "--invocations", "3", "--strategy", strategy,
                        "--json", str(out / f"{strategy}.json"), "--chart", str(out / f"{strategy}.svg"))
        assert done.returncode == 0, done.stderr + done.stdout
        # The table: a header and a row per size.
        assert "MEMORY" in done.stdout and "COST/1M $" in done.stdout, done.stdout
        for mb in sizes:
            assert re.search(rf"^\s*{mb} MB\s+[0-9.]+", done.stdout, re.M), done.stdout
        doc = json.loads((out / f"{strategy}.json").read_text())
        rows = doc["Results"]
        assert [r["MemoryMb"] for r in rows] == sizes
        for r in rows:
            assert r["Invocations"] == 3 and r["Errors"] == 0, r
            # The first invocation of each size is a cold start, reported apart.
            assert r["ColdStarts"] == 1 and r["AvgInitMs"] > 0, r
        rec = doc["Recommendation"]["MemoryMb"]
        assert f"Recommended ({strategy.capitalize()}): {rec} MB" in done.stdout, done.stdout
        svg = ET.parse(out / f"{strategy}.svg").getroot()
        assert svg.tag == "{http://www.w3.org/2000/svg}svg"
        assert len(svg.findall("{http://www.w3.org/2000/svg}circle")) == 2 * len(sizes)
        png = (out / f"{strategy}.png").read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR", png[:16]
        assert struct.unpack(">II", png[16:24]) == (1440, 800)
        results[strategy] = (rows, rec)
    rows, rec = results["cost"]
    assert rec == min(rows, key=lambda r: (r["CostUsd"], r["AvgMs"]))["MemoryMb"], rows
    rows, rec = results["speed"]
    assert rec == min(rows, key=lambda r: (r["AvgMs"], r["CostUsd"]))["MemoryMb"], rows
    # CPU-bound: one full CPU (1769 MB) is much faster than 7 % of one (128 MB); on a quiet host
    # it is the fastest of all (a loaded one may give 1024 and 1769 MB the same share).
    assert rows[0]["AvgMs"] / rows[-1]["AvgMs"] > 2, rows
    assert_nothing_left(lam, "tuned", before)
    # $LATEST is untouched.
    assert lam.get_function_configuration(FunctionName="tuned")["MemorySize"] == 128


@pytest.mark.timeout(300)
def test_tune_interrupted_leaves_nothing_behind(server, lam):
    create(lam, "interrupted")
    before = [v["Version"] for v in lam.list_versions_by_function(FunctionName="interrupted")["Versions"]]
    proc = subprocess.Popen([str(BIN), "tune", "interrupted", "--endpoint", server.endpoint.removeprefix("http://"),
                             "--memory", "256,512", "--invocations", "200", "--payload", '{"n": 1000000}'],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: lam.list_aliases(FunctionName="interrupted")["Aliases"], 60, "the temporary alias")
        aliases = lam.list_aliases(FunctionName="interrupted")["Aliases"]
        assert [a["Name"] for a in aliases] == ["lambdad-tune-256"], aliases
        version = aliases[0]["FunctionVersion"]
        assert lam.get_function_configuration(FunctionName="interrupted", Qualifier=version)["MemorySize"] == 256
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, stderr
    assert "interrupted" in stderr, stderr
    assert_nothing_left(lam, "interrupted", before)


@pytest.mark.timeout(300)
def test_tune_recommends_the_smallest_size_for_a_sleeping_function(server, lam):
    create(lam, "sleepy")
    done = run_tune(server, "sleepy", "--memory", "128,512,1024", "--payload", '{"sleep": 0.2}',
                    "--invocations", "3", "--strategy", "cost", "--json", "-")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["Recommendation"]["MemoryMb"] == 128, doc
    for r in doc["Results"]:
        assert 200 <= r["P50Ms"] < 1000, r
    assert_nothing_left(lam, "sleepy", ["$LATEST"])


@pytest.mark.timeout(300)
def test_tune_signs_its_requests_when_the_server_requires_sigv4():
    # A second server, requiring SigV4: `lambdad tune` signs with the credentials of the
    # environment (as the AWS CLI does), and a key whose policy lacks an action it needs is
    # refused with AWS's error, leaving nothing behind.
    tmp = Path(tempfile.mkdtemp(prefix="lambdad-tune-auth-"))
    needs = ["lambda:GetFunctionConfiguration", "lambda:ListVersionsByFunction", "lambda:PublishVersion",
             "lambda:CreateAlias", "lambda:DeleteAlias", "lambda:InvokeFunction", "lambda:DeleteFunction",
             "lambda:GetAccountSettings"]
    (tmp / "tuner.json").write_text(json.dumps({"Statement": [{"Effect": "Allow", "Action": needs, "Resource": "*"}]}))
    (tmp / "reader.json").write_text(json.dumps({"Statement": [
        {"Effect": "Allow", "Action": ["lambda:Get*", "lambda:List*"], "Resource": "*"}]}))
    creds = tmp / "credentials"
    creds.write_text("[default]\naws_access_key_id = AKIDADMIN\naws_secret_access_key = admin-secret\n"
                     "[tuner]\naws_access_key_id = AKIDTUNER\naws_secret_access_key = tuner-secret\npolicy = tuner.json\n"
                     "[reader]\naws_access_key_id = AKIDREADER\naws_secret_access_key = reader-secret\n"
                     "policy = reader.json\n")
    secured = Server(extra=["--auth", "sigv4", "--credentials-file", str(creds)])
    secured.start()
    try:
        admin = boto3_client(secured, "AKIDADMIN", "admin-secret")
        create(admin, "signed")

        def tune(env):
            clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
            return subprocess.run([str(BIN), "tune", "signed", "--endpoint", secured.endpoint.removeprefix("http://"),
                                   "--memory", "128,256", "--payload", '{"sleep": 0.05}', "--invocations", "2",
                                   "--json", "-"], capture_output=True, text=True, timeout=240, env={**clean, **env})

        unsigned = tune({})
        assert unsigned.returncode != 0 and "MissingAuthenticationToken" in unsigned.stderr, unsigned.stderr
        reader = tune({"AWS_ACCESS_KEY_ID": "AKIDREADER", "AWS_SECRET_ACCESS_KEY": "reader-secret"})
        assert reader.returncode != 0 and "AccessDeniedException" in reader.stderr, reader.stderr
        assert "lambda:PublishVersion" in reader.stderr, reader.stderr
        wrong = tune({"AWS_ACCESS_KEY_ID": "AKIDTUNER", "AWS_SECRET_ACCESS_KEY": "not-the-secret"})
        assert wrong.returncode != 0 and "InvalidSignatureException" in wrong.stderr, wrong.stderr
        done = tune({"AWS_ACCESS_KEY_ID": "AKIDTUNER", "AWS_SECRET_ACCESS_KEY": "tuner-secret",
                     "AWS_REGION": "us-east-1"})
        assert done.returncode == 0, done.stderr
        doc = json.loads(done.stdout)
        assert [r["MemoryMb"] for r in doc["Results"]] == [128, 256] and doc["Recommendation"]["MemoryMb"] == 128
        assert_nothing_left(admin, "signed", ["$LATEST"])
    finally:
        assert secured.stop() == 0


def boto3_client(server, key, secret):
    return boto3.client("lambda", endpoint_url=server.endpoint, region_name="us-east-1", aws_access_key_id=key,
                        aws_secret_access_key=secret, config=Config(retries={"max_attempts": 0}))
