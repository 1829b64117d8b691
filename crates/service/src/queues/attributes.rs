//! Queue attributes (AWS's names, defaults and ranges, the redrive policy)
//! and the MD5 digests of message bodies and attributes the SDKs verify.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::error::QueuesError;

/// The largest message, and default `MaximumMessageSize` (256 KiB).
pub const MAX_MESSAGE_BYTES: usize = 262_144;
/// How long a FIFO deduplication id is remembered (ms).
pub const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;

/// The attributes stored with a queue and their defaults.
const DEFAULTS: &[(&str, &str)] = &[
    ("DelaySeconds", "0"),
    ("MaximumMessageSize", "262144"),
    ("MessageRetentionPeriod", "345600"),
    ("ReceiveMessageWaitTimeSeconds", "0"),
    ("VisibilityTimeout", "30"),
    ("SqsManagedSseEnabled", "false"),
];

/// The further stored defaults of FIFO queues.
const FIFO_DEFAULTS: &[(&str, &str)] = &[
    ("FifoQueue", "true"),
    ("ContentBasedDeduplication", "false"),
    ("DeduplicationScope", "queue"),
    ("FifoThroughputLimit", "perQueue"),
];

/// Attributes computed when read, never stored.
pub const COMPUTED: &[&str] = &[
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
];

/// Attributes a client may set (FIFO ones only on FIFO queues).
const SETTABLE: &[&str] = &[
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "Policy",
    "RedrivePolicy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
];

/// A queue's stored attributes with defaults for those not given.
pub fn with_defaults(fifo: bool, given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = DEFAULTS
        .iter()
        .chain(if fifo { FIFO_DEFAULTS } else { &[] })
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for (k, v) in given {
        if k != "FifoQueue" {
            out.insert(k.clone(), v.clone());
        }
    }
    out
}

fn integer(name: &str, value: &str, min: i64, max: i64) -> Result<(), QueuesError> {
    match value.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(()),
        _ => Err(QueuesError::InvalidAttributeValue(name.to_owned())),
    }
}

fn boolean(name: &str, value: &str) -> Result<(), QueuesError> {
    match value {
        "true" | "false" => Ok(()),
        _ => Err(QueuesError::InvalidAttributeValue(name.to_owned())),
    }
}

/// A queue's redrive policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    /// The dead-letter queue's ARN.
    pub dead_letter_target_arn: String,
    /// Receives after which a message moves there.
    pub max_receive_count: u32,
}

/// Parses a `RedrivePolicy` value (`maxReceiveCount` as a number or a string).
pub fn redrive_policy(value: &str) -> Result<RedrivePolicy, QueuesError> {
    let invalid = |why: &str| {
        QueuesError::InvalidParameterValue(format!(
            "Value {value} for parameter RedrivePolicy is invalid. Reason: {why}"
        ))
    };
    let v: serde_json::Value =
        serde_json::from_str(value).map_err(|_| invalid("Invalid JSON document."))?;
    let arn = v["deadLetterTargetArn"].as_str().ok_or_else(|| {
        invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
    })?;
    let count = match &v["maxReceiveCount"] {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        invalid("Redrive policy does not contain mandatory attribute: maxReceiveCount.")
    })?;
    if !(1..=1000).contains(&count) {
        return Err(invalid(&format!(
            "Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both inclusive."
        )));
    }
    Ok(RedrivePolicy {
        dead_letter_target_arn: arn.to_owned(),
        max_receive_count: count as u32,
    })
}

/// Checks attributes a client sets (CreateQueue: `creating`).
pub fn validate(
    fifo: bool,
    creating: bool,
    attrs: &BTreeMap<String, String>,
) -> Result<(), QueuesError> {
    for (name, value) in attrs {
        match name.as_str() {
            "FifoQueue" if creating => boolean(name, value)?,
            "DelaySeconds" => integer(name, value, 0, 900)?,
            "MaximumMessageSize" => integer(name, value, 1024, MAX_MESSAGE_BYTES as i64)?,
            "MessageRetentionPeriod" => integer(name, value, 60, 1_209_600)?,
            "ReceiveMessageWaitTimeSeconds" => integer(name, value, 0, 20)?,
            "VisibilityTimeout" => integer(name, value, 0, 43_200)?,
            "KmsDataKeyReusePeriodSeconds" => integer(name, value, 60, 86_400)?,
            "SqsManagedSseEnabled" => boolean(name, value)?,
            "RedrivePolicy" => {
                if !value.is_empty() {
                    redrive_policy(value)?;
                }
            }
            "Policy" | "RedriveAllowPolicy" => {
                if !value.is_empty() && serde_json::from_str::<serde_json::Value>(value).is_err() {
                    return Err(QueuesError::InvalidAttributeValue(name.clone()));
                }
            }
            "KmsMasterKeyId" => {}
            "ContentBasedDeduplication" if fifo => boolean(name, value)?,
            "DeduplicationScope" if fifo => match value.as_str() {
                "queue" | "messageGroup" => {}
                _ => return Err(QueuesError::InvalidAttributeValue(name.clone())),
            },
            "FifoThroughputLimit" if fifo => match value.as_str() {
                "perQueue" | "perMessageGroupId" => {}
                _ => return Err(QueuesError::InvalidAttributeValue(name.clone())),
            },
            _ => return Err(QueuesError::InvalidAttributeName(name.clone())),
        }
    }
    Ok(())
}

/// Whether `name` is an attribute GetQueueAttributes knows.
pub fn known(name: &str) -> bool {
    name == "All" || name == "FifoQueue" || SETTABLE.contains(&name) || COMPUTED.contains(&name)
}

/// A message attribute (AWS's `MessageAttributeValue`; binary values base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct MessageAttribute {
    /// `String`, `Number`, `Binary`, optionally with a `.custom` suffix.
    pub data_type: String,
    /// The value of a String or Number attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string_value: Option<String>,
    /// The base64 value of a Binary attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_value: Option<String>,
    /// Reserved by AWS; always empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub string_list_values: Vec<String>,
    /// Reserved by AWS; always empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub binary_list_values: Vec<String>,
}

/// Hex MD5 of `bytes`.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex::encode(Md5::digest(bytes))
}

fn decode_binary(name: &str, b64: &str) -> Result<Vec<u8>, QueuesError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| {
            QueuesError::InvalidParameterValue(format!(
                "Message (user) attribute '{name}' has an invalid binary value."
            ))
        })
}

/// Checks message attributes; their size in bytes (names, types and values).
pub fn validate_message_attributes(
    attrs: &BTreeMap<String, MessageAttribute>,
) -> Result<usize, QueuesError> {
    if attrs.len() > 10 {
        return Err(QueuesError::InvalidParameterValue(format!(
            "Number of message attributes [{}] exceeds the allowed maximum [10].",
            attrs.len()
        )));
    }
    let mut size = 0;
    for (name, a) in attrs {
        let bad = |why: String| Err(QueuesError::InvalidParameterValue(why));
        if name.is_empty()
            || name.len() > 256
            || name.starts_with('.')
            || name.ends_with('.')
            || name.contains("..")
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return bad(format!(
                "Message (user) attribute name '{name}' is invalid."
            ));
        }
        let base = a.data_type.split('.').next().unwrap_or_default();
        match base {
            "String" | "Number" => match &a.string_value {
                Some(v) if !v.is_empty() => size += v.len(),
                _ => {
                    return bad(format!(
                        "Message (user) attribute '{name}' must contain a non-empty value of type '{base}'."
                    ));
                }
            },
            "Binary" => match &a.binary_value {
                Some(v) if !v.is_empty() => size += decode_binary(name, v)?.len(),
                _ => {
                    return bad(format!(
                        "Message (user) attribute '{name}' must contain a non-empty value of type 'Binary'."
                    ));
                }
            },
            _ => {
                return bad(format!(
                    "The type of message (user) attribute '{name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String."
                ));
            }
        }
        size += name.len() + a.data_type.len();
    }
    Ok(size)
}

/// AWS's MD5 of message attributes: over the attributes sorted by name,
/// each as length-prefixed name and type, a transport byte (1 string,
/// 2 binary) and the length-prefixed value.
pub fn md5_of_attributes(attrs: &BTreeMap<String, MessageAttribute>) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut buf = Vec::new();
    let put = |buf: &mut Vec<u8>, bytes: &[u8]| {
        buf.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        buf.extend_from_slice(bytes);
    };
    for (name, a) in attrs {
        put(&mut buf, name.as_bytes());
        put(&mut buf, a.data_type.as_bytes());
        if let Some(s) = &a.string_value {
            buf.push(1);
            put(&mut buf, s.as_bytes());
        } else if let Some(b) = &a.binary_value {
            buf.push(2);
            put(&mut buf, &decode_binary(name, b).unwrap_or_default());
        }
    }
    Some(md5_hex(&buf))
}

/// Whether every character of `body` is one SQS accepts.
pub fn valid_body(body: &str) -> bool {
    body.chars().all(|c| {
        matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{d7ff}' | '\u{e000}'..='\u{fffd}')
            || c >= '\u{10000}'
    })
}

/// Whether `name` is a valid queue name (FIFO: with its `.fifo` suffix).
pub fn valid_queue_name(name: &str, fifo: bool) -> bool {
    let base = if fifo {
        match name.strip_suffix(".fifo") {
            Some(b) => b,
            None => return false,
        }
    } else {
        name
    };
    !base.is_empty()
        && name.len() <= 80
        && base
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_digest_matches_aws_example() {
        // The digest boto3 computes for {"a": String "b"}.
        let mut attrs = BTreeMap::new();
        attrs.insert(
            "a".to_owned(),
            MessageAttribute {
                data_type: "String".to_owned(),
                string_value: Some("b".to_owned()),
                binary_value: None,
                string_list_values: vec![],
                binary_list_values: vec![],
            },
        );
        let mut expected = Vec::new();
        expected.extend_from_slice(&[0, 0, 0, 1, b'a', 0, 0, 0, 6]);
        expected.extend_from_slice(b"String");
        expected.extend_from_slice(&[1, 0, 0, 0, 1, b'b']);
        assert_eq!(md5_of_attributes(&attrs), Some(md5_hex(&expected)));
    }

    #[test]
    fn names_and_bodies() {
        assert!(valid_queue_name("a-b_c", false));
        assert!(!valid_queue_name("a.fifo", false));
        assert!(valid_queue_name("a.fifo", true));
        assert!(!valid_queue_name(".fifo", true));
        assert!(!valid_queue_name(&"x".repeat(81), false));
        assert!(valid_body("héllo\n"));
        assert!(!valid_body("a\u{1}b"));
    }
}
