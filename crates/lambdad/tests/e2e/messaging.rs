//! The built-in SQS and SNS through aws-sdk-sqs (JSON protocol) and
//! aws-sdk-sns (Query protocol), the Rust SDKs unmodified but for the
//! endpoint: messages sent, received and deleted, a FIFO queue's order and
//! deduplication, a topic fanning out to a subscribed queue, message move
//! tasks from a dead-letter queue, and the services' errors as the SDKs'
//! typed errors.

use std::time::{Duration, Instant};

use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};

use crate::common::TestServer;

async fn config(server: &TestServer) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(server.endpoint())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_sqs::config::Credentials::new(
            "AKIDTEST", "secret", None, None, "test",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

async fn clients(server: &TestServer) -> (aws_sdk_sqs::Client, aws_sdk_sns::Client) {
    let conf = config(server).await;
    (
        aws_sdk_sqs::Client::new(&conf),
        aws_sdk_sns::Client::new(&conf),
    )
}

async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> String {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .expect("QueueArn")
}

/// Receives (long polling) until `n` messages came or 60 s passed.
async fn receive_n(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    n: usize,
) -> Vec<aws_sdk_sqs::types::Message> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut got = Vec::new();
    while got.len() < n && Instant::now() < deadline {
        let out = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(2)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        got.extend(out.messages().iter().cloned());
    }
    got
}

#[tokio::test]
async fn sqs_through_the_rust_sdk() {
    let server = TestServer::start().await;
    let (sqs, _) = clients(&server).await;
    let url = sqs
        .create_queue()
        .queue_name("rusty")
        .attributes(QueueAttributeName::VisibilityTimeout, "60")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    assert!(url.ends_with("/000000000000/rusty"), "{url}");
    let got = sqs
        .get_queue_url()
        .queue_name("rusty")
        .send()
        .await
        .unwrap();
    assert_eq!(got.queue_url(), Some(url.as_str()));

    let sent = sqs
        .send_message()
        .queue_url(&url)
        .message_body("hello from the Rust SDK")
        .message_attributes(
            "kind",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value("greeting")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    // MD5 of "hello from the Rust SDK".
    assert_eq!(
        sent.md5_of_message_body(),
        Some("0f0a5120d83e438e4587fded12df1eec")
    );
    assert!(sent.md5_of_message_attributes().is_some());
    let batch = sqs
        .send_message_batch()
        .queue_url(&url)
        .entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id("a")
                .message_body("second")
                .build()
                .unwrap(),
        )
        .entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id("b")
                .message_body("third")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(batch.successful().len(), 2);
    assert!(batch.failed().is_empty());

    let messages = receive_n(&sqs, &url, 3).await;
    let mut bodies: Vec<&str> = messages.iter().filter_map(|m| m.body()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["hello from the Rust SDK", "second", "third"]);
    let first = messages
        .iter()
        .find(|m| m.message_id() == sent.message_id())
        .expect("the first message");
    assert_eq!(
        first
            .message_attributes()
            .and_then(|a| a.get("kind"))
            .and_then(|v| v.string_value()),
        Some("greeting")
    );
    assert_eq!(
        first
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .map(String::as_str),
        Some("1")
    );
    for m in &messages {
        sqs.delete_message()
            .queue_url(&url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let attrs = attrs.attributes().unwrap();
    for name in [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
    ] {
        assert_eq!(attrs.get(&name).map(String::as_str), Some("0"), "{name:?}");
    }
    assert_eq!(
        attrs
            .get(&QueueAttributeName::VisibilityTimeout)
            .map(String::as_str),
        Some("60")
    );

    // Errors arrive as the SDK's typed errors.
    let err = sqs
        .get_queue_url()
        .queue_name("nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_queue_does_not_exist(), "{err:?}");
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("x")
        .delay_seconds(901)
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        aws_sdk_sqs::error::ProvideErrorMetadata::message(&err)
            .is_some_and(|m| m.contains("DelaySeconds must be >= 0 and <= 900")),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_fifo_queue_through_the_rust_sdk() {
    let server = TestServer::start().await;
    let (sqs, _) = clients(&server).await;
    let url = sqs
        .create_queue()
        .queue_name("orders.fifo")
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::ContentBasedDeduplication, "true")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let mut ids = Vec::new();
    let mut seqs = Vec::new();
    for body in ["one", "two", "three", "two"] {
        let sent = sqs
            .send_message()
            .queue_url(&url)
            .message_body(body)
            .message_group_id("g")
            .send()
            .await
            .unwrap();
        ids.push(sent.message_id().unwrap().to_owned());
        seqs.push(sent.sequence_number().unwrap().to_owned());
    }
    // The second "two" is a duplicate by content: the first one's answer.
    assert_eq!(ids[3], ids[1]);
    assert_eq!(seqs[3], seqs[1]);
    assert!(seqs[0] < seqs[1] && seqs[1] < seqs[2], "{seqs:?}");

    let messages = receive_n(&sqs, &url, 3).await;
    let bodies: Vec<&str> = messages.iter().filter_map(|m| m.body()).collect();
    assert_eq!(bodies, ["one", "two", "three"]);
    assert_eq!(
        messages[0]
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .map(String::as_str),
        Some("g")
    );
    // A FIFO send without a group is refused.
    let err = sqs
        .send_message()
        .queue_url(&url)
        .message_body("loose")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        aws_sdk_sqs::error::ProvideErrorMetadata::code(&err),
        Some("MissingParameter"),
        "{err:?}"
    );
}

#[tokio::test]
async fn sns_fans_out_to_a_queue_through_the_rust_sdk() {
    let server = TestServer::start().await;
    let (sqs, sns) = clients(&server).await;
    let topic = sns
        .create_topic()
        .name("news")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    assert_eq!(topic, "arn:aws:sns:us-east-1:000000000000:news");
    let url = sqs
        .create_queue()
        .queue_name("inbox")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let arn = queue_arn(&sqs, &url).await;
    let sub = sns
        .subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(&arn)
        .attributes("FilterPolicy", r#"{"kind": [{"anything-but": "noise"}]}"#)
        .return_subscription_arn(true)
        .send()
        .await
        .unwrap()
        .subscription_arn()
        .unwrap()
        .to_owned();
    assert!(sub.starts_with(&format!("{topic}:")), "{sub}");
    let subs = sns
        .list_subscriptions_by_topic()
        .topic_arn(&topic)
        .send()
        .await
        .unwrap();
    assert_eq!(subs.subscriptions().len(), 1);
    assert_eq!(subs.subscriptions()[0].endpoint(), Some(arn.as_str()));

    let attr = |v: &str| {
        aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .unwrap()
    };
    sns.publish()
        .topic_arn(&topic)
        .message("filtered out")
        .message_attributes("kind", attr("noise"))
        .send()
        .await
        .unwrap();
    let published = sns
        .publish()
        .topic_arn(&topic)
        .subject("Hello")
        .message("from the Rust SDK")
        .message_attributes("kind", attr("signal"))
        .send()
        .await
        .unwrap();
    let messages = receive_n(&sqs, &url, 1).await;
    assert_eq!(messages.len(), 1);
    let envelope: serde_json::Value = serde_json::from_str(messages[0].body().unwrap()).unwrap();
    assert_eq!(envelope["Type"], "Notification");
    assert_eq!(envelope["TopicArn"], topic.as_str());
    assert_eq!(envelope["Subject"], "Hello");
    assert_eq!(envelope["Message"], "from the Rust SDK");
    assert_eq!(
        envelope["MessageId"].as_str(),
        published.message_id(),
        "{envelope}"
    );
    assert_eq!(envelope["MessageAttributes"]["kind"]["Value"], "signal");
    // Nothing else arrives: the filtered message never does.
    let more = sqs
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    assert!(more.messages().is_empty(), "{more:?}");

    let err = sns
        .publish()
        .topic_arn("arn:aws:sns:us-east-1:000000000000:missing")
        .message("x")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(err.is_not_found_exception(), "{err:?}");
    sns.unsubscribe()
        .subscription_arn(&sub)
        .send()
        .await
        .unwrap();
    sns.delete_topic().topic_arn(&topic).send().await.unwrap();
    let topics = sns.list_topics().send().await.unwrap();
    assert!(topics.topics().is_empty());
}
