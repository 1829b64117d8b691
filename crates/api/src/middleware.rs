//! Request context (request id, SigV4 credential scope), body limits, and
//! the answer to unknown operations.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use lambdad_model::Code;

use super::error::ApiError;

/// What every handler may need to know about the request.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The id reported as `x-amzn-RequestId`.
    pub request_id: String,
    /// The region of the SigV4 credential scope, when the request was signed.
    pub region: Option<String>,
    /// Who signed it, once `--auth sigv4` verified the signature (resource
    /// policies decide on it).
    pub caller: Option<lambdad_model::policy::Caller>,
}

/// The region of `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, ...`.
/// Only read here; [`authenticate`] verifies signatures under `--auth sigv4`.
pub fn credential_region(headers: &HeaderMap) -> Option<String> {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok())?;
    let cred = auth
        .split([' ', ','])
        .find_map(|part| part.trim().strip_prefix("Credential="))?;
    cred.split('/')
        .nth(2)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
}

/// Attaches a [`RequestContext`], [`authenticate`]s the request, and echoes
/// the request id on the response.
pub async fn request_context(
    state: axum::extract::State<super::AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let region = credential_region(req.headers());
    let request_id = uuid::Uuid::new_v4().to_string();
    req.extensions_mut().insert(RequestContext {
        request_id: request_id.clone(),
        region,
        caller: None,
    });
    let mut resp = authenticate(state, req, next).await;
    if !resp.headers().contains_key("x-amzn-RequestId")
        && let Ok(v) = HeaderValue::from_str(&request_id)
    {
        resp.headers_mut().insert("x-amzn-RequestId", v);
    }
    resp
}

/// Largest API request body (a 50 MB zip in base64, with room); operations
/// apply their own, smaller limits.
const MAX_API_BODY: usize = 80 * 1024 * 1024;

/// Largest JSON body of a control-plane operation that carries no code (6 MB).
pub const MAX_JSON_REQUEST: usize = 6_291_456;

/// Largest JSON body of the small configuration operations (function URLs,
/// permissions, event source mappings: 256 KiB).
pub const MAX_SMALL_JSON_REQUEST: usize = 256 * 1024;

/// Reads each API request's body before its handler runs (so that an
/// operation that ignores its body still reads it, and the client always
/// gets the answer rather than a reset connection), and with `--auth sigv4`
/// refuses every request that does not carry a valid SigV4 signature of a
/// known key, or come from a console session (`console_session.rs`), with
/// AWS's 403 error types. Function URLs (their own AuthType),
/// `/health` and `/metrics` are not API requests.
pub async fn authenticate(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    req: Request,
    next: Next,
) -> Response {
    use axum::response::IntoResponse;
    let path = req.uri().path();
    // The console's pages and login are its own (console.rs); its API calls
    // are API requests like any other, signed or of a console session.
    if path == "/health"
        || path == "/metrics"
        || path.starts_with("/_lambdad/code/")
        || is_console_path(path)
    {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let bytes = match read_body(body, MAX_API_BODY, "this").await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    // A webhook's events endpoint checks its own shared secret.
    if !state.config.require_signatures || crate::s3_webhooks::is_events_path(parts.uri.path()) {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    }
    let signed = crate::auth::Signed {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &bytes,
    };
    let json11 = parts.headers.contains_key("x-amz-target");
    let sqs_json = parts
        .headers
        .get("x-amz-target")
        .is_some_and(|t| t.as_bytes().starts_with(b"AmazonSQS."));
    let request_id = parts
        .extensions
        .get::<RequestContext>()
        .map(|c| c.request_id.as_str());
    // Only a refusal needs the body's protocol: nothing is parsed for requests let through.
    let refuse = |code: Code, message: String| {
        let status = axum::http::StatusCode::FORBIDDEN;
        if json11 {
            // A JSON 1.1 service (Logs, EventBridge, SQS's JSON protocol): its error shape.
            let mut resp = super::error::json11_error(status, code.name(), &message);
            if sqs_json {
                // SQS's SDKs read the Query protocol's code: an IAM refusal is `AccessDenied`.
                let query_code = match code {
                    Code::AccessDenied => "AccessDenied",
                    _ => code.name(),
                };
                if let Ok(v) = axum::http::HeaderValue::from_str(&format!("{query_code};Sender")) {
                    resp.headers_mut().insert("x-amzn-query-error", v);
                }
            }
            return resp;
        }
        if let Some(ns) = super::actions::query_namespace(&bytes) {
            // SNS and SQS's Query protocol answer in XML; SNS's IAM refusal
            // is its `AuthorizationError`.
            let name = match code {
                Code::AccessDenied if ns == super::actions::SNS_XMLNS => "AuthorizationError",
                _ => code.name(),
            };
            let request_id = request_id.unwrap_or_default();
            return super::error::query_error(status, ns, name, &message, request_id);
        }
        ApiError::new(code, message).into_response()
    };
    let home = &state.config.account_id;
    // A console session's request (no signature, its cookie) is its key's;
    // any other must be signed.
    let console = crate::console_session::identity(&state, &parts);
    let via_console = console.is_some();
    let (identity, region) = match console {
        Some(Ok(id)) => (Some(id), state.config.region.clone()),
        Some(Err((code, message))) => return refuse(code, message.to_owned()),
        None => {
            let verified = crate::auth::verify(
                state.credentials.as_deref(),
                &signed,
                std::time::SystemTime::now(),
            );
            match verified {
                Ok(auth) => (
                    state
                        .credentials
                        .as_deref()
                        .and_then(|c| c.identity(&auth.access_key)),
                    auth.scope
                        .split('/')
                        .nth(1)
                        .unwrap_or(&state.config.region)
                        .to_owned(),
                ),
                Err(e) => {
                    use crate::auth::SigV4Error;
                    let code = match e {
                        SigV4Error::Missing => Code::MissingAuthenticationToken,
                        SigV4Error::Malformed => Code::IncompleteSignature,
                        SigV4Error::UnknownKey => Code::UnrecognizedClient,
                        SigV4Error::BadSignature | SigV4Error::Skewed(_) => Code::InvalidSignature,
                        SigV4Error::Expired => Code::ExpiredToken,
                    };
                    return refuse(code, e.to_string());
                }
            }
        }
    };
    if let Some(id) = &identity
        && let Some(policy) = &id.policy
    {
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        let act = super::actions::of_request(
            &parts.method,
            parts.uri.path(),
            target,
            &bytes,
            &region,
            home,
        );
        let why = match policy.evaluate(&act.action, &act.resource) {
            lambdad_model::iam::Decision::Allow => None,
            lambdad_model::iam::Decision::ExplicitDeny => {
                Some("with an explicit deny in an identity-based policy".to_owned())
            }
            lambdad_model::iam::Decision::ImplicitDeny => Some(format!(
                "because no identity-based policy allows the {} action",
                act.action
            )),
        };
        if let Some(why) = why {
            let message = format!(
                "User: {} is not authorized to perform: {} on resource: {} {why}",
                id.arn(home),
                act.action,
                act.resource
            );
            return refuse(Code::AccessDenied, message);
        }
    }
    if let Some(id) = &identity
        && let Some(ctx) = parts.extensions.get_mut::<RequestContext>()
    {
        ctx.caller = Some(lambdad_model::policy::Caller {
            account: id.account(home).to_owned(),
            arn: id.arn(home),
        });
    }
    let filter = via_console && crate::console_session::filters(parts.uri.path());
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    match identity {
        Some(id) if filter => crate::console_session::hide_environment(resp, &id, home).await,
        _ => resp,
    }
}

/// Longest pause/// Longest pause between two pieces of a request body, in ms (`--client-timeout`).
static BODY_IDLE_TIMEOUT_MS: std::sync::atomic::AtomicU64 =
    std::sync::atomic::AtomicU64::new(30_000);

/// Sets the longest pause between two pieces of a request body.
pub fn set_body_idle_timeout(d: std::time::Duration) {
    let ms = u64::try_from(d.as_millis()).unwrap_or(u64::MAX).max(1);
    BODY_IDLE_TIMEOUT_MS.store(ms, std::sync::atomic::Ordering::Relaxed);
}

fn body_idle_timeout() -> std::time::Duration {
    std::time::Duration::from_millis(
        BODY_IDLE_TIMEOUT_MS.load(std::sync::atomic::Ordering::Relaxed),
    )
}
/// Longest time to read a whole request body (a 70 MB zip at ~250 KB/s).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(300);

/// Reads a body of at most `limit` bytes; beyond it, AWS's 413 for `operation`.
///
/// An oversized body is still drained (up to four times the limit) before the
/// error is sent, so that the client, still writing, reads the 413 instead of
/// a broken connection.
///
/// A frame already received is taken without arming the idle timer, and a
/// body of one frame (any small request, and a body this function already
/// read once) is returned as it is, not copied.
pub async fn read_body(body: Body, limit: usize, operation: &str) -> Result<Bytes, ApiError> {
    use futures_util::FutureExt as _;
    use http_body_util::BodyExt;
    let mut body = body;
    let mut first: Option<Bytes> = None;
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    let started = tokio::time::Instant::now();
    loop {
        let next = match body.frame().now_or_never() {
            Some(next) => next,
            None => {
                // A client that stalls, or trickles, is cut off.
                let idle = body_idle_timeout();
                let wait = idle.min(BODY_TIMEOUT.saturating_sub(started.elapsed()));
                let Ok(next) = tokio::time::timeout(wait, body.frame()).await else {
                    return Err(ApiError::new(
                        Code::InvalidRequestContent,
                        format!(
                            "Timed out reading the request body ({} ms without data, or {} s in all)",
                            idle.as_millis(),
                            BODY_TIMEOUT.as_secs()
                        ),
                    ));
                };
                next
            }
        };
        let Some(frame) = next else {
            break;
        };
        let frame = frame.map_err(|e| {
            ApiError::new(
                Code::InvalidRequestContent,
                format!("could not read the request body: {e}"),
            )
        })?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= limit {
                if buf.is_empty() && first.is_none() {
                    first = Some(data);
                } else {
                    if let Some(f) = first.take() {
                        buf.extend_from_slice(&f);
                    }
                    buf.extend_from_slice(&data);
                }
            } else if seen > limit.saturating_mul(4) {
                break;
            }
        }
    }
    if seen > limit {
        return Err(ApiError::new(
            Code::RequestEntityTooLarge,
            format!("Request must be smaller than {limit} bytes for the {operation} operation"),
        ));
    }
    Ok(first.unwrap_or_else(|| buf.freeze()))
}

/// Parses a JSON request body into `T`, with AWS's error for malformed input.
pub fn parse_json<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::new(
            Code::InvalidRequestContent,
            format!("Could not parse request body into json: {e}"),
        )
    })
}

/// Any path or method the API does not serve.
pub async fn unknown_operation(req: Request) -> ApiError {
    ApiError::new(
        Code::UnknownOperation,
        format!("No operation matches {} {}", req.method(), req.uri().path()),
    )
}

/// Whether a request path is the console's (authentication leaves these to
/// the console's routes: the pages are public, the login checks its own key).
pub(crate) fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/eu-west-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"),
        );
        assert_eq!(credential_region(&h), Some("eu-west-1".into()));
        let auth = h["authorization"].to_str().unwrap();
        let parsed = crate::auth::Authorization::parse(auth).unwrap();
        assert_eq!(parsed.access_key, "AKIDEXAMPLE");
        assert_eq!(credential_region(&HeaderMap::new()), None);
    }
}
