//! The behaviour every [`Store`] backend must show, as a suite any backend
//! runs from its own tests: the SQLite backend's are in
//! `crates/store/tests/sqlite.rs`; a PostgreSQL backend (or any other) does
//! the same with a factory of empty stores:
//!
//! ```no_run
//! # use lambdad_store::{SqliteStore, Store};
//! lambdad_store::conformance::run_all(|| {
//!     Box::new(SqliteStore::in_memory().unwrap()) as Box<dyn Store>
//! });
//! ```
//!
//! [`run_all`] runs each of [`CHECKS`] on a fresh store from the factory and
//! panics naming the check that failed. The checks cover functions
//! (create, conflicts, listing order and pagination, RevisionId
//! preconditions, usage, code in use), versions and aliases, provisioned and
//! reserved concurrency going with their function, the asynchronous event
//! queue (enqueue, lease, reschedule, delete), layers (numbers never reused,
//! policies), function URLs and resource policies, documents, and the
//! object store's buckets, objects (events queued with them) and multipart
//! uploads, stream checkpoints, the built-in SNS topics, and the built-in SQS queues (visibility,
//! receipts, FIFO deduplication and group locking, redrive).
//! [`function_record`] and [`layer_record`] build the records they use, for
//! a backend's own further tests.
//!
//! The suite needs nothing beyond the crate's own dependencies, so it is
//! always compiled (it is dead code in the server binary).

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

use lambdad_model::function::*;

use crate::{
    AliasRecord, AsyncEvent, FunctionRecord, GatewayApiRecord, LayerVersionRecord, PolicyRecord,
    ProvisionedRecord, Store, StoreError, UrlConfigRecord,
};

/// One check: a name and a function that panics when `store` misbehaves.
pub type Check = (&'static str, fn(&dyn Store));

/// Every check of the suite, in the order [`run_all`] runs them.
pub const CHECKS: &[Check] = &[
    ("functions", functions),
    ("image_functions", image_functions),
    ("versions_and_aliases", versions_and_aliases),
    ("async_queue", async_queue),
    ("layers", layers),
    ("urls_and_policies", urls_and_policies),
    ("documents", documents),
    ("gateway_apis", gateway_apis),
    ("objects", crate::conformance_objects::objects),
    (
        "multipart_uploads",
        crate::conformance_objects::multipart_uploads,
    ),
    (
        "stream_checkpoints",
        crate::conformance_streams::stream_checkpoints,
    ),
    ("queues", crate::conformance_queues::queues),
    ("queue_messages", crate::conformance_queues::queue_messages),
    (
        "queue_message_moves",
        crate::conformance_queues::queue_message_moves,
    ),
    (
        "queue_fifo_and_redrive",
        crate::conformance_queues::queue_fifo_and_redrive,
    ),
    ("topics", crate::conformance_topics::topics),
    (
        "topic_deliveries",
        crate::conformance_topics::topic_deliveries,
    ),
    (
        "topic_deduplication",
        crate::conformance_topics::topic_deduplication,
    ),
];

/// Runs every check of [`CHECKS`], each on a new empty store from `make`;
/// panics at the first failure, naming the check.
pub fn run_all(make: impl Fn() -> Box<dyn Store>) {
    for (name, check) in CHECKS {
        let store = make();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(store.as_ref()))) {
            eprintln!("store conformance check `{name}` failed");
            resume_unwind(panic);
        }
    }
}

/// The `$LATEST` record of function `name` at RevisionId `revision` the
/// checks store: 128 MB, code size 10, code key `hex-NAME`, one layer
/// archive `layer-of-NAME`, tag `k=v`.
pub fn function_record(name: &str, revision: &str) -> FunctionRecord {
    FunctionRecord {
        config: FunctionConfiguration {
            function_name: name.to_owned(),
            function_arn: format!("arn:aws:lambda:us-east-1:000000000000:function:{name}"),
            runtime: Some("provided.al2023".to_owned()),
            role: "arn:aws:iam::000000000000:role/r".to_owned(),
            handler: Some("bootstrap".to_owned()),
            code_size: 10,
            code_sha256: "x".to_owned(),
            description: String::new(),
            timeout: 3,
            memory_size: 128,
            last_modified: "2026-01-01T00:00:00.000+0000".to_owned(),
            version: "$LATEST".to_owned(),
            revision_id: revision.to_owned(),
            environment: None,
            tracing_config: TracingConfig {
                mode: "PassThrough".to_owned(),
            },
            package_type: "Zip".to_owned(),
            architectures: vec!["x86_64".to_owned()],
            ephemeral_storage: EphemeralStorage { size: 512 },
            snap_start: SnapStartResponse {
                apply_on: "None".to_owned(),
                optimization_status: "Off".to_owned(),
            },
            logging_config: LoggingConfig::default(),
            layers: None,
            dead_letter_config: None,
            kms_key_arn: None,
            state: Some("Active".to_owned()),
            state_reason: None,
            state_reason_code: None,
            last_update_status: Some("Successful".to_owned()),
            last_update_status_reason: None,
            last_update_status_reason_code: None,
            runtime_version_config: None,
            image_config_response: None,
        },
        tags: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
        code_hex: format!("hex-{name}"),
        layer_code: vec![format!("layer-of-{name}")],
        image: None,
    }
}

/// The layer version the checks publish (code key `lhex-NAME`).
pub fn layer_record(name: &str) -> LayerVersionRecord {
    LayerVersionRecord {
        name: name.to_owned(),
        version: 0,
        description: String::new(),
        created_date: "2026-01-01T00:00:00.000+0000".to_owned(),
        compatible_runtimes: vec!["python3.12".to_owned()],
        compatible_architectures: Vec::new(),
        license_info: None,
        code_sha256: "s".to_owned(),
        code_size: 1,
        code_hex: format!("lhex-{name}"),
        policy: None,
        policy_revision: "p0".to_owned(),
    }
}

fn layers(store: &dyn Store) {
    assert_eq!(store.publish_layer_version(&layer_record("l")).unwrap(), 1);
    assert_eq!(store.publish_layer_version(&layer_record("l")).unwrap(), 2);
    assert_eq!(store.publish_layer_version(&layer_record("m")).unwrap(), 1);
    assert!(store.delete_layer_version("l", 2).unwrap());
    assert!(!store.delete_layer_version("l", 2).unwrap());
    assert_eq!(
        store.publish_layer_version(&layer_record("l")).unwrap(),
        3,
        "numbers are never reused"
    );
    let versions: Vec<u64> = store
        .list_layer_versions("l")
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(versions, [3, 1]);
    let latest: Vec<(String, u64)> = store
        .list_layers()
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.version))
        .collect();
    assert_eq!(latest, [("l".to_owned(), 3), ("m".to_owned(), 1)]);
    let mut v1 = store.get_layer_version("l", 1).unwrap().unwrap();
    v1.policy = Some("[]".to_owned());
    v1.policy_revision = "p1".to_owned();
    assert!(matches!(
        store.update_layer_policy(&v1, "stale"),
        Err(StoreError::RevisionMismatch { .. })
    ));
    store.update_layer_policy(&v1, "p0").unwrap();
    assert_eq!(
        store
            .get_layer_version("l", 1)
            .unwrap()
            .unwrap()
            .policy_revision,
        "p1"
    );
    assert!(store.code_in_use("lhex-l").unwrap());
    assert!(!store.code_in_use("layer-of-b").unwrap());
    store.create_function(&function_record("b", "r1")).unwrap();
    assert!(
        store.code_in_use("layer-of-b").unwrap(),
        "a function's layer keeps its archive"
    );
}

fn versions_and_aliases(store: &dyn Store) {
    store.create_function(&function_record("v", "r1")).unwrap();
    let stale = store.publish_version(&function_record("v", "r1"), "stale");
    assert!(
        matches!(stale, Err(StoreError::RevisionMismatch { .. })),
        "{stale:?}"
    );
    assert_eq!(
        store
            .publish_version(&function_record("v", "r1"), "r1")
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .publish_version(&function_record("v", "r1"), "r1")
            .unwrap(),
        2
    );
    assert!(store.delete_version("v", 2).unwrap());
    assert_eq!(
        store
            .publish_version(&function_record("v", "r1"), "r1")
            .unwrap(),
        3,
        "numbers are not reused"
    );
    let v1 = store.get_version("v", 1).unwrap().unwrap();
    assert_eq!(v1.config.version, "1");
    assert!(v1.config.function_arn.ends_with(":function:v:1"));
    let listed: Vec<String> = store
        .list_versions("v")
        .unwrap()
        .into_iter()
        .map(|r| r.config.version)
        .collect();
    assert_eq!(listed, ["1", "3"]);
    let alias = AliasRecord {
        function: "v".into(),
        name: "live".into(),
        function_version: "1".into(),
        description: String::new(),
        weights: Default::default(),
        revision_id: "a1".into(),
    };
    store.create_alias(&alias).unwrap();
    assert!(matches!(
        store.create_alias(&alias),
        Err(StoreError::AlreadyExists { .. })
    ));
    let moved = AliasRecord {
        function_version: "3".into(),
        revision_id: "a2".into(),
        ..alias.clone()
    };
    assert!(matches!(
        store.update_alias(&moved, "stale"),
        Err(StoreError::RevisionMismatch { .. })
    ));
    store.update_alias(&moved, "a1").unwrap();
    assert_eq!(
        store
            .get_alias("v", "live")
            .unwrap()
            .unwrap()
            .function_version,
        "3"
    );
    assert_eq!(store.list_aliases("v").unwrap().len(), 1);
    assert!(store.code_in_use("hex-v").unwrap());
    let p = ProvisionedRecord {
        function: "v".into(),
        qualifier: "live".into(),
        requested: 2,
        last_modified: "t".into(),
    };
    store.set_provisioned(&p).unwrap();
    store
        .set_provisioned(&ProvisionedRecord {
            requested: 3,
            ..p.clone()
        })
        .unwrap();
    assert_eq!(store.list_provisioned(Some("v")).unwrap()[0].requested, 3);
    assert_eq!(store.list_provisioned(None).unwrap().len(), 1);
    store.set_reserved_concurrency("v", Some(5)).unwrap();
    store.set_reserved_concurrency("v", Some(7)).unwrap();
    assert_eq!(store.reserved_concurrency().unwrap(), [("v".to_owned(), 7)]);
    assert!(store.delete_function("v").unwrap());
    assert!(
        store.get_version("v", 1).unwrap().is_none()
            && store.get_alias("v", "live").unwrap().is_none()
    );
    assert!(
        store.reserved_concurrency().unwrap().is_empty(),
        "reservations go with the function"
    );
    assert!(
        store.list_provisioned(None).unwrap().is_empty(),
        "provisioned configs go with the function"
    );
    store.create_function(&function_record("v", "r1")).unwrap();
    assert_eq!(
        store
            .publish_version(&function_record("v", "r1"), "r1")
            .unwrap(),
        1,
        "a new function starts again at 1"
    );
    assert!(store.delete_function("v").unwrap());
}

fn async_queue(store: &dyn Store) {
    let event = |id: &str, not_before_ms| AsyncEvent {
        id: id.into(),
        function: "q".into(),
        qualifier: None,
        payload: b"{}".to_vec(),
        received_ms: not_before_ms - 5,
        attempts: 0,
        not_before_ms,
    };
    assert_eq!(store.oldest_event_ms().unwrap(), None);
    store.enqueue_events(&[event("e1", 10)]).unwrap();
    store.enqueue_events(&[event("e2", 50)]).unwrap();
    // A batch is all or nothing: a duplicate id fails it, and none of it stays.
    assert!(
        store
            .enqueue_events(&[event("b1", 60), event("e1", 60)])
            .is_err()
    );
    store
        .enqueue_events(&[event("b1", 60), event("b2", 60)])
        .unwrap();
    store
        .delete_events(&["b1".to_owned(), "b2".to_owned()])
        .unwrap();
    assert_eq!(store.oldest_event_ms().unwrap(), Some(5));
    assert!(
        store.lease_events(5, 100, 10).unwrap().is_empty(),
        "nothing due yet"
    );
    let leased = store.lease_events(20, 100, 10).unwrap();
    assert_eq!(
        leased.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["e1"]
    );
    assert!(
        store
            .lease_events(60, 100, 10)
            .unwrap()
            .iter()
            .all(|e| e.id == "e2"),
        "a leased event is not handed out twice"
    );
    assert_eq!(
        store.lease_events(200, 100, 10).unwrap().len(),
        2,
        "expired leases are due again"
    );
    store.lease_events(300, 10_000, 10).unwrap();
    assert!(store.lease_events(400, 10_000, 10).unwrap().is_empty());
    assert_eq!(
        store.release_leases().unwrap(),
        2,
        "a restart makes leased events due again"
    );
    store.reschedule_event("e1", 1, 1000).unwrap();
    assert!(
        store
            .lease_events(999, 1, 10)
            .unwrap()
            .iter()
            .all(|e| e.id != "e1"),
        "rescheduled into the future"
    );
    let again = store.lease_events(1000, 100, 10).unwrap();
    let e1 = again
        .iter()
        .find(|e| e.id == "e1")
        .expect("e1 is due again");
    assert_eq!(e1.attempts, 1);
    store.delete_events(&["e1".to_owned()]).unwrap();
    store.delete_events(&["e2".to_owned()]).unwrap();
    store.delete_events(&[]).unwrap();
    assert_eq!(store.pending_events().unwrap(), 0);
}

fn functions(store: &dyn Store) {
    store.create_function(&function_record("b", "r1")).unwrap();
    store.create_function(&function_record("a", "r1")).unwrap();
    assert!(matches!(
        store.create_function(&function_record("a", "r2")),
        Err(StoreError::AlreadyExists { .. })
    ));
    assert_eq!(
        store.get_function("a").unwrap().unwrap(),
        function_record("a", "r1")
    );
    assert!(store.get_function("zz").unwrap().is_none());

    let names = |v: Vec<FunctionRecord>| {
        v.into_iter()
            .map(|r| r.config.function_name)
            .collect::<Vec<_>>()
    };
    assert_eq!(names(store.list_functions(None, 10).unwrap()), ["a", "b"]);
    assert_eq!(names(store.list_functions(None, 1).unwrap()), ["a"]);
    assert_eq!(names(store.list_functions(Some("a"), 10).unwrap()), ["b"]);

    let updated = function_record("a", "r2");
    assert!(matches!(
        store.update_function(&updated, "stale"),
        Err(StoreError::RevisionMismatch { .. })
    ));
    store.update_function(&updated, "r1").unwrap();
    assert_eq!(
        store.get_function("a").unwrap().unwrap().config.revision_id,
        "r2"
    );

    assert_eq!(store.usage().unwrap(), (2, 20));
    assert!(store.code_in_use("hex-a").unwrap());
    assert!(store.delete_function("a").unwrap());
    assert!(!store.delete_function("a").unwrap());
    assert!(!store.code_in_use("hex-a").unwrap());
    assert_eq!(
        store.get_function("b").unwrap().unwrap(),
        function_record("b", "r1")
    );
}

/// A container image function's image (with sealed variables too) comes
/// back from `$LATEST` and from its published versions.
fn image_functions(store: &dyn Store) {
    let mut rec = function_record("img", "r1");
    rec.config.package_type = "Image".to_owned();
    rec.config.environment = Some(Environment {
        variables: BTreeMap::from([("SECRET".to_owned(), "s".to_owned())]),
    });
    rec.code_hex = "image-abc".to_owned();
    rec.image = Some(ImageCode {
        image_uri: "127.0.0.1:5000/f:v1".to_owned(),
        resolved_image_uri: "127.0.0.1:5000/f@sha256:abc".to_owned(),
        entrypoint: vec!["/bootstrap".to_owned()],
        cmd: vec!["app.handler".to_owned()],
        env: vec!["A=b".to_owned()],
        working_dir: "/var/task".to_owned(),
    });
    store.create_function(&rec).unwrap();
    assert_eq!(store.get_function("img").unwrap().unwrap(), rec);
    let mut updated = rec.clone();
    updated.config.revision_id = "r2".to_owned();
    if let Some(i) = updated.image.as_mut() {
        i.image_uri = "127.0.0.1:5000/f:v2".to_owned();
    }
    store.update_function(&updated, "r1").unwrap();
    assert_eq!(store.get_function("img").unwrap().unwrap(), updated);
    assert_eq!(store.publish_version(&updated, "r2").unwrap(), 1);
    let v1 = store.get_version("img", 1).unwrap().unwrap();
    assert_eq!(v1.image, updated.image);
    assert_eq!(v1.config.environment, updated.config.environment);
    assert!(store.code_in_use("image-abc").unwrap());
    assert!(store.get_function("a").unwrap().is_none());
}

fn url_config(function: &str, qualifier: &str, id: &str) -> UrlConfigRecord {
    UrlConfigRecord {
        function: function.into(),
        qualifier: qualifier.into(),
        url_id: id.into(),
        auth_type: "NONE".into(),
        cors: None,
        invoke_mode: "BUFFERED".into(),
        creation_time: "t0".into(),
        last_modified_time: "t0".into(),
    }
}

fn urls_and_policies(store: &dyn Store) {
    store.create_function(&function_record("f", "r1")).unwrap();
    let latest = url_config("f", "$LATEST", "id1");
    store.create_url_config(&latest).unwrap();
    assert!(matches!(
        store.create_url_config(&latest),
        Err(StoreError::AlreadyExists { .. })
    ));
    // URL ids are unique across functions.
    assert!(
        store
            .create_url_config(&url_config("g", "$LATEST", "id1"))
            .is_err()
    );
    store
        .create_url_config(&url_config("f", "live", "id2"))
        .unwrap();
    let mut changed = latest.clone();
    changed.auth_type = "AWS_IAM".into();
    assert!(store.update_url_config(&changed).unwrap());
    assert!(
        !store
            .update_url_config(&url_config("f", "nope", "id3"))
            .unwrap()
    );
    assert_eq!(store.url_config_by_id("id1").unwrap().unwrap(), changed);
    assert_eq!(
        store.get_url_config("f", "live").unwrap().unwrap().url_id,
        "id2"
    );
    let list: Vec<_> = store
        .list_url_configs("f")
        .unwrap()
        .into_iter()
        .map(|u| u.qualifier)
        .collect();
    assert_eq!(list, ["$LATEST", "live"]);

    assert_eq!(store.get_policy("f", "$LATEST").unwrap(), None);
    let p1 = PolicyRecord {
        statements: "[1]".into(),
        revision_id: "p1".into(),
    };
    store.set_policy("f", "$LATEST", Some(&p1), None).unwrap();
    assert!(matches!(
        store.set_policy("f", "$LATEST", Some(&p1), None),
        Err(StoreError::RevisionMismatch { .. })
    ));
    let p2 = PolicyRecord {
        statements: "[1,2]".into(),
        revision_id: "p2".into(),
    };
    store
        .set_policy("f", "$LATEST", Some(&p2), Some("p1"))
        .unwrap();
    assert_eq!(store.get_policy("f", "$LATEST").unwrap().unwrap(), p2);
    store.set_policy("f", "live", Some(&p1), None).unwrap();

    // Deleting an alias takes its URL and policy along; deleting the function, everything.
    store
        .create_alias(&AliasRecord {
            function: "f".into(),
            name: "live".into(),
            function_version: "$LATEST".into(),
            description: String::new(),
            weights: Default::default(),
            revision_id: "a1".into(),
        })
        .unwrap();
    assert!(store.delete_alias("f", "live").unwrap());
    assert_eq!(store.get_url_config("f", "live").unwrap(), None);
    assert_eq!(store.get_policy("f", "live").unwrap(), None);
    assert!(store.delete_url_config("f", "$LATEST").unwrap());
    assert!(!store.delete_url_config("f", "$LATEST").unwrap());
    store.create_url_config(&latest).unwrap();
    assert!(store.delete_function("f").unwrap());
    assert_eq!(store.url_config_by_id("id1").unwrap(), None);
    assert_eq!(store.get_policy("f", "$LATEST").unwrap(), None);
}

fn documents(store: &dyn Store) {
    assert_eq!(store.get_doc("rule", "a").unwrap(), None);
    store.put_doc("rule", "b", Some("{\"n\":2}")).unwrap();
    store.put_doc("rule", "a", Some("{\"n\":1}")).unwrap();
    store.put_doc("other", "a", Some("x")).unwrap();
    store.put_doc("rule", "a", Some("{\"n\":3}")).unwrap();
    assert_eq!(
        store.get_doc("rule", "a").unwrap().as_deref(),
        Some("{\"n\":3}")
    );
    let keys: Vec<String> = store
        .list_docs("rule")
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys, ["a", "b"]);
    store.put_doc("rule", "a", None).unwrap();
    assert_eq!(store.get_doc("rule", "a").unwrap(), None);
    assert_eq!(store.get_doc("other", "a").unwrap().as_deref(), Some("x"));
}

fn gateway_api(id: &str, revision: &str, body: &str) -> GatewayApiRecord {
    GatewayApiRecord {
        api_id: id.into(),
        revision: revision.into(),
        body: body.into(),
    }
}

fn gateway_apis(store: &dyn Store) {
    assert_eq!(store.get_gateway_api("a").unwrap(), None);
    store
        .create_gateway_api(&gateway_api("b", "r1", "{}"))
        .unwrap();
    store
        .create_gateway_api(&gateway_api("a", "r1", "{\"n\":1}"))
        .unwrap();
    assert!(matches!(
        store.create_gateway_api(&gateway_api("a", "r9", "{}")),
        Err(StoreError::AlreadyExists { .. })
    ));
    let ids: Vec<String> = store
        .list_gateway_apis()
        .unwrap()
        .into_iter()
        .map(|a| a.api_id)
        .collect();
    assert_eq!(ids, ["a", "b"]);
    store
        .update_gateway_api(&gateway_api("a", "r2", "{\"n\":2}"), "r1")
        .unwrap();
    // A writer that read revision r1 lost the race and must read again.
    assert!(matches!(
        store.update_gateway_api(&gateway_api("a", "r3", "{\"n\":3}"), "r1"),
        Err(StoreError::RevisionMismatch { .. })
    ));
    assert_eq!(
        store.get_gateway_api("a").unwrap(),
        Some(gateway_api("a", "r2", "{\"n\":2}"))
    );
    assert!(store.delete_gateway_api("a").unwrap());
    assert!(!store.delete_gateway_api("a").unwrap());
    assert!(matches!(
        store.update_gateway_api(&gateway_api("a", "r4", "{}"), "r2"),
        Err(StoreError::RevisionMismatch { .. })
    ));
    assert_eq!(store.get_gateway_api("a").unwrap(), None);
}
