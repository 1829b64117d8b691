//! JWT authorizers of HTTP APIs: the bearer token of the identity source is
//! verified with the issuer's keys (its `/.well-known/openid-configuration`
//! names the `jwks_uri`; the key set is cached and fetched again when a
//! token names an unknown `kid`), then `iss`, `aud` (or `client_id`),
//! `exp`, `nbf` and the route's scopes are checked as API Gateway does.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use lambdad_service::gateway_authorizers::Authorizer;
use lambdad_service::gateway_route::Resolved;
use serde_json::{Map, Value, json};

use super::{AuthRequest, Verdict, forbidden, identity_value, unauthorized};
use super::{failed, with_challenge};
use crate::AppState;

/// How long a fetched key set is used.
const JWKS_MAX_AGE: Duration = Duration::from_secs(3600);
/// The least time between two fetches for an unknown `kid`.
const JWKS_REFETCH: Duration = Duration::from_secs(10);
/// Bound on each fetch (connect, request, body).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest discovery document or key set read.
const MAX_FETCH: usize = 256 * 1024;

/// Verifies the route's JWT.
pub async fn authorize(
    state: &AppState,
    r: &Resolved,
    a: &Authorizer,
    req: &AuthRequest<'_>,
) -> Verdict {
    let Some(jwt) = &a.jwt_configuration else {
        return Verdict::Deny(failed());
    };
    let issuer = jwt.issuer.clone().unwrap_or_default();
    let source = a
        .identity_source
        .first()
        .map_or("$request.header.Authorization", String::as_str);
    let context = json!({});
    let Some(raw) = identity_value(source, req, &r.stage_variables, &context) else {
        return Verdict::Deny(unauthorized());
    };
    let token = match raw.split_once(' ') {
        Some((scheme, t)) if scheme.eq_ignore_ascii_case("bearer") => t.trim(),
        _ => raw.trim(),
    };
    let invalid = |why: &str| Verdict::Deny(with_challenge(unauthorized(), "invalid_token", why));
    let Ok(header) = jsonwebtoken::decode_header(token) else {
        return invalid("the token is not a valid JWT");
    };
    if !matches!(
        header.alg,
        Algorithm::RS256
            | Algorithm::ES256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::ES384
    ) {
        return invalid(&format!("signing method {:?} is invalid", header.alg));
    }
    let Some(key) = key_for(state, &issuer, header.kid.as_deref()).await else {
        return invalid("the token's key is not in the issuer's key set");
    };
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[issuer.as_str()]);
    validation.validate_aud = false;
    validation.validate_nbf = true;
    validation.leeway = 0;
    let claims = match jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation) {
        Ok(t) => t.claims,
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind as K;
            let why = match e.kind() {
                K::ExpiredSignature => "the token has expired",
                K::ImmatureSignature => "the token is not valid yet",
                K::InvalidIssuer => "the token does not have a valid issuer",
                K::InvalidSignature => "the token's signature is invalid",
                K::MissingRequiredClaim(_) => "the token lacks a required claim",
                _ => "the token is invalid",
            };
            return invalid(why);
        }
    };
    let audiences: Vec<String> = match claims.get("aud").or_else(|| claims.get("client_id")) {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|x| jwt.audience.contains(x)) {
        return invalid("the token does not have a valid audience");
    }
    let scopes: Vec<String> = match claims.get("scope").or_else(|| claims.get("scp")) {
        Some(Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    if !r.authorization_scopes.is_empty()
        && !r.authorization_scopes.iter().any(|s| scopes.contains(s))
    {
        let a = with_challenge(
            forbidden(),
            "insufficient_scope",
            "the token does not have the required scope",
        );
        return Verdict::Deny(a);
    }
    // API Gateway passes every claim as a string.
    let claims: Map<String, Value> = claims
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                Value::Array(a) => {
                    let parts: Vec<String> = a
                        .iter()
                        .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                        .collect();
                    format!("[{}]", parts.join(" "))
                }
                other => other.to_string(),
            };
            (k, json!(s))
        })
        .collect();
    let scopes = if scopes.is_empty() {
        Value::Null
    } else {
        json!(scopes)
    };
    let block = json!({ "claims": claims, "scopes": scopes });
    Verdict::Allow(Some((json!({ "jwt": block.clone() }), block)))
}

/// The key a token names, from the issuer's key set (fetched again, at most
/// every few seconds, when the `kid` is unknown).
async fn key_for(state: &AppState, issuer: &str, kid: Option<&str>) -> Option<DecodingKey> {
    let caches = state.services.gateway.caches();
    let find = |set: &Value| -> Option<DecodingKey> {
        let set: JwkSet = serde_json::from_value(set.clone()).ok()?;
        let jwk = match kid {
            Some(k) => set.find(k)?,
            None if set.keys.len() == 1 => set.keys.first()?,
            None => return None,
        };
        DecodingKey::from_jwk(jwk).ok()
    };
    if let Some(set) = caches.jwks(issuer, JWKS_MAX_AGE)
        && let Some(k) = find(&set)
    {
        return Some(k);
    }
    if caches
        .jwks_fetched(issuer)
        .is_some_and(|at| at.elapsed() < JWKS_REFETCH)
    {
        return caches.jwks(issuer, JWKS_MAX_AGE).and_then(|s| find(&s));
    }
    let set = match fetch_jwks(issuer).await {
        Ok(set) => set,
        Err(e) => {
            tracing::warn!(issuer, error = %e, "Cannot fetch the issuer's JSON Web Key Set.");
            caches.remember_jwks(issuer, json!({ "keys": [] }));
            return None;
        }
    };
    caches.remember_jwks(issuer, set.clone());
    find(&set)
}

async fn fetch_jwks(issuer: &str) -> Result<Value, String> {
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let doc = get_json(&discovery).await?;
    let uri = doc
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or("the discovery document has no jwks_uri")?;
    get_json(uri).await
}

/// GETs a JSON document over HTTP/1.1, bounded in time and size.
async fn get_json(url: &str) -> Result<Value, String> {
    tokio::time::timeout(FETCH_TIMEOUT, get_json_unbounded(url))
        .await
        .map_err(|_| format!("{url}: timed out"))?
}

async fn get_json_unbounded(url: &str) -> Result<Value, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("{url}: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err(format!(
            "{url}: lambdad fetches issuers' keys over http:// only (no TLS client yet)"
        ));
    }
    let host = uri.host().ok_or_else(|| format!("{url}: no host"))?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or(host);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("{url}: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if resp.status() != hyper::StatusCode::OK {
        return Err(format!("{url}: status {}", resp.status()));
    }
    let body = Limited::new(resp.into_body(), MAX_FETCH)
        .collect()
        .await
        .map_err(|e| format!("{url}: {e}"))?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
}
