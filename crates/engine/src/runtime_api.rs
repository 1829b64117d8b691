//! The Lambda Runtime API of one execution environment, served on its own
//! loopback port (`AWS_LAMBDA_RUNTIME_API`), exactly as AWS's:
//! `GET /2018-06-01/runtime/invocation/next`, `POST …/{id}/response`,
//! `POST …/{id}/error`, `POST /2018-06-01/runtime/init/error`.
//!
//! The engine talks to it through channels only: it pushes [`Invocation`]s,
//! each carrying a oneshot for its [`Outcome`]; `/next` hands them to the
//! runtime; `/response` and `/error` complete them. A watch counter of
//! `/next` calls tells the engine when the runtime is initialised and when it
//! is parked (safe to freeze).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};

/// Largest event or response accepted (6 MiB + 100 bytes, as AWS).
pub const MAX_PAYLOAD: usize = 6_291_556;

/// One invocation on its way to the runtime.
#[derive(Debug)]
pub struct Invocation {
    /// The request id.
    pub request_id: String,
    /// The event.
    pub payload: Bytes,
    /// Epoch milliseconds when the invocation times out.
    pub deadline_ms: u128,
    /// ARN the caller invoked.
    pub invoked_arn: String,
    /// X-Ray trace header.
    pub trace_id: String,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    /// Where the outcome goes.
    pub reply: oneshot::Sender<Outcome>,
}

/// What the runtime reported for an invocation.
#[derive(Debug)]
pub enum Outcome {
    /// `/response`.
    Response(Bytes),
    /// `/error`, with `Lambda-Runtime-Function-Error-Type`.
    Error {
        /// The error type header, when given.
        error_type: Option<String>,
        /// The body, forwarded verbatim.
        body: Bytes,
    },
    /// The response exceeded [`MAX_PAYLOAD`].
    TooLarge,
    /// `/response` in streaming mode (`Lambda-Runtime-Function-Response-Mode:
    /// streaming`): the body arrives on `chunks` as the runtime writes it.
    Stream {
        /// The runtime's Content-Type.
        content_type: String,
        /// The body, chunk by chunk; closed when the runtime ends it.
        chunks: mpsc::Receiver<StreamChunk>,
    },
    /// The response-mode header had a value other than `streaming`.
    InvalidMode,
}

/// A piece of a streamed response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamChunk {
    /// Body bytes.
    Data(Bytes),
    /// A mid-stream error (from the error trailers); the last chunk.
    Error {
        /// `Lambda-Runtime-Function-Error-Type`.
        error_type: String,
        /// `Lambda-Runtime-Function-Error-Body`, base64-decoded.
        body: Bytes,
    },
}

/// Most connections a runtime may hold open to its Runtime API at once.
pub const MAX_CONNECTIONS: usize = 16;

/// Largest streamed response (AWS: 200 MB).
pub const MAX_STREAM: usize = 200 * 1024 * 1024;

/// An `/init/error` report.
#[derive(Debug)]
pub struct InitError {
    /// The error type header.
    pub error_type: Option<String>,
    /// The body.
    pub body: Bytes,
}

struct Current {
    request_id: String,
    reply: oneshot::Sender<Outcome>,
}

struct State {
    invocations: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    current: Mutex<Option<Current>>,
    init_error: Mutex<Option<oneshot::Sender<InitError>>>,
    next_calls: watch::Sender<u64>,
}

/// The engine's side of an environment's Runtime API.
#[derive(Debug)]
pub struct RuntimeApi {
    /// `127.0.0.1:PORT`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub addr: SocketAddr,
    /// Sends invocations to the runtime.
    pub invocations: mpsc::Sender<Invocation>,
    /// Fires once if the runtime reports an init error.
    pub init_error: oneshot::Receiver<InitError>,
    /// How many times the runtime has called `/next`.
    pub next_calls: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Binds a loopback port and serves the Runtime API on it until dropped.
    pub async fn start() -> std::io::Result<Self> {
        Self::serve(TcpListener::bind(("127.0.0.1", 0)).await?, None)
    }

    /// Binds a port on the host's loopback, which every process of the host
    /// can reach: only connections from sockets of `owner` (the uid of the
    /// environment's processes) are served; others are closed at once.
    pub async fn start_for(owner: u32) -> std::io::Result<Self> {
        Self::serve(TcpListener::bind(("127.0.0.1", 0)).await?, Some(owner))
    }

    /// Serves the Runtime API on a listener made elsewhere (in an
    /// environment's own network namespace, reachable by it alone) until dropped.
    pub fn serve_std(listener: std::net::TcpListener) -> std::io::Result<Self> {
        listener.set_nonblocking(true)?;
        Self::serve(TcpListener::from_std(listener)?, None)
    }

    fn serve(listener: TcpListener, owner: Option<u32>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let (inv_tx, inv_rx) = mpsc::channel(1);
        let (init_tx, init_rx) = oneshot::channel();
        let (next_tx, next_rx) = watch::channel(0);
        let state = Arc::new(State {
            invocations: tokio::sync::Mutex::new(inv_rx),
            current: Mutex::new(None),
            init_error: Mutex::new(Some(init_tx)),
            next_calls: next_tx,
        });
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, peer)) if owner.is_none_or(|uid| owned_by(uid, peer, addr)) => {
                        stream
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        // Out of descriptors, most likely: let connections end.
                        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        continue;
                    }
                };
                while connections.try_join_next().is_some() {}
                // A runtime needs a connection or two; one that opens more
                // than this gets them closed, and cannot exhaust lambdad's descriptors.
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                connections.spawn(async move {
                    let _slot = slot;
                    let svc = service_fn(move |req| handle(state.clone(), req));
                    let _ = http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok(Self {
            addr,
            invocations: inv_tx,
            init_error: init_rx,
            next_calls: next_rx,
            task,
        })
    }
}

/// Whether the connection from `peer` to `local` is a socket of `uid`.
fn owned_by(uid: u32, peer: SocketAddr, local: SocketAddr) -> bool {
    let (SocketAddr::V4(peer), SocketAddr::V4(local)) = (peer, local) else {
        return false;
    };
    match lambdad_sandbox::tcp_peer_uid(peer, local) {
        Ok(Some(found)) if found == uid => true,
        found => {
            tracing::warn!(?found, expected = uid, %peer, "Refused a connection to an environment's Runtime API from another user.");
            false
        }
    }
}

fn json(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

const ACCEPTED: &str = r#"{"status":"OK"}"#;
const INVALID_ID: &str = r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#;
const TOO_LARGE: &str = r#"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#;
const NOT_FOUND: &str = r#"{"errorMessage":"Unknown Runtime API path","errorType":"NotFound"}"#;
const INVALID_MODE: &str = r#"{"errorMessage":"Invalid function response mode","errorType":"InvalidFunctionResponseMode"}"#;
const INVALID_STATE: &str =
    r#"{"errorMessage":"State transition is not allowed","errorType":"InvalidStateTransition"}"#;

async fn handle(
    state: Arc<State>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    // A clone shares the request's bytes: the path outlives the request's move.
    let uri = req.uri().clone();
    let Some(rest) = uri.path().strip_prefix("/2018-06-01/runtime/") else {
        return Ok(json(StatusCode::NOT_FOUND, NOT_FOUND));
    };
    let resp = match (req.method(), rest) {
        (&Method::GET, "invocation/next") => next(&state).await,
        (&Method::POST, "init/error") => {
            let error_type = error_type(&req);
            let body = read(req).await.unwrap_or_default();
            match state
                .init_error
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take()
            {
                Some(tx) => {
                    let _ = tx.send(InitError { error_type, body });
                    json(StatusCode::ACCEPTED, ACCEPTED)
                }
                None => json(StatusCode::FORBIDDEN, INVALID_STATE),
            }
        }
        (&Method::POST, r) if r.starts_with("invocation/") => {
            let mut parts = r["invocation/".len()..].splitn(2, '/');
            let id = parts.next().unwrap_or_default();
            match parts.next() {
                Some("response") => complete(&state, id, req, false).await,
                Some("error") => complete(&state, id, req, true).await,
                _ => json(StatusCode::NOT_FOUND, NOT_FOUND),
            }
        }
        (&Method::GET, "ping") => json(StatusCode::OK, "\"pong\""),
        _ => json(StatusCode::NOT_FOUND, NOT_FOUND),
    };
    Ok(resp)
}

fn error_type(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

async fn read(req: Request<Incoming>) -> Option<Bytes> {
    Limited::new(req.into_body(), MAX_PAYLOAD)
        .collect()
        .await
        .ok()
        .map(|c| c.to_bytes())
}

async fn next(state: &State) -> Response<Full<Bytes>> {
    state.next_calls.send_modify(|n| *n += 1);
    let inv = {
        let mut rx = state.invocations.lock().await;
        rx.recv().await
    };
    let Some(inv) = inv else {
        return json(
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"errorMessage":"Environment is shutting down","errorType":"Runtime.Shutdown"}"#,
        );
    };
    let mut resp = Response::new(Full::new(inv.payload));
    let h = resp.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if !value.is_empty()
            && let Ok(v) = HeaderValue::from_str(value)
        {
            h.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", &inv.request_id);
    h.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from(u64::try_from(inv.deadline_ms).unwrap_or(u64::MAX)),
    );
    let mut set = |name: &'static str, value: &str| {
        if !value.is_empty()
            && let Ok(v) = HeaderValue::from_str(value)
        {
            h.insert(name, v);
        }
    };
    set("lambda-runtime-invoked-function-arn", &inv.invoked_arn);
    set("lambda-runtime-trace-id", &inv.trace_id);
    if let Some(cc) = &inv.client_context {
        set("lambda-runtime-client-context", cc);
    }
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    *state.current.lock().unwrap_or_else(|e| e.into_inner()) = Some(Current {
        request_id: inv.request_id,
        reply: inv.reply,
    });
    resp
}

async fn complete(
    state: &State,
    id: &str,
    req: Request<Incoming>,
    is_error: bool,
) -> Response<Full<Bytes>> {
    let matches = state
        .current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .is_some_and(|c| c.request_id == id);
    if !matches {
        return json(StatusCode::BAD_REQUEST, INVALID_ID);
    }
    let mode = req
        .headers()
        .get("lambda-runtime-function-response-mode")
        .map(|v| v.as_bytes().to_ascii_lowercase());
    let error_type = error_type(&req);
    if !is_error && mode.is_some() {
        let Some(current) = state
            .current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return json(StatusCode::BAD_REQUEST, INVALID_ID);
        };
        if mode.as_deref() != Some(b"streaming") {
            let _ = current.reply.send(Outcome::InvalidMode);
            return json(StatusCode::BAD_REQUEST, INVALID_MODE);
        }
        return stream(req, current).await;
    }
    let body = read(req).await;
    let Some(current) = state
        .current
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take()
    else {
        return json(StatusCode::BAD_REQUEST, INVALID_ID);
    };
    match body {
        None => {
            let _ = current.reply.send(Outcome::TooLarge);
            json(StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE)
        }
        Some(body) => {
            let outcome = if is_error {
                Outcome::Error { error_type, body }
            } else {
                Outcome::Response(body)
            };
            let _ = current.reply.send(outcome);
            json(StatusCode::ACCEPTED, ACCEPTED)
        }
    }
}

/// Forwards a streamed `/response` body chunk by chunk, then its error
/// trailers: real HTTP trailers, or the in-body trailer lines the Rust
/// runtime writes as its last chunk.
async fn stream(req: Request<Incoming>, current: Current) -> Response<Full<Bytes>> {
    let content_type = req
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let (tx, rx) = mpsc::channel(16);
    let _ = current.reply.send(Outcome::Stream {
        content_type,
        chunks: rx,
    });
    let mut body = req.into_body();
    let mut total = 0usize;
    let mut error = None;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            error = Some(StreamChunk::Error {
                error_type: "Runtime.TruncatedResponse".into(),
                body: Bytes::from_static(b"{\"errorType\":\"Runtime.TruncatedResponse\",\"errorMessage\":\"The runtime closed the stream before its end.\"}"),
            });
            break;
        };
        match frame.into_data() {
            Ok(data) => {
                if let Some(e) = in_body_trailer(&data) {
                    error = Some(e);
                    continue;
                }
                total += data.len();
                if total > MAX_STREAM {
                    error = Some(StreamChunk::Error {
                        error_type: "Function.ResponseSizeTooLarge".into(),
                        body: Bytes::from_static(b"{\"errorType\":\"Function.ResponseSizeTooLarge\",\"errorMessage\":\"Response payload size exceeded maximum allowed payload size (209715200 bytes).\"}"),
                    });
                    break;
                }
                // A caller that went away does not stop the runtime's write.
                let _ = tx.send(StreamChunk::Data(data)).await;
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    error = error.or_else(|| trailer_error(&trailers));
                }
            }
        }
    }
    if let Some(e) = error {
        let _ = tx.send(e).await;
    }
    json(StatusCode::ACCEPTED, ACCEPTED)
}

fn trailer_error(h: &http::HeaderMap) -> Option<StreamChunk> {
    let error_type = h.get("lambda-runtime-function-error-type")?.to_str().ok()?;
    let body = h
        .get("lambda-runtime-function-error-body")
        .and_then(|b| base64_decode(b.as_bytes()))
        .unwrap_or_default();
    Some(StreamChunk::Error {
        error_type: error_type.to_owned(),
        body: body.into(),
    })
}

fn in_body_trailer(data: &[u8]) -> Option<StreamChunk> {
    let text = std::str::from_utf8(data).ok()?;
    if !text.starts_with("Lambda-Runtime-Function-Error-Type:") {
        return None;
    }
    let mut h = http::HeaderMap::new();
    for line in text.split("\r\n") {
        if let Some((k, v)) = line.split_once(':')
            && let (Ok(k), Ok(v)) = (
                http::HeaderName::from_bytes(k.trim().as_bytes()),
                HeaderValue::from_str(v.trim()),
            )
        {
            h.insert(k, v);
        }
    }
    trailer_error(&h)
}

fn base64_decode(b: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(b).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const NEXT: &[u8] = b"GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: x\r\n\r\n";

    #[tokio::test]
    async fn a_runtime_cannot_hold_more_than_the_connection_cap() {
        let api = RuntimeApi::start().await.unwrap();
        // Each of these waits in /next for an invocation that never comes.
        let mut held = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            let mut c = tokio::net::TcpStream::connect(api.addr).await.unwrap();
            c.write_all(NEXT).await.unwrap();
            held.push(c);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut extra = tokio::net::TcpStream::connect(api.addr).await.unwrap();
        let _ = extra.write_all(NEXT).await;
        let mut buf = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            extra.read_to_end(&mut buf),
        )
        .await;
        assert!(
            matches!(read, Ok(Ok(0)) | Ok(Err(_))),
            "the connection over the cap is closed at once: {read:?} {buf:?}"
        );
        // Closing one frees a slot: the next runtime request is served.
        drop(held.pop());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut c = tokio::net::TcpStream::connect(api.addr).await.unwrap();
        c.write_all(b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        c.read_to_end(&mut out).await.unwrap();
        assert!(
            out.starts_with(b"HTTP/1.1 404"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }
}
