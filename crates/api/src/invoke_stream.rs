//! InvokeWithResponseStream: `POST /2021-11-15/functions/{name}/response-streaming-invocations`.
//!
//! The answer is an `application/vnd.amazon.eventstream` body: a
//! `PayloadChunk` event per piece of the response as the function writes it,
//! then one `InvokeComplete` event (with ErrorCode and ErrorDetails when the
//! function failed, LogResult when a tail was asked for).

use aws_smithy_types::event_stream::{Header, HeaderValue as EsValue, Message};
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use lambdad_engine::runtime_api::StreamChunk;
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiResult;
use super::functions::QualifierQuery;
use super::invoke::{invoke_error, prepare};
use super::middleware::RequestContext;
use lambdad_service::invocations::Prepared;
use lambdad_service::telemetry::Trigger;

fn event(event_type: &'static str, content_type: &'static str, payload: Bytes) -> Bytes {
    let message = Message::new(payload)
        .add_header(Header::new(
            ":event-type",
            EsValue::String(event_type.into()),
        ))
        .add_header(Header::new(
            ":content-type",
            EsValue::String(content_type.into()),
        ))
        .add_header(Header::new(
            ":message-type",
            EsValue::String("event".into()),
        ));
    let mut out = Vec::new();
    match aws_smithy_eventstream::frame::write_message_to(&message, &mut out) {
        Ok(()) => Bytes::from(out),
        Err(e) => {
            tracing::error!(error = %e, "Cannot encode an event-stream message.");
            Bytes::new()
        }
    }
}

fn chunk(payload: Bytes) -> Bytes {
    event("PayloadChunk", "application/octet-stream", payload)
}

fn complete(error: Option<(String, String)>, log_result: Option<String>) -> Bytes {
    let mut body = json!({});
    if let Some((code, details)) = error {
        body["ErrorCode"] = json!(code);
        body["ErrorDetails"] = json!(details);
    }
    if let Some(log) = log_result {
        body["LogResult"] = json!(log);
    }
    event(
        "InvokeComplete",
        "application/json",
        Bytes::from(body.to_string()),
    )
}

pub async fn invoke_stream(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let allowed = ["RequestResponse", "DryRun"];
    let qualifier = q.qualifier.as_deref();
    let req = match prepare(&state, &ctx, &name, qualifier, &headers, body, &allowed).await? {
        Prepared::DryRun => return Ok(StatusCode::NO_CONTENT.into_response()),
        Prepared::Sync(req) | Prepared::Event(req) => req,
    };
    let zero = std::time::Duration::ZERO;
    let out = match state
        .services
        .invocations
        .invoke(req, Trigger::Api, zero, false)
        .await
    {
        Ok(out) => out,
        Err(e) => return Ok(invoke_error(e)),
    };
    let executed = out.executed_version.clone();
    let request_id = out.request_id.clone();
    let body = match out.stream {
        Some(stream) => {
            let frames = futures_util::stream::unfold(Some(stream.chunks), |chunks| async move {
                let mut chunks = chunks?;
                let frame = match chunks.recv().await {
                    Some(StreamChunk::Data(d)) => return Some((Ok(chunk(d)), Some(chunks))),
                    Some(StreamChunk::Error { error_type, body }) => complete(
                        Some((error_type, String::from_utf8_lossy(&body).into_owned())),
                        None,
                    ),
                    None => complete(None, None),
                };
                Some((Ok::<Bytes, std::io::Error>(frame), None))
            });
            Body::from_stream(frames)
        }
        None => {
            let mut frames = Vec::new();
            let error = out.function_error.map(|_| {
                let code = serde_json::from_slice::<Value>(&out.payload)
                    .ok()
                    .and_then(|v| v["errorType"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| "Unhandled".into());
                (code, String::from_utf8_lossy(&out.payload).into_owned())
            });
            if error.is_none() && !out.payload.is_empty() {
                frames.extend_from_slice(&chunk(out.payload));
            }
            frames.extend_from_slice(&complete(error, out.log_result));
            Body::from(frames)
        }
    };
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Ok(v) = HeaderValue::from_str(&executed) {
        h.insert("x-amz-executed-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    Ok(resp)
}
