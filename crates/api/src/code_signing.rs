//! Handlers of the code signing configurations (`/2020-04-22/code-signing-configs`),
//! their attachment to functions (`/2020-06-30/functions/NAME/code-signing-config`)
//! and the recursion configuration (`/2024-08-31/functions/NAME/recursion-config`),
//! over `lambdad_service::code_signing` and `lambdad_service::recursion`.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lambdad_model::{AwsError, validate};
use lambdad_service::code_signing::ConfigRequest;
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::ApiResult;
use super::middleware::{MAX_JSON_REQUEST, RequestContext, parse_json, read_body};
use super::{AppState, region};

/// ListCodeSigningConfigs' and ListFunctionsByCodeSigningConfig's paging.
#[derive(Debug, Deserialize)]
pub struct Paging {
    #[serde(rename = "Marker")]
    marker: Option<String>,
    #[serde(rename = "MaxItems")]
    max_items: Option<String>,
}

impl Paging {
    /// The page of `items` this asks for (MaxItems 1 to 10,000, default 50;
    /// the marker is the position of the page's first item), and the next marker.
    fn page<T>(&self, items: Vec<T>) -> Result<(Vec<T>, Option<String>), AwsError> {
        let max = match self.max_items.as_deref().filter(|m| !m.is_empty()) {
            None => 50,
            Some(m) => {
                let n: i64 = m.parse().map_err(|_| {
                    AwsError::validation(validate::one_error(
                        m,
                        "maxItems",
                        "Member must be a number",
                    ))
                })?;
                validate::in_range(n, 1, 10_000, "maxItems")? as usize
            }
        };
        let start = match self.marker.as_deref().filter(|m| !m.is_empty()) {
            None => 0,
            Some(m) => m
                .parse::<usize>()
                .map_err(|_| AwsError::invalid_parameter(format!("Invalid marker: {m}")))?,
        };
        let total = items.len();
        let page: Vec<T> = items.into_iter().skip(start).take(max).collect();
        let next = (start + page.len() < total).then(|| (start + page.len()).to_string());
        Ok((page, next))
    }
}

async fn config_request(body: Body, operation: &str) -> ApiResult<ConfigRequest> {
    let bytes = read_body(body, MAX_JSON_REQUEST, operation).await?;
    parse_json(&bytes)
}

/// `POST /2020-04-22/code-signing-configs`: CreateCodeSigningConfig (201).
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    body: Body,
) -> ApiResult<Response> {
    let req = config_request(body, "CreateCodeSigningConfig").await?;
    let config = state
        .services
        .code_signing
        .create(region(&state, &ctx), req)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "CodeSigningConfig": config })),
    )
        .into_response())
}

/// `GET /2020-04-22/code-signing-configs`: ListCodeSigningConfigs.
pub async fn list(
    State(state): State<AppState>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Value>> {
    let all = state.services.code_signing.list().await?;
    let (page, next) = paging.page(all)?;
    let mut out = json!({ "CodeSigningConfigs": page });
    if let Some(next) = next {
        out["NextMarker"] = json!(next);
    }
    Ok(Json(out))
}

/// `GET /2020-04-22/code-signing-configs/ARN`: GetCodeSigningConfig.
pub async fn get(State(state): State<AppState>, Path(arn): Path<String>) -> ApiResult<Json<Value>> {
    let config = state.services.code_signing.get(&arn).await?;
    Ok(Json(json!({ "CodeSigningConfig": config })))
}

/// `PUT /2020-04-22/code-signing-configs/ARN`: UpdateCodeSigningConfig.
pub async fn update(
    State(state): State<AppState>,
    Path(arn): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let req = config_request(body, "UpdateCodeSigningConfig").await?;
    let config = state.services.code_signing.update(&arn, req).await?;
    Ok(Json(json!({ "CodeSigningConfig": config })))
}

/// `DELETE /2020-04-22/code-signing-configs/ARN`: DeleteCodeSigningConfig (204).
pub async fn delete(
    State(state): State<AppState>,
    Path(arn): Path<String>,
) -> ApiResult<StatusCode> {
    state.services.code_signing.delete(&arn).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /2020-04-22/code-signing-configs/ARN/functions`: ListFunctionsByCodeSigningConfig.
pub async fn functions(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(arn): Path<String>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Value>> {
    let arns = state
        .services
        .code_signing
        .functions(region(&state, &ctx), &arn)
        .await?;
    let (page, next) = paging.page(arns)?;
    let mut out = json!({ "FunctionArns": page });
    if let Some(next) = next {
        out["NextMarker"] = json!(next);
    }
    Ok(Json(out))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttachRequest {
    code_signing_config_arn: Option<String>,
}

/// `PUT /2020-06-30/functions/NAME/code-signing-config`: PutFunctionCodeSigningConfig.
pub async fn attach(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "PutFunctionCodeSigningConfig").await?;
    let req: AttachRequest = parse_json(&bytes)?;
    let arn = req
        .code_signing_config_arn
        .ok_or_else(|| AwsError::validation(validate::null_error("codeSigningConfigArn")))?;
    let (arn, function) = state
        .services
        .code_signing
        .attach(region(&state, &ctx), &name, &arn)
        .await?;
    Ok(Json(
        json!({ "CodeSigningConfigArn": arn, "FunctionName": function }),
    ))
}

/// `GET /2020-06-30/functions/NAME/code-signing-config`: GetFunctionCodeSigningConfig
/// (an empty object when none is attached, as AWS answers).
pub async fn attached(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let attached = state
        .services
        .code_signing
        .attached(region(&state, &ctx), &name)
        .await?;
    Ok(Json(match attached {
        Some((arn, function)) => json!({ "CodeSigningConfigArn": arn, "FunctionName": function }),
        None => json!({}),
    }))
}

/// `DELETE /2020-06-30/functions/NAME/code-signing-config`: DeleteFunctionCodeSigningConfig (204).
pub async fn detach(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .code_signing
        .detach(region(&state, &ctx), &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RecursionRequest {
    recursive_loop: Option<String>,
}

/// `GET /2024-08-31/functions/NAME/recursion-config`: GetFunctionRecursionConfig.
pub async fn get_recursion(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
) -> ApiResult<Json<Value>> {
    let value = state
        .services
        .recursion
        .get(region(&state, &ctx), &name)
        .await?;
    Ok(Json(json!({ "RecursiveLoop": value })))
}

/// `PUT /2024-08-31/functions/NAME/recursion-config`: PutFunctionRecursionConfig.
pub async fn put_recursion(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(body, MAX_JSON_REQUEST, "PutFunctionRecursionConfig").await?;
    let req: RecursionRequest = parse_json(&bytes)?;
    let value = state
        .services
        .recursion
        .put(region(&state, &ctx), &name, req.recursive_loop.as_deref())
        .await?;
    Ok(Json(json!({ "RecursiveLoop": value })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_by_position() {
        let paging = |marker: Option<&str>, max: Option<&str>| Paging {
            marker: marker.map(str::to_owned),
            max_items: max.map(str::to_owned),
        };
        let (page, next) = paging(None, Some("2")).page(vec![1, 2, 3]).unwrap();
        assert_eq!((page, next.as_deref()), (vec![1, 2], Some("2")));
        let (page, next) = paging(Some("2"), Some("2")).page(vec![1, 2, 3]).unwrap();
        assert_eq!((page, next), (vec![3], None));
        assert!(paging(None, Some("0")).page(vec![1]).is_err());
        assert!(paging(Some("x"), None).page(vec![1]).is_err());
    }
}
