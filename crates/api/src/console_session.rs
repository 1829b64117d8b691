//! The console's login under `--auth sigv4` (docs/console.md, Security).
//!
//! A login (`POST /console/login`, in `console.rs`) checks an access key
//! and secret of the credentials file and opens a session: a random id in a
//! cookie (HttpOnly, SameSite=Strict, Path=/, Max-Age) and a random CSRF
//! token the page sends in `X-Lambdad-Csrf` with every change. The sessions
//! live in memory only (a restart logs everyone out), at most
//! [`MAX_SESSIONS`], each for [`TTL`]; the secret is never kept.
//!
//! An API request with no SigV4 signature but a session's cookie is that
//! session key's request: [`identity`] gives the key's identity to the same
//! authorization as a signed request (`middleware::authenticate`), and
//! [`hide_environment`] takes the environment variables out of the
//! configurations answered to a key whose policy does not allow
//! `lambda:GetFunctionConfiguration` on them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, Method, header, request::Parts};
use axum::response::{IntoResponse, Response};
use lambdad_model::Code;
use serde_json::{Value, json};

use crate::auth::Identity;
use crate::error::ApiError;

/// The session cookie's name.
pub(crate) const COOKIE: &str = "lambdad_console";

/// The header carrying the session's CSRF token on every change.
pub(crate) const CSRF_HEADER: &str = "x-lambdad-csrf";

/// The header the console's requests to paths S3 could also claim carry
/// (`s3::is_s3`: they are the API's, never S3's).
pub(crate) const CONSOLE_HEADER: &str = "x-lambdad-console";

/// How long a session lasts after its login.
pub(crate) const TTL: Duration = Duration::from_secs(8 * 3600);

/// The most sessions kept; a login beyond it ends the one closest to expiry.
pub(crate) const MAX_SESSIONS: usize = 1024;

/// Largest Lambda response whose configurations are filtered (ListFunctions
/// pages are far smaller).
const MAX_FILTERED: usize = 32 * 1024 * 1024;

/// A live session.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// The access key that logged in.
    pub access_key: String,
    /// The token every change must carry.
    pub csrf: String,
    expires: Instant,
}

/// The live console sessions, by id.
#[derive(Debug, Default)]
pub struct Sessions {
    map: Mutex<HashMap<String, Session>>,
}

fn random_token() -> String {
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    hex::encode(bytes)
}

/// Equality of two tokens in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

impl Sessions {
    /// Opens a session for `access_key`: its id and the session.
    pub(crate) fn open(&self, access_key: &str) -> (String, Session) {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|_, s| s.expires > now);
        while map.len() >= MAX_SESSIONS {
            let Some(first) = map
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            map.remove(&first);
        }
        let session = Session {
            access_key: access_key.to_owned(),
            csrf: random_token(),
            expires: now + TTL,
        };
        let id = random_token();
        map.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session of an id (an expired one is forgotten).
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        let s = map.get(id)?;
        if s.expires <= Instant::now() {
            map.remove(id);
            return None;
        }
        Some(s.clone())
    }

    /// Ends a session.
    pub(crate) fn close(&self, id: &str) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// The session id of a request's `Cookie` header.
pub(crate) fn session_id(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
        .filter(|id| !id.is_empty())
}

/// The `Set-Cookie` value of a session (an empty id with no age: the
/// cookie's removal).
pub(crate) fn set_cookie(id: &str) -> String {
    let age = if id.is_empty() { 0 } else { TTL.as_secs() };
    format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={age}")
}

/// Whether a request carries the session's CSRF token.
pub(crate) fn csrf_ok(headers: &HeaderMap, session: &Session) -> bool {
    headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| same(t, &session.csrf))
}

/// The identity of an API request made by a console session: `None` when
/// the request is signed (SigV4 decides) or carries no session cookie;
/// a refusal when the session is gone or a change lacks its CSRF token.
pub(crate) fn identity(
    state: &crate::AppState,
    parts: &Parts,
) -> Option<Result<Arc<Identity>, (Code, &'static str)>> {
    let signed = parts.headers.contains_key(header::AUTHORIZATION)
        || parts
            .uri
            .query()
            .is_some_and(|q| q.contains("X-Amz-Credential="));
    if signed {
        return None;
    }
    let id = session_id(&parts.headers)?;
    let Some(session) = state.console_sessions.get(id) else {
        return Some(Err((
            Code::ExpiredToken,
            "The console session has expired or was closed: log in again.",
        )));
    };
    let safe = matches!(parts.method, Method::GET | Method::HEAD);
    if !safe && !csrf_ok(&parts.headers, &session) {
        return Some(Err((
            Code::AccessDenied,
            "The console request does not carry its session's CSRF token (X-Lambdad-Csrf).",
        )));
    }
    let identity = state
        .credentials
        .as_deref()
        .and_then(|c| c.identity(&session.access_key));
    Some(identity.ok_or((
        Code::UnrecognizedClient,
        "The security token included in the request is invalid.",
    )))
}

/// Whether a response to a console session's request may carry function
/// configurations to filter: the Lambda function paths, but an
/// invocation's payload is the function's own.
pub(crate) fn filters(path: &str) -> bool {
    path.starts_with("/2015-03-31/functions")
        && !path.ends_with("/invocations")
        && !path.contains("/test-events")
}

/// Takes the variables out of every function configuration (an object with
/// `FunctionArn` and `Environment`) of a JSON response that `id`'s policy
/// does not allow `lambda:GetFunctionConfiguration` on: its `Environment`
/// becomes Lambda's `EnvironmentResponse` with an `Error` and no `Variables`.
pub(crate) async fn hide_environment(resp: Response, id: &Identity, home: &str) -> Response {
    let Some(policy) = &id.policy else {
        return resp;
    };
    let json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_FILTERED).await else {
        return ApiError::new(Code::Service, "The response could not be read.").into_response();
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let deny = |arn: &str| {
        policy.evaluate("lambda:GetFunctionConfiguration", arn)
            != lambdad_model::iam::Decision::Allow
    };
    if !hide(&mut value, &deny, &id.arn(home)) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(value.to_string()))
}

fn hide(v: &mut Value, deny: &dyn Fn(&str) -> bool, user: &str) -> bool {
    match v {
        Value::Object(map) => {
            let mut changed = false;
            let arn = map
                .get("FunctionArn")
                .and_then(Value::as_str)
                .filter(|a| map.contains_key("Environment") && deny(a))
                .map(str::to_owned);
            if let Some(arn) = arn {
                let message = format!(
                    "User: {user} is not authorized to perform: lambda:GetFunctionConfiguration on resource: {arn}"
                );
                map.insert(
                    "Environment".into(),
                    json!({"Error": {"ErrorCode": "AccessDeniedException", "Message": message}}),
                );
                changed = true;
            }
            for child in map.values_mut() {
                changed |= hide(child, deny, user);
            }
            changed
        }
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, x| hide(x, deny, user) | changed),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_bounded_and_closed() {
        let sessions = Sessions::default();
        let (a, first) = sessions.open("AKID");
        assert_eq!(a.len(), 64);
        assert_ne!(a, first.csrf);
        assert_eq!(sessions.get(&a).unwrap().access_key, "AKID");
        for _ in 0..MAX_SESSIONS {
            sessions.open("AKID");
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert!(sessions.get(&a).is_none(), "the oldest session made room");
        let (b, _) = sessions.open("AKID");
        sessions.close(&b);
        assert!(sessions.get(&b).is_none());
    }

    #[test]
    fn the_cookie_is_read_and_written() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            "x=1; lambdad_console=abc; y=2".parse().unwrap(),
        );
        assert_eq!(session_id(&headers), Some("abc"));
        headers.insert(header::COOKIE, "lambdad_consoleX=abc".parse().unwrap());
        assert_eq!(session_id(&headers), None);
        let cookie = set_cookie("abc");
        for part in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=28800"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(set_cookie("").contains("Max-Age=0"));
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }

    #[test]
    fn variables_are_hidden_where_the_configuration_is_denied() {
        let mut v = json!({"Functions": [
            {"FunctionArn": "arn:f:a", "Environment": {"Variables": {"K": "secret"}}},
            {"FunctionArn": "arn:f:b", "Environment": {"Variables": {"K": "shown"}}},
        ]});
        let deny = |arn: &str| arn == "arn:f:a";
        assert!(hide(&mut v, &deny, "arn:user"));
        assert!(!v.to_string().contains("secret"));
        assert!(v.to_string().contains("shown"));
        assert_eq!(
            v["Functions"][0]["Environment"]["Error"]["ErrorCode"],
            "AccessDeniedException"
        );
        assert!(!hide(&mut v, &|_: &str| false, "arn:user"));
    }
}
