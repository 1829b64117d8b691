//! S3 server access logging on the API's side: what the object store's
//! access log line ([`lambdad_objects::access_log::AccessEntry`]) needs of
//! an answered request — S3's operation name (`REST.PUT.OBJECT`), the
//! request line, the error code of an error answer, the object's size, the
//! signature — and, with `--s3-access-log-group`, the same line in lambdad's
//! Logs service (stream: the bucket's name).

use std::time::Instant;

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use lambdad_objects::access_log::AccessEntry;

use crate::AppState;

/// Error answers longer than this are not read for their code.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// S3's name of an operation in the access log, from its API name.
pub(crate) fn log_operation(operation: &str, method: &Method) -> String {
    let name = match operation {
        "PutObject" => "PUT.OBJECT",
        "GetObject" => "GET.OBJECT",
        "HeadObject" => "HEAD.OBJECT",
        "DeleteObject" => "DELETE.OBJECT",
        "CopyObject" => "COPY.OBJECT",
        "UploadPart" => "PUT.PART",
        "UploadPartCopy" => "COPY.PART",
        "CreateMultipartUpload" => "POST.UPLOADS",
        "CompleteMultipartUpload" => "POST.UPLOAD",
        "AbortMultipartUpload" => "DELETE.UPLOAD",
        "ListParts" => "GET.UPLOAD",
        "ListMultipartUploads" => "GET.UPLOADS",
        "ListObjects" | "ListObjectsV2" => "GET.BUCKET",
        "HeadBucket" => "HEAD.BUCKET",
        "CreateBucket" => "PUT.BUCKET",
        "DeleteBucket" => "DELETE.BUCKET",
        "DeleteObjects" => "POST.MULTI_OBJECT_DELETE",
        "GetBucketLocation" => "GET.LOCATION",
        "PutBucketTagging" => "PUT.TAGGING",
        "GetBucketTagging" => "GET.TAGGING",
        "DeleteBucketTagging" => "DELETE.TAGGING",
        "PutBucketNotificationConfiguration" => "PUT.NOTIFICATION",
        "GetBucketNotificationConfiguration" => "GET.NOTIFICATION",
        "PutBucketLogging" => "PUT.LOGGING_STATUS",
        "GetBucketLogging" => "GET.LOGGING_STATUS",
        _ => return format!("REST.{}.UNKNOWN", method.as_str()),
    };
    format!("REST.{name}")
}

/// The signature version and authentication type of a request.
fn signature(headers: &HeaderMap, query: &str) -> (Option<&'static str>, Option<&'static str>) {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if auth.starts_with("AWS4-") {
        return (Some("SigV4"), Some("AuthHeader"));
    }
    if auth.starts_with("AWS ") {
        return (Some("SigV2"), Some("AuthHeader"));
    }
    let has = |n: &str| form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == n);
    if has("X-Amz-Credential") {
        (Some("SigV4"), Some("QueryString"))
    } else if has("AWSAccessKeyId") {
        (Some("SigV2"), Some("QueryString"))
    } else {
        (None, None)
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// What the access log needs of a request, taken before it is served.
pub(crate) struct Received {
    start: Instant,
    time_ms: i64,
    method: Method,
    request_line: String,
    key: Option<String>,
    requester: Option<String>,
    signature: (Option<&'static str>, Option<&'static str>),
    referer: Option<String>,
    user_agent: Option<String>,
    host: Option<String>,
    bytes_in: u64,
}

impl Received {
    /// Reads `req`, whose key (as the request spells it) is `key`, signed
    /// with the access key `signed_key` (if any).
    pub(crate) fn new(
        state: &AppState,
        req: &axum::extract::Request,
        key: Option<String>,
        signed_key: Option<String>,
        bytes_in: u64,
    ) -> Self {
        let headers = req.headers();
        let query = req.uri().query().unwrap_or_default();
        let requester = signed_key.and_then(|k| {
            let id = state.credentials.as_deref()?.identity(&k)?;
            let service = if id.principal.starts_with("assumed-role/") {
                "sts"
            } else {
                "iam"
            };
            Some(format!(
                "arn:aws:{service}::{}:{}",
                state.config.account_id, id.principal
            ))
        });
        let path_and_query = req
            .uri()
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let version = match req.version() {
            axum::http::Version::HTTP_10 => "HTTP/1.0",
            axum::http::Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        };
        Self {
            start: Instant::now(),
            time_ms: (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64,
            method: req.method().clone(),
            request_line: format!("{} {path_and_query} {version}", req.method()),
            key,
            requester,
            signature: signature(headers, query),
            referer: header(headers, "referer"),
            user_agent: header(headers, "user-agent"),
            host: header(headers, "host"),
            bytes_in,
        }
    }
}

/// The size an answer tells of its object: a GET's whole length (also of
/// a range), a HEAD's length.
fn object_size(
    operation: &str,
    status: StatusCode,
    headers: &HeaderMap,
    bytes_in: u64,
) -> Option<u64> {
    let len = || header(headers, "content-length").and_then(|v| v.parse().ok());
    match operation {
        "PutObject" | "UploadPart" if status.is_success() => Some(bytes_in),
        "GetObject" if status == StatusCode::PARTIAL_CONTENT => header(headers, "content-range")
            .and_then(|r| r.rsplit('/').next().and_then(|n| n.parse().ok())),
        "GetObject" | "HeadObject" if status.is_success() => len(),
        _ => None,
    }
}

/// The `<Code>` of an S3 XML error body.
fn error_code(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].to_owned())
}

/// What the middleware knows of an answered request besides [`Received`].
pub(crate) struct Answered<'a> {
    /// The bucket it named.
    pub bucket: &'a str,
    /// Its operation's API name (`PutObject`).
    pub operation: &'static str,
    /// The client's address.
    pub remote_ip: Option<std::net::IpAddr>,
}

/// Writes the access log line of an answered request of a logged bucket
/// (and hands the answer back: an error's body is read for its code).
pub(crate) async fn record(
    state: &AppState,
    objects: &lambdad_objects::Objects,
    a: Answered<'_>,
    r: Received,
    resp: Response,
) -> Response {
    let Answered {
        bucket,
        operation,
        remote_ip,
    } = a;
    let turnaround = r.start.elapsed();
    let status = resp.status();
    let (resp, error_code) = if status.as_u16() >= 400 {
        let (parts, body) = resp.into_parts();
        match axum::body::to_bytes(body, MAX_ERROR_BODY).await {
            Ok(bytes) => {
                let code = error_code(&bytes);
                (Response::from_parts(parts, Body::from(bytes)), code)
            }
            Err(_) => (Response::from_parts(parts, Body::empty()), None),
        }
    } else {
        (resp, None)
    };
    let headers = resp.headers();
    let request_id = header(headers, "x-amz-request-id");
    let bytes_sent = header(headers, "content-length")
        .and_then(|v| v.parse().ok())
        .or_else(|| axum::body::HttpBody::size_hint(resp.body()).exact())
        .unwrap_or(0);
    let entry = AccessEntry {
        bucket: bucket.to_owned(),
        time_ms: r.time_ms,
        remote_ip,
        requester: r.requester,
        request_id: request_id.unwrap_or_default(),
        operation: log_operation(operation, &r.method),
        key: r.key,
        request_uri: r.request_line,
        status: status.as_u16(),
        error_code,
        // A HEAD's answer has no body, whatever its length says.
        bytes_sent: if r.method == Method::HEAD {
            0
        } else {
            bytes_sent
        },
        object_size: object_size(operation, status, headers, r.bytes_in),
        total_ms: r.start.elapsed().as_millis() as u64,
        turnaround_ms: turnaround.as_millis() as u64,
        referer: r.referer,
        user_agent: r.user_agent,
        host_id: header(headers, "x-amz-id-2"),
        signature_version: r.signature.0,
        auth_type: r.signature.1,
        host: r.host,
    };
    if let Some(line) = objects.log_access(&entry).await
        && let Some(group) = state.config.s3_access_log_group.clone()
    {
        let logs = state.logs.clone();
        let stream = bucket.to_owned();
        let at = entry.time_ms;
        tokio::task::spawn_blocking(move || {
            if let Err(e) = logs.append(&group, &stream, at, &line) {
                tracing::warn!(error = %e, group = %group, "Cannot write an S3 access log line.");
            }
        });
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_get_s3s_log_names() {
        assert_eq!(log_operation("PutObject", &Method::PUT), "REST.PUT.OBJECT");
        assert_eq!(
            log_operation("ListObjectsV2", &Method::GET),
            "REST.GET.BUCKET"
        );
        assert_eq!(log_operation("Other", &Method::PATCH), "REST.PATCH.UNKNOWN");
    }

    #[test]
    fn error_codes_come_from_the_xml() {
        let body =
            b"<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>m</Message></Error>";
        assert_eq!(error_code(body).as_deref(), Some("NoSuchKey"));
        assert_eq!(error_code(b"not xml"), None);
    }

    #[test]
    fn signatures_are_told_apart() {
        let mut h = HeaderMap::new();
        assert_eq!(signature(&h, ""), (None, None));
        assert_eq!(
            signature(&h, "X-Amz-Credential=a&X-Amz-Signature=b"),
            (Some("SigV4"), Some("QueryString"))
        );
        h.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=x".parse().unwrap(),
        );
        assert_eq!(signature(&h, ""), (Some("SigV4"), Some("AuthHeader")));
    }
}
