//! EventBridge event patterns: validation and content filtering as
//! EventBridge does it — exact values, `prefix`, `suffix`,
//! `equals-ignore-case`, `anything-but`, `numeric` ranges, `exists`,
//! `wildcard`, `cidr`, nested fields, arrays (any element matches) and `$or`.

use serde_json::{Map, Value};

/// A parsed, validated pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPattern(Map<String, Value>);

/// Why a pattern is invalid (AWS's InvalidEventPatternException reason).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Event pattern is not valid. Reason: {0}")]
pub struct PatternError(pub String);

fn bad(reason: impl Into<String>) -> PatternError {
    PatternError(reason.into())
}

fn check_object(obj: &Map<String, Value>) -> Result<(), PatternError> {
    if obj.is_empty() {
        return Err(bad("Empty objects are not allowed"));
    }
    for (key, value) in obj {
        if key == "$or" {
            let alts = value
                .as_array()
                .filter(|a| a.len() >= 2)
                .ok_or_else(|| bad("\"$or\" must be an array of at least two objects"))?;
            for alt in alts {
                check_object(
                    alt.as_object()
                        .ok_or_else(|| bad("\"$or\" members must be objects"))?,
                )?;
            }
            continue;
        }
        match value {
            Value::Object(inner) => check_object(inner)?,
            Value::Array(matchers) => {
                if matchers.is_empty() {
                    return Err(bad(format!("Empty arrays are not allowed at \"{key}\"")));
                }
                for m in matchers {
                    check_matcher(key, m)?;
                }
            }
            _ => {
                return Err(bad(format!("\"{key}\" must be an object or an array")));
            }
        }
    }
    Ok(())
}

fn check_matcher(key: &str, m: &Value) -> Result<(), PatternError> {
    let Value::Object(op) = m else {
        return Ok(()); // an exact value
    };
    let (name, arg) = op.iter().next().filter(|_| op.len() == 1).ok_or_else(|| {
        bad(format!(
            "Only one operator is allowed per matcher at \"{key}\""
        ))
    })?;
    match name.as_str() {
        "prefix" | "suffix" => match arg {
            Value::String(_) => Ok(()),
            Value::Object(o)
                if o.len() == 1 && o.get("equals-ignore-case").is_some_and(Value::is_string) =>
            {
                Ok(())
            }
            _ => Err(bad(format!("{name} match pattern must be a string"))),
        },
        "equals-ignore-case" | "wildcard" | "cidr" => arg
            .is_string()
            .then_some(())
            .ok_or_else(|| bad(format!("{name} match pattern must be a string"))),
        "exists" => arg
            .is_boolean()
            .then_some(())
            .ok_or_else(|| bad("exists match pattern must be either true or false.")),
        "anything-but" => match arg {
            Value::String(_) | Value::Number(_) => Ok(()),
            Value::Array(a)
                if !a.is_empty() && a.iter().all(|v| v.is_string() || v.is_number()) =>
            {
                Ok(())
            }
            Value::Object(o)
                if o.len() == 1
                    && (o.contains_key("prefix")
                        || o.contains_key("suffix")
                        || o.contains_key("equals-ignore-case")) =>
            {
                Ok(())
            }
            _ => Err(bad(
                "Value of anything-but must be an array or single string/number value.",
            )),
        },
        "numeric" => {
            let a = arg
                .as_array()
                .filter(|a| a.len() == 2 || a.len() == 4)
                .ok_or_else(|| bad("Value of numeric must be an array."))?;
            for pair in a.chunks(2) {
                let ok_op = matches!(pair[0].as_str(), Some("=" | "<" | "<=" | ">" | ">="));
                if !ok_op || !pair[1].is_number() {
                    return Err(bad("Unrecognized numeric range operator or value"));
                }
            }
            Ok(())
        }
        other => Err(bad(format!("Unrecognized match type {other}"))),
    }
}

impl EventPattern {
    /// Parses and validates a pattern document.
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| bad(format!("Filter is not valid JSON: {e}")))?;
        let Value::Object(obj) = value else {
            return Err(bad("Filter is not an object"));
        };
        check_object(&obj)?;
        Ok(Self(obj))
    }

    /// Whether `event` (a JSON object) matches.
    pub fn matches(&self, event: &Value) -> bool {
        object_matches(&self.0, event)
    }
}

fn object_matches(pattern: &Map<String, Value>, event: &Value) -> bool {
    pattern.iter().all(|(key, p)| {
        if key == "$or" {
            return p.as_array().is_some_and(|alts| {
                alts.iter()
                    .any(|a| a.as_object().is_some_and(|o| object_matches(o, event)))
            });
        }
        let field = event.get(key);
        match p {
            Value::Object(inner) => match field {
                Some(Value::Array(items)) => items.iter().any(|i| object_matches(inner, i)),
                Some(v) => object_matches(inner, v),
                None => object_matches(inner, &Value::Null) && only_absence(inner),
            },
            Value::Array(matchers) => leaf_matches(matchers, field),
            _ => false,
        }
    })
}

/// A nested pattern an absent field can satisfy: every leaf is `exists: false`.
fn only_absence(pattern: &Map<String, Value>) -> bool {
    pattern.values().all(|p| match p {
        Value::Object(inner) => only_absence(inner),
        Value::Array(m) => m
            .iter()
            .all(|m| m.get("exists") == Some(&Value::Bool(false))),
        _ => false,
    })
}

fn leaf_matches(matchers: &[Value], field: Option<&Value>) -> bool {
    let values: Vec<&Value> = match field {
        None => Vec::new(),
        Some(Value::Array(items)) => items.iter().collect(),
        Some(v) => vec![v],
    };
    matchers.iter().any(|m| {
        if let Some(exists) = m.get("exists").and_then(Value::as_bool) {
            return exists == field.is_some();
        }
        if let Some(but) = m.get("anything-but") {
            // Needs a value, and none of them may be excluded.
            return !values.is_empty() && values.iter().all(|v| !excluded(but, v));
        }
        values.iter().any(|v| one_matches(m, v))
    })
}

fn excluded(but: &Value, v: &Value) -> bool {
    match but {
        Value::Array(list) => list.iter().any(|b| scalar_eq(b, v)),
        Value::Object(_) => one_matches(but, v),
        other => scalar_eq(other, v),
    }
}

fn scalar_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn text_op(arg: &Value, v: &str, f: fn(&str, &str) -> bool) -> bool {
    match arg {
        Value::String(s) => f(v, s),
        Value::Object(o) => o
            .get("equals-ignore-case")
            .and_then(Value::as_str)
            .is_some_and(|s| f(&v.to_lowercase(), &s.to_lowercase())),
        _ => false,
    }
}

fn one_matches(m: &Value, v: &Value) -> bool {
    let Value::Object(op) = m else {
        return scalar_eq(m, v);
    };
    let Some((name, arg)) = op.iter().next() else {
        return false;
    };
    let text = v.as_str();
    match name.as_str() {
        "prefix" => text.is_some_and(|t| text_op(arg, t, |t, p| t.starts_with(p))),
        "suffix" => text.is_some_and(|t| text_op(arg, t, |t, p| t.ends_with(p))),
        "equals-ignore-case" => text
            .zip(arg.as_str())
            .is_some_and(|(t, a)| t.to_lowercase() == a.to_lowercase()),
        "wildcard" => text.zip(arg.as_str()).is_some_and(|(t, a)| wildcard(a, t)),
        "cidr" => text.zip(arg.as_str()).is_some_and(|(t, a)| cidr(a, t)),
        "numeric" => v.as_f64().is_some_and(|n| {
            arg.as_array().is_some_and(|a| {
                a.chunks(2).all(|pair| {
                    let bound = pair[1].as_f64().unwrap_or(f64::NAN);
                    match pair[0].as_str() {
                        Some("=") => n == bound,
                        Some("<") => n < bound,
                        Some("<=") => n <= bound,
                        Some(">") => n > bound,
                        Some(">=") => n >= bound,
                        _ => false,
                    }
                })
            })
        }),
        _ => false,
    }
}

/// `*` matches any run of characters.
fn wildcard(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first)
        || !text[first.len()..].ends_with(last)
        || text.len() < first.len() + last.len()
    {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn cidr(range: &str, ip: &str) -> bool {
    let Some((net, bits)) = range.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(ip), Ok(bits)) = (
        net.parse::<std::net::Ipv4Addr>(),
        ip.parse::<std::net::Ipv4Addr>(),
        bits.parse::<u32>(),
    ) else {
        return false;
    };
    if bits > 32 {
        return false;
    }
    let mask = if bits == 0 {
        0
    } else {
        u32::MAX << (32 - bits)
    };
    u32::from(net) & mask == u32::from(ip) & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(pattern: Value, event: Value) -> bool {
        EventPattern::parse(&pattern.to_string())
            .unwrap()
            .matches(&event)
    }

    #[test]
    fn content_filtering() {
        let e = json!({"source": "shop", "detail-type": "Order", "detail": {"total": 120, "state": "paid",
            "tags": ["a", "b"], "ip": "10.0.1.7", "customer": {"tier": "gold"}}});
        assert!(m(json!({"source": ["shop"]}), e.clone()));
        assert!(!m(json!({"source": ["store"]}), e.clone()));
        assert!(m(
            json!({"detail": {"state": [{"prefix": "pa"}]}}),
            e.clone()
        ));
        assert!(m(
            json!({"detail": {"state": [{"suffix": "id"}]}}),
            e.clone()
        ));
        assert!(m(
            json!({"detail": {"state": [{"anything-but": ["refunded"]}]}}),
            e.clone()
        ));
        assert!(!m(
            json!({"detail": {"state": [{"anything-but": "paid"}]}}),
            e.clone()
        ));
        assert!(m(
            json!({"detail": {"total": [{"numeric": [">", 100, "<=", 200]}]}}),
            e.clone()
        ));
        assert!(!m(
            json!({"detail": {"total": [{"numeric": ["<", 100]}]}}),
            e.clone()
        ));
        assert!(m(
            json!({"detail": {"missing": [{"exists": false}]}}),
            e.clone()
        ));
        assert!(!m(
            json!({"detail": {"state": [{"exists": false}]}}),
            e.clone()
        ));
        assert!(m(json!({"detail": {"tags": ["b"]}}), e.clone()));
        assert!(m(
            json!({"detail": {"customer": {"tier": ["gold"]}}}),
            e.clone()
        ));
        assert!(m(json!({"detail-type": [{"wildcard": "Or*r"}]}), e.clone()));
        assert!(m(
            json!({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}),
            e.clone()
        ));
        assert!(m(
            json!({"detail-type": [{"equals-ignore-case": "ORDER"}]}),
            e.clone()
        ));
        assert!(m(
            json!({"$or": [{"source": ["x"]}, {"detail": {"total": [120]}}]}),
            e.clone()
        ));
        assert!(!m(
            json!({"source": ["shop"], "detail": {"state": ["new"]}}),
            e.clone()
        ));
    }

    #[test]
    fn validation() {
        for bad in [
            r#"[]"#,
            r#"{"a": "x"}"#,
            r#"{"a": []}"#,
            r#"{"a": [{"numeric": [">"]}]}"#,
            r#"{"a": [{"nope": 1}]}"#,
            "not json",
        ] {
            assert!(EventPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
