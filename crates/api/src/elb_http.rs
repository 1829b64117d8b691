//! The Application Load Balancer data plane: requests whose Host is a load
//! balancer's DNS name (`NAME-ID.REGION.elb.DOMAIN`) are served here, by
//! the same listener as the API. The elbv2 service picks the rule (by
//! priority, else the default rule) of the load balancer's listener; a
//! fixed-response action answers at once, a forward action's function runs
//! through the invocation funnel with the ALB event (single- or
//! multi-value headers, as the target group's attribute says) when its
//! policy lets Elastic Load Balancing invoke it, and its answer is mapped
//! back as ALB maps it (else ALB's 502 page).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use lambdad_engine::InvokeError;
use lambdad_service::elb::Route;
use lambdad_service::elb::rules::RequestFacts;
use lambdad_service::elb::types::{Redirect, TargetGroup};
use lambdad_service::invocations::{InvocationError, Invocations};
use lambdad_service::telemetry::Trigger;
use serde_json::{Map, Value, json};

use super::AppState;
use super::url_event::media_type;

/// Largest request body ALB passes to a function (1 MB).
const MAX_BODY: usize = 1024 * 1024;
/// Largest response JSON a function may send to ALB (1 MB).
const MAX_RESPONSE: usize = 1024 * 1024;

/// `(NAME-ID, REGION, HOST)` of a Host `NAME-ID.REGION.elb.…[:PORT]`.
fn elb_host(headers: &HeaderMap) -> Option<(String, String, String)> {
    let host = headers.get("host")?.to_str().ok()?;
    let domain = host
        .rsplit_once(':')
        .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let mut labels = domain.split('.');
    let (label, region) = (labels.next()?, labels.next()?);
    (labels.next()? == "elb").then(|| (label.to_owned(), region.to_owned(), domain.to_owned()))
}

/// Middleware in front of the API: load balancer hosts go to [`serve`].
pub(crate) async fn route(state: &AppState, req: Request) -> Result<Response, Request> {
    let Some(host) = elb_host(req.headers()) else {
        return Err(req);
    };
    let (start, id) = (std::time::Instant::now(), host.0.clone());
    let mut resp = serve(state.clone(), host, req).await;
    super::doors::finish(state, "elb", &id, start, &mut resp);
    Ok(resp)
}

/// ALB's own error page.
fn page(status: StatusCode) -> Response {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or_default()
    );
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n</body>\r\n</html>\r\n"
    );
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    resp.headers_mut()
        .insert("server", HeaderValue::from_static("awselb/2.0"));
    resp
}

/// Whether ALB passes a body of these headers as text (else base64): no
/// `Content-Encoding`, and a text, JSON, JavaScript or XML content type.
fn is_text(headers: &HeaderMap) -> bool {
    if headers.contains_key("content-encoding") {
        return false;
    }
    let ct = media_type(headers.get("content-type").and_then(|v| v.to_str().ok()));
    ct.is_some_and(|ct| {
        ct.starts_with("text/")
            || matches!(
                ct.as_str(),
                "application/json" | "application/javascript" | "application/xml"
            )
    })
}

/// The raw `key=value` pairs of a query string, as sent (ALB does not decode them).
fn raw_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The ALB event of a request.
#[allow(clippy::too_many_arguments)]
fn event(
    tg: &TargetGroup,
    method: &str,
    path: &str,
    query: &[(String, String)],
    headers: &[(String, String)],
    raw_headers: &HeaderMap,
    body: &[u8],
) -> Value {
    let (body, b64) = if body.is_empty() {
        (String::new(), false)
    } else if is_text(raw_headers) {
        match std::str::from_utf8(body) {
            Ok(s) => (s.to_owned(), false),
            Err(_) => (B64.encode(body), true),
        }
    } else {
        (B64.encode(body), true)
    };
    let mut event = json!({
        "requestContext": {"elb": {"targetGroupArn": tg.arn}},
        "httpMethod": method,
        "path": path,
        "isBase64Encoded": b64,
        "body": body,
    });
    if tg.multi_value() {
        let group = |pairs: &[(String, String)]| {
            let mut m: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
            for (k, v) in pairs {
                m.entry(k.as_str()).or_default().push(v.as_str());
            }
            json!(m)
        };
        event["multiValueQueryStringParameters"] = group(query);
        event["multiValueHeaders"] = group(headers);
    } else {
        // A repeated header or query parameter: the last value, as on ALB.
        let last = |pairs: &[(String, String)]| {
            let m: BTreeMap<&str, &str> = pairs
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            json!(m)
        };
        event["queryStringParameters"] = last(query);
        event["headers"] = last(headers);
    }
    event
}

/// A header value of a function's answer (strings, numbers and booleans).
fn header_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(_) | Value::Bool(_) => Some(v.to_string()),
        _ => None,
    }
}

/// The function's answer as ALB sends it on, or `None` when malformed.
fn response(payload: &[u8], multi: bool) -> Option<Response> {
    if payload.len() > MAX_RESPONSE {
        return None;
    }
    let out: Map<String, Value> = serde_json::from_slice(payload).ok()?;
    let status = out.get("statusCode")?.as_u64()?;
    let status = StatusCode::from_u16(u16::try_from(status).ok()?).ok()?;
    let mut headers = HeaderMap::new();
    let add = |headers: &mut HeaderMap, k: &str, v: &Value| -> Option<()> {
        let name = HeaderName::from_bytes(k.as_bytes()).ok()?;
        headers.append(name, HeaderValue::from_str(&header_text(v)?).ok()?);
        Some(())
    };
    if multi {
        for (k, vs) in out
            .get("multiValueHeaders")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            for v in vs.as_array()? {
                add(&mut headers, k, v)?;
            }
        }
    } else {
        for (k, v) in out
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            add(&mut headers, k, v)?;
        }
    }
    let body = match out.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) if out.get("isBase64Encoded") == Some(&Value::Bool(true)) => {
            B64.decode(s).ok()?
        }
        Some(Value::String(s)) => s.clone().into_bytes(),
        Some(_) => return None,
    };
    let mut resp = (status, body).into_response();
    *resp.headers_mut() = headers;
    Some(resp)
}

/// A redirect action's answer: its `Location` built from the request's
/// parts (`#{protocol}`, `#{host}`, `#{port}`, `#{path}` without its
/// leading `/`, `#{query}`), as ALB builds it.
fn redirect(r: &Redirect, port: i64, host: &str, path: &str, query: &str) -> Response {
    let fill = |v: &str| {
        v.replace("#{protocol}", "http")
            .replace("#{host}", host)
            .replace("#{port}", &port.to_string())
            .replace("#{path}", path.trim_start_matches('/'))
            .replace("#{query}", query)
    };
    let protocol = fill(&r.protocol).to_ascii_lowercase();
    let mut location = format!(
        "{protocol}://{}:{}{}",
        fill(&r.host),
        fill(&r.port),
        fill(&r.path)
    );
    let query = fill(&r.query);
    if !query.is_empty() {
        location = format!("{location}?{query}");
    }
    let status = if r.status_code == "HTTP_301" {
        StatusCode::MOVED_PERMANENTLY
    } else {
        StatusCode::FOUND
    };
    let mut resp = page(status);
    if let Ok(v) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert("location", v);
    }
    resp
}

async fn serve(
    state: AppState,
    (label, region, host): (String, String, String),
    req: Request,
) -> Response {
    let source_ip = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "127.0.0.1".into());
    let (parts, body) = req.into_parts();
    let Ok(body) = super::middleware::read_body(body, MAX_BODY, "elb").await else {
        return page(StatusCode::PAYLOAD_TOO_LARGE);
    };
    let path = parts.uri.path();
    let raw_query = raw_pairs(parts.uri.query().unwrap_or_default());
    let decoded: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let mut headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let host_port = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .and_then(|(_, p)| p.parse().ok());
    let facts = RequestFacts {
        method: parts.method.as_str(),
        path,
        host: &host,
        headers: &headers,
        query: &decoded,
        source_ip: source_ip.parse().ok(),
        port: host_port,
    };
    let route = match state.services.elb.resolve(&region, &label, &facts).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "Cannot look up a load balancer.");
            return page(StatusCode::INTERNAL_SERVER_ERROR);
        }
    };
    let (tg, function, allowed, port) = match route {
        Route::NotFound => return page(StatusCode::SERVICE_UNAVAILABLE),
        Route::Fixed(f) => {
            let status = f
                .status_code
                .parse()
                .ok()
                .and_then(|s| StatusCode::from_u16(s).ok());
            let mut resp = (
                status.unwrap_or(StatusCode::OK),
                f.message_body.unwrap_or_default(),
            )
                .into_response();
            let ct = f.content_type.unwrap_or_else(|| "text/plain".into());
            if let Ok(v) = HeaderValue::from_str(&format!("{ct}; charset=utf-8")) {
                resp.headers_mut().insert("content-type", v);
            }
            resp.headers_mut()
                .insert("server", HeaderValue::from_static("awselb/2.0"));
            return resp;
        }
        Route::Redirect(r, port) => {
            let query = parts.uri.query().unwrap_or_default();
            return redirect(&r, port, &host, path, query);
        }
        Route::Forward {
            target_group,
            function,
            allowed,
            port,
        } => (target_group, function, allowed, port),
    };
    let Some((function, qualifier)) = function else {
        return page(StatusCode::SERVICE_UNAVAILABLE);
    };
    if !allowed {
        tracing::warn!(target_group = %tg.arn, function = %function,
            "The function's resource policy does not let elasticloadbalancing.amazonaws.com invoke it for this target group.");
        return page(StatusCode::BAD_GATEWAY);
    }
    let trace = format!(
        "Root=1-{:08x}-{}",
        time::OffsetDateTime::now_utc().unix_timestamp(),
        &uuid::Uuid::new_v4().simple().to_string()[..24]
    );
    headers.retain(|(k, _)| !k.starts_with("x-forwarded-") && k != "x-amzn-trace-id");
    headers.push(("x-amzn-trace-id".into(), trace));
    headers.push(("x-forwarded-for".into(), source_ip));
    headers.push(("x-forwarded-port".into(), port.to_string()));
    headers.push(("x-forwarded-proto".into(), "http".into()));
    let event = event(
        &tg,
        parts.method.as_str(),
        path,
        &raw_query,
        &headers,
        &parts.headers,
        &body,
    );
    let snapshot = match state
        .services
        .invocations
        .resolve(&region, &function, qualifier.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "The target group's function cannot run.");
            return page(StatusCode::BAD_GATEWAY);
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let req = Invocations::request(
        snapshot,
        qualifier.as_deref(),
        &id,
        bytes::Bytes::from(event.to_string()),
    );
    let outcome = state
        .services
        .invocations
        .invoke(req, Trigger::Http, std::time::Duration::ZERO, true)
        .await;
    match outcome {
        Ok(out) if out.function_error.is_none() => {
            response(&out.payload, tg.multi_value()).unwrap_or_else(|| {
                tracing::warn!(target_group = %tg.arn, "Malformed Lambda response to the load balancer.");
                page(StatusCode::BAD_GATEWAY)
            })
        }
        Ok(_) => page(StatusCode::BAD_GATEWAY),
        Err(InvocationError::Invoke(InvokeError::Throttled(_))) => page(StatusCode::SERVICE_UNAVAILABLE),
        Err(e) => {
            tracing::error!(error = %e, "Load balancer invocation failed.");
            page(StatusCode::BAD_GATEWAY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_name_load_balancers() {
        let mut h = HeaderMap::new();
        h.insert(
            "host",
            HeaderValue::from_static("web-0123abcd.us-east-1.elb.localhost:9001"),
        );
        assert_eq!(
            elb_host(&h),
            Some((
                "web-0123abcd".into(),
                "us-east-1".into(),
                "web-0123abcd.us-east-1.elb.localhost".into()
            ))
        );
        h.insert(
            "host",
            HeaderValue::from_static("abc.execute-api.us-east-1.localhost"),
        );
        assert_eq!(elb_host(&h), None);
    }

    #[test]
    fn answers_map_back_or_are_malformed() {
        let r = response(br#"{"statusCode": 201, "headers": {"x-a": "1"}, "body": "aGk=", "isBase64Encoded": true}"#, false).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["x-a"], "1");
        let r = response(
            br#"{"statusCode": 200, "multiValueHeaders": {"set-cookie": ["a=1", "b=2"]}}"#,
            true,
        )
        .unwrap();
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        for bad in [
            &b"nope"[..],
            br#"{"body": "x"}"#,
            br#"{"statusCode": "200"}"#,
            br#"{"statusCode": 200, "body": {}}"#,
        ] {
            assert!(response(bad, false).is_none());
        }
    }
}
