//! UpdateRoute, UpdateIntegration and UpdateStage: each changes only the
//! members given, checked as on create.

use crate::gateway::authorizers::check_route_authorization;
use crate::gateway::types::{
    GatewayError, GatewayResult, IntegrationRequest, RouteRequest, StageRequest,
};
use crate::gateway::{
    Gateway, bad, check_integration_uri, check_payload_format, check_route_key, check_target,
    check_timeout, now_iso,
};
use serde_json::Value;

impl Gateway {
    /// UpdateRoute.
    pub async fn update_route(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
        req: RouteRequest,
    ) -> GatewayResult<Value> {
        if let Some(k) = &req.route_key {
            check_route_key(k)?;
        }
        self.modify(region, api_id, |api| {
            if let Some(k) = &req.route_key
                && api
                    .routes
                    .iter()
                    .any(|r| r.route_key == *k && r.route_id != id)
            {
                return Err(GatewayError::Conflict(format!(
                    "Route with key {k} already exists for this API"
                )));
            }
            if let Some(t) = &req.target {
                check_target(api, t)?;
            }
            let route = api
                .routes
                .iter_mut()
                .find(|r| r.route_id == id)
                .ok_or_else(|| self.not_found("Route", id))?;
            if let Some(k) = &req.route_key {
                route.route_key = k.clone();
            }
            if let Some(t) = &req.target {
                route.target = Some(t.clone());
            }
            if let Some(a) = req.api_key_required {
                route.api_key_required = a;
            }
            if let Some(o) = &req.operation_name {
                route.operation_name = Some(o.clone());
            }
            if let Some(a) = &req.authorization_type {
                route.authorization_type = a.clone();
                if req.authorizer_id.is_none() && matches!(a.as_str(), "NONE" | "AWS_IAM") {
                    route.authorizer_id = None;
                }
            }
            if let Some(a) = &req.authorizer_id {
                route.authorizer_id = Some(a.clone());
            }
            if let Some(s) = &req.authorization_scopes {
                route.authorization_scopes = s.clone();
            }
            let route = route.clone();
            check_route_authorization(api, &route)?;
            Ok(route.render())
        })
        .await
    }

    /// UpdateIntegration.
    pub async fn update_integration(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
        req: IntegrationRequest,
    ) -> GatewayResult<Value> {
        if let Some(k) = req
            .integration_type
            .as_deref()
            .filter(|k| *k != "AWS_PROXY")
        {
            return Err(bad(format!(
                "Unsupported integration type {k}: lambdad's HTTP APIs take AWS_PROXY"
            )));
        }
        if let Some(u) = &req.integration_uri {
            check_integration_uri(u)?;
        }
        if let Some(v) = &req.payload_format_version {
            check_payload_format(v)?;
        }
        let timeout = match req.timeout_in_millis {
            Some(t) => Some(check_timeout(Some(t))?),
            None => None,
        };
        self.modify(region, api_id, |api| {
            let i = api
                .integrations
                .iter_mut()
                .find(|i| i.integration_id == id)
                .ok_or_else(|| self.not_found("Integration", id))?;
            if let Some(u) = &req.integration_uri {
                i.integration_uri = u.clone();
            }
            if let Some(v) = &req.payload_format_version {
                i.payload_format_version = v.clone();
            }
            if let Some(t) = timeout {
                i.timeout_in_millis = t;
            }
            if let Some(c) = &req.credentials_arn {
                i.credentials_arn = Some(c.clone());
            }
            if let Some(d) = &req.description {
                i.description = Some(d.clone());
            }
            Ok(i.render())
        })
        .await
    }

    /// UpdateStage: `stageVariables` are merged into the stage's, and a
    /// variable given the empty value is removed (as Terraform relies on).
    pub async fn update_stage(
        &self,
        region: &str,
        api_id: &str,
        name: &str,
        req: StageRequest,
    ) -> GatewayResult<Value> {
        if req.stage_name.as_deref().is_some_and(|n| n != name) {
            return Err(bad("A stage cannot be renamed"));
        }
        if let Some(a) = &req.access_log_settings {
            a.validate()?;
        }
        self.modify(region, api_id, |api| {
            let s = api
                .stages
                .iter_mut()
                .find(|s| s.stage_name == name)
                .ok_or_else(|| self.not_found("Stage", name))?;
            if let Some(a) = req.auto_deploy {
                s.auto_deploy = a;
            }
            for (k, v) in req.stage_variables.iter().flatten() {
                if v.is_empty() {
                    s.stage_variables.remove(k);
                } else {
                    s.stage_variables.insert(k.clone(), v.clone());
                }
            }
            if let Some(d) = &req.description {
                s.description = Some(d.clone());
            }
            if let Some(a) = &req.access_log_settings {
                s.access_log_settings = Some(a.clone());
            }
            s.last_updated_date = now_iso();
            Ok(s.render())
        })
        .await
    }

    /// DeleteAccessLogSettings.
    pub async fn delete_access_log_settings(
        &self,
        region: &str,
        api_id: &str,
        name: &str,
    ) -> GatewayResult<()> {
        self.modify(region, api_id, |api| {
            let s = api
                .stages
                .iter_mut()
                .find(|s| s.stage_name == name)
                .ok_or_else(|| self.not_found("Stage", name))?;
            s.access_log_settings = None;
            s.last_updated_date = now_iso();
            Ok(())
        })
        .await
    }
}
