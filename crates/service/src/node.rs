//! This node's own membership status (cluster mode), shared between the
//! services' context, the membership loop (`cluster.rs`) and the API.

use std::sync::{Arc, Mutex};

/// What this node knows of itself, for `/_lambdad/cluster`.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LocalStatus {
    /// Its id (empty before it joined).
    pub node_id: String,
    /// Its incarnation.
    pub incarnation: i64,
    /// `active`, `draining` or `left`.
    pub state: String,
    /// Whether it could not renew its heartbeat for `cluster::FENCE_AFTER` and
    /// admits no work that needs a live membership.
    pub fenced: bool,
    /// The last change it applied.
    pub applied_seq: i64,
}

/// This node's status, shared with the API.
#[derive(Debug, Clone, Default)]
pub struct LocalNode(Arc<Mutex<LocalStatus>>);

impl LocalNode {
    /// A copy of the status now.
    pub fn status(&self) -> LocalStatus {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn update(&self, f: impl FnOnce(&mut LocalStatus)) {
        f(&mut self.0.lock().unwrap_or_else(|e| e.into_inner()));
    }
}
