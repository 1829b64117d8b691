//! Resource-based policies: the statements AddPermission writes to a
//! function, in AWS's JSON, the checks function URLs make against them, and
//! the evaluation of any resource policy (functions', queues', topics') for
//! a service principal or an IAM principal of some account ([`decide`]).

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
    // Actions are named in any case, with `*` and `?` wildcards.
    let wanted = wanted.to_ascii_lowercase();
    texts(action)
        .iter()
        .any(|a| crate::gateway::arn_like(&a.to_ascii_lowercase(), &wanted))
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

/// Who a resource policy is asked about: an AWS service acting for a
/// resource of its own (S3 for a bucket, SNS for a topic), or an IAM
/// principal (a user or role of some account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal<'a> {
    /// A service principal such as `s3.amazonaws.com`.
    Service(&'a str),
    /// An IAM principal: its account and its ARN
    /// (`arn:aws:iam::ACCOUNT:user/NAME`).
    Aws {
        /// Its account id.
        account: &'a str,
        /// Its ARN.
        arn: &'a str,
    },
}

/// The IAM principal that made an API request (known under `--auth sigv4`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// Its account id.
    pub account: String,
    /// Its ARN (`arn:aws:iam::ACCOUNT:user/NAME`).
    pub arn: String,
}

impl Caller {
    /// The caller as a policy's principal.
    pub fn principal(&self) -> Principal<'_> {
        Principal::Aws {
            account: &self.account,
            arn: &self.arn,
        }
    }
}

/// A request a resource policy decides: who, which action (`sqs:SendMessage`),
/// and the values of the condition keys the request carries (global keys
/// such as `aws:SourceArn`, named in any case; a key a request does not
/// carry makes a condition on it fail, unless its operator ends in
/// `IfExists`).
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Who asks.
    pub principal: Principal<'a>,
    /// The action.
    pub action: &'a str,
    /// `(condition key, value)` pairs.
    pub context: &'a [(&'a str, &'a str)],
}

impl<'a> Request<'a> {
    /// The request of AWS service `service` calling `action` for the
    /// resource `source_arn` of `source_account` (the `aws:SourceArn` and
    /// `aws:SourceAccount` keys; `context` must outlive it).
    pub fn service(service: &'a str, action: &'a str, context: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            principal: Principal::Service(service),
            action,
            context,
        }
    }
}

/// The statements of a policy document (`Statement` an object or a list);
/// a document that is not JSON has none.
pub fn statements_of(document: &str) -> Vec<Value> {
    match serde_json::from_str::<Value>(document) {
        Ok(Value::Object(mut doc)) => match doc.remove("Statement") {
            Some(Value::Array(list)) => list,
            Some(one @ Value::Object(_)) => vec![one],
            _ => Vec::new(),
        },
        Ok(Value::Array(list)) => list,
        _ => Vec::new(),
    }
}

/// The access policy SNS gives a topic that has none (GetTopicAttributes
/// returns it): the owner account's principals may manage, subscribe to
/// and publish to the topic; no one else, and no service.
pub fn default_topic_policy(topic_arn: &str, owner: &str) -> Value {
    json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": ["SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                       "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                       "SNS:ListSubscriptionsByTopic", "SNS:Publish"],
            "Resource": topic_arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": owner}},
        }],
    })
}

/// The strings of a policy element (a string or a list; other scalars as text).
fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(list) => list.iter().flat_map(texts).collect(),
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// Whether a statement's `Principal` names `who`.
fn principal_matches(principal: &Value, who: Principal<'_>) -> bool {
    if is_public(principal) {
        return true;
    }
    match who {
        Principal::Service(service) => texts(&principal["Service"]).iter().any(|p| p == service),
        Principal::Aws { account, arn } => texts(&principal["AWS"]).iter().any(|p| {
            p == "*"
                || p == account
                || p == arn
                || p.strip_prefix("arn:aws:iam::")
                    .and_then(|rest| rest.strip_suffix(":root"))
                    .is_some_and(|a| a == account)
        }),
    }
}

/// Whether the condition `op` (`StringEquals`, `ArnLike`, …) holds between
/// a request's value and any of the statement's `wanted` values.
fn operator_holds(op: &str, value: &str, wanted: &[String]) -> Option<bool> {
    let any = |f: &dyn Fn(&str) -> bool| wanted.iter().any(|w| f(w.as_str()));
    Some(match op {
        "StringEquals" => any(&|w| w == value),
        "StringNotEquals" => !any(&|w| w == value),
        "StringEqualsIgnoreCase" => any(&|w| w.eq_ignore_ascii_case(value)),
        "StringNotEqualsIgnoreCase" => !any(&|w| w.eq_ignore_ascii_case(value)),
        // IAM's ArnEquals matches as ArnLike does.
        "StringLike" | "ArnLike" | "ArnEquals" => any(&|w| crate::gateway::arn_like(w, value)),
        "StringNotLike" | "ArnNotLike" | "ArnNotEquals" => {
            !any(&|w| crate::gateway::arn_like(w, value))
        }
        "Bool" => any(&|w| w.eq_ignore_ascii_case(value)),
        _ => return None,
    })
}

/// Whether every condition of a statement's `Condition` block holds for a
/// request carrying `context` (an operator lambdad does not know fails).
fn conditions_hold(cond: &Value, context: &[(&str, &str)]) -> bool {
    let Some(ops) = cond.as_object() else {
        return cond.is_null();
    };
    ops.iter().all(|(op, keys)| {
        let Some(keys) = keys.as_object() else {
            return false;
        };
        keys.iter().all(|(key, wanted)| {
            let wanted = texts(wanted);
            let value = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| *v);
            if op == "Null" {
                let absent = value.is_none().to_string();
                return wanted.iter().any(|w| w.eq_ignore_ascii_case(&absent));
            }
            let (base, if_exists) = match op.strip_suffix("IfExists") {
                Some(base) => (base, true),
                None => (op.as_str(), false),
            };
            match value {
                None => if_exists,
                Some(v) => operator_holds(base, v, &wanted).unwrap_or(false),
            }
        })
    })
}

/// Whether one statement applies to `req` (principal, action, conditions).
fn statement_applies(s: &Value, req: &Request<'_>) -> bool {
    principal_matches(&s["Principal"], req.principal)
        && action_covers(&s["Action"], req.action)
        && conditions_hold(&s["Condition"], req.context)
}

/// What a resource policy's `statements` decide for `req`: an explicit
/// Deny wins, then any Allow; nothing else allows (statements with
/// `NotPrincipal` or `NotAction` are not understood and never apply).
pub fn decide(statements: &[Value], req: &Request<'_>) -> crate::iam::Decision {
    let applying = |effect: &str| {
        statements
            .iter()
            .any(|s| s["Effect"] == effect && statement_applies(s, req))
    };
    if applying("Deny") {
        crate::iam::Decision::ExplicitDeny
    } else if applying("Allow") {
        crate::iam::Decision::Allow
    } else {
        crate::iam::Decision::ImplicitDeny
    }
}

/// Whether `statements` let the AWS service `service` (for example
/// `apigateway.amazonaws.com`) call `action` as `source_arn` from
/// `source_account`: an Allow to that service principal whose conditions
/// (on `aws:SourceArn`, `aws:SourceAccount`; a condition on any other key
/// fails, as that key is absent from the service's request) all hold, and
/// no Deny that applies.
pub fn allows_service(
    statements: &[Value],
    service: &str,
    action: &str,
    source_arn: &str,
    source_account: &str,
) -> bool {
    let context = [
        ("aws:SourceArn", source_arn),
        ("aws:SourceAccount", source_account),
    ];
    decide(statements, &Request::service(service, action, &context)) == crate::iam::Decision::Allow
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

    #[test]
    fn the_default_topic_policy_admits_the_owner_account_only() {
        let topic = "arn:aws:sns:us-east-1:000000000000:t";
        let doc = default_topic_policy(topic, "000000000000").to_string();
        let statements = statements_of(&doc);
        let ask = |account: &str, arn: &str, action: &str| {
            let context = [("aws:SourceOwner", account)];
            decide(
                &statements,
                &Request {
                    principal: Principal::Aws { account, arn },
                    action,
                    context: &context,
                },
            )
        };
        let own = "arn:aws:iam::000000000000:user/alice";
        let other = "arn:aws:iam::111122223333:user/bob";
        use crate::iam::Decision::{Allow, ImplicitDeny};
        for (account, arn, action, want) in [
            ("000000000000", own, "sns:Publish", Allow),
            ("000000000000", own, "SNS:Subscribe", Allow),
            ("111122223333", other, "sns:Publish", ImplicitDeny),
            ("000000000000", own, "sns:TagResource", ImplicitDeny),
        ] {
            assert_eq!(ask(account, arn, action), want, "{arn} {action}");
        }
        // A service's request carries no aws:SourceOwner: S3 needs a statement of its own.
        let s3 = "s3.amazonaws.com";
        assert!(!allows_service(
            &statements,
            s3,
            "sns:Publish",
            "arn:aws:s3:::b",
            "000000000000"
        ));
    }

    #[test]
    fn account_and_user_principals_conditions_and_denies() {
        let doc = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"AWS": ["111122223333"]}, "Action": "sns:Publish"},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222233334444:root"}, "Action": "sns:*"},
            {"Effect": "Deny", "Principal": {"AWS": "arn:aws:iam::222233334444:user/mallory"},
             "Action": "SNS:Pub*"},
            {"Effect": "Allow", "Principal": {"Service": "s3.amazonaws.com"}, "Action": "SNS:Publish",
             "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::photos-*"},
                           "StringEqualsIfExists": {"aws:SourceAccount": "000000000000"}}},
        ]})
        .to_string();
        let statements = statements_of(&doc);
        let ask = |account: &str, arn: &str, action: &str| {
            decide(
                &statements,
                &Request {
                    principal: Principal::Aws { account, arn },
                    action,
                    context: &[],
                },
            )
        };
        use crate::iam::Decision::{Allow, ExplicitDeny, ImplicitDeny};
        assert_eq!(
            ask(
                "111122223333",
                "arn:aws:iam::111122223333:user/bob",
                "sns:Publish"
            ),
            Allow
        );
        assert_eq!(
            ask(
                "111122223333",
                "arn:aws:iam::111122223333:user/bob",
                "sns:Subscribe"
            ),
            ImplicitDeny
        );
        assert_eq!(
            ask(
                "222233334444",
                "arn:aws:iam::222233334444:user/carol",
                "sns:Subscribe"
            ),
            Allow
        );
        assert_eq!(
            ask(
                "222233334444",
                "arn:aws:iam::222233334444:user/mallory",
                "sns:Publish"
            ),
            ExplicitDeny
        );
        let s3 = "s3.amazonaws.com";
        let acct = "000000000000";
        assert!(allows_service(
            &statements,
            s3,
            "sns:Publish",
            "arn:aws:s3:::photos-1",
            acct
        ));
        assert!(!allows_service(
            &statements,
            s3,
            "sns:Publish",
            "arn:aws:s3:::other",
            acct
        ));
        assert!(!allows_service(
            &statements,
            s3,
            "sns:Publish",
            "arn:aws:s3:::photos-1",
            "999999999999"
        ));
        let unknown = json!({"Effect": "Allow", "Principal": "*", "Action": "sqs:SendMessage",
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-1"}}});
        assert!(!allows_service(
            &[unknown],
            s3,
            "sqs:SendMessage",
            "arn:aws:s3:::b",
            acct
        ));
    }
}
