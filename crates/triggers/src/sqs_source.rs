//! Where an SQS mapping's messages come from: a queue of lambdad's built-in
//! SQS (called directly, through `lambdad_service::queues`), or a queue at
//! the external endpoint (the AWS SDK). Both hand out the SDK's `Message`,
//! so the poller does not tell them apart.

use std::collections::HashMap;

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageAttributeValue, MessageSystemAttributeName,
};
use base64::Engine as _;
use lambdad_service::queues::Queues;
use lambdad_service::queues::messages::{ReceiveInput, ReceivedMessage};

/// A mapping's queue.
#[derive(Debug, Clone)]
pub enum Source {
    /// A built-in queue, by name.
    Builtin {
        /// The service.
        queues: Queues,
        /// The queue's name.
        name: String,
    },
    /// A queue at the external endpoint, by URL.
    External {
        /// The SDK client.
        sqs: aws_sdk_sqs::Client,
        /// The queue's URL.
        url: String,
    },
}

/// A built-in queue's message as the SDK would have received it.
fn to_sdk(m: ReceivedMessage) -> Message {
    let attributes: HashMap<MessageSystemAttributeName, String> = m
        .attributes
        .into_iter()
        .map(|(k, v)| (MessageSystemAttributeName::from(k.as_str()), v))
        .collect();
    let message_attributes: HashMap<String, MessageAttributeValue> = m
        .message_attributes
        .into_iter()
        .filter_map(|(k, a)| {
            let mut b = MessageAttributeValue::builder().data_type(a.data_type);
            if let Some(s) = a.string_value {
                b = b.string_value(s);
            }
            if let Some(bin) = a.binary_value {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(bin)
                    .unwrap_or_default();
                b = b.binary_value(Blob::new(bytes));
            }
            b.build().ok().map(|v| (k, v))
        })
        .collect();
    Message::builder()
        .message_id(m.message_id)
        .receipt_handle(m.receipt_handle)
        .md5_of_body(m.md5_of_body)
        .body(m.body)
        .set_attributes((!attributes.is_empty()).then_some(attributes))
        .set_md5_of_message_attributes(m.md5_of_message_attributes)
        .set_message_attributes((!message_attributes.is_empty()).then_some(message_attributes))
        .build()
}

impl Source {
    /// One ReceiveMessage: up to `want` (≤ 10) messages, waiting up to
    /// `wait` seconds, with the system attributes `names` and every message attribute.
    pub async fn receive(
        &self,
        want: i32,
        wait: i32,
        names: &[&str],
    ) -> Result<Vec<Message>, String> {
        match self {
            Self::Builtin { queues, name } => {
                let input = ReceiveInput {
                    message_system_attribute_names: names.iter().map(|n| (*n).to_owned()).collect(),
                    message_attribute_names: vec!["All".to_owned()],
                    max_number_of_messages: Some(i64::from(want)),
                    wait_time_seconds: Some(i64::from(wait)),
                    ..ReceiveInput::default()
                };
                let got = queues
                    .receive(name, &input)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(got.into_iter().map(to_sdk).collect())
            }
            Self::External { sqs, url } => {
                // Named attributes rather than `All` (some compatible servers answer
                // `All` with nulls), in the current parameter and in the deprecated
                // `AttributeNames` that older servers (moto) read.
                #[allow(deprecated)]
                let request = sqs.receive_message().set_attribute_names(Some(
                    names
                        .iter()
                        .map(|n| aws_sdk_sqs::types::QueueAttributeName::from(*n))
                        .collect(),
                ));
                let resp = request
                    .queue_url(url)
                    .max_number_of_messages(want)
                    .wait_time_seconds(wait)
                    .set_message_system_attribute_names(Some(
                        names
                            .iter()
                            .map(|n| MessageSystemAttributeName::from(*n))
                            .collect(),
                    ))
                    .message_attribute_names("All")
                    .send()
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                Ok(resp.messages.unwrap_or_default())
            }
        }
    }

    /// Deletes processed messages.
    pub async fn delete(&self, msgs: &[&Message]) {
        match self {
            Self::Builtin { queues, name } => {
                for msg in msgs {
                    if let Err(e) = queues
                        .delete_message(name, msg.receipt_handle().unwrap_or_default())
                        .await
                    {
                        tracing::warn!(error = %e, "Cannot delete a processed message; it will be delivered again.");
                    }
                }
            }
            Self::External { sqs, url } => {
                for chunk in msgs.chunks(10) {
                    let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
                        .iter()
                        .enumerate()
                        .filter_map(|(i, msg)| {
                            DeleteMessageBatchRequestEntry::builder()
                                .id(i.to_string())
                                .receipt_handle(msg.receipt_handle().unwrap_or_default())
                                .build()
                                .ok()
                        })
                        .collect();
                    if let Err(e) = sqs
                        .delete_message_batch()
                        .queue_url(url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                    {
                        tracing::warn!(error = ?e, "Cannot delete processed messages; they will be delivered again.");
                    }
                }
            }
        }
    }

    /// Makes `msgs` visible again at once.
    pub async fn release(&self, msgs: &[Message]) {
        match self {
            Self::Builtin { queues, name } => {
                for msg in msgs {
                    if let Err(e) = queues
                        .change_visibility(name, msg.receipt_handle().unwrap_or_default(), Some(0))
                        .await
                    {
                        tracing::warn!(error = %e, "Cannot return a message to the queue; it comes back after its visibility timeout.");
                    }
                }
            }
            Self::External { sqs, url } => {
                for chunk in msgs.chunks(10) {
                    let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
                        .iter()
                        .enumerate()
                        .filter_map(|(i, msg)| {
                            ChangeMessageVisibilityBatchRequestEntry::builder()
                                .id(i.to_string())
                                .receipt_handle(msg.receipt_handle().unwrap_or_default())
                                .visibility_timeout(0)
                                .build()
                                .ok()
                        })
                        .collect();
                    if let Err(e) = sqs
                        .change_message_visibility_batch()
                        .queue_url(url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                    {
                        tracing::warn!(error = ?e, "Cannot return messages to the queue; they come back after their visibility timeout.");
                    }
                }
            }
        }
    }
}
