//! The doorbells both backends ring after a commit that queued
//! asynchronous events (`Store::on_events_queued`), so that the async worker
//! wakes at once instead of polling.

use std::sync::Mutex;

use crate::AsyncEvent;

/// What is called after a commit that queued asynchronous events.
#[derive(Default)]
pub(crate) struct Doorbells(Mutex<Vec<Box<dyn Fn() + Send + Sync>>>);

impl std::fmt::Debug for Doorbells {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Doorbells")
    }
}

impl Doorbells {
    /// Adds a doorbell.
    pub(crate) fn add(&self, ring: Box<dyn Fn() + Send + Sync>) {
        let mut bells = self.0.lock().unwrap_or_else(|e| e.into_inner());
        bells.push(ring);
    }

    /// Rings every doorbell when `events` (just committed) is not empty.
    pub(crate) fn ring(&self, events: &[AsyncEvent]) {
        if events.is_empty() {
            return;
        }
        let bells = self.0.lock().unwrap_or_else(|e| e.into_inner());
        for ring in bells.iter() {
            ring();
        }
    }
}
