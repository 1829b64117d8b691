//! The targets of a rule: what PutTargets accepts (Lambda functions, SQS
//! queues, SNS topics), the payload each receives (`Input`, `InputPath`,
//! `InputTransformer`) and, for a queue or topic, what the asynchronous
//! worker needs to send it as a message: the rule and the FIFO group
//! ([`RuleMessage`]), and whether the queue's or topic's resource policy
//! lets EventBridge send it ([`refusal`]).

use std::collections::BTreeMap;

use lambdad_store::{Store, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// EventBridge's service principal, as resource policies name it.
pub const EVENTS_PRINCIPAL: &str = "events.amazonaws.com";

/// The longest `SqsParameters.MessageGroupId`.
pub const MAX_GROUP_ID: usize = 100;

/// One target of a rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Target {
    /// Target id, unique in the rule.
    pub id: String,
    /// The function's, queue's or topic's ARN.
    pub arn: String,
    /// Constant JSON input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    /// JSONPath (`$.a.b`) of the part of the event to send.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_path: Option<String>,
    /// `InputPathsMap` and `InputTemplate`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_transformer: Option<InputTransformer>,
    /// The message group of a FIFO queue's messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sqs_parameters: Option<SqsParameters>,
}

/// `InputTransformer`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InputTransformer {
    /// Placeholder name → JSONPath.
    #[serde(default)]
    pub input_paths_map: BTreeMap<String, String>,
    /// The template, with `<name>` placeholders.
    pub input_template: String,
}

/// `SqsParameters`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqsParameters {
    /// The group of the messages sent to a FIFO queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<String>,
}

/// What a target's ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A Lambda function (or its version or alias).
    Function,
    /// An SQS queue.
    Queue,
    /// An SNS topic.
    Topic,
    /// A service lambdad does not deliver to.
    Other,
}

/// What `arn` names, or None when it is not an ARN
/// (`arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`).
pub fn kind(arn: &str) -> Option<Kind> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let ["arn", partition, service, _, _, resource] = parts.as_slice() else {
        return None;
    };
    if partition.is_empty() || service.is_empty() || resource.is_empty() {
        return None;
    }
    Some(match *service {
        "lambda" if resource.starts_with("function:") => Kind::Function,
        "sqs" if !resource.contains(':') => Kind::Queue,
        "sns" if !resource.contains(':') => Kind::Topic,
        _ => Kind::Other,
    })
}

/// `$.a.b[0]`-style paths (the subset EventBridge's InputPath uses most).
fn json_path<'a>(doc: &'a Value, path: &str) -> Option<&'a Value> {
    let rest = path.strip_prefix('$')?;
    let mut v = doc;
    for seg in rest.split('.').filter(|s| !s.is_empty()) {
        let (key, index) = match seg.split_once('[') {
            Some((k, i)) => (k, i.strip_suffix(']')?.parse::<usize>().ok()),
            None => (seg, None),
        };
        if !key.is_empty() {
            v = v.get(key)?;
        }
        if let Some(i) = index {
            v = v.get(i)?;
        }
    }
    Some(v)
}

/// The payload a target receives for `event` (for a queue or topic: the
/// message's body).
pub fn target_input(target: &Target, event: &Value) -> String {
    if let Some(input) = &target.input {
        return input.clone();
    }
    if let Some(path) = &target.input_path {
        return json_path(event, path)
            .cloned()
            .unwrap_or(Value::Null)
            .to_string();
    }
    if let Some(t) = &target.input_transformer {
        let mut out = t.input_template.clone();
        for (name, path) in &t.input_paths_map {
            let value = match json_path(event, path) {
                Some(Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            };
            out = out.replace(&format!("<{name}>"), &value);
        }
        return out;
    }
    event.to_string()
}

/// What the asynchronous worker needs, besides the body, to send a rule's
/// event to a queue or topic. It is kept as the queued event's qualifier
/// (whose `function` is the queue's or topic's ARN); S3 event records
/// bound for queues and topics have none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleMessage {
    /// The rule that matched: the `aws:SourceArn` a policy sees.
    pub rule_arn: String,
    /// The target's `SqsParameters.MessageGroupId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_group_id: Option<String>,
}

impl RuleMessage {
    /// The qualifier that carries it.
    pub fn to_qualifier(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The message a queued event's qualifier carries, if it carries one.
    pub fn from_qualifier(qualifier: &str) -> Option<Self> {
        serde_json::from_str(qualifier).ok()
    }
}

/// Why EventBridge may not send to a built-in queue or topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// It does not exist.
    Missing,
    /// Its policy does not let EventBridge send this rule's events.
    Denied,
}

/// The name in `arn` of a built-in `service` resource (`sqs` or `sns`) of
/// `account` in `region`.
fn builtin_name<'a>(arn: &'a str, service: &str, region: &str, account: &str) -> Option<&'a str> {
    match arn.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, s, r, a, name] if *s == service && *r == region && *a == account => Some(name),
        _ => None,
    }
}

/// The string attribute `name` of a queue's or topic's attributes (JSON).
fn attribute(attributes: &str, name: &str) -> Option<String> {
    serde_json::from_str::<Value>(attributes)
        .ok()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

/// Why rule `rule_arn`'s events may not go to the queue or topic `arn`
/// (None: they may, or `arn` is not a built-in one). As on AWS, the
/// queue's policy must allow `sqs:SendMessage` (a queue without a policy
/// allows no service) and the topic's `sns:Publish` (SNS's default policy
/// allows none) to `events.amazonaws.com`, with the rule as
/// `aws:SourceArn` and its account as `aws:SourceAccount`.
pub fn refusal(
    store: &dyn Store,
    arn: &str,
    rule_arn: &str,
    region: &str,
    account: &str,
) -> Result<Option<Refusal>, StoreError> {
    let (action, policy) = if let Some(name) = builtin_name(arn, "sqs", region, account) {
        let Some(q) = store.get_queue(name)? else {
            return Ok(Some(Refusal::Missing));
        };
        ("sqs:SendMessage", attribute(&q.attributes, "Policy"))
    } else if let Some(name) = builtin_name(arn, "sns", region, account) {
        let Some(t) = store.get_topic(name)? else {
            return Ok(Some(Refusal::Missing));
        };
        let policy = attribute(&t.attributes, "Policy").unwrap_or_else(|| {
            lambdad_model::policy::default_topic_policy(arn, account).to_string()
        });
        ("sns:Publish", Some(policy))
    } else {
        return Ok(None);
    };
    let statements = lambdad_model::policy::statements_of(policy.as_deref().unwrap_or_default());
    let allowed = lambdad_model::policy::allows_service(
        &statements,
        EVENTS_PRINCIPAL,
        action,
        rule_arn,
        account,
    );
    Ok((!allowed).then_some(Refusal::Denied))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn inputs() {
        let event = json!({"detail": {"id": 7, "name": "x", "items": [{"sku": "a"}]}});
        let t = |input: Option<&str>, path: Option<&str>, tr: Option<InputTransformer>| Target {
            id: "t".into(),
            arn: "arn:aws:lambda:us-east-1:0:function:f".into(),
            input: input.map(Into::into),
            input_path: path.map(Into::into),
            input_transformer: tr,
            sqs_parameters: None,
        };
        assert_eq!(
            target_input(&t(Some("{\"a\":1}"), None, None), &event),
            "{\"a\":1}"
        );
        assert_eq!(
            target_input(&t(None, Some("$.detail.items[0]"), None), &event),
            "{\"sku\":\"a\"}"
        );
        let tr = InputTransformer {
            input_paths_map: [
                ("id".to_string(), "$.detail.id".to_string()),
                ("n".to_string(), "$.detail.name".to_string()),
            ]
            .into(),
            input_template: "{\"order\": <id>, \"who\": \"<n>\"}".into(),
        };
        assert_eq!(
            target_input(&t(None, None, Some(tr)), &event),
            "{\"order\": 7, \"who\": \"x\"}"
        );
        assert_eq!(
            target_input(&t(None, None, None), &event),
            event.to_string()
        );
    }

    #[test]
    fn kinds() {
        let k = |arn: &str| kind(arn);
        assert_eq!(
            k("arn:aws:lambda:us-east-1:1:function:f:live"),
            Some(Kind::Function)
        );
        assert_eq!(k("arn:aws:sqs:us-east-1:1:q.fifo"), Some(Kind::Queue));
        assert_eq!(k("arn:aws:sns:us-east-1:1:t"), Some(Kind::Topic));
        assert_eq!(k("arn:aws:kinesis:us-east-1:1:stream/s"), Some(Kind::Other));
        assert_eq!(k("arn:aws:lambda:us-east-1:1:layer:l"), Some(Kind::Other));
        assert_eq!(k("arn:aws:sqs:us-east-1:1:q:extra"), Some(Kind::Other));
        assert_eq!(k("my-queue"), None);
        assert_eq!(k("arn:aws:sqs:us-east-1"), None);
    }

    #[test]
    fn qualifiers_round_trip_and_plain_ones_are_not_messages() {
        let m = RuleMessage {
            rule_arn: "arn:aws:events:us-east-1:1:rule/r".into(),
            message_group_id: Some("g".into()),
        };
        assert_eq!(RuleMessage::from_qualifier(&m.to_qualifier()), Some(m));
        assert_eq!(RuleMessage::from_qualifier("$LATEST"), None);
        assert_eq!(RuleMessage::from_qualifier("live"), None);
    }
}
