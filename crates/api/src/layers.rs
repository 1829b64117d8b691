//! Handlers for the layer operations (`/2018-10-31/layers…`).

use std::collections::HashMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::error::ApiResult;
use super::functions::code_location;
use super::middleware::{MAX_JSON_REQUEST, RequestContext, parse_json, read_body};
use super::{AppState, region};

const MAX_LAYER_REQUEST: usize = 70_167_211;

pub async fn publish(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_LAYER_REQUEST, "PublishLayerVersion").await?;
    let layers = &state.services.layers;
    let v = layers.publish(&name, parse_json(&bytes)?).await?;
    let out = layers.render(
        region(&state, &ctx),
        &v,
        &code_location(&state, &headers, &v.code_hex),
        true,
    );
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

pub async fn get_version(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, version)): Path<(String, i64)>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let layers = &state.services.layers;
    let v = layers.get(region(&state, &ctx), &name, version).await?;
    Ok(Json(layers.render(
        region(&state, &ctx),
        &v,
        &code_location(&state, &headers, &v.code_hex),
        true,
    )))
}

pub async fn delete_version(
    State(state): State<AppState>,
    Path((name, version)): Path<(String, i64)>,
) -> ApiResult<StatusCode> {
    state.services.layers.delete(&name, version).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_versions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let layers = &state.services.layers;
    let versions = layers.list_versions(&name).await?;
    let items: Vec<Value> = versions
        .iter()
        .map(|v| layers.render(region(&state, &ctx), v, "", false))
        .collect();
    Ok(Json(json!({ "LayerVersions": items })))
}

/// `GET /2018-10-31/layers`: GetLayerVersionByArn with `find=LayerVersion&Arn=`, else ListLayers.
pub async fn list_or_find(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let region = region(&state, &ctx);
    let layers = &state.services.layers;
    if q.get("find").map(String::as_str) == Some("LayerVersion") {
        let arn = q.get("Arn").cloned().unwrap_or_default();
        let (name, version) = layers.parse_version_arn(region, &arn)?;
        let v = layers.get(region, &name, version as i64).await?;
        return Ok(Json(layers.render(
            region,
            &v,
            &code_location(&state, &headers, &v.code_hex),
            true,
        )));
    }
    let all = layers
        .list(
            q.get("CompatibleRuntime").cloned(),
            q.get("CompatibleArchitecture").cloned(),
        )
        .await?;
    let items: Vec<Value> = all
        .iter()
        .map(|v| {
            json!({
                "LayerName": v.name,
                "LayerArn": layers.layer_arn(region, &v.name),
                "LatestMatchingVersion": layers.render(region, v, "", false),
            })
        })
        .collect();
    Ok(Json(json!({ "Layers": items })))
}

pub async fn add_permission(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, version)): Path<(String, i64)>,
    Query(q): Query<HashMap<String, String>>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "AddLayerVersionPermission").await?;
    let (statement, revision) = state
        .services
        .layers
        .add_permission(
            region(&state, &ctx),
            &name,
            version,
            q.get("RevisionId").cloned(),
            parse_json(&bytes)?,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"Statement": statement, "RevisionId": revision})),
    )
        .into_response())
}

pub async fn get_policy(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, version)): Path<(String, i64)>,
) -> ApiResult<Json<Value>> {
    let (policy, revision) = state
        .services
        .layers
        .policy(region(&state, &ctx), &name, version)
        .await?;
    Ok(Json(json!({"Policy": policy, "RevisionId": revision})))
}

pub async fn remove_permission(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((name, version, sid)): Path<(String, i64, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult<StatusCode> {
    state
        .services
        .layers
        .remove_permission(
            region(&state, &ctx),
            &name,
            version,
            &sid,
            q.get("RevisionId").cloned(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
