//! Target groups of target type `lambda`: their health-check settings and
//! attributes, the one function each may hold (registered only when the
//! function's policy lets Elastic Load Balancing invoke it for the target
//! group, as AWS checks), and the tags of every elbv2 resource.

use std::collections::BTreeMap;

use lambdad_model::arn::parse_function_ref;
use lambdad_model::policy;
use serde_json::{Value, json};

use super::types::{ElbError, ElbResult, LoadBalancer, TG_KIND, Tag, TargetGroup, invalid};
use super::{ELB_PRINCIPAL, Elb, Route, check_name, hex_id, list, tags_of, text};
use crate::context::blocking;

/// The attribute that turns on multi-value headers.
pub const MULTI_VALUE: &str = "lambda.multi_value_headers.enabled";

/// The health-check settings of a Lambda target group and their defaults.
const HEALTH_CHECK: &[(&str, &str)] = &[
    ("HealthCheckEnabled", "false"),
    ("HealthCheckIntervalSeconds", "35"),
    ("HealthCheckTimeoutSeconds", "30"),
    ("HealthyThresholdCount", "5"),
    ("UnhealthyThresholdCount", "2"),
    ("HealthCheckPath", "/"),
];

/// Checks a health-check setting against elbv2's ranges.
fn check_health(key: &str, value: &str) -> ElbResult<()> {
    let range = match key {
        "HealthCheckIntervalSeconds" => Some((5, 300)),
        "HealthCheckTimeoutSeconds" => Some((2, 120)),
        "HealthyThresholdCount" | "UnhealthyThresholdCount" => Some((2, 10)),
        _ => None,
    };
    if let Some((lo, hi)) = range
        && !value.parse::<i64>().is_ok_and(|n| (lo..=hi).contains(&n))
    {
        return Err(invalid(format!(
            "1 validation error detected: Value '{value}' at '{key}' failed to satisfy constraint: Member must have value between {lo} and {hi}"
        )));
    }
    if key == "HealthCheckEnabled" && value != "true" && value != "false" {
        return Err(invalid(format!("{key} must be true or false")));
    }
    Ok(())
}

fn target_group_arn_id(arn: &str) -> Option<&str> {
    let (_, resource) = arn.split_once(":targetgroup/")?;
    resource.split('/').nth(1)
}

impl Elb {
    /// The target group `arn` names in `region`.
    pub(crate) async fn target_group_of_arn(
        &self,
        region: &str,
        arn: &str,
    ) -> ElbResult<TargetGroup> {
        let id = target_group_arn_id(arn).ok_or(ElbError::TargetGroupNotFound)?;
        match self.read::<TargetGroup>(id).await? {
            Some((tg, _)) if tg.region == region && tg.arn == arn => Ok(tg),
            _ => Err(ElbError::TargetGroupNotFound),
        }
    }

    async fn users_of(&self, region: &str, tg: &str) -> ElbResult<Vec<String>> {
        let lbs = self.all::<LoadBalancer>(region).await?;
        Ok(lbs
            .into_iter()
            .filter(|lb| {
                lb.listeners
                    .iter()
                    .flat_map(|l| &l.rules)
                    .flat_map(|r| &r.actions)
                    .any(|a| a.target_group_arn.as_deref() == Some(tg))
            })
            .map(|lb| lb.arn)
            .collect())
    }

    async fn tg_json(&self, tg: &TargetGroup) -> ElbResult<Value> {
        let mut out = json!({
            "TargetGroupArn": tg.arn,
            "TargetGroupName": tg.name,
            "TargetType": tg.target_type,
            "Matcher": {"HttpCode": tg.health_check.get("Matcher").cloned().unwrap_or_else(|| "200".into())},
            "LoadBalancerArns": self.users_of(&tg.region, &tg.arn).await?,
        });
        for (k, default) in HEALTH_CHECK {
            let v = tg.health_check.get(*k).map_or(*default, String::as_str);
            out[*k] = match v.parse::<i64>() {
                Ok(n) => json!(n),
                Err(_) if *k == "HealthCheckEnabled" => json!(v == "true"),
                Err(_) => json!(v),
            };
        }
        Ok(out)
    }

    /// CreateTargetGroup with `TargetType` `lambda` (health-check settings
    /// kept and reported). The name and settings of an existing one return it.
    pub async fn create_target_group(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let name = text(input, "Name").ok_or_else(|| invalid("Name is required"))?;
        check_name(&name, "target group")?;
        let target_type = text(input, "TargetType").unwrap_or_else(|| "instance".into());
        if target_type != "lambda" {
            return Err(invalid(format!(
                "Target type '{target_type}' is not supported by lambdad: target groups take Lambda functions (TargetType 'lambda')"
            )));
        }
        if input.get("Protocol").is_some() || input.get("Port").is_some() {
            return Err(invalid(
                "A protocol and port cannot be specified for target groups with target type 'lambda'",
            ));
        }
        let mut health_check = BTreeMap::new();
        for (k, _) in HEALTH_CHECK {
            if let Some(v) = text(input, k) {
                check_health(k, &v)?;
                health_check.insert((*k).to_owned(), v);
            }
        }
        if let Some(code) = text(&input["Matcher"], "HttpCode") {
            health_check.insert("Matcher".into(), code);
        }
        let existing = self.all::<TargetGroup>(region).await?;
        if let Some(same) = existing.into_iter().find(|t| t.name == name) {
            if same.health_check == health_check {
                return Ok(json!({"TargetGroups": [self.tg_json(&same).await?]}));
            }
            return Err(ElbError::DuplicateTargetGroupName(name));
        }
        let id = hex_id();
        let tg = TargetGroup {
            kind: TG_KIND.into(),
            arn: format!(
                "arn:aws:elasticloadbalancing:{region}:{}:targetgroup/{name}/{id}",
                self.ctx.account
            ),
            id,
            name,
            region: region.to_owned(),
            target_type,
            health_check,
            attributes: BTreeMap::from([(MULTI_VALUE.to_owned(), "false".to_owned())]),
            targets: Vec::new(),
            tags: tags_of(input),
        };
        self.create(&tg).await?;
        Ok(json!({"TargetGroups": [self.tg_json(&tg).await?]}))
    }

    /// ModifyTargetGroup: the health-check settings given replace the
    /// target group's (the others stay).
    pub async fn modify_target_group(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn =
            text(input, "TargetGroupArn").ok_or_else(|| invalid("TargetGroupArn is required"))?;
        let mut changes = Vec::new();
        for (k, _) in HEALTH_CHECK {
            if let Some(v) = text(input, k) {
                check_health(k, &v)?;
                changes.push(((*k).to_owned(), v));
            }
        }
        if let Some(code) = text(&input["Matcher"], "HttpCode") {
            changes.push(("Matcher".into(), code));
        }
        let tg = self.target_group_of_arn(region, &arn).await?;
        let tg = self
            .modify::<TargetGroup, _>(
                &tg.id,
                || ElbError::TargetGroupNotFound,
                |tg| {
                    tg.health_check.extend(changes.iter().cloned());
                    Ok(tg.clone())
                },
            )
            .await?;
        Ok(json!({"TargetGroups": [self.tg_json(&tg).await?]}))
    }

    /// DescribeTargetGroups, by `TargetGroupArns`, `Names` or `LoadBalancerArn`.
    pub async fn describe_target_groups(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let (arns, names) = (list(input, "TargetGroupArns"), list(input, "Names"));
        let lb = text(input, "LoadBalancerArn");
        let mut out = Vec::new();
        for tg in self.all::<TargetGroup>(region).await? {
            let json = self.tg_json(&tg).await?;
            let by_lb = lb.as_ref().is_none_or(|lb| {
                json["LoadBalancerArns"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == lb))
            });
            let named = (arns.is_empty() && names.is_empty())
                || arns.contains(&tg.arn)
                || names.contains(&tg.name);
            if by_lb && named {
                out.push(json);
            }
        }
        if out.len() < arns.len() + names.len() {
            return Err(ElbError::TargetGroupNotFound);
        }
        Ok(json!({"TargetGroups": out}))
    }

    /// DeleteTargetGroup: not while a listener or rule forwards to it.
    pub async fn delete_target_group(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn =
            text(input, "TargetGroupArn").ok_or_else(|| invalid("TargetGroupArn is required"))?;
        let Ok(tg) = self.target_group_of_arn(region, &arn).await else {
            return Ok(json!({}));
        };
        if !self.users_of(region, &arn).await?.is_empty() {
            return Err(ElbError::ResourceInUse(format!(
                "Target group '{arn}' is currently in use by a listener or a rule"
            )));
        }
        self.delete::<TargetGroup>(&tg.id).await?;
        Ok(json!({}))
    }

    fn attributes_json(tg: &TargetGroup) -> Value {
        let a: Vec<Value> = tg
            .attributes
            .iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect();
        json!({"Attributes": a})
    }

    /// DescribeTargetGroupAttributes.
    pub async fn describe_target_group_attributes(
        &self,
        region: &str,
        input: &Value,
    ) -> ElbResult<Value> {
        let arn =
            text(input, "TargetGroupArn").ok_or_else(|| invalid("TargetGroupArn is required"))?;
        Ok(Self::attributes_json(
            &self.target_group_of_arn(region, &arn).await?,
        ))
    }

    /// ModifyTargetGroupAttributes (`lambda.multi_value_headers.enabled`).
    pub async fn modify_target_group_attributes(
        &self,
        region: &str,
        input: &Value,
    ) -> ElbResult<Value> {
        let arn =
            text(input, "TargetGroupArn").ok_or_else(|| invalid("TargetGroupArn is required"))?;
        let mut changes = Vec::new();
        for a in input["Attributes"].as_array().into_iter().flatten() {
            let key = text(a, "Key").unwrap_or_default();
            let value = text(a, "Value").unwrap_or_default();
            if key != MULTI_VALUE {
                return Err(invalid(format!(
                    "Target group attribute key '{key}' is not recognized"
                )));
            }
            if value != "true" && value != "false" {
                return Err(invalid(format!(
                    "Target group attribute key '{key}' must have a value of 'true' or 'false'"
                )));
            }
            changes.push((key, value));
        }
        let tg = self.target_group_of_arn(region, &arn).await?;
        let tg = self
            .modify::<TargetGroup, _>(
                &tg.id,
                || ElbError::TargetGroupNotFound,
                |tg| {
                    tg.attributes.extend(changes.iter().cloned());
                    Ok(tg.clone())
                },
            )
            .await?;
        Ok(Self::attributes_json(&tg))
    }

    /// Whether the function's resource policy lets Elastic Load Balancing
    /// invoke it for `target_group`.
    pub(crate) async fn may_invoke(
        &self,
        (name, qualifier): &(String, Option<String>),
        target_group: &str,
    ) -> ElbResult<bool> {
        let key = qualifier.clone().unwrap_or_else(|| "$LATEST".into());
        let (store, f) = (self.ctx.store.clone(), name.clone());
        let statements = match blocking(move || store.get_policy(&f, &key)).await? {
            Some(p) => serde_json::from_str::<Vec<Value>>(&p.statements)
                .map_err(|e| ElbError::Internal(format!("corrupt policy: {e}")))?,
            None => Vec::new(),
        };
        Ok(policy::allows_service(
            &statements,
            ELB_PRINCIPAL,
            "lambda:InvokeFunction",
            target_group,
            &self.ctx.account,
        ))
    }

    fn targets_of(input: &Value) -> ElbResult<Vec<String>> {
        let ids: Vec<String> = input["Targets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| text(t, "Id"))
            .collect();
        if ids.is_empty() {
            return Err(invalid("Targets cannot be empty"));
        }
        Ok(ids)
    }

    /// RegisterTargets: one function ARN (or alias or version ARN), which
    /// the function's policy must let Elastic Load Balancing invoke.
    pub async fn register_targets(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn =
            text(input, "TargetGroupArn").ok_or_else(|| invalid("TargetGroupArn is required"))?;
        let ids = Self::targets_of(input)?;
        let tg = self.target_group_of_arn(region, &arn).await?;
        if ids.len() > 1 || tg.targets.iter().any(|t| t != &ids[0]) {
            return Err(ElbError::TargetGroupAssociationLimit(
                "You cannot register more than one Lambda function in a target group".into(),
            ));
        }
        let id = &ids[0];
        let function = function_of(id).ok_or_else(|| {
            ElbError::InvalidTarget(format!(
                "The following targets are not valid Lambda function ARNs: {id}"
            ))
        })?;
        if !self.may_invoke(&function, &arn).await? {
            return Err(ElbError::AccessDenied {
                function: id.clone(),
                target_group: arn,
            });
        }
        let id = id.clone();
        self.modify::<TargetGroup, _>(
            &tg.id,
            || ElbError::TargetGroupNotFound,
            move |tg| {
                if !tg.targets.contains(&id) {
                    tg.targets.push(id.clone());
                }
                Ok(())
            },
        )
        .await?;
        Ok(json!({}))
    }

    /// DeregisterTargets.
    pub async fn deregister_targets(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn =
            text(input, "TargetGroupArn").ok_or_else(|| invalid("TargetGroupArn is required"))?;
        let ids = Self::targets_of(input)?;
        let tg = self.target_group_of_arn(region, &arn).await?;
        self.modify::<TargetGroup, _>(
            &tg.id,
            || ElbError::TargetGroupNotFound,
            |tg| {
                if let Some(id) = ids.iter().find(|i| !tg.targets.contains(i)) {
                    return Err(ElbError::InvalidTarget(format!(
                        "The following targets are not registered in target group '{arn}': '{id}'"
                    )));
                }
                tg.targets.retain(|t| !ids.contains(t));
                Ok(())
            },
        )
        .await?;
        Ok(json!({}))
    }

    /// DescribeTargetHealth: `unused` when no load balancer forwards to the
    /// group; `unavailable` when health checks are disabled; else `healthy`.
    pub async fn describe_target_health(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn =
            text(input, "TargetGroupArn").ok_or_else(|| invalid("TargetGroupArn is required"))?;
        let tg = self.target_group_of_arn(region, &arn).await?;
        let used = !self.users_of(region, &arn).await?.is_empty();
        let enabled = tg
            .health_check
            .get("HealthCheckEnabled")
            .is_some_and(|v| v == "true");
        let health = match (used, enabled) {
            (false, _) => json!({"State": "unused", "Reason": "Target.NotInUse",
                "Description": "Target group is not configured to receive traffic from the load balancer"}),
            (true, false) => json!({"State": "unavailable", "Reason": "Target.HealthCheckDisabled",
                "Description": "Health checks disabled"}),
            (true, true) => json!({"State": "healthy"}),
        };
        let out: Vec<Value> = tg
            .targets
            .iter()
            .map(|t| json!({"Target": {"Id": t}, "TargetHealth": health}))
            .collect();
        Ok(json!({"TargetHealthDescriptions": out}))
    }

    /// The target group a forward action names, its function and whether
    /// the function's policy lets Elastic Load Balancing invoke it.
    pub(crate) async fn forward(&self, region: &str, arn: &str, port: i64) -> ElbResult<Route> {
        let tg = match self.target_group_of_arn(region, arn).await {
            Ok(tg) => tg,
            Err(ElbError::TargetGroupNotFound) => return Ok(Route::NotFound),
            Err(e) => return Err(e),
        };
        let function = tg.targets.first().and_then(|t| function_of(t));
        let allowed = match &function {
            Some(f) => self.may_invoke(f, arn).await?,
            None => false,
        };
        Ok(Route::Forward {
            target_group: Box::new(tg),
            function,
            allowed,
            port,
        })
    }

    /// AddTags to load balancers, target groups, listeners or rules.
    pub async fn add_tags(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let tags = tags_of(input);
        for arn in list(input, "ResourceArns") {
            self.with_tags(region, &arn, |t| {
                for tag in &tags {
                    t.retain(|x| x.key != tag.key);
                    t.push(tag.clone());
                }
            })
            .await?;
        }
        Ok(json!({}))
    }

    /// RemoveTags.
    pub async fn remove_tags(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let keys = list(input, "TagKeys");
        for arn in list(input, "ResourceArns") {
            self.with_tags(region, &arn, |t| t.retain(|x| !keys.contains(&x.key)))
                .await?;
        }
        Ok(json!({}))
    }

    /// DescribeTags.
    pub async fn describe_tags(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let mut out = Vec::new();
        for arn in list(input, "ResourceArns") {
            let mut tags = Vec::new();
            self.with_tags(region, &arn, |t| tags = t.clone()).await?;
            let tags: Vec<Value> = tags
                .iter()
                .map(|t| json!({"Key": t.key, "Value": t.value.clone().unwrap_or_default()}))
                .collect();
            out.push(json!({"ResourceArn": arn, "Tags": tags}));
        }
        Ok(json!({"TagDescriptions": out}))
    }

    /// Applies `change` to the tags of the resource `arn` names.
    async fn with_tags(
        &self,
        region: &str,
        arn: &str,
        mut change: impl FnMut(&mut Vec<Tag>),
    ) -> ElbResult<()> {
        if arn.contains(":targetgroup/") {
            let tg = self.target_group_of_arn(region, arn).await?;
            return self
                .modify::<TargetGroup, _>(
                    &tg.id,
                    || ElbError::TargetGroupNotFound,
                    |tg| {
                        change(&mut tg.tags);
                        Ok(())
                    },
                )
                .await;
        }
        let missing = if arn.contains(":listener-rule/") {
            || ElbError::RuleNotFound
        } else if arn.contains(":listener/") {
            || ElbError::ListenerNotFound
        } else {
            || ElbError::LoadBalancerNotFound
        };
        let (lb, _) = self.lb_of_arn(region, arn, missing).await?;
        self.modify::<LoadBalancer, _>(&lb.id, missing, |lb| {
            if lb.arn == arn {
                change(&mut lb.tags);
                return Ok(());
            }
            for l in &mut lb.listeners {
                if l.arn == arn {
                    change(&mut l.tags);
                    return Ok(());
                }
                if let Some(r) = l.rules.iter_mut().find(|r| r.arn == arn) {
                    change(&mut r.tags);
                    return Ok(());
                }
            }
            Err(missing())
        })
        .await
    }
}

/// The function and qualifier a Lambda target's ARN names.
fn function_of(arn: &str) -> Option<(String, Option<String>)> {
    if !arn.starts_with("arn:aws:lambda:") {
        return None;
    }
    let r = parse_function_ref(arn)?;
    Some((r.name, r.qualifier))
}
