//! The built-in SQS on AWS's JSON protocol (`POST /`, `X-Amz-Target:
//! AmazonSQS.<Op>`, `application/x-amz-json-1.0`), over
//! `lambdad_service::queues`. Queue URLs are `http://HOST/ACCOUNT/NAME`
//! with the request's Host. Errors carry `__type` `com.amazonaws.sqs#…`
//! and the Query protocol's code in `x-amzn-query-error`, which the SDKs
//! (AWS query compatible) report as the error code.

use std::collections::BTreeMap;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambdad_service::queues::messages::{ReceiveInput, SendEntry, check_batch_ids};
use lambdad_service::queues::moves::StartMoveInput;
use lambdad_service::queues::{CreateQueueInput, Queues, QueuesError};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::AppState;

const JSON_10: &str = "application/x-amz-json-1.0";

fn answer(body: &Value) -> Response {
    let mut resp = (StatusCode::OK, body.to_string()).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(JSON_10));
    resp
}

/// An SQS error response.
pub(crate) fn error(e: &QueuesError) -> Response {
    let shape = e.shape();
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = json!({
        "__type": format!("com.amazonaws.sqs#{}", shape.exception),
        "message": e.to_string(),
    });
    let mut resp = (status, body.to_string()).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static(JSON_10));
    let fault = if shape.sender { "Sender" } else { "Receiver" };
    if let Ok(v) = HeaderValue::from_str(&format!("{};{fault}", shape.query_code)) {
        h.insert("x-amzn-query-error", v);
    }
    if let Ok(v) = HeaderValue::from_str(shape.exception) {
        h.insert("x-amzn-ErrorType", v);
    }
    resp
}

fn serialization(message: String) -> Response {
    let mut resp = (
        StatusCode::BAD_REQUEST,
        json!({ "__type": "com.amazon.coral.service#SerializationException", "message": message })
            .to_string(),
    )
        .into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(JSON_10));
    resp
}

/// A failed entry of a batch.
fn failed(id: &str, e: &QueuesError) -> Value {
    let shape = e.shape();
    json!({ "Id": id, "SenderFault": shape.sender, "Code": shape.query_code, "Message": e.to_string() })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Url {
    queue_url: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueues {
    queue_name_prefix: Option<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueUrl {
    queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    owner: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Attributes {
    #[serde(default)]
    attribute_names: Vec<String>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct MoveTasks {
    source_arn: Option<String>,
    max_results: Option<i64>,
    task_handle: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Handle {
    id: Option<String>,
    receipt_handle: Option<String>,
    visibility_timeout: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Batch<T> {
    #[serde(default = "Vec::new")]
    entries: Vec<T>,
}

fn parse<T: DeserializeOwned>(input: &Value) -> Result<T, String> {
    serde_json::from_value(input.clone()).map_err(|e| e.to_string())
}

/// The queue the request's `QueueUrl` names.
fn queue_name(queues: &Queues, input: &Value) -> Result<(String, String), QueuesError> {
    let url: Url = serde_json::from_value(input.clone())
        .map_err(|_| QueuesError::MissingParameter("QueueUrl"))?;
    let url = url
        .queue_url
        .ok_or(QueuesError::MissingParameter("QueueUrl"))?;
    Ok((queues.name_of_url(&url)?, url))
}

/// Why an SQS request failed, before it is rendered in its protocol.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The service's error.
    Sqs(QueuesError),
    /// The input does not have the operation's shape.
    Serialization(String),
    /// No such operation.
    UnknownOperation(String),
}

impl From<QueuesError> for Failure {
    fn from(e: QueuesError) -> Self {
        Self::Sqs(e)
    }
}

/// Runs SQS operation `op` on the JSON protocol; `base` is `http://HOST` of the request.
pub async fn operation(
    state: &AppState,
    region: &str,
    base: &str,
    op: &str,
    input: Value,
) -> Response {
    match run(state, region, base, op, &input).await {
        Ok(v) => answer(&v),
        Err(Failure::Sqs(e)) => error(&e),
        Err(Failure::Serialization(message)) => serialization(message),
        Err(Failure::UnknownOperation(op)) => {
            let mut resp = serialization(String::new());
            *resp.body_mut() = axum::body::Body::from(
                json!({ "__type": "com.amazon.coral.service#UnknownOperationException",
                        "message": format!("Unknown operation AmazonSQS.{op}") })
                .to_string(),
            );
            resp
        }
    }
}

/// Runs SQS operation `op` on its JSON-shaped input: its JSON-shaped output.
pub(crate) async fn run(
    state: &AppState,
    region: &str,
    base: &str,
    op: &str,
    input: &Value,
) -> Result<Value, Failure> {
    let queues = &state.services.queues;
    let account = queues.account().to_owned();
    let url_of = |name: &str| format!("{base}/{account}/{name}");
    macro_rules! parsed {
        ($t:ty) => {
            match parse::<$t>(input) {
                Ok(v) => v,
                Err(message) => return Err(Failure::Serialization(message)),
            }
        };
    }
    let out = match op {
        "CreateQueue" => {
            let input = parsed!(CreateQueueInput);
            let name = queues.create_queue(region, input).await?;
            json!({ "QueueUrl": url_of(&name) })
        }
        "GetQueueUrl" => {
            let input = parsed!(GetQueueUrl);
            let name = input
                .queue_name
                .ok_or(QueuesError::MissingParameter("QueueName"))?;
            if input.owner.is_some_and(|o| o != account) || !queues.exists(&name).await? {
                return Err(QueuesError::NoSuchQueue.into());
            }
            json!({ "QueueUrl": url_of(&name) })
        }
        "ListQueues" => {
            let input = parsed!(ListQueues);
            let (names, token) = queues
                .list_queues(
                    input.queue_name_prefix.as_deref(),
                    input.next_token.as_deref(),
                    input.max_results,
                )
                .await?;
            let mut out = json!({});
            if !names.is_empty() {
                out["QueueUrls"] = json!(names.iter().map(|n| url_of(n)).collect::<Vec<_>>());
            }
            if let Some(t) = token {
                out["NextToken"] = json!(t);
            }
            out
        }
        "StartMessageMoveTask" => {
            let input = parsed!(StartMoveInput);
            json!({ "TaskHandle": queues.start_move(input).await? })
        }
        "ListMessageMoveTasks" => {
            let input = parsed!(MoveTasks);
            queues
                .list_moves(input.source_arn.as_deref(), input.max_results)
                .await?
        }
        "CancelMessageMoveTask" => {
            let input = parsed!(MoveTasks);
            let moved = queues.cancel_move(input.task_handle.as_deref()).await?;
            json!({ "ApproximateNumberOfMessagesMoved": moved })
        }
        _ => {
            let (name, url) = queue_name(queues, input)?;
            return queue_operation(queues, &name, &url, op, input).await;
        }
    };
    Ok(out)
}

/// The operations on one queue.
async fn queue_operation(
    queues: &Queues,
    name: &str,
    url: &str,
    op: &str,
    input: &Value,
) -> Result<Value, Failure> {
    macro_rules! parsed {
        ($t:ty) => {
            match parse::<$t>(input) {
                Ok(v) => v,
                Err(message) => return Err(Failure::Serialization(message)),
            }
        };
    }
    let out = match op {
        "DeleteQueue" => {
            queues.delete_queue(name).await?;
            json!({})
        }
        "GetQueueAttributes" => {
            let input = parsed!(Attributes);
            let attrs = queues.get_attributes(name, &input.attribute_names).await?;
            if attrs.is_empty() {
                json!({})
            } else {
                json!({ "Attributes": attrs })
            }
        }
        "SetQueueAttributes" => {
            let input = parsed!(Attributes);
            queues.set_attributes(name, input.attributes).await?;
            json!({})
        }
        "TagQueue" => {
            let input = parsed!(Attributes);
            queues.retag(name, input.tags, &[]).await?;
            json!({})
        }
        "UntagQueue" => {
            let input = parsed!(Attributes);
            queues.retag(name, BTreeMap::new(), &input.tag_keys).await?;
            json!({})
        }
        "ListQueueTags" => {
            let tags = queues.tags(name).await?;
            if tags.is_empty() {
                json!({})
            } else {
                json!({ "Tags": tags })
            }
        }
        "PurgeQueue" => {
            queues.purge(name, url).await?;
            json!({})
        }
        "SendMessage" => {
            let entry = parsed!(SendEntry);
            let mut out = queues.send(name, std::slice::from_ref(&entry)).await?;
            let sent = out
                .pop()
                .ok_or(QueuesError::MissingParameter("MessageBody"))??;
            serde_json::to_value(sent).unwrap_or_default()
        }
        "SendMessageBatch" => {
            let batch = parsed!(Batch<SendEntry>);
            check_batch_ids(
                batch.entries.iter().map(|e| e.id.as_deref()),
                "SendMessageBatchRequestEntry",
            )?;
            let outcomes = queues.send(name, &batch.entries).await?;
            let (mut ok, mut bad) = (Vec::new(), Vec::new());
            for (entry, outcome) in batch.entries.iter().zip(outcomes) {
                let id = entry.id.as_deref().unwrap_or_default();
                match outcome {
                    Ok(sent) => {
                        let mut v = serde_json::to_value(sent).unwrap_or_default();
                        v["Id"] = json!(id);
                        ok.push(v);
                    }
                    Err(e) => bad.push(failed(id, &e)),
                }
            }
            batch_result(ok, bad)
        }
        "ReceiveMessage" => {
            let input = parsed!(ReceiveInput);
            let messages = queues.receive(name, &input).await?;
            if messages.is_empty() {
                json!({})
            } else {
                json!({ "Messages": messages })
            }
        }
        "DeleteMessage" => {
            let input = parsed!(Handle);
            let handle = input
                .receipt_handle
                .ok_or(QueuesError::MissingParameter("ReceiptHandle"))?;
            queues.delete_message(name, &handle).await?;
            json!({})
        }
        "ChangeMessageVisibility" => {
            let input = parsed!(Handle);
            let handle = input
                .receipt_handle
                .ok_or(QueuesError::MissingParameter("ReceiptHandle"))?;
            queues
                .change_visibility(name, &handle, input.visibility_timeout)
                .await?;
            json!({})
        }
        "DeleteMessageBatch" | "ChangeMessageVisibilityBatch" => {
            let batch = parsed!(Batch<Handle>);
            let entry_name = if op == "DeleteMessageBatch" {
                "DeleteMessageBatchRequestEntry"
            } else {
                "ChangeMessageVisibilityBatchRequestEntry"
            };
            check_batch_ids(batch.entries.iter().map(|e| e.id.as_deref()), entry_name)?;
            let (mut ok, mut bad) = (Vec::new(), Vec::new());
            for entry in &batch.entries {
                let id = entry.id.as_deref().unwrap_or_default();
                let result = match &entry.receipt_handle {
                    None => Err(QueuesError::MissingParameter("ReceiptHandle")),
                    Some(h) if op == "DeleteMessageBatch" => queues.delete_message(name, h).await,
                    Some(h) => {
                        queues
                            .change_visibility(name, h, entry.visibility_timeout)
                            .await
                    }
                };
                match result {
                    Ok(()) => ok.push(json!({ "Id": id })),
                    Err(QueuesError::NoSuchQueue) => return Err(QueuesError::NoSuchQueue.into()),
                    Err(e) => bad.push(failed(id, &e)),
                }
            }
            batch_result(ok, bad)
        }
        "ListDeadLetterSourceQueues" => {
            let sources = queues.dead_letter_sources(name).await?;
            let base = url.rsplitn(3, '/').nth(2).unwrap_or_default();
            let account = queues.account();
            let urls: Vec<String> = sources
                .iter()
                .map(|s| format!("{base}/{account}/{s}"))
                .collect();
            json!({ "queueUrls": urls })
        }
        "AddPermission" | "RemovePermission" => {
            return Err(QueuesError::Unsupported(op.to_owned()).into());
        }
        _ => return Err(Failure::UnknownOperation(op.to_owned())),
    };
    Ok(out)
}

/// A batch answer: AWS leaves `Failed` out when no entry failed.
fn batch_result(ok: Vec<Value>, bad: Vec<Value>) -> Value {
    let mut out = json!({ "Successful": ok });
    if !bad.is_empty() {
        out["Failed"] = json!(bad);
    }
    out
}
