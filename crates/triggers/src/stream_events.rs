//! The shapes of stream mappings' events, as Lambda builds them: the
//! `aws:kinesis` and `aws:dynamodb` records of an invocation's `Records`,
//! the filter view of a record, and the OnFailure record that describes a
//! batch that could not be processed. Pure functions (no I/O).

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// One record read from a shard, with the Lambda event record built for it.
#[derive(Debug, Clone)]
pub struct StreamRecord {
    /// The record's sequence number (the checkpoint and `itemIdentifier`).
    pub sequence: String,
    /// When the stream received it, epoch seconds.
    pub arrival: f64,
    /// The record as the function receives it.
    pub event: Value,
}

/// Where a record comes from.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub region: &'a str,
    pub source_arn: &'a str,
    pub shard: &'a str,
}

/// AWS's `aws:kinesis` record (`invokeIdentityArn` is set at invocation).
pub fn kinesis_record(
    o: &Origin<'_>,
    sequence: &str,
    partition_key: &str,
    data: &[u8],
    arrival: f64,
) -> StreamRecord {
    let event = json!({
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": sequence,
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "approximateArrivalTimestamp": arrival,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": format!("{}:{sequence}", o.shard),
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "",
        "awsRegion": o.region,
        "eventSourceARN": o.source_arn,
    });
    StreamRecord {
        sequence: sequence.to_owned(),
        arrival,
        event,
    }
}

/// The members of a DynamoDB stream record's `dynamodb` object.
#[derive(Debug, Default)]
pub struct DynamoChange {
    pub event_id: String,
    pub event_name: String,
    pub created: f64,
    pub keys: Option<Map<String, Value>>,
    pub new_image: Option<Map<String, Value>>,
    pub old_image: Option<Map<String, Value>>,
    pub sequence: String,
    pub size_bytes: i64,
    pub view_type: Option<String>,
}

/// AWS's `aws:dynamodb` record. Empty images are left out, as AWS leaves
/// out the image a change has not (INSERT's old, REMOVE's new).
pub fn dynamodb_record(o: &Origin<'_>, c: DynamoChange) -> StreamRecord {
    let mut d = json!({
        "ApproximateCreationDateTime": c.created,
        "SequenceNumber": c.sequence,
        "SizeBytes": c.size_bytes,
    });
    let images = [
        ("Keys", c.keys),
        ("NewImage", c.new_image),
        ("OldImage", c.old_image),
    ];
    for (name, image) in images {
        if let Some(i) = image.filter(|i| !i.is_empty()) {
            d[name] = Value::Object(i);
        }
    }
    if let Some(v) = c.view_type {
        d["StreamViewType"] = json!(v);
    }
    let event = json!({
        "eventID": c.event_id,
        "eventName": c.event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": o.region,
        "dynamodb": d,
        "eventSourceARN": o.source_arn,
    });
    StreamRecord {
        sequence: c.sequence,
        arrival: c.created,
        event,
    }
}

/// What filter patterns see: the record, with a Kinesis record's `data`
/// decoded and parsed when it is JSON (as AWS filters on `data`).
pub fn filter_view(record: &Value) -> Value {
    let mut v = record.clone();
    if let Some(parsed) = record["kinesis"]["data"]
        .as_str()
        .and_then(|d| base64::engine::general_purpose::STANDARD.decode(d).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        v["data"] = parsed;
        v["kinesis"]["data"] = v["data"].clone();
    }
    v
}

/// ISO 8601 with milliseconds, as in failure records.
pub fn iso(epoch_secs: f64) -> String {
    let nanos = (epoch_secs * 1e9) as i128;
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

/// Why a batch was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    RetryAttemptsExhausted,
    /// Records older than `MaximumRecordAgeInSeconds` (the condition LocalStack's AWS-validated
    /// stream poller reports).
    RecordAgeExpired,
}

impl Condition {
    fn as_str(self) -> &'static str {
        match self {
            Self::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Self::RecordAgeExpired => "RecordAgeExpired",
        }
    }
}

/// The last invocation of a batch that was given up.
#[derive(Debug, Clone, Default)]
pub struct LastInvoke {
    pub executed_version: String,
    pub function_error: Option<String>,
}

/// AWS's OnFailure record for a stream batch (`KinesisBatchInfo` or
/// `DDBStreamBatchInfo`).
#[allow(clippy::too_many_arguments)]
pub fn failure_record(
    dynamodb: bool,
    function_arn: &str,
    condition: Condition,
    invocations: u32,
    last: Option<&LastInvoke>,
    shard: &str,
    source_arn: &str,
    batch: &[StreamRecord],
    now: f64,
) -> Value {
    let (Some(first), Some(end)) = (batch.first(), batch.last()) else {
        return Value::Null;
    };
    let response = match last {
        Some(l) => {
            let mut r = json!({ "statusCode": 200, "executedVersion": l.executed_version });
            if let Some(e) = &l.function_error {
                r["functionError"] = json!(e);
            }
            r
        }
        None => json!({}),
    };
    let info = json!({
        "shardId": shard,
        "startSequenceNumber": first.sequence,
        "endSequenceNumber": end.sequence,
        "approximateArrivalOfFirstRecord": iso(first.arrival),
        "approximateArrivalOfLastRecord": iso(end.arrival),
        "batchSize": batch.len(),
        "streamArn": source_arn,
    });
    let mut v = json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": function_arn,
            "condition": condition.as_str(),
            "approximateInvokeCount": invocations,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": iso(now),
    });
    let key = if dynamodb {
        "DDBStreamBatchInfo"
    } else {
        "KinesisBatchInfo"
    };
    v[key] = info;
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinesis_shape_and_filter_view() {
        let o = Origin {
            region: "us-east-1",
            source_arn: "arn:aws:kinesis:us-east-1:1:stream/s",
            shard: "shardId-000000000000",
        };
        let r = kinesis_record(&o, "42", "pk", br#"{"n":1}"#, 1.5);
        assert_eq!(r.event["eventID"], "shardId-000000000000:42");
        assert_eq!(r.event["kinesis"]["data"], "eyJuIjoxfQ==");
        assert_eq!(filter_view(&r.event)["data"]["n"], 1);
        let f = failure_record(
            false,
            "arn:f",
            Condition::RetryAttemptsExhausted,
            3,
            None,
            o.shard,
            o.source_arn,
            &[r],
            2.0,
        );
        assert_eq!(f["KinesisBatchInfo"]["batchSize"], 1);
        assert_eq!(
            f["KinesisBatchInfo"]["approximateArrivalOfFirstRecord"],
            "1970-01-01T00:00:01.500Z"
        );
    }
}
