//! Configuration as users give it: `LAMBDAD_*` variables take effect,
//! unknown ones are warned about, and start-up mistakes are one line.

use std::future::Future;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::{TestServer, create_function, fixture_zip};
use crate::isolation::probe;

/// Runs a test body within `limit`.
async fn within<F: Future<Output = ()>>(limit: Duration, body: F) {
    tokio::time::timeout(limit, body)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {limit:?}"));
}

#[tokio::test]
async fn lambdad_network_sets_the_default_network() {
    within(Duration::from_secs(120), async {
        let server = TestServer::start_with_env(&[], &[("LAMBDAD_NETWORK", "loopback")]).await;
        assert!(
            server.log().contains("backend=\"namespace\""),
            "networks need the namespace sandbox (run as root); log:\n{}",
            server.log()
        );
        let lambda = server.lambda().await;
        create_function(&lambda, "untagged", fixture_zip("probe")).await;
        create_function(&lambda, "tagged-host", fixture_zip("probe")).await;
        lambda
            .tag_resource()
            .resource("arn:aws:lambda:us-east-1:000000000000:function:tagged-host")
            .tags("lambdad:network", "host")
            .send()
            .await
            .unwrap();
        // Without a tag: a network of its own, with only `lo`.
        let v = probe(&lambda, "untagged", json!({"op": "interfaces"})).await;
        assert_eq!(v["ok"], json!(["lo"]), "{v}");
        // The tag still decides for the function that has one.
        let v = probe(&lambda, "tagged-host", json!({"op": "interfaces"})).await;
        assert!(v["ok"].as_array().unwrap().len() > 1, "{v}");
    })
    .await;
}

#[tokio::test]
async fn lambdad_client_timeout_cuts_slow_clients_off() {
    within(Duration::from_secs(60), async {
        let server = TestServer::start_with_env(&[], &[("LAMBDAD_CLIENT_TIMEOUT", "1s")]).await;
        let addr = server.endpoint().trim_start_matches("http://").to_owned();
        // Headers that never end: closed after ~1 s (the default is 30 s).
        let mut loris = tokio::net::TcpStream::connect(&addr).await.unwrap();
        loris
            .write_all(b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = Instant::now();
        let mut buf = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), loris.read_to_end(&mut buf))
            .await
            .expect("a client that never finishes its headers is disconnected")
            .ok();
        let closed = started.elapsed();
        assert!(
            (Duration::from_millis(900)..Duration::from_secs(5)).contains(&closed),
            "closed after {closed:?}"
        );
        let health = reqwest::get(format!("{}/health", server.endpoint()))
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    })
    .await;
}

#[tokio::test]
async fn unknown_variables_are_warnings() {
    within(Duration::from_secs(60), async {
        let server = TestServer::start_with_env(
            &[],
            &[("LAMBDAD_IDLE_TIMOUT", "5m"), ("LAMBDAD_FOO", "1")],
        )
        .await;
        let log = server.log();
        for warning in [
            "unknown environment variable LAMBDAD_IDLE_TIMOUT ignored (did you mean LAMBDAD_IDLE_TIMEOUT?)",
            "unknown environment variable LAMBDAD_FOO ignored (the closest known setting is LAMBDAD_LOG)",
        ] {
            let lines = log.lines().filter(|l| l.contains(warning)).count();
            assert_eq!(lines, 1, "{warning:?} once in the log:\n{log}");
            assert!(
                log.lines()
                    .any(|l| l.contains(warning) && l.contains("WARN")),
                "{log}"
            );
        }
        let health = reqwest::get(format!("{}/health", server.endpoint()))
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
    })
    .await;
}

/// Runs `lambdad serve ARGS` with `vars` (and RUST_BACKTRACE=`backtrace`),
/// which must fail: returns its exit code and stderr.
fn failed_start(args: &[&str], vars: &[(&str, &str)], backtrace: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lambdad"));
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(args)
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", backtrace)
        .env("LAMBDAD_LOG", "error")
        .envs(vars.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("LAMBDAD_") && k != "LAMBDAD_LOG" {
            cmd.env_remove(k);
        }
    }
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lambdad serve {args:?} with {vars:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// Arguments, variables, and what the one line of stderr contains.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[tokio::test]
async fn start_up_errors_are_one_line_and_exit_2() {
    within(Duration::from_secs(120), async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "regoin = \"eu-west-1\"\n").unwrap();
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = taken.local_addr().unwrap().to_string();
        let file = file.to_str().unwrap();
        let cases: [Case; 4] = [
            (
                &[],
                &[("LAMBDAD_IDLE_TIMEOUT", "soon")],
                "error: invalid value \"soon\" of LAMBDAD_IDLE_TIMEOUT: ",
            ),
            (
                &["--config", file],
                &[],
                "unknown key \"regoin\" (did you mean region?)",
            ),
            (
                &[],
                &[("LAMBDAD_CONCURRENCY_LIMIT", "5")],
                "error: the concurrency limit must be at least 100",
            ),
            (&["--listen", &taken], &[], "error: binding "),
        ];
        for (args, vars, expected) in cases {
            for backtrace in ["1", "full"] {
                let (code, stderr) = failed_start(args, vars, backtrace);
                let context = format!("{args:?} {vars:?} RUST_BACKTRACE={backtrace}:\n{stderr}");
                assert_eq!(code, Some(2), "{context}");
                assert_eq!(stderr.lines().count(), 1, "{context}");
                assert!(stderr.starts_with("error: "), "{context}");
                assert!(stderr.contains(expected), "{context}");
                assert!(!stderr.contains("backtrace"), "{context}");
            }
        }
    })
    .await;
}
