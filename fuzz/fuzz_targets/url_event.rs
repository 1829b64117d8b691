//! The function URL mapping (lambdad-api's `url_event`): any request becomes
//! an event whose body, decoded as its `isBase64Encoded` says, is the request's
//! body byte for byte and whose query parameters are the query's; any function
//! answer becomes a response without a panic, its base64 body decoded exactly.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};
use base64::Engine as _;
use lambdad_api::url_event::{RequestFacts, request_event, response};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The next part of the input, up to a 0xff byte.
fn part<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let end = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let (head, rest) = data.split_at(end);
    *data = rest.get(1..).unwrap_or_default();
    head
}

fn request(mut data: &[u8]) {
    let method = Method::from_bytes(part(&mut data)).unwrap_or(Method::GET);
    let path = String::from_utf8_lossy(part(&mut data)).into_owned();
    let query = String::from_utf8_lossy(part(&mut data)).into_owned();
    let mut headers = HeaderMap::new();
    for _ in 0..4 {
        let (name, value) = (part(&mut data), part(&mut data));
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    let body = data;
    let facts = RequestFacts {
        url_id: "fuzz",
        domain: "fuzz.lambda-url.us-east-1.localhost",
        caller_account: "anonymous",
        iam: None,
        source_ip: "127.0.0.1".into(),
        request_id: "r",
        time_ms: 1_700_000_000_000,
        route_key: "$default",
        stage: "$default",
        path_parameters: None,
        stage_variables: None,
    };
    let event = request_event(&method, &path, &query, &headers, body, &facts);
    let text = serde_json::to_string(&event).expect("the event serializes");
    let event: Value = serde_json::from_str(&text).expect("the event is JSON");
    let sent = match (&event["body"], &event["isBase64Encoded"]) {
        (Value::Null, _) => Vec::new(),
        (Value::String(b), Value::Bool(true)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .expect("base64 body"),
        (Value::String(b), Value::Bool(false)) => b.as_bytes().to_vec(),
        other => panic!("unexpected body fields {other:?}"),
    };
    assert_eq!(sent, body, "the event's body is not the request's");
    assert_eq!(event["rawQueryString"], Value::String(query.clone()));
    for (k, _) in form_urlencoded::parse(query.as_bytes()) {
        assert!(
            event["queryStringParameters"].get(k.as_ref()).is_some(),
            "query parameter {k:?} is missing"
        );
    }
}

fn answer(data: &[u8]) {
    let mapped = response(data);
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        let answer = mapped.expect("a non-JSON answer is sent as it is");
        assert_eq!(answer.body.as_ref(), data, "a non-JSON answer is the body");
        return;
    };
    if value.get("statusCode").is_none() {
        let answer = mapped.expect("an answer without statusCode is sent as it is");
        assert_eq!(
            answer.body.as_ref(),
            data,
            "an answer without statusCode is the body"
        );
        return;
    }
    let base64 = value["isBase64Encoded"] == true;
    match (mapped, value.get("body")) {
        (Some(answer), Some(Value::String(b))) if base64 => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b)
                .expect("a base64 body that was sent decodes");
            assert_eq!(answer.body.as_ref(), bytes.as_slice());
        }
        (Some(answer), Some(Value::String(b))) => assert_eq!(answer.body.as_ref(), b.as_bytes()),
        (Some(_), _) => {}
        (None, body) => assert!(
            base64,
            "only a base64 body that does not decode is malformed, not {body:?}"
        ),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        request(rest);
    } else {
        answer(rest);
    }
});
