//! Group commit of accepted asynchronous events. Each accept must be
//! durable before its 202, and a durable commit costs a sync of the disk;
//! accepts that arrive while one commits wait and then share the next
//! transaction, so N concurrent accepts cost one sync instead of N. A lone
//! accept commits at once, as before.

use std::sync::{Arc, OnceLock};

use lambdad_model::Code;
use lambdad_store::{AsyncEvent, Store};
use tokio::sync::{mpsc, oneshot};

use super::functions::blocking;
use crate::api::error::{ApiError, ApiResult};

/// Most events committed in one transaction.
const MAX_BATCH: usize = 512;

type Pending = (AsyncEvent, oneshot::Sender<ApiResult<()>>);

/// The committer's queue (started on first use).
#[derive(Clone, Default)]
pub struct Accepts {
    queue: Arc<OnceLock<mpsc::Sender<Pending>>>,
}

impl Accepts {
    /// Stores `event` durably, in a transaction shared with concurrent accepts.
    pub async fn commit(&self, store: &Arc<dyn Store>, event: AsyncEvent) -> ApiResult<()> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_BATCH * 4);
            tokio::spawn(committer(store.clone(), rx));
            tx
        });
        let (done, result) = oneshot::channel();
        let gone = || ApiError::new(Code::Service, "the event queue is shutting down");
        queue.send((event, done)).await.map_err(|_| gone())?;
        result.await.map_err(|_| gone())?
    }
}

async fn committer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Pending>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (events, waiters): (Vec<AsyncEvent>, Vec<_>) = batch.drain(..).unzip();
        let store = store.clone();
        let result = blocking(move || store.enqueue_events(&events)).await;
        for waiter in waiters {
            let _ = waiter.send(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(ApiError(e.0.clone())),
            });
        }
    }
}
