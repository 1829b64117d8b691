//! The elbv2 control plane (Application Load Balancers) on AWS's Query
//! protocol: a form-encoded `Action=…&Version=2015-12-01` body posted to
//! `/` (signed with the `elasticloadbalancing` SigV4 scope), answered in
//! XML. The form becomes the JSON shape the `Elb` service takes
//! (`A.member.N.B` → `{"A": [{"B": …}]}`); its JSON answer is written
//! back as XML (lists as `member` elements).

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambdad_service::elb::API_VERSION as VERSION;
use lambdad_service::elb::types::{ElbError, ElbResult};
use serde_json::{Map, Value};

use super::AppState;
use super::middleware::RequestContext;
use super::sqs_query::escape;

const XMLNS: &str = "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/";
/// Members that are integers in elbv2's shapes.
const INTEGERS: &[&str] = &["Port", "Order", "Weight", "PageSize"];

/// Whether a Query form or its signature names elbv2.
pub(crate) fn is_elb(headers: &HeaderMap, body: &[u8]) -> bool {
    let scope = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("/elasticloadbalancing/aws4_request"));
    scope || form_urlencoded::parse(body).any(|(k, v)| k == "Version" && v == VERSION)
}

/// Inserts `value` at the path `parts` (`member.N` steps make list items).
fn insert(node: &mut Map<String, Value>, parts: &[&str], value: &str) {
    let (key, rest) = match parts {
        [] => return,
        ["member", n, rest @ ..] if n.parse::<u32>().is_ok() => {
            (format!("\u{0}{:010}", n.parse::<u32>().unwrap_or(0)), rest)
        }
        [k, rest @ ..] => ((*k).to_owned(), rest),
    };
    if rest.is_empty() {
        let leaf = match value.parse::<i64>() {
            Ok(n) if INTEGERS.contains(&key.as_str()) => Value::from(n),
            _ => Value::from(value),
        };
        node.insert(key, leaf);
        return;
    }
    let child = node.entry(key).or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(m) = child {
        insert(m, rest, value);
    }
}

/// Objects whose keys are all list indices become arrays, in order.
fn finish(v: Value) -> Value {
    match v {
        Value::Object(m) if !m.is_empty() && m.keys().all(|k| k.starts_with('\u{0}')) => {
            let items: BTreeMap<String, Value> = m.into_iter().collect();
            Value::Array(items.into_values().map(finish).collect())
        }
        Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, finish(v))).collect()),
        other => other,
    }
}

/// The JSON input of a Query form (without `Action` and `Version`).
pub(crate) fn input_of(form: &[(String, String)]) -> Value {
    let mut root = Map::new();
    for (k, v) in form {
        if k != "Action" && k != "Version" {
            let parts: Vec<&str> = k.split('.').collect();
            insert(&mut root, &parts, v);
        }
    }
    finish(Value::Object(root))
}

/// JSON as Query protocol XML: members as elements, lists as `member`s.
fn xml(out: &mut String, v: &Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if v.is_null() {
                    continue;
                }
                out.push_str(&format!("<{k}>"));
                xml(out, v);
                out.push_str(&format!("</{k}>"));
            }
        }
        Value::Array(items) => {
            for v in items {
                out.push_str("<member>");
                xml(out, v);
                out.push_str("</member>");
            }
        }
        Value::String(s) => out.push_str(&escape(s)),
        Value::Null => {}
        other => out.push_str(&other.to_string()),
    }
}

fn send(status: StatusCode, body: String, request_id: &str) -> Response {
    let mut resp = (status, body).into_response();
    let h = resp.headers_mut();
    h.insert("content-type", HeaderValue::from_static("text/xml"));
    if let Ok(v) = HeaderValue::from_str(request_id) {
        h.insert("x-amzn-requestid", v);
    }
    resp
}

fn error(request_id: &str, status: u16, code: &str, message: &str) -> Response {
    let kind = if status >= 500 { "Receiver" } else { "Sender" };
    let body = format!(
        "<ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        escape(message)
    );
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    send(status, body, request_id)
}

async fn run(
    state: &AppState,
    region: &str,
    action: &str,
    input: &Value,
) -> Option<ElbResult<Value>> {
    let elb = &state.services.elb;
    Some(match action {
        "CreateLoadBalancer" => elb.create_load_balancer(region, input).await,
        "DescribeLoadBalancers" => elb.describe_load_balancers(region, input).await,
        "DeleteLoadBalancer" => elb.delete_load_balancer(region, input).await,
        "CreateTargetGroup" => elb.create_target_group(region, input).await,
        "DescribeTargetGroups" => elb.describe_target_groups(region, input).await,
        "DeleteTargetGroup" => elb.delete_target_group(region, input).await,
        "DescribeTargetGroupAttributes" => {
            elb.describe_target_group_attributes(region, input).await
        }
        "ModifyTargetGroupAttributes" => elb.modify_target_group_attributes(region, input).await,
        "RegisterTargets" => elb.register_targets(region, input).await,
        "DeregisterTargets" => elb.deregister_targets(region, input).await,
        "DescribeTargetHealth" => elb.describe_target_health(region, input).await,
        "CreateListener" => elb.create_listener(region, input).await,
        "DescribeListeners" => elb.describe_listeners(region, input).await,
        "DeleteListener" => elb.delete_listener(region, input).await,
        "CreateRule" => elb.create_rule(region, input).await,
        "DescribeRules" => elb.describe_rules(region, input).await,
        "ModifyRule" => elb.modify_rule(region, input).await,
        "ModifyListener" => elb.modify_listener(region, input).await,
        "ModifyTargetGroup" => elb.modify_target_group(region, input).await,
        "DeleteRule" => elb.delete_rule(region, input).await,
        "SetRulePriorities" => elb.set_rule_priorities(region, input).await,
        "AddTags" => elb.add_tags(region, input).await,
        "RemoveTags" => elb.remove_tags(region, input).await,
        "DescribeTags" => elb.describe_tags(region, input).await,
        _ => return None,
    })
}

/// Answers an elbv2 Query request.
pub(crate) async fn answer(state: &AppState, ctx: &RequestContext, bytes: &[u8]) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(bytes).into_owned().collect();
    let rid = ctx.request_id.as_str();
    let Some(action) = form
        .iter()
        .find(|(k, _)| k == "Action")
        .map(|(_, v)| v.clone())
    else {
        return error(
            rid,
            400,
            "MissingAction",
            "The request must contain the parameter Action.",
        );
    };
    let input = input_of(&form);
    let region = super::region(state, ctx);
    match run(state, region, &action, &input).await {
        None => error(
            rid,
            400,
            "InvalidAction",
            &format!("The action {action} is not valid for this web service."),
        ),
        Some(Ok(out)) => {
            let mut body = format!("<{action}Response xmlns=\"{XMLNS}\"><{action}Result>");
            xml(&mut body, &out);
            body.push_str(&format!(
                "</{action}Result><ResponseMetadata><RequestId>{rid}</RequestId></ResponseMetadata></{action}Response>"
            ));
            send(StatusCode::OK, body, rid)
        }
        Some(Err(e)) => {
            if matches!(
                e,
                ElbError::Store(_) | ElbError::Service(_) | ElbError::Internal(_)
            ) {
                tracing::error!(error = %e, action = %action, "elbv2 request failed.");
            }
            error(rid, e.status(), e.code(), &e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forms_become_nested_shapes() {
        let form: Vec<(String, String)> = [
            ("Action", "CreateRule"),
            ("Version", VERSION),
            ("Priority", "10"),
            ("Conditions.member.1.Field", "path-pattern"),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.1",
                "/a/*",
            ),
            (
                "Conditions.member.1.PathPatternConfig.Values.member.2",
                "/b",
            ),
            ("Conditions.member.2.Field", "query-string"),
            (
                "Conditions.member.2.QueryStringConfig.Values.member.1.Key",
                "v",
            ),
            (
                "Conditions.member.2.QueryStringConfig.Values.member.1.Value",
                "1",
            ),
            ("Actions.member.1.Type", "forward"),
            ("Actions.member.1.Order", "1"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            input_of(&form),
            json!({
                "Priority": "10",
                "Conditions": [
                    {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/a/*", "/b"]}},
                    {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "1"}]}},
                ],
                "Actions": [{"Type": "forward", "Order": 1}],
            })
        );
    }

    #[test]
    fn lists_are_members_in_xml() {
        let mut out = String::new();
        xml(&mut out, &json!({"A": [{"B": "x<y"}, {"B": 2}], "N": null}));
        assert_eq!(
            out,
            "<A><member><B>x&lt;y</B></member><member><B>2</B></member></A>"
        );
    }
}
