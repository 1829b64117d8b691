//! One execution environment: a sandboxed runtime process, its Runtime API,
//! its log capture, and the invoke/freeze lifecycle.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use lambdad_model::{NetworkMode, VersionSnapshot};
use lambdad_sandbox::{Backend, Bind, ExitInfo, Limits, Sandbox, SandboxSpec};
use tokio::io::Interest;
use tokio::net::unix::pipe;
use tokio::sync::{mpsc, oneshot, watch};

use crate::logs::{EnvLog, stream_name};
use crate::runtime::RuntimeCommand;
use crate::runtime_api::{InitError, Invocation, Outcome, RuntimeApi};
use crate::{EngineConfig, InvokeError};

/// Longest init phase of an on-demand environment (AWS: 10 s); one that
/// takes longer is retried once with the function's timeout, as AWS does.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// Shortest init limit of a provisioned environment (AWS: the function's
/// timeout or 130 s, whichever is longer).
pub const PROVISIONED_INIT_TIMEOUT: Duration = Duration::from_secs(130);
/// Where the Runtime API listens inside an environment's own network (AWS's port).
const RUNTIME_API_PORT: u16 = 9001;
/// Variables an image's ENV cannot set (Lambda's reserved ones).
const RESERVED: &[&str] = &[
    "AWS_LAMBDA_RUNTIME_API",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "_HANDLER",
];
/// Longest accepted log line; longer lines are split.
const MAX_LINE: usize = 256 * 1024;

/// How an invocation in this environment ended, from the platform's view.
#[derive(Debug)]
pub enum RunResult {
    /// The runtime answered (response, error or oversized response).
    Answered(Outcome),
    /// The runtime process ended first.
    Exited(ExitInfo),
    /// The function's timeout passed.
    TimedOut,
}

/// Why an environment could not be initialised.
#[derive(Debug)]
pub enum InitFailure {
    /// `/init/error` was called.
    Reported(InitError),
    /// The process ended before asking for work.
    Exited(ExitInfo),
    /// Init took longer than its limit (the one given).
    TimedOut(Duration),
}

/// What a new environment is started with.
#[derive(Debug)]
pub struct NewEnvironment {
    /// Its share of the host memory budget.
    pub commitment: crate::capacity::Commitment,
    /// The version it runs.
    pub snapshot: Arc<VersionSnapshot>,
    /// The runtime's program.
    pub cmd: RuntimeCommand,
    /// The function's retire generation.
    pub generation: u64,
    /// Whether to capture its init output for a log tail.
    pub capture: bool,
    /// Set when a provisioned concurrency configuration starts it.
    pub provisioned: Option<crate::member::Member>,
    /// Its own uid (set by the engine when it starts the environment).
    pub uid: Option<crate::uids::UidLease>,
    /// The longest its init may take.
    pub init_limit: Duration,
}

/// A started environment and its init duration, or one whose init failed.
pub(crate) type Started = Result<(Arc<Environment>, Duration), (Arc<Environment>, InitFailure)>;

/// Where an environment is in its lifecycle (guards freezing against reuse).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Running an invocation (or initialising).
    Busy,
    /// In the pool, runnable.
    Idle,
    /// In the pool, frozen.
    Frozen,
}

/// A running environment.
#[derive(Debug)]
pub struct Environment {
    /// 32 hex characters, as in AWS's log stream names.
    pub id: String,
    /// The version it runs.
    pub snapshot: Arc<VersionSnapshot>,
    /// Its log stream.
    pub log: Arc<EnvLog>,
    /// The function's retire generation when it started.
    pub generation: u64,
    /// Set for environments kept warm by a provisioned concurrency configuration.
    pub provisioned: Option<crate::member::Member>,
    sandbox: Mutex<Option<Sandbox>>,
    commitment: Mutex<Option<crate::capacity::Commitment>>,
    phase: Mutex<Phase>,
    /// Invocations taken so far (a freeze planned before the last one is void).
    takes: AtomicU64,
    /// Held for the environment's lifetime; the uid returns to the pool after.
    _uid: Option<crate::uids::UidLease>,
    /// The environment's own network namespace, if it has one.
    _netns: Option<std::fs::File>,
    api: RuntimeApi,
    exited: watch::Receiver<bool>,
    outputs: Vec<Output>,
}

/// One of an environment's output pipes, read into its log by a task.
#[derive(Debug)]
struct Output {
    /// Asks the reader to log everything readable now, and answers when done.
    flush: mpsc::Sender<oneshot::Sender<()>>,
    /// The pipe (a duplicate), to see without a round trip that nothing is waiting.
    fd: Option<OwnedFd>,
    /// Set by the reader while it holds bytes it has read but not logged.
    busy: Arc<AtomicBool>,
}

impl Output {
    /// Whether the log may lack something the runtime wrote before now. The
    /// pipe is polled before `busy` is read: bytes gone from the pipe were
    /// taken by the reader, which set `busy` before reading them.
    fn pending(&self) -> bool {
        let Some(fd) = &self.fd else { return true };
        lambdad_sandbox::readable_now(fd.as_fd()) || self.busy.load(Ordering::SeqCst)
    }
}

fn env_vars(
    cfg: &EngineConfig,
    s: &VersionSnapshot,
    api: &str,
    stream: &str,
    cmd: &RuntimeCommand,
    init_type: &str,
) -> Vec<(String, String)> {
    let mut vars: std::collections::BTreeMap<String, String> =
        s.environment.clone().into_iter().collect();
    let mut set = |k: &str, v: &str| {
        vars.insert(k.to_owned(), v.to_owned());
    };
    set("AWS_LAMBDA_RUNTIME_API", api);
    set("_HANDLER", &s.handler);
    set("AWS_LAMBDA_FUNCTION_NAME", &s.function_name);
    set("AWS_LAMBDA_FUNCTION_VERSION", &s.version);
    set("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", &s.memory_mb.to_string());
    set("AWS_LAMBDA_LOG_GROUP_NAME", &s.log_group);
    set("AWS_LAMBDA_LOG_STREAM_NAME", stream);
    set("AWS_LAMBDA_INITIALIZATION_TYPE", init_type);
    set("AWS_REGION", &cfg.region);
    set("AWS_DEFAULT_REGION", &cfg.region);
    set("LAMBDA_TASK_ROOT", "/var/task");
    set("LAMBDA_RUNTIME_DIR", "/var/runtime");
    set("TZ", ":UTC");
    set("LANG", "en_US.UTF-8");
    set("PATH", "/usr/local/bin:/usr/bin/:/bin:/opt/bin");
    set(
        "LD_LIBRARY_PATH",
        "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
    );
    if s.log_format == "JSON" {
        set("AWS_LAMBDA_LOG_FORMAT", "JSON");
        if let Some(level) = &s.application_log_level {
            set("AWS_LAMBDA_LOG_LEVEL", level);
        }
    }
    if let Some(exec) = &cmd.execution_env {
        set("AWS_EXECUTION_ENV", exec);
    }
    for (k, v) in &cmd.env {
        vars.entry(k.clone()).or_insert_with(|| v.clone());
    }
    if let Some(image) = &s.image {
        // The image's ENV comes after Lambda's defaults (PATH, LANG, …) and
        // before the function's own variables and Lambda's reserved ones.
        for (k, v) in &image.env {
            if !s.environment.contains_key(k) && !RESERVED.contains(&k.as_str()) {
                vars.insert(k.clone(), v.clone());
            }
        }
        // AWS: `_HANDLER` of an image function is its CMD's first item.
        vars.insert("_HANDLER".into(), image.handler.clone());
    }
    if let Some(extra) = &cfg.extra_env.0 {
        vars.extend(extra(s));
    }
    vars.into_iter().collect()
}

impl Environment {
    /// Starts a new environment for `snapshot` and waits until its runtime
    /// asks for work. Returns the environment and its init duration.
    pub async fn start(
        cfg: &EngineConfig,
        backend: &Arc<dyn Backend>,
        new: NewEnvironment,
    ) -> Result<Started, InvokeError> {
        let NewEnvironment {
            commitment,
            snapshot,
            cmd,
            generation,
            capture,
            provisioned,
            uid,
            init_limit,
        } = new;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let stream = stream_name(&snapshot.version, &id);
        let log = Arc::new(EnvLog::open(
            &cfg.data_dir.join("logs"),
            &snapshot.log_group,
            &stream,
            cfg.log_max_stream_bytes,
        ));
        if capture {
            // The tail of a cold start includes what the runtime printed during init.
            log.start_capture();
        }
        let network = match snapshot.network {
            NetworkMode::Host => None,
            _ => {
                let b = backend.clone();
                tokio::task::spawn_blocking(move || b.isolated_network(RUNTIME_API_PORT))
                    .await
                    .map_err(|e| InvokeError::Internal(e.to_string()))?
                    .map_err(InvokeError::Sandbox)?
            }
        };
        let netns_path = network.as_ref().map(lambdad_sandbox::IsolatedNetwork::path);
        let (mut api, netns) = match network {
            Some(n) => (
                RuntimeApi::serve_std(n.listener).map_err(InvokeError::RuntimeApi)?,
                Some(n.netns),
            ),
            // On the host's loopback, where any process could connect: admit
            // only the environment's own uid where the backend gives it one.
            None => (
                match uid.as_ref().filter(|_| backend.isolates_users()) {
                    Some(lease) => RuntimeApi::start_for(lease.uid()).await,
                    None => RuntimeApi::start().await,
                }
                .map_err(InvokeError::RuntimeApi)?,
                None,
            ),
        };
        // An image function's code is the root itself.
        let mut binds = Vec::new();
        if snapshot.image.is_none() {
            binds.push(Bind {
                source: snapshot.code_dir.clone(),
                target: "/var/task".into(),
                writable: false,
            });
        }
        if let Some(opt) = opt_dir(&cfg.data_dir, &snapshot.layer_dirs).await? {
            binds.push(Bind {
                source: opt,
                target: "/opt".into(),
                writable: false,
            });
        }
        binds.extend(cmd.binds.iter().cloned());
        let memory = u64::from(snapshot.memory_mb) << 20;
        let spec = SandboxSpec {
            id: id.clone(),
            argv: cmd.argv.clone(),
            env: env_vars(
                cfg,
                &snapshot,
                &api.addr.to_string(),
                &stream,
                &cmd,
                if provisioned.is_some() {
                    "provisioned-concurrency"
                } else {
                    "on-demand"
                },
            ),
            cwd: snapshot
                .image
                .as_ref()
                .map_or_else(|| "/var/task".into(), |i| i.working_dir.clone().into()),
            rootfs: snapshot.image.as_ref().map(|_| snapshot.code_dir.clone()),
            binds,
            tmp_bytes: u64::from(snapshot.ephemeral_mb) << 20,
            limits: Limits {
                memory_bytes: memory,
                pids_max: 1024,
                cpu_weight: (u64::from(snapshot.memory_mb) * 100 / crate::MB_PER_VCPU)
                    .clamp(1, 10_000),
                cpu_quota_millis: if cfg.cpu_quota {
                    crate::cpu_quota_millis(snapshot.memory_mb, crate::host_cpus())
                } else {
                    0
                },
            },
            uid: uid.as_ref().map_or(993, crate::uids::UidLease::uid),
            gid: 990,
            hostname: "lambda".into(),
            netns: netns_path,
            deny_listen: snapshot.network == NetworkMode::None,
        };
        let started = Instant::now();
        let backend = backend.clone();
        let mut sandbox = tokio::task::spawn_blocking(move || backend.spawn(&spec))
            .await
            .map_err(|e| InvokeError::Internal(e.to_string()))?
            .map_err(InvokeError::Sandbox)?;
        let (exit_tx, exited) = watch::channel(false);
        let open = Arc::new(AtomicUsize::new(2));
        let mut outputs = Vec::new();
        let pipes: [Option<OwnedFd>; 2] = [
            sandbox.take_stdout().map(OwnedFd::from),
            sandbox.take_stderr().map(OwnedFd::from),
        ];
        let exit_tx = Arc::new(exit_tx);
        for fd in pipes.into_iter().flatten() {
            let (tx, rx) = mpsc::channel(1);
            let busy = Arc::new(AtomicBool::new(false));
            outputs.push(Output {
                flush: tx,
                fd: fd.try_clone().ok(),
                busy: busy.clone(),
            });
            match pipe::Receiver::from_owned_fd(fd) {
                Ok(receiver) => {
                    tokio::spawn(read_lines(
                        receiver,
                        log.clone(),
                        (rx, busy),
                        open.clone(),
                        exit_tx.clone(),
                    ));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "Cannot read an environment's output.");
                    if open.fetch_sub(1, Ordering::AcqRel) == 1 {
                        let _ = exit_tx.send(true);
                    }
                }
            }
        }
        let mut next_calls = api.next_calls.clone();
        let mut exit_rx = exited.clone();
        let init_error = &mut api.init_error;
        let failure = tokio::select! {
            ok = async { next_calls.wait_for(|n| *n >= 1).await.is_ok() } => if ok { None } else { Some(InitFailure::TimedOut(init_limit)) },
            r = init_error => r.ok().map(InitFailure::Reported),
            _ = until_exited(&mut exit_rx) => Some(InitFailure::Exited(ExitInfo { code: None, signal: None, oom_killed: false })),
            _ = tokio::time::sleep(init_limit) => Some(InitFailure::TimedOut(init_limit)),
        };
        let init = started.elapsed();
        let env = Arc::new(Environment {
            id,
            snapshot,
            log,
            generation,
            provisioned,
            sandbox: Mutex::new(Some(sandbox)),
            commitment: Mutex::new(Some(commitment)),
            phase: Mutex::new(Phase::Busy),
            takes: AtomicU64::new(0),
            _uid: uid,
            _netns: netns,
            api,
            exited,
            outputs,
        });
        match failure {
            None => Ok(Ok((env, init))),
            Some(InitFailure::Exited(_)) => {
                let info = env.exit_info().await;
                Ok(Err((env, InitFailure::Exited(info))))
            }
            Some(f) => Ok(Err((env, f))),
        }
    }

    /// Runs one invocation until the runtime answers, exits or times out.
    pub async fn run(
        &self,
        request_id: &str,
        payload: Bytes,
        invoked_arn: &str,
        trace_id: &str,
        client_context: Option<String>,
    ) -> RunResult {
        let timeout = Duration::from_secs(u64::from(self.snapshot.timeout_secs));
        let deadline_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| (d + timeout).as_millis())
            .unwrap_or(0);
        let (reply, outcome) = oneshot::channel();
        let inv = Invocation {
            request_id: request_id.to_owned(),
            payload,
            deadline_ms,
            invoked_arn: invoked_arn.to_owned(),
            trace_id: trace_id.to_owned(),
            client_context,
            reply,
        };
        let mut exited = self.exited.clone();
        let deadline = tokio::time::Instant::now() + timeout;
        if self.api.invocations.send(inv).await.is_err() {
            return RunResult::Exited(self.exit_info().await);
        }
        tokio::select! {
            r = outcome => match r {
                Ok(o) => RunResult::Answered(o),
                Err(_) => RunResult::Exited(self.exit_info().await),
            },
            _ = until_exited(&mut exited) => RunResult::Exited(self.exit_info().await),
            _ = tokio::time::sleep_until(deadline) => RunResult::TimedOut,
        }
    }

    /// Waits until everything the runtime wrote so far is in the log
    /// (a partial last line too, once the runtime has exited).
    pub async fn flush_logs(&self) {
        for out in &self.outputs {
            Self::flush_output(out).await;
        }
    }

    /// [`Self::flush_logs`] for a runtime that is alive and answered, without
    /// a round trip to a reader that has nothing left to log (the common case).
    pub async fn flush_logs_if_pending(&self) {
        for out in self.outputs.iter().filter(|o| o.pending()) {
            Self::flush_output(out).await;
        }
    }

    async fn flush_output(out: &Output) {
        let (ack, done) = oneshot::channel();
        if out.flush.send(ack).await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_millis(200), done).await;
        }
    }

    /// Marks the environment idle (it may be taken again at once).
    pub fn set_idle(&self) {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) = Phase::Idle;
    }

    /// Invocations taken so far.
    pub fn takes(&self) -> u64 {
        self.takes.load(Ordering::Acquire)
    }

    /// Freezes the environment if it is idle and has not been taken since
    /// `takes` (see [`Environment::takes`]).
    pub fn freeze_if_idle(&self, takes: u64) {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if *phase == Phase::Idle
            && self.takes() == takes
            && self.with_sandbox(|s| s.freeze()).is_some_and(|r| r.is_ok())
        {
            *phase = Phase::Frozen;
        }
    }

    /// Whether the environment is frozen in the pool.
    pub fn is_frozen(&self) -> bool {
        *self.phase.lock().unwrap_or_else(|e| e.into_inner()) == Phase::Frozen
    }

    /// `/next` calls so far.
    pub fn next_calls(&self) -> u64 {
        *self.api.next_calls.borrow()
    }

    /// Takes an idle environment for an invocation, thawing it if frozen;
    /// false when it is unusable (its processes are gone).
    pub fn take(&self) -> bool {
        let mut phase = self.phase.lock().unwrap_or_else(|e| e.into_inner());
        if *phase == Phase::Frozen && self.with_sandbox(|s| s.thaw()).is_none_or(|r| r.is_err()) {
            return false;
        }
        *phase = Phase::Busy;
        self.takes.fetch_add(1, Ordering::AcqRel);
        !*self.exited.borrow()
    }

    /// Peak memory in MB.
    pub fn max_memory_mb(&self) -> u64 {
        self.with_sandbox(|s| s.max_memory_bytes())
            .unwrap_or(0)
            .div_ceil(1 << 20)
    }

    fn with_sandbox<T>(&self, f: impl FnOnce(&mut Sandbox) -> T) -> Option<T> {
        self.sandbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
            .map(f)
    }

    /// How the process ended (waits for it; call once it has exited or been killed).
    pub async fn exit_info(&self) -> ExitInfo {
        let sandbox = self
            .sandbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(mut sandbox) = sandbox else {
            return ExitInfo {
                code: None,
                signal: None,
                oom_killed: false,
            };
        };
        let (sandbox, info) = tokio::task::spawn_blocking(move || {
            let info = sandbox.wait();
            (sandbox, info)
        })
        .await
        .unwrap_or_else(|e| panic!("waiting for a sandbox panicked: {e}"));
        *self.sandbox.lock().unwrap_or_else(|e| e.into_inner()) = Some(sandbox);
        info.unwrap_or(ExitInfo {
            code: None,
            signal: None,
            oom_killed: false,
        })
    }

    /// Kills the environment and releases its resources (off the async threads).
    pub async fn destroy(&self) {
        let sandbox = self
            .sandbox
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(sandbox) = sandbox {
            let _ = tokio::task::spawn_blocking(move || drop(sandbox)).await;
        }
        self.commitment
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// The host directory mounted at `/opt`: the only layer itself, or the
/// layers merged in order (later layers win) into `DATA_DIR/opt/<key>/`,
/// built once with hard links and reused by every environment.
async fn opt_dir(
    data_dir: &std::path::Path,
    layers: &[std::path::PathBuf],
) -> Result<Option<std::path::PathBuf>, InvokeError> {
    match layers {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        many => {
            let key: String = many
                .iter()
                .map(|l| {
                    l.file_name()
                        .map(|n| n.to_string_lossy().chars().take(16).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join("-");
            let target = data_dir.join("opt").join(key);
            let layers = many.to_vec();
            tokio::task::spawn_blocking(move || {
                merge_layers(&layers, &target).map(|()| Some(target))
            })
            .await
            .map_err(|e| InvokeError::Internal(e.to_string()))?
            .map_err(|e| InvokeError::Internal(format!("merging layers: {e}")))
        }
    }
}

fn merge_layers(layers: &[std::path::PathBuf], target: &std::path::Path) -> std::io::Result<()> {
    if target.is_dir() {
        return Ok(());
    }
    let tmp = target.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&tmp)?;
    for layer in layers {
        let mut stack = vec![std::path::PathBuf::new()];
        while let Some(rel) = stack.pop() {
            for entry in std::fs::read_dir(layer.join(&rel))? {
                let entry = entry?;
                let rel_path = rel.join(entry.file_name());
                let dest = tmp.join(&rel_path);
                let kind = entry.file_type()?;
                if kind.is_dir() {
                    if dest.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                        std::fs::remove_file(&dest)?;
                    }
                    std::fs::create_dir_all(&dest)?;
                    stack.push(rel_path);
                    continue;
                }
                if dest.symlink_metadata().is_ok() {
                    if dest.is_dir() && !dest.is_symlink() {
                        std::fs::remove_dir_all(&dest)?;
                    } else {
                        std::fs::remove_file(&dest)?;
                    }
                }
                if kind.is_symlink() {
                    std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &dest)?;
                } else {
                    std::fs::hard_link(entry.path(), &dest)
                        .or_else(|_| std::fs::copy(entry.path(), &dest).map(drop))?;
                }
            }
        }
    }
    match std::fs::rename(&tmp, target) {
        Ok(()) => Ok(()),
        Err(_) if target.is_dir() => std::fs::remove_dir_all(&tmp),
        Err(e) => Err(e),
    }
}

/// Resolves once the environment's output has closed (its processes are gone).
async fn until_exited(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|e| *e).await;
}

/// Reads one output pipe into the log, line by line, answering flush requests.
async fn read_lines(
    rx: pipe::Receiver,
    log: Arc<EnvLog>,
    (mut flush, busy): (mpsc::Receiver<oneshot::Sender<()>>, Arc<AtomicBool>),
    open: Arc<AtomicUsize>,
    exited: Arc<watch::Sender<bool>>,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let emit = |pending: &mut Vec<u8>, all: bool| {
        while let Some(pos) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=pos).collect();
            log.line(String::from_utf8_lossy(&line[..line.len() - 1]).trim_end_matches('\r'));
        }
        if all || pending.len() > MAX_LINE {
            if !pending.is_empty() {
                log.line(&String::from_utf8_lossy(pending));
            }
            pending.clear();
        }
    };
    // Reads everything available now; returns false at EOF or on error.
    let drain = |pending: &mut Vec<u8>, buf: &mut [u8]| -> bool {
        loop {
            match rx.try_read(buf) {
                Ok(0) => return false,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    };
    // Logs what is readable now; `busy` covers the bytes between pipe and log.
    let take = |pending: &mut Vec<u8>, buf: &mut [u8]| -> bool {
        busy.store(true, Ordering::SeqCst);
        let alive = drain(pending, buf);
        emit(pending, !alive);
        busy.store(false, Ordering::SeqCst);
        alive
    };
    loop {
        tokio::select! {
            biased;
            req = flush.recv() => {
                let alive = take(&mut pending, &mut buf);
                if let Some(ack) = req {
                    let _ = ack.send(());
                }
                if !alive {
                    break;
                }
            }
            ready = rx.ready(Interest::READABLE) => {
                if ready.is_err() {
                    break;
                }
                let alive = take(&mut pending, &mut buf);
                if !alive {
                    break;
                }
            }
        }
    }
    if open.fetch_sub(1, Ordering::AcqRel) == 1 {
        let _ = exited.send(true);
    }
    // Keep answering flushes until the environment is gone.
    while let Some(ack) = flush.recv().await {
        let _ = ack.send(());
    }
}
