//! The payload format 2.0 wire mapping, shared by function URLs and API
//! Gateway HTTP APIs: an HTTP request becomes the 2.0 event, and a
//! function's answer becomes an HTTP response, as AWS maps them.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// What the event says about the request beyond its method, URI, headers and body.
#[derive(Debug)]
pub struct RequestFacts<'a> {
    /// The URL id or API id (`apiId`, `domainPrefix`).
    pub url_id: &'a str,
    /// The Host the client used, without the port.
    pub domain: &'a str,
    /// `accountId` of the caller: the account for signed requests, `anonymous` otherwise.
    pub caller_account: &'a str,
    /// The IAM authorizer block of a signed request.
    pub iam: Option<Value>,
    /// The client's address.
    pub source_ip: String,
    /// The request id.
    pub request_id: &'a str,
    /// Epoch milliseconds of arrival.
    pub time_ms: i64,
    /// The route key that matched (`$default` for function URLs).
    pub route_key: &'a str,
    /// The stage (`$default` for function URLs).
    pub stage: &'a str,
    /// The route's path parameters (API Gateway only).
    pub path_parameters: Option<&'a BTreeMap<String, String>>,
    /// The stage's variables (API Gateway only).
    pub stage_variables: Option<&'a BTreeMap<String, String>>,
}

/// A query string's parameters in order, each with all its values.
pub fn query_params(query: &str) -> Vec<(String, Vec<String>)> {
    let mut params: Vec<(String, Vec<String>)> = Vec::new();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match params.iter_mut().find(|(key, _)| *key == k) {
            Some((_, vals)) => vals.push(v.into_owned()),
            None => params.push((k.into_owned(), vec![v.into_owned()])),
        }
    }
    params
}

/// The event's `body` and `isBase64Encoded`: text for textual content
/// types, base64 otherwise; `None` for an empty body.
pub fn event_body(headers: &HeaderMap, body: &[u8]) -> Option<(String, bool)> {
    if body.is_empty() {
        return None;
    }
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok());
    Some(match std::str::from_utf8(body) {
        Ok(text) if is_text(ct) => (text.to_owned(), false),
        _ => (base64::engine::general_purpose::STANDARD.encode(body), true),
    })
}

/// Every value of each header, in the request's order, as text.
pub fn header_values(headers: &HeaderMap) -> Vec<(String, Vec<String>)> {
    headers
        .keys()
        .map(|name| {
            let values = headers
                .get_all(name)
                .iter()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .collect();
            (name.as_str().to_owned(), values)
        })
        .collect()
}

/// The media type of a `Content-Type` value, lowercased, without parameters.
pub fn media_type(content_type: Option<&str>) -> Option<String> {
    let ct = content_type?.split(';').next().unwrap_or_default();
    Some(ct.trim().to_ascii_lowercase())
}

/// Whether a body of this content type is passed as text (else base64).
fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = media_type(content_type) else {
        return false;
    };
    ct.starts_with("text/")
        || ct == "application/json"
        || ct.ends_with("+json")
        || ct == "application/xml"
        || ct.ends_with("+xml")
        || ct == "application/javascript"
}

/// `12/Mar/2020:19:03:58 +0000`.
pub fn http_date(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
    );
    t.format(&fmt).unwrap_or_default()
}

/// Builds the payload format 2.0 event.
pub fn request_event(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    facts: &RequestFacts<'_>,
) -> Value {
    let mut hmap: Map<String, Value> = Map::new();
    let mut cookies = Vec::new();
    for (name, values) in header_values(headers) {
        if name == "cookie" {
            for v in &values {
                cookies.extend(
                    v.split(';')
                        .map(str::trim)
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned),
                );
            }
            continue;
        }
        hmap.insert(name, json!(values.join(",")));
    }
    let params = query_params(query);
    let user_agent = headers
        .get("user-agent")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let mut context = json!({
        "accountId": facts.caller_account,
        "apiId": facts.url_id,
        "domainName": facts.domain,
        "domainPrefix": facts.url_id,
        "http": {
            "method": method.as_str(),
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": facts.source_ip,
            "userAgent": user_agent,
        },
        "requestId": facts.request_id,
        "routeKey": facts.route_key,
        "stage": facts.stage,
        "time": http_date(facts.time_ms),
        "timeEpoch": facts.time_ms,
    });
    if let Some(iam) = &facts.iam {
        context["authorizer"] = json!({ "iam": iam });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": facts.route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": hmap,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    if !params.is_empty() {
        let q: Map<String, Value> = params
            .into_iter()
            .map(|(k, v)| (k, json!(v.join(","))))
            .collect();
        event["queryStringParameters"] = Value::Object(q);
    }
    if let Some(p) = facts.path_parameters.filter(|p| !p.is_empty()) {
        event["pathParameters"] = json!(p);
    }
    if let Some(v) = facts.stage_variables.filter(|v| !v.is_empty()) {
        event["stageVariables"] = json!(v);
    }
    if let Some((text, encoded)) = event_body(headers, body) {
        event["body"] = json!(text);
        event["isBase64Encoded"] = json!(encoded);
    }
    event
}

/// An HTTP response as the URL sends it.
#[derive(Debug)]
pub struct HttpAnswer {
    /// Status.
    pub status: StatusCode,
    /// Headers (`set-cookie` repeated for each cookie).
    pub headers: HeaderMap,
    /// Body.
    pub body: Bytes,
}

fn header_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Copies a `headers` object and `cookies` array into `out`.
pub fn apply_headers(out: &mut HeaderMap, headers: &Value, cookies: &Value) {
    if let Some(h) = headers.as_object() {
        for (k, v) in h {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                HeaderValue::from_str(&header_text(v)),
            ) {
                out.insert(name, value);
            }
        }
    }
    if let Some(list) = cookies.as_array() {
        for c in list.iter().filter_map(Value::as_str) {
            if let Ok(v) = HeaderValue::from_str(c) {
                out.append("set-cookie", v);
            }
        }
    }
}

/// Decodes a response `body` (a string, else its JSON text) as
/// `isBase64Encoded` says; `None` for bad base64.
pub fn response_body(value: &Value) -> Option<Bytes> {
    let text = match &value["body"] {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if value["isBase64Encoded"] == true {
        base64::engine::general_purpose::STANDARD
            .decode(text.as_bytes())
            .ok()
            .map(Bytes::from)
    } else {
        Some(Bytes::from(text))
    }
}

/// A response's `statusCode` (a number or a numeric string).
pub fn status_code(v: &Value) -> Option<StatusCode> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
}

/// Maps a function's successful answer to the HTTP response as payload
/// format 2.0 does: a JSON object with `statusCode` is a response, anything
/// else is the body of a 200. `None`: malformed (bad base64).
pub fn response(payload: &[u8]) -> Option<HttpAnswer> {
    let json_answer = |body: Bytes| {
        let mut headers = HeaderMap::new();
        headers.insert("content-type", HeaderValue::from_static("application/json"));
        Some(HttpAnswer {
            status: StatusCode::OK,
            headers,
            body,
        })
    };
    let Ok(value) = serde_json::from_slice::<Value>(payload) else {
        return json_answer(Bytes::copy_from_slice(payload));
    };
    let Some(status) = value.get("statusCode") else {
        return json_answer(Bytes::copy_from_slice(payload));
    };
    let status = status_code(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut headers = HeaderMap::new();
    apply_headers(&mut headers, &value["headers"], &value["cookies"]);
    if !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    Some(HttpAnswer {
        status,
        headers,
        body: response_body(&value)?,
    })
}

/// A platform answer (`{"Message": ...}`) with a status.
pub fn error(status: StatusCode, message: &str) -> HttpAnswer {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    HttpAnswer {
        status,
        headers,
        body: Bytes::from(json!({ "Message": message }).to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> RequestFacts<'static> {
        RequestFacts {
            url_id: "abc",
            domain: "abc.lambda-url.us-east-1.localhost",
            caller_account: "anonymous",
            iam: None,
            source_ip: "127.0.0.1".into(),
            request_id: "r1",
            time_ms: 1_584_039_838_000,
            route_key: "$default",
            stage: "$default",
            path_parameters: None,
            stage_variables: None,
        }
    }

    #[test]
    fn event_follows_payload_format_2() {
        let mut h = HeaderMap::new();
        h.append("x-multi", "a".parse().unwrap());
        h.append("x-multi", "b".parse().unwrap());
        h.append("cookie", "c1=v1; c2=v2".parse().unwrap());
        h.append("content-type", "application/octet-stream".parse().unwrap());
        let e = request_event(
            &Method::POST,
            "/p/q",
            "a=1&a=2&b=x%20y",
            &h,
            &[0, 159],
            &facts(),
        );
        assert_eq!(e["headers"]["x-multi"], "a,b");
        assert!(e["headers"].get("cookie").is_none());
        assert_eq!(e["cookies"], json!(["c1=v1", "c2=v2"]));
        assert_eq!(e["queryStringParameters"], json!({"a": "1,2", "b": "x y"}));
        assert_eq!(e["isBase64Encoded"], true);
        assert_eq!(e["body"], "AJ8=");
        assert_eq!(e["requestContext"]["time"], "12/Mar/2020:19:03:58 +0000");
        let e = request_event(&Method::GET, "/", "", &HeaderMap::new(), b"", &facts());
        assert!(e.get("body").is_none() && e.get("queryStringParameters").is_none());
    }

    #[test]
    fn responses_map_as_aws() {
        let r = response(br#"{"statusCode":201,"headers":{"x-a":"1"},"cookies":["a=1","b=2"],"body":"aGk=","isBase64Encoded":true}"#).unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.body, Bytes::from_static(b"hi"));
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
        let r = response(br#"{"hello":"world"}"#).unwrap();
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.body, Bytes::from_static(br#"{"hello":"world"}"#));
        assert_eq!(r.headers["content-type"], "application/json");
        let r = response(br#""text""#).unwrap();
        assert!(response(br#"{"statusCode":200,"body":"%%","isBase64Encoded":true}"#).is_none());
        assert_eq!(r.body, Bytes::from_static(br#""text""#));
    }
}
