//! This node as a member of a cluster (a shared store: see
//! `lambdad_store::cluster`): it joins the `cluster_nodes` table, renews
//! its heartbeat every second (reporting its load and the last change it
//! applied), declares nodes silent for 5 s dead, fences itself when it could
//! not renew for 4 s, and keeps its caches coherent with every other node's
//! writes: each change of a function's records (notified on commit, and
//! polled every second in case a notification was missed) invalidates the
//! `$LATEST` snapshot, retires the environments an update or delete made
//! stale and reloads a changed reservation; when the listening connection
//! breaks, or the node comes back from being fenced or declared dead, every
//! cache is flushed. With a store of one node (SQLite) none of this runs.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use lambdad_store::{ChangeRecord, Watch};
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::context::{Context, blocking};
use crate::error::{ServiceError, ServiceResult};
pub use crate::node::{LocalNode, LocalStatus};

/// How often a node renews its heartbeat.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long a node may be silent before any other declares it dead.
pub const DEAD_AFTER: Duration = Duration::from_secs(5);
/// How long a node that cannot renew keeps admitting work (less than
/// [`DEAD_AFTER`]: it stops before others may take its work over).
pub const FENCE_AFTER: Duration = Duration::from_secs(4);
/// The catch-up poll of the change log.
const POLL: Duration = Duration::from_secs(1);
/// Applied changes older than this are pruned from the log.
const CHANGE_RETENTION: Duration = Duration::from_secs(600);
/// Changes read at once.
const BATCH: usize = 500;

/// The node's load as it reports it.
pub fn load(ctx: &Context) -> Value {
    let e = ctx.engine.environments();
    json!({
        "Busy": e.busy,
        "Idle": e.idle + e.frozen,
        "Initialising": e.initialising,
        "InFlight": ctx.engine.concurrency().in_flight(),
    })
}

/// Whether some live node has not yet applied the latest change of
/// `function` (always false with a store of one node).
pub async fn change_pending(ctx: &Context, function: &str) -> ServiceResult<bool> {
    if ctx.store.cluster().is_none() {
        return Ok(false);
    }
    let (store, f) = (ctx.store.clone(), function.to_owned());
    blocking(move || match store.cluster() {
        Some(c) => c.change_pending(&f, DEAD_AFTER),
        None => Ok(false),
    })
    .await
}

/// `GET /_lambdad/cluster`: the nodes with their state, heartbeat age and load.
pub async fn status(ctx: &Context) -> ServiceResult<Value> {
    let local = ctx.node.status();
    if ctx.store.cluster().is_none() {
        return Ok(json!({
            "Mode": "single",
            "Self": local.clone(),
            "Nodes": [{
                "NodeId": local.node_id, "Incarnation": local.incarnation,
                "ApiAddr": "", "State": "active", "HeartbeatAgeMs": 0,
                "AppliedSeq": 0, "Load": load(ctx),
            }],
        }));
    }
    let store = ctx.store.clone();
    let nodes = blocking(move || match store.cluster() {
        Some(c) => c.nodes(),
        None => Ok(Vec::new()),
    })
    .await?;
    Ok(json!({ "Mode": "cluster", "Self": local, "Nodes": nodes }))
}

/// This node's membership and cache coherence.
pub struct Node {
    ctx: Context,
    id: String,
    api_addr: String,
    incarnation: AtomicI64,
    applied: AtomicI64,
    /// When the last heartbeat that succeeded was sent.
    renewed: Mutex<Instant>,
    fenced: AtomicBool,
    /// Caches must be flushed (changes may have been missed).
    flush: AtomicBool,
    wake: Notify,
}

impl Node {
    /// Joins the cluster as `id` (listening at `api_addr`) if the store is
    /// shared; `None` for a store of one node.
    pub async fn join(ctx: &Context, id: &str, api_addr: &str) -> ServiceResult<Option<Arc<Node>>> {
        ctx.node.update(|s| {
            s.node_id = id.to_owned();
            s.incarnation = 1;
            s.state = "active".to_owned();
        });
        if ctx.store.cluster().is_none() {
            return Ok(None);
        }
        let node = Arc::new(Node {
            ctx: ctx.clone(),
            id: id.to_owned(),
            api_addr: api_addr.to_owned(),
            incarnation: AtomicI64::new(0),
            applied: AtomicI64::new(0),
            renewed: Mutex::new(Instant::now()),
            fenced: AtomicBool::new(false),
            flush: AtomicBool::new(false),
            wake: Notify::new(),
        });
        // Listening before joining: no change after the join's seq goes unnoticed.
        let weak: Weak<Node> = Arc::downgrade(&node);
        if let Some(c) = ctx.store.cluster() {
            c.watch_changes(Arc::new(move |w| {
                if let Some(n) = weak.upgrade() {
                    if w == Watch::Broken {
                        tracing::warn!("The change notifications broke off; flushing the caches.");
                        n.flush.store(true, Ordering::SeqCst);
                    }
                    n.wake.notify_one();
                }
            }));
        }
        node.rejoin().await?;
        tracing::info!(
            node = id,
            incarnation = node.incarnation.load(Ordering::SeqCst),
            "Joined the cluster."
        );
        Ok(Some(node))
    }

    async fn rejoin(&self) -> ServiceResult<()> {
        let (store, id, addr) = (
            self.ctx.store.clone(),
            self.id.clone(),
            self.api_addr.clone(),
        );
        let (inc, applied) = blocking(move || match store.cluster() {
            Some(c) => c.join_node(&id, &addr),
            None => Ok((0, 0)),
        })
        .await?;
        self.incarnation.store(inc, Ordering::SeqCst);
        self.applied.store(applied, Ordering::SeqCst);
        *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.ctx.node.update(|s| {
            s.incarnation = inc;
            s.applied_seq = applied;
            s.state = "active".to_owned();
        });
        Ok(())
    }

    /// Heartbeats and applies changes until dropped (run it in a task).
    pub async fn run(self: Arc<Self>) {
        let beats = {
            let node = self.clone();
            async move {
                let mut tick = tokio::time::interval(HEARTBEAT);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                for n in 0u64.. {
                    tick.tick().await;
                    node.beat().await;
                    node.declare_dead().await;
                    if n % 60 == 59 {
                        node.prune().await;
                    }
                }
            }
        };
        let changes = {
            let node = self.clone();
            async move {
                loop {
                    tokio::select! {
                        () = node.wake.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                    node.catch_up().await;
                }
            }
        };
        tokio::join!(beats, changes);
    }

    /// Renews the heartbeat; rejoins when declared dead; fences when it
    /// could not renew for [`FENCE_AFTER`].
    async fn beat(&self) {
        let sent = Instant::now();
        let (store, id) = (self.ctx.store.clone(), self.id.clone());
        let (inc, applied) = (
            self.incarnation.load(Ordering::SeqCst),
            self.applied.load(Ordering::SeqCst),
        );
        let load = load(&self.ctx);
        let outcome = blocking(move || match store.cluster() {
            Some(c) => c.heartbeat(&id, inc, applied, &load),
            None => Ok(true),
        })
        .await;
        match outcome {
            Ok(true) => self.renewed(sent),
            Ok(false) => {
                tracing::warn!(node = %self.id, incarnation = inc, "This node was declared dead; flushing its caches and rejoining.");
                self.flush_caches().await;
                match self.rejoin().await {
                    Ok(()) => self.renewed(sent),
                    Err(e) => tracing::warn!(error = %e, "Cannot rejoin the cluster."),
                }
            }
            Err(e) => tracing::debug!(error = %e, "Heartbeat failed."),
        }
        let silent = self
            .renewed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed();
        if silent > FENCE_AFTER && !self.fenced.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                silent_ms = silent.as_millis() as u64,
                "Cannot renew the heartbeat: this node fences itself."
            );
            self.ctx.node.update(|s| s.fenced = true);
        }
    }

    fn renewed(&self, sent: Instant) {
        {
            let mut renewed = self.renewed.lock().unwrap_or_else(|e| e.into_inner());
            *renewed = (*renewed).max(sent);
        }
        if self.fenced.swap(false, Ordering::SeqCst) {
            tracing::info!("The heartbeat is renewed: this node admits work again.");
            self.ctx.node.update(|s| s.fenced = false);
            // Changes may have been missed meanwhile.
            self.flush.store(true, Ordering::SeqCst);
            self.wake.notify_one();
        }
    }

    async fn declare_dead(&self) {
        if self.fenced.load(Ordering::SeqCst) {
            return;
        }
        let store = self.ctx.store.clone();
        match blocking(move || match store.cluster() {
            Some(c) => c.declare_dead(DEAD_AFTER),
            None => Ok(Vec::new()),
        })
        .await
        {
            Ok(dead) if !dead.is_empty() => {
                tracing::warn!(nodes = ?dead, "Declared silent nodes dead.")
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "Cannot check for dead nodes."),
        }
    }

    async fn prune(&self) {
        let store = self.ctx.store.clone();
        let _ = blocking(move || match store.cluster() {
            Some(c) => c.prune_changes(CHANGE_RETENTION),
            None => Ok(0),
        })
        .await;
    }

    /// Applies every change after the applied seq (after a flush if one is due).
    async fn catch_up(&self) {
        if self.flush.swap(false, Ordering::SeqCst) {
            self.flush_caches().await;
        }
        loop {
            let (store, after) = (self.ctx.store.clone(), self.applied.load(Ordering::SeqCst));
            let changes = match blocking(move || match store.cluster() {
                Some(c) => c.changes_since(after, BATCH),
                None => Ok(Vec::new()),
            })
            .await
            {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!(error = %e, "Cannot read the change log.");
                    return;
                }
            };
            let Some(last) = changes.last().map(|c| c.seq) else {
                return;
            };
            for change in &changes {
                self.apply(change).await;
            }
            self.applied.store(last, Ordering::SeqCst);
            self.ctx.node.update(|s| s.applied_seq = last);
            // Reported at once: a waiter on another node is waiting for it.
            self.beat().await;
            if changes.len() < BATCH {
                return;
            }
        }
    }

    async fn apply(&self, change: &ChangeRecord) {
        let f = change.function.as_str();
        self.ctx.snapshots.invalidate(f);
        let engine = &self.ctx.engine;
        match (change.table.as_str(), change.op.as_str()) {
            ("functions", "UPDATE") => engine.retire(f, false),
            ("functions", "DELETE") => {
                engine.retire(f, true);
                engine.concurrency().set_reserved(f, None);
                engine.deprovision_function(f);
            }
            ("concurrency", _) => {
                if let Err(e) = self.reload_reserved(Some(f)).await {
                    tracing::warn!(function = f, error = %e, "Cannot reload a reservation.");
                }
            }
            _ => {}
        }
    }

    /// Sets the engine's reservation of `only` (or of every function) from the store.
    async fn reload_reserved(&self, only: Option<&str>) -> ServiceResult<()> {
        let store = self.ctx.store.clone();
        let all = blocking(move || store.reserved_concurrency()).await?;
        let concurrency = self.ctx.engine.concurrency();
        match only {
            Some(f) => {
                concurrency.set_reserved(f, all.iter().find(|(n, _)| n == f).map(|(_, r)| *r))
            }
            None => {
                for (name, reserved) in all {
                    concurrency.set_reserved(&name, Some(reserved));
                }
            }
        }
        Ok(())
    }

    async fn flush_caches(&self) {
        for name in self.ctx.snapshots.invalidate_all() {
            self.ctx.engine.retire(&name, false);
        }
        if let Err(e) = self.reload_reserved(None).await {
            tracing::warn!(error = %e, "Cannot reload the reservations.");
        }
    }

    /// SIGTERM: marks this node draining (it no longer counts for waiters).
    pub async fn drain(&self) {
        self.set_state("draining").await;
    }

    /// Leaves the cluster (the last thing a stopping node does).
    pub async fn leave(&self) {
        self.set_state("left").await;
    }

    async fn set_state(&self, state: &'static str) {
        let (store, id) = (self.ctx.store.clone(), self.id.clone());
        let inc = self.incarnation.load(Ordering::SeqCst);
        let done = blocking(move || match store.cluster() {
            Some(c) => c.set_node_state(&id, inc, state),
            None => Ok(false),
        })
        .await;
        match done {
            Ok(_) => {
                self.ctx.node.update(|s| s.state = state.to_owned());
                tracing::info!(node = %self.id, state, "Cluster membership state set.");
            }
            Err(e) => tracing::warn!(error = %e, state, "Cannot record the node's state."),
        }
    }
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A store error of the cluster calls, for callers that have no better one.
pub fn unavailable(why: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("cluster store: {why}"))
}
