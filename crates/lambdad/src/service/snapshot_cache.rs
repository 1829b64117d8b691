//! Resolving what the engine runs (`Functions::resolve_snapshot`) and the
//! resolved `$LATEST` snapshot of each function, kept between invocations
//! so that a warm invoke does not read the store.
//!
//! Every write of a function's record invalidates its entry by bumping a
//! generation; a reader stores what it loaded only if the generation it saw
//! before reading is still current, so a load that raced a write is never
//! cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lambdad_model::VersionSnapshot;
use lambdad_store::FunctionRecord;

use super::functions::unqualified;
use crate::api::error::ApiResult;

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

impl super::functions::Functions {
    /// The snapshot of `name` at `qualifier` that the engine runs.
    pub async fn resolve_snapshot(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ApiResult<Arc<VersionSnapshot>> {
        let r = self.parse_ref(region, name)?;
        let q = Self::qualifier(&r, qualifier)?;
        let q = self.route(region, &r.name, q).await?;
        let latest = matches!(q.as_deref(), None | Some("$LATEST"));
        let (generation, cached) = self.snapshots.get(&r.name);
        if latest && let Some(s) = cached {
            return Ok(s);
        }
        let rec = self.load(region, &r.name, q.as_deref()).await?;
        let snapshot = self.snapshot_of(rec);
        if latest {
            self.snapshots.put(&r.name, generation, snapshot.clone());
        }
        Ok(snapshot)
    }

    /// The snapshot the engine runs for a loaded function or version record.
    pub(super) fn snapshot_of(&self, rec: FunctionRecord) -> Arc<VersionSnapshot> {
        let c = rec.config;
        Arc::new(VersionSnapshot {
            function_name: c.function_name.clone(),
            function_arn: unqualified(&c.function_arn),
            version: c.version.clone(),
            runtime: c.runtime.clone().unwrap_or_default(),
            handler: c.handler.clone().unwrap_or_default(),
            memory_mb: c.memory_size,
            timeout_secs: c.timeout,
            ephemeral_mb: c.ephemeral_storage.size,
            environment: c.environment.map(|e| e.variables).unwrap_or_default(),
            code_sha256: c.code_sha256,
            code_dir: self.code.dir(&rec.code_hex),
            layer_dirs: rec.layer_code.iter().map(|h| self.code.dir(h)).collect(),
            architecture: c
                .architectures
                .first()
                .cloned()
                .unwrap_or_else(|| "x86_64".into()),
            log_group: c
                .logging_config
                .log_group
                .unwrap_or_else(|| format!("/aws/lambda/{}", c.function_name)),
            role: c.role.clone(),
            application_log_level: c.logging_config.application_log_level.clone(),
            system_log_level: c.logging_config.system_log_level.clone(),
            log_format: c.logging_config.log_format.unwrap_or_else(|| "Text".into()),
            network: rec
                .tags
                .get(lambdad_model::NetworkMode::TAG)
                .and_then(|v| lambdad_model::NetworkMode::parse(v))
                .unwrap_or(self.network),
            revision_id: c.revision_id,
        })
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
