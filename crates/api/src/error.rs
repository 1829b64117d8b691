//! `ApiError`: every failure the API reports, rendered as AWS does: the
//! status of its exception, `x-amzn-ErrorType`, and a JSON body with `Type`
//! and `message` or `Message` (the casing AWS uses for that exception).

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use lambdad_model::{AwsError, Code, ErrorCode};
use serde_json::{Value, json};

/// An error on its way to the caller.
#[derive(Debug)]
pub struct ApiError(pub AwsError);

impl<E: ErrorCode> From<E> for ApiError {
    fn from(e: E) -> Self {
        let code = e.error_code();
        if code == Code::Service {
            tracing::error!(error = %e, "Request failed with an internal error.");
        }
        let mut err = AwsError::new(code, e.error_message());
        err.extra = e.extra_fields();
        err.typed = e.typed();
        ApiError(err)
    }
}

impl ApiError {
    /// An error with an explicit code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        ApiError(AwsError::new(code, message))
    }
}

/// Exceptions whose message member AWS spells `Message`; the rest use `message`.
fn capitalised_message(code: Code) -> bool {
    matches!(
        code,
        Code::ResourceNotFound
            | Code::Service
            | Code::ResourceInUse
            | Code::Validation
            | Code::EC2Unexpected
            | Code::KMSAccessDenied
            | Code::AccessDenied
            | Code::UnrecognizedClient
            | Code::InvalidSignature
            | Code::UnknownOperation
    )
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let AwsError {
            code,
            message,
            extra,
            typed,
        } = self.0;
        let mut body = serde_json::Map::new();
        // apigatewayv2's exceptions have no `Type` member (botocore's model).
        let gateway = matches!(
            code,
            Code::GatewayNotFound | Code::GatewayBadRequest | Code::GatewayConflict
        );
        if !gateway && typed {
            body.insert("Type".into(), code.fault().into());
        }
        let key = if capitalised_message(code) {
            "Message"
        } else {
            "message"
        };
        body.insert(key.into(), message.into());
        for (k, v) in extra {
            body.insert(k, v.into());
        }
        let status =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut resp = (status, axum::Json(serde_json::Value::Object(body))).into_response();
        resp.headers_mut()
            .insert("x-amzn-ErrorType", HeaderValue::from_static(code.name()));
        resp
    }
}

const JSON_11: &str = "application/x-amz-json-1.1";

/// A JSON 1.1 answer.
pub fn json11_answer(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static(JSON_11));
    resp
}

/// A JSON 1.1 error.
pub fn json11_error(status: StatusCode, error_type: &str, message: &str) -> Response {
    let mut resp = json11_answer(status, &json!({ "__type": error_type, "message": message }));
    if let Ok(v) = HeaderValue::from_str(error_type) {
        resp.headers_mut().insert("x-amzn-ErrorType", v);
    }
    resp
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

/// `s` as XML text or attribute value.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
    out
}

/// An XML answer (`text/xml`) of the Query-protocol services.
pub(crate) fn xml_response(status: StatusCode, body: String) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    resp
}

/// A Query-protocol service's error (SNS, SQS's Query protocol): AWS's
/// `<ErrorResponse>` in the service's namespace, a `Sender` fault.
pub(crate) fn query_error(
    status: StatusCode,
    xmlns: &str,
    code: &str,
    message: &str,
    request_id: &str,
) -> Response {
    xml_response(
        status,
        format!(
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{}\"><Error><Type>Sender</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            escape(xmlns),
            escape(code),
            escape(message),
            escape(request_id)
        ),
    )
}
