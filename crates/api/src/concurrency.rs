//! Handlers for reserved concurrency.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, State};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiResult;
use super::middleware::{MAX_JSON_REQUEST, RequestContext, parse_json, read_body};
use super::{AppState, region};

#[derive(Debug, Default, Deserialize)]
pub struct PutConcurrency {
    #[serde(rename = "ReservedConcurrentExecutions")]
    reserved: Option<i64>,
}

pub async fn put(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "PutFunctionConcurrency").await?;
    let req: PutConcurrency = parse_json(&bytes)?;
    let n = state
        .services
        .concurrency
        .put_concurrency(region(&state, &ctx), &name, req.reserved)
        .await?;
    Ok(Json(json!({ "ReservedConcurrentExecutions": n })))
}

pub async fn get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        match state
            .services
            .concurrency
            .get_concurrency(region(&state, &ctx), &name)
            .await?
        {
            Some(n) => json!({ "ReservedConcurrentExecutions": n }),
            None => json!({}),
        },
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .concurrency
        .delete_concurrency(region(&state, &ctx), &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
pub struct ProvisionedQuery {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
    #[serde(rename = "List")]
    list: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct PutProvisioned {
    #[serde(rename = "ProvisionedConcurrentExecutions")]
    requested: Option<i64>,
}

pub async fn put_provisioned(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ProvisionedQuery>,
    body: Body,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let bytes = read_body(body, MAX_JSON_REQUEST, "PutProvisionedConcurrencyConfig").await?;
    let req: PutProvisioned = parse_json(&bytes)?;
    let out = state
        .services
        .provisioned
        .put_provisioned(
            region(&state, &ctx),
            &name,
            q.qualifier.as_deref(),
            req.requested,
        )
        .await?;
    Ok((StatusCode::ACCEPTED, Json(out)).into_response())
}

pub async fn get_provisioned(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ProvisionedQuery>,
) -> ApiResult<Json<Value>> {
    let region = region(&state, &ctx);
    if q.list.as_deref() == Some("ALL") {
        return Ok(Json(
            state
                .services
                .provisioned
                .list_provisioned(region, &name)
                .await?,
        ));
    }
    Ok(Json(
        state
            .services
            .provisioned
            .get_provisioned(region, &name, q.qualifier.as_deref())
            .await?,
    ))
}

pub async fn delete_provisioned(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<ProvisionedQuery>,
) -> ApiResult<StatusCode> {
    state
        .services
        .provisioned
        .delete_provisioned(region(&state, &ctx), &name, q.qualifier.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
pub struct QualifierOnly {
    #[serde(rename = "Qualifier")]
    qualifier: Option<String>,
}

async fn put_or_update(
    state: AppState,
    ctx: RequestContext,
    name: String,
    q: QualifierOnly,
    body: Body,
    merge: bool,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "PutFunctionEventInvokeConfig").await?;
    let req = parse_json(&bytes)?;
    Ok(Json(
        state
            .services
            .event_configs
            .put_event_invoke_config(
                region(&state, &ctx),
                &name,
                q.qualifier.as_deref(),
                req,
                merge,
            )
            .await?,
    ))
}

pub async fn put_event_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<QualifierOnly>,
    body: Body,
) -> ApiResult<Json<Value>> {
    put_or_update(state, ctx, name, q, body, false).await
}

pub async fn update_event_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<QualifierOnly>,
    body: Body,
) -> ApiResult<Json<Value>> {
    put_or_update(state, ctx, name, q, body, true).await
}

pub async fn get_event_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<QualifierOnly>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        state
            .services
            .event_configs
            .get_event_invoke_config(region(&state, &ctx), &name, q.qualifier.as_deref())
            .await?,
    ))
}

pub async fn delete_event_config(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    axum::extract::Query(q): axum::extract::Query<QualifierOnly>,
) -> ApiResult<StatusCode> {
    state
        .services
        .event_configs
        .delete_event_invoke_config(region(&state, &ctx), &name, q.qualifier.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_event_configs(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        state
            .services
            .event_configs
            .list_event_invoke_configs(region(&state, &ctx), &name)
            .await?,
    ))
}
