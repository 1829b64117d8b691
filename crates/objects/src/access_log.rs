//! Server access logging: a bucket's logging configuration
//! (PutBucketLogging / GetBucketLogging, a store document of kind
//! [`LOGGING_DOC`] keyed by the bucket), the access log lines of the
//! requests a logged bucket answers (S3's server access log format), and
//! their delivery as objects `PREFIX[PARTITION]YYYY-mm-DD-HH-MM-SS-UNIQUE`
//! into the target bucket, in batches (`Objects::flush_access_logs`, called
//! by the server every few seconds and at shutdown).
//!
//! Deliveries are written straight into the store, not through the S3 API,
//! so they are never logged themselves (also when the target is the source).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result};
use serde::{Deserialize, Serialize};

use crate::{Objects, now_ms};

/// The store document kind holding a bucket's logging configuration.
pub(crate) const LOGGING_DOC: &str = "s3-bucket-logging";

/// Lines kept for one source bucket before a delivery is started early.
const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

/// Where a bucket's access log goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Target {
    bucket: String,
    prefix: String,
    /// `TargetObjectKeyFormat` as asked: none, `SimplePrefix`, or
    /// `PartitionedPrefix` with its date source (`EventTime`, `DeliveryTime`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    format: Option<KeyFormat>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum KeyFormat {
    Simple,
    Partitioned(Option<String>),
}

/// Lines waiting for delivery, of one source bucket.
#[derive(Debug)]
struct Pending {
    target: Target,
    region: String,
    first_ms: i64,
    lines: String,
}

/// The logging configurations seen (a cache of the store's documents) and
/// the lines not yet delivered.
#[derive(Debug, Default)]
pub(crate) struct AccessLogs {
    targets: Mutex<HashMap<String, Option<(Target, String)>>>,
    pending: Mutex<HashMap<String, Pending>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One request a bucket answered, as the API saw it.
#[derive(Debug, Clone, Default)]
pub struct AccessEntry {
    /// The bucket the request named.
    pub bucket: String,
    /// When it was received (epoch ms).
    pub time_ms: i64,
    /// The client's address.
    pub remote_ip: Option<std::net::IpAddr>,
    /// The requester's ARN (None: unauthenticated).
    pub requester: Option<String>,
    /// The request id (`x-amz-request-id`).
    pub request_id: String,
    /// S3's operation name, e.g. `REST.PUT.OBJECT`.
    pub operation: String,
    /// The key, URL-encoded as in the request (None: no key).
    pub key: Option<String>,
    /// The request line, `PUT /bucket/key HTTP/1.1`.
    pub request_uri: String,
    /// The answer's status.
    pub status: u16,
    /// S3's error code of an error answer.
    pub error_code: Option<String>,
    /// Answer body bytes.
    pub bytes_sent: u64,
    /// The object's size (object operations).
    pub object_size: Option<u64>,
    /// Milliseconds from receipt to the answer.
    pub total_ms: u64,
    /// Milliseconds spent before the answer's first byte.
    pub turnaround_ms: u64,
    /// The `Referer` header.
    pub referer: Option<String>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// `x-amz-id-2`.
    pub host_id: Option<String>,
    /// `SigV2` or `SigV4` (None: unsigned).
    pub signature_version: Option<&'static str>,
    /// `AuthHeader` or `QueryString` (None: unsigned).
    pub auth_type: Option<&'static str>,
    /// The `Host` header.
    pub host: Option<String>,
}

fn dash(v: Option<&str>) -> &str {
    v.filter(|s| !s.is_empty()).unwrap_or("-")
}

/// A quoted field: `"` inside is escaped as S3 does, `\"`.
fn quoted(v: Option<&str>) -> String {
    format!("\"{}\"", dash(v).replace('"', "\\\""))
}

/// `[06/Feb/2019:00:00:38 +0000]`.
fn log_time(ms: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let t = datetime(ms);
    format!(
        "[{:02}/{}/{}:{:02}:{:02}:{:02} +0000]",
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn datetime(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// One line of S3's server access log format (without the newline).
pub(crate) fn line(owner: &str, e: &AccessEntry) -> String {
    let num = |n: u64| {
        if n == 0 {
            "-".to_owned()
        } else {
            n.to_string()
        }
    };
    let mut s = String::with_capacity(400);
    let _ = write!(
        s,
        "{owner} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} - {} {} - {} {} - - -",
        e.bucket,
        log_time(e.time_ms),
        e.remote_ip
            .map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
        dash(e.requester.as_deref()),
        dash(Some(e.request_id.as_str())),
        e.operation,
        dash(e.key.as_deref()),
        quoted(Some(e.request_uri.as_str())),
        e.status,
        dash(e.error_code.as_deref()),
        num(e.bytes_sent),
        e.object_size
            .map_or_else(|| "-".to_owned(), |n| n.to_string()),
        e.total_ms,
        e.turnaround_ms,
        quoted(e.referer.as_deref()),
        quoted(e.user_agent.as_deref()),
        dash(e.host_id.as_deref()),
        dash(e.signature_version),
        dash(e.auth_type),
        dash(e.host.as_deref()),
    );
    s
}

/// The key of a log object delivered at `now_ms`.
fn object_key(p: &Pending, account: &str, source: &str, now_ms: i64) -> String {
    let stamp = |ms: i64| {
        let t = datetime(ms);
        format!(
            "{}-{:02}-{:02}-{:02}-{:02}-{:02}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    };
    let unique = uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase();
    let mut key = p.target.prefix.clone();
    if let Some(KeyFormat::Partitioned(source_of_date)) = &p.target.format {
        let ms = if source_of_date.as_deref() == Some("EventTime") {
            p.first_ms
        } else {
            now_ms
        };
        let t = datetime(ms);
        let _ = write!(
            key,
            "{account}/{}/{source}/{}/{:02}/{:02}/",
            p.region,
            t.year(),
            u8::from(t.month()),
            t.day()
        );
    }
    let _ = write!(key, "{}-{unique}", stamp(now_ms));
    key
}

fn target_of(l: LoggingEnabled) -> Target {
    let format = l
        .target_object_key_format
        .map(|f| match f.partitioned_prefix {
            Some(p) => {
                KeyFormat::Partitioned(p.partition_date_source.map(|d| d.as_str().to_owned()))
            }
            None => KeyFormat::Simple,
        });
    Target {
        bucket: l.target_bucket,
        prefix: l.target_prefix,
        format,
    }
}

fn enabled_of(t: Target) -> LoggingEnabled {
    LoggingEnabled {
        target_bucket: t.bucket,
        target_prefix: t.prefix,
        target_grants: None,
        target_object_key_format: t.format.map(|f| match f {
            KeyFormat::Simple => TargetObjectKeyFormat {
                simple_prefix: Some(SimplePrefix {}),
                partitioned_prefix: None,
            },
            KeyFormat::Partitioned(d) => TargetObjectKeyFormat {
                simple_prefix: None,
                partitioned_prefix: Some(PartitionedPrefix {
                    partition_date_source: d.map(PartitionDateSource::from),
                }),
            },
        }),
    }
}

impl Objects {
    /// PutBucketLogging: enables (LoggingEnabled) or disables (none) the
    /// bucket's access log, with S3's checks of the target bucket.
    pub(crate) async fn put_logging(&self, input: PutBucketLoggingInput) -> S3Result<()> {
        let source = self.bucket(&input.bucket).await?;
        let json = match input.bucket_logging_status.logging_enabled {
            None => None,
            Some(l) => {
                let target = target_of(l);
                let Ok(t) = self.bucket(&target.bucket).await else {
                    return Err(S3Error::with_message(
                        S3ErrorCode::InvalidTargetBucketForLogging,
                        "The target bucket for logging does not exist",
                    ));
                };
                if t.region != source.region {
                    // S3's code is spelt this way.
                    let mut e = S3Error::with_message(
                        S3ErrorCode::Custom("CrossLocationLoggingProhibitted".into()),
                        "Cross S3 location logging not allowed. ",
                    );
                    e.set_status_code(http::StatusCode::FORBIDDEN);
                    return Err(e);
                }
                Some(serde_json::to_string(&target).unwrap_or_default())
            }
        };
        let b = input.bucket.clone();
        self.db(move |s| s.put_doc(LOGGING_DOC, &b, json.as_deref()))
            .await?;
        lock(&self.access_logs().targets).remove(&input.bucket);
        Ok(())
    }

    /// GetBucketLogging: the bucket's `LoggingEnabled`, or none.
    pub(crate) async fn get_logging(&self, bucket: &str) -> S3Result<GetBucketLoggingOutput> {
        self.bucket(bucket).await?;
        Ok(GetBucketLoggingOutput {
            logging_enabled: self
                .logging_target(bucket)
                .await?
                .map(|(t, _)| enabled_of(t)),
        })
    }

    /// Forgets a deleted (or re-created) bucket's logging configuration.
    pub(crate) async fn delete_logging(&self, bucket: &str) -> S3Result<()> {
        let b = bucket.to_owned();
        self.db(move |s| s.put_doc(LOGGING_DOC, &b, None)).await?;
        lock(&self.access_logs().targets).remove(bucket);
        Ok(())
    }

    /// The bucket's logging target and its region (cached).
    async fn logging_target(&self, bucket: &str) -> S3Result<Option<(Target, String)>> {
        if let Some(t) = lock(&self.access_logs().targets).get(bucket) {
            return Ok(t.clone());
        }
        let b = bucket.to_owned();
        let (doc, record) = self
            .db(move |s| Ok((s.get_doc(LOGGING_DOC, &b)?, s.get_bucket(&b)?)))
            .await?;
        let Some(record) = record else {
            // Requests name buckets freely: only existing ones are cached.
            return Ok(None);
        };
        let found = doc
            .as_deref()
            .and_then(|d| serde_json::from_str::<Target>(d).ok())
            .map(|t| (t, record.region));
        lock(&self.access_logs().targets).insert(bucket.to_owned(), found.clone());
        Ok(found)
    }

    /// Whether requests to `bucket` are logged.
    pub async fn logs_access(&self, bucket: &str) -> bool {
        matches!(self.logging_target(bucket).await, Ok(Some(_)))
    }

    /// Records one answered request of a logged bucket (nothing for another
    /// bucket); returns the line written, for lambdad's own log group.
    pub async fn log_access(&self, entry: &AccessEntry) -> Option<String> {
        let (target, region) = self.logging_target(&entry.bucket).await.ok()??;
        let text = line(&self.config().account_id, entry);
        let full = {
            let mut pending = lock(&self.access_logs().pending);
            let p = pending
                .entry(entry.bucket.clone())
                .or_insert_with(|| Pending {
                    target,
                    region,
                    first_ms: entry.time_ms,
                    lines: String::new(),
                });
            p.lines.push_str(&text);
            p.lines.push('\n');
            p.lines.len() >= MAX_PENDING_BYTES
        };
        if full {
            let objects = self.clone();
            tokio::spawn(async move { objects.flush_access_logs().await });
        }
        Some(text)
    }

    /// Delivers every pending line: one object per source bucket into its
    /// target bucket. A target that is gone loses its lines (as on S3, where
    /// delivery is best effort), with a warning.
    pub async fn flush_access_logs(&self) {
        let batches: Vec<(String, Pending)> = lock(&self.access_logs().pending).drain().collect();
        for (source, p) in batches {
            let key = object_key(&p, &self.config().account_id, &source, now_ms());
            let target = p.target.bucket.clone();
            if let Err(e) = self.deliver(&target, &key, p.lines.into_bytes()).await {
                tracing::warn!(bucket = %source, target = %target, error = %e, "Cannot deliver an S3 access log.");
            }
        }
    }

    /// Writes a log object (as S3's log delivery: a PutObject whose events
    /// the target bucket's notification configuration may want).
    async fn deliver(&self, bucket: &str, key: &str, body: Vec<u8>) -> S3Result<()> {
        let record = self.bucket(bucket).await?;
        let stream = futures::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(body))]);
        let w = self
            .files()
            .write(
                StreamingBlob::wrap(stream),
                crate::MAX_PUT,
                crate::files::Want::default(),
            )
            .await?;
        let tag = hex::encode(w.md5);
        let who = crate::request::Caller {
            principal: Some("logging.s3.amazonaws.com".to_owned()),
            source_ip: None,
            request_id: uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase(),
        };
        let events = self.events_for(
            &record,
            "ObjectCreated:Put",
            key,
            Some((w.size, &tag)),
            &who,
        );
        let meta = crate::meta::Meta {
            content_type: Some("text/plain".to_owned()),
            ..Default::default()
        };
        self.commit(
            lambdad_store::objects::ObjectRecord {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                blob: w.blob,
                size: w.size,
                etag: tag,
                modified_ms: now_ms(),
                meta: meta.to_json(),
            },
            events,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_has_s3s_fields_in_order() {
        let e = AccessEntry {
            bucket: "photos".into(),
            time_ms: 1_549_411_238_000,
            remote_ip: Some("192.0.2.3".parse().unwrap()),
            requester: None,
            request_id: "3E57427F3EXAMPLE".into(),
            operation: "REST.GET.OBJECT".into(),
            key: Some("a%20b.jpg".into()),
            request_uri: "GET /photos/a%20b.jpg HTTP/1.1".into(),
            status: 404,
            error_code: Some("NoSuchKey".into()),
            bytes_sent: 0,
            object_size: None,
            total_ms: 7,
            turnaround_ms: 6,
            referer: None,
            user_agent: Some("aws-cli/2 \"x\"".into()),
            host_id: None,
            signature_version: Some("SigV4"),
            auth_type: Some("AuthHeader"),
            host: Some("127.0.0.1:9001".into()),
        };
        assert_eq!(
            line("000000000000", &e),
            "000000000000 photos [06/Feb/2019:00:00:38 +0000] 192.0.2.3 - 3E57427F3EXAMPLE \
             REST.GET.OBJECT a%20b.jpg \"GET /photos/a%20b.jpg HTTP/1.1\" 404 NoSuchKey - - 7 6 \
             \"-\" \"aws-cli/2 \\\"x\\\"\" - - SigV4 - AuthHeader 127.0.0.1:9001 - - -"
        );
    }

    #[test]
    fn log_object_keys_are_s3s() {
        let p = Pending {
            target: Target {
                bucket: "logs".into(),
                prefix: "access/".into(),
                format: None,
            },
            region: "us-east-1".into(),
            first_ms: 0,
            lines: String::new(),
        };
        let key = object_key(&p, "000000000000", "photos", 1_549_411_238_000);
        assert!(key.starts_with("access/2019-02-06-00-00-38-"), "{key}");
        assert_eq!(key.len(), "access/2019-02-06-00-00-38-".len() + 16);
        let p = Pending {
            target: Target {
                format: Some(KeyFormat::Partitioned(Some("EventTime".into()))),
                ..p.target
            },
            ..p
        };
        let key = object_key(&p, "000000000000", "photos", 1_549_411_238_000);
        assert!(
            key.starts_with("access/000000000000/us-east-1/photos/1970/01/01/2019-02-06-00-00-38-"),
            "{key}"
        );
    }
}
