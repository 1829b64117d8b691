//! [`SandboxSpec`]: everything the helper needs to build one environment.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A bind mount from the host into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// Host path.
    pub source: PathBuf,
    /// Path inside the sandbox.
    pub target: PathBuf,
    /// Whether the sandbox may write to it.
    pub writable: bool,
}

/// Resource limits of one environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Memory limit in bytes (the function's MemorySize).
    pub memory_bytes: u64,
    /// Most processes and threads.
    pub pids_max: u64,
    /// Relative CPU weight (cgroup v2 scale 1–10000; v1 shares are derived).
    pub cpu_weight: u64,
    /// Most CPU time per wall-clock time, in thousandths of one CPU
    /// (1000: one full CPU), enforced by the CFS bandwidth controller
    /// (v2 `cpu.max`, v1 `cpu.cfs_quota_us`); 0: no quota.
    #[serde(default)]
    pub cpu_quota_millis: u64,
}

/// The CFS bandwidth period, in microseconds (the kernel's default).
pub const CPU_PERIOD_US: u64 = 100_000;

impl Limits {
    /// The CFS quota per [`CPU_PERIOD_US`], in microseconds, if any (at
    /// least the kernel's minimum of 1 ms).
    pub fn cpu_quota_us(&self) -> Option<u64> {
        (self.cpu_quota_millis > 0)
            .then(|| (self.cpu_quota_millis * CPU_PERIOD_US / 1000).max(1000))
    }
}

/// One execution environment to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxSpec {
    /// Environment id: `[A-Za-z0-9-]+`, names the cgroup.
    pub id: String,
    /// Program and arguments as seen inside the sandbox.
    pub argv: Vec<String>,
    /// The complete environment (nothing is inherited).
    pub env: Vec<(String, String)>,
    /// Working directory inside the sandbox.
    pub cwd: PathBuf,
    /// A root file system (a container image's) to run in, read-only,
    /// instead of the host's system directories. It must hold the mount
    /// points `proc`, `dev` and `tmp`.
    #[serde(default)]
    pub rootfs: Option<PathBuf>,
    /// Bind mounts, applied in order.
    pub binds: Vec<Bind>,
    /// Size of the private /tmp in bytes.
    pub tmp_bytes: u64,
    /// Resource limits.
    pub limits: Limits,
    /// User id the program runs as.
    pub uid: u32,
    /// Group id the program runs as.
    pub gid: u32,
    /// Hostname inside the sandbox.
    pub hostname: String,
    /// A network namespace to join (see [`crate::IsolatedNetwork::path`]);
    /// `None` keeps the host's network.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// Whether `listen(2)` fails with EPERM (network mode `none`).
    #[serde(default)]
    pub deny_listen: bool,
}

impl SandboxSpec {
    /// Whether the id is safe to use in paths.
    pub fn id_is_valid(&self) -> bool {
        !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    }
}
