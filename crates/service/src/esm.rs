//! Event source mappings (SQS, streams in `streams`, RabbitMQ brokers in
//! `broker`, self-managed Kafka in `kafka`): CreateEventSourceMapping and
//! its siblings. Mappings are store
//! documents (kind `esm`, keyed by UUID); the pollers of the triggers crate
//! read them.

pub mod broker;
pub mod kafka;
pub mod metrics;
pub mod streams;

use std::collections::BTreeMap;

use lambdad_model::eventpattern::EventPattern;
use lambdad_model::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::context::{Context, missing};
use crate::error::service_error;

/// The largest batch from a FIFO queue.
pub const MAX_FIFO_BATCH: u32 = 10;
/// The batch size of a mapping that names none.
pub const DEFAULT_BATCH: u32 = 10;
/// The largest batch from a standard queue.
pub const MAX_BATCH: u32 = 10_000;
/// The longest batching window.
pub const MAX_WINDOW_SECS: u32 = 300;
/// The bounds of `ScalingConfig.MaximumConcurrency`.
pub const CONCURRENCY_RANGE: std::ops::RangeInclusive<u32> = 2..=1000;

service_error! {
    /// Why an event source mapping call fails.
    pub enum MappingsError {
        /// An event source that is not an SQS queue.
        #[error("Unrecognized event source, must be kinesis, dynamodb stream or sqs.")]
        UnknownSource => InvalidParameterValue,
        /// A batch larger than [`MAX_FIFO_BATCH`] without a batching window.
        #[error(
            "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than {MAX_FIFO_BATCH}"
        )]
        WindowRequired => InvalidParameterValue,
        /// A batching window longer than [`MAX_WINDOW_SECS`].
        #[error("Maximum batch window in seconds must be less than or equal to {MAX_WINDOW_SECS}")]
        WindowTooLong => InvalidParameterValue,
        /// A response type other than `ReportBatchItemFailures`.
        #[error("{}", validate::unvalued_error(
            "functionResponseTypes",
            "Member must satisfy enum value set: [ReportBatchItemFailures]",
        ))]
        BadResponseTypes => Validation,
        /// The mapping's queue does not exist (AWS's words).
        #[error(
            "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does not exist."
        )]
        NoQueue => InvalidParameterValue,
        /// A filter pattern that does not parse (AWS does not repeat it).
        #[error("Invalid filter pattern definition.")]
        BadFilter => InvalidParameterValue,
        /// No mapping has this UUID.
        #[error(
            "The resource you requested does not exist. (Service: Lambda, Status Code: 404, Request ID: {0})"
        )]
        NotFound(String) => ResourceNotFound,
        /// A mapping of this queue to this function exists.
        #[error(
            "An event source mapping with SQS arn (\" {queue} \") and function (\" {function} \") already exists. Please update or delete the existing mapping with UUID {uuid}"
        )]
        Exists { queue: String, function: String, uuid: String } => ResourceConflict,
    }
    wraps {
        /// A stream member was refused (`esm::streams`).
        Stream(crate::esm::streams::StreamError),
        /// A broker member was refused (`esm::broker`).
        Broker(crate::esm::broker::BrokerError),
        /// A Kafka member was refused (`esm::kafka`).
        Kafka(crate::esm::kafka::KafkaError),
    }
}

/// Shorthand for event source mapping results.
pub type MappingsResult<T> = Result<T, MappingsError>;

pub(crate) const KIND: &str = "esm";

/// A mapping as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mapping {
    pub uuid: String,
    /// Function name.
    pub function: String,
    /// Version or alias, if the mapping names one.
    pub qualifier: Option<String>,
    pub event_source_arn: String,
    pub batch_size: u32,
    pub window_secs: u32,
    pub enabled: bool,
    pub response_types: Vec<String>,
    pub max_concurrency: Option<u32>,
    pub filter_criteria: Option<Value>,
    /// Epoch seconds.
    pub last_modified: f64,
    /// A Kinesis or DynamoDB stream's settings (`None`: an SQS queue).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<crate::esm::streams::StreamSettings>,
    /// A RabbitMQ broker's settings (`None`: no broker).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<crate::esm::broker::BrokerSettings>,
    /// Its tags (CreateEventSourceMapping's `Tags`, TagResource).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// A self-managed Kafka cluster's settings (`None`: no Kafka; then
    /// `event_source_arn` is empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kafka: Option<crate::esm::kafka::KafkaSettings>,
}

impl Mapping {
    /// Whether a record passes the mapping's filters (none: everything).
    pub fn passes(&self, record: &Value) -> bool {
        let Some(filters) = self
            .filter_criteria
            .as_ref()
            .and_then(|f| f["Filters"].as_array())
        else {
            return true;
        };
        if filters.is_empty() {
            return true;
        }
        filters.iter().any(|f| {
            f["Pattern"]
                .as_str()
                .and_then(|p| EventPattern::parse(p).ok())
                .is_some_and(|p| p.matches(record))
        })
    }

    /// Whether the queue is FIFO.
    pub fn fifo(&self) -> bool {
        self.event_source_arn.ends_with(".fifo")
    }
}

/// Create/UpdateEventSourceMapping members.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MappingRequest {
    event_source_arn: Option<String>,
    function_name: Option<String>,
    enabled: Option<bool>,
    batch_size: Option<u32>,
    maximum_batching_window_in_seconds: Option<u32>,
    function_response_types: Option<Vec<String>>,
    scaling_config: Option<Value>,
    filter_criteria: Option<Value>,
    tags: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    stream: crate::esm::streams::StreamRequest,
    #[serde(flatten)]
    broker: crate::esm::broker::BrokerRequest,
    #[serde(flatten)]
    kafka: crate::esm::kafka::KafkaRequest,
}

fn now_secs() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| (d.as_millis() as f64) / 1000.0)
        .unwrap_or(0.0)
}

fn check(m: &Mapping) -> MappingsResult<()> {
    if m.stream.is_some() {
        crate::esm::streams::check(m)?;
    } else if m.broker.is_some() {
        crate::esm::broker::check(m)?;
    } else if m.kafka.is_some() {
        crate::esm::kafka::check(m)?;
    } else {
        check_queue(m)?;
    }
    check_common(m)
}

fn check_queue(m: &Mapping) -> MappingsResult<()> {
    let max = if m.fifo() { MAX_FIFO_BATCH } else { MAX_BATCH };
    if m.batch_size == 0 || m.batch_size > max {
        // AWS names the upper bound for 0 as well.
        return Err(validate::at_most(&m.batch_size.to_string(), "batchSize", max).into());
    }
    if m.batch_size > MAX_FIFO_BATCH && m.window_secs == 0 {
        return Err(MappingsError::WindowRequired);
    }
    if m.window_secs > MAX_WINDOW_SECS {
        return Err(MappingsError::WindowTooLong);
    }
    if let Some(c) = m.max_concurrency
        && !CONCURRENCY_RANGE.contains(&c)
    {
        // AWS names the lower bound for values above the range as well.
        return Err(validate::at_least(
            &c.to_string(),
            "scalingConfig.maximumConcurrency",
            CONCURRENCY_RANGE.start(),
        )
        .into());
    }
    Ok(())
}

fn check_common(m: &Mapping) -> MappingsResult<()> {
    if m.response_types
        .iter()
        .any(|t| t != "ReportBatchItemFailures")
    {
        return Err(MappingsError::BadResponseTypes);
    }
    if let Some(filters) = m
        .filter_criteria
        .as_ref()
        .and_then(|f| f["Filters"].as_array())
    {
        for f in filters {
            let p = f["Pattern"].as_str().unwrap_or_default();
            EventPattern::parse(p).map_err(|_| MappingsError::BadFilter)?;
        }
    }
    Ok(())
}

/// The event source mapping service (the mappings' configuration; the
/// pollers are triggers).
#[derive(Clone, Debug)]
pub struct Mappings {
    pub(crate) ctx: Context,
    metrics: metrics::MappingMetrics,
}

impl Mappings {
    /// The service over `ctx`.
    pub fn new(ctx: Context) -> Self {
        Self {
            ctx,
            metrics: metrics::MappingMetrics::default(),
        }
    }

    /// The mappings' counters (the pollers count, `/metrics` renders).
    pub fn metrics(&self) -> &metrics::MappingMetrics {
        &self.metrics
    }

    fn render_mapping(&self, region: &str, m: &Mapping, state: &str) -> Value {
        let mut arn = self.ctx.arn(region, &m.function);
        if let Some(q) = &m.qualifier {
            arn = format!("{arn}:{q}");
        }
        let mut v = json!({
            "UUID": m.uuid, "BatchSize": m.batch_size, "MaximumBatchingWindowInSeconds": m.window_secs,
            "EventSourceArn": m.event_source_arn, "FunctionArn": arn, "LastModified": m.last_modified,
            "State": state, "StateTransitionReason": "USER_INITIATED",
            "FunctionResponseTypes": m.response_types,
            "EventSourceMappingArn": format!("arn:aws:lambda:{region}:{}:event-source-mapping:{}", self.ctx.account, m.uuid),
        });
        if let Some(c) = m.max_concurrency {
            v["ScalingConfig"] = json!({ "MaximumConcurrency": c });
        }
        // AWS leaves out a FilterCriteria without filters.
        if let Some(f) = m
            .filter_criteria
            .as_ref()
            .filter(|f| f["Filters"].as_array().is_none_or(|l| !l.is_empty()))
        {
            v["FilterCriteria"] = f.clone();
        }
        if let Some(s) = &m.stream {
            crate::esm::streams::render(s, &mut v);
        }
        if let Some(b) = &m.broker {
            crate::esm::broker::render(b, &mut v);
        }
        if let Some(k) = &m.kafka {
            crate::esm::kafka::render(k, &mut v);
        }
        v
    }

    async fn mapping(&self, uuid: &str) -> MappingsResult<Mapping> {
        self.ctx
            .load_doc(KIND, uuid)
            .await?
            .ok_or_else(|| MappingsError::NotFound(uuid.to_owned()))
    }

    async fn save_mapping(&self, m: &Mapping) -> MappingsResult<()> {
        Ok(self.ctx.save_doc(KIND, &m.uuid, Some(m)).await?)
    }

    /// Every mapping.
    pub async fn mappings(&self) -> MappingsResult<Vec<Mapping>> {
        Ok(self.ctx.all_docs(KIND).await?)
    }

    /// AWS refuses a mapping of a queue that does not exist; lambdad can
    /// tell for queues of its built-in SQS (this account and region).
    async fn check_builtin_queue(&self, region: &str, arn: &str) -> MappingsResult<()> {
        let queues = crate::queues::Queues::new(self.ctx.clone());
        match queues.name_of_arn(arn, region) {
            Some(name) if !queues.exists(&name).await.unwrap_or(true) => {
                Err(MappingsError::NoQueue)
            }
            _ => Ok(()),
        }
    }

    /// CreateEventSourceMapping.
    pub async fn create_mapping(&self, region: &str, req: MappingRequest) -> MappingsResult<Value> {
        let uuid = uuid::Uuid::new_v4().to_string();
        let kafka = crate::esm::kafka::create(
            &uuid,
            req.event_source_arn.as_deref(),
            req.kafka,
            &req.stream,
        )?;
        let source = match kafka {
            Some(_) => String::new(),
            None => req.event_source_arn.ok_or(MappingsError::UnknownSource)?,
        };
        let broker = crate::esm::broker::create(&source, req.broker)?;
        let stream = match (&broker, &kafka) {
            (None, None) => crate::esm::streams::create(&source, req.stream)?,
            _ => None,
        };
        let name = req.function_name.ok_or_else(|| missing("functionName"))?;
        let r = self.ctx.parse_ref(region, &name)?;
        self.ctx
            .load(region, &r.name, r.qualifier.as_deref())
            .await?;
        if broker.is_none() && stream.is_none() && kafka.is_none() {
            self.check_builtin_queue(region, &source).await?;
        }
        let existing = self.mappings().await?;
        if let Some(k) = &kafka {
            crate::esm::kafka::check_group(k, &existing)?;
        } else if let Some(dup) = existing.iter().find(|m| {
            m.event_source_arn == source
                && m.function == r.name
                && m.qualifier == r.qualifier
                && m.broker.as_ref().map(|b| &b.queue) == broker.as_ref().map(|b| &b.queue)
        }) {
            if broker.is_some() {
                return Err(crate::esm::broker::exists(source, r.name, dup.uuid.clone()));
            }
            if stream.is_some() {
                return Err(crate::esm::streams::exists(
                    source,
                    r.name,
                    dup.uuid.clone(),
                ));
            }
            return Err(MappingsError::Exists {
                queue: source,
                function: r.name,
                uuid: dup.uuid.clone(),
            });
        }
        let m = Mapping {
            uuid,
            function: r.name.clone(),
            qualifier: r.qualifier.clone(),
            event_source_arn: source,
            batch_size: req.batch_size.unwrap_or(if stream.is_some() {
                crate::esm::streams::DEFAULT_STREAM_BATCH
            } else if broker.is_some() {
                crate::esm::broker::DEFAULT_BROKER_BATCH
            } else if kafka.is_some() {
                crate::esm::kafka::DEFAULT_KAFKA_BATCH
            } else {
                DEFAULT_BATCH
            }),
            window_secs: req.maximum_batching_window_in_seconds.unwrap_or(0),
            enabled: req.enabled.unwrap_or(true),
            response_types: req.function_response_types.unwrap_or_default(),
            max_concurrency: req
                .scaling_config
                .as_ref()
                .and_then(|s| s["MaximumConcurrency"].as_u64())
                .map(|c| c as u32),
            filter_criteria: req.filter_criteria,
            last_modified: now_secs(),
            stream,
            broker,
            tags: req.tags.unwrap_or_default(),
            kafka,
        };
        if !m.tags.is_empty() {
            validate::tags(&m.tags, 0)?;
        }
        check(&m)?;
        self.save_mapping(&m).await?;
        // AWS: a mapping created disabled answers `Disabled`.
        let state = if m.enabled { "Creating" } else { "Disabled" };
        Ok(self.render_mapping(region, &m, state))
    }

    /// GetEventSourceMapping.
    pub async fn get_mapping(&self, region: &str, uuid: &str) -> MappingsResult<Value> {
        let m = self.mapping(uuid).await?;
        Ok(self.render_mapping(region, &m, if m.enabled { "Enabled" } else { "Disabled" }))
    }

    /// UpdateEventSourceMapping.
    pub async fn update_mapping(
        &self,
        region: &str,
        uuid: &str,
        req: MappingRequest,
    ) -> MappingsResult<Value> {
        let mut m = self.mapping(uuid).await?;
        if let Some(b) = req.batch_size {
            m.batch_size = b;
        }
        if let Some(w) = req.maximum_batching_window_in_seconds {
            m.window_secs = w;
        }
        // AWS answers an enable or disable with its transitional state.
        let state = match req.enabled {
            Some(true) if !m.enabled => "Enabling",
            Some(false) if m.enabled => "Disabling",
            _ => "Updating",
        };
        if let Some(e) = req.enabled {
            m.enabled = e;
        }
        if let Some(t) = req.function_response_types {
            m.response_types = t;
        }
        if let Some(s) = req.scaling_config {
            m.max_concurrency = s["MaximumConcurrency"].as_u64().map(|c| c as u32);
        }
        if let Some(f) = req.filter_criteria {
            m.filter_criteria = Some(f);
        }
        crate::esm::streams::update(&mut m, req.stream)?;
        crate::esm::broker::update(&mut m, req.broker)?;
        crate::esm::kafka::update(&mut m, req.kafka)?;
        if let Some(name) = req.function_name {
            let r = self.ctx.parse_ref(region, &name)?;
            self.ctx
                .load(region, &r.name, r.qualifier.as_deref())
                .await?;
            m.function = r.name.clone();
            m.qualifier = r.qualifier.clone();
        }
        m.last_modified = now_secs();
        check(&m)?;
        self.save_mapping(&m).await?;
        Ok(self.render_mapping(region, &m, state))
    }

    /// DeleteEventSourceMapping.
    pub async fn delete_mapping(&self, region: &str, uuid: &str) -> MappingsResult<Value> {
        let m = self.mapping(uuid).await?;
        self.ctx.save_doc::<Mapping>(KIND, uuid, None).await?;
        self.metrics.forget(uuid);
        if m.stream.is_some() || m.kafka.is_some() {
            self.forget_checkpoints(uuid).await?;
        }
        Ok(self.render_mapping(region, &m, "Deleting"))
    }

    /// ListEventSourceMappings.
    pub async fn list_mappings(
        &self,
        region: &str,
        source: Option<&str>,
        function: Option<&str>,
        marker: Option<&str>,
        max: Option<usize>,
    ) -> MappingsResult<Value> {
        let function = match function {
            Some(f) => Some(self.ctx.parse_ref(region, f)?.name),
            None => None,
        };
        let mut all = self.mappings().await?;
        all.retain(|m| {
            source.is_none_or(|s| m.event_source_arn == s)
                && function.as_deref().is_none_or(|f| m.function == f)
        });
        all.sort_by(|a, b| a.uuid.cmp(&b.uuid));
        let start: usize = marker.and_then(|m| m.parse().ok()).unwrap_or(0);
        let max = max.unwrap_or(100).clamp(1, 10_000);
        let page: Vec<Value> = all
            .iter()
            .skip(start)
            .take(max)
            .map(|m| self.render_mapping(region, m, if m.enabled { "Enabled" } else { "Disabled" }))
            .collect();
        let mut out = json!({ "EventSourceMappings": page });
        if start + max < all.len() {
            out["NextMarker"] = json!((start + max).to_string());
        }
        Ok(out)
    }
}
