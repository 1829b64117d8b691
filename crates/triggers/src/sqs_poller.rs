//! The SQS side of event source mappings: for each enabled mapping, workers
//! long-poll the queue, build AWS's SQS event (`Records`), invoke the
//! function synchronously, and delete what succeeded — everything, or all
//! but the `batchItemFailures` a function reports. Failed messages are left
//! to become visible again. Workers grow with the backlog (a full batch asks
//! for one more) up to `ScalingConfig.MaximumConcurrency`; the engine's
//! reserved concurrency throttles them like any caller. FIFO queues keep
//! order per message group: SQS hands out a group's messages in order, and
//! after a failed message the rest of its group in the batch is left too;
//! the mapping's workers receive one at a time and never run two batches
//! with messages of one group at once (`fifo_gate.rs`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use base64::Engine as _;
use bytes::Bytes;
use lambdad_engine::InvokeError;
use lambdad_service::esm::metrics::MappingMetrics;
use lambdad_service::esm::{Mapping, Mappings};
use lambdad_service::invocations::InvocationError;
use lambdad_service::invocations::Invocations;
use lambdad_service::telemetry::Trigger;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::destinations::Destinations;
use crate::fifo_gate::FifoGate;
use crate::sqs_source::Source;
use crate::supervisor;

/// Workers per mapping when ScalingConfig sets no maximum.
const DEFAULT_MAX_WORKERS: u32 = 20;

#[derive(Clone)]
struct Ctx {
    invocations: Invocations,
    region: String,
    metrics: MappingMetrics,
}

/// Keeps one poller per enabled mapping, restarting it when the mapping
/// changes, until `shutdown` is cancelled (then every poller is stopped).
pub async fn run(
    mappings: Mappings,
    invocations: Invocations,
    region: String,
    destinations: Destinations,
    shutdown: CancellationToken,
) {
    let ctx = Ctx {
        metrics: mappings.metrics().clone(),
        invocations,
        region,
    };
    let kind = |m: &Mapping| m.stream.is_none() && m.broker.is_none() && m.kafka.is_none();
    let poll = |m: Mapping, stop: CancellationToken| {
        let mapping = poll_mapping(ctx.clone(), destinations.clone(), m);
        supervisor::until_stopped(mapping, stop)
    };
    supervisor::run(&mappings, kind, poll, shutdown).await;
}

async fn poll_mapping(ctx: Ctx, destinations: Destinations, m: Mapping) {
    let source = loop {
        match destinations.queue_source(&m.event_source_arn).await {
            Ok(u) => break u,
            Err(e) => {
                tracing::warn!(mapping = %m.uuid, error = %e, "Cannot find the mapping's queue; retrying.");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    let max = m.max_concurrency.unwrap_or(DEFAULT_MAX_WORKERS).max(1);
    let gate = m.fifo().then(|| Arc::new(FifoGate::default()));
    let (grow_tx, mut grow_rx) = tokio::sync::mpsc::channel::<()>(1);
    let mut workers = tokio::task::JoinSet::new();
    let spawn = |workers: &mut tokio::task::JoinSet<()>, primary| {
        let place = Place {
            source: source.clone(),
            gate: gate.clone(),
            grow: grow_tx.clone(),
        };
        workers.spawn(worker(ctx.clone(), m.clone(), place, primary));
    };
    spawn(&mut workers, true);
    loop {
        tokio::select! {
            Some(()) = grow_rx.recv() => {
                if (workers.len() as u32) < max {
                    spawn(&mut workers, false);
                }
            }
            Some(_) = workers.join_next() => {}
        }
    }
}

/// Where a worker receives from: the queue, a FIFO queue's gate, and the
/// channel that asks for one more worker.
struct Place {
    source: Source,
    gate: Option<Arc<FifoGate>>,
    grow: tokio::sync::mpsc::Sender<()>,
}

async fn worker(ctx: Ctx, m: Mapping, place: Place, primary: bool) {
    loop {
        let turn = match &place.gate {
            Some(gate) => Some(gate.receiving().await),
            None => None,
        };
        let mut batch = match receive(&place.source, &m).await {
            Ok(b) => b,
            Err(e) => {
                drop(turn);
                tracing::warn!(mapping = %m.uuid, error = %e, "Cannot receive from the queue.");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if batch.is_empty() {
            if primary {
                continue;
            }
            return;
        }
        if batch.len() as u32 >= m.batch_size.min(10) {
            let _ = place.grow.try_send(());
        }
        let claim = place.gate.as_ref().map(|gate| {
            let groups: Vec<&str> = batch.iter().map(group_of).collect();
            let (claim, refused) = gate.claim(&groups);
            let mut refused: Vec<Message> =
                refused.into_iter().rev().map(|i| batch.remove(i)).collect();
            refused.reverse();
            (claim, refused)
        });
        drop(turn);
        if let Some((_, refused)) = &claim
            && !refused.is_empty()
        {
            tracing::warn!(
                mapping = %m.uuid,
                count = refused.len(),
                "The queue handed out messages of groups another batch has in flight; returning them to the queue."
            );
            place.source.release(refused).await;
        }
        if !batch.is_empty() {
            process(&ctx, &m, &place.source, batch).await;
        }
        drop(claim);
    }
}

/// A FIFO message's group ("" when the queue did not say).
fn group_of(msg: &Message) -> &str {
    msg.attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
        .map_or("", String::as_str)
}

/// Up to `BatchSize` messages, gathered for at most the batching window.
async fn receive(source: &Source, m: &Mapping) -> Result<Vec<Message>, String> {
    let deadline = Instant::now() + Duration::from_secs(u64::from(m.window_secs));
    let mut out = Vec::new();
    let mut names = vec![
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    ];
    if m.fifo() {
        names.extend(["MessageGroupId", "MessageDeduplicationId", "SequenceNumber"]);
    }
    loop {
        let want = (m.batch_size as usize - out.len()).min(10) as i32;
        let wait = if out.is_empty() {
            2
        } else {
            deadline
                .saturating_duration_since(Instant::now())
                .as_secs()
                .min(20) as i32
        };
        let got = source.receive(want, wait, &names).await?;
        let empty = got.is_empty();
        out.extend(got);
        if out.len() >= m.batch_size as usize
            || Instant::now() >= deadline
            || (empty && !out.is_empty())
        {
            return Ok(out);
        }
        if empty && out.is_empty() && m.window_secs == 0 {
            return Ok(out);
        }
    }
}

/// AWS's SQS record for a message.
fn record(m: &Mapping, region: &str, msg: &Message) -> Value {
    let attributes: serde_json::Map<String, Value> = msg
        .attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                .collect()
        })
        .unwrap_or_default();
    let message_attributes: serde_json::Map<String, Value> = msg
        .message_attributes()
        .map(|a| {
            a.iter()
                .map(|(k, v)| {
                    let mut attr = json!({
                        "stringListValues": [], "binaryListValues": [],
                        "dataType": v.data_type(),
                    });
                    if let Some(s) = v.string_value() {
                        attr["stringValue"] = json!(s);
                    }
                    if let Some(b) = v.binary_value() {
                        attr["binaryValue"] =
                            json!(base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
                    }
                    (k.clone(), attr)
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "messageId": msg.message_id(),
        "receiptHandle": msg.receipt_handle(),
        "body": msg.body(),
        "attributes": attributes,
        "messageAttributes": message_attributes,
        // AWS sends null when the message has no attributes.
        "md5OfMessageAttributes": msg.md5_of_message_attributes(),
        "md5OfBody": msg.md5_of_body(),
        "eventSource": "aws:sqs",
        "eventSourceARN": m.event_source_arn,
        "awsRegion": region,
    })
}

/// The filter view of a record: its body parsed as JSON when it is JSON.
fn filter_view(record: &Value) -> Value {
    let mut v = record.clone();
    if let Some(parsed) = record["body"]
        .as_str()
        .and_then(|b| serde_json::from_str::<Value>(b).ok())
    {
        v["body"] = parsed;
    }
    v
}

async fn process(ctx: &Ctx, m: &Mapping, source: &Source, batch: Vec<Message>) {
    let mut records = Vec::new();
    let mut kept = Vec::new();
    let mut filtered_out = Vec::new();
    for msg in &batch {
        let r = record(m, &ctx.region, msg);
        if m.passes(&filter_view(&r)) {
            records.push(r);
            kept.push(msg);
        } else {
            filtered_out.push(msg);
        }
    }
    // Messages the filters reject are deleted, as on AWS.
    source.delete(&filtered_out).await;
    if kept.is_empty() {
        return;
    }
    let snapshot = match ctx
        .invocations
        .resolve(&ctx.region, &m.function, m.qualifier.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(mapping = %m.uuid, error = %e, "The mapping's function cannot run.");
            tokio::time::sleep(Duration::from_secs(2)).await;
            return;
        }
    };
    let req = Invocations::request(
        snapshot,
        m.qualifier.as_deref(),
        &uuid::Uuid::new_v4().to_string(),
        Bytes::from(json!({ "Records": records }).to_string()),
    );
    let count = |failed: bool| {
        ctx.metrics
            .batch(&m.uuid, "sqs", &m.function, kept.len(), failed);
    };
    let resp = match ctx
        .invocations
        .invoke(req, Trigger::Event, Duration::ZERO, true)
        .await
    {
        Ok(r) => r,
        Err(InvocationError::Invoke(InvokeError::Throttled(_))) => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return;
        }
        Err(e) => {
            tracing::warn!(mapping = %m.uuid, error = %e, "Invocation for the queue failed.");
            count(true);
            return;
        }
    };
    if resp.function_error.is_some() {
        count(true);
        return; // the whole batch becomes visible again
    }
    let failed = failed_items(m, &resp.payload, &kept);
    count(!failed.is_empty());
    let done: Vec<&Message> = kept
        .into_iter()
        .filter(|msg| !failed.contains(msg.message_id().unwrap_or_default()))
        .collect();
    source.delete(&done).await;
}

/// The message ids to leave in the queue after a successful invocation.
fn failed_items(m: &Mapping, payload: &[u8], kept: &[&Message]) -> HashSet<String> {
    let all = || {
        kept.iter()
            .filter_map(|k| k.message_id().map(str::to_owned))
            .collect()
    };
    if !m
        .response_types
        .iter()
        .any(|t| t == "ReportBatchItemFailures")
    {
        return HashSet::new();
    }
    let Ok(v) = serde_json::from_slice::<Value>(payload) else {
        return HashSet::new();
    };
    let Some(items) = v.get("batchItemFailures") else {
        return HashSet::new();
    };
    let Some(items) = items.as_array() else {
        return all();
    };
    let mut failed = HashSet::new();
    for item in items {
        match item["itemIdentifier"].as_str() {
            Some(id) if kept.iter().any(|k| k.message_id() == Some(id)) => {
                failed.insert(id.to_owned());
            }
            // An invalid report fails the whole batch, as on AWS.
            _ => return all(),
        }
    }
    if m.fifo() {
        // After a failed message, the rest of its group waits too.
        let mut blocked_groups = HashSet::new();
        for k in kept {
            let group = k
                .attributes()
                .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
                .cloned()
                .unwrap_or_default();
            let id = k.message_id().unwrap_or_default().to_owned();
            if blocked_groups.contains(&group) {
                failed.insert(id);
            } else if failed.contains(&id) {
                blocked_groups.insert(group);
            }
        }
    }
    failed
}
