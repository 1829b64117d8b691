//! The web console at `/console/` (docs/console.md): static assets compiled
//! into the binary (`crates/api/console/`), plain JavaScript modules and CSS
//! with no build step. The console is a client of the public API: its pages
//! call the same Lambda REST paths the SDKs use, through the same handlers
//! and checks. Under `--auth sigv4` it is not served yet (a login with a
//! session is not built): every console path answers a page saying so.
//! Its saved test events are API requests like any other (`test_events.rs`).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use super::AppState;

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
];

/// The page every console path answers under `--auth sigv4`.
const SIGV4_PAGE: &str = include_str!("../console/sigv4.html");

/// Only the console's own files, no inline script or style, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                   form-action 'none'; frame-ancestors 'none'";

/// Whether a request path is the console's (authentication leaves these to
/// [`routes`], which refuses them all under `--auth sigv4`).
pub(crate) fn is_console_path(path: &str) -> bool {
    path == "/console" || path.starts_with("/console/")
}

/// The console's routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::permanent("/console/") }),
        )
        .route("/console/", get(index))
        .route("/console/config.json", get(config))
        .route("/console/{file}", get(asset))
}

async fn index(State(state): State<AppState>) -> Response {
    asset(State(state), Path("index.html".to_owned())).await
}

/// `GET /console/config.json`: what the pages need to fill in defaults.
async fn config(State(state): State<AppState>) -> Response {
    if state.config.require_signatures {
        return sigv4_refusal();
    }
    let body = serde_json::json!({
        "accountId": state.config.account_id,
        "region": state.config.region,
    });
    with_headers(axum::Json(body).into_response())
}

async fn asset(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    if state.config.require_signatures {
        return sigv4_refusal();
    }
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

fn sigv4_refusal() -> Response {
    let mut resp = (StatusCode::FORBIDDEN, SIGV4_PAGE).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    with_headers(resp)
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
            for line in body.lines() {
                let Some(from) = line.split(" from \"./").nth(1) else {
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
