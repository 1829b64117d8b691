//! The gateway's half of the REST API data plane: which stage, deployment,
//! resource and method serve a request, what the method's integration
//! invokes, and whether the function's resource policy lets API Gateway
//! invoke it for that request. Stages serve their deployment's snapshot,
//! never the live resources; TestInvokeMethod runs the live ones.

use std::collections::BTreeMap;

use lambdad_model::gateway::{RouteKey, execute_api_arn, select_route};

use crate::gateway::access_log::AccessLogSettings;
use crate::gateway::rest::missing;
use crate::gateway::rest_types::{Method, Resource, RestApi, RestAuthorizer};
use crate::gateway::types::GatewayResult;
use crate::gateway::{Gateway, integration_function};

/// The stage TestInvokeMethod runs in.
pub const TEST_INVOKE_STAGE: &str = "test-invoke-stage";

/// What the data plane needs to serve a request that matched a method.
#[derive(Debug, Clone)]
pub struct RestTarget {
    /// The API id.
    pub api_id: String,
    /// The stage's name.
    pub stage: String,
    /// The stage's variables.
    pub stage_variables: BTreeMap<String, String>,
    /// The resource that matched.
    pub resource_id: String,
    /// Its path (`/items/{id}`).
    pub resource_path: String,
    /// The request's path below the stage (`/items/42`).
    pub path: String,
    /// The resource's path parameters.
    pub path_parameters: BTreeMap<String, String>,
    /// The method (with its integration).
    pub method: Method,
    /// The function and qualifier an `AWS_PROXY` integration invokes.
    pub function: Option<(String, Option<String>)>,
    /// Whether the gateway may invoke that function.
    pub allowed: bool,
    /// The method's authorizer (`CUSTOM`).
    pub authorizer: Option<RestAuthorizer>,
    /// Whether the gateway may invoke the authorizer's function.
    pub authorizer_allowed: bool,
    /// Content types passed as base64.
    pub binary_media_types: Vec<String>,
    /// The stage's access log settings.
    pub access_log: Option<AccessLogSettings>,
}

/// How the data plane answers a request to an execute-api host.
#[derive(Debug)]
pub enum RestResolution {
    /// Not a REST API: the HTTP API data plane answers.
    NotRest,
    /// No such stage: `403 {"message":"Forbidden"}`.
    Forbidden,
    /// No resource and method match: `403 Missing Authentication Token`.
    MissingToken,
    /// A method matched.
    Target(Box<RestTarget>),
}

/// `${stageVariables.NAME}` in an integration URI, replaced.
fn with_stage_variables(uri: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = uri.to_owned();
    for (k, v) in vars {
        out = out.replace(&format!("${{stageVariables.{k}}}"), v);
    }
    out
}

/// What the API's `resources` (live or deployed) serve.
struct Served<'a> {
    api_id: &'a str,
    region: &'a str,
    stage: &'a str,
    variables: &'a BTreeMap<String, String>,
    authorizers: &'a [RestAuthorizer],
    binary_media_types: &'a [String],
    access_log: Option<&'a AccessLogSettings>,
}

impl Gateway {
    /// What a request `method path` (the path with its stage) to `api_id`
    /// runs, from the stage's deployment.
    pub async fn resolve_rest(
        &self,
        region: &str,
        api_id: &str,
        method: &str,
        path: &str,
    ) -> GatewayResult<RestResolution> {
        let Some((api, _)) = self.read_doc::<RestApi>(api_id).await? else {
            return Ok(RestResolution::NotRest);
        };
        if api.region != region || api.disable_execute_api_endpoint {
            return Ok(RestResolution::Forbidden);
        }
        let trimmed = path.trim_start_matches('/');
        let (first, rest) = trimmed.split_once('/').unwrap_or((trimmed, ""));
        let Some(stage) = api.stages.iter().find(|s| s.stage_name == first) else {
            return Ok(RestResolution::Forbidden);
        };
        let Some(d) = api.deployments.iter().find(|d| d.id == stage.deployment_id) else {
            return Ok(RestResolution::Forbidden);
        };
        let below = format!("/{rest}");
        let Some((resource, params)) = pick(&d.resources, method, &below) else {
            return Ok(RestResolution::MissingToken);
        };
        let served = Served {
            api_id,
            region,
            stage: &stage.stage_name,
            variables: &stage.variables,
            authorizers: &d.authorizers,
            binary_media_types: &d.binary_media_types,
            access_log: stage.access_log_settings.as_ref(),
        };
        let t = self
            .target(&served, resource, method, &below, params)
            .await?;
        Ok(t.map_or(RestResolution::MissingToken, |t| {
            RestResolution::Target(Box::new(t))
        }))
    }

    /// TestInvokeMethod's target: the live method `http_method` of
    /// `resource_id`, in the `test-invoke-stage` stage with `variables`.
    pub async fn test_target(
        &self,
        region: &str,
        api_id: &str,
        resource_id: &str,
        http_method: &str,
        path: Option<&str>,
        variables: &BTreeMap<String, String>,
    ) -> GatewayResult<RestTarget> {
        let api = self.load_rest(region, api_id).await?;
        let resource = api
            .resource(resource_id)
            .ok_or_else(|| missing("Resource"))?;
        if !resource.resource_methods.contains_key(http_method) {
            return Err(missing("Method"));
        }
        let path = path.unwrap_or(&resource.path);
        let params = RouteKey::parse(&format!("ANY {}", resource.path))
            .and_then(|k| select_route(&[k], "GET", path))
            .map(|(_, p)| p)
            .unwrap_or_default();
        let served = Served {
            api_id,
            region,
            stage: TEST_INVOKE_STAGE,
            variables,
            authorizers: &api.authorizers,
            binary_media_types: &api.binary_media_types,
            access_log: None,
        };
        let method = if http_method == "ANY" {
            "GET"
        } else {
            http_method
        };
        self.target(&served, resource, method, path, params)
            .await?
            .ok_or_else(|| missing("Method"))
    }

    async fn target(
        &self,
        s: &Served<'_>,
        resource: &Resource,
        method: &str,
        path: &str,
        path_parameters: BTreeMap<String, String>,
    ) -> GatewayResult<Option<RestTarget>> {
        let Some(m) = resource
            .resource_methods
            .get(method)
            .or_else(|| resource.resource_methods.get("ANY"))
        else {
            return Ok(None);
        };
        let integration = m.method_integration.as_ref();
        let function = integration
            .and_then(|i| i.uri.as_deref())
            .filter(|_| integration.is_some_and(|i| i.integration_type == "AWS_PROXY"))
            .and_then(|uri| integration_function(&with_stage_variables(uri, s.variables)));
        let source_arn = execute_api_arn(
            s.region,
            &self.ctx.account,
            s.api_id,
            s.stage,
            &format!("{method} {path}"),
        );
        let mut allowed = false;
        if let (Some(i), Some(f)) = (integration, &function) {
            allowed = i.credentials.is_some() || self.gateway_may_invoke(f, &source_arn).await?;
        }
        let authorizer = m
            .authorizer_id
            .as_deref()
            .filter(|_| m.authorization_type == "CUSTOM")
            .and_then(|id| s.authorizers.iter().find(|a| a.id == id))
            .cloned();
        let mut authorizer_allowed = false;
        if let Some(a) = &authorizer
            && let Some(f) = a.function()
        {
            let arn = format!(
                "arn:aws:execute-api:{}:{}:{}/authorizers/{}",
                s.region, self.ctx.account, s.api_id, a.id
            );
            authorizer_allowed =
                a.authorizer_credentials.is_some() || self.gateway_may_invoke(&f, &arn).await?;
        }
        Ok(Some(RestTarget {
            api_id: s.api_id.to_owned(),
            stage: s.stage.to_owned(),
            stage_variables: s.variables.clone(),
            resource_id: resource.id.clone(),
            resource_path: resource.path.clone(),
            path: path.to_owned(),
            path_parameters,
            method: m.clone(),
            function,
            allowed,
            authorizer,
            authorizer_allowed,
            binary_media_types: s.binary_media_types.to_vec(),
            access_log: s.access_log.cloned(),
        }))
    }
}

/// The resource serving `method path` as API Gateway picks it: literal
/// segments before `{param}` before `{proxy+}`, a method before `ANY`.
fn pick<'a>(
    resources: &'a [Resource],
    method: &str,
    path: &str,
) -> Option<(&'a Resource, BTreeMap<String, String>)> {
    let mut keys = Vec::new();
    let mut owners = Vec::new();
    for r in resources {
        for m in r.resource_methods.keys() {
            if let Some(k) = RouteKey::parse(&format!("{m} {}", r.path)) {
                keys.push(k);
                owners.push(r);
            }
        }
    }
    let (i, params) = select_route(&keys, method, path)?;
    Some((owners[i], params))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(id: &str, path: &str, methods: &[&str]) -> Resource {
        let method = |m: &str| Method {
            http_method: m.to_owned(),
            authorization_type: "NONE".into(),
            authorizer_id: None,
            api_key_required: false,
            operation_name: None,
            request_validator_id: None,
            request_parameters: BTreeMap::new(),
            request_models: BTreeMap::new(),
            authorization_scopes: Vec::new(),
            method_responses: BTreeMap::new(),
            method_integration: None,
        };
        Resource {
            id: id.into(),
            parent_id: None,
            path_part: None,
            path: path.into(),
            resource_methods: methods
                .iter()
                .map(|m| ((*m).to_owned(), method(m)))
                .collect(),
        }
    }

    #[test]
    fn resources_match_literal_then_param_then_greedy() {
        let all = vec![
            resource("root", "/", &["GET"]),
            resource("p", "/{proxy+}", &["ANY"]),
            resource("i", "/items/{id}", &["GET"]),
            resource("s", "/items/special", &["GET"]),
        ];
        let id = |m, p| pick(&all, m, p).map(|(r, _)| r.id.as_str());
        assert_eq!(id("GET", "/items/special"), Some("s"));
        assert_eq!(id("GET", "/items/7"), Some("i"));
        assert_eq!(id("POST", "/items/7"), Some("p"));
        assert_eq!(id("GET", "/"), Some("root"));
        assert_eq!(id("POST", "/"), None);
        let (_, params) = pick(&all, "DELETE", "/a/b").unwrap();
        assert_eq!(params["proxy"], "a/b");
    }

    #[test]
    fn stage_variables_fill_integration_uris() {
        let vars = BTreeMap::from([("fn".to_owned(), "web".to_owned())]);
        assert_eq!(
            with_stage_variables("arn:…:function:${stageVariables.fn}/invocations", &vars),
            "arn:…:function:web/invocations"
        );
    }
}
