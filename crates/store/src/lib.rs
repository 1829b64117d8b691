//! lambdad's metadata store and code blobs.
//!
//! [`Store`] is the backend-neutral interface every caller uses: it is
//! synchronous and object-safe (`Arc<dyn Store>`); async callers run it on
//! tokio's blocking pool. [`SqliteStore`] is the embedded default (WAL mode,
//! `synchronous=FULL`: a committed change survives a crash). [`PgStore`]
//! implements the same trait over PostgreSQL; callers do not change.
//!
//! Function code lives beside it in [`CodeStore`], content-addressed by
//! SHA-256.
//!
//! [`conformance`] is the behaviour every backend must show, as a public
//! suite a backend's tests run (`conformance::run_all`).
#![forbid(unsafe_code)]

pub mod cluster;
pub mod code;
pub mod conformance;
pub mod conformance_cluster;
mod conformance_objects;
mod conformance_queues;
mod conformance_streams;
mod conformance_topics;
mod doorbells;
mod image_fs;
mod migrations;
pub mod objects;
mod pg;
mod pg_cluster;
mod pg_copy;
mod pg_events;
mod pg_functions;
mod pg_migrations;
mod pg_objects;
mod pg_queues;
mod pg_topics;
pub mod queues;
mod seal;
mod sqlite;
mod sqlite_events;
mod sqlite_gateway;
mod sqlite_layers;
mod sqlite_objects;
mod sqlite_queues;
mod sqlite_streams;
mod sqlite_topics;
pub mod topics;

use std::collections::BTreeMap;

use lambdad_model::function::FunctionConfiguration;
use lambdad_model::{Code, ErrorCode};

pub use cluster::{ChangeRecord, ClusterStore, NodeRecord, Watch};
pub use code::MAX_IMAGE_BYTES;
pub use code::{CodeError, CodeInfo, CodeStore};
pub use image_fs::{Compression as LayerCompression, Layer as ImageLayer, is_sha256_hex};
pub use objects::ObjectStore;
pub use pg::PgStore;
pub use pg_copy::CopyReport;
pub use queues::QueueStore;
pub use sqlite::SqliteStore;
pub use topics::TopicStore;

/// One function as stored: its `$LATEST` configuration, tags and code key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRecord {
    /// The `$LATEST` configuration as the API reports it.
    pub config: FunctionConfiguration,
    /// Resource tags.
    pub tags: BTreeMap<String, String>,
    /// hex(SHA-256) of the code archive (the [`CodeStore`] key).
    pub code_hex: String,
    /// The [`CodeStore`] keys of the function's layers, in `Layers` order.
    pub layer_code: Vec<String>,
    /// A container image function's image (`code_hex` then keys its root
    /// file system).
    pub image: Option<lambdad_model::function::ImageCode>,
}

/// One alias of a function.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AliasRecord {
    /// The function's name.
    pub function: String,
    /// The alias name.
    pub name: String,
    /// The version it points to.
    pub function_version: String,
    /// Description.
    pub description: String,
    /// `AdditionalVersionWeights` (version → weight).
    pub weights: std::collections::BTreeMap<String, f64>,
    /// RevisionId.
    pub revision_id: String,
}

/// A provisioned concurrency configuration of a version or alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedRecord {
    /// The function's name.
    pub function: String,
    /// The version number or alias.
    pub qualifier: String,
    /// Environments requested.
    pub requested: u32,
    /// `LastModified` in AWS's format.
    pub last_modified: String,
}

/// One accepted asynchronous invocation, durable until its outcome is handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncEvent {
    /// Request id (also the queue key).
    pub id: String,
    /// Function name (or, for an S3 event record bound for a bucket's queue
    /// or topic, or an EventBridge rule's event for a queue or topic target,
    /// that queue's or topic's ARN: function names have no `:`).
    pub function: String,
    /// Qualifier the caller used, if any (for a rule's event bound for a
    /// queue or topic: the rule and FIFO group, `lambdad_service::events::targets::RuleMessage`).
    pub qualifier: Option<String>,
    /// The event.
    pub payload: Vec<u8>,
    /// When it was accepted (epoch ms).
    pub received_ms: i64,
    /// Attempts made so far.
    pub attempts: u32,
    /// Not to be tried before (epoch ms).
    pub not_before_ms: i64,
}

/// One published layer version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LayerVersionRecord {
    /// Layer name.
    pub name: String,
    /// Version number (assigned by the store on publish).
    pub version: u64,
    /// Description.
    pub description: String,
    /// `CreatedDate` in AWS's format.
    pub created_date: String,
    /// `CompatibleRuntimes`.
    pub compatible_runtimes: Vec<String>,
    /// `CompatibleArchitectures`.
    pub compatible_architectures: Vec<String>,
    /// `LicenseInfo`.
    pub license_info: Option<String>,
    /// base64(SHA-256) of the archive.
    pub code_sha256: String,
    /// Archive size.
    pub code_size: u64,
    /// The [`CodeStore`] key.
    pub code_hex: String,
    /// The layer version's resource policy statements (JSON array), if any.
    pub policy: Option<String>,
    /// Revision of the policy.
    pub policy_revision: String,
}

/// A function URL configuration of `$LATEST` or an alias.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UrlConfigRecord {
    /// The function's name.
    pub function: String,
    /// `$LATEST` or an alias name.
    pub qualifier: String,
    /// The URL id (the first label of its host name), unique.
    pub url_id: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    /// The `Cors` object as the API reports it.
    pub cors: Option<serde_json::Value>,
    /// `BUFFERED` or `RESPONSE_STREAM`; empty when never set (buffered).
    pub invoke_mode: String,
    /// `CreationTime` in AWS's format.
    pub creation_time: String,
    /// `LastModifiedTime` in AWS's format.
    pub last_modified_time: String,
}

/// An API Gateway HTTP API with its routes, integrations and stages: one
/// document, replaced whole by compare-and-set on `revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayApiRecord {
    /// The API id (the first label of its host name).
    pub api_id: String,
    /// Changes on every write.
    pub revision: String,
    /// The API as JSON (the service's document).
    pub body: String,
}

/// How far a stream event source mapping has read one shard: the last
/// record fully processed, and whether the shard is closed and done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCheckpoint {
    /// The mapping's UUID.
    pub mapping: String,
    /// The shard id.
    pub shard: String,
    /// The sequence number of the last record processed (`None`: none yet).
    pub sequence: Option<String>,
    /// The shard is closed and every record of it processed.
    pub ended: bool,
}

/// A resource-based policy of a function, version or alias.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyRecord {
    /// The policy's statements (a JSON array).
    pub statements: String,
    /// Its RevisionId.
    pub revision_id: String,
}

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with that key exists already.
    #[error("{kind} already exists: {id}")]
    AlreadyExists {
        /// Kind of record.
        kind: &'static str,
        /// Its key.
        id: String,
    },
    /// The record a write needs does not exist.
    #[error("{kind} does not exist: {id}")]
    NotFound {
        /// Kind of record.
        kind: &'static str,
        /// Its key.
        id: String,
    },
    /// A compare-and-set lost: the record changed since it was read.
    #[error("{kind} {id} changed concurrently")]
    RevisionMismatch {
        /// Kind of record.
        kind: &'static str,
        /// Its key.
        id: String,
    },
    /// The database failed.
    #[error("metadata store error: {0}")]
    Backend(#[from] rusqlite::Error),
    /// The PostgreSQL database failed.
    #[error("metadata store error: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had (the server is down or the pool exhausted).
    #[error("metadata store unavailable: {0}")]
    Unavailable(String),
    /// A stored document could not be decoded.
    #[error("corrupt record in metadata store: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The key file could not be read or written.
    #[error("metadata store key: {0}")]
    Io(#[from] std::io::Error),
}

impl ErrorCode for StoreError {
    fn error_code(&self) -> Code {
        match self {
            StoreError::AlreadyExists { .. } => Code::ResourceConflict,
            StoreError::RevisionMismatch { .. } => Code::PreconditionFailed,
            StoreError::NotFound { .. } => Code::ResourceNotFound,
            StoreError::Backend(_)
            | StoreError::Postgres(_)
            | StoreError::Unavailable(_)
            | StoreError::Corrupt(_)
            | StoreError::Io(_) => Code::Service,
        }
    }
}

/// The metadata store interface.
pub trait Store:
    objects::ObjectStore + queues::QueueStore + topics::TopicStore + Send + Sync + std::fmt::Debug
{
    /// Inserts a new function; `AlreadyExists` when the name is taken.
    fn create_function(&self, record: &FunctionRecord) -> Result<(), StoreError>;
    /// Reads a function by name.
    fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError>;
    /// Replaces a function whose current RevisionId is `expected_revision`;
    /// `RevisionMismatch` when it changed meanwhile (or vanished).
    fn update_function(
        &self,
        record: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError>;
    /// Deletes a function; false when it did not exist.
    fn delete_function(&self, name: &str) -> Result<bool, StoreError>;
    /// Functions ordered by name, strictly after `after`, at most `limit`.
    fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError>;
    /// Number of functions and the sum of their code sizes.
    fn usage(&self) -> Result<(u64, u64), StoreError>;
    /// Whether any function or layer version still uses the code archive `code_hex`.
    fn code_in_use(&self, code_hex: &str) -> Result<bool, StoreError>;

    /// Publishes `record` as the function's next version, provided the
    /// function's RevisionId is still `expected_revision`; numbers are never
    /// reused while the function exists. Returns the number.
    fn publish_version(
        &self,
        record: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<u64, StoreError>;
    /// One published version.
    fn get_version(
        &self,
        function: &str,
        version: u64,
    ) -> Result<Option<FunctionRecord>, StoreError>;
    /// Published versions, oldest first.
    fn list_versions(&self, function: &str) -> Result<Vec<FunctionRecord>, StoreError>;
    /// Deletes a published version; false when it did not exist.
    fn delete_version(&self, function: &str, version: u64) -> Result<bool, StoreError>;
    /// Creates an alias; `AlreadyExists` when taken.
    fn create_alias(&self, alias: &AliasRecord) -> Result<(), StoreError>;
    /// One alias.
    fn get_alias(&self, function: &str, name: &str) -> Result<Option<AliasRecord>, StoreError>;
    /// A function's aliases by name.
    fn list_aliases(&self, function: &str) -> Result<Vec<AliasRecord>, StoreError>;
    /// Replaces an alias whose RevisionId is still `expected_revision`.
    fn update_alias(&self, alias: &AliasRecord, expected_revision: &str) -> Result<(), StoreError>;
    /// Deletes an alias; false when it did not exist.
    fn delete_alias(&self, function: &str, name: &str) -> Result<bool, StoreError>;

    /// Sets (or with `None` removes) a function's reserved concurrency.
    fn set_reserved_concurrency(
        &self,
        function: &str,
        reserved: Option<u32>,
    ) -> Result<(), StoreError>;
    /// Every function's reserved concurrency.
    fn reserved_concurrency(&self) -> Result<Vec<(String, u32)>, StoreError>;

    /// Sets a provisioned concurrency configuration.
    fn set_provisioned(&self, config: &ProvisionedRecord) -> Result<(), StoreError>;
    /// Deletes one; false when it did not exist.
    fn delete_provisioned(&self, function: &str, qualifier: &str) -> Result<bool, StoreError>;
    /// The configurations of one function, or of all.
    fn list_provisioned(
        &self,
        function: Option<&str>,
    ) -> Result<Vec<ProvisionedRecord>, StoreError>;

    /// Stores accepted asynchronous events in one transaction: all or none,
    /// durable when this returns (a group commit: one sync for many).
    fn enqueue_events(&self, events: &[AsyncEvent]) -> Result<(), StoreError>;
    /// Calls `ring` after every commit that queued asynchronous events (by
    /// `enqueue_events` or with an object's record), so that the queue's
    /// worker sees new events at once instead of at its next poll.
    fn on_events_queued(&self, ring: Box<dyn Fn() + Send + Sync>);
    /// Leases up to `limit` due events for `lease_ms` (expired leases are due again).
    fn lease_events(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError>;
    /// Makes every leased event due again: called at start-up, when no
    /// worker of this (single-node) store can still be running.
    fn release_leases(&self) -> Result<u64, StoreError>;
    /// Records a failed attempt and when to try again (releases the lease).
    fn reschedule_event(
        &self,
        id: &str,
        attempts: u32,
        not_before_ms: i64,
    ) -> Result<(), StoreError>;
    /// Removes events whose outcome has been handled, in one transaction.
    fn delete_events(&self, ids: &[String]) -> Result<(), StoreError>;
    /// Events waiting or in flight.
    fn pending_events(&self) -> Result<u64, StoreError>;
    /// When the oldest waiting event was accepted (epoch ms), if any.
    fn oldest_event_ms(&self) -> Result<Option<i64>, StoreError>;
    /// Sets (or with `None` deletes) an EventInvokeConfig as JSON.
    fn put_event_invoke_config(
        &self,
        name: &str,
        qualifier: &str,
        config: Option<&str>,
    ) -> Result<(), StoreError>;
    /// A function's EventInvokeConfigs: (qualifier, JSON).
    fn event_invoke_configs(&self, name: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// Creates a function URL configuration; `AlreadyExists` when the
    /// function and qualifier have one.
    fn create_url_config(&self, url: &UrlConfigRecord) -> Result<(), StoreError>;
    /// Replaces an existing URL configuration; false when there is none.
    fn update_url_config(&self, url: &UrlConfigRecord) -> Result<bool, StoreError>;
    /// The URL configuration of a function and qualifier.
    fn get_url_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<UrlConfigRecord>, StoreError>;
    /// The URL configuration with that URL id.
    fn url_config_by_id(&self, url_id: &str) -> Result<Option<UrlConfigRecord>, StoreError>;
    /// Deletes a URL configuration; false when there was none.
    fn delete_url_config(&self, function: &str, qualifier: &str) -> Result<bool, StoreError>;
    /// A function's URL configurations, by qualifier.
    fn list_url_configs(&self, function: &str) -> Result<Vec<UrlConfigRecord>, StoreError>;
    /// The resource policy of a function (`$LATEST`), version or alias.
    fn get_policy(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<PolicyRecord>, StoreError>;
    /// Replaces (or with `None` removes) a policy whose revision is still
    /// `expected_revision` (`None`: there was no policy);
    /// `RevisionMismatch` when it changed meanwhile.
    fn set_policy(
        &self,
        function: &str,
        qualifier: &str,
        policy: Option<&PolicyRecord>,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Stores (or with `None` deletes) a document of `kind` under `key`:
    /// records of features that need no queries of their own (EventBridge rules).
    fn put_doc(&self, kind: &str, key: &str, body: Option<&str>) -> Result<(), StoreError>;
    /// One document.
    fn get_doc(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError>;
    /// Every document of `kind`, by key.
    fn list_docs(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError>;

    /// Publishes a layer version, assigning the next number of that layer
    /// (numbers are never reused, even after deletes); returns it.
    fn publish_layer_version(&self, record: &LayerVersionRecord) -> Result<u64, StoreError>;
    /// Reads one layer version.
    fn get_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>, StoreError>;
    /// The versions of a layer, newest first.
    fn list_layer_versions(&self, name: &str) -> Result<Vec<LayerVersionRecord>, StoreError>;
    /// The newest version of every layer, by layer name.
    fn list_layers(&self) -> Result<Vec<LayerVersionRecord>, StoreError>;
    /// Deletes a layer version; false when it did not exist.
    fn delete_layer_version(&self, name: &str, version: u64) -> Result<bool, StoreError>;
    /// Replaces a layer version's policy if its policy revision is still `expected_revision`.
    fn update_layer_policy(
        &self,
        record: &LayerVersionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError>;

    /// Stores a new HTTP API; `AlreadyExists` when its id is taken.
    fn create_gateway_api(&self, api: &GatewayApiRecord) -> Result<(), StoreError>;
    /// One HTTP API.
    fn get_gateway_api(&self, api_id: &str) -> Result<Option<GatewayApiRecord>, StoreError>;
    /// Every HTTP API, by id.
    fn list_gateway_apis(&self) -> Result<Vec<GatewayApiRecord>, StoreError>;
    /// Replaces an HTTP API if its revision is still `expected_revision`
    /// (`RevisionMismatch` otherwise, or when it is gone).
    fn update_gateway_api(
        &self,
        api: &GatewayApiRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError>;
    /// Deletes an HTTP API; false when it did not exist.
    fn delete_gateway_api(&self, api_id: &str) -> Result<bool, StoreError>;

    /// Every shard checkpoint of stream mapping `mapping`, by shard id.
    fn stream_checkpoints(&self, mapping: &str) -> Result<Vec<StreamCheckpoint>, StoreError>;
    /// Stores (replaces) one shard's checkpoint.
    fn put_stream_checkpoint(&self, checkpoint: &StreamCheckpoint) -> Result<(), StoreError>;
    /// Forgets every checkpoint of `mapping`; how many there were.
    fn delete_stream_checkpoints(&self, mapping: &str) -> Result<u64, StoreError>;

    /// What several nodes share through this store (code archives, the
    /// change log, membership): `None` for a store of one node (SQLite).
    fn cluster(&self) -> Option<&dyn ClusterStore> {
        None
    }
}
