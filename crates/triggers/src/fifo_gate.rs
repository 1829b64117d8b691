//! Order per message group for a FIFO queue's mapping, whatever the queue
//! server does: its workers receive one at a time (an SQS server that
//! answers concurrent receives of one FIFO queue can hand two receivers
//! messages of the same group, as moto's does), and a batch runs only the
//! messages of groups no other batch of the mapping has in flight. A
//! message of a group in flight elsewhere is handed back to the queue
//! (made visible again) rather than run out of order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The in-flight message groups of one FIFO mapping.
#[derive(Debug, Default)]
pub(crate) struct FifoGate {
    receiving: tokio::sync::Mutex<()>,
    busy: Mutex<HashSet<String>>,
}

/// The groups one batch holds; they are free again when it is dropped.
#[derive(Debug)]
pub(crate) struct Claim {
    gate: Arc<FifoGate>,
    groups: HashSet<String>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut busy = self.gate.lock();
        for g in &self.groups {
            busy.remove(g);
        }
    }
}

impl FifoGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.busy.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Held while a worker receives: one receive of the mapping at a time.
    pub(crate) async fn receiving(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.receiving.lock().await
    }

    /// Claims the groups of a received batch (`groups`: each message's
    /// group, in order). Returns the claim and the indices of the messages
    /// that may not run now, because another batch has their group.
    pub(crate) fn claim(self: &Arc<Self>, groups: &[&str]) -> (Claim, Vec<usize>) {
        let mut busy = self.lock();
        let mut mine = HashSet::new();
        let mut refused = Vec::new();
        for (i, g) in groups.iter().enumerate() {
            if mine.contains(*g) {
                continue;
            }
            if busy.contains(*g) {
                refused.push(i);
            } else {
                busy.insert((*g).to_owned());
                mine.insert((*g).to_owned());
            }
        }
        drop(busy);
        (
            Claim {
                gate: self.clone(),
                groups: mine,
            },
            refused,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_in_flight_is_refused_until_its_batch_ends() {
        let gate = Arc::new(FifoGate::default());
        let (first, refused) = gate.claim(&["a", "b", "a"]);
        assert!(refused.is_empty());
        let (second, refused) = gate.claim(&["c", "a", "b", "c", "a"]);
        assert_eq!(refused, vec![1, 2, 4], "a and b are the first batch's");
        drop(first);
        let (third, refused) = gate.claim(&["a", "b", "c"]);
        assert_eq!(refused, vec![2], "c is the second batch's");
        drop((second, third));
        let (_, refused) = gate.claim(&["a", "b", "c"]);
        assert!(refused.is_empty());
    }

    #[tokio::test]
    async fn receives_take_turns() {
        let gate = Arc::new(FifoGate::default());
        let held = gate.receiving().await;
        assert!(gate.receiving.try_lock().is_err());
        drop(held);
        assert!(gate.receiving.try_lock().is_ok());
    }
}
