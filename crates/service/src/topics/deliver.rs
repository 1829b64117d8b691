//! What a delivery carries: the stored payload of a publish (or of a
//! subscription's confirmation request), and its rendering for the
//! subscription's protocol — the Lambda SNS event, the JSON envelope SNS
//! puts on SQS queues and HTTP endpoints (or the raw message), and the HTTP
//! headers.

use std::collections::BTreeMap;

use base64::Engine as _;
use lambdad_store::topics::DeliveryRecord;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::Digest as _;

pub use lambdad_objects::notify::function_of;

use super::{Topics, TopicsError, json_err, parse_map, topic_arn_of};
use crate::context::blocking;
use crate::queues::attributes::MessageAttribute;

/// A delivery's stored payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Payload {
    /// `Notification` or `SubscriptionConfirmation`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// The message id.
    pub message_id: String,
    /// The topic.
    pub topic_arn: String,
    /// The subject, if any.
    pub subject: Option<String>,
    /// The message this subscription's protocol gets.
    pub message: String,
    /// ISO-8601 with milliseconds.
    pub timestamp: String,
    /// Message attributes.
    #[serde(default)]
    pub message_attributes: BTreeMap<String, MessageAttribute>,
    /// FIFO: the message group.
    pub message_group_id: Option<String>,
    /// FIFO: the deduplication id.
    pub message_deduplication_id: Option<String>,
    /// FIFO: the sequence number.
    pub sequence_number: Option<String>,
    /// Confirmation: the token.
    pub token: Option<String>,
}

/// A delivery ready to go.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The subscription.
    pub subscription: String,
    /// The topic's name.
    pub topic: String,
    /// `lambda`, `sqs`, `http`, `https`.
    pub protocol: String,
    /// The function ARN, queue ARN or URL.
    pub endpoint: String,
    /// The body (Lambda event, envelope or raw message).
    pub body: String,
    /// Raw SQS delivery: the message attributes to send along.
    pub attributes: BTreeMap<String, MessageAttribute>,
    /// FIFO: group and deduplication id.
    pub group: Option<String>,
    /// FIFO: deduplication id.
    pub dedup: Option<String>,
    /// HTTP: the headers.
    pub headers: Vec<(String, String)>,
    /// The subscription's RedrivePolicy dead-letter queue, if any.
    pub dead_letter: Option<String>,
}

/// Milliseconds since the epoch as ISO-8601 with milliseconds.
pub fn timestamp(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

/// The confirmation request an HTTP subscription starts with.
pub(crate) fn confirmation(
    subscription: &str,
    topic_arn: &str,
    token: &str,
) -> Result<DeliveryRecord, TopicsError> {
    let now = crate::queues::now_ms();
    let p = Payload {
        kind: "SubscriptionConfirmation".to_owned(),
        message_id: uuid::Uuid::new_v4().to_string(),
        topic_arn: topic_arn.to_owned(),
        subject: None,
        message: format!(
            "You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, visit the SubscribeURL included in this message."
        ),
        timestamp: timestamp(now),
        message_attributes: BTreeMap::new(),
        message_group_id: None,
        message_deduplication_id: None,
        sequence_number: None,
        token: Some(token.to_owned()),
    };
    Ok(DeliveryRecord {
        seq: 0,
        subscription: subscription.to_owned(),
        payload: serde_json::to_string(&p).map_err(json_err)?,
        attempts: 0,
        due_ms: now,
    })
}

/// `{Type, Value}` per attribute, as SNS writes them in envelopes and events.
fn typed_attributes(attrs: &BTreeMap<String, MessageAttribute>) -> Value {
    Value::Object(
        attrs
            .iter()
            .map(|(k, a)| {
                let value = a
                    .string_value
                    .clone()
                    .or_else(|| a.binary_value.clone())
                    .unwrap_or_default();
                (k.clone(), json!({"Type": a.data_type, "Value": value}))
            })
            .collect(),
    )
}

impl Topics {
    /// The signature of a message: lambdad has no SNS signing certificate,
    /// so this is base64(SHA-256) of AWS's string to sign; it names the
    /// message but cannot be verified against a certificate.
    fn signature(p: &Payload) -> String {
        let mut text = String::new();
        for (k, v) in [
            ("Message", Some(&p.message)),
            ("MessageId", Some(&p.message_id)),
            ("Subject", p.subject.as_ref()),
            ("SubscribeURL", None),
            ("Timestamp", Some(&p.timestamp)),
            ("Token", p.token.as_ref()),
            ("TopicArn", Some(&p.topic_arn)),
            ("Type", Some(&p.kind)),
        ] {
            if let Some(v) = v {
                text.push_str(&format!("{k}\n{v}\n"));
            }
        }
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(text.as_bytes()))
    }

    fn cert_url(&self) -> String {
        format!("{}/SimpleNotificationService-lambdad.pem", self.endpoint)
    }

    fn unsubscribe_url(&self, subscription: &str) -> String {
        format!(
            "{}/?Action=Unsubscribe&SubscriptionArn={}",
            self.endpoint,
            form_encode(subscription)
        )
    }

    /// The SNS envelope (SQS and HTTP subscribers without raw delivery).
    fn envelope(&self, p: &Payload, subscription: &str) -> Value {
        let mut m = Map::new();
        m.insert("Type".into(), json!(p.kind));
        m.insert("MessageId".into(), json!(p.message_id));
        if let Some(token) = &p.token {
            m.insert("Token".into(), json!(token));
        }
        if let Some(seq) = &p.sequence_number {
            m.insert("SequenceNumber".into(), json!(seq));
        }
        m.insert("TopicArn".into(), json!(p.topic_arn));
        if let Some(s) = &p.subject {
            m.insert("Subject".into(), json!(s));
        }
        m.insert("Message".into(), json!(p.message));
        if let Some(token) = &p.token {
            m.insert(
                "SubscribeURL".into(),
                json!(format!(
                    "{}/?Action=ConfirmSubscription&TopicArn={}&Token={}",
                    self.endpoint,
                    form_encode(&p.topic_arn),
                    form_encode(token)
                )),
            );
        }
        m.insert("Timestamp".into(), json!(p.timestamp));
        m.insert("SignatureVersion".into(), json!("1"));
        m.insert("Signature".into(), json!(Self::signature(p)));
        m.insert("SigningCertURL".into(), json!(self.cert_url()));
        if p.token.is_none() {
            m.insert(
                "UnsubscribeURL".into(),
                json!(self.unsubscribe_url(subscription)),
            );
        }
        if !p.message_attributes.is_empty() {
            m.insert(
                "MessageAttributes".into(),
                typed_attributes(&p.message_attributes),
            );
        }
        Value::Object(m)
    }

    /// The Lambda SNS event of one notification.
    fn lambda_event(&self, p: &Payload, subscription: &str) -> Value {
        json!({"Records": [{
            "EventSource": "aws:sns",
            "EventVersion": "1.0",
            "EventSubscriptionArn": subscription,
            "Sns": {
                "Type": p.kind,
                "MessageId": p.message_id,
                "TopicArn": p.topic_arn,
                "Subject": p.subject,
                "Message": p.message,
                "Timestamp": p.timestamp,
                "SignatureVersion": "1",
                "Signature": Self::signature(p),
                "SigningCertUrl": self.cert_url(),
                "UnsubscribeUrl": self.unsubscribe_url(subscription),
                "MessageAttributes": typed_attributes(&p.message_attributes),
            }
        }]})
    }

    /// What delivery `d` sends, or `None` when its subscription is gone.
    pub async fn render(&self, d: &DeliveryRecord) -> Result<Option<Outgoing>, TopicsError> {
        let store = self.ctx.store.clone();
        let arn = d.subscription.clone();
        let Some(sub) = blocking(move || store.get_subscription(&arn)).await? else {
            return Ok(None);
        };
        let p: Payload = serde_json::from_str(&d.payload).map_err(json_err)?;
        let attrs = parse_map(&sub.attributes)?;
        let raw = attrs
            .get("RawMessageDelivery")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            && p.token.is_none();
        let mut headers = Vec::new();
        let body = match sub.protocol.as_str() {
            "lambda" => self.lambda_event(&p, &sub.arn).to_string(),
            _ if raw => p.message.clone(),
            _ => self.envelope(&p, &sub.arn).to_string(),
        };
        if sub.protocol.starts_with("http") {
            headers.push(("x-amz-sns-message-type".to_owned(), p.kind.clone()));
            headers.push(("x-amz-sns-message-id".to_owned(), p.message_id.clone()));
            headers.push(("x-amz-sns-topic-arn".to_owned(), p.topic_arn.clone()));
            if p.token.is_none() {
                headers.push(("x-amz-sns-subscription-arn".to_owned(), sub.arn.clone()));
            }
            if raw {
                headers.push(("x-amz-sns-rawdelivery".to_owned(), "true".to_owned()));
            }
            headers.push((
                "content-type".to_owned(),
                "text/plain; charset=UTF-8".to_owned(),
            ));
        }
        let dead_letter = attrs
            .get("RedrivePolicy")
            .and_then(|r| serde_json::from_str::<Value>(r).ok())
            .and_then(|r| r["deadLetterTargetArn"].as_str().map(str::to_owned));
        Ok(Some(Outgoing {
            subscription: sub.arn.clone(),
            topic: sub.topic.clone(),
            protocol: sub.protocol.clone(),
            endpoint: sub.endpoint.clone(),
            body,
            attributes: if raw {
                p.message_attributes.clone()
            } else {
                BTreeMap::new()
            },
            group: p.message_group_id.clone(),
            dedup: p
                .message_deduplication_id
                .clone()
                .or_else(|| p.message_group_id.as_ref().map(|_| p.message_id.clone())),
            headers,
            dead_letter,
        }))
    }

    /// Whether a Lambda subscriber's resource policy lets
    /// `sns.amazonaws.com` invoke it for this topic (as on AWS, a function
    /// that does not is not invoked).
    pub async fn lambda_allowed(&self, out: &Outgoing) -> Result<bool, TopicsError> {
        let (name, qualifier) = function_of(&out.endpoint);
        let store = self.ctx.store.clone();
        let q = qualifier.unwrap_or_else(|| "$LATEST".to_owned());
        let Some(policy) = blocking(move || store.get_policy(&name, &q)).await? else {
            return Ok(false);
        };
        let Ok(Value::Array(list)) = serde_json::from_str::<Value>(&policy.statements) else {
            return Ok(false);
        };
        Ok(lambdad_model::policy::allows_service(
            &list,
            "sns.amazonaws.com",
            "lambda:InvokeFunction",
            &topic_arn_of(&out.subscription),
            &self.ctx.account,
        ))
    }

    /// Whether the policy of built-in queue `queue` lets `sns.amazonaws.com`
    /// send this topic's messages to it (`sqs:SendMessage` with
    /// `aws:SourceArn` the topic, as AWS requires). Only checked when
    /// lambdad enforces policies (`--auth sigv4`); a queue without a
    /// policy then refuses.
    pub async fn queue_allowed(
        &self,
        queues: &crate::queues::Queues,
        queue: &str,
        out: &Outgoing,
    ) -> Result<bool, TopicsError> {
        if !self.queue_policies {
            return Ok(true);
        }
        let attrs = match queues.get_attributes(queue, &["Policy".to_owned()]).await {
            Ok(a) => a,
            Err(crate::queues::QueuesError::Internal(e)) => return Err(TopicsError::Internal(e)),
            Err(_) => return Ok(false),
        };
        let Some(policy) = attrs
            .get("Policy")
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
        else {
            return Ok(false);
        };
        let statements = match &policy["Statement"] {
            Value::Array(list) => list.clone(),
            Value::Object(_) => vec![policy["Statement"].clone()],
            _ => return Ok(false),
        };
        Ok(lambdad_model::policy::allows_service(
            &statements,
            "sns.amazonaws.com",
            "sqs:SendMessage",
            &topic_arn_of(&out.subscription),
            &self.ctx.account,
        ))
    }

    /// Up to `max` due deliveries, leased for `lease_ms`.
    pub async fn lease(
        &self,
        max: usize,
        lease_ms: i64,
    ) -> Result<Vec<DeliveryRecord>, TopicsError> {
        let store = self.ctx.store.clone();
        let now = crate::queues::now_ms();
        Ok(blocking(move || store.lease_deliveries(now, max, now + lease_ms)).await?)
    }

    /// A delivery is done (delivered or given up).
    pub async fn finish(&self, seq: i64) -> Result<(), TopicsError> {
        let store = self.ctx.store.clone();
        Ok(blocking(move || store.delete_delivery(seq)).await?)
    }

    /// A delivery failed; try it again after `delay_ms`.
    pub async fn retry_later(&self, d: &DeliveryRecord, delay_ms: i64) -> Result<(), TopicsError> {
        let store = self.ctx.store.clone();
        let (seq, attempts) = (d.seq, d.attempts + 1);
        let due = crate::queues::now_ms() + delay_ms;
        Ok(blocking(move || store.retry_delivery(seq, attempts, due)).await?)
    }

    /// Counts a finished delivery of `topic` by `protocol`.
    pub fn count(&self, topic: &str, protocol: &str, delivered: bool) {
        let s = self.stats(topic);
        let map = if delivered { &s.delivered } else { &s.failed };
        *super::lock(map).entry(protocol.to_owned()).or_default() += 1;
    }

    /// The topic ARN of a subscription ARN.
    pub fn topic_of_subscription(subscription: &str) -> String {
        topic_arn_of(subscription)
    }
}

fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
