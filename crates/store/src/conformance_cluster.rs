//! The behaviour every shared backend's [`ClusterStore`] must show (run
//! against PostgreSQL by `tests/pg.rs`): code archives come back byte for
//! byte and are collected only when unused and past their grace; every
//! write of a function's records is in the change log, in order, and rings
//! the watcher; membership by incarnation, heartbeats, the applied seq that
//! decides whether a change is pending, and declaring the silent dead.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use crate::cluster::{ClusterStore, Watch};
use crate::conformance::{function_record, layer_record};
use crate::{AliasRecord, Store};

/// A check of the suite.
pub type Check = fn(&dyn Store);

/// Every check, by name.
pub const CHECKS: &[(&str, Check)] = &[
    ("code_blobs", code_blobs),
    ("change_log", change_log),
    ("membership", membership),
    ("watcher", watcher),
];

/// Runs every check on a fresh store from `make`, which must share (`cluster()` is `Some`).
pub fn run_all(make: impl Fn() -> Box<dyn Store>) {
    for (name, check) in CHECKS {
        let store = make();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(store.as_ref()))) {
            eprintln!("cluster conformance check `{name}` failed");
            resume_unwind(panic);
        }
    }
}

fn shared(store: &dyn Store) -> &dyn ClusterStore {
    store.cluster().expect("a shared store")
}

fn code_blobs(store: &dyn Store) {
    let c = shared(store);
    // Over two chunks, with every byte value.
    let zip: Vec<u8> = (0..(2 * 1024 * 1024 + 12_345))
        .map(|i| (i % 251) as u8)
        .collect();
    c.put_code_blob("aa", &zip).unwrap();
    c.put_code_blob("aa", &zip).unwrap();
    assert_eq!(c.get_code_blob("aa", zip.len()).unwrap().unwrap(), zip);
    assert_eq!(
        c.get_code_blob("aa", zip.len() - 1).unwrap(),
        None,
        "over the limit"
    );
    assert_eq!(c.get_code_blob("bb", usize::MAX).unwrap(), None);
    c.put_code_blob("empty", b"").unwrap();
    assert_eq!(c.get_code_blob("empty", 10).unwrap().unwrap(), b"");
    // In use by a function (its code), a version, a layer: kept.
    let mut f = function_record("f", "r1");
    f.code_hex = "aa".into();
    f.layer_code = vec!["ll".into()];
    store.create_function(&f).unwrap();
    c.put_code_blob("ll", b"layer").unwrap();
    let mut layer = layer_record("l");
    layer.code_hex = "lv".into();
    store.publish_layer_version(&layer).unwrap();
    c.put_code_blob("lv", b"layer version").unwrap();
    for hex in ["aa", "ll", "lv"] {
        assert!(
            !c.collect_code_blob(hex, Duration::ZERO).unwrap(),
            "{hex} in use"
        );
    }
    // Unused but touched within the grace period: kept.
    assert!(
        !c.collect_code_blob("empty", Duration::from_secs(3600))
            .unwrap()
    );
    assert!(c.collect_code_blob("empty", Duration::ZERO).unwrap());
    assert_eq!(c.get_code_blob("empty", 10).unwrap(), None);
    assert!(store.delete_function("f").unwrap());
    assert!(c.collect_code_blob("aa", Duration::ZERO).unwrap());
    assert_eq!(c.get_code_blob("aa", usize::MAX).unwrap(), None);
    assert!(
        !c.collect_code_blob("aa", Duration::ZERO).unwrap(),
        "gone already"
    );
}

fn change_log(store: &dyn Store) {
    let c = shared(store);
    let start = c
        .changes_since(0, 1000)
        .unwrap()
        .last()
        .map_or(0, |ch| ch.seq);
    let rec = function_record("g", "r1");
    store.create_function(&rec).unwrap();
    store.publish_version(&rec, "r1").unwrap();
    let mut updated = function_record("g", "r2");
    updated.config.memory_size = 256;
    store.update_function(&updated, "r1").unwrap();
    store
        .create_alias(&AliasRecord {
            function: "g".into(),
            name: "live".into(),
            function_version: "1".into(),
            description: String::new(),
            weights: Default::default(),
            revision_id: "a1".into(),
        })
        .unwrap();
    store.set_reserved_concurrency("g", Some(2)).unwrap();
    store.put_doc("rule", "unrelated", Some("{}")).unwrap();
    assert!(store.delete_function("g").unwrap());
    let got = c.changes_since(start, 1000).unwrap();
    let seen: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|ch| (ch.function.as_str(), ch.table.as_str(), ch.op.as_str()))
        .collect();
    // Publishing bumps only the function's version counter: no change of `functions`.
    assert_eq!(
        seen[..5],
        [
            ("g", "functions", "INSERT"),
            ("g", "versions", "INSERT"),
            ("g", "functions", "UPDATE"),
            ("g", "aliases", "INSERT"),
            ("g", "concurrency", "INSERT"),
        ]
    );
    assert!(
        seen[5..].contains(&("g", "functions", "DELETE")),
        "{seen:?}"
    );
    assert!(
        seen.iter().all(|(f, _, _)| *f == "g"),
        "documents are no function's"
    );
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq));
    let after = c.changes_since(got[1].seq, 2).unwrap();
    assert_eq!(after.len(), 2);
    assert_eq!(after[0].seq, got[2].seq);
}

fn membership(store: &dyn Store) {
    let c = shared(store);
    store.create_function(&function_record("h", "r1")).unwrap();
    let (inc, applied) = c.join_node("n1", "http://127.0.0.1:1").unwrap();
    assert_eq!(inc, 1);
    let latest = c.changes_since(0, 1000).unwrap().last().unwrap().seq;
    assert_eq!(
        applied, latest,
        "a joining node starts with every change applied"
    );
    let (inc2, _) = c.join_node("n1", "http://127.0.0.1:2").unwrap();
    assert_eq!(inc2, 2, "a rejoin is a new incarnation");
    let load = serde_json::json!({"environments": 3});
    assert!(
        !c.heartbeat("n1", 1, applied, &load).unwrap(),
        "an old incarnation"
    );
    assert!(c.heartbeat("n1", 2, applied, &load).unwrap());
    c.join_node("n2", "http://127.0.0.1:3").unwrap();
    let silence = Duration::from_secs(5);
    assert!(!c.change_pending("h", silence).unwrap());
    let mut rec = function_record("h", "r2");
    rec.config.timeout = 9;
    store.update_function(&rec, "r1").unwrap();
    let seq = c.changes_since(latest, 10).unwrap()[0].seq;
    assert!(
        c.change_pending("h", silence).unwrap(),
        "neither node applied it"
    );
    assert!(c.heartbeat("n1", 2, seq, &load).unwrap());
    assert!(c.change_pending("h", silence).unwrap(), "n2 has not");
    assert!(c.set_node_state("n2", 1, "draining").unwrap());
    assert!(
        !c.change_pending("h", silence).unwrap(),
        "only active nodes count"
    );
    assert!(
        c.heartbeat("n2", 1, 0, &load).unwrap(),
        "a draining node still beats"
    );
    assert!(!c.change_pending("other", silence).unwrap());
    let nodes = c.nodes().unwrap();
    assert_eq!(nodes.len(), 2);
    assert_eq!(
        (
            nodes[0].node_id.as_str(),
            nodes[0].incarnation,
            nodes[0].state.as_str()
        ),
        ("n1", 2, "active")
    );
    assert_eq!(nodes[0].api_addr, "http://127.0.0.1:2");
    assert_eq!(nodes[0].applied_seq, seq);
    assert_eq!(nodes[0].load, load);
    assert!((0..5000).contains(&nodes[0].heartbeat_age_ms));
    assert_eq!(nodes[1].state, "draining");
    // Nobody is silent for an hour; everybody is for no time at all.
    assert!(
        c.declare_dead(Duration::from_secs(3600))
            .unwrap()
            .is_empty()
    );
    std::thread::sleep(Duration::from_millis(20));
    let mut dead = c.declare_dead(Duration::from_millis(10)).unwrap();
    dead.sort();
    assert_eq!(dead, ["n1", "n2"]);
    assert!(
        !c.heartbeat("n1", 2, seq, &load).unwrap(),
        "the dead cannot beat"
    );
    assert!(!c.set_node_state("n1", 2, "left").unwrap());
    assert!(c.nodes().unwrap().iter().all(|n| n.state == "dead"));
    assert!(
        !c.change_pending("h", silence).unwrap(),
        "the dead do not count"
    );
    let (inc3, _) = c.join_node("n1", "http://127.0.0.1:2").unwrap();
    assert_eq!(inc3, 3);
    assert!(c.set_node_state("n1", 3, "left").unwrap());
    // Applied by every active node (there is none): pruned.
    assert!(c.prune_changes(Duration::ZERO).unwrap() >= 2);
    assert!(c.changes_since(0, 10).unwrap().is_empty());
}

fn watcher(store: &dyn Store) {
    let c = shared(store);
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    c.watch_changes(Arc::new(move |w| {
        let _ = tx.lock().map(|t| t.send(w));
    }));
    let wait = |want: Watch| loop {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(w) if w == want => break,
            Ok(_) => {}
            Err(e) => panic!("no {want:?}: {e}"),
        }
    };
    wait(Watch::Listening);
    store.put_doc("rule", "r", Some("{}")).unwrap();
    store.create_function(&function_record("w", "r1")).unwrap();
    wait(Watch::Changed);
}
