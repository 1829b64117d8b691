//! The broker side of event source mappings: Amazon MQ for RabbitMQ. A
//! broker mapping is an ordinary [`Mapping`] whose `broker` member holds
//! what only brokers have (the queue, the virtual host, the secret naming
//! the credentials); this module parses, validates and renders those
//! members. The broker's NAME (in `arn:aws:mq:REGION:ACCOUNT:broker:NAME:ID`)
//! is mapped to an AMQP URL by lambdad's configuration (`--broker`), read
//! by the poller, `lambdad_triggers::rmq_poller`.

use lambdad_model::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::error::service_error;
use crate::esm::{Mapping, MappingsError, MappingsResult};

/// The batch size of a broker mapping that names none.
pub const DEFAULT_BROKER_BATCH: u32 = 100;
/// The largest batch from a broker.
pub const MAX_BROKER_BATCH: u32 = 10_000;
/// The longest queue name (the API model's `Queue`).
pub const MAX_QUEUE_NAME: usize = 1000;
/// The longest `SourceAccessConfiguration.URI`.
pub const MAX_ACCESS_URI: usize = 200;
/// Most `SourceAccessConfigurations` in one request.
pub const MAX_ACCESS_CONFIGURATIONS: usize = 22;
/// Every `SourceAccessType` of the API model.
const ACCESS_TYPES: &str = "[BASIC_AUTH, VPC_SUBNET, VPC_SECURITY_GROUP, SASL_SCRAM_512_AUTH, SASL_SCRAM_256_AUTH, VIRTUAL_HOST, CLIENT_CERTIFICATE_TLS_AUTH, SERVER_ROOT_CA_CERTIFICATE]";

service_error! {
    /// Why a broker mapping's members are refused.
    pub enum BrokerError {
        /// A broker mapping without `Queues`.
        #[error("Required 'queues' parameter is missing.")]
        NoQueues => InvalidParameterValue,
        /// `Queues` with no queue or more than one.
        #[error("{}", validate::one_error(.value, "queues", .constraint))]
        QueueCount { value: String, constraint: &'static str } => Validation,
        /// A queue name that is empty or too long.
        #[error("{}", validate::one_error(.value, "queues.1.member", .constraint))]
        BadQueueName { value: String, constraint: &'static str } => Validation,
        /// `Queues` for a source that is not a broker.
        #[error("Unsupported Queues parameter for given event source mapping type.")]
        QueuesNotSupported => InvalidParameterValue,
        /// A `SourceAccessConfigurations` member the model refuses.
        #[error("{}", validate::one_error(.value, .member, .constraint))]
        BadAccess { value: String, member: String, constraint: String } => Validation,
        /// A source access type that RabbitMQ mappings do not take.
        #[error("Unsupported source access configuration type {0} for a RabbitMQ event source mapping.")]
        UnsupportedAccess(String) => InvalidParameterValue,
        /// A source access type named twice.
        #[error("Duplicate SourceAccessConfiguration type {0}.")]
        DuplicateAccess(String) => InvalidParameterValue,
        /// A BASIC_AUTH URI that is not a Secrets Manager secret ARN.
        #[error("Invalid secret ARN for BASIC_AUTH: {0}")]
        BadSecret(String) => InvalidParameterValue,
        /// `SourceAccessConfigurations` for a source that takes none.
        #[error("Unsupported SourceAccessConfigurations parameter for given event source mapping type.")]
        AccessNotSupported => InvalidParameterValue,
        /// A mapping of this broker's queue to this function exists.
        #[error(
            "The event source arn (\" {arn} \") and function (\" {function} \") provided mapping already exists. Please update or delete the existing mapping with UUID {uuid}"
        )]
        Exists { arn: String, function: String, uuid: String } => ResourceConflict,
    }
}

/// The broker NAME of an Amazon MQ broker ARN
/// (`arn:aws:mq:REGION:ACCOUNT:broker:NAME:ID`), if `arn` is one.
pub fn broker_name(arn: &str) -> Option<&str> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "mq", _, _, "broker", name, id] if !name.is_empty() && !id.is_empty() => {
            Some(name)
        }
        _ => None,
    }
}

/// What only broker mappings have, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BrokerSettings {
    /// The one queue read.
    pub queue: String,
    /// The virtual host (`VIRTUAL_HOST`; `/` when none is named).
    pub virtual_host: String,
    /// The secret ARN of `BASIC_AUTH`, if any (else the URL's credentials).
    pub secret: Option<String>,
    /// The source access configurations as given (rendered back).
    pub access: Vec<Value>,
}

impl BrokerSettings {
    /// The key of the queue in `rmqMessagesByQueue`: `QUEUE::VHOST`.
    pub fn queue_key(&self) -> String {
        format!("{}::{}", self.queue, self.virtual_host)
    }
}

/// The broker members of Create/UpdateEventSourceMapping.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BrokerRequest {
    queues: Option<Vec<String>>,
    source_access_configurations: Option<Vec<Value>>,
}

/// The list as AWS's validation messages show it: `[a, b]`.
fn shown(list: &[String]) -> String {
    format!("[{}]", list.join(", "))
}

fn queue(queues: Option<Vec<String>>) -> MappingsResult<String> {
    let queues = queues.ok_or(BrokerError::NoQueues)?;
    if queues.is_empty() {
        return Err(BrokerError::QueueCount {
            value: shown(&queues),
            constraint: "Member must have length greater than or equal to 1",
        }
        .into());
    }
    if queues.len() > 1 {
        return Err(BrokerError::QueueCount {
            value: shown(&queues),
            constraint: "Member must have length less than or equal to 1",
        }
        .into());
    }
    let q = queues.into_iter().next().unwrap_or_default();
    if q.is_empty() {
        return Err(BrokerError::BadQueueName {
            value: q,
            constraint: "Member must have length greater than or equal to 1",
        }
        .into());
    }
    if q.len() > MAX_QUEUE_NAME {
        return Err(BrokerError::BadQueueName {
            value: q,
            constraint: "Member must have length less than or equal to 1000",
        }
        .into());
    }
    Ok(q)
}

fn bad(value: &str, member: String, constraint: &str) -> MappingsError {
    BrokerError::BadAccess {
        value: value.to_owned(),
        member,
        constraint: constraint.to_owned(),
    }
    .into()
}

/// The virtual host and secret of `SourceAccessConfigurations`.
fn access(list: &[Value]) -> MappingsResult<(String, Option<String>)> {
    if list.len() > MAX_ACCESS_CONFIGURATIONS {
        return Err(bad(
            &list.len().to_string(),
            "sourceAccessConfigurations".into(),
            "Member must have length less than or equal to 22",
        ));
    }
    let (mut vhost, mut secret) = (None, None);
    for (i, c) in list.iter().enumerate() {
        let n = i + 1;
        let kind = c["Type"].as_str().unwrap_or_default();
        let uri = c["URI"].as_str().unwrap_or_default();
        let type_member = format!("sourceAccessConfigurations.{n}.member.type");
        if !ACCESS_TYPES
            .trim_matches(['[', ']'])
            .split(", ")
            .any(|t| t == kind)
        {
            return Err(bad(
                kind,
                type_member,
                &format!("Member must satisfy enum value set: {ACCESS_TYPES}"),
            ));
        }
        let uri_member = format!("sourceAccessConfigurations.{n}.member.uRI");
        if uri.is_empty() {
            return Err(bad(
                uri,
                uri_member,
                "Member must have length greater than or equal to 1",
            ));
        }
        if uri.len() > MAX_ACCESS_URI {
            return Err(bad(
                uri,
                uri_member,
                "Member must have length less than or equal to 200",
            ));
        }
        if !uri
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/*:_+=.@".contains(&b))
        {
            return Err(bad(
                uri,
                uri_member,
                "Member must satisfy regular expression pattern: [a-zA-Z0-9-\\/*:_+=.@-]*",
            ));
        }
        let slot = match kind {
            "VIRTUAL_HOST" => &mut vhost,
            "BASIC_AUTH" => {
                if !uri.starts_with("arn:aws:secretsmanager:") {
                    return Err(BrokerError::BadSecret(uri.to_owned()).into());
                }
                &mut secret
            }
            other => return Err(BrokerError::UnsupportedAccess(other.to_owned()).into()),
        };
        if slot.replace(uri.to_owned()).is_some() {
            return Err(BrokerError::DuplicateAccess(kind.to_owned()).into());
        }
    }
    Ok((vhost.unwrap_or_else(|| "/".to_owned()), secret))
}

/// The broker settings of a new mapping of `source`: `None` when `source`
/// is no broker (then the broker members are refused).
pub fn create(source: &str, req: BrokerRequest) -> MappingsResult<Option<BrokerSettings>> {
    if broker_name(source).is_none() {
        if req.queues.is_some() {
            return Err(BrokerError::QueuesNotSupported.into());
        }
        if req.source_access_configurations.is_some() {
            return Err(BrokerError::AccessNotSupported.into());
        }
        return Ok(None);
    }
    let queue = queue(req.queues)?;
    let list = req.source_access_configurations.unwrap_or_default();
    let (virtual_host, secret) = access(&list)?;
    Ok(Some(BrokerSettings {
        queue,
        virtual_host,
        secret,
        access: list,
    }))
}

/// Applies the broker members an UpdateEventSourceMapping names (the queue
/// cannot change; the access configurations can).
pub fn update(m: &mut Mapping, req: BrokerRequest) -> MappingsResult<()> {
    let Some(list) = req.source_access_configurations else {
        return Ok(());
    };
    let Some(b) = &mut m.broker else {
        return Err(BrokerError::AccessNotSupported.into());
    };
    let (virtual_host, secret) = access(&list)?;
    b.virtual_host = virtual_host;
    b.secret = secret;
    b.access = list;
    Ok(())
}

/// The broker-only checks of a whole mapping (after create or update).
pub fn check(m: &Mapping) -> MappingsResult<()> {
    if m.batch_size == 0 || m.batch_size > MAX_BROKER_BATCH {
        return Err(
            validate::at_most(&m.batch_size.to_string(), "batchSize", MAX_BROKER_BATCH).into(),
        );
    }
    if m.window_secs > crate::esm::MAX_WINDOW_SECS {
        return Err(MappingsError::WindowTooLong);
    }
    if !m.response_types.is_empty() {
        return Err(MappingsError::BadResponseTypes);
    }
    Ok(())
}

/// The 409 for a second mapping of the same broker queue and function.
pub fn exists(arn: String, function: String, uuid: String) -> MappingsError {
    BrokerError::Exists {
        arn,
        function,
        uuid,
    }
    .into()
}

/// Adds the broker members to a rendered mapping.
pub fn render(b: &BrokerSettings, v: &mut Value) {
    v["Queues"] = json!([b.queue]);
    v["SourceAccessConfigurations"] = json!(b.access);
    v["LastProcessingResult"] = json!("No records processed");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            broker_name("arn:aws:mq:us-east-1:000000000000:broker:main:b-1234"),
            Some("main")
        );
        assert_eq!(broker_name("arn:aws:mq:us-east-1:0:broker::b-1"), None);
        assert_eq!(broker_name("arn:aws:mq:us-east-1:0:broker:main"), None);
        assert_eq!(broker_name("arn:aws:sqs:us-east-1:0:q"), None);
    }

    #[test]
    fn access_configurations() {
        let (vhost, secret) = access(&[
            json!({"Type": "VIRTUAL_HOST", "URI": "/v1"}),
            json!({"Type": "BASIC_AUTH", "URI": "arn:aws:secretsmanager:us-east-1:0:secret:s"}),
        ])
        .unwrap();
        assert_eq!(vhost, "/v1");
        assert_eq!(
            secret.as_deref(),
            Some("arn:aws:secretsmanager:us-east-1:0:secret:s")
        );
        assert_eq!(access(&[]).unwrap(), ("/".to_owned(), None));
        assert!(access(&[json!({"Type": "NOPE", "URI": "x"})]).is_err());
        assert!(access(&[json!({"Type": "VPC_SUBNET", "URI": "subnet:s"})]).is_err());
    }
}
