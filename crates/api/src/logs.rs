//! The CloudWatch Logs subset (`X-Amz-Target: Logs_20140328.<Operation>`,
//! JSON 1.1 on `POST /`), as the aws CLI (`aws logs ...`) and the SDKs send it.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::error::{json11_answer as answer, json11_error as error};
use lambdad_model::validate;
use lambdad_service::logs::LogsError;

/// Runs one Logs operation (on the blocking pool: it reads files).
pub async fn operation(state: &AppState, op: String, input: Value) -> Response {
    let logs = state.logs.clone();
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

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn number(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

fn group(v: &Value) -> Result<&str, LogsError> {
    text(v, "logGroupName")
        .or_else(|| {
            text(v, "logGroupIdentifier").map(|g| g.rsplit(":log-group:").next().unwrap_or(g))
        })
        .ok_or_else(|| LogsError::Invalid(validate::null_error("logGroupName")))
}

fn logs_operation(
    logs: &lambdad_service::logs::Logs,
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
