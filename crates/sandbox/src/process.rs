//! The two backends and the [`Sandbox`] handle they return.

use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};

use crate::cgroup::{Cgroup, Layout};
use crate::init::InitMessage;
use crate::pool::Pool;
use crate::spec::SandboxSpec;
use crate::{Backend, IsolatedNetwork, SandboxError};

/// How an environment's process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code, when it exited.
    pub code: Option<i32>,
    /// Signal, when one killed it.
    pub signal: Option<i32>,
    /// Whether the memory limit's OOM killer ended it.
    pub oom_killed: bool,
}

/// A running execution environment. Dropping it kills every process in it
/// and removes its cgroup.
#[derive(Debug)]
pub struct Sandbox {
    id: String,
    child: Child,
    cgroup: Option<Cgroup>,
    /// The helper exits 128 + signal for a runtime killed by a signal.
    via_helper: bool,
    exited: Option<ExitInfo>,
    /// The helper's stdin: it kills the environment when this closes.
    lifeline: Option<std::fs::File>,
}

impl Sandbox {
    /// The environment id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Host pid of the process the backend started (the helper, for namespaces).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The runtime's stdout.
    pub fn take_stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// The runtime's stderr.
    pub fn take_stderr(&mut self) -> Option<ChildStderr> {
        self.child.stderr.take()
    }

    /// Stops every process (no-op without cgroups).
    pub fn freeze(&self) -> Result<(), SandboxError> {
        self.cgroup.as_ref().map_or(Ok(()), Cgroup::freeze)
    }

    /// Resumes every process.
    pub fn thaw(&self) -> Result<(), SandboxError> {
        self.cgroup.as_ref().map_or(Ok(()), Cgroup::thaw)
    }

    /// Kills every process of the environment.
    pub fn kill(&mut self) {
        if let Some(cg) = &self.cgroup {
            cg.kill_all();
        }
        let _ = self.child.kill();
    }

    fn info(&self, status: ExitStatus) -> ExitInfo {
        let oom = self.cgroup.as_ref().is_some_and(Cgroup::oom_killed);
        match (status.code(), status.signal()) {
            (Some(code), _) if self.via_helper && code > 128 => ExitInfo {
                code: None,
                signal: Some(code - 128),
                oom_killed: oom,
            },
            (code, signal) => ExitInfo {
                code,
                signal,
                oom_killed: oom,
            },
        }
    }

    /// The exit, if the environment's process has ended.
    pub fn try_wait(&mut self) -> Result<Option<ExitInfo>, SandboxError> {
        if let Some(e) = self.exited {
            return Ok(Some(e));
        }
        let status = self.child.try_wait().map_err(|source| SandboxError::Io {
            id: self.id.clone(),
            source,
        })?;
        let info = status.map(|s| self.info(s));
        self.exited = info;
        Ok(info)
    }

    /// Blocks until the environment's process ends.
    pub fn wait(&mut self) -> Result<ExitInfo, SandboxError> {
        if let Some(e) = self.exited {
            return Ok(e);
        }
        let status = self.child.wait().map_err(|source| SandboxError::Io {
            id: self.id.clone(),
            source,
        })?;
        let info = self.info(status);
        self.exited = Some(info);
        Ok(info)
    }

    /// Peak memory in bytes (0 when unknown).
    pub fn max_memory_bytes(&self) -> u64 {
        self.cgroup.as_ref().map_or(0, Cgroup::max_memory_bytes)
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.kill();
        let _ = self.child.wait();
        if let Some(cg) = &self.cgroup {
            cg.remove();
        }
    }
}

/// Namespaces + cgroups + seccomp (see the crate docs).
#[derive(Debug)]
pub struct NamespaceBackend {
    helper: PathBuf,
    roots: PathBuf,
    layout: Layout,
    /// Names this server's cgroup subtree: a hash of its roots directory, so
    /// that servers with different data dirs on one host never touch each
    /// other's environments, and a restarted server finds its own leftovers.
    instance: String,
    /// Helpers started ahead of need (none when asked for none).
    pool: Option<Pool<Sandbox>>,
}

impl NamespaceBackend {
    /// Checks the host and prepares the cgroup parents (removing leftovers
    /// of a crash); keeps `prestarted` helpers waiting for cold starts.
    pub fn new(helper: &Path, roots_dir: &Path, prestarted: usize) -> Result<Self, SandboxError> {
        if !nix::unistd::geteuid().is_root() {
            return Err(SandboxError::Unavailable(
                "lambdad is not running as root (rootless sandboxes with user namespaces are not implemented yet)".into(),
            ));
        }
        std::fs::create_dir_all(roots_dir).map_err(|source| SandboxError::Io {
            id: "roots".into(),
            source,
        })?;
        let roots = roots_dir
            .canonicalize()
            .map_err(|source| SandboxError::Io {
                id: "roots".into(),
                source,
            })?;
        let instance = format!("{:016x}", fnv1a(roots.as_os_str().as_encoded_bytes()));
        let layout = Layout::detect()?;
        layout.prepare(&instance)?;
        let pool = if prestarted == 0 {
            None
        } else {
            let (helper, layout, instance) = (helper.to_owned(), layout.clone(), instance.clone());
            let launch = move |name: &str| {
                let cgroup = layout.create(&instance, name, None)?;
                start_helper(&helper, name, cgroup, None).map(|(sandbox, _)| sandbox)
            };
            let pool =
                Pool::start(prestarted, Box::new(launch)).map_err(|source| SandboxError::Io {
                    id: "pool".into(),
                    source,
                })?;
            Some(pool)
        };
        Ok(Self {
            helper: helper.to_owned(),
            roots,
            layout,
            instance,
            pool,
        })
    }

    /// How many helpers started ahead of need wait ready now.
    pub fn prestarted_ready(&self) -> usize {
        self.pool.as_ref().map_or(0, Pool::ready)
    }

    /// Whether environments get their limits on cgroup v2 (else on the v1
    /// memory, pids and cpu hierarchies).
    pub fn cgroup_v2(&self) -> bool {
        matches!(self.layout, Layout::V2(_))
    }

    /// The cgroup directories of environment `id` (`pool-N` for the Nth
    /// helper started ahead of need), one per hierarchy this backend uses:
    /// the v2 cgroup, or one per v1 controller plus the controller-less v2
    /// one used for freezing. They exist while the environment does.
    pub fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        self.layout.dirs(&self.instance, id)
    }

    /// The directory of environment `id` holding `controller`'s files
    /// (`memory`, `pids`, `cpu`, `freezer`), on v2 or v1 as this host has it.
    pub fn cgroup_dir(&self, id: &str, controller: &str) -> Option<PathBuf> {
        self.layout.controller_dir(&self.instance, id, controller)
    }

    /// The spec for a helper, as one line.
    fn spec_line(&self, spec: &SandboxSpec) -> Result<Vec<u8>, SandboxError> {
        let msg = InitMessage {
            spec: spec.clone(),
            root_dir: self.roots.clone(),
        };
        let mut line = serde_json::to_vec(&msg).map_err(|e| SandboxError::Io {
            id: spec.id.clone(),
            source: std::io::Error::other(e),
        })?;
        line.push(b'\n');
        Ok(line)
    }
}

/// Gives a waiting helper its environment's limits and spec (`line`).
fn hand_over(
    mut sandbox: Sandbox,
    spec: &SandboxSpec,
    line: &[u8],
) -> Result<Sandbox, SandboxError> {
    if let Some(cgroup) = &sandbox.cgroup {
        cgroup.apply(&spec.limits)?;
    }
    sandbox.id.clone_from(&spec.id);
    let lifeline = sandbox
        .lifeline
        .as_mut()
        .expect("a helper has its lifeline");
    lifeline
        .write_all(line)
        .map_err(|source| SandboxError::Io {
            id: spec.id.clone(),
            source,
        })?;
    Ok(sandbox)
}

/// Starts a helper for environment `id` in `cgroup`. Its stdin is a pipe
/// whose write end lambdad keeps as the helper's lifeline; the spec line
/// (`early`), when given, is written into it before the helper starts if the
/// pipe holds it all, so that the helper reads it at once instead of waiting
/// for this thread to be scheduled again (~0.4-1 ms of a cold start on two
/// cores). Returns whether the spec was written.
fn start_helper(
    helper: &Path,
    id: &str,
    cgroup: Cgroup,
    early: Option<&[u8]>,
) -> Result<(Sandbox, bool), SandboxError> {
    let started = spawn_helper(helper, id, &cgroup, early);
    match started {
        Ok((child, lifeline, written)) => {
            let sandbox = Sandbox {
                id: id.to_owned(),
                child,
                cgroup: Some(cgroup),
                via_helper: true,
                exited: None,
                lifeline: Some(lifeline),
            };
            Ok((sandbox, written))
        }
        Err(e) => {
            cgroup.remove();
            Err(e)
        }
    }
}

fn spawn_helper(
    helper: &Path,
    id: &str,
    cgroup: &Cgroup,
    early: Option<&[u8]>,
) -> Result<(Child, std::fs::File, bool), SandboxError> {
    let io_err = |source| SandboxError::Io {
        id: id.to_owned(),
        source,
    };
    let (stdin, lifeline) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| io_err(e.into()))?;
    let mut lifeline = std::fs::File::from(lifeline);
    let capacity = nix::fcntl::fcntl(&lifeline, nix::fcntl::FcntlArg::F_GETPIPE_SZ)
        .map_err(|e| io_err(e.into()))?;
    let early = early.filter(|line| usize::try_from(capacity).is_ok_and(|c| line.len() <= c));
    if let Some(line) = early {
        lifeline.write_all(line).map_err(io_err)?;
    }
    let child = Command::new(helper)
        .arg("__sandbox-init")
        .args(cgroup.procs_files())
        .env_clear()
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SandboxError::Spawn {
            path: helper.display().to_string(),
            source,
        })?;
    Ok((child, lifeline, early.is_some()))
}

impl Backend for NamespaceBackend {
    fn name(&self) -> &'static str {
        "namespace"
    }

    fn spawn(&self, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        if !spec.id_is_valid() {
            return Err(SandboxError::Io {
                id: spec.id.clone(),
                source: std::io::Error::other("invalid environment id"),
            });
        }
        let line = self.spec_line(spec)?;
        if let Some(waiting) = self.pool.as_ref().and_then(Pool::take) {
            match hand_over(waiting, spec, &line) {
                Ok(sandbox) => return Ok(sandbox),
                // Such a helper may have been killed meanwhile: start one.
                Err(e) => {
                    tracing::warn!(error = %e, "A prestarted sandbox helper failed; starting another")
                }
            }
        }
        let cgroup = self
            .layout
            .create(&self.instance, &spec.id, Some(&spec.limits))?;
        match start_helper(&self.helper, &spec.id, cgroup, Some(&line))? {
            (sandbox, true) => Ok(sandbox),
            (sandbox, false) => hand_over(sandbox, spec, &line),
        }
    }

    fn isolates_users(&self) -> bool {
        true
    }

    fn isolated_network(&self, port: u16) -> Result<Option<IsolatedNetwork>, SandboxError> {
        IsolatedNetwork::new(port)
            .map(Some)
            .map_err(|source| SandboxError::Io {
                id: "netns".into(),
                source,
            })
    }
}

impl Drop for NamespaceBackend {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.close();
        }
        // Succeeds only once every environment is gone; leaves nothing behind then.
        self.layout.remove_instance(&self.instance);
    }
}

/// FNV-1a, a stable 64-bit hash (std's hasher is randomly seeded).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Plain child processes: no isolation at all (development fallback).
/// Paths under a bind target are translated to the bind's host source.
#[derive(Debug)]
pub struct ProcessBackend;

fn host_path(spec: &SandboxSpec, path: &Path) -> PathBuf {
    for b in spec.binds.iter().rev() {
        if let Ok(rest) = path.strip_prefix(&b.target) {
            return b.source.join(rest);
        }
    }
    path.to_owned()
}

impl Backend for ProcessBackend {
    fn name(&self) -> &'static str {
        "process"
    }

    fn spawn(&self, spec: &SandboxSpec) -> Result<Sandbox, SandboxError> {
        if spec.rootfs.is_some() {
            return Err(SandboxError::Unavailable(
                "container image functions need the namespace sandbox (their image is their root)"
                    .into(),
            ));
        }
        let program = spec
            .argv
            .first()
            .map(|p| host_path(spec, Path::new(p)))
            .unwrap_or_default();
        let child = Command::new(&program)
            .args(spec.argv.iter().skip(1))
            .env_clear()
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(host_path(spec, &spec.cwd))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| SandboxError::Spawn {
                path: program.display().to_string(),
                source,
            })?;
        Ok(Sandbox {
            id: spec.id.clone(),
            child,
            cgroup: None,
            via_helper: false,
            exited: None,
            lifeline: None,
        })
    }
}
