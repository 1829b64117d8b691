//! API Gateway HTTP APIs (apigatewayv2): CreateApi (quick create included)
//! and its siblings, routes, integrations with functions, stages; and
//! [`Gateway::resolve`], which the gateway's data plane asks which function
//! a request runs, with what, and whether the function's policy lets the
//! gateway invoke it (in `gateway_route`).

pub mod access_log;
pub mod authorizers;
pub mod rest;
mod rest_deploy;
pub mod rest_route;
pub mod rest_types;
pub mod route;
mod types;
mod updates;

use std::collections::BTreeMap;
use std::sync::Arc;

use lambdad_model::arn::parse_function_ref;
use lambdad_model::gateway::RouteKey;
use lambdad_store::GatewayApiRecord;
use serde_json::{Value, json};

use crate::context::{Context, blocking, new_revision};
use crate::gateway::authorizers::check_route_authorization;
pub use crate::gateway::types::*;

/// The principal API Gateway invokes functions as.
pub const GATEWAY_PRINCIPAL: &str = "apigateway.amazonaws.com";
/// The longest (and default) integration timeout of an HTTP API, in ms.
pub const MAX_TIMEOUT_MS: u64 = 30_000;
/// Most APIs, routes, integrations or stages one list call returns.
const MAX_PAGE: usize = 500;

/// A lower-case alphanumeric id of `len` characters, like API Gateway's.
pub(crate) fn new_id(len: usize) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A stored API document: an HTTP API or a REST API.
pub(crate) trait ApiDoc: serde::Serialize + serde::de::DeserializeOwned {
    /// The document's `kind` member (`None`: HTTP APIs, which have none).
    const KIND: Option<&'static str>;
    fn api_id(&self) -> &str;
    fn region(&self) -> &str;
}

impl ApiDoc for HttpApi {
    const KIND: Option<&'static str> = None;
    fn api_id(&self) -> &str {
        &self.api_id
    }
    fn region(&self) -> &str {
        &self.region
    }
}

/// The `kind` member of a stored document.
fn doc_kind(body: &str) -> Option<&'static str> {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: Option<String>,
    }
    match serde_json::from_str::<Kind>(body).ok()?.kind.as_deref() {
        Some("REST") => Some("REST"),
        // Load balancers and target groups (`elb.rs`) share the table.
        Some(_) => Some("OTHER"),
        None => None,
    }
}

/// ISO 8601 in UTC, to the second (`2020-04-08T19:05:45Z`).
pub(crate) fn now_iso() -> String {
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

pub(crate) fn bad(message: impl Into<String>) -> GatewayError {
    GatewayError::BadRequest(message.into())
}

pub(crate) fn check_route_key(key: &str) -> GatewayResult<()> {
    match RouteKey::parse(key) {
        Some(_) => Ok(()),
        None => Err(bad(format!(
            "The provided route key is not formatted properly for HTTP protocol. Format should be \"<HTTP METHOD> /<RESOURCE PATH>\" or \"$default\": {key}"
        ))),
    }
}

fn check_stage_name(name: &str) -> GatewayResult<()> {
    let ok = name == "$default"
        || (!name.is_empty()
            && name.len() <= 128
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'));
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "Stage name must be $default or match [a-zA-Z0-9._-]{{1,128}}: {name}"
        )))
    }
}

/// A route's `target` must be `integrations/ID` of an integration of `api`.
pub(crate) fn check_target(api: &HttpApi, t: &str) -> GatewayResult<()> {
    let id = t.strip_prefix("integrations/").unwrap_or_default();
    if api.integrations.iter().any(|i| i.integration_id == id) {
        Ok(())
    } else {
        Err(bad(format!(
            "Invalid target {t}: it must be integrations/ID of an integration of this API"
        )))
    }
}

pub(crate) fn check_integration_uri(uri: &str) -> GatewayResult<()> {
    match integration_function(uri) {
        Some(_) => Ok(()),
        None => Err(bad(format!(
            "Invalid integration URI {uri}: it must be a Lambda function, alias or version ARN"
        ))),
    }
}

pub(crate) fn check_payload_format(version: &str) -> GatewayResult<()> {
    if version == "1.0" || version == "2.0" {
        Ok(())
    } else {
        Err(bad(format!(
            "Invalid payload format version {version}: it must be 1.0 or 2.0"
        )))
    }
}

/// `timeoutInMillis` (50–30000), default 30000.
pub(crate) fn check_timeout(t: Option<i64>) -> GatewayResult<u64> {
    match t {
        None => Ok(MAX_TIMEOUT_MS),
        Some(t @ 50..=30_000) => Ok(t as u64),
        Some(_) => Err(bad(
            "Timeout must be between 50 milliseconds and 30000 milliseconds.",
        )),
    }
}

/// The function and qualifier an integration URI names: a function, alias
/// or version ARN, or the API Gateway form
/// `arn:aws:apigateway:REGION:lambda:path/2015-03-31/functions/ARN/invocations`.
pub fn integration_function(uri: &str) -> Option<(String, Option<String>)> {
    let arn = match uri.split_once(":lambda:path/2015-03-31/functions/") {
        Some((head, rest)) if head.starts_with("arn:aws:apigateway:") => {
            rest.strip_suffix("/invocations")?
        }
        _ => uri,
    };
    if !arn.starts_with("arn:") {
        return None;
    }
    let r = parse_function_ref(arn)?;
    Some((r.name, r.qualifier))
}

/// The HTTP API service.
#[derive(Clone, Debug)]
pub struct Gateway {
    pub(crate) ctx: Context,
    url_base: Arc<str>,
    pub(crate) caches: Arc<crate::gateway::authorizers::AuthCaches>,
}

impl Gateway {
    /// The service over `ctx`, publishing endpoints under `url_base`.
    pub fn new(ctx: Context, url_base: &str) -> Self {
        Self {
            ctx,
            url_base: Arc::from(url_base),
            caches: Arc::default(),
        }
    }

    /// `http://ID.execute-api.REGION.localhost:PORT` (under the configured base).
    pub fn endpoint(&self, region: &str, api_id: &str) -> String {
        let (scheme, rest) = self
            .url_base
            .split_once("://")
            .unwrap_or(("http", &self.url_base));
        format!(
            "{scheme}://{api_id}.execute-api.{region}.{}",
            rest.trim_end_matches('/')
        )
    }

    pub(crate) fn not_found(&self, kind: &'static str, id: &str) -> GatewayError {
        GatewayError::NotFound {
            kind,
            account: self.ctx.account.clone(),
            id: id.to_owned(),
        }
    }

    /// The stored document `api_id` when it is a `T` (HTTP and REST APIs
    /// share one table, so their ids never collide).
    pub(crate) async fn read_doc<T: ApiDoc>(
        &self,
        api_id: &str,
    ) -> GatewayResult<Option<(T, String)>> {
        let (store, id) = (self.ctx.store.clone(), api_id.to_owned());
        let Some(rec) = blocking(move || store.get_gateway_api(&id)).await? else {
            return Ok(None);
        };
        if doc_kind(&rec.body) != T::KIND {
            return Ok(None);
        }
        let api: T = serde_json::from_str(&rec.body)
            .map_err(|e| GatewayError::Internal(format!("corrupt API {api_id}: {e}")))?;
        Ok(Some((api, rec.revision)))
    }

    pub(crate) async fn read(&self, api_id: &str) -> GatewayResult<Option<(HttpApi, String)>> {
        self.read_doc(api_id).await
    }

    /// The document `api_id` of `region`.
    pub(crate) async fn load_doc<T: ApiDoc>(
        &self,
        region: &str,
        api_id: &str,
    ) -> GatewayResult<(T, String)> {
        match self.read_doc::<T>(api_id).await? {
            Some((api, rev)) if api.region() == region => Ok((api, rev)),
            _ => Err(self.not_found("API", api_id)),
        }
    }

    /// The API `api_id` of `region`.
    pub(crate) async fn load(
        &self,
        region: &str,
        api_id: &str,
    ) -> GatewayResult<(HttpApi, String)> {
        self.load_doc(region, api_id).await
    }

    pub(crate) fn record<T: ApiDoc>(api: &T) -> GatewayResult<GatewayApiRecord> {
        Ok(GatewayApiRecord {
            api_id: api.api_id().to_owned(),
            revision: new_revision(),
            body: serde_json::to_string(api).map_err(|e| GatewayError::Internal(e.to_string()))?,
        })
    }

    /// Applies `change` to the document and writes it back, reading again
    /// when another write came first.
    pub(crate) async fn modify_doc<T: ApiDoc, R>(
        &self,
        region: &str,
        api_id: &str,
        mut change: impl FnMut(&mut T) -> GatewayResult<R>,
    ) -> GatewayResult<R> {
        loop {
            let (mut api, revision) = self.load_doc::<T>(region, api_id).await?;
            let out = change(&mut api)?;
            let rec = Self::record(&api)?;
            let store = self.ctx.store.clone();
            match blocking(move || store.update_gateway_api(&rec, &revision)).await {
                Ok(()) => return Ok(out),
                Err(e) if e.is_store_revision_mismatch() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// [`Self::modify_doc`] of an HTTP API.
    pub(crate) async fn modify<T>(
        &self,
        region: &str,
        api_id: &str,
        change: impl FnMut(&mut HttpApi) -> GatewayResult<T>,
    ) -> GatewayResult<T> {
        self.modify_doc(region, api_id, change).await
    }

    /// CreateApi; with `target`, quick create: an AWS_PROXY integration
    /// (payload format 2.0), a route (`routeKey`, default `$default`) and
    /// an auto-deploying `$default` stage.
    pub async fn create_api(&self, region: &str, req: ApiRequest) -> GatewayResult<Value> {
        let name = req.name.ok_or_else(|| bad("Name is required"))?;
        if name.is_empty() || name.len() > 128 {
            return Err(bad("Name must be between 1 and 128 characters"));
        }
        let protocol = req
            .protocol_type
            .ok_or_else(|| bad("ProtocolType is required"))?;
        if protocol != "HTTP" {
            return Err(bad(format!(
                "Unsupported protocol type {protocol}: lambdad serves HTTP APIs"
            )));
        }
        if let Some(c) = &req.cors_configuration {
            cors_of(c)?;
        }
        let now = now_iso();
        let mut api = HttpApi {
            api_id: new_id(10),
            region: region.to_owned(),
            name,
            protocol_type: protocol,
            description: req.description,
            version: req.version,
            created_date: now.clone(),
            route_selection_expression: req
                .route_selection_expression
                .unwrap_or_else(|| "$request.method $request.path".into()),
            api_key_selection_expression: "$request.header.x-api-key".into(),
            disable_execute_api_endpoint: req.disable_execute_api_endpoint.unwrap_or(false),
            cors_configuration: req.cors_configuration,
            tags: req.tags.unwrap_or_default(),
            routes: Vec::new(),
            integrations: Vec::new(),
            stages: Vec::new(),
            authorizers: Vec::new(),
        };
        match req.target {
            Some(target) => {
                if integration_function(&target).is_none() {
                    return Err(bad(format!(
                        "Invalid target {target}: quick create takes a Lambda function ARN"
                    )));
                }
                let key = req.route_key.unwrap_or_else(|| "$default".into());
                check_route_key(&key)?;
                let integration_id = new_id(7);
                api.integrations.push(Integration {
                    integration_id: integration_id.clone(),
                    integration_type: "AWS_PROXY".into(),
                    integration_uri: target,
                    integration_method: "POST".into(),
                    payload_format_version: "2.0".into(),
                    timeout_in_millis: MAX_TIMEOUT_MS,
                    connection_type: "INTERNET".into(),
                    credentials_arn: req.credentials_arn,
                    description: None,
                    api_gateway_managed: true,
                });
                api.routes.push(Route {
                    route_id: new_id(7),
                    route_key: key,
                    target: Some(format!("integrations/{integration_id}")),
                    authorization_type: "NONE".into(),
                    authorizer_id: None,
                    authorization_scopes: Vec::new(),
                    api_key_required: false,
                    api_gateway_managed: true,
                    operation_name: None,
                });
                api.stages.push(Stage {
                    stage_name: "$default".into(),
                    auto_deploy: true,
                    stage_variables: BTreeMap::new(),
                    description: None,
                    created_date: now.clone(),
                    last_updated_date: now,
                    api_gateway_managed: true,
                    tags: BTreeMap::new(),
                    access_log_settings: None,
                });
            }
            None if req.route_key.is_some() || req.credentials_arn.is_some() => {
                return Err(bad(
                    "RouteKey and CredentialsArn are part of quick create: they need a Target",
                ));
            }
            None => {}
        }
        let rec = Self::record(&api)?;
        let store = self.ctx.store.clone();
        blocking(move || store.create_gateway_api(&rec)).await?;
        Ok(api.render(&self.endpoint(region, &api.api_id)))
    }

    /// GetApi.
    pub async fn get_api(&self, region: &str, api_id: &str) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        Ok(api.render(&self.endpoint(region, api_id)))
    }

    /// GetApis, paginated by `nextToken` (an index) and `maxResults`.
    pub async fn get_apis(
        &self,
        region: &str,
        max_results: Option<&str>,
        next_token: Option<&str>,
    ) -> GatewayResult<Value> {
        let store = self.ctx.store.clone();
        let mut items = Vec::new();
        for rec in blocking(move || store.list_gateway_apis()).await? {
            if doc_kind(&rec.body).is_some() {
                continue;
            }
            let api: HttpApi = serde_json::from_str(&rec.body)
                .map_err(|e| GatewayError::Internal(format!("corrupt API: {e}")))?;
            if api.region == region {
                items.push(api.render(&self.endpoint(region, &api.api_id)));
            }
        }
        page(items, max_results, next_token)
    }

    /// UpdateApi: changes the members given.
    pub async fn update_api(
        &self,
        region: &str,
        api_id: &str,
        req: ApiRequest,
    ) -> GatewayResult<Value> {
        if req.target.is_some() || req.route_key.is_some() || req.credentials_arn.is_some() {
            return Err(bad(
                "lambdad does not update quick create members (target, routeKey, credentialsArn)",
            ));
        }
        if let Some(n) = &req.name
            && (n.is_empty() || n.len() > 128)
        {
            return Err(bad("Name must be between 1 and 128 characters"));
        }
        if let Some(c) = &req.cors_configuration {
            cors_of(c)?;
        }
        let api = self
            .modify(region, api_id, |api| {
                if let Some(n) = &req.name {
                    api.name = n.clone();
                }
                if let Some(d) = &req.description {
                    api.description = Some(d.clone());
                }
                if let Some(v) = &req.version {
                    api.version = Some(v.clone());
                }
                if let Some(r) = &req.route_selection_expression {
                    api.route_selection_expression = r.clone();
                }
                if let Some(d) = req.disable_execute_api_endpoint {
                    api.disable_execute_api_endpoint = d;
                }
                if let Some(c) = &req.cors_configuration {
                    api.cors_configuration = Some(c.clone());
                }
                Ok(api.clone())
            })
            .await?;
        Ok(api.render(&self.endpoint(region, api_id)))
    }

    /// DeleteApi.
    pub async fn delete_api(&self, region: &str, api_id: &str) -> GatewayResult<()> {
        self.load(region, api_id).await?;
        let (store, id) = (self.ctx.store.clone(), api_id.to_owned());
        if !blocking(move || store.delete_gateway_api(&id)).await? {
            return Err(self.not_found("API", api_id));
        }
        Ok(())
    }

    /// CreateRoute.
    pub async fn create_route(
        &self,
        region: &str,
        api_id: &str,
        req: RouteRequest,
    ) -> GatewayResult<Value> {
        let key = req.route_key.ok_or_else(|| bad("RouteKey is required"))?;
        check_route_key(&key)?;
        let auth = req.authorization_type.unwrap_or_else(|| "NONE".into());
        let route = Route {
            route_id: new_id(7),
            route_key: key,
            target: req.target,
            authorization_type: auth,
            authorizer_id: req.authorizer_id,
            authorization_scopes: req.authorization_scopes.unwrap_or_default(),
            api_key_required: req.api_key_required.unwrap_or(false),
            api_gateway_managed: false,
            operation_name: req.operation_name,
        };
        let out = route.render();
        self.modify(region, api_id, |api| {
            if api.routes.iter().any(|r| r.route_key == route.route_key) {
                return Err(GatewayError::Conflict(format!(
                    "Route with key {} already exists for this API",
                    route.route_key
                )));
            }
            if let Some(t) = &route.target {
                check_target(api, t)?;
            }
            check_route_authorization(api, &route)?;
            api.routes.push(route.clone());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GetRoute.
    pub async fn get_route(&self, region: &str, api_id: &str, id: &str) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        api.routes
            .iter()
            .find(|r| r.route_id == id)
            .map(Route::render)
            .ok_or_else(|| self.not_found("Route", id))
    }

    /// GetRoutes.
    pub async fn get_routes(
        &self,
        region: &str,
        api_id: &str,
        max_results: Option<&str>,
        next_token: Option<&str>,
    ) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        page(
            api.routes.iter().map(Route::render).collect(),
            max_results,
            next_token,
        )
    }

    /// DeleteRoute.
    pub async fn delete_route(&self, region: &str, api_id: &str, id: &str) -> GatewayResult<()> {
        self.modify(region, api_id, |api| {
            let before = api.routes.len();
            api.routes.retain(|r| r.route_id != id);
            if api.routes.len() == before {
                return Err(self.not_found("Route", id));
            }
            Ok(())
        })
        .await
    }

    /// CreateIntegration (AWS_PROXY to a function, alias or version).
    pub async fn create_integration(
        &self,
        region: &str,
        api_id: &str,
        req: IntegrationRequest,
    ) -> GatewayResult<Value> {
        let kind = req
            .integration_type
            .ok_or_else(|| bad("IntegrationType is required"))?;
        if kind != "AWS_PROXY" {
            return Err(bad(format!(
                "Unsupported integration type {kind}: lambdad's HTTP APIs take AWS_PROXY"
            )));
        }
        let uri = req
            .integration_uri
            .ok_or_else(|| bad("IntegrationUri is required for AWS_PROXY integrations"))?;
        check_integration_uri(&uri)?;
        // Required for HTTP APIs (only the console picks one for you).
        let version = req.payload_format_version.ok_or_else(|| {
            bad("PayloadFormatVersion is required for AWS_PROXY integrations of HTTP APIs")
        })?;
        check_payload_format(&version)?;
        let timeout = check_timeout(req.timeout_in_millis)?;
        let method = req.integration_method.unwrap_or_else(|| "POST".into());
        let connection = req.connection_type.unwrap_or_else(|| "INTERNET".into());
        if connection != "INTERNET" {
            return Err(bad(
                "ConnectionType must be INTERNET for AWS_PROXY integrations",
            ));
        }
        let integration = Integration {
            integration_id: new_id(7),
            integration_type: kind,
            integration_uri: uri,
            integration_method: method,
            payload_format_version: version,
            timeout_in_millis: timeout,
            connection_type: connection,
            credentials_arn: req.credentials_arn,
            description: req.description,
            api_gateway_managed: false,
        };
        let out = integration.render();
        self.modify(region, api_id, |api| {
            api.integrations.push(integration.clone());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GetIntegration.
    pub async fn get_integration(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
    ) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        api.integrations
            .iter()
            .find(|i| i.integration_id == id)
            .map(Integration::render)
            .ok_or_else(|| self.not_found("Integration", id))
    }

    /// GetIntegrations.
    pub async fn get_integrations(
        &self,
        region: &str,
        api_id: &str,
        max_results: Option<&str>,
        next_token: Option<&str>,
    ) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        page(
            api.integrations.iter().map(Integration::render).collect(),
            max_results,
            next_token,
        )
    }

    /// DeleteIntegration.
    pub async fn delete_integration(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
    ) -> GatewayResult<()> {
        self.modify(region, api_id, |api| {
            let before = api.integrations.len();
            api.integrations.retain(|i| i.integration_id != id);
            if api.integrations.len() == before {
                return Err(self.not_found("Integration", id));
            }
            Ok(())
        })
        .await
    }

    /// CreateStage.
    pub async fn create_stage(
        &self,
        region: &str,
        api_id: &str,
        req: StageRequest,
    ) -> GatewayResult<Value> {
        let name = req.stage_name.ok_or_else(|| bad("StageName is required"))?;
        check_stage_name(&name)?;
        if let Some(a) = &req.access_log_settings {
            a.validate()?;
        }
        let now = now_iso();
        let stage = Stage {
            stage_name: name,
            auto_deploy: req.auto_deploy.unwrap_or(false),
            stage_variables: req.stage_variables.unwrap_or_default(),
            description: req.description,
            created_date: now.clone(),
            last_updated_date: now,
            api_gateway_managed: false,
            tags: req.tags.unwrap_or_default(),
            access_log_settings: req.access_log_settings,
        };
        let out = stage.render();
        self.modify(region, api_id, |api| {
            if api.stages.iter().any(|s| s.stage_name == stage.stage_name) {
                return Err(GatewayError::Conflict(format!(
                    "Stage {} already exists",
                    stage.stage_name
                )));
            }
            api.stages.push(stage.clone());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GetStage.
    pub async fn get_stage(&self, region: &str, api_id: &str, name: &str) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        api.stages
            .iter()
            .find(|s| s.stage_name == name)
            .map(Stage::render)
            .ok_or_else(|| self.not_found("Stage", name))
    }

    /// GetStages.
    pub async fn get_stages(
        &self,
        region: &str,
        api_id: &str,
        max_results: Option<&str>,
        next_token: Option<&str>,
    ) -> GatewayResult<Value> {
        let (api, _) = self.load(region, api_id).await?;
        page(
            api.stages.iter().map(Stage::render).collect(),
            max_results,
            next_token,
        )
    }

    /// DeleteStage.
    pub async fn delete_stage(&self, region: &str, api_id: &str, name: &str) -> GatewayResult<()> {
        self.modify(region, api_id, |api| {
            let before = api.stages.len();
            api.stages.retain(|s| s.stage_name != name);
            if api.stages.len() == before {
                return Err(self.not_found("Stage", name));
            }
            Ok(())
        })
        .await
    }
}

/// A page of `items` as apigatewayv2 lists them (`items`, `nextToken`).
pub(crate) fn page(
    items: Vec<Value>,
    max_results: Option<&str>,
    next_token: Option<&str>,
) -> GatewayResult<Value> {
    let max = match max_results {
        None => MAX_PAGE,
        Some(m) => match m.parse::<usize>() {
            Ok(n @ 1..=MAX_PAGE) => n,
            _ => return Err(bad(format!("Invalid maxResults {m}: it must be 1 to 500"))),
        },
    };
    let start = match next_token {
        None => 0,
        Some(t) => t
            .parse::<usize>()
            .map_err(|_| bad(format!("Invalid nextToken {t}")))?,
    };
    let total = items.len();
    let mut out = json!({ "items": items.into_iter().skip(start).take(max).collect::<Vec<_>>() });
    if start + max < total {
        out["nextToken"] = json!((start + max).to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integration_uris_name_functions() {
        let f = "arn:aws:lambda:us-east-1:123456789012:function:web";
        assert_eq!(integration_function(f), Some(("web".into(), None)));
        let alias = format!("{f}:live");
        assert_eq!(
            integration_function(&alias),
            Some(("web".into(), Some("live".into())))
        );
        let apigw = format!(
            "arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{f}:3/invocations"
        );
        assert_eq!(
            integration_function(&apigw),
            Some(("web".into(), Some("3".into())))
        );
        assert_eq!(integration_function("web"), None);
        assert_eq!(integration_function("https://example.com"), None);
    }
}
