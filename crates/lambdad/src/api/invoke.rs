//! Invoke: `POST /2015-03-31/functions/{name}/invocations`.

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use lambdad_engine::InvokeRequest;
use lambdad_model::Code;

use std::time::Duration;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::functions::QualifierQuery;
use super::middleware::{RequestContext, read_body};
use crate::telemetry::Trigger;

/// Largest synchronous payload (AWS: 6 MB).
const MAX_SYNC_PAYLOAD: usize = 6_291_456;
/// Largest client context after base64.
const MAX_CLIENT_CONTEXT: usize = 3583;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// An invocation request, checked and resolved to the version it runs.
pub(super) enum Prepared {
    /// `DryRun`: everything checked, nothing to run.
    DryRun,
    /// `Event`.
    Event(InvokeRequest),
    /// `RequestResponse`.
    Sync(InvokeRequest),
}

/// Checks an Invoke or InvokeWithResponseStream request (`allowed` lists
/// the invocation types the operation takes) and resolves its version.
pub(super) async fn prepare(
    state: &AppState,
    ctx: &RequestContext,
    name: &str,
    qualifier: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    allowed: &[&str],
) -> ApiResult<Prepared> {
    let region = super::region(state, ctx);
    let invocation_type = header(headers, "x-amz-invocation-type").unwrap_or("RequestResponse");
    if !allowed.contains(&invocation_type) {
        return Err(ApiError::new(
            Code::InvalidParameterValue,
            format!(
                "1 validation error detected: Value '{invocation_type}' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
                allowed.join(", ")
            ),
        ));
    }
    let tail_log = match header(headers, "x-amz-log-type") {
        None | Some("None") => false,
        Some("Tail") => true,
        Some(other) => {
            return Err(ApiError::new(
                Code::InvalidParameterValue,
                format!(
                    "1 validation error detected: Value '{other}' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [None, Tail]"
                ),
            ));
        }
    };
    let payload = read_body(body, MAX_SYNC_PAYLOAD, "InvokeFunction").await?;
    let max_async = state.config.async_max_payload;
    if invocation_type == "Event" && payload.len() > max_async {
        return Err(ApiError::new(
            Code::RequestEntityTooLarge,
            format!(
                "{} byte payload is too large for the Event invocation type (limit {max_async} bytes)",
                payload.len()
            ),
        ));
    }
    let payload = if payload.iter().all(u8::is_ascii_whitespace) {
        bytes::Bytes::from_static(b"{}")
    } else {
        payload
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
        return Err(ApiError::new(
            Code::InvalidRequestContent,
            format!(
                "Could not parse request body into json: Could not parse payload into json: {e}"
            ),
        ));
    }
    let client_context = match header(headers, "x-amz-client-context") {
        None => None,
        Some(cc) if cc.len() > MAX_CLIENT_CONTEXT => {
            return Err(ApiError::new(Code::InvalidParameterValue, "Client context must be a valid Base64-encoded JSON object of at most 3583 bytes."));
        }
        Some(cc) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(cc)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| ApiError::new(Code::InvalidParameterValue, "Client context must be a valid Base64-encoded JSON object of at most 3583 bytes."))?,
        ),
    };
    let snapshot = state
        .functions
        .resolve_snapshot(region, name, qualifier)
        .await?;
    if invocation_type == "DryRun" {
        return Ok(Prepared::DryRun);
    }
    let invoked_function_arn = match qualifier {
        Some(qual) => format!("{}:{qual}", snapshot.function_arn),
        None => snapshot.function_arn.clone(),
    };
    let req = InvokeRequest {
        snapshot,
        request_id: ctx.request_id.clone(),
        payload,
        invoked_function_arn,
        client_context,
        trace_id: header(headers, "x-amzn-trace-id").map(str::to_owned),
        tail_log,
    };
    Ok(if invocation_type == "Event" {
        Prepared::Event(req)
    } else {
        Prepared::Sync(req)
    })
}

pub async fn invoke(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let allowed = ["Event", "RequestResponse", "DryRun"];
    let qualifier = q.qualifier.as_deref();
    let req = match prepare(&state, &ctx, &name, qualifier, &headers, body, &allowed).await? {
        Prepared::DryRun => return Ok(StatusCode::NO_CONTENT.into_response()),
        Prepared::Sync(req) => req,
        Prepared::Event(req) => {
            // Durable before the 202: the queue worker owns the event from here.
            state
                .functions
                .enqueue_event(
                    &req.snapshot.function_name,
                    qualifier,
                    req.payload,
                    &req.request_id,
                )
                .await?;
            return Ok(StatusCode::ACCEPTED.into_response());
        }
    };
    let telemetry = &state.functions.telemetry;
    let out = match telemetry
        .invoke(&state.engine, req, Trigger::Api, Duration::ZERO, true)
        .await
    {
        Ok(out) => out,
        Err(e) => return Ok(invoke_error(e)),
    };
    let mut resp = (StatusCode::OK, out.payload).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&out.executed_version) {
        h.insert("x-amz-executed-version", v);
    }
    if let Some(fe) = out.function_error {
        h.insert("x-amz-function-error", HeaderValue::from_static(fe));
    }
    if let Some(tail) = out.log_result.and_then(|t| HeaderValue::from_str(&t).ok()) {
        h.insert("x-amz-log-result", tail);
    }
    if let Ok(v) = HeaderValue::from_str(&out.request_id) {
        h.insert("x-amzn-RequestId", v);
    }
    Ok(resp)
}

/// A platform failure of a synchronous invocation: throttles carry their
/// Reason and Retry-After.
pub(super) fn invoke_error(e: lambdad_engine::InvokeError) -> Response {
    if let lambdad_engine::InvokeError::Throttled(t) = &e {
        let err = lambdad_model::AwsError::new(Code::TooManyRequests, "Rate Exceeded.")
            .with_field("Reason", t.reason());
        let mut resp = ApiError(err).into_response();
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
        return resp;
    }
    ApiError::from(e).into_response()
}
