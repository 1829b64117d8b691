//! Handlers for versions and aliases.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiResult;
use super::middleware::{MAX_JSON_REQUEST, RequestContext, parse_json, read_body};
use super::{AppState, region};

#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
    #[serde(rename = "FunctionVersion")]
    function_version: Option<String>,
}

pub async fn publish(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "PublishVersion").await?;
    let config = state
        .services
        .versions
        .publish_version(region(&state, &ctx), &name, parse_json(&bytes)?)
        .await?;
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

/// `POST /_lambdad/functions/{name}/tuning-versions` with `{"MemorySize": N}`
/// (and optionally `"Qualifier"`, the version or alias to copy): publishes
/// a version of `$LATEST` with that memory, leaving `$LATEST`
/// alone (lambdad's own operation for `lambdad tune`; authorized as
/// `lambda:PublishVersion`). Answers as PublishVersion does.
pub async fn publish_with_memory(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    #[derive(Deserialize, Default)]
    struct Input {
        #[serde(rename = "MemorySize")]
        memory_size: Option<i64>,
        #[serde(rename = "Qualifier")]
        qualifier: Option<String>,
    }
    let bytes = read_body(body, MAX_JSON_REQUEST, "PublishVersion").await?;
    let input: Input = parse_json(&bytes)?;
    let config = state
        .services
        .versions
        .publish_with_memory(
            region(&state, &ctx),
            &name,
            input.memory_size,
            input.qualifier.as_deref(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

pub async fn list_versions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let (versions, next) = state
        .services
        .versions
        .list_versions(
            region(&state, &ctx),
            &name,
            q.marker.filter(|m| !m.is_empty()),
            q.max_items,
        )
        .await?;
    let mut out = json!({ "Versions": versions });
    if let Some(n) = next {
        out["NextMarker"] = json!(n);
    }
    Ok(Json(out))
}

pub async fn create_alias(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "CreateAlias").await?;
    let region = region(&state, &ctx);
    let alias = state
        .services
        .versions
        .create_alias(region, &name, parse_json(&bytes)?)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(state.services.versions.render_alias(region, &alias)),
    )
        .into_response())
}

pub async fn list_aliases(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let region = region(&state, &ctx);
    let aliases = state
        .services
        .versions
        .list_aliases(region, &name, q.function_version)
        .await?;
    let items: Vec<Value> = aliases
        .iter()
        .map(|a| state.services.versions.render_alias(region, a))
        .collect();
    Ok(Json(json!({ "Aliases": items })))
}

pub async fn get_alias(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let region = region(&state, &ctx);
    let a = state
        .services
        .versions
        .get_alias(region, &name, &alias)
        .await?;
    Ok(Json(state.services.versions.render_alias(region, &a)))
}

pub async fn update_alias(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, alias)): Path<(String, String)>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "UpdateAlias").await?;
    let region = region(&state, &ctx);
    let a = state
        .services
        .versions
        .update_alias(region, &name, &alias, parse_json(&bytes)?)
        .await?;
    Ok(Json(state.services.versions.render_alias(region, &a)))
}

pub async fn delete_alias(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, alias)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .versions
        .delete_alias(region(&state, &ctx), &name, &alias)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
