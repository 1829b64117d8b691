//! Streamed responses: an invocation whose runtime answered in streaming
//! mode hands the caller a [`ResponseStream`] at once; a task forwards the
//! chunks as they come, within the function's timeout, then closes the
//! invocation (END/REPORT, back to the pool) as a buffered one does.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::env::Environment;
use crate::runtime_api::StreamChunk;
use crate::{InvokeRequest, InvokeResponse, Invoker, concurrency, error_body};

/// The body of a streamed response, as the runtime writes it.
#[derive(Debug)]
pub struct ResponseStream {
    /// The runtime's Content-Type (for HTTP integrations,
    /// `application/vnd.awslambda.http-integration-response`).
    pub content_type: String,
    /// The chunks; a [`StreamChunk::Error`] is the last one.
    pub chunks: mpsc::Receiver<StreamChunk>,
}

/// What a stream needs to close its invocation.
pub(crate) struct Open {
    pub env: Arc<Environment>,
    pub req: InvokeRequest,
    pub started: Instant,
    pub init_ms: Option<f64>,
    pub calls_before: u64,
    pub slot: concurrency::Slot,
    pub trace: String,
    pub timings: crate::Timings,
}

impl Invoker {
    /// Starts forwarding `chunks`; returns the caller's response.
    pub(crate) fn stream_response(
        &self,
        open: Open,
        content_type: String,
        mut chunks: mpsc::Receiver<StreamChunk>,
    ) -> InvokeResponse {
        let (tx, rx) = mpsc::channel(16);
        let response = InvokeResponse {
            request_id: open.req.request_id.clone(),
            payload: Bytes::new(),
            function_error: None,
            log_result: None,
            executed_version: open.env.snapshot.version.clone(),
            stream: Some(ResponseStream {
                content_type,
                chunks: rx,
            }),
            trace: open.trace.clone(),
            timings: Some(open.timings),
        };
        let this = self.clone();
        tokio::spawn(async move {
            let Open {
                env,
                req,
                started,
                init_ms,
                calls_before,
                slot,
                ..
            } = open;
            let timeout = std::time::Duration::from_secs(u64::from(env.snapshot.timeout_secs));
            let deadline = tokio::time::Instant::from_std(started + timeout);
            let (status, healthy) = loop {
                match tokio::time::timeout_at(deadline, chunks.recv()).await {
                    Ok(Some(chunk)) => {
                        let failed = matches!(chunk, StreamChunk::Error { .. });
                        // A slow caller holds the runtime back, but not past its timeout.
                        if tokio::time::timeout_at(deadline, tx.send(chunk))
                            .await
                            .is_err()
                        {
                            break (Some("timeout"), false);
                        }
                        if failed {
                            break (Some("error"), true);
                        }
                    }
                    Ok(None) => break (None, true),
                    Err(_) => break (Some("timeout"), false),
                }
            };
            if status == Some("timeout") {
                let msg = format!(
                    "RequestId: {} Error: Task timed out after {:.2} seconds",
                    req.request_id,
                    timeout.as_secs_f64()
                );
                let _ = tx.try_send(StreamChunk::Error {
                    error_type: "Sandbox.Timedout".into(),
                    body: error_body("Sandbox.Timedout", &msg),
                });
                env.destroy().await;
            }
            drop(tx);
            env.flush_logs().await;
            let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            this.report(&env, &req, duration_ms, init_ms, status);
            drop(slot);
            this.release(env, healthy, calls_before);
        });
        response
    }
}

impl InvokeResponse {
    /// The response with a streamed body collected into `payload` (for
    /// callers that do not stream, such as Invoke and asynchronous events);
    /// a mid-stream error makes it an `Unhandled` function error.
    pub async fn into_buffered(mut self) -> InvokeResponse {
        let Some(mut stream) = self.stream.take() else {
            return self;
        };
        let mut body = bytes::BytesMut::new();
        while let Some(chunk) = stream.chunks.recv().await {
            match chunk {
                StreamChunk::Data(d) => {
                    if body.len() + d.len() > crate::runtime_api::MAX_PAYLOAD {
                        self.function_error = Some("Unhandled");
                        self.payload = error_body(
                            "Function.ResponseSizeTooLarge",
                            "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                        );
                        return self;
                    }
                    body.extend_from_slice(&d);
                }
                StreamChunk::Error { error_type, body } => {
                    self.function_error = Some("Unhandled");
                    let is_object = serde_json::from_slice::<serde_json::Value>(&body)
                        .is_ok_and(|v| v.is_object());
                    self.payload = if is_object {
                        body
                    } else {
                        error_body(&error_type, &String::from_utf8_lossy(&body))
                    };
                    return self;
                }
            }
        }
        self.payload = body.freeze();
        self
    }
}
