//! A bucket's configurations: its notification configuration (functions,
//! queues and topics; validated and answered with the `s3:TestEvent`) and
//! its tags (a store document of kind [`TAGGING_DOC`] keyed by the bucket).

use std::collections::BTreeMap;

use s3s::dto::*;
use s3s::{S3Error, S3ErrorCode, S3Result, s3_error};

use crate::notify::{Config, Home, LambdaTarget, MessageTarget, test_events, unvalidated};
use crate::{Objects, now_ms};

/// The store document kind holding a bucket's tags (a JSON object).
pub(crate) const TAGGING_DOC: &str = "s3-bucket-tagging";

/// At most this many tags on a bucket, as S3.
const MAX_TAGS: usize = 50;

fn invalid_tag(message: &str) -> S3Error {
    S3Error::with_message(S3ErrorCode::InvalidTag, message.to_owned())
}

/// The response headers that carry an `InvalidArgument`'s `ArgumentName`
/// and `ArgumentValue` to the API, which writes them into the error's XML
/// (s3s writes only `Code`, `Message` and `RequestId`).
pub const ARGUMENT_NAME_HEADER: &str = "x-lambdad-argument-name";
/// See [`ARGUMENT_NAME_HEADER`].
pub const ARGUMENT_VALUE_HEADER: &str = "x-lambdad-argument-value";

/// S3's `InvalidArgument` with its `ArgumentName` and `ArgumentValue`.
fn invalid_argument(message: &'static str, name: &str, value: &str) -> S3Error {
    let mut e = S3Error::with_message(S3ErrorCode::InvalidArgument, message);
    let mut headers = http::HeaderMap::new();
    for (header, text) in [(ARGUMENT_NAME_HEADER, name), (ARGUMENT_VALUE_HEADER, value)] {
        // Form-encoded: the text may hold characters a header may not.
        let encoded: String = form_urlencoded::byte_serialize(text.as_bytes()).collect();
        if let Ok(v) = http::HeaderValue::from_str(&encoded) {
            headers.insert(header, v);
        }
    }
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/xml"),
    );
    e.set_headers(headers);
    e
}

/// A configuration's event types, each one S3 knows.
fn event_types(events: &[Event]) -> S3Result<Vec<String>> {
    events
        .iter()
        .map(|e| {
            if crate::notify::EVENT_TYPES.contains(&e.as_ref()) {
                Ok(e.as_ref().to_owned())
            } else {
                Err(s3_error!(
                    InvalidArgument,
                    "The event is not supported for notifications"
                ))
            }
        })
        .collect()
}

/// A configuration's key filter rules as `(name, value)`.
fn filter_rules(filter: Option<NotificationConfigurationFilter>) -> Vec<(String, String)> {
    filter
        .and_then(|f| f.key)
        .and_then(|k| k.filter_rules)
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            (
                r.name.map(|n| n.as_str().to_owned()).unwrap_or_default(),
                r.value.unwrap_or_default(),
            )
        })
        .collect()
}

fn filter_of(rules: Vec<(String, String)>) -> Option<NotificationConfigurationFilter> {
    (!rules.is_empty()).then(|| NotificationConfigurationFilter {
        key: Some(S3KeyFilter {
            filter_rules: Some(
                rules
                    .into_iter()
                    .map(|(name, value)| FilterRule {
                        name: Some(FilterRuleName::from(name)),
                        value: Some(value),
                    })
                    .collect(),
            ),
        }),
    })
}

fn message_target(
    id: Option<String>,
    arn: String,
    events: &[Event],
    filter: Option<NotificationConfigurationFilter>,
) -> S3Result<MessageTarget> {
    Ok(MessageTarget {
        id: id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        arn,
        events: event_types(events)?,
        rules: filter_rules(filter),
    })
}

/// The configuration a PutBucketNotificationConfiguration request asks for.
fn config_of(n: NotificationConfiguration) -> S3Result<Config> {
    let mut config = Config::default();
    for c in n.lambda_function_configurations.unwrap_or_default() {
        config.lambda.push(LambdaTarget {
            id: c.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            function_arn: c.lambda_function_arn,
            events: event_types(&c.events)?,
            rules: filter_rules(c.filter),
        });
    }
    for c in n.queue_configurations.unwrap_or_default() {
        let t = message_target(c.id, c.queue_arn, &c.events, c.filter)?;
        config.queues.push(t);
    }
    for c in n.topic_configurations.unwrap_or_default() {
        let t = message_target(c.id, c.topic_arn, &c.events, c.filter)?;
        config.topics.push(t);
    }
    Ok(config)
}

impl Objects {
    pub(crate) async fn put_notification(
        &self,
        input: PutBucketNotificationConfigurationInput,
        request_id: String,
    ) -> S3Result<PutBucketNotificationConfigurationOutput> {
        self.bucket(&input.bucket).await?;
        let config = config_of(input.notification_configuration)?;
        let bucket = input.bucket.clone();
        let check = config.clone();
        let (region, account) = (
            self.config().region.clone(),
            self.config().account_id.clone(),
        );
        // `x-amz-skip-destination-validation: true` writes it unchecked
        // (deliveries are still checked).
        let skip = input.skip_destination_validation.unwrap_or(false);
        let refusal = if skip {
            None
        } else {
            self.db(move |s| {
                let home = Home {
                    region: &region,
                    account: &account,
                };
                unvalidated(s, &check, &bucket, home)
            })
            .await?
        };
        if let Some(r) = refusal {
            return Err(invalid_argument(
                "Unable to validate the following destination configurations",
                &r.name,
                &r.value,
            ));
        }
        let json = (!config.is_empty()).then(|| serde_json::to_string(&config).unwrap_or_default());
        let tests = test_events(&config, &input.bucket, &request_id, now_ms());
        let b = input.bucket.clone();
        let found = self
            .db(move |s| {
                let found = s.set_bucket_notification(&b, json.as_deref())?;
                if found && !tests.is_empty() {
                    s.enqueue_events(&tests)?;
                }
                Ok(found)
            })
            .await?;
        if !found {
            return Err(S3Error::with_message(
                S3ErrorCode::NoSuchBucket,
                crate::NO_SUCH_BUCKET,
            ));
        }
        Ok(PutBucketNotificationConfigurationOutput {})
    }

    pub(crate) async fn get_notification(
        &self,
        input: GetBucketNotificationConfigurationInput,
    ) -> S3Result<GetBucketNotificationConfigurationOutput> {
        let b = self.bucket(&input.bucket).await?;
        let config: Config = b
            .notification
            .as_deref()
            .and_then(|c| serde_json::from_str(c).ok())
            .unwrap_or_default();
        let lambda: Vec<LambdaFunctionConfiguration> = config
            .lambda
            .into_iter()
            .map(|t| LambdaFunctionConfiguration {
                id: Some(t.id),
                lambda_function_arn: t.function_arn,
                events: t.events.into_iter().map(Event::from).collect(),
                filter: filter_of(t.rules),
            })
            .collect();
        let queues: Vec<QueueConfiguration> = config
            .queues
            .into_iter()
            .map(|t| QueueConfiguration {
                id: Some(t.id),
                queue_arn: t.arn,
                events: t.events.into_iter().map(Event::from).collect(),
                filter: filter_of(t.rules),
            })
            .collect();
        let topics: Vec<TopicConfiguration> = config
            .topics
            .into_iter()
            .map(|t| TopicConfiguration {
                id: Some(t.id),
                topic_arn: t.arn,
                events: t.events.into_iter().map(Event::from).collect(),
                filter: filter_of(t.rules),
            })
            .collect();
        Ok(GetBucketNotificationConfigurationOutput {
            lambda_function_configurations: (!lambda.is_empty()).then_some(lambda),
            queue_configurations: (!queues.is_empty()).then_some(queues),
            topic_configurations: (!topics.is_empty()).then_some(topics),
            ..Default::default()
        })
    }

    /// PutBucketTagging: replaces the bucket's tags.
    pub(crate) async fn put_tagging(&self, input: PutBucketTaggingInput) -> S3Result<()> {
        self.bucket(&input.bucket).await?;
        let mut tags = BTreeMap::new();
        if input.tagging.tag_set.len() > MAX_TAGS {
            return Err(invalid_tag("Bucket tag count cannot be greater than 50"));
        }
        for t in input.tagging.tag_set {
            let key = t.key.unwrap_or_default();
            let value = t.value.unwrap_or_default();
            if key.is_empty() || key.chars().count() > 128 {
                return Err(invalid_tag("The TagKey you have provided is invalid"));
            }
            if value.chars().count() > 256 {
                return Err(invalid_tag(
                    "The TagValue you have provided is too long, max 256",
                ));
            }
            if key.starts_with("aws:") {
                return Err(invalid_tag(
                    "System tags cannot be added/updated by requester",
                ));
            }
            if tags.insert(key, value).is_some() {
                return Err(invalid_tag(
                    "Cannot provide multiple Tags with the same key",
                ));
            }
        }
        let json = serde_json::to_string(&tags).unwrap_or_else(|_| "{}".into());
        let b = input.bucket;
        self.db(move |s| s.put_doc(TAGGING_DOC, &b, Some(&json)))
            .await
    }

    /// GetBucketTagging: the bucket's tags, or `NoSuchTagSet`.
    pub(crate) async fn get_tagging(&self, bucket: &str) -> S3Result<GetBucketTaggingOutput> {
        self.bucket(bucket).await?;
        let b = bucket.to_owned();
        let doc = self.db(move |s| s.get_doc(TAGGING_DOC, &b)).await?;
        let tags: BTreeMap<String, String> = doc
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .ok_or_else(|| {
                S3Error::with_message(S3ErrorCode::NoSuchTagSet, "The TagSet does not exist")
            })?;
        Ok(GetBucketTaggingOutput {
            tag_set: tags
                .into_iter()
                .map(|(key, value)| Tag {
                    key: Some(key),
                    value: Some(value),
                })
                .collect(),
        })
    }

    /// DeleteBucketTagging (and the clean-up of a deleted or new bucket's tags).
    pub(crate) async fn delete_tagging(&self, bucket: &str) -> S3Result<()> {
        let b = bucket.to_owned();
        self.db(move |s| s.put_doc(TAGGING_DOC, &b, None)).await
    }
}
