//! Messages of the built-in SQS: send (single and batch, FIFO groups and
//! deduplication), receive (long polling without polling loops: a receive
//! that finds nothing sleeps until a send wakes it, a hidden message
//! becomes visible, or its wait ends), delete and visibility changes by
//! receipt handle.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use lambdad_store::queues::{
    MessageRecord, QueueRecord, ReceiveRequest, SendOutcome, VisibilityChange,
};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use super::attributes::{
    self, DEDUP_WINDOW_MS, MAX_MESSAGE_BYTES, MessageAttribute, md5_hex, md5_of_attributes,
    valid_body, validate_message_attributes,
};
use super::error::{MAX_BATCH_ENTRIES, QueuesError};
use super::{Queues, json_err, now_ms};
use crate::context::blocking;

/// The system attributes a receive can ask for (besides `All`).
const SYSTEM_ATTRIBUTES: &[&str] = &[
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
];

/// One message to send (SendMessage, or an entry of SendMessageBatch).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SendEntry {
    /// The batch entry id.
    pub id: Option<String>,
    /// The body.
    pub message_body: Option<String>,
    /// Its own delay (standard queues).
    pub delay_seconds: Option<i64>,
    /// Message attributes.
    #[serde(default)]
    pub message_attributes: BTreeMap<String, MessageAttribute>,
    /// FIFO: the deduplication id.
    pub message_deduplication_id: Option<String>,
    /// FIFO: the message group.
    pub message_group_id: Option<String>,
}

/// What sending one message answered.
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    /// The message id.
    #[serde(rename = "MessageId")]
    pub message_id: String,
    /// MD5 of the body.
    #[serde(rename = "MD5OfMessageBody")]
    pub md5_of_body: String,
    /// MD5 of the message attributes, when there are any.
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_attributes: Option<String>,
    /// FIFO: the sequence number.
    #[serde(rename = "SequenceNumber", skip_serializing_if = "Option::is_none")]
    pub sequence_number: Option<String>,
}

/// ReceiveMessage's input.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReceiveInput {
    /// System attributes to return (deprecated name).
    #[serde(default)]
    pub attribute_names: Vec<String>,
    /// System attributes to return.
    #[serde(default)]
    pub message_system_attribute_names: Vec<String>,
    /// Message attributes to return (`All`, `.*`, `prefix.*`, names).
    #[serde(default)]
    pub message_attribute_names: Vec<String>,
    /// 1–10.
    pub max_number_of_messages: Option<i64>,
    /// The visibility timeout of what is received.
    pub visibility_timeout: Option<i64>,
    /// Long polling, 0–20 s.
    pub wait_time_seconds: Option<i64>,
}

/// A received message, as ReceiveMessage answers it.
#[derive(Debug, Clone, Serialize)]
pub struct ReceivedMessage {
    /// The message id.
    #[serde(rename = "MessageId")]
    pub message_id: String,
    /// The receipt handle for delete and visibility changes.
    #[serde(rename = "ReceiptHandle")]
    pub receipt_handle: String,
    /// MD5 of the body.
    #[serde(rename = "MD5OfBody")]
    pub md5_of_body: String,
    /// The body.
    #[serde(rename = "Body")]
    pub body: String,
    /// The requested system attributes.
    #[serde(rename = "Attributes", skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// MD5 of the returned message attributes.
    #[serde(
        rename = "MD5OfMessageAttributes",
        skip_serializing_if = "Option::is_none"
    )]
    pub md5_of_message_attributes: Option<String>,
    /// The requested message attributes.
    #[serde(
        rename = "MessageAttributes",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub message_attributes: BTreeMap<String, MessageAttribute>,
}

/// What a message keeps besides its body.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Meta {
    attributes: BTreeMap<String, MessageAttribute>,
    md5_of_body: String,
    sender: String,
    /// The queue it was sent to (where a move task takes it back from a
    /// dead-letter queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) origin: Option<String>,
}

fn int_setting(attrs: &BTreeMap<String, String>, name: &str, default: i64) -> i64 {
    attrs
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn receipt_handle(queue: &str, id: &str, nonce: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("{queue}\n{id}\n{nonce}"))
}

/// The message id and receipt a handle of queue `name` holds.
fn parse_receipt(name: &str, handle: &str) -> Result<(String, String), QueuesError> {
    let invalid = || QueuesError::ReceiptHandleIsInvalid(handle.to_owned());
    let raw = base64::engine::general_purpose::STANDARD
        .decode(handle)
        .map_err(|_| invalid())?;
    let text = String::from_utf8(raw).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, '\n');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(q), Some(id), Some(nonce)) if q == name => Ok((id.to_owned(), nonce.to_owned())),
        _ => Err(invalid()),
    }
}

fn valid_entry_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 80
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Checks a batch's entry ids: present, valid and distinct.
pub fn check_batch_ids<'a>(
    ids: impl Iterator<Item = Option<&'a str>>,
    entry: &'static str,
) -> Result<(), QueuesError> {
    let mut seen = HashSet::new();
    let mut n = 0;
    for id in ids {
        n += 1;
        let id = id.ok_or(QueuesError::MissingParameter("Id"))?;
        if !valid_entry_id(id) {
            return Err(QueuesError::InvalidBatchEntryId);
        }
        if !seen.insert(id) {
            return Err(QueuesError::BatchEntryIdsNotDistinct(id.to_owned()));
        }
    }
    if n == 0 {
        return Err(QueuesError::EmptyBatchRequest(entry));
    }
    if n > MAX_BATCH_ENTRIES {
        return Err(QueuesError::TooManyEntries(n));
    }
    Ok(())
}

impl Queues {
    /// Builds the stored record of one message, or why it cannot be sent.
    fn prepare(
        &self,
        q: &QueueRecord,
        attrs: &BTreeMap<String, String>,
        entry: &SendEntry,
        now: i64,
    ) -> Result<(MessageRecord, usize), QueuesError> {
        let fifo = q.name.ends_with(".fifo");
        let body = entry
            .message_body
            .as_deref()
            .filter(|b| !b.is_empty())
            .ok_or(QueuesError::MissingParameter("MessageBody"))?;
        if !valid_body(body) {
            return Err(QueuesError::InvalidMessageContents);
        }
        let size = body.len() + validate_message_attributes(&entry.message_attributes)?;
        let max = int_setting(attrs, "MaximumMessageSize", MAX_MESSAGE_BYTES as i64);
        if size as i64 > max {
            return Err(QueuesError::InvalidParameterValue(format!(
                "One or more parameters are invalid. Reason: Message must be shorter than {max} bytes."
            )));
        }
        let not_for_this_queue = |param: &str, value: &str| {
            QueuesError::InvalidParameterValue(format!(
                "Value {value} for parameter {param} is invalid. Reason: The request include parameter that is not valid for this queue type."
            ))
        };
        let delay = match entry.delay_seconds {
            Some(d) if fifo => return Err(not_for_this_queue("DelaySeconds", &d.to_string())),
            Some(d) if !(0..=900).contains(&d) => {
                return Err(QueuesError::InvalidParameterValue(format!(
                    "Value {d} for parameter DelaySeconds is invalid. Reason: DelaySeconds must be >= 0 and <= 900."
                )));
            }
            Some(d) => d,
            None => int_setting(attrs, "DelaySeconds", 0),
        };
        let (group, dedup) = if fifo {
            let group = entry
                .message_group_id
                .clone()
                .ok_or(QueuesError::MissingParameter("MessageGroupId"))?;
            let dedup = match &entry.message_deduplication_id {
                Some(d) => d.clone(),
                None if attrs.get("ContentBasedDeduplication").map(String::as_str)
                    == Some("true") =>
                {
                    hex::encode(sha2::Sha256::digest(body.as_bytes()))
                }
                None => {
                    return Err(QueuesError::InvalidParameterValue(
                        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly".to_owned(),
                    ));
                }
            };
            for (param, v) in [
                ("MessageGroupId", &group),
                ("MessageDeduplicationId", &dedup),
            ] {
                if v.is_empty() || v.len() > 128 || !v.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(QueuesError::InvalidParameterValue(format!(
                        "Value {v} for parameter {param} is invalid. Reason: {param} can only include alphanumeric and punctuation characters. 1 to 128 in length."
                    )));
                }
            }
            (Some(group), Some(dedup))
        } else {
            if let Some(d) = &entry.message_deduplication_id {
                return Err(not_for_this_queue("MessageDeduplicationId", d));
            }
            (None, None)
        };
        let meta = Meta {
            attributes: entry.message_attributes.clone(),
            md5_of_body: md5_hex(body.as_bytes()),
            sender: self.account().to_owned(),
            origin: Some(q.name.clone()),
        };
        let record = MessageRecord {
            queue: q.name.clone(),
            id: uuid::Uuid::new_v4().to_string(),
            seq: 0,
            body: body.to_owned(),
            meta: serde_json::to_string(&meta).map_err(json_err)?,
            group,
            dedup,
            sent_ms: now,
            visible_ms: now + delay * 1000,
            receive_count: 0,
            first_receive_ms: None,
            receipt: None,
        };
        Ok((record, size))
    }

    /// Sends messages to queue `name` in one durable transaction: each
    /// entry's outcome (an entry that fails validation is not sent).
    pub async fn send(
        &self,
        name: &str,
        entries: &[SendEntry],
    ) -> Result<Vec<Result<Sent, QueuesError>>, QueuesError> {
        let q = self.queue(name).await?;
        let attrs: BTreeMap<String, String> =
            serde_json::from_str(&q.attributes).map_err(json_err)?;
        let now = now_ms();
        let mut outcomes: Vec<Result<Sent, QueuesError>> = Vec::with_capacity(entries.len());
        let mut records = Vec::new();
        let mut total = 0;
        for entry in entries {
            match self.prepare(&q, &attrs, entry, now) {
                Ok((record, size)) => {
                    total += size;
                    outcomes.push(Ok(Sent {
                        message_id: record.id.clone(),
                        md5_of_body: md5_hex(record.body.as_bytes()),
                        md5_of_attributes: md5_of_attributes(&entry.message_attributes),
                        sequence_number: None,
                    }));
                    records.push(record);
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        if entries.len() > 1 && total > MAX_MESSAGE_BYTES {
            return Err(QueuesError::BatchRequestTooLong {
                max: MAX_MESSAGE_BYTES,
                sent: total,
            });
        }
        if records.is_empty() {
            return Ok(outcomes);
        }
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        let stored = records.len();
        let results = blocking(move || store.send_messages(&key, &records, now - DEDUP_WINDOW_MS))
            .await
            .map_err(|e| match e {
                crate::error::ServiceError::Store(lambdad_store::StoreError::NotFound {
                    ..
                }) => QueuesError::NoSuchQueue,
                e => e.into(),
            })?;
        let fifo = name.ends_with(".fifo");
        let mut results = results.into_iter();
        for sent in outcomes.iter_mut().filter_map(|o| o.as_mut().ok()) {
            match results.next() {
                Some(SendOutcome::Sent { seq }) => {
                    sent.sequence_number = fifo.then(|| format!("{seq:020}"));
                }
                Some(SendOutcome::Duplicate { id, seq }) => {
                    sent.message_id = id;
                    sent.sequence_number = Some(format!("{seq:020}"));
                }
                None => {}
            }
        }
        self.stats(name)
            .sent
            .fetch_add(stored as u64, Ordering::Relaxed);
        self.waiter(name).notify_waiters();
        Ok(outcomes)
    }

    /// ReceiveMessage: waits up to the wait time for messages.
    pub async fn receive(
        &self,
        name: &str,
        input: &ReceiveInput,
    ) -> Result<Vec<ReceivedMessage>, QueuesError> {
        let max = input.max_number_of_messages.unwrap_or(1);
        if !(1..=10).contains(&max) {
            return Err(QueuesError::InvalidParameterValue(format!(
                "Value {max} for parameter MaxNumberOfMessages is invalid. Reason: Must be between 1 and 10, if provided."
            )));
        }
        if let Some(v) = input
            .visibility_timeout
            .filter(|v| !(0..=43_200).contains(v))
        {
            return Err(QueuesError::InvalidParameterValue(format!(
                "Value {v} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."
            )));
        }
        if let Some(w) = input.wait_time_seconds.filter(|w| !(0..=20).contains(w)) {
            return Err(QueuesError::InvalidParameterValue(format!(
                "Value {w} for parameter WaitTimeSeconds is invalid. Reason: Must be >= 0 and <= 20, if provided."
            )));
        }
        let q = self.queue(name).await?;
        let attrs: BTreeMap<String, String> =
            serde_json::from_str(&q.attributes).map_err(json_err)?;
        let visibility = input
            .visibility_timeout
            .unwrap_or_else(|| int_setting(&attrs, "VisibilityTimeout", 30));
        let wait = input
            .wait_time_seconds
            .unwrap_or_else(|| int_setting(&attrs, "ReceiveMessageWaitTimeSeconds", 0));
        let redrive = match attrs.get("RedrivePolicy").filter(|v| !v.is_empty()) {
            Some(v) => {
                let p = attributes::redrive_policy(v)?;
                self.name_of_arn(&p.dead_letter_target_arn, &q.region)
                    .map(|dlq| (dlq, p.max_receive_count))
            }
            None => None,
        };
        let retention = int_setting(&attrs, "MessageRetentionPeriod", 345_600);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(wait as u64);
        let waiter = self.waiter(name);
        loop {
            let notified = waiter.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let now = now_ms();
            let req = ReceiveRequest {
                now_ms: now,
                max: max as usize,
                visibility_ms: visibility * 1000,
                receipt: uuid::Uuid::new_v4().simple().to_string(),
                fifo: name.ends_with(".fifo"),
                expire_before_ms: now - retention * 1000,
                redrive: redrive.clone(),
            };
            let store = self.ctx.store.clone();
            let key = name.to_owned();
            let got = blocking(move || store.receive_messages(&key, &req))
                .await
                .map_err(|e| match e {
                    crate::error::ServiceError::Store(lambdad_store::StoreError::NotFound {
                        ..
                    }) => QueuesError::NoSuchQueue,
                    e => e.into(),
                })?;
            if !got.messages.is_empty() {
                self.stats(name)
                    .received
                    .fetch_add(got.messages.len() as u64, Ordering::Relaxed);
                return got.messages.into_iter().map(|m| render(m, input)).collect();
            }
            let tokio_now = tokio::time::Instant::now();
            if tokio_now >= deadline {
                return Ok(Vec::new());
            }
            let wake = got.next_visible_ms.map_or(deadline, |t| {
                (tokio_now + Duration::from_millis((t - now).max(1) as u64)).min(deadline)
            });
            tokio::select! {
                () = &mut notified => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }

    /// DeleteMessage (a stale receipt deletes nothing, without an error, as on AWS).
    pub async fn delete_message(&self, name: &str, handle: &str) -> Result<(), QueuesError> {
        self.queue(name).await?;
        let (id, receipt) = parse_receipt(name, handle)?;
        self.delete_received(name, id, receipt).await
    }

    /// Deletes the received message `id` of queue `name` if `receipt` is
    /// still its latest receipt, counting the deletion.
    async fn delete_received(
        &self,
        name: &str,
        id: String,
        receipt: String,
    ) -> Result<(), QueuesError> {
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        if blocking(move || store.delete_message(&key, &id, &receipt)).await? {
            self.stats(name).deleted.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// ChangeMessageVisibility.
    pub async fn change_visibility(
        &self,
        name: &str,
        handle: &str,
        timeout: Option<i64>,
    ) -> Result<(), QueuesError> {
        let timeout = timeout.ok_or(QueuesError::MissingParameter("VisibilityTimeout"))?;
        if !(0..=43_200).contains(&timeout) {
            return Err(QueuesError::InvalidParameterValue(format!(
                "Value {timeout} for parameter VisibilityTimeout is invalid. Reason: Must be >= 0 and <= 43200, if provided."
            )));
        }
        self.queue(name).await?;
        let (id, receipt) = parse_receipt(name, handle)?;
        let store = self.ctx.store.clone();
        let key = name.to_owned();
        let now = now_ms();
        let changed = blocking(move || {
            store.change_visibility(&key, &id, &receipt, now + timeout * 1000, now)
        })
        .await?;
        match changed {
            VisibilityChange::Changed => {
                if timeout == 0 {
                    self.waiter(name).notify_waiters();
                }
                Ok(())
            }
            VisibilityChange::NotInFlight => {
                Err(QueuesError::MessageNotInflight(handle.to_owned()))
            }
        }
    }
}

/// Whether a message attribute name is asked for.
fn wanted_attribute(names: &[String], attr: &str) -> bool {
    names.iter().any(|n| {
        n == "All"
            || n == ".*"
            || n == attr
            || n.strip_suffix(".*")
                .is_some_and(|prefix| attr.starts_with(&format!("{prefix}.")))
    })
}

fn render(m: MessageRecord, input: &ReceiveInput) -> Result<ReceivedMessage, QueuesError> {
    let meta: Meta = serde_json::from_str(&m.meta).map_err(json_err)?;
    let names: Vec<&str> = input
        .attribute_names
        .iter()
        .chain(&input.message_system_attribute_names)
        .map(String::as_str)
        .collect();
    let all = names.contains(&"All");
    let mut attributes = BTreeMap::new();
    for name in SYSTEM_ATTRIBUTES {
        if !all && !names.contains(name) {
            continue;
        }
        let value = match *name {
            "SenderId" => Some(meta.sender.clone()),
            "SentTimestamp" => Some(m.sent_ms.to_string()),
            "ApproximateReceiveCount" => Some(m.receive_count.to_string()),
            "ApproximateFirstReceiveTimestamp" => m.first_receive_ms.map(|t| t.to_string()),
            "SequenceNumber" => m.group.as_ref().map(|_| format!("{:020}", m.seq)),
            "MessageDeduplicationId" => m.dedup.clone(),
            "MessageGroupId" => m.group.clone(),
            _ => None,
        };
        if let Some(v) = value {
            attributes.insert((*name).to_owned(), v);
        }
    }
    let message_attributes: BTreeMap<String, MessageAttribute> = meta
        .attributes
        .into_iter()
        .filter(|(k, _)| wanted_attribute(&input.message_attribute_names, k))
        .collect();
    Ok(ReceivedMessage {
        receipt_handle: receipt_handle(&m.queue, &m.id, m.receipt.as_deref().unwrap_or_default()),
        message_id: m.id,
        md5_of_body: meta.md5_of_body,
        body: m.body,
        attributes,
        md5_of_message_attributes: md5_of_attributes(&message_attributes),
        message_attributes,
    })
}
