//! The stream side of event source mappings: Kinesis data streams and
//! DynamoDB Streams. A stream mapping is an ordinary [`Mapping`] whose
//! `stream` member holds what only streams have (where to start, retries,
//! bisection, record age, the OnFailure destination); this module parses,
//! validates and renders those members with AWS's messages and defaults.
//! The poller is `lambdad_triggers::stream_poller`.

use lambdad_model::validate;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use lambdad_store::StreamCheckpoint;

use crate::context::blocking;
use crate::error::service_error;
use crate::esm::{Mapping, MappingsError, MappingsResult};

/// The batch size of a stream mapping that names none.
pub const DEFAULT_STREAM_BATCH: u32 = 100;
/// The largest batch from a stream.
pub const MAX_STREAM_BATCH: u32 = 10_000;
/// The bounds of `ParallelizationFactor`.
pub const PARALLELIZATION_RANGE: (i64, i64) = (1, 10);
/// The bounds of `MaximumRetryAttempts` (-1: until the record expires).
pub const RETRY_RANGE: (i64, i64) = (-1, 10_000);
/// The bounds of `MaximumRecordAgeInSeconds` (-1: no limit; else at least
/// [`MIN_RECORD_AGE`]).
pub const RECORD_AGE_RANGE: (i64, i64) = (-1, 604_800);
/// The shortest limited record age.
pub const MIN_RECORD_AGE: i64 = 60;
/// The bounds of `TumblingWindowInSeconds`.
pub const TUMBLING_RANGE: (i64, i64) = (0, 900);

service_error! {
    /// Why a stream mapping's members are refused.
    pub enum StreamError {
        /// No `StartingPosition` for a stream.
        #[error("{}.", validate::null_error("startingPosition"))]
        NoStartingPosition => InvalidParameterValue,
        /// A `StartingPosition` outside the enum.
        #[error("{}", validate::one_error(
            .value,
            "startingPosition",
            "Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]",
        ))]
        BadStartingPosition { value: String } => Validation,
        /// `AT_TIMESTAMP` for a DynamoDB stream.
        #[error("Unsupported starting position for arn type: {0}")]
        UnsupportedStartingPosition(String) => InvalidParameterValue,
        /// `AT_TIMESTAMP` without `StartingPositionTimestamp`.
        #[error("StartingPositionTimestamp must be provided when StartingPosition is AT_TIMESTAMP.")]
        NoTimestamp => InvalidParameterValue,
        /// A record age between 0 and [`MIN_RECORD_AGE`].
        #[error("MaximumRecordAgeInSeconds must be -1 or between {MIN_RECORD_AGE} and 604800.")]
        RecordAgeTooShort => InvalidParameterValue,
        /// An OnFailure destination that is not an SQS queue or SNS topic.
        #[error("The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination={0})) is invalid.")]
        BadDestination(String) => InvalidParameterValue,
        /// A destination the source does not support (OnSuccess, or any for SQS).
        #[error("Unsupported DestinationConfig parameter for given event source mapping type.")]
        UnsupportedDestination => InvalidParameterValue,
        /// A mapping of this stream to this function exists.
        #[error(
            "The event source arn (\" {arn} \") and function (\" {function} \") provided mapping already exists. Please update or delete the existing mapping with UUID {uuid}"
        )]
        Exists { arn: String, function: String, uuid: String } => ResourceConflict,
    }
}

/// Which service an event source ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// An SQS queue.
    Sqs,
    /// A Kinesis data stream, `arn:aws:kinesis:R:A:stream/NAME`.
    Kinesis,
    /// A DynamoDB stream, `arn:aws:dynamodb:R:A:table/T/stream/LABEL`.
    DynamoDb,
}

/// The kind of source `arn` names, if lambdad supports it.
pub fn source_kind(arn: &str) -> Option<SourceKind> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [_, _, service, _, _, resource] = parts.as_slice() else {
        return None;
    };
    match *service {
        "sqs" if !resource.is_empty() => Some(SourceKind::Sqs),
        "kinesis" => resource
            .strip_prefix("stream/")
            .filter(|n| !n.is_empty() && !n.contains('/'))
            .map(|_| SourceKind::Kinesis),
        "dynamodb" => {
            let rest = resource.strip_prefix("table/")?;
            let (table, label) = rest.split_once("/stream/")?;
            (!table.is_empty() && !label.is_empty()).then_some(SourceKind::DynamoDb)
        }
        _ => None,
    }
}

/// What only stream mappings have, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StreamSettings {
    /// `LATEST`, `TRIM_HORIZON` or `AT_TIMESTAMP`.
    pub starting_position: String,
    /// Epoch seconds, with `AT_TIMESTAMP`.
    pub starting_timestamp: Option<f64>,
    pub parallelization: u32,
    pub bisect: bool,
    /// -1: retry until the record expires.
    pub max_retries: i64,
    /// -1: no limit.
    pub max_record_age: i64,
    /// Where batches that could not be processed are described.
    pub on_failure: Option<String>,
    pub tumbling_window: u32,
}

impl StreamSettings {
    /// Whether the mapping reads a DynamoDB stream (else Kinesis).
    pub fn is_dynamodb(m: &Mapping) -> bool {
        source_kind(&m.event_source_arn) == Some(SourceKind::DynamoDb)
    }
}

/// The stream members of Create/UpdateEventSourceMapping.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamRequest {
    starting_position: Option<String>,
    starting_position_timestamp: Option<f64>,
    parallelization_factor: Option<i64>,
    bisect_batch_on_function_error: Option<bool>,
    maximum_retry_attempts: Option<i64>,
    maximum_record_age_in_seconds: Option<i64>,
    destination_config: Option<Value>,
    tumbling_window_in_seconds: Option<i64>,
}

impl StreamRequest {
    /// `StartingPosition` and `StartingPositionTimestamp`, as given.
    pub(crate) fn starting(&self) -> (Option<&str>, Option<f64>) {
        (
            self.starting_position.as_deref(),
            self.starting_position_timestamp,
        )
    }

    /// The first member given that only Kinesis and DynamoDB mappings take.
    pub(crate) fn stream_only(&self) -> Option<&'static str> {
        [
            (
                "ParallelizationFactor",
                self.parallelization_factor.is_some(),
            ),
            (
                "BisectBatchOnFunctionError",
                self.bisect_batch_on_function_error.is_some(),
            ),
            (
                "MaximumRetryAttempts",
                self.maximum_retry_attempts.is_some(),
            ),
            (
                "MaximumRecordAgeInSeconds",
                self.maximum_record_age_in_seconds.is_some(),
            ),
            (
                "TumblingWindowInSeconds",
                self.tumbling_window_in_seconds.is_some(),
            ),
            ("DestinationConfig", !self.is_empty_for_queue()),
        ]
        .into_iter()
        .find_map(|(name, given)| given.then_some(name))
    }

    fn is_empty_for_queue(&self) -> bool {
        self.destination_config
            .as_ref()
            .is_none_or(|d| d.as_object().is_none_or(|o| o.is_empty()))
    }
}

fn range(value: i64, (min, max): (i64, i64), member: &str) -> MappingsResult<i64> {
    Ok(validate::in_range(value, min, max, member)?)
}

/// The OnFailure ARN of a DestinationConfig (`None`: no destination).
fn on_failure(config: &Value) -> MappingsResult<Option<String>> {
    if config
        .get("OnSuccess")
        .is_some_and(|s| s.get("Destination").is_some_and(|d| !d.is_null()))
    {
        return Err(StreamError::UnsupportedDestination.into());
    }
    let Some(dest) = config["OnFailure"]["Destination"].as_str() else {
        return Ok(None);
    };
    if dest.is_empty() {
        return Ok(None);
    }
    if dest.starts_with("arn:aws:sqs:") || dest.starts_with("arn:aws:sns:") {
        Ok(Some(dest.to_owned()))
    } else {
        Err(StreamError::BadDestination(dest.to_owned()).into())
    }
}

/// A `StartingPosition` checked against the enum (required).
pub(crate) fn starting_position(position: Option<&str>) -> MappingsResult<String> {
    let position = position.ok_or(StreamError::NoStartingPosition)?;
    if !["LATEST", "TRIM_HORIZON", "AT_TIMESTAMP"].contains(&position) {
        return Err(StreamError::BadStartingPosition {
            value: position.to_owned(),
        }
        .into());
    }
    Ok(position.to_owned())
}

/// The stream settings of a new mapping of `source`: `None` for a queue,
/// an error for an ARN that names neither a queue nor a stream.
pub fn create(source: &str, req: StreamRequest) -> MappingsResult<Option<StreamSettings>> {
    let kind = source_kind(source).ok_or(MappingsError::UnknownSource)?;
    if kind == SourceKind::Sqs {
        if !req.is_empty_for_queue() {
            return Err(StreamError::UnsupportedDestination.into());
        }
        return Ok(None);
    }
    let position = starting_position(req.starting_position.as_deref())?;
    if position == "AT_TIMESTAMP" {
        if kind == SourceKind::DynamoDb {
            return Err(StreamError::UnsupportedStartingPosition(source.to_owned()).into());
        }
        if req.starting_position_timestamp.is_none() {
            return Err(StreamError::NoTimestamp.into());
        }
    }
    let mut s = StreamSettings {
        starting_timestamp: (position == "AT_TIMESTAMP")
            .then_some(req.starting_position_timestamp)
            .flatten(),
        starting_position: position,
        parallelization: 1,
        bisect: false,
        max_retries: -1,
        max_record_age: -1,
        on_failure: None,
        tumbling_window: 0,
    };
    apply(
        &mut s,
        StreamRequest {
            starting_position: None,
            starting_position_timestamp: None,
            ..req
        },
    )?;
    Ok(Some(s))
}

/// Applies the members an UpdateEventSourceMapping names.
pub fn apply(s: &mut StreamSettings, req: StreamRequest) -> MappingsResult<()> {
    if let Some(p) = req.parallelization_factor {
        s.parallelization = range(p, PARALLELIZATION_RANGE, "parallelizationFactor")? as u32;
    }
    if let Some(b) = req.bisect_batch_on_function_error {
        s.bisect = b;
    }
    if let Some(r) = req.maximum_retry_attempts {
        s.max_retries = range(r, RETRY_RANGE, "maximumRetryAttempts")?;
    }
    if let Some(a) = req.maximum_record_age_in_seconds {
        let a = range(a, RECORD_AGE_RANGE, "maximumRecordAgeInSeconds")?;
        if (0..MIN_RECORD_AGE).contains(&a) {
            return Err(StreamError::RecordAgeTooShort.into());
        }
        s.max_record_age = a;
    }
    if let Some(d) = req.destination_config {
        s.on_failure = on_failure(&d)?;
    }
    if let Some(t) = req.tumbling_window_in_seconds {
        s.tumbling_window = range(t, TUMBLING_RANGE, "tumblingWindowInSeconds")? as u32;
    }
    Ok(())
}

/// Applies an update to a mapping: stream members to a stream mapping, and
/// a refusal of destinations for a queue.
pub fn update(m: &mut Mapping, req: StreamRequest) -> MappingsResult<()> {
    match &mut m.stream {
        Some(s) => apply(s, req),
        None if !req.is_empty_for_queue() => Err(StreamError::UnsupportedDestination.into()),
        None => Ok(()),
    }
}

/// The stream-only checks of a whole mapping (after create or update).
pub fn check(m: &Mapping) -> MappingsResult<()> {
    if m.batch_size == 0 || m.batch_size > MAX_STREAM_BATCH {
        return Err(
            validate::at_most(&m.batch_size.to_string(), "batchSize", MAX_STREAM_BATCH).into(),
        );
    }
    if m.window_secs > crate::esm::MAX_WINDOW_SECS {
        return Err(MappingsError::WindowTooLong);
    }
    Ok(())
}

/// The 409 for a second mapping of the same stream and function.
pub fn exists(arn: String, function: String, uuid: String) -> MappingsError {
    StreamError::Exists {
        arn,
        function,
        uuid,
    }
    .into()
}

/// Adds the stream members to a rendered mapping.
pub fn render(s: &StreamSettings, v: &mut Value) {
    v["StartingPosition"] = json!(s.starting_position);
    if let Some(t) = s.starting_timestamp {
        v["StartingPositionTimestamp"] = json!(t);
    }
    v["ParallelizationFactor"] = json!(s.parallelization);
    v["BisectBatchOnFunctionError"] = json!(s.bisect);
    v["MaximumRetryAttempts"] = json!(s.max_retries);
    v["MaximumRecordAgeInSeconds"] = json!(s.max_record_age);
    v["TumblingWindowInSeconds"] = json!(s.tumbling_window);
    v["LastProcessingResult"] = json!("No records processed");
    v["StateTransitionReason"] = json!("User action");
    v["DestinationConfig"] = match &s.on_failure {
        Some(d) => json!({ "OnFailure": { "Destination": d } }),
        None => json!({ "OnFailure": {} }),
    };
}

/// Shard checkpoints of stream mappings (the poller's progress), through the store.
impl crate::esm::Mappings {
    /// The account id in the ARNs of mapped functions.
    pub fn account(&self) -> &str {
        &self.ctx.account
    }

    /// Every shard checkpoint of mapping `uuid`.
    pub async fn checkpoints(&self, uuid: &str) -> MappingsResult<Vec<StreamCheckpoint>> {
        let (store, uuid) = (self.ctx.store.clone(), uuid.to_owned());
        Ok(blocking(move || store.stream_checkpoints(&uuid)).await?)
    }

    /// Records how far mapping `uuid` has processed `shard`.
    pub async fn save_checkpoint(
        &self,
        uuid: &str,
        shard: &str,
        sequence: Option<&str>,
        ended: bool,
    ) -> MappingsResult<()> {
        let cp = StreamCheckpoint {
            mapping: uuid.to_owned(),
            shard: shard.to_owned(),
            sequence: sequence.map(str::to_owned),
            ended,
        };
        let store = self.ctx.store.clone();
        Ok(blocking(move || store.put_stream_checkpoint(&cp)).await?)
    }

    /// Forgets mapping `uuid`'s checkpoints (on delete).
    pub(crate) async fn forget_checkpoints(&self, uuid: &str) -> MappingsResult<()> {
        let (store, uuid) = (self.ctx.store.clone(), uuid.to_owned());
        blocking(move || store.delete_stream_checkpoints(&uuid)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        assert_eq!(
            source_kind("arn:aws:kinesis:us-east-1:1:stream/s"),
            Some(SourceKind::Kinesis)
        );
        assert_eq!(
            source_kind("arn:aws:dynamodb:us-east-1:1:table/t/stream/2026-01-01T00:00:00.000"),
            Some(SourceKind::DynamoDb)
        );
        assert_eq!(
            source_kind("arn:aws:sqs:us-east-1:1:q"),
            Some(SourceKind::Sqs)
        );
        assert_eq!(source_kind("arn:aws:dynamodb:us-east-1:1:table/t"), None);
        assert_eq!(source_kind("arn:aws:kinesis:us-east-1:1:stream/"), None);
        assert_eq!(source_kind("arn:aws:s3:::b"), None);
    }
}
