//! The conformance checks of the built-in SQS queues (listed in the
//! conformance CHECKS list): queues, sends with deduplication, receives
//! with visibility, FIFO group locking, redrive, deletes by receipt, and
//! message moves (one transaction, under the latest receipt only).

use crate::queues::{MessageRecord, QueueRecord, ReceiveRequest, SendOutcome, VisibilityChange};
use crate::{Store, StoreError};

fn queue(name: &str) -> QueueRecord {
    QueueRecord {
        name: name.to_owned(),
        region: "us-east-1".to_owned(),
        attributes: "{}".to_owned(),
        tags: "{}".to_owned(),
        created_ms: 1,
        modified_ms: 1,
    }
}

fn message(id: &str, group: Option<&str>, dedup: Option<&str>, sent_ms: i64) -> MessageRecord {
    MessageRecord {
        queue: String::new(),
        id: id.to_owned(),
        seq: 0,
        body: format!("body of {id}"),
        meta: "{}".to_owned(),
        group: group.map(str::to_owned),
        dedup: dedup.map(str::to_owned),
        sent_ms,
        visible_ms: sent_ms,
        receive_count: 0,
        first_receive_ms: None,
        receipt: None,
    }
}

fn receive(now_ms: i64, max: usize, receipt: &str, fifo: bool) -> ReceiveRequest {
    ReceiveRequest {
        now_ms,
        max,
        visibility_ms: 1000,
        receipt: receipt.to_owned(),
        fifo,
        expire_before_ms: 0,
        redrive: None,
    }
}

fn ids(msgs: &[MessageRecord]) -> Vec<&str> {
    msgs.iter().map(|m| m.id.as_str()).collect()
}

/// Queues are created once, read, listed by name, updated and deleted with
/// their messages.
pub(crate) fn queues(store: &dyn Store) {
    store.create_queue(&queue("b")).unwrap();
    store.create_queue(&queue("a")).unwrap();
    assert!(matches!(
        store.create_queue(&queue("a")),
        Err(StoreError::AlreadyExists { .. })
    ));
    let names: Vec<String> = store
        .list_queues()
        .unwrap()
        .into_iter()
        .map(|q| q.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let mut a = store.get_queue("a").unwrap().unwrap();
    a.attributes = r#"{"VisibilityTimeout":"5"}"#.to_owned();
    a.modified_ms = 7;
    assert!(store.update_queue(&a).unwrap());
    assert_eq!(store.get_queue("a").unwrap().unwrap(), a);
    store
        .send_messages("a", &[message("m1", None, None, 10)], 0)
        .unwrap();
    assert!(store.delete_queue("a").unwrap());
    assert!(!store.delete_queue("a").unwrap());
    assert!(store.get_queue("a").unwrap().is_none());
    assert!(matches!(
        store.send_messages("a", &[message("m2", None, None, 10)], 0),
        Err(StoreError::NotFound { .. })
    ));
    // A queue of the same name starts empty.
    store.create_queue(&queue("a")).unwrap();
    assert!(
        store
            .receive_messages("a", &receive(20, 10, "r", false))
            .unwrap()
            .messages
            .is_empty()
    );
}

/// Messages come out oldest first, hidden while in flight, back after the
/// visibility timeout (with a new receipt and count), deleted only by
/// their latest receipt; delays and expiry count; purge empties.
pub(crate) fn queue_messages(store: &dyn Store) {
    store.create_queue(&queue("q")).unwrap();
    let mut delayed = message("d", None, None, 100);
    delayed.visible_ms = 5000;
    let out = store
        .send_messages(
            "q",
            &[
                message("m1", None, None, 100),
                message("m2", None, None, 100),
                delayed,
            ],
            0,
        )
        .unwrap();
    assert!(matches!(out[0], SendOutcome::Sent { .. }));
    let counts = store.queue_counts("q", 200).unwrap();
    assert_eq!(
        (counts.visible, counts.in_flight, counts.delayed),
        (2, 0, 1)
    );
    assert_eq!(counts.oldest_ms, Some(100));
    let got = store
        .receive_messages("q", &receive(200, 1, "r1", false))
        .unwrap();
    assert_eq!(ids(&got.messages), ["m1"]);
    assert_eq!(got.messages[0].receive_count, 1);
    assert_eq!(got.messages[0].first_receive_ms, Some(200));
    assert_eq!(got.next_visible_ms, Some(1200));
    let got = store
        .receive_messages("q", &receive(300, 10, "r2", false))
        .unwrap();
    assert_eq!(ids(&got.messages), ["m2"]);
    let counts = store.queue_counts("q", 300).unwrap();
    assert_eq!(
        (counts.visible, counts.in_flight, counts.delayed),
        (0, 2, 1)
    );
    // m1 comes back after its timeout, with a new receipt.
    let got = store
        .receive_messages("q", &receive(1300, 10, "r3", false))
        .unwrap();
    assert_eq!(ids(&got.messages), ["m1", "m2"]);
    assert_eq!(got.messages[0].receive_count, 2);
    assert_eq!(got.messages[0].first_receive_ms, Some(200));
    // An old receipt deletes nothing; the latest does.
    assert!(!store.delete_message("q", "m1", "r1").unwrap());
    assert!(store.delete_message("q", "m1", "r3").unwrap());
    assert!(!store.delete_message("q", "m1", "r3").unwrap());
    // Visibility changes only while in flight under the latest receipt.
    assert_eq!(
        store
            .change_visibility("q", "m2", "r3", 1400, 1350)
            .unwrap(),
        VisibilityChange::Changed
    );
    assert_eq!(
        store
            .change_visibility("q", "m2", "r2", 1400, 1350)
            .unwrap(),
        VisibilityChange::NotInFlight
    );
    let got = store
        .receive_messages("q", &receive(1400, 10, "r4", false))
        .unwrap();
    assert_eq!(ids(&got.messages), ["m2"]);
    assert_eq!(
        store
            .change_visibility("q", "m2", "r4", 1400, 5000)
            .unwrap(),
        VisibilityChange::NotInFlight
    );
    // Expired messages are dropped.
    let mut req = receive(6000, 10, "r5", false);
    req.expire_before_ms = 101;
    assert!(
        store
            .receive_messages("q", &req)
            .unwrap()
            .messages
            .is_empty()
    );
    assert_eq!(store.queue_counts("q", 6000).unwrap().visible, 0);
    store
        .send_messages("q", &[message("p", None, None, 7000)], 0)
        .unwrap();
    assert_eq!(store.purge_queue("q").unwrap(), 1);
}

/// FIFO: deduplication ids within the window, groups in order, a group
/// locked while any of its messages is in flight; redrive moves a message
/// received too often to the dead-letter queue.
pub(crate) fn queue_fifo_and_redrive(store: &dyn Store) {
    store.create_queue(&queue("f.fifo")).unwrap();
    store.create_queue(&queue("dlq.fifo")).unwrap();
    let out = store
        .send_messages(
            "f.fifo",
            &[
                message("a1", Some("a"), Some("x1"), 100),
                message("a2", Some("a"), Some("x2"), 100),
                message("b1", Some("b"), Some("x3"), 100),
                message("dup", Some("a"), Some("x1"), 100),
            ],
            0,
        )
        .unwrap();
    let SendOutcome::Sent { seq: first } = out[0] else {
        panic!("a1 not sent: {out:?}");
    };
    assert_eq!(
        out[3],
        SendOutcome::Duplicate {
            id: "a1".to_owned(),
            seq: first
        }
    );
    // Outside the window the id is new again.
    let out = store
        .send_messages("f.fifo", &[message("a3", Some("a"), Some("x1"), 500)], 400)
        .unwrap();
    assert!(matches!(out[0], SendOutcome::Sent { .. }));
    let got = store
        .receive_messages("f.fifo", &receive(600, 1, "r1", true))
        .unwrap();
    assert_eq!(ids(&got.messages), ["a1"]);
    // Group a is locked while a1 is in flight: only b1 comes.
    let got = store
        .receive_messages("f.fifo", &receive(600, 10, "r2", true))
        .unwrap();
    assert_eq!(ids(&got.messages), ["b1"]);
    assert!(
        store
            .receive_messages("f.fifo", &receive(700, 10, "r3", true))
            .unwrap()
            .messages
            .is_empty()
    );
    assert!(store.delete_message("f.fifo", "a1", "r1").unwrap());
    let got = store
        .receive_messages("f.fifo", &receive(700, 10, "r4", true))
        .unwrap();
    assert_eq!(ids(&got.messages), ["a2", "a3"]);
    // Redrive: with maxReceiveCount 2, b1 (received twice after this) moves
    // to the dead-letter queue on the next receive; a2 and a3 (once) come.
    let mut req = receive(1600, 10, "r5", true);
    req.redrive = Some(("dlq.fifo".to_owned(), 2));
    let got = store.receive_messages("f.fifo", &req).unwrap();
    assert_eq!(ids(&got.messages), ["b1"]);
    assert_eq!(got.messages[0].receive_count, 2);
    req.now_ms = 3000;
    let got = store.receive_messages("f.fifo", &req).unwrap();
    assert_eq!(ids(&got.messages), ["a2", "a3"]);
    let got = store
        .receive_messages("dlq.fifo", &receive(3000, 10, "r6", true))
        .unwrap();
    assert_eq!(ids(&got.messages), ["b1"]);
    req.now_ms = 5000;
    assert!(
        store
            .receive_messages("f.fifo", &req)
            .unwrap()
            .messages
            .is_empty()
    );
    let got = store
        .receive_messages("dlq.fifo", &receive(5000, 10, "r7", true))
        .unwrap();
    assert_eq!(ids(&got.messages), ["b1", "a2", "a3"]);
    assert_eq!(got.messages[1].receive_count, 1);
    assert_eq!(got.messages[1].body, "body of a2");
}

/// A move takes an in-flight message out of its queue and stores it in
/// another in one step: only under its latest receipt, and never twice.
pub(crate) fn queue_message_moves(store: &dyn Store) {
    store.create_queue(&queue("dlq")).unwrap();
    store.create_queue(&queue("src")).unwrap();
    store
        .send_messages("dlq", &[message("m1", None, None, 100)], 0)
        .unwrap();
    let got = store
        .receive_messages("dlq", &receive(200, 1, "r1", false))
        .unwrap();
    let mut moved = got.messages[0].clone();
    moved.queue = "src".to_owned();
    moved.receipt = None;
    moved.receive_count = 0;
    moved.visible_ms = 200;
    // A stale receipt moves nothing.
    assert!(!store.move_message("dlq", "m1", "r0", &moved).unwrap());
    assert!(store.move_message("dlq", "m1", "r1", &moved).unwrap());
    assert!(!store.move_message("dlq", "m1", "r1", &moved).unwrap());
    assert_eq!(store.queue_counts("dlq", 300).unwrap().visible, 0);
    assert_eq!(store.queue_counts("dlq", 300).unwrap().in_flight, 0);
    let got = store
        .receive_messages("src", &receive(300, 10, "r2", false))
        .unwrap();
    assert_eq!(ids(&got.messages), ["m1"]);
    assert_eq!(got.messages[0].body, "body of m1");
    assert_eq!(got.messages[0].receive_count, 1);
    // A destination that is gone keeps the message where it was.
    store
        .send_messages("dlq", &[message("m2", None, None, 400)], 0)
        .unwrap();
    let got = store
        .receive_messages("dlq", &receive(500, 1, "r3", false))
        .unwrap();
    let mut lost = got.messages[0].clone();
    lost.queue = "gone".to_owned();
    assert!(matches!(
        store.move_message("dlq", "m2", "r3", &lost),
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(store.queue_counts("dlq", 500).unwrap().in_flight, 1);
}
