"""Reserved concurrency and throttling, through boto3 and the aws CLI."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, aws, fixture_zip


def test_reserved_concurrency_admits_exactly_that_many(lam):
    lam.create_function(FunctionName="conc", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")}, Timeout=10)
    out = lam.put_function_concurrency(FunctionName="conc", ReservedConcurrentExecutions=3)
    assert out["ReservedConcurrentExecutions"] == 3
    assert lam.get_function_concurrency(FunctionName="conc")["ReservedConcurrentExecutions"] == 3
    assert lam.get_function(FunctionName="conc")["Concurrency"] == {"ReservedConcurrentExecutions": 3}
    settings = lam.get_account_settings()["AccountLimit"]
    assert (settings["ConcurrentExecutions"], settings["UnreservedConcurrentExecutions"]) == (1000, 997)

    def call(_):
        try:
            out = lam.invoke(FunctionName="conc", Payload=json.dumps({"op": "sleep", "ms": 1500}).encode())
            return ("ok", json.loads(out["Payload"].read())["env_id"])
        except ClientError as e:
            r = e.response
            return ("throttled", r["Error"]["Code"], r["Error"]["Message"], r.get("Reason"),
                    r["ResponseMetadata"]["HTTPStatusCode"], r["ResponseMetadata"]["HTTPHeaders"].get("retry-after"))

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(call, range(6)))
    ok = [r for r in results if r[0] == "ok"]
    throttled = [r for r in results if r[0] == "throttled"]
    assert len(ok) == 3, results
    assert len({r[1] for r in ok}) == 3
    assert throttled == [("throttled", "TooManyRequestsException", "Rate Exceeded.",
                          "ReservedFunctionConcurrentInvocationLimitExceeded", 429, "1")] * 3

    lam.put_function_concurrency(FunctionName="conc", ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as e:
        lam.invoke(FunctionName="conc", Payload=b'{"op":"echo"}')
    assert e.value.response["Error"]["Code"] == "TooManyRequestsException"
    lam.delete_function_concurrency(FunctionName="conc")
    assert lam.get_function_concurrency(FunctionName="conc") .get("ReservedConcurrentExecutions") is None
    assert lam.invoke(FunctionName="conc", Payload=b'{"op":"echo"}')["StatusCode"] == 200


def test_reservations_keep_100_unreserved(lam, server):
    lam.create_function(FunctionName="conc-big", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")})
    with pytest.raises(ClientError) as e:
        lam.put_function_concurrency(FunctionName="conc-big", ReservedConcurrentExecutions=901)
    err = e.value.response["Error"]
    assert (err["Code"], err["Message"]) == (
        "InvalidParameterValueException",
        "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [100].")
    _, out, _ = aws(server, "lambda", "put-function-concurrency", "--function-name", "conc-big", "--reserved-concurrent-executions", "900")
    assert out == {"ReservedConcurrentExecutions": 900}
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 100
    aws(server, "lambda", "delete-function-concurrency", "--function-name", "conc-big")
    assert lam.get_account_settings()["AccountLimit"]["UnreservedConcurrentExecutions"] == 1000


def test_provisioned_concurrency(lam):
    import base64
    import time

    lam.create_function(FunctionName="prov", Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                        Code={"ZipFile": fixture_zip("behave")}, Timeout=10)
    v = lam.publish_version(FunctionName="prov")["Version"]
    lam.create_alias(FunctionName="prov", Name="live", FunctionVersion=v)
    with pytest.raises(ClientError) as e:
        lam.put_provisioned_concurrency_config(FunctionName="prov", Qualifier="$LATEST", ProvisionedConcurrentExecutions=1)
    assert e.value.response["Error"]["Message"] == "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
    out = lam.put_provisioned_concurrency_config(FunctionName="prov", Qualifier="live", ProvisionedConcurrentExecutions=2)
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (out["Status"], out["RequestedProvisionedConcurrentExecutions"]) == ("IN_PROGRESS", 2)
    deadline = time.time() + 30
    while True:
        got = lam.get_provisioned_concurrency_config(FunctionName="prov", Qualifier="live")
        if got["Status"] == "READY" or time.time() > deadline:
            break
        time.sleep(0.2)
    assert (got["Status"], got["AvailableProvisionedConcurrentExecutions"]) == ("READY", 2)

    out = lam.invoke(FunctionName="prov", Qualifier="live", Payload=b'{"op":"env"}', LogType="Tail")
    body = json.loads(out["Payload"].read())
    assert body["env"]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "provisioned-concurrency"
    assert "Init Duration" not in base64.b64decode(out["LogResult"]).decode()

    def call(_):
        out = lam.invoke(FunctionName="prov", Qualifier="live", Payload=b'{"op":"sleep","ms":1500}', LogType="Tail")
        return "Init Duration" in base64.b64decode(out["LogResult"]).decode()

    with ThreadPoolExecutor(3) as pool:
        cold = list(pool.map(call, range(3)))
    assert sorted(cold) == [False, False, True], "2 provisioned environments answer warm, the overflow starts on demand"

    listed = lam.list_provisioned_concurrency_configs(FunctionName="prov")["ProvisionedConcurrencyConfigs"]
    assert [p["FunctionArn"] for p in listed] == ["arn:aws:lambda:us-east-1:000000000000:function:prov:live"]
    lam.delete_provisioned_concurrency_config(FunctionName="prov", Qualifier="live")
    with pytest.raises(ClientError) as e:
        lam.get_provisioned_concurrency_config(FunctionName="prov", Qualifier="live")
    assert e.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    # Deleting it again is no error (AWS, test_provisioned_concurrency_exceptions: 204).
    again = lam.delete_provisioned_concurrency_config(FunctionName="prov", Qualifier="live")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_host_memory_budget_evicts_idle_then_throttles():
    from conftest import Server, make_client

    server = Server(extra=["--memory-budget-mb", "300"])
    server.start()
    try:
        lam = make_client(server.endpoint)
        for name in ("cap-a", "cap-b"):
            lam.create_function(FunctionName=name, Runtime="provided.al2023", Handler="bootstrap", Role=ROLE,
                                Code={"ZipFile": fixture_zip("behave")}, Timeout=10, MemorySize=128)

        def call(name):
            try:
                lam.invoke(FunctionName=name, Payload=b'{"op":"sleep","ms":1500}')
                return "ok"
            except ClientError as e:
                return (e.response["Error"]["Code"], e.response.get("Reason"))

        # 300 MB holds two 128 MB environments: the third concurrent one is throttled.
        with ThreadPoolExecutor(3) as pool:
            results = sorted(pool.map(call, ["cap-a"] * 3), key=str)
        assert results == [("TooManyRequestsException", "ConcurrentInvocationLimitExceeded"), "ok", "ok"], results
        # Both environments of cap-a are idle now: cap-b evicts one and runs.
        assert lam.invoke(FunctionName="cap-b", Payload=b'{"op":"echo"}')["StatusCode"] == 200
    finally:
        assert server.stop() == 0
        server.tmp.cleanup()
