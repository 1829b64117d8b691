//! The stream side of event source mappings (Kinesis and DynamoDB
//! Streams). For each enabled stream mapping one task lists the stream's
//! shards and runs one worker per shard, starting a child shard only once
//! its parents are read to their end. A worker reads batches (up to
//! `BatchSize`, gathered for at most the batching window), invokes the
//! function synchronously through the funnel, one batch at a time, and
//! after each batch stores a checkpoint (the last sequence number fully
//! processed) so that a restart resumes right after it: at least once, in
//! order per shard. With `ParallelizationFactor` N the worker spreads a
//! shard's records over N lanes by partition key (`lanes`): up to N batches
//! of a shard run at once, in order per key, and the checkpoint stays
//! behind the oldest record not yet processed. With
//! `TumblingWindowInSeconds` batches carry the window's state (`window`).
//!
//! A function error retries the batch (backing off) up to
//! `MaximumRetryAttempts`, while its records are younger than
//! `MaximumRecordAgeInSeconds`; with `BisectBatchOnFunctionError` a failed
//! batch of more than one record is first split in two (a split is not a
//! retry; each half counts its own). With `ReportBatchItemFailures` the
//! checkpoint moves to just before the first reported item and the batch is
//! retried from it. A batch given up is described to the OnFailure queue or
//! topic and skipped. Throttles and platform failures retry without end.

mod lanes;
mod source;
mod window;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use lambdad_engine::InvokeError;
use lambdad_service::esm::{Mapping, Mappings};
use lambdad_service::esm_streams::StreamSettings;
use lambdad_service::invocations::{InvocationError, Invocations, MAX_SYNC_PAYLOAD};
use lambdad_service::telemetry::Trigger;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::destinations::Destinations;
use crate::stream_events::{self, Condition, LastInvoke, Origin, StreamRecord};
use crate::supervisor;
use lanes::Progress;
use source::{Clients, Position};

/// How often an idle shard is read again.
const POLL_INTERVAL: Duration = Duration::from_millis(500);
/// How often the shard list is read again.
const SHARD_REFRESH: Duration = Duration::from_secs(5);
/// The longest pause between retries of a failed batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where the stream APIs are (each `None`: AWS itself).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamEndpoints {
    /// Kinesis data streams.
    pub kinesis: Option<String>,
    /// DynamoDB (tables).
    pub dynamodb: Option<String>,
    /// DynamoDB Streams.
    pub dynamodbstreams: Option<String>,
}

#[derive(Clone)]
struct Ctx {
    mappings: Mappings,
    invocations: Invocations,
    region: String,
    clients: Clients,
    destinations: Destinations,
}

/// Keeps one poller per enabled stream mapping, restarting it when the
/// mapping changes, until `shutdown` is cancelled.
pub async fn run(
    mappings: Mappings,
    invocations: Invocations,
    region: String,
    endpoints: StreamEndpoints,
    destinations: Destinations,
    shutdown: CancellationToken,
) {
    let ctx = Ctx {
        clients: Clients::new(&region, &endpoints).await,
        mappings,
        invocations,
        region,
        destinations,
    };
    let kind = |m: &Mapping| m.stream.is_some();
    let poll = |m: Mapping, stop: CancellationToken| {
        supervisor::until_stopped(poll_mapping(ctx.clone(), m), stop)
    };
    supervisor::run(&ctx.mappings, kind, poll, shutdown).await;
}

/// Runs the mapping's shard workers (dropped, and so aborted, with it).
async fn poll_mapping(ctx: Ctx, m: Mapping) {
    let dynamodb = StreamSettings::is_dynamodb(&m);
    let mut workers: JoinSet<()> = JoinSet::new();
    let mut started: HashSet<String> = HashSet::new();
    loop {
        match ctx.clients.shards(dynamodb, &m.event_source_arn).await {
            Ok(shards) => {
                let known: HashSet<&str> = shards.iter().map(|s| s.id.as_str()).collect();
                let checkpoints = ctx.mappings.checkpoints(&m.uuid).await.unwrap_or_default();
                let ended: HashSet<&str> = checkpoints
                    .iter()
                    .filter(|c| c.ended)
                    .map(|c| c.shard.as_str())
                    .collect();
                for s in &shards {
                    if started.contains(&s.id) || ended.contains(s.id.as_str()) {
                        continue;
                    }
                    // Parents first: a child waits until every parent still
                    // in the stream is read to its end.
                    if s.parents
                        .iter()
                        .any(|p| known.contains(p.as_str()) && !ended.contains(p.as_str()))
                    {
                        continue;
                    }
                    let resume = checkpoints
                        .iter()
                        .find(|c| c.shard == s.id)
                        .and_then(|c| c.sequence.clone());
                    let child = s.parents.iter().any(|p| known.contains(p.as_str()));
                    started.insert(s.id.clone());
                    workers.spawn(shard_worker(
                        ctx.clone(),
                        m.clone(),
                        s.id.clone(),
                        resume,
                        child,
                    ));
                }
            }
            Err(e) => {
                tracing::warn!(mapping = %m.uuid, error = %e, "Cannot list the stream's shards; retrying.");
            }
        }
        let refresh = tokio::time::sleep(SHARD_REFRESH);
        tokio::pin!(refresh);
        loop {
            tokio::select! {
                () = &mut refresh => break,
                Some(_) = workers.join_next() => {}
            }
        }
    }
}

fn start_position(s: &StreamSettings, resume: Option<String>, child: bool) -> Position {
    if let Some(seq) = resume {
        return Position::After(seq);
    }
    if child {
        return Position::TrimHorizon;
    }
    match s.starting_position.as_str() {
        "TRIM_HORIZON" => Position::TrimHorizon,
        "AT_TIMESTAMP" => Position::AtTimestamp(s.starting_timestamp.unwrap_or(0.0)),
        _ => Position::Latest,
    }
}

async fn shard_worker(ctx: Ctx, m: Mapping, shard: String, resume: Option<String>, child: bool) {
    let Some(settings) = m.stream.clone() else {
        return;
    };
    let dynamodb = StreamSettings::is_dynamodb(&m);
    let progress = Arc::new(Progress::new(&shard, dynamodb));
    // A tumbling window's state runs through a shard's batches one by one:
    // one lane; otherwise one lane per `ParallelizationFactor`.
    let windowed = settings.tumbling_window > 0;
    let width = if windowed {
        1
    } else {
        settings.parallelization.clamp(1, 10) as usize
    };
    let mut senders = Vec::with_capacity(width);
    let mut tasks: JoinSet<()> = JoinSet::new();
    for _ in 0..width {
        let (tx, rx) = mpsc::channel::<Vec<StreamRecord>>(1);
        senders.push(tx);
        let lane = Lane {
            ctx: ctx.clone(),
            m: m.clone(),
            settings: settings.clone(),
            dynamodb,
            shard: shard.clone(),
            progress: progress.clone(),
        };
        if windowed {
            tasks.spawn(window::run(lane, rx));
        } else {
            tasks.spawn(lane.run(rx));
        }
    }
    let mut pos = start_position(&settings, resume, child);
    let mut iterator: Option<String> = None;
    let limit = m.batch_size.max(1) as usize * width;
    loop {
        let (mut batch, ended) =
            gather(&ctx, &m, dynamodb, &shard, &pos, &mut iterator, limit).await;
        if let Position::AtTimestamp(t) = pos {
            // Records that arrived before the starting timestamp: some
            // services' AT_TIMESTAMP iterators (moto's) start at the last
            // record before it; AWS's never do.
            let early = batch.iter().take_while(|r| r.arrival < t).count();
            let skipped = batch.drain(..early).next_back();
            if let Some(skipped) = skipped
                && batch.is_empty()
            {
                pos = Position::After(skipped.sequence);
            }
        }
        if let Some(last) = batch.last() {
            pos = Position::After(last.sequence.clone());
            progress.read(&ctx, &m, &batch).await;
            for (tx, part) in senders.iter().zip(lanes::split(batch, width)) {
                if !part.is_empty() && tx.send(part).await.is_err() {
                    return; // a lane ended: the mapping is stopping
                }
            }
        } else if windowed {
            // Nothing new: the shard is read to its tip, and its window may
            // close by the clock.
            let _ = senders[0].send(Vec::new()).await;
        }
        if ended {
            drop(senders);
            while tasks.join_next().await.is_some() {}
            let seq = match &pos {
                Position::After(s) => Some(s.as_str()),
                _ => None,
            };
            if let Err(e) = ctx
                .mappings
                .save_checkpoint(&m.uuid, &shard, seq, true)
                .await
            {
                tracing::warn!(mapping = %m.uuid, shard, error = %e, "Cannot store the end of a shard.");
            }
            return;
        }
    }
}

/// One lane of a shard: its batches run one after another.
#[derive(Clone)]
struct Lane {
    ctx: Ctx,
    m: Mapping,
    settings: StreamSettings,
    dynamodb: bool,
    shard: String,
    progress: Arc<Progress>,
}

impl Lane {
    /// Processes the parts the shard's reader sends, joining parts that
    /// wait into batches of up to `BatchSize`, until the reader is done.
    async fn run(self, mut rx: mpsc::Receiver<Vec<StreamRecord>>) {
        let max = self.m.batch_size.max(1) as usize;
        let mut carry: Option<Vec<StreamRecord>> = None;
        loop {
            let mut batch = match carry.take() {
                Some(b) => b,
                None => match rx.recv().await {
                    Some(b) => b,
                    None => return,
                },
            };
            while batch.len() < max {
                match rx.try_recv() {
                    Ok(more) if batch.len() + more.len() <= max => batch.extend(more),
                    Ok(more) => {
                        carry = Some(more);
                        break;
                    }
                    Err(_) => break,
                }
            }
            process(&self, batch, None).await;
        }
    }
}

/// Up to `limit` records (a batch for each lane) gathered for at most the
/// batching window, and whether the shard is read to its end.
async fn gather(
    ctx: &Ctx,
    m: &Mapping,
    dynamodb: bool,
    shard: &str,
    pos: &Position,
    iterator: &mut Option<String>,
    limit: usize,
) -> (Vec<StreamRecord>, bool) {
    let origin = Origin {
        region: &ctx.region,
        source_arn: &m.event_source_arn,
        shard,
    };
    let window = Duration::from_secs(u64::from(m.window_secs));
    let deadline = Instant::now() + window;
    let mut out: Vec<StreamRecord> = Vec::new();
    loop {
        let it = match iterator.take() {
            Some(i) => i,
            None => match ctx
                .clients
                .iterator(dynamodb, &m.event_source_arn, shard, pos)
                .await
            {
                Ok(i) => i,
                Err(e) => {
                    tracing::warn!(mapping = %m.uuid, shard, error = %e, "Cannot get a shard iterator.");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    return (out, false);
                }
            },
        };
        let want = limit - out.len();
        let (records, next) = match ctx.clients.records(&origin, dynamodb, &it, want).await {
            Ok(r) => r,
            Err(e) => {
                // The iterator may have expired: the next call starts again
                // from the checkpoint (records gathered so far go first).
                tracing::warn!(mapping = %m.uuid, shard, error = %e, "Cannot read the shard.");
                if out.is_empty() {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                return (out, false);
            }
        };
        let ended = next.is_none();
        *iterator = next;
        let empty = records.is_empty();
        out.extend(records);
        if ended || out.len() >= limit || window.is_zero() && !out.is_empty() {
            return (out, ended);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        if empty {
            tokio::time::sleep(if window.is_zero() {
                POLL_INTERVAL
            } else {
                POLL_INTERVAL.min(left)
            })
            .await;
            if window.is_zero() {
                return (out, false);
            }
        }
    }
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

enum Outcome {
    /// Every record was processed, with the function's answer (`None`: no
    /// record passed the filters, and the function did not run).
    Done(Option<Bytes>),
    /// The function failed from record `index` on (0: the whole batch),
    /// with its answer when it reported the failed items itself.
    FailedFrom(usize, LastInvoke, Option<Bytes>),
    /// The invocation did not reach the function; try again later.
    NotRun,
}

/// Processes `batch` to its end: delivered, or given up and described.
/// Within a tumbling window (`window`) each call carries the window's
/// members and its answer's `state` becomes the window's (an answer
/// without one is a failed call); the checkpoint then waits for the
/// window's close. Retries, bisection, reported item failures and the
/// record age apply alike.
async fn process(lane: &Lane, batch: Vec<StreamRecord>, mut window: Option<&mut window::Open>) {
    let s = &lane.settings;
    let windowed = window.is_some();
    // Pieces still to process, in order, each with its invocations so far.
    let mut pending: VecDeque<(Vec<StreamRecord>, u32, Option<LastInvoke>)> = VecDeque::new();
    pending.push_back((batch, 0, None));
    while let Some((mut recs, invoked, last)) = pending.pop_front() {
        if s.max_record_age >= 0 {
            let now = now_secs();
            let old = recs
                .iter()
                .take_while(|r| now - r.arrival > s.max_record_age as f64)
                .count();
            if old > 0 {
                let rest = recs.split_off(old);
                give_up(
                    lane,
                    &recs,
                    Condition::RecordAgeExpired,
                    invoked,
                    last.as_ref(),
                )
                .await;
                settle(lane, &recs, windowed).await;
                if !rest.is_empty() {
                    pending.push_front((rest, invoked, last));
                }
                continue;
            }
        }
        let members = window.as_deref().map(|w| w.members(lane, false, false));
        let mut outcome = invoke(lane, &recs, members.as_ref()).await;
        if let Some(w) = window.as_deref_mut() {
            outcome = w.answered(lane, outcome);
        }
        match outcome {
            Outcome::Done(_) => settle(lane, &recs, windowed).await,
            Outcome::NotRun => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                pending.push_front((recs, invoked, last));
            }
            Outcome::FailedFrom(index, last, _) => {
                let invoked = invoked + 1;
                let mut failed = recs.split_off(index);
                settle(lane, &recs, windowed).await;
                if index == 0 && s.bisect && failed.len() > 1 {
                    let second = failed.split_off(failed.len() / 2);
                    pending.push_front((second, 0, None));
                    pending.push_front((failed, 0, None));
                    continue;
                }
                if s.max_retries >= 0 && i64::from(invoked) > s.max_retries {
                    give_up(
                        lane,
                        &failed,
                        Condition::RetryAttemptsExhausted,
                        invoked,
                        Some(&last),
                    )
                    .await;
                    settle(lane, &failed, windowed).await;
                    continue;
                }
                let backoff = Duration::from_millis(100u64 << invoked.min(6)).min(MAX_BACKOFF);
                tokio::time::sleep(backoff).await;
                pending.push_front((failed, invoked, Some(last)));
            }
        }
    }
}

/// Notes records processed (delivered or given up): the checkpoint moves
/// past them, unless they are a tumbling window's (then it moves when the
/// window closes).
async fn settle(lane: &Lane, recs: &[StreamRecord], windowed: bool) {
    if !windowed && !recs.is_empty() {
        lane.progress.finished(&lane.ctx, &lane.m, recs).await;
    }
}

/// Describes a batch that is skipped to the OnFailure destination, if any.
async fn give_up(
    lane: &Lane,
    recs: &[StreamRecord],
    condition: Condition,
    invoked: u32,
    last: Option<&LastInvoke>,
) {
    let (ctx, m, s, shard) = (&lane.ctx, &lane.m, &lane.settings, lane.shard.as_str());
    tracing::warn!(mapping = %m.uuid, shard, records = recs.len(), ?condition, "Skipping a batch of stream records.");
    if let Some(dest) = &s.on_failure {
        let mut arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            ctx.region,
            ctx.mappings.account(),
            m.function
        );
        if let Some(q) = &m.qualifier {
            arn = format!("{arn}:{q}");
        }
        let record = stream_events::failure_record(
            lane.dynamodb,
            &arn,
            condition,
            invoked,
            last,
            shard,
            &m.event_source_arn,
            recs,
            now_secs(),
        );
        if let Err(e) = ctx.destinations.send(dest, &record.to_string(), &[]).await {
            tracing::warn!(mapping = %m.uuid, error = %e, "Cannot send the OnFailure record.");
        }
    }
}

/// The index of the first record the function reported as failed, if the
/// mapping asks for reports; `Some(0)` for an invalid report.
fn first_failed(m: &Mapping, payload: &[u8], recs: &[&StreamRecord]) -> Option<usize> {
    if !m
        .response_types
        .iter()
        .any(|t| t == "ReportBatchItemFailures")
    {
        return None;
    }
    let v = serde_json::from_slice::<Value>(payload).ok()?;
    let items = v.get("batchItemFailures")?;
    if items.is_null() {
        return None;
    }
    let Some(items) = items.as_array() else {
        return Some(0);
    };
    let mut first: Option<usize> = None;
    for item in items {
        let Some(id) = item["itemIdentifier"].as_str() else {
            return Some(0);
        };
        let Some(i) = recs.iter().position(|r| r.sequence == id) else {
            return Some(0);
        };
        first = Some(first.map_or(i, |f| f.min(i)));
    }
    first
}

/// Invokes the function with `recs` (those the filters keep), with a
/// tumbling window's members added to the event when `window` is given
/// (then it runs even when no record is kept: a window's final call).
async fn invoke(lane: &Lane, recs: &[StreamRecord], window: Option<&Value>) -> Outcome {
    let (ctx, m) = (&lane.ctx, &lane.m);
    let kept: Vec<(usize, &StreamRecord)> = recs
        .iter()
        .enumerate()
        .filter(|(_, r)| m.passes(&stream_events::filter_view(&r.event)))
        .collect();
    let final_call = window.is_some_and(|w| w["isFinalInvokeForWindow"] == json!(true));
    if kept.is_empty() && !final_call {
        return Outcome::Done(None); // records the filters reject are skipped, as on AWS
    }
    let snapshot = match ctx
        .invocations
        .resolve(&ctx.region, &m.function, m.qualifier.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(mapping = %m.uuid, error = %e, "The mapping's function cannot run.");
            return Outcome::NotRun;
        }
    };
    let events: Vec<Value> = kept
        .iter()
        .map(|(_, r)| {
            let mut e = r.event.clone();
            if e.get("invokeIdentityArn").is_some() {
                e["invokeIdentityArn"] = json!(snapshot.role);
            }
            e
        })
        .collect();
    let mut payload = json!({ "Records": events });
    if let (Some(Value::Object(w)), Some(p)) = (window, payload.as_object_mut()) {
        p.extend(w.clone());
    }
    let payload = payload.to_string();
    if payload.len() > MAX_SYNC_PAYLOAD && recs.len() > 1 {
        tracing::warn!(mapping = %m.uuid, "A batch is larger than an invocation's payload limit.");
    }
    let req = Invocations::request(
        snapshot,
        m.qualifier.as_deref(),
        &uuid::Uuid::new_v4().to_string(),
        Bytes::from(payload),
    );
    let source = if lane.dynamodb { "dynamodb" } else { "kinesis" };
    let count = |failed: bool| {
        ctx.mappings
            .metrics()
            .batch(&m.uuid, source, &m.function, kept.len(), failed);
    };
    let resp = match ctx
        .invocations
        .invoke(req, Trigger::Event, Duration::ZERO, true)
        .await
    {
        Ok(r) => r,
        Err(InvocationError::Invoke(InvokeError::Throttled(_))) => return Outcome::NotRun,
        Err(e) => {
            tracing::warn!(mapping = %m.uuid, error = %e, "Invocation for the stream failed.");
            count(true);
            return Outcome::NotRun;
        }
    };
    let last = LastInvoke {
        executed_version: resp.executed_version.clone(),
        function_error: resp.function_error.map(str::to_owned),
    };
    if resp.function_error.is_some() {
        count(true);
        return Outcome::FailedFrom(0, last, None);
    }
    let kept_refs: Vec<&StreamRecord> = kept.iter().map(|(_, r)| *r).collect();
    match first_failed(m, &resp.payload, &kept_refs) {
        Some(i) => {
            count(true);
            Outcome::FailedFrom(kept.get(i).map_or(0, |k| k.0), last, Some(resp.payload))
        }
        None => {
            count(false);
            Outcome::Done(Some(resp.payload))
        }
    }
}
