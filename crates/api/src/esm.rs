//! Handlers for event source mappings.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiResult;
use super::middleware::{MAX_SMALL_JSON_REQUEST, RequestContext, parse_json, read_body};
use super::{AppState, region};

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "EventSourceArn")]
    event_source_arn: Option<String>,
    #[serde(rename = "FunctionName")]
    function_name: Option<String>,
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<usize>,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_SMALL_JSON_REQUEST, "CreateEventSourceMapping").await?;
    let out = state
        .services
        .mappings
        .create_mapping(region(&state, &ctx), parse_json(&bytes)?)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(uuid): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        state
            .services
            .mappings
            .get_mapping(region(&state, &ctx), &uuid)
            .await?,
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(uuid): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_SMALL_JSON_REQUEST, "UpdateEventSourceMapping").await?;
    let out = state
        .services
        .mappings
        .update_mapping(region(&state, &ctx), &uuid, parse_json(&bytes)?)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(uuid): Path<String>,
) -> ApiResult<Response> {
    let out = state
        .services
        .mappings
        .delete_mapping(region(&state, &ctx), &uuid)
        .await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .mappings
        .list_mappings(
            region(&state, &ctx),
            q.event_source_arn.as_deref(),
            q.function_name.as_deref(),
            q.marker.as_deref().filter(|m| !m.is_empty()),
            q.max_items,
        )
        .await?;
    Ok(Json(out))
}
