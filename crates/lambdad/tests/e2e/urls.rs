//! Function URLs through a Rust HTTP client (reqwest), and
//! InvokeWithResponseStream through aws-sdk-lambda.

use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{FunctionUrlAuthType, InvokeWithResponseStreamResponseEvent as Event};
use serde_json::{Value, json};

use crate::common::{TestServer, create_function, fixture_zip};

/// A reqwest client that resolves the URL's `.localhost` host to loopback, as browsers do.
fn http_client(url: &str, port: u16) -> reqwest::Client {
    let host = url
        .trim_start_matches("http://")
        .split([':', '/'])
        .next()
        .unwrap()
        .to_owned();
    reqwest::Client::builder()
        .resolve(&host, ([127, 0, 0, 1], port).into())
        .build()
        .unwrap()
}

#[tokio::test]
async fn url_serves_events_and_streams() {
    let server = TestServer::start().await;
    let lambda = server.lambda().await;
    create_function(&lambda, "echo-url", fixture_zip("echo")).await;
    let url = lambda
        .create_function_url_config()
        .function_name("echo-url")
        .auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap()
        .function_url;
    let port: u16 = server
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let http = http_client(&url, port);

    // Without the policy statement AWS requires for NONE, the URL refuses.
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 403);
    lambda
        .add_permission()
        .function_name("echo-url")
        .statement_id("public")
        .action("lambda:InvokeFunctionUrl")
        .principal("*")
        .function_url_auth_type(FunctionUrlAuthType::None)
        .send()
        .await
        .unwrap();

    // The echo function returns the event, which has no statusCode: a 200 JSON body.
    let resp = http
        .post(format!("{url}items/7?tag=a&tag=b"))
        .header("x-repeat", "one")
        .header("content-type", "text/plain")
        .body("payload text")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let event: Value = resp.json().await.unwrap();
    assert_eq!(event["rawPath"], "/items/7");
    assert_eq!(event["queryStringParameters"], json!({"tag": "a,b"}));
    assert_eq!(event["headers"]["x-repeat"], "one");
    assert_eq!(event["body"], "payload text");
    assert_eq!(event["requestContext"]["http"]["method"], "POST");

    // InvokeWithResponseStream of a streaming function: chunks, then InvokeComplete.
    create_function(&lambda, "stream", fixture_zip("stream")).await;
    let mut out = lambda
        .invoke_with_response_stream()
        .function_name("stream")
        .payload(Blob::new(br#"{"pause_ms": 100}"#.to_vec()))
        .send()
        .await
        .unwrap();
    assert_eq!(out.executed_version(), Some("$LATEST"));
    let mut data = Vec::new();
    let mut completed = None;
    while let Some(event) = out.event_stream.recv().await.unwrap() {
        match event {
            Event::PayloadChunk(c) => data.extend_from_slice(c.payload().unwrap().as_ref()),
            Event::InvokeComplete(c) => completed = Some(c),
            other => panic!("unexpected event {other:?}"),
        }
    }
    let completed = completed.expect("InvokeComplete");
    assert_eq!(completed.error_code(), None);
    let split = data.windows(8).position(|w| w == [0u8; 8]).unwrap();
    let prelude: Value = serde_json::from_slice(&data[..split]).unwrap();
    assert_eq!(prelude["statusCode"], 201);
    assert_eq!(&data[split + 8..], b"first\nsecond\n");
}
