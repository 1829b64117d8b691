//! The REST API (apigateway v1) data plane: a request to
//! `API.execute-api.REGION.DOMAIN/STAGE/path` whose API is a REST API is
//! served from the stage's deployment. The method's authorization runs
//! (`rest_auth`, or SigV4 for `AWS_IAM`), the request becomes the REST proxy
//! event (`rest_event`), runs through the invocation funnel when the
//! function's policy allows the gateway, and the answer is mapped back as
//! REST APIs map it. TestInvokeMethod runs the live method the same way.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use lambdad_engine::InvokeError;
use lambdad_service::gateway::GatewayError;
use lambdad_service::gateway_rest_route::{RestResolution, RestTarget};
use lambdad_service::invocations::{InvocationError, Invocations};
use lambdad_service::telemetry::Trigger;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::doors::Served;
use super::error::ApiResult;
use super::gateway_auth::{self, AuthRequest, Verdict};
use super::gateway_event::unusable_status;
use super::rest_event::*;
use super::url_event::{HttpAnswer, RequestFacts, header_values};

/// Largest request body passed to a function (Lambda's 6 MB).
const MAX_BODY: usize = 6_291_456;

/// The request as the integration sees it.
struct Call<'a> {
    method: &'a Method,
    /// The path as sent (with the stage).
    full_path: &'a str,
    query: &'a str,
    headers: &'a HeaderMap,
    body: &'a [u8],
    region: &'a str,
    domain: &'a str,
    source_ip: String,
    request_id: &'a str,
    time_ms: i64,
    /// How long the integration took, once it ran.
    integration_latency: std::sync::Mutex<Option<Duration>>,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn send(answer: HttpAnswer, request_id: &str) -> Response {
    let mut resp = (answer.status, answer.body).into_response();
    *resp.headers_mut() = answer.headers;
    if let Ok(v) = HeaderValue::from_str(request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v.clone());
        resp.headers_mut().insert("x-amz-apigw-id", v);
    }
    resp
}

/// Serves `req` when `api_id` is a REST API; else hands it back for the
/// HTTP API data plane.
pub async fn serve(
    state: &AppState,
    (api_id, region, domain): &(String, String, String),
    req: Request,
) -> Result<Response, Request> {
    let request_id = uuid::Uuid::new_v4().to_string();
    let time_ms = now_ms();
    let resolution = state
        .services
        .gateway
        .resolve_rest(region, api_id, req.method().as_str(), req.uri().path())
        .await;
    let t = match resolution {
        Ok(RestResolution::NotRest) => return Err(req),
        Ok(RestResolution::Target(t)) => t,
        Ok(RestResolution::Forbidden) => return Ok(send(rest_error(FORBIDDEN), &request_id)),
        Ok(RestResolution::MissingToken) => {
            return Ok(send(rest_error(MISSING_TOKEN), &request_id));
        }
        Err(e) => {
            tracing::error!(error = %e, "Cannot look up a REST API.");
            return Ok(send(rest_error(INTERNAL), &request_id));
        }
    };
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let (parts, body) = req.into_parts();
    let Ok(body) = super::middleware::read_body(body, MAX_BODY, "execute-api").await else {
        return Ok(send(rest_error(TOO_LARGE), &request_id));
    };
    let mut served = Served::new(
        &parts,
        &state.config.account_id,
        api_id,
        domain,
        &t.stage,
        &request_id,
        time_ms,
        &source_ip,
    );
    served.vars.insert("resourcePath", t.resource_path.clone());
    served.vars.insert("resourceId", t.resource_id.clone());
    served.access_log = t.access_log.clone();
    let call = Call {
        method: &parts.method,
        full_path: parts.uri.path(),
        query: parts.uri.query().unwrap_or_default(),
        headers: &parts.headers,
        body: &body,
        region,
        domain,
        source_ip,
        request_id: &request_id,
        time_ms,
        integration_latency: std::sync::Mutex::new(None),
    };
    let mut resp = send(run(state, &t, &call, true).await, &request_id);
    served.integration_latency = *call
        .integration_latency
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    resp.extensions_mut().insert(served);
    Ok(resp)
}

/// Authorizes (when `authorize`) and runs the integration of `t`.
async fn run(state: &AppState, t: &RestTarget, c: &Call<'_>, authorize: bool) -> HttpAnswer {
    let route_key = format!("{} {}", c.method, t.resource_path);
    let facts = RequestFacts {
        url_id: &t.api_id,
        domain: c.domain,
        caller_account: &state.config.account_id,
        iam: None,
        source_ip: c.source_ip.clone(),
        request_id: c.request_id,
        time_ms: c.time_ms,
        route_key: &route_key,
        stage: &t.stage,
        path_parameters: Some(&t.path_parameters),
        stage_variables: Some(&t.stage_variables),
    };
    let auth = AuthRequest {
        method: c.method,
        path: c.full_path,
        query: c.query,
        headers: c.headers,
        body: c.body,
        facts: &facts,
        region: c.region,
    };
    let verdict = match t.method.authorization_type.as_str() {
        _ if !authorize => Verdict::Allow(None),
        "CUSTOM" => super::rest_auth::authorize(state, t, &auth).await,
        "AWS_IAM" => gateway_auth::iam(state, &t.api_id, &t.stage, &auth),
        _ => Verdict::Allow(None),
    };
    // A CUSTOM method's block is payload 1.0's; an AWS_IAM one's (`iam`) fills `identity`.
    let (authorizer, iam) = match verdict {
        Verdict::Allow(Some((v2, v1))) => (v1, v2.get("iam").cloned()),
        Verdict::Allow(None) => (Value::Null, None),
        Verdict::Deny(answer) => return answer,
    };
    let Some(integration) = &t.method.method_integration else {
        return rest_error(INTERNAL);
    };
    if integration.integration_type == "MOCK" {
        return mock_response(integration);
    }
    let Some((function, qualifier)) = &t.function else {
        tracing::warn!(api = %t.api_id, resource = %t.resource_path, "The integration names no function.");
        return rest_error(INTERNAL);
    };
    if !t.allowed {
        tracing::warn!(api = %t.api_id, resource = %t.resource_path, function = %function,
            "The function's resource policy does not let apigateway.amazonaws.com invoke it for this method.");
        return rest_error(INTERNAL);
    }
    let mut event = rest_event(c.method, t, c.full_path, c.query, c.headers, c.body, &facts);
    if !authorizer.is_null() {
        event["requestContext"]["authorizer"] = authorizer;
    }
    if let Some(iam) = iam {
        let identity = &mut event["requestContext"]["identity"];
        for (to, from) in [
            ("accessKey", "accessKey"),
            ("accountId", "accountId"),
            ("caller", "callerId"),
            ("user", "userId"),
            ("userArn", "userArn"),
        ] {
            identity[to] = iam[from].clone();
        }
    }
    let funnel = state.services.invocations.clone();
    let snapshot = match funnel
        .resolve(c.region, function, qualifier.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "REST API integration target cannot run.");
            return rest_error(INTERNAL);
        }
    };
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let payload = bytes::Bytes::from(event.to_string());
    let req = Invocations::request(snapshot, qualifier.as_deref(), &invocation_id, payload);
    // The invocation runs on even when the gateway stops waiting, as on AWS.
    let task = tokio::spawn(async move {
        funnel
            .invoke(req, Trigger::Http, Duration::ZERO, true)
            .await
    });
    let timeout = Duration::from_millis(integration.timeout_in_millis);
    let accept = c.headers.get("accept").and_then(|v| v.to_str().ok());
    let started = Instant::now();
    let outcome = tokio::time::timeout(timeout, task).await;
    *c.integration_latency
        .lock()
        .unwrap_or_else(|e| e.into_inner()) = Some(started.elapsed());
    match outcome {
        Err(_) => rest_error(TIMED_OUT),
        Ok(Ok(Ok(out))) if out.function_error.is_none() => {
            if unusable_status(&out.payload) {
                tracing::warn!(api = %t.api_id, "The Lambda proxy response's statusCode is not usable.");
                return rest_error(BAD_GATEWAY);
            }
            rest_response(&out.payload, &t.binary_media_types, accept).unwrap_or_else(|| {
                tracing::warn!(api = %t.api_id, "Malformed Lambda proxy response.");
                rest_error(BAD_GATEWAY)
            })
        }
        Ok(Ok(Ok(_))) => rest_error(BAD_GATEWAY),
        Ok(Ok(Err(InvocationError::Invoke(InvokeError::Throttled(_))))) => rest_error(THROTTLED),
        Ok(Ok(Err(e))) => {
            tracing::error!(error = %e, "REST API invocation failed.");
            rest_error(INTERNAL)
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "REST API invocation task failed.");
            rest_error(INTERNAL)
        }
    }
}

/// The body of TestInvokeMethod.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestInvokeRequest {
    path_with_query_string: Option<String>,
    body: Option<String>,
    headers: Option<BTreeMap<String, String>>,
    multi_value_headers: Option<BTreeMap<String, Vec<String>>>,
    stage_variables: Option<BTreeMap<String, String>>,
}

fn bad(message: String) -> GatewayError {
    GatewayError::BadRequest(message)
}

/// TestInvokeMethod: runs the live method (no authorizer, as on AWS) in
/// `test-invoke-stage`; `{status, body, headers, multiValueHeaders, log, latency}`.
pub async fn test_invoke(
    state: &AppState,
    region: &str,
    api_id: &str,
    resource_id: &str,
    http_method: &str,
    req: TestInvokeRequest,
) -> ApiResult<Value> {
    let path_query = req.path_with_query_string.clone();
    let (path, query) = match path_query.as_deref() {
        Some(pq) => pq.split_once('?').unwrap_or((pq, "")),
        None => ("", ""),
    };
    let variables = req.stage_variables.unwrap_or_default();
    let t = state
        .services
        .gateway
        .test_target(
            region,
            api_id,
            resource_id,
            http_method,
            (!path.is_empty()).then_some(path),
            &variables,
        )
        .await?;
    let mut headers = HeaderMap::new();
    let singles = req
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, vec![v]));
    for (k, values) in singles.chain(req.multi_value_headers.unwrap_or_default()) {
        let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes())
            .map_err(|_| bad(format!("Invalid header name {k}")))?;
        for v in values {
            let v = HeaderValue::from_str(&v)
                .map_err(|_| bad(format!("Invalid value of header {k}")))?;
            headers.append(name.clone(), v);
        }
    }
    let method = Method::from_bytes(http_method.as_bytes()).unwrap_or(Method::GET);
    let method = if http_method == "ANY" {
        Method::GET
    } else {
        method
    };
    let full_path = format!("/{}{}", t.stage, t.path);
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = req.body.unwrap_or_default();
    let call = Call {
        method: &method,
        full_path: &full_path,
        query,
        headers: &headers,
        body: body.as_bytes(),
        region,
        domain: "testinvoke-api.execute-api.localhost",
        source_ip: "test-invoke-source-ip".into(),
        request_id: &request_id,
        time_ms: now_ms(),
        integration_latency: std::sync::Mutex::new(None),
    };
    let started = Instant::now();
    let answer = run(state, &t, &call, false).await;
    let latency = started.elapsed().as_millis() as u64;
    let mut single = Map::new();
    let mut multi = Map::new();
    for (name, values) in header_values(&answer.headers) {
        single.insert(name.clone(), json!(values.last()));
        multi.insert(name, json!(values));
    }
    let log = format!(
        "Execution log for request {request_id}\nStarting execution for request: {request_id}\nHTTP Method: {http_method}, Resource Path: {}\nMethod completed with status: {}\n",
        t.resource_path,
        answer.status.as_u16()
    );
    Ok(json!({
        "status": answer.status.as_u16(),
        "body": String::from_utf8_lossy(&answer.body),
        "headers": single,
        "multiValueHeaders": multi,
        "log": log,
        "latency": latency,
    }))
}
