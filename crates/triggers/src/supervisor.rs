//! The pollers' supervisor: one task per enabled event source mapping of a
//! kind, started when the mapping appears, restarted when its configuration
//! changes and stopped when it is disabled or deleted. The SQS, stream and
//! RabbitMQ and Kafka pollers share it.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use lambdad_service::esm::{Mapping, Mappings};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How often the mappings are read again.
const RESCAN: Duration = Duration::from_secs(1);

/// How long a stopped poller may take to finish (a broker consumer closes
/// its channel) before it is aborted.
const GRACE: Duration = Duration::from_secs(5);

/// A running poller.
struct Running {
    /// The mapping as it was started (JSON): a change restarts the poller.
    config: String,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    /// Asks the poller to stop, waits for it up to [`GRACE`], then aborts it.
    async fn stop(self) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(GRACE, &mut task).await.is_err() {
            task.abort();
        }
    }
}

/// Keeps one `poll(mapping, stop)` task per enabled mapping that `kind`
/// selects until `shutdown` is cancelled, then stops them all. A poller
/// must return soon after its `stop` token is cancelled; one that cannot
/// stop at a chosen point can be run through [`until_stopped`].
pub async fn run<F, Fut>(
    mappings: &Mappings,
    kind: impl Fn(&Mapping) -> bool,
    mut poll: F,
    shutdown: CancellationToken,
) where
    F: FnMut(Mapping, CancellationToken) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut running: HashMap<String, Running> = HashMap::new();
    loop {
        if let Ok(all) = mappings.mappings().await {
            let mut wanted = HashSet::new();
            for m in all.into_iter().filter(|m| m.enabled && kind(m)) {
                let config = serde_json::to_string(&m).unwrap_or_default();
                wanted.insert(m.uuid.clone());
                if running.get(&m.uuid).is_some_and(|r| r.config == config) {
                    continue;
                }
                if let Some(old) = running.remove(&m.uuid) {
                    old.stop().await;
                }
                let stop = shutdown.child_token();
                let uuid = m.uuid.clone();
                let task = tokio::spawn(poll(m, stop.clone()));
                running.insert(uuid, Running { config, stop, task });
            }
            let gone: Vec<String> = running
                .keys()
                .filter(|uuid| !wanted.contains(*uuid))
                .cloned()
                .collect();
            for uuid in gone {
                if let Some(old) = running.remove(&uuid) {
                    old.stop().await;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(RESCAN) => {}
            () = shutdown.cancelled() => break,
        }
    }
    // The tokens are children of `shutdown`: every poller is already asked.
    for (_, r) in running {
        r.stop().await;
    }
}

/// Runs `poll` until it ends or `stop` is cancelled (then drops it, and
/// with it the tasks it owns).
pub async fn until_stopped(poll: impl Future<Output = ()>, stop: CancellationToken) {
    tokio::select! {
        () = poll => {}
        () = stop.cancelled() => {}
    }
}
