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

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by [`SnapshotCache::invalidate_all`].
    epoch: u64,
    entries: HashMap<String, Entry>,
}

/// What a reader saw before loading: [`SnapshotCache::put`] keeps its load
/// only if nothing was invalidated since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    epoch: u64,
    generation: u64,
}

/// `$LATEST` snapshots by function name.
#[derive(Debug, Default, Clone)]
pub struct SnapshotCache {
    inner: Arc<Mutex<Inner>>,
}

impl SnapshotCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current generation of `function` and its cached snapshot, if any.
    pub fn get(&self, function: &str) -> (Generation, Option<Arc<VersionSnapshot>>) {
        let inner = self.lock();
        let (generation, snapshot) = inner
            .entries
            .get(function)
            .map_or((0, None), |e| (e.generation, e.snapshot.clone()));
        (
            Generation {
                epoch: inner.epoch,
                generation,
            },
            snapshot,
        )
    }

    /// Caches `snapshot`, loaded after `get` returned `generation`, unless a write came since.
    pub fn put(&self, function: &str, generation: Generation, snapshot: Arc<VersionSnapshot>) {
        let mut inner = self.lock();
        if inner.epoch != generation.epoch {
            return;
        }
        let entry = inner.entries.entry(function.to_owned()).or_default();
        if entry.generation == generation.generation {
            entry.snapshot = Some(snapshot);
        }
    }

    /// Forgets `function`'s snapshot: called after every write of its record.
    pub fn invalidate(&self, function: &str) {
        let mut inner = self.lock();
        let entry = inner.entries.entry(function.to_owned()).or_default();
        entry.generation += 1;
        entry.snapshot = None;
    }

    /// Forgets every snapshot (a node that may have missed changes); the
    /// names of the functions that had one.
    pub fn invalidate_all(&self) -> Vec<String> {
        let mut inner = self.lock();
        inner.epoch += 1;
        let names = inner
            .entries
            .iter()
            .filter(|(_, e)| e.snapshot.is_some())
            .map(|(n, _)| n.clone())
            .collect();
        inner.entries.clear();
        names
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

    #[test]
    fn a_flush_forgets_everything_and_drops_loads_in_flight() {
        let c = SnapshotCache::default();
        let (g, _) = c.get("f");
        c.put("f", g, snap("a"));
        let (g_other, _) = c.get("other"); // a load in flight
        assert_eq!(c.invalidate_all(), ["f"]);
        assert!(c.get("f").1.is_none());
        c.put("other", g_other, snap("stale"));
        assert!(c.get("other").1.is_none(), "loaded before the flush");
        let (g, _) = c.get("other");
        c.put("other", g, snap("fresh"));
        assert_eq!(c.get("other").1.unwrap().revision_id, "fresh");
    }
}
