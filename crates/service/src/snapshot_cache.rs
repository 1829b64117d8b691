//! The resolved `$LATEST` snapshot of each function, kept between
//! invocations so that a warm invoke does not read the store
//! (`Context::resolve_snapshot` in records.rs fills it).
//!
//! Every write of a function's record invalidates its entry by bumping a
//! generation; a reader stores what it loaded only if the generation it saw
//! before reading is still current, so a load that raced a write is never
//! cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lambdad_model::VersionSnapshot;

#[derive(Debug, Default)]
struct Entry {
    generation: u64,
    snapshot: Option<Arc<VersionSnapshot>>,
}

/// `$LATEST` snapshots by function name.
#[derive(Debug, Default, Clone)]
pub struct SnapshotCache {
    inner: Arc<Mutex<HashMap<String, Entry>>>,
}

impl SnapshotCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current generation of `function` and its cached snapshot, if any.
    pub fn get(&self, function: &str) -> (u64, Option<Arc<VersionSnapshot>>) {
        self.lock()
            .get(function)
            .map_or((0, None), |e| (e.generation, e.snapshot.clone()))
    }

    /// Caches `snapshot`, loaded after `get` returned `generation`, unless a write came since.
    pub fn put(&self, function: &str, generation: u64, snapshot: Arc<VersionSnapshot>) {
        let mut map = self.lock();
        let entry = map.entry(function.to_owned()).or_default();
        if entry.generation == generation {
            entry.snapshot = Some(snapshot);
        }
    }

    /// Forgets `function`'s snapshot: called after every write of its record.
    pub fn invalidate(&self, function: &str) {
        let mut map = self.lock();
        let entry = map.entry(function.to_owned()).or_default();
        entry.generation += 1;
        entry.snapshot = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(rev: &str) -> Arc<VersionSnapshot> {
        Arc::new(VersionSnapshot {
            function_name: "f".into(),
            function_arn: String::new(),
            version: "$LATEST".into(),
            runtime: String::new(),
            handler: String::new(),
            memory_mb: 128,
            timeout_secs: 3,
            ephemeral_mb: 512,
            environment: Default::default(),
            code_sha256: String::new(),
            code_dir: Default::default(),
            layer_dirs: Vec::new(),
            architecture: "x86_64".into(),
            log_group: String::new(),
            log_format: "Text".into(),
            application_log_level: None,
            system_log_level: None,
            role: String::new(),
            network: Default::default(),
            revision_id: rev.into(),
            image: None,
        })
    }

    #[test]
    fn a_load_that_raced_a_write_is_not_cached() {
        let c = SnapshotCache::default();
        let (g, hit) = c.get("f");
        assert!(hit.is_none());
        c.invalidate("f"); // a write lands while the reader loads
        c.put("f", g, snap("old"));
        assert!(c.get("f").1.is_none(), "the stale load was dropped");
        let (g, _) = c.get("f");
        c.put("f", g, snap("new"));
        assert_eq!(c.get("f").1.unwrap().revision_id, "new");
        c.invalidate("f");
        assert!(c.get("f").1.is_none());
    }
}
