//! The built-in SQS on AWS's Query protocol, for older clients (the aws
//! CLI v1 and v2 before SQS moved to JSON, older SDKs): a form-encoded
//! `Action=…` body posted to `/` or to a queue URL (`/ACCOUNT/NAME`),
//! answered in XML. The form is turned into the JSON protocol's input
//! shape and run by `sqs::run`, whose output is written back as XML.

use std::collections::BTreeMap;

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::AppState;
pub(crate) use super::error::{escape, xml_response};
use super::middleware::RequestContext;
use super::sqs::{Failure, run};

const XMLNS: &str = "http://queue.amazonaws.com/doc/2012-11-05/";
/// Largest Query request body.
const MAX_REQUEST: usize = 1024 * 1024;
/// Members that are integers in the JSON shapes.
const INTEGERS: &[&str] = &[
    "DelaySeconds",
    "MaxNumberOfMessages",
    "VisibilityTimeout",
    "WaitTimeSeconds",
    "MaxResults",
    "MaxNumberOfMessagesPerSecond",
];

/// Whether a request body is a Query protocol form (`Action=…`).
pub(crate) fn is_query(headers: &HeaderMap) -> bool {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"))
}

/// `PREFIX.N.REST` → N → {REST: value}, by N.
pub(crate) fn indexed(
    form: &BTreeMap<String, String>,
    prefix: &str,
) -> BTreeMap<u32, BTreeMap<String, String>> {
    let mut out: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
    for (k, v) in form {
        let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
            continue;
        };
        let (n, field) = rest.split_once('.').unwrap_or((rest, ""));
        if let Ok(n) = n.parse::<u32>() {
            out.entry(n)
                .or_default()
                .insert(field.to_owned(), v.clone());
        }
    }
    out
}

/// `PREFIX.N.Name` / `PREFIX.N.Value` pairs as a map (keys named `key`, `value`).
fn pairs(form: &BTreeMap<String, String>, prefix: &str, key: &str, value: &str) -> Option<Value> {
    let items = indexed(form, prefix);
    (!items.is_empty()).then(|| {
        Value::Object(
            items
                .values()
                .filter_map(|f| Some((f.get(key)?.clone(), json!(f.get(value)?))))
                .collect(),
        )
    })
}

/// `MessageAttribute.N.Name` / `.Value.DataType|StringValue|BinaryValue`.
fn message_attributes(form: &BTreeMap<String, String>, prefix: &str) -> Option<Value> {
    let items = indexed(form, prefix);
    (!items.is_empty()).then(|| {
        Value::Object(
            items
                .values()
                .filter_map(|f| {
                    let mut v = Map::new();
                    for field in ["DataType", "StringValue", "BinaryValue"] {
                        if let Some(x) = f.get(&format!("Value.{field}")) {
                            v.insert(field.to_owned(), json!(x));
                        }
                    }
                    Some((f.get("Name")?.clone(), Value::Object(v)))
                })
                .collect(),
        )
    })
}

fn list(form: &BTreeMap<String, String>, prefix: &str) -> Option<Value> {
    let items: Vec<&String> = form
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|n| n.parse::<u32>().is_ok())
        })
        .map(|(_, v)| v)
        .collect();
    (!items.is_empty()).then(|| json!(items))
}

/// A flat object: scalars (integers where the shape has them) and attribute maps.
fn object(form: &BTreeMap<String, String>) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in form {
        if !k.contains('.') && k != "Action" && k != "Version" {
            let value = match v.parse::<i64>() {
                Ok(n) if INTEGERS.contains(&k.as_str()) => json!(n),
                _ => json!(v),
            };
            out.insert(k.clone(), value);
        }
    }
    if let Some(a) = message_attributes(form, "MessageAttribute") {
        out.insert("MessageAttributes".into(), a);
    }
    out
}

/// The JSON protocol's input of a Query request.
fn input_of(action: &str, form: &BTreeMap<String, String>) -> Value {
    let mut out = object(form);
    if let Some(a) = pairs(form, "Attribute", "Name", "Value") {
        out.insert("Attributes".into(), a);
    }
    if let Some(t) = pairs(form, "Tag", "Key", "Value") {
        let key = if action == "CreateQueue" {
            "tags"
        } else {
            "Tags"
        };
        out.insert(key.into(), t);
    }
    for (prefix, key) in [
        ("TagKey", "TagKeys"),
        ("AttributeName", "AttributeNames"),
        ("MessageAttributeName", "MessageAttributeNames"),
        ("MessageSystemAttributeName", "MessageSystemAttributeNames"),
    ] {
        if let Some(l) = list(form, prefix) {
            out.insert(key.into(), l);
        }
    }
    let entries = indexed(form, &format!("{action}RequestEntry"));
    if !entries.is_empty() {
        let list: Vec<Value> = entries
            .values()
            .map(|fields| Value::Object(object(fields)))
            .collect();
        out.insert("Entries".into(), json!(list));
    }
    Value::Object(out)
}

/// Writes the JSON output `v` as the Query protocol's XML members.
fn xml(action: &str, v: &Map<String, Value>, out: &mut String) {
    for (k, v) in v {
        match (k.as_str(), v) {
            ("Attributes", Value::Object(m)) => {
                for (name, value) in m {
                    let value = value
                        .as_str()
                        .map_or_else(|| value.to_string(), str::to_owned);
                    out.push_str(&format!(
                        "<Attribute><Name>{}</Name><Value>{}</Value></Attribute>",
                        escape(name),
                        escape(&value)
                    ));
                }
            }
            ("Tags", Value::Object(m)) => {
                for (key, value) in m {
                    out.push_str(&format!(
                        "<Tag><Key>{}</Key><Value>{}</Value></Tag>",
                        escape(key),
                        escape(value.as_str().unwrap_or_default())
                    ));
                }
            }
            ("MessageAttributes", Value::Object(m)) => {
                for (name, value) in m {
                    out.push_str(&format!(
                        "<MessageAttribute><Name>{}</Name><Value>",
                        escape(name)
                    ));
                    if let Value::Object(fields) = value {
                        xml(action, fields, out);
                    }
                    out.push_str("</Value></MessageAttribute>");
                }
            }
            (_, Value::Array(items)) => {
                let element = match k.as_str() {
                    "QueueUrls" | "queueUrls" => "QueueUrl".to_owned(),
                    "Messages" => "Message".to_owned(),
                    "Failed" => "BatchResultErrorEntry".to_owned(),
                    _ => format!("{action}ResultEntry"),
                };
                for item in items {
                    out.push_str(&format!("<{element}>"));
                    match item {
                        Value::Object(fields) => xml(action, fields, out),
                        Value::String(s) => out.push_str(&escape(s)),
                        other => out.push_str(&other.to_string()),
                    }
                    out.push_str(&format!("</{element}>"));
                }
            }
            (_, Value::String(s)) => out.push_str(&format!("<{k}>{}</{k}>", escape(s))),
            (_, Value::Object(fields)) => {
                out.push_str(&format!("<{k}>"));
                xml(action, fields, out);
                out.push_str(&format!("</{k}>"));
            }
            (_, Value::Null) => {}
            (_, other) => out.push_str(&format!("<{k}>{other}</{k}>")),
        }
    }
}

fn error_response(
    request_id: &str,
    status: StatusCode,
    code: &str,
    sender: bool,
    message: &str,
) -> Response {
    let kind = if sender { "Sender" } else { "Receiver" };
    xml_response(
        status,
        format!(
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message><Detail/></Error><RequestId>{}</RequestId></ErrorResponse>",
            escape(code),
            escape(message),
            escape(request_id)
        ),
    )
}

/// Answers a Query request whose form is `bytes`, posted to `path`.
pub(crate) async fn answer(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    path: &str,
    bytes: &[u8],
) -> Response {
    let form: BTreeMap<String, String> = form_urlencoded::parse(bytes).into_owned().collect();
    let rid = ctx.request_id.as_str();
    let Some(action) = form.get("Action").cloned() else {
        return error_response(
            rid,
            StatusCode::BAD_REQUEST,
            "MissingAction",
            true,
            "The request must contain the parameter Action.",
        );
    };
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .map_or_else(|| state.config.listen.to_string(), str::to_owned);
    let base = format!("http://{host}");
    let mut input = input_of(&action, &form);
    if path != "/" && input.get("QueueUrl").is_none() {
        input["QueueUrl"] = json!(format!("{base}{path}"));
    }
    let region = super::region(state, ctx);
    match run(state, region, &base, &action, &input).await {
        Ok(Value::Object(out)) => {
            let mut body = format!("<?xml version=\"1.0\"?><{action}Response xmlns=\"{XMLNS}\">");
            if !out.is_empty() {
                body.push_str(&format!("<{action}Result>"));
                xml(&action, &out, &mut body);
                body.push_str(&format!("</{action}Result>"));
            }
            body.push_str(&format!(
                "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
                escape(rid)
            ));
            xml_response(StatusCode::OK, body)
        }
        Ok(_) => error_response(
            rid,
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            false,
            "unexpected output",
        ),
        Err(Failure::Sqs(e)) => {
            let shape = e.shape();
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            error_response(rid, status, shape.query_code, shape.sender, &e.to_string())
        }
        Err(Failure::Serialization(message)) => error_response(
            rid,
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            true,
            &message,
        ),
        Err(Failure::UnknownOperation(op)) => error_response(
            rid,
            StatusCode::BAD_REQUEST,
            "InvalidAction",
            true,
            &format!("The action {op} is not valid for this endpoint."),
        ),
    }
}

/// `POST /ACCOUNT/NAME`: a Query request to a queue URL.
pub async fn by_url(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    headers: HeaderMap,
    uri: Uri,
    body: Body,
) -> Response {
    if !is_query(&headers) {
        // Not a form: a Lambda client's request on a path lambdad does not serve.
        return super::error::ApiError::new(
            lambdad_model::Code::UnknownOperation,
            format!("No operation matches POST {}", uri.path()),
        )
        .into_response();
    }
    let bytes = match super::middleware::read_body(body, MAX_REQUEST, "sqs").await {
        Ok(b) => b,
        Err(e) => {
            return error_response(
                &ctx.request_id,
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestEntityTooLarge",
                true,
                &e.0.message,
            );
        }
    };
    answer(&state, &ctx, &headers, uri.path(), &bytes).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_become_json_inputs() {
        let form: BTreeMap<String, String> = form_urlencoded::parse(
            b"Action=SendMessageBatch&QueueUrl=u&SendMessageBatchRequestEntry.1.Id=a\
              &SendMessageBatchRequestEntry.1.MessageBody=hi&SendMessageBatchRequestEntry.1.DelaySeconds=3\
              &SendMessageBatchRequestEntry.1.MessageAttribute.1.Name=k\
              &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType=String\
              &SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue=v",
        )
        .into_owned()
        .collect();
        assert_eq!(
            input_of("SendMessageBatch", &form),
            json!({"QueueUrl": "u", "Entries": [{"Id": "a", "MessageBody": "hi", "DelaySeconds": 3,
                   "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]})
        );
        let form: BTreeMap<String, String> = form_urlencoded::parse(
            b"Action=CreateQueue&QueueName=q&Attribute.1.Name=VisibilityTimeout&Attribute.1.Value=5&Tag.1.Key=t&Tag.1.Value=x",
        )
        .into_owned()
        .collect();
        assert_eq!(
            input_of("CreateQueue", &form),
            json!({"QueueName": "q", "Attributes": {"VisibilityTimeout": "5"}, "tags": {"t": "x"}})
        );
    }

    #[test]
    fn outputs_become_xml() {
        let out = json!({"Messages": [{"MessageId": "m", "Body": "a<b\r", "Attributes": {"SentTimestamp": "1"},
                         "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}]});
        let mut s = String::new();
        xml("ReceiveMessage", out.as_object().unwrap(), &mut s);
        assert_eq!(
            s,
            "<Message><Attributes_placeholder/></Message>"
                .replace("<Attributes_placeholder/>", "<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute><Body>a&lt;b&#xD;</Body><MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute><MessageId>m</MessageId>")
        );
    }
}
