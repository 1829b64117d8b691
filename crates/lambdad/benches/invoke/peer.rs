//! The peer: cargo-lambda's emulator (`cargo lambda watch`, installed from
//! crates.io when missing) serving the same echo fixture, measured with the
//! same clients right after lambdad, for a throughput ratio.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{print_run, warm_run};

fn installed() -> bool {
    Command::new("cargo")
        .args(["lambda", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the warm-invoke measurement against `cargo lambda watch`.
pub async fn cargo_lambda(http: &reqwest::Client, lambdad_rate: Option<f64>) {
    if !installed() {
        println!("installing cargo-lambda from crates.io (once; this takes minutes)…");
        let ok = Command::new("cargo")
            .args(["install", "--locked", "cargo-lambda"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok || !installed() {
            println!("cargo-lambda: could not be installed; no comparison");
            return;
        }
    }
    let version = Command::new("cargo")
        .args(["lambda", "--version"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/functions");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = std::env::temp_dir().join("lambdad-bench-cargo-lambda.log");
    let mut child = Command::new("cargo")
        .args([
            "lambda",
            "watch",
            "--release",
            "--invoke-address",
            "127.0.0.1",
        ])
        .args(["--invoke-port", &port.to_string()])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .process_group(0)
        .spawn()
        .expect("cargo lambda watch starts");
    let url = format!("http://127.0.0.1:{port}/2015-03-31/functions/echo/invocations");
    // The first invocation builds the function (release): allow minutes.
    let started = Instant::now();
    let ready = loop {
        if let Ok(r) = http.post(&url).body("{}").send().await
            && r.status().is_success()
        {
            break true;
        }
        if started.elapsed() > Duration::from_secs(900) {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if ready {
        let mut peer_rate = None;
        for clients in [1usize, 8, 32] {
            let (all, rate) = warm_run(http, &url, clients).await;
            peer_rate = Some(rate);
            let label = format!(
                "peer {version} (`cargo lambda watch --release`), warm invoke, {clients:>2} client(s)"
            );
            print_run(&label, &all, rate, "invocations");
        }
        if let (Some(ours), Some(theirs)) = (lambdad_rate, peer_rate) {
            println!(
                "lambdad / cargo-lambda throughput at 32 clients: {:.2}×",
                ours / theirs
            );
        }
    } else {
        println!(
            "cargo-lambda: no answer after 15 min; see {}",
            log.display()
        );
    }
    // The whole process group: cargo-lambda, cargo and the function.
    let _ = nix_kill_group(child.id());
    let _ = child.wait();
}

fn nix_kill_group(pid: u32) -> std::io::Result<std::process::ExitStatus> {
    Command::new("kill")
        .args(["-TERM", "--", &format!("-{pid}")])
        .status()
}
