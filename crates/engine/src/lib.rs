//! The invocation engine: execution environments, their Runtime API, warm
//! pools and logs.
//!
//! [`Invoker`] is a cheap clone handle. `invoke` takes an idle environment
//! of the function version (thawing it) or starts a new one (a cold start),
//! runs exactly one invocation in it, answers the caller, and then — off the
//! caller's path — waits for the runtime to park on `/next`, freezes it and
//! returns it to the pool. Environments idle longer than `idle_timeout` are
//! reaped; failed ones (crash, timeout, OOM, init error) are destroyed.
//! N concurrent invocations use N environments: there is no global lock on
//! the invoke path, only a short pool lock to pop and push idle entries.
#![forbid(unsafe_code)]

pub mod capacity;
pub mod concurrency;
mod env;
pub mod java;
pub mod logs;
mod member;
pub mod metrics;
pub mod openmetrics;
mod pool;
pub mod provisioned;
pub mod runtime;
pub mod runtime_api;
pub mod sdk;
mod streaming;
pub mod uids;

pub use pool::EnvironmentCounts;
pub use streaming::ResponseStream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use lambdad_model::{Code, ErrorCode, VersionSnapshot};
use lambdad_sandbox::{Backend, ExitInfo, SandboxError};

use env::{Environment, InitFailure, RunResult};
use runtime_api::Outcome;

/// How long an idle environment stays runnable after its runtime parks on
/// `/next` before it is frozen (AWS freezes at once; the difference is
/// invisible to a function but saves a freeze and a thaw per invocation
/// under steady traffic).
pub const FREEZE_DELAY: std::time::Duration = std::time::Duration::from_millis(10);

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The server's data directory (logs go under `logs/`).
    pub data_dir: PathBuf,
    /// Region given to functions.
    pub region: String,
    /// How long idle environments stay warm.
    pub idle_timeout: Duration,
    /// The account's concurrency limit.
    pub concurrency_limit: u32,
    /// Most memory (MB) committed to environments at once (their MemorySize sum).
    pub memory_budget_mb: u64,
    /// Interpreters named by the operator (runtime → binary), before discovery.
    pub interpreters: std::collections::BTreeMap<String, PathBuf>,
    /// Prices of the usage estimates.
    pub prices: metrics::Prices,
    /// Most bytes one log stream file may hold (0: no limit).
    pub log_max_stream_bytes: u64,
    /// Extra variables for each new environment (the execution role's credentials).
    pub extra_env: ExtraEnv,
    /// The AWS SDKs of the managed runtimes (verified, or installed, in the
    /// background at start; the default: none).
    pub sdk: sdk::Sdk,
    /// Whether environments get CPU time in proportion to their memory
    /// ([`cpu_quota_millis`]); otherwise only a CPU weight.
    pub cpu_quota: bool,
}

/// Lambda's share of one vCPU per MB: 1,769 MB buys one full vCPU.
pub const MB_PER_VCPU: u64 = 1769;

/// Most vCPUs of a Lambda function (at 10,240 MB).
pub const MAX_VCPUS: u64 = 6;

/// An environment's CPU quota in thousandths of a CPU: MemorySize / 1,769 MB
/// of one CPU, at most [`MAX_VCPUS`] and at most the host's `host_cpus`.
pub fn cpu_quota_millis(memory_mb: u32, host_cpus: usize) -> u64 {
    let host = u64::try_from(host_cpus.max(1)).unwrap_or(u64::MAX);
    (u64::from(memory_mb) * 1000 / MB_PER_VCPU)
        .clamp(1, MAX_VCPUS * 1000)
        .min(host.saturating_mul(1000))
}

/// The host's CPUs as the scheduler lets this process use them.
pub fn host_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Computes an environment's extra variables from its version.
pub type EnvFn = dyn Fn(&VersionSnapshot) -> Vec<(String, String)> + Send + Sync;

/// Variables a new environment of a version gets beyond the standard ones:
/// the server gives each environment credentials of the function's
/// execution role this way.
#[derive(Clone, Default)]
pub struct ExtraEnv(pub Option<Arc<EnvFn>>);

impl std::fmt::Debug for ExtraEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "ExtraEnv(set)"
        } else {
            "ExtraEnv(none)"
        })
    }
}

/// One synchronous invocation.
#[derive(Debug, Clone)]
pub struct InvokeRequest {
    /// The version to run.
    pub snapshot: Arc<VersionSnapshot>,
    /// The request id (also `x-amzn-RequestId`).
    pub request_id: String,
    /// The event.
    pub payload: Bytes,
    /// The ARN the caller used.
    pub invoked_function_arn: String,
    /// Decoded client context JSON.
    pub client_context: Option<String>,
    /// Incoming `X-Amzn-Trace-Id`, if any.
    pub trace_id: Option<String>,
    /// Whether to return the log tail.
    pub tail_log: bool,
}

/// The answer to a synchronous invocation.
#[derive(Debug)]
pub struct InvokeResponse {
    /// The request id.
    pub request_id: String,
    /// The function's response or error payload.
    pub payload: Bytes,
    /// `Unhandled` when the function failed.
    pub function_error: Option<&'static str>,
    /// base64 of the last 4 KB of the invocation's log, when asked for.
    pub log_result: Option<String>,
    /// The version that ran.
    pub executed_version: String,
    /// The body, when the runtime streams it (then `payload` is empty).
    pub stream: Option<ResponseStream>,
    /// The X-Ray trace header the function saw (`Root=…;Parent=…;Sampled=…`).
    pub trace: String,
    /// Where the time went, when the invocation reached an environment.
    pub timings: Option<Timings>,
}

/// The phases of an invocation, as offsets from its arrival at the engine.
#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// When the engine received it.
    pub start: std::time::SystemTime,
    /// When it held a concurrency slot (the end of queueing).
    pub queued: Duration,
    /// When the runtime was handed the event (after init, for a cold start).
    pub started: Duration,
    /// When the runtime answered (or the stream began).
    pub finished: Duration,
    /// When the answer was ready (logs flushed, REPORT written).
    pub done: Duration,
    /// Whether a new environment was started for it.
    pub cold: bool,
}

/// Platform failures (function failures are [`InvokeResponse`]s with `function_error`).
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// The sandbox could not be started.
    #[error("could not start an execution environment: {0}")]
    Sandbox(#[from] SandboxError),
    /// The Runtime API could not be served.
    #[error("could not serve the Runtime API: {0}")]
    RuntimeApi(std::io::Error),
    /// A concurrency limit is reached.
    #[error("Rate Exceeded.")]
    Throttled(concurrency::Throttle),
    /// The engine is shutting down.
    #[error("lambdad is shutting down")]
    ShuttingDown,
    /// An internal task failed.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ErrorCode for InvokeError {
    fn error_code(&self) -> Code {
        match self {
            InvokeError::Throttled(_) => Code::TooManyRequests,
            _ => Code::Service,
        }
    }

    /// A throttle says which limit refused it (`Reason`), as AWS does.
    fn extra_fields(&self) -> Vec<(String, String)> {
        match self {
            InvokeError::Throttled(t) => vec![("Reason".to_owned(), t.reason().to_owned())],
            _ => Vec::new(),
        }
    }
}

struct Inner {
    committed_mb: Arc<std::sync::atomic::AtomicU64>,
    provisions: Mutex<HashMap<String, provisioned::Provision>>,
    concurrency: concurrency::Concurrency,
    cfg: EngineConfig,
    backend: Arc<dyn Backend>,
    interpreters: runtime::Interpreters,
    pools: Mutex<pool::Pools>,
    /// Pooled environments waiting to be frozen.
    freezer: pool::Freezer,
    metrics: metrics::Metrics,
    /// Environments starting now.
    initialising: std::sync::atomic::AtomicI64,
    /// A distinct uid per environment.
    uids: uids::UidPool,
}

/// The engine handle.
#[derive(Clone)]
pub struct Invoker {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Invoker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invoker")
            .field("backend", &self.inner.backend.name())
            .finish_non_exhaustive()
    }
}

fn error_body(error_type: &str, message: &str) -> Bytes {
    Bytes::from(serde_json::json!({ "errorType": error_type, "errorMessage": message }).to_string())
}

fn exit_message(request_id: &str, info: &ExitInfo) -> (&'static str, String) {
    let reason = match (info.code, info.signal) {
        (Some(0), _) => {
            return (
                "Runtime.ExitError",
                format!("RequestId: {request_id} Error: Runtime exited without providing a reason"),
            );
        }
        (Some(code), _) => format!("exit status {code}"),
        (_, Some(9)) => "signal: killed".to_owned(),
        (_, Some(sig)) => format!("signal: {sig}"),
        _ => {
            return (
                "Runtime.ExitError",
                format!("RequestId: {request_id} Error: Runtime exited without providing a reason"),
            );
        }
    };
    let kind = if info.oom_killed {
        "Runtime.OutOfMemory"
    } else {
        "Runtime.ExitError"
    };
    (
        kind,
        format!("RequestId: {request_id} Error: Runtime exited with error: {reason}"),
    )
}

fn trace_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let r: u128 = rand::random();
    format!(
        "Root=1-{secs:08x}-{:024x};Parent={:016x};Sampled=0",
        r >> 32,
        rand::random::<u64>()
    )
}

impl Invoker {
    /// An engine starting environments with `backend`; spawns the idle reaper.
    pub fn new(cfg: EngineConfig, backend: Arc<dyn Backend>) -> Self {
        let interpreters = runtime::Interpreters::discover(&cfg.data_dir.join("runtime"), &cfg.interpreters, cfg.sdk.clone())
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "Cannot install the managed runtimes' bootstraps; only custom runtimes will run.");
                runtime::Interpreters::default()
            });
        interpreters.sdk().start(interpreters.tools());
        let inner = Arc::new(Inner {
            committed_mb: Arc::default(),
            provisions: Mutex::default(),
            concurrency: concurrency::Concurrency::new(cfg.concurrency_limit),
            metrics: metrics::Metrics::new(cfg.prices),
            initialising: Default::default(),
            uids: Default::default(),
            cfg,
            backend,
            interpreters,
            pools: Mutex::default(),
            freezer: pool::Freezer::default(),
        });
        tokio::spawn(pool::reap_while_alive(Arc::downgrade(&inner)));
        tokio::spawn(pool::freeze_while_alive(Arc::downgrade(&inner)));
        Self { inner }
    }

    /// Concurrency limits and their accounting.
    pub fn concurrency(&self) -> &concurrency::Concurrency {
        &self.inner.concurrency
    }

    /// The managed runtimes' AWS SDKs and their status.
    pub fn sdk(&self) -> &sdk::Sdk {
        self.inner.interpreters.sdk()
    }

    /// The sandbox backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.inner.backend.name()
    }

    /// Runs one synchronous invocation.
    pub async fn invoke(&self, req: InvokeRequest) -> Result<InvokeResponse, InvokeError> {
        if self.pools().shutting_down {
            return Err(InvokeError::ShuttingDown);
        }
        let (start, entered) = (std::time::SystemTime::now(), Instant::now());
        let trace = req.trace_id.clone().unwrap_or_else(trace_id);
        let slot = match self.inner.concurrency.acquire(&req.snapshot.function_name) {
            Ok(slot) => slot,
            Err(t) => {
                self.inner.metrics.throttle(&req.snapshot.function_name);
                return Err(InvokeError::Throttled(t));
            }
        };
        let s = req.snapshot.clone();
        let unhandled = |payload: Bytes, log_result: Option<String>| InvokeResponse {
            request_id: req.request_id.clone(),
            payload,
            function_error: Some("Unhandled"),
            log_result,
            executed_version: s.version.clone(),
            stream: None,
            trace: trace.clone(),
            timings: None,
        };
        let queued = entered.elapsed();
        let (idle, generation, stale) = self.take_idle(&s);
        for env in stale {
            tokio::spawn(async move { env.destroy().await });
        }
        let mut init_ms = None;
        let env = match idle.filter(|e| e.take()) {
            Some(env) => env,
            None => {
                // AWS: an init over 10 s is retried once, at this first
                // invocation, with the function's timeout as its limit.
                let (mut limit, mut retried) = (env::INIT_TIMEOUT, false);
                loop {
                    // Looked up only for a new environment (it stats files).
                    self.inner.interpreters.settle(&s.runtime).await;
                    let cmd = match self.inner.interpreters.command_for(&s) {
                        Ok(c) => c,
                        Err(e) => return Ok(unhandled(error_body(e.error_type, &e.message), None)),
                    };
                    let commitment = self
                        .commit_memory(u64::from(s.memory_mb))
                        .await
                        .inspect_err(|_| self.inner.metrics.throttle(&s.function_name))?;
                    let new = env::NewEnvironment {
                        cmd,
                        commitment,
                        snapshot: s.clone(),
                        generation,
                        capture: req.tail_log,
                        provisioned: None,
                        uid: None,
                        init_limit: limit,
                    };
                    match self.start_environment(new).await? {
                        Ok((env, init)) => {
                            init_ms = Some(init.as_secs_f64() * 1000.0);
                            break env;
                        }
                        Err((env, InitFailure::TimedOut(took))) if !retried => {
                            env.log.line(&format!(
                                "INIT_REPORT Init Duration: {:.2} ms\tPhase: init\tStatus: timeout",
                                took.as_secs_f64() * 1000.0
                            ));
                            env.flush_logs().await;
                            env.destroy().await;
                            limit = Duration::from_secs(u64::from(s.timeout_secs));
                            retried = true;
                        }
                        Err((env, failure)) => {
                            let payload = match failure {
                                InitFailure::Reported(e) => e.body,
                                InitFailure::Exited(info) => {
                                    let (kind, msg) = exit_message(&req.request_id, &info);
                                    error_body(kind, &msg)
                                }
                                InitFailure::TimedOut(took) => error_body(
                                    "Sandbox.Timedout",
                                    &format!(
                                        "RequestId: {} Error: Task timed out after {:.2} seconds",
                                        req.request_id,
                                        took.as_secs_f64()
                                    ),
                                ),
                            };
                            env.flush_logs().await;
                            let tail = self.report(&env, &req, 0.0, Some(0.0), Some("error"));
                            env.destroy().await;
                            return Ok(unhandled(payload, tail));
                        }
                    }
                }
            }
        };
        if req.tail_log && init_ms.is_none() {
            env.log.start_capture();
        }
        if let Some(line) = logs::PlatformFormat::of(&s).start(&req.request_id, &s.version) {
            env.log.line(&line);
        }
        let calls_before = env.next_calls();
        let started = Instant::now();
        let mut timings = Timings {
            start,
            queued,
            started: entered.elapsed(),
            finished: Duration::ZERO,
            done: Duration::ZERO,
            cold: init_ms.is_some(),
        };
        let result = env
            .run(
                &req.request_id,
                req.payload.clone(),
                &req.invoked_function_arn,
                &trace,
                req.client_context.clone(),
            )
            .await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        timings.finished = entered.elapsed();
        let (payload, error, healthy, status) = match result {
            RunResult::Answered(Outcome::Response(body)) => (body, false, true, None),
            RunResult::Answered(Outcome::Error { body, .. }) => (body, true, true, Some("error")),
            RunResult::Answered(Outcome::TooLarge) => (
                error_body(
                    "Function.ResponseSizeTooLarge",
                    "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                ),
                true,
                true,
                Some("error"),
            ),
            RunResult::Answered(Outcome::InvalidMode) => (
                error_body(
                    "Runtime.InvalidResponseModeHeader",
                    "The runtime sent an invalid Lambda-Runtime-Function-Response-Mode header.",
                ),
                true,
                false,
                Some("error"),
            ),
            RunResult::Answered(Outcome::Stream {
                content_type,
                chunks,
            }) => {
                timings.done = timings.finished;
                let open = streaming::Open {
                    env,
                    req,
                    started,
                    init_ms,
                    calls_before,
                    slot,
                    trace,
                    timings,
                };
                return Ok(self.stream_response(open, content_type, chunks));
            }
            RunResult::Exited(info) => {
                let (kind, msg) = exit_message(&req.request_id, &info);
                (error_body(kind, &msg), true, false, Some("error"))
            }
            RunResult::TimedOut => {
                let secs = f64::from(s.timeout_secs);
                env.log.line(&format!(
                    "{} {} Task timed out after {secs:.2} seconds",
                    now_iso(),
                    req.request_id
                ));
                let msg = format!(
                    "RequestId: {} Error: Task timed out after {secs:.2} seconds",
                    req.request_id
                );
                (
                    error_body("Sandbox.Timedout", &msg),
                    true,
                    false,
                    Some("timeout"),
                )
            }
        };
        if healthy {
            env.flush_logs_if_pending().await;
        } else {
            // Kill first so the exit is final before the log is flushed.
            env.destroy().await;
            env.flush_logs().await;
        }
        let tail = self.report(&env, &req, duration_ms, init_ms, status);
        let response = InvokeResponse {
            request_id: req.request_id.clone(),
            payload,
            function_error: error.then_some("Unhandled"),
            log_result: tail,
            executed_version: s.version.clone(),
            stream: None,
            trace,
            timings: Some(Timings {
                done: entered.elapsed(),
                ..timings
            }),
        };
        self.release(env, healthy, calls_before);
        Ok(response)
    }

    /// Writes END and REPORT; returns the tail when one was asked for.
    fn report(
        &self,
        env: &Environment,
        req: &InvokeRequest,
        duration_ms: f64,
        init_ms: Option<f64>,
        status: Option<&str>,
    ) -> Option<String> {
        let format = logs::PlatformFormat::of(&env.snapshot);
        let lines = [
            format.end(&req.request_id, status),
            format.report(
                &req.request_id,
                duration_ms,
                env.snapshot.memory_mb,
                env.max_memory_mb(),
                init_ms,
                status,
            ),
        ];
        let lines: Vec<&str> = lines.iter().flatten().map(String::as_str).collect();
        env.log.lines(&lines);
        let snap = &env.snapshot;
        self.inner.metrics.invocation(
            &snap.function_name,
            &snap.version,
            &snap.architecture,
            snap.memory_mb,
            duration_ms,
            init_ms,
            status.is_some(),
        );
        req.tail_log
            .then(|| base64::engine::general_purpose::STANDARD.encode(env.log.take_tail()))
    }
}

fn now_iso() -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

#[cfg(test)]
mod cpu_tests {
    use super::cpu_quota_millis;

    #[test]
    fn cpu_quota_follows_memory_up_to_six_cpus_and_the_host() {
        assert_eq!(cpu_quota_millis(1769, 64), 1000);
        assert_eq!(cpu_quota_millis(128, 64), 72);
        assert_eq!(cpu_quota_millis(512, 64), 289);
        assert_eq!(cpu_quota_millis(3538, 64), 2000);
        assert_eq!(cpu_quota_millis(10_240, 64), 5788);
        // Past 10,616 MB it would exceed six CPUs.
        assert_eq!(cpu_quota_millis(20_000, 64), 6000);
        // Never more than the host has.
        assert_eq!(cpu_quota_millis(10_240, 2), 2000);
        assert_eq!(cpu_quota_millis(10_240, 0), 1000);
        assert_eq!(cpu_quota_millis(1, 2), 1);
    }
}
