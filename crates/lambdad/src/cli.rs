//! The client-side commands: `lambdad logs` (a function's log, read from the
//! data directory, optionally followed), `lambdad usage` (metered usage
//! and estimated cost, asked of a running server), `lambdad cluster status`
//! (the nodes serving one store, asked of any of them) and `lambdad runtimes
//! install` (the managed runtimes' AWS SDKs, into their cache).

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use lambdad_service::logs::Logs;

/// `lambdad logs` arguments.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Function name, or a log group name starting with `/`.
    pub function: String,
    /// Keep printing new lines as they are written.
    #[arg(long)]
    pub follow: bool,
    /// How far back to start, e.g. `10m`, `2h` [default: 10m].
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    pub since: Duration,
    /// Only lines matching this filter pattern (CloudWatch syntax).
    #[arg(long)]
    pub filter: Option<String>,
    /// The server's data directory.
    #[arg(long, env = "LAMBDAD_DATA_DIR", default_value = ".lambdad")]
    pub data_dir: PathBuf,
}

/// `lambdad usage` arguments.
#[derive(Debug, clap::Args)]
pub struct UsageArgs {
    /// The server's address.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub endpoint: String,
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&fmt).unwrap_or_default()
}

fn paint(colour: bool, code: &str, text: &str) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// Prints a function's log lines (and follows them).
pub fn logs(args: &LogsArgs) -> anyhow::Result<()> {
    let group = if args.function.starts_with('/') {
        args.function.clone()
    } else {
        format!("/aws/lambda/{}", args.function)
    };
    let root = args.data_dir.join("logs");
    if !root.is_dir() {
        bail!("no logs under {} (is --data-dir right?)", root.display());
    }
    let logs = Logs::new(root, "", "");
    let colour = std::io::stdout().is_terminal();
    let mut since = now_ms() - args.since.as_millis() as i64;
    let mut seen: HashSet<String> = HashSet::new();
    let mut out = std::io::stdout().lock();
    loop {
        let mut token: Option<String> = None;
        loop {
            let page = match logs.filter_events(
                &group,
                None,
                None,
                Some(since),
                None,
                args.filter.as_deref(),
                None,
                token.as_deref(),
            ) {
                Ok(p) => p,
                Err(e) if args.follow && e.error_type() == "ResourceNotFoundException" => break,
                Err(e) => bail!("{group}: {e}"),
            };
            for e in page["events"].as_array().into_iter().flatten() {
                let id = e["eventId"].as_str().unwrap_or_default().to_owned();
                if !seen.insert(id) {
                    continue;
                }
                let ts = e["timestamp"].as_i64().unwrap_or(0);
                since = since.max(ts);
                let message = e["message"].as_str().unwrap_or_default();
                let styled = if ["START ", "END ", "REPORT ", "INIT_START "]
                    .iter()
                    .any(|p| message.starts_with(p))
                {
                    paint(colour, "2", message)
                } else if message.contains("ERROR") || message.contains("\"errorType\"") {
                    paint(colour, "31", message)
                } else {
                    message.to_owned()
                };
                let stream = e["logStreamName"].as_str().unwrap_or_default();
                writeln!(
                    out,
                    "{} {} {styled}",
                    paint(colour, "32", &iso(ts)),
                    paint(colour, "36", stream)
                )?;
            }
            token = page["nextToken"].as_str().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        out.flush()?;
        if !args.follow {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// GETs `path` of a running server; its JSON answer.
async fn get_json(endpoint: &str, path: &str) -> anyhow::Result<Value> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(addr),
    )
    .await
    .map_err(|_| anyhow::anyhow!("connecting to lambdad at {addr}: timed out"))?
    .with_context(|| format!("connecting to lambdad at {addr}"))?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    tokio::time::timeout(
        Duration::from_secs(30),
        stream.take(16 * 1024 * 1024).read_to_end(&mut response),
    )
    .await
    .map_err(|_| anyhow::anyhow!("lambdad at {addr} did not answer in time"))??;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "lambdad answered: {}",
            head.lines().next().unwrap_or_default()
        );
    }
    serde_json::from_str(body).context("parsing lambdad's answer")
}

/// Prints the metered usage of a running server.
pub async fn usage(args: &UsageArgs) -> anyhow::Result<()> {
    let usage = get_json(&args.endpoint, "/_lambdad/usage").await?;
    println!(
        "{:<40} {:<7} {:>10} {:>14} {:>16}",
        "FUNCTION", "ARCH", "REQUESTS", "GB-SECONDS", "EST. COST (USD)"
    );
    let mut total = 0.0;
    for f in usage["Functions"].as_array().into_iter().flatten() {
        let cost = f["EstimatedCostUsd"].as_f64().unwrap_or(0.0);
        total += cost;
        println!(
            "{:<40} {:<7} {:>10} {:>14.3} {:>16.8}",
            f["FunctionName"].as_str().unwrap_or_default(),
            f["Architecture"].as_str().unwrap_or_default(),
            f["Requests"].as_u64().unwrap_or(0),
            f["GbSeconds"].as_f64().unwrap_or(0.0),
            cost
        );
    }
    println!(
        "{:<40} {:<7} {:>10} {:>14} {:>16.8}",
        "TOTAL", "", "", "", total
    );
    Ok(())
}

/// `lambdad cluster` arguments.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// What `lambdad cluster` does.
#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// List the nodes serving the same store: state, heartbeat age, applied change and load.
    Status(ClusterStatusArgs),
}

/// `lambdad cluster status` arguments.
#[derive(Debug, clap::Args)]
pub struct ClusterStatusArgs {
    /// Any node's address.
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub endpoint: String,
    /// Print lambdad's JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints the cluster's nodes as a running node sees them.
pub async fn cluster(args: &ClusterArgs) -> anyhow::Result<()> {
    let ClusterCommand::Status(args) = &args.command;
    let status = get_json(&args.endpoint, "/_lambdad/cluster").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
        return Ok(());
    }
    println!(
        "mode: {}, answered by node {}{}",
        status["Mode"].as_str().unwrap_or_default(),
        status["Self"]["NodeId"].as_str().unwrap_or_default(),
        if status["Self"]["Fenced"].as_bool() == Some(true) {
            " (fenced: it could not renew its heartbeat)"
        } else {
            ""
        }
    );
    println!(
        "{:<34} {:>4} {:<9} {:>11} {:>8} {:>5} {:>5} {:<24}",
        "NODE", "INC", "STATE", "HEARTBEAT", "APPLIED", "BUSY", "IDLE", "ADDRESS"
    );
    for n in status["Nodes"].as_array().into_iter().flatten() {
        let age = n["HeartbeatAgeMs"].as_i64().unwrap_or(0);
        println!(
            "{:<34} {:>4} {:<9} {:>11} {:>8} {:>5} {:>5} {:<24}",
            n["NodeId"].as_str().unwrap_or_default(),
            n["Incarnation"].as_i64().unwrap_or(0),
            n["State"].as_str().unwrap_or_default(),
            format!("{:.1}s ago", age as f64 / 1000.0),
            n["AppliedSeq"].as_i64().unwrap_or(0),
            n["Load"]["Busy"].as_u64().unwrap_or(0),
            n["Load"]["Idle"].as_u64().unwrap_or(0),
            n["ApiAddr"].as_str().unwrap_or_default(),
        );
    }
    Ok(())
}

/// `lambdad runtimes` arguments.
#[derive(Debug, clap::Args)]
pub struct RuntimesArgs {
    #[command(subcommand)]
    pub command: RuntimesCommand,
}

/// What `lambdad runtimes` does.
#[derive(Debug, clap::Subcommand)]
pub enum RuntimesCommand {
    /// Install (or verify) the AWS SDKs the managed runtimes include (boto3, @aws-sdk/*) with the
    /// host's pip and npm; a server started afterwards needs no network for them.
    Install(InstallArgs),
}

/// `lambdad runtimes install` arguments.
#[derive(Debug, clap::Args)]
pub struct InstallArgs {
    /// The SDK cache, as `lambdad serve --sdk-dir` [default: $XDG_CACHE_HOME/lambdad/sdk, else ~/.cache/lambdad/sdk].
    #[arg(long, env = "LAMBDAD_SDK_DIR")]
    pub sdk_dir: Option<PathBuf>,
    /// Interpreter for a managed runtime, as `lambdad serve --interpreter` (repeatable).
    #[arg(long = "interpreter", value_parser = crate::config::parse_interpreter)]
    pub interpreters: Vec<(String, PathBuf)>,
}

/// Installs (or verifies) each language's SDK; fails when one cannot be.
pub async fn runtimes(args: &RuntimesArgs) -> anyhow::Result<()> {
    use lambdad_engine::{runtime, sdk};
    let RuntimesCommand::Install(args) = &args.command;
    let dir = args
        .sdk_dir
        .clone()
        .unwrap_or_else(|| sdk::default_dir(std::path::Path::new(".lambdad")));
    let overrides = args.interpreters.iter().cloned().collect();
    let tools = runtime::tools(&runtime::find(&overrides));
    let cache = sdk::Sdk::new(dir, true);
    let mut failed = Vec::new();
    for lang in sdk::Language::ALL {
        let found = tools.for_language(lang);
        if found.is_empty() {
            println!(
                "{}: no interpreter of its runtimes on this host; nothing to install",
                lang.name()
            );
            continue;
        }
        match cache.ensure(lang, &tools).await {
            Ok(tree) => println!(
                "{}: {} ready in {}",
                lang.name(),
                lang.versions(),
                tree.display()
            ),
            Err(e) => {
                println!("{}: {e}", lang.name());
                failed.push(lang.name());
            }
        }
    }
    if !failed.is_empty() {
        bail!("cannot install the AWS SDK for {}", failed.join(" and "));
    }
    Ok(())
}
