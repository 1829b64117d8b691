//! Group commit of the asynchronous queue's writes. Each accept must be
//! durable before its 202, and a durable commit costs a sync of the disk;
//! accepts that arrive while one commits wait and then share the next
//! transaction, so N concurrent accepts cost one sync instead of N. A lone
//! accept commits at once, as before. Deleting handled events goes the same
//! way: one transaction for every event finished while the last one ran.

use std::sync::{Arc, OnceLock};

use lambdad_store::{AsyncEvent, Store, StoreError};
use tokio::sync::{mpsc, oneshot};

use crate::context::blocking;
use crate::error::{ServiceError, ServiceResult};

/// Most items written in one transaction.
const MAX_BATCH: usize = 512;

/// Writes one batch in one transaction.
type Write<T> = fn(&dyn Store, &[T]) -> Result<(), StoreError>;

type Pending<T> = (T, oneshot::Sender<ServiceResult<()>>);

/// A queue of writes of one kind, committed in shared transactions by a
/// task started on first use.
pub struct GroupCommit<T> {
    queue: Arc<OnceLock<mpsc::Sender<Pending<T>>>>,
    write: Write<T>,
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
            write: self.write,
        }
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    fn new(write: Write<T>) -> Self {
        Self {
            queue: Arc::default(),
            write,
        }
    }

    /// Writes `item` in a transaction shared with concurrent writes; returns
    /// once that transaction has committed.
    pub async fn commit(&self, store: &Arc<dyn Store>, item: T) -> ServiceResult<()> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
            tokio::spawn(committer(store.clone(), self.write, rx));
            tx
        });
        let (done, result) = oneshot::channel();
        let gone = || ServiceError::internal("the event queue is shutting down");
        queue.send((item, done)).await.map_err(|_| gone())?;
        result.await.map_err(|_| gone())?
    }
}

async fn committer<T: Send + 'static>(
    store: Arc<dyn Store>,
    write: Write<T>,
    mut rx: mpsc::Receiver<Pending<T>>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (items, waiters): (Vec<T>, Vec<_>) = batch.drain(..).unzip();
        let store = store.clone();
        let result = blocking(move || write(store.as_ref(), &items)).await;
        for waiter in waiters {
            let _ = waiter.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(ServiceError::internal(e.to_string())),
            });
        }
    }
}

/// The asynchronous queue's two group-committed writes.
#[derive(Clone)]
pub struct Accepts {
    /// New events, durable before their 202.
    pub enqueue: GroupCommit<AsyncEvent>,
    /// Ids of events whose outcome has been handled.
    pub delete: GroupCommit<String>,
}

impl std::fmt::Debug for Accepts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accepts").finish_non_exhaustive()
    }
}

impl Default for Accepts {
    fn default() -> Self {
        Self {
            enqueue: GroupCommit::new(|s, events| s.enqueue_events(events)),
            delete: GroupCommit::new(|s, ids| s.delete_events(ids)),
        }
    }
}
