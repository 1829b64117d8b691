//! Subscription filter policies, matched with EventBridge's pattern
//! engine (`lambdad_model::eventpattern`: exact strings and numbers,
//! `prefix`, `suffix`, `anything-but` (also with `prefix`), `numeric`
//! ranges, `exists`, `equals-ignore-case`, `$or`, nested keys). With
//! `FilterPolicyScope` `MessageAttributes` (the default) the policy's keys
//! name message attributes (String as a string, Number as a number,
//! String.Array as its array); with `MessageBody` they name the fields of
//! the JSON message body.

use std::collections::BTreeMap;

use lambdad_model::eventpattern::EventPattern;
use serde_json::{Map, Value};

use crate::queues::attributes::MessageAttribute;

/// A parsed filter policy.
#[derive(Debug, Clone)]
pub struct FilterPolicy(EventPattern);

impl FilterPolicy {
    /// Parses a policy; the error is the reason AWS would give.
    pub fn parse(text: &str) -> Result<Self, String> {
        EventPattern::parse(text)
            .map(Self)
            .map_err(|e| e.0.replace("Filter is not", "Filter policy is not"))
    }

    /// Whether a message with these attributes and body passes, in `scope`.
    pub fn matches(
        &self,
        body_scope: bool,
        attributes: &BTreeMap<String, MessageAttribute>,
        body: &str,
    ) -> bool {
        if body_scope {
            return serde_json::from_str::<Value>(body).is_ok_and(|v| self.0.matches(&v));
        }
        let mut event = Map::new();
        for (name, a) in attributes {
            let text = a.string_value.clone().unwrap_or_default();
            let value = if a.data_type.starts_with("Number") {
                match serde_json::from_str::<Value>(&text) {
                    Ok(n @ Value::Number(_)) => n,
                    _ => continue,
                }
            } else if a.data_type.starts_with("String.Array") {
                match serde_json::from_str::<Value>(&text) {
                    Ok(arr @ Value::Array(_)) => arr,
                    _ => continue,
                }
            } else if a.data_type.starts_with("Binary") {
                continue;
            } else {
                Value::String(text)
            };
            event.insert(name.clone(), value);
        }
        self.0.matches(&Value::Object(event))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(t: &str, v: &str) -> MessageAttribute {
        MessageAttribute {
            data_type: t.to_owned(),
            string_value: Some(v.to_owned()),
            binary_value: None,
            string_list_values: Vec::new(),
            binary_list_values: Vec::new(),
        }
    }

    #[test]
    fn attribute_scope_operators() {
        let attrs = BTreeMap::from([
            ("store".to_owned(), attr("String", "example_corp")),
            ("price".to_owned(), attr("Number", "210.75")),
            ("tags".to_owned(), attr("String.Array", r#"["a","b"]"#)),
        ]);
        let yes = [
            r#"{"store": ["example_corp"]}"#,
            r#"{"store": [{"prefix": "ex"}]}"#,
            r#"{"store": [{"suffix": "corp"}]}"#,
            r#"{"store": [{"anything-but": {"prefix": "x"}}]}"#,
            r#"{"store": [{"equals-ignore-case": "EXAMPLE_CORP"}]}"#,
            r#"{"price": [{"numeric": [">", 100, "<=", 300]}]}"#,
            r#"{"price": [210.75]}"#,
            r#"{"tags": ["b"]}"#,
            r#"{"missing": [{"exists": false}]}"#,
            r#"{"$or": [{"store": ["no"]}, {"price": [{"numeric": [">", 200]}]}]}"#,
        ];
        for p in yes {
            assert!(
                FilterPolicy::parse(p).unwrap().matches(false, &attrs, ""),
                "{p}"
            );
        }
        let no = [
            r#"{"store": ["other"]}"#,
            r#"{"store": [{"anything-but": ["example_corp"]}]}"#,
            r#"{"price": [{"numeric": ["<", 100]}]}"#,
            r#"{"missing": [{"exists": true}]}"#,
            r#"{"store": ["example_corp"], "price": [1]}"#,
        ];
        for p in no {
            assert!(
                !FilterPolicy::parse(p).unwrap().matches(false, &attrs, ""),
                "{p}"
            );
        }
    }

    #[test]
    fn body_scope_nested_keys() {
        let p = FilterPolicy::parse(r#"{"order": {"kind": ["big"]}}"#).unwrap();
        let none = BTreeMap::new();
        assert!(p.matches(true, &none, r#"{"order": {"kind": "big"}}"#));
        assert!(!p.matches(true, &none, r#"{"order": {"kind": "small"}}"#));
        assert!(!p.matches(true, &none, "not json"));
        assert!(FilterPolicy::parse("[1]").is_err());
    }
}
