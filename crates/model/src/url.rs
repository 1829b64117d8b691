//! Function URLs: the `Cors` configuration, its validation, and the CORS
//! headers a URL answers with, as AWS's function URLs do.

use serde::{Deserialize, Serialize};

use crate::validate::one_error;
use crate::{AwsError, Code};

/// The longest `Cors.MaxAge` (a day).
pub const MAX_CORS_AGE: i64 = 86_400;

/// `AuthType` values.
pub const AUTH_TYPES: [&str; 2] = ["NONE", "AWS_IAM"];
/// `InvokeMode` values.
pub const INVOKE_MODES: [&str; 2] = ["BUFFERED", "RESPONSE_STREAM"];

/// The `Cors` member of a function URL configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cors {
    /// `Access-Control-Allow-Credentials`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_credentials: Option<bool>,
    /// `Access-Control-Allow-Headers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_headers: Option<Vec<String>>,
    /// `Access-Control-Allow-Methods`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_methods: Option<Vec<String>>,
    /// Origins allowed (`*` for any).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_origins: Option<Vec<String>>,
    /// `Access-Control-Expose-Headers`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expose_headers: Option<Vec<String>>,
    /// `Access-Control-Max-Age` in seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
}

fn invalid(message: String) -> AwsError {
    AwsError::new(Code::Validation, message)
}

fn check_list(
    list: &Option<Vec<String>>,
    member: &str,
    max_items: usize,
    max_len: usize,
) -> Result<(), AwsError> {
    let Some(items) = list else { return Ok(()) };
    if items.len() > max_items {
        return Err(invalid(one_error(
            &format!("[{}]", items.join(", ")),
            &format!("cors.{member}"),
            &format!("Member must have length less than or equal to {max_items}"),
        )));
    }
    if let Some(bad) = items.iter().find(|i| i.is_empty() || i.len() > max_len) {
        return Err(invalid(one_error(
            &format!("[{bad}]"),
            &format!("cors.{member}"),
            &format!(
                "Member must satisfy constraint: [Member must have length less than or equal to {max_len}, Member must have length greater than or equal to 1]"
            ),
        )));
    }
    Ok(())
}

impl Cors {
    /// Validates the limits AWS applies.
    pub fn validate(&self) -> Result<(), AwsError> {
        check_list(&self.allow_headers, "allowHeaders", 100, 1024)?;
        check_list(&self.allow_methods, "allowMethods", 6, 6)?;
        check_list(&self.allow_origins, "allowOrigins", 100, 253)?;
        check_list(&self.expose_headers, "exposeHeaders", 100, 1024)?;
        if let Some(methods) = &self.allow_methods {
            let known = [
                "*", "GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "OPTIONS",
            ];
            if let Some(bad) = methods
                .iter()
                .find(|m| !known.contains(&m.to_ascii_uppercase().as_str()))
            {
                return Err(invalid(one_error(
                    &format!("[{bad}]"),
                    "cors.allowMethods",
                    "Member must satisfy constraint: [Member must satisfy regular expression pattern: .*]",
                )));
            }
        }
        if let Some(age) = self.max_age
            && !(0..=MAX_CORS_AGE).contains(&age)
        {
            // AWS names the upper bound for negative ages as well.
            return Err(crate::validate::at_most(
                &age.to_string(),
                "cors.maxAge",
                MAX_CORS_AGE,
            ));
        }
        Ok(())
    }

    /// The allowed origin to echo for a request from `origin`, if allowed.
    pub fn allowed_origin(&self, origin: &str) -> Option<String> {
        let origins = self.allow_origins.as_deref().unwrap_or_default();
        if origins.iter().any(|o| o == "*") {
            return Some(if self.allow_credentials == Some(true) {
                origin.to_owned()
            } else {
                "*".to_owned()
            });
        }
        origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| origin.to_owned())
    }

    /// Headers of an answer to a preflight (`OPTIONS` with
    /// `Access-Control-Request-Method`) from `origin`: empty when not allowed.
    pub fn preflight_headers(&self, origin: &str, method: &str) -> Vec<(&'static str, String)> {
        let Some(allowed) = self.allowed_origin(origin) else {
            return Vec::new();
        };
        let methods = self.allow_methods.as_deref().unwrap_or_default();
        if !methods
            .iter()
            .any(|m| m == "*" || m.eq_ignore_ascii_case(method))
        {
            return Vec::new();
        }
        let mut out = vec![("access-control-allow-origin", allowed)];
        out.push(("access-control-allow-methods", methods.join(",")));
        if let Some(h) = self.allow_headers.as_ref().filter(|h| !h.is_empty()) {
            out.push(("access-control-allow-headers", h.join(",")));
        }
        if self.allow_credentials == Some(true) {
            out.push(("access-control-allow-credentials", "true".into()));
        }
        if let Some(age) = self.max_age {
            out.push(("access-control-max-age", age.to_string()));
        }
        out
    }

    /// Headers added to an ordinary answer to a request from `origin`.
    pub fn response_headers(&self, origin: &str) -> Vec<(&'static str, String)> {
        let Some(allowed) = self.allowed_origin(origin) else {
            return Vec::new();
        };
        let mut out = vec![("access-control-allow-origin", allowed)];
        if let Some(h) = self.expose_headers.as_ref().filter(|h| !h.is_empty()) {
            out.push(("access-control-expose-headers", h.join(",")));
        }
        if self.allow_credentials == Some(true) {
            out.push(("access-control-allow-credentials", "true".into()));
        }
        out
    }
}

/// Checks `AuthType` and `InvokeMode` values.
pub fn check_enum(value: &str, member: &str, allowed: &[&str]) -> Result<(), AwsError> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(invalid(one_error(
        value,
        member,
        &format!(
            "Member must satisfy enum value set: [{}]",
            allowed.join(", ")
        ),
    )))
}

/// A function URL's qualifier must be an alias name (or absent, for `$LATEST`).
pub fn check_qualifier(q: &str) -> Result<(), AwsError> {
    let ok = !q.is_empty()
        && q.len() <= 128
        && !q.bytes().all(|b| b.is_ascii_digit())
        && q.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        return Ok(());
    }
    Err(invalid(one_error(
        q,
        "qualifier",
        r"Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors {
            allow_origins: Some(vec!["https://a.example".into()]),
            allow_methods: Some(vec!["GET".into(), "POST".into()]),
            allow_headers: Some(vec!["x-custom".into()]),
            expose_headers: Some(vec!["x-out".into()]),
            max_age: Some(300),
            allow_credentials: Some(true),
        }
    }

    #[test]
    fn preflight_follows_the_config() {
        let c = cors();
        let h = c.preflight_headers("https://a.example", "POST");
        assert!(h.contains(&("access-control-allow-origin", "https://a.example".into())));
        assert!(h.contains(&("access-control-allow-methods", "GET,POST".into())));
        assert!(h.contains(&("access-control-max-age", "300".into())));
        assert!(c.preflight_headers("https://b.example", "POST").is_empty());
        assert!(
            c.preflight_headers("https://a.example", "DELETE")
                .is_empty()
        );
        let any = Cors {
            allow_origins: Some(vec!["*".into()]),
            allow_methods: Some(vec!["*".into()]),
            ..Cors::default()
        };
        assert_eq!(any.preflight_headers("http://x", "PUT")[0].1, "*");
        assert_eq!(c.response_headers("https://a.example").len(), 3);
    }

    #[test]
    fn limits() {
        assert!(cors().validate().is_ok());
        let bad = Cors {
            max_age: Some(86401),
            ..Cors::default()
        };
        assert!(bad.validate().is_err());
        let bad = Cors {
            allow_methods: Some(vec!["BREW".into()]),
            ..Cors::default()
        };
        assert!(bad.validate().is_err());
        assert!(check_qualifier("live").is_ok());
        assert!(check_qualifier("1").is_err());
        assert!(check_qualifier("$LATEST").is_err());
        assert!(check_enum("NONE", "authType", &AUTH_TYPES).is_ok());
        assert!(check_enum("OPEN", "authType", &AUTH_TYPES).is_err());
    }
}
