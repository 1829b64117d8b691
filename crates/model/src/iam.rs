//! IAM identity policies, as far as lambdad evaluates them: statements with
//! `Effect`, `Action` and `Resource` (strings or lists, `*` and `?`
//! wildcards); an explicit Deny wins, then any Allow, else the implicit deny.

use serde_json::Value;

/// A parsed policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    statements: Vec<Statement>,
}

#[derive(Debug, Clone, PartialEq)]
struct Statement {
    allow: bool,
    actions: Vec<String>,
    resources: Vec<String>,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// An Allow statement matches and no Deny does.
    Allow,
    /// A Deny statement matches.
    ExplicitDeny,
    /// Nothing matches.
    ImplicitDeny,
}

fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("{what} must hold strings"))
            })
            .collect(),
        Value::Null => Err(format!("a statement needs {what}")),
        _ => Err(format!("{what} must be a string or a list of strings")),
    }
}

/// `*` matches any run, `?` any one character; case-insensitive when asked (actions).
fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = if ignore_case {
        (
            pattern.to_lowercase().chars().collect(),
            text.to_lowercase().chars().collect(),
        )
    } else {
        (pattern.chars().collect(), text.chars().collect())
    };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

impl Policy {
    /// A policy that allows nothing.
    pub fn deny_all() -> Self {
        Self {
            statements: Vec::new(),
        }
    }

    /// Parses a policy document; `NotAction`, `NotResource` and `Condition` are refused.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let list = match &doc["Statement"] {
            Value::Array(a) => a.clone(),
            s @ Value::Object(_) => vec![s.clone()],
            _ => return Err("the document needs a Statement".into()),
        };
        let mut statements = Vec::new();
        for s in &list {
            for unsupported in ["NotAction", "NotResource", "Condition", "NotPrincipal"] {
                if s.get(unsupported).is_some() {
                    return Err(format!("{unsupported} is not supported by lambdad"));
                }
            }
            let allow = match s["Effect"].as_str() {
                Some("Allow") => true,
                Some("Deny") => false,
                _ => return Err("Effect must be Allow or Deny".into()),
            };
            statements.push(Statement {
                allow,
                actions: strings(&s["Action"], "Action")?,
                resources: strings(&s["Resource"], "Resource")?,
            });
        }
        Ok(Self { statements })
    }

    /// Evaluates `action` (e.g. `lambda:InvokeFunction`) on `resource` (an ARN or `*`).
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        let matching = |s: &&Statement| {
            s.actions.iter().any(|a| glob(a, action, true))
                && s.resources
                    .iter()
                    .any(|r| glob(r, resource, false) || r == "*")
        };
        if self
            .statements
            .iter()
            .filter(|s| !s.allow)
            .any(|s| matching(&s))
        {
            return Decision::ExplicitDeny;
        }
        if self
            .statements
            .iter()
            .filter(|s| s.allow)
            .any(|s| matching(&s))
        {
            return Decision::Allow;
        }
        Decision::ImplicitDeny
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluation() {
        let p = Policy::parse(r#"{"Version":"2012-10-17","Statement":[
            {"Effect":"Allow","Action":["lambda:Invoke*","lambda:Get*"],"Resource":"arn:aws:lambda:*:*:function:app-*"},
            {"Effect":"Allow","Action":"lambda:ListFunctions","Resource":"*"},
            {"Effect":"Deny","Action":"lambda:*","Resource":"arn:aws:lambda:*:*:function:app-secret*"}]}"#).unwrap();
        let f = |name: &str| format!("arn:aws:lambda:us-east-1:000000000000:function:{name}");
        assert_eq!(
            p.evaluate("lambda:InvokeFunction", &f("app-web")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate("lambda:invokefunction", &f("app-web")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate("lambda:DeleteFunction", &f("app-web")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate("lambda:InvokeFunction", &f("other")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate("lambda:GetFunction", &f("app-secret-1")),
            Decision::ExplicitDeny
        );
        assert_eq!(p.evaluate("lambda:ListFunctions", "*"), Decision::Allow);
        assert!(
            Policy::parse(r#"{"Statement":[{"Effect":"Allow","NotAction":"x","Resource":"*"}]}"#)
                .is_err()
        );
        assert!(glob("a?c*", "abcdef", false) && !glob("a?c", "abcd", false));
    }
}
