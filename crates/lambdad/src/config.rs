//! Server configuration: one struct fed, in order of precedence, by command
//! line flags, `LAMBDAD_*` environment variables, an optional `lambdad.toml`
//! and defaults. Unknown keys in the file, and unknown `LAMBDAD_*` variables,
//! are errors.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use lambdad_model::NetworkMode;
use serde::Deserialize;

/// Which sandbox backend runs execution environments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SandboxChoice {
    /// Namespaces and cgroups when the host permits them, else the process backend (with a warning).
    Auto,
    /// Namespaces and cgroups, or fail.
    Namespace,
    /// Plain processes without isolation (development only).
    Process,
}

/// How API requests are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// Every request is accepted (local development on loopback).
    None,
    /// Every API request must carry a valid SigV4 signature by a key of `--credentials-file`.
    Sigv4,
}

/// `lambdad serve` flags. Every flag is optional here so that the file and
/// defaults can fill what the command line and environment leave out.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9001].
    #[arg(long, env = "LAMBDAD_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Directory for all state [default: ./.lambdad].
    #[arg(long, env = "LAMBDAD_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Region reported in ARNs when a request names none [default: us-east-1].
    #[arg(long, env = "LAMBDAD_REGION")]
    pub region: Option<String>,
    /// Account id used in ARNs [default: 000000000000].
    #[arg(long, env = "LAMBDAD_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Sandbox backend [default: auto].
    #[arg(long, env = "LAMBDAD_SANDBOX", value_enum)]
    pub sandbox: Option<SandboxChoice>,
    /// How long an idle execution environment is kept warm, e.g. `10m` [default: 10m].
    #[arg(long, env = "LAMBDAD_IDLE_TIMEOUT", value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// The account's concurrent executions limit [default: 1000].
    #[arg(long, env = "LAMBDAD_CONCURRENCY_LIMIT")]
    pub concurrency_limit: Option<u32>,
    /// Most memory (MB) committed to execution environments at once [default: half the machine's].
    #[arg(long, env = "LAMBDAD_MEMORY_BUDGET_MB")]
    pub memory_budget_mb: Option<u64>,
    /// Turn on the kernel's `favordynmods` cgroup option (host-wide) so that
    /// cold starts do not wait for an RCU grace period [default: true].
    #[arg(long, env = "LAMBDAD_FAST_CGROUP_MIGRATION")]
    pub fast_cgroup_migration: Option<bool>,
    /// Sandbox helpers kept started ahead of cold starts, 0 to 64 [default: 2].
    #[arg(long, env = "LAMBDAD_PRESTARTED_SANDBOXES")]
    pub prestarted_sandboxes: Option<usize>,
    /// Threads that run lambdad's own work (HTTP, Runtime API, queues), 1 to
    /// 256 [default: half the host's cores, at least 1].
    #[arg(long, env = "LAMBDAD_WORKER_THREADS")]
    pub worker_threads: Option<usize>,
    /// Largest asynchronous (Event) payload in bytes, up to 1048576 [default: 262144].
    #[arg(long, env = "LAMBDAD_ASYNC_MAX_PAYLOAD")]
    pub async_max_payload: Option<usize>,
    /// Endpoint of an AWS-compatible service for SQS/SNS destinations and dead-letter queues [default: AWS].
    #[arg(long, env = "LAMBDAD_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,
    /// Delays before the retries of a failed asynchronous event, e.g. `1s,2s` [default: 60s,120s].
    #[arg(long, env = "LAMBDAD_ASYNC_RETRY_DELAYS", value_parser = parse_delays)]
    pub async_retry_delays: Option<Delays>,
    /// Interpreter for a managed runtime, e.g. `python3.12=/opt/py312/bin/python3.12` (repeatable).
    #[arg(long = "interpreter", value_parser = parse_interpreter)]
    pub interpreters: Vec<(String, PathBuf)>,
    /// Public scheme and domain of function URLs, e.g. `https://example.com`; URLs are
    /// `SCHEME://ID.lambda-url.REGION.DOMAIN/` [default: http://localhost:PORT].
    #[arg(long, env = "LAMBDAD_URL_BASE")]
    pub url_base: Option<String>,
    /// API authentication [default: sigv4 when listening beyond loopback, else none].
    #[arg(long, env = "LAMBDAD_AUTH", value_enum)]
    pub auth: Option<AuthMode>,
    /// Access keys in the aws CLI's credentials-file format, for verifying SigV4 signatures.
    #[arg(long, env = "LAMBDAD_CREDENTIALS_FILE")]
    pub credentials_file: Option<PathBuf>,
    /// Days function logs are kept where a log group sets no retention [default: forever].
    #[arg(long, env = "LAMBDAD_LOG_RETENTION_DAYS")]
    pub log_retention_days: Option<u32>,
    /// Price per million requests in usage estimates, USD [default: 0.20].
    #[arg(long, env = "LAMBDAD_PRICE_PER_MILLION_REQUESTS")]
    pub price_per_million_requests: Option<f64>,
    /// Price per GB-second on x86_64, USD [default: 0.0000166667].
    #[arg(long, env = "LAMBDAD_PRICE_PER_GB_SECOND_X86_64")]
    pub price_per_gb_second_x86_64: Option<f64>,
    /// Price per GB-second on arm64, USD [default: 0.0000133334].
    #[arg(long, env = "LAMBDAD_PRICE_PER_GB_SECOND_ARM64")]
    pub price_per_gb_second_arm64: Option<f64>,
    /// Most MB one log stream (one environment's log) keeps; 0 for no limit [default: 1024].
    #[arg(long, env = "LAMBDAD_LOG_MAX_STREAM_MB")]
    pub log_max_stream_mb: Option<u64>,
    /// Shortest schedule a rule may have, e.g. `1s` for tests [default: 1m, as AWS].
    #[arg(long, env = "LAMBDAD_SCHEDULE_MIN_INTERVAL", value_parser = humantime::parse_duration)]
    pub schedule_min_interval: Option<Duration>,
    /// How long the execution-role credentials given to each environment stay valid [default: 12h].
    #[arg(long, env = "LAMBDAD_ROLE_CREDENTIALS_TTL", value_parser = humantime::parse_duration)]
    pub role_credentials_ttl: Option<Duration>,
    /// OTLP/HTTP endpoint that receives invocation traces, e.g. `http://127.0.0.1:4318` [default: none].
    #[arg(long, env = "LAMBDAD_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// How long a client may take to send a request's headers, or pause while sending its body [default: 30s].
    #[arg(long, env = "LAMBDAD_CLIENT_TIMEOUT", value_parser = humantime::parse_duration)]
    pub client_timeout: Option<Duration>,
    /// Network of functions without a `lambdad:network` tag: host, loopback or none [default: host].
    #[arg(long, env = "LAMBDAD_NETWORK", value_parser = parse_network)]
    pub network: Option<NetworkMode>,
    /// Configuration file [default: ./lambdad.toml when present].
    #[arg(long, env = "LAMBDAD_CONFIG")]
    pub config: Option<PathBuf>,
}

/// Keys accepted in `lambdad.toml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    data_dir: Option<PathBuf>,
    region: Option<String>,
    account_id: Option<String>,
    sandbox: Option<SandboxChoice>,
    #[serde(default, with = "humantime_serde_opt")]
    idle_timeout: Option<Duration>,
    #[serde(default)]
    interpreters: BTreeMap<String, PathBuf>,
    concurrency_limit: Option<u32>,
    memory_budget_mb: Option<u64>,
    fast_cgroup_migration: Option<bool>,
    prestarted_sandboxes: Option<usize>,
    worker_threads: Option<usize>,
    aws_endpoint_url: Option<String>,
    async_max_payload: Option<usize>,
    url_base: Option<String>,
    auth: Option<AuthMode>,
    log_retention_days: Option<u32>,
    #[serde(default, with = "humantime_serde_opt")]
    role_credentials_ttl: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    schedule_min_interval: Option<Duration>,
    #[serde(default, with = "humantime_serde_opt")]
    client_timeout: Option<Duration>,
    log_max_stream_mb: Option<u64>,
    otlp_endpoint: Option<String>,
    network: Option<String>,
    price_per_million_requests: Option<f64>,
    price_per_gb_second_x86_64: Option<f64>,
    price_per_gb_second_arm64: Option<f64>,
    credentials_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "delays_from_str")]
    async_retry_delays: Option<Delays>,
}

/// Retry delays of asynchronous events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delays(pub Vec<Duration>);

fn parse_network(s: &str) -> Result<NetworkMode, String> {
    NetworkMode::parse(s)
        .ok_or_else(|| format!("network must be host, loopback or none, not {s:?}"))
}

fn parse_delays(s: &str) -> Result<Delays, String> {
    let v = s
        .split(',')
        .map(|p| humantime::parse_duration(p.trim()).map_err(|e| format!("{p}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    if v.is_empty() {
        return Err("expected a comma-separated list of durations".into());
    }
    Ok(Delays(v))
}

fn delays_from_str<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Delays>, D::Error> {
    let s: Option<String> = Option::deserialize(d)?;
    s.map(|s| parse_delays(&s).map_err(serde::de::Error::custom))
        .transpose()
}

fn parse_interpreter(s: &str) -> Result<(String, PathBuf), String> {
    let (runtime, path) = s.split_once('=').ok_or("expected RUNTIME=PATH")?;
    if !(runtime.starts_with("python3.") || runtime.starts_with("nodejs")) {
        return Err(format!(
            "{runtime} is not a managed runtime (python3.x or nodejsNN.x)"
        ));
    }
    Ok((runtime.to_owned(), PathBuf::from(path)))
}

mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// The `LAMBDAD_*` variables lambdad reads; any other is a mistake worth reporting.
const KNOWN_ENV: &[&str] = &[
    "LAMBDAD_LISTEN",
    "LAMBDAD_DATA_DIR",
    "LAMBDAD_REGION",
    "LAMBDAD_ACCOUNT_ID",
    "LAMBDAD_SANDBOX",
    "LAMBDAD_IDLE_TIMEOUT",
    "LAMBDAD_CONFIG",
    "LAMBDAD_LOG",
    "LAMBDAD_CONCURRENCY_LIMIT",
    "LAMBDAD_MEMORY_BUDGET_MB",
    "LAMBDAD_FAST_CGROUP_MIGRATION",
    "LAMBDAD_PRESTARTED_SANDBOXES",
    "LAMBDAD_WORKER_THREADS",
    "LAMBDAD_ASYNC_RETRY_DELAYS",
    "LAMBDAD_AWS_ENDPOINT_URL",
    "LAMBDAD_ASYNC_MAX_PAYLOAD",
    "LAMBDAD_URL_BASE",
    "LAMBDAD_LOG_RETENTION_DAYS",
    "LAMBDAD_OTLP_ENDPOINT",
    "LAMBDAD_ROLE_CREDENTIALS_TTL",
    "LAMBDAD_SCHEDULE_MIN_INTERVAL",
    "LAMBDAD_LOG_MAX_STREAM_MB",
    "LAMBDAD_PRICE_PER_MILLION_REQUESTS",
    "LAMBDAD_PRICE_PER_GB_SECOND_X86_64",
    "LAMBDAD_PRICE_PER_GB_SECOND_ARM64",
    "LAMBDAD_CREDENTIALS_FILE",
    "LAMBDAD_AUTH",
];

/// The resolved server configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// State directory.
    pub data_dir: PathBuf,
    /// Default region.
    pub region: String,
    /// Account id.
    pub account_id: String,
    /// Sandbox backend choice.
    pub sandbox: SandboxChoice,
    /// Idle environment lifetime.
    pub idle_timeout: Duration,
    /// The account's concurrent executions limit.
    pub concurrency_limit: u32,
    /// Host memory budget for environments, in MB.
    pub memory_budget_mb: u64,
    /// Whether to turn on `favordynmods` for the cgroup hierarchies.
    pub fast_cgroup_migration: bool,
    /// Sandbox helpers kept started ahead of cold starts.
    pub prestarted_sandboxes: usize,
    /// Threads of lambdad's async runtime.
    pub worker_threads: usize,
    /// Delays before the retries of failed asynchronous events.
    pub async_retry_delays: Vec<Duration>,
    /// AWS-compatible endpoint for SQS/SNS deliveries.
    pub aws_endpoint_url: Option<String>,
    /// Largest Event payload in bytes.
    pub async_max_payload: usize,
    /// Interpreters for managed runtimes named by the operator (file, then flags).
    pub interpreters: BTreeMap<String, PathBuf>,
    /// Public scheme and domain (with port) of function URLs.
    pub url_base: String,
    /// The credentials file of SigV4 verification, if any.
    pub credentials_file: Option<PathBuf>,
    /// API authentication.
    pub auth: AuthMode,
    /// Default retention of log streams, in days.
    pub log_retention_days: Option<u32>,
    /// The price table of usage estimates.
    pub prices: lambdad_engine::metrics::Prices,
    /// Where invocation traces go (OTLP/HTTP), if anywhere.
    pub otlp_endpoint: Option<String>,
    /// Most MB per log stream (0: no limit).
    pub log_max_stream_mb: u64,
    /// Network of functions without a `lambdad:network` tag.
    pub network: NetworkMode,
    /// Slow-client timeout: headers, and pauses in a body.
    pub client_timeout: Duration,
    /// Shortest schedule rate accepted.
    pub schedule_min_interval: Duration,
    /// Lifetime of execution-role credentials.
    pub role_credentials_ttl: Duration,
}

impl Config {
    /// Resolves flags (already merged with the environment by clap), the file and defaults.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        check_env(std::env::vars().map(|(k, _)| k))?;
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None if Path::new("lambdad.toml").is_file() => read_file(Path::new("lambdad.toml"))?,
            None => FileConfig::default(),
        };
        let region = args
            .region
            .clone()
            .or(file.region)
            .unwrap_or_else(|| "us-east-1".into());
        let account_id = args
            .account_id
            .clone()
            .or(file.account_id)
            .unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("account id must be 12 digits, got {account_id:?}");
        }
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            bail!("invalid region {region:?}");
        }
        let mut interpreters = file.interpreters;
        interpreters.extend(args.interpreters.iter().cloned());
        let concurrency_limit = args
            .concurrency_limit
            .or(file.concurrency_limit)
            .unwrap_or(1000);
        if concurrency_limit < 100 {
            bail!(
                "the concurrency limit must be at least 100 (AWS keeps 100 unreserved), got {concurrency_limit}"
            );
        }
        let memory_budget_mb = args
            .memory_budget_mb
            .or(file.memory_budget_mb)
            .unwrap_or_else(lambdad_engine::capacity::default_budget_mb);
        if memory_budget_mb < 128 {
            bail!("the memory budget must be at least 128 MB, got {memory_budget_mb}");
        }
        let prestarted_sandboxes = args
            .prestarted_sandboxes
            .or(file.prestarted_sandboxes)
            .unwrap_or(2);
        if prestarted_sandboxes > 64 {
            bail!("at most 64 prestarted sandboxes, got {prestarted_sandboxes}");
        }
        // Functions run on the same cores: lambdad's own threads take half.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let worker_threads = args
            .worker_threads
            .or(file.worker_threads)
            .unwrap_or((cores / 2).max(1));
        if !(1..=256).contains(&worker_threads) {
            bail!("worker threads must be 1 to 256, got {worker_threads}");
        }
        let async_retry_delays = args
            .async_retry_delays
            .clone()
            .or(file.async_retry_delays)
            .map(|d| d.0)
            .unwrap_or_else(|| vec![Duration::from_secs(60), Duration::from_secs(120)]);
        let async_max_payload = args
            .async_max_payload
            .or(file.async_max_payload)
            .unwrap_or(262_144);
        if !(1..=1_048_576).contains(&async_max_payload) {
            bail!(
                "the asynchronous payload limit must be between 1 and 1048576 bytes, got {async_max_payload}"
            );
        }
        let listen = args
            .listen
            .or(file.listen)
            .unwrap_or(([127, 0, 0, 1], 9001).into());
        let url_base = args
            .url_base
            .clone()
            .or(file.url_base)
            .unwrap_or_else(|| format!("http://localhost:{}", listen.port()));
        if !(url_base.starts_with("http://") || url_base.starts_with("https://")) {
            bail!("the URL base must start with http:// or https://, got {url_base:?}");
        }
        let defaults = lambdad_engine::metrics::Prices::default();
        let prices = lambdad_engine::metrics::Prices {
            per_million_requests: args
                .price_per_million_requests
                .or(file.price_per_million_requests)
                .unwrap_or(defaults.per_million_requests),
            per_gb_second_x86_64: args
                .price_per_gb_second_x86_64
                .or(file.price_per_gb_second_x86_64)
                .unwrap_or(defaults.per_gb_second_x86_64),
            per_gb_second_arm64: args
                .price_per_gb_second_arm64
                .or(file.price_per_gb_second_arm64)
                .unwrap_or(defaults.per_gb_second_arm64),
        };
        if [
            prices.per_million_requests,
            prices.per_gb_second_x86_64,
            prices.per_gb_second_arm64,
        ]
        .iter()
        .any(|p| !p.is_finite() || *p < 0.0)
        {
            bail!("prices must be non-negative numbers");
        }
        let auth = args
            .auth
            .or(file.auth)
            .unwrap_or(if listen.ip().is_loopback() {
                AuthMode::None
            } else {
                AuthMode::Sigv4
            });
        let credentials_file = args.credentials_file.clone().or(file.credentials_file);
        if auth == AuthMode::Sigv4 && credentials_file.is_none() {
            bail!(
                "SigV4 authentication (the default when listening on {listen}, beyond loopback) needs --credentials-file FILE; or pass --auth none to run an open server"
            );
        }
        let network = match (args.network, file.network.as_deref()) {
            (Some(n), _) => n,
            (None, Some(s)) => parse_network(s).map_err(anyhow::Error::msg)?,
            (None, None) => NetworkMode::Host,
        };
        let client_timeout = args
            .client_timeout
            .or(file.client_timeout)
            .unwrap_or(Duration::from_secs(30));
        if client_timeout.is_zero() {
            bail!("the client timeout must be positive");
        }
        Ok(Self {
            client_timeout,
            network,
            auth,
            url_base,
            credentials_file,
            log_retention_days: args.log_retention_days.or(file.log_retention_days),
            otlp_endpoint: args.otlp_endpoint.clone().or(file.otlp_endpoint),
            role_credentials_ttl: args
                .role_credentials_ttl
                .or(file.role_credentials_ttl)
                .unwrap_or(Duration::from_secs(12 * 3600)),
            schedule_min_interval: args
                .schedule_min_interval
                .or(file.schedule_min_interval)
                .unwrap_or(Duration::from_secs(60)),
            log_max_stream_mb: args
                .log_max_stream_mb
                .or(file.log_max_stream_mb)
                .unwrap_or(1024),
            prices,
            async_max_payload,
            aws_endpoint_url: args.aws_endpoint_url.clone().or(file.aws_endpoint_url),
            async_retry_delays,
            memory_budget_mb,
            fast_cgroup_migration: args
                .fast_cgroup_migration
                .or(file.fast_cgroup_migration)
                .unwrap_or(true),
            prestarted_sandboxes,
            worker_threads,
            concurrency_limit,
            interpreters,
            listen,
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| ".lambdad".into()),
            region,
            account_id,
            sandbox: args.sandbox.or(file.sandbox).unwrap_or(SandboxChoice::Auto),
            idle_timeout: args
                .idle_timeout
                .or(file.idle_timeout)
                .unwrap_or(Duration::from_secs(600)),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid configuration file {}", path.display()))
}

fn check_env(keys: impl Iterator<Item = String>) -> anyhow::Result<()> {
    for key in keys {
        if key.starts_with("LAMBDAD_") && !KNOWN_ENV.contains(&key.as_str()) {
            bail!(
                "unknown environment variable {key} (known: {})",
                KNOWN_ENV.join(", ")
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = Config::resolve(&ServeArgs::default()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:9001");
        assert_eq!(c.data_dir, PathBuf::from(".lambdad"));
        assert_eq!(c.region, "us-east-1");
        assert_eq!(c.account_id, "000000000000");
        assert_eq!(c.sandbox, SandboxChoice::Auto);
        assert_eq!(c.prestarted_sandboxes, 2);
        assert!(c.worker_threads >= 1);
    }

    #[test]
    fn thread_and_pool_sizes_are_bounded() {
        for (workers, prestarted) in [(Some(0), None), (Some(257), None), (None, Some(65))] {
            let args = ServeArgs {
                worker_threads: workers,
                prestarted_sandboxes: prestarted,
                ..Default::default()
            };
            assert!(
                Config::resolve(&args).is_err(),
                "{workers:?} {prestarted:?}"
            );
        }
        let args = ServeArgs {
            worker_threads: Some(3),
            prestarted_sandboxes: Some(0),
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!((c.worker_threads, c.prestarted_sandboxes), (3, 0));
        assert!(check_env(["LAMBDAD_WORKER_THREADS".to_owned()].into_iter()).is_ok());
        assert!(check_env(["LAMBDAD_PRESTARTED_SANDBOXES".to_owned()].into_iter()).is_ok());
    }

    #[test]
    fn flags_beat_file_and_file_beats_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lambdad.toml");
        std::fs::write(
            &path,
            "region = \"eu-west-1\"\nlisten = \"127.0.0.1:7000\"\nidle_timeout = \"30s\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            region: Some("ap-south-1".into()),
            ..Default::default()
        };
        let c = Config::resolve(&args).unwrap();
        assert_eq!(c.region, "ap-south-1");
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.idle_timeout, Duration::from_secs(30));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lambdad.toml");
        std::fs::write(&path, "regoin = \"eu-west-1\"\n").unwrap();
        let err = Config::resolve(&ServeArgs {
            config: Some(path),
            ..Default::default()
        })
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("unknown field `regoin`"),
            "{err:#}"
        );
        assert!(check_env(["LAMBDAD_LISTN".to_owned()].into_iter()).is_err());
        assert!(check_env(["LAMBDAD_LISTEN".to_owned(), "HOME".to_owned()].into_iter()).is_ok());
    }

    #[test]
    fn bad_account_is_refused() {
        let args = ServeArgs {
            account_id: Some("12".into()),
            ..Default::default()
        };
        assert!(Config::resolve(&args).is_err());
    }
}
