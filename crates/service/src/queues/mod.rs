//! The built-in SQS service: queues (create, attributes, tags, list, purge,
//! delete) here, messages in [`messages`], attributes and digests in
//! [`attributes`], errors in [`error`]. Queues are named by URL
//! (`http://HOST/ACCOUNT/NAME`) or ARN (`arn:aws:sqs:REGION:ACCOUNT:NAME`)
//! of lambdad's account; state lives in the store (`QueueStore`), so it
//! survives restarts; long polls wait on a per-queue notification.

pub mod attributes;
pub mod error;
pub mod messages;
pub mod moves;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use lambdad_store::StoreError;
use lambdad_store::queues::{QueueCounts, QueueRecord};
use serde::Deserialize;

use crate::context::{Context, blocking};
use crate::error::ServiceError;
use attributes::{COMPUTED, known, valid_queue_name, validate, with_defaults};
pub use error::QueuesError;

/// Largest `MaxResults` of ListQueues.
const MAX_LIST_RESULTS: usize = 1000;
/// Most tags a queue may carry.
const MAX_TAGS: usize = 50;

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// CreateQueue's input.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateQueueInput {
    /// The name.
    pub queue_name: Option<String>,
    /// Attributes to set.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Tags (lowercase `tags` on the wire).
    #[serde(default, rename = "tags")]
    pub tags: BTreeMap<String, String>,
}

/// Message counters of one queue since start-up.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Messages sent.
    pub sent: AtomicU64,
    /// Messages received (each receive counts).
    pub received: AtomicU64,
    /// Messages deleted.
    pub deleted: AtomicU64,
}

/// One queue's metrics.
#[derive(Debug, Clone)]
pub struct QueueMetrics {
    /// The queue.
    pub name: String,
    /// Counters since start-up: sent, received, deleted.
    pub sent: u64,
    /// Received.
    pub received: u64,
    /// Deleted.
    pub deleted: u64,
    /// Its message counts now.
    pub counts: QueueCounts,
}

#[derive(Debug, Default)]
struct Shared {
    /// Wakes long polls of a queue when messages arrive.
    waiters: Mutex<HashMap<String, Arc<tokio::sync::Notify>>>,
    stats: Mutex<HashMap<String, Arc<QueueStats>>>,
    /// The last PurgeQueue of each queue (epoch ms).
    purges: Mutex<HashMap<String, i64>>,
    /// Message move tasks, by source queue ARN.
    moves: moves::MoveTasks,
}

/// The built-in SQS service.
#[derive(Clone, Debug)]
pub struct Queues {
    ctx: Context,
    shared: Arc<Shared>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Queues {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            shared: Arc::default(),
        }
    }

    /// The account queues belong to.
    pub fn account(&self) -> &str {
        &self.ctx.account
    }

    pub(crate) fn waiter(&self, name: &str) -> Arc<tokio::sync::Notify> {
        lock(&self.shared.waiters)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    pub(crate) fn stats(&self, name: &str) -> Arc<QueueStats> {
        lock(&self.shared.stats)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// The queue name a queue URL names (`…/ACCOUNT/NAME`, this account's only).
    pub fn name_of_url(&self, url: &str) -> Result<String, QueuesError> {
        let path = url
            .split_once("://")
            .map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
        let mut parts = path.trim_matches('/').rsplit('/');
        match (parts.next(), parts.next()) {
            (Some(name), Some(account)) if account == self.ctx.account && !name.is_empty() => {
                Ok(name.to_owned())
            }
            _ => Err(QueuesError::NoSuchQueue),
        }
    }

    /// The name of a queue ARN of this account and `region`, if it is one.
    pub fn name_of_arn(&self, arn: &str, region: &str) -> Option<String> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "sqs", r, account, name]
                if *r == region && *account == self.ctx.account && !name.is_empty() =>
            {
                Some((*name).to_owned())
            }
            _ => None,
        }
    }

    /// A queue's ARN.
    pub fn arn(&self, region: &str, name: &str) -> String {
        format!("arn:aws:sqs:{region}:{}:{name}", self.ctx.account)
    }

    pub(crate) async fn queue(&self, name: &str) -> Result<QueueRecord, QueuesError> {
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        blocking(move || store.get_queue(&key))
            .await?
            .ok_or(QueuesError::NoSuchQueue)
    }

    /// Whether queue `name` exists.
    pub async fn exists(&self, name: &str) -> Result<bool, QueuesError> {
        match self.queue(name).await {
            Ok(_) => Ok(true),
            Err(QueuesError::NoSuchQueue) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// CreateQueue: the queue's name (an existing queue with the same
    /// attributes is answered as created).
    pub async fn create_queue(
        &self,
        region: &str,
        input: CreateQueueInput,
    ) -> Result<String, QueuesError> {
        let name = input
            .queue_name
            .ok_or(QueuesError::MissingParameter("QueueName"))?;
        let fifo = input.attributes.get("FifoQueue").map(String::as_str) == Some("true");
        validate(fifo, true, &input.attributes)?;
        if !valid_queue_name(&name, fifo) {
            return Err(QueuesError::InvalidParameterValue(
                if fifo || name.ends_with(".fifo") {
                    "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.".to_owned()
                } else {
                    "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length".to_owned()
                },
            ));
        }
        if input.tags.len() > MAX_TAGS {
            return Err(QueuesError::InvalidParameterValue(format!(
                "Too many tags added for queue {name}."
            )));
        }
        self.check_redrive(region, fifo, &input.attributes).await?;
        let now = now_ms();
        let attrs = with_defaults(fifo, &input.attributes);
        let record = QueueRecord {
            name: name.clone(),
            region: region.to_owned(),
            attributes: serde_json::to_string(&attrs).map_err(json_err)?,
            tags: serde_json::to_string(&input.tags).map_err(json_err)?,
            created_ms: now,
            modified_ms: now,
        };
        let store = self.ctx.store.clone();
        match blocking(move || store.create_queue(&record)).await {
            Ok(()) => Ok(name),
            Err(ServiceError::Store(StoreError::AlreadyExists { .. })) => {
                let existing = self.queue(&name).await?;
                let current: BTreeMap<String, String> =
                    serde_json::from_str(&existing.attributes).map_err(json_err)?;
                let existing_fifo = name.ends_with(".fifo");
                for (k, v) in &with_defaults(existing_fifo, &input.attributes) {
                    if input.attributes.contains_key(k) && current.get(k) != Some(v) {
                        return Err(QueuesError::NameExists(k.clone()));
                    }
                }
                Ok(name)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Checks that a RedrivePolicy names an existing queue of the same kind.
    async fn check_redrive(
        &self,
        region: &str,
        fifo: bool,
        attrs: &BTreeMap<String, String>,
    ) -> Result<(), QueuesError> {
        let Some(value) = attrs.get("RedrivePolicy").filter(|v| !v.is_empty()) else {
            return Ok(());
        };
        let policy = attributes::redrive_policy(value)?;
        let invalid = |why: &str| {
            QueuesError::InvalidParameterValue(format!(
                "Value {value} for parameter RedrivePolicy is invalid. Reason: {why}"
            ))
        };
        let dlq = self
            .name_of_arn(&policy.dead_letter_target_arn, region)
            .ok_or_else(|| invalid("Dead-letter target does not exist."))?;
        if !self.exists(&dlq).await? {
            return Err(invalid("Dead-letter target does not exist."));
        }
        if dlq.ends_with(".fifo") != fifo {
            return Err(invalid(
                "Dead-letter queue must be same type of queue as the source.",
            ));
        }
        Ok(())
    }

    /// DeleteQueue.
    pub async fn delete_queue(&self, name: &str) -> Result<(), QueuesError> {
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        if !blocking(move || store.delete_queue(&key)).await? {
            return Err(QueuesError::NoSuchQueue);
        }
        lock(&self.shared.stats).remove(name);
        Ok(())
    }

    /// ListQueues: names with `prefix`, after the `next_token`, at most
    /// `max` (then a token for the rest).
    pub async fn list_queues(
        &self,
        prefix: Option<&str>,
        next_token: Option<&str>,
        max: Option<i64>,
    ) -> Result<(Vec<String>, Option<String>), QueuesError> {
        let limit = match max {
            None => MAX_LIST_RESULTS,
            Some(n) if (1..=MAX_LIST_RESULTS as i64).contains(&n) => n as usize,
            Some(n) => {
                return Err(QueuesError::InvalidParameterValue(format!(
                    "Value {n} for parameter MaxResults is invalid. Reason: MaxResults must be an integer between 1 and 1000."
                )));
            }
        };
        let store = self.ctx.store.clone();
        let all = blocking(move || store.list_queues()).await?;
        let after = match next_token {
            Some(t) => Some(decode_token(t)?),
            None => None,
        };
        let mut names: Vec<String> = all
            .into_iter()
            .map(|q| q.name)
            .filter(|n| prefix.is_none_or(|p| n.starts_with(p)))
            .filter(|n| after.as_ref().is_none_or(|a| n > a))
            .collect();
        let token = (max.is_some() && names.len() > limit).then(|| {
            names.truncate(limit);
            encode_token(names.last().map_or("", String::as_str))
        });
        names.truncate(limit);
        Ok((names, token))
    }

    /// GetQueueAttributes: the named attributes (`All` for every one).
    pub async fn get_attributes(
        &self,
        name: &str,
        wanted: &[String],
    ) -> Result<BTreeMap<String, String>, QueuesError> {
        if let Some(bad) = wanted.iter().find(|w| !known(w)) {
            return Err(QueuesError::InvalidAttributeName(bad.clone()));
        }
        let q = self.queue(name).await?;
        let mut all: BTreeMap<String, String> =
            serde_json::from_str(&q.attributes).map_err(json_err)?;
        all.retain(|_, v| !v.is_empty());
        if wanted
            .iter()
            .any(|w| COMPUTED.contains(&w.as_str()) || w == "All")
        {
            let counts = self.counts(name).await?;
            all.insert(
                "ApproximateNumberOfMessages".into(),
                counts.visible.to_string(),
            );
            all.insert(
                "ApproximateNumberOfMessagesNotVisible".into(),
                counts.in_flight.to_string(),
            );
            all.insert(
                "ApproximateNumberOfMessagesDelayed".into(),
                counts.delayed.to_string(),
            );
        }
        all.insert("CreatedTimestamp".into(), (q.created_ms / 1000).to_string());
        all.insert(
            "LastModifiedTimestamp".into(),
            (q.modified_ms / 1000).to_string(),
        );
        all.insert("QueueArn".into(), self.arn(&q.region, name));
        if !wanted.iter().any(|w| w == "All") {
            all.retain(|k, _| wanted.contains(k));
        }
        Ok(all)
    }

    /// ListDeadLetterSourceQueues: the queues whose RedrivePolicy names queue `name`.
    pub async fn dead_letter_sources(&self, name: &str) -> Result<Vec<String>, QueuesError> {
        let q = self.queue(name).await?;
        let arn = self.arn(&q.region, name);
        let store = self.ctx.store.clone();
        let all = blocking(move || store.list_queues()).await?;
        let mut out = Vec::new();
        for other in all {
            let attrs: BTreeMap<String, String> =
                serde_json::from_str(&other.attributes).map_err(json_err)?;
            let names_it = attrs
                .get("RedrivePolicy")
                .filter(|v| !v.is_empty())
                .and_then(|v| attributes::redrive_policy(v).ok())
                .is_some_and(|p| p.dead_letter_target_arn == arn);
            if names_it {
                out.push(other.name);
            }
        }
        Ok(out)
    }

    /// A queue's message counts now.
    pub async fn counts(&self, name: &str) -> Result<QueueCounts, QueuesError> {
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        Ok(blocking(move || store.queue_counts(&key, now_ms())).await?)
    }

    /// SetQueueAttributes.
    pub async fn set_attributes(
        &self,
        name: &str,
        attrs: BTreeMap<String, String>,
    ) -> Result<(), QueuesError> {
        let mut q = self.queue(name).await?;
        let fifo = name.ends_with(".fifo");
        if attrs.contains_key("FifoQueue") {
            return Err(QueuesError::InvalidAttributeName("FifoQueue".to_owned()));
        }
        validate(fifo, false, &attrs)?;
        self.check_redrive(&q.region, fifo, &attrs).await?;
        let mut current: BTreeMap<String, String> =
            serde_json::from_str(&q.attributes).map_err(json_err)?;
        current.extend(attrs);
        q.attributes = serde_json::to_string(&current).map_err(json_err)?;
        q.modified_ms = now_ms();
        self.save(q).await
    }

    async fn save(&self, q: QueueRecord) -> Result<(), QueuesError> {
        let store = self.ctx.store.clone();
        if blocking(move || store.update_queue(&q)).await? {
            Ok(())
        } else {
            Err(QueuesError::NoSuchQueue)
        }
    }

    /// ListQueueTags.
    pub async fn tags(&self, name: &str) -> Result<BTreeMap<String, String>, QueuesError> {
        let q = self.queue(name).await?;
        serde_json::from_str(&q.tags).map_err(json_err)
    }

    /// TagQueue (`add`) and UntagQueue (`remove`).
    pub async fn retag(
        &self,
        name: &str,
        add: BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<(), QueuesError> {
        let mut q = self.queue(name).await?;
        let mut tags: BTreeMap<String, String> = serde_json::from_str(&q.tags).map_err(json_err)?;
        tags.extend(add);
        for k in remove {
            tags.remove(k);
        }
        if tags.len() > MAX_TAGS {
            return Err(QueuesError::InvalidParameterValue(format!(
                "Too many tags added for queue {name}."
            )));
        }
        q.tags = serde_json::to_string(&tags).map_err(json_err)?;
        self.save(q).await
    }

    /// PurgeQueue (once per 60 seconds per queue, as on AWS).
    pub async fn purge(&self, name: &str, url: &str) -> Result<(), QueuesError> {
        self.queue(name).await?;
        let now = now_ms();
        {
            let mut purges = lock(&self.shared.purges);
            if purges.get(name).is_some_and(|t| now - t < 60_000) {
                return Err(QueuesError::PurgeQueueInProgress(url.to_owned()));
            }
            purges.insert(name.to_owned(), now);
        }
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        blocking(move || store.purge_queue(&key)).await?;
        Ok(())
    }

    /// Every queue's metrics.
    pub async fn metrics(&self) -> Result<Vec<QueueMetrics>, QueuesError> {
        let store = self.ctx.store.clone();
        let queues = blocking(move || store.list_queues()).await?;
        let mut out = Vec::with_capacity(queues.len());
        for q in queues {
            let counts = self.counts(&q.name).await?;
            let stats = self.stats(&q.name);
            out.push(QueueMetrics {
                sent: stats.sent.load(Ordering::Relaxed),
                received: stats.received.load(Ordering::Relaxed),
                deleted: stats.deleted.load(Ordering::Relaxed),
                name: q.name,
                counts,
            });
        }
        Ok(out)
    }
}

/// A JSON document of the service's own that does not (de)serialise.
pub(crate) fn json_err(e: serde_json::Error) -> QueuesError {
    QueuesError::Internal(ServiceError::Store(StoreError::Corrupt(e)))
}

fn encode_token(after: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(after)
}

fn decode_token(token: &str) -> Result<String, QueuesError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| QueuesError::InvalidParameterValue("Invalid NextToken value.".to_owned()))
}
