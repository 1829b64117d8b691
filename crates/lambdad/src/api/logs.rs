//! The CloudWatch Logs subset, on the same endpoint as the Lambda API:
//! `POST /` with `X-Amz-Target: Logs_20140328.<Operation>` and a JSON 1.1
//! body, as the aws CLI (`aws logs ...`) and the SDKs send it.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::AppState;
use crate::service::logs::LogsError;

const JSON_11: &str = "application/x-amz-json-1.1";
/// Largest request body of these operations.
const MAX_REQUEST: usize = 1024 * 1024;

/// A JSON 1.1 answer.
pub fn answer(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(JSON_11));
    resp
}

/// A JSON 1.1 error: `{"__type", "message"}` and `x-amzn-ErrorType`.
pub fn error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let mut resp = answer(status, &json!({ "__type": error_type, "message": message }));
    if let Ok(v) = HeaderValue::from_str(error_type) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp
}

/// `POST /`: dispatches JSON 1.1 operations by `X-Amz-Target`.
pub async fn dispatch(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = match super::middleware::read_body(body, MAX_REQUEST, "Logs").await {
        Ok(b) => b,
        Err(e) => {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                &e.0.message,
            );
        }
    };
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
        Some(("Logs_20140328", op)) => {
            let logs = state.logs.clone();
            let op = op.to_owned();
            match tokio::task::spawn_blocking(move || logs_operation(&logs, &op, &input)).await {
                Ok(Ok(out)) => answer(StatusCode::OK, &out),
                Ok(Err(e)) => error(StatusCode::BAD_REQUEST, e.error_type(), &e.to_string()),
                Err(e) => error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ServiceUnavailableException",
                    &e.to_string(),
                ),
            }
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "UnknownOperationException",
            &format!("No operation matches X-Amz-Target {target:?}"),
        ),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn number(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn group(v: &Value) -> Result<&str, LogsError> {
    text(v, "logGroupName")
        .or_else(|| text(v, "logGroupIdentifier").map(|g| g.rsplit(":log-group:").next().unwrap_or(g)))
        .ok_or_else(|| LogsError::Invalid("1 validation error detected: Value null at 'logGroupName' failed to satisfy constraint: Member must not be null".into()))
}

fn logs_operation(
    logs: &crate::service::logs::Logs,
    op: &str,
    v: &Value,
) -> Result<Value, LogsError> {
    match op {
        "DescribeLogGroups" => logs.describe_groups(
            text(v, "logGroupNamePrefix"),
            number(v, "limit"),
            text(v, "nextToken"),
        ),
        "DescribeLogStreams" => logs.describe_streams(
            group(v)?,
            text(v, "logStreamNamePrefix"),
            text(v, "orderBy") == Some("LastEventTime"),
            v["descending"].as_bool().unwrap_or(false),
            number(v, "limit"),
            text(v, "nextToken"),
        ),
        "GetLogEvents" => logs.get_events(
            group(v)?,
            text(v, "logStreamName")
                .ok_or_else(|| LogsError::Invalid("logStreamName is required".into()))?,
            number(v, "startTime"),
            number(v, "endTime"),
            v["startFromHead"].as_bool().unwrap_or(false),
            number(v, "limit"),
            text(v, "nextToken"),
        ),
        "FilterLogEvents" => {
            let names: Option<Vec<String>> = v["logStreamNames"].as_array().map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(str::to_owned))
                    .collect()
            });
            logs.filter_events(
                group(v)?,
                names.as_deref(),
                text(v, "logStreamNamePrefix"),
                number(v, "startTime"),
                number(v, "endTime"),
                text(v, "filterPattern"),
                number(v, "limit"),
                text(v, "nextToken"),
            )
        }
        "PutRetentionPolicy" => {
            let days = number(v, "retentionInDays")
                .ok_or_else(|| LogsError::Invalid("retentionInDays is required".into()))?;
            logs.set_retention(group(v)?, Some(days))
                .map(|()| json!({}))
        }
        "DeleteRetentionPolicy" => logs.set_retention(group(v)?, None).map(|()| json!({})),
        other => Err(LogsError::Invalid(format!(
            "The operation {other} is not supported by lambdad."
        ))),
    }
}
