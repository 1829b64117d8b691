//! The counts of one provisioned concurrency configuration, and the
//! [`Member`] token each of its environments holds: an environment knows
//! whether it is provisioned (and whether its configuration still exists)
//! without knowing how configurations are kept (`provisioned.rs`, which
//! starts environments and so sits above them).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// A configuration's environments: started (alive) and initialised (ready).
#[derive(Debug)]
pub(crate) struct Counters {
    alive: AtomicU32,
    ready: AtomicU32,
    active: AtomicBool,
}

impl Counters {
    /// The counts of a new, active configuration.
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            alive: AtomicU32::new(0),
            ready: AtomicU32::new(0),
            active: AtomicBool::new(true),
        })
    }

    /// Environments started and not yet gone.
    pub(crate) fn alive(&self) -> u32 {
        self.alive.load(Ordering::Acquire)
    }

    /// Environments initialised and not yet gone.
    pub(crate) fn ready(&self) -> u32 {
        self.ready.load(Ordering::Acquire)
    }

    /// Whether the configuration still exists.
    pub(crate) fn active(&self) -> bool {
        self.active.load(Ordering::Acquire)
    }

    /// Marks the configuration removed or replaced: its environments become
    /// ordinary ones.
    pub(crate) fn deactivate(&self) {
        self.active.store(false, Ordering::Release);
    }

    /// Counts a new environment as alive; its token uncounts it when dropped.
    pub(crate) fn join(self: &Arc<Self>) -> Member {
        self.alive.fetch_add(1, Ordering::AcqRel);
        Member {
            counters: self.clone(),
            ready: AtomicBool::new(false),
        }
    }
}

/// Held by each provisioned environment; keeps the configuration's counts.
#[derive(Debug)]
pub struct Member {
    counters: Arc<Counters>,
    ready: AtomicBool,
}

impl Member {
    /// Whether the configuration that started this environment still exists.
    pub fn active(&self) -> bool {
        self.counters.active()
    }

    /// Counts the environment as initialised (once).
    pub(crate) fn mark_ready(&self) {
        if !self.ready.swap(true, Ordering::AcqRel) {
            self.counters.ready.fetch_add(1, Ordering::AcqRel);
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.counters.alive.fetch_sub(1, Ordering::AcqRel);
        if self.ready.load(Ordering::Acquire) {
            self.counters.ready.fetch_sub(1, Ordering::AcqRel);
        }
    }
}
