"""Layers: the API through boto3, and layers extracted in order into /opt for Python, Node.js and custom runtimes."""

import json

import pytest
from botocore.exceptions import ClientError

from conftest import ROLE, fixture_zip, zip_bytes
from test_runtimes import node_runtime

ARN = "arn:aws:lambda:us-east-1:000000000000:layer:"


def publish(lam, name, files, **kw):
    return lam.publish_layer_version(LayerName=name, Content={"ZipFile": zip_bytes(files)}, **kw)


def test_layer_api_lifecycle(lam):
    v1 = publish(lam, "py-lib", {"python/greeting.py": ("WORD = 'v1'\n", 0o644)},
                 Description="first", CompatibleRuntimes=["python3.12"], LicenseInfo="MIT")
    assert v1["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert (v1["Version"], v1["LayerArn"], v1["LayerVersionArn"]) == (1, ARN + "py-lib", ARN + "py-lib:1")
    assert v1["Content"]["CodeSize"] > 0 and v1["Content"]["CodeSha256"]
    v2 = publish(lam, "py-lib", {"python/greeting.py": ("WORD = 'v2'\n", 0o644)}, CompatibleRuntimes=["python3.12"])
    assert v2["Version"] == 2
    got = lam.get_layer_version(LayerName="py-lib", VersionNumber=1)
    assert (got["Description"], got["LicenseInfo"], got["CompatibleRuntimes"]) == ("first", "MIT", ["python3.12"])
    assert lam.get_layer_version_by_arn(Arn=ARN + "py-lib:2")["Version"] == 2
    versions = lam.list_layer_versions(LayerName="py-lib")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
    layers = lam.list_layers(CompatibleRuntime="python3.12")["Layers"]
    assert {"LayerName": "py-lib", "LayerArn": ARN + "py-lib"}.items() <= layers[0].items()
    assert layers[0]["LatestMatchingVersion"]["Version"] == 2

    lam.delete_layer_version(LayerName="py-lib", VersionNumber=2)
    lam.delete_layer_version(LayerName="py-lib", VersionNumber=2)  # idempotent
    v3 = publish(lam, "py-lib", {"python/greeting.py": ("WORD = 'v3'\n", 0o644)})
    assert v3["Version"] == 3, "version numbers are never reused"
    with pytest.raises(ClientError) as e:
        lam.get_layer_version(LayerName="py-lib", VersionNumber=2)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert e.value.response["Error"]["Message"] == f"Layer version {ARN}py-lib:2 does not exist."

    added = lam.add_layer_version_permission(LayerName="py-lib", VersionNumber=1, StatementId="all",
                                             Action="lambda:GetLayerVersion", Principal="*")
    assert json.loads(added["Statement"])["Resource"] == ARN + "py-lib:1"
    policy = json.loads(lam.get_layer_version_policy(LayerName="py-lib", VersionNumber=1)["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["all"]
    with pytest.raises(ClientError) as e:
        lam.add_layer_version_permission(LayerName="py-lib", VersionNumber=1, StatementId="all",
                                         Action="lambda:GetLayerVersion", Principal="*")
    assert e.value.response["Error"]["Code"] == "ResourceConflictException"
    lam.remove_layer_version_permission(LayerName="py-lib", VersionNumber=1, StatementId="all")
    with pytest.raises(ClientError) as e:
        lam.get_layer_version_policy(LayerName="py-lib", VersionNumber=1)
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_function_layer_errors(lam):
    publish(lam, "err-lib", {"python/x.py": ("", 0o644)})
    publish(lam, "err-lib", {"python/x.py": ("", 0o644)})
    base = dict(Runtime="python3.12", Handler="app.handler", Role=ROLE, Code={"ZipFile": zip_bytes({"app.py": ("", 0o644)})})
    cases = [
        ([ARN + "err-lib:1"] * 6, "Cannot reference more than 5 layers."),
        ([ARN + "nope:1"], f"Layer version {ARN}nope:1 does not exist."),
        ([ARN + "err-lib:1", ARN + "err-lib:2"],
         f"Two different versions of the same layer are not allowed to be referenced in the same function. {ARN}err-lib:1 and {ARN}err-lib:2 are versions of the same layer."),
        (["arn:aws:lambda:eu-west-1:000000000000:layer:err-lib:1"],
         "Layers are not in the same region as the function. Layers are expected to be in region us-east-1."),
    ]
    for i, (layers, message) in enumerate(cases):
        with pytest.raises(ClientError) as e:
            lam.create_function(FunctionName=f"layer-err-{i}", Layers=layers, **base)
        err = e.value.response["Error"]
        assert (err["Code"], err["Message"]) == ("InvalidParameterValueException", message)


def invoke(lam, name, event):
    out = lam.invoke(FunctionName=name, Payload=json.dumps(event).encode())
    return out, json.loads(out["Payload"].read())


def test_python_function_imports_from_layers_in_order(lam):
    a = publish(lam, "order-a", {"python/shared.py": ("WHO = 'a'\n", 0o644), "python/only_a.py": ("X = 1\n", 0o644)})
    b = publish(lam, "order-b", {"python/shared.py": ("WHO = 'b'\n", 0o644)})
    app = "import shared, only_a\ndef handler(e, c):\n    return {'who': shared.WHO, 'x': only_a.X}\n"
    lam.create_function(FunctionName="layered-py", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"app.py": (app, 0o644)})},
                        Layers=[a["LayerVersionArn"], b["LayerVersionArn"]])
    conf = lam.get_function_configuration(FunctionName="layered-py")
    assert [l["Arn"] for l in conf["Layers"]] == [a["LayerVersionArn"], b["LayerVersionArn"]]
    out, body = invoke(lam, "layered-py", {})
    assert "FunctionError" not in out, body
    assert body == {"who": "b", "x": 1}, "later layers override earlier ones"
    # Reordering the layers changes which file wins (a new environment).
    lam.update_function_configuration(FunctionName="layered-py", Layers=[b["LayerVersionArn"], a["LayerVersionArn"]])
    assert invoke(lam, "layered-py", {})[1] == {"who": "a", "x": 1}
    # Deleting the layer version does not break the function.
    lam.delete_layer_version(LayerName="order-a", VersionNumber=a["Version"])
    lam.update_function_configuration(FunctionName="layered-py", Timeout=10)
    assert invoke(lam, "layered-py", {})[1] == {"who": "a", "x": 1}


def test_node_function_requires_from_layer(lam):
    runtime = node_runtime()
    lib = publish(lam, "node-lib", {"nodejs/node_modules/greet/index.js": ("module.exports = (n) => 'hi ' + n;\n", 0o644)})
    app = "const greet = require('greet');\nexports.handler = async (e) => ({ msg: greet(e.name) });\n"
    lam.create_function(FunctionName="layered-node", Runtime=runtime, Handler="index.handler", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"index.js": (app, 0o644)})}, Layers=[lib["LayerVersionArn"]])
    out, body = invoke(lam, "layered-node", {"name": "layer"})
    assert "FunctionError" not in out, body
    assert body == {"msg": "hi layer"}


def test_custom_runtime_bootstrap_from_a_layer(lam):
    runtime_layer = lam.publish_layer_version(LayerName="rust-runtime", Content={"ZipFile": fixture_zip("behave")})
    lam.create_function(FunctionName="layered-custom", Runtime="provided.al2023", Handler="unused", Role=ROLE,
                        Code={"ZipFile": zip_bytes({"data.txt": ("x", 0o644)})}, Layers=[runtime_layer["LayerVersionArn"]])
    out, body = invoke(lam, "layered-custom", {"op": "echo", "from": "opt"})
    assert "FunctionError" not in out, body
    assert body == {"op": "echo", "from": "opt"}


def zeros_zip(name, megabytes):
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(name, "w", force_zip64=True) as f:
            chunk = b"\0" * (1 << 20)
            for _ in range(megabytes):
                f.write(chunk)
    return buf.getvalue()


def test_unzipped_limit_counts_layers(lam):
    big = lam.publish_layer_version(LayerName="big-layer", Content={"ZipFile": zeros_zip("python/blob.bin", 150)})
    code = zeros_zip("app.py", 110)
    with pytest.raises(ClientError) as e:
        lam.create_function(FunctionName="too-big", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": code}, Layers=[big["LayerVersionArn"]])
    err = e.value.response["Error"]
    assert err["Code"] == "InvalidParameterValueException"
    assert err["Message"] == ("Function code combined with layers exceeds the maximum allowed size of 262144000 bytes. "
                              f"The actual size is {260 * (1 << 20)} bytes.")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="too-big")


def test_refused_function_code_is_not_kept(lam, server):
    code_dir = server.data_dir / "code"
    before = sorted(p.name for p in code_dir.iterdir())
    big = lam.publish_layer_version(LayerName="big-layer-2", Content={"ZipFile": zeros_zip("python/blob2.bin", 150)})
    after_layer = sorted(p.name for p in code_dir.iterdir())
    with pytest.raises(ClientError):
        lam.create_function(FunctionName="too-big-2", Runtime="python3.12", Handler="app.handler", Role=ROLE,
                            Code={"ZipFile": zeros_zip("app.py", 111)}, Layers=[big["LayerVersionArn"]])
    assert sorted(p.name for p in code_dir.iterdir()) == after_layer, "the refused function's archive was removed"
    assert len(after_layer) == len(before) + 3, "the layer's archive, unpacked dir and size file remain"
