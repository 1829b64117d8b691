//! Network isolation per function (tag `lambdad:network`), observed by the
//! probe function from inside its environment.

use serde_json::json;

use crate::common::{TestServer, create_function, fixture_zip};
use crate::isolation::{errno, probe, require_namespace_sandbox};

const ENETUNREACH: i64 = 101;
const ECONNREFUSED: i64 = 111;
const EPERM: i64 = 1;

/// An address of this host beyond loopback, where the test listens.
fn host_listener() -> (std::net::TcpListener, String) {
    let udp = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    udp.connect("10.255.255.255:9").unwrap();
    let ip = udp.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "the host has an address beyond loopback");
    let listener = std::net::TcpListener::bind((ip, 0)).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    (listener, addr)
}

async fn tag(lambda: &aws_sdk_lambda::Client, name: &str, mode: &str) {
    let arn = format!("arn:aws:lambda:us-east-1:000000000000:function:{name}");
    lambda
        .tag_resource()
        .resource(arn)
        .tags("lambdad:network", mode)
        .send()
        .await
        .unwrap_or_else(|e| panic!("tag {name}: {:?}", e.into_service_error()));
}

#[tokio::test]
async fn functions_get_the_network_their_tag_names() {
    let server = TestServer::start().await;
    require_namespace_sandbox(&server);
    let lambda = server.lambda().await;
    let (_listener, outside) = host_listener();
    let api = server.endpoint().trim_start_matches("http://").to_owned();
    for name in ["net-host", "net-lo", "net-none"] {
        create_function(&lambda, name, fixture_zip("probe")).await;
    }
    tag(&lambda, "net-lo", "loopback").await;
    tag(&lambda, "net-none", "none").await;
    let bad = lambda
        .tag_resource()
        .resource("arn:aws:lambda:us-east-1:000000000000:function:net-host")
        .tags("lambdad:network", "vpc")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad.is_invalid_parameter_value_exception(), "{bad:?}");

    // host (the default): the host's interfaces, outbound connections work.
    let v = probe(
        &lambda,
        "net-host",
        json!({"op": "connect", "addr": outside}),
    )
    .await;
    assert_eq!(v["ok"], true, "{v}");
    let v = probe(&lambda, "net-host", json!({"op": "interfaces"})).await;
    assert!(v["ok"].as_array().unwrap().len() > 1, "{v}");

    // loopback: only `lo`; neither the host nor lambdad's own port is reachable,
    // yet the runtime talks to its Runtime API and may listen itself.
    let v = probe(&lambda, "net-lo", json!({"op": "interfaces"})).await;
    assert_eq!(v["ok"], json!(["lo"]), "{v}");
    let v = probe(&lambda, "net-lo", json!({"op": "connect", "addr": outside})).await;
    assert_eq!(errno(&v), ENETUNREACH, "{v}");
    let v = probe(&lambda, "net-lo", json!({"op": "connect", "addr": api})).await;
    assert_eq!(errno(&v), ECONNREFUSED, "{v}");
    let v = probe(&lambda, "net-lo", json!({"op": "listen"})).await;
    assert_eq!(v["ok"], true, "{v}");

    // none: as loopback, and no listening socket of its own.
    let v = probe(&lambda, "net-none", json!({"op": "listen"})).await;
    assert_eq!(errno(&v), EPERM, "{v}");
    let v = probe(
        &lambda,
        "net-none",
        json!({"op": "connect", "addr": outside}),
    )
    .await;
    assert_eq!(errno(&v), ENETUNREACH, "{v}");

    // A published version runs under its function's tag.
    lambda
        .publish_version()
        .function_name("net-none")
        .send()
        .await
        .unwrap();
    let v = probe(&lambda, "net-none:1", json!({"op": "listen"})).await;
    assert_eq!(errno(&v), EPERM, "{v}");

    // Removing the tag takes effect at the next invocation (a new environment).
    lambda
        .untag_resource()
        .resource("arn:aws:lambda:us-east-1:000000000000:function:net-lo")
        .tag_keys("lambdad:network")
        .send()
        .await
        .unwrap();
    let v = probe(&lambda, "net-lo", json!({"op": "connect", "addr": outside})).await;
    assert_eq!(v["ok"], true, "{v}");
}

#[tokio::test]
async fn an_environments_runtime_api_serves_it_alone() {
    let server = TestServer::start().await;
    require_namespace_sandbox(&server);
    let lambda = server.lambda().await;
    create_function(&lambda, "rapi-a", fixture_zip("probe")).await;
    create_function(&lambda, "rapi-b", fixture_zip("probe")).await;
    let v = probe(
        &lambda,
        "rapi-b",
        json!({"op": "read", "path": "/proc/self/environ"}),
    )
    .await;
    let environ = v["ok"].as_str().unwrap().to_owned();
    let b_api = environ
        .split('\0')
        .find_map(|kv| kv.strip_prefix("AWS_LAMBDA_RUNTIME_API="))
        .expect("the runtime's environment names its API")
        .to_owned();
    let request =
        "GET /2018-06-01/runtime/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    // Its own runtime is answered...
    let v = probe(
        &lambda,
        "rapi-b",
        json!({"op": "http", "addr": b_api, "request": request}),
    )
    .await;
    assert!(v["ok"].as_str().unwrap().starts_with("HTTP/1.1 404"), "{v}");
    // ...another function on the same host network is not (it could take B's events).
    let v = probe(
        &lambda,
        "rapi-a",
        json!({"op": "http", "addr": b_api, "request": request}),
    )
    .await;
    assert_eq!(v["ok"], "", "{v}");
    assert_eq!(v["closed"], true, "{v}");
    // Nor is any other process of the host (this test runs as root).
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut c = tokio::net::TcpStream::connect(b_api.as_str())
        .await
        .unwrap();
    let _ = c.write_all(request.as_bytes()).await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), c.read_to_end(&mut out)).await;
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    // And B still works.
    let v = probe(&lambda, "rapi-b", json!({"op": "whoami"})).await;
    assert!(v["ok"]["uid"].as_u64().is_some(), "{v}");
}
