//! The API Gateway HTTP API data plane: requests whose Host is
//! `API.execute-api.REGION.DOMAIN` are served here, by the same listener as
//! the API. The gateway service picks the stage and route; the request
//! becomes the integration's payload format (1.0 or 2.0) event, runs
//! through the invocation funnel when the function's policy allows the
//! gateway, and the answer is mapped back as API Gateway maps it. Requests
//! to REST APIs are served by `rest_http`.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use lambdad_engine::InvokeError;
use lambdad_service::gateway_route::{Resolution, Resolved};
use lambdad_service::invocations::InvocationError;
use lambdad_service::invocations::Invocations;
use lambdad_service::telemetry::Trigger;

use super::AppState;
use super::doors::Served;
use super::gateway_auth::{self, AuthRequest, Verdict};
use super::gateway_event::{gateway_error, request_event_v1, response_v1, unusable_status};
use super::url_event::{self, HttpAnswer, RequestFacts};
use super::url_http::service_host;

/// Largest request body passed to a function (Lambda's 6 MB).
const MAX_BODY: usize = 6_291_456;

/// Middleware in front of the API: execute-api hosts go to [`serve`].
pub(crate) async fn route(state: &AppState, req: Request) -> Result<Response, Request> {
    let Some(host) = service_host(req.headers(), "execute-api") else {
        return Err(req);
    };
    // REST and HTTP APIs share one id space: the stored API tells them apart.
    let (start, id) = (std::time::Instant::now(), host.0.clone());
    let mut resp = match super::rest_http::serve(state, &host, req).await {
        Ok(resp) => resp,
        Err(req) => serve(state.clone(), host, req).await,
    };
    super::doors::finish(state, "execute-api", &id, start, &mut resp);
    Ok(resp)
}

fn send(answer: HttpAnswer, request_id: &str) -> Response {
    send_with(answer, request_id, &[])
}

/// The answer with `apigw-requestid` and `extra` headers (CORS).
fn send_with(answer: HttpAnswer, request_id: &str, extra: &[(&'static str, String)]) -> Response {
    let mut resp = (answer.status, answer.body).into_response();
    *resp.headers_mut() = answer.headers;
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("apigw-requestid", v);
    }
    for (name, value) in extra {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
    resp
}

fn internal(request_id: &str) -> Response {
    send(
        gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        request_id,
    )
}

async fn serve(
    state: AppState,
    (api_id, region, domain): (String, String, String),
    req: Request,
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let time_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000;
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let (parts, body) = req.into_parts();
    let body = match super::middleware::read_body(body, MAX_BODY, "execute-api").await {
        Ok(b) => b,
        Err(_) => {
            let a = gateway_error(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
            return send(a, &request_id);
        }
    };
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or_default();
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
    let origin = header("origin").map(str::to_owned);
    let wanted = header("access-control-request-method").map(str::to_owned);
    let preflight = parts.method == Method::OPTIONS && origin.is_some() && wanted.is_some();
    let resolution = state
        .services
        .gateway
        .resolve(&region, &api_id, parts.method.as_str(), path, preflight)
        .await;
    let r: Box<Resolved> = match resolution {
        Ok(Resolution::Route(r)) => r,
        Ok(Resolution::Preflight(cors)) => {
            let (origin, wanted) = (origin.unwrap_or_default(), wanted.unwrap_or_default());
            let headers = cors.preflight_headers(&origin, &wanted);
            let answer = HttpAnswer {
                status: StatusCode::NO_CONTENT,
                headers: axum::http::HeaderMap::new(),
                body: bytes::Bytes::new(),
            };
            return send_with(answer, &request_id, &headers);
        }
        Ok(Resolution::NotFound) => {
            return send(
                gateway_error(StatusCode::NOT_FOUND, "Not Found"),
                &request_id,
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "Cannot look up an HTTP API.");
            return internal(&request_id);
        }
    };
    let mut served = Served::new(
        &parts,
        &state.config.account_id,
        &api_id,
        &domain,
        &r.stage,
        &request_id,
        time_ms,
        &source_ip,
    );
    served.vars.insert("routeKey", r.route_key.clone());
    served.access_log = r.access_log.clone();
    let mut resp = 'answer: {
        let cors = match (&r.cors, origin.as_deref()) {
            (Some(c), Some(o)) => c.response_headers(o),
            _ => Vec::new(),
        };
        let facts = RequestFacts {
            url_id: &api_id,
            domain: &domain,
            caller_account: &state.config.account_id,
            iam: None,
            source_ip,
            request_id: &request_id,
            time_ms,
            route_key: &r.route_key,
            stage: &r.stage,
            path_parameters: Some(&r.path_parameters),
            stage_variables: Some(&r.stage_variables),
        };
        let auth = AuthRequest {
            method: &parts.method,
            path,
            query,
            headers: &parts.headers,
            body: &body,
            facts: &facts,
            region: &region,
        };
        let authorizer = match gateway_auth::authorize(&state, &r, &auth).await {
            Verdict::Allow(block) => block,
            Verdict::Deny(answer) => break 'answer send_with(answer, &request_id, &cors),
        };
        let (Some(integration), Some((function, qualifier))) = (&r.integration, &r.function) else {
            tracing::warn!(api = %api_id, route = %r.route_key, "The route has no integration with a function.");
            break 'answer internal(&request_id);
        };
        if !r.allowed {
            tracing::warn!(api = %api_id, route = %r.route_key, function = %function,
            "The function's resource policy does not let apigateway.amazonaws.com invoke it for this route.");
            break 'answer internal(&request_id);
        }
        let v1 = integration.payload_format_version == "1.0";
        let mut event = if v1 {
            request_event_v1(&parts.method, path, query, &parts.headers, &body, &facts)
        } else {
            url_event::request_event(&parts.method, path, query, &parts.headers, &body, &facts)
        };
        if let Some((block2, block1)) = authorizer {
            let block = if v1 { block1 } else { block2 };
            if !block.is_null() {
                event["requestContext"]["authorizer"] = block;
            }
        }
        let snapshot = match state
            .services
            .invocations
            .resolve(&region, function, qualifier.as_deref())
            .await
        {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "HTTP API integration target cannot run.");
                break 'answer internal(&request_id);
            }
        };
        let invocation_id = uuid::Uuid::new_v4().to_string();
        let payload = bytes::Bytes::from(event.to_string());
        let req = Invocations::request(snapshot, qualifier.as_deref(), &invocation_id, payload);
        let funnel = state.services.invocations.clone();
        // The invocation runs on even when the gateway stops waiting, as on AWS.
        let task = tokio::spawn(async move {
            funnel
                .invoke(req, Trigger::Http, Duration::ZERO, true)
                .await
        });
        let timeout = Duration::from_millis(integration.timeout_in_millis);
        let started = std::time::Instant::now();
        let outcome = tokio::time::timeout(timeout, task).await;
        served.integration_latency = Some(started.elapsed());
        let answer = match outcome {
            Err(_) => gateway_error(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
            Ok(Ok(Ok(out))) if out.function_error.is_none() && unusable_status(&out.payload) => {
                tracing::warn!(api = %api_id, "The Lambda proxy response's statusCode is not usable.");
                gateway_error(StatusCode::BAD_GATEWAY, "Internal Server Error")
            }
            Ok(Ok(Ok(out))) if out.function_error.is_none() => {
                let mapped = if v1 {
                    response_v1(&out.payload)
                } else {
                    url_event::response(&out.payload)
                };
                mapped.unwrap_or_else(|| {
                    tracing::warn!(api = %api_id, "Malformed Lambda proxy response.");
                    gateway_error(StatusCode::BAD_GATEWAY, "Internal Server Error")
                })
            }
            Ok(Ok(Ok(_))) => gateway_error(StatusCode::BAD_GATEWAY, "Internal Server Error"),
            Ok(Ok(Err(InvocationError::Invoke(InvokeError::Throttled(_))))) => {
                gateway_error(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
            }
            Ok(Ok(Err(e))) => {
                tracing::error!(error = %e, "HTTP API invocation failed.");
                gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "HTTP API invocation task failed.");
                gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
            }
        };
        send_with(answer, &request_id, &cors)
    };
    resp.extensions_mut().insert(served);
    resp
}
