//! REST API deployments (snapshots of the resources and authorizers that
//! stages serve), stages with their variables, and Lambda authorizers
//! (`TOKEN`, `REQUEST`).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::gateway::rest::{items, missing, now_epoch};
use crate::gateway::rest_types::*;
use crate::gateway::types::{GatewayError, GatewayResult};
use crate::gateway::{Gateway, bad, integration_function, new_id};

/// Most deployments one API keeps (DeleteDeployment frees them).
const MAX_DEPLOYMENTS: usize = 100;

fn check_stage_name(name: &str) -> GatewayResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(bad("Stage name only allows a-zA-Z0-9_-"))
    }
}

fn check_variables(vars: &BTreeMap<String, String>) -> GatewayResult<()> {
    for (k, v) in vars {
        let ok_name = !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !ok_name || v.len() > 2048 {
            return Err(bad(format!(
                "Stage variable names must match [A-Za-z0-9_]+ and values be at most 2048 characters: {k}"
            )));
        }
    }
    Ok(())
}

/// Whether every method has an integration, and there is one method.
fn check_deployable(api: &RestApi) -> GatewayResult<()> {
    let mut any = false;
    for r in &api.resources {
        for m in r.resource_methods.values() {
            any = true;
            if m.method_integration.is_none() {
                return Err(bad("No integration defined for method"));
            }
        }
    }
    if any {
        Ok(())
    } else {
        Err(bad("The REST API doesn't contain any methods"))
    }
}

fn stage_mut<'a>(api: &'a mut RestApi, name: &str) -> GatewayResult<&'a mut RestStage> {
    api.stages
        .iter_mut()
        .find(|s| s.stage_name == name)
        .ok_or_else(|| missing("Stage"))
}

fn authorizer_of(req: RestAuthorizerRequest, id: String) -> GatewayResult<RestAuthorizer> {
    let kind = req.authorizer_type.unwrap_or_default();
    let a = RestAuthorizer {
        id,
        name: req
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| bad("Invalid authorizer name specified"))?,
        authorizer_type: kind,
        provider_arns: req.provider_arns.unwrap_or_default(),
        auth_type: req.auth_type,
        authorizer_uri: req.authorizer_uri,
        authorizer_credentials: req.authorizer_credentials,
        identity_source: req.identity_source,
        identity_validation_expression: req.identity_validation_expression,
        authorizer_result_ttl_in_seconds: match req.authorizer_result_ttl_in_seconds {
            None => REST_DEFAULT_TTL,
            Some(t @ 0..=3600) => t as u32,
            Some(_) => {
                return Err(bad(
                    "Authorizer result TTL must be between 0 and 3600 seconds",
                ));
            }
        },
    };
    check_authorizer(&a)?;
    Ok(a)
}

/// An authorizer as API Gateway accepts it.
fn check_authorizer(a: &RestAuthorizer) -> GatewayResult<()> {
    match a.authorizer_type.as_str() {
        "TOKEN" | "REQUEST" => {}
        "COGNITO_USER_POOLS" => {
            return Err(bad(
                "lambdad serves Lambda authorizers (TOKEN, REQUEST), not COGNITO_USER_POOLS",
            ));
        }
        other => return Err(bad(format!("Invalid authorizer type specified: {other}"))),
    }
    if a.authorizer_uri
        .as_deref()
        .and_then(integration_function)
        .is_none()
    {
        return Err(bad(
            "Invalid Authorizer URI: it must be the API Gateway invocation URI of a Lambda function",
        ));
    }
    let sources = a.identity_source.as_deref().unwrap_or_default();
    match a.authorizer_type.as_str() {
        "TOKEN" => {
            if !sources.starts_with("method.request.header.") || sources.contains(',') {
                return Err(bad(
                    "Invalid identity source specified: a TOKEN authorizer takes one method.request.header.NAME",
                ));
            }
        }
        _ => {
            let prefixes = [
                "method.request.header.",
                "method.request.querystring.",
                "method.request.multivalueheader.",
                "method.request.multivaluequerystring.",
                "stageVariables.",
                "context.",
            ];
            let each_ok = sources.split(',').map(str::trim).all(|s| {
                prefixes
                    .iter()
                    .any(|p| s.starts_with(p) && s.len() > p.len())
            });
            // REQUEST authorizers without an identity source are not cached.
            if !sources.is_empty() && !each_ok {
                return Err(bad(format!("Invalid identity source specified: {sources}")));
            }
            if sources.is_empty() && a.authorizer_result_ttl_in_seconds > 0 {
                return Err(bad(
                    "Identity source is required when caching is enabled (authorizerResultTtlInSeconds > 0)",
                ));
            }
        }
    }
    if let Some(re) = &a.identity_validation_expression
        && regex_lite::Regex::new(re).is_err()
    {
        return Err(bad(format!("Invalid identity validation expression: {re}")));
    }
    Ok(())
}

impl Gateway {
    /// CreateDeployment: a snapshot of the resources and authorizers; with
    /// `stageName`, that stage (created if new) serves it.
    pub async fn create_deployment(
        &self,
        region: &str,
        api_id: &str,
        req: DeploymentRequest,
    ) -> GatewayResult<Value> {
        if let Some(s) = &req.stage_name {
            check_stage_name(s)?;
        }
        if let Some(v) = &req.variables {
            check_variables(v)?;
        }
        let d = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                check_deployable(api)?;
                if api.deployments.len() >= MAX_DEPLOYMENTS {
                    return Err(bad(format!(
                        "An API keeps at most {MAX_DEPLOYMENTS} deployments: delete some first"
                    )));
                }
                let now = now_epoch();
                let d = Deployment {
                    id: new_id(6),
                    description: req.description.clone(),
                    created_date: now,
                    resources: api.resources.clone(),
                    authorizers: api.authorizers.clone(),
                    binary_media_types: api.binary_media_types.clone(),
                };
                api.deployments.push(d.clone());
                if let Some(name) = &req.stage_name {
                    let vars = req.variables.clone().unwrap_or_default();
                    match api.stages.iter_mut().find(|s| &s.stage_name == name) {
                        Some(s) => {
                            s.deployment_id = d.id.clone();
                            s.variables.extend(vars);
                            s.last_updated_date = now;
                        }
                        None => api.stages.push(RestStage {
                            stage_name: name.clone(),
                            deployment_id: d.id.clone(),
                            description: req.stage_description.clone(),
                            variables: vars,
                            tracing_enabled: req.tracing_enabled.unwrap_or(false),
                            tags: BTreeMap::new(),
                            created_date: now,
                            last_updated_date: now,
                            access_log_settings: None,
                        }),
                    }
                }
                Ok(d)
            })
            .await?;
        Ok(d.render())
    }

    /// GetDeployments.
    pub async fn get_deployments(
        &self,
        region: &str,
        api_id: &str,
        position: Option<&str>,
        limit: Option<&str>,
    ) -> GatewayResult<Value> {
        let api = self.load_rest(region, api_id).await?;
        items(
            api.deployments.iter().map(Deployment::render).collect(),
            position,
            limit,
        )
    }

    /// GetDeployment.
    pub async fn get_deployment(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
    ) -> GatewayResult<Value> {
        let api = self.load_rest(region, api_id).await?;
        api.deployments
            .iter()
            .find(|d| d.id == id)
            .map(Deployment::render)
            .ok_or_else(|| missing("Deployment"))
    }

    /// DeleteDeployment (not while a stage serves it).
    pub async fn delete_deployment(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
    ) -> GatewayResult<()> {
        self.modify_doc(region, api_id, |api: &mut RestApi| {
            if !api.deployments.iter().any(|d| d.id == id) {
                return Err(missing("Deployment"));
            }
            if api.stages.iter().any(|s| s.deployment_id == id) {
                return Err(bad(
                    "Active stages pointing to this deployment must be moved or deleted",
                ));
            }
            api.deployments.retain(|d| d.id != id);
            Ok(())
        })
        .await
    }

    /// CreateStage.
    pub async fn create_rest_stage(
        &self,
        region: &str,
        api_id: &str,
        req: RestStageRequest,
    ) -> GatewayResult<Value> {
        let name = req.stage_name.clone().unwrap_or_default();
        check_stage_name(&name)?;
        let vars = req.variables.clone().unwrap_or_default();
        check_variables(&vars)?;
        let deployment = req
            .deployment_id
            .clone()
            .ok_or_else(|| bad("Invalid deployment identifier specified"))?;
        let s = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                if !api.deployments.iter().any(|d| d.id == deployment) {
                    return Err(bad("Invalid deployment identifier specified"));
                }
                if api.stages.iter().any(|s| s.stage_name == name) {
                    return Err(GatewayError::Conflict("Stage already exists".into()));
                }
                let now = now_epoch();
                let s = RestStage {
                    stage_name: name.clone(),
                    deployment_id: deployment.clone(),
                    description: req.description.clone(),
                    variables: vars.clone(),
                    tracing_enabled: req.tracing_enabled.unwrap_or(false),
                    tags: req.tags.clone().unwrap_or_default(),
                    created_date: now,
                    last_updated_date: now,
                    access_log_settings: None,
                };
                api.stages.push(s.clone());
                Ok(s)
            })
            .await?;
        Ok(s.render())
    }

    /// GetStages (`deploymentId` filters).
    pub async fn get_rest_stages(
        &self,
        region: &str,
        api_id: &str,
        deployment: Option<&str>,
    ) -> GatewayResult<Value> {
        let api = self.load_rest(region, api_id).await?;
        let all: Vec<Value> = api
            .stages
            .iter()
            .filter(|s| deployment.is_none_or(|d| s.deployment_id == d))
            .map(RestStage::render)
            .collect();
        Ok(serde_json::json!({ "item": all }))
    }

    /// GetStage.
    pub async fn get_rest_stage(
        &self,
        region: &str,
        api_id: &str,
        name: &str,
    ) -> GatewayResult<Value> {
        let mut api = self.load_rest(region, api_id).await?;
        Ok(stage_mut(&mut api, name)?.render())
    }

    /// UpdateStage: `/description`, `/deploymentId`, `/tracingEnabled`,
    /// `/variables/NAME` (add, replace, remove), `/accessLogSettings/…`
    /// (`destinationArn`, `format`; removing `/accessLogSettings` turns
    /// access logging off).
    pub async fn update_rest_stage(
        &self,
        region: &str,
        api_id: &str,
        name: &str,
        req: PatchRequest,
    ) -> GatewayResult<Value> {
        let s = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                let deployments: Vec<String> =
                    api.deployments.iter().map(|d| d.id.clone()).collect();
                let s = stage_mut(api, name)?;
                let mut changed = s.clone();
                for op in &req.patch_operations {
                    if let Some(var) = op.path.strip_prefix("/variables/") {
                        let var = unescape_pointer(var);
                        match op.op.as_str() {
                            "remove" => {
                                changed.variables.remove(&var);
                            }
                            "add" | "replace" => {
                                changed.variables.insert(var, patch_value(op)?);
                            }
                            _ => return Err(bad_patch(op)),
                        }
                        continue;
                    }
                    if let Some(field) = op.path.strip_prefix("/accessLogSettings") {
                        let a = changed.access_log_settings.get_or_insert_default();
                        match (op.op.as_str(), field) {
                            ("remove", "") => changed.access_log_settings = None,
                            ("add" | "replace", "/destinationArn") => {
                                a.destination_arn = Some(patch_value(op)?);
                            }
                            ("add" | "replace", "/format") => a.format = Some(patch_value(op)?),
                            _ => return Err(bad_patch(op)),
                        }
                        continue;
                    }
                    match op.path.as_str() {
                        "/description" => changed.description = op.value.clone(),
                        "/tracingEnabled" => changed.tracing_enabled = patch_value(op)? == "true",
                        "/deploymentId" => {
                            let d = patch_value(op)?;
                            if !deployments.contains(&d) {
                                return Err(bad("Invalid deployment identifier specified"));
                            }
                            changed.deployment_id = d;
                        }
                        _ => return Err(bad_patch(op)),
                    }
                }
                check_variables(&changed.variables)?;
                if let Some(a) = &changed.access_log_settings {
                    a.validate()?;
                }
                changed.last_updated_date = now_epoch();
                *s = changed.clone();
                Ok(changed)
            })
            .await?;
        Ok(s.render())
    }

    /// DeleteStage.
    pub async fn delete_rest_stage(
        &self,
        region: &str,
        api_id: &str,
        name: &str,
    ) -> GatewayResult<()> {
        self.modify_doc(region, api_id, |api: &mut RestApi| {
            stage_mut(api, name)?;
            api.stages.retain(|s| s.stage_name != name);
            Ok(())
        })
        .await
    }

    /// CreateAuthorizer.
    pub async fn create_rest_authorizer(
        &self,
        region: &str,
        api_id: &str,
        req: RestAuthorizerRequest,
    ) -> GatewayResult<Value> {
        let a = authorizer_of(req, new_id(6))?;
        let out = serde_json::to_value(&a).unwrap_or_default();
        self.modify_doc(region, api_id, |api: &mut RestApi| {
            api.authorizers.push(a.clone());
            Ok(())
        })
        .await?;
        Ok(out)
    }

    /// GetAuthorizers.
    pub async fn get_rest_authorizers(
        &self,
        region: &str,
        api_id: &str,
        position: Option<&str>,
        limit: Option<&str>,
    ) -> GatewayResult<Value> {
        let api = self.load_rest(region, api_id).await?;
        let all = api
            .authorizers
            .iter()
            .map(|a| serde_json::to_value(a).unwrap_or_default())
            .collect();
        items(all, position, limit)
    }

    /// GetAuthorizer.
    pub async fn get_rest_authorizer(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
    ) -> GatewayResult<Value> {
        let api = self.load_rest(region, api_id).await?;
        let a = api
            .authorizers
            .iter()
            .find(|a| a.id == id)
            .ok_or_else(|| missing("Authorizer"))?;
        Ok(serde_json::to_value(a).unwrap_or_default())
    }

    /// UpdateAuthorizer: `/name`, `/authorizerUri`, `/identitySource`,
    /// `/identityValidationExpression`, `/authorizerResultTtlInSeconds`,
    /// `/authorizerCredentials`, `/type`.
    pub async fn update_rest_authorizer(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
        req: PatchRequest,
    ) -> GatewayResult<Value> {
        let a = self
            .modify_doc(region, api_id, |api: &mut RestApi| {
                let a = api
                    .authorizers
                    .iter_mut()
                    .find(|a| a.id == id)
                    .ok_or_else(|| missing("Authorizer"))?;
                let mut c = a.clone();
                for op in &req.patch_operations {
                    match op.path.as_str() {
                        "/name" => c.name = patch_value(op)?,
                        "/type" => c.authorizer_type = patch_value(op)?,
                        "/authorizerUri" => c.authorizer_uri = op.value.clone(),
                        "/authorizerCredentials" => c.authorizer_credentials = op.value.clone(),
                        "/identitySource" => c.identity_source = op.value.clone(),
                        "/identityValidationExpression" => {
                            c.identity_validation_expression = op.value.clone();
                        }
                        "/authorizerResultTtlInSeconds" => {
                            c.authorizer_result_ttl_in_seconds = match patch_value(op)?.parse() {
                                Ok(t @ 0..=3600) => t,
                                _ => {
                                    return Err(bad(
                                        "Authorizer result TTL must be between 0 and 3600 seconds",
                                    ));
                                }
                            };
                        }
                        _ => return Err(bad_patch(op)),
                    }
                }
                check_authorizer(&c)?;
                *a = c.clone();
                Ok(c)
            })
            .await?;
        self.caches.forget_authorizer(api_id, id);
        Ok(serde_json::to_value(a).unwrap_or_default())
    }

    /// DeleteAuthorizer (not while a method uses it).
    pub async fn delete_rest_authorizer(
        &self,
        region: &str,
        api_id: &str,
        id: &str,
    ) -> GatewayResult<()> {
        self.modify_doc(region, api_id, |api: &mut RestApi| {
            if !api.authorizers.iter().any(|a| a.id == id) {
                return Err(missing("Authorizer"));
            }
            let used = api.resources.iter().any(|r| {
                r.resource_methods
                    .values()
                    .any(|m| m.authorizer_id.as_deref() == Some(id))
            });
            if used {
                return Err(GatewayError::Conflict(
                    "Cannot delete authorizer, is referenced in method".into(),
                ));
            }
            api.authorizers.retain(|a| a.id != id);
            Ok(())
        })
        .await?;
        self.caches.forget_authorizer(api_id, id);
        Ok(())
    }
}
