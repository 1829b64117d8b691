//! A tiny Lambda runtime for the engine's own tests: it speaks the Runtime
//! API over plain HTTP/1.1 and answers each event with what the tests
//! observe (its environment's log stream, which names the environment; how
//! many invocations it has served; its initialisation type). An event `{"wait_for": PATH}` is answered once
//! PATH exists, which holds an environment busy for as long as a test needs.
//!
//! Run as `engine-test-runtime __sandbox-init ...` it is the namespace
//! backend's helper instead (the tests' `lambdad-sandbox-init`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// One request with `Connection: close`; returns (headers, body).
fn request(api: &str, method: &str, path: &str, body: &[u8]) -> (Vec<(String, String)>, Vec<u8>) {
    let mut conn = TcpStream::connect(api).unwrap_or_else(|e| fail(&format!("connect {api}: {e}")));
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {api}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())
        .and_then(|()| conn.write_all(body))
        .unwrap_or_else(|e| fail(&format!("write: {e}")));
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw)
        .unwrap_or_else(|e| fail(&format!("read: {e}")));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| fail("no end of headers"));
    let text = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.contains(" 200 ") && !status.contains(" 202 ") {
        fail(&format!("{method} {path}: {status}"));
    }
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if let Some(n) = header(&headers, "content-length").and_then(|v| v.parse().ok()) {
        body.truncate(n);
    }
    (headers, body)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn fail(what: &str) -> ! {
    eprintln!("engine-test-runtime: {what}");
    std::process::exit(1);
}

fn main() {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "__sandbox-init")
    {
        lambdad_sandbox::init_main();
    }
    let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
        .unwrap_or_else(|_| fail("AWS_LAMBDA_RUNTIME_API is not set"));
    let init_type = std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE").unwrap_or_default();
    let stream = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default();
    let mut invocations: u64 = 0;
    loop {
        let (headers, event) = request(&api, "GET", "/2018-06-01/runtime/invocation/next", b"");
        let id = header(&headers, "lambda-runtime-aws-request-id")
            .unwrap_or_else(|| fail("no request id"))
            .to_owned();
        invocations += 1;
        let event: serde_json::Value = serde_json::from_slice(&event).unwrap_or_default();
        if let Some(path) = event.get("wait_for").and_then(|p| p.as_str()) {
            while !std::path::Path::new(path).exists() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let answer = serde_json::json!({
            "stream": stream,
            "invocations": invocations,
            "init_type": init_type,
        });
        request(
            &api,
            "POST",
            &format!("/2018-06-01/runtime/invocation/{id}/response"),
            answer.to_string().as_bytes(),
        );
    }
}
