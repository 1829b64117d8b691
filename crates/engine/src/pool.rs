//! The warm pool: idle environments per function, taken again only by the
//! same version, revision and retire generation; frozen once their runtime
//! parks, thawed when taken; retired when their function changes; reaped
//! once idle longer than `idle_timeout` (unless a provisioned concurrency
//! configuration keeps them); evicted oldest first when the host memory
//! budget needs room.
//!
//! Idle times are measured on tokio's clock, so that tests can move it
//! (`tokio::time::pause` and `advance`) instead of waiting for the reaper.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use lambdad_model::VersionSnapshot;
use tokio::time::Instant;

use crate::env::Environment;
use crate::{FREEZE_DELAY, Inner, Invoker};

/// How often the reaper looks for environments idle too long.
pub(crate) const REAP_INTERVAL: Duration = Duration::from_millis(500);

/// How long a runtime has to park on `/next` after an invocation before
/// its environment is destroyed.
pub(crate) const PARK_LIMIT: Duration = Duration::from_secs(2);

/// The freeze sweeper wakes at most this often: environments are frozen
/// between [`FREEZE_DELAY`] and [`FREEZE_DELAY`] + this after their release.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_millis(5);

/// An environment put back in the pool, to be frozen once its runtime parks.
struct Pending {
    env: Arc<Environment>,
    /// Its takes when it was released (another take voids the freeze).
    takes: u64,
    /// Its `/next` calls before the invocation that released it.
    calls_before: u64,
    released: Instant,
    due: Instant,
}

/// Environments waiting to be frozen, in the order they are due.
#[derive(Default)]
pub(crate) struct Freezer {
    queue: Mutex<VecDeque<Pending>>,
    wake: tokio::sync::Notify,
}

/// Runs the freeze sweeper until the engine is gone: sleeps while nothing
/// waits, else until the first environment is due (and at least
/// [`SWEEP_INTERVAL`] after the previous pass, so that steady traffic costs
/// a bounded number of wake-ups rather than one per invocation).
pub(crate) async fn freeze_while_alive(engine: Weak<Inner>) {
    loop {
        let Some(inner) = engine.upgrade() else { break };
        let due = inner
            .freezer
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .front()
            .map(|p| p.due);
        match due {
            Some(due) => {
                drop(inner);
                tokio::time::sleep_until(due.max(Instant::now() + SWEEP_INTERVAL)).await;
            }
            None => {
                // Bounded, so that the engine's last handle going away ends
                // the sweeper even when no invocation comes.
                let _ = tokio::time::timeout(REAP_INTERVAL, inner.freezer.wake.notified()).await;
                continue;
            }
        }
        let Some(inner) = engine.upgrade() else { break };
        Invoker { inner }.sweep_freezes();
    }
}

pub(crate) struct Idle {
    env: Arc<Environment>,
    since: Instant,
}

#[derive(Default)]
pub(crate) struct Pools {
    /// Idle environments per function name.
    idle: HashMap<String, Vec<Idle>>,
    /// Retire generation per function name: environments of an older generation are not reused.
    pub(crate) generation: HashMap<String, u64>,
    pub(crate) shutting_down: bool,
}

/// Environments by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvironmentCounts {
    /// Starting (their runtime has not asked for work yet).
    pub initialising: u64,
    /// Running an invocation.
    pub busy: u64,
    /// In the pool, runnable (their runtime not parked yet, or about to be frozen).
    pub idle: u64,
    /// In the pool, frozen.
    pub frozen: u64,
}

/// Runs [`Invoker::reap`] every [`REAP_INTERVAL`] until the engine is gone.
pub(crate) async fn reap_while_alive(engine: Weak<Inner>) {
    loop {
        tokio::time::sleep(REAP_INTERVAL).await;
        let Some(inner) = engine.upgrade() else { break };
        Invoker { inner }.reap().await;
    }
}

impl Invoker {
    pub(crate) fn pools(&self) -> std::sync::MutexGuard<'_, Pools> {
        self.inner.pools.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Environments by state now.
    pub fn environments(&self) -> EnvironmentCounts {
        use std::sync::atomic::Ordering;
        let (mut idle, mut frozen) = (0, 0);
        for i in self.pools().idle.values().flatten() {
            if i.env.is_frozen() {
                frozen += 1;
            } else {
                idle += 1;
            }
        }
        let initialising = self.inner.initialising.load(Ordering::Relaxed).max(0);
        let busy = (i64::from(self.inner.concurrency.in_flight()) - initialising).max(0);
        EnvironmentCounts {
            initialising: initialising.unsigned_abs(),
            busy: busy.unsigned_abs(),
            idle,
            frozen,
        }
    }

    /// How many environments of `function` wait in the pool (frozen or not).
    pub fn pooled(&self, function: &str) -> usize {
        self.pools().idle.get(function).map_or(0, Vec::len)
    }

    /// One pass of the reaper: destroys environments idle for `idle_timeout`
    /// or longer (except those a provisioned concurrency configuration
    /// keeps), then tops up configurations short of environments.
    pub(crate) async fn reap(&self) {
        let expired: Vec<Arc<Environment>> = {
            let mut pools = self.pools();
            let ttl = self.inner.cfg.idle_timeout;
            let mut out = Vec::new();
            for list in pools.idle.values_mut() {
                let (old, keep): (Vec<Idle>, Vec<Idle>) = list.drain(..).partition(|i| {
                    i.since.elapsed() >= ttl
                        && !i.env.provisioned.as_ref().is_some_and(|m| m.active())
                });
                *list = keep;
                out.extend(old.into_iter().map(|i| i.env));
            }
            out
        };
        for env in expired {
            tracing::debug!(env = %env.id, function = %env.snapshot.function_name, "Reaping an idle environment.");
            env.destroy().await;
        }
        for key in self.short_provisions() {
            let this = self.clone();
            tokio::spawn(async move { this.top_up(&key).await });
        }
    }

    /// Takes the environment idle the longest out of the pool, if any.
    pub(crate) fn evict_oldest_idle(&self) -> Option<Arc<Environment>> {
        let mut pools = self.pools();
        let (function, index) = pools
            .idle
            .iter()
            .flat_map(|(f, list)| list.iter().enumerate().map(move |(i, e)| (f, i, e.since)))
            .min_by_key(|(_, _, since)| *since)
            .map(|(f, i, _)| (f.clone(), i))?;
        pools
            .idle
            .get_mut(&function)
            .map(|list| list.remove(index).env)
    }

    /// Retires environments of `function`: those of `$LATEST` (after an
    /// update), or all of them (`everything`, after a delete). Idle ones go
    /// now; busy ones are never pooled again (their revision or generation
    /// no longer matches).
    pub fn retire(&self, function: &str, everything: bool) {
        let idle = {
            let mut pools = self.pools();
            if everything {
                self.inner.metrics.forget(function);
                *pools.generation.entry(function.to_owned()).or_default() += 1;
                pools.idle.remove(function).unwrap_or_default()
            } else {
                let list = pools.idle.entry(function.to_owned()).or_default();
                let (latest, others): (Vec<Idle>, Vec<Idle>) = list
                    .drain(..)
                    .partition(|i| i.env.snapshot.version == "$LATEST");
                *list = others;
                latest
            }
        };
        if !idle.is_empty() {
            tokio::spawn(async move {
                for i in idle {
                    i.env.destroy().await;
                }
            });
        }
    }

    /// Kills every environment.
    pub async fn shutdown(&self) {
        let all: Vec<Idle> = {
            let mut pools = self.pools();
            pools.shutting_down = true;
            pools.idle.drain().flat_map(|(_, v)| v).collect()
        };
        for i in all {
            i.env.destroy().await;
        }
    }

    /// An idle environment of this exact version and revision, thawed.
    pub(crate) fn take_idle(
        &self,
        s: &Arc<VersionSnapshot>,
    ) -> (Option<Arc<Environment>>, u64, Vec<Arc<Environment>>) {
        let mut pools = self.pools();
        let generation = pools.generation.get(&s.function_name).copied().unwrap_or(0);
        let mut stale = Vec::new();
        let mut found = None;
        if let Some(list) = pools.idle.get_mut(&s.function_name) {
            // Environments of other versions stay; those of this version with
            // another revision or an older generation are stale. (The same
            // snapshot, shared from the snapshot cache, is current at once.)
            let current = |i: &Idle| {
                i.env.generation == generation
                    && (Arc::ptr_eq(&i.env.snapshot, s)
                        || (i.env.snapshot.revision_id == s.revision_id
                            && i.env.snapshot.network == s.network))
            };
            let same_version =
                |i: &Idle| Arc::ptr_eq(&i.env.snapshot, s) || i.env.snapshot.version == s.version;
            if list.iter().any(|i| same_version(i) && !current(i)) {
                let (old, keep): (Vec<Idle>, Vec<Idle>) =
                    list.drain(..).partition(|i| same_version(i) && !current(i));
                *list = keep;
                stale.extend(old.into_iter().map(|i| i.env));
            }
            // The most recently pooled one: the warmest.
            if let Some(at) = list.iter().rposition(same_version) {
                found = Some(list.remove(at).env);
            }
        }
        (found, generation, stale)
    }

    /// Returns a finished environment to the pool (to be frozen once its
    /// runtime is parked), or destroys it when it cannot be reused.
    pub(crate) fn release(&self, env: Arc<Environment>, healthy: bool, calls_before: u64) {
        if healthy && self.pool_back(&env) {
            self.schedule_freeze(env, calls_before);
        } else if healthy {
            tokio::spawn(async move { env.destroy().await });
        }
    }

    /// Puts a finished environment back in the pool at once (so that a
    /// caller invoking again right away reuses it); false when it must go.
    pub(crate) fn pool_back(&self, env: &Arc<Environment>) -> bool {
        env.set_idle();
        let mut pools = self.pools();
        let current = pools
            .generation
            .get(&env.snapshot.function_name)
            .copied()
            .unwrap_or(0);
        if pools.shutting_down || env.generation != current {
            return false;
        }
        pools
            .idle
            .entry(env.snapshot.function_name.clone())
            .or_default()
            .push(Idle {
                env: env.clone(),
                since: Instant::now(),
            });
        true
    }

    /// Freezes a pooled environment [`FREEZE_DELAY`] from now once its
    /// runtime is parked on `/next` (it has called `/next` more than
    /// `calls_before` times); destroys it if the runtime does not ask for
    /// more work within [`PARK_LIMIT`].
    ///
    /// The freeze is skipped when another invocation took the environment
    /// meanwhile: under steady traffic an environment is not frozen and
    /// thawed around every invocation (two cgroup writes and the kernel's
    /// freezer work each time). One sweeper task ([`freeze_while_alive`])
    /// serves every environment, so an invocation costs a queue push, not a
    /// task and its timers.
    pub(crate) fn schedule_freeze(&self, env: Arc<Environment>, calls_before: u64) {
        let now = Instant::now();
        let pending = Pending {
            takes: env.takes(),
            env,
            calls_before,
            released: now,
            due: now + FREEZE_DELAY,
        };
        let mut queue = self
            .inner
            .freezer
            .queue
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        queue.push_back(pending);
        if queue.len() == 1 {
            self.inner.freezer.wake.notify_one();
        }
    }

    /// One pass of the freeze sweeper over the environments due now.
    fn sweep_freezes(&self) {
        let now = Instant::now();
        let due: Vec<Pending> = {
            let mut queue = self
                .inner
                .freezer
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let n = queue.iter().take_while(|p| p.due <= now).count();
            queue.drain(..n).collect()
        };
        let mut later = Vec::new();
        for p in due {
            if p.env.takes() != p.takes {
                // Taken again: that invocation's release plans the next freeze.
                continue;
            }
            if p.env.next_calls() > p.calls_before {
                p.env.freeze_if_idle(p.takes);
            } else if now.duration_since(p.released) < PARK_LIMIT {
                later.push(Pending {
                    due: now + FREEZE_DELAY,
                    ..p
                });
            } else {
                let this = self.clone();
                tokio::spawn(async move { this.drop_unparked(p.env).await });
            }
        }
        if !later.is_empty() {
            let mut queue = self
                .inner
                .freezer
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            // Due after everything queued so far: the queue stays in order.
            queue.extend(later);
        }
    }

    /// Removes from the pool (and destroys) an environment whose runtime
    /// never asked for more work.
    async fn drop_unparked(&self, env: Arc<Environment>) {
        let removed = {
            let mut pools = self.pools();
            pools
                .idle
                .get_mut(&env.snapshot.function_name)
                .is_some_and(|list| {
                    let before = list.len();
                    list.retain(|i| !Arc::ptr_eq(&i.env, &env));
                    list.len() != before
                })
        };
        if removed {
            tracing::debug!(env = %env.id, "An environment's runtime did not park after its invocation; destroying it.");
            env.destroy().await;
        }
    }
}
