//! `lambdad tune FUNCTION`: runs a function at several memory sizes and
//! recommends one for cost, speed or a balance, as AWS Lambda Power Tuning
//! does. For each size it publishes a temporary version of the function
//! with that memory (`POST /_lambdad/functions/NAME/tuning-versions`, which
//! leaves `$LATEST` alone) and points a temporary alias
//! `lambdad-tune-MEMORY` at it, invokes the alias with `LogType: Tail`,
//! reads Duration, Billed Duration and Init Duration from the REPORT line,
//! then deletes the alias and the version; on an error or Ctrl-C too. The
//! statistics and the recommendation are in `stats.rs`, the charts in
//! `chart.rs`.

mod chart;
mod http;
mod png;
pub mod stats;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::{Context, bail};
use base64::Engine as _;
use serde_json::{Value, json};

use http::Client;
use stats::{Prices, Report, SizeResult, Strategy};

/// Prefix of the temporary aliases (`lambdad-tune-1024`).
pub const ALIAS_PREFIX: &str = "lambdad-tune-";
/// Prefix of the temporary versions' descriptions.
const DESCRIPTION_PREFIX: &str = "lambdad tune: ";

/// `lambdad tune` arguments.
#[derive(Debug, clap::Args)]
pub struct TuneArgs {
    /// The function's name or ARN.
    pub function: String,
    /// Memory sizes in MB: a list, or LOW..HIGH/COUNT for COUNT evenly spaced sizes.
    #[arg(long, default_value = "128,256,512,1024,1769,3008", value_parser = parse_sizes)]
    pub memory: Sizes,
    /// The event: JSON, or @FILE (repeatable: several payloads, see --weights) [default: {}].
    #[arg(long = "payload")]
    pub payloads: Vec<String>,
    /// Weights of the payloads, e.g. `3,1` [default: equal].
    #[arg(long, value_delimiter = ',')]
    pub weights: Vec<u32>,
    /// Measured (warm) invocations per size.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub invocations: u32,
    /// Invocations at once (each size first starts this many environments, not measured).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub parallel: u32,
    /// What to recommend for.
    #[arg(long, value_enum, default_value_t = Strategy::Balanced)]
    pub strategy: Strategy,
    /// Weight of cost against speed for `balanced`: 1 is `cost`, 0 is `speed`.
    #[arg(long, default_value_t = 0.5)]
    pub balanced_weight: f64,
    /// Tune this version or alias's code and configuration instead of `$LATEST`'s.
    #[arg(long)]
    pub qualifier: Option<String>,
    /// Write the results and the recommendation as JSON to this file (`-`: standard output).
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write the chart (cost and duration against memory) as SVG to this
    /// file and as PNG beside it (`.png`; or the reverse, given a `.png` path).
    #[arg(long)]
    pub chart: Option<PathBuf>,
    /// The server's address. Requests are signed with SigV4 when
    /// `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` are set (and
    /// `AWS_SESSION_TOKEN`, `AWS_REGION`), unsigned otherwise (`--auth none`).
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub endpoint: String,
}

/// The memory sizes of `--memory`.
#[derive(Debug, Clone)]
pub struct Sizes(pub Vec<u32>);

fn parse_sizes(s: &str) -> Result<Sizes, String> {
    stats::parse_memory(s).map(Sizes)
}

/// What was created and must go again.
#[derive(Debug, Default)]
struct Created {
    aliases: Vec<String>,
    versions: Vec<String>,
}

/// Runs `lambdad tune`.
pub async fn tune(args: &TuneArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.balanced_weight) {
        bail!("--balanced-weight must be between 0 and 1");
    }
    let payloads = payloads(args)?;
    let client = Client::new(&args.endpoint, http::Signer::from_env()?)?;
    let name = args.function.clone();
    let config = client
        .json(
            "GET",
            &fn_path(&name, "configuration", args.qualifier.as_deref()),
            None,
        )
        .await
        .context("reading the function's configuration")?;
    let before = last_version(&client, &name).await?;
    let created = Arc::new(Mutex::new(Created::default()));
    let run = measure(args, &client, &config, &payloads, created.clone());
    let outcome = tokio::select! {
        r = run => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    let cleaned = cleanup(&client, &name, &created, before).await;
    let results = outcome?;
    cleaned?;
    report(args, &config, &results)
}

/// The payloads, with their weights.
fn payloads(args: &TuneArgs) -> anyhow::Result<Vec<(Vec<u8>, u32)>> {
    let raw = if args.payloads.is_empty() {
        vec!["{}".to_owned()]
    } else {
        args.payloads.clone()
    };
    if !args.weights.is_empty() && args.weights.len() != raw.len() {
        bail!(
            "--weights gives {} weights for {} payloads",
            args.weights.len(),
            raw.len()
        );
    }
    raw.iter()
        .enumerate()
        .map(|(i, p)| {
            let bytes = match p.strip_prefix('@') {
                Some(file) => std::fs::read(file).with_context(|| format!("reading {file}"))?,
                None => p.clone().into_bytes(),
            };
            serde_json::from_slice::<Value>(&bytes)
                .with_context(|| format!("payload {} is not JSON", i + 1))?;
            Ok((bytes, args.weights.get(i).copied().unwrap_or(1)))
        })
        .collect()
}

fn fn_path(name: &str, rest: &str, qualifier: Option<&str>) -> String {
    let mut p = format!("/2015-03-31/functions/{}", http::encode(name));
    if !rest.is_empty() {
        p.push('/');
        p.push_str(rest);
    }
    if let Some(q) = qualifier {
        p.push_str(&format!("?Qualifier={}", http::encode(q)));
    }
    p
}

/// The function's highest version number now (0: none).
async fn last_version(client: &Client, name: &str) -> anyhow::Result<u64> {
    let mut last = 0;
    let mut marker: Option<String> = None;
    loop {
        let mut path = fn_path(name, "versions", None);
        if let Some(m) = &marker {
            path.push_str(&format!("?Marker={}", http::encode(m)));
        }
        let page = client.json("GET", &path, None).await?;
        for v in page["Versions"].as_array().into_iter().flatten() {
            if let Some(n) = v["Version"].as_str().and_then(|s| s.parse::<u64>().ok()) {
                last = last.max(n);
            }
        }
        marker = page["NextMarker"].as_str().map(str::to_owned);
        if marker.is_none() {
            return Ok(last);
        }
    }
}

/// Deletes what this run created: the aliases and versions it knows of, and
/// any tuning version published since it started whose answer was lost to
/// an interruption.
async fn cleanup(
    client: &Client,
    name: &str,
    created: &Mutex<Created>,
    before: u64,
) -> anyhow::Result<()> {
    let (aliases, mut versions) = {
        let mut c = created.lock().unwrap_or_else(|e| e.into_inner());
        (
            std::mem::take(&mut c.aliases),
            std::mem::take(&mut c.versions),
        )
    };
    let mut failed = Vec::new();
    for alias in aliases {
        if let Err(e) = delete(client, &fn_path(name, &format!("aliases/{alias}"), None)).await {
            failed.push(format!("alias {alias}: {e:#}"));
        }
    }
    let mut marker: Option<String> = None;
    loop {
        let mut path = fn_path(name, "versions", None);
        if let Some(m) = &marker {
            path.push_str(&format!("?Marker={}", http::encode(m)));
        }
        let Ok(page) = client.json("GET", &path, None).await else {
            break;
        };
        for v in page["Versions"].as_array().into_iter().flatten() {
            let version = v["Version"].as_str().unwrap_or_default();
            let ours = v["Description"]
                .as_str()
                .is_some_and(|d| d.starts_with(DESCRIPTION_PREFIX));
            if ours
                && version.parse::<u64>().is_ok_and(|n| n > before)
                && !versions.iter().any(|x| x == version)
            {
                versions.push(version.to_owned());
            }
        }
        marker = page["NextMarker"].as_str().map(str::to_owned);
        if marker.is_none() {
            break;
        }
    }
    for version in versions {
        if let Err(e) = delete(client, &fn_path(name, "", Some(&version))).await {
            failed.push(format!("version {version}: {e:#}"));
        }
    }
    if !failed.is_empty() {
        bail!("could not clean up: {}", failed.join("; "));
    }
    Ok(())
}

/// DELETE, where "already gone" is fine.
async fn delete(client: &Client, path: &str) -> anyhow::Result<()> {
    let (status, _, body) = client.request("DELETE", path, &[], None).await?;
    if status == 204 || status == 200 || status == 404 {
        return Ok(());
    }
    bail!("{status}: {}", String::from_utf8_lossy(&body))
}

/// Publishes the version and alias of one size.
async fn prepare(
    client: &Client,
    name: &str,
    memory: u32,
    qualifier: Option<&str>,
    created: &Mutex<Created>,
) -> anyhow::Result<String> {
    let mut input = json!({ "MemorySize": memory });
    if let Some(q) = qualifier {
        input["Qualifier"] = json!(q);
    }
    let path = format!("/_lambdad/functions/{}/tuning-versions", http::encode(name));
    let v = client.json("POST", &path, Some(&input)).await?;
    let version = v["Version"]
        .as_str()
        .context("the published version has no number")?
        .to_owned();
    created
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .versions
        .push(version.clone());
    let alias = format!("{ALIAS_PREFIX}{memory}");
    let body = json!({
        "Name": alias, "FunctionVersion": version,
        "Description": "lambdad tune (temporary)",
    });
    let aliases = fn_path(name, "aliases", None);
    if let Err(e) = client.json("POST", &aliases, Some(&body)).await {
        if !format!("{e:#}").contains("ResourceConflictException") {
            return Err(e);
        }
        // A leftover of a run that could not clean up: ours by its name.
        delete(client, &fn_path(name, &format!("aliases/{alias}"), None)).await?;
        client.json("POST", &aliases, Some(&body)).await?;
    }
    created
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .aliases
        .push(alias.clone());
    Ok(alias)
}

/// One invocation's REPORT, or `None` for a function error.
async fn invoke(
    client: &Client,
    name: &str,
    alias: &str,
    payload: &[u8],
) -> anyhow::Result<(Option<Report>, bool)> {
    let path = fn_path(name, "invocations", Some(alias));
    let (status, headers, body) = client
        .request(
            "POST",
            &path,
            &[
                ("X-Amz-Invocation-Type", "RequestResponse"),
                ("X-Amz-Log-Type", "Tail"),
            ],
            Some(payload),
        )
        .await?;
    if status != 200 {
        bail!("Invoke: {status}: {}", String::from_utf8_lossy(&body));
    }
    let failed = headers.contains_key("x-amz-function-error");
    let log = headers
        .get("x-amz-log-result")
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Ok((stats::parse_report(&log), failed))
}

/// Runs every size; returns their results.
async fn measure(
    args: &TuneArgs,
    client: &Client,
    config: &Value,
    payloads: &[(Vec<u8>, u32)],
    created: Arc<Mutex<Created>>,
) -> anyhow::Result<Vec<SizeResult>> {
    let name = args.function.as_str();
    let prices = prices(client, config).await?;
    let n = args.invocations as usize;
    let parallel = args.parallel as usize;
    let weights: Vec<u32> = payloads.iter().map(|p| p.1).collect();
    let plan = Arc::new(stats::payload_plan(&weights, n + parallel));
    let payloads: Arc<Vec<Vec<u8>>> = Arc::new(payloads.iter().map(|p| p.0.clone()).collect());
    let progress = Progress::new(args.memory.0.len(), n + parallel);
    let mut results = Vec::new();
    for (i, memory) in args.memory.0.iter().copied().enumerate() {
        let alias = prepare(client, name, memory, args.qualifier.as_deref(), &created).await?;
        let reports = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        // First `parallel` invocations at once (cold starts), then the
        // measured ones by `parallel` workers.
        for phase in [(0, parallel), (parallel, n + parallel)] {
            let next = Arc::new(AtomicUsize::new(phase.0));
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..parallel {
                let (client, name, alias) = (client.clone(), name.to_owned(), alias.clone());
                let (plan, payloads, next) = (plan.clone(), payloads.clone(), next.clone());
                let (reports, errors, done) = (reports.clone(), errors.clone(), done.clone());
                let progress = progress.clone();
                let end = phase.1;
                tasks.spawn(async move {
                    loop {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= end {
                            return anyhow::Ok(());
                        }
                        let (report, failed) =
                            invoke(&client, &name, &alias, &payloads[plan[k]]).await?;
                        if failed || report.is_none() {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(r) = report.filter(|_| !failed) {
                            reports.lock().unwrap_or_else(|e| e.into_inner()).push(r);
                        }
                        progress.tick(i, memory, done.fetch_add(1, Ordering::Relaxed) + 1);
                    }
                });
            }
            while let Some(r) = tasks.join_next().await {
                r.context("an invocation task failed")??;
            }
        }
        let reports = reports.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let result = stats::summarise(memory, &reports, errors.load(Ordering::Relaxed), prices);
        progress.finish(i, memory, &result);
        results.push(result);
        cleanup_size(client, name, &created, &alias).await?;
    }
    Ok(results)
}

/// Deletes one size's alias and version as soon as it is measured.
async fn cleanup_size(
    client: &Client,
    name: &str,
    created: &Mutex<Created>,
    alias: &str,
) -> anyhow::Result<()> {
    delete(client, &fn_path(name, &format!("aliases/{alias}"), None)).await?;
    let versions = {
        let mut c = created.lock().unwrap_or_else(|e| e.into_inner());
        c.aliases.retain(|a| a != alias);
        std::mem::take(&mut c.versions)
    };
    for v in versions {
        delete(client, &fn_path(name, "", Some(&v))).await?;
    }
    Ok(())
}

/// The prices of the function's architecture, from the server's price table.
async fn prices(client: &Client, config: &Value) -> anyhow::Result<Prices> {
    let usage = client.json("GET", "/_lambdad/usage", None).await?;
    let p = &usage["Prices"];
    let arm = config["Architectures"][0].as_str() == Some("arm64");
    let key = if arm {
        "PerGbSecondArm64"
    } else {
        "PerGbSecondX86_64"
    };
    Ok(Prices {
        per_gb_second: p[key].as_f64().context("no price per GB-second")?,
        per_request: p["PerMillionRequests"]
            .as_f64()
            .context("no price per request")?
            / 1e6,
    })
}

/// Progress on standard error: a bar on a terminal, a line per size otherwise.
#[derive(Clone)]
struct Progress {
    sizes: usize,
    per_size: usize,
    bar: bool,
}

impl Progress {
    fn new(sizes: usize, per_size: usize) -> Self {
        Self {
            sizes,
            per_size,
            bar: std::io::stderr().is_terminal(),
        }
    }

    fn tick(&self, i: usize, memory: u32, done: usize) {
        if self.bar {
            let filled = done * 30 / self.per_size.max(1);
            eprint!(
                "\r[{}/{}] {memory:>5} MB [{}{}] {done}/{}",
                i + 1,
                self.sizes,
                "#".repeat(filled),
                ".".repeat(30 - filled.min(30)),
                self.per_size
            );
            let _ = std::io::stderr().flush();
        }
    }

    fn finish(&self, i: usize, memory: u32, r: &SizeResult) {
        if self.bar {
            eprint!("\r\x1b[2K");
        }
        eprintln!(
            "[{}/{}] {memory} MB: {} measured, p50 {:.1} ms, {} cold start(s), {} error(s)",
            i + 1,
            self.sizes,
            r.invocations,
            r.p50_ms,
            r.cold_starts,
            r.errors
        );
    }
}

/// Prints the table, the recommendation and the chart; writes the files.
fn report(args: &TuneArgs, config: &Value, results: &[SizeResult]) -> anyhow::Result<()> {
    let recommendation = stats::recommend(results, args.strategy, args.balanced_weight);
    let mut out: Box<dyn Write> = if args.json.as_deref() == Some(std::path::Path::new("-")) {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    writeln!(
        out,
        "{:>7} {:>10} {:>10} {:>10} {:>10} {:>14} {:>12} {:>6} {:>5}",
        "MEMORY",
        "AVG ms",
        "P50 ms",
        "P90 ms",
        "BILLED ms",
        "COST/INVOKE $",
        "COST/1M $",
        "ERRORS",
        "COLD"
    )?;
    for r in results {
        writeln!(
            out,
            "{:>4} MB {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>14.9} {:>12.4} {:>6} {:>5}",
            r.memory_mb,
            r.avg_ms,
            r.p50_ms,
            r.p90_ms,
            r.billed_ms,
            r.cost_usd,
            r.cost_per_million_usd,
            r.errors,
            r.cold_starts
        )?;
    }
    writeln!(out)?;
    write!(out, "{}", chart::text(results))?;
    writeln!(out)?;
    match &recommendation {
        Some(rec) => {
            writeln!(
                out,
                "Recommended ({:?}): {} MB",
                args.strategy, rec.memory_mb
            )?;
            for reason in &rec.reasons {
                writeln!(out, "  {reason}")?;
            }
        }
        None => writeln!(out, "No recommendation: no size measured an invocation.")?,
    }
    let function = config["FunctionName"].as_str().unwrap_or(&args.function);
    if let Some(path) = &args.chart {
        let title = format!("lambdad tune {function}: duration and cost by memory");
        let marked = recommendation.as_ref().map(|r| r.memory_mb);
        let (svg, png) = if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("png"))
        {
            (path.with_extension("svg"), path.clone())
        } else {
            (path.clone(), path.with_extension("png"))
        };
        let write = |file: &PathBuf, bytes: &[u8]| {
            std::fs::write(file, bytes).with_context(|| format!("writing {}", file.display()))
        };
        write(&svg, chart::svg(&title, results, marked).as_bytes())?;
        write(&png, &png::png(&title, results, marked)?)?;
        writeln!(out, "Chart: {} and {}", svg.display(), png.display())?;
    }
    if let Some(path) = &args.json {
        let doc = json!({
            "FunctionName": function,
            "Architecture": config["Architectures"][0],
            "Strategy": args.strategy,
            "BalancedWeight": args.balanced_weight,
            "InvocationsPerSize": args.invocations,
            "Results": results,
            "Recommendation": recommendation,
        });
        let text = serde_json::to_string_pretty(&doc)?;
        if path.as_os_str() == "-" {
            println!("{text}");
        } else {
            std::fs::write(path, text + "\n")
                .with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}
