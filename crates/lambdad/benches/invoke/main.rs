//! Invoke benchmark (not a test): starts lambdad with a fresh data dir,
//! deploys the `echo` fixture (built with lambda_runtime) and reports cold
//! start (custom runtime, Python, Node.js, Java) and warm invoke latency (p50/p99) and throughput over raw HTTP
//! keep-alive connections, function URL requests, environment creation and
//! idle memory, the asynchronous queue, and cargo-lambda's emulator beside
//! lambdad on the same function.
//!
//! Run: `cargo build --release --workspace --bins && cargo bench -p lambdad --bench invoke`
//! (`-- SECTION...` runs some of: cold warm url envs async peer sdk).

mod peer;
mod platform;

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use base64::Engine as _;

pub(crate) fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

pub(crate) fn zip_bootstrap(bin: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        "bootstrap",
        zip::write::SimpleFileOptions::default().unix_permissions(0o755),
    )
    .unwrap();
    w.write_all(bin).unwrap();
    w.finish().unwrap().into_inner()
}

/// A Java hello-world (`example.Hello`, a plain method on a Map), compiled
/// with the host's javac; None without one.
fn java_hello_zip() -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().ok()?;
    let src = dir.path().join("Hello.java");
    std::fs::write(
        &src,
        "package example;\n\nimport java.util.Map;\n\npublic class Hello {\n    public Map<String, String> handleRequest(Map<String, Object> event) {\n        return Map.of(\"hello\", \"world\");\n    }\n}\n",
    )
    .ok()?;
    let out = dir.path().join("out");
    let built = Command::new("javac")
        .args(["--release", "17", "-d"])
        .arg(&out)
        .arg(&src)
        .status()
        .ok()?
        .success();
    let class = std::fs::read(out.join("example/Hello.class"))
        .ok()
        .filter(|_| built)?;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.start_file(
        "example/Hello.class",
        zip::write::SimpleFileOptions::default(),
    )
    .ok()?;
    w.write_all(&class).ok()?;
    Some(w.finish().ok()?.into_inner())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores, {cpu}, Linux {}", kernel.trim())
}

/// CreateFunction of `name` with `zip`.
async fn create_function(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    runtime: &str,
    handler: &str,
    zip: &[u8],
) {
    let create = serde_json::json!({
        "FunctionName": name, "Runtime": runtime, "Handler": handler,
        "Role": "arn:aws:iam::000000000000:role/r",
        "Code": {"ZipFile": base64::engine::general_purpose::STANDARD.encode(zip)}
    });
    let r = http
        .post(format!("{base}/2015-03-31/functions"))
        .json(&create)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

/// Creates function `name` from the echo fixture's binary.
pub(crate) async fn create_echo(http: &reqwest::Client, base: &str, name: &str, echo: &[u8]) {
    let zip = zip_bootstrap(echo);
    create_function(http, base, name, "provided.al2023", "bootstrap", &zip).await;
}

/// The lambdad server's pid, while it runs (0 before and after).
static SERVER: AtomicU32 = AtomicU32::new(0);
/// lambdad's own CPU time (user + system, all its threads; not its sandbox
/// helpers' nor the functions') per request of the last `load`, in ns.
static LAST_CPU_NS: AtomicU64 = AtomicU64::new(0);

/// CPU time (user + system) a process has used, in ns (clock ticks of 10 ms:
/// runs measure thousands of requests, so the resolution is enough).
fn cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10_000_000)
}

/// Prints one measured run: count, p50, p99, the rate, and lambdad's own
/// CPU per request when the run was against lambdad (not the peer): a
/// figure other load on the machine disturbs far less than the rate.
pub(crate) fn print_run(label: &str, all: &[Duration], rate: f64, unit: &str) {
    let cpu = match LAST_CPU_NS.swap(0, Ordering::Relaxed) {
        0 => String::new(),
        ns => format!(", lambdad CPU {:.0} µs each", ns as f64 / 1e3),
    };
    println!(
        "{label}, n={}: p50 {:.0} µs, p99 {:.0} µs, {rate:.0} {unit}/s{cpu}",
        all.len(),
        pct(all, 0.5),
        pct(all, 0.99),
    );
}

/// Whether `lambdad serve --help` of `exe` lists `flag`.
fn takes_flag(exe: &std::path::Path, flag: &str) -> bool {
    Command::new(exe)
        .args(["serve", "--help"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(flag))
}

#[tokio::main]
async fn main() {
    let sections: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let run = |name: &str| sections.is_empty() || sections.iter().any(|s| s == name);
    // LAMBDAD_BENCH_BIN measures another build (say, the previous commit's)
    // with this harness and these fixtures, for before/after runs.
    let built = std::path::PathBuf::from(env!("CARGO_BIN_EXE_lambdad"));
    let exe = std::env::var_os("LAMBDAD_BENCH_BIN").map_or_else(|| built.clone(), Into::into);
    let echo = std::fs::read(built.parent().unwrap().join("echo"))
        .expect("build the fixtures first: cargo build --release --workspace --bins");
    let data = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(&exe);
    server
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--memory-budget-mb",
            "16384",
            "--data-dir",
        ])
        .arg(data.path());
    // The harness measures the platform: without this, the 128 MB fixtures
    // would get 7 % of a CPU (as on AWS) and their own run time would be
    // most of what is measured. Builds from before the setting lack it.
    if takes_flag(&exe, "--cpu-quota") {
        server.args(["--cpu-quota", "off"]);
    }
    let mut server = server
        .env("LAMBDAD_LOG", "warn")
        .env_remove("LAMBDAD_BENCH_BIN")
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    SERVER.store(server.id(), Ordering::Relaxed);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    for _ in 0..200 {
        if http.get(format!("{base}/health")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    create_echo(&http, &base, "echo", &echo).await;
    let url = format!("{base}/2015-03-31/functions/echo/invocations");

    println!("lambdad invoke benchmark — {}", machine());
    let managed = [
        (
            "hello-py",
            "python3.11",
            "app.handler",
            "app.py",
            "def handler(event, context):\n    return {'hello': 'world'}\n",
        ),
        (
            "hello-node",
            "nodejs20.x",
            "index.handler",
            "index.mjs",
            "export const handler = async () => ({ hello: 'world' });\n",
        ),
        // The AWS SDK the runtimes include (issue 28): the same hello-worlds importing it.
        (
            "sdk-py",
            "python3.11",
            "app.handler",
            "app.py",
            "import boto3\n\ndef handler(event, context):\n    return {'hello': boto3.__version__}\n",
        ),
        (
            "sdk-py-client",
            "python3.11",
            "app.handler",
            "app.py",
            "import boto3\nLAMBDA = boto3.client('lambda')\n\ndef handler(event, context):\n    return {'hello': 'world'}\n",
        ),
        (
            "sdk-node",
            "nodejs20.x",
            "index.handler",
            "index.mjs",
            "import { LambdaClient } from '@aws-sdk/client-lambda';\nconst client = new LambdaClient({});\nexport const handler = async () => ({ hello: 'world' });\n",
        ),
        (
            "sdk-node-cjs",
            "nodejs20.x",
            "index.handler",
            "index.js",
            "const { LambdaClient } = require('@aws-sdk/client-lambda');\nconst client = new LambdaClient({});\nexports.handler = async () => ({ hello: 'world' });\n",
        ),
    ];
    for (name, runtime, handler, file, source) in managed {
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        w.start_file(file, zip::write::SimpleFileOptions::default())
            .unwrap();
        w.write_all(source.as_bytes()).unwrap();
        let zip = w.finish().unwrap().into_inner();
        create_function(&http, &base, name, runtime, handler, &zip).await;
    }
    match java_hello_zip() {
        Some(zip) => {
            create_function(&http, &base, "hello-java", "java17", "example.Hello", &zip).await
        }
        None => println!("no javac on this host: the java17 cold start is not measured"),
    }
    // Cold starts: a configuration change retires the environment, so each invoke starts a new one.
    let mut cold_runs: Vec<(&str, &str)> = Vec::new();
    if run("cold") {
        cold_runs.extend([
            ("echo", "custom runtime (lambda_runtime)"),
            ("hello-py", "python3.11"),
            ("hello-node", "nodejs20.x"),
            ("hello-java", "java17"),
        ]);
    }
    if run("sdk") {
        wait_for_sdk(&http, &base).await;
        cold_runs.extend([
            ("hello-py", "python3.11, no SDK import"),
            ("sdk-py", "python3.11, import boto3"),
            (
                "sdk-py-client",
                "python3.11, import boto3 + boto3.client('lambda')",
            ),
            ("hello-node", "nodejs20.x, no SDK import"),
            (
                "sdk-node",
                "nodejs20.x, ESM import of @aws-sdk/client-lambda + new LambdaClient",
            ),
            (
                "sdk-node-cjs",
                "nodejs20.x, require('@aws-sdk/client-lambda') + new LambdaClient",
            ),
        ]);
    }
    for &(name, label) in &cold_runs {
        let mut cold = Vec::new();
        let fn_url = format!("{base}/2015-03-31/functions/{name}/invocations");
        for i in 0..30 {
            let cfg = serde_json::json!({"Environment": {"Variables": {"ROUND": i.to_string()}}});
            http.put(format!("{base}/2015-03-31/functions/{name}/configuration"))
                .json(&cfg)
                .send()
                .await
                .unwrap();
            let t = Instant::now();
            let r = http.post(&fn_url).body("{}").send().await.unwrap();
            let ok = r.status().is_success() && !r.headers().contains_key("x-amz-function-error");
            r.bytes().await.unwrap();
            if !ok {
                println!(
                    "cold start, {label}: the function failed (is the interpreter installed?)"
                );
                break;
            }
            cold.push(t.elapsed());
        }
        if !cold.is_empty() {
            cold.sort();
            println!(
                "cold start, {label} (invoke to response, new environment each time, n={}): p50 {:.0} µs, p99 {:.0} µs",
                cold.len(),
                pct(&cold, 0.5),
                pct(&cold, 0.99)
            );
        }
    }

    let mut lambdad_rate = None;
    for clients in [1usize, 8, 32].into_iter().filter(|_| run("warm")) {
        let (all, rate) = warm_run(&http, &url, clients).await;
        lambdad_rate = Some(rate);
        let label = format!("warm invoke, {clients:>2} client(s)");
        print_run(&label, &all, rate, "invocations");
    }

    if run("url") {
        url_requests(&http, &base, port).await;
    }
    if run("envs") {
        platform::environments(&http, &base, server.id(), &echo, 100).await;
    }
    if run("async") {
        platform::async_events(&http, &base, &echo, 20_000, 32).await;
    }
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(server.id().to_string())
        .status();
    let _ = server.wait();
    SERVER.store(0, Ordering::Relaxed);
    if run("peer") {
        peer::cargo_lambda(&http, lambdad_rate).await;
    }
}

/// Waits (up to 15 minutes: a first start installs them) until /health says
/// the runtimes' AWS SDKs are ready.
async fn wait_for_sdk(http: &reqwest::Client, base: &str) {
    for _ in 0..4500 {
        let health: serde_json::Value = match http.get(format!("{base}/health")).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => serde_json::Value::Null,
        };
        let state = &health["runtimeSdk"];
        if state["python"] == "ready" && state["node"] == "ready" {
            return;
        }
        assert!(
            state["python"] != "failed" && state["node"] != "failed",
            "the runtime SDKs could not be installed: {health}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the runtime SDKs were not ready after 15 minutes");
}

/// The echo function through its function URL (AuthType NONE, public by policy).
async fn url_requests(http: &reqwest::Client, base: &str, port: u16) {
    let r = http
        .post(format!("{base}/2021-10-31/functions/echo/url"))
        .json(&serde_json::json!({"AuthType": "NONE"}))
        .send()
        .await
        .unwrap();
    let function_url = r.json::<serde_json::Value>().await.unwrap()["FunctionUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let permission = serde_json::json!({
        "StatementId": "public", "Action": "lambda:InvokeFunctionUrl", "Principal": "*",
        "FunctionUrlAuthType": "NONE"
    });
    http.post(format!("{base}/2015-03-31/functions/echo/policy"))
        .json(&permission)
        .send()
        .await
        .unwrap();
    let host = function_url
        .trim_start_matches("http://")
        .split(':')
        .next()
        .unwrap()
        .to_owned();
    let url_http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .resolve(&host, ([127, 0, 0, 1], port).into())
        .build()
        .unwrap();
    for clients in [1usize, 8, 32] {
        let (all, rate) = warm_run(&url_http, &function_url, clients).await;
        let label = format!("warm function URL request, {clients:>2} client(s)");
        print_run(&label, &all, rate, "requests");
    }
}

/// Warm requests from `clients` concurrent keep-alive clients: sorted latencies and the rate.
pub(crate) async fn warm_run(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
) -> (Vec<Duration>, f64) {
    let per_client = if clients == 1 { 3000 } else { 12000 / clients };
    // Warm up one environment per client.
    let mut warm = Vec::new();
    for _ in 0..clients {
        let (http, url) = (http.clone(), url.to_owned());
        warm.push(tokio::spawn(async move {
            http.post(&url)
                .body("{}")
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
        }));
    }
    for w in warm {
        w.await.unwrap();
    }
    load(http, url, clients, per_client, false).await
}

/// `per_client` POSTs of a small event from each of `clients` concurrent
/// keep-alive clients (as `Event` invocations when `event`): sorted
/// latencies and the rate.
pub(crate) async fn load(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    per_client: usize,
    event: bool,
) -> (Vec<Duration>, f64) {
    let server = SERVER.load(Ordering::Relaxed);
    let cpu_before = cpu_ns(server);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url) = (http.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for _ in 0..per_client {
                let t = Instant::now();
                let mut req = http.post(&url).body("{\"k\":1}");
                if event {
                    req = req.header("X-Amz-Invocation-Type", "Event");
                }
                let r = req.send().await.unwrap();
                let want = if event { 202 } else { 200 };
                assert_eq!(r.status(), want);
                r.bytes().await.unwrap();
                lat.push(t.elapsed());
            }
            lat
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let secs = start.elapsed().as_secs_f64();
    if let (Some(before), Some(after)) = (cpu_before, cpu_ns(server)) {
        let per = (after - before) / all.len().max(1) as u64;
        LAST_CPU_NS.store(per.max(1), Ordering::Relaxed);
    }
    all.sort();
    let rate = all.len() as f64 / secs;
    (all, rate)
}
