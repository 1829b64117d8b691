//! The web console at `/console/` (docs/console.md): static assets compiled
//! into the binary (`crates/api/console/`), plain JavaScript modules and CSS
//! with no build step. The console is a client of the public API: its pages
//! call the same Lambda REST paths the SDKs use, through the same handlers
//! and checks. Under `--auth sigv4` the pages log in with an access key and
//! secret (`POST /console/login`) and their API calls are then the session
//! key's (`console_session.rs`), authorized as signed requests are.
//! Its saved test events are API requests like any other (`test_events.rs`).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use lambdad_model::Code;

use super::AppState;
use crate::console_session::{self as session, Session};
use crate::error::ApiError;

/// The console's files: name, content type, contents.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("../console/style.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/app.js"),
    ),
    (
        "api.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/api.js"),
    ),
    (
        "editor.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/editor.js"),
    ),
    (
        "zip.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/zip.js"),
    ),
    (
        "pages.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/pages.js"),
    ),
    (
        "ui.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/ui.js"),
    ),
    (
        "test.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/test.js"),
    ),
    (
        "function.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/function.js"),
    ),
    (
        "login.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/login.js"),
    ),
    (
        "templates.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/templates.js"),
    ),
    (
        "operate.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/operate.js"),
    ),
    (
        "urls.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/urls.js"),
    ),
    (
        "triggers.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/triggers.js"),
    ),
    (
        "settings.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/settings.js"),
    ),
    (
        "concurrency.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/concurrency.js"),
    ),
    (
        "forms.js",
        "text/javascript; charset=utf-8",
        include_str!("../console/forms.js"),
    ),
];

/// Only the console's own files, no inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// The console's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(index))
        .route("/console/config.json", get(config))
        .route("/console/login", post(login))
        .route("/console/logout", post(logout))
        .route("/console/{file}", get(asset))
}

async fn index() -> Response {
    asset(Path("index.html".to_owned())).await
}

/// `GET /console/config.json`: what the pages need: the account and region,
/// the auth mode and, under `--auth sigv4`, the session's user and CSRF
/// token (401 without a live session: the pages show the login).
async fn config(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if !state.config.require_signatures {
        return with_headers(axum::Json(session_json(&state, None)).into_response());
    }
    let live = session::session_id(&headers).and_then(|id| state.console_sessions.get(id));
    match live {
        Some(s) => with_headers(axum::Json(session_json(&state, Some(&s))).into_response()),
        None => with_headers(
            (
                StatusCode::UNAUTHORIZED,
                axum::Json(serde_json::json!({
                    "auth": "sigv4",
                    "message": "Log in with an access key of the credentials file.",
                })),
            )
                .into_response(),
        ),
    }
}

fn session_json(state: &AppState, s: Option<&Session>) -> serde_json::Value {
    let home = &state.config.account_id;
    let mut body = serde_json::json!({
        "accountId": home,
        "region": state.config.region,
        "auth": if state.config.require_signatures { "sigv4" } else { "none" },
    });
    if let Some(s) = s {
        let user = state
            .credentials
            .as_deref()
            .and_then(|c| c.identity(&s.access_key))
            .map(|id| id.arn(home));
        body["accessKeyId"] = s.access_key.clone().into();
        body["user"] = user.into();
        body["csrfToken"] = s.csrf.clone().into();
    }
    body
}

/// The body of a login.
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Login {
    access_key_id: String,
    secret_access_key: String,
}

/// `POST /console/login` (`{"AccessKeyId", "SecretAccessKey"}`, JSON only,
/// which a cross-site form cannot send): a key of the credentials file and
/// its secret open a session; its cookie is set and its CSRF token answered.
async fn login(State(state): State<AppState>, headers: HeaderMap, body: Body) -> Response {
    if !state.config.require_signatures {
        let e = ApiError::new(
            Code::InvalidParameterValue,
            "The console needs no login under --auth none.",
        );
        return with_headers(e.into_response());
    }
    let json = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !json {
        let e = ApiError::new(
            Code::UnsupportedMediaType,
            "The login is a JSON body (Content-Type: application/json).",
        );
        return with_headers(e.into_response());
    }
    let bytes = match crate::middleware::read_body(body, 4096, "Login").await {
        Ok(b) => b,
        Err(e) => return with_headers(e.into_response()),
    };
    let Ok(req) = serde_json::from_slice::<Login>(&bytes) else {
        let e = ApiError::new(
            Code::InvalidRequestContent,
            "The login needs AccessKeyId and SecretAccessKey.",
        );
        return with_headers(e.into_response());
    };
    let who = state
        .credentials
        .as_deref()
        .and_then(|c| c.login(&req.access_key_id, &req.secret_access_key));
    let Some(who) = who else {
        tracing::info!(access_key = %req.access_key_id, "console login refused");
        let e = ApiError::new(
            Code::UnrecognizedClient,
            "The access key ID or the secret access key is not valid.",
        );
        return with_headers(e.into_response());
    };
    let (id, s) = state.console_sessions.open(&req.access_key_id);
    tracing::info!(user = %who.arn(&state.config.account_id), "console login");
    let mut resp = axum::Json(session_json(&state, Some(&s))).into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie(&id)) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    with_headers(resp)
}

/// `POST /console/logout`, with the CSRF token: ends the session and
/// removes its cookie.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(id) = session::session_id(&headers)
        && let Some(s) = state.console_sessions.get(id)
    {
        if !session::csrf_ok(&headers, &s) {
            let e = ApiError::new(
                Code::AccessDenied,
                "The console request does not carry its session's CSRF token (X-Lambdad-Csrf).",
            );
            return with_headers(e.into_response());
        }
        state.console_sessions.close(id);
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = HeaderValue::from_str(&session::set_cookie("")) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    with_headers(resp)
}

async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => {
            let mut resp = (*body).into_response();
            resp.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            with_headers(resp)
        }
        None => with_headers((StatusCode::NOT_FOUND, "Not found").into_response()),
    }
}

fn with_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::middleware::is_console_path;

    #[test]
    fn console_paths() {
        assert!(is_console_path("/console"));
        assert!(is_console_path("/console/app.js"));
        assert!(!is_console_path("/consoles"));
        assert!(!is_console_path("/2015-03-31/functions"));
    }

    #[test]
    fn every_module_the_pages_import_is_served() {
        for (name, _, body) in ASSETS {
            // Static imports (`from "./x.js"`) and the operate tabs' lazy ones (`"./x.js", "render…"`).
            for line in body.lines() {
                let Some(from) = line
                    .split(" from \"./")
                    .nth(1)
                    .or_else(|| line.split("lazy(\"./").nth(1))
                else {
                    continue;
                };
                let target = from.split('"').next().unwrap_or_default();
                assert!(
                    ASSETS.iter().any(|(n, _, _)| *n == target),
                    "{name} imports {target}, which is not served"
                );
            }
        }
    }
}
