//! Zygotes of the managed runtimes: an interpreter started ahead of need,
//! its bootstrap and the standard modules the bootstrap uses imported,
//! waiting in a sandbox of its own (`lambdad_sandbox::ZygoteStart`) to be
//! handed one environment. A cold start that finds one skips the
//! interpreter's start-up; one that finds none starts the runtime as
//! before, and the first such start of a kind of zygote (a runtime, with
//! its interpreter, bootstrap and SDK) starts its pool.
//!
//! Each zygote has its own uid from the start (it runs as the environment
//! it becomes) and serves exactly one environment. A function gets one
//! only when the zygote's program and start-up environment are exactly
//! what its own cold start would run (`zygote_start` in env.rs).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use lambdad_sandbox::{Backend, Pool, Sandbox, SandboxError, ZygoteStart};

use crate::uids::{UidLease, UidPool};

/// Most kinds of zygote kept at once (one per runtime in practice).
const MAX_KINDS: usize = 16;

/// A zygote ready to be handed over, with the uid it runs as.
#[derive(Debug)]
pub(crate) struct Ready {
    /// Its sandbox.
    pub sandbox: Sandbox,
    /// Its uid, the environment's.
    pub uid: UidLease,
}

/// The pools of zygotes, by kind.
pub(crate) struct Zygotes {
    backend: Arc<dyn Backend>,
    uids: UidPool,
    /// Zygotes kept ready per kind (0: none).
    wanted: usize,
    /// By kind: the runtime and its pool.
    pools: Mutex<HashMap<String, (String, Pool<Ready>)>>,
}

impl std::fmt::Debug for Zygotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Zygotes")
            .field("wanted", &self.wanted)
            .finish_non_exhaustive()
    }
}

impl Zygotes {
    /// `wanted` zygotes per kind, started by `backend` (none unless it is
    /// the namespace sandbox) as uids of `uids`.
    pub(crate) fn new(backend: Arc<dyn Backend>, uids: UidPool, wanted: usize) -> Self {
        let wanted = if backend.name() == "namespace" {
            wanted
        } else {
            0
        };
        Self {
            backend,
            uids,
            wanted,
            pools: Mutex::default(),
        }
    }

    /// A ready zygote of `start`'s kind (of `runtime`), if one waits; the
    /// first request of a kind starts its pool.
    pub(crate) fn take(&self, runtime: &str, start: &ZygoteStart) -> Option<Ready> {
        if self.wanted == 0 {
            return None;
        }
        let s = &start.spec;
        let key = serde_json::to_string(&(&s.argv, &s.env, &s.binds, &start.late)).ok()?;
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, pool)) = pools.get(&key) {
            return pool.take();
        }
        if pools.len() >= MAX_KINDS {
            return None;
        }
        let (backend, uids, start) = (self.backend.clone(), self.uids.clone(), start.clone());
        let launch = move |_: &str| -> Result<Ready, SandboxError> {
            let uid = uids.lease();
            let mut start = start.clone();
            start.spec.uid = uid.uid();
            match backend.start_zygote(&start)? {
                Some(sandbox) => Ok(Ready { sandbox, uid }),
                None => Err(SandboxError::Unavailable("no zygotes".into())),
            }
        };
        match Pool::start(self.wanted, Box::new(launch)) {
            Ok(pool) => {
                pools.insert(key, (runtime.to_owned(), pool));
            }
            Err(e) => tracing::warn!(error = %e, "Cannot start a pool of zygotes."),
        }
        None
    }

    /// How many zygotes wait ready, by runtime.
    pub(crate) fn ready(&self) -> Vec<(String, usize)> {
        let pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let mut by_runtime: HashMap<String, usize> = HashMap::new();
        for (runtime, pool) in pools.values() {
            *by_runtime.entry(runtime.clone()).or_default() += pool.ready();
        }
        by_runtime.into_iter().collect()
    }
}
