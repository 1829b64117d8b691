//! The event a RabbitMQ mapping hands its function, as Amazon MQ for
//! RabbitMQ delivers it: `eventSource: aws:rmq`, the broker's ARN, and the
//! messages under `rmqMessagesByQueue["QUEUE::VHOST"]`, each with its
//! `basicProperties` (every AMQP property, `null` when unset; header
//! strings as `{"bytes": [...]}`; the timestamp as `Jan 1, 1970, 12:33:41
//! AM`, in UTC), `redelivered` and its body in base64 as `data`.

use base64::Engine as _;
use lapin::BasicProperties;
use lapin::types::AMQPValue;
use serde_json::{Value, json};

/// One message of a batch, as its record.
pub fn record(redelivered: bool, properties: &BasicProperties, body: &[u8]) -> Value {
    let text = |v: &Option<lapin::types::ShortString>| match v {
        Some(s) => json!(s.as_str()),
        None => Value::Null,
    };
    let headers = properties
        .headers()
        .as_ref()
        .map_or(Value::Null, |t| table(t.inner()));
    json!({
        "basicProperties": {
            "contentType": text(properties.content_type()),
            "contentEncoding": text(properties.content_encoding()),
            "headers": headers,
            "deliveryMode": properties.delivery_mode(),
            "priority": properties.priority(),
            "correlationId": text(properties.correlation_id()),
            "replyTo": text(properties.reply_to()),
            "expiration": text(properties.expiration()),
            "messageId": text(properties.message_id()),
            "timestamp": properties.timestamp().map(timestamp),
            "type": text(properties.kind()),
            "userId": text(properties.user_id()),
            "appId": text(properties.app_id()),
            "clusterId": text(properties.cluster_id()),
            "bodySize": body.len(),
        },
        "redelivered": redelivered,
        "data": base64::engine::general_purpose::STANDARD.encode(body),
    })
}

/// The whole event of a batch of `records` from `queue_key` (`QUEUE::VHOST`).
pub fn event(source_arn: &str, queue_key: &str, records: Vec<Value>) -> Value {
    json!({
        "eventSource": "aws:rmq",
        "eventSourceArn": source_arn,
        "rmqMessagesByQueue": { queue_key: records },
    })
}

/// A timestamp (epoch seconds) as Amazon MQ renders it: `Jan 1, 1970, 12:33:41 AM`.
fn timestamp(secs: u64) -> Value {
    let format = time::macros::format_description!(
        "[month repr:short] [day padding:none], [year], [hour repr:12 padding:none]:[minute]:[second] [period]"
    );
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(&format).ok())
        .map_or(Value::Null, Value::String)
}

fn bytes(b: &[u8]) -> Value {
    json!({ "bytes": b })
}

fn table(t: &std::collections::BTreeMap<lapin::types::ShortString, AMQPValue>) -> Value {
    Value::Object(
        t.iter()
            .map(|(k, v)| (k.as_str().to_owned(), value(v)))
            .collect(),
    )
}

/// A header value: numbers and booleans as themselves, strings and byte
/// arrays as `{"bytes": [...]}` (as the Java client's `LongString` is
/// rendered), tables and arrays recursively.
fn value(v: &AMQPValue) -> Value {
    match v {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(n) => json!(n),
        AMQPValue::Double(n) => json!(n),
        AMQPValue::DecimalValue(d) => {
            json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::ShortString(s) => bytes(s.as_str().as_bytes()),
        AMQPValue::LongString(s) => bytes(s.as_bytes()),
        AMQPValue::ByteArray(b) => bytes(b.as_slice()),
        AMQPValue::FieldArray(a) => Value::Array(a.as_slice().iter().map(value).collect()),
        AMQPValue::Timestamp(t) => json!(t),
        AMQPValue::FieldTable(t) => table(t.inner()),
        AMQPValue::Void => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lapin::types::{FieldTable, LongString};

    #[test]
    fn properties_as_amazon_mq_renders_them() {
        let mut headers = FieldTable::default();
        headers.insert(
            "header1".into(),
            AMQPValue::LongString(LongString::from("value1")),
        );
        headers.insert("numberInHeader".into(), AMQPValue::LongInt(10));
        let props = BasicProperties::default()
            .with_content_type("text/plain".into())
            .with_headers(headers)
            .with_delivery_mode(1)
            .with_priority(34)
            .with_expiration("60000".into())
            .with_timestamp(2021);
        let r = record(false, &props, b"hello");
        let p = &r["basicProperties"];
        assert_eq!(p["contentType"], "text/plain");
        assert_eq!(p["contentEncoding"], Value::Null);
        assert_eq!(
            p["headers"]["header1"]["bytes"],
            json!([118, 97, 108, 117, 101, 49])
        );
        assert_eq!(p["headers"]["numberInHeader"], 10);
        assert_eq!(p["timestamp"], "Jan 1, 1970, 12:33:41 AM");
        assert_eq!(p["bodySize"], 5);
        assert_eq!(r["data"], "aGVsbG8=");
        assert_eq!(r["redelivered"], false);
    }
}
