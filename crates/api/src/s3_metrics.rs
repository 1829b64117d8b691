//! Metrics of the S3 API: requests, errors (4xx and 5xx answers) and
//! bytes received and sent, by bucket and operation, collected into
//! `/metrics` at each scrape. The operation is told from the request's
//! method, path and query as S3's REST API defines them (s3s decides the
//! same way); bytes are the request's decoded body length and the answer's
//! `Content-Length`.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::http::{HeaderMap, Method};
use lambdad_engine::openmetrics::{self, Collector, DescriptorEncoder};

/// Most (bucket, operation) series kept; later buckets count as [`OTHER`].
const MAX_SERIES: usize = 1000;
/// The bucket of the requests past [`MAX_SERIES`].
const OTHER: &str = "_other";

/// Counters of one bucket and operation.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: u64,
    errors: u64,
    bytes_in: u64,
    bytes_out: u64,
}

/// The S3 API's counters, by (bucket, operation).
#[derive(Debug, Default)]
pub struct S3Metrics {
    by_key: Mutex<BTreeMap<(String, &'static str), Counts>>,
}

/// What one answered request counts.
#[derive(Debug, Clone)]
pub struct Answered<'a> {
    /// The bucket (empty for ListBuckets).
    pub bucket: &'a str,
    /// The operation's name.
    pub operation: &'static str,
    /// The answer's status.
    pub status: u16,
    /// Body bytes received.
    pub bytes_in: u64,
    /// Body bytes sent.
    pub bytes_out: u64,
}

fn has(query: &str, name: &str) -> bool {
    query.split('&').any(|p| p.split('=').next() == Some(name))
}

/// The S3 operation a request is (`Other` for one lambdad does not serve).
pub fn operation(
    method: &Method,
    bucket: Option<&str>,
    has_key: bool,
    query: &str,
    headers: &HeaderMap,
) -> &'static str {
    let q = |n| has(query, n);
    let copy = headers.contains_key("x-amz-copy-source");
    match (bucket.is_some(), has_key, method.as_str()) {
        (false, _, "GET") => "ListBuckets",
        (true, false, "PUT") if q("tagging") => "PutBucketTagging",
        (true, false, "PUT") if q("notification") => "PutBucketNotificationConfiguration",
        (true, false, "PUT") if q("logging") => "PutBucketLogging",
        (true, false, "PUT") => "CreateBucket",
        (true, false, "GET") if q("tagging") => "GetBucketTagging",
        (true, false, "GET") if q("notification") => "GetBucketNotificationConfiguration",
        (true, false, "GET") if q("logging") => "GetBucketLogging",
        (true, false, "GET") if q("location") => "GetBucketLocation",
        (true, false, "GET") if q("uploads") => "ListMultipartUploads",
        (true, false, "GET") if query.contains("list-type=2") => "ListObjectsV2",
        (true, false, "GET") => "ListObjects",
        (true, false, "HEAD") => "HeadBucket",
        (true, false, "DELETE") if q("tagging") => "DeleteBucketTagging",
        (true, false, "DELETE") => "DeleteBucket",
        (true, false, "POST") if q("delete") => "DeleteObjects",
        (true, true, "PUT") if q("partNumber") && copy => "UploadPartCopy",
        (true, true, "PUT") if q("partNumber") => "UploadPart",
        (true, true, "PUT") if copy => "CopyObject",
        (true, true, "PUT") => "PutObject",
        (true, true, "GET") if q("uploadId") => "ListParts",
        (true, true, "GET") => "GetObject",
        (true, true, "HEAD") => "HeadObject",
        (true, true, "DELETE") if q("uploadId") => "AbortMultipartUpload",
        (true, true, "DELETE") => "DeleteObject",
        (true, true, "POST") if q("uploads") => "CreateMultipartUpload",
        (true, true, "POST") if q("uploadId") => "CompleteMultipartUpload",
        _ => "Other",
    }
}

/// A body's length from its headers: aws-chunked uploads give the decoded
/// length in `x-amz-decoded-content-length`.
pub fn body_length(headers: &HeaderMap) -> u64 {
    let get = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    get("x-amz-decoded-content-length")
        .or_else(|| get("content-length"))
        .unwrap_or(0)
}

impl S3Metrics {
    /// Counts one answered request.
    pub fn record(&self, a: &Answered<'_>) {
        let mut map = self.by_key.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = (a.bucket.to_owned(), a.operation);
        // Requests name buckets freely: past the limit, new ones share a series.
        if !map.contains_key(&key) && map.len() >= MAX_SERIES {
            key.0 = OTHER.to_owned();
        }
        let c = map.entry(key).or_default();
        c.requests += 1;
        c.errors += u64::from(a.status >= 400);
        c.bytes_in += a.bytes_in;
        c.bytes_out += a.bytes_out;
    }
}

impl Collector for S3Metrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> openmetrics::Result {
        let map = self
            .by_key
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        type Family = (&'static str, &'static str, fn(&Counts) -> u64);
        let families: [Family; 4] = [
            ("lambdad_s3_requests", "S3 API requests answered.", |c| {
                c.requests
            }),
            (
                "lambdad_s3_errors",
                "S3 API requests answered with an error (4xx or 5xx).",
                |c| c.errors,
            ),
            (
                "lambdad_s3_received_bytes",
                "Body bytes of S3 API requests.",
                |c| c.bytes_in,
            ),
            (
                "lambdad_s3_sent_bytes",
                "Body bytes of S3 API answers.",
                |c| c.bytes_out,
            ),
        ];
        for (name, help, value) in families {
            let rows = map.iter().map(|((bucket, op), c)| {
                let labels = vec![("bucket", bucket.clone()), ("operation", (*op).to_owned())];
                (labels, value(c))
            });
            openmetrics::counters(&mut enc, name, help, rows)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(m: &std::sync::Arc<S3Metrics>) -> String {
        openmetrics::text(Box::new(m.clone()))
    }

    #[test]
    fn operations_are_told_as_s3_does() {
        let h = HeaderMap::new();
        let mut copy = HeaderMap::new();
        copy.insert("x-amz-copy-source", "b/k".parse().unwrap());
        assert_eq!(operation(&Method::GET, None, false, "", &h), "ListBuckets");
        assert_eq!(
            operation(&Method::GET, Some("b"), false, "list-type=2&prefix=a", &h),
            "ListObjectsV2"
        );
        assert_eq!(
            operation(&Method::PUT, Some("b"), false, "tagging", &h),
            "PutBucketTagging"
        );
        assert_eq!(
            operation(&Method::PUT, Some("b"), true, "partNumber=1&uploadId=u", &h),
            "UploadPart"
        );
        assert_eq!(
            operation(&Method::PUT, Some("b"), true, "", &copy),
            "CopyObject"
        );
        assert_eq!(
            operation(&Method::POST, Some("b"), true, "uploadId=u", &h),
            "CompleteMultipartUpload"
        );
        assert_eq!(
            operation(&Method::GET, Some("b"), true, "", &h),
            "GetObject"
        );
    }

    #[test]
    fn counts_by_bucket_and_operation() {
        let m = std::sync::Arc::new(S3Metrics::default());
        assert_eq!(encode(&m), "# EOF\n");
        let put = Answered {
            bucket: "photos",
            operation: "PutObject",
            status: 200,
            bytes_in: 10,
            bytes_out: 0,
        };
        m.record(&put);
        m.record(&Answered {
            status: 400,
            ..put.clone()
        });
        let text = encode(&m);
        assert!(
            text.contains(
                "lambdad_s3_requests_total{bucket=\"photos\",operation=\"PutObject\"} 2\n"
            )
        );
        assert!(
            text.contains("lambdad_s3_errors_total{bucket=\"photos\",operation=\"PutObject\"} 1\n")
        );
        assert!(text.contains(
            "lambdad_s3_received_bytes_total{bucket=\"photos\",operation=\"PutObject\"} 20\n"
        ));
        for i in 0..MAX_SERIES {
            m.record(&Answered {
                bucket: &format!("b{i}"),
                ..put.clone()
            });
        }
        assert!(
            encode(&m).contains(
                "lambdad_s3_requests_total{bucket=\"_other\",operation=\"PutObject\"} 1\n"
            )
        );
    }
}
