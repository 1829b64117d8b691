//! The PostgreSQL backend against a live server
//! (`postgres://root@127.0.0.1:5432/test`, or `LAMBDAD_TEST_POSTGRES`): the
//! public conformance suite, each check in a fresh schema (dropped
//! afterwards), and what only a shared server shows: data outlives the
//! store, migrations run once when several stores start together,
//! concurrent writers never share a version number or an event lease, and
//! environment variables are sealed in the database; and the cluster
//! conformance suite (code blobs, change log, membership).
//!
//! Without a server the tests fail under `CI=true` (CI always has one) and
//! say so and pass elsewhere.

use std::collections::BTreeSet;
use std::sync::Mutex;

use lambdad_model::function::Environment;
use lambdad_store::conformance::{self, function_record};
use lambdad_store::{AsyncEvent, PgStore, Store};

fn url() -> String {
    std::env::var("LAMBDAD_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://root@127.0.0.1:5432/test".to_owned())
}

/// Runs `sql` on the server outside any store; its rows' first columns as text.
fn admin(sql: &str) -> Result<Vec<String>, tokio_postgres::Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url(), tokio_postgres::NoTls).await?;
        let driver = tokio::spawn(conn);
        let rows = client.simple_query(sql).await?;
        drop(client);
        let _ = driver.await;
        Ok(rows
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
                _ => None,
            })
            .collect())
    })
}

/// Whether the server answers. Under CI it must: a failure to connect fails the test.
fn server() -> bool {
    match admin("SELECT 1") {
        Ok(_) => true,
        Err(e) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("PostgreSQL at {} is required in CI: {e}", url())
        }
        Err(e) => {
            eprintln!("no PostgreSQL at {} ({e}); not running this test", url());
            false
        }
    }
}

/// Fresh schema names, dropped (with everything in them) when this goes.
struct Schemas(Mutex<Vec<String>>);

impl Schemas {
    fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }

    fn fresh(&self) -> String {
        let name = format!("lambdad_test_{}", uuid::Uuid::new_v4().simple());
        self.0.lock().unwrap().push(name.clone());
        name
    }
}

impl Drop for Schemas {
    fn drop(&mut self) {
        for s in self.0.lock().unwrap().drain(..) {
            if let Err(e) = admin(&format!("DROP SCHEMA IF EXISTS \"{s}\" CASCADE")) {
                eprintln!("cannot drop schema {s}: {e}");
            }
        }
    }
}

fn store_in(schema: &str, key_dir: &std::path::Path) -> PgStore {
    PgStore::connect(&url(), Some(schema), &key_dir.join("meta.key")).expect("connecting")
}

#[test]
fn postgres_conforms() {
    if !server() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let schemas = Schemas::new();
    conformance::run_all(|| Box::new(store_in(&schemas.fresh(), keys.path())));
    assert_eq!(schemas.0.lock().unwrap().len(), conformance::CHECKS.len());
}

#[test]
fn postgres_cluster_conforms() {
    if !server() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let schemas = Schemas::new();
    lambdad_store::conformance_cluster::run_all(|| {
        Box::new(store_in(&schemas.fresh(), keys.path()))
    });
}

#[test]
fn sqlite_shares_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = lambdad_store::SqliteStore::open(&dir.path().join("meta.db")).unwrap();
    assert!(sqlite.cluster().is_none());
}

#[test]
fn data_outlives_the_store_and_migrations_run_once() {
    if !server() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let schemas = Schemas::new();
    let schema = schemas.fresh();
    // The key is the data directory's (made by the first store that needs it).
    std::fs::write(keys.path().join("meta.key"), [7u8; 32]).unwrap();
    // Several stores starting together on an empty schema migrate it once.
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| drop(store_in(&schema, keys.path())));
        }
    });
    let versions = admin(&format!(
        "SELECT string_agg(version::TEXT, ',' ORDER BY version) FROM \"{schema}\".lambdad_schema"
    ))
    .unwrap();
    assert_eq!(versions, ["1,2"]);
    {
        let store = store_in(&schema, keys.path());
        store
            .create_function(&function_record("kept", "r1"))
            .unwrap();
    }
    let again = store_in(&schema, keys.path());
    assert_eq!(
        again.get_function("kept").unwrap().unwrap(),
        function_record("kept", "r1")
    );
}

#[test]
fn concurrent_writers_never_share_a_number_or_a_lease() {
    if !server() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let schemas = Schemas::new();
    let schema = schemas.fresh();
    let store = store_in(&schema, keys.path());
    store.create_function(&function_record("f", "r1")).unwrap();
    let events: Vec<AsyncEvent> = (0..200)
        .map(|i| AsyncEvent {
            id: format!("e{i}"),
            function: "f".into(),
            qualifier: None,
            payload: b"{}".to_vec(),
            received_ms: 1,
            attempts: 0,
            not_before_ms: 1,
        })
        .collect();
    store.enqueue_events(&events).unwrap();
    let numbers = Mutex::new(Vec::new());
    let leased = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    let n = store
                        .publish_version(&function_record("f", "r1"), "r1")
                        .unwrap();
                    numbers.lock().unwrap().push(n);
                }
            });
            s.spawn(|| {
                loop {
                    let got = store.lease_events(10, 60_000, 7).unwrap();
                    if got.is_empty() {
                        break;
                    }
                    leased.lock().unwrap().extend(got.into_iter().map(|e| e.id));
                }
            });
        }
    });
    let mut numbers = numbers.into_inner().unwrap();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=20).collect::<Vec<u64>>());
    let leased = leased.into_inner().unwrap();
    let unique: BTreeSet<&String> = leased.iter().collect();
    assert_eq!(leased.len(), 200, "every event leased once");
    assert_eq!(unique.len(), 200);
}

#[test]
fn environment_variables_are_sealed_in_the_database() {
    if !server() {
        return;
    }
    let keys = tempfile::tempdir().unwrap();
    let schemas = Schemas::new();
    let schema = schemas.fresh();
    let mut rec = function_record("secretive", "r1");
    rec.config.environment = Some(Environment {
        variables: [("DB_PASSWORD".to_owned(), "hunter2-very-secret".to_owned())].into(),
    });
    {
        let store = store_in(&schema, keys.path());
        store.create_function(&rec).unwrap();
        store.publish_version(&rec, "r1").unwrap();
    }
    let stored = admin(&format!(
        "SELECT config FROM \"{schema}\".functions UNION ALL SELECT config FROM \"{schema}\".versions"
    ))
    .unwrap();
    assert_eq!(stored.len(), 2);
    for config in &stored {
        assert!(!config.contains("hunter2-very-secret"), "{config}");
        assert!(!config.contains("DB_PASSWORD"), "{config}");
    }
    let store = store_in(&schema, keys.path());
    assert_eq!(store.get_function("secretive").unwrap().unwrap(), rec);
    drop(store);
    // Another data directory's key does not open them.
    let other = tempfile::tempdir().unwrap();
    assert!(
        store_in(&schema, other.path())
            .get_function("secretive")
            .is_err()
    );
}

#[test]
fn an_unreachable_server_is_an_error_not_a_hang() {
    let keys = tempfile::tempdir().unwrap();
    let err = PgStore::connect(
        "postgres://root@127.0.0.1:1/none?connect_timeout=2",
        None,
        &keys.path().join("meta.key"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("unavailable"), "{err}");
}

/// Fills `store` with one of most kinds of record.
fn fill(store: &dyn Store) {
    use lambdad_store::objects::{BucketRecord, ObjectRecord};
    use lambdad_store::queues::{MessageRecord, QueueRecord};
    use lambdad_store::topics::{DeliveryRecord, SubscriptionRecord, TopicRecord};
    let mut rec = function_record("moved", "r1");
    rec.config.environment = Some(Environment {
        variables: [("TOKEN".to_owned(), "sealed-value".to_owned())].into(),
    });
    store.create_function(&rec).unwrap();
    store.publish_version(&rec, "r1").unwrap();
    store.publish_version(&rec, "r1").unwrap();
    assert!(store.delete_version("moved", 2).unwrap());
    store
        .publish_layer_version(&conformance::layer_record("l"))
        .unwrap();
    store.put_doc("rule", "r", Some("{}")).unwrap();
    store
        .put_stream_checkpoint(&lambdad_store::StreamCheckpoint {
            mapping: "m".into(),
            shard: "s".into(),
            sequence: Some("42".into()),
            ended: true,
        })
        .unwrap();
    store
        .enqueue_events(&[AsyncEvent {
            id: "ev".into(),
            function: "moved".into(),
            qualifier: Some("1".into()),
            payload: vec![0, 159, 146, 150],
            received_ms: 3,
            attempts: 1,
            not_before_ms: 4,
        }])
        .unwrap();
    store
        .create_bucket(&BucketRecord {
            name: "b".into(),
            region: "us-east-1".into(),
            created_ms: 1,
            notification: None,
        })
        .unwrap();
    store
        .put_object(
            &ObjectRecord {
                bucket: "b".into(),
                key: "k".into(),
                blob: "blob".into(),
                size: 3,
                etag: "e".into(),
                modified_ms: 2,
                meta: "{}".into(),
            },
            &[],
        )
        .unwrap();
    store
        .create_queue(&QueueRecord {
            name: "q".into(),
            region: "us-east-1".into(),
            attributes: "{}".into(),
            tags: "{}".into(),
            created_ms: 1,
            modified_ms: 1,
        })
        .unwrap();
    let message = |id: &str| MessageRecord {
        queue: "q".into(),
        id: id.into(),
        seq: 0,
        body: "hello".into(),
        meta: "{}".into(),
        group: None,
        dedup: None,
        sent_ms: 1,
        visible_ms: 1,
        receive_count: 0,
        first_receive_ms: None,
        receipt: None,
    };
    store
        .send_messages("q", &[message("m1"), message("m2")], 0)
        .unwrap();
    store
        .create_topic(&TopicRecord {
            name: "t".into(),
            region: "us-east-1".into(),
            attributes: "{}".into(),
            tags: "{}".into(),
            created_ms: 1,
        })
        .unwrap();
    let sub = SubscriptionRecord {
        arn: "arn:aws:sns:us-east-1:000000000000:t:1".into(),
        topic: "t".into(),
        protocol: "lambda".into(),
        endpoint: "moved".into(),
        attributes: "{}".into(),
        token: None,
        created_ms: 1,
    };
    let delivery = DeliveryRecord {
        seq: 0,
        subscription: sub.arn.clone(),
        payload: "p".into(),
        attempts: 0,
        due_ms: 1,
    };
    store.create_subscription(&sub, &[delivery]).unwrap();
}

/// What `fill` stored, as `store` holds it; then its counters go on past the copied numbers.
fn check_filled(store: &dyn Store) {
    use lambdad_store::queues::{MessageRecord, ReceiveRequest, SendOutcome};
    let f = store.get_function("moved").unwrap().unwrap();
    assert_eq!(
        f.config.environment.unwrap().variables["TOKEN"],
        "sealed-value",
        "sealed variables open with the data directory's key"
    );
    assert_eq!(store.get_doc("rule", "r").unwrap().as_deref(), Some("{}"));
    let cps = store.stream_checkpoints("m").unwrap();
    assert_eq!(
        (cps[0].sequence.as_deref(), cps[0].ended),
        (Some("42"), true)
    );
    let events = store.lease_events(10, 1000, 10).unwrap();
    assert_eq!(events[0].payload, [0, 159, 146, 150]);
    assert_eq!(events[0].qualifier.as_deref(), Some("1"));
    assert_eq!(store.get_object("b", "k").unwrap().unwrap().blob, "blob");
    let got = store
        .receive_messages(
            "q",
            &ReceiveRequest {
                now_ms: 5,
                max: 10,
                visibility_ms: 1000,
                receipt: "r".into(),
                fifo: false,
                expire_before_ms: 0,
                redrive: None,
            },
        )
        .unwrap();
    let seqs: Vec<i64> = got.messages.iter().map(|m| m.seq).collect();
    assert_eq!(seqs.len(), 2);
    assert_eq!(store.lease_deliveries(5, 10, 100).unwrap().len(), 1);
    // Counters continue: no number is reused.
    let rec = function_record("moved", "r1");
    assert_eq!(store.publish_version(&rec, "r1").unwrap(), 3);
    assert_eq!(
        store
            .publish_layer_version(&conformance::layer_record("l"))
            .unwrap(),
        2
    );
    let sent = store
        .send_messages(
            "q",
            &[MessageRecord {
                queue: "q".into(),
                id: "m3".into(),
                seq: 0,
                body: "later".into(),
                meta: "{}".into(),
                group: None,
                dedup: None,
                sent_ms: 6,
                visible_ms: 6,
                receive_count: 0,
                first_receive_ms: None,
                receipt: None,
            }],
            0,
        )
        .unwrap();
    let SendOutcome::Sent { seq } = sent[0] else {
        panic!("{sent:?}")
    };
    assert!(seq > *seqs.iter().max().unwrap(), "{seq} after {seqs:?}");
}

#[test]
fn a_store_moves_from_sqlite_to_postgres_and_back() {
    if !server() {
        return;
    }
    let schemas = Schemas::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = lambdad_store::SqliteStore::open(&dir.path().join("meta.db")).unwrap();
    fill(&sqlite);
    let pg = store_in(&schemas.fresh(), dir.path());
    let report = pg.import_from(&sqlite).unwrap();
    let moved: u64 = report.tables.iter().map(|(_, n)| n).sum();
    assert!(moved >= 15, "{report:?}");
    assert!(
        matches!(
            pg.import_from(&sqlite),
            Err(lambdad_store::StoreError::AlreadyExists { .. })
        ),
        "only into an empty store"
    );
    // Back into a fresh SQLite store of the same data directory's key.
    let back_dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        dir.path().join("meta.key"),
        back_dir.path().join("meta.key"),
    )
    .unwrap();
    let back = lambdad_store::SqliteStore::open(&back_dir.path().join("meta.db")).unwrap();
    assert_eq!(pg.export_to(&back).unwrap(), report);
    check_filled(&pg);
    check_filled(&back);
}
