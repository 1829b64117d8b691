//! Invoke: `POST /2015-03-31/functions/{name}/invocations`.

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambdad_engine::InvokeError;
use lambdad_service::invocations::{InvocationError, InvokeInput, MAX_SYNC_PAYLOAD, Prepared};

use std::time::Duration;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::functions::QualifierQuery;
use super::middleware::{RequestContext, read_body};
use lambdad_service::telemetry::Trigger;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Reads the body and checks an Invoke or InvokeWithResponseStream request
/// (`allowed` lists the invocation types the operation takes) through the
/// invocation funnel.
pub(super) async fn prepare(
    state: &AppState,
    ctx: &RequestContext,
    name: &str,
    qualifier: Option<&str>,
    headers: &HeaderMap,
    body: Body,
    allowed: &[&str],
) -> ApiResult<Prepared> {
    let payload = read_body(body, MAX_SYNC_PAYLOAD, "InvokeFunction").await?;
    let input = InvokeInput {
        region: super::region(state, ctx),
        function: name,
        qualifier,
        invocation_type: header(headers, "x-amz-invocation-type"),
        allowed,
        log_type: header(headers, "x-amz-log-type"),
        payload,
        client_context: header(headers, "x-amz-client-context"),
        trace_id: header(headers, "x-amzn-trace-id"),
        request_id: &ctx.request_id,
    };
    Ok(state.services.invocations.prepare(input).await?)
}

pub async fn invoke(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    request: axum::extract::Request,
) -> ApiResult<Response> {
    let allowed = ["Event", "RequestResponse", "DryRun"];
    let qualifier = q.qualifier.as_deref();
    // The headers are borrowed from the request, not copied (axum's HeaderMap extractor clones them).
    let (parts, body) = request.into_parts();
    let req = match prepare(
        &state,
        &ctx,
        &name,
        qualifier,
        &parts.headers,
        body,
        &allowed,
    )
    .await?
    {
        Prepared::DryRun => return Ok(StatusCode::NO_CONTENT.into_response()),
        Prepared::Sync(req) => req,
        Prepared::Event(req) => {
            // Durable before the 202: the queue worker owns the event from here.
            state.services.invocations.enqueue(&req, qualifier).await?;
            return Ok(StatusCode::ACCEPTED.into_response());
        }
    };
    let out = match state
        .services
        .invocations
        .invoke(req, Trigger::Api, Duration::ZERO, true)
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

/// A failure of a synchronous invocation: throttles carry their Reason
/// (from the error) and Retry-After.
pub(super) fn invoke_error(e: InvocationError) -> Response {
    let throttled = matches!(e, InvocationError::Invoke(InvokeError::Throttled(_)));
    let mut resp = ApiError::from(e).into_response();
    if throttled {
        resp.headers_mut()
            .insert("retry-after", HeaderValue::from_static("1"));
    }
    resp
}
