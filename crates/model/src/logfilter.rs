//! CloudWatch Logs filter patterns, as FilterLogEvents takes them: terms
//! (`ERROR`, `"exact phrase"`, all must match), optional terms (`?ERROR
//! ?WARN`: any may match), exclusions (`-DEBUG`), and JSON patterns
//! (`{ $.level = "ERROR" }`, `{ $.latency > 100 && $.user.id != "x" }`)
//! on messages that are JSON objects.

use serde_json::Value;

/// A parsed filter pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum FilterPattern {
    /// Matches everything (an empty pattern).
    All,
    /// Term matching.
    Terms {
        /// All of these must appear.
        all: Vec<String>,
        /// At least one of these must appear (when any).
        any: Vec<String>,
        /// None of these may appear.
        none: Vec<String>,
    },
    /// A JSON pattern: comparisons joined by `&&` / `||` (`&&` binds tighter).
    Json(Vec<Vec<Comparison>>),
}

/// `$.path OP value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    path: Vec<String>,
    op: Op,
    value: Literal,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Text(String),
    Number(f64),
    Null,
    Bool(bool),
}

/// Why a pattern cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter pattern: {0}")]
pub struct PatternError(pub String);

fn words(s: &str) -> Result<Vec<String>, PatternError> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        // A prefix (? or -) may precede a quoted phrase.
        if c == '?' || c == '-' {
            word.push(c);
            chars.next();
        }
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            for c in chars.by_ref() {
                if c == '"' {
                    closed = true;
                    break;
                }
                word.push(c);
            }
            if !closed {
                return Err(PatternError("unterminated quote".into()));
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        out.push(word);
    }
    Ok(out)
}

fn literal(s: &str) -> Result<Literal, PatternError> {
    let s = s.trim();
    if let Some(inner) = s.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        return Ok(Literal::Text(inner.to_owned()));
    }
    match s {
        "NULL" | "null" => return Ok(Literal::Null),
        "TRUE" | "true" => return Ok(Literal::Bool(true)),
        "FALSE" | "false" => return Ok(Literal::Bool(false)),
        _ => {}
    }
    if let Ok(n) = s.parse::<f64>() {
        return Ok(Literal::Number(n));
    }
    if s.is_empty() || s.contains(char::is_whitespace) {
        return Err(PatternError(format!("bad value {s:?}")));
    }
    Ok(Literal::Text(s.to_owned()))
}

fn comparison(s: &str) -> Result<Comparison, PatternError> {
    let s = s
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim();
    let rest = s
        .strip_prefix("$.")
        .ok_or_else(|| PatternError(format!("expected a selector $.field in {s:?}")))?;
    let ops = [
        ("!=", Op::Ne),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
    ];
    let (at, len, op) = ops
        .iter()
        .filter_map(|(t, op)| rest.find(t).map(|i| (i, t.len(), *op)))
        .min_by_key(|(i, len, _)| (*i, std::cmp::Reverse(*len)))
        .ok_or_else(|| PatternError(format!("expected a comparison in {s:?}")))?;
    let path: Vec<String> = rest[..at].trim().split('.').map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(PatternError(format!("bad selector in {s:?}")));
    }
    let op = if op == Op::Eq && rest[at..].starts_with("==") {
        return Err(PatternError("use = rather than ==".into()));
    } else {
        op
    };
    Ok(Comparison {
        path,
        op,
        value: literal(&rest[at + len..])?,
    })
}

impl FilterPattern {
    /// Parses a pattern.
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let p = pattern.trim();
        if p.is_empty() {
            return Ok(FilterPattern::All);
        }
        if let Some(inner) = p.strip_prefix('{') {
            let inner = inner
                .strip_suffix('}')
                .ok_or_else(|| PatternError("unbalanced braces".into()))?;
            let mut ors = Vec::new();
            for alt in inner.split("||") {
                let ands = alt
                    .split("&&")
                    .map(comparison)
                    .collect::<Result<Vec<_>, _>>()?;
                ors.push(ands);
            }
            return Ok(FilterPattern::Json(ors));
        }
        let (mut all, mut any, mut none) = (Vec::new(), Vec::new(), Vec::new());
        for w in words(p)? {
            if let Some(t) = w.strip_prefix('?') {
                any.push(t.to_owned());
            } else if let Some(t) = w.strip_prefix('-').filter(|t| !t.is_empty()) {
                none.push(t.to_owned());
            } else {
                all.push(w);
            }
        }
        Ok(FilterPattern::Terms { all, any, none })
    }

    /// Whether a log message matches.
    pub fn matches(&self, message: &str) -> bool {
        match self {
            FilterPattern::All => true,
            FilterPattern::Terms { all, any, none } => {
                all.iter().all(|t| message.contains(t.as_str()))
                    && (any.is_empty() || any.iter().any(|t| message.contains(t.as_str())))
                    && !none.iter().any(|t| message.contains(t.as_str()))
            }
            FilterPattern::Json(ors) => {
                let Some(doc) = json_part(message) else {
                    return false;
                };
                ors.iter().any(|ands| ands.iter().all(|c| c.holds(&doc)))
            }
        }
    }
}

/// The JSON object in a message: the whole message, or (for Text-format
/// lines such as `TIMESTAMP\tREQUEST_ID\tLEVEL\t{...}`) its last field.
fn json_part(message: &str) -> Option<Value> {
    let trimmed = message.trim();
    serde_json::from_str::<Value>(trimmed)
        .ok()
        .or_else(|| {
            let start = trimmed.find('{')?;
            serde_json::from_str(&trimmed[start..]).ok()
        })
        .filter(Value::is_object)
}

impl Comparison {
    fn holds(&self, doc: &Value) -> bool {
        let mut v = doc;
        for key in &self.path {
            match v.get(key) {
                Some(next) => v = next,
                None => return self.op == Op::Ne && self.value != Literal::Null,
            }
        }
        match (&self.value, self.op) {
            (Literal::Null, Op::Eq) => v.is_null(),
            (Literal::Null, Op::Ne) => !v.is_null(),
            (Literal::Bool(b), Op::Eq) => v.as_bool() == Some(*b),
            (Literal::Bool(b), Op::Ne) => v.as_bool() != Some(*b),
            (Literal::Text(t), op) => {
                let actual = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let eq = match t.strip_suffix('*') {
                    Some(prefix) => actual.starts_with(prefix),
                    None => actual == *t,
                };
                match op {
                    Op::Eq => eq,
                    Op::Ne => !eq,
                    _ => false,
                }
            }
            (Literal::Number(n), op) => {
                let Some(a) = v
                    .as_f64()
                    .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                else {
                    return op == Op::Ne;
                };
                match op {
                    Op::Eq => a == *n,
                    Op::Ne => a != *n,
                    Op::Lt => a < *n,
                    Op::Le => a <= *n,
                    Op::Gt => a > *n,
                    Op::Ge => a >= *n,
                }
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, msg: &str) -> bool {
        FilterPattern::parse(p).unwrap().matches(msg)
    }

    #[test]
    fn terms() {
        assert!(m("", "anything"));
        assert!(m("ERROR", "an ERROR here"));
        assert!(!m("ERROR", "all fine"));
        assert!(m("ERROR db", "ERROR in db"));
        assert!(!m("ERROR db", "ERROR in cache"));
        assert!(m("\"disk full\"", "the disk full now"));
        assert!(!m("\"disk full\"", "full disk"));
        assert!(m("?WARN ?ERROR", "a WARN"));
        assert!(!m("?WARN ?ERROR", "an INFO"));
        assert!(!m("ERROR -timeout", "ERROR timeout"));
        assert!(m("ERROR -timeout", "ERROR refused"));
    }

    #[test]
    fn json_patterns() {
        let line = r#"{"level":"ERROR","latency":150,"user":{"id":"u1"},"ok":false}"#;
        assert!(m(r#"{ $.level = "ERROR" }"#, line));
        assert!(!m(r#"{ $.level = "INFO" }"#, line));
        assert!(m(r#"{ $.level != "INFO" }"#, line));
        assert!(m("{ $.latency > 100 }", line));
        assert!(!m("{ $.latency <= 100 }", line));
        assert!(m(r#"{ $.user.id = "u1" && $.latency >= 150 }"#, line));
        assert!(m(r#"{ $.level = "INFO" || $.user.id = "u*" }"#, line));
        assert!(m("{ $.ok = false }", line));
        assert!(m("{ $.level = ERROR }", line));
        let text = "2026-11-23T10:00:00.000Z\tabc\tERROR\t{\"level\":\"ERROR\"}";
        assert!(m(r#"{ $.level = "ERROR" }"#, text));
        assert!(!m(r#"{ $.level = "ERROR" }"#, "not json"));
        assert!(FilterPattern::parse("{ $.level = ").is_err());
        assert!(FilterPattern::parse("\"open").is_err());
    }
}
