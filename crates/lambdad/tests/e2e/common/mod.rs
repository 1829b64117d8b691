//! `TestServer`: the real `lambdad` binary on a free port with a fresh data
//! dir, plus client helpers.

#![allow(dead_code, reason = "each test module uses a different subset")]

use std::cell::{Cell, RefCell};
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::{Rc, Weak};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use aws_sdk_lambda::Client;
use aws_sdk_lambda::primitives::Blob;

/// The host, shared by every running `TestServer` and held alone by a test
/// that changes host-wide state (the cgroup hierarchy's `favordynmods`),
/// so that no other test's server runs (and, say, turns that option back
/// on) meanwhile. Within this one test binary, tests run in parallel.
static HOST: RwLock<()> = RwLock::new(());

type SharedHost = Rc<RwLockReadGuard<'static, ()>>;

thread_local! {
    /// This thread's share of `HOST`, while one of its servers runs: a
    /// second server of the same test reuses it (taking the read lock
    /// twice could deadlock behind a waiting `host_alone`).
    static SHARE: RefCell<Weak<RwLockReadGuard<'static, ()>>> = const { RefCell::new(Weak::new()) };
    /// Whether this thread holds `HOST` alone (its servers need no share).
    static ALONE: Cell<bool> = const { Cell::new(false) };
}

/// This test's share of the host (each test runs on a thread of its own,
/// and its servers stay on it), or `None` while it holds the host alone.
fn share_host() -> Option<SharedHost> {
    if ALONE.get() {
        return None;
    }
    SHARE.with(|share| {
        if let Some(held) = share.borrow().upgrade() {
            return Some(held);
        }
        let held = Rc::new(HOST.read().unwrap_or_else(PoisonError::into_inner));
        *share.borrow_mut() = Rc::downgrade(&held);
        Some(held)
    })
}

/// The host held alone: no other test's server runs until this is dropped.
pub struct HostAlone {
    _guard: RwLockWriteGuard<'static, ()>,
}

/// Waits until no other test runs a server, and keeps them from starting
/// one until the returned guard is dropped. For tests that change host-wide
/// state; the calling test's own servers start as usual.
pub fn host_alone() -> HostAlone {
    let guard = HOST.write().unwrap_or_else(PoisonError::into_inner);
    ALONE.set(true);
    HostAlone { _guard: guard }
}

impl Drop for HostAlone {
    fn drop(&mut self) {
        ALONE.set(false);
    }
}

/// A running lambdad.
pub struct TestServer {
    child: Option<Child>,
    port: u16,
    data: tempfile::TempDir,
    extra: Vec<String>,
    env: Vec<(String, String)>,
    /// Dropped after the server has stopped (fields drop after `drop`).
    _host: Option<SharedHost>,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestServer {
    /// Starts a server with default settings.
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    /// Starts a server with extra `serve` arguments.
    pub async fn start_with(extra: &[&str]) -> Self {
        Self::start_with_env(extra, &[]).await
    }

    /// Starts a server with extra `serve` arguments and environment variables.
    pub async fn start_with_env(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let mut server = TestServer {
            child: None,
            port: free_port(),
            data: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _host: share_host(),
        };
        server.spawn().await;
        server
    }

    async fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.path().join("server.log"))
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_lambdad"))
            .arg("serve")
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--data-dir")
            .arg(self.data_dir())
            .args(&self.extra)
            .env_remove("LAMBDAD_CONFIG")
            .env("LAMBDAD_LOG", "info,lambdad=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn lambdad");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = reqwest::get(format!("{}/health", self.endpoint())).await
                && resp.status().is_success()
            {
                return;
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "lambdad exited during start-up ({status}); log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "lambdad did not become healthy; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The server's pid.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// Kills the server with SIGKILL: no shutdown of any kind.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> PathBuf {
        self.data.path().join("data")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("server.log")).unwrap_or_default()
    }

    /// Stops the server with SIGTERM and returns its exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return child.wait().unwrap();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server and starts it again on the same data dir and port.
    pub async fn restart(&mut self) {
        let status = self.stop();
        assert!(
            status.success(),
            "lambdad did not stop cleanly: {status}; log:\n{}",
            self.log()
        );
        self.spawn().await;
    }

    /// An aws-sdk-lambda client pointed at this server.
    pub async fn lambda(&self) -> Client {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_lambda::config::Credentials::new(
                "AKIDTEST", "secret", None, None, "test",
            ))
            .load()
            .await;
        let conf = aws_sdk_lambda::config::Builder::from(&conf)
            .retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled())
            .build();
        Client::from_conf(conf)
    }
}

impl Drop for TestServer {
    /// SIGTERM (lambdad destroys its environments), SIGKILL after 10 s.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A zip archive of `(name, bytes, unix mode)` entries.
pub fn zip_files(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data, mode) in files {
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(*mode);
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A small valid function archive.
pub fn tiny_zip() -> Vec<u8> {
    zip_files(&[("bootstrap", b"#!/bin/sh\necho hello\n", 0o755)])
}

/// The role every test function uses.
pub const ROLE: &str = "arn:aws:iam::000000000000:role/lambda-role";

/// Creates a `provided.al2023` function with `zip` as its code.
pub async fn create_function(
    client: &Client,
    name: &str,
    zip: Vec<u8>,
) -> aws_sdk_lambda::operation::create_function::CreateFunctionOutput {
    client
        .create_function()
        .function_name(name)
        .runtime(aws_sdk_lambda::types::Runtime::Providedal2023)
        .handler("bootstrap")
        .role(ROLE)
        .code(
            aws_sdk_lambda::types::FunctionCode::builder()
                .zip_file(Blob::new(zip))
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("create {name}: {:?}", e.into_service_error()))
}

/// Every file under `dir`, relative.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                stack.push(p.clone());
            }
            out.push(p.strip_prefix(dir).unwrap().to_path_buf());
        }
    }
    out.sort();
    out
}

/// A zip whose `bootstrap` is fixture function `bin` (tests/fixtures/functions).
pub fn fixture_zip(bin: &str) -> Vec<u8> {
    let dir = Path::new(env!("CARGO_BIN_EXE_lambdad"))
        .parent()
        .unwrap()
        .to_path_buf();
    let path = dir.join(bin);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!("fixture function {} is missing ({e}): run `cargo build --workspace --bins` (scripts/test does)", path.display())
    });
    zip_files(&[("bootstrap", &bytes, 0o755)])
}

/// Invokes `name` with `payload`; returns (status, function error, payload JSON, log tail, request id).
pub async fn invoke(client: &Client, name: &str, payload: serde_json::Value) -> Invoked {
    let out = client
        .invoke()
        .function_name(name)
        .payload(Blob::new(serde_json::to_vec(&payload).unwrap()))
        .log_type(aws_sdk_lambda::types::LogType::Tail)
        .send()
        .await
        .unwrap_or_else(|e| panic!("invoke {name}: {:?}", e.into_service_error()));
    let body = out
        .payload()
        .map(|b| b.as_ref().to_vec())
        .unwrap_or_default();
    Invoked {
        status: out.status_code(),
        function_error: out.function_error().map(str::to_owned),
        json: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        log: out
            .log_result()
            .map(|l| {
                String::from_utf8(
                    base64::Engine::decode(&base64::engine::general_purpose::STANDARD, l).unwrap(),
                )
                .unwrap()
            })
            .unwrap_or_default(),
        executed_version: out.executed_version().map(str::to_owned),
    }
}

/// What an invocation returned.
#[derive(Debug)]
pub struct Invoked {
    pub status: i32,
    pub function_error: Option<String>,
    pub json: serde_json::Value,
    pub log: String,
    pub executed_version: Option<String>,
}
