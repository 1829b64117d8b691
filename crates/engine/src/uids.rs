//! A distinct uid for every execution environment, so that no two
//! environments' processes share an identity even outside their namespaces.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// First and last uid handed out.
const FIRST: u32 = 20_000;
const LAST: u32 = 59_999;

/// The uids in use.
#[derive(Debug, Default, Clone)]
pub struct UidPool {
    inner: Arc<Mutex<(u32, HashSet<u32>)>>,
}

/// A uid held by one environment; returned to the pool when dropped.
#[derive(Debug)]
pub struct UidLease {
    uid: u32,
    pool: UidPool,
}

impl UidLease {
    /// The uid.
    pub fn uid(&self) -> u32 {
        self.uid
    }
}

impl Drop for UidLease {
    fn drop(&mut self) {
        let mut g = self.pool.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.1.remove(&self.uid);
    }
}

impl UidPool {
    /// The next free uid (round robin, so a uid is not reused at once).
    pub fn lease(&self) -> UidLease {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let span = LAST - FIRST + 1;
        let mut uid = FIRST + g.0 % span;
        for _ in 0..span {
            g.0 = g.0.wrapping_add(1);
            if !g.1.contains(&uid) {
                break;
            }
            uid = FIRST + g.0 % span;
        }
        // With 40,000 environments alive at once the pool is full: the uid is shared then.
        g.1.insert(uid);
        UidLease {
            uid,
            pool: self.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uids_are_distinct_and_reused_after_release() {
        let pool = UidPool::default();
        let a = pool.lease();
        let b = pool.lease();
        assert_ne!(a.uid(), b.uid());
        assert!((FIRST..=LAST).contains(&a.uid()));
        let first = a.uid();
        drop(a);
        let many: Vec<UidLease> = (0..100).map(|_| pool.lease()).collect();
        let set: HashSet<u32> = many.iter().map(UidLease::uid).collect();
        assert_eq!(set.len(), 100);
        assert!(!set.contains(&b.uid()));
        let _ = first;
    }
}
