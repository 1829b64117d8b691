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
