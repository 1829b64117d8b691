//! Handlers for the functions, tags and account-settings operations.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use lambdad_model::function::{
    CreateFunctionRequest, UpdateFunctionCodeRequest, UpdateFunctionConfigurationRequest,
};
use lambdad_model::{Code, validate};
use lambdad_store::code::{MAX_UNZIPPED_BYTES, MAX_ZIPPED_BYTES};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::middleware::{MAX_JSON_REQUEST, RequestContext, parse_json, read_body};
use super::{AppState, region};

/// Largest CreateFunction/UpdateFunctionCode request (AWS's figure).
const MAX_CODE_REQUEST: usize = 70_167_211;
/// Largest body of the other JSON operations.

#[derive(Debug, Deserialize)]
pub struct QualifierQuery {
    #[serde(rename = "Qualifier")]
    pub qualifier: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<String>,
    #[serde(rename = "FunctionVersion")]
    function_version: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_CODE_REQUEST, "CreateFunction").await?;
    let req: CreateFunctionRequest = parse_json(&bytes)?;
    let config = state
        .services
        .functions
        .create(region(&state, &ctx), req)
        .await?;
    Ok((StatusCode::CREATED, Json(config)).into_response())
}

pub(super) fn code_location(state: &AppState, headers: &HeaderMap, code_hex: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .unwrap_or_else(|| state.config.listen.to_string());
    format!("http://{host}/_lambdad/code/{code_hex}.zip")
}

pub async fn get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let rec = state
        .services
        .functions
        .get(region(&state, &ctx), &name, q.qualifier.as_deref())
        .await?;
    let code = match &rec.image {
        Some(image) => json!({
            "RepositoryType": "ECR",
            "ImageUri": image.image_uri,
            "ResolvedImageUri": image.resolved_image_uri,
        }),
        None => {
            json!({"RepositoryType": "S3", "Location": code_location(&state, &headers, &rec.code_hex)})
        }
    };
    let mut out = json!({
        "Configuration": rec.config,
        "Code": code,
    });
    if !rec.tags.is_empty() {
        out["Tags"] = json!(rec.tags);
    }
    if let Some(n) = state
        .services
        .concurrency
        .reservation(&rec.config.function_name)
    {
        out["Concurrency"] = json!({ "ReservedConcurrentExecutions": n });
    }
    Ok(Json(out))
}

pub async fn get_configuration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<Response> {
    let rec = state
        .services
        .functions
        .get(region(&state, &ctx), &name, q.qualifier.as_deref())
        .await?;
    Ok(Json(rec.config).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let max_items = match q.max_items.as_deref() {
        None | Some("") => None,
        Some(s) => Some(s.parse::<i64>().map_err(|_| {
            ApiError::new(
                Code::Validation,
                validate::one_error(s, "maxItems", "Member must be a number"),
            )
        })?),
    };
    let all_versions = match q.function_version.as_deref() {
        None => false,
        Some("ALL") => true,
        Some(other) => {
            return Err(ApiError::new(
                Code::Validation,
                validate::one_error(
                    other,
                    "functionVersion",
                    "Member must satisfy enum value set: [ALL]",
                ),
            ));
        }
    };
    let marker = q.marker.filter(|m| !m.is_empty());
    let (functions, next) = state
        .services
        .functions
        .list(marker, max_items, all_versions)
        .await?;
    let mut out = json!({ "Functions": functions });
    if let Some(next) = next {
        out["NextMarker"] = json!(next);
    }
    Ok(Json(out))
}

pub async fn update_code(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_CODE_REQUEST, "UpdateFunctionCode").await?;
    let req: UpdateFunctionCodeRequest = parse_json(&bytes)?;
    let config = state
        .services
        .functions
        .update_code(region(&state, &ctx), &name, req)
        .await?;
    Ok(Json(config).into_response())
}

pub async fn update_configuration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "UpdateFunctionConfiguration").await?;
    let req: UpdateFunctionConfigurationRequest = parse_json(&bytes)?;
    let config = state
        .services
        .functions
        .update_configuration(region(&state, &ctx), &name, req)
        .await?;
    Ok(Json(config).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Query(q): Query<QualifierQuery>,
) -> ApiResult<StatusCode> {
    state
        .services
        .functions
        .delete(region(&state, &ctx), &name, q.qualifier.as_deref())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list_tags(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(arn): Path<String>,
) -> ApiResult<Json<Value>> {
    let tags = state
        .services
        .tags
        .list_tags(region(&state, &ctx), &arn)
        .await?;
    Ok(Json(json!({ "Tags": tags })))
}

#[derive(Debug, Default, Deserialize)]
pub struct TagBody {
    #[serde(rename = "Tags")]
    tags: Option<BTreeMap<String, String>>,
}

pub async fn tag(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(arn): Path<String>,
    body: Body,
) -> ApiResult<StatusCode> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "TagResource").await?;
    let req: TagBody = parse_json(&bytes)?;
    let tags = req
        .tags
        .ok_or_else(|| ApiError::new(Code::Validation, validate::null_error("tags")))?;
    state
        .services
        .tags
        .tag(region(&state, &ctx), &arn, tags)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn untag(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(arn): Path<String>,
    RawQuery(query): RawQuery,
) -> ApiResult<StatusCode> {
    let keys: Vec<String> = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, _)| k == "tagKeys")
        .map(|(_, v)| v.into_owned())
        .collect();
    if keys.is_empty() {
        return Err(ApiError::new(
            Code::Validation,
            validate::null_error("tagKeys"),
        ));
    }
    state
        .services
        .tags
        .untag(region(&state, &ctx), &arn, keys)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn account_settings(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let (count, total) = state.services.functions.usage().await?;
    let (limit, unreserved) = state.services.concurrency.account_concurrency();
    Ok(Json(json!({
        "AccountLimit": {
            "TotalCodeSize": 80_530_636_800u64,
            "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
            "CodeSizeZipped": MAX_ZIPPED_BYTES,
            "ConcurrentExecutions": limit,
            "UnreservedConcurrentExecutions": unreserved
        },
        "AccountUsage": { "TotalCodeSize": total, "FunctionCount": count }
    })))
}

pub async fn download_code(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> ApiResult<Response> {
    let hex = file
        .strip_suffix(".zip")
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| ApiError::new(Code::ResourceNotFound, "No such code archive."))?
        .to_owned();
    // In a cluster, the archive may have been uploaded through another node.
    if let Err(e) = state.services.ctx.fetch_code(&hex).await {
        tracing::debug!(error = %e, "No such code archive.");
        return Err(ApiError::new(
            Code::ResourceNotFound,
            "No such code archive.",
        ));
    }
    let code = state.services.ctx.code.clone();
    let bytes = tokio::task::spawn_blocking(move || code.read_zip(&hex))
        .await
        .map_err(|e| ApiError::new(Code::Service, e.to_string()))?
        .map_err(|_| ApiError::new(Code::ResourceNotFound, "No such code archive."))?;
    Ok(([(header::CONTENT_TYPE, "application/zip")], bytes).into_response())
}
