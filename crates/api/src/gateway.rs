//! Handlers of the API Gateway HTTP API control plane (apigatewayv2, REST
//! JSON under `/v2/apis`): APIs, routes, integrations, stages and authorizers.

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lambdad_service::gateway::GatewayError;
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiResult;
use super::middleware::{RequestContext, read_body};
use super::{AppState, region};

/// Largest JSON body of these operations.
const MAX_JSON_REQUEST: usize = 256 * 1024;

/// `maxResults` and `nextToken` of the Get* list operations.
#[derive(Debug, Deserialize)]
pub struct PageQuery {
    #[serde(rename = "maxResults")]
    max_results: Option<String>,
    #[serde(rename = "nextToken")]
    next_token: Option<String>,
}

pub(crate) async fn body<T: serde::de::DeserializeOwned + Default>(
    b: Body,
    op: &str,
) -> ApiResult<T> {
    let bytes = read_body(b, MAX_JSON_REQUEST, op).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| GatewayError::BadRequest(format!("Invalid request body: {e}")).into())
}

pub(crate) fn created(v: Value) -> Response {
    (StatusCode::CREATED, Json(v)).into_response()
}

pub async fn create_api(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateApi").await?;
    let out = state
        .services
        .gateway
        .create_api(region(&state, &ctx), req)
        .await?;
    Ok(created(out))
}

pub async fn get_apis(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_apis(
            region(&state, &ctx),
            q.max_results.as_deref(),
            q.next_token.as_deref(),
        )
        .await?;
    Ok(Json(out))
}

pub async fn get_api(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_api(region(&state, &ctx), &api)
        .await?;
    Ok(Json(out))
}

pub async fn update_api(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateApi").await?;
    let out = state
        .services
        .gateway
        .update_api(region(&state, &ctx), &api, req)
        .await?;
    Ok(Json(out))
}

pub async fn delete_api(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
) -> ApiResult<StatusCode> {
    state
        .services
        .gateway
        .delete_api(region(&state, &ctx), &api)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_route(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateRoute").await?;
    let out = state
        .services
        .gateway
        .create_route(region(&state, &ctx), &api, req)
        .await?;
    Ok(created(out))
}

pub async fn get_routes(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_routes(
            region(&state, &ctx),
            &api,
            q.max_results.as_deref(),
            q.next_token.as_deref(),
        )
        .await?;
    Ok(Json(out))
}

pub async fn get_route(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_route(region(&state, &ctx), &api, &id)
        .await?;
    Ok(Json(out))
}

pub async fn delete_route(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .gateway
        .delete_route(region(&state, &ctx), &api, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_integration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateIntegration").await?;
    let out = state
        .services
        .gateway
        .create_integration(region(&state, &ctx), &api, req)
        .await?;
    Ok(created(out))
}

pub async fn get_integrations(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_integrations(
            region(&state, &ctx),
            &api,
            q.max_results.as_deref(),
            q.next_token.as_deref(),
        )
        .await?;
    Ok(Json(out))
}

pub async fn get_integration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_integration(region(&state, &ctx), &api, &id)
        .await?;
    Ok(Json(out))
}

pub async fn delete_integration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .gateway
        .delete_integration(region(&state, &ctx), &api, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_stage(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateStage").await?;
    let out = state
        .services
        .gateway
        .create_stage(region(&state, &ctx), &api, req)
        .await?;
    Ok(created(out))
}

pub async fn get_stages(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_stages(
            region(&state, &ctx),
            &api,
            q.max_results.as_deref(),
            q.next_token.as_deref(),
        )
        .await?;
    Ok(Json(out))
}

pub async fn get_stage(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_stage(region(&state, &ctx), &api, &name)
        .await?;
    Ok(Json(out))
}

pub async fn delete_stage(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .gateway
        .delete_stage(region(&state, &ctx), &api, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// DeleteAccessLogSettings: the stage stops logging access.
pub async fn delete_access_log_settings(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .gateway
        .delete_access_log_settings(region(&state, &ctx), &api, &name)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update_route(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateRoute").await?;
    let out = state
        .services
        .gateway
        .update_route(region(&state, &ctx), &api, &id, req)
        .await?;
    Ok(Json(out))
}

pub async fn update_integration(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateIntegration").await?;
    let out = state
        .services
        .gateway
        .update_integration(region(&state, &ctx), &api, &id, req)
        .await?;
    Ok(Json(out))
}

pub async fn update_stage(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, name)): Path<(String, String)>,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateStage").await?;
    let out = state
        .services
        .gateway
        .update_stage(region(&state, &ctx), &api, &name, req)
        .await?;
    Ok(Json(out))
}

pub async fn create_authorizer(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateAuthorizer").await?;
    let out = state
        .services
        .gateway
        .create_authorizer(region(&state, &ctx), &api, req)
        .await?;
    Ok(created(out))
}

pub async fn get_authorizers(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(api): Path<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_authorizers(
            region(&state, &ctx),
            &api,
            q.max_results.as_deref(),
            q.next_token.as_deref(),
        )
        .await?;
    Ok(Json(out))
}

pub async fn get_authorizer(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let out = state
        .services
        .gateway
        .get_authorizer(region(&state, &ctx), &api, &id)
        .await?;
    Ok(Json(out))
}

pub async fn update_authorizer(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateAuthorizer").await?;
    let out = state
        .services
        .gateway
        .update_authorizer(region(&state, &ctx), &api, &id, req)
        .await?;
    Ok(Json(out))
}

pub async fn delete_authorizer(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    state
        .services
        .gateway
        .delete_authorizer(region(&state, &ctx), &api, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The control plane's routes.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/v2/apis", get(get_apis).post(create_api))
        .route(
            "/v2/apis/{api}",
            get(get_api).patch(update_api).delete(delete_api),
        )
        .route("/v2/apis/{api}/routes", get(get_routes).post(create_route))
        .route(
            "/v2/apis/{api}/routes/{id}",
            get(get_route).patch(update_route).delete(delete_route),
        )
        .route(
            "/v2/apis/{api}/integrations",
            get(get_integrations).post(create_integration),
        )
        .route(
            "/v2/apis/{api}/integrations/{id}",
            get(get_integration)
                .patch(update_integration)
                .delete(delete_integration),
        )
        .route("/v2/apis/{api}/stages", get(get_stages).post(create_stage))
        .route(
            "/v2/apis/{api}/stages/{name}",
            get(get_stage).patch(update_stage).delete(delete_stage),
        )
        .route(
            "/v2/apis/{api}/stages/{name}/accesslogsettings",
            axum::routing::delete(delete_access_log_settings),
        )
        .route(
            "/v2/apis/{api}/authorizers",
            get(get_authorizers).post(create_authorizer),
        )
        .route(
            "/v2/apis/{api}/authorizers/{id}",
            get(get_authorizer)
                .patch(update_authorizer)
                .delete(delete_authorizer),
        )
}
