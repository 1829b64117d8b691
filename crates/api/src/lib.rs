//! lambdad's HTTP API: the Lambda control plane on AWS's exact paths, the
//! Logs and EventBridge JSON 1.1 operations, the API Gateway HTTP API
//! control plane (`/v2/apis`), the REST API control plane (`/restapis`), SigV4 authentication, the function-URL and
//! HTTP API data planes and the listener that serves them.
//!
//! Handlers are thin: they extract path, query, headers and body, call the
//! service layer (`lambdad_service`) with plain arguments, and render the
//! answer or an [`error::ApiError`] (the only HTTP error type: any
//! `ErrorCode` renders as AWS's error response, in one place). Every
//! response carries `x-amzn-RequestId`.
#![forbid(unsafe_code)]

mod actions;
pub mod auth;
mod code_signing;
mod concurrency;
mod console;
mod console_session;
mod doors;
mod elb;
mod elb_http;
pub mod error;
mod esm;
mod events;
mod functions;
mod gateway;
mod gateway_auth;
mod gateway_event;
mod gateway_http;
mod invoke;
mod invoke_stream;
mod json11;
mod layers;
pub mod listener;
mod logs;
mod metrics;
pub(crate) mod middleware;
mod rest;
mod rest_auth;
mod rest_event;
mod rest_http;
pub mod s3;
mod s3_access;
mod s3_metrics;
mod s3_webhooks;
mod sns;
mod sqs;
mod sqs_query;
mod test_events;
pub mod url_event;
mod url_http;
mod urls;
mod versions;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::routing::{get, post, put};

use lambdad_service::Services;
use middleware::RequestContext;

/// What the API needs of lambdad's configuration.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The address the API listens on (for `Code.Location` without a Host).
    pub listen: std::net::SocketAddr,
    /// The region of requests without a SigV4 credential scope.
    pub region: String,
    /// The account every ARN names.
    pub account_id: String,
    /// Whether every API request must carry a valid SigV4 signature.
    pub require_signatures: bool,
    /// Prices for the metered usage (`/_lambdad/usage`).
    pub prices: lambdad_engine::metrics::Prices,
    /// The shortest interval a schedule rule may fire at.
    pub schedule_min_interval: std::time::Duration,
    /// The log group that also gets every S3 access log line, if any.
    pub s3_access_log_group: Option<String>,
}

/// Shared state of every handler: one `Arc`, so that the clones axum makes
/// per request and per layer are one reference count each.
#[derive(Clone, Debug)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    /// The state over its parts.
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct AppParts {
    /// The API's configuration.
    pub config: Arc<ApiConfig>,
    /// The services.
    pub services: Services,
    /// The invocation engine (metrics).
    pub engine: lambdad_engine::Invoker,
    /// Access keys for SigV4 verification, when configured.
    pub credentials: Option<Arc<auth::Credentials>>,
    /// The CloudWatch Logs view of function logs.
    pub logs: lambdad_service::logs::Logs,
    /// The built-in object store's S3 API (`s3.rs`), when it is on.
    pub s3: Option<s3s::service::S3Service>,
    /// The object store itself (its access logs), when it is on.
    pub objects: Option<lambdad_objects::Objects>,
    /// The front doors' request counters (`doors.rs`).
    pub doors: Arc<doors::DoorMetrics>,
    /// The S3 API's counters (`s3_metrics.rs`).
    pub s3_metrics: Arc<s3_metrics::S3Metrics>,
    /// The web console's login sessions under `--auth sigv4` (`console_session.rs`).
    pub console_sessions: Arc<console_session::Sessions>,
}

/// The region a request addresses: its SigV4 credential scope's, else the configured one.
pub(crate) fn region<'a>(state: &'a AppState, ctx: &'a RequestContext) -> &'a str {
    ctx.region.as_deref().unwrap_or(&state.config.region)
}

/// `GET /health`: the server answers; `runtimeSdk` says, per language,
/// whether the managed runtimes' AWS SDK is `ready` (functions started from
/// now on see it), `installing`, `failed` or `absent`.
async fn health(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let sdk: serde_json::Map<String, serde_json::Value> = state
        .engine
        .sdk()
        .status()
        .into_iter()
        .map(|(lang, status)| (lang.name().to_owned(), status.label().into()))
        .collect();
    axum::Json(serde_json::json!({ "status": "ok", "runtimeSdk": sdk }))
}

/// `GET /_lambdad/usage`: metered usage and estimated cost per function.
async fn usage(State(state): State<AppState>) -> axum::Json<serde_json::Value> {
    let functions: Vec<serde_json::Value> = state
        .engine
        .metrics()
        .usage()
        .into_iter()
        .map(|(f, u, cost)| {
            serde_json::json!({
                "FunctionName": f, "Requests": u.requests, "GbSeconds": u.gb_seconds,
                "Architecture": u.architecture, "EstimatedCostUsd": cost,
            })
        })
        .collect();
    axum::Json(serde_json::json!({ "Functions": functions, "Prices": {
        "PerMillionRequests": state.config.prices.per_million_requests,
        "PerGbSecondX86_64": state.config.prices.per_gb_second_x86_64,
        "PerGbSecondArm64": state.config.prices.per_gb_second_arm64,
    }}))
}

/// `GET /_lambdad/cluster`: the cluster's nodes (`lambdad cluster status`).
async fn cluster_status(
    State(state): State<AppState>,
) -> error::ApiResult<axum::Json<serde_json::Value>> {
    lambdad_service::cluster::status(&state.services.ctx)
        .await
        .map(axum::Json)
        .map_err(error::ApiError::from)
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/", post(json11::dispatch).get(sns::by_get))
        // Other methods on such paths are unknown Lambda operations (not 405).
        .route(
            "/{account}/{queue}",
            post(sqs_query::by_url).fallback(middleware::unknown_operation),
        )
        .route(
            "/2015-03-31/functions",
            post(functions::create).get(functions::list),
        )
        .route("/2015-03-31/functions/", get(functions::list))
        .route(
            "/2015-03-31/functions/{name}",
            get(functions::get).delete(functions::delete),
        )
        .route(
            "/2015-03-31/functions/{name}/configuration",
            get(functions::get_configuration).put(functions::update_configuration),
        )
        .route(
            "/2015-03-31/functions/{name}/code",
            put(functions::update_code),
        )
        .route(
            "/2015-03-31/functions/{name}/invocations",
            post(invoke::invoke),
        )
        .route(
            "/2015-03-31/functions/{name}/versions",
            get(versions::list_versions).post(versions::publish),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases",
            get(versions::list_aliases).post(versions::create_alias),
        )
        .route(
            "/2015-03-31/functions/{name}/aliases/{alias}",
            get(versions::get_alias)
                .put(versions::update_alias)
                .delete(versions::delete_alias),
        )
        .route(
            "/2020-06-30/functions/{name}/code-signing-config",
            get(code_signing::attached)
                .put(code_signing::attach)
                .delete(code_signing::detach),
        )
        .route(
            "/2020-04-22/code-signing-configs",
            post(code_signing::create).get(code_signing::list),
        )
        .route(
            "/2020-04-22/code-signing-configs/",
            post(code_signing::create).get(code_signing::list),
        )
        .route(
            "/2020-04-22/code-signing-configs/{arn}",
            get(code_signing::get)
                .put(code_signing::update)
                .delete(code_signing::delete),
        )
        .route(
            "/2020-04-22/code-signing-configs/{arn}/functions",
            get(code_signing::functions),
        )
        .route(
            "/2024-08-31/functions/{name}/recursion-config",
            get(code_signing::get_recursion).put(code_signing::put_recursion),
        )
        .route(
            "/2017-03-31/tags/{arn}",
            get(functions::list_tags)
                .post(functions::tag)
                .delete(functions::untag),
        )
        .route(
            "/2016-08-19/account-settings",
            get(functions::account_settings),
        )
        .route(
            "/2016-08-19/account-settings/",
            get(functions::account_settings),
        )
        .route("/2018-10-31/layers", get(layers::list_or_find))
        .route(
            "/2018-10-31/layers/{name}/versions",
            post(layers::publish).get(layers::list_versions),
        )
        .route(
            "/2018-10-31/layers/{name}/versions/{version}",
            get(layers::get_version).delete(layers::delete_version),
        )
        .route(
            "/2018-10-31/layers/{name}/versions/{version}/policy",
            post(layers::add_permission).get(layers::get_policy),
        )
        .route(
            "/2018-10-31/layers/{name}/versions/{version}/policy/{sid}",
            axum::routing::delete(layers::remove_permission),
        )
        .route(
            "/2017-10-31/functions/{name}/concurrency",
            put(concurrency::put).delete(concurrency::delete),
        )
        .route(
            "/2019-09-30/functions/{name}/concurrency",
            get(concurrency::get),
        )
        .route(
            "/2019-09-30/functions/{name}/provisioned-concurrency",
            put(concurrency::put_provisioned)
                .get(concurrency::get_provisioned)
                .delete(concurrency::delete_provisioned),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config",
            put(concurrency::put_event_config)
                .post(concurrency::update_event_config)
                .get(concurrency::get_event_config)
                .delete(concurrency::delete_event_config),
        )
        .route(
            "/2019-09-25/functions/{name}/event-invoke-config/list",
            get(concurrency::list_event_configs),
        )
        .route(
            "/2021-11-15/functions/{name}/response-streaming-invocations",
            post(invoke_stream::invoke_stream),
        )
        .route(
            "/2021-10-31/functions/{name}/url",
            post(urls::create_url)
                .get(urls::get_url)
                .put(urls::update_url)
                .delete(urls::delete_url),
        )
        .route("/2021-10-31/functions/{name}/urls", get(urls::list_urls))
        .route(
            "/2015-03-31/functions/{name}/policy",
            post(urls::add_permission).get(urls::get_policy),
        )
        .route(
            "/2015-03-31/functions/{name}/policy/{sid}",
            axum::routing::delete(urls::remove_permission),
        )
        .route(
            "/2015-03-31/event-source-mappings",
            post(esm::create).get(esm::list),
        )
        .route(
            "/2015-03-31/event-source-mappings/",
            post(esm::create).get(esm::list),
        )
        .route(
            "/2015-03-31/event-source-mappings/{uuid}",
            get(esm::get).put(esm::update).delete(esm::delete),
        )
        .merge(gateway::routes())
        .merge(rest::routes())
        .merge(console::routes())
        .route("/_lambdad/code/{file}", get(functions::download_code))
        .route("/metrics", get(metrics::metrics))
        .route("/_lambdad/usage", get(usage))
        .route(
            "/_lambdad/s3-webhooks/{name}",
            put(s3_webhooks::put)
                .get(s3_webhooks::get)
                .delete(s3_webhooks::delete),
        )
        .route(
            "/_lambdad/s3-webhooks/{name}/events",
            post(s3_webhooks::events).head(s3_webhooks::probe),
        )
        .route(
            "/_lambdad/functions/{name}/test-events",
            get(test_events::list),
        )
        .route(
            "/_lambdad/functions/{name}/test-events/{event}",
            put(test_events::put).delete(test_events::delete),
        )
        .route(
            "/_lambdad/functions/{name}/tuning-versions",
            post(versions::publish_with_memory),
        )
        .route("/_lambdad/cluster", get(cluster_status))
        .route(
            "/_lambdad/async-stats",
            get(|State(state): State<AppState>| async move {
                axum::Json(state.services.async_stats().to_json())
            }),
        )
        .fallback(middleware::unknown_operation)
        .layer(DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            front_doors,
        ))
        .with_state(state)
}

/// In front of the API (one layer, not one per door: each layer costs every
/// request clones of the layers inside it, a boxed service and a boxed
/// future): requests for a load balancer's, an execute-api, a function
/// URL's or S3's host go to their data plane, in that order; all others get
/// their [`RequestContext`] and authentication
/// ([`middleware::request_context`]) and go on to the API.
async fn front_doors(
    State(state): State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let req = match elb_http::route(&state, req).await {
        Ok(resp) => return resp,
        Err(req) => req,
    };
    let req = match gateway_http::route(&state, req).await {
        Ok(resp) => return resp,
        Err(req) => req,
    };
    let req = match url_http::route(&state, req).await {
        Ok(resp) => return resp,
        Err(req) => req,
    };
    let req = match s3::route(&state, req).await {
        Ok(resp) => return resp,
        Err(req) => req,
    };
    middleware::request_context(State(state), req, next).await
}
