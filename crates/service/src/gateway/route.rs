//! The gateway's half of the data plane: which stage, route, integration
//! and function serve a request to an HTTP API, and whether the function's
//! resource policy lets API Gateway invoke it for that route.

use std::collections::BTreeMap;

use lambdad_model::gateway::{RouteKey, execute_api_arn, select_route};
use lambdad_model::policy;
use lambdad_model::url::Cors;
use serde_json::Value;

use crate::context::blocking;
use crate::gateway::access_log::AccessLogSettings;
use crate::gateway::authorizers::Authorizer;
use crate::gateway::types::{GatewayError, GatewayResult, Integration, cors_of};
use crate::gateway::{GATEWAY_PRINCIPAL, Gateway, integration_function};

/// What the data plane needs to serve a request that matched a route.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The API id.
    pub api_id: String,
    /// The stage's name (`$default` or a name).
    pub stage: String,
    /// The stage's variables.
    pub stage_variables: BTreeMap<String, String>,
    /// The route key that matched.
    pub route_key: String,
    /// The route's path parameters.
    pub path_parameters: BTreeMap<String, String>,
    /// The integration the route targets (`None`: it has none).
    pub integration: Option<Integration>,
    /// The function and qualifier the integration invokes.
    pub function: Option<(String, Option<String>)>,
    /// Whether the gateway may invoke the function (its policy allows it,
    /// or the integration has a role).
    pub allowed: bool,
    /// The CORS configuration of the API.
    pub cors: Option<Cors>,
    /// The route's `authorizationType` (`NONE`, `CUSTOM`, `JWT`, `AWS_IAM`).
    pub authorization_type: String,
    /// The route's authorizer, for `CUSTOM` and `JWT` routes.
    pub authorizer: Option<Authorizer>,
    /// Whether the gateway may invoke a `REQUEST` authorizer's function.
    pub authorizer_allowed: bool,
    /// The route's `authorizationScopes`.
    pub authorization_scopes: Vec<String>,
    /// The stage's access log settings.
    pub access_log: Option<AccessLogSettings>,
}

/// How the data plane answers a request.
#[derive(Debug)]
pub enum Resolution {
    /// No such API, stage or route: `404 {"message":"Not Found"}`.
    NotFound,
    /// A CORS preflight, answered by the gateway with the API's configuration.
    Preflight(Cors),
    /// A route matched.
    Route(Box<Resolved>),
}

impl Gateway {
    /// What a request `method path` to API `api_id` (addressed in `region`)
    /// runs: its stage (a named stage by the path's first segment, else
    /// `$default`), route, integration and function, and whether the
    /// function's resource policy lets the gateway invoke it for that route.
    /// A `preflight` (an OPTIONS request with `Origin` and
    /// `Access-Control-Request-Method`) to an API with a CORS configuration
    /// is the gateway's to answer, whatever the routes.
    pub async fn resolve(
        &self,
        region: &str,
        api_id: &str,
        method: &str,
        path: &str,
        preflight: bool,
    ) -> GatewayResult<Resolution> {
        let Some((api, _)) = self.read(api_id).await? else {
            return Ok(Resolution::NotFound);
        };
        if api.region != region || api.disable_execute_api_endpoint {
            return Ok(Resolution::NotFound);
        }
        let cors = api
            .cors_configuration
            .as_ref()
            .and_then(|c| cors_of(c).ok());
        if preflight && let Some(c) = cors.clone() {
            return Ok(Resolution::Preflight(c));
        }
        let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let (stage, route_path) = match api.stages.iter().find(|s| s.stage_name == first) {
            Some(s) if s.stage_name != "$default" => {
                let rest = &path[1 + first.len()..];
                (s, if rest.is_empty() { "/" } else { rest })
            }
            _ => match api.stages.iter().find(|s| s.stage_name == "$default") {
                Some(s) => (s, path),
                None => return Ok(Resolution::NotFound),
            },
        };
        let keys: Vec<RouteKey> = api
            .routes
            .iter()
            .map(|r| RouteKey::parse(&r.route_key).unwrap_or(RouteKey::Default))
            .collect();
        let Some((index, path_parameters)) = select_route(&keys, method, route_path) else {
            return Ok(Resolution::NotFound);
        };
        let route = &api.routes[index];
        let integration = route
            .target
            .as_deref()
            .and_then(|t| t.strip_prefix("integrations/"))
            .and_then(|id| api.integrations.iter().find(|i| i.integration_id == id))
            .cloned();
        let function = integration
            .as_ref()
            .and_then(|i| integration_function(&i.integration_uri));
        let source_arn = execute_api_arn(
            region,
            &self.ctx.account,
            api_id,
            &stage.stage_name,
            &route_key_for_arn(&route.route_key, method),
        );
        let mut allowed = false;
        if let (Some(i), Some(f)) = (&integration, &function) {
            allowed =
                i.credentials_arn.is_some() || self.gateway_may_invoke(f, &source_arn).await?;
        }
        let authorizer = route
            .authorizer_id
            .as_deref()
            .and_then(|id| api.authorizers.iter().find(|a| a.authorizer_id == id))
            .cloned();
        let mut authorizer_allowed = false;
        if let Some(a) = &authorizer
            && let Some(f) = a.function()
        {
            let arn = format!(
                "arn:aws:execute-api:{region}:{}:{api_id}/authorizers/{}",
                self.ctx.account, a.authorizer_id
            );
            authorizer_allowed =
                a.authorizer_credentials_arn.is_some() || self.gateway_may_invoke(&f, &arn).await?;
        }
        Ok(Resolution::Route(Box::new(Resolved {
            api_id: api.api_id.clone(),
            stage: stage.stage_name.clone(),
            stage_variables: stage.stage_variables.clone(),
            route_key: route.route_key.clone(),
            path_parameters,
            integration,
            function,
            allowed,
            cors,
            authorization_type: route.authorization_type.clone(),
            authorizer,
            authorizer_allowed,
            authorization_scopes: route.authorization_scopes.clone(),
            access_log: stage.access_log_settings.clone(),
        })))
    }

    /// Whether the function's resource policy lets API Gateway invoke it
    /// for `source_arn`.
    pub(crate) async fn gateway_may_invoke(
        &self,
        (name, qualifier): &(String, Option<String>),
        source_arn: &str,
    ) -> GatewayResult<bool> {
        let key = qualifier.clone().unwrap_or_else(|| "$LATEST".into());
        let (store, f) = (self.ctx.store.clone(), name.clone());
        let statements = match blocking(move || store.get_policy(&f, &key)).await? {
            Some(p) => serde_json::from_str::<Vec<Value>>(&p.statements)
                .map_err(|e| GatewayError::Internal(format!("corrupt policy: {e}")))?,
            None => Vec::new(),
        };
        Ok(policy::allows_service(
            &statements,
            GATEWAY_PRINCIPAL,
            "lambda:InvokeFunction",
            source_arn,
            &self.ctx.account,
        ))
    }
}

/// The route key as its source ARN names it: an `ANY` route is invoked
/// with the request's method.
fn route_key_for_arn(route_key: &str, method: &str) -> String {
    match route_key.split_once(' ') {
        Some(("ANY", path)) => format!("{method} {path}"),
        _ => route_key.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_routes_are_invoked_with_the_method() {
        assert_eq!(route_key_for_arn("ANY /{proxy+}", "GET"), "GET /{proxy+}");
        assert_eq!(route_key_for_arn("POST /a", "POST"), "POST /a");
        assert_eq!(route_key_for_arn("$default", "GET"), "$default");
    }
}
