//! Publish and PublishBatch: validation (message, subject, structure,
//! attributes, FIFO group and deduplication), fan-out to the confirmed
//! subscriptions whose filter policy passes, and one stored delivery per
//! subscription in the publish's transaction.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use lambdad_store::topics::{
    DedupRecord, DeliveryRecord, Publication, SubscriptionRecord, TopicRecord,
};
use serde::Deserialize;
use serde_json::Value;
use sha2::Digest as _;

use super::deliver::{Payload, timestamp};
use super::error::invalid;
use super::filter::FilterPolicy;
use super::{Topics, TopicsError, json_err, parse_map};
use crate::context::blocking;
use crate::queues::attributes::MessageAttribute;
use crate::queues::now_ms;

/// Largest message (with its attributes), in bytes.
pub const MAX_MESSAGE: usize = 256 * 1024;
/// Largest batch, in entries.
pub const MAX_BATCH_ENTRIES: usize = 10;
/// Longest subject, in characters.
const MAX_SUBJECT: usize = 100;
/// FIFO deduplication window (ms).
const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;

/// One message to publish (Publish's input, or a PublishBatch entry).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PublishInput {
    /// A batch entry's id.
    pub id: Option<String>,
    /// The message.
    pub message: Option<String>,
    /// The subject.
    pub subject: Option<String>,
    /// `json`: the message is an object of messages by protocol.
    pub message_structure: Option<String>,
    /// Message attributes.
    #[serde(default)]
    pub message_attributes: BTreeMap<String, MessageAttribute>,
    /// FIFO: the message group.
    pub message_group_id: Option<String>,
    /// FIFO: the deduplication id.
    pub message_deduplication_id: Option<String>,
}

/// What a publish answered.
#[derive(Debug, Clone)]
pub struct Published {
    /// The message id.
    pub message_id: String,
    /// FIFO: the sequence number.
    pub sequence_number: Option<String>,
}

/// A confirmed subscription with its parsed filter policy and whether it filters the body.
type Subscriber = (SubscriptionRecord, Option<FilterPolicy>, bool);

static SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn next_sequence() -> String {
    let base = u64::try_from(now_ms()).unwrap_or_default() * 1_000_000;
    let _ = SEQUENCE.fetch_max(base, Ordering::Relaxed);
    format!("{:020}", SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1)
}

fn check_attributes(attrs: &BTreeMap<String, MessageAttribute>) -> Result<usize, TopicsError> {
    let mut size = 0;
    for (name, a) in attrs {
        let base = a.data_type.split('.').next().unwrap_or_default();
        let known = matches!(base, "String" | "Number" | "Binary");
        if a.data_type.is_empty() || !known {
            return Err(invalid(format!(
                "MessageAttributes Reason: The message attribute '{name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String."
            )));
        }
        let value = if base == "Binary" {
            &a.binary_value
        } else {
            &a.string_value
        };
        if value.as_deref().is_none_or(str::is_empty) {
            return Err(invalid(format!(
                "MessageAttributes Reason: The message attribute '{name}' must contain non-empty message attribute value for message attribute type '{}'.",
                a.data_type
            )));
        }
        if base == "Number" && value.as_deref().is_some_and(|v| v.parse::<f64>().is_err()) {
            return Err(TopicsError::InvalidParameterValue(format!(
                "The message attribute '{name}' with type 'Number' must use a valid number value."
            )));
        }
        size += name.len() + a.data_type.len() + value.as_deref().map_or(0, str::len);
    }
    Ok(size)
}

/// The messages by protocol of a `MessageStructure=json` message.
fn structured(message: &str) -> Result<BTreeMap<String, String>, TopicsError> {
    let v: Value = serde_json::from_str(message)
        .map_err(|_| invalid("Message Structure - JSON message body failed to parse"))?;
    let Value::Object(m) = v else {
        return Err(invalid(
            "Message Structure - JSON message body failed to parse",
        ));
    };
    let out: BTreeMap<String, String> = m
        .into_iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
        .collect();
    if !out.contains_key("default") {
        return Err(invalid(
            "Message Structure - No default entry in JSON message body",
        ));
    }
    Ok(out)
}

impl Topics {
    /// Publish one message to the topic `topic_arn`.
    pub async fn publish(
        &self,
        topic_arn: Option<&str>,
        input: PublishInput,
    ) -> Result<Published, TopicsError> {
        let t = self.topic(topic_arn).await?;
        let mut out = self.publish_all(&t, vec![input]).await?;
        out.pop().unwrap_or_else(|| Err(invalid("Empty message")))
    }

    /// PublishBatch: each entry's outcome, by entry.
    pub async fn publish_batch(
        &self,
        topic_arn: Option<&str>,
        entries: Vec<PublishInput>,
    ) -> Result<Vec<Result<Published, TopicsError>>, TopicsError> {
        let t = self.topic(topic_arn).await?;
        if entries.is_empty() {
            return Err(TopicsError::EmptyBatchRequest);
        }
        if entries.len() > MAX_BATCH_ENTRIES {
            return Err(TopicsError::TooManyEntries);
        }
        let mut ids = HashSet::new();
        for e in &entries {
            let id = e.id.as_deref().unwrap_or_default();
            let ok = !id.is_empty()
                && id.len() <= 80
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok {
                return Err(TopicsError::InvalidBatchEntryId);
            }
            if !ids.insert(id.to_owned()) {
                return Err(TopicsError::BatchEntryIdsNotDistinct);
            }
        }
        self.publish_all(&t, entries).await
    }

    /// Validates and publishes `inputs` to `t` (their deliveries stored in
    /// one transaction).
    async fn publish_all(
        &self,
        t: &TopicRecord,
        inputs: Vec<PublishInput>,
    ) -> Result<Vec<Result<Published, TopicsError>>, TopicsError> {
        let topic_arn = self.arn(&t.region, &t.name);
        let fifo = t.name.ends_with(".fifo");
        let topic_attrs = parse_map(&t.attributes)?;
        let content_dedup = topic_attrs
            .get("ContentBasedDeduplication")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        let subs: Vec<_> = self
            .subscriptions_of(Some(t.name.clone()))
            .await?
            .into_iter()
            .filter(|s| s.token.is_none())
            .map(|s| {
                let attrs = parse_map(&s.attributes).unwrap_or_default();
                let policy = attrs
                    .get("FilterPolicy")
                    .filter(|p| !p.is_empty())
                    .and_then(|p| FilterPolicy::parse(p).ok());
                let body_scope =
                    attrs.get("FilterPolicyScope").map(String::as_str) == Some("MessageBody");
                (s, policy, body_scope)
            })
            .collect();
        let now = now_ms();
        let mut results = Vec::with_capacity(inputs.len());
        let mut messages = Vec::new();
        for input in inputs {
            let r = self.one(&topic_arn, fifo, content_dedup, &subs, now, input);
            results.push(r.map(|(p, message)| {
                messages.push(message);
                p
            }));
        }
        let mut stored = 0;
        if fifo || messages.iter().any(|m| !m.deliveries.is_empty()) {
            let store = self.ctx.store.clone();
            let name = t.name.clone();
            let outcomes =
                blocking(move || store.publish(&name, &messages, now - DEDUP_WINDOW_MS)).await?;
            // A repeated deduplication id answers what its first publish did.
            let mut outcomes = outcomes.into_iter();
            for p in results.iter_mut().filter_map(|r| r.as_mut().ok()) {
                match outcomes.next().flatten() {
                    Some(first) => {
                        p.message_id = first.message_id;
                        p.sequence_number = Some(first.sequence);
                    }
                    None => stored += 1,
                }
            }
            self.wake.notify_one();
        }
        let published = if fifo {
            stored
        } else {
            results.iter().filter(|r| r.is_ok()).count() as u64
        };
        self.stats(&t.name)
            .published
            .fetch_add(published, Ordering::Relaxed);
        Ok(results)
    }

    /// One message: its outcome, and what to store of it (its deliveries
    /// and, on a FIFO topic, its deduplication record).
    fn one(
        &self,
        topic_arn: &str,
        fifo: bool,
        content_dedup: bool,
        subs: &[Subscriber],
        now: i64,
        input: PublishInput,
    ) -> Result<(Published, Publication), TopicsError> {
        let message = input
            .message
            .filter(|m| !m.is_empty())
            .ok_or_else(|| invalid("Empty message"))?;
        if let Some(s) = &input.subject
            && (s.is_empty()
                || s.chars().count() > MAX_SUBJECT
                || s.chars().any(|c| c.is_control()))
        {
            return Err(invalid("Subject"));
        }
        let attr_size = check_attributes(&input.message_attributes)?;
        if message.len() + attr_size > MAX_MESSAGE {
            return Err(invalid("Message too long"));
        }
        let by_protocol = match input.message_structure.as_deref() {
            Some("json") => Some(structured(&message)?),
            Some(_) => return Err(invalid("MessageStructure")),
            None => None,
        };
        let (group, dedup) = if fifo {
            let group = input.message_group_id.clone().ok_or_else(|| {
                invalid("The MessageGroupId parameter is required for FIFO topics")
            })?;
            let dedup = match input.message_deduplication_id.clone() {
                Some(d) => d,
                None if content_dedup => hex::encode(sha2::Sha256::digest(message.as_bytes())),
                None => {
                    return Err(invalid(
                        "The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly",
                    ));
                }
            };
            (Some(group), Some(dedup))
        } else {
            if input.message_group_id.is_some() || input.message_deduplication_id.is_some() {
                return Err(invalid(
                    "MessageGroupId Reason: The request includes MessageGroupId parameter that is not valid for this topic type",
                ));
            }
            (None, None)
        };
        let published = Published {
            message_id: uuid::Uuid::new_v4().to_string(),
            sequence_number: fifo.then(next_sequence),
        };
        let mut out = Vec::new();
        for (sub, policy, body_scope) in subs {
            if let Some(p) = policy
                && !p.matches(*body_scope, &input.message_attributes, &message)
            {
                continue;
            }
            let text = by_protocol
                .as_ref()
                .and_then(|m| m.get(&sub.protocol).or_else(|| m.get("default")))
                .cloned()
                .unwrap_or_else(|| message.clone());
            let payload = Payload {
                kind: "Notification".to_owned(),
                message_id: published.message_id.clone(),
                topic_arn: topic_arn.to_owned(),
                subject: input.subject.clone(),
                message: text,
                timestamp: timestamp(now),
                message_attributes: input.message_attributes.clone(),
                message_group_id: group.clone(),
                message_deduplication_id: dedup.clone(),
                sequence_number: published.sequence_number.clone(),
                token: None,
            };
            out.push(DeliveryRecord {
                seq: 0,
                subscription: sub.arn.clone(),
                payload: serde_json::to_string(&payload).map_err(json_err)?,
                attempts: 0,
                due_ms: now,
            });
        }
        let dedup = dedup.map(|d| DedupRecord {
            dedup: d,
            message_id: published.message_id.clone(),
            sequence: published.sequence_number.clone().unwrap_or_default(),
            sent_ms: now,
        });
        Ok((
            published,
            Publication {
                dedup,
                deliveries: out,
            },
        ))
    }
}
