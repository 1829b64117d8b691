//! The engine's warm pool, reaper, freezing and memory budget, in-process:
//! a real [`Invoker`] runs environments of a tiny real runtime
//! (`engine-test-runtime`) over the plain-process backend, so no root is
//! needed (`LAMBDAD_TEST_SANDBOX=namespace` runs them in namespace
//! sandboxes instead, as root). Tests wait on what the engine reports
//! (its environment counts, the runtime's pid in each answer, the pid's
//! exit), never for a fixed time; the reaper test moves tokio's clock.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use lambdad_engine::concurrency::Throttle;
use lambdad_engine::{EngineConfig, InvokeError, InvokeRequest, Invoker};
use lambdad_model::{NetworkMode, VersionSnapshot};
use lambdad_sandbox::Preference;

const RUNTIME: &str = env!("CARGO_BIN_EXE_engine-test-runtime");

/// Runs `test` on a current-thread runtime (whose clock tests may pause)
/// and fails it if it takes longer than `secs` of real time.
fn within<F: Future<Output = ()> + 'static>(secs: u64, test: impl FnOnce() -> F + Send + 'static) {
    let (done, finished) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(test());
        let _ = done.send(());
    });
    match finished.recv_timeout(Duration::from_secs(secs)) {
        Ok(()) => thread.join().unwrap(),
        // The test panicked: report its panic.
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("the test did not finish within {secs} s")
        }
    }
}

/// An engine over a temporary data directory, and the code of its functions.
struct Engine {
    invoker: Invoker,
    dir: tempfile::TempDir,
    code: PathBuf,
}

fn preference() -> Preference {
    match std::env::var("LAMBDAD_TEST_SANDBOX").as_deref() {
        Ok("namespace") => Preference::Namespace,
        Ok("process") | Err(_) => Preference::Process,
        Ok(other) => panic!("LAMBDAD_TEST_SANDBOX={other}: namespace or process"),
    }
}

fn engine(idle_timeout: Duration, memory_budget_mb: u64) -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let code = dir.path().join("code");
    std::fs::create_dir(&code).unwrap();
    // A copy, not a link: a namespace sandbox sees only /var/task of the host's files.
    std::fs::copy(RUNTIME, code.join("bootstrap")).unwrap();
    let backend = lambdad_sandbox::detect(
        Path::new(RUNTIME),
        &dir.path().join("sandbox-root"),
        preference(),
        0,
    )
    .unwrap();
    let cfg = EngineConfig {
        data_dir: dir.path().to_owned(),
        region: "us-east-1".into(),
        idle_timeout,
        concurrency_limit: 100,
        memory_budget_mb,
        interpreters: BTreeMap::new(),
        prices: Default::default(),
        log_max_stream_bytes: 0,
        extra_env: Default::default(),
        sdk: Default::default(),
        cpu_quota: true,
    };
    Engine {
        invoker: Invoker::new(cfg, backend),
        dir,
        code,
    }
}

/// What the runtime answered.
#[derive(Debug)]
struct Answer {
    /// Its environment's log stream (unique per environment).
    env: String,
    invocations: u64,
    init_type: String,
    cold: bool,
}

impl Engine {
    /// A 128 MB `provided.al2023` function version.
    fn snapshot(&self, function: &str, version: &str, revision: &str) -> Arc<VersionSnapshot> {
        let arn = format!("arn:aws:lambda:us-east-1:000000000000:function:{function}");
        Arc::new(VersionSnapshot {
            function_name: function.into(),
            function_arn: arn,
            version: version.into(),
            runtime: "provided.al2023".into(),
            handler: "bootstrap".into(),
            memory_mb: 128,
            timeout_secs: 20,
            ephemeral_mb: 512,
            environment: BTreeMap::new(),
            code_sha256: "test".into(),
            code_dir: self.code.clone(),
            layer_dirs: Vec::new(),
            architecture: "x86_64".into(),
            log_group: format!("/aws/lambda/{function}"),
            log_format: "Text".into(),
            application_log_level: None,
            system_log_level: None,
            role: String::new(),
            network: NetworkMode::Host,
            revision_id: revision.into(),
            image: None,
        })
    }

    async fn try_invoke(
        &self,
        snapshot: &Arc<VersionSnapshot>,
        event: serde_json::Value,
    ) -> Result<Answer, InvokeError> {
        invoke_with(&self.invoker, snapshot.clone(), event).await
    }

    async fn invoke(&self, snapshot: &Arc<VersionSnapshot>) -> Answer {
        self.try_invoke(snapshot, serde_json::json!({}))
            .await
            .unwrap()
    }

    /// An event answered once [`Engine::release`] is called: its
    /// environment stays busy until then.
    fn held(&self) -> serde_json::Value {
        // Relative to the runtime's working directory, /var/task (the code).
        serde_json::json!({ "wait_for": "release" })
    }

    /// Whether an invocation of `function` has begun (its START line is logged).
    fn started(&self, function: &str) -> bool {
        fn any_start(dir: &Path) -> bool {
            std::fs::read_dir(dir).is_ok_and(|entries| {
                entries.flatten().any(|e| {
                    let path = e.path();
                    if path.is_dir() {
                        any_start(&path)
                    } else {
                        std::fs::read_to_string(&path).is_ok_and(|t| t.contains("START RequestId"))
                    }
                })
            })
        }
        any_start(&self.dir.path().join("logs/aws/lambda").join(function))
    }

    fn release(&self) {
        std::fs::write(self.code.join("release"), "").unwrap();
    }
}

async fn invoke_with(
    invoker: &Invoker,
    snapshot: Arc<VersionSnapshot>,
    event: serde_json::Value,
) -> Result<Answer, InvokeError> {
    let arn = snapshot.function_arn.clone();
    let response = invoker
        .invoke(InvokeRequest {
            snapshot,
            request_id: uuid_like(),
            payload: Bytes::from(event.to_string()),
            invoked_function_arn: arn,
            client_context: None,
            trace_id: None,
            tail_log: false,
        })
        .await?;
    assert_eq!(
        response.function_error,
        None,
        "{}",
        String::from_utf8_lossy(&response.payload)
    );
    let body: serde_json::Value = serde_json::from_slice(&response.payload).unwrap();
    Ok(Answer {
        env: body["stream"].as_str().unwrap().to_owned(),
        invocations: body["invocations"].as_u64().unwrap(),
        init_type: body["init_type"].as_str().unwrap().to_owned(),
        cold: response.timings.unwrap().cold,
    })
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!(
        "00000000-0000-4000-8000-{:012x}",
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Waits (real time, bounded) until `what` holds.
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(std::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Whether every process of the environment whose log stream is `env` is
/// gone: none has it in its environment (as `AWS_LAMBDA_LOG_STREAM_NAME`;
/// the namespace backend's helper has no variables, and exits with its runtime).
fn gone(env: &str) -> bool {
    let needle = format!("AWS_LAMBDA_LOG_STREAM_NAME={env}");
    !std::fs::read_dir("/proc").unwrap().flatten().any(|p| {
        std::fs::read(p.path().join("environ"))
            .is_ok_and(|vars| vars.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
    })
}

#[test]
fn an_idle_environment_is_reused_by_its_version_and_revision_only() {
    within(60, || async {
        let e = engine(Duration::from_secs(600), 4096);
        let r1 = e.snapshot("f", "$LATEST", "r1");
        let first = e.invoke(&r1).await;
        assert!(first.cold);
        let again = e.invoke(&r1).await;
        assert!(!again.cold, "{again:?}");
        assert_eq!((&again.env, again.invocations), (&first.env, 2));
        assert_eq!(again.init_type, "on-demand");

        // A new revision of $LATEST starts its own environment; the old
        // revision's is stale and destroyed.
        let r2 = e.snapshot("f", "$LATEST", "r2");
        let updated = e.invoke(&r2).await;
        assert!(updated.cold);
        assert_ne!(updated.env, first.env);
        until("the old revision's environment is destroyed", || {
            gone(&first.env)
        })
        .await;

        // Another version does not take $LATEST's environment, nor the reverse.
        let v1 = e.snapshot("f", "1", "r2");
        let published = e.invoke(&v1).await;
        assert!(published.cold);
        assert_ne!(published.env, updated.env);
        let latest = e.invoke(&r2).await;
        assert!(!latest.cold);
        assert_eq!(latest.env, updated.env);
        assert_eq!(e.invoke(&v1).await.env, published.env);
        // Nor does another function.
        let g = e.invoke(&e.snapshot("g", "$LATEST", "r2")).await;
        assert!(g.cold);
        until("three environments are pooled", || {
            e.invoker.pooled("f") == 2 && e.invoker.pooled("g") == 1
        })
        .await;
        e.invoker.shutdown().await;
        for env in [&updated.env, &published.env, &g.env] {
            until("shutdown ends every environment", || gone(env)).await;
        }
        drop(e.dir);
    });
}

#[test]
fn retire_drops_the_idle_environments_of_a_function() {
    within(60, || async {
        let e = engine(Duration::from_secs(600), 4096);
        let latest = e.snapshot("f", "$LATEST", "r1");
        let v1 = e.snapshot("f", "1", "r1");
        let other = e.snapshot("g", "$LATEST", "r1");
        let (a, b, c) = (
            e.invoke(&latest).await,
            e.invoke(&v1).await,
            e.invoke(&other).await,
        );
        until("three environments are pooled", || {
            e.invoker.pooled("f") == 2 && e.invoker.pooled("g") == 1
        })
        .await;

        // After an update: $LATEST's environments go, published versions' stay.
        e.invoker.retire("f", false);
        until("$LATEST's environment is destroyed", || gone(&a.env)).await;
        assert_eq!(e.invoker.pooled("f"), 1);
        let kept = e.invoke(&v1).await;
        assert_eq!((&kept.env, kept.cold), (&b.env, false));
        assert!(e.invoke(&latest).await.cold);

        // After a delete: every environment of the function goes, and one
        // busy now is not pooled again; other functions' stay.
        let busy = {
            let invoker = e.invoker.clone();
            let (v1, held) = (v1.clone(), e.held());
            tokio::spawn(async move { invoke_with(&invoker, v1, held).await })
        };
        until("the version's environment is busy", || {
            e.invoker.pooled("f") == 1 && e.invoker.environments().busy == 1
        })
        .await;
        e.invoker.retire("f", true);
        assert_eq!(e.invoker.pooled("f"), 0);
        e.release();
        let finished = busy.await.unwrap().unwrap();
        assert_eq!(finished.env, b.env);
        until("the busy environment is destroyed once done", || {
            gone(&b.env)
        })
        .await;
        assert_eq!(e.invoker.pooled("f"), 0);
        assert_eq!(e.invoker.pooled("g"), 1);
        let g = e.invoke(&other).await;
        assert_eq!((&g.env, g.cold), (&c.env, false));
        assert!(e.invoke(&v1).await.cold);
        e.invoker.shutdown().await;
    });
}

#[test]
fn the_reaper_destroys_environments_idle_too_long_and_keeps_provisioned_ones() {
    within(60, || async {
        let idle_timeout = Duration::from_secs(60);
        let e = engine(idle_timeout, 4096);
        let p = e.snapshot("p", "1", "r1");
        e.invoker.provision("p:live", p.clone(), 1);
        let f = e.snapshot("f", "$LATEST", "r1");
        let on_demand = e.invoke(&f).await;
        // Both frozen in the pool: nothing of theirs is still in flight.
        until("both environments are frozen", || {
            e.invoker.provisioned_status("p:live") == Some((1, 1))
                && e.invoker.environments().frozen == 2
        })
        .await;

        // tokio's clock now moves only when every task waits on a timer.
        tokio::time::pause();
        tokio::time::sleep(idle_timeout - Duration::from_secs(1)).await;
        assert_eq!(e.invoker.pooled("f"), 1, "reaped before its idle timeout");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert_eq!(
            e.invoker.pooled("f"),
            0,
            "not reaped after its idle timeout"
        );
        assert_eq!(e.invoker.pooled("p"), 1, "the provisioned one is kept");
        tokio::time::resume();
        until("the reaped environment's process is gone", || {
            gone(&on_demand.env)
        })
        .await;

        // The provisioned environment serves warm, initialised as such.
        let provisioned = e.invoke(&p).await;
        assert!(!provisioned.cold);
        assert_eq!(provisioned.init_type, "provisioned-concurrency");
        assert_eq!(provisioned.invocations, 1);
        assert!(e.invoke(&f).await.cold);

        // Without its configuration it is an ordinary idle environment.
        e.invoker.deprovision("p:live");
        until("both are frozen again", || {
            e.invoker.environments().frozen == 2
        })
        .await;
        tokio::time::pause();
        tokio::time::sleep(idle_timeout + Duration::from_secs(1)).await;
        assert_eq!((e.invoker.pooled("p"), e.invoker.pooled("f")), (0, 0));
        tokio::time::resume();
        until("its process is gone", || gone(&provisioned.env)).await;
        e.invoker.shutdown().await;
    });
}

#[test]
fn an_environment_is_frozen_once_parked_and_thawed_when_taken() {
    within(60, || async {
        let e = engine(Duration::from_secs(600), 4096);
        let f = e.snapshot("f", "$LATEST", "r1");
        let first = e.invoke(&f).await;
        until("the parked environment is frozen", || {
            let n = e.invoker.environments();
            (n.frozen, n.idle, n.busy) == (1, 0, 0)
        })
        .await;
        // Taken again it runs (on a namespace backend it would not answer
        // unless thawed), with no second cold start.
        for n in 2..=4 {
            let warm = e.invoke(&f).await;
            assert_eq!(
                (&warm.env, warm.invocations, warm.cold),
                (&first.env, n, false)
            );
            until("frozen again once parked", || {
                e.invoker.environments().frozen == 1
            })
            .await;
        }
        e.invoker.shutdown().await;
    });
}

#[test]
fn the_memory_budget_evicts_idle_environments_oldest_first_then_throttles() {
    within(60, || async {
        // Room for two 128 MB environments.
        let e = engine(Duration::from_secs(600), 256);
        let (a, b, c) = (
            e.snapshot("a", "$LATEST", "r1"),
            e.snapshot("b", "$LATEST", "r1"),
            e.snapshot("c", "$LATEST", "r1"),
        );
        let in_a = e.invoke(&a).await;
        let in_b = e.invoke(&b).await;
        assert_eq!(e.invoker.committed_mb(), 256);
        until("both are frozen", || e.invoker.environments().frozen == 2).await;

        // c needs room: a's environment, idle the longest, goes.
        let in_c = e.invoke(&c).await;
        assert!(in_c.cold);
        until("a's environment is destroyed", || gone(&in_a.env)).await;
        assert_eq!((e.invoker.pooled("a"), e.invoker.pooled("b")), (0, 1));
        assert_eq!(e.invoker.committed_mb(), 256);
        // b used now: c is the oldest idle one.
        assert_eq!(e.invoke(&b).await.env, in_b.env);
        until("b is back in the pool", || e.invoker.pooled("b") == 1).await;
        let in_a2 = e.invoke(&a).await;
        assert!(in_a2.cold);
        until("c's environment is destroyed", || gone(&in_c.env)).await;
        assert_eq!(e.invoke(&b).await.env, in_b.env, "b's is kept");

        // Two busy environments fill the budget: nothing idle is left to
        // evict, so a third is throttled rather than the host overcommitted.
        let held: Vec<_> = ["h1", "h2"]
            .into_iter()
            .map(|name| {
                let invoker = e.invoker.clone();
                let (s, event) = (e.snapshot(name, "$LATEST", "r1"), e.held());
                tokio::spawn(async move { invoke_with(&invoker, s, event).await })
            })
            .collect();
        // Started once their START lines are logged: each holds its memory.
        until("both held invocations have started", || {
            e.started("h1") && e.started("h2")
        })
        .await;
        let n = e.invoker.environments();
        assert_eq!((n.busy, n.idle + n.frozen), (2, 0), "{n:?}");
        until("the idle ones were evicted for them", || {
            gone(&in_b.env) && gone(&in_a2.env)
        })
        .await;
        let throttled = e.try_invoke(&c, serde_json::json!({})).await;
        assert!(
            matches!(throttled, Err(InvokeError::Throttled(Throttle::Account))),
            "{throttled:?}"
        );
        assert_eq!(e.invoker.committed_mb(), 256);
        e.release();
        for h in held {
            assert!(h.await.unwrap().unwrap().cold);
        }
        // Once they are idle, c fits again (one of them is evicted).
        until("the held ones are pooled", || {
            e.invoker.pooled("h1") + e.invoker.pooled("h2") == 2
        })
        .await;
        assert!(e.invoke(&c).await.cold);
        assert_eq!(e.invoker.pooled("h1") + e.invoker.pooled("h2"), 1);
        assert!(
            e.invoker
                .metrics()
                .encode()
                .contains("lambdad_throttles_total{function=\"c\"} 1")
        );
        e.invoker.shutdown().await;
    });
}

#[test]
fn a_provisioned_configuration_waits_for_the_budget_and_then_fills() {
    within(60, || async {
        // Room for one 128 MB environment, taken by a busy one.
        let e = engine(Duration::from_secs(600), 128);
        let busy = {
            let invoker = e.invoker.clone();
            let (s, event) = (e.snapshot("f", "$LATEST", "r1"), e.held());
            tokio::spawn(async move { invoke_with(&invoker, s, event).await })
        };
        until("f is busy", || e.invoker.environments().busy == 1).await;
        e.invoker.provision("p:live", e.snapshot("p", "1", "r1"), 1);
        // The first top-up (a task the current-thread runtime runs before
        // this one resumes) finds the budget full, with nothing idle to evict.
        tokio::task::yield_now().await;
        assert_eq!(e.invoker.provisioned_status("p:live"), Some((1, 0)));
        e.release();
        let f = busy.await.unwrap().unwrap();
        // Later top-ups (the reaper's) evict f's idle environment for it.
        until("the configuration is filled", || {
            e.invoker.provisioned_status("p:live") == Some((1, 1))
        })
        .await;
        until("f's environment made room", || gone(&f.env)).await;
        e.invoker.shutdown().await;
    });
}
