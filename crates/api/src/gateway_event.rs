//! API Gateway's payload format 1.0 (the REST-API-shaped event HTTP APIs
//! send when an integration asks for it) and the mapping of its answers.
//! Payload format 2.0 is the function URL's (`url_event`).

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};

use super::url_event::{
    self, HttpAnswer, RequestFacts, event_body, header_values, http_date, query_params,
};

/// The payload format 1.0 event. `headers` and `queryStringParameters`
/// hold the last value of each name, the `multiValue…` members all of them.
pub fn request_event_v1(
    method: &Method,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    facts: &RequestFacts<'_>,
) -> Value {
    let mut single = Map::new();
    let mut multi = Map::new();
    for (name, values) in header_values(headers) {
        single.insert(name.clone(), json!(values.last()));
        multi.insert(name, json!(values));
    }
    let params = query_params(query);
    let (qs, mqs) = if params.is_empty() {
        (Value::Null, Value::Null)
    } else {
        let q: Map<String, Value> = params
            .iter()
            .map(|(k, v)| (k.clone(), json!(v.last())))
            .collect();
        let m: Map<String, Value> = params.into_iter().map(|(k, v)| (k, json!(v))).collect();
        (Value::Object(q), Value::Object(m))
    };
    let resource = match facts.route_key.split_once(' ') {
        Some((_, p)) => p.to_owned(),
        None => facts.route_key.to_owned(),
    };
    let user_agent = headers
        .get("user-agent")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let (body, encoded) = match event_body(headers, body) {
        Some((text, encoded)) => (json!(text), encoded),
        None => (Value::Null, false),
    };
    let non_empty = |m: Option<&std::collections::BTreeMap<String, String>>| match m {
        Some(m) if !m.is_empty() => json!(m),
        _ => Value::Null,
    };
    json!({
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": method.as_str(),
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": qs,
        "multiValueQueryStringParameters": mqs,
        "requestContext": {
            "accountId": facts.caller_account,
            "apiId": facts.url_id,
            "domainName": facts.domain,
            "domainPrefix": facts.url_id,
            "extendedRequestId": facts.request_id,
            "httpMethod": method.as_str(),
            "identity": {
                "accessKey": null,
                "accountId": null,
                "caller": null,
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": facts.source_ip,
                "user": null,
                "userAgent": user_agent,
                "userArn": null,
            },
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": facts.request_id,
            "requestTime": http_date(facts.time_ms),
            "requestTimeEpoch": facts.time_ms,
            "resourceId": facts.route_key,
            "resourcePath": resource,
            "stage": facts.stage,
        },
        "pathParameters": non_empty(facts.path_parameters),
        "stageVariables": non_empty(facts.stage_variables),
        "body": body,
        "isBase64Encoded": encoded,
    })
}

/// Maps a payload format 1.0 answer: a JSON object with `statusCode`,
/// `headers`, `multiValueHeaders`, `body`, `isBase64Encoded`. `None`: it is
/// malformed (the gateway's 502).
pub fn response_v1(payload: &[u8]) -> Option<HttpAnswer> {
    let value: Value = serde_json::from_slice(payload).ok()?;
    let status = url_event::status_code(value.as_object()?.get("statusCode")?)?;
    let mut headers = HeaderMap::new();
    url_event::apply_headers(&mut headers, &value["headers"], &Value::Null);
    if let Some(m) = value["multiValueHeaders"].as_object() {
        for (k, list) in m {
            let Ok(name) = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()) else {
                continue;
            };
            headers.remove(&name);
            for v in list.as_array().into_iter().flatten() {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                if let Ok(v) = HeaderValue::from_str(&text) {
                    headers.append(name.clone(), v);
                }
            }
        }
    }
    if !headers.contains_key("content-type") {
        headers.insert("content-type", HeaderValue::from_static("application/json"));
    }
    Some(HttpAnswer {
        status,
        headers,
        body: url_event::response_body(&value)?,
    })
}

/// Whether a function's answer carries a `statusCode` API Gateway cannot
/// send (not a number, or outside 100–599): the gateway's 502, where a
/// function URL would answer 500.
pub fn unusable_status(payload: &[u8]) -> bool {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(payload) else {
        return false;
    };
    match m.get("statusCode") {
        None => false,
        Some(v) => !url_event::status_code(v).is_some_and(|s| (100..=599).contains(&s.as_u16())),
    }
}

/// A gateway answer of its own: `{"message": ...}` with a status.
pub fn gateway_error(status: StatusCode, message: &str) -> HttpAnswer {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    HttpAnswer {
        status,
        headers,
        body: json!({ "message": message }).to_string().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn event_follows_payload_format_1() {
        let params = BTreeMap::from([("id".to_owned(), "7".to_owned())]);
        let facts = RequestFacts {
            url_id: "abc",
            domain: "abc.execute-api.us-east-1.localhost",
            caller_account: "123456789012",
            iam: None,
            source_ip: "10.0.0.1".into(),
            request_id: "r1",
            time_ms: 1_584_039_838_000,
            route_key: "GET /items/{id}",
            stage: "$default",
            path_parameters: Some(&params),
            stage_variables: None,
        };
        let mut h = HeaderMap::new();
        h.append("x-multi", "a".parse().unwrap());
        h.append("x-multi", "b".parse().unwrap());
        let e = request_event_v1(&Method::GET, "/items/7", "q=1&q=2", &h, b"", &facts);
        assert_eq!(e["resource"], "/items/{id}");
        assert_eq!(e["headers"]["x-multi"], "b");
        assert_eq!(e["multiValueHeaders"]["x-multi"], json!(["a", "b"]));
        assert_eq!(e["queryStringParameters"], json!({"q": "2"}));
        assert_eq!(
            e["multiValueQueryStringParameters"],
            json!({"q": ["1", "2"]})
        );
        assert_eq!(e["pathParameters"], json!({"id": "7"}));
        assert_eq!(e["stageVariables"], Value::Null);
        assert_eq!(e["body"], Value::Null);
        assert_eq!(e["requestContext"]["identity"]["sourceIp"], "10.0.0.1");
        assert_eq!(e["requestContext"]["resourcePath"], "/items/{id}");
    }

    #[test]
    fn v1_responses_need_a_status_code() {
        let r = response_v1(br#"{"statusCode":"201","headers":{"a":"1"},"multiValueHeaders":{"b":["x","y"]},"body":"hi"}"#).unwrap();
        assert_eq!(r.status, StatusCode::CREATED);
        assert_eq!(r.headers.get_all("b").iter().count(), 2);
        assert_eq!(r.body, "hi");
        assert!(response_v1(br#"{"hello":"world"}"#).is_none());
        assert!(response_v1(br#""text""#).is_none());
    }

    #[test]
    fn unusable_status_codes_are_told_apart() {
        assert!(unusable_status(br#"{"statusCode":"abc"}"#));
        assert!(unusable_status(br#"{"statusCode":700}"#));
        assert!(unusable_status(br#"{"statusCode":-1}"#));
        assert!(!unusable_status(br#"{"statusCode":"201"}"#));
        assert!(!unusable_status(br#"{"hello":1}"#));
        assert!(!unusable_status(b"plain text"));
    }
}
