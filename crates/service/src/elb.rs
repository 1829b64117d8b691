//! Application Load Balancers (elbv2) for Lambda targets: load balancers
//! with their listeners and rules, target groups of target type `lambda`
//! (`elb/target_groups.rs`), tags, and the data plane's resolution of a
//! request to a rule's action. Each load balancer and each target group is
//! one document in the gateway's document table (`kind` tells them apart),
//! written by compare-and-set on its revision.
//!
//! Operations take and return AWS's shapes as JSON (PascalCase members,
//! lists as arrays); the API turns them to and from the Query protocol.

mod listeners;
pub mod rules;
pub mod target_groups;
pub mod types;

use lambdad_store::GatewayApiRecord;
use rand::Rng;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::context::{Context, blocking, new_revision};
use types::{
    Action, ElbError, ElbResult, FixedResponse, LB_KIND, Listener, LoadBalancer, Rule, TG_KIND,
    Tag, TargetGroup, invalid,
};

/// The elbv2 API version every Query request names (`Version=`).
pub const API_VERSION: &str = "2015-12-01";
/// The service principal a function's policy must allow.
pub const ELB_PRINCIPAL: &str = "elasticloadbalancing.amazonaws.com";
/// The hosted zone id AWS gives ALBs in us-east-1.
const HOSTED_ZONE: &str = "Z35SXDOTRQ7X7K";
/// Highest rule priority.
const MAX_PRIORITY: i64 = 50_000;

/// A string member of a request.
pub(crate) fn text(v: &Value, k: &str) -> Option<String> {
    match &v[k] {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A list-of-strings member of a request.
pub(crate) fn list(v: &Value, k: &str) -> Vec<String> {
    v[k].as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

/// 16 lower-case hex digits, as in load balancer and target group ARNs.
fn hex_id() -> String {
    format!("{:016x}", rand::rng().random::<u64>())
}

fn now() -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

/// A stored elbv2 document.
pub(crate) trait Doc: Serialize + DeserializeOwned {
    const KIND: &'static str;
    const PREFIX: &'static str;
    fn id(&self) -> &str;
}

impl Doc for LoadBalancer {
    const KIND: &'static str = LB_KIND;
    const PREFIX: &'static str = "elb-";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Doc for TargetGroup {
    const KIND: &'static str = TG_KIND;
    const PREFIX: &'static str = "elbtg-";
    fn id(&self) -> &str {
        &self.id
    }
}

/// `Tags` of a request.
pub(crate) fn tags_of(input: &Value) -> Vec<Tag> {
    input["Tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some(Tag {
                key: text(t, "Key")?,
                value: text(t, "Value"),
            })
        })
        .collect()
}

fn check_name(name: &str, what: &str) -> ElbResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && !name.starts_with('-')
        && !name.ends_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok && !(what == "load balancer" && name.starts_with("internal-")) {
        Ok(())
    } else {
        Err(invalid(format!(
            "The {what} name '{name}' is not valid: it must have 1 to 32 alphanumeric characters or hyphens, and must not begin or end with a hyphen"
        )))
    }
}

/// What serves a request to a load balancer.
#[derive(Debug, Clone)]
pub enum Route {
    /// No load balancer, or none with a listener.
    NotFound,
    /// A fixed-response action.
    Fixed(FixedResponse),
    /// A redirect action, with the listener's port (`#{port}`).
    Redirect(types::Redirect, i64),
    /// A forward action to a target group.
    Forward {
        /// The target group.
        target_group: Box<TargetGroup>,
        /// The function and qualifier of its target, if one is registered.
        function: Option<(String, Option<String>)>,
        /// Whether the function's policy lets Elastic Load Balancing invoke
        /// it for the target group.
        allowed: bool,
        /// The listener's port (`X-Forwarded-Port`).
        port: i64,
    },
}

/// The elbv2 service.
#[derive(Clone, Debug)]
pub struct Elb {
    pub(crate) ctx: Context,
    /// The host part of the endpoint (`localhost:9001`).
    domain: String,
}

impl Elb {
    /// The service over `ctx`, naming load balancers under `url_base`.
    pub fn new(ctx: Context, url_base: &str) -> Self {
        let rest = url_base.split_once("://").map_or(url_base, |(_, r)| r);
        Self {
            ctx,
            domain: rest.trim_end_matches('/').to_owned(),
        }
    }

    pub(crate) async fn read<T: Doc>(&self, id: &str) -> ElbResult<Option<(T, String)>> {
        let (store, key) = (self.ctx.store.clone(), format!("{}{id}", T::PREFIX));
        let Some(rec) = blocking(move || store.get_gateway_api(&key)).await? else {
            return Ok(None);
        };
        Ok(Some((parse::<T>(&rec.body)?, rec.revision)))
    }

    pub(crate) async fn all<T: Doc>(&self, region: &str) -> ElbResult<Vec<T>> {
        let store = self.ctx.store.clone();
        let recs = blocking(move || store.list_gateway_apis()).await?;
        let mut out = Vec::new();
        for rec in recs.iter().filter(|r| r.api_id.starts_with(T::PREFIX)) {
            if kind(&rec.body).as_deref() == Some(T::KIND) {
                let doc: T = parse(&rec.body)?;
                let v = serde_json::to_value(&doc).unwrap_or_default();
                if v["region"] == region {
                    out.push(doc);
                }
            }
        }
        Ok(out)
    }

    fn record<T: Doc>(doc: &T) -> ElbResult<GatewayApiRecord> {
        Ok(GatewayApiRecord {
            api_id: format!("{}{}", T::PREFIX, doc.id()),
            revision: new_revision(),
            body: serde_json::to_string(doc).map_err(|e| ElbError::Internal(e.to_string()))?,
        })
    }

    pub(crate) async fn create<T: Doc>(&self, doc: &T) -> ElbResult<()> {
        let (store, rec) = (self.ctx.store.clone(), Self::record(doc)?);
        blocking(move || store.create_gateway_api(&rec)).await?;
        Ok(())
    }

    pub(crate) async fn delete<T: Doc>(&self, id: &str) -> ElbResult<bool> {
        let (store, key) = (self.ctx.store.clone(), format!("{}{id}", T::PREFIX));
        Ok(blocking(move || store.delete_gateway_api(&key)).await?)
    }

    /// Applies `change` to the document `id` (else `missing`) and writes it
    /// back, reading again when another write came first.
    pub(crate) async fn modify<T: Doc, R>(
        &self,
        id: &str,
        missing: fn() -> ElbError,
        mut change: impl FnMut(&mut T) -> ElbResult<R>,
    ) -> ElbResult<R> {
        loop {
            let Some((mut doc, revision)) = self.read::<T>(id).await? else {
                return Err(missing());
            };
            let out = change(&mut doc)?;
            let (store, rec) = (self.ctx.store.clone(), Self::record(&doc)?);
            match blocking(move || store.update_gateway_api(&rec, &revision)).await {
                Ok(()) => return Ok(out),
                Err(e) if e.is_store_revision_mismatch() => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The DNS name of a load balancer: `NAME-ID.REGION.elb.DOMAIN`.
    pub fn dns_name(&self, lb: &LoadBalancer) -> String {
        format!("{}-{}.{}.elb.{}", lb.name, lb.id, lb.region, self.domain)
    }

    fn arn(&self, region: &str, resource: &str) -> String {
        format!(
            "arn:aws:elasticloadbalancing:{region}:{}:{resource}",
            self.ctx.account
        )
    }

    fn lb_json(&self, lb: &LoadBalancer) -> Value {
        let zones: Vec<Value> = lb
            .subnets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let zone = format!("{}{}", lb.region, (b'a' + (i % 6) as u8) as char);
                json!({"ZoneName": zone, "SubnetId": s, "LoadBalancerAddresses": []})
            })
            .collect();
        json!({
            "LoadBalancerArn": lb.arn,
            "DNSName": self.dns_name(lb),
            "CanonicalHostedZoneId": HOSTED_ZONE,
            "CreatedTime": lb.created,
            "LoadBalancerName": lb.name,
            "Scheme": lb.scheme,
            "VpcId": "vpc-lambdad",
            "State": {"Code": "active"},
            "Type": "application",
            "AvailabilityZones": zones,
            "SecurityGroups": lb.security_groups,
            "IpAddressType": lb.ip_address_type,
        })
    }

    /// The load balancer an ARN names (`…:loadbalancer/app/NAME/ID`,
    /// `…:listener/app/NAME/ID/…`, `…:listener-rule/app/NAME/ID/…`).
    async fn lb_of_arn(
        &self,
        region: &str,
        arn: &str,
        missing: fn() -> ElbError,
    ) -> ElbResult<(LoadBalancer, String)> {
        let id = lb_id_of(arn).ok_or_else(missing)?;
        match self.read::<LoadBalancer>(id).await? {
            Some((lb, rev))
                if lb.region == region && arn.contains(&format!("/{}/{id}", lb.name)) =>
            {
                Ok((lb, rev))
            }
            _ => Err(missing()),
        }
    }

    /// CreateLoadBalancer (Type `application`). Creating one with the name
    /// and settings of an existing one returns that one, as on AWS.
    pub async fn create_load_balancer(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let name = text(input, "Name").ok_or_else(|| invalid("Name is required"))?;
        check_name(&name, "load balancer")?;
        let kind = text(input, "Type").unwrap_or_else(|| "application".into());
        if kind != "application" {
            return Err(invalid(format!(
                "Load balancer type '{kind}' is not supported by lambdad: use 'application'"
            )));
        }
        let scheme = text(input, "Scheme").unwrap_or_else(|| "internet-facing".into());
        if scheme != "internet-facing" && scheme != "internal" {
            return Err(invalid(format!("Scheme '{scheme}' is not valid")));
        }
        let ip = text(input, "IpAddressType").unwrap_or_else(|| "ipv4".into());
        let mut subnets = list(input, "Subnets");
        for m in input["SubnetMappings"].as_array().into_iter().flatten() {
            subnets.extend(text(m, "SubnetId"));
        }
        if let Some(same) = self
            .all::<LoadBalancer>(region)
            .await?
            .into_iter()
            .find(|lb| lb.name == name)
        {
            if same.scheme == scheme && same.ip_address_type == ip {
                return Ok(json!({"LoadBalancers": [self.lb_json(&same)]}));
            }
            return Err(ElbError::DuplicateLoadBalancerName(name));
        }
        let id = hex_id();
        let lb = LoadBalancer {
            kind: LB_KIND.into(),
            arn: self.arn(region, &format!("loadbalancer/app/{name}/{id}")),
            id,
            name,
            region: region.to_owned(),
            scheme,
            ip_address_type: ip,
            subnets,
            security_groups: list(input, "SecurityGroups"),
            created: now(),
            listeners: Vec::new(),
            tags: tags_of(input),
        };
        self.create(&lb).await?;
        Ok(json!({"LoadBalancers": [self.lb_json(&lb)]}))
    }

    /// DescribeLoadBalancers, by `LoadBalancerArns` or `Names`, else all.
    pub async fn describe_load_balancers(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let (arns, names) = (list(input, "LoadBalancerArns"), list(input, "Names"));
        let all = self.all::<LoadBalancer>(region).await?;
        let mut out = Vec::new();
        for lb in &all {
            let wanted = (arns.is_empty() && names.is_empty())
                || arns.contains(&lb.arn)
                || names.contains(&lb.name);
            if wanted {
                out.push(self.lb_json(lb));
            }
        }
        if out.len() < arns.len() + names.len() {
            return Err(ElbError::LoadBalancerNotFound);
        }
        Ok(json!({"LoadBalancers": out}))
    }

    /// DeleteLoadBalancer (with its listeners and rules); an unknown one is
    /// no error, as on AWS.
    pub async fn delete_load_balancer(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn =
            text(input, "LoadBalancerArn").ok_or_else(|| invalid("LoadBalancerArn is required"))?;
        if let Ok((lb, _)) = self
            .lb_of_arn(region, &arn, || ElbError::LoadBalancerNotFound)
            .await
        {
            self.delete::<LoadBalancer>(&lb.id).await?;
        }
        Ok(json!({}))
    }

    fn listener_json(lb: &LoadBalancer, l: &Listener) -> Value {
        let default = l.rules.iter().find(|r| r.priority.is_none());
        let actions: Vec<Value> = default
            .map(|r| r.actions.iter().map(rules::action_json).collect())
            .unwrap_or_default();
        json!({
            "ListenerArn": l.arn,
            "LoadBalancerArn": lb.arn,
            "Port": l.port,
            "Protocol": l.protocol,
            "DefaultActions": actions,
        })
    }

    /// Every forward action's target group must exist in `region`.
    async fn check_actions(&self, region: &str, actions: &[Action]) -> ElbResult<()> {
        for tg in actions.iter().filter_map(|a| a.target_group_arn.as_deref()) {
            self.target_group_of_arn(region, tg).await?;
        }
        Ok(())
    }

    /// CreateListener (HTTP or HTTPS, a port, default actions).
    pub async fn create_listener(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn =
            text(input, "LoadBalancerArn").ok_or_else(|| invalid("LoadBalancerArn is required"))?;
        let protocol = text(input, "Protocol").unwrap_or_else(|| "HTTP".into());
        if protocol != "HTTP" && protocol != "HTTPS" {
            return Err(invalid(format!(
                "Listener protocol '{protocol}' must be one of 'HTTPS, HTTP'"
            )));
        }
        let port = input["Port"]
            .as_i64()
            .unwrap_or(if protocol == "HTTP" { 80 } else { 443 });
        if !(1..=65_535).contains(&port) {
            return Err(invalid(format!(
                "1 validation error detected: Value '{port}' at 'port' failed to satisfy constraint: Member must have value less than or equal to 65535"
            )));
        }
        let actions = rules::actions_of(input, "DefaultActions")?;
        self.check_actions(region, &actions).await?;
        let (lb, _) = self
            .lb_of_arn(region, &arn, || ElbError::LoadBalancerNotFound)
            .await?;
        let (lid, rid) = (hex_id(), hex_id());
        let path = format!("app/{}/{}/{lid}", lb.name, lb.id);
        let listener = Listener {
            arn: self.arn(region, &format!("listener/{path}")),
            port,
            protocol,
            rules: vec![Rule {
                arn: self.arn(region, &format!("listener-rule/{path}/{rid}")),
                priority: None,
                conditions: Vec::new(),
                actions,
                tags: Vec::new(),
            }],
            tags: tags_of(input),
        };
        let l = listener.clone();
        let lb = self
            .modify::<LoadBalancer, _>(
                &lb.id,
                || ElbError::LoadBalancerNotFound,
                move |lb| {
                    if lb.listeners.iter().any(|x| x.port == l.port) {
                        return Err(ElbError::DuplicateListener(lb.arn.clone()));
                    }
                    lb.listeners.push(l.clone());
                    Ok(lb.clone())
                },
            )
            .await?;
        Ok(json!({"Listeners": [Self::listener_json(&lb, &listener)]}))
    }

    /// DescribeListeners, by `LoadBalancerArn` or `ListenerArns`.
    pub async fn describe_listeners(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arns = list(input, "ListenerArns");
        let mut out = Vec::new();
        if let Some(arn) = text(input, "LoadBalancerArn") {
            let (lb, _) = self
                .lb_of_arn(region, &arn, || ElbError::LoadBalancerNotFound)
                .await?;
            out.extend(lb.listeners.iter().map(|l| Self::listener_json(&lb, l)));
        } else if arns.is_empty() {
            return Err(invalid(
                "You must specify either listener ARNs or a load balancer ARN",
            ));
        }
        for arn in &arns {
            let (lb, _) = self
                .lb_of_arn(region, arn, || ElbError::ListenerNotFound)
                .await?;
            let l = lb.listeners.iter().find(|l| &l.arn == arn);
            out.push(Self::listener_json(
                &lb,
                l.ok_or(ElbError::ListenerNotFound)?,
            ));
        }
        Ok(json!({"Listeners": out}))
    }

    /// DeleteListener.
    pub async fn delete_listener(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn = text(input, "ListenerArn").ok_or_else(|| invalid("ListenerArn is required"))?;
        let (lb, _) = self
            .lb_of_arn(region, &arn, || ElbError::ListenerNotFound)
            .await?;
        self.modify::<LoadBalancer, _>(
            &lb.id,
            || ElbError::ListenerNotFound,
            |lb| {
                let before = lb.listeners.len();
                lb.listeners.retain(|l| l.arn != arn);
                if lb.listeners.len() == before {
                    return Err(ElbError::ListenerNotFound);
                }
                Ok(())
            },
        )
        .await?;
        Ok(json!({}))
    }

    /// CreateRule: a priority (1–50000, unique on the listener), conditions, actions.
    pub async fn create_rule(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn = text(input, "ListenerArn").ok_or_else(|| invalid("ListenerArn is required"))?;
        let priority = priority_of(&input["Priority"])?;
        let conditions = rules::conditions_of(input)?;
        if conditions.is_empty() {
            return Err(invalid("A rule must have at least one condition"));
        }
        let actions = rules::actions_of(input, "Actions")?;
        self.check_actions(region, &actions).await?;
        let (lb, _) = self
            .lb_of_arn(region, &arn, || ElbError::ListenerNotFound)
            .await?;
        let tail = arn
            .split_once(":listener/")
            .map(|(_, t)| t.to_owned())
            .unwrap_or_default();
        let rule = Rule {
            arn: self.arn(region, &format!("listener-rule/{tail}/{}", hex_id())),
            priority: Some(priority),
            conditions,
            actions,
            tags: tags_of(input),
        };
        let r = rule.clone();
        self.modify::<LoadBalancer, _>(
            &lb.id,
            || ElbError::ListenerNotFound,
            move |lb| {
                let l = lb
                    .listeners
                    .iter_mut()
                    .find(|l| l.arn == arn)
                    .ok_or(ElbError::ListenerNotFound)?;
                if l.rules.iter().any(|x| x.priority == Some(priority)) {
                    return Err(ElbError::PriorityInUse(priority));
                }
                l.rules.push(r.clone());
                Ok(())
            },
        )
        .await?;
        Ok(json!({"Rules": [rules::rule_json(&rule)]}))
    }

    /// DescribeRules, by `ListenerArn` or `RuleArns`.
    pub async fn describe_rules(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arns = list(input, "RuleArns");
        let mut out = Vec::new();
        if let Some(arn) = text(input, "ListenerArn") {
            let (lb, _) = self
                .lb_of_arn(region, &arn, || ElbError::ListenerNotFound)
                .await?;
            let l = lb
                .listeners
                .iter()
                .find(|l| l.arn == arn)
                .ok_or(ElbError::ListenerNotFound)?;
            let mut rs: Vec<&Rule> = l.rules.iter().collect();
            rs.sort_by_key(|r| r.priority.unwrap_or(i64::MAX));
            out.extend(rs.into_iter().map(rules::rule_json));
        } else if arns.is_empty() {
            return Err(invalid("You must specify either listener ARN or rule ARNs"));
        }
        for arn in &arns {
            let (lb, _) = self
                .lb_of_arn(region, arn, || ElbError::RuleNotFound)
                .await?;
            let r = lb
                .listeners
                .iter()
                .flat_map(|l| &l.rules)
                .find(|r| &r.arn == arn);
            out.push(rules::rule_json(r.ok_or(ElbError::RuleNotFound)?));
        }
        Ok(json!({"Rules": out}))
    }

    /// ModifyRule: new conditions and/or actions.
    pub async fn modify_rule(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn = text(input, "RuleArn").ok_or_else(|| invalid("RuleArn is required"))?;
        let conditions = match input.get("Conditions") {
            Some(_) => Some(rules::conditions_of(input)?),
            None => None,
        };
        let actions = match input.get("Actions") {
            Some(_) => Some(rules::actions_of(input, "Actions")?),
            None => None,
        };
        if let Some(a) = &actions {
            self.check_actions(region, a).await?;
        }
        let (lb, _) = self
            .lb_of_arn(region, &arn, || ElbError::RuleNotFound)
            .await?;
        let rule = self
            .modify::<LoadBalancer, _>(
                &lb.id,
                || ElbError::RuleNotFound,
                |lb| {
                    let r = rule_mut(lb, &arn)?;
                    if let Some(c) = &conditions {
                        if r.priority.is_none() {
                            return Err(ElbError::InvalidConfiguration(
                                "The default rule's conditions cannot be modified".into(),
                            ));
                        }
                        r.conditions = c.clone();
                    }
                    if let Some(a) = &actions {
                        r.actions = a.clone();
                    }
                    Ok(r.clone())
                },
            )
            .await?;
        Ok(json!({"Rules": [rules::rule_json(&rule)]}))
    }

    /// DeleteRule (not the default rule).
    pub async fn delete_rule(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn = text(input, "RuleArn").ok_or_else(|| invalid("RuleArn is required"))?;
        let (lb, _) = self
            .lb_of_arn(region, &arn, || ElbError::RuleNotFound)
            .await?;
        self.modify::<LoadBalancer, _>(
            &lb.id,
            || ElbError::RuleNotFound,
            |lb| {
                if rule_mut(lb, &arn)?.priority.is_none() {
                    return Err(ElbError::InvalidConfiguration(
                        "Cannot delete a default rule".into(),
                    ));
                }
                for l in &mut lb.listeners {
                    l.rules.retain(|r| r.arn != arn);
                }
                Ok(())
            },
        )
        .await?;
        Ok(json!({}))
    }

    /// SetRulePriorities: new priorities for rules of one listener, unique
    /// after the change.
    pub async fn set_rule_priorities(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let mut wanted = Vec::new();
        for p in input["RulePriorities"].as_array().into_iter().flatten() {
            let arn = text(p, "RuleArn").ok_or_else(|| invalid("RuleArn is required"))?;
            wanted.push((arn, priority_of(&p["Priority"])?));
        }
        let Some((first, _)) = wanted.first() else {
            return Err(invalid("RulePriorities cannot be empty"));
        };
        let (lb, _) = self
            .lb_of_arn(region, first, || ElbError::RuleNotFound)
            .await?;
        let changed = self
            .modify::<LoadBalancer, _>(
                &lb.id,
                || ElbError::RuleNotFound,
                |lb| {
                    let mut out = Vec::new();
                    for (arn, p) in &wanted {
                        let r = rule_mut(lb, arn)?;
                        if r.priority.is_none() {
                            return Err(ElbError::InvalidConfiguration(
                                "The default rule's priority cannot be changed".into(),
                            ));
                        }
                        r.priority = Some(*p);
                    }
                    for l in &lb.listeners {
                        let mut seen = std::collections::BTreeSet::new();
                        for p in l.rules.iter().filter_map(|r| r.priority) {
                            if !seen.insert(p) {
                                return Err(ElbError::PriorityInUse(p));
                            }
                        }
                        for r in &l.rules {
                            if wanted.iter().any(|(a, _)| *a == r.arn) {
                                out.push(rules::rule_json(r));
                            }
                        }
                    }
                    Ok(out)
                },
            )
            .await?;
        Ok(json!({"Rules": changed}))
    }
}

/// The load balancer id of an elbv2 ARN.
fn lb_id_of(arn: &str) -> Option<&str> {
    let (_, rest) = arn.split_once(':').filter(|(h, _)| *h == "arn")?;
    let resource = rest.splitn(5, ':').nth(4)?;
    let mut parts = resource.split('/');
    let kind = parts.next()?;
    if !matches!(kind, "loadbalancer" | "listener" | "listener-rule") || parts.next()? != "app" {
        return None;
    }
    parts.next()?;
    parts.next()
}

fn rule_mut<'l>(lb: &'l mut LoadBalancer, arn: &str) -> ElbResult<&'l mut Rule> {
    lb.listeners
        .iter_mut()
        .flat_map(|l| l.rules.iter_mut())
        .find(|r| r.arn == arn)
        .ok_or(ElbError::RuleNotFound)
}

fn priority_of(v: &Value) -> ElbResult<i64> {
    let p = match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        Value::Null => return Err(invalid("Priority is required")),
        _ => None,
    };
    match p {
        Some(p @ 1..=MAX_PRIORITY) => Ok(p),
        _ => Err(invalid(format!(
            "1 validation error detected: Value '{v}' at 'priority' failed to satisfy constraint: Member must have value between 1 and {MAX_PRIORITY}"
        ))),
    }
}

fn kind(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Kind {
        kind: Option<String>,
    }
    serde_json::from_str::<Kind>(body).ok()?.kind
}

fn parse<T: DeserializeOwned>(body: &str) -> ElbResult<T> {
    serde_json::from_str(body)
        .map_err(|e| ElbError::Internal(format!("corrupt elbv2 document: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_their_load_balancer() {
        let lb = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/web/50dc6c495c0c9188";
        let l = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2";
        let r = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
        for arn in [lb, l, r] {
            assert_eq!(lb_id_of(arn), Some("50dc6c495c0c9188"));
        }
        assert_eq!(
            lb_id_of("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t/1"),
            None
        );
        assert_eq!(lb_id_of("nonsense"), None);
    }

    #[test]
    fn priorities_are_1_to_50000() {
        assert_eq!(priority_of(&json!("10")).unwrap(), 10);
        assert_eq!(priority_of(&json!(50_000)).unwrap(), 50_000);
        for bad in [json!("0"), json!("50001"), json!("x"), Value::Null] {
            assert!(priority_of(&bad).is_err());
        }
    }
}
