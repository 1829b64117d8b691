//! Handlers for function URL configurations and resource-based policies.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiResult;
use super::functions::QualifierQuery;
use super::middleware::{MAX_SMALL_JSON_REQUEST, RequestContext, parse_json, read_body};
use super::{AppState, region};

/// Largest JSON body of these operations.

#[derive(Debug, Deserialize)]
pub struct ListUrlsQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub struct RemovePermissionQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
    #[serde(rename = "RevisionId")]
    revision_id: Option<String>,
}

pub async fn create_url(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_SMALL_JSON_REQUEST, "CreateFunctionUrlConfig").await?;
    let out = state
        .services
        .urls
        .create_url_config(
            region(&state, &ctx),
            &name,
            q.qualifier.as_deref(),
            parse_json(&bytes)?,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

pub async fn get_url(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .urls
        .get_url_config(region(&state, &ctx), &name, q.qualifier.as_deref())
        .await?;
    Ok(Json(out))
}

pub async fn update_url(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(body, MAX_SMALL_JSON_REQUEST, "UpdateFunctionUrlConfig").await?;
    let out = state
        .services
        .urls
        .update_url_config(
            region(&state, &ctx),
            &name,
            q.qualifier.as_deref(),
            parse_json(&bytes)?,
        )
        .await?;
    Ok(Json(out))
}

pub async fn delete_url(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<StatusCode> {
    state
        .services
        .urls
        .delete_url_config(region(&state, &ctx), &name, q.qualifier.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_urls(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<ListUrlsQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .urls
        .list_url_configs(
            region(&state, &ctx),
            &name,
            q.marker.as_deref().filter(|m| !m.is_empty()),
            q.max_items,
        )
        .await?;
    Ok(Json(out))
}

pub async fn add_permission(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_SMALL_JSON_REQUEST, "AddPermission").await?;
    let statement = state
        .services
        .urls
        .add_permission(
            region(&state, &ctx),
            &name,
            q.qualifier.as_deref(),
            parse_json(&bytes)?,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "Statement": statement }))).into_response())
}

pub async fn get_policy(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<Json<Value>> {
    let (policy, revision) = state
        .services
        .urls
        .get_policy(region(&state, &ctx), &name, q.qualifier.as_deref())
        .await?;
    Ok(Json(json!({ "Policy": policy, "RevisionId": revision })))
}

pub async fn remove_permission(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, sid)): Path<(String, String)>,
    Query(q): Query<RemovePermissionQuery>,
) -> ApiResult<StatusCode> {
    state
        .services
        .urls
        .remove_permission(
            region(&state, &ctx),
            &name,
            q.qualifier.as_deref(),
            &sid,
            q.revision_id.as_deref(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
