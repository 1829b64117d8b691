//! The Runtime API as a sandboxed runtime reaches it: arbitrary bytes on a
//! loopback connection to a live server, while the engine keeps an
//! invocation (request id `fuzz-1`) waiting. The server must answer or close,
//! never panic or hang, and keep serving.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use lambdad_engine::runtime_api::{Invocation, Outcome, RuntimeApi};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Feeds invocations forever and drains what the runtime reports.
async fn engine(api: RuntimeApi) {
    loop {
        let (reply, outcome) = tokio::sync::oneshot::channel();
        let inv = Invocation {
            request_id: "fuzz-1".into(),
            payload: Bytes::from_static(b"{\"k\":1}"),
            deadline_ms: u128::from(u64::MAX),
            invoked_arn: "arn:aws:lambda:us-east-1:000000000000:function:f".into(),
            trace_id: "Root=1-00000000-000000000000000000000000".into(),
            client_context: None,
            reply,
        };
        if api.invocations.send(inv).await.is_err() {
            return;
        }
        if let Ok(Ok(Outcome::Stream { mut chunks, .. })) =
            tokio::time::timeout(Duration::from_millis(50), outcome).await
        {
            while let Ok(Some(_)) =
                tokio::time::timeout(Duration::from_millis(50), chunks.recv()).await
            {}
        }
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// Sends `data` and reads the answer for at most `wait`; with `half_close`,
/// closes the sending side first (the server may then close without an answer).
async fn exchange(
    addr: SocketAddr,
    data: &[u8],
    half_close: bool,
    wait: Duration,
) -> std::io::Result<Vec<u8>> {
    let mut conn = tokio::net::TcpStream::connect(addr).await?;
    conn.write_all(data).await?;
    if half_close {
        conn.shutdown().await?;
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, conn.read_to_end(&mut out)).await;
    Ok(out)
}

/// Whether `e` means that loopback ports ran out: thousands of inputs a
/// second leave their connections' ports in TIME_WAIT for a minute.
fn ports_exhausted(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AddrNotAvailable
    )
}

/// `exchange`, waiting while loopback ports are exhausted.
async fn exchange_when_ports_free(
    addr: SocketAddr,
    data: &[u8],
    half_close: bool,
    wait: Duration,
) -> std::io::Result<Vec<u8>> {
    loop {
        match exchange(addr, data, half_close, wait).await {
            Err(e) if ports_exhausted(&e) => tokio::time::sleep(Duration::from_millis(100)).await,
            other => return other,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    runtime().block_on(async {
        // A fresh environment's Runtime API per input: inputs stay independent.
        let api = loop {
            match RuntimeApi::start().await {
                Ok(api) => break api,
                Err(e) if ports_exhausted(&e) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("starting the Runtime API: {e}"),
            }
        };
        let addr = api.addr;
        let engine = tokio::spawn(engine(api));
        let _ = exchange_when_ports_free(addr, data, true, Duration::from_millis(200)).await;
        // Still serving: a well-formed request gets an HTTP answer.
        let ok = exchange_when_ports_free(
            addr,
            b"GET /2018-06-01/runtime/nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            false,
            Duration::from_secs(10),
        )
        .await
        .expect("the Runtime API still accepts connections");
        assert!(
            ok.starts_with(b"HTTP/1.1 404"),
            "{:?}",
            String::from_utf8_lossy(&ok)
        );
        engine.abort();
    });
});
