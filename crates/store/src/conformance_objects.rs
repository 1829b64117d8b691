//! The conformance checks of the built-in object store (listed in the
//! conformance CHECKS list): buckets, objects with the events queued
//! with them, and multipart uploads.

use crate::{AsyncEvent, Store, StoreError};

fn object_record(bucket: &str, key: &str, blob: &str) -> crate::objects::ObjectRecord {
    crate::objects::ObjectRecord {
        bucket: bucket.into(),
        key: key.into(),
        blob: blob.into(),
        size: 3,
        etag: "abc".into(),
        modified_ms: 1,
        meta: "{}".into(),
    }
}

pub(crate) fn objects(store: &dyn Store) {
    use crate::objects::{BucketDelete, BucketRecord, ObjectWrite};
    let bucket = BucketRecord {
        name: "b1".into(),
        region: "us-east-1".into(),
        created_ms: 5,
        notification: None,
    };
    store.create_bucket(&bucket).unwrap();
    assert!(matches!(
        store.create_bucket(&bucket),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(store.get_bucket("b1").unwrap(), Some(bucket.clone()));
    assert_eq!(store.get_bucket("nope").unwrap(), None);
    assert!(
        store
            .set_bucket_notification("b1", Some("{\"x\":1}"))
            .unwrap()
    );
    assert!(!store.set_bucket_notification("nope", None).unwrap());
    assert_eq!(
        store.list_buckets().unwrap()[0].notification.as_deref(),
        Some("{\"x\":1}")
    );
    // A missing bucket takes no object, and queues no event.
    let event = AsyncEvent {
        id: "ev1".into(),
        function: "f".into(),
        qualifier: None,
        payload: b"{}".to_vec(),
        received_ms: 1,
        attempts: 0,
        not_before_ms: 1,
    };
    assert_eq!(
        store
            .put_object(
                &object_record("nope", "k", "x"),
                std::slice::from_ref(&event)
            )
            .unwrap(),
        ObjectWrite::Missing
    );
    assert_eq!(store.pending_events().unwrap(), 0);
    // The event commits with the object.
    assert_eq!(
        store
            .put_object(
                &object_record("b1", "a/1", "blob1"),
                std::slice::from_ref(&event)
            )
            .unwrap(),
        ObjectWrite::Written { replaced: None }
    );
    assert_eq!(store.pending_events().unwrap(), 1);
    assert_eq!(
        store
            .put_object(&object_record("b1", "a/1", "blob2"), &[])
            .unwrap(),
        ObjectWrite::Written {
            replaced: Some("blob1".into())
        }
    );
    for key in ["a/2", "b", "a/\u{e9}", "ab"] {
        store
            .put_object(&object_record("b1", key, key), &[])
            .unwrap();
    }
    assert_eq!(
        store.get_object("b1", "a/1").unwrap().unwrap().blob,
        "blob2"
    );
    assert_eq!(store.get_object("b1", "zzz").unwrap(), None);
    let keys = |prefix: &str, after: &str, limit| -> Vec<String> {
        store
            .list_objects("b1", prefix, after, limit)
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect()
    };
    // Bytewise order, prefix by bytes.
    assert_eq!(keys("", "", 100), ["a/1", "a/2", "a/\u{e9}", "ab", "b"]);
    assert_eq!(keys("a/", "", 100), ["a/1", "a/2", "a/\u{e9}"]);
    assert_eq!(keys("a/", "a/1", 1), ["a/2"]);
    assert_eq!(keys("", "ab", 100), ["b"]);
    assert_eq!(store.delete_bucket("b1").unwrap(), BucketDelete::NotEmpty);
    let second = AsyncEvent {
        id: "ev2".into(),
        ..event
    };
    let gone = store
        .delete_object("b1", "a/1", std::slice::from_ref(&second))
        .unwrap();
    assert_eq!(gone.unwrap().blob, "blob2");
    assert_eq!(store.pending_events().unwrap(), 2);
    // Deleting what is not there queues nothing.
    assert_eq!(store.delete_object("b1", "a/1", &[second]).unwrap(), None);
    assert_eq!(store.pending_events().unwrap(), 2);
    for key in ["a/2", "b", "a/\u{e9}", "ab"] {
        assert!(store.delete_object("b1", key, &[]).unwrap().is_some());
    }
    assert_eq!(store.delete_bucket("b1").unwrap(), BucketDelete::Deleted);
    assert_eq!(store.delete_bucket("b1").unwrap(), BucketDelete::Missing);
    assert!(store.list_buckets().unwrap().is_empty());
}

pub(crate) fn multipart_uploads(store: &dyn Store) {
    use crate::objects::{BucketDelete, BucketRecord, ObjectWrite, PartRecord, UploadRecord};
    store
        .create_bucket(&BucketRecord {
            name: "b".into(),
            region: "us-east-1".into(),
            created_ms: 1,
            notification: None,
        })
        .unwrap();
    let upload = UploadRecord {
        id: "u1".into(),
        bucket: "b".into(),
        key: "big".into(),
        created_ms: 2,
        meta: "{}".into(),
    };
    store.create_upload(&upload).unwrap();
    assert_eq!(store.get_upload("u1").unwrap(), Some(upload.clone()));
    assert_eq!(store.list_uploads("b").unwrap(), [upload]);
    // An upload keeps its bucket from being deleted.
    assert_eq!(store.delete_bucket("b").unwrap(), BucketDelete::NotEmpty);
    let part = |number, blob: &str| PartRecord {
        upload_id: "u1".into(),
        number,
        blob: blob.into(),
        size: 5,
        etag: "e".into(),
        modified_ms: 3,
    };
    assert_eq!(
        store.put_part(&part(2, "p2")).unwrap(),
        ObjectWrite::Written { replaced: None }
    );
    store.put_part(&part(1, "p1")).unwrap();
    assert_eq!(
        store.put_part(&part(1, "p1b")).unwrap(),
        ObjectWrite::Written {
            replaced: Some("p1".into())
        }
    );
    assert_eq!(
        store
            .put_part(&PartRecord {
                upload_id: "nope".into(),
                ..part(1, "x")
            })
            .unwrap(),
        ObjectWrite::Missing
    );
    let numbers: Vec<u32> = store
        .list_parts("u1")
        .unwrap()
        .iter()
        .map(|p| p.number)
        .collect();
    assert_eq!(numbers, [1, 2]);
    let object = object_record("b", "big", "whole");
    assert_eq!(
        store.complete_upload("u1", &object, &[]).unwrap(),
        ObjectWrite::Written { replaced: None }
    );
    assert_eq!(store.get_upload("u1").unwrap(), None);
    assert!(store.list_parts("u1").unwrap().is_empty());
    assert_eq!(store.get_object("b", "big").unwrap(), Some(object.clone()));
    assert!(store.blobs_in_use().unwrap().contains("whole"));
    // Completing twice finds no upload.
    assert_eq!(
        store.complete_upload("u1", &object, &[]).unwrap(),
        ObjectWrite::Missing
    );
    let aborted = UploadRecord {
        id: "u2".into(),
        bucket: "b".into(),
        key: "k".into(),
        created_ms: 4,
        meta: "{}".into(),
    };
    store.create_upload(&aborted).unwrap();
    store
        .put_part(&PartRecord {
            upload_id: "u2".into(),
            ..part(1, "q1")
        })
        .unwrap();
    let parts = store.delete_upload("u2").unwrap().unwrap();
    assert_eq!(parts[0].blob, "q1");
    assert_eq!(store.delete_upload("u2").unwrap(), None);
}
