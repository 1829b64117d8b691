//! Provisioned concurrency: environments initialised ahead of invocations
//! (with `AWS_LAMBDA_INITIALIZATION_TYPE=provisioned-concurrency`), kept in
//! the warm pool, exempt from idle reaping, and topped up when one is lost.
//! Invocations take them like any idle environment, so they are used first;
//! overflow starts on-demand environments.

use std::sync::Arc;

use lambdad_model::VersionSnapshot;

use crate::Invoker;
use crate::env::NewEnvironment;
use crate::member::Counters;
pub use crate::member::Member;

/// One configuration: the version it runs and how many environments.
#[derive(Debug, Clone)]
pub(crate) struct Provision {
    snapshot: Arc<VersionSnapshot>,
    requested: u32,
    counters: Arc<Counters>,
}

impl Invoker {
    /// Keeps `requested` environments of `snapshot` initialised under `key`
    /// (e.g. `function:alias`), replacing any previous configuration of that key.
    pub fn provision(&self, key: &str, snapshot: Arc<VersionSnapshot>, requested: u32) {
        let counters = Counters::new();
        let old = self.lock_provisions().insert(
            key.to_owned(),
            Provision {
                snapshot,
                requested,
                counters,
            },
        );
        if let Some(old) = old {
            old.counters.deactivate();
        }
        let this = self.clone();
        let key = key.to_owned();
        tokio::spawn(async move { this.top_up(&key).await });
    }

    /// Removes a configuration; its environments become ordinary (reaped when idle).
    pub fn deprovision(&self, key: &str) {
        if let Some(old) = self.lock_provisions().remove(key) {
            old.counters.deactivate();
        }
    }

    /// Removes every configuration of `function` (keys `function:QUALIFIER`).
    pub fn deprovision_function(&self, function: &str) {
        let prefix = format!("{function}:");
        self.lock_provisions().retain(|k, p| {
            let keep = !k.starts_with(&prefix);
            if !keep {
                p.counters.deactivate();
            }
            keep
        });
    }

    /// (requested, initialised and alive) for `key`.
    pub fn provisioned_status(&self, key: &str) -> Option<(u32, u32)> {
        self.lock_provisions()
            .get(key)
            .map(|p| (p.requested, p.counters.ready().min(p.requested)))
    }

    pub(crate) fn lock_provisions(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Provision>> {
        self.inner
            .provisions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Starts environments until `key` has as many as requested.
    pub(crate) async fn top_up(&self, key: &str) {
        loop {
            let Some(p) = self.lock_provisions().get(key).cloned() else {
                return;
            };
            if !p.counters.active() || p.counters.alive() >= p.requested {
                return;
            }
            // Counted as alive from here; dropping it (on any failure below) uncounts it.
            let member = p.counters.join();
            self.inner.interpreters.settle(&p.snapshot.runtime).await;
            let Ok(cmd) = self.inner.interpreters.command_for(&p.snapshot) else {
                tracing::warn!(key, "Provisioned concurrency: the runtime cannot start.");
                return;
            };
            let generation = self
                .pools()
                .generation
                .get(&p.snapshot.function_name)
                .copied()
                .unwrap_or(0);
            let Ok(commitment) = self.commit_memory(u64::from(p.snapshot.memory_mb)).await else {
                tracing::warn!(
                    key,
                    "Provisioned concurrency: the host memory budget is full."
                );
                return;
            };
            let new = NewEnvironment {
                commitment,
                snapshot: p.snapshot.clone(),
                cmd,
                generation,
                capture: false,
                provisioned: Some(member),
                uid: None,
                init_limit: crate::env::PROVISIONED_INIT_TIMEOUT.max(
                    std::time::Duration::from_secs(u64::from(p.snapshot.timeout_secs)),
                ),
            };
            match self.start_environment(new).await {
                Ok(Ok((env, _init))) => {
                    if let Some(m) = &env.provisioned {
                        m.mark_ready();
                    }
                    let calls = env.next_calls();
                    if self.pool_back(&env) {
                        self.schedule_freeze(env, calls.saturating_sub(1));
                    } else {
                        env.destroy().await;
                        return;
                    }
                }
                Ok(Err((env, failure))) => {
                    tracing::warn!(
                        key,
                        ?failure,
                        "Provisioned concurrency: an environment failed to initialise."
                    );
                    env.destroy().await;
                    return;
                }
                Err(e) => {
                    tracing::warn!(key, error = %e, "Provisioned concurrency: cannot start an environment.");
                    return;
                }
            }
        }
    }

    /// Keys whose configurations are short of environments.
    pub(crate) fn short_provisions(&self) -> Vec<String> {
        self.lock_provisions()
            .iter()
            .filter(|(_, p)| p.counters.alive() < p.requested)
            .map(|(k, _)| k.clone())
            .collect()
    }
}
