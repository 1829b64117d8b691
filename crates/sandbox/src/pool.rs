//! Sandbox helpers started ahead of need. Each has its cgroups made (no
//! limits yet) and waits for its spec on stdin, so that a cold start skips
//! creating the cgroups and starting the helper process (~1.5 ms of a
//! custom-runtime cold start on two cores). One thread keeps the pool full.
//!
//! The pool holds whatever its launcher starts (the namespace backend's
//! waiting helpers): it names no other module of the crate.

use std::fmt::{Debug, Display};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long after a helper is taken the pool starts its replacement.
const REFILL_DELAY: Duration = Duration::from_millis(5);

/// Starts one waiting helper in the cgroup named by its argument.
pub(crate) type Launch<T, E> = Box<dyn Fn(&str) -> Result<T, E> + Send>;

#[derive(Debug)]
pub(crate) struct Pool<T> {
    shared: Arc<Shared<T>>,
    filler: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Debug)]
struct Shared<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
}

#[derive(Debug)]
struct State<T> {
    ready: Vec<T>,
    wanted: usize,
    closed: bool,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T: Debug + Send + 'static> Pool<T> {
    /// A pool of `wanted` helpers, filled by a thread of its own.
    pub(crate) fn start<E: Display + 'static>(
        wanted: usize,
        launch: Launch<T, E>,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                ready: Vec::new(),
                wanted,
                closed: false,
            }),
            changed: Condvar::new(),
        });
        let filler = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("sandbox-pool".into())
                .spawn(move || fill(&shared, &launch))?
        };
        Ok(Self {
            shared,
            filler: Mutex::new(Some(filler)),
        })
    }

    /// A waiting helper, when one is ready; the pool starts a replacement.
    pub(crate) fn take(&self) -> Option<T> {
        let taken = self.shared.lock().ready.pop();
        if taken.is_some() {
            self.shared.changed.notify_all();
        }
        taken
    }

    /// How many helpers wait ready.
    pub(crate) fn ready(&self) -> usize {
        self.shared.lock().ready.len()
    }

    /// Stops the filling thread and ends every waiting helper.
    pub(crate) fn close(&self) {
        let ready = {
            let mut state = self.shared.lock();
            state.closed = true;
            std::mem::take(&mut state.ready)
        };
        self.shared.changed.notify_all();
        drop(ready);
        let filler = self
            .filler
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(filler) = filler {
            let _ = filler.join();
        }
    }
}

fn fill<T, E: Display>(shared: &Shared<T>, launch: &Launch<T, E>) {
    let mut started: u64 = 0;
    loop {
        {
            let mut state = shared.lock();
            while !state.closed && state.ready.len() >= state.wanted {
                state = shared
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            // Not at once: the cold start that took a helper is still
            // building its sandbox, and on a small host a helper starting
            // beside it would slow it down.
            let (state, _) = shared
                .changed
                .wait_timeout_while(state, REFILL_DELAY, |s| !s.closed)
                .unwrap_or_else(PoisonError::into_inner);
            if state.closed {
                return;
            }
        }
        // Then fill up.
        loop {
            {
                let state = shared.lock();
                if state.closed {
                    return;
                }
                if state.ready.len() >= state.wanted {
                    break;
                }
            }
            started += 1;
            match launch(&format!("pool-{started}")) {
                Ok(sandbox) => {
                    let mut state = shared.lock();
                    if state.closed {
                        drop(state);
                        drop(sandbox);
                        return;
                    }
                    state.ready.push(sandbox);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Could not start a sandbox helper ahead of need");
                    // Cold starts start their own meanwhile; try again later.
                    let state = shared.lock();
                    let _ = shared
                        .changed
                        .wait_timeout_while(state, Duration::from_secs(1), |s| !s.closed);
                }
            }
        }
    }
}
