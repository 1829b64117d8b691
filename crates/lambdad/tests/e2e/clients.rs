//! Hostile clients on the API listener: slow headers, stalled bodies, header
//! floods and oversized bodies are cut off, and lambdad keeps serving others.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::TestServer;

/// Reads until the server closes (or `limit` passes); returns what came and when it closed.
async fn until_closed(conn: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(started.elapsed()), conn.read(&mut buf))
            .await
        {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&out).into(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into(), None),
        }
    }
}

async fn healthy(server: &TestServer) {
    let r = reqwest::get(format!("{}/health", server.endpoint()))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn slow_and_oversized_clients_are_cut_off() {
    let server = TestServer::start_with(&["--client-timeout", "1s"]).await;
    let addr = server.endpoint().trim_start_matches("http://").to_owned();

    // Slow loris: a request line, then nothing. Closed after ~1 s, not held.
    let mut loris = TcpStream::connect(&addr).await.unwrap();
    loris
        .write_all(b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let (_, closed) = until_closed(&mut loris, Duration::from_secs(10)).await;
    let closed = closed.expect("a client that never finishes its headers is disconnected");
    assert!(closed >= Duration::from_millis(900), "{closed:?}");
    healthy(&server).await;

    // A body that stalls: 400 with a message saying why.
    let mut stall = TcpStream::connect(&addr).await.unwrap();
    stall
        .write_all(
            b"POST /2015-03-31/functions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"Function",
        )
        .await
        .unwrap();
    let (answer, closed) = until_closed(&mut stall, Duration::from_secs(10)).await;
    assert!(closed.is_some(), "{answer}");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("Timed out reading the request body"),
        "{answer}"
    );

    // A header flood: refused (431) before any handler runs.
    let mut flood = String::from("GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        flood.push_str(&format!("X-Flood-{i}: {i}\r\n"));
    }
    flood.push_str("\r\n");
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(flood.as_bytes()).await.unwrap();
    let (answer, _) = until_closed(&mut conn, Duration::from_secs(10)).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    // Headers of a megabyte: refused too.
    let big = format!(
        "GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1024 * 1024)
    );
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    let _ = conn.write_all(big.as_bytes()).await;
    let (answer, closed) = until_closed(&mut conn, Duration::from_secs(10)).await;
    assert!(closed.is_some());
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );

    // An oversized body: AWS's 413, read no further than needed.
    let body = vec![b'x'; 7 * 1024 * 1024];
    let r = reqwest::Client::new()
        .post(format!(
            "{}/2015-03-31/functions/none/invocations",
            server.endpoint()
        ))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let text = r.text().await.unwrap();
    assert!(text.contains("Request must be smaller than"), "{text}");

    // After all that, lambdad serves as before.
    healthy(&server).await;
}
