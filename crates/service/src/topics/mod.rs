//! The built-in SNS service: topics and subscriptions here, publishing in
//! [`publish`], filter policies in [`filter`], what a delivery carries in
//! [`deliver`], errors in [`error`]. Topics are named by ARN
//! (`arn:aws:sns:REGION:ACCOUNT:NAME`) of lambdad's account; state lives in
//! the store (`TopicStore`), and a publish stores the deliveries it owes
//! before it answers, so they survive a crash.

pub mod access;
pub mod deliver;
pub mod error;
pub mod filter;
pub mod publish;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use lambdad_store::StoreError;
use lambdad_store::topics::{SubscriptionRecord, TopicRecord};
use serde_json::json;

use crate::context::{Context, blocking};
use crate::error::ServiceError;
pub use error::TopicsError;
use error::invalid;

/// Most tags a topic may carry.
const MAX_TAGS: usize = 50;
/// The attributes CreateTopic and SetTopicAttributes accept.
const TOPIC_ATTRIBUTES: &[&str] = &[
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "FifoTopic",
    "ContentBasedDeduplication",
    "ArchivePolicy",
    "FifoThroughputScope",
];
/// The attributes Subscribe and SetSubscriptionAttributes accept.
const SUBSCRIPTION_ATTRIBUTES: &[&str] = &[
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
];
/// The protocols the built-in SNS delivers to.
const PROTOCOLS: &[&str] = &["lambda", "sqs", "http", "https"];

/// Delivery counters of one topic since start-up, by protocol.
#[derive(Debug, Default)]
pub struct TopicStats {
    /// Messages published.
    pub published: AtomicU64,
    /// Deliveries that succeeded, by protocol.
    pub delivered: Mutex<BTreeMap<String, u64>>,
    /// Deliveries given up, by protocol.
    pub failed: Mutex<BTreeMap<String, u64>>,
}

/// One topic's metrics.
#[derive(Debug, Clone)]
pub struct TopicMetrics {
    /// The topic.
    pub name: String,
    /// Messages published since start-up.
    pub published: u64,
    /// Deliveries that succeeded, by protocol.
    pub delivered: BTreeMap<String, u64>,
    /// Deliveries given up, by protocol.
    pub failed: BTreeMap<String, u64>,
}

/// The built-in SNS service.
#[derive(Clone, Debug)]
pub struct Topics {
    ctx: Context,
    /// Where this server's API is reached (SubscribeURL, UnsubscribeURL).
    endpoint: String,
    stats: Arc<Mutex<HashMap<String, Arc<TopicStats>>>>,
    /// Wakes the delivery worker when a publish stored deliveries.
    wake: Arc<tokio::sync::Notify>,
    /// Whether a queue's policy must let SNS send to it.
    queue_policies: bool,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn json_err(e: serde_json::Error) -> TopicsError {
    TopicsError::Internal(ServiceError::Store(StoreError::Corrupt(e)))
}

fn parse_map(text: &str) -> Result<BTreeMap<String, String>, TopicsError> {
    serde_json::from_str(text).map_err(json_err)
}

fn valid_topic_name(name: &str, fifo: bool) -> bool {
    let base = if fifo {
        name.strip_suffix(".fifo")
    } else {
        Some(name)
    };
    base.is_some_and(|b| {
        !b.is_empty()
            && name.len() <= 256
            && b.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

fn boolean(name: &str, value: &str) -> Result<(), TopicsError> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "false" => Ok(()),
        _ => Err(invalid(format!(
            "Attributes Reason: {name}: Invalid value [{value}]. Must be true or false."
        ))),
    }
}

impl Topics {
    /// The service over `ctx`; `endpoint` is this server's API address.
    pub fn new(ctx: Context, endpoint: &str, queue_policies: bool) -> Self {
        Self {
            ctx,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            stats: Arc::default(),
            wake: Arc::default(),
            queue_policies,
        }
    }

    /// The account topics belong to.
    pub fn account(&self) -> &str {
        &self.ctx.account
    }

    /// Notified whenever deliveries were stored.
    pub fn wake(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    pub(crate) fn stats(&self, name: &str) -> Arc<TopicStats> {
        lock(&self.stats)
            .entry(name.to_owned())
            .or_default()
            .clone()
    }

    /// A topic's ARN.
    pub fn arn(&self, region: &str, name: &str) -> String {
        format!("arn:aws:sns:{region}:{}:{name}", self.ctx.account)
    }

    /// The topic name of a topic ARN of this account, if it is one.
    pub fn name_of_arn(&self, arn: &str) -> Option<String> {
        let parts: Vec<&str> = arn.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "sns", _, account, name]
                if *account == self.ctx.account && !name.is_empty() =>
            {
                Some((*name).to_owned())
            }
            _ => None,
        }
    }

    /// The topic a `TopicArn` parameter names (it must exist).
    pub(crate) async fn topic(&self, arn: Option<&str>) -> Result<TopicRecord, TopicsError> {
        let arn = arn.ok_or_else(|| invalid("TopicArn"))?;
        if !arn.starts_with("arn:") || arn.split(':').count() != 6 {
            return Err(invalid("TopicArn"));
        }
        let name = self.name_of_arn(arn).ok_or(TopicsError::TopicNotFound)?;
        let store = self.ctx.store.clone();
        blocking(move || store.get_topic(&name))
            .await?
            .ok_or(TopicsError::TopicNotFound)
    }

    /// CreateTopic: the topic's ARN (an existing topic with the same
    /// attributes is answered as created).
    pub async fn create_topic(
        &self,
        region: &str,
        name: Option<String>,
        attributes: BTreeMap<String, String>,
        tags: BTreeMap<String, String>,
    ) -> Result<String, TopicsError> {
        let name = name.ok_or_else(|| invalid("Topic Name"))?;
        for (k, v) in &attributes {
            if !TOPIC_ATTRIBUTES.contains(&k.as_str()) {
                return Err(invalid("Attributes Reason: Unknown attribute"));
            }
            if k == "FifoTopic" || k == "ContentBasedDeduplication" {
                boolean(k, v)?;
            }
        }
        let fifo = attributes
            .get("FifoTopic")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"));
        if !valid_topic_name(&name, fifo) {
            return Err(invalid(if fifo {
                "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
            } else {
                "Topic Name"
            }));
        }
        if !fifo
            && attributes
                .get("ContentBasedDeduplication")
                .is_some_and(|v| v.eq_ignore_ascii_case("true"))
        {
            return Err(invalid(
                "Attributes Reason: Content based deduplication can only be set for FIFO topics",
            ));
        }
        if tags.len() > MAX_TAGS {
            return Err(TopicsError::InvalidParameterValue(
                "Could not complete request: tag quota of per resource exceeded".to_owned(),
            ));
        }
        let arn = self.arn(region, &name);
        let record = TopicRecord {
            name: name.clone(),
            region: region.to_owned(),
            attributes: serde_json::to_string(&attributes).map_err(json_err)?,
            tags: serde_json::to_string(&tags).map_err(json_err)?,
            created_ms: crate::queues::now_ms(),
        };
        let store = self.ctx.store.clone();
        match blocking(move || store.create_topic(&record)).await {
            Ok(()) => Ok(arn),
            Err(ServiceError::Store(StoreError::AlreadyExists { .. })) => {
                let existing = self.topic(Some(&arn)).await?;
                let current = parse_map(&existing.attributes)?;
                if attributes.iter().any(|(k, v)| current.get(k) != Some(v)) {
                    return Err(invalid(
                        "Attributes Reason: Topic already exists with different attributes",
                    ));
                }
                Ok(arn)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// DeleteTopic (deleting a topic that does not exist succeeds, as on AWS).
    pub async fn delete_topic(&self, arn: Option<&str>) -> Result<(), TopicsError> {
        match self.topic(arn).await {
            Ok(t) => {
                let store = self.ctx.store.clone();
                let name = t.name.clone();
                blocking(move || store.delete_topic(&name)).await?;
                lock(&self.stats).remove(&t.name);
                Ok(())
            }
            Err(TopicsError::TopicNotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// ListTopics: every topic's ARN.
    pub async fn list_topics(&self) -> Result<Vec<String>, TopicsError> {
        let store = self.ctx.store.clone();
        let topics = blocking(move || store.list_topics()).await?;
        Ok(topics
            .iter()
            .map(|t| self.arn(&t.region, &t.name))
            .collect())
    }

    /// GetTopicAttributes.
    pub async fn topic_attributes(
        &self,
        arn: Option<&str>,
    ) -> Result<BTreeMap<String, String>, TopicsError> {
        let t = self.topic(arn).await?;
        let topic_arn = self.arn(&t.region, &t.name);
        let subs = self.subscriptions_of(Some(t.name.clone())).await?;
        let pending = subs.iter().filter(|s| s.token.is_some()).count();
        let mut out = parse_map(&t.attributes)?;
        let account = self.ctx.account.clone();
        out.entry("Policy".to_owned()).or_insert_with(|| {
            lambdad_model::policy::default_topic_policy(&topic_arn, &account).to_string()
        });
        out.entry("DisplayName".to_owned()).or_default();
        out.insert("TopicArn".to_owned(), topic_arn);
        out.insert("Owner".to_owned(), self.ctx.account.clone());
        out.insert(
            "SubscriptionsConfirmed".to_owned(),
            (subs.len() - pending).to_string(),
        );
        out.insert("SubscriptionsPending".to_owned(), pending.to_string());
        out.insert("SubscriptionsDeleted".to_owned(), "0".to_owned());
        out.insert(
            "EffectiveDeliveryPolicy".to_owned(),
            json!({"http": {"defaultHealthyRetryPolicy": {"minDelayTarget": 20, "maxDelayTarget": 20,
                "numRetries": 3, "numMaxDelayRetries": 0, "numNoDelayRetries": 0,
                "numMinDelayRetries": 0, "backoffFunction": "linear"},
                "disableSubscriptionOverrides": false, "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}})
            .to_string(),
        );
        Ok(out)
    }

    /// SetTopicAttributes.
    pub async fn set_topic_attribute(
        &self,
        arn: Option<&str>,
        name: Option<&str>,
        value: Option<String>,
    ) -> Result<(), TopicsError> {
        let mut t = self.topic(arn).await?;
        let name = name.ok_or_else(|| invalid("AttributeName"))?;
        if !TOPIC_ATTRIBUTES.contains(&name) || name == "FifoTopic" {
            return Err(invalid("AttributeName"));
        }
        let value = value.unwrap_or_default();
        if name == "ContentBasedDeduplication" {
            boolean(name, &value)?;
            if !t.name.ends_with(".fifo") {
                return Err(invalid(
                    "ContentBasedDeduplication Reason: Content based deduplication can only be set for FIFO topics",
                ));
            }
        }
        let mut attrs = parse_map(&t.attributes)?;
        attrs.insert(name.to_owned(), value);
        t.attributes = serde_json::to_string(&attrs).map_err(json_err)?;
        let store = self.ctx.store.clone();
        blocking(move || store.update_topic(&t)).await?;
        Ok(())
    }

    /// ListTagsForResource.
    pub async fn tags(&self, arn: Option<&str>) -> Result<BTreeMap<String, String>, TopicsError> {
        let t = self.topic(arn).await.map_err(|e| match e {
            TopicsError::TopicNotFound => TopicsError::ResourceNotFound,
            e => e,
        })?;
        parse_map(&t.tags)
    }

    /// TagResource (`add`) and UntagResource (`remove`).
    pub async fn retag(
        &self,
        arn: Option<&str>,
        add: BTreeMap<String, String>,
        remove: &[String],
    ) -> Result<(), TopicsError> {
        let mut t = self.topic(arn).await.map_err(|e| match e {
            TopicsError::TopicNotFound => TopicsError::ResourceNotFound,
            e => e,
        })?;
        let mut tags = parse_map(&t.tags)?;
        for k in remove {
            tags.remove(k);
        }
        tags.extend(add);
        if tags.len() > MAX_TAGS {
            return Err(TopicsError::InvalidParameterValue(
                "Could not complete request: tag quota of per resource exceeded".to_owned(),
            ));
        }
        t.tags = serde_json::to_string(&tags).map_err(json_err)?;
        let store = self.ctx.store.clone();
        blocking(move || store.update_topic(&t)).await?;
        Ok(())
    }

    pub(crate) async fn subscriptions_of(
        &self,
        topic: Option<String>,
    ) -> Result<Vec<SubscriptionRecord>, TopicsError> {
        let store = self.ctx.store.clone();
        Ok(blocking(move || store.list_subscriptions(topic.as_deref())).await?)
    }

    /// A subscription by ARN.
    pub async fn subscription(&self, arn: Option<&str>) -> Result<SubscriptionRecord, TopicsError> {
        let arn = arn
            .filter(|a| a.starts_with("arn:") && a.split(':').count() == 7)
            .ok_or_else(|| invalid("SubscriptionArn"))?
            .to_owned();
        let store = self.ctx.store.clone();
        blocking(move || store.get_subscription(&arn))
            .await?
            .ok_or(TopicsError::SubscriptionNotFound)
    }

    /// Validates subscription attributes (FilterPolicy, RawMessageDelivery, …).
    fn check_subscription_attributes(
        protocol: &str,
        attrs: &BTreeMap<String, String>,
    ) -> Result<(), TopicsError> {
        for (k, v) in attrs {
            if !SUBSCRIPTION_ATTRIBUTES.contains(&k.as_str()) {
                return Err(invalid("AttributeName"));
            }
            match k.as_str() {
                "RawMessageDelivery" => {
                    boolean(k, v)?;
                    if protocol == "lambda" {
                        return Err(invalid(
                            "Attributes Reason: Delivery protocol [lambda] does not support raw message delivery.",
                        ));
                    }
                }
                "FilterPolicyScope" if v != "MessageAttributes" && v != "MessageBody" => {
                    return Err(invalid(
                        "Attributes Reason: FilterPolicyScope: Invalid value [".to_owned()
                            + v
                            + "]. Please use either MessageBody or MessageAttributes",
                    ));
                }
                "FilterPolicy" if !v.is_empty() => {
                    filter::FilterPolicy::parse(v)
                        .map_err(|e| invalid(format!("FilterPolicy: {e}")))?;
                }
                "RedrivePolicy" if !v.is_empty() => {
                    let p: serde_json::Value = serde_json::from_str(v).map_err(|_| {
                        invalid("RedrivePolicy: Redrive policy is not a valid JSON")
                    })?;
                    if p.get("deadLetterTargetArn")
                        .and_then(|a| a.as_str())
                        .is_none()
                    {
                        return Err(invalid("RedrivePolicy: deadLetterTargetArn is missing"));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// ConfirmSubscription: the subscription's ARN.
    pub async fn confirm(
        &self,
        topic_arn: Option<&str>,
        token: Option<&str>,
    ) -> Result<String, TopicsError> {
        let t = self.topic(topic_arn).await?;
        let token = token.ok_or_else(|| invalid("Token"))?;
        let subs = self.subscriptions_of(Some(t.name.clone())).await?;
        let mut sub = subs
            .into_iter()
            .find(|s| s.token.as_deref() == Some(token))
            .ok_or_else(|| invalid("Invalid token"))?;
        sub.token = None;
        let arn = sub.arn.clone();
        let store = self.ctx.store.clone();
        blocking(move || store.update_subscription(&sub)).await?;
        Ok(arn)
    }

    /// Unsubscribe.
    pub async fn unsubscribe(&self, arn: Option<&str>) -> Result<(), TopicsError> {
        let sub = self.subscription(arn).await?;
        let store = self.ctx.store.clone();
        blocking(move || store.delete_subscription(&sub.arn)).await?;
        Ok(())
    }

    /// ListSubscriptions (`topic` None) and ListSubscriptionsByTopic.
    pub async fn list_subscriptions(
        &self,
        topic_arn: Option<Option<&str>>,
    ) -> Result<Vec<BTreeMap<&'static str, String>>, TopicsError> {
        let topic = match topic_arn {
            Some(arn) => Some(self.topic(arn).await?),
            None => None,
        };
        let subs = self.subscriptions_of(topic.map(|t| t.name)).await?;
        Ok(subs
            .iter()
            .map(|s| {
                BTreeMap::from([
                    (
                        "SubscriptionArn",
                        if s.token.is_some() {
                            "PendingConfirmation".to_owned()
                        } else {
                            s.arn.clone()
                        },
                    ),
                    ("Owner", self.ctx.account.clone()),
                    ("Protocol", s.protocol.clone()),
                    ("Endpoint", s.endpoint.clone()),
                    ("TopicArn", topic_arn_of(&s.arn)),
                ])
            })
            .collect())
    }

    /// GetSubscriptionAttributes.
    pub async fn subscription_attributes(
        &self,
        arn: Option<&str>,
    ) -> Result<BTreeMap<String, String>, TopicsError> {
        let s = self.subscription(arn).await?;
        let mut out = parse_map(&s.attributes)?;
        out.entry("RawMessageDelivery".to_owned())
            .or_insert_with(|| "false".to_owned());
        if out.contains_key("FilterPolicy") {
            out.entry("FilterPolicyScope".to_owned())
                .or_insert_with(|| "MessageAttributes".to_owned());
        }
        out.insert("SubscriptionArn".to_owned(), s.arn.clone());
        out.insert("TopicArn".to_owned(), topic_arn_of(&s.arn));
        out.insert("Owner".to_owned(), self.ctx.account.clone());
        out.insert("Protocol".to_owned(), s.protocol.clone());
        out.insert("Endpoint".to_owned(), s.endpoint.clone());
        out.insert(
            "PendingConfirmation".to_owned(),
            s.token.is_some().to_string(),
        );
        out.insert(
            "ConfirmationWasAuthenticated".to_owned(),
            (s.token.is_none()).to_string(),
        );
        out.insert(
            "SubscriptionPrincipal".to_owned(),
            format!("arn:aws:iam::{}:root", self.ctx.account),
        );
        Ok(out)
    }

    /// SetSubscriptionAttributes.
    pub async fn set_subscription_attribute(
        &self,
        arn: Option<&str>,
        name: Option<&str>,
        value: Option<String>,
    ) -> Result<(), TopicsError> {
        let mut s = self.subscription(arn).await?;
        let name = name.ok_or_else(|| invalid("AttributeName"))?;
        let value = value.unwrap_or_default();
        let change = BTreeMap::from([(name.to_owned(), value.clone())]);
        Self::check_subscription_attributes(&s.protocol, &change)?;
        let mut attrs = parse_map(&s.attributes)?;
        if value.is_empty() && name == "FilterPolicy" {
            attrs.remove(name);
        } else {
            attrs.insert(name.to_owned(), value);
        }
        s.attributes = serde_json::to_string(&attrs).map_err(json_err)?;
        let store = self.ctx.store.clone();
        blocking(move || store.update_subscription(&s)).await?;
        Ok(())
    }

    /// Subscribe: the subscription's ARN, or `pending confirmation` for an
    /// HTTP endpoint (unless `return_arn`).
    pub async fn subscribe(
        &self,
        topic_arn: Option<&str>,
        protocol: Option<&str>,
        endpoint: Option<String>,
        attributes: BTreeMap<String, String>,
        return_arn: bool,
    ) -> Result<String, TopicsError> {
        let t = self.topic(topic_arn).await?;
        let protocol = protocol
            .ok_or_else(|| invalid("Protocol"))?
            .to_ascii_lowercase();
        if !PROTOCOLS.contains(&protocol.as_str()) {
            return Err(invalid(format!(
                "Amazon SNS does not support this protocol string: {protocol}"
            )));
        }
        let endpoint = endpoint.unwrap_or_default();
        let bad_endpoint = match protocol.as_str() {
            "lambda" => (!endpoint.starts_with("arn:aws:lambda:")).then_some("Lambda endpoint ARN"),
            "sqs" => (!endpoint.starts_with("arn:aws:sqs:")).then_some("SQS endpoint ARN"),
            "http" => (!endpoint.starts_with("http://"))
                .then_some("Endpoint must match the specified protocol"),
            _ => (!endpoint.starts_with("https://"))
                .then_some("Endpoint must match the specified protocol"),
        };
        if let Some(why) = bad_endpoint {
            return Err(invalid(why));
        }
        if t.name.ends_with(".fifo") && protocol != "sqs" {
            return Err(invalid(format!("Invalid protocol type: {protocol}")));
        }
        Self::check_subscription_attributes(&protocol, &attributes)?;
        let existing = self.subscriptions_of(Some(t.name.clone())).await?;
        if let Some(s) = existing
            .iter()
            .find(|s| s.protocol == protocol && s.endpoint == endpoint)
        {
            let current = parse_map(&s.attributes)?;
            if attributes.iter().any(|(k, v)| current.get(k) != Some(v)) {
                return Err(invalid(
                    "Attributes Reason: Subscription already exists with different attributes",
                ));
            }
            return Ok(if s.token.is_some() && !return_arn {
                "pending confirmation".to_owned()
            } else {
                s.arn.clone()
            });
        }
        let topic_arn = self.arn(&t.region, &t.name);
        let arn = format!("{topic_arn}:{}", uuid::Uuid::new_v4());
        let http = protocol.starts_with("http");
        let token = http.then(|| {
            use rand::Rng as _;
            let bytes: [u8; 32] = rand::rng().random();
            hex::encode(bytes)
        });
        let record = SubscriptionRecord {
            arn: arn.clone(),
            topic: t.name.clone(),
            protocol,
            endpoint,
            attributes: serde_json::to_string(&attributes).map_err(json_err)?,
            token: token.clone(),
            created_ms: crate::queues::now_ms(),
        };
        let first = match &token {
            Some(token) => vec![deliver::confirmation(&arn, &topic_arn, token)?],
            None => Vec::new(),
        };
        let store = self.ctx.store.clone();
        blocking(move || store.create_subscription(&record, &first)).await?;
        self.wake.notify_one();
        Ok(if http && !return_arn {
            "pending confirmation".to_owned()
        } else {
            arn
        })
    }

    /// Per-topic metrics: every topic, with its counters since start-up.
    pub async fn metrics(&self) -> Result<Vec<TopicMetrics>, TopicsError> {
        let store = self.ctx.store.clone();
        let topics = blocking(move || store.list_topics()).await?;
        Ok(topics
            .into_iter()
            .map(|t| {
                let s = self.stats(&t.name);
                TopicMetrics {
                    published: s.published.load(std::sync::atomic::Ordering::Relaxed),
                    delivered: lock(&s.delivered).clone(),
                    failed: lock(&s.failed).clone(),
                    name: t.name,
                }
            })
            .collect())
    }

    /// This server's API address.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }
}

/// The topic ARN of a subscription ARN (`TOPIC_ARN:UUID`).
pub fn topic_arn_of(subscription_arn: &str) -> String {
    subscription_arn
        .rsplit_once(':')
        .map_or_else(String::new, |(t, _)| t.to_owned())
}
