//! Execution environments: one isolated process tree per environment.
//!
//! The server never forks from its async runtime. [`NamespaceBackend`]
//! starts an environment by re-executing the lambdad binary as
//! `lambdad __sandbox-init` (see [`init_main`]), a small single-threaded
//! helper that reads the [`SandboxSpec`] from its stdin, unshares mount, PID,
//! IPC and UTS namespaces, forks the runtime as PID 1 of the new PID
//! namespace, and waits for it. The runtime's side builds a fresh root
//! (read-only host system directories, the spec's binds, a private size-limited
//! /tmp, a new /proc, a minimal /dev), pivots into it, drops to an unprivileged
//! uid with no capabilities, sets no_new_privs, installs a seccomp deny-list
//! and execs the program. The helper puts the runtime into a cgroup per
//! environment (memory, pids, cpu; freezer) before it execs. A few helpers
//! are started ahead of need, their cgroups made, each waiting for a spec
//! (`pool`): a cold start then only sets the limits and sends the spec.
//!
//! [`ProcessBackend`] runs the program as a plain child process, for hosts
//! where none of this is permitted; it isolates nothing.
//!
//! This crate knows nothing about Lambda: it takes a [`SandboxSpec`].

mod cgroup;
mod init;
mod net;
mod pool;
mod process;
mod seccomp;
mod spec;

use std::path::Path;
use std::sync::Arc;

pub use cgroup::{Cgroup, favor_dynamic_migrations};
pub use init::init_main;
pub use net::{IsolatedNetwork, tcp_peer_uid};
pub use process::{ExitInfo, NamespaceBackend, ProcessBackend, Sandbox};
pub use spec::{Bind, CPU_PERIOD_US, Limits, SandboxSpec};

/// Which backend the caller asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference {
    /// Namespaces when possible, else plain processes (with a loud warning).
    Auto,
    /// Namespaces or an error.
    Namespace,
    /// Plain processes.
    Process,
}

/// Sandbox failures.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The helper process could not be started.
    #[error("cannot start the sandbox helper {path}: {source}")]
    Spawn {
        /// Helper path.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// A cgroup operation failed.
    #[error("cgroup {path}: {source}")]
    Cgroup {
        /// The cgroup file or directory.
        path: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// Talking to or waiting for the sandbox failed.
    #[error("sandbox {id}: {source}")]
    Io {
        /// Environment id.
        id: String,
        /// Cause.
        #[source]
        source: std::io::Error,
    },
    /// The host does not permit namespaces and cgroups.
    #[error("namespace sandboxes are not available on this host: {0}")]
    Unavailable(String),
}

/// Starts execution environments.
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// `namespace` or `process`.
    fn name(&self) -> &'static str;
    /// Starts the program described by `spec`.
    fn spawn(&self, spec: &SandboxSpec) -> Result<Sandbox, SandboxError>;
    /// Whether environments run as the uid their spec names, so that their
    /// sockets can be told apart from other users' (false for plain processes,
    /// which run as lambdad's own user).
    fn isolates_users(&self) -> bool {
        false
    }
    /// A network namespace with only loopback, listening on `port` in it;
    /// `None` when the backend cannot isolate networks (plain processes).
    fn isolated_network(&self, port: u16) -> Result<Option<IsolatedNetwork>, SandboxError> {
        let _ = port;
        Ok(None)
    }
}

/// Whether `fd` (an environment's output pipe) has bytes to read or has
/// lost its writer, without waiting; errors count as "maybe".
pub fn readable_now(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    let mut fds = [PollFd::new(fd, PollFlags::POLLIN)];
    !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(0))
}

/// Picks a backend. `helper_exe` is the program run as `HELPER __sandbox-init` for each
/// environment (`lambdad-sandbox-init`, or the lambdad binary itself);
/// `roots_dir` is an empty host directory the sandboxes mount their root on;
/// `prestarted` helpers wait ready for cold starts (namespace backend).
pub fn detect(
    helper_exe: &Path,
    roots_dir: &Path,
    preference: Preference,
    prestarted: usize,
) -> Result<Arc<dyn Backend>, SandboxError> {
    if preference == Preference::Process {
        return Ok(Arc::new(ProcessBackend));
    }
    match NamespaceBackend::new(helper_exe, roots_dir, prestarted) {
        Ok(b) => Ok(Arc::new(b)),
        Err(e) if preference == Preference::Auto => {
            tracing::warn!(
                error = %e,
                "Namespace sandboxes are unavailable: falling back to the PROCESS backend. \
                 Function code runs WITHOUT ISOLATION, memory limits or freezing. Do not run untrusted code."
            );
            Ok(Arc::new(ProcessBackend))
        }
        Err(e) => Err(e),
    }
}
