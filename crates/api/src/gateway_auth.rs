//! Authorization of HTTP API routes before their integration runs: Lambda
//! `REQUEST` authorizers (payload 1.0 and 2.0, simple and IAM-policy
//! answers, identity sources, answers cached by TTL) and `JWT` authorizers
//! (in `gateway_auth::jwt`). The verdict is the gateway's 401/403/500, or the
//! `requestContext.authorizer` block the integration's event carries.

mod jwt;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use lambdad_model::gateway::arn_like;
use lambdad_service::gateway_authorizers::Authorizer;
use lambdad_service::gateway_route::Resolved;
use lambdad_service::invocations::Invocations;
use lambdad_service::telemetry::Trigger;
use serde_json::{Map, Value, json};

use super::AppState;
use super::gateway_event::{gateway_error, request_event_v1};
use super::url_event::{self, HttpAnswer, RequestFacts, query_params};

/// How long the gateway waits for a Lambda authorizer (API Gateway's 10 s).
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

/// The request as authorizers see it.
pub struct AuthRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path as sent (with a named stage's prefix).
    pub path: &'a str,
    /// The raw query string.
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The body (AWS_IAM routes verify its hash).
    pub body: &'a [u8],
    /// What the events say beyond the request.
    pub facts: &'a RequestFacts<'a>,
    /// The region the API was addressed in.
    pub region: &'a str,
}

/// The outcome of a route's authorization.
pub enum Verdict {
    /// The integration runs; with its event's `requestContext.authorizer`
    /// as payload format 2.0 (`lambda`/`jwt`) and 1.0 write it.
    Allow(Option<(Value, Value)>),
    /// The gateway answers at once.
    Deny(HttpAnswer),
}

pub(crate) fn unauthorized() -> HttpAnswer {
    gateway_error(StatusCode::UNAUTHORIZED, "Unauthorized")
}

pub(crate) fn forbidden() -> HttpAnswer {
    gateway_error(StatusCode::FORBIDDEN, "Forbidden")
}

pub(crate) fn failed() -> HttpAnswer {
    gateway_error(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// `401` with the `www-authenticate` header JWT authorizers send.
pub(crate) fn with_challenge(mut a: HttpAnswer, error: &str, description: &str) -> HttpAnswer {
    let v = format!("Bearer scope=\"\" error=\"{error}\" error_description=\"{description}\"");
    if let Ok(v) = HeaderValue::from_str(&v) {
        a.headers.insert("www-authenticate", v);
    }
    a
}

/// Authorizes a request to the route `r`.
pub async fn authorize(state: &AppState, r: &Resolved, req: &AuthRequest<'_>) -> Verdict {
    match (r.authorization_type.as_str(), &r.authorizer) {
        ("CUSTOM", Some(a)) => lambda(state, r, a, req).await,
        ("JWT", Some(a)) => jwt::authorize(state, r, a, req).await,
        ("CUSTOM" | "JWT", None) => {
            tracing::warn!(api = %r.api_id, route = %r.route_key, "The route's authorizer is gone.");
            Verdict::Deny(failed())
        }
        ("AWS_IAM", _) => iam(state, &r.api_id, &r.stage, req),
        _ => Verdict::Allow(None),
    }
}

/// The value of one identity source: `$request.header.X`,
/// `$request.querystring.x`, `$context.x` or `$stageVariables.x`; `None`
/// when it is missing or empty.
pub(crate) fn identity_value(
    source: &str,
    req: &AuthRequest<'_>,
    stage_variables: &BTreeMap<String, String>,
    context: &Value,
) -> Option<String> {
    let v = if let Some(name) = source.strip_prefix("$request.header.") {
        let values: Vec<&str> = req
            .headers
            .get_all(name.to_ascii_lowercase().as_str())
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        values.join(",")
    } else if let Some(name) = source.strip_prefix("$request.querystring.") {
        query_params(req.query)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.join(","))
            .unwrap_or_default()
    } else if let Some(name) = source.strip_prefix("$stageVariables.") {
        stage_variables.get(name).cloned().unwrap_or_default()
    } else if let Some(path) = source.strip_prefix("$context.") {
        let path = match path {
            "identity.sourceIp" => "http.sourceIp",
            "identity.userAgent" => "http.userAgent",
            "httpMethod" => "http.method",
            "path" => "http.path",
            other => other,
        };
        let mut v = context;
        for part in path.split('.') {
            v = v.get(part)?;
        }
        match v {
            Value::String(s) => s.clone(),
            Value::Null => String::new(),
            other => other.to_string(),
        }
    } else {
        String::new()
    };
    (!v.is_empty()).then_some(v)
}

/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH` of the request.
pub(crate) fn request_arn(
    state: &AppState,
    api_id: &str,
    stage: &str,
    req: &AuthRequest<'_>,
) -> String {
    let path = match stage {
        "$default" => req.path,
        s => req
            .path
            .strip_prefix('/')
            .and_then(|p| p.strip_prefix(s))
            .unwrap_or(req.path),
    };
    format!(
        "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
        req.region,
        state.config.account_id,
        api_id,
        stage,
        req.method.as_str(),
        if path.is_empty() { "/" } else { path }
    )
}

/// An `AWS_IAM` route: a valid SigV4 signature of a known key (any form
/// of one when lambdad runs without credentials), whose identity policy,
/// if it has one, allows `execute-api:Invoke` on the request's ARN.
pub(crate) fn iam(state: &AppState, api_id: &str, stage: &str, req: &AuthRequest<'_>) -> Verdict {
    let signed = super::auth::Signed {
        method: req.method,
        raw_path: req.path,
        raw_query: req.query,
        headers: req.headers,
        body: req.body,
    };
    let creds = state.credentials.as_deref();
    let a = match super::auth::verify(creds, &signed, std::time::SystemTime::now()) {
        Ok(a) => a,
        Err(super::auth::SigV4Error::Missing) => return Verdict::Deny(forbidden()),
        Err(e) => {
            tracing::debug!(error = %e, "HTTP API request with a bad signature.");
            let message = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
            return Verdict::Deny(gateway_error(StatusCode::FORBIDDEN, message));
        }
    };
    let arn = request_arn(state, api_id, stage, req);
    if let Some(policy) = creds
        .and_then(|c| c.identity(&a.access_key))
        .and_then(|id| id.policy.clone())
        && policy.evaluate("execute-api:Invoke", &arn) != lambdad_model::iam::Decision::Allow
    {
        return Verdict::Deny(forbidden());
    }
    let account = &state.config.account_id;
    let block = json!({
        "accessKey": a.access_key,
        "accountId": account,
        "callerId": a.access_key,
        "cognitoIdentity": null,
        "principalOrgId": null,
        "userArn": format!("arn:aws:iam::{account}:root"),
        "userId": a.access_key,
    });
    Verdict::Allow(Some((json!({ "iam": block }), Value::Null)))
}

/// A Lambda `REQUEST` authorizer.
async fn lambda(state: &AppState, r: &Resolved, a: &Authorizer, req: &AuthRequest<'_>) -> Verdict {
    let v2 = a.authorizer_payload_format_version.as_deref() == Some("2.0");
    let event2 =
        url_event::request_event(req.method, req.path, req.query, req.headers, b"", req.facts);
    let mut identity = Vec::new();
    for s in &a.identity_source {
        match identity_value(s, req, &r.stage_variables, &event2["requestContext"]) {
            Some(v) => identity.push(v),
            None => return Verdict::Deny(unauthorized()),
        }
    }
    let arn = request_arn(state, &r.api_id, &r.stage, req);
    let caches = state.services.gateway.caches();
    let key = serde_json::to_string(&identity).unwrap_or_default();
    let ttl = a.authorizer_result_ttl_in_seconds;
    let cached = (ttl > 0)
        .then(|| caches.answer(&r.api_id, &a.authorizer_id, &key))
        .flatten();
    let started = Instant::now();
    let answer = match cached {
        Some(answer) => answer,
        None => {
            let event = if v2 {
                let mut e = event2;
                if let Some(m) = e.as_object_mut() {
                    m.remove("body");
                    m.remove("isBase64Encoded");
                    m.insert("type".into(), json!("REQUEST"));
                    m.insert("routeArn".into(), json!(arn));
                    m.insert("identitySource".into(), json!(identity));
                }
                e
            } else {
                let mut e =
                    request_event_v1(req.method, req.path, req.query, req.headers, b"", req.facts);
                let joined = identity.join(",");
                if let Some(m) = e.as_object_mut() {
                    m.remove("body");
                    m.remove("isBase64Encoded");
                    m.insert("type".into(), json!("REQUEST"));
                    m.insert("methodArn".into(), json!(arn));
                    m.insert("identitySource".into(), json!(joined));
                    m.insert("authorizationToken".into(), json!(joined));
                }
                e
            };
            let run = Authorizing {
                api_id: &r.api_id,
                authorizer_id: &a.authorizer_id,
                function: a.function(),
                allowed: r.authorizer_allowed,
            };
            let AuthorizerOutcome::Answer(answer) = invoke(state, req.region, &run, event).await
            else {
                return Verdict::Deny(failed());
            };
            if ttl > 0 {
                let ttl = Duration::from_secs(u64::from(ttl));
                caches.remember(&r.api_id, &a.authorizer_id, &key, ttl, answer.clone());
            }
            answer
        }
    };
    let latency = started.elapsed().as_millis() as u64;
    let simple = v2 && a.enable_simple_responses;
    match decide(&answer, simple, &arn) {
        Decision::Allow { context, principal } => {
            let mut v1 = context.clone();
            if let Some(p) = principal {
                v1.insert("principalId".into(), json!(p));
            }
            v1.insert("integrationLatency".into(), json!(latency));
            Verdict::Allow(Some((json!({ "lambda": context }), Value::Object(v1))))
        }
        Decision::Deny | Decision::NoAllow => Verdict::Deny(forbidden()),
        Decision::Malformed(why) => {
            tracing::warn!(api = %r.api_id, authorizer = %a.authorizer_id, "Malformed authorizer answer: {why}.");
            Verdict::Deny(failed())
        }
    }
}

/// An authorizer to run: its API, id, function, and whether the
/// function's resource policy lets API Gateway invoke it.
pub(crate) struct Authorizing<'a> {
    pub api_id: &'a str,
    pub authorizer_id: &'a str,
    pub function: Option<(String, Option<String>)>,
    pub allowed: bool,
}

/// What running an authorizer's function came to.
pub(crate) enum AuthorizerOutcome {
    /// Its JSON answer.
    Answer(Value),
    /// The function failed; its error payload.
    FunctionError(Value),
    /// It may not be invoked, could not run, timed out or answered no JSON.
    Failed,
}

/// Runs the authorizer's function through the funnel.
pub(crate) async fn invoke(
    state: &AppState,
    region: &str,
    a: &Authorizing<'_>,
    event: Value,
) -> AuthorizerOutcome {
    let Some((function, qualifier)) = a.function.clone() else {
        return AuthorizerOutcome::Failed;
    };
    if !a.allowed {
        tracing::warn!(api = %a.api_id, authorizer = %a.authorizer_id, function = %function,
            "The authorizer function's resource policy does not let apigateway.amazonaws.com invoke it.");
        return AuthorizerOutcome::Failed;
    }
    let funnel = state.services.invocations.clone();
    let snapshot = match funnel
        .resolve(region, &function, qualifier.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "The authorizer function cannot run.");
            return AuthorizerOutcome::Failed;
        }
    };
    let id = uuid::Uuid::new_v4().to_string();
    let payload = bytes::Bytes::from(event.to_string());
    let req = Invocations::request(snapshot, qualifier.as_deref(), &id, payload);
    let task = tokio::spawn(async move {
        funnel
            .invoke(req, Trigger::Http, Duration::ZERO, true)
            .await
    });
    match tokio::time::timeout(AUTHORIZER_TIMEOUT, task).await {
        Ok(Ok(Ok(out))) if out.function_error.is_none() => {
            match serde_json::from_slice(&out.payload) {
                Ok(v) => AuthorizerOutcome::Answer(v),
                Err(_) => AuthorizerOutcome::Failed,
            }
        }
        Ok(Ok(Ok(out))) => {
            tracing::warn!(api = %a.api_id, "The authorizer function failed.");
            AuthorizerOutcome::FunctionError(
                serde_json::from_slice(&out.payload).unwrap_or(Value::Null),
            )
        }
        Ok(Ok(Err(e))) => {
            tracing::warn!(error = %e, "The authorizer invocation failed.");
            AuthorizerOutcome::Failed
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, "The authorizer invocation task failed.");
            AuthorizerOutcome::Failed
        }
        Err(_) => {
            tracing::warn!(api = %a.api_id, "The authorizer timed out.");
            AuthorizerOutcome::Failed
        }
    }
}

/// What an authorizer's answer says about one request.
#[derive(Debug, PartialEq)]
pub(crate) enum Decision {
    Allow {
        context: Map<String, Value>,
        principal: Option<String>,
    },
    /// A statement denies the request.
    Deny,
    /// No statement allows it.
    NoAllow,
    Malformed(&'static str),
}

fn context_of(answer: &Value) -> Result<Map<String, Value>, &'static str> {
    match answer.get("context") {
        None | Some(Value::Null) => Ok(Map::new()),
        Some(Value::Object(m)) => Ok(m.clone()),
        Some(_) => Err("context is not an object"),
    }
}

/// Decides on the answer: `{"isAuthorized", "context"}` when `simple`,
/// else an IAM policy whose `execute-api:Invoke` statements are matched
/// against the request's ARN (a Deny wins; no Allow is a Deny).
pub(crate) fn decide(answer: &Value, simple: bool, arn: &str) -> Decision {
    let context = match context_of(answer) {
        Ok(c) => c,
        Err(why) => return Decision::Malformed(why),
    };
    if simple {
        return match answer.get("isAuthorized") {
            Some(Value::Bool(true)) => Decision::Allow {
                context,
                principal: None,
            },
            Some(Value::Bool(false)) => Decision::Deny,
            _ => Decision::Malformed("isAuthorized is not a boolean"),
        };
    }
    let principal = answer
        .get("principalId")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(statements) = answer.pointer("/policyDocument/Statement") else {
        return Decision::Malformed("no policyDocument.Statement");
    };
    let statements = match statements {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => return Decision::Malformed("policyDocument.Statement is not a list"),
    };
    let list = |v: Option<&Value>| -> Vec<String> {
        match v {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        }
    };
    let mut allowed = false;
    for s in &statements {
        let actions = list(s.get("Action"));
        let invokes = actions
            .iter()
            .any(|a| arn_like(&a.to_ascii_lowercase(), "execute-api:invoke"));
        let matches = list(s.get("Resource")).iter().any(|p| arn_like(p, arn));
        if !(invokes && matches) {
            continue;
        }
        match s.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Decision::Deny,
            Some("Allow") => allowed = true,
            _ => return Decision::Malformed("a statement's Effect is not Allow or Deny"),
        }
    }
    if allowed {
        Decision::Allow { context, principal }
    } else {
        Decision::NoAllow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/pets";

    fn policy(effect: &str, resource: &str) -> Value {
        json!({
            "principalId": "user",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": [resource]}]
            },
            "context": {"tier": "gold"}
        })
    }

    #[test]
    fn simple_answers_decide() {
        let allow = decide(
            &json!({"isAuthorized": true, "context": {"a": 1}}),
            true,
            ARN,
        );
        assert!(matches!(allow, Decision::Allow { ref context, .. } if context["a"] == 1));
        assert_eq!(
            decide(&json!({"isAuthorized": false}), true, ARN),
            Decision::Deny
        );
        assert!(matches!(
            decide(&json!({"isAuthorized": "yes"}), true, ARN),
            Decision::Malformed(_)
        ));
    }

    #[test]
    fn policies_are_matched_against_the_request_arn() {
        let wild = "arn:aws:execute-api:us-east-1:123456789012:abc/*";
        assert!(matches!(
            decide(&policy("Allow", wild), false, ARN),
            Decision::Allow { principal: Some(ref p), .. } if p == "user"
        ));
        assert_eq!(decide(&policy("Deny", wild), false, ARN), Decision::Deny);
        let other = "arn:aws:execute-api:us-east-1:123456789012:abc/$default/POST/*";
        assert_eq!(
            decide(&policy("Allow", other), false, ARN),
            Decision::NoAllow
        );
        assert!(matches!(
            decide(&json!({"principalId": "x"}), false, ARN),
            Decision::Malformed(_)
        ));
    }
}
