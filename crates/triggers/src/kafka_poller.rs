//! The self-managed Apache Kafka side of event source mappings, over the
//! pure-Rust `rskafka` client. For each enabled Kafka mapping one task
//! connects to the mapping's bootstrap servers, lists the topic's
//! partitions (again every [`PARTITION_REFRESH`], so partitions added later
//! are read too) and runs one worker per partition. A partition is read as
//! a stream's shard: in offset order, one batch at a time (up to
//! `BatchSize` records, gathered for at most the batching window, at least
//! [`MIN_WINDOW`], Lambda's default for Kafka, and under the synchronous
//! payload limit), invoked synchronously through the funnel. Only after
//! the function succeeded does the partition's checkpoint (the next offset
//! to read) move past the batch, in lambdad's store under the mapping's
//! UUID and `TOPIC-PARTITION`: a restart resumes right after the last
//! processed batch (at least once, in order, no gap). A failing batch is
//! retried, backing off, until it succeeds, as Lambda does for Kafka: no
//! record is skipped or reordered. Records the filters reject are skipped.
//! The starting position is resolved once, when a partition has no
//! checkpoint, and stored at once, so `LATEST` means the mapping's start.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lambdad_service::esm::kafka::KafkaSettings;
use lambdad_service::esm::{Mapping, Mappings};
use lambdad_service::invocations::{Invocations, MAX_SYNC_PAYLOAD};
use rskafka::BackoffConfig;
use rskafka::chrono::{DateTime, TimeZone, Utc};
use rskafka::client::error::{Error as KafkaError, ProtocolError};
use rskafka::client::partition::{OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use serde_json::Value;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::batch_invoke::{self, Outcome};
use crate::kafka_events;
use crate::supervisor;

/// The shortest time a batch is gathered for (Lambda's default batching
/// window for Kafka).
pub const MIN_WINDOW: Duration = Duration::from_millis(500);
/// How often the topic's partitions are listed again.
const PARTITION_REFRESH: Duration = Duration::from_secs(5);
/// The first and the longest pause before connecting again.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
/// The longest pause between retries of a failed batch.
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// How long one fetch waits on the broker for records.
const FETCH_WAIT: Duration = Duration::from_millis(250);
/// How long the client retries one request before giving up (then the
/// worker reconnects).
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// The most bytes one fetch asks for while the starting offset is looked for.
const PROBE_BYTES: i32 = 1024 * 1024;
/// How long such a fetch waits for records (tansu answers a fetch that may
/// not wait with no topic at all).
const PROBE_WAIT_MS: i32 = 1;
/// Room kept in the payload for the event's envelope.
const ENVELOPE: usize = 4096;

#[derive(Clone)]
struct Ctx {
    mappings: Mappings,
    invocations: Invocations,
    region: String,
}

/// Keeps one consumer per enabled Kafka mapping, restarting it when the
/// mapping changes, until `shutdown` is cancelled.
pub async fn run(
    mappings: Mappings,
    invocations: Invocations,
    region: String,
    shutdown: CancellationToken,
) {
    let ctx = Ctx {
        mappings,
        invocations,
        region,
    };
    let kind = |m: &Mapping| m.kafka.is_some();
    let poll = |m: Mapping, stop: CancellationToken| {
        supervisor::until_stopped(poll_mapping(ctx.clone(), m), stop)
    };
    supervisor::run(&ctx.mappings, kind, poll, shutdown).await;
}

async fn connect(k: &KafkaSettings) -> Result<Client, String> {
    ClientBuilder::new(k.bootstrap_servers.clone())
        .client_id("lambdad")
        .backoff_config(BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
            deadline: Some(REQUEST_DEADLINE),
        })
        .build()
        .await
        .map_err(|e| format!("cannot connect: {e}"))
}

/// Runs the mapping's partition workers (dropped, and so aborted, with
/// it), reconnecting with back-off.
async fn poll_mapping(ctx: Ctx, m: Mapping) {
    let Some(k) = m.kafka.clone() else {
        return;
    };
    let mut backoff = BACKOFF.0;
    loop {
        match connect(&k).await {
            Ok(client) => {
                backoff = BACKOFF.0;
                let e = run_partitions(&ctx, &m, &k, Arc::new(client)).await;
                tracing::warn!(mapping = %m.uuid, error = %e, "The mapping's Kafka cluster is unavailable.");
            }
            Err(e) => {
                tracing::warn!(mapping = %m.uuid, error = %e, retry_in = ?backoff, "The mapping's Kafka cluster is unavailable.");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

/// Starts a worker per partition of the topic as partitions appear;
/// returns why it stopped when the cluster cannot be read at all.
async fn run_partitions(ctx: &Ctx, m: &Mapping, k: &KafkaSettings, client: Arc<Client>) -> String {
    let mut workers: JoinSet<()> = JoinSet::new();
    let mut started: HashSet<i32> = HashSet::new();
    loop {
        match client.list_topics().await {
            Ok(topics) => match topics.into_iter().find(|t| t.name == k.topic) {
                Some(t) => {
                    for p in t.partitions {
                        if started.insert(p) {
                            workers.spawn(partition_worker(
                                ctx.clone(),
                                m.clone(),
                                k.clone(),
                                client.clone(),
                                p,
                            ));
                        }
                    }
                }
                None => {
                    tracing::warn!(mapping = %m.uuid, topic = %k.topic, "The mapping's topic does not exist (yet).");
                }
            },
            Err(e) if started.is_empty() => return format!("cannot list the topics: {e}"),
            Err(e) => {
                tracing::warn!(mapping = %m.uuid, error = %e, "Cannot list the topics; retrying.");
            }
        }
        let refresh = tokio::time::sleep(PARTITION_REFRESH);
        tokio::pin!(refresh);
        loop {
            tokio::select! {
                () = &mut refresh => break,
                Some(_) = workers.join_next() => {}
            }
        }
    }
}

/// Reads one partition until the mapping stops, starting again after a
/// failure of the connection.
async fn partition_worker(
    ctx: Ctx,
    m: Mapping,
    k: KafkaSettings,
    client: Arc<Client>,
    partition: i32,
) {
    let mut pause = BACKOFF.0;
    loop {
        let result = match client
            .partition_client(k.topic.clone(), partition, UnknownTopicHandling::Retry)
            .await
        {
            Ok(pc) => consume(&ctx, &m, &k, &pc, partition).await,
            Err(e) => Err(format!("cannot reach the partition's leader: {e}")),
        };
        if let Err(e) = result {
            tracing::warn!(mapping = %m.uuid, partition, error = %e, retry_in = ?pause, "Cannot read a Kafka partition.");
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(BACKOFF.1);
    }
}

/// The offset a partition without checkpoint starts at.
async fn start_offset(k: &KafkaSettings, pc: &PartitionClient) -> Result<i64, KafkaError> {
    match k.starting_position.as_str() {
        "TRIM_HORIZON" => pc.get_offset(OffsetAt::Earliest).await,
        "AT_TIMESTAMP" => {
            let millis = (k.starting_timestamp.unwrap_or(0.0) * 1000.0) as i64;
            match Utc.timestamp_millis_opt(millis).single() {
                Some(t) => at_timestamp(pc, t).await,
                None => pc.get_offset(OffsetAt::Earliest).await,
            }
        }
        _ => latest(pc).await,
    }
}

/// The end of the partition: the offset the next record produced gets.
/// ListOffsets' answer is checked against the high watermark of a fetch
/// there, and the larger one taken: some brokers (tansu) answer with the
/// base offset of the last record batch plus one, which would deliver
/// records produced before the mapping; on Apache Kafka both agree.
async fn latest(pc: &PartitionClient) -> Result<i64, KafkaError> {
    let listed = pc.get_offset(OffsetAt::Latest).await?;
    let (_, high) = pc
        .fetch_records(listed.max(0), 1..PROBE_BYTES, PROBE_WAIT_MS)
        .await?;
    Ok(listed.max(high))
}

/// The first offset whose record's timestamp is at or after `t` (the end
/// of the partition when there is none), as the broker's ListOffsets finds
/// it. Records before the first one at or after `t` are stepped over: on
/// Apache Kafka there are none (that is what the answer means), but some
/// brokers (tansu) answer a timestamp past every record with offset 0
/// instead of -1, or with the start of a record batch that begins earlier.
async fn at_timestamp(pc: &PartitionClient, t: DateTime<Utc>) -> Result<i64, KafkaError> {
    let mut offset = match pc.get_offset(OffsetAt::Timestamp(t)).await? {
        -1 => return latest(pc).await,
        o => o,
    };
    loop {
        let (records, high) = pc
            .fetch_records(offset, 1..PROBE_BYTES, PROBE_WAIT_MS)
            .await?;
        if records.is_empty() {
            return Ok(offset);
        }
        match records
            .iter()
            .find(|r| r.offset >= offset && r.record.timestamp >= t)
        {
            Some(r) => return Ok(r.offset),
            None => offset = records.iter().map(|r| r.offset + 1).max().unwrap_or(offset),
        }
        if offset >= high {
            return Ok(offset);
        }
    }
}

/// Reads the partition from its checkpoint, batch after batch.
async fn consume(
    ctx: &Ctx,
    m: &Mapping,
    k: &KafkaSettings,
    pc: &PartitionClient,
    partition: i32,
) -> Result<(), String> {
    let shard = k.partition_key(partition);
    let checkpoints = ctx
        .mappings
        .checkpoints(&m.uuid)
        .await
        .map_err(|e| format!("cannot read the checkpoints: {e}"))?;
    let saved = checkpoints
        .iter()
        .find(|c| c.shard == shard)
        .and_then(|c| c.sequence.as_deref())
        .and_then(|s| s.parse::<i64>().ok());
    let mut next = match saved {
        Some(n) => n,
        None => {
            let n = start_offset(k, pc)
                .await
                .map_err(|e| format!("cannot find the starting offset: {e}"))?;
            save(ctx, m, &shard, n).await?;
            n
        }
    };
    tracing::info!(mapping = %m.uuid, partition = %shard, offset = next, "Reading a Kafka partition.");
    loop {
        let (batch, high) = match gather(m, k, pc, partition, next).await {
            Ok(b) => b,
            Err(KafkaError::ServerError {
                protocol_error: ProtocolError::OffsetOutOfRange,
                ..
            }) => {
                // Records removed by retention (or a topic made anew):
                // start again at the oldest record kept.
                let earliest = pc
                    .get_offset(OffsetAt::Earliest)
                    .await
                    .map_err(|e| format!("cannot find the earliest offset: {e}"))?;
                tracing::warn!(mapping = %m.uuid, partition = %shard, from = next, to = earliest, "The checkpoint is outside the partition; moving to its earliest record.");
                next = earliest;
                save(ctx, m, &shard, next).await?;
                continue;
            }
            Err(e) => return Err(format!("cannot fetch records: {e}")),
        };
        ctx.mappings.metrics().lag(
            &m.uuid,
            "kafka",
            &m.function,
            &shard,
            usize::try_from(high - next).unwrap_or(0),
        );
        let Some(last) = batch.last().map(|r| r.offset) else {
            continue;
        };
        deliver(ctx, m, k, &shard, batch).await;
        next = last + 1;
        save(ctx, m, &shard, next).await?;
    }
}

async fn save(ctx: &Ctx, m: &Mapping, shard: &str, next: i64) -> Result<(), String> {
    ctx.mappings
        .save_checkpoint(&m.uuid, shard, Some(&next.to_string()), false)
        .await
        .map_err(|e| format!("cannot store the checkpoint: {e}"))
}

/// A record read: its offset and its rendering in the event.
struct Read {
    offset: i64,
    record: Value,
}

/// Up to `BatchSize` records from offset `next` on, gathered for the
/// batching window and under the payload limit, and the partition's high
/// watermark. A record that alone exceeds the payload limit is left out
/// (as Lambda drops records over the limit).
async fn gather(
    m: &Mapping,
    k: &KafkaSettings,
    pc: &PartitionClient,
    partition: i32,
    next: i64,
) -> Result<(Vec<Read>, i64), KafkaError> {
    let window = Duration::from_secs(u64::from(m.window_secs)).max(MIN_WINDOW);
    let deadline = tokio::time::Instant::now() + window;
    let limit = MAX_SYNC_PAYLOAD - ENVELOPE;
    let mut out: Vec<Read> = Vec::new();
    let mut size = 0;
    let mut offset = next;
    let mut high = next;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let wait = FETCH_WAIT.min(left).as_millis().max(1) as i32;
        let (records, watermark) = pc
            .fetch_records(offset, 1..MAX_SYNC_PAYLOAD as i32, wait)
            .await?;
        high = high.max(watermark);
        for r in &records {
            if r.offset < offset {
                continue;
            }
            let record = kafka_events::record(&k.topic, partition, r);
            let len = record.to_string().len() + 1;
            if len > limit {
                tracing::warn!(mapping = %m.uuid, offset = r.offset, bytes = len, "A Kafka record is too large for an invocation; skipping it.");
                offset = r.offset + 1;
                continue;
            }
            if size + len > limit || out.len() >= m.batch_size as usize {
                return Ok((out, high));
            }
            size += len;
            offset = r.offset + 1;
            out.push(Read {
                offset: r.offset,
                record,
            });
        }
        if out.len() >= m.batch_size as usize || tokio::time::Instant::now() >= deadline {
            return Ok((out, high));
        }
    }
}

/// Delivers `batch` (those of its records the filters keep) until the
/// function succeeds: a failed batch is retried as it is, backing off.
async fn deliver(ctx: &Ctx, m: &Mapping, k: &KafkaSettings, shard: &str, batch: Vec<Read>) {
    let records: Vec<Value> = batch
        .into_iter()
        .filter(|r| m.passes(&kafka_events::filter_view(&r.record)))
        .map(|r| r.record)
        .collect();
    if records.is_empty() {
        return; // records the filters reject are skipped, as on AWS
    }
    let count = records.len();
    let payload =
        Bytes::from(kafka_events::event(&k.bootstrap_servers, shard, records).to_string());
    let mut failures: u32 = 0;
    loop {
        match batch_invoke::invoke(&ctx.invocations, &ctx.region, m, payload.clone()).await {
            Outcome::Success => {
                ctx.mappings
                    .metrics()
                    .batch(&m.uuid, "kafka", &m.function, count, false);
                return;
            }
            Outcome::FunctionError => {
                ctx.mappings
                    .metrics()
                    .batch(&m.uuid, "kafka", &m.function, count, true);
                failures += 1;
                let pause = Duration::from_millis(100u64 << failures.min(6)).min(MAX_RETRY_PAUSE);
                tracing::warn!(mapping = %m.uuid, partition = shard, records = count, failures, "The function failed a Kafka batch; retrying it.");
                tokio::time::sleep(pause).await;
            }
            Outcome::NotRun(pause) => tokio::time::sleep(pause).await,
        }
    }
}
