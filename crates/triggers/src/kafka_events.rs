//! The events of self-managed Kafka mappings, as Lambda delivers them:
//! `eventSource: SelfManagedKafka`, the bootstrap servers joined by commas,
//! and `records` keyed `TOPIC-PARTITION`, each record with its topic,
//! partition, offset, timestamp (epoch milliseconds) and its type, `key`
//! and `value` in base64, and `headers` as a list of one-member objects
//! whose values are the header's bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rskafka::record::RecordAndOffset;
use serde_json::{Map, Value, json};

/// The event's `eventSource` for self-managed Kafka.
pub const EVENT_SOURCE: &str = "SelfManagedKafka";

/// One record of partition `partition` of `topic`.
pub fn record(topic: &str, partition: i32, r: &RecordAndOffset) -> Value {
    let rec = &r.record;
    let mut v = json!({
        "topic": topic,
        "partition": partition,
        "offset": r.offset,
        "timestamp": rec.timestamp.timestamp_millis(),
        "timestampType": "CREATE_TIME",
    });
    if let Some(key) = &rec.key {
        v["key"] = json!(STANDARD.encode(key));
    }
    if let Some(value) = &rec.value {
        v["value"] = json!(STANDARD.encode(value));
    }
    v["headers"] = rec
        .headers
        .iter()
        .map(|(k, bytes)| {
            let mut h = Map::new();
            h.insert(k.clone(), json!(bytes));
            Value::Object(h)
        })
        .collect();
    v
}

/// The event of one batch: `records` of one partition under `key`.
pub fn event(bootstrap_servers: &[String], key: &str, records: Vec<Value>) -> Value {
    let mut by_partition = Map::new();
    by_partition.insert(key.to_owned(), Value::Array(records));
    json!({
        "eventSource": EVENT_SOURCE,
        "bootstrapServers": bootstrap_servers.join(","),
        "records": by_partition,
    })
}

/// The record as filters see it: `value` decoded and parsed when it is JSON
/// (else left in base64, as Lambda does).
pub fn filter_view(record: &Value) -> Value {
    let mut v = record.clone();
    if let Some(parsed) = record["value"]
        .as_str()
        .and_then(|d| STANDARD.decode(d).ok())
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    {
        v["value"] = parsed;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use rskafka::chrono::{TimeZone, Utc};
    use rskafka::record::Record;
    use std::collections::BTreeMap;

    #[test]
    fn shapes() {
        let r = RecordAndOffset {
            offset: 15,
            record: Record {
                key: Some(b"recordKey".to_vec()),
                value: Some(br#"{"key":"value"}"#.to_vec()),
                headers: BTreeMap::from([("headerKey".to_owned(), b"headerValue".to_vec())]),
                timestamp: Utc.timestamp_millis_opt(1_545_084_650_987).unwrap(),
            },
        };
        let rec = record("mytopic", 0, &r);
        assert_eq!(rec["key"], "cmVjb3JkS2V5");
        assert_eq!(rec["value"], "eyJrZXkiOiJ2YWx1ZSJ9");
        assert_eq!(rec["timestamp"], 1_545_084_650_987_i64);
        assert_eq!(
            rec["headers"],
            json!([{"headerKey": [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101]}])
        );
        assert_eq!(filter_view(&rec)["value"]["key"], "value");
        let e = event(&["a:1".into(), "b:2".into()], "mytopic-0", vec![rec]);
        assert_eq!(e["bootstrapServers"], "a:1,b:2");
        assert_eq!(e["records"]["mytopic-0"][0]["offset"], 15);
    }
}
