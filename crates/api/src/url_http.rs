//! The function URL data plane: requests whose Host is
//! `ID.lambda-url.REGION.DOMAIN` are served here, by the same listener as the
//! API. Each becomes a payload format 2.0 event for the URL's function
//! (`$LATEST` or an alias), after CORS preflight and the URL's auth check.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use lambdad_engine::runtime_api::StreamChunk;
use lambdad_engine::{InvokeError, ResponseStream};
use lambdad_service::invocations::{InvocationError, Invocations, MAX_SYNC_PAYLOAD};
use serde_json::{Value, json};

use super::AppState;
use super::url_event::{self, HttpAnswer, RequestFacts};
use crate::auth;
use lambdad_service::telemetry::Trigger;
use lambdad_service::urls::UrlTarget;

/// Largest request body (AWS: 6 MB, as for Invoke).
/// Largest metadata prelude of a streamed HTTP response.
const MAX_PRELUDE: usize = 64 * 1024;
/// Content type of a streamed response that starts with a metadata prelude.
const HTTP_INTEGRATION: &str = "application/vnd.awslambda.http-integration-response";

/// The URL id and region named by a Host header, when it is a function URL's.
fn url_host(headers: &HeaderMap) -> Option<(String, String, String)> {
    service_host(headers, "lambda-url")
}

/// `(id, region, domain)` of a Host `ID.SERVICE.REGION.…[:PORT]` (the
/// domain without the port), when its second label is `service`.
pub(crate) fn service_host(headers: &HeaderMap, service: &str) -> Option<(String, String, String)> {
    let host = headers.get("host")?.to_str().ok()?;
    let domain = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let mut labels = domain.split('.');
    let id = labels.next()?;
    if labels.next()? != service {
        return None;
    }
    let region = labels.next()?;
    Some((
        id.to_ascii_lowercase(),
        region.to_owned(),
        domain.to_owned(),
    ))
}

/// Middleware in front of the API: function URL hosts go to [`serve`].
pub(crate) async fn route(state: &AppState, req: Request) -> Result<Response, Request> {
    match url_host(req.headers()) {
        Some(host) => Ok(serve(state.clone(), host, req).await),
        None => Err(req),
    }
}

fn send(answer: HttpAnswer, request_id: &str, cors: Option<&[(&'static str, String)]>) -> Response {
    let mut resp = (answer.status, answer.body).into_response();
    *resp.headers_mut() = answer.headers;
    finish_headers(resp.headers_mut(), request_id, cors);
    resp
}

fn finish_headers(h: &mut HeaderMap, request_id: &str, cors: Option<&[(&'static str, String)]>) {
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    for (name, value) in cors.unwrap_or_default() {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(*name, v);
        }
    }
}

fn forbidden(request_id: &str) -> Response {
    let mut a = url_event::error(StatusCode::FORBIDDEN, "Forbidden");
    a.headers.insert(
        "x-amzn-errortype",
        HeaderValue::from_static("AccessDeniedException"),
    );
    send(a, request_id, None)
}

async fn serve(
    state: AppState,
    (url_id, region, domain): (String, String, String),
    req: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = match state.services.urls.url_target(&url_id).await {
        Ok(Some(t)) => t,
        Ok(None) => return forbidden(&request_id),
        Err(e) => {
            tracing::error!(error = %e, "Cannot look up a function URL.");
            return send(
                url_event::error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
                &request_id,
                None,
            );
        }
    };
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let (parts, body) = req.into_parts();
    let origin = parts
        .headers
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let (Some(cors), Some(origin), Some(wanted)) = (
        target.cors.as_ref(),
        origin.as_deref(),
        parts
            .headers
            .get("access-control-request-method")
            .and_then(|v| v.to_str().ok()),
    ) && parts.method == Method::OPTIONS
    {
        let headers = cors.preflight_headers(origin, wanted);
        let answer = HttpAnswer {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::new(),
        };
        return send(answer, &request_id, Some(&headers));
    }
    let cors_headers = match (target.cors.as_ref(), origin.as_deref()) {
        (Some(c), Some(o)) => c.response_headers(o),
        _ => Vec::new(),
    };
    let body = match super::middleware::read_body(body, MAX_SYNC_PAYLOAD, "InvokeFunction").await {
        Ok(b) => b,
        Err(e) => {
            let answer = url_event::error(StatusCode::PAYLOAD_TOO_LARGE, &e.0.message);
            return send(answer, &request_id, Some(&cors_headers));
        }
    };
    let raw_query = parts.uri.query().unwrap_or_default();
    let iam = match authorize(&state, &target, &parts, raw_query, &body) {
        Ok(iam) => iam,
        Err(()) => return forbidden(&request_id),
    };
    let account = state.config.account_id.clone();
    let facts = RequestFacts {
        url_id: &url_id,
        domain: &domain,
        caller_account: if iam.is_some() { &account } else { "anonymous" },
        iam,
        source_ip,
        request_id: &request_id,
        time_ms: time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000,
        route_key: "$default",
        stage: "$default",
        path_parameters: None,
        stage_variables: None,
    };
    let event = url_event::request_event(
        &parts.method,
        parts.uri.path(),
        raw_query,
        &parts.headers,
        &body,
        &facts,
    );
    let answer = invoke(&state, &target, &region, event, &request_id).await;
    match answer {
        Answer::Buffered(a) => send(a, &request_id, Some(&cors_headers)),
        Answer::Stream(stream) => stream_response(stream, &request_id, &cors_headers).await,
    }
}

/// Checks the URL's AuthType: the resource policy for NONE, a valid SigV4
/// signature for AWS_IAM (whose identity the event's authorizer carries).
fn authorize(
    state: &AppState,
    target: &UrlTarget,
    parts: &axum::http::request::Parts,
    raw_query: &str,
    body: &[u8],
) -> Result<Option<Value>, ()> {
    if target.config.auth_type == "NONE" {
        return if target.public { Ok(None) } else { Err(()) };
    }
    let signed = auth::Signed {
        method: &parts.method,
        raw_path: parts.uri.path(),
        raw_query,
        headers: &parts.headers,
        body,
    };
    match auth::verify(
        state.credentials.as_deref(),
        &signed,
        std::time::SystemTime::now(),
    ) {
        Ok(a) => {
            let account = &state.config.account_id;
            Ok(Some(json!({
                "accessKey": a.access_key,
                "accountId": account,
                "callerId": a.access_key,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": format!("arn:aws:iam::{account}:root"),
                "userId": a.access_key,
            })))
        }
        Err(e) => {
            tracing::debug!(error = %e, kind = e.error_type(), "Function URL request refused.");
            Err(())
        }
    }
}

enum Answer {
    Buffered(HttpAnswer),
    Stream(ResponseStream),
}

async fn invoke(
    state: &AppState,
    target: &UrlTarget,
    region: &str,
    event: Value,
    request_id: &str,
) -> Answer {
    let failed = |status, message: &str| Answer::Buffered(url_event::error(status, message));
    let snapshot = match state
        .services
        .urls
        .url_snapshot(region, &target.config)
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "Function URL target cannot run.");
            return failed(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    let qualifier = Some(target.config.qualifier.as_str()).filter(|q| *q != "$LATEST");
    let payload = Bytes::from(event.to_string());
    let req = Invocations::request(snapshot, qualifier, request_id, payload);
    let zero = std::time::Duration::ZERO;
    let out = match state
        .services
        .invocations
        .invoke(req, Trigger::Http, zero, false)
        .await
    {
        Ok(out) => out,
        Err(InvocationError::Invoke(InvokeError::Throttled(_))) => {
            return failed(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded.");
        }
        Err(e) => {
            tracing::error!(error = %e, "Function URL invocation failed.");
            return failed(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
        }
    };
    match out.stream {
        Some(stream) => Answer::Stream(stream),
        None if out.function_error.is_some() => {
            failed(StatusCode::BAD_GATEWAY, "Internal Server Error")
        }
        None => {
            Answer::Buffered(url_event::response(&out.payload).unwrap_or_else(|| {
                url_event::error(StatusCode::BAD_GATEWAY, "Internal Server Error")
            }))
        }
    }
}

/// Sends a streamed function response as it arrives: for HTTP integrations,
/// status, headers and cookies come from the metadata prelude that precedes
/// eight NUL bytes.
async fn stream_response(
    mut stream: ResponseStream,
    request_id: &str,
    cors: &[(&'static str, String)],
) -> Response {
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    let mut first = Bytes::new();
    if stream.content_type.starts_with(HTTP_INTEGRATION) {
        let mut buf = BytesMut::new();
        let split = loop {
            if let Some(i) = buf.windows(8).position(|w| w == [0u8; 8]) {
                break Some(i);
            }
            if buf.len() > MAX_PRELUDE {
                break None;
            }
            match stream.chunks.recv().await {
                Some(StreamChunk::Data(d)) => buf.extend_from_slice(&d),
                Some(StreamChunk::Error { .. }) | None => break None,
            }
        };
        let Some(i) = split else {
            return send(
                url_event::error(StatusCode::BAD_GATEWAY, "Internal Server Error"),
                request_id,
                Some(cors),
            );
        };
        let prelude: Value = serde_json::from_slice(&buf[..i]).unwrap_or(Value::Null);
        status = prelude["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .and_then(|s| StatusCode::from_u16(s).ok())
            .unwrap_or(StatusCode::OK);
        url_event::apply_headers(&mut headers, &prelude["headers"], &prelude["cookies"]);
        first = buf.freeze().slice(i + 8..);
    } else if let Ok(v) = HeaderValue::from_str(&stream.content_type) {
        headers.insert("content-type", v);
    }
    let chunks = stream.chunks;
    let body =
        futures_util::stream::unfold((Some(first), chunks), |(first, mut chunks)| async move {
            if let Some(f) = first.filter(|f| !f.is_empty()) {
                return Some((Ok::<Bytes, std::io::Error>(f), (None, chunks)));
            }
            match chunks.recv().await {
                Some(StreamChunk::Data(d)) => Some((Ok(d), (None, chunks))),
                // A mid-stream error ends the response abruptly, as on AWS.
                Some(StreamChunk::Error { error_type, .. }) => {
                    Some((Err(std::io::Error::other(error_type)), (None, chunks)))
                }
                None => None,
            }
        });
    let mut resp = Response::new(Body::from_stream(body));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    finish_headers(resp.headers_mut(), request_id, Some(cors));
    resp
}
