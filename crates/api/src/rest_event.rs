//! The REST API (apigateway v1) Lambda proxy event, the mapping of a
//! function's answer back to HTTP, MOCK integrations, and the gateway's own
//! answers with the bodies and `x-amzn-ErrorType` REST APIs send. The event
//! is payload format 1.0's (`gateway_event`) with REST's differences: no
//! `version`, the resource's id, the stage in `requestContext.path`, and
//! bodies base64-encoded only for the API's binary media types.

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use base64::Engine as _;
use bytes::Bytes;
use lambdad_service::gateway_rest_route::RestTarget;
use lambdad_service::gateway_rest_types::Integration;
use serde_json::{Value, json};

use super::gateway_event::{request_event_v1, response_v1};
use super::url_event::{HttpAnswer, RequestFacts};

/// `403`: no resource and method match.
pub const MISSING_TOKEN: (u16, &str, &str) = (
    403,
    "MissingAuthenticationTokenException",
    r#"{"message":"Missing Authentication Token"}"#,
);
/// `403`: no such stage.
pub const FORBIDDEN: (u16, &str, &str) = (403, "ForbiddenException", r#"{"message":"Forbidden"}"#);
/// `500`: the function may not be invoked, or could not run.
pub const INTERNAL: (u16, &str, &str) = (
    500,
    "InternalServerErrorException",
    r#"{"message": "Internal server error"}"#,
);
/// `502`: the function failed or answered malformed.
pub const BAD_GATEWAY: (u16, &str, &str) = (
    502,
    "InternalServerErrorException",
    r#"{"message": "Internal server error"}"#,
);
/// `504`: the integration timed out.
pub const TIMED_OUT: (u16, &str, &str) = (
    504,
    "InternalServerErrorException",
    r#"{"message": "Endpoint request timed out"}"#,
);
/// `429`: the function was throttled.
pub const THROTTLED: (u16, &str, &str) = (
    429,
    "TooManyRequestsException",
    r#"{"message":"Too Many Requests"}"#,
);
/// `401`: no identity, or the authorizer said `Unauthorized`.
pub const UNAUTHORIZED: (u16, &str, &str) = (
    401,
    "UnauthorizedException",
    r#"{"message":"Unauthorized"}"#,
);
/// `403`: the authorizer's policy denies the request.
pub const EXPLICIT_DENY: (u16, &str, &str) = (
    403,
    "AccessDeniedException",
    r#"{"Message":"User is not authorized to access this resource with an explicit deny"}"#,
);
/// `403`: the authorizer's policy does not allow the request.
pub const NOT_ALLOWED: (u16, &str, &str) = (
    403,
    "AccessDeniedException",
    r#"{"Message":"User is not authorized to access this resource"}"#,
);
/// `500`: the authorizer failed or answered malformed.
pub const AUTHORIZER_FAILED: (u16, &str, &str) = (
    500,
    "AuthorizerConfigurationException",
    r#"{"message": null}"#,
);
/// `413`: the body is larger than API Gateway takes.
pub const TOO_LARGE: (u16, &str, &str) = (
    413,
    "RequestTooLargeException",
    r#"{"message":"Request Too Long"}"#,
);

/// One of the gateway's own answers.
pub fn rest_error((status, kind, body): (u16, &str, &str)) -> HttpAnswer {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(kind) {
        headers.insert("x-amzn-errortype", v);
    }
    HttpAnswer {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        body: Bytes::copy_from_slice(body.as_bytes()),
    }
}

/// Whether `content_type` is one of `types` (`image/png`, `image/*`, `*/*`).
pub fn is_binary(types: &[String], content_type: Option<&str>) -> bool {
    let Some(ct) = crate::url_event::media_type(content_type) else {
        return false;
    };
    let (major, _) = ct.split_once('/').unwrap_or((&ct, ""));
    types.iter().any(|t| {
        let t = t.to_ascii_lowercase();
        t == ct || t == "*/*" || t.strip_suffix("/*").is_some_and(|m| m == major)
    })
}

/// The REST proxy event of a request to `t` (`full_path` with the stage).
pub fn rest_event(
    method: &Method,
    t: &RestTarget,
    full_path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    facts: &RequestFacts<'_>,
) -> Value {
    let mut e = request_event_v1(method, &t.path, query, headers, b"", facts);
    if let Some(m) = e.as_object_mut() {
        m.remove("version");
    }
    let rc = &mut e["requestContext"];
    rc["resourceId"] = json!(t.resource_id);
    rc["resourcePath"] = json!(t.resource_path);
    rc["path"] = json!(full_path);
    for k in ["apiKey", "apiKeyId", "clientCert", "vpcId", "vpceId"] {
        rc["identity"][k] = Value::Null;
    }
    if !body.is_empty() {
        let ct = headers.get("content-type").and_then(|v| v.to_str().ok());
        let (text, encoded) = if is_binary(&t.binary_media_types, ct) {
            (base64::engine::general_purpose::STANDARD.encode(body), true)
        } else {
            (String::from_utf8_lossy(body).into_owned(), false)
        };
        e["body"] = json!(text);
        e["isBase64Encoded"] = json!(encoded);
    }
    e
}

/// Maps a function's answer (`statusCode`, `headers`, `multiValueHeaders`,
/// `body`, `isBase64Encoded`); a base64 body is decoded only when the
/// client's `Accept` or the answer's content type is a binary media type,
/// else sent as the text it is. `None`: malformed.
pub fn rest_response(
    payload: &[u8],
    binary_types: &[String],
    accept: Option<&str>,
) -> Option<HttpAnswer> {
    let mut answer = response_v1(payload)?;
    let encoded = serde_json::from_slice::<Value>(payload)
        .ok()
        .is_some_and(|v| v["isBase64Encoded"] == true);
    if encoded {
        let ct = answer
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        let accepted = accept
            .and_then(|a| a.split(',').next())
            .is_some_and(|a| is_binary(binary_types, Some(a)));
        if !accepted && !is_binary(binary_types, ct) {
            let text = base64::engine::general_purpose::STANDARD.encode(&answer.body);
            answer.body = Bytes::from(text);
        }
    }
    Some(answer)
}

/// A `MOCK` integration's answer: the status its request template names
/// (`{"statusCode": 200}`), with that integration response's
/// `application/json` template as the body (as written: lambdad runs no
/// VTL) and its `method.response.header.X: 'value'` parameters as headers.
pub fn mock_response(i: &Integration) -> HttpAnswer {
    let status = i
        .request_templates
        .get("application/json")
        .and_then(|t| serde_json::from_str::<Value>(t).ok())
        .and_then(|v| v["statusCode"].as_u64())
        .unwrap_or(200);
    let key = status.to_string();
    let response = i
        .integration_responses
        .get(&key)
        .or_else(|| {
            i.integration_responses.values().find(|r| {
                r["selectionPattern"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty()
            })
        })
        .cloned()
        .unwrap_or(Value::Null);
    let status = response["statusCode"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or(status);
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(params) = response["responseParameters"].as_object() {
        for (k, v) in params {
            let Some(name) = k.strip_prefix("method.response.header.") else {
                continue;
            };
            let Some(value) = v
                .as_str()
                .and_then(|v| v.strip_prefix('\'')?.strip_suffix('\''))
            else {
                continue;
            };
            if let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(n, v);
            }
        }
    }
    let body = response["responseTemplates"]["application/json"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    HttpAnswer {
        status: StatusCode::from_u16(status as u16).unwrap_or(StatusCode::OK),
        headers,
        body: Bytes::from(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_media_types_match_with_wildcards() {
        let t = vec!["image/*".to_owned(), "application/octet-stream".to_owned()];
        assert!(is_binary(&t, Some("image/png")));
        assert!(is_binary(&t, Some("application/octet-stream; x=1")));
        assert!(!is_binary(&t, Some("text/plain")));
        assert!(!is_binary(&t, None));
        assert!(is_binary(&["*/*".to_owned()], Some("text/plain")));
    }

    #[test]
    fn base64_answers_are_decoded_only_for_binary_types() {
        let payload = br#"{"statusCode":200,"isBase64Encoded":true,"headers":{"content-type":"image/png"},"body":"AAEC"}"#;
        let png = vec!["image/png".to_owned()];
        assert_eq!(
            rest_response(payload, &png, None).unwrap().body,
            &[0u8, 1, 2][..]
        );
        assert_eq!(rest_response(payload, &[], None).unwrap().body, "AAEC");
        let any = vec!["*/*".to_owned()];
        assert_eq!(
            rest_response(payload, &any, Some("*/*")).unwrap().body,
            &[0u8, 1, 2][..]
        );
    }
}
