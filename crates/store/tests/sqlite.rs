//! The SQLite backend: the public conformance suite every backend runs
//! (in memory and on disk), and what only an on-disk SQLite store shows
//! (its data survives a reopen; environment variables are sealed at rest).

use std::sync::atomic::{AtomicUsize, Ordering};

use lambdad_model::function::Environment;
use lambdad_store::conformance::{self, function_record};
use lambdad_store::{SqliteStore, Store};

#[test]
fn sqlite_in_memory_conforms() {
    conformance::run_all(|| Box::new(SqliteStore::in_memory().unwrap()));
}

#[test]
fn sqlite_on_disk_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let n = AtomicUsize::new(0);
    conformance::run_all(|| {
        let path = dir
            .path()
            .join(format!("meta-{}.db", n.fetch_add(1, Ordering::Relaxed)));
        Box::new(SqliteStore::open(&path).unwrap())
    });
    assert_eq!(n.load(Ordering::Relaxed), conformance::CHECKS.len());
}

#[test]
fn sqlite_on_disk_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let (_, functions) = conformance::CHECKS
        .iter()
        .find(|(name, _)| *name == "functions")
        .unwrap();
    functions(&SqliteStore::open(&path).unwrap());
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(
        reopened.get_function("b").unwrap().unwrap(),
        function_record("b", "r1")
    );
}

#[test]
fn environment_variables_are_sealed_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("meta.db");
    let mut rec = function_record("secretive", "r1");
    rec.config.environment = Some(Environment {
        variables: [("DB_PASSWORD".to_owned(), "hunter2-very-secret".to_owned())].into(),
    });
    {
        let store = SqliteStore::open(&path).unwrap();
        store.create_function(&rec).unwrap();
        store.publish_version(&rec, "r1").unwrap();
    }
    for file in ["meta.db", "meta.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            !text.contains("hunter2-very-secret"),
            "{file} holds the value in clear"
        );
        assert!(
            !text.contains("DB_PASSWORD"),
            "{file} holds the name in clear"
        );
    }
    let key = dir.path().join("meta.key");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let reopened = SqliteStore::open(&path).unwrap();
    assert_eq!(reopened.get_function("secretive").unwrap().unwrap(), rec);
    let v1 = reopened.get_version("secretive", 1).unwrap().unwrap();
    assert_eq!(v1.config.environment, rec.config.environment);
    // Another data directory's key does not open them.
    std::fs::write(&key, [7u8; 32]).unwrap();
    assert!(
        SqliteStore::open(&path)
            .unwrap()
            .get_function("secretive")
            .is_err()
    );
}
