//! What the S3 operations share: who is calling, preconditions, checksums,
//! the events an object change causes and the commit of its record.

use base64::Engine as _;
use lambdad_store::objects::{BucketRecord, ObjectRecord, ObjectWrite};
use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Request, S3Result};

use crate::files::Want;
use crate::meta::Checksums;
use crate::notify::{Happening, RequestId, Requester, SourceIp};
use crate::{NO_SUCH_BUCKET, NO_SUCH_KEY, Objects, now_ms};

pub(crate) fn ts(ms: i64) -> Timestamp {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .into()
}

pub(crate) fn etag(value: &str) -> ETag {
    ETag::Strong(value.to_owned())
}

pub(crate) fn no_such_key() -> S3Error {
    S3Error::with_message(S3ErrorCode::NoSuchKey, NO_SUCH_KEY)
}

/// The request id s3s's errors and our event records use.
pub(crate) fn request_id<T>(req: &S3Request<T>) -> String {
    req.extensions.get::<RequestId>().map_or_else(
        || uuid::Uuid::new_v4().simple().to_string(),
        |r| r.0.clone(),
    )
}

/// Who and whence, for event records.
pub(crate) struct Caller {
    pub principal: Option<String>,
    pub source_ip: Option<std::net::IpAddr>,
    pub request_id: String,
}

pub(crate) fn caller<T>(req: &S3Request<T>) -> Caller {
    Caller {
        principal: req
            .credentials
            .as_ref()
            .map(|c| c.access_key.clone())
            .or_else(|| req.extensions.get::<Requester>().map(|r| r.0.clone())),
        source_ip: req.extensions.get::<SourceIp>().map(|s| s.0),
        request_id: request_id(req),
    }
}

impl Objects {
    /// The events an object change causes under its bucket's configuration.
    pub(crate) fn events_for(
        &self,
        bucket: &BucketRecord,
        event_name: &str,
        key: &str,
        object: Option<(u64, &str)>,
        who: &Caller,
    ) -> Vec<lambdad_store::AsyncEvent> {
        crate::notify::events(
            bucket.notification.as_deref(),
            &Happening {
                event_name,
                bucket: &bucket.name,
                region: &bucket.region,
                key,
                object,
                principal: who.principal.as_deref(),
                source_ip: who.source_ip,
                request_id: &who.request_id,
                account_id: &self.config().account_id,
                time_ms: now_ms(),
            },
        )
    }

    /// Writes an object's record with its events; frees the replaced file.
    pub(crate) async fn commit(
        &self,
        record: ObjectRecord,
        events: Vec<lambdad_store::AsyncEvent>,
    ) -> S3Result<()> {
        let blob = record.blob.clone();
        match self.db(move |s| s.put_object(&record, &events)).await {
            Ok(ObjectWrite::Written { replaced }) => {
                self.files().remove(replaced).await;
                Ok(())
            }
            Ok(ObjectWrite::Missing) => {
                self.files().remove([blob]).await;
                Err(S3Error::with_message(
                    S3ErrorCode::NoSuchBucket,
                    NO_SUCH_BUCKET,
                ))
            }
            Err(e) => {
                self.files().remove([blob]).await;
                Err(e)
            }
        }
    }

    pub(crate) async fn object(&self, bucket: &str, key: &str) -> S3Result<ObjectRecord> {
        let (b, k) = (bucket.to_owned(), key.to_owned());
        match self
            .db(move |s| Ok((s.get_bucket(&b)?.is_some(), s.get_object(&b, &k)?)))
            .await?
        {
            (false, _) => Err(S3Error::with_message(
                S3ErrorCode::NoSuchBucket,
                NO_SUCH_BUCKET,
            )),
            (true, None) => Err(no_such_key()),
            (true, Some(o)) => Ok(o),
        }
    }
}

/// Checks `Content-MD5` and the `x-amz-checksum-*` values against what was received.
pub(crate) fn verify_digests(
    md5: &[u8; 16],
    content_md5: Option<&str>,
    sums: &Checksums,
    claimed: &Checksums,
) -> S3Result<()> {
    if let Some(c) = content_md5 {
        let Ok(want) = base64::engine::general_purpose::STANDARD.decode(c.trim()) else {
            return Err(S3Error::with_message(
                S3ErrorCode::InvalidDigest,
                "The Content-MD5 you specified was invalid.",
            ));
        };
        if want != md5 {
            return Err(S3Error::with_message(
                S3ErrorCode::BadDigest,
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    let pairs = [
        ("CRC32", &claimed.crc32, &sums.crc32),
        ("CRC32C", &claimed.crc32c, &sums.crc32c),
        ("SHA1", &claimed.sha1, &sums.sha1),
        ("SHA256", &claimed.sha256, &sums.sha256),
        ("CRC64NVME", &claimed.crc64nvme, &sums.crc64nvme),
    ];
    for (name, want, got) in pairs {
        if let Some(w) = want
            && got.as_deref() != Some(w.as_str())
        {
            return Err(S3Error::with_message(
                S3ErrorCode::BadDigest,
                format!("The {name} you specified did not match the calculated checksum."),
            ));
        }
    }
    Ok(())
}

pub(crate) fn want(claimed: &Checksums, algorithm: Option<&ChecksumAlgorithm>) -> Want {
    let alg = algorithm.map(|a| a.as_str().to_ascii_uppercase());
    let is = |n: &str| alg.as_deref() == Some(n);
    Want {
        crc32: claimed.crc32.is_some() || is("CRC32"),
        crc32c: claimed.crc32c.is_some() || is("CRC32C"),
        sha1: claimed.sha1.is_some() || is("SHA1"),
        sha256: claimed.sha256.is_some() || is("SHA256"),
        crc64nvme: claimed.crc64nvme.is_some() || is("CRC64NVME"),
    }
}

pub(crate) fn check_conditions(
    o: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let tag = etag(&o.etag);
    let modified: time::OffsetDateTime = ts(o.modified_ms).into();
    // HTTP dates have second precision.
    let modified_s = modified.unix_timestamp();
    let matches = |c: &ETagCondition| match c {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == tag.value(),
    };
    if let Some(c) = if_match {
        if !matches(c) {
            return Err(S3Error::with_message(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ));
        }
    } else if let Some(t) = if_unmodified_since {
        let t: time::OffsetDateTime = t.clone().into();
        if modified_s > t.unix_timestamp() {
            return Err(S3Error::with_message(
                S3ErrorCode::PreconditionFailed,
                "At least one of the pre-conditions you specified did not hold",
            ));
        }
    }
    if let Some(c) = if_none_match {
        if matches(c) {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
    } else if let Some(t) = if_modified_since {
        let t: time::OffsetDateTime = t.clone().into();
        if modified_s <= t.unix_timestamp() {
            return Err(S3Error::new(S3ErrorCode::NotModified));
        }
    }
    Ok(())
}

pub(crate) fn header_checksums(
    crc32: Option<String>,
    crc32c: Option<String>,
    sha1: Option<String>,
    sha256: Option<String>,
    crc64nvme: Option<String>,
) -> Checksums {
    Checksums {
        crc32,
        crc32c,
        sha1,
        sha256,
        crc64nvme,
    }
}

pub(crate) fn validate_bucket_name(name: &str) -> S3Result<()> {
    let ok = (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric();
    if ok {
        Ok(())
    } else {
        Err(S3Error::with_message(
            S3ErrorCode::InvalidBucketName,
            "The specified bucket is not valid.",
        ))
    }
}
