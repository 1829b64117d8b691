//! Bucket notifications to Lambda functions, SQS queues and SNS topics: the
//! stored configuration, its validation at configuration time (as S3: the
//! function must exist and its resource policy must let `s3.amazonaws.com`
//! invoke it for this bucket; the queue or topic must exist and its policy
//! let `s3.amazonaws.com` send or publish for this bucket, checked again
//! before each delivery), and the S3
//! event records, queued as asynchronous events. A record for a queue or
//! topic is an event whose `function` is the queue's or topic's ARN (no
//! function name contains `:`): the async worker sends it there.

use lambdad_store::{AsyncEvent, Store, StoreError};
use serde::{Deserialize, Serialize};

/// One `LambdaFunctionConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LambdaTarget {
    /// Its `Id` (generated when the request has none).
    pub id: String,
    /// The function's ARN, possibly qualified.
    pub function_arn: String,
    /// Event types such as `s3:ObjectCreated:*`.
    pub events: Vec<String>,
    /// `Filter.Key.FilterRules`: `(name, value)`, name `prefix` or `suffix`.
    pub rules: Vec<(String, String)>,
}

/// One `QueueConfiguration` or `TopicConfiguration`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageTarget {
    /// Its `Id` (generated when the request has none).
    pub id: String,
    /// The queue's or topic's ARN.
    pub arn: String,
    /// Event types such as `s3:ObjectCreated:*`.
    pub events: Vec<String>,
    /// `Filter.Key.FilterRules`: `(name, value)`, name `prefix` or `suffix`.
    pub rules: Vec<(String, String)>,
}

/// A bucket's notification configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The Lambda destinations.
    pub lambda: Vec<LambdaTarget>,
    /// The SQS destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<MessageTarget>,
    /// The SNS destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<MessageTarget>,
}

impl Config {
    /// Whether it names no destination.
    pub fn is_empty(&self) -> bool {
        self.lambda.is_empty() && self.queues.is_empty() && self.topics.is_empty()
    }
}

/// Where the built-in queues and topics live (their ARNs name them).
#[derive(Debug, Clone, Copy)]
pub struct Home<'a> {
    /// lambdad's region.
    pub region: &'a str,
    /// lambdad's account.
    pub account: &'a str,
}

/// The peer address of an S3 request (an extension the API sets).
#[derive(Debug, Clone, Copy)]
pub struct SourceIp(pub std::net::IpAddr);

/// The id of an S3 request (an extension the API sets; it also answers it
/// as `x-amz-request-id`).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// The access key a request named, when lambdad accepted it without
/// verifying its signature (`--auth none`): the requester
/// event records report (an extension the API sets).
#[derive(Debug, Clone)]
pub struct Requester(pub String);

/// The event types S3 knows for Lambda destinations here.
pub const EVENT_TYPES: &[&str] = &[
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
];

/// Whether a destination of `events` and filter `rules` wants the event
/// `event_name` (`ObjectCreated:Put`, …) of `key`.
pub fn wants(events: &[String], rules: &[(String, String)], event_name: &str, key: &str) -> bool {
    let full = format!("s3:{event_name}");
    let class = event_name.split(':').next().unwrap_or_default();
    let matches_event = events
        .iter()
        .any(|e| *e == full || *e == format!("s3:{class}:*"));
    matches_event
        && rules
            .iter()
            .all(|(name, value)| match name.to_ascii_lowercase().as_str() {
                "prefix" => key.starts_with(value.as_str()),
                "suffix" => key.ends_with(value.as_str()),
                _ => false,
            })
}

impl LambdaTarget {
    fn wants(&self, event_name: &str, key: &str) -> bool {
        wants(&self.events, &self.rules, event_name, key)
    }
}

/// The name a queue or topic ARN of `service` (`sqs`, `sns`) gives in lambdad's region and account.
pub fn builtin_name<'a>(arn: &'a str, service: &str, home: Home<'_>) -> Option<&'a str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", "aws", s, region, account, name]
            if *s == service && *region == home.region && *account == home.account =>
        {
            Some(name)
        }
        _ => None,
    }
}

/// `(name, qualifier)` of a function ARN (or name).
pub fn function_of(arn: &str) -> (String, Option<String>) {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        [_, _, "lambda", _, _, "function", name] => ((*name).to_owned(), None),
        [_, _, "lambda", _, _, "function", name, q] => ((*name).to_owned(), Some((*q).to_owned())),
        _ => (arn.to_owned(), None),
    }
}

/// Whether a resource policy's statements let S3 invoke the function for
/// `bucket` of `account` (model's service-principal evaluation).
fn allows_s3(statements: &str, bucket: &str, account: &str) -> bool {
    let Ok(serde_json::Value::Array(list)) = serde_json::from_str::<serde_json::Value>(statements)
    else {
        return false;
    };
    lambdad_model::policy::allows_service(
        &list,
        S3_PRINCIPAL,
        "lambda:InvokeFunction",
        &format!("arn:aws:s3:::{bucket}"),
        account,
    )
}

/// S3's service principal, as resource policies name it.
pub const S3_PRINCIPAL: &str = "s3.amazonaws.com";

/// A destination S3 could not validate: its ARN (S3's `ArgumentName`) and
/// why (`ArgumentValue`), as S3 words them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The destination's ARN (for a function: `ARN, null`, as S3 writes it).
    pub name: String,
    /// Why.
    pub value: String,
    /// Whether the destination does not exist (rather than refuses S3).
    pub missing: bool,
}

impl Refusal {
    fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
            missing: false,
        }
    }

    fn missing(arn: &str, kind: &str) -> Self {
        Self {
            missing: true,
            ..Self::new(arn, format!("The destination {kind} does not exist"))
        }
    }
}

/// Why S3 may not send to the queue or topic `arn` for `bucket` (None: it
/// may): it must be a built-in, non-FIFO queue or topic, and its policy
/// (a topic without one has SNS's default, which admits no service) must
/// allow `sqs:SendMessage` or `sns:Publish` to `s3.amazonaws.com` with the
/// bucket as `aws:SourceArn` and its owner as `aws:SourceAccount`. Checked
/// when a configuration is written and again before each delivery.
pub fn message_refusal(
    store: &dyn Store,
    arn: &str,
    bucket: &str,
    home: Home<'_>,
) -> Result<Option<Refusal>, StoreError> {
    let (kind, action, policy) = if let Some(name) = builtin_name(arn, "sqs", home) {
        // S3 cannot send to FIFO queues.
        let found = match store.get_queue(name)? {
            Some(q) if !name.ends_with(".fifo") => Some(attribute(&q.attributes, "Policy")),
            _ => None,
        };
        ("queue", "sqs:SendMessage", found)
    } else if let Some(name) = builtin_name(arn, "sns", home) {
        let found = match store.get_topic(name)? {
            Some(t) if !name.ends_with(".fifo") => {
                Some(attribute(&t.attributes, "Policy").or_else(|| {
                    Some(lambdad_model::policy::default_topic_policy(arn, home.account).to_string())
                }))
            }
            _ => None,
        };
        ("topic", "sns:Publish", found)
    } else {
        let kind = if arn.starts_with("arn:aws:sns:") {
            "topic"
        } else {
            "queue"
        };
        return Ok(Some(Refusal::missing(arn, kind)));
    };
    let Some(policy) = policy else {
        return Ok(Some(Refusal::missing(arn, kind)));
    };
    let statements = lambdad_model::policy::statements_of(policy.as_deref().unwrap_or_default());
    let bucket_arn = format!("arn:aws:s3:::{bucket}");
    if lambdad_model::policy::allows_service(
        &statements,
        S3_PRINCIPAL,
        action,
        &bucket_arn,
        home.account,
    ) {
        return Ok(None);
    }
    Ok(Some(Refusal::new(
        arn,
        format!(
            "Permissions on the destination {kind} do not allow S3 to publish notifications from this bucket"
        ),
    )))
}

/// The string attribute `name` of a queue's or topic's attributes (JSON).
fn attribute(attributes: &str, name: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(attributes)
        .ok()?
        .get(name)?
        .as_str()
        .map(str::to_owned)
}

/// The first destination of `config` S3 could not validate (queues, then
/// topics, then functions), and why.
pub fn unvalidated(
    store: &dyn Store,
    config: &Config,
    bucket: &str,
    home: Home<'_>,
) -> Result<Option<Refusal>, StoreError> {
    for t in config.queues.iter().chain(&config.topics) {
        if let Some(r) = message_refusal(store, &t.arn, bucket, home)? {
            return Ok(Some(r));
        }
    }
    for t in &config.lambda {
        let (name, qualifier) = function_of(&t.function_arn);
        if store.get_function(&name)?.is_none() {
            return Ok(Some(Refusal::missing(&t.function_arn, "Lambda")));
        }
        let allowed = store
            .get_policy(&name, qualifier.as_deref().unwrap_or("$LATEST"))?
            .is_some_and(|p| allows_s3(&p.statements, bucket, home.account));
        if !allowed {
            return Ok(Some(Refusal::new(
                format!("{}, null", t.function_arn),
                format!("Not authorized to invoke function [{}]", t.function_arn),
            )));
        }
    }
    Ok(None)
}

/// The bucket an S3 event record document (or `s3:TestEvent`) came from.
pub fn bucket_of(payload: &[u8]) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_slice(payload).ok()?;
    doc["Records"][0]["s3"]["bucket"]["name"]
        .as_str()
        .or_else(|| doc["Bucket"].as_str())
        .map(str::to_owned)
}

/// A key URL-encoded as S3 writes it in event records (a space is `+`).
pub fn encode_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' | b'/' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// What an event record says about its request and object.
#[derive(Debug, Clone)]
pub struct Happening<'a> {
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`, …
    pub event_name: &'a str,
    /// The bucket.
    pub bucket: &'a str,
    /// The bucket's region.
    pub region: &'a str,
    /// The object's key.
    pub key: &'a str,
    /// Size and ETag (created events only).
    pub object: Option<(u64, &'a str)>,
    /// The requester's access key, if signed.
    pub principal: Option<&'a str>,
    /// The requester's address.
    pub source_ip: Option<std::net::IpAddr>,
    /// The request id.
    pub request_id: &'a str,
    /// The account owning the bucket.
    pub account_id: &'a str,
    /// When (epoch ms).
    pub time_ms: i64,
}

fn event_time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

/// The S3 event record of `h` for the destination whose `Id` is `configuration_id`.
pub fn record(h: &Happening<'_>, configuration_id: &str) -> serde_json::Value {
    let sequencer = format!(
        "{:018X}",
        u128::try_from(h.time_ms).unwrap_or(0) * 1_000_000 + u128::from(rand_u16())
    );
    let mut object = serde_json::json!({ "key": encode_key(h.key), "sequencer": sequencer });
    if let Some((size, etag)) = h.object {
        object["size"] = size.into();
        object["eTag"] = etag.into();
    }
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": h.region,
        "eventTime": event_time(h.time_ms),
        "eventName": h.event_name,
        "userIdentity": { "principalId": h.principal.map_or_else(|| "Anonymous".to_owned(), |p| format!("AWS:{p}")) },
        "requestParameters": { "sourceIPAddress": h.source_ip.map_or_else(|| "127.0.0.1".to_owned(), |ip| ip.to_string()) },
        "responseElements": {
            "x-amz-request-id": h.request_id,
            "x-amz-id-2": format!("{}/lambdad", h.request_id),
        },
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": h.bucket,
                "ownerIdentity": { "principalId": h.account_id },
                "arn": format!("arn:aws:s3:::{}", h.bucket),
            },
            "object": object,
        },
    }]})
}

fn rand_u16() -> u16 {
    uuid::Uuid::new_v4().as_bytes()[0].into()
}

/// An event for `function` (a function's name, or a queue's or topic's ARN).
fn event(function: String, qualifier: Option<String>, payload: String, time_ms: i64) -> AsyncEvent {
    AsyncEvent {
        id: uuid::Uuid::new_v4().to_string(),
        function,
        qualifier,
        payload: payload.into_bytes(),
        received_ms: time_ms,
        attempts: 0,
        not_before_ms: time_ms,
    }
}

/// The asynchronous events `h` causes under the bucket's configuration
/// (JSON): invocations of its functions, messages to its queues and topics.
pub fn events(config: Option<&str>, h: &Happening<'_>) -> Vec<AsyncEvent> {
    let Some(config) = config.and_then(|c| serde_json::from_str::<Config>(c).ok()) else {
        return Vec::new();
    };
    let mut out: Vec<AsyncEvent> = config
        .lambda
        .iter()
        .filter(|t| t.wants(h.event_name, h.key))
        .map(|t| {
            let (function, qualifier) = function_of(&t.function_arn);
            event(function, qualifier, record(h, &t.id).to_string(), h.time_ms)
        })
        .collect();
    for t in config.queues.iter().chain(&config.topics) {
        if wants(&t.events, &t.rules, h.event_name, h.key) {
            let body = record(h, &t.id).to_string();
            out.push(event(t.arn.clone(), None, body, h.time_ms));
        }
    }
    out
}

/// The `s3:TestEvent` S3 sends to each queue and topic of a new configuration.
pub fn test_events(
    config: &Config,
    bucket: &str,
    request_id: &str,
    time_ms: i64,
) -> Vec<AsyncEvent> {
    let body = serde_json::json!({
        "Service": "Amazon S3",
        "Event": "s3:TestEvent",
        "Time": event_time(time_ms),
        "Bucket": bucket,
        "RequestId": request_id,
        "HostId": format!("{request_id}/lambdad"),
    })
    .to_string();
    config
        .queues
        .iter()
        .chain(&config.topics)
        .map(|t| event(t.arn.clone(), None, body.clone(), time_ms))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_encoded_as_s3_does() {
        assert_eq!(
            encode_key("uploads/red flower.jpg"),
            "uploads/red+flower.jpg"
        );
        assert_eq!(encode_key("a+b=c&d"), "a%2Bb%3Dc%26d");
        assert_eq!(encode_key("caf\u{e9}"), "caf%C3%A9");
    }

    #[test]
    fn filters_and_event_classes_match() {
        let t = LambdaTarget {
            id: "c".into(),
            function_arn: "arn:aws:lambda:us-east-1:000000000000:function:f:live".into(),
            events: vec!["s3:ObjectCreated:*".into()],
            rules: vec![
                ("prefix".into(), "uploads/".into()),
                ("Suffix".into(), ".jpg".into()),
            ],
        };
        assert!(t.wants("ObjectCreated:Put", "uploads/a.jpg"));
        assert!(t.wants("ObjectCreated:CompleteMultipartUpload", "uploads/b.jpg"));
        assert!(!t.wants("ObjectRemoved:Delete", "uploads/a.jpg"));
        assert!(!t.wants("ObjectCreated:Put", "other/a.jpg"));
        assert!(!t.wants("ObjectCreated:Put", "uploads/a.png"));
        assert_eq!(
            function_of(&t.function_arn),
            ("f".into(), Some("live".into()))
        );
    }

    #[test]
    fn the_policy_must_name_s3_and_the_bucket() {
        let policy = |cond: &str| {
            format!(
                r#"[{{"Sid":"s","Effect":"Allow","Principal":{{"Service":"s3.amazonaws.com"}},"Action":"lambda:InvokeFunction","Resource":"x"{cond}}}]"#
            )
        };
        let arn_like = r#","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::photos"}}"#;
        assert!(allows_s3(&policy(arn_like), "photos", "000000000000"));
        assert!(!allows_s3(&policy(arn_like), "other", "000000000000"));
        assert!(allows_s3(&policy(""), "any", "000000000000"));
        assert!(!allows_s3("[]", "photos", "000000000000"));
        let wildcard = r#","Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:s3:::ph*"}}"#;
        assert!(allows_s3(&policy(wildcard), "photos", "000000000000"));
        let account = r#","Condition":{"StringEquals":{"AWS:SourceAccount":"111111111111"}}"#;
        assert!(!allows_s3(&policy(account), "photos", "000000000000"));
    }

    #[test]
    fn records_and_test_events_name_their_bucket() {
        let h = Happening {
            event_name: "ObjectCreated:Put",
            bucket: "photos",
            region: "us-east-1",
            key: "a.jpg",
            object: Some((1, "e")),
            principal: None,
            source_ip: None,
            request_id: "r",
            account_id: "000000000000",
            time_ms: 0,
        };
        let record = record(&h, "c").to_string();
        assert_eq!(bucket_of(record.as_bytes()).as_deref(), Some("photos"));
        let config = Config {
            queues: vec![MessageTarget {
                id: "q".into(),
                arn: "arn:aws:sqs:us-east-1:000000000000:q".into(),
                events: vec![],
                rules: vec![],
            }],
            ..Config::default()
        };
        let test = &test_events(&config, "inbox", "r", 0)[0];
        assert_eq!(bucket_of(&test.payload).as_deref(), Some("inbox"));
        assert_eq!(bucket_of(b"not json"), None);
    }
}
