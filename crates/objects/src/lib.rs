//! lambdad's built-in S3-compatible object store: object bytes in files
//! under the data dir (`files.rs`), buckets', objects' and uploads' records
//! in the metadata store (`lambdad_store::ObjectStore`), and the `s3s::S3`
//! implementation that serves the S3 API over them (`s3.rs`, `list.rs`,
//! `multipart.rs`). s3s parses requests, renders S3's XML and errors, checks
//! SigV4 (headers and presigned URLs) and decodes aws-chunked bodies; the
//! API crate routes S3 requests to [`Objects::service`].
//!
//! Bucket notifications (`notify.rs`) become asynchronous invocations
//! queued in the same store transaction as the object's record. Server
//! access logging (`access_log.rs`) keeps the lines of logged buckets'
//! requests and delivers them as objects into their target buckets.
#![forbid(unsafe_code)]

pub mod access_log;
pub mod bucket_config;
mod files;
mod list;
mod meta;
mod multipart;
pub mod notify;
mod request;
mod s3;
pub mod webhooks;

use std::path::Path;
use std::sync::Arc;

use lambdad_store::{Store, StoreError};
use s3s::{S3Error, S3ErrorCode};

pub use files::MAX_PUT;

/// What the object store needs of lambdad's configuration.
#[derive(Debug, Clone)]
pub struct ObjectsConfig {
    /// The default region (of a bucket created without a LocationConstraint).
    pub region: String,
    /// The account every ARN names (the bucket owner).
    pub account_id: String,
    /// The longest pause between two pieces of an object's body (`--client-timeout`).
    pub body_idle_timeout: std::time::Duration,
}

/// The object store.
#[derive(Debug, Clone)]
pub struct Objects {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Arc<dyn Store>,
    files: files::Files,
    config: ObjectsConfig,
    access_logs: access_log::AccessLogs,
}

/// Why an object could not be read for lambdad's own use (function code).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// S3's error code and message (NoSuchBucket, NoSuchKey).
    #[error("S3 Error Code: {code}. S3 Error Message: {message}")]
    S3 {
        /// The S3 error code.
        code: &'static str,
        /// Its message.
        message: &'static str,
    },
    /// The object is larger than the caller accepts.
    #[error("the object is {0} bytes")]
    TooLarge(u64),
    /// The store or the disk failed.
    #[error("{0}")]
    Failed(String),
}

pub(crate) const NO_SUCH_BUCKET: &str = "The specified bucket does not exist";
pub(crate) const NO_SUCH_KEY: &str = "The specified key does not exist.";

pub(crate) fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis(),
    )
    .unwrap_or(i64::MAX)
}

pub(crate) fn store_error(e: StoreError) -> S3Error {
    tracing::error!(error = %e, "object store metadata failed");
    S3Error::with_message(
        S3ErrorCode::InternalError,
        "We encountered an internal error. Please try again.",
    )
}

impl Objects {
    /// Opens the store whose files live in `dir` (e.g. `DATA_DIR/objects`),
    /// removing files no record names (left by a crash). Call before serving.
    pub fn open(dir: &Path, store: Arc<dyn Store>, config: ObjectsConfig) -> std::io::Result<Self> {
        let files = files::Files::open(dir, config.body_idle_timeout)?;
        let in_use = store.blobs_in_use().map_err(std::io::Error::other)?;
        let removed = files.collect(&in_use)?;
        if removed > 0 {
            tracing::info!(
                removed,
                "Removed object files no record names (left by a crash)."
            );
        }
        Ok(Self {
            inner: Arc::new(Inner {
                store,
                files,
                config,
                access_logs: access_log::AccessLogs::default(),
            }),
        })
    }

    /// Runs a store call on the blocking pool.
    pub(crate) async fn db<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, S3Error> {
        let store = self.inner.store.clone();
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .map_err(|e| S3Error::with_message(S3ErrorCode::InternalError, e.to_string()))?
            .map_err(store_error)
    }

    pub(crate) fn files(&self) -> &files::Files {
        &self.inner.files
    }

    pub(crate) fn config(&self) -> &ObjectsConfig {
        &self.inner.config
    }

    pub(crate) fn access_logs(&self) -> &access_log::AccessLogs {
        &self.inner.access_logs
    }

    /// A bucket's record, or NoSuchBucket.
    pub(crate) async fn bucket(
        &self,
        name: &str,
    ) -> Result<lambdad_store::objects::BucketRecord, S3Error> {
        let n = name.to_owned();
        self.db(move |s| s.get_bucket(&n))
            .await?
            .ok_or_else(|| S3Error::with_message(S3ErrorCode::NoSuchBucket, NO_SUCH_BUCKET))
    }

    /// Why an S3 event record (or `s3:TestEvent`) may no longer go to the
    /// queue or topic `destination` (None: it may): the check of
    /// [`notify::message_refusal`] for the record's bucket, made again before
    /// each delivery, so that a policy changed since the configuration was
    /// written stops deliveries as on AWS.
    pub async fn delivery_refusal(
        &self,
        destination: &str,
        payload: &[u8],
    ) -> Result<Option<notify::Refusal>, StoreError> {
        let bucket = notify::bucket_of(payload).unwrap_or_default();
        let (store, arn) = (self.inner.store.clone(), destination.to_owned());
        let (region, account) = (
            self.config().region.clone(),
            self.config().account_id.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let home = notify::Home {
                region: &region,
                account: &account,
            };
            notify::message_refusal(store.as_ref(), &arn, &bucket, home)
        })
        .await
        .map_err(|e| StoreError::Io(std::io::Error::other(e)))?
    }

    /// A whole object of at most `limit` bytes (function code from `Code.S3Bucket`).
    pub async fn read_object(
        &self,
        bucket: &str,
        key: &str,
        limit: u64,
    ) -> Result<Vec<u8>, ReadError> {
        let failed = |e: S3Error| ReadError::Failed(e.to_string());
        let (b, k) = (bucket.to_owned(), key.to_owned());
        let found = self
            .db(move |s| Ok((s.get_bucket(&b)?, s.get_object(&b, &k)?)))
            .await
            .map_err(failed)?;
        let object = match found {
            (None, _) => {
                return Err(ReadError::S3 {
                    code: "NoSuchBucket",
                    message: NO_SUCH_BUCKET,
                });
            }
            (Some(_), None) => {
                return Err(ReadError::S3 {
                    code: "NoSuchKey",
                    message: NO_SUCH_KEY,
                });
            }
            (Some(_), Some(o)) => o,
        };
        if object.size > limit {
            return Err(ReadError::TooLarge(object.size));
        }
        self.files()
            .read_all(&object.blob, limit)
            .await
            .map_err(|e| ReadError::Failed(e.to_string()))
    }

    /// The S3 API over this store, as an `s3s` service: `auth` checks
    /// signatures (None: every request is served as anonymous-allowed),
    /// `access` decides what a verified requester may do (None: anything),
    /// `host` parses virtual-hosted-style Host headers.
    pub fn service(
        &self,
        auth: Option<Box<dyn s3s::auth::S3Auth>>,
        access: Option<Box<dyn s3s::access::S3Access>>,
        host: impl s3s::host::S3Host,
    ) -> s3s::service::S3Service {
        let mut b = s3s::service::S3ServiceBuilder::new(self.clone());
        if let Some(auth) = auth {
            b.set_auth(BoxedAuth(auth));
        }
        match access {
            Some(a) => b.set_access(BoxedAccess(a)),
            None => b.set_access(AllowAll),
        }
        b.set_host(host);
        b.build()
    }
}

struct BoxedAuth(Box<dyn s3s::auth::S3Auth>);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for BoxedAuth {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<s3s::auth::SecretKey> {
        self.0.get_secret_key(access_key).await
    }
}

struct BoxedAccess(Box<dyn s3s::access::S3Access>);

#[async_trait::async_trait]
impl s3s::access::S3Access for BoxedAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        self.0.check(cx).await
    }
}

/// Without an access policy, whether a request may be served is decided
/// before it reaches s3s (the API's rule for unsigned requests): s3s only
/// verifies the signatures it sees.
struct AllowAll;

#[async_trait::async_trait]
impl s3s::access::S3Access for AllowAll {
    async fn check(&self, _cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        Ok(())
    }
}
