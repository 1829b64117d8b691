//! API Gateway REST APIs (apigateway, v1): CreateRestApi and its siblings,
//! resources, methods, method responses, integrations and integration
//! responses, checked as API Gateway checks them. Deployments, stages and
//! authorizers are in `rest_deploy`, the data plane's resolution in
//! `rest_route`.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::context::blocking;
use crate::gateway::rest_types::*;
use crate::gateway::types::{GatewayError, GatewayResult};
use crate::gateway::{Gateway, bad, integration_function, new_id};

/// HTTP methods a REST API method may be put for.
pub const REST_METHODS: [&str; 8] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY",
];
/// Most resources one API holds.
const MAX_RESOURCES: usize = 300;
/// Most REST APIs one list call returns.
const MAX_LIMIT: usize = 500;

/// Epoch seconds now (apigateway's timestamps).
pub(crate) fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub(crate) fn missing(what: &str) -> GatewayError {
    GatewayError::Missing(format!("Invalid {what} identifier specified"))
}

/// `{"item": [...]}` (apigateway's lists), paged by `position` and `limit`.
pub(crate) fn items(
    all: Vec<Value>,
    position: Option<&str>,
    limit: Option<&str>,
) -> GatewayResult<Value> {
    let limit = match limit {
        None => MAX_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n @ 1..=MAX_LIMIT) => n,
            _ => return Err(bad(format!("Invalid limit {l}: it must be 1 to 500"))),
        },
    };
    let start = match position {
        None => 0,
        Some(p) => p
            .parse::<usize>()
            .map_err(|_| bad(format!("Invalid position {p}")))?,
    };
    let total = all.len();
    let mut out = json!({ "item": all.into_iter().skip(start).take(limit).collect::<Vec<_>>() });
    if start + limit < total {
        out["position"] = json!((start + limit).to_string());
    }
    Ok(out)
}

fn check_path_part(part: &str) -> GatewayResult<()> {
    let name = part
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .map(|p| p.strip_suffix('+').unwrap_or(p));
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || b"._-:".contains(&b);
    let ok = match name {
        Some(n) => !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        None => !part.is_empty() && part.len() <= 255 && part.bytes().all(ok_char),
    };
    if ok {
        Ok(())
    } else {
        Err(bad(format!(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace: {part}"
        )))
    }
}

fn check_method(m: &str) -> GatewayResult<()> {
    if REST_METHODS.contains(&m) {
        Ok(())
    } else {
        Err(bad(format!("Invalid HttpMethod specified: {m}")))
    }
}

fn check_endpoint_configuration(v: &Value) -> GatewayResult<()> {
    let types = v["types"].as_array().cloned().unwrap_or_default();
    let ok = types.len() == 1
        && types[0]
            .as_str()
            .is_some_and(|t| ["EDGE", "REGIONAL", "PRIVATE"].contains(&t));
    if ok {
        Ok(())
    } else {
        Err(bad(
            "Invalid endpoint configuration: types must be one of EDGE, REGIONAL or PRIVATE",
        ))
    }
}

fn method_mut<'a>(api: &'a mut RestApi, resource: &str, m: &str) -> GatewayResult<&'a mut Method> {
    api.resources
        .iter_mut()
        .find(|r| r.id == resource)
        .ok_or_else(|| missing("Resource"))?
        .resource_methods
        .get_mut(m)
        .ok_or_else(|| missing("Method"))
}

fn integration_mut<'a>(
    api: &'a mut RestApi,
    resource: &str,
    m: &str,
) -> GatewayResult<&'a mut Integration> {
    method_mut(api, resource, m)?
        .method_integration
        .as_mut()
        .ok_or_else(|| GatewayError::Missing("No integration defined for method".into()))
}

/// A method's `authorizationType` and `authorizerId`, checked against the
/// API's authorizers.
fn check_authorization(api: &RestApi, kind: &str, authorizer: Option<&str>) -> GatewayResult<()> {
    match kind {
        "NONE" | "AWS_IAM" => Ok(()),
        "CUSTOM" | "COGNITO_USER_POOLS" => match authorizer {
            Some(id) if api.authorizers.iter().any(|a| a.id == id) => Ok(()),
            _ => Err(bad(
                "Invalid authorizer ID specified. Setting the authorization type to CUSTOM or COGNITO_USER_POOLS requires a valid authorizer.",
            )),
        },
        other => Err(bad(format!(
            "Invalid authorization type specified: {other}"
        ))),
    }
}

fn integration_of(resource_id: &str, req: IntegrationRequest) -> GatewayResult<Integration> {
    let kind = req
        .integration_type
        .ok_or_else(|| bad("Enumeration value for IntegrationType must be non-empty"))?;
    let timeout = match req.timeout_in_millis {
        None => REST_MAX_TIMEOUT_MS,
        Some(t @ 50..=29_000) => t as u64,
        Some(_) => return Err(bad("Timeout should be between 50 ms and 29000 ms")),
    };
    match kind.as_str() {
        "AWS_PROXY" => {
            if req.http_method.as_deref() != Some("POST") {
                return Err(bad(
                    "Enumeration value of HttpMethod must be POST for an AWS_PROXY integration with Lambda",
                ));
            }
            let uri = req.uri.as_deref().unwrap_or_default();
            let lambda = uri.starts_with("arn:aws:apigateway:")
                && uri.contains(":lambda:path/2015-03-31/functions/");
            // A stage variable may name the function (`…:function:${stageVariables.fn}`).
            if !lambda
                || (integration_function(uri).is_none() && !uri.contains("${stageVariables."))
            {
                return Err(bad(
                    "Integrations of type 'AWS_PROXY' currently only supports Lambda function and Firehose stream invocations.",
                ));
            }
        }
        "MOCK" => {}
        "AWS" | "HTTP" | "HTTP_PROXY" => {
            return Err(bad(format!(
                "lambdad serves AWS_PROXY (Lambda) and MOCK integrations, not {kind}"
            )));
        }
        other => return Err(bad(format!("Invalid integration type specified: {other}"))),
    }
    Ok(Integration {
        integration_type: kind,
        http_method: req.http_method,
        uri: req.uri,
        connection_type: req.connection_type.unwrap_or_else(|| "INTERNET".into()),
        credentials: req.credentials,
        request_parameters: req.request_parameters.unwrap_or_default(),
        request_templates: req.request_templates.unwrap_or_default(),
        passthrough_behavior: req
            .passthrough_behavior
            .unwrap_or_else(|| "WHEN_NO_MATCH".into()),
        content_handling: req.content_handling,
        timeout_in_millis: timeout,
        cache_namespace: req
            .cache_namespace
            .unwrap_or_else(|| resource_id.to_owned()),
        cache_key_parameters: req.cache_key_parameters.unwrap_or_default(),
        integration_responses: BTreeMap::new(),
    })
}

impl Gateway {
    /// `http://ID.execute-api.REGION.localhost:PORT/STAGE` of a REST API stage.
    pub fn invoke_url(&self, region: &str, api_id: &str, stage: &str) -> String {
        format!("{}/{stage}", self.endpoint(region, api_id))
    }

    /// CreateRestApi: the API and its root resource `/`.
    pub async fn create_rest_api(&self, region: &str, req: RestApiRequest) -> GatewayResult<Value> {
        let name = req.name.unwrap_or_default();
        if name.is_empty() || name.len() > 1024 {
            return Err(bad("Invalid REST API name specified"));
        }
        let endpoint = req
            .endpoint_configuration
            .unwrap_or_else(|| json!({"types": ["EDGE"]}));
        check_endpoint_configuration(&endpoint)?;
        let source = req.api_key_source.unwrap_or_else(|| "HEADER".into());
        if source != "HEADER" && source != "AUTHORIZER" {
            return Err(bad(format!("Invalid API key source specified: {source}")));
        }
        let root = new_id(10);
        let mut api = RestApi {
            kind: "REST".into(),
            id: new_id(10),
            region: region.to_owned(),
            name,
            description: req.description,
            version: req.version,
            created_date: now_epoch(),
            binary_media_types: req.binary_media_types.unwrap_or_default(),
            minimum_compression_size: req.minimum_compression_size,
            api_key_source: source,
            endpoint_configuration: endpoint,
            policy: req.policy,
            tags: req.tags.unwrap_or_default(),
            disable_execute_api_endpoint: req.disable_execute_api_endpoint.unwrap_or(false),
            root_resource_id: root.clone(),
            resources: vec![Resource {
                id: root,
                parent_id: None,
                path_part: None,
                path: "/".into(),
                resource_methods: BTreeMap::new(),
            }],
            deployments: Vec::new(),
            stages: Vec::new(),
            authorizers: Vec::new(),
        };
        loop {
            let rec = Self::record(&api)?;
            let store = self.ctx.store.clone();
            match blocking(move || store.create_gateway_api(&rec)).await {
                Ok(()) => return Ok(api.render()),
                // An HTTP or REST API has the id: draw another.
                Err(e) if e.is_store_conflict() => api.id = new_id(10),
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub(crate) async fn load_rest(&self, region: &str, api_id: &str) -> GatewayResult<RestApi> {
        Ok(self.load_doc::<RestApi>(region, api_id).await?.0)
    }

    /// GetRestApi.
    pub async fn get_rest_api(&self, region: &str, api_id: &str) -> GatewayResult<Value> {
        Ok(self.load_rest(region, api_id).await?.render())
    }

    /// GetRestApis.
    pub async fn get_rest_apis(
        &self,
        region: &str,
        position: Option<&str>,
        limit: Option<&str>,
    ) -> GatewayResult<Value> {
        let store = self.ctx.store.clone();
        let mut all = Vec::new();
        for rec in blocking(move || store.list_gateway_apis()).await? {
            if super::doc_kind(&rec.body) != Some("REST") {
                continue;
            }
            let api: RestApi = serde_json::from_str(&rec.body)
                .map_err(|e| GatewayError::Internal(format!("corrupt API: {e}")))?;
            if api.region == region {
                all.push(api.render());
            }
        }
        items(all, position, limit)
    }

    /// UpdateRestApi: `/name`, `/description`, `/version`, `/policy`,
    /// `/apiKeySource`, `/minimumCompressionSize`, `/disableExecuteApiEndpoint`,
    /// `/binaryMediaTypes/TYPE` (add, remove).
    pub async fn update_rest_api(
        &self,
        region: &str,
        api_id: &str,
        req: PatchRequest,
    ) -> GatewayResult<Value> {
        let api = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                for op in &req.patch_operations {
                    apply_api_patch(api, op)?;
                }
                Ok(api.clone())
            })
            .await?;
        Ok(api.render())
    }

    /// DeleteRestApi.
    pub async fn delete_rest_api(&self, region: &str, api_id: &str) -> GatewayResult<()> {
        self.load_rest(region, api_id).await?;
        let (store, id) = (self.ctx.store.clone(), api_id.to_owned());
        if !blocking(move || store.delete_gateway_api(&id)).await? {
            return Err(self.not_found("API", api_id));
        }
        Ok(())
    }

    /// GetResources (`embed=methods` renders the methods in full).
    pub async fn get_resources(
        &self,
        region: &str,
        api_id: &str,
        embed: bool,
        position: Option<&str>,
        limit: Option<&str>,
    ) -> GatewayResult<Value> {
        let api = self.load_rest(region, api_id).await?;
        let all = api.resources.iter().map(|r| r.render(embed)).collect();
        items(all, position, limit)
    }

    /// GetResource.
    pub async fn get_resource(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
        embed: bool,
    ) -> GatewayResult<Value> {
        let api = self.load_rest(region, api_id).await?;
        let r = api.resource(id).ok_or_else(|| missing("Resource"))?;
        Ok(r.render(embed))
    }

    /// CreateResource: `pathPart` under `parent`.
    pub async fn create_resource(
        &self,
        region: &str,
        api_id: &str,
        parent: &str,
        path_part: Option<String>,
    ) -> GatewayResult<Value> {
        let part = path_part.unwrap_or_default();
        check_path_part(&part)?;
        let r = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                let p = api.resource(parent).ok_or_else(|| missing("Resource"))?;
                if p.path_part.as_deref().is_some_and(|s| s.ends_with("+}")) {
                    return Err(bad(format!(
                        "Cannot create a child of a resource with a greedy path variable: {}",
                        p.path_part.as_deref().unwrap_or_default()
                    )));
                }
                let siblings = api
                    .resources
                    .iter()
                    .filter(|r| r.parent_id.as_deref() == Some(parent));
                for s in siblings {
                    let sp = s.path_part.as_deref().unwrap_or_default();
                    if sp == part {
                        return Err(GatewayError::Conflict(format!(
                            "Another resource with the same parent already has this name: {part}"
                        )));
                    }
                    if sp.starts_with('{') && part.starts_with('{') {
                        return Err(bad(format!(
                            "A sibling ({sp}) of this resource already has a variable path part -- only one is allowed"
                        )));
                    }
                }
                if api.resources.len() >= MAX_RESOURCES {
                    return Err(bad(format!(
                        "An API holds at most {MAX_RESOURCES} resources"
                    )));
                }
                let path = match p.path.as_str() {
                    "/" => format!("/{part}"),
                    base => format!("{base}/{part}"),
                };
                let r = Resource {
                    id: new_id(6),
                    parent_id: Some(parent.to_owned()),
                    path_part: Some(part.clone()),
                    path,
                    resource_methods: BTreeMap::new(),
                };
                api.resources.push(r.clone());
                Ok(r)
            })
            .await?;
        Ok(r.render(false))
    }

    /// DeleteResource, with all resources below it.
    pub async fn delete_resource(&self, region: &str, api_id: &str, id: &str) -> GatewayResult<()> {
        self.modify_doc(region, api_id, |api: &mut RestApi| {
            if api.resource(id).is_none() {
                return Err(missing("Resource"));
            }
            if api.root_resource_id == id {
                return Err(bad("Cannot delete root resource"));
            }
            let mut gone = vec![id.to_owned()];
            let mut i = 0;
            while i < gone.len() {
                let children: Vec<String> = api
                    .resources
                    .iter()
                    .filter(|r| r.parent_id.as_deref() == Some(gone[i].as_str()))
                    .map(|r| r.id.clone())
                    .collect();
                gone.extend(children);
                i += 1;
            }
            api.resources.retain(|r| !gone.contains(&r.id));
            Ok(())
        })
        .await
    }

    /// PutMethod.
    pub async fn put_method(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
        req: MethodRequest,
    ) -> GatewayResult<Value> {
        check_method(http_method)?;
        let kind = req
            .authorization_type
            .clone()
            .ok_or_else(|| bad("Invalid authorization type specified"))?;
        let m = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                check_authorization(api, &kind, req.authorizer_id.as_deref())?;
                let r = api
                    .resources
                    .iter_mut()
                    .find(|r| r.id == resource)
                    .ok_or_else(|| missing("Resource"))?;
                if r.resource_methods.contains_key(http_method) {
                    return Err(GatewayError::Conflict(
                        "Method already exists for this resource".into(),
                    ));
                }
                let m = Method {
                    http_method: http_method.to_owned(),
                    authorization_type: kind.clone(),
                    authorizer_id: req.authorizer_id.clone().filter(|_| kind != "NONE"),
                    api_key_required: req.api_key_required.unwrap_or(false),
                    operation_name: req.operation_name.clone(),
                    request_validator_id: req.request_validator_id.clone(),
                    request_parameters: req.request_parameters.clone().unwrap_or_default(),
                    request_models: req.request_models.clone().unwrap_or_default(),
                    authorization_scopes: req.authorization_scopes.clone().unwrap_or_default(),
                    method_responses: BTreeMap::new(),
                    method_integration: None,
                };
                r.resource_methods.insert(http_method.to_owned(), m.clone());
                Ok(m)
            })
            .await?;
        Ok(serde_json::to_value(m).unwrap_or_default())
    }

    /// GetMethod.
    pub async fn get_method(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
    ) -> GatewayResult<Value> {
        let mut api = self.load_rest(region, api_id).await?;
        let m = method_mut(&mut api, resource, http_method)?;
        Ok(serde_json::to_value(m).unwrap_or_default())
    }

    /// DeleteMethod.
    pub async fn delete_method(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
    ) -> GatewayResult<()> {
        self.modify_doc(region, api_id, |api: &mut RestApi| {
            method_mut(api, resource, http_method)?;
            if let Some(r) = api.resources.iter_mut().find(|r| r.id == resource) {
                r.resource_methods.remove(http_method);
            }
            Ok(())
        })
        .await
    }

    /// UpdateMethod: `/authorizationType`, `/authorizerId`,
    /// `/apiKeyRequired`, `/operationName`.
    pub async fn update_method(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
        req: PatchRequest,
    ) -> GatewayResult<Value> {
        let m = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                let mut m = method_mut(api, resource, http_method)?.clone();
                for op in &req.patch_operations {
                    match op.path.as_str() {
                        "/authorizationType" => m.authorization_type = patch_value(op)?,
                        "/authorizerId" => m.authorizer_id = op.value.clone(),
                        "/apiKeyRequired" => m.api_key_required = patch_value(op)? == "true",
                        "/operationName" => m.operation_name = op.value.clone(),
                        _ => return Err(bad_patch(op)),
                    }
                }
                check_authorization(api, &m.authorization_type, m.authorizer_id.as_deref())?;
                *method_mut(api, resource, http_method)? = m.clone();
                Ok(m)
            })
            .await?;
        Ok(serde_json::to_value(m).unwrap_or_default())
    }

    /// PutMethodResponse: kept and returned as given.
    pub async fn put_method_response(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
        status: &str,
        body: Value,
    ) -> GatewayResult<Value> {
        let v = response_of(status, body)?;
        let out = v.clone();
        self.modify_doc(region, api_id, move |api: &mut RestApi| {
            let m = method_mut(api, resource, http_method)?;
            m.method_responses.insert(status.to_owned(), v.clone());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GetMethodResponse.
    pub async fn get_method_response(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
        status: &str,
    ) -> GatewayResult<Value> {
        let mut api = self.load_rest(region, api_id).await?;
        let m = method_mut(&mut api, resource, http_method)?;
        m.method_responses
            .get(status)
            .cloned()
            .ok_or_else(|| missing("Response type"))
    }

    /// PutIntegration.
    pub async fn put_integration(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
        req: IntegrationRequest,
    ) -> GatewayResult<Value> {
        let integration = integration_of(resource, req)?;
        let out = serde_json::to_value(&integration).unwrap_or_default();
        self.modify_doc(region, api_id, |api: &mut RestApi| {
            method_mut(api, resource, http_method)?.method_integration = Some(integration.clone());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GetIntegration.
    pub async fn get_integration_v1(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
    ) -> GatewayResult<Value> {
        let mut api = self.load_rest(region, api_id).await?;
        let i = integration_mut(&mut api, resource, http_method)?;
        Ok(serde_json::to_value(i).unwrap_or_default())
    }

    /// DeleteIntegration.
    pub async fn delete_integration_v1(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
    ) -> GatewayResult<()> {
        self.modify_doc(region, api_id, |api: &mut RestApi| {
            integration_mut(api, resource, http_method)?;
            method_mut(api, resource, http_method)?.method_integration = None;
            Ok(())
        })
        .await
    }

    /// UpdateIntegration: `/uri`, `/timeoutInMillis`, `/credentials`.
    pub async fn update_integration_v1(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
        req: PatchRequest,
    ) -> GatewayResult<Value> {
        let i = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                let i = integration_mut(api, resource, http_method)?;
                let mut changed = i.clone();
                for op in &req.patch_operations {
                    match op.path.as_str() {
                        "/uri" => changed.uri = Some(patch_value(op)?),
                        "/credentials" => changed.credentials = op.value.clone(),
                        "/timeoutInMillis" => {
                            changed.timeout_in_millis = match patch_value(op)?.parse() {
                                Ok(t @ 50..=29_000) => t,
                                _ => {
                                    return Err(bad(
                                        "Timeout should be between 50 ms and 29000 ms",
                                    ));
                                }
                            }
                        }
                        _ => return Err(bad_patch(op)),
                    }
                }
                *i = changed.clone();
                Ok(changed)
            })
            .await?;
        Ok(serde_json::to_value(i).unwrap_or_default())
    }

    /// PutIntegrationResponse: kept and returned as given.
    pub async fn put_integration_response(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
        status: &str,
        body: Value,
    ) -> GatewayResult<Value> {
        let v = response_of(status, body)?;
        let out = v.clone();
        self.modify_doc(region, api_id, move |api: &mut RestApi| {
            let i = integration_mut(api, resource, http_method)?;
            i.integration_responses.insert(status.to_owned(), v.clone());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GetIntegrationResponse.
    pub async fn get_integration_response(
        &self,
        region: &str,
        api_id: &str,
        resource: &str,
        http_method: &str,
        status: &str,
    ) -> GatewayResult<Value> {
        let mut api = self.load_rest(region, api_id).await?;
        let i = integration_mut(&mut api, resource, http_method)?;
        i.integration_responses
            .get(status)
            .cloned()
            .ok_or_else(|| missing("Response type"))
    }
}

/// A method or integration response: the body as given, with its status.
fn response_of(status: &str, body: Value) -> GatewayResult<Value> {
    if status.len() != 3 || !status.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(format!("Invalid status code specified: {status}")));
    }
    let mut v = match body {
        Value::Object(m) => Value::Object(m),
        Value::Null => json!({}),
        _ => return Err(bad("Invalid request body: it must be an object")),
    };
    v["statusCode"] = json!(status);
    Ok(v)
}

fn apply_api_patch(api: &mut RestApi, op: &PatchOp) -> GatewayResult<()> {
    if let Some(t) = op.path.strip_prefix("/binaryMediaTypes/") {
        let t = unescape_pointer(t);
        match op.op.as_str() {
            "add" => {
                if !api.binary_media_types.contains(&t) {
                    api.binary_media_types.push(t);
                }
            }
            "remove" => api.binary_media_types.retain(|x| *x != t),
            _ => return Err(bad_patch(op)),
        }
        return Ok(());
    }
    match op.path.as_str() {
        "/name" => {
            let n = patch_value(op)?;
            if n.is_empty() {
                return Err(bad("Invalid REST API name specified"));
            }
            api.name = n;
        }
        "/description" => api.description = op.value.clone(),
        "/version" => api.version = op.value.clone(),
        "/policy" => api.policy = op.value.clone(),
        "/apiKeySource" => api.api_key_source = patch_value(op)?,
        "/minimumCompressionSize" => {
            api.minimum_compression_size = op.value.as_deref().and_then(|v| v.parse().ok());
        }
        "/disableExecuteApiEndpoint" => {
            api.disable_execute_api_endpoint = patch_value(op)? == "true";
        }
        _ => return Err(bad_patch(op)),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_parts_are_checked() {
        for ok in ["items", "{id}", "{proxy+}", "v1.2", "a-b_c"] {
            assert!(check_path_part(ok).is_ok(), "{ok}");
        }
        for no in ["", "a/b", "{}", "{a", "a b", "{pro-xy}"] {
            assert!(check_path_part(no).is_err(), "{no}");
        }
    }

    #[test]
    fn lists_are_items_paged_by_position() {
        let all: Vec<Value> = (0..5).map(|i| json!(i)).collect();
        let page = items(all.clone(), None, Some("2")).unwrap();
        assert_eq!(page, json!({"item": [0, 1], "position": "2"}));
        let last = items(all, Some("4"), Some("2")).unwrap();
        assert_eq!(last, json!({"item": [4]}));
    }
}
