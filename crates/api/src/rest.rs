//! Handlers of the API Gateway REST API control plane (apigateway, REST
//! JSON under `/restapis`): APIs, resources, methods and their responses,
//! integrations and their responses, deployments, stages, authorizers, and
//! TestInvokeMethod (run by the data plane, `rest_http`).

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::error::ApiResult;
use super::gateway::{body, created};
use super::middleware::RequestContext;
use super::{AppState, region};

/// `position`, `limit`, `embed` and `deploymentId` of the Get* operations.
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    position: Option<String>,
    limit: Option<String>,
    embed: Option<String>,
    #[serde(rename = "deploymentId")]
    deployment_id: Option<String>,
}

impl ListQuery {
    fn embeds_methods(&self) -> bool {
        self.embed
            .as_deref()
            .is_some_and(|e| e.split(',').any(|x| x == "methods"))
    }
}

type Ctx = Extension<RequestContext>;
type Method3 = Path<(String, String, String)>;
type Method4 = Path<(String, String, String, String)>;

pub async fn create_rest_api(
    State(s): State<AppState>,
    Extension(c): Ctx,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateRestApi").await?;
    Ok(created(
        s.services
            .gateway
            .create_rest_api(region(&s, &c), req)
            .await?,
    ))
}

pub async fn get_rest_apis(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let g = &s.services.gateway;
    let out = g
        .get_rest_apis(region(&s, &c), q.position.as_deref(), q.limit.as_deref())
        .await?;
    Ok(Json(out))
}

pub async fn get_rest_api(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.services
            .gateway
            .get_rest_api(region(&s, &c), &api)
            .await?,
    ))
}

pub async fn update_rest_api(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateRestApi").await?;
    Ok(Json(
        s.services
            .gateway
            .update_rest_api(region(&s, &c), &api, req)
            .await?,
    ))
}

pub async fn delete_rest_api(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
) -> ApiResult<StatusCode> {
    s.services
        .gateway
        .delete_rest_api(region(&s, &c), &api)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn get_resources(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let g = &s.services.gateway;
    let embed = q.embeds_methods();
    let out = g
        .get_resources(
            region(&s, &c),
            &api,
            embed,
            q.position.as_deref(),
            q.limit.as_deref(),
        )
        .await?;
    Ok(Json(out))
}

pub async fn get_resource(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, id)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let g = &s.services.gateway;
    Ok(Json(
        g.get_resource(region(&s, &c), &api, &id, q.embeds_methods())
            .await?,
    ))
}

/// The body of CreateResource.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceRequest {
    path_part: Option<String>,
}

pub async fn create_resource(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, parent)): Path<(String, String)>,
    b: Body,
) -> ApiResult<Response> {
    let req: ResourceRequest = body(b, "CreateResource").await?;
    let g = &s.services.gateway;
    Ok(created(
        g.create_resource(region(&s, &c), &api, &parent, req.path_part)
            .await?,
    ))
}

pub async fn delete_resource(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .gateway
        .delete_resource(region(&s, &c), &api, &id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn put_method(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "PutMethod").await?;
    Ok(created(
        s.services
            .gateway
            .put_method(region(&s, &c), &api, &r, &m, req)
            .await?,
    ))
}

pub async fn get_method(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.services
            .gateway
            .get_method(region(&s, &c), &api, &r, &m)
            .await?,
    ))
}

pub async fn update_method(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateMethod").await?;
    Ok(Json(
        s.services
            .gateway
            .update_method(region(&s, &c), &api, &r, &m, req)
            .await?,
    ))
}

pub async fn delete_method(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
) -> ApiResult<StatusCode> {
    s.services
        .gateway
        .delete_method(region(&s, &c), &api, &r, &m)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn test_invoke_method(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "TestInvokeMethod").await?;
    let region = region(&s, &c).to_owned();
    Ok(Json(
        super::rest_http::test_invoke(&s, &region, &api, &r, &m, req).await?,
    ))
}

pub async fn put_method_response(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m, code)): Method4,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "PutMethodResponse").await?;
    let g = &s.services.gateway;
    Ok(created(
        g.put_method_response(region(&s, &c), &api, &r, &m, &code, req)
            .await?,
    ))
}

pub async fn get_method_response(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m, code)): Method4,
) -> ApiResult<Json<Value>> {
    let g = &s.services.gateway;
    Ok(Json(
        g.get_method_response(region(&s, &c), &api, &r, &m, &code)
            .await?,
    ))
}

pub async fn put_integration(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "PutIntegration").await?;
    Ok(created(
        s.services
            .gateway
            .put_integration(region(&s, &c), &api, &r, &m, req)
            .await?,
    ))
}

pub async fn get_integration(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.services
            .gateway
            .get_integration_v1(region(&s, &c), &api, &r, &m)
            .await?,
    ))
}

pub async fn update_integration(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateIntegration").await?;
    let g = &s.services.gateway;
    Ok(Json(
        g.update_integration_v1(region(&s, &c), &api, &r, &m, req)
            .await?,
    ))
}

pub async fn delete_integration(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m)): Method3,
) -> ApiResult<StatusCode> {
    s.services
        .gateway
        .delete_integration_v1(region(&s, &c), &api, &r, &m)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn put_integration_response(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m, code)): Method4,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "PutIntegrationResponse").await?;
    let g = &s.services.gateway;
    Ok(created(
        g.put_integration_response(region(&s, &c), &api, &r, &m, &code, req)
            .await?,
    ))
}

pub async fn get_integration_response(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, r, m, code)): Method4,
) -> ApiResult<Json<Value>> {
    let g = &s.services.gateway;
    Ok(Json(
        g.get_integration_response(region(&s, &c), &api, &r, &m, &code)
            .await?,
    ))
}

pub async fn create_deployment(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateDeployment").await?;
    Ok(created(
        s.services
            .gateway
            .create_deployment(region(&s, &c), &api, req)
            .await?,
    ))
}

pub async fn get_deployments(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let g = &s.services.gateway;
    let out = g
        .get_deployments(
            region(&s, &c),
            &api,
            q.position.as_deref(),
            q.limit.as_deref(),
        )
        .await?;
    Ok(Json(out))
}

pub async fn get_deployment(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.services
            .gateway
            .get_deployment(region(&s, &c), &api, &id)
            .await?,
    ))
}

pub async fn delete_deployment(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .gateway
        .delete_deployment(region(&s, &c), &api, &id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn create_stage(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateStage").await?;
    Ok(created(
        s.services
            .gateway
            .create_rest_stage(region(&s, &c), &api, req)
            .await?,
    ))
}

pub async fn get_stages(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let g = &s.services.gateway;
    Ok(Json(
        g.get_rest_stages(region(&s, &c), &api, q.deployment_id.as_deref())
            .await?,
    ))
}

pub async fn get_stage(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.services
            .gateway
            .get_rest_stage(region(&s, &c), &api, &name)
            .await?,
    ))
}

pub async fn update_stage(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, name)): Path<(String, String)>,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateStage").await?;
    Ok(Json(
        s.services
            .gateway
            .update_rest_stage(region(&s, &c), &api, &name, req)
            .await?,
    ))
}

pub async fn delete_stage(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, name)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .gateway
        .delete_rest_stage(region(&s, &c), &api, &name)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn create_authorizer(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
    b: Body,
) -> ApiResult<Response> {
    let req = body(b, "CreateAuthorizer").await?;
    Ok(created(
        s.services
            .gateway
            .create_rest_authorizer(region(&s, &c), &api, req)
            .await?,
    ))
}

pub async fn get_authorizers(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path(api): Path<String>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let g = &s.services.gateway;
    let out = g
        .get_rest_authorizers(
            region(&s, &c),
            &api,
            q.position.as_deref(),
            q.limit.as_deref(),
        )
        .await?;
    Ok(Json(out))
}

pub async fn get_authorizer(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    Ok(Json(
        s.services
            .gateway
            .get_rest_authorizer(region(&s, &c), &api, &id)
            .await?,
    ))
}

pub async fn update_authorizer(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, id)): Path<(String, String)>,
    b: Body,
) -> ApiResult<Json<Value>> {
    let req = body(b, "UpdateAuthorizer").await?;
    Ok(Json(
        s.services
            .gateway
            .update_rest_authorizer(region(&s, &c), &api, &id, req)
            .await?,
    ))
}

pub async fn delete_authorizer(
    State(s): State<AppState>,
    Extension(c): Ctx,
    Path((api, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    s.services
        .gateway
        .delete_rest_authorizer(region(&s, &c), &api, &id)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

/// The control plane's routes.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    const METHOD: &str = "/restapis/{api}/resources/{id}/methods/{method}";
    axum::Router::new()
        .route("/restapis", get(get_rest_apis).post(create_rest_api))
        .route(
            "/restapis/{api}",
            get(get_rest_api)
                .patch(update_rest_api)
                .delete(delete_rest_api),
        )
        .route("/restapis/{api}/resources", get(get_resources))
        .route(
            "/restapis/{api}/resources/{id}",
            get(get_resource)
                .post(create_resource)
                .delete(delete_resource),
        )
        .route(
            METHOD,
            get(get_method)
                .put(put_method)
                .patch(update_method)
                .delete(delete_method)
                .post(test_invoke_method),
        )
        .route(
            &format!("{METHOD}/responses/{{status}}"),
            get(get_method_response).put(put_method_response),
        )
        .route(
            &format!("{METHOD}/integration"),
            get(get_integration)
                .put(put_integration)
                .patch(update_integration)
                .delete(delete_integration),
        )
        .route(
            &format!("{METHOD}/integration/responses/{{status}}"),
            get(get_integration_response).put(put_integration_response),
        )
        .route(
            "/restapis/{api}/deployments",
            get(get_deployments).post(create_deployment),
        )
        .route(
            "/restapis/{api}/deployments/{id}",
            get(get_deployment).delete(delete_deployment),
        )
        .route("/restapis/{api}/stages", get(get_stages).post(create_stage))
        .route(
            "/restapis/{api}/stages/{name}",
            get(get_stage).patch(update_stage).delete(delete_stage),
        )
        .route(
            "/restapis/{api}/authorizers",
            get(get_authorizers).post(create_authorizer),
        )
        .route(
            "/restapis/{api}/authorizers/{id}",
            get(get_authorizer)
                .patch(update_authorizer)
                .delete(delete_authorizer),
        )
}
