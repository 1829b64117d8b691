//! Listeners: ModifyListener (a listener's port, protocol and default
//! actions change in place; its rules stay) and the data plane's choice of
//! the listener and rule that serve a request.

use serde_json::{Value, json};

use super::types::{Action, ElbError, ElbResult, Listener, LoadBalancer, invalid};
use super::{Elb, Route, rules, text};

impl Elb {
    /// ModifyListener (`Port`, `Protocol`, `DefaultActions`).
    pub async fn modify_listener(&self, region: &str, input: &Value) -> ElbResult<Value> {
        let arn = text(input, "ListenerArn").ok_or_else(|| invalid("ListenerArn is required"))?;
        let protocol = text(input, "Protocol");
        if let Some(p) = &protocol
            && p != "HTTP"
            && p != "HTTPS"
        {
            return Err(invalid(format!(
                "Listener protocol '{p}' must be one of 'HTTPS, HTTP'"
            )));
        }
        let port = input["Port"].as_i64();
        if let Some(p) = port
            && !(1..=65_535).contains(&p)
        {
            return Err(invalid(format!(
                "1 validation error detected: Value '{p}' at 'port' failed to satisfy constraint: Member must have value less than or equal to 65535"
            )));
        }
        let actions = match input.get("DefaultActions") {
            Some(_) => Some(rules::actions_of(input, "DefaultActions")?),
            None => None,
        };
        if let Some(a) = &actions {
            self.check_actions(region, a).await?;
        }
        let (lb, _) = self
            .lb_of_arn(region, &arn, || ElbError::ListenerNotFound)
            .await?;
        let (lb, index) = self
            .modify::<LoadBalancer, _>(
                &lb.id,
                || ElbError::ListenerNotFound,
                |lb| {
                    let index = lb
                        .listeners
                        .iter()
                        .position(|l| l.arn == arn)
                        .ok_or(ElbError::ListenerNotFound)?;
                    if let Some(p) = port
                        && lb.listeners.iter().any(|l| l.port == p && l.arn != arn)
                    {
                        return Err(ElbError::DuplicateListener(lb.arn.clone()));
                    }
                    let l = &mut lb.listeners[index];
                    if let Some(p) = port {
                        l.port = p;
                    }
                    if let Some(p) = &protocol {
                        l.protocol = p.clone();
                    }
                    if let Some(a) = &actions
                        && let Some(default) = l.rules.iter_mut().find(|r| r.priority.is_none())
                    {
                        default.actions = a.clone();
                    }
                    Ok((lb.clone(), index))
                },
            )
            .await?;
        Ok(json!({"Listeners": [Self::listener_json(&lb, &lb.listeners[index])]}))
    }

    /// The load balancer a data-plane Host names (`NAME-ID.REGION.elb.…`)
    /// and the action of the rule that serves the request on its listener:
    /// the one whose port the Host names, else the lowest (every listener
    /// is served on lambdad's one port, told apart by the Host's port).
    pub async fn resolve(
        &self,
        region: &str,
        host_label: &str,
        facts: &rules::RequestFacts<'_>,
    ) -> ElbResult<Route> {
        let Some((name, id)) = host_label.rsplit_once('-') else {
            return Ok(Route::NotFound);
        };
        let lb = match self.read::<LoadBalancer>(id).await? {
            Some((lb, _)) if lb.region == region && lb.name.eq_ignore_ascii_case(name) => lb,
            _ => return Ok(Route::NotFound),
        };
        let mut listeners: Vec<&Listener> = lb.listeners.iter().collect();
        listeners.sort_by_key(|l| l.port);
        let named = listeners
            .iter()
            .find(|l| facts.port.is_some_and(|p| i64::from(p) == l.port));
        let Some(listener) = named.or(listeners.first()) else {
            return Ok(Route::NotFound);
        };
        let Some(rule) = rules::select(&listener.rules, facts) else {
            return Ok(Route::NotFound);
        };
        let mut actions: Vec<&Action> = rule.actions.iter().collect();
        actions.sort_by_key(|a| a.order.unwrap_or(i64::MAX));
        match actions.first() {
            Some(Action { fixed: Some(f), .. }) => Ok(Route::Fixed(f.clone())),
            Some(Action {
                redirect: Some(r), ..
            }) => Ok(Route::Redirect(r.clone(), listener.port)),
            Some(Action {
                target_group_arn: Some(tg),
                ..
            }) => self.forward(region, tg, listener.port).await,
            _ => Ok(Route::NotFound),
        }
    }
}
