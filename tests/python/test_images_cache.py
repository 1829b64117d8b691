"""Container images, continued: the layer cache (layers kept by digest, shared between images, pulled
once, removed with the last image that has them), zstd-compressed layers, the image's USER (Lambda
runs images as its own non-root user), and Docker's credential helpers (`credHelpers`, `credsStore`).
Against a real docker-registry, images assembled with umoci and pushed with skopeo (test_images)."""

import json
import os
import stat

import pytest

from conftest import Server, make_client, wait_for
from test_images import Images, Registry, create_image_function, invoke, refused

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    r = Registry(tmp_path_factory.mktemp("registry"))
    yield r
    r.stop()


@pytest.fixture(scope="module")
def images(registry, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("images")
    imgs = Images(tmp, registry)
    imgs.digests = {"echo": imgs.tag("echo", "--config.entrypoint", "/function/echo")}
    # `layered`: the base's layers and one of its own on top (/extra/note.txt).
    imgs.digests["layered"] = imgs.derive("layered", {"/extra/note.txt": "from the top layer"},
                                          "--config.entrypoint", "/function/probe")
    return imgs


def cached(server):
    """The code store's entries: layer blobs (`layer-HEX`) and image roots (`image-HEX`)."""
    root = server.data_dir / "code"
    return {p.name for p in root.iterdir() if p.name.startswith(("layer-", "image-")) and "." not in p.name}


def layer_names(digests):
    return {"layer-" + d.removeprefix("sha256:") for d in digests}


def test_layers_are_cached_by_digest_shared_and_collected(server, lam, images, registry):
    base = images.layers("echo")
    layered = images.layers("layered")
    (top,) = layered - base
    assert base < layered, "the layered image is the base's layers and one more"

    create_image_function(lam, "cache-echo", images.uri("echo"))
    assert invoke(lam, "cache-echo", {"a": 1}) == {"a": 1}
    assert layer_names(base) <= cached(server)

    # Another image with the same base layers: only its own layer is downloaded.
    before = len(registry.blob_gets())
    create_image_function(lam, "cache-layered", images.uri("layered"))
    assert set(registry.blob_gets()[before:]) & layered == {top}, "the base's layers came from the cache"
    assert invoke(lam, "cache-layered", {"op": "read", "path": "/extra/note.txt"}) == {"ok": "from the top layer"}
    assert invoke(lam, "cache-layered", {"op": "ls", "path": "/data"}) == {"ok": ["kept.txt"]}, "whiteouts too"
    image_dir = "image-" + images.digests["layered"].removeprefix("sha256:")
    assert {image_dir, *layer_names(layered)} <= cached(server)

    # Code GC: the last function on `layered` goes, and with it its root and its own layer; the
    # base's layers stay for `echo`'s function.
    lam.delete_function(FunctionName="cache-layered")
    wait_for(lambda: image_dir not in cached(server), 30, "the unused image's root to be removed")
    assert layer_names({top}).isdisjoint(cached(server))
    assert layer_names(base) <= cached(server)
    lam.delete_function(FunctionName="cache-echo")
    wait_for(lambda: not cached(server), 30, "every image and layer to be removed")


def test_zstd_compressed_layers(lam, images, registry):
    images.push_zstd("echo", "echo-zstd")
    media = {layer["mediaType"] for layer in images.manifest("echo-zstd")["layers"]}
    assert media == {"application/vnd.oci.image.layer.v1.tar+zstd"}, media
    create_image_function(lam, "zstd-echo", images.uri("echo-zstd"))
    assert invoke(lam, "zstd-echo", {"z": "std"}) == {"z": "std"}


def test_the_images_user_is_not_the_one_that_runs_it(lam, images):
    """AWS: Lambda runs an image as its own least-privileged user, whatever USER the image names."""
    images.tag("rooted", "--config.entrypoint", "/function/probe", "--config.user", "0:0")
    create_image_function(lam, "img-rooted", images.uri("rooted"))
    who = invoke(lam, "img-rooted", {"op": "whoami"})["ok"]
    assert 20000 <= who["uid"] <= 59999 and who["uid"] != 0, who


HELPER = """#!/bin/sh
# A Docker credential helper: `get` reads the registry host on stdin, answers its credentials.
[ "$1" = get ] || exit 2
read -r host
echo "$host" >> "{log}"
if [ "$host" = "{host}" ]; then
    printf '{{"ServerURL": "%s", "Username": "alice", "Secret": "{secret}"}}' "$host"
else
    echo "credentials not found in native keychain"
    exit 1
fi
"""


def helper(bin_dir, name, host, secret, log):
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(HELPER.format(log=log, host=host, secret=secret))
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.mark.parametrize("kind", ["credHelpers", "credsStore"])
def test_docker_credential_helpers(images, tmp_path, kind):
    (tmp_path / "private").mkdir()
    private = Registry(tmp_path / "private", users={"alice": "s3cret"})
    try:
        images.push("echo", registry=private, creds="alice:s3cret")
        uri = f"{private.host}/functions:echo"
        bin_dir, log = tmp_path / "bin", tmp_path / "helper.log"
        bin_dir.mkdir()
        helper(bin_dir, "good", private.host, "s3cret", log)
        helper(bin_dir, "stale", private.host, "expired", log)
        helper(bin_dir, "other", "elsewhere.example.com:5000", "x", log)
        env = {"PATH": f"{bin_dir}:{os.environ['PATH']}"}

        def config(name):
            cfg = tmp_path / f"{kind}-{name}.json"
            body = {"credHelpers": {private.host: name}} if kind == "credHelpers" else {"credsStore": name}
            cfg.write_text(json.dumps({"auths": {private.host: {}}, **body}))
            return ["--registry-auth-file", str(cfg)]

        for name in ("stale", "other"):  # a refused secret; a helper that knows nothing of the host
            s = Server(extra=config(name), env=env)
            s.start()
            try:
                refused(lambda: make_client(s.endpoint).create_function(
                    FunctionName="img-helped", Role="arn:aws:iam::000000000000:role/r", PackageType="Image",
                    Code={"ImageUri": uri}),
                    "AccessDeniedException",
                    "Lambda does not have permission to access the ECR image. Check the ECR permissions.")
            finally:
                s.stop()
                s.tmp.cleanup()
        s = Server(extra=config("good"), env=env)
        s.start()
        try:
            lam = make_client(s.endpoint)
            create_image_function(lam, "img-helped", uri)
            assert invoke(lam, "img-helped", {"helped": True}) == {"helped": True}
            assert "s3cret" not in s.log()
        finally:
            s.stop()
            s.tmp.cleanup()
        assert log.read_text().splitlines() == [private.host] * 3, "each helper was asked for the registry's host"
    finally:
        private.stop()
