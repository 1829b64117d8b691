//! AWS's JSON 1.1 protocol on `POST /`: the operation is named by
//! `X-Amz-Target` (`Logs_20140328.<Op>` for CloudWatch Logs, `AWSEvents.<Op>`
//! for EventBridge; `AmazonSQS.<Op>`, JSON 1.0, for the built-in SQS in
//! `sqs.rs`), input and output are JSON objects, and errors are
//! `{"__type", "message"}` with `x-amzn-ErrorType`.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::error::{json11_answer as answer, json11_error as error};
use super::middleware::RequestContext;
use super::{AppState, region};

/// Largest request body of these operations.
const MAX_REQUEST: usize = 1024 * 1024;

/// `POST /`: dispatches by `X-Amz-Target` (a form without one is an SQS
/// Query protocol request, `sqs_query.rs`, or an SNS one, `sns.rs`).
pub async fn dispatch(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = match super::middleware::read_body(body, MAX_REQUEST, &target).await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &e.0.message,
            );
        }
    };
    if target.is_empty()
        && super::sqs_query::is_query(&headers)
        && super::elb::is_elb(&headers, &bytes)
    {
        return super::elb::answer(&state, &ctx, &bytes).await;
    }
    if target.is_empty() && super::sqs_query::is_query(&headers) {
        if super::sns::is_sns(&headers, &bytes) {
            return super::sns::answer(&state, &ctx, &bytes).await;
        }
        return super::sqs_query::answer(&state, &ctx, &headers, "/", &bytes).await;
    }
    let input: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "SerializationException",
                    "Start of structure or map found where not expected.",
                );
            }
        }
    };
    match target.split_once('.') {
        Some(("AmazonSQS", op)) => {
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .map_or_else(|| state.config.listen.to_string(), str::to_owned);
            let base = format!("http://{host}");
            super::sqs::operation(&state, region(&state, &ctx), &base, op, input).await
        }
        Some(("Logs_20140328", op)) => super::logs::operation(&state, op.to_owned(), input).await,
        Some(("AWSEvents", op)) => {
            match super::events::operation(&state, region(&state, &ctx), op, input).await {
                Ok(out) => answer(StatusCode::OK, &out),
                Err(e) => {
                    let status = if e.0.code.http_status() >= 500 {
                        StatusCode::INTERNAL_SERVER_ERROR
                    } else {
                        StatusCode::BAD_REQUEST
                    };
                    error(status, e.0.code.name(), &e.0.message)
                }
            }
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("No operation matches X-Amz-Target {target:?}"),
        ),
    }
}
