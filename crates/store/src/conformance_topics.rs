//! The conformance checks of the built-in SNS topics (listed in the
//! conformance CHECKS list): topics, subscriptions with their tokens, and
//! the deliveries of publishes (leased in order, retried, deleted, gone
//! with their subscription or topic).

use crate::topics::{DedupRecord, DeliveryRecord, Publication, SubscriptionRecord, TopicRecord};
use crate::{Store, StoreError};

fn topic(name: &str) -> TopicRecord {
    TopicRecord {
        name: name.to_owned(),
        region: "us-east-1".to_owned(),
        attributes: "{}".to_owned(),
        tags: "{}".to_owned(),
        created_ms: 1,
    }
}

fn sub(topic: &str, id: &str) -> SubscriptionRecord {
    SubscriptionRecord {
        arn: format!("arn:aws:sns:us-east-1:000000000000:{topic}:{id}"),
        topic: topic.to_owned(),
        protocol: "sqs".to_owned(),
        endpoint: "arn:aws:sqs:us-east-1:000000000000:q".to_owned(),
        attributes: "{}".to_owned(),
        token: None,
        created_ms: 2,
    }
}

fn message(deliveries: Vec<DeliveryRecord>) -> Publication {
    Publication {
        dedup: None,
        deliveries,
    }
}

fn delivery(sub: &SubscriptionRecord, payload: &str, due_ms: i64) -> DeliveryRecord {
    DeliveryRecord {
        seq: 0,
        subscription: sub.arn.clone(),
        payload: payload.to_owned(),
        attempts: 0,
        due_ms,
    }
}

/// Topics and subscriptions are created once, read, listed, updated and
/// deleted (a topic with its subscriptions).
pub(crate) fn topics(store: &dyn Store) {
    store.create_topic(&topic("b")).unwrap();
    store.create_topic(&topic("a")).unwrap();
    assert!(matches!(
        store.create_topic(&topic("a")),
        Err(StoreError::AlreadyExists { .. })
    ));
    let names: Vec<String> = store
        .list_topics()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let mut a = store.get_topic("a").unwrap().unwrap();
    a.attributes = r#"{"DisplayName":"x"}"#.to_owned();
    a.tags = r#"{"k":"v"}"#.to_owned();
    assert!(store.update_topic(&a).unwrap());
    assert_eq!(store.get_topic("a").unwrap().unwrap(), a);
    assert!(!store.update_topic(&topic("zz")).unwrap());

    assert!(matches!(
        store.create_subscription(&sub("nope", "1"), &[]),
        Err(StoreError::NotFound { .. })
    ));
    let mut s1 = sub("a", "1");
    s1.token = Some("tok".to_owned());
    store.create_subscription(&s1, &[]).unwrap();
    store.create_subscription(&sub("a", "2"), &[]).unwrap();
    store.create_subscription(&sub("b", "3"), &[]).unwrap();
    assert!(matches!(
        store.create_subscription(&s1, &[]),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(store.get_subscription(&s1.arn).unwrap().unwrap(), s1);
    assert_eq!(store.list_subscriptions(Some("a")).unwrap().len(), 2);
    assert_eq!(store.list_subscriptions(None).unwrap().len(), 3);
    s1.token = None;
    s1.attributes = r#"{"RawMessageDelivery":"true"}"#.to_owned();
    assert!(store.update_subscription(&s1).unwrap());
    assert_eq!(store.get_subscription(&s1.arn).unwrap().unwrap(), s1);
    assert!(store.delete_subscription(&s1.arn).unwrap());
    assert!(!store.delete_subscription(&s1.arn).unwrap());
    assert!(store.get_subscription(&s1.arn).unwrap().is_none());

    assert!(store.delete_topic("a").unwrap());
    assert!(!store.delete_topic("a").unwrap());
    assert!(store.get_topic("a").unwrap().is_none());
    assert_eq!(store.list_subscriptions(None).unwrap().len(), 1);
}

/// Deliveries are stored by a publish (or with their subscription), leased
/// in order when due, retried later, deleted, and dropped with their
/// subscription or topic.
pub(crate) fn topic_deliveries(store: &dyn Store) {
    store.create_topic(&topic("t")).unwrap();
    let s1 = sub("t", "1");
    let s2 = sub("t", "2");
    store
        .create_subscription(&s1, &[delivery(&s1, "confirm", 10)])
        .unwrap();
    store.create_subscription(&s2, &[]).unwrap();
    assert!(matches!(
        store.publish("gone", &[message(vec![delivery(&s1, "x", 10)])], 0),
        Err(StoreError::NotFound { .. })
    ));
    let stored = store
        .publish(
            "t",
            &[message(vec![
                delivery(&s1, "m1", 10),
                delivery(&s2, "m1", 10),
            ])],
            0,
        )
        .unwrap();
    assert_eq!(stored, [None]);
    store
        .publish("t", &[message(vec![delivery(&s2, "m2", 50)])], 0)
        .unwrap();

    assert!(store.lease_deliveries(5, 10, 100).unwrap().is_empty());
    let leased = store.lease_deliveries(10, 2, 100).unwrap();
    let payloads: Vec<&str> = leased.iter().map(|d| d.payload.as_str()).collect();
    assert_eq!(payloads, ["confirm", "m1"]);
    assert!(leased[0].seq < leased[1].seq);
    // Leased deliveries are not due again until the lease ends.
    let next = store.lease_deliveries(60, 10, 400).unwrap();
    let payloads: Vec<&str> = next.iter().map(|d| d.payload.as_str()).collect();
    assert_eq!(payloads, ["m1", "m2"]);

    store.delete_delivery(leased[0].seq).unwrap();
    store.retry_delivery(leased[1].seq, 1, 200).unwrap();
    assert!(store.lease_deliveries(150, 10, 300).unwrap().is_empty());
    let again = store.lease_deliveries(200, 10, 300).unwrap();
    assert_eq!(again.len(), 1);
    let retried = &again[0];
    assert_eq!(
        (retried.seq, retried.attempts, retried.payload.as_str()),
        (leased[1].seq, 1, "m1")
    );

    // Deleting a subscription, then the topic, drops what they owe.
    assert!(store.delete_subscription(&s1.arn).unwrap());
    assert_eq!(store.lease_deliveries(1000, 10, 2000).unwrap().len(), 2);
    assert!(store.delete_topic("t").unwrap());
    assert!(store.lease_deliveries(5000, 10, 6000).unwrap().is_empty());
}

/// A FIFO topic's deduplication ids: a repeat within the window is not
/// stored and answers the first message's id and sequence; after the
/// window, or after the topic is deleted, the id is new again.
pub(crate) fn topic_deduplication(store: &dyn Store) {
    store.create_topic(&topic("f.fifo")).unwrap();
    let s = sub("f.fifo", "1");
    store.create_subscription(&s, &[]).unwrap();
    let first = DedupRecord {
        dedup: "d1".to_owned(),
        message_id: "m-1".to_owned(),
        sequence: "00000000000000000001".to_owned(),
        sent_ms: 1000,
    };
    let fifo = |record: &DedupRecord, payload: &str| Publication {
        dedup: Some(record.clone()),
        deliveries: vec![delivery(&s, payload, 0)],
    };
    let repeat = DedupRecord {
        message_id: "m-2".to_owned(),
        sequence: "00000000000000000002".to_owned(),
        sent_ms: 2000,
        ..first.clone()
    };
    // The second of one call is already a repeat of the first.
    let out = store
        .publish("f.fifo", &[fifo(&first, "a"), fifo(&repeat, "b")], 0)
        .unwrap();
    assert_eq!(out, [None, Some(first.clone())]);
    let out = store.publish("f.fifo", &[fifo(&repeat, "c")], 500).unwrap();
    assert_eq!(out, [Some(first.clone())]);
    let leased = store.lease_deliveries(10, 10, 20).unwrap();
    let payloads: Vec<&str> = leased.iter().map(|d| d.payload.as_str()).collect();
    assert_eq!(payloads, ["a"]);
    // Past the window the id is new.
    let out = store
        .publish("f.fifo", &[fifo(&repeat, "d")], 1500)
        .unwrap();
    assert_eq!(out, [None]);
    assert!(store.delete_topic("f.fifo").unwrap());
    store.create_topic(&topic("f.fifo")).unwrap();
    let out = store.publish("f.fifo", &[fifo(&repeat, "e")], 0).unwrap();
    assert_eq!(out, [None]);
}
