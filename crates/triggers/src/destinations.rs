//! Where asynchronous outcomes go besides Lambda functions: SQS queues and
//! SNS topics (destinations and dead-letter queues). Queues of lambdad's
//! own account and region are the built-in ones (`lambdad_service::queues`
//! and `lambdad_service::topics`, called directly); everything else is reached with the AWS SDK at
//! `--aws-endpoint-url` (any compatible server) or, when unset, AWS itself
//! with the usual credential chain.

use std::collections::HashMap;

use aws_sdk_sns::types::MessageAttributeValue as SnsAttribute;
use aws_sdk_sqs::types::MessageAttributeValue as SqsAttribute;
use lambdad_service::queues::Queues;
use lambdad_service::queues::attributes::MessageAttribute;
use lambdad_service::queues::messages::SendEntry;
use lambdad_service::topics::Topics;
use lambdad_service::topics::publish::PublishInput;

use crate::sqs_source::Source;

/// SDK clients for SQS and SNS.
#[derive(Debug, Clone)]
pub struct Destinations {
    sqs: aws_sdk_sqs::Client,
    sns: aws_sdk_sns::Client,
    events: aws_sdk_eventbridge::Client,
    /// The built-in queues and the region whose ARNs name them.
    builtin: Option<(Queues, String)>,
    /// The built-in topics (their ARNs name that region too).
    topics: Option<Topics>,
}

/// Why a message could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The ARN names no supported target.
    #[error("unsupported destination {0}")]
    Unsupported(String),
    /// The service refused or could not be reached.
    #[error("{target}: {message}")]
    Service {
        /// The target ARN.
        target: String,
        /// What went wrong.
        message: String,
    },
}

/// One message for a queue or topic.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The body.
    pub body: &'a str,
    /// String or Number attributes: (name, data type, value).
    pub attributes: &'a [(&'a str, &'a str, &'a str)],
    /// The `Subject` of an SNS message.
    pub subject: Option<&'a str>,
    /// For a FIFO queue or topic: the message group (default `lambdad`).
    pub group_id: Option<&'a str>,
    /// For a FIFO queue or topic: the deduplication id (default: a fresh one).
    pub deduplication_id: Option<&'a str>,
}

impl<'a> Message<'a> {
    /// A message of `body` alone.
    pub fn new(body: &'a str) -> Self {
        Self {
            body,
            attributes: &[],
            subject: None,
            group_id: None,
            deduplication_id: None,
        }
    }
}

/// A String or Number message attribute.
fn attribute(kind: &str, value: &str) -> MessageAttribute {
    MessageAttribute {
        data_type: kind.to_owned(),
        string_value: Some(value.to_owned()),
        binary_value: None,
        string_list_values: Vec::new(),
        binary_list_values: Vec::new(),
    }
}

fn service_err(target: &str, e: impl std::fmt::Debug) -> DeliveryError {
    DeliveryError::Service {
        target: target.to_owned(),
        message: format!("{e:?}"),
    }
}

impl Destinations {
    /// Clients for `region`; `endpoint` overrides AWS's endpoints (and, with
    /// no credentials in the environment, uses static test credentials).
    pub async fn new(region: &str, endpoint: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()));
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
                    "lambdad", "lambdad", None, None, "lambdad",
                ));
            }
        }
        let conf = loader.load().await;
        Self {
            events: aws_sdk_eventbridge::Client::new(&conf),
            sqs: aws_sdk_sqs::Client::new(&conf),
            sns: aws_sdk_sns::Client::new(&conf),
            builtin: None,
            topics: None,
        }
    }

    /// Uses the built-in `topics` for topic ARNs of their account in the
    /// built-in queues' region.
    pub fn with_topics(mut self, topics: Topics) -> Self {
        self.topics = Some(topics);
        self
    }

    /// The built-in topics, if an ARN names one of lambdad's account and region.
    fn builtin_topic(&self, arn: &str) -> Option<&Topics> {
        let region = self.builtin.as_ref().map(|(_, r)| r.as_str())?;
        let topics = self.topics.as_ref()?;
        let in_region = arn.split(':').nth(3) == Some(region);
        (in_region && topics.name_of_arn(arn).is_some()).then_some(topics)
    }

    /// Uses the built-in `queues` for queue ARNs of their account in `region`.
    pub fn with_queues(mut self, queues: Queues, region: &str) -> Self {
        self.builtin = Some((queues, region.to_owned()));
        self
    }

    /// The built-in queue an ARN names, if it names one of lambdad's account and region.
    fn builtin_queue(&self, arn: &str) -> Option<(&Queues, String)> {
        let (queues, region) = self.builtin.as_ref()?;
        queues.name_of_arn(arn, region).map(|name| (queues, name))
    }

    /// Where an SQS mapping of queue `arn` receives from.
    pub(crate) async fn queue_source(&self, arn: &str) -> Result<Source, DeliveryError> {
        if let Some((queues, name)) = self.builtin_queue(arn) {
            return match queues.exists(&name).await {
                Ok(true) => Ok(Source::Builtin {
                    queues: queues.clone(),
                    name,
                }),
                Ok(false) => Err(service_err(arn, "the built-in queue does not exist")),
                Err(e) => Err(service_err(arn, e)),
            };
        }
        Ok(Source::External {
            sqs: self.sqs.clone(),
            url: self.queue_url(arn).await?,
        })
    }

    /// The SQS client (event source mappings poll with it).
    pub fn sqs(&self) -> &aws_sdk_sqs::Client {
        &self.sqs
    }

    /// The URL of the queue `arn` names.
    pub(crate) async fn queue_url(&self, arn: &str) -> Result<String, DeliveryError> {
        let parts: Vec<&str> = arn.split(':').collect();
        let (Some(account), Some(name)) = (parts.get(4), parts.get(5)) else {
            return Err(DeliveryError::Unsupported(arn.to_owned()));
        };
        let out = self
            .sqs
            .get_queue_url()
            .queue_name(*name)
            .queue_owner_aws_account_id(*account)
            .send()
            .await
            .map_err(|e| service_err(arn, e))?;
        out.queue_url()
            .map(str::to_owned)
            .ok_or_else(|| service_err(arn, "no queue URL"))
    }

    /// Sends `body` with string/number `attributes` to the SQS queue or SNS topic `arn`.
    pub async fn send(
        &self,
        arn: &str,
        body: &str,
        attributes: &[(&str, &str, &str)],
    ) -> Result<(), DeliveryError> {
        let message = Message {
            attributes,
            ..Message::new(body)
        };
        self.send_message(arn, &message).await
    }

    /// Sends `message` to the SQS queue or SNS topic `arn`: a built-in one
    /// directly, any other with the SDK.
    pub async fn send_message(
        &self,
        arn: &str,
        message: &Message<'_>,
    ) -> Result<(), DeliveryError> {
        let fifo = arn.ends_with(".fifo");
        // A FIFO destination gets one group per function's records unless
        // the caller names one, and a fresh deduplication id unless given.
        let group = fifo.then(|| message.group_id.unwrap_or("lambdad").to_owned());
        let dedup = fifo.then(|| {
            message
                .deduplication_id
                .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
        });
        let attributes = message.attributes;
        if let Some((queues, name)) = self.builtin_queue(arn) {
            let entry = SendEntry {
                message_body: Some(message.body.to_owned()),
                message_attributes: attributes
                    .iter()
                    .map(|(name, kind, value)| ((*name).to_owned(), attribute(kind, value)))
                    .collect(),
                message_group_id: group,
                message_deduplication_id: dedup,
                ..SendEntry::default()
            };
            let mut out = queues
                .send(&name, std::slice::from_ref(&entry))
                .await
                .map_err(|e| service_err(arn, e))?;
            return match out.pop() {
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => Err(service_err(arn, e)),
                None => Err(service_err(arn, "nothing sent")),
            };
        }
        if let Some(topics) = self.builtin_topic(arn) {
            let input = PublishInput {
                message: Some(message.body.to_owned()),
                subject: message.subject.map(str::to_owned),
                message_attributes: attributes
                    .iter()
                    .map(|(name, kind, value)| ((*name).to_owned(), attribute(kind, value)))
                    .collect(),
                message_group_id: group,
                message_deduplication_id: dedup,
                ..PublishInput::default()
            };
            topics
                .publish(Some(arn), input)
                .await
                .map_err(|e| service_err(arn, e))?;
            return Ok(());
        }
        if arn.starts_with("arn:aws:sqs:") {
            let url = self.queue_url(arn).await?;
            let mut attrs = HashMap::new();
            for (name, kind, value) in attributes {
                let v = SqsAttribute::builder()
                    .data_type(*kind)
                    .string_value(*value)
                    .build()
                    .map_err(|e| service_err(arn, e))?;
                attrs.insert((*name).to_owned(), v);
            }
            self.sqs
                .send_message()
                .queue_url(url)
                .message_body(message.body)
                .set_message_attributes((!attrs.is_empty()).then_some(attrs))
                .set_message_group_id(group)
                .set_message_deduplication_id(dedup)
                .send()
                .await
                .map_err(|e| service_err(arn, e))?;
            Ok(())
        } else if arn.starts_with("arn:aws:sns:") {
            let mut attrs = HashMap::new();
            for (name, kind, value) in attributes {
                let v = SnsAttribute::builder()
                    .data_type(*kind)
                    .string_value(*value)
                    .build()
                    .map_err(|e| service_err(arn, e))?;
                attrs.insert((*name).to_owned(), v);
            }
            self.sns
                .publish()
                .topic_arn(arn)
                .message(message.body)
                .set_subject(message.subject.map(str::to_owned))
                .set_message_attributes((!attrs.is_empty()).then_some(attrs))
                .set_message_group_id(group)
                .set_message_deduplication_id(dedup)
                .send()
                .await
                .map_err(|e| service_err(arn, e))?;
            Ok(())
        } else {
            Err(DeliveryError::Unsupported(arn.to_owned()))
        }
    }

    /// Puts an invocation record on the event bus `bus_arn` as AWS does
    /// (`source: lambda`, detail-type "Lambda Function Invocation Result - Success|Failure").
    pub async fn put_record(
        &self,
        bus_arn: &str,
        function_arn: &str,
        success: bool,
        record: &str,
    ) -> Result<(), DeliveryError> {
        let detail_type = if success {
            "Lambda Function Invocation Result - Success"
        } else {
            "Lambda Function Invocation Result - Failure"
        };
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(bus_arn)
            .source("lambda")
            .detail_type(detail_type)
            .detail(record)
            .resources(bus_arn)
            .resources(function_arn)
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| service_err(bus_arn, e))?;
        if out.failed_entry_count() > 0 {
            return Err(service_err(bus_arn, out.entries()));
        }
        Ok(())
    }
}
