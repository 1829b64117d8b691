//! The stream APIs a stream mapping reads, behind one face: Kinesis
//! (ListShards, GetShardIterator, GetRecords) and DynamoDB Streams
//! (DescribeStream, GetShardIterator, GetRecords), through the AWS SDK at
//! the configured endpoints.

use aws_sdk_dynamodbstreams::types::AttributeValue;
use base64::Engine as _;
use serde_json::{Map, Value, json};

use crate::stream_events::{DynamoChange, Origin, StreamRecord, dynamodb_record, kinesis_record};
use crate::stream_poller::StreamEndpoints;

/// Most records one Kinesis GetRecords returns.
const KINESIS_MAX_RECORDS: usize = 10_000;
/// Most records one DynamoDB Streams GetRecords returns.
const DYNAMODB_MAX_RECORDS: usize = 1_000;

/// A shard and its parents.
#[derive(Debug, Clone)]
pub struct Shard {
    pub id: String,
    pub parents: Vec<String>,
}

/// Where to start reading a shard.
#[derive(Debug, Clone)]
pub enum Position {
    TrimHorizon,
    Latest,
    AtTimestamp(f64),
    After(String),
}

/// The SDK clients of both stream APIs.
#[derive(Debug, Clone)]
pub struct Clients {
    kinesis: aws_sdk_kinesis::Client,
    dynamodb: aws_sdk_dynamodbstreams::Client,
}

async fn config(region: &str, endpoint: Option<&str>) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_owned()));
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(aws_sdk_kinesis::config::Credentials::new(
                "lambdad", "lambdad", None, None, "lambdad",
            ));
        }
    }
    loader.load().await
}

fn err(e: impl std::fmt::Debug) -> String {
    format!("{e:?}")
}

/// The stream name of a Kinesis stream ARN.
fn stream_name(arn: &str) -> &str {
    arn.rsplit_once("stream/").map_or(arn, |(_, n)| n)
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A DynamoDB attribute value in DynamoDB's JSON.
fn attribute(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Ss(s) => json!({ "SS": s }),
        AttributeValue::Ns(n) => json!({ "NS": n }),
        AttributeValue::Bs(b) => {
            json!({ "BS": b.iter().map(|x| b64(x.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::M(m) => json!({ "M": Value::Object(item(m)) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::Null(n) => json!({ "NULL": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        _ => Value::Null,
    }
}

fn item(m: &std::collections::HashMap<String, AttributeValue>) -> Map<String, Value> {
    let mut out: Vec<(&String, &AttributeValue)> = m.iter().collect();
    out.sort_by(|a, b| a.0.cmp(b.0));
    out.into_iter()
        .map(|(k, v)| (k.clone(), attribute(v)))
        .collect()
}

impl Clients {
    /// Clients for `region` at `endpoints` (AWS itself where unset).
    pub async fn new(region: &str, endpoints: &StreamEndpoints) -> Self {
        let k = config(region, endpoints.kinesis.as_deref()).await;
        let d = config(region, endpoints.dynamodbstreams.as_deref()).await;
        Self {
            kinesis: aws_sdk_kinesis::Client::new(&k),
            dynamodb: aws_sdk_dynamodbstreams::Client::new(&d),
        }
    }

    /// Every shard of the stream.
    pub async fn shards(&self, dynamodb: bool, arn: &str) -> Result<Vec<Shard>, String> {
        let mut out = Vec::new();
        if dynamodb {
            let mut start: Option<String> = None;
            loop {
                let resp = self
                    .dynamodb
                    .describe_stream()
                    .stream_arn(arn)
                    .set_exclusive_start_shard_id(start.clone())
                    .send()
                    .await
                    .map_err(err)?;
                let Some(d) = resp.stream_description() else {
                    return Ok(out);
                };
                for s in d.shards() {
                    out.push(Shard {
                        id: s.shard_id().unwrap_or_default().to_owned(),
                        parents: s.parent_shard_id().map(str::to_owned).into_iter().collect(),
                    });
                }
                start = d.last_evaluated_shard_id().map(str::to_owned);
                if start.is_none() {
                    return Ok(out);
                }
            }
        }
        let mut token: Option<String> = None;
        loop {
            let mut req = self.kinesis.list_shards();
            req = match &token {
                Some(t) => req.next_token(t),
                None => req.stream_name(stream_name(arn)),
            };
            let resp = req.send().await.map_err(err)?;
            for s in resp.shards() {
                let parents = [s.parent_shard_id(), s.adjacent_parent_shard_id()]
                    .into_iter()
                    .flatten()
                    .map(str::to_owned)
                    .collect();
                out.push(Shard {
                    id: s.shard_id().to_owned(),
                    parents,
                });
            }
            token = resp.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(out);
            }
        }
    }

    /// A shard iterator at `pos`.
    pub async fn iterator(
        &self,
        dynamodb: bool,
        arn: &str,
        shard: &str,
        pos: &Position,
    ) -> Result<String, String> {
        if dynamodb {
            use aws_sdk_dynamodbstreams::types::ShardIteratorType as T;
            let mut req = self
                .dynamodb
                .get_shard_iterator()
                .stream_arn(arn)
                .shard_id(shard);
            req = match pos {
                Position::TrimHorizon | Position::AtTimestamp(_) => {
                    req.shard_iterator_type(T::TrimHorizon)
                }
                Position::Latest => req.shard_iterator_type(T::Latest),
                Position::After(s) => req
                    .shard_iterator_type(T::AfterSequenceNumber)
                    .sequence_number(s),
            };
            let resp = req.send().await.map_err(err)?;
            return resp
                .shard_iterator()
                .map(str::to_owned)
                .ok_or_else(|| "no shard iterator".to_owned());
        }
        use aws_sdk_kinesis::types::ShardIteratorType as T;
        let mut req = self
            .kinesis
            .get_shard_iterator()
            .stream_name(stream_name(arn))
            .shard_id(shard);
        req = match pos {
            Position::TrimHorizon => req.shard_iterator_type(T::TrimHorizon),
            Position::Latest => req.shard_iterator_type(T::Latest),
            Position::AtTimestamp(t) => req
                .shard_iterator_type(T::AtTimestamp)
                .timestamp(aws_sdk_kinesis::primitives::DateTime::from_secs_f64(*t)),
            Position::After(s) => req
                .shard_iterator_type(T::AfterSequenceNumber)
                .starting_sequence_number(s),
        };
        let resp = req.send().await.map_err(err)?;
        resp.shard_iterator()
            .map(str::to_owned)
            .ok_or_else(|| "no shard iterator".to_owned())
    }

    /// Up to `limit` records at `iterator`, and the next iterator (`None`:
    /// the shard is closed and read to its end).
    pub async fn records(
        &self,
        o: &Origin<'_>,
        dynamodb: bool,
        iterator: &str,
        limit: usize,
    ) -> Result<(Vec<StreamRecord>, Option<String>), String> {
        if dynamodb {
            let resp = self
                .dynamodb
                .get_records()
                .shard_iterator(iterator)
                .limit(limit.clamp(1, DYNAMODB_MAX_RECORDS) as i32)
                .send()
                .await
                .map_err(err)?;
            let records = resp
                .records()
                .iter()
                .filter_map(|r| {
                    let d = r.dynamodb()?;
                    Some(dynamodb_record(
                        o,
                        DynamoChange {
                            event_id: r.event_id().unwrap_or_default().to_owned(),
                            event_name: r
                                .event_name()
                                .map(|n| n.as_str().to_owned())
                                .unwrap_or_default(),
                            created: d
                                .approximate_creation_date_time()
                                .map_or(0.0, |t| t.as_secs_f64()),
                            keys: d.keys().map(item),
                            new_image: d.new_image().map(item),
                            old_image: d.old_image().map(item),
                            sequence: d.sequence_number()?.to_owned(),
                            size_bytes: d.size_bytes().unwrap_or_default(),
                            view_type: d.stream_view_type().map(|v| v.as_str().to_owned()),
                        },
                    ))
                })
                .collect();
            return Ok((records, resp.next_shard_iterator().map(str::to_owned)));
        }
        let resp = self
            .kinesis
            .get_records()
            .shard_iterator(iterator)
            .limit(limit.clamp(1, KINESIS_MAX_RECORDS) as i32)
            .send()
            .await
            .map_err(err)?;
        let records = resp
            .records()
            .iter()
            .map(|r| {
                kinesis_record(
                    o,
                    r.sequence_number(),
                    r.partition_key().unwrap_or_default(),
                    r.data().as_ref(),
                    r.approximate_arrival_timestamp()
                        .map_or(0.0, |t| t.as_secs_f64()),
                )
            })
            .collect();
        Ok((records, resp.next_shard_iterator().map(str::to_owned)))
    }
}
