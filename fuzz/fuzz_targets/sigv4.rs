//! SigV4 verification (lambdad-api's `auth`). Two properties:
//! - any `Authorization` and `X-Amz-Date` header, path, query and body is
//!   answered without a panic, with and without configured credentials;
//! - a request signed by AWS's own signer (aws-sigv4, with the settings the
//!   SDKs use for Lambda) verifies, and fails once a byte of its body or its
//!   signature is changed.
#![no_main]

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use http::{HeaderMap, HeaderValue, Method};
use lambdad_api::auth::{self, Credentials, Signed};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "AKIDFUZZ";
const SECRET: &str = "fuzz/secret+key";

/// The next part of the input, up to a 0xff byte.
fn part<'a>(data: &mut &'a [u8]) -> &'a [u8] {
    let end = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
    let (head, rest) = data.split_at(end);
    *data = rest.get(1..).unwrap_or_default();
    head
}

/// Percent-encodes a byte string as the SDKs encode a path label or query value.
fn encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Printable ASCII only (what a header value the SDKs send holds).
fn printable(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(0x20 + b % 0x5f)).collect()
}

fn arbitrary_headers(data: &mut &[u8]) {
    let mut headers = HeaderMap::new();
    for name in ["authorization", "x-amz-date", "x-amz-security-token"] {
        if let Ok(v) = HeaderValue::from_bytes(part(data)) {
            headers.insert(name, v);
        }
    }
    let path = String::from_utf8_lossy(part(data)).into_owned();
    let query = String::from_utf8_lossy(part(data)).into_owned();
    let req = Signed {
        method: &Method::POST,
        raw_path: &path,
        raw_query: &query,
        headers: &headers,
        body: data,
    };
    let creds = Credentials::parse(
        &format!("[fuzz]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
        None,
    )
    .expect("credentials");
    let now = SystemTime::now();
    let _ = auth::verify(None, &req, now);
    let _ = auth::verify(Some(&creds), &req, now);
}

fn signed_by_aws(data: &mut &[u8]) {
    let segments: Vec<String> = part(data)
        .split(|&b| b == b'/')
        .take(8)
        .map(encode)
        .collect();
    let path = format!("/{}", segments.join("/"));
    let query: Vec<String> = part(data)
        .split(|&b| b == b'&')
        .take(8)
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|&b| b == b'=') {
            Some(i) => format!("{}={}", encode(&p[..i]), encode(&p[i + 1..])),
            None => format!("{}=", encode(p)),
        })
        .collect();
    let query = query.join("&");
    let custom = printable(part(data));
    let body = *data;

    let uri = if query.is_empty() {
        format!("http://127.0.0.1:9001{path}")
    } else {
        format!("http://127.0.0.1:9001{path}?{query}")
    };
    let mut request = http::Request::builder()
        .method("POST")
        .uri(&uri)
        .header("host", "127.0.0.1:9001")
        .header("x-fuzz", custom.trim())
        .body(())
        .expect("request");
    let identity = aws_credential_types::Credentials::new(KEY, SECRET, None, None, "fuzz").into();
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("lambda")
        .time(now)
        .settings(SigningSettings::default())
        .build()
        .expect("params")
        .into();
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str(), v.to_str().expect("ascii header")));
    let signable =
        SignableRequest::new("POST", &uri, headers, SignableBody::Bytes(body)).expect("signable");
    let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
    instructions.apply_to_request_http1x(&mut request);

    let creds = Credentials::parse(
        &format!("[fuzz]\naws_access_key_id = {KEY}\naws_secret_access_key = {SECRET}\n"),
        None,
    )
    .expect("credentials");
    let check = |headers: &HeaderMap, body: &[u8]| {
        auth::verify(
            Some(&creds),
            &Signed {
                method: &Method::POST,
                raw_path: &path,
                raw_query: &query,
                headers,
                body,
            },
            now,
        )
    };
    let verified = check(request.headers(), body);
    assert!(
        verified.is_ok(),
        "a request signed by aws-sigv4 was refused: {verified:?} (path {path:?}, query {query:?})"
    );

    if let Some(first) = body.first() {
        let mut changed = body.to_vec();
        changed[0] = first.wrapping_add(1);
        assert!(
            check(request.headers(), &changed).is_err(),
            "a changed body verified"
        );
    }
    let mut forged = request.headers().clone();
    let value = forged["authorization"].to_str().expect("ascii").to_owned();
    let last = value.chars().last().expect("signature");
    let flipped = if last == '0' { '1' } else { '0' };
    let forged_value = format!("{}{flipped}", &value[..value.len() - 1]);
    forged.insert(
        "authorization",
        HeaderValue::from_str(&forged_value).expect("ascii"),
    );
    assert!(check(&forged, body).is_err(), "a forged signature verified");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, mut rest)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        arbitrary_headers(&mut rest);
    } else {
        signed_by_aws(&mut rest);
    }
});
