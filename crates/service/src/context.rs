//! The context every service shares: the store, the code store, the
//! account, the engine and the `$LATEST` snapshot cache, with the helpers
//! they all need (store calls on the blocking pool, ARNs, name parsing,
//! RevisionId checks, the store's JSON documents). Built once, cheap to
//! clone.

use std::sync::Arc;

use lambdad_model::arn::{FunctionRef, function_arn, parse_function_ref};
use lambdad_model::{NetworkMode, validate};
use lambdad_store::{CodeStore, FunctionRecord, Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{ServiceError, ServiceResult};
use crate::snapshot_cache::SnapshotCache;

/// Runs a store call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> ServiceResult<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(ServiceError::from),
        Err(e) => Err(ServiceError::Internal(format!("store task failed: {e}"))),
    }
}

/// AWS's timestamp format for `LastModified`: `2020-04-10T19:06:32.563+0000`.
pub fn now_timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]+0000"
    );
    now.format(&fmt).unwrap_or_default()
}

/// How long an unused shared archive is kept after its last upload (a
/// create on another node may be about to name it): `shared_code::GRACE`.
pub const SHARED_CODE_GRACE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A new RevisionId.
pub fn new_revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Sets `RuntimeVersionConfig` from the configuration's runtime and
/// architecture, as AWS does on every function of a managed runtime: one ARN
/// per runtime, architecture and region (`arn:aws:lambda:REGION::runtime:`
/// and 64 hex digits), unchanged by code updates.
pub fn stamp_runtime_version(c: &mut lambdad_model::function::FunctionConfiguration) {
    use sha2::Digest as _;
    c.runtime_version_config = c.runtime.as_deref().map(|runtime| {
        let region = c.function_arn.split(':').nth(3).unwrap_or_default();
        let arch = c.architectures.first().map_or("x86_64", String::as_str);
        let digest = sha2::Sha256::digest(format!("{runtime}/{arch}/{region}"));
        lambdad_model::function::RuntimeVersionConfig {
            runtime_version_arn: format!(
                "arn:aws:lambda:{region}::runtime:{}",
                hex::encode(digest)
            ),
        }
    });
}

/// The function ARN without a qualifier.
pub fn unqualified(arn: &str) -> String {
    arn.split(':').take(7).collect::<Vec<_>>().join(":")
}

/// `1 validation error detected: Value null at 'MEMBER' …`.
pub fn missing(member: &'static str) -> ServiceError {
    ServiceError::Missing(member)
}

/// What the services share: one allocation behind an `Arc`, so that the
/// services and every request that holds them clone it with one atomic
/// increment (a clone of each part cost allocations and a few dozen
/// reference counts per request: issue 18's high-concurrency regression).
#[derive(Clone)]
pub struct Context(Arc<Parts>);

impl std::ops::Deref for Context {
    type Target = Parts;
    fn deref(&self) -> &Parts {
        &self.0
    }
}

/// The parts of a [`Context`].
pub struct Parts {
    /// The metadata store.
    pub store: Arc<dyn Store>,
    /// Code archives, content-addressed.
    pub code: CodeStore,
    /// The account every ARN names.
    pub account: String,
    /// The invocation engine.
    pub engine: lambdad_engine::Invoker,
    /// `$LATEST` snapshots of warm functions (invalidated on every write).
    pub snapshots: SnapshotCache,
    /// Network of functions without a `lambdad:network` tag.
    pub network: NetworkMode,
    /// Serialises code mutations so that an archive is never collected
    /// while a concurrent create is about to reference it.
    pub code_lock: Arc<tokio::sync::Mutex<()>>,
    /// The built-in object store (`Code.S3Bucket`).
    pub objects: lambdad_objects::Objects,
    /// Credentials for the registries image functions come from.
    pub registries: crate::images::RegistryCredentials,
    /// This node's membership status (cluster mode).
    pub node: crate::node::LocalNode,
    /// Serialises fetches of code archives from the shared store.
    pub fetch_lock: Arc<tokio::sync::Mutex<()>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Context {
    /// A context over these parts.
    pub fn new(
        store: Arc<dyn Store>,
        code: CodeStore,
        account: String,
        engine: lambdad_engine::Invoker,
        network: NetworkMode,
        objects: lambdad_objects::Objects,
        registries: crate::images::RegistryCredentials,
    ) -> Self {
        Self(Arc::new(Parts {
            store,
            code,
            account,
            engine,
            snapshots: SnapshotCache::default(),
            network,
            code_lock: Arc::default(),
            objects,
            registries,
            node: Default::default(),
            fetch_lock: Arc::default(),
        }))
    }

    /// A code archive from the built-in object store (`Code.S3Bucket`/`S3Key`),
    /// with Lambda's errors for a missing bucket or key.
    pub async fn code_from_s3(&self, bucket: &str, key: Option<&str>) -> ServiceResult<Vec<u8>> {
        let key = key.ok_or_else(|| missing("code.s3Key"))?;
        let limit = lambdad_store::code::MAX_ZIPPED_BYTES as u64;
        self.objects
            .read_object(bucket, key, limit)
            .await
            .map_err(|e| match e {
                lambdad_objects::ReadError::TooLarge(_) => ServiceError::S3CodeTooLarge(limit),
                e @ lambdad_objects::ReadError::S3 { .. } => {
                    ServiceError::S3CodeUnreadable(Some(e.to_string()))
                }
                lambdad_objects::ReadError::Failed(why) => {
                    tracing::error!(error = %why, "reading code from the object store failed");
                    ServiceError::S3CodeUnreadable(None)
                }
            })
    }

    /// The unqualified ARN of function `name`.
    pub fn arn(&self, region: &str, name: &str) -> String {
        function_arn(region, &self.account, name)
    }

    /// `Function not found: ARN[:QUALIFIER]`.
    pub fn not_found(&self, region: &str, name: &str, qualifier: Option<&str>) -> ServiceError {
        let mut arn = self.arn(region, name);
        if let Some(q) = qualifier {
            arn.push(':');
            arn.push_str(q);
        }
        ServiceError::FunctionNotFound(arn)
    }

    /// Parses a `FunctionName` parameter and checks the ARN's region and account.
    pub fn parse_ref(&self, region: &str, name: &str) -> ServiceResult<FunctionRef> {
        self.parse_ref_with(region, name, None, validate::MAX_FUNCTION_ARN)
    }

    /// [`Self::parse_ref`] of an operation that also takes a `Qualifier`
    /// parameter and allows `FunctionName`s of `max_len` characters (AWS
    /// validates both at once: 170 for GetFunction and Invoke, else 140).
    pub fn parse_ref_with(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        max_len: usize,
    ) -> ServiceResult<FunctionRef> {
        validate::function_ref_params(name, qualifier, max_len)?;
        let r = parse_function_ref(name).ok_or(ServiceError::BadFunctionName)?;
        if r.account.as_ref().is_some_and(|a| a != &self.account) {
            return Err(ServiceError::OtherAccount);
        }
        if let Some(rr) = r.region.as_ref().filter(|rr| rr.as_str() != region) {
            return Err(ServiceError::OtherRegion {
                named: rr.clone(),
                region: region.to_owned(),
            });
        }
        Ok(r)
    }

    /// Resolves the qualifier given in the reference and as a parameter.
    pub fn qualifier<'a>(
        r: &'a FunctionRef,
        param: Option<&'a str>,
    ) -> ServiceResult<Option<&'a str>> {
        match (r.qualifier.as_deref(), param) {
            (Some(a), Some(b)) if a != b => Err(ServiceError::QualifierMismatch),
            (a, b) => Ok(a.or(b)),
        }
    }

    /// `RevisionMismatch` unless `given` is absent or `current`'s RevisionId.
    pub fn check_revision(current: &FunctionRecord, given: Option<&str>) -> ServiceResult<()> {
        match given {
            Some(rev) if rev != current.config.revision_id => {
                Err(ServiceError::FUNCTION_REVISION_MISMATCH)
            }
            _ => Ok(()),
        }
    }

    /// Removes an archive no function references any more (caller holds `code_lock`).
    pub async fn collect_code(&self, hex: String) {
        let store = self.store.clone();
        let code = self.code.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(false) = store.code_in_use(&hex) {
                code.remove(&hex);
            }
            // The shared copy goes only past the grace period that protects
            // an upload another node's create is about to reference.
            if let Some(c) = store.cluster()
                && let Err(e) = c.collect_code_blob(&hex, SHARED_CODE_GRACE)
            {
                tracing::warn!(code = %hex, error = %e, "Cannot collect a shared code archive.");
            }
        })
        .await;
    }

    /// The document `kind`/`key`, if any.
    pub async fn load_doc<T: DeserializeOwned>(
        &self,
        kind: &'static str,
        key: &str,
    ) -> ServiceResult<Option<T>> {
        let (store, key) = (self.store.clone(), key.to_owned());
        let Some(doc) = blocking(move || store.get_doc(kind, &key)).await? else {
            return Ok(None);
        };
        serde_json::from_str(&doc)
            .map(Some)
            .map_err(|e| ServiceError::Internal(format!("corrupt {kind} record: {e}")))
    }

    /// Stores (or with `None` deletes) the document `kind`/`key`.
    pub async fn save_doc<T: Serialize>(
        &self,
        kind: &'static str,
        key: &str,
        value: Option<&T>,
    ) -> ServiceResult<()> {
        let doc = value
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let (store, key) = (self.store.clone(), key.to_owned());
        blocking(move || store.put_doc(kind, &key, doc.as_deref())).await
    }

    /// Every document of `kind` (unreadable ones are skipped).
    pub async fn all_docs<T: DeserializeOwned>(&self, kind: &'static str) -> ServiceResult<Vec<T>> {
        let store = self.store.clone();
        let docs = blocking(move || store.list_docs(kind)).await?;
        Ok(docs
            .iter()
            .filter_map(|(_, d)| serde_json::from_str(d).ok())
            .collect())
    }
}
