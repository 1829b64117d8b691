//! The built-in SNS topics' state: topics and subscriptions (attributes and
//! tags as JSON the service owns, the confirmation token of a subscription
//! pending confirmation) and the deliveries a publish owes, so that every
//! acknowledged publish reaches its subscribers even across a crash.
//!
//! A publish stores one delivery per matching subscription in one
//! transaction (committed with the store's durable setting) before
//! Publish answers; the delivery worker leases due deliveries and deletes
//! each once delivered (at least once: a crash only repeats a delivery).

use crate::StoreError;

/// A topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicRecord {
    /// Its name (ends in `.fifo` for FIFO topics).
    pub name: String,
    /// The region its ARN names.
    pub region: String,
    /// Its attributes (a JSON object of strings the service owns).
    pub attributes: String,
    /// Its tags (a JSON object of strings).
    pub tags: String,
    /// When it was created (epoch ms).
    pub created_ms: i64,
}

/// A subscription of a topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// Its ARN (`TOPIC_ARN:UUID`).
    pub arn: String,
    /// The topic's name.
    pub topic: String,
    /// `lambda`, `sqs`, `http` or `https`.
    pub protocol: String,
    /// The function, queue ARN or URL.
    pub endpoint: String,
    /// Its attributes (a JSON object of strings the service owns).
    pub attributes: String,
    /// The token ConfirmSubscription must present while it is pending.
    pub token: Option<String>,
    /// When it was created (epoch ms).
    pub created_ms: i64,
}

/// One delivery a publish (or a subscription's confirmation request) owes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Its key (assigned by the store, in publish order).
    pub seq: i64,
    /// The subscription it goes to.
    pub subscription: String,
    /// What to deliver (JSON the service owns).
    pub payload: String,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not before (epoch ms).
    pub due_ms: i64,
}

/// What the first publish of a FIFO deduplication id answered, kept for
/// the deduplication window so that a repeat (even after a restart)
/// answers the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DedupRecord {
    /// The deduplication id.
    pub dedup: String,
    /// The message id the first publish answered.
    pub message_id: String,
    /// The sequence number it answered.
    pub sequence: String,
    /// When it was published (epoch ms).
    pub sent_ms: i64,
}

/// One published message: its deliveries and, on a FIFO topic, its
/// deduplication record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// Deduplicates the message (FIFO topics).
    pub dedup: Option<DedupRecord>,
    /// One per matching subscription.
    pub deliveries: Vec<DeliveryRecord>,
}

/// The topics' operations, part of every [`crate::Store`].
pub trait TopicStore {
    /// Creates a topic; `AlreadyExists` when the name is taken.
    fn create_topic(&self, topic: &TopicRecord) -> Result<(), StoreError>;
    /// A topic by name.
    fn get_topic(&self, name: &str) -> Result<Option<TopicRecord>, StoreError>;
    /// Every topic, by name.
    fn list_topics(&self) -> Result<Vec<TopicRecord>, StoreError>;
    /// Replaces a topic's attributes and tags; false when no such topic.
    fn update_topic(&self, topic: &TopicRecord) -> Result<bool, StoreError>;
    /// Deletes a topic with its subscriptions and their pending
    /// deliveries; false when no such topic.
    fn delete_topic(&self, name: &str) -> Result<bool, StoreError>;
    /// Stores a subscription of an existing topic (`NotFound` else) and
    /// the deliveries it starts with (a confirmation request), in one
    /// transaction.
    fn create_subscription(
        &self,
        sub: &SubscriptionRecord,
        deliveries: &[DeliveryRecord],
    ) -> Result<(), StoreError>;
    /// A subscription by ARN.
    fn get_subscription(&self, arn: &str) -> Result<Option<SubscriptionRecord>, StoreError>;
    /// The subscriptions of `topic` (every topic's when `None`), by ARN.
    fn list_subscriptions(
        &self,
        topic: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError>;
    /// Replaces a subscription's attributes and token; false when none.
    fn update_subscription(&self, sub: &SubscriptionRecord) -> Result<bool, StoreError>;
    /// Deletes a subscription and its pending deliveries; false when none.
    fn delete_subscription(&self, arn: &str) -> Result<bool, StoreError>;
    /// Stores the deliveries of published messages (their `seq` ignored)
    /// in one transaction; `NotFound` when `topic` is gone. A message whose
    /// deduplication id a message of the topic published at or after
    /// `dedup_since_ms` had is not stored: its outcome is that first
    /// message's record (`None` for a stored message). `Ok` means durable.
    fn publish(
        &self,
        topic: &str,
        messages: &[Publication],
        dedup_since_ms: i64,
    ) -> Result<Vec<Option<DedupRecord>>, StoreError>;
    /// Up to `max` deliveries due at `now_ms`, in order, each leased (not
    /// due again) until `lease_until_ms`.
    fn lease_deliveries(
        &self,
        now_ms: i64,
        max: usize,
        lease_until_ms: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Records a failed attempt: `attempts` and the next due time.
    fn retry_delivery(&self, seq: i64, attempts: u32, due_ms: i64) -> Result<(), StoreError>;
    /// Removes a finished delivery.
    fn delete_delivery(&self, seq: i64) -> Result<(), StoreError>;
}
