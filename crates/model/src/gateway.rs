//! API Gateway HTTP APIs (apigatewayv2): route keys, the way a request is
//! matched to a route, and the `execute-api` ARN a gateway invokes with.

use std::collections::BTreeMap;

/// HTTP methods a route key may name (`ANY` matches all).
pub const ROUTE_METHODS: [&str; 9] = [
    "ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE",
];

/// A parsed route key: `$default`, or `METHOD /path` whose segments are
/// literals, `{name}` or (last only) a greedy `{name+}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteKey {
    /// `$default`: the catch-all route.
    Default,
    /// `METHOD /path`.
    Path {
        /// `ANY` or an HTTP method.
        method: String,
        /// The path's segments.
        segments: Vec<Segment>,
    },
}

/// One segment of a route path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches itself.
    Literal(String),
    /// `{name}`: matches one non-empty segment.
    Param(String),
    /// `{name+}`: matches the rest of the path (one segment or more).
    Greedy(String),
}

fn param_name(s: &str) -> Option<&str> {
    let inner = s.strip_prefix('{')?.strip_suffix('}')?;
    let name = inner.strip_suffix('+').unwrap_or(inner);
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    ok.then_some(name)
}

impl RouteKey {
    /// Parses a route key; `None` when it is not one API Gateway accepts.
    pub fn parse(key: &str) -> Option<Self> {
        if key == "$default" {
            return Some(Self::Default);
        }
        let (method, path) = key.split_once(' ')?;
        if !ROUTE_METHODS.contains(&method) || !path.starts_with('/') || path.contains(' ') {
            return None;
        }
        let mut segments = Vec::new();
        let raw: Vec<&str> = if path == "/" {
            Vec::new()
        } else {
            path[1..].split('/').collect()
        };
        for (i, s) in raw.iter().enumerate() {
            if s.is_empty() {
                return None;
            }
            if s.contains('{') || s.contains('}') {
                let name = param_name(s)?.to_owned();
                if s.ends_with("+}") {
                    if i + 1 != raw.len() {
                        return None;
                    }
                    segments.push(Segment::Greedy(name));
                } else {
                    segments.push(Segment::Param(name));
                }
            } else {
                segments.push(Segment::Literal((*s).to_owned()));
            }
        }
        Some(Self::Path {
            method: method.to_owned(),
            segments,
        })
    }

    /// The path parameters of `path` when this key's path matches it.
    fn match_path(segments: &[Segment], path: &str) -> Option<BTreeMap<String, String>> {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let parts: &[&str] = if path == "/" || path.is_empty() {
            &[]
        } else {
            &parts
        };
        let mut params = BTreeMap::new();
        for (i, seg) in segments.iter().enumerate() {
            match seg {
                Segment::Literal(l) => {
                    if parts.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    let p = parts.get(i).filter(|p| !p.is_empty())?;
                    params.insert(name.clone(), (*p).to_owned());
                }
                Segment::Greedy(name) => {
                    let rest = parts.get(i..).filter(|r| !r.is_empty())?.join("/");
                    if rest.is_empty() {
                        return None;
                    }
                    params.insert(name.clone(), rest);
                    return Some(params);
                }
            }
        }
        (parts.len() == segments.len()).then_some(params)
    }

    /// How specific a matching key is: literals before parameters before a
    /// greedy tail, segment by segment, then a method before `ANY`.
    fn rank(&self) -> (Vec<u8>, u8) {
        match self {
            Self::Default => (vec![0], 0),
            Self::Path { method, segments } => {
                let mut r: Vec<u8> = segments
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(_) => 3,
                        Segment::Param(_) => 2,
                        Segment::Greedy(_) => 1,
                    })
                    .collect();
                // Any path route ranks above `$default`; an exact path of
                // more segments is more specific than a shorter greedy one.
                r.insert(0, 1);
                if !segments.iter().any(|s| matches!(s, Segment::Greedy(_))) {
                    r[0] = 2;
                }
                (r, u8::from(method != "ANY"))
            }
        }
    }
}

/// Picks the route of `keys` that serves `method path`, AWS's way: the most
/// specific path first (literal segments, then `{param}`, then a greedy
/// `{proxy+}`), a method before `ANY`, and `$default` when nothing else
/// matches. Returns the index of the key and the path parameters.
pub fn select_route(
    keys: &[RouteKey],
    method: &str,
    path: &str,
) -> Option<(usize, BTreeMap<String, String>)> {
    type Rank = (Vec<u8>, u8);
    let mut best: Option<(usize, BTreeMap<String, String>, Rank)> = None;
    for (i, key) in keys.iter().enumerate() {
        let params = match key {
            RouteKey::Default => BTreeMap::new(),
            RouteKey::Path {
                method: m,
                segments,
            } => {
                if m != "ANY" && m != method {
                    continue;
                }
                match RouteKey::match_path(segments, path) {
                    Some(p) => p,
                    None => continue,
                }
            }
        };
        let rank = key.rank();
        if best.as_ref().is_none_or(|(_, _, r)| rank > *r) {
            best = Some((i, params, rank));
        }
    }
    best.map(|(i, p, _)| (i, p))
}

/// The ARN a gateway invokes as (`AWS:SourceArn`):
/// `arn:aws:execute-api:REGION:ACCOUNT:API/STAGE/METHOD/PATH` for a route
/// `METHOD /PATH` (its path as written, `{id}` included), and
/// `…:API/STAGE/$default` for the `$default` route.
pub fn execute_api_arn(
    region: &str,
    account: &str,
    api_id: &str,
    stage: &str,
    route_key: &str,
) -> String {
    let tail = match route_key.split_once(' ') {
        Some((method, path)) => format!("{method}/{}", path.trim_start_matches('/')),
        None => route_key.to_owned(),
    };
    format!("arn:aws:execute-api:{region}:{account}:{api_id}/{stage}/{tail}")
}

/// IAM's `ArnLike`: `*` matches any run of characters, `?` any one.
pub fn arn_like(pattern: &str, value: &str) -> bool {
    let (p, v) = (pattern.as_bytes(), value.as_bytes());
    let (mut pi, mut vi) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, vi));
            pi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(list: &[&str]) -> Vec<RouteKey> {
        list.iter().map(|k| RouteKey::parse(k).unwrap()).collect()
    }

    #[test]
    fn route_keys_parse_as_api_gateway_takes_them() {
        assert_eq!(RouteKey::parse("$default"), Some(RouteKey::Default));
        assert!(RouteKey::parse("GET /items/{id}").is_some());
        assert!(RouteKey::parse("ANY /{proxy+}").is_some());
        assert!(RouteKey::parse("GET /").is_some());
        for bad in [
            "GET",
            "FETCH /a",
            "GET a",
            "GET /{proxy+}/x",
            "GET /a//b",
            "GET /{}",
            "get /a",
        ] {
            assert_eq!(RouteKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_most_specific_route_wins() {
        let k = keys(&[
            "$default",
            "ANY /{proxy+}",
            "GET /items/{id}",
            "GET /items/special",
            "ANY /items/{id}",
            "GET /",
        ]);
        let pick = |m, p| select_route(&k, m, p);
        assert_eq!(pick("GET", "/items/special").unwrap().0, 3);
        let (i, params) = pick("GET", "/items/42").unwrap();
        assert_eq!((i, params["id"].as_str()), (2, "42"));
        assert_eq!(pick("POST", "/items/42").unwrap().0, 4);
        let (i, params) = pick("DELETE", "/a/b/c").unwrap();
        assert_eq!((i, params["proxy"].as_str()), (1, "a/b/c"));
        assert_eq!(pick("GET", "/").unwrap().0, 5);
        assert_eq!(pick("POST", "/").unwrap().0, 0);
        let only = keys(&["GET /items/{id}"]);
        assert!(select_route(&only, "GET", "/items").is_none());
        assert!(select_route(&only, "GET", "/items/1/2").is_none());
    }

    #[test]
    fn source_arns_and_arn_like() {
        let arn = execute_api_arn(
            "us-east-1",
            "123456789012",
            "abc",
            "$default",
            "GET /items/{id}",
        );
        assert_eq!(
            arn,
            "arn:aws:execute-api:us-east-1:123456789012:abc/$default/GET/items/{id}"
        );
        assert!(arn_like(
            "arn:aws:execute-api:us-east-1:123456789012:abc/*",
            &arn
        ));
        assert!(arn_like(
            "arn:aws:execute-api:us-east-1:123456789012:abc/*/*/items/*",
            &arn
        ));
        assert!(arn_like(
            "arn:aws:execute-api:*:123456789012:abc/?default/GET/*",
            &arn
        ));
        assert!(!arn_like(
            "arn:aws:execute-api:us-east-1:123456789012:xyz/*",
            &arn
        ));
        assert!(!arn_like(
            "arn:aws:execute-api:us-east-1:123456789012:abc/prod/*",
            &arn
        ));
        let d = execute_api_arn("r", "1", "abc", "prod", "$default");
        assert_eq!(d, "arn:aws:execute-api:r:1:abc/prod/$default");
    }
}
