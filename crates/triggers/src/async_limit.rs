//! How many asynchronous events run at once. Lambda runs a backlog of
//! events with as much concurrency as the function may use; on a machine of
//! a few cores, running more events at once than the cores can serve only
//! adds environments that compete with each other and with the API for the
//! CPU. So the queue adapts its concurrency, as a TCP sender adapts its
//! window: while a function runs as fast with more events in flight as with
//! few (it waits on I/O, or cores are free), the limit doubles with each
//! window of completions; once runs slow down against the function's own
//! best time (the cores are saturated), the limit follows the gradient
//! `limit × best / recent + √limit`, which settles where adding an event
//! stops paying. Completions come slowly for long functions, so while
//! events wait for a place and the last window showed no slowdown (or there
//! has been none yet), the limit also doubles every 100 ms: a backlog of
//! events that sleep or wait on I/O fans out at once, as on Lambda. The
//! function's concurrency limits still apply beyond this.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// The limit never goes below this.
pub const MIN_LIMIT: usize = 4;
/// Nor above this (Lambda's default account concurrency).
pub const MAX_LIMIT: usize = 1000;
/// Runs at most this much slower than the best still count as unslowed.
const UNSLOWED: f64 = 1.5;
/// Functions whose best run time is remembered.
const MAX_FUNCTIONS: usize = 10_000;
/// How fast a best run time drifts up, per second (2 %: doubles in ~35 s).
const DRIFT_PER_SEC: f64 = 1.02;
/// How often events waiting for a place may double the limit.
const GROW_EVERY: Duration = Duration::from_millis(100);

#[derive(Debug)]
struct State {
    limit: usize,
    in_flight: usize,
    /// Whether events waited for a place during the current window.
    saturated: bool,
    /// Whether the last window's runs were slower than their best.
    slowed: bool,
    /// Each function's best run time (seconds), drifting up slowly so that a
    /// function whose code got slower is learned again.
    best: HashMap<String, f64>,
    /// When the best run times last drifted.
    drifted: Instant,
    /// Run times of this window, relative to their function's best.
    window: Vec<f64>,
}

/// The adaptive limit of events in flight.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<State>,
    freed: Notify,
}

/// One event's place in flight; dropping it frees the place.
#[derive(Debug)]
pub struct Slot {
    limiter: Arc<Limiter>,
}

impl Default for Limiter {
    fn default() -> Self {
        Self {
            state: Mutex::new(State {
                limit: MIN_LIMIT,
                in_flight: 0,
                saturated: false,
                slowed: false,
                best: HashMap::new(),
                drifted: Instant::now(),
                window: Vec::new(),
            }),
            freed: Notify::new(),
        }
    }
}

impl Limiter {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.state().limit
    }

    /// Waits until a place is free, then takes up to `max` places.
    pub async fn acquire(self: &Arc<Self>, max: usize) -> Vec<Slot> {
        loop {
            let freed = self.freed.notified();
            {
                let mut s = self.state();
                let free = s.limit.saturating_sub(s.in_flight).min(max);
                if free > 0 {
                    s.in_flight += free;
                    return (0..free)
                        .map(|_| Slot {
                            limiter: self.clone(),
                        })
                        .collect();
                }
                s.saturated = true;
            }
            tokio::select! {
                () = freed => {}
                () = tokio::time::sleep(GROW_EVERY) => {
                    let mut s = self.state();
                    if !s.slowed {
                        s.limit = (s.limit * 2).min(MAX_LIMIT);
                    }
                }
            }
        }
    }

    /// Records how long one of `function`'s events ran (init and queueing
    /// excluded) and adapts the limit at the end of each window.
    pub fn record(&self, function: &str, run: Duration) {
        let secs = run.as_secs_f64().max(1e-6);
        let mut s = self.state();
        if s.best.len() >= MAX_FUNCTIONS && !s.best.contains_key(function) {
            s.best.clear();
        }
        let best = s.best.entry(function.to_owned()).or_insert(secs);
        *best = best.min(secs);
        let ratio = secs / *best;
        s.window.push(ratio);
        if s.window.len() < s.limit.max(MIN_LIMIT * 2) {
            return;
        }
        let mut window = std::mem::take(&mut s.window);
        window.sort_by(f64::total_cmp);
        let median = window[window.len() / 2];
        s.slowed = median > UNSLOWED;
        if s.saturated {
            let limit = s.limit as f64;
            let next = if median <= UNSLOWED {
                limit * 2.0
            } else {
                limit * (1.0 / median).max(0.5) + limit.sqrt()
            };
            s.limit = (next.round() as usize).clamp(MIN_LIMIT, MAX_LIMIT);
        }
        s.saturated = false;
        let drift = DRIFT_PER_SEC.powf(s.drifted.elapsed().as_secs_f64());
        s.drifted = Instant::now();
        for best in s.best.values_mut() {
            *best *= drift;
        }
        window.clear();
        s.window = window;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.limiter.state().in_flight -= 1;
        self.limiter.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `rounds` windows in which every event takes `run(limit)`.
    async fn drive(limiter: &Arc<Limiter>, rounds: usize, run: impl Fn(usize) -> Duration) {
        for _ in 0..rounds {
            let limit = limiter.limit();
            let slots = limiter.acquire(usize::MAX).await;
            assert_eq!(slots.len(), limit);
            // The backlog is larger than the limit: the queue waits for a place.
            let waiter = {
                let limiter = limiter.clone();
                tokio::spawn(async move { limiter.acquire(1).await })
            };
            tokio::task::yield_now().await;
            for slot in slots {
                limiter.record("f", run(limit));
                drop(slot);
            }
            drop(waiter.await.unwrap());
        }
    }

    #[tokio::test]
    async fn grows_while_runs_do_not_slow_down() {
        let limiter = Arc::new(Limiter::default());
        drive(&limiter, 12, |_| Duration::from_millis(100)).await;
        assert_eq!(limiter.limit(), MAX_LIMIT);
    }

    #[tokio::test]
    async fn settles_when_the_cores_are_saturated() {
        let limiter = Arc::new(Limiter::default());
        // Two cores: beyond two events at once, each runs proportionally slower.
        let run = |limit: usize| Duration::from_micros(100 * (limit as u64).max(2) / 2);
        drive(&limiter, 30, run).await;
        let limit = limiter.limit();
        assert!((MIN_LIMIT..=8).contains(&limit), "limit {limit}");
    }

    #[tokio::test]
    async fn does_not_grow_without_a_backlog() {
        let limiter = Arc::new(Limiter::default());
        for _ in 0..100 {
            let slot = limiter.acquire(1).await;
            limiter.record("f", Duration::from_millis(1));
            drop(slot);
        }
        assert_eq!(limiter.limit(), MIN_LIMIT);
    }

    #[tokio::test]
    async fn waiting_events_fan_out_until_runs_slow_down() {
        let limiter = Arc::new(Limiter::default());
        // Slow events hold every place and none completes yet.
        let mut held = limiter.acquire(usize::MAX).await;
        while held.len() < 64 {
            held.extend(limiter.acquire(usize::MAX).await);
        }
        assert!(limiter.limit() >= 64, "limit {}", limiter.limit());
        // Then their runs turn out far slower than their best: no more doubling.
        limiter.record("f", Duration::from_millis(10));
        for _ in 1..limiter.limit() {
            limiter.record("f", Duration::from_millis(100));
        }
        let limit = limiter.limit();
        assert!(
            limit < held.len(),
            "the gradient shrinks the limit: {limit}"
        );
        let more = tokio::time::timeout(Duration::from_millis(500), limiter.acquire(1)).await;
        assert!(more.is_err(), "a place was given after runs slowed down");
        assert_eq!(limiter.limit(), limit);
        drop(held);
    }
}
