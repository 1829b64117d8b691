//! Access logging of API Gateway stages (HTTP and REST APIs): the stage's
//! `AccessLogSettings` (a CloudWatch Logs group ARN and a one-line format of
//! `$context.*` variables), their validation, and the rendering of one line.
//! The data plane fills the variables; the lines go to the group through
//! `logs::Logs::append`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{GatewayResult, bad};

/// Longest access log format API Gateway stores (REST APIs: 4,000 characters
/// of `$context` variables and text; more is refused here too).
pub const MAX_FORMAT: usize = 4096;

/// A stage's `AccessLogSettings`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessLogSettings {
    /// `destinationArn`: `arn:aws:logs:REGION:ACCOUNT:log-group:NAME`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_arn: Option<String>,
    /// `format`: one line with `$context.*` variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
}

impl AccessLogSettings {
    /// Checks the settings as API Gateway does: a CloudWatch Logs group ARN
    /// and a format with `$context.requestId` (or `extendedRequestId`).
    pub fn validate(&self) -> GatewayResult<()> {
        if let Some(arn) = &self.destination_arn
            && group_of(arn).is_none()
        {
            return Err(bad(format!(
                "Invalid ARN specified in the request. ARNs must be CloudWatch Logs log group ARNs (arn:aws:logs:REGION:ACCOUNT:log-group:NAME): {arn}"
            )));
        }
        if let Some(format) = &self.format {
            if format.len() > MAX_FORMAT || format.contains('\n') {
                return Err(bad(format!(
                    "Access Log format must be a single line of at most {MAX_FORMAT} characters"
                )));
            }
            if !format.contains("$context.requestId")
                && !format.contains("$context.extendedRequestId")
            {
                return Err(bad(
                    "Access Log format must contain at least one of $context.requestId or $context.extendedRequestId",
                ));
            }
        }
        Ok(())
    }

    /// The log group and format, when access logging is on (both set).
    pub fn target(&self) -> Option<(String, &str)> {
        let group = group_of(self.destination_arn.as_deref()?)?;
        Some((group.to_owned(), self.format.as_deref()?))
    }

    /// The wire form (`destinationArn`, `format`).
    pub fn render(&self) -> Value {
        json!(self)
    }
}

/// The group name of `arn:aws:logs:REGION:ACCOUNT:log-group:NAME[:*]`.
pub fn group_of(arn: &str) -> Option<&str> {
    let rest = arn.strip_prefix("arn:")?;
    let mut parts = rest.splitn(6, ':');
    let (partition, service, region, account) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let resource = parts.next()?;
    let name = parts.next()?;
    let name = name.strip_suffix(":*").unwrap_or(name);
    let ok = partition.starts_with("aws")
        && service == "logs"
        && !region.is_empty()
        && account.len() == 12
        && account.bytes().all(|b| b.is_ascii_digit())
        && resource == "log-group"
        && valid_group_name(name);
    ok.then_some(name)
}

/// CloudWatch Logs' group names: 1–512 of `[.\-_/#A-Za-z0-9]`, no `..`
/// path segment (lambdad keeps groups as directories).
pub fn valid_group_name(name: &str) -> bool {
    (1..=512).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-/#".contains(&b))
        && !name.split('/').any(|s| s == "." || s == "..")
}

/// The line of `format` with each `$context.NAME` replaced by its value in
/// `vars` (keys without `$context.`), and `-` for a variable with no value,
/// as API Gateway writes it.
pub fn render_line(format: &str, vars: &BTreeMap<&str, String>) -> String {
    const PREFIX: &str = "$context.";
    let mut out = String::with_capacity(format.len());
    let mut rest = format;
    while let Some(at) = rest.find(PREFIX) {
        out.push_str(&rest[..at]);
        let after = &rest[at + PREFIX.len()..];
        let len = after
            .bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'.' || *b == b'_' || *b == b'-')
            .count();
        // A trailing dot ends the sentence, not the name.
        let name = after[..len].trim_end_matches('.');
        if name.is_empty() {
            out.push_str(PREFIX);
        } else {
            match vars.get(name) {
                Some(v) if !v.is_empty() => out.push_str(v),
                _ => out.push('-'),
            }
        }
        rest = &after[name.len()..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_are_checked() {
        let ok = AccessLogSettings {
            destination_arn: Some("arn:aws:logs:us-east-1:000000000000:log-group:/a/b".into()),
            format: Some("$context.requestId $context.status".into()),
        };
        assert!(ok.validate().is_ok());
        assert_eq!(ok.target().unwrap().0, "/a/b");
        let bad_arn = AccessLogSettings {
            destination_arn: Some("arn:aws:s3:::bucket".into()),
            ..Default::default()
        };
        assert!(bad_arn.validate().is_err());
        let traversal = AccessLogSettings {
            destination_arn: Some("arn:aws:logs:us-east-1:000000000000:log-group:a/../b".into()),
            ..Default::default()
        };
        assert!(traversal.validate().is_err());
        let no_id = AccessLogSettings {
            format: Some("$context.status".into()),
            ..Default::default()
        };
        assert!(no_id.validate().is_err());
        assert_eq!(
            group_of("arn:aws:logs:us-east-1:000000000000:log-group:g:*"),
            Some("g")
        );
    }

    #[test]
    fn lines_replace_variables() {
        let vars = BTreeMap::from([
            ("requestId", "r1".to_owned()),
            ("identity.sourceIp", "127.0.0.1".to_owned()),
            ("status", "200".to_owned()),
        ]);
        let line = render_line(
            "{\"id\":\"$context.requestId\",\"ip\":\"$context.identity.sourceIp\"} $context.status $context.error.message. $context.",
            &vars,
        );
        assert_eq!(
            line,
            "{\"id\":\"r1\",\"ip\":\"127.0.0.1\"} 200 -. $context."
        );
    }
}
