//! Resource-based policies of functions: the statements AddPermission
//! writes, in AWS's JSON, and the checks function URLs make against them.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::validate::{null_error, one_error};
use crate::{AwsError, Code};

/// The members of an AddPermission request.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PermissionRequest {
    /// `Sid` of the statement.
    pub statement_id: Option<String>,
    /// The action, e.g. `lambda:InvokeFunction`.
    pub action: Option<String>,
    /// `*`, an account id, an ARN or a service principal.
    pub principal: Option<String>,
    /// `AWS:SourceArn` condition.
    pub source_arn: Option<String>,
    /// `AWS:SourceAccount` condition.
    pub source_account: Option<String>,
    /// `lambda:EventSourceToken` condition.
    pub event_source_token: Option<String>,
    /// Expected RevisionId of the policy.
    pub revision_id: Option<String>,
    /// `aws:PrincipalOrgID` condition.
    #[serde(rename = "PrincipalOrgID")]
    pub principal_org_id: Option<String>,
    /// `lambda:FunctionUrlAuthType` condition.
    pub function_url_auth_type: Option<String>,
    /// `lambda:InvokedViaFunctionUrl` condition.
    pub invoked_via_function_url: Option<bool>,
}

fn null(member: &str) -> AwsError {
    AwsError::new(Code::Validation, null_error(member))
}

fn bad_principal() -> AwsError {
    AwsError::new(
        Code::InvalidParameterValue,
        "The provided principal was invalid. Please check the principal and try again.",
    )
}

/// The `Principal` element for a principal parameter.
fn principal(p: &str) -> Result<Value, AwsError> {
    if p == "*" {
        return Ok(json!("*"));
    }
    if p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(json!({ "AWS": format!("arn:aws:iam::{p}:root") }));
    }
    if p.starts_with("arn:aws:iam::") || p.starts_with("arn:aws:sts::") {
        return Ok(json!({ "AWS": p }));
    }
    let service = p.split('.').count() >= 2
        && p.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !p.starts_with('.')
        && !p.ends_with('.');
    if service {
        return Ok(json!({ "Service": p }));
    }
    Err(bad_principal())
}

/// Builds the statement for `req` on `resource` (a function, version or alias ARN).
pub fn statement(req: &PermissionRequest, resource: &str) -> Result<(String, Value), AwsError> {
    let sid = req
        .statement_id
        .clone()
        .ok_or_else(|| null("statementId"))?;
    if sid.is_empty()
        || sid.len() > 100
        || !sid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(AwsError::new(
            Code::Validation,
            one_error(
                &sid,
                "statementId",
                "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
            ),
        ));
    }
    let action = req.action.clone().ok_or_else(|| null("action"))?;
    let action_ok = action == "*"
        || action == "lambda:*"
        || action
            .strip_prefix("lambda:")
            .is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_alphabetic()));
    if !action_ok {
        return Err(AwsError::new(
            Code::Validation,
            one_error(
                &action,
                "action",
                "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])",
            ),
        ));
    }
    let principal = principal(req.principal.as_deref().ok_or_else(|| null("principal"))?)?;
    let mut string_equals = serde_json::Map::new();
    if let Some(a) = &req.source_account {
        string_equals.insert("AWS:SourceAccount".into(), json!(a));
    }
    if let Some(t) = &req.event_source_token {
        string_equals.insert("lambda:EventSourceToken".into(), json!(t));
    }
    if let Some(o) = &req.principal_org_id {
        string_equals.insert("aws:PrincipalOrgID".into(), json!(o));
    }
    if let Some(t) = &req.function_url_auth_type {
        crate::url::check_enum(t, "functionUrlAuthType", &crate::url::AUTH_TYPES)?;
        string_equals.insert("lambda:FunctionUrlAuthType".into(), json!(t));
    }
    let mut condition = serde_json::Map::new();
    if !string_equals.is_empty() {
        condition.insert("StringEquals".into(), Value::Object(string_equals));
    }
    if let Some(arn) = &req.source_arn {
        condition.insert("ArnLike".into(), json!({ "AWS:SourceArn": arn }));
    }
    if let Some(via) = req.invoked_via_function_url {
        condition.insert(
            "Bool".into(),
            json!({ "lambda:InvokedViaFunctionUrl": via.to_string() }),
        );
    }
    let mut s = json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": action,
        "Resource": resource,
    });
    if !condition.is_empty() {
        s["Condition"] = Value::Object(condition);
    }
    Ok((sid, s))
}

/// The policy document GetPolicy returns for `statements`.
pub fn document(statements: &[Value]) -> Value {
    json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements })
}

fn action_covers(action: &Value, wanted: &str) -> bool {
    let all_of_service = wanted
        .split_once(':')
        .map(|(service, _)| format!("{service}:*"));
    let one = |a: &str| {
        a == "*"
            || all_of_service
                .as_deref()
                .is_some_and(|all| a.eq_ignore_ascii_case(all))
            || a.eq_ignore_ascii_case(wanted)
    };
    match action {
        Value::String(a) => one(a),
        Value::Array(list) => list.iter().filter_map(Value::as_str).any(one),
        _ => false,
    }
}

fn is_public(principal: &Value) -> bool {
    principal == "*" || principal.get("AWS").is_some_and(|p| p == "*")
}

/// Whether `statements` let anyone invoke a function URL whose AuthType is
/// NONE: an Allow of `lambda:InvokeFunctionUrl` to `*`, conditioned (as AWS
/// requires) on `lambda:FunctionUrlAuthType` = NONE.
pub fn allows_public_url(statements: &[Value]) -> bool {
    statements.iter().any(|s| {
        s["Effect"] == "Allow"
            && is_public(&s["Principal"])
            && action_covers(&s["Action"], "lambda:InvokeFunctionUrl")
            && s["Condition"]["StringEquals"]["lambda:FunctionUrlAuthType"] == "NONE"
    })
}

/// The value of condition key `key` (named in any case, as IAM's keys
/// are) under operator `op`, or `Null`.
fn condition<'a>(cond: &'a Value, op: &str, key: &str) -> &'a Value {
    cond[op]
        .as_object()
        .and_then(|m| {
            m.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

/// Whether `statements` let the AWS service `service` (for example
/// `apigateway.amazonaws.com`) call `action` as `source_arn` from
/// `source_account`: an Allow to that service principal whose conditions
/// (`ArnLike`/`ArnEquals` on `AWS:SourceArn`, `StringEquals` on
/// `AWS:SourceAccount`) all hold.
pub fn allows_service(
    statements: &[Value],
    service: &str,
    action: &str,
    source_arn: &str,
    source_account: &str,
) -> bool {
    statements.iter().any(|s| {
        let principal = &s["Principal"];
        let to_service = is_public(principal)
            || match &principal["Service"] {
                Value::String(p) => p == service,
                Value::Array(list) => list.iter().any(|p| p == service),
                _ => false,
            };
        let cond = &s["Condition"];
        let arn_ok = [
            condition(cond, "ArnLike", "AWS:SourceArn"),
            condition(cond, "ArnEquals", "AWS:SourceArn"),
        ]
        .iter()
        .all(|c| match c {
            Value::Null => true,
            Value::String(p) => crate::gateway::arn_like(p, source_arn),
            _ => false,
        });
        let account_ok = match condition(cond, "StringEquals", "AWS:SourceAccount") {
            Value::Null => true,
            v => v == source_account,
        };
        s["Effect"] == "Allow"
            && to_service
            && action_covers(&s["Action"], action)
            && arn_ok
            && account_ok
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(action: &str, principal: &str) -> PermissionRequest {
        PermissionRequest {
            statement_id: Some("s1".into()),
            action: Some(action.into()),
            principal: Some(principal.into()),
            ..PermissionRequest::default()
        }
    }

    #[test]
    fn statements_as_aws_writes_them() {
        let mut r = req("lambda:InvokeFunction", "s3.amazonaws.com");
        r.source_account = Some("123456789012".into());
        r.source_arn = Some("arn:aws:s3:::bucket".into());
        let (_, s) = statement(&r, "arn:f").unwrap();
        assert_eq!(s["Principal"], json!({"Service": "s3.amazonaws.com"}));
        assert_eq!(
            s["Condition"]["StringEquals"]["AWS:SourceAccount"],
            "123456789012"
        );
        assert_eq!(
            s["Condition"]["ArnLike"]["AWS:SourceArn"],
            "arn:aws:s3:::bucket"
        );
        let (_, s) = statement(&req("lambda:InvokeFunction", "111122223333"), "arn:f").unwrap();
        assert_eq!(s["Principal"]["AWS"], "arn:aws:iam::111122223333:root");
        assert!(statement(&req("lambda:InvokeFunction", "not a principal"), "arn:f").is_err());
        assert!(statement(&req("s3:GetObject", "*"), "arn:f").is_err());
    }

    #[test]
    fn public_url_needs_the_auth_type_condition() {
        let mut r = req("lambda:InvokeFunctionUrl", "*");
        let (_, plain) = statement(&r, "arn:f").unwrap();
        assert!(!allows_public_url(&[plain]));
        r.function_url_auth_type = Some("NONE".into());
        let (_, s) = statement(&r, "arn:f").unwrap();
        assert!(allows_public_url(&[s]));
        let mut other = req("lambda:InvokeFunctionUrl", "111122223333");
        other.function_url_auth_type = Some("NONE".into());
        let (_, s) = statement(&other, "arn:f").unwrap();
        assert!(!allows_public_url(&[s]));
    }

    #[test]
    fn service_principals_need_a_matching_source_arn() {
        let arn = "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/items/{id}";
        let mut r = req("lambda:InvokeFunction", "apigateway.amazonaws.com");
        r.source_arn = Some("arn:aws:execute-api:us-east-1:123456789012:abc/*".into());
        let (_, s) = statement(&r, "arn:f").unwrap();
        let gw = "apigateway.amazonaws.com";
        let act = "lambda:InvokeFunction";
        assert!(allows_service(
            std::slice::from_ref(&s),
            gw,
            act,
            arn,
            "123456789012"
        ));
        assert!(!allows_service(
            std::slice::from_ref(&s),
            "s3.amazonaws.com",
            act,
            arn,
            "123456789012"
        ));
        let other = arn.replace("abc/", "xyz/");
        assert!(!allows_service(&[s], gw, act, &other, "123456789012"));
        let (_, any) = statement(&req(act, gw), "arn:f").unwrap();
        assert!(allows_service(&[any], gw, act, &other, "123456789012"));
        let (_, url) = statement(&req("lambda:InvokeFunctionUrl", gw), "arn:f").unwrap();
        assert!(!allows_service(&[url], gw, act, arn, "123456789012"));
    }

    #[test]
    fn queue_policies_as_users_write_them() {
        let topic = "arn:aws:sns:us-east-1:123456789012:news";
        let policy = json!({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "SQS:SendMessage", "Resource": "arn:aws:sqs:us-east-1:123456789012:q",
            "Condition": {"ArnEquals": {"aws:SourceArn": topic}}});
        let sns = "sns.amazonaws.com";
        let send = "sqs:SendMessage";
        let acct = "123456789012";
        assert!(allows_service(
            std::slice::from_ref(&policy),
            sns,
            send,
            topic,
            acct
        ));
        let other = "arn:aws:sns:us-east-1:123456789012:other";
        assert!(!allows_service(
            std::slice::from_ref(&policy),
            sns,
            send,
            other,
            acct
        ));
        let all = json!({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sqs:*",
            "Resource": "*"});
        assert!(allows_service(
            std::slice::from_ref(&all),
            sns,
            send,
            other,
            acct
        ));
        let lambda_all = json!({"Effect": "Allow", "Principal": "*", "Action": "lambda:*"});
        assert!(!allows_service(&[lambda_all], sns, send, topic, acct));
    }
}
