//! Host capacity: the memory committed to environments (the sum of their
//! MemorySize) never exceeds the host budget. When a new environment does
//! not fit, idle environments are evicted, oldest first; when nothing idle is
//! left, the invocation is throttled rather than the host overcommitted.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::concurrency::Throttle;
use crate::{InvokeError, Invoker};

/// Memory committed to one environment; released when dropped.
#[derive(Debug)]
pub struct Commitment {
    committed: Arc<AtomicU64>,
    mb: u64,
}

impl Drop for Commitment {
    fn drop(&mut self) {
        self.committed.fetch_sub(self.mb, Ordering::AcqRel);
    }
}

/// Half of the machine's memory, the default budget.
pub fn default_budget_mb() -> u64 {
    let total_kb = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .unwrap_or(4 << 20);
    total_kb / 1024 / 2
}

impl Invoker {
    /// Memory (MB) committed to environments now.
    pub fn committed_mb(&self) -> u64 {
        self.inner.committed_mb.load(Ordering::Acquire)
    }

    fn try_commit(&self, mb: u64) -> Option<Commitment> {
        let committed = &self.inner.committed_mb;
        let budget = self.inner.cfg.memory_budget_mb;
        let mut current = committed.load(Ordering::Acquire);
        loop {
            if current + mb > budget {
                return None;
            }
            match committed.compare_exchange(
                current,
                current + mb,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    return Some(Commitment {
                        committed: committed.clone(),
                        mb,
                    });
                }
                Err(now) => current = now,
            }
        }
    }

    /// Commits `mb` for a new environment, evicting idle ones if needed.
    pub(crate) async fn commit_memory(&self, mb: u64) -> Result<Commitment, InvokeError> {
        for _ in 0..64 {
            if let Some(c) = self.try_commit(mb) {
                return Ok(c);
            }
            let victim = self.evict_oldest_idle();
            match victim {
                Some(env) => {
                    tracing::debug!(env = %env.id, function = %env.snapshot.function_name, "Evicting an idle environment for memory.");
                    env.destroy().await;
                }
                None => break,
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.try_commit(mb)
            .ok_or(InvokeError::Throttled(Throttle::Account))
    }
}
