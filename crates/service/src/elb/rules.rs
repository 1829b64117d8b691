//! Listener rules: conditions and actions read from elbv2 requests and
//! written back in AWS's shapes, and the data plane's choice of the rule
//! that serves a request (lowest priority whose conditions all hold, else
//! the default rule), with whether the function may be invoked.

use std::net::IpAddr;

use lambdad_model::gateway::arn_like;
use serde_json::{Value, json};

use super::types::{Action, Condition, ElbResult, FixedResponse, Redirect, Rule, invalid};
use super::{list, text};

/// The fields a condition may test.
const FIELDS: &[&str] = &[
    "path-pattern",
    "host-header",
    "http-header",
    "query-string",
    "http-request-method",
    "source-ip",
];

/// `Actions` (or `DefaultActions`) of a request.
pub(crate) fn actions_of(input: &Value, member: &str) -> ElbResult<Vec<Action>> {
    let items = input[member].as_array().cloned().unwrap_or_default();
    if items.is_empty() {
        return Err(invalid(format!("{member} cannot be empty")));
    }
    items.iter().map(action_of).collect()
}

fn action_of(a: &Value) -> ElbResult<Action> {
    let kind = text(a, "Type").ok_or_else(|| invalid("An action must have a type"))?;
    let order = a["Order"].as_i64();
    match kind.as_str() {
        "forward" => {
            let tg = text(a, "TargetGroupArn").or_else(|| {
                a["ForwardConfig"]["TargetGroups"]
                    .as_array()
                    .and_then(|g| g.first())
                    .and_then(|g| text(g, "TargetGroupArn"))
            });
            let tg = tg.ok_or_else(|| {
                invalid("A target group ARN must be specified for a forward action")
            })?;
            Ok(Action {
                kind,
                order,
                target_group_arn: Some(tg),
                fixed: None,
                redirect: None,
            })
        }
        "fixed-response" => {
            let c = &a["FixedResponseConfig"];
            let status = text(c, "StatusCode").ok_or_else(|| {
                invalid("A status code must be specified for a fixed-response action")
            })?;
            let ok = status.len() == 3
                && status.bytes().all(|b| b.is_ascii_digit())
                && matches!(status.as_bytes()[0], b'2' | b'4' | b'5');
            if !ok {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{status}' at 'actions.1.member.fixedResponseConfig.statusCode' failed to satisfy constraint: Member must satisfy regular expression pattern: ^(2|4|5)\\d\\d$"
                )));
            }
            Ok(Action {
                kind,
                order,
                target_group_arn: None,
                fixed: Some(FixedResponse {
                    status_code: status,
                    content_type: text(c, "ContentType"),
                    message_body: text(c, "MessageBody"),
                }),
                redirect: None,
            })
        }
        "redirect" => {
            let c = &a["RedirectConfig"];
            let status = text(c, "StatusCode").unwrap_or_default();
            if status != "HTTP_301" && status != "HTTP_302" {
                return Err(invalid(format!(
                    "1 validation error detected: Value '{status}' at 'actions.1.member.redirectConfig.statusCode' failed to satisfy constraint: Member must satisfy enum value set: [HTTP_301, HTTP_302]"
                )));
            }
            let part = |k: &str, default: &str| text(c, k).unwrap_or_else(|| default.to_owned());
            let path = part("Path", "/#{path}");
            if !path.starts_with('/') {
                return Err(invalid("A redirect path must start with a '/'"));
            }
            Ok(Action {
                kind,
                order,
                target_group_arn: None,
                fixed: None,
                redirect: Some(Redirect {
                    protocol: part("Protocol", "#{protocol}"),
                    port: part("Port", "#{port}"),
                    host: part("Host", "#{host}"),
                    path,
                    query: part("Query", "#{query}"),
                    status_code: status,
                }),
            })
        }
        other => Err(invalid(format!(
            "Action type '{other}' is not supported by lambdad: use 'forward', 'fixed-response' or 'redirect'"
        ))),
    }
}

/// `Conditions` of a request.
pub(crate) fn conditions_of(input: &Value) -> ElbResult<Vec<Condition>> {
    let items = input["Conditions"].as_array().cloned().unwrap_or_default();
    items.iter().map(condition_of).collect()
}

fn condition_of(c: &Value) -> ElbResult<Condition> {
    let field = text(c, "Field").ok_or_else(|| invalid("A condition must have a field"))?;
    if !FIELDS.contains(&field.as_str()) {
        return Err(invalid(format!(
            "Condition field '{field}' must be one of [{}]",
            FIELDS.join(", ")
        )));
    }
    let config = |name: &str| list(&c[name], "Values");
    let mut values = list(c, "Values");
    let mut header_name = None;
    let mut query = Vec::new();
    match field.as_str() {
        "path-pattern" => values.extend(config("PathPatternConfig")),
        "host-header" => values.extend(config("HostHeaderConfig")),
        "http-request-method" => values.extend(config("HttpRequestMethodConfig")),
        "source-ip" => values.extend(config("SourceIpConfig")),
        "http-header" => {
            let h = &c["HttpHeaderConfig"];
            header_name = Some(
                text(h, "HttpHeaderName")
                    .ok_or_else(|| invalid("An HTTP header condition must have a header name"))?,
            );
            values.extend(list(h, "Values"));
        }
        _ => {
            for kv in c["QueryStringConfig"]["Values"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let v = text(kv, "Value").ok_or_else(|| {
                    invalid("A query string condition's key/value pair must have a value")
                })?;
                query.push((text(kv, "Key"), v));
            }
        }
    }
    if values.is_empty() && query.is_empty() {
        return Err(invalid(format!(
            "A condition value must be specified for condition field '{field}'"
        )));
    }
    if field == "source-ip"
        && let Some(bad) = values.iter().find(|v| parse_cidr(v).is_none())
    {
        return Err(invalid(format!(
            "The source IP '{bad}' is not a valid CIDR block"
        )));
    }
    Ok(Condition {
        field,
        values,
        header_name,
        query,
    })
}

/// An action in AWS's shape.
pub(crate) fn action_json(a: &Action) -> Value {
    let mut out = json!({"Type": a.kind});
    if let Some(o) = a.order {
        out["Order"] = json!(o);
    }
    if let Some(tg) = &a.target_group_arn {
        out["TargetGroupArn"] = json!(tg);
        out["ForwardConfig"] = json!({
            "TargetGroups": [{"TargetGroupArn": tg, "Weight": 1}],
            "TargetGroupStickinessConfig": {"Enabled": false},
        });
    }
    if let Some(f) = &a.fixed {
        let mut c = json!({"StatusCode": f.status_code});
        if let Some(t) = &f.content_type {
            c["ContentType"] = json!(t);
        }
        if let Some(b) = &f.message_body {
            c["MessageBody"] = json!(b);
        }
        out["FixedResponseConfig"] = c;
    }
    if let Some(r) = &a.redirect {
        out["RedirectConfig"] = json!({
            "Protocol": r.protocol, "Port": r.port, "Host": r.host,
            "Path": r.path, "Query": r.query, "StatusCode": r.status_code,
        });
    }
    out
}

fn condition_json(c: &Condition) -> Value {
    let values = json!({"Values": c.values});
    let mut out = json!({"Field": c.field});
    match c.field.as_str() {
        "path-pattern" => {
            out["Values"] = json!(c.values);
            out["PathPatternConfig"] = values;
        }
        "host-header" => {
            out["Values"] = json!(c.values);
            out["HostHeaderConfig"] = values;
        }
        "http-request-method" => out["HttpRequestMethodConfig"] = values,
        "source-ip" => out["SourceIpConfig"] = values,
        "http-header" => {
            out["HttpHeaderConfig"] = json!({"HttpHeaderName": c.header_name, "Values": c.values});
        }
        _ => {
            let pairs: Vec<Value> = c
                .query
                .iter()
                .map(|(k, v)| match k {
                    Some(k) => json!({"Key": k, "Value": v}),
                    None => json!({"Value": v}),
                })
                .collect();
            out["QueryStringConfig"] = json!({"Values": pairs});
        }
    }
    out
}

/// A rule in AWS's shape.
pub(crate) fn rule_json(r: &Rule) -> Value {
    json!({
        "RuleArn": r.arn,
        "Priority": r.priority.map_or_else(|| "default".to_owned(), |p| p.to_string()),
        "Conditions": r.conditions.iter().map(condition_json).collect::<Vec<_>>(),
        "Actions": r.actions.iter().map(action_json).collect::<Vec<_>>(),
        "IsDefault": r.priority.is_none(),
    })
}

/// What the data plane knows of a request, for rule conditions.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The method.
    pub method: &'a str,
    /// The path, as sent.
    pub path: &'a str,
    /// The Host header, without the port.
    pub host: &'a str,
    /// The headers (names lower-case).
    pub headers: &'a [(String, String)],
    /// The query string's pairs, decoded.
    pub query: &'a [(String, String)],
    /// The client's address (`source-ip` conditions).
    pub source_ip: Option<IpAddr>,
    /// The port the Host header names (picks the listener).
    pub port: Option<u16>,
}

/// A CIDR block `ADDRESS/BITS` (IPv4 or IPv6).
fn parse_cidr(cidr: &str) -> Option<(IpAddr, u32)> {
    let (addr, bits) = cidr.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((addr, bits))
}

/// Whether `ip` lies in the CIDR block `cidr` (IPv4-mapped IPv6 callers
/// count as IPv4).
fn in_cidr(cidr: &str, ip: IpAddr) -> bool {
    let Some((net, bits)) = parse_cidr(cidr) else {
        return false;
    };
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    let mask = |width: u32| {
        if bits == 0 {
            0
        } else {
            u128::MAX << (width - bits)
        }
    };
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let m = mask(32) as u32;
            u32::from(n) & m == u32::from(a) & m
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let m = mask(128);
            u128::from(n) & m == u128::from(a) & m
        }
        _ => false,
    }
}

fn holds(c: &Condition, r: &RequestFacts<'_>) -> bool {
    let ci = |p: &str, v: &str| arn_like(&p.to_ascii_lowercase(), &v.to_ascii_lowercase());
    match c.field.as_str() {
        "path-pattern" => c.values.iter().any(|p| arn_like(p, r.path)),
        "host-header" => c.values.iter().any(|p| ci(p, r.host)),
        "http-request-method" => c.values.iter().any(|m| m == r.method),
        "http-header" => {
            let name = c.header_name.as_deref().unwrap_or_default();
            r.headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                .any(|(_, v)| c.values.iter().any(|p| ci(p, v)))
        }
        "query-string" => c.query.iter().any(|(k, v)| {
            r.query
                .iter()
                .any(|(qk, qv)| k.as_deref().is_none_or(|k| ci(k, qk)) && ci(v, qv))
        }),
        "source-ip" => r
            .source_ip
            .is_some_and(|ip| c.values.iter().any(|cidr| in_cidr(cidr, ip))),
        _ => false,
    }
}

/// The rule of `rules` that serves a request: the lowest priority whose
/// conditions all hold, else the default rule.
pub fn select<'r>(rules: &'r [Rule], facts: &RequestFacts<'_>) -> Option<&'r Rule> {
    let mut ordered: Vec<&Rule> = rules.iter().filter(|r| r.priority.is_some()).collect();
    ordered.sort_by_key(|r| r.priority);
    ordered
        .into_iter()
        .find(|r| r.conditions.iter().all(|c| holds(c, facts)))
        .or_else(|| rules.iter().find(|r| r.priority.is_none()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(priority: Option<i64>, conditions: Vec<Condition>) -> Rule {
        Rule {
            arn: format!("r{priority:?}"),
            priority,
            conditions,
            actions: Vec::new(),
            tags: Vec::new(),
        }
    }

    fn cond(field: &str, values: &[&str]) -> Condition {
        Condition {
            field: field.into(),
            values: values.iter().map(|v| v.to_string()).collect(),
            header_name: None,
            query: Vec::new(),
        }
    }

    #[test]
    fn the_lowest_matching_priority_wins_else_the_default() {
        let rules = vec![
            rule(None, vec![]),
            rule(Some(20), vec![cond("path-pattern", &["/api/*"])]),
            rule(Some(10), vec![cond("host-header", &["A.example.*"])]),
            rule(Some(5), vec![cond("http-request-method", &["DELETE"])]),
        ];
        let facts = |path, host, method| RequestFacts {
            method,
            path,
            host,
            headers: &[],
            query: &[],
            source_ip: None,
            port: None,
        };
        let pick = |f| select(&rules, &f).unwrap().priority;
        assert_eq!(pick(facts("/api/x", "a.example.com", "GET")), Some(10));
        assert_eq!(pick(facts("/api/x", "b.example.com", "GET")), Some(20));
        assert_eq!(pick(facts("/api/x", "b.example.com", "DELETE")), Some(5));
        assert_eq!(pick(facts("/API/x", "b", "GET")), None);
    }

    #[test]
    fn query_strings_and_headers_match_without_case() {
        let mut q = cond("query-string", &[]);
        q.query = vec![(Some("version".into()), "v*".into()), (None, "beta".into())];
        let mut h = cond("http-header", &["*Mobile*"]);
        h.header_name = Some("User-Agent".into());
        let query = [("Version".to_owned(), "V2".to_owned())];
        let headers = [("user-agent".to_owned(), "x mobile y".to_owned())];
        let facts = RequestFacts {
            method: "GET",
            path: "/",
            host: "h",
            headers: &headers,
            query: &query,
            source_ip: None,
            port: None,
        };
        assert!(holds(&q, &facts));
        assert!(holds(&h, &facts));
        let none = RequestFacts {
            query: &[],
            headers: &[],
            ..facts
        };
        assert!(!holds(&q, &none));
        assert!(!holds(&h, &none));
    }

    #[test]
    fn source_ip_conditions_match_cidr_blocks() {
        let c = cond(
            "source-ip",
            &["10.0.0.0/8", "2001:db8::/32", "127.0.0.1/32"],
        );
        let at = |ip: &str| RequestFacts {
            method: "GET",
            path: "/",
            host: "h",
            headers: &[],
            query: &[],
            source_ip: Some(ip.parse().unwrap()),
            port: None,
        };
        assert!(holds(&c, &at("10.1.2.3")));
        assert!(holds(&c, &at("127.0.0.1")));
        assert!(holds(&c, &at("::ffff:127.0.0.1")));
        assert!(holds(&c, &at("2001:db8::1")));
        assert!(!holds(&c, &at("127.0.0.2")));
        assert!(!holds(&c, &at("192.168.0.1")));
        assert!(!holds(&c, &at("2001:db9::1")));
        assert!(in_cidr("0.0.0.0/0", "8.8.8.8".parse().unwrap()));
        assert!(parse_cidr("10.0.0.0/33").is_none() && parse_cidr("10.0.0.0").is_none());
    }
}
