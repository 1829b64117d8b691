//! What several nodes on one database share beyond the metadata: code
//! archives (chunked, content-addressed), the change log that keeps every
//! node's caches coherent, and the membership table.
//!
//! Only a shared backend has it: [`Store::cluster`](crate::Store::cluster)
//! is `None` for SQLite (one node, nothing to share) and `Some` for
//! PostgreSQL. `conformance_cluster.rs` is its conformance suite.

use std::sync::Arc;
use std::time::Duration;

use crate::StoreError;

/// One node of the cluster as the database knows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeRecord {
    /// Stable id (kept in the node's data directory).
    pub node_id: String,
    /// Bumped each time the node (re)joins.
    pub incarnation: i64,
    /// Where its API listens.
    pub api_addr: String,
    /// `active`, `draining`, `dead` or `left`.
    pub state: String,
    /// Milliseconds since its last heartbeat, by the database's clock.
    pub heartbeat_age_ms: i64,
    /// The last change (of [`ChangeRecord::seq`]) it has applied.
    pub applied_seq: i64,
    /// Its load, as it last reported it (a JSON object).
    pub load: serde_json::Value,
}

/// One committed write of a function's records (recorded by the database
/// itself, in the writing transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRecord {
    /// Increasing in commit order.
    pub seq: i64,
    /// The function whose records changed.
    pub function: String,
    /// The table written: `functions`, `versions`, `aliases`,
    /// `concurrency`, `provisioned`, `event_invoke_configs`, `url_configs`
    /// or `policies`.
    pub table: String,
    /// `INSERT`, `UPDATE` or `DELETE`.
    pub op: String,
}

/// What the change watcher reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Watch {
    /// Listening (again): changes committed from now on are notified.
    Listening,
    /// A change was committed.
    Changed,
    /// The listening connection broke: notifications may have been missed.
    Broken,
}

/// The membership, change-log and code-blob calls of a shared store.
pub trait ClusterStore: Send + Sync {
    /// Stores the code archive `hex` (its SHA-256) in chunks; an archive
    /// already stored is only marked as touched now (which protects it from
    /// [`Self::collect_code_blob`] for the grace period).
    fn put_code_blob(&self, hex: &str, zip: &[u8]) -> Result<(), StoreError>;
    /// The archive `hex`, if stored whole and at most `max` bytes.
    fn get_code_blob(&self, hex: &str, max: usize) -> Result<Option<Vec<u8>>, StoreError>;
    /// Deletes archive `hex` if no function, version or layer version uses
    /// it and it was not touched within `grace`; whether it did.
    fn collect_code_blob(&self, hex: &str, grace: Duration) -> Result<bool, StoreError>;

    /// Joins (or rejoins) as `node_id` at `api_addr`, `active`, having
    /// applied every change committed so far: returns the new incarnation
    /// and that change's seq.
    fn join_node(&self, node_id: &str, api_addr: &str) -> Result<(i64, i64), StoreError>;
    /// Renews the heartbeat (by the database's clock) and reports the
    /// applied seq and load; false when this incarnation is no longer
    /// `active` or `draining` (it was declared dead).
    fn heartbeat(
        &self,
        node_id: &str,
        incarnation: i64,
        applied_seq: i64,
        load: &serde_json::Value,
    ) -> Result<bool, StoreError>;
    /// Sets this incarnation's state (`draining`, `left`); false when it is
    /// not this incarnation's row any more.
    fn set_node_state(
        &self,
        node_id: &str,
        incarnation: i64,
        state: &str,
    ) -> Result<bool, StoreError>;
    /// Declares `dead` every `active` or `draining` node whose heartbeat is
    /// older than `silence`; their ids.
    fn declare_dead(&self, silence: Duration) -> Result<Vec<String>, StoreError>;
    /// Every node, by id.
    fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError>;

    /// Changes after `seq`, oldest first, at most `limit`.
    fn changes_since(&self, seq: i64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError>;
    /// Whether a live `active` node (heartbeat within `silence`) has not yet
    /// applied the latest change of `function`.
    fn change_pending(&self, function: &str, silence: Duration) -> Result<bool, StoreError>;
    /// Forgets changes older than `age` that every `active` node applied; how many.
    fn prune_changes(&self, age: Duration) -> Result<u64, StoreError>;
    /// Calls `ring` when a change commits (and when the listening
    /// connection breaks or listens again), until the store is dropped.
    fn watch_changes(&self, ring: Arc<dyn Fn(Watch) + Send + Sync>);
}
