//! The built-in SQS queues' state: queues (attributes and tags as JSON the
//! service owns) and their messages, with the receipts and visibility
//! deadlines of messages in flight, so that a received but undeleted
//! message comes back after its visibility timeout even across a crash.
//!
//! Every write is one transaction (committed with the store's durable
//! setting): a message is stored before SendMessage answers, and a receive
//! marks its messages in flight atomically, locking each FIFO message
//! group while any of its messages is in flight.

use crate::StoreError;

/// A queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRecord {
    /// Its name (ends in `.fifo` for FIFO queues).
    pub name: String,
    /// The region its ARN names.
    pub region: String,
    /// Its attributes (a JSON object of strings the service owns).
    pub attributes: String,
    /// Its tags (a JSON object of strings).
    pub tags: String,
    /// When it was created (epoch ms).
    pub created_ms: i64,
    /// When its attributes last changed (epoch ms).
    pub modified_ms: i64,
}

/// A message of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRecord {
    /// The queue.
    pub queue: String,
    /// The message id.
    pub id: String,
    /// Its place in the queue's order (assigned by the store; FIFO's `SequenceNumber`).
    pub seq: i64,
    /// The body.
    pub body: String,
    /// Message attributes, digests, sender (JSON the service owns).
    pub meta: String,
    /// The FIFO message group.
    pub group: Option<String>,
    /// The FIFO deduplication id.
    pub dedup: Option<String>,
    /// When it was sent (epoch ms).
    pub sent_ms: i64,
    /// When it is (again) visible to receivers (epoch ms).
    pub visible_ms: i64,
    /// How often it was received.
    pub receive_count: u32,
    /// When it was first received (epoch ms).
    pub first_receive_ms: Option<i64>,
    /// The receipt of its latest receive while in flight.
    pub receipt: Option<String>,
}

/// What sending one message did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Stored with this sequence number.
    Sent {
        /// The sequence number.
        seq: i64,
    },
    /// A message with the same deduplication id was sent within the
    /// window: nothing stored; that message's id and sequence number.
    Duplicate {
        /// The first message's id.
        id: String,
        /// Its sequence number.
        seq: i64,
    },
}

/// A receive's parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiveRequest {
    /// Now (epoch ms).
    pub now_ms: i64,
    /// At most this many messages.
    pub max: usize,
    /// The visibility timeout of what is received (ms).
    pub visibility_ms: i64,
    /// The receipt given to what is received.
    pub receipt: String,
    /// FIFO: skip groups with a message in flight (or not yet visible).
    pub fifo: bool,
    /// Messages sent before this (epoch ms) have expired and are dropped.
    pub expire_before_ms: i64,
    /// Redrive: a message already received this often moves to this queue
    /// instead of being received again.
    pub redrive: Option<(String, u32)>,
}

/// What a receive got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The messages, now in flight.
    pub messages: Vec<MessageRecord>,
    /// The next time a message of the queue becomes visible, if any is hidden.
    pub next_visible_ms: Option<i64>,
}

/// A queue's message counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueCounts {
    /// Visible now.
    pub visible: u64,
    /// Received and neither deleted nor visible again.
    pub in_flight: u64,
    /// Sent with a delay that has not passed.
    pub delayed: u64,
    /// When the oldest message was sent (epoch ms).
    pub oldest_ms: Option<i64>,
}

/// What changing a message's visibility did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibilityChange {
    /// Changed.
    Changed,
    /// The message is not in flight under that receipt.
    NotInFlight,
}

/// The queues' operations, part of every [`crate::Store`].
pub trait QueueStore {
    /// Creates a queue; `AlreadyExists` when the name is taken.
    fn create_queue(&self, queue: &QueueRecord) -> Result<(), StoreError>;
    /// A queue by name.
    fn get_queue(&self, name: &str) -> Result<Option<QueueRecord>, StoreError>;
    /// Every queue, by name.
    fn list_queues(&self) -> Result<Vec<QueueRecord>, StoreError>;
    /// Replaces a queue's attributes, tags and modification time; false when no such queue.
    fn update_queue(&self, queue: &QueueRecord) -> Result<bool, StoreError>;
    /// Deletes a queue and its messages; false when no such queue.
    fn delete_queue(&self, name: &str) -> Result<bool, StoreError>;
    /// Stores `messages` (their `seq` ignored) in one transaction. A
    /// message with a deduplication id that a message of the queue sent at
    /// or after `dedup_since_ms` had is not stored (its outcome names the
    /// first). `Ok` means every outcome is durable.
    fn send_messages(
        &self,
        queue: &str,
        messages: &[MessageRecord],
        dedup_since_ms: i64,
    ) -> Result<Vec<SendOutcome>, StoreError>;
    /// Receives up to `req.max` visible messages, oldest first, marking them
    /// in flight; drops expired messages and moves those received too often
    /// to the redrive queue, in one transaction.
    fn receive_messages(&self, queue: &str, req: &ReceiveRequest) -> Result<Received, StoreError>;
    /// Deletes message `id` if `receipt` is its latest receipt; whether it did.
    fn delete_message(&self, queue: &str, id: &str, receipt: &str) -> Result<bool, StoreError>;
    /// Moves message `id` of `queue`, if `receipt` is its latest receipt,
    /// to `message.queue` as `message` (a message move task's step), in one
    /// transaction; whether it did. `NotFound` when the destination is gone.
    fn move_message(
        &self,
        queue: &str,
        id: &str,
        receipt: &str,
        message: &MessageRecord,
    ) -> Result<bool, StoreError>;
    /// Makes an in-flight message visible at `visible_ms`.
    fn change_visibility(
        &self,
        queue: &str,
        id: &str,
        receipt: &str,
        visible_ms: i64,
        now_ms: i64,
    ) -> Result<VisibilityChange, StoreError>;
    /// Deletes every message of a queue; how many.
    fn purge_queue(&self, queue: &str) -> Result<u64, StoreError>;
    /// A queue's message counts at `now_ms`.
    fn queue_counts(&self, queue: &str, now_ms: i64) -> Result<QueueCounts, StoreError>;
}
