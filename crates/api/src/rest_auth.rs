//! Lambda authorizers of REST API methods (`TOKEN` and `REQUEST`): the
//! identity from the method request, the authorizer's event, its answer
//! cached by TTL, and the policy matched against the request's
//! `methodArn`. The verdict is REST's 401/403/500, or the
//! `requestContext.authorizer` block of the integration's event.

use std::time::{Duration, Instant};

use lambdad_service::gateway_rest_route::RestTarget;
use lambdad_service::gateway_rest_types::RestAuthorizer;
use serde_json::{Map, Value, json};

use super::AppState;
use super::gateway_auth::{
    AuthRequest, AuthorizerOutcome, Authorizing, Decision, Verdict, decide, identity_value, invoke,
    request_arn,
};
use super::rest_event::{
    AUTHORIZER_FAILED, EXPLICIT_DENY, NOT_ALLOWED, UNAUTHORIZED, rest_error, rest_event,
};
use super::url_event;

fn deny(e: (u16, &str, &str)) -> Verdict {
    Verdict::Deny(rest_error(e))
}

/// One identity source of a REST authorizer in the HTTP APIs' form
/// (`method.request.header.X` is `$request.header.X`, `stageVariables.x`
/// `$stageVariables.x`, `context.x` `$context.x`), whose reader it shares.
fn as_v2_source(source: &str) -> String {
    let s = source.trim();
    let s = s
        .strip_prefix("method.request.multivalueheader.")
        .map(|n| format!("method.request.header.{n}"))
        .or_else(|| {
            s.strip_prefix("method.request.multivaluequerystring.")
                .map(|n| format!("method.request.querystring.{n}"))
        })
        .unwrap_or_else(|| s.to_owned());
    match s.strip_prefix("method.") {
        Some(rest) => format!("${rest}"),
        None => format!("${s}"),
    }
}

/// The `requestContext.authorizer` block REST APIs pass on: the answer's
/// context (values as strings; objects and arrays are refused), its
/// `principalId` and the authorizer's latency.
fn block(context: Map<String, Value>, principal: Option<String>, latency: u64) -> Option<Value> {
    let mut out = Map::new();
    for (k, v) in context {
        let text = match v {
            Value::String(s) => s,
            Value::Number(_) | Value::Bool(_) => v.to_string(),
            Value::Null => continue,
            _ => return None,
        };
        out.insert(k, json!(text));
    }
    out.insert("principalId".into(), json!(principal));
    out.insert("integrationLatency".into(), json!(latency));
    Some(Value::Object(out))
}

/// Authorizes a request to the `CUSTOM` method of `t`.
pub async fn authorize(state: &AppState, t: &RestTarget, req: &AuthRequest<'_>) -> Verdict {
    let Some(a) = &t.authorizer else {
        tracing::warn!(api = %t.api_id, resource = %t.resource_path, "The method's authorizer is gone.");
        return deny(AUTHORIZER_FAILED);
    };
    let arn = request_arn(state, &t.api_id, &t.stage, req);
    let event = rest_event(
        req.method,
        t,
        req.path,
        req.query,
        req.headers,
        b"",
        req.facts,
    );
    // `context.x` sources read the payload 2.0 context, as HTTP APIs' do.
    let (m, p, q, h) = (req.method, req.path, req.query, req.headers);
    let context = url_event::request_event(m, p, q, h, b"", req.facts);
    let sources: Vec<&str> = a
        .identity_source
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut identity = Vec::new();
    for s in &sources {
        match identity_value(
            &as_v2_source(s),
            req,
            &t.stage_variables,
            &context["requestContext"],
        ) {
            Some(v) => identity.push(v),
            None => return deny(UNAUTHORIZED),
        }
    }
    let token = identity.first().cloned().unwrap_or_default();
    if a.authorizer_type == "TOKEN"
        && let Some(re) = &a.identity_validation_expression
        && !regex_lite::Regex::new(re).is_ok_and(|re| re.is_match(&token))
    {
        return deny(UNAUTHORIZED);
    }
    let caches = state.services.gateway.caches();
    let key = serde_json::to_string(&identity).unwrap_or_default();
    let ttl = a.authorizer_result_ttl_in_seconds;
    let cacheable = ttl > 0 && !sources.is_empty();
    let cached = cacheable
        .then(|| caches.answer(&t.api_id, &a.id, &key))
        .flatten();
    let started = Instant::now();
    let answer = match cached {
        Some(answer) => answer,
        None => {
            let event = authorizer_event(a, event, &token, &arn);
            let run = Authorizing {
                api_id: &t.api_id,
                authorizer_id: &a.id,
                function: a.function(),
                allowed: t.authorizer_allowed,
            };
            match invoke(state, req.region, &run, event).await {
                AuthorizerOutcome::Answer(answer) => {
                    if cacheable {
                        let ttl = Duration::from_secs(u64::from(ttl));
                        caches.remember(&t.api_id, &a.id, &key, ttl, answer.clone());
                    }
                    answer
                }
                // A function that throws "Unauthorized" is the 401.
                AuthorizerOutcome::FunctionError(e) if e["errorMessage"] == "Unauthorized" => {
                    return deny(UNAUTHORIZED);
                }
                _ => return deny(AUTHORIZER_FAILED),
            }
        }
    };
    let latency = started.elapsed().as_millis() as u64;
    match decide(&answer, false, &arn) {
        Decision::Allow { context, principal } => match block(context, principal, latency) {
            Some(b) => Verdict::Allow(Some((Value::Null, b))),
            None => {
                tracing::warn!(api = %t.api_id, authorizer = %a.id, "The authorizer's context holds an object or array.");
                deny(AUTHORIZER_FAILED)
            }
        },
        Decision::Deny => deny(EXPLICIT_DENY),
        Decision::NoAllow => deny(NOT_ALLOWED),
        Decision::Malformed(why) => {
            tracing::warn!(api = %t.api_id, authorizer = %a.id, "Malformed authorizer answer: {why}.");
            deny(AUTHORIZER_FAILED)
        }
    }
}

/// `TOKEN`: `{type, authorizationToken, methodArn}`; `REQUEST`: the proxy
/// event without its body, with `type` and `methodArn`.
fn authorizer_event(a: &RestAuthorizer, mut event: Value, token: &str, arn: &str) -> Value {
    if a.authorizer_type == "TOKEN" {
        return json!({ "type": "TOKEN", "authorizationToken": token, "methodArn": arn });
    }
    if let Some(m) = event.as_object_mut() {
        m.remove("body");
        m.remove("isBase64Encoded");
        m.insert("type".into(), json!("REQUEST"));
        m.insert("methodArn".into(), json!(arn));
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_read_as_http_apis_read_them() {
        assert_eq!(
            as_v2_source("method.request.header.Auth"),
            "$request.header.Auth"
        );
        assert_eq!(
            as_v2_source(" method.request.querystring.u"),
            "$request.querystring.u"
        );
        assert_eq!(
            as_v2_source("method.request.multivalueheader.A"),
            "$request.header.A"
        );
        assert_eq!(as_v2_source("stageVariables.v"), "$stageVariables.v");
        assert_eq!(
            as_v2_source("context.identity.sourceIp"),
            "$context.identity.sourceIp"
        );
    }

    #[test]
    fn context_values_become_strings() {
        let ctx: Map<String, Value> =
            serde_json::from_value(json!({"a": "x", "n": 1, "b": true})).unwrap();
        let b = block(ctx, Some("p".into()), 3).unwrap();
        assert_eq!(
            b,
            json!({"a": "x", "n": "1", "b": "true", "principalId": "p", "integrationLatency": 3})
        );
        let bad: Map<String, Value> = serde_json::from_value(json!({"o": {"x": 1}})).unwrap();
        assert!(block(bad, None, 0).is_none());
    }
}
