//! Routing to the built-in object store (`lambdad_objects`), served by s3s.
//!
//! A request is an S3 request when (checked in this order, after function
//! URL hosts):
//! 1. its Host is `s3.localhost`, `BUCKET.s3.localhost`, `s3.REGION.localhost`
//!    or `BUCKET.s3.REGION.localhost` (any port): virtual-hosted style when a
//!    bucket label is there, else path style;
//! 2. it is SigV4-signed for the service `s3` (the `Authorization` header's
//!    or a presigned URL's credential scope);
//! 3. it is not `POST /` with `X-Amz-Target` (Logs, EventBridge, SQS), not
//!    a form-encoded `POST` (an SQS Query request, also when signed for
//!    `sqs`, which rule 2 leaves to the API), and the first segment of its
//!    path is none of lambdad's own route prefixes (a date `YYYY-MM-DD` as
//!    the Lambda API's, `health`, `metrics`, `_lambdad`).
//!
//! Everything else goes on to the Lambda, Logs, EventBridge and SQS API.

use std::sync::Arc;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use s3s::host::{S3Host, VirtualHost};

use crate::AppState;

/// First path segments that belong to lambdad's own API, besides the
/// Lambda API's dated ones (`2015-03-31`, …: any `YYYY-MM-DD`).
const API_PREFIXES: &[&str] = &["health", "metrics", "_lambdad", "restapis", "console"];

/// Whether a path segment is shaped like the Lambda API's dated prefixes.
fn dated(segment: &str) -> bool {
    let b = segment.as_bytes();
    b.len() == 10
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
}

/// The query parameters of a presigned URL's signature.
const PRESIGN_PARAMS: &[&str] = &[
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
    "X-Amz-Security-Token",
    "AWSAccessKeyId",
    "Signature",
    "Expires",
];

/// `(bucket, region)` of an S3 Host header: `[BUCKET.]s3[.REGION].localhost[:PORT]`.
fn s3_host(host: &str) -> Option<(Option<&str>, Option<&str>)> {
    let name = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let rest = name.strip_suffix(".localhost")?;
    let labels: Vec<&str> = rest.split('.').collect();
    let at = labels.iter().rposition(|l| *l == "s3")?;
    let region = match &labels[at + 1..] {
        [] => None,
        [r] => Some(*r),
        _ => return None,
    };
    let bucket = (at > 0).then(|| {
        let end = labels[..at].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
        &rest[..end]
    });
    Some((bucket, region))
}

/// The access key a request is signed with (SigV4 or SigV2, header or presigned URL).
pub(crate) fn signed_key(headers: &HeaderMap, query: &str) -> Option<String> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if let Some(v2) = auth.and_then(|a| a.strip_prefix("AWS ")) {
        return v2.split(':').next().map(str::to_owned);
    }
    let cred = crate::auth::sigv4_credential(headers, query).or_else(|| {
        form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "AWSAccessKeyId")
            .map(|(_, v)| v.into_owned())
    })?;
    cred.split('/').next().map(str::to_owned)
}

/// Whether a request is for the object store (see the module's rule).
pub(crate) fn is_s3(req: &Request) -> bool {
    let headers = req.headers();
    if headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(s3_host)
        .is_some()
    {
        return true;
    }
    let query = req.uri().query().unwrap_or_default();
    if let Some(service) = crate::auth::signed_service(headers, query) {
        return service == "s3";
    }
    // The web console's unsigned calls (API Gateway's `/v2/…`, which a
    // path-style bucket could also name) say they are its own.
    if headers.contains_key(crate::console_session::CONSOLE_HEADER) {
        return false;
    }
    let path = req.uri().path();
    if path == "/" && headers.contains_key("x-amz-target") {
        return false;
    }
    // An unsigned form post is an SQS Query request (S3's browser uploads
    // are multipart/form-data).
    if req.method() == axum::http::Method::POST && crate::sqs_query::is_query(headers) {
        return false;
    }
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if path == "/" && crate::sns::is_sns_url(query) {
        return false;
    }
    if path == "/" {
        // `GET /` is ListBuckets; lambdad's own `/` is `POST` with a target.
        return req.method() != axum::http::Method::POST;
    }
    !API_PREFIXES.contains(&first) && !dated(first)
}

/// Host parsing for s3s: the `s3.localhost` family is virtual-hosted style
/// when it has a bucket label; any other host is path style.
pub(crate) struct LocalHosts;

impl S3Host for LocalHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> s3s::S3Result<VirtualHost<'a>> {
        Ok(match s3_host(host) {
            Some((bucket, region)) => {
                let mut vh = VirtualHost::new(host);
                if let Some(b) = bucket {
                    vh = vh.with_bucket(b);
                }
                if let Some(r) = region {
                    vh = vh.with_region(r);
                }
                vh
            }
            None => VirtualHost::new(host),
        })
    }
}

/// lambdad's access keys as s3s's source of secrets.
pub(crate) struct KeyAuth(pub Arc<crate::auth::Credentials>);

#[async_trait::async_trait]
impl s3s::auth::S3Auth for KeyAuth {
    async fn get_secret_key(&self, access_key: &str) -> s3s::S3Result<s3s::auth::SecretKey> {
        self.0
            .identity(access_key)
            .map(|id| s3s::auth::SecretKey::from(id.secret.clone()))
            .ok_or_else(|| {
                s3s::S3Error::with_message(
                    s3s::S3ErrorCode::InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records.",
                )
            })
    }
}

fn xml_error(status: StatusCode, code: &str, message: &str) -> Response {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{id}</RequestId></Error>"
    );
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("application/xml"));
    resp
}

/// Removes a request's signature (headers and presigned query), so that s3s
/// serves it as anonymous: what `--auth none` means for a key
/// lambdad does not know.
fn strip_signature(req: &mut Request) -> Result<(), Box<Response>> {
    let streaming_signed = req
        .headers()
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    if streaming_signed {
        return Err(Box::new(xml_error(
            StatusCode::NOT_IMPLEMENTED,
            "NotImplemented",
            "aws-chunked uploads need an access key lambdad knows (--credentials-file)",
        )));
    }
    req.headers_mut().remove("authorization");
    if let Some(q) = req.uri().query() {
        let kept: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
            .filter(|(k, _)| !PRESIGN_PARAMS.contains(&k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut uri = req.uri().path().to_owned();
        if !kept.is_empty() {
            uri.push('?');
            uri.push_str(
                &form_urlencoded::Serializer::new(String::new())
                    .extend_pairs(kept)
                    .finish(),
            );
        }
        if let Ok(u) = uri.parse() {
            *req.uri_mut() = u;
        }
    }
    Ok(())
}

/// In front of the API (`crate::front_doors`): S3 requests go to the
/// object store; others are handed back.
pub(crate) async fn route(state: &AppState, req: Request) -> Result<Response, Request> {
    let Some(service) = state.s3.as_ref().filter(|_| is_s3(&req)).cloned() else {
        return Err(req);
    };
    Ok(answer(state, service, req).await)
}

async fn answer(state: &AppState, service: s3s::service::S3Service, req: Request) -> Response {
    let query = req.uri().query().unwrap_or_default().to_owned();
    let (bucket, key) = bucket_and_key(&req);
    let operation = crate::s3_metrics::operation(
        req.method(),
        bucket.as_deref(),
        key.is_some(),
        &query,
        req.headers(),
    );
    let bytes_in = crate::s3_metrics::body_length(req.headers());
    // A logged bucket's request is noted before it is served (its time,
    // request line and signature).
    let mut logged = None;
    if let (Some(objects), Some(b)) = (&state.objects, &bucket)
        && objects.logs_access(b).await
    {
        let received = crate::s3_access::Received::new(
            state,
            &req,
            key,
            signed_key(req.headers(), req.uri().query().unwrap_or_default()),
            bytes_in,
        );
        logged = Some((objects.clone(), received));
    }
    let remote_ip = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let resp = serve(state, service, req, &query).await;
    let bytes_out = resp
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    state.s3_metrics.record(&crate::s3_metrics::Answered {
        bucket: bucket.as_deref().unwrap_or_default(),
        operation,
        status: resp.status().as_u16(),
        bytes_in,
        bytes_out,
    });
    match (logged, bucket) {
        (Some((objects, received)), Some(bucket)) => {
            let answered = crate::s3_access::Answered {
                bucket: &bucket,
                operation,
                remote_ip,
            };
            crate::s3_access::record(state, &objects, answered, received, resp).await
        }
        _ => resp,
    }
}

/// The bucket a request names (by its Host or its path) and the key, as
/// the request spells it (URL-encoded), when it names one.
fn bucket_and_key(req: &Request) -> (Option<String>, Option<String>) {
    let path = req.uri().path().trim_start_matches('/');
    let host_bucket = req
        .headers()
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(s3_host)
        .and_then(|(b, _)| b.map(str::to_owned));
    let key = |k: &str| (!k.is_empty()).then(|| k.to_owned());
    match host_bucket {
        Some(b) => (Some(b), key(path)),
        None => {
            let (bucket, k) = path.split_once('/').unwrap_or((path, ""));
            // Bucket names need no decoding (lower-case letters, digits, `.`, `-`).
            ((!bucket.is_empty()).then(|| bucket.to_owned()), key(k))
        }
    }
}

/// Serves one S3 request (the signature rules, then s3s).
async fn serve(
    state: &AppState,
    service: s3s::service::S3Service,
    mut req: Request,
    query: &str,
) -> Response {
    let key = signed_key(req.headers(), query);
    if state.config.require_signatures {
        if key.is_none() {
            return xml_error(StatusCode::FORBIDDEN, "AccessDenied", "Access Denied");
        }
    } else {
        let known = key.as_deref().is_some_and(|k| {
            state
                .credentials
                .as_deref()
                .is_some_and(|c| c.identity(k).is_some())
        });
        if let Some(k) = key.filter(|_| !known) {
            if let Err(resp) = strip_signature(&mut req) {
                return *resp;
            }
            req.extensions_mut()
                .insert(lambdad_objects::notify::Requester(k));
        }
    }
    if let Some(ConnectInfo(peer)) = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .copied()
    {
        req.extensions_mut()
            .insert(lambdad_objects::notify::SourceIp(peer.ip()));
    }
    let request_id = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .to_ascii_uppercase()[..16]
        .to_owned();
    req.extensions_mut()
        .insert(lambdad_objects::notify::RequestId(request_id.clone()));
    match tower::ServiceExt::oneshot(service, req).await {
        Ok(resp) => {
            let mut resp = with_arguments(resp.map(axum::body::Body::new)).await;
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                resp.headers_mut().insert("x-amz-request-id", v);
            }
            resp
        }
        Err(e) => {
            tracing::error!(error = ?e, "the S3 service failed");
            xml_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            )
        }
    }
}

/// Writes an error's `ArgumentName` and `ArgumentValue` (handed over in
/// the objects crate's headers, which s3s cannot put in its XML) into its
/// `<Error>`, as S3 answers an `InvalidArgument`.
async fn with_arguments(resp: Response) -> Response {
    use lambdad_objects::bucket_config::{ARGUMENT_NAME_HEADER, ARGUMENT_VALUE_HEADER};
    let (mut parts, body) = resp.into_parts();
    let decode = |v: Option<HeaderValue>| {
        let v = v?;
        let text = v.to_str().ok()?;
        let query = format!("v={text}");
        form_urlencoded::parse(query.as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
    };
    let name = decode(parts.headers.remove(ARGUMENT_NAME_HEADER));
    let value = decode(parts.headers.remove(ARGUMENT_VALUE_HEADER));
    let (Some(name), Some(value)) = (name, value) else {
        return Response::from_parts(parts, body);
    };
    // An error document is small.
    let Ok(bytes) = axum::body::to_bytes(body, 64 * 1024).await else {
        return xml_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.",
        );
    };
    let xml = String::from_utf8_lossy(&bytes);
    let extra = format!(
        "<ArgumentName>{}</ArgumentName><ArgumentValue>{}</ArgumentValue>",
        crate::sqs_query::escape(&name),
        crate::sqs_query::escape(&value)
    );
    let xml = match xml.find("<RequestId>").or_else(|| xml.rfind("</Error>")) {
        Some(at) => format!("{}{extra}{}", &xml[..at], &xml[at..]),
        None => xml.into_owned(),
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(xml))
}

/// The IAM action of an S3 operation.
fn iam_action(op: &str) -> String {
    let action = match op {
        "HeadObject" => "GetObject",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListBuckets" => "ListAllMyBuckets",
        "DeleteObjects" => "DeleteObject",
        "CopyObject" | "CreateMultipartUpload" | "UploadPart" | "CompleteMultipartUpload" => {
            "PutObject"
        }
        "ListParts" => "ListMultipartUploadParts",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "PutBucketNotificationConfiguration" => "PutBucketNotification",
        "GetBucketNotificationConfiguration" => "GetBucketNotification",
        // As S3: removing a bucket's tags needs the permission to put them.
        "DeleteBucketTagging" => "PutBucketTagging",
        other => other,
    };
    format!("s3:{action}")
}

/// Under `--auth sigv4`, a key's IAM policy limits its S3 requests
/// (`s3:GetObject` on `arn:aws:s3:::BUCKET/KEY`, …), as for the other APIs.
struct PolicyAccess {
    credentials: Arc<crate::auth::Credentials>,
    account: String,
}

#[async_trait::async_trait]
impl s3s::access::S3Access for PolicyAccess {
    async fn check(&self, cx: &mut s3s::access::S3AccessContext<'_>) -> s3s::S3Result<()> {
        let Some(key) = cx.credentials().map(|c| c.access_key.clone()) else {
            return Err(s3s::S3Error::with_message(
                s3s::S3ErrorCode::AccessDenied,
                "Access Denied",
            ));
        };
        let Some(id) = self.credentials.identity(&key) else {
            return Ok(());
        };
        // A role session's key is good only with its own, unexpired token
        // (a header, or the presigned URL's query).
        let token = cx
            .headers()
            .get("x-amz-security-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                form_urlencoded::parse(cx.uri().query().unwrap_or("").as_bytes())
                    .find(|(k, _)| k == "X-Amz-Security-Token")
                    .map(|(_, v)| v.into_owned())
            });
        match self
            .credentials
            .check_session(&key, token.as_deref(), std::time::SystemTime::now())
        {
            Ok(()) => {}
            Err(crate::auth::SigV4Error::Expired) => {
                return Err(s3s::S3Error::with_message(
                    s3s::S3ErrorCode::ExpiredToken,
                    "The provided token has expired.",
                ));
            }
            Err(_) => {
                return Err(s3s::S3Error::with_message(
                    s3s::S3ErrorCode::InvalidToken,
                    "The provided token is malformed or otherwise invalid.",
                ));
            }
        }
        let Some(policy) = &id.policy else {
            return Ok(());
        };
        let action = iam_action(cx.s3_op().name());
        let resource = match cx.s3_path() {
            s3s::path::S3Path::Root => "*".to_owned(),
            s3s::path::S3Path::Bucket { bucket } => format!("arn:aws:s3:::{bucket}"),
            s3s::path::S3Path::Object { bucket, key } => format!("arn:aws:s3:::{bucket}/{key}"),
        };
        let why = match policy.evaluate(&action, &resource) {
            lambdad_model::iam::Decision::Allow => return Ok(()),
            lambdad_model::iam::Decision::ExplicitDeny => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
            lambdad_model::iam::Decision::ImplicitDeny => {
                format!("because no identity-based policy allows the {action} action")
            }
        };
        let service = if id.principal.starts_with("assumed-role/") {
            "sts"
        } else {
            "iam"
        };
        Err(s3s::S3Error::with_message(
            s3s::S3ErrorCode::AccessDenied,
            format!(
                "User: arn:aws:{service}::{}:{} is not authorized to perform: {action} on resource: \"{resource}\" {why}",
                self.account, id.principal
            ),
        ))
    }
}

/// The S3 service over `objects`, checking signatures with `credentials`
/// (and, when signatures are required, the keys' policies).
pub fn service(
    objects: &lambdad_objects::Objects,
    credentials: Option<Arc<crate::auth::Credentials>>,
    require_signatures: bool,
    account: &str,
) -> s3s::service::S3Service {
    let access = credentials.clone().filter(|_| require_signatures).map(|c| {
        Box::new(PolicyAccess {
            credentials: c,
            account: account.to_owned(),
        }) as Box<dyn s3s::access::S3Access>
    });
    let auth = credentials.map(|c| Box::new(KeyAuth(c)) as Box<dyn s3s::auth::S3Auth>);
    objects.service(auth, access, LocalHosts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_hosts_are_recognised() {
        assert_eq!(s3_host("s3.localhost:9001"), Some((None, None)));
        assert_eq!(
            s3_host("photos.s3.localhost:9001"),
            Some((Some("photos"), None))
        );
        assert_eq!(
            s3_host("my.dotted.bucket.s3.eu-west-1.localhost"),
            Some((Some("my.dotted.bucket"), Some("eu-west-1")))
        );
        assert_eq!(s3_host("127.0.0.1:9001"), None);
        assert_eq!(s3_host("abc.lambda-url.us-east-1.localhost"), None);
    }

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request {
        let mut b = axum::http::Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(axum::body::Body::empty()).unwrap()
    }

    #[test]
    fn the_routing_rule_keeps_lambdads_routes() {
        assert!(!is_s3(&req("GET", "/2015-03-31/functions", &[])));
        assert!(!is_s3(&req("GET", "/health", &[])));
        // An unknown Lambda-like path stays the API's (UnknownOperation).
        assert!(!is_s3(&req("GET", "/2099-01-01/nothing", &[])));
        assert!(is_s3(&req("GET", "/2099-01-0x/k", &[])));
        assert!(!is_s3(&req(
            "POST",
            "/",
            &[("x-amz-target", "Logs_20140328.X")]
        )));
        assert!(is_s3(&req("GET", "/", &[])));
        assert!(is_s3(&req("PUT", "/photos/a.jpg", &[])));
        let s3 = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x";
        let lambda = "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=x";
        // A bucket named like a Lambda prefix is reachable when signed for s3.
        assert!(is_s3(&req("GET", "/2015-03-31", &[("authorization", s3)])));
        assert!(!is_s3(&req("GET", "/photos", &[("authorization", lambda)])));
        let form = ("content-type", "application/x-www-form-urlencoded");
        assert!(!is_s3(&req("POST", "/000000000000/jobs", &[form])));
        assert!(is_s3(&req("POST", "/photos/a.jpg", &[])));
        assert!(is_s3(&req("GET", "/health", &[("host", "b.s3.localhost")])));
    }
}
