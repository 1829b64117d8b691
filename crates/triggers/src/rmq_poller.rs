//! The RabbitMQ side of event source mappings (Amazon MQ for RabbitMQ's
//! shape). For each enabled broker mapping one task connects to the broker
//! the mapping's ARN names (`--broker NAME=amqp://…`; credentials of the
//! `BASIC_AUTH` secret from `--secret`, else the URL's), opens the mapping's
//! virtual host, and consumes its queue with a prefetch of `BatchSize`: one
//! batch in flight per mapping, as Amazon MQ's concurrency of one for
//! RabbitMQ. A batch (up to `BatchSize` messages, gathered for at most the
//! batching window, at least [`MIN_WINDOW`], and under the synchronous
//! payload limit) is invoked through the funnel; its messages are
//! acknowledged only after the function succeeds. When the function fails
//! the batch is returned to the queue (`basic.nack` with requeue, after
//! [`REDELIVERY_DELAY`]), so it comes back with `redelivered: true`; a
//! message that has failed [`MAX_DELIVERIES`] times (the first delivery and
//! the 6 redeliveries of Amazon MQ's redelivery policy) is rejected without
//! requeue: the broker moves it to the queue's dead-letter exchange when
//! the queue has one, and drops it otherwise. A lost connection is retried
//! with back-off (unacknowledged messages go back to the queue with the
//! connection); a disabled or deleted mapping closes its connection.

use std::collections::{BTreeMap, HashMap};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use lambdad_service::esm::Mapping;
use lambdad_service::esm::Mappings;
use lambdad_service::esm::broker::{BrokerSettings, broker_name};
use lambdad_service::esm::metrics::MappingMetrics;
use lambdad_service::invocations::{Invocations, MAX_SYNC_PAYLOAD};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::uri::{AMQPUri, AMQPUserInfo};
use lapin::{Channel, Connection, ConnectionProperties, Consumer};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::batch_invoke::{self, Outcome};
use crate::rmq_events;
use crate::supervisor;

/// Deliveries of one message before it is rejected without requeue: the
/// first and Amazon MQ's 6 redeliveries.
pub const MAX_DELIVERIES: u32 = 7;
/// The shortest time a batch is gathered for (Amazon MQ's default window).
pub const MIN_WINDOW: Duration = Duration::from_millis(500);
/// The pause before a failed batch goes back to the queue (Amazon MQ's
/// redelivery delay).
pub const REDELIVERY_DELAY: Duration = Duration::from_secs(1);
/// The first and the longest pause before connecting again.
const BACKOFF: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(30));
/// Room kept in the payload for the event's envelope.
const ENVELOPE: usize = 4096;
/// Most messages whose failures are counted at once (then the counts restart).
const MAX_COUNTED: usize = 100_000;

/// The brokers that mappings may name, from lambdad's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Brokers {
    /// Broker NAME (of `arn:aws:mq:…:broker:NAME:ID`) → AMQP URL.
    pub urls: BTreeMap<String, String>,
    /// Secret ARN (of `BASIC_AUTH`) → (user name, password).
    pub secrets: BTreeMap<String, (String, String)>,
}

impl Brokers {
    /// The URI to connect to for mapping `m` of broker settings `b`.
    fn uri(&self, m: &Mapping, b: &BrokerSettings) -> Result<AMQPUri, String> {
        let name = broker_name(&m.event_source_arn).unwrap_or_default();
        let url = self.urls.get(name).ok_or_else(|| {
            format!("no broker {name:?} is configured (--broker {name}=amqp://HOST:PORT)")
        })?;
        let mut uri: AMQPUri = url
            .parse()
            .map_err(|e| format!("the URL of broker {name:?} is invalid: {e}"))?;
        uri.vhost = b.virtual_host.clone();
        if let Some(secret) = &b.secret {
            let (username, password) = self.secrets.get(secret).ok_or_else(|| {
                format!("no secret {secret:?} is configured (--secret {secret}=USER:PASSWORD)")
            })?;
            uri.authority.userinfo = AMQPUserInfo {
                username: username.clone(),
                password: password.clone(),
            };
        }
        Ok(uri)
    }
}

/// Checks a broker's URL: `amqp://[USER:PASSWORD@]HOST[:PORT]`.
pub fn check_url(url: &str) -> Result<(), String> {
    if !url.starts_with("amqp://") {
        return Err(format!("{url:?} is not an amqp:// URL"));
    }
    url.parse::<AMQPUri>()
        .map(|_| ())
        .map_err(|e| format!("{url:?} is not an AMQP URL: {e}"))
}

#[derive(Clone)]
struct Ctx {
    invocations: Invocations,
    region: String,
    brokers: Arc<Brokers>,
    metrics: MappingMetrics,
}

/// Keeps one consumer per enabled broker mapping, restarting it when the
/// mapping changes, until `shutdown` is cancelled.
pub async fn run(
    mappings: Mappings,
    invocations: Invocations,
    region: String,
    brokers: Brokers,
    shutdown: CancellationToken,
) {
    let ctx = Ctx {
        metrics: mappings.metrics().clone(),
        invocations,
        region,
        brokers: Arc::new(brokers),
    };
    let kind = |m: &Mapping| m.broker.is_some();
    let poll = |m: Mapping, stop: CancellationToken| poll_mapping(ctx.clone(), m, stop);
    supervisor::run(&mappings, kind, poll, shutdown).await;
}

/// Consumes the mapping's queue until `stop`, reconnecting with back-off.
async fn poll_mapping(ctx: Ctx, m: Mapping, stop: CancellationToken) {
    let Some(b) = m.broker.clone() else {
        return;
    };
    let mut state = State {
        backoff: BACKOFF.0,
        failures: HashMap::new(),
    };
    while !stop.is_cancelled() {
        if let Err(e) = connect_and_consume(&ctx, &m, &b, &stop, &mut state).await {
            tracing::warn!(mapping = %m.uuid, error = %e, retry_in = ?state.backoff, "The mapping's broker is unavailable.");
            tokio::select! {
                () = tokio::time::sleep(state.backoff) => {}
                () = stop.cancelled() => {}
            }
            state.backoff = (state.backoff * 2).min(BACKOFF.1);
        }
    }
}

/// What a mapping's consumer keeps across connections.
struct State {
    backoff: Duration,
    /// Failed deliveries per message (by [`identity`]).
    failures: HashMap<u64, u32>,
}

async fn connect_and_consume(
    ctx: &Ctx,
    m: &Mapping,
    b: &BrokerSettings,
    stop: &CancellationToken,
    state: &mut State,
) -> Result<(), String> {
    let uri = ctx.brokers.uri(m, b)?;
    let name = format!("lambdad mapping {}", m.uuid);
    let properties = ConnectionProperties::default().with_connection_name(name.into());
    let conn = Connection::connect_uri(uri, properties)
        .await
        .map_err(|e| format!("cannot connect: {e}"))?;
    let result = consume(ctx, m, b, &conn, stop, state).await;
    // Unacknowledged messages go back to the queue with the connection.
    let close = conn.close(200, "lambdad: the mapping stopped".into());
    let _ = tokio::time::timeout(Duration::from_secs(5), close).await;
    result
}

async fn consume(
    ctx: &Ctx,
    m: &Mapping,
    b: &BrokerSettings,
    conn: &Connection,
    stop: &CancellationToken,
    state: &mut State,
) -> Result<(), String> {
    let channel = conn
        .create_channel()
        .await
        .map_err(|e| format!("cannot open a channel: {e}"))?;
    let prefetch = u16::try_from(m.batch_size).unwrap_or(u16::MAX);
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| format!("cannot set the prefetch: {e}"))?;
    let mut consumer = channel
        .basic_consume(
            b.queue.as_str().into(),
            format!("lambdad-{}", m.uuid).into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("cannot consume queue {:?}: {e}", b.queue))?;
    tracing::info!(mapping = %m.uuid, queue = %b.queue, vhost = %b.virtual_host, "Consuming the mapping's queue.");
    state.backoff = BACKOFF.0;
    let mut carry = None;
    loop {
        let batch = tokio::select! {
            batch = gather(&mut consumer, m, carry.take()) => batch?,
            () = stop.cancelled() => return Ok(()),
        };
        carry = batch.carry;
        process(ctx, m, b, &channel, batch.messages, state).await?;
    }
}

/// A message: its delivery tag, identity and record in the event.
struct Message {
    tag: u64,
    id: u64,
    record: Value,
    size: usize,
}

impl Message {
    fn new(delivery: &Delivery) -> Self {
        let record = rmq_events::record(delivery.redelivered, &delivery.properties, &delivery.data);
        let size = record.to_string().len() + 1;
        Self {
            tag: delivery.delivery_tag,
            id: identity(delivery),
            record,
            size,
        }
    }
}

/// A batch, and the message that did not fit in it.
struct Batch {
    messages: Vec<Message>,
    carry: Option<Message>,
}

/// Waits for a first message, then gathers more for the batching window,
/// up to `BatchSize` and the payload limit.
async fn gather(
    consumer: &mut Consumer,
    m: &Mapping,
    carry: Option<Message>,
) -> Result<Batch, String> {
    let next = async |consumer: &mut Consumer| match consumer.next().await {
        Some(Ok(d)) => Ok(Message::new(&d)),
        Some(Err(e)) => Err(format!("the connection failed: {e}")),
        None => Err("the broker cancelled the consumer".to_owned()),
    };
    let first = match carry {
        Some(c) => c,
        None => next(consumer).await?,
    };
    let window = Duration::from_secs(u64::from(m.window_secs)).max(MIN_WINDOW);
    let deadline = tokio::time::Instant::now() + window;
    let mut size = first.size;
    let mut messages = vec![first];
    while messages.len() < m.batch_size as usize {
        let Ok(msg) = tokio::time::timeout_at(deadline, next(consumer)).await else {
            break;
        };
        let msg = msg?;
        if size + msg.size > MAX_SYNC_PAYLOAD - ENVELOPE {
            return Ok(Batch {
                messages,
                carry: Some(msg),
            });
        }
        size += msg.size;
        messages.push(msg);
    }
    Ok(Batch {
        messages,
        carry: None,
    })
}

/// A message's identity for counting its failed deliveries: its body and properties.
fn identity(d: &Delivery) -> u64 {
    let mut h = DefaultHasher::new();
    d.data.hash(&mut h);
    format!("{:?}", d.properties).hash(&mut h);
    h.finish()
}

/// The record as filters see it: `data` decoded and parsed when it is JSON.
fn filter_view(record: &Value) -> Value {
    use base64::Engine as _;
    let mut v = record.clone();
    if let Some(parsed) = record["data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        v["data"] = parsed;
    }
    v
}

fn amqp(e: lapin::Error) -> String {
    format!("the channel failed: {e}")
}

async fn process(
    ctx: &Ctx,
    m: &Mapping,
    b: &BrokerSettings,
    channel: &Channel,
    batch: Vec<Message>,
    state: &mut State,
) -> Result<(), String> {
    let mut kept = Vec::new();
    for msg in batch {
        if msg.size > MAX_SYNC_PAYLOAD - ENVELOPE {
            // Too large for any invocation: dropped as on AWS (or dead-lettered).
            tracing::warn!(mapping = %m.uuid, bytes = msg.size, "A message is too large for an invocation; rejecting it.");
            let reject = BasicRejectOptions { requeue: false };
            channel.basic_reject(msg.tag, reject).await.map_err(amqp)?;
        } else if !m.passes(&filter_view(&msg.record)) {
            // Messages the filters reject are consumed, as on AWS.
            channel
                .basic_ack(msg.tag, BasicAckOptions::default())
                .await
                .map_err(amqp)?;
        } else {
            kept.push(msg);
        }
    }
    let Some(last) = kept.last().map(|k| k.tag) else {
        return Ok(());
    };
    let deliveries: Vec<(u64, u64)> = kept.iter().map(|k| (k.tag, k.id)).collect();
    let records: Vec<Value> = kept.into_iter().map(|k| k.record).collect();
    let event = rmq_events::event(&m.event_source_arn, &b.queue_key(), records);
    let payload = Bytes::from(event.to_string());
    let outcome = batch_invoke::invoke(&ctx.invocations, &ctx.region, m, payload).await;
    if !matches!(outcome, Outcome::NotRun(_)) {
        let failed = matches!(outcome, Outcome::FunctionError);
        ctx.metrics
            .batch(&m.uuid, "rmq", &m.function, deliveries.len(), failed);
    }
    match outcome {
        Outcome::Success => {
            for (_, id) in &deliveries {
                state.failures.remove(id);
            }
            let ack = BasicAckOptions { multiple: true };
            channel.basic_ack(last, ack).await.map_err(amqp)
        }
        Outcome::FunctionError => {
            tokio::time::sleep(REDELIVERY_DELAY).await;
            if state.failures.len() > MAX_COUNTED {
                state.failures.clear();
            }
            for &(tag, id) in &deliveries {
                let count = state.failures.entry(id).or_insert(0);
                *count += 1;
                if *count >= MAX_DELIVERIES {
                    state.failures.remove(&id);
                    tracing::warn!(mapping = %m.uuid, "A message failed {MAX_DELIVERIES} times; rejecting it (to the queue's dead-letter exchange, if any).");
                    let reject = BasicRejectOptions { requeue: false };
                    channel.basic_reject(tag, reject).await.map_err(amqp)?;
                } else {
                    let nack = BasicNackOptions {
                        multiple: false,
                        requeue: true,
                    };
                    channel.basic_nack(tag, nack).await.map_err(amqp)?;
                }
            }
            Ok(())
        }
        Outcome::NotRun(pause) => {
            tokio::time::sleep(pause).await;
            let nack = BasicNackOptions {
                multiple: true,
                requeue: true,
            };
            channel.basic_nack(last, nack).await.map_err(amqp)
        }
    }
}
