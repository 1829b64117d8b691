//! Environment creation rate, the platform's memory per idle environment,
//! and the asynchronous queue's accept and delivery rates.

use std::time::{Duration, Instant};

use crate::{create_echo, load, print_run};

/// Proportional set size (KiB) of a process, from smaps_rollup.
fn pss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The platform's memory: the server plus its sandbox helpers (one per
/// environment, waiting for the runtime), not the functions' processes.
fn platform_kib(server: u32) -> (u64, usize) {
    let mut total = pss_kib(server);
    let mut helpers = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // pid (comm) state ppid ...
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if ppid == Some(server) && cmdline.windows(15).any(|w| w == b"__sandbox-init\0") {
            total += pss_kib(pid);
            helpers += 1;
        }
    }
    (total, helpers)
}

async fn provisioned_status(http: &reqwest::Client, base: &str, name: &str) -> String {
    let r = http
        .get(format!(
            "{base}/2019-09-30/functions/{name}/provisioned-concurrency?Qualifier=live"
        ))
        .send()
        .await
        .unwrap();
    let v: serde_json::Value = r.json().await.unwrap();
    v["Status"].as_str().unwrap_or("").to_owned()
}

/// Environments created per second (provisioned concurrency of `n` on a new
/// alias, until READY) and the platform's memory per idle environment.
pub async fn environments(http: &reqwest::Client, base: &str, server: u32, echo: &[u8], n: u32) {
    create_echo(http, base, "envs", echo).await;
    let r = http
        .post(format!("{base}/2015-03-31/functions/envs/versions"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = http
        .post(format!("{base}/2015-03-31/functions/envs/aliases"))
        .json(&serde_json::json!({"Name": "live", "FunctionVersion": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, helpers_before) = platform_kib(server);
    let started = Instant::now();
    let r = http
        .put(format!(
            "{base}/2019-09-30/functions/envs/provisioned-concurrency?Qualifier=live"
        ))
        .json(&serde_json::json!({"ProvisionedConcurrentExecutions": n}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    loop {
        let status = provisioned_status(http, base, "envs").await;
        if status == "READY" {
            break;
        }
        assert_ne!(status, "FAILED", "provisioned concurrency failed");
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not READY after 2 min"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let took = started.elapsed();
    println!(
        "environments: {n} created (provisioned, until READY) in {:.0} ms: {:.0} environments/s",
        took.as_secs_f64() * 1000.0,
        f64::from(n) / took.as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (after, helpers_after) = platform_kib(server);
    let envs = helpers_after.saturating_sub(helpers_before).max(1);
    println!(
        "platform memory per idle environment (lambdad + its sandbox helper, PSS; functions excluded): {:.0} KiB ({envs} environments: {} → {} KiB)",
        after.saturating_sub(before) as f64 / envs as f64,
        before,
        after
    );
    let r = http
        .delete(format!(
            "{base}/2019-09-30/functions/envs/provisioned-concurrency?Qualifier=live"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
}

async fn delivered(http: &reqwest::Client, base: &str, name: &str) -> f64 {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let needle = format!("function=\"{name}\"");
    text.lines()
        .filter(|l| l.starts_with("lambdad_invocations_total{") && l.contains(&needle))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Asynchronous events accepted per second (each durable before its 202)
/// from `clients` keep-alive clients, and delivered per second to `echo`.
pub async fn async_events(
    http: &reqwest::Client,
    base: &str,
    echo: &[u8],
    total: usize,
    clients: usize,
) {
    create_echo(http, base, "sink", echo).await;
    let url = format!("{base}/2015-03-31/functions/sink/invocations");
    let started = Instant::now();
    let (all, rate) = load(http, &url, clients, total / clients, true).await;
    let n = all.len();
    print_run(
        &format!("async accept, {clients} clients"),
        &all,
        rate,
        "durable accepts",
    );
    loop {
        if delivered(http, base, "sink").await >= n as f64 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not delivered after 10 min"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let all_done = started.elapsed();
    println!(
        "async delivery: {n} events run by a no-op function in {:.1} s from the first accept: {:.0} events/s",
        all_done.as_secs_f64(),
        n as f64 / all_done.as_secs_f64()
    );
    let stats: serde_json::Value = http
        .get(format!("{base}/_lambdad/async-stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    println!(
        "async delivery: events in flight at the end: at most {}",
        stats["inFlightLimit"]
    );
}
