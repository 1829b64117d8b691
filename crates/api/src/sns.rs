//! The built-in SNS on AWS's Query protocol: a form-encoded `Action=…&
//! Version=2010-03-31` body posted to `/` (told from SQS's forms by the
//! SigV4 credential scope's service `sns`, or by SNS's API version),
//! answered in XML (`<XxxResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
//! <XxxResult>…`); errors as `<ErrorResponse><Error><Type>Sender</Type>
//! <Code>…`. `GET /?Action=ConfirmSubscription|Unsubscribe&…` serves the
//! SubscribeURL and UnsubscribeURL of the messages SNS sends.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use lambdad_service::queues::attributes::MessageAttribute;
use lambdad_service::topics::publish::{PublishInput, Published};
use lambdad_service::topics::{Topics, TopicsError};

use super::AppState;
use super::middleware::RequestContext;
use super::sqs_query::{escape, indexed, xml_response};

use super::actions::SNS_VERSION as VERSION;
use super::actions::SNS_XMLNS as XMLNS;

type Form = BTreeMap<String, String>;

/// Whether a Query form (already known to be one) is an SNS request.
pub(crate) fn is_sns(headers: &HeaderMap, form: &[u8]) -> bool {
    if let Some(service) = super::auth::signed_service(headers, "") {
        return service == "sns";
    }
    form_urlencoded::parse(form).any(|(k, v)| k == "Version" && v == VERSION)
}

/// `PREFIX.entry.N.key|value` (or the names given) as a map.
fn entries(form: &Form, prefix: &str, key: &str, value: &str) -> BTreeMap<String, String> {
    indexed(form, prefix)
        .into_values()
        .filter_map(|f| {
            Some((
                f.get(key)?.clone(),
                f.get(value).cloned().unwrap_or_default(),
            ))
        })
        .collect()
}

fn members(form: &Form, prefix: &str) -> Vec<String> {
    let mut items: Vec<(u32, String)> = form
        .iter()
        .filter_map(|(k, v)| {
            let n = k.strip_prefix(prefix)?.strip_prefix('.')?.parse().ok()?;
            Some((n, v.clone()))
        })
        .collect();
    items.sort();
    items.into_iter().map(|(_, v)| v).collect()
}

fn message_attributes(form: &Form) -> BTreeMap<String, MessageAttribute> {
    indexed(form, "MessageAttributes.entry")
        .into_values()
        .filter_map(|f| {
            Some((
                f.get("Name")?.clone(),
                MessageAttribute {
                    data_type: f.get("Value.DataType").cloned().unwrap_or_default(),
                    string_value: f.get("Value.StringValue").cloned(),
                    binary_value: f.get("Value.BinaryValue").cloned(),
                    string_list_values: Vec::new(),
                    binary_list_values: Vec::new(),
                },
            ))
        })
        .collect()
}

fn publish_input(form: &Form) -> PublishInput {
    let get = |k: &str| form.get(k).cloned();
    PublishInput {
        id: get("Id"),
        message: get("Message"),
        subject: get("Subject"),
        message_structure: get("MessageStructure"),
        message_attributes: message_attributes(form),
        message_group_id: get("MessageGroupId"),
        message_deduplication_id: get("MessageDeduplicationId"),
    }
}

fn map_xml(out: &mut String, element: &str, map: &BTreeMap<String, String>) {
    let _ = write!(out, "<{element}>");
    for (k, v) in map {
        let _ = write!(
            out,
            "<entry><key>{}</key><value>{}</value></entry>",
            escape(k),
            escape(v)
        );
    }
    let _ = write!(out, "</{element}>");
}

fn field(out: &mut String, name: &str, value: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(value));
}

fn published(out: &mut String, p: &Published) {
    field(out, "MessageId", &p.message_id);
    if let Some(s) = &p.sequence_number {
        field(out, "SequenceNumber", s);
    }
}

/// Runs `action`; its Result element's content (None: no Result element).
async fn run(
    topics: &Topics,
    region: &str,
    action: &str,
    form: &Form,
) -> Result<Option<String>, TopicsError> {
    let get = |k: &str| form.get(k).map(String::as_str);
    let topic = get("TopicArn").or(get("TargetArn"));
    let mut out = String::new();
    match action {
        "CreateTopic" => {
            let arn = topics
                .create_topic(
                    region,
                    get("Name").map(str::to_owned),
                    entries(form, "Attributes.entry", "key", "value"),
                    entries(form, "Tags.member", "Key", "Value"),
                )
                .await?;
            field(&mut out, "TopicArn", &arn);
        }
        "DeleteTopic" => {
            topics.delete_topic(topic).await?;
            return Ok(None);
        }
        "ListTopics" => {
            out.push_str("<Topics>");
            for arn in topics.list_topics().await? {
                out.push_str("<member>");
                field(&mut out, "TopicArn", &arn);
                out.push_str("</member>");
            }
            out.push_str("</Topics>");
        }
        "GetTopicAttributes" => {
            map_xml(
                &mut out,
                "Attributes",
                &topics.topic_attributes(topic).await?,
            );
        }
        "SetTopicAttributes" => {
            topics
                .set_topic_attribute(
                    topic,
                    get("AttributeName"),
                    get("AttributeValue").map(str::to_owned),
                )
                .await?;
            return Ok(None);
        }
        "Subscribe" => {
            let arn = topics
                .subscribe(
                    topic,
                    get("Protocol"),
                    get("Endpoint").map(str::to_owned),
                    entries(form, "Attributes.entry", "key", "value"),
                    get("ReturnSubscriptionArn").is_some_and(|v| v.eq_ignore_ascii_case("true")),
                )
                .await?;
            field(&mut out, "SubscriptionArn", &arn);
        }
        "ConfirmSubscription" => {
            let arn = topics.confirm(topic, get("Token")).await?;
            field(&mut out, "SubscriptionArn", &arn);
        }
        "Unsubscribe" => {
            topics.unsubscribe(get("SubscriptionArn")).await?;
            return Ok(None);
        }
        "ListSubscriptions" | "ListSubscriptionsByTopic" => {
            let by_topic = (action == "ListSubscriptionsByTopic").then_some(topic);
            out.push_str("<Subscriptions>");
            for s in topics.list_subscriptions(by_topic).await? {
                out.push_str("<member>");
                for (k, v) in s {
                    field(&mut out, k, &v);
                }
                out.push_str("</member>");
            }
            out.push_str("</Subscriptions>");
        }
        "GetSubscriptionAttributes" => {
            let attrs = topics
                .subscription_attributes(get("SubscriptionArn"))
                .await?;
            map_xml(&mut out, "Attributes", &attrs);
        }
        "SetSubscriptionAttributes" => {
            topics
                .set_subscription_attribute(
                    get("SubscriptionArn"),
                    get("AttributeName"),
                    get("AttributeValue").map(str::to_owned),
                )
                .await?;
            return Ok(None);
        }
        "Publish" => published(&mut out, &topics.publish(topic, publish_input(form)).await?),
        "PublishBatch" => {
            let inputs: Vec<PublishInput> = indexed(form, "PublishBatchRequestEntries.member")
                .into_values()
                .map(|fields| publish_input(&fields))
                .collect();
            let ids: Vec<String> = inputs
                .iter()
                .map(|i| i.id.clone().unwrap_or_default())
                .collect();
            let results = topics.publish_batch(topic, inputs).await?;
            let (mut ok, mut failed) = (String::new(), String::new());
            for (id, r) in ids.iter().zip(results) {
                match r {
                    Ok(p) => {
                        ok.push_str("<member>");
                        field(&mut ok, "Id", id);
                        published(&mut ok, &p);
                        ok.push_str("</member>");
                    }
                    Err(e) => {
                        failed.push_str("<member>");
                        field(&mut failed, "Id", id);
                        field(&mut failed, "Code", e.shape().code);
                        field(&mut failed, "Message", &e.to_string());
                        field(&mut failed, "SenderFault", &e.sender().to_string());
                        failed.push_str("</member>");
                    }
                }
            }
            let _ = write!(
                out,
                "<Successful>{ok}</Successful><Failed>{failed}</Failed>"
            );
        }
        "ListTagsForResource" => {
            out.push_str("<Tags>");
            for (k, v) in topics.tags(get("ResourceArn")).await? {
                let _ = write!(
                    out,
                    "<member><Key>{}</Key><Value>{}</Value></member>",
                    escape(&k),
                    escape(&v)
                );
            }
            out.push_str("</Tags>");
        }
        "TagResource" => {
            let add = entries(form, "Tags.member", "Key", "Value");
            topics.retag(get("ResourceArn"), add, &[]).await?;
        }
        "UntagResource" => {
            let remove = members(form, "TagKeys.member");
            topics
                .retag(get("ResourceArn"), BTreeMap::new(), &remove)
                .await?;
        }
        _ => {
            return Err(TopicsError::InvalidParameter(format!(
                "The action {action} is not valid for this endpoint."
            )));
        }
    }
    Ok(Some(out))
}

fn error_response(request_id: &str, e: &TopicsError) -> Response {
    let shape = e.shape();
    let kind = if e.sender() { "Sender" } else { "Receiver" };
    xml_response(
        StatusCode::from_u16(shape.status).unwrap_or(StatusCode::BAD_REQUEST),
        format!(
            "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{XMLNS}\"><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
            shape.code,
            escape(&e.to_string()),
            escape(request_id)
        ),
    )
}

/// Answers the SNS Query request `bytes`.
pub(crate) async fn answer(state: &AppState, ctx: &RequestContext, bytes: &[u8]) -> Response {
    let form: Form = form_urlencoded::parse(bytes).into_owned().collect();
    let rid = ctx.request_id.as_str();
    let Some(action) = form.get("Action").cloned() else {
        return error_response(rid, &TopicsError::InvalidParameter("Action".to_owned()));
    };
    // Under --auth sigv4, the topic's access policy decides on the caller too.
    if let Some(caller) = &ctx.caller
        && let Some(iam_action) = lambdad_service::topics::access::topic_action(&action)
    {
        let topic = form.get("TopicArn").or(form.get("TargetArn"));
        let topics = &state.services.topics;
        if let Err(e) = topics
            .authorize(topic.map(String::as_str), caller, iam_action)
            .await
        {
            return error_response(rid, &e);
        }
    }
    let region = super::region(state, ctx);
    match run(&state.services.topics, region, &action, &form).await {
        Ok(result) => {
            let mut body = format!("<?xml version=\"1.0\"?><{action}Response xmlns=\"{XMLNS}\">");
            if let Some(r) = result {
                let _ = write!(body, "<{action}Result>{r}</{action}Result>");
            }
            let _ = write!(
                body,
                "<ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></{action}Response>",
                escape(rid)
            );
            xml_response(StatusCode::OK, body)
        }
        Err(e) => error_response(rid, &e),
    }
}

/// `GET /?Action=ConfirmSubscription&TopicArn=…&Token=…` (a SubscribeURL)
/// and `GET /?Action=Unsubscribe&SubscriptionArn=…` (an UnsubscribeURL).
pub async fn by_get(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    answer(&state, &ctx, query.as_bytes()).await
}

/// Whether a `GET /` is one of SNS's URLs rather than S3's ListBuckets.
pub(crate) fn is_sns_url(query: &str) -> bool {
    form_urlencoded::parse(query.as_bytes())
        .any(|(k, v)| k == "Action" && (v == "ConfirmSubscription" || v == "Unsubscribe"))
}
