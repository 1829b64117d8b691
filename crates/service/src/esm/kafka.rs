//! The self-managed Apache Kafka side of event source mappings. A Kafka
//! mapping is an ordinary [`Mapping`] with no event source ARN whose
//! `kafka` member holds what only Kafka has (the bootstrap servers, the one
//! topic, where to start, the consumer group); this module parses,
//! validates and renders those members with the API model's constraints.
//! The poller is `lambdad_triggers::kafka_poller`.

use lambdad_model::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::service_error;
use crate::esm::streams::StreamRequest;
use crate::esm::{Mapping, MappingsError, MappingsResult};

/// The batch size of a Kafka mapping that names none.
pub const DEFAULT_KAFKA_BATCH: u32 = 100;
/// The largest batch from Kafka.
pub const MAX_KAFKA_BATCH: u32 = 10_000;
/// Most bootstrap servers (the model's `EndpointLists`).
pub const MAX_SERVERS: usize = 10;
/// The longest bootstrap server (the model's `Endpoint`).
pub const MAX_SERVER: usize = 300;
/// The longest topic name (the model's `Topic`).
pub const MAX_TOPIC: usize = 249;
/// The longest consumer group id (the model's `URI`).
pub const MAX_GROUP: usize = 200;
/// The endpoint type a self-managed source names its servers by.
const BOOTSTRAP: &str = "KAFKA_BOOTSTRAP_SERVERS";

service_error! {
    /// Why a Kafka mapping's members are refused.
    pub enum KafkaError {
        /// A member the model refuses (length, pattern, enum).
        #[error("{}", validate::one_error(.value, .member, .constraint))]
        Invalid { value: String, member: String, constraint: String } => Validation,
        /// A Kafka mapping without `Topics`.
        #[error("Required 'topics' parameter is missing.")]
        NoTopics => InvalidParameterValue,
        /// `SelfManagedEventSource` without bootstrap servers.
        #[error("Required 'KAFKA_BOOTSTRAP_SERVERS' endpoints are missing.")]
        NoServers => InvalidParameterValue,
        /// Both an `EventSourceArn` and a `SelfManagedEventSource`.
        #[error("Only one of EventSourceArn or SelfManagedEventSource can be specified.")]
        TwoSources => InvalidParameterValue,
        /// `Topics` for a source that is not Kafka.
        #[error("Unsupported Topics parameter for given event source mapping type.")]
        TopicsNotSupported => InvalidParameterValue,
        /// `SelfManagedKafkaEventSourceConfig` for a source that is not Kafka.
        #[error("Unsupported SelfManagedKafkaEventSourceConfig parameter for given event source mapping type.")]
        ConfigNotSupported => InvalidParameterValue,
        /// A member that self-managed Kafka mappings do not take.
        #[error("Unsupported {0} parameter for given event source mapping type.")]
        Unsupported(&'static str) => InvalidParameterValue,
        /// `AT_TIMESTAMP` without `StartingPositionTimestamp`.
        #[error("StartingPositionTimestamp must be provided when StartingPosition is AT_TIMESTAMP.")]
        NoTimestamp => InvalidParameterValue,
        /// A consumer group id another Kafka mapping uses.
        #[error(
            "An event source mapping with consumer group id \"{group}\" already exists. Please update or delete the existing mapping with UUID {uuid}"
        )]
        GroupExists { group: String, uuid: String } => ResourceConflict,
        /// A consumer group id that differs from the mapping's (it cannot change).
        #[error("Updating the consumer group ID of an existing event source mapping is not supported.")]
        GroupFixed => InvalidParameterValue,
    }
}

/// What only Kafka mappings have, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KafkaSettings {
    /// `HOST:PORT` of each bootstrap server, as given.
    pub bootstrap_servers: Vec<String>,
    /// The one topic read.
    pub topic: String,
    /// `TRIM_HORIZON`, `LATEST` or `AT_TIMESTAMP`.
    pub starting_position: String,
    /// Epoch seconds, with `AT_TIMESTAMP`.
    pub starting_timestamp: Option<f64>,
    /// The consumer group (the mapping's UUID when none is given).
    pub consumer_group: String,
}

impl KafkaSettings {
    /// The key of a partition's records in the event: `TOPIC-PARTITION`.
    pub fn partition_key(&self, partition: i32) -> String {
        format!("{}-{partition}", self.topic)
    }
}

/// The Kafka members of Create/UpdateEventSourceMapping.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KafkaRequest {
    self_managed_event_source: Option<Value>,
    self_managed_kafka_event_source_config: Option<Value>,
    topics: Option<Vec<String>>,
}

impl KafkaRequest {
    /// Whether the request names a self-managed Kafka cluster.
    pub fn is_kafka(&self) -> bool {
        self.self_managed_event_source.is_some()
    }
}

fn invalid(value: impl Into<String>, member: &str, constraint: &str) -> MappingsError {
    KafkaError::Invalid {
        value: value.into(),
        member: member.to_owned(),
        constraint: constraint.to_owned(),
    }
    .into()
}

/// A length check with the model's messages.
fn length(value: &str, member: &str, max: usize) -> MappingsResult<()> {
    if value.is_empty() {
        return Err(invalid(
            value,
            member,
            "Member must have length greater than or equal to 1",
        ));
    }
    if value.len() > max {
        return Err(invalid(
            value,
            member,
            &format!("Member must have length less than or equal to {max}"),
        ));
    }
    Ok(())
}

/// A DNS label: alphanumerics, with hyphens inside.
fn label(l: &str) -> bool {
    !l.is_empty()
        && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !l.starts_with('-')
        && !l.ends_with('-')
}

/// The model's `Endpoint` pattern: `HOST:PORT`, a port of 1–5 digits.
fn server_ok(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    (1..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && host.split('.').all(label)
}

/// The model's `Topic` pattern: `[^.]([a-zA-Z0-9\-_.]+)`.
fn topic_ok(t: &str) -> bool {
    t.len() >= 2
        && !t.starts_with('.')
        && t.bytes()
            .skip(1)
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn servers(source: &Value) -> MappingsResult<Vec<String>> {
    let endpoints = source
        .get("Endpoints")
        .and_then(Value::as_object)
        .ok_or(KafkaError::NoServers)?;
    if endpoints.len() > 2 {
        return Err(invalid(
            format!("{endpoints:?}"),
            "selfManagedEventSource.endpoints",
            "Member must have length less than or equal to 2",
        ));
    }
    if let Some(kind) = endpoints.keys().find(|k| *k != BOOTSTRAP) {
        return Err(invalid(
            kind.as_str(),
            "selfManagedEventSource.endpoints",
            "Map keys must satisfy constraint: [Member must satisfy enum value set: [KAFKA_BOOTSTRAP_SERVERS]]",
        ));
    }
    let list: Vec<String> = endpoints
        .get(BOOTSTRAP)
        .and_then(Value::as_array)
        .ok_or(KafkaError::NoServers)?
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect();
    let member = "selfManagedEventSource.endpoints";
    if list.is_empty() {
        return Err(invalid(
            "[]",
            member,
            "Map value must satisfy constraint: [Member must have length greater than or equal to 1]",
        ));
    }
    if list.len() > MAX_SERVERS {
        return Err(invalid(
            format!("[{}]", list.join(", ")),
            member,
            "Map value must satisfy constraint: [Member must have length less than or equal to 10]",
        ));
    }
    for s in &list {
        length(
            s,
            "selfManagedEventSource.endpoints.member.member",
            MAX_SERVER,
        )?;
        if !server_ok(s) {
            return Err(invalid(
                s.as_str(),
                "selfManagedEventSource.endpoints.member.member",
                "Member must satisfy regular expression pattern: (([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\\-]*[a-zA-Z0-9])\\.)*([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9\\-]*[A-Za-z0-9]):[0-9]{1,5}",
            ));
        }
    }
    Ok(list)
}

fn topic(topics: Option<Vec<String>>) -> MappingsResult<String> {
    let topics = topics.ok_or(KafkaError::NoTopics)?;
    let shown = format!("[{}]", topics.join(", "));
    if topics.is_empty() {
        return Err(invalid(
            shown,
            "topics",
            "Member must have length greater than or equal to 1",
        ));
    }
    if topics.len() > 1 {
        return Err(invalid(
            shown,
            "topics",
            "Member must have length less than or equal to 1",
        ));
    }
    let t = topics.into_iter().next().unwrap_or_default();
    length(&t, "topics.1.member", MAX_TOPIC)?;
    if !topic_ok(&t) {
        return Err(invalid(
            t,
            "topics.1.member",
            "Member must satisfy regular expression pattern: [^.]([a-zA-Z0-9\\-_.]+)",
        ));
    }
    Ok(t)
}

/// The consumer group id of a `SelfManagedKafkaEventSourceConfig`, if any.
fn group(config: Option<&Value>) -> MappingsResult<Option<String>> {
    let Some(id) = config.and_then(|c| c.get("ConsumerGroupId")) else {
        return Ok(None);
    };
    let id = id.as_str().unwrap_or_default();
    let member = "selfManagedKafkaEventSourceConfig.consumerGroupId";
    length(id, member, MAX_GROUP)?;
    if !id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-/*:_+=.@".contains(&b))
    {
        return Err(invalid(
            id,
            member,
            "Member must satisfy regular expression pattern: [a-zA-Z0-9-\\/*:_+=.@-]*",
        ));
    }
    Ok(Some(id.to_owned()))
}

/// The Kafka settings of a new mapping `uuid`: `None` when the request
/// names no self-managed cluster (then the Kafka members are refused).
pub fn create(
    uuid: &str,
    source_arn: Option<&str>,
    req: KafkaRequest,
    stream: &StreamRequest,
) -> MappingsResult<Option<KafkaSettings>> {
    let Some(source) = req.self_managed_event_source else {
        if req.topics.is_some() {
            return Err(KafkaError::TopicsNotSupported.into());
        }
        if req.self_managed_kafka_event_source_config.is_some() {
            return Err(KafkaError::ConfigNotSupported.into());
        }
        return Ok(None);
    };
    if source_arn.is_some() {
        return Err(KafkaError::TwoSources.into());
    }
    let bootstrap_servers = servers(&source)?;
    let topic = topic(req.topics)?;
    if let Some(member) = stream.stream_only() {
        return Err(KafkaError::Unsupported(member).into());
    }
    let (position, timestamp) = stream.starting();
    let position = crate::esm::streams::starting_position(position)?;
    if position == "AT_TIMESTAMP" && timestamp.is_none() {
        return Err(KafkaError::NoTimestamp.into());
    }
    let consumer_group = group(req.self_managed_kafka_event_source_config.as_ref())?
        .unwrap_or_else(|| uuid.to_owned());
    Ok(Some(KafkaSettings {
        bootstrap_servers,
        topic,
        starting_timestamp: timestamp.filter(|_| position == "AT_TIMESTAMP"),
        starting_position: position,
        consumer_group,
    }))
}

/// Refuses a consumer group that another Kafka mapping uses (AWS: it must
/// be unique among all Kafka event sources).
pub fn check_group(k: &KafkaSettings, existing: &[Mapping]) -> MappingsResult<()> {
    match existing.iter().find(|m| {
        m.kafka
            .as_ref()
            .is_some_and(|o| o.consumer_group == k.consumer_group)
    }) {
        Some(dup) => Err(KafkaError::GroupExists {
            group: k.consumer_group.clone(),
            uuid: dup.uuid.clone(),
        }
        .into()),
        None => Ok(()),
    }
}

/// Applies the Kafka members an UpdateEventSourceMapping names: the
/// consumer group cannot change (naming the same one is accepted).
pub fn update(m: &mut Mapping, req: KafkaRequest) -> MappingsResult<()> {
    let Some(config) = req.self_managed_kafka_event_source_config else {
        return Ok(());
    };
    let Some(k) = &m.kafka else {
        return Err(KafkaError::ConfigNotSupported.into());
    };
    match group(Some(&config))? {
        Some(g) if g != k.consumer_group => Err(KafkaError::GroupFixed.into()),
        _ => Ok(()),
    }
}

/// The Kafka-only checks of a whole mapping (after create or update).
pub fn check(m: &Mapping) -> MappingsResult<()> {
    if m.batch_size == 0 || m.batch_size > MAX_KAFKA_BATCH {
        return Err(
            validate::at_most(&m.batch_size.to_string(), "batchSize", MAX_KAFKA_BATCH).into(),
        );
    }
    if m.window_secs > crate::esm::MAX_WINDOW_SECS {
        return Err(MappingsError::WindowTooLong);
    }
    if !m.response_types.is_empty() {
        return Err(KafkaError::Unsupported("FunctionResponseTypes").into());
    }
    if m.max_concurrency.is_some() {
        return Err(KafkaError::Unsupported("ScalingConfig").into());
    }
    Ok(())
}

/// Adds the Kafka members to a rendered mapping (which has no `EventSourceArn`).
pub fn render(k: &KafkaSettings, v: &mut Value) {
    if let Some(o) = v.as_object_mut() {
        o.remove("EventSourceArn");
    }
    v["StartingPosition"] = json!(k.starting_position);
    if let Some(t) = k.starting_timestamp {
        v["StartingPositionTimestamp"] = json!(t);
    }
    v["Topics"] = json!([k.topic]);
    v["SelfManagedEventSource"] = json!({ "Endpoints": { BOOTSTRAP: k.bootstrap_servers } });
    v["SelfManagedKafkaEventSourceConfig"] = json!({ "ConsumerGroupId": k.consumer_group });
    v["SourceAccessConfigurations"] = json!([]);
    v["LastProcessingResult"] = json!("No records processed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(server_ok("127.0.0.1:9092"));
        assert!(server_ok("b-1.kafka.example.com:9092"));
        assert!(server_ok("localhost:1"));
        assert!(!server_ok("localhost"));
        assert!(!server_ok("localhost:123456"));
        assert!(!server_ok("-bad.example:9092"));
        assert!(!server_ok("a..b:9092"));
        assert!(topic_ok("orders"));
        assert!(topic_ok("my_topic.v1-2"));
        assert!(!topic_ok(".hidden"));
        assert!(!topic_ok("a"));
        assert!(!topic_ok("bad topic"));
    }

    #[test]
    fn servers_and_topics() {
        let src = json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["a:1", "b.c:2"]}});
        assert_eq!(servers(&src).unwrap(), vec!["a:1", "b.c:2"]);
        assert!(servers(&json!({"Endpoints": {"OTHER": ["a:1"]}})).is_err());
        assert!(servers(&json!({"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": []}})).is_err());
        assert!(servers(&json!({})).is_err());
        assert_eq!(topic(Some(vec!["t1".into()])).unwrap(), "t1");
        assert!(topic(Some(vec![])).is_err());
        assert!(topic(Some(vec!["a1".into(), "b1".into()])).is_err());
        assert!(topic(None).is_err());
    }
}
