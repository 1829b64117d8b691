//! The one definition of `lambdad serve`'s settings: each field is a flag,
//! and the flag's long name gives its `LAMBDAD_*` variable and its
//! `lambdad.toml` key (`--idle-timeout`, `LAMBDAD_IDLE_TIMEOUT`,
//! `idle_timeout`; see `sources.rs`). Every field is optional so that a
//! source can leave it to the next; `Config::resolve` applies the defaults
//! named in brackets.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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

/// How execution environments get CPU time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CpuQuota {
    /// MemorySize / 1769 MB of one CPU, at most 6 CPUs and the host's cores, as on Lambda.
    Proportional,
    /// No quota: only a CPU weight in proportion to memory.
    Off,
}

/// Where the metadata lives.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// The embedded SQLite database in the data directory.
    Sqlite,
    /// A PostgreSQL database (its URL).
    Postgres(String),
}

impl std::fmt::Debug for StoreChoice {
    // The URL may hold a password: not shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreChoice::Sqlite => f.write_str("Sqlite"),
            StoreChoice::Postgres(_) => f.write_str("Postgres(..)"),
        }
    }
}

fn parse_store(s: &str) -> Result<StoreChoice, String> {
    if s == "sqlite" {
        return Ok(StoreChoice::Sqlite);
    }
    if !(s.starts_with("postgres://") || s.starts_with("postgresql://")) {
        return Err("expected sqlite or a postgres:// URL".to_owned());
    }
    // Checked here so that a typo fails at start, not at first use.
    lambdad_store::PgStore::check_url(s)?;
    Ok(StoreChoice::Postgres(s.to_owned()))
}

/// Retry delays of asynchronous events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delays(pub Vec<Duration>);

/// `lambdad serve` settings, from whichever source gave them.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(
    after_help = "Every flag but --interpreter, --broker and --secret may also be set by a LAMBDAD_* \
variable named after it (--idle-timeout: LAMBDAD_IDLE_TIMEOUT) and, --config aside, by a key of \
lambdad.toml (idle_timeout; --interpreter: an [interpreters] table, --broker: [brokers], --secret: \
[secrets]). A flag beats the variable, which beats the file."
)]
pub struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:9001].
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// Directory for all state [default: ./.lambdad].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Metadata store: `sqlite` (DATA_DIR/meta.db) or a PostgreSQL URL,
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE` (without TLS), which
    /// several nodes may share (cluster mode) [default: sqlite].
    #[arg(long, value_parser = parse_store)]
    pub store: Option<StoreChoice>,
    /// With a PostgreSQL store: the key that seals environment variables (32
    /// bytes, created when absent); every node of a cluster needs the same
    /// one [default: DATA_DIR/meta.key].
    #[arg(long)]
    pub store_key_file: Option<PathBuf>,
    /// Region reported in ARNs when a request names none [default: us-east-1].
    #[arg(long)]
    pub region: Option<String>,
    /// Account id used in ARNs [default: 000000000000].
    #[arg(long)]
    pub account_id: Option<String>,
    /// Sandbox backend [default: auto].
    #[arg(long, value_enum)]
    pub sandbox: Option<SandboxChoice>,
    /// How long an idle execution environment is kept warm, e.g. `10m` [default: 10m].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// The account's concurrent executions limit [default: 1000].
    #[arg(long)]
    pub concurrency_limit: Option<u32>,
    /// Most memory (MB) committed to execution environments at once [default: half the machine's].
    #[arg(long)]
    pub memory_budget_mb: Option<u64>,
    /// Turn on the kernel's `favordynmods` cgroup option (host-wide) so that
    /// cold starts do not wait for an RCU grace period [default: true].
    #[arg(long)]
    pub fast_cgroup_migration: Option<bool>,
    /// CPU time of execution environments: `proportional` (MemorySize / 1769 MB
    /// of one CPU, at most 6 and the host's cores, as on Lambda) or `off`
    /// (only a weight) [default: proportional].
    #[arg(long, value_enum)]
    pub cpu_quota: Option<CpuQuota>,
    /// Sandbox helpers kept started ahead of cold starts, 0 to 64 [default: 2].
    #[arg(long)]
    pub prestarted_sandboxes: Option<usize>,
    /// Threads that run lambdad's own work (HTTP, Runtime API, queues), 1 to
    /// 256 [default: half the host's cores, at least 1].
    #[arg(long)]
    pub worker_threads: Option<usize>,
    /// Largest asynchronous (Event) payload in bytes, up to 1048576 [default: 262144].
    #[arg(long)]
    pub async_max_payload: Option<usize>,
    /// Endpoint of an AWS-compatible service for SQS/SNS destinations and dead-letter queues [default: AWS].
    #[arg(long)]
    pub aws_endpoint_url: Option<String>,
    /// Endpoint of the Kinesis API that stream mappings read [default: --aws-endpoint-url].
    #[arg(long)]
    pub aws_endpoint_url_kinesis: Option<String>,
    /// Endpoint of the DynamoDB API [default: --aws-endpoint-url].
    #[arg(long)]
    pub aws_endpoint_url_dynamodb: Option<String>,
    /// Endpoint of the DynamoDB Streams API that stream mappings read
    /// [default: --aws-endpoint-url-dynamodb, else --aws-endpoint-url].
    #[arg(long)]
    pub aws_endpoint_url_dynamodbstreams: Option<String>,
    /// Delays before the retries of a failed asynchronous event, e.g. `1s,2s` [default: 60s,120s].
    #[arg(long, value_parser = parse_delays)]
    pub async_retry_delays: Option<Delays>,
    /// Interpreter for a managed runtime, e.g. `python3.12=/opt/py312/bin/python3.12` (repeatable).
    #[arg(long = "interpreter", value_parser = parse_interpreter)]
    pub interpreters: Vec<(String, PathBuf)>,
    /// AMQP URL of the RabbitMQ broker NAME that mappings of
    /// `arn:aws:mq:REGION:ACCOUNT:broker:NAME:ID` read, e.g.
    /// `main=amqp://127.0.0.1:5672` (repeatable).
    #[arg(long = "broker", value_parser = parse_broker)]
    pub brokers: Vec<(String, String)>,
    /// Credentials a `BASIC_AUTH` secret ARN stands for, e.g.
    /// `arn:aws:secretsmanager:us-east-1:000000000000:secret:mq=guest:guest` (repeatable).
    #[arg(long = "secret", value_parser = parse_secret)]
    pub secrets: Vec<(String, (String, String))>,
    /// Where the managed runtimes' AWS SDKs (boto3, @aws-sdk/*) are installed and cached, shared by
    /// servers [default: $XDG_CACHE_HOME/lambdad/sdk, else ~/.cache/lambdad/sdk].
    #[arg(long)]
    pub sdk_dir: Option<PathBuf>,
    /// Install the managed runtimes' AWS SDKs in the background at start when missing, with the
    /// host's pip and npm; false: only an existing install is used [default: true].
    #[arg(long)]
    pub sdk_install: Option<bool>,
    /// Public scheme and domain of function URLs, e.g. `https://example.com`; URLs are
    /// `SCHEME://ID.lambda-url.REGION.DOMAIN/` [default: http://localhost:PORT].
    #[arg(long)]
    pub url_base: Option<String>,
    /// API authentication [default: sigv4 when listening beyond loopback, else none].
    #[arg(long, value_enum)]
    pub auth: Option<AuthMode>,
    /// Access keys in the aws CLI's credentials-file format, for verifying SigV4 signatures.
    #[arg(long)]
    pub credentials_file: Option<PathBuf>,
    /// Days function logs are kept where a log group sets no retention [default: forever].
    #[arg(long)]
    pub log_retention_days: Option<u32>,
    /// Price per million requests in usage estimates, USD [default: 0.20].
    #[arg(long)]
    pub price_per_million_requests: Option<f64>,
    /// Price per GB-second on x86_64, USD [default: 0.0000166667].
    #[arg(long)]
    pub price_per_gb_second_x86_64: Option<f64>,
    /// Price per GB-second on arm64, USD [default: 0.0000133334].
    #[arg(long)]
    pub price_per_gb_second_arm64: Option<f64>,
    /// Most MB one log stream (one environment's log) keeps; 0 for no limit [default: 1024].
    #[arg(long)]
    pub log_max_stream_mb: Option<u64>,
    /// Shortest schedule a rule may have, e.g. `1s` for tests [default: 1m, as AWS].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub schedule_min_interval: Option<Duration>,
    /// How long the execution-role credentials given to each environment stay valid [default: 12h].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub role_credentials_ttl: Option<Duration>,
    /// OTLP/HTTP endpoint that receives invocation traces, e.g. `http://127.0.0.1:4318` [default: none].
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// How long a client may take to send a request's headers, or pause while sending its body [default: 30s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub client_timeout: Option<Duration>,
    /// How often S3 server access logs are delivered to their target buckets [default: 5s].
    #[arg(long, value_parser = humantime::parse_duration)]
    pub s3_log_flush_interval: Option<Duration>,
    /// A log group that also gets every S3 server access log line, a stream per bucket [default: none].
    #[arg(long)]
    pub s3_access_log_group: Option<String>,
    /// Credentials for OCI registries of image functions, in the containers auth-file format
    /// (`auth.json`, Docker's `config.json`: `{"auths": {"HOST:PORT": {"auth": "BASE64"}}}`) [default: anonymous pulls].
    #[arg(long)]
    pub registry_auth_file: Option<PathBuf>,
    /// Network of functions without a `lambdad:network` tag: host, loopback or none [default: host].
    #[arg(long, value_parser = parse_network)]
    pub network: Option<NetworkMode>,
    /// Configuration file [default: ./lambdad.toml when present].
    #[arg(long)]
    pub config: Option<PathBuf>,
}

/// The id (field name) of the one flag that `lambdad.toml` cannot set: the file itself.
pub const FILE_FLAG: &str = "config";

fn parse_network(s: &str) -> Result<NetworkMode, String> {
    NetworkMode::parse(s)
        .ok_or_else(|| format!("network must be host, loopback or none, not {s:?}"))
}

fn parse_delays(s: &str) -> Result<Delays, String> {
    let v = s
        .split(',')
        .map(|p| humantime::parse_duration(p.trim()).map_err(|e| format!("{p}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Delays(v))
}

pub(crate) fn parse_interpreter(s: &str) -> Result<(String, PathBuf), String> {
    let (runtime, path) = s.split_once('=').ok_or("expected RUNTIME=PATH")?;
    if !(runtime.starts_with("python3.") || runtime.starts_with("nodejs")) {
        return Err(format!(
            "{runtime} is not a managed runtime (python3.x or nodejsNN.x)"
        ));
    }
    Ok((runtime.to_owned(), PathBuf::from(path)))
}

fn parse_broker(s: &str) -> Result<(String, String), String> {
    let (name, url) = s.split_once('=').ok_or("expected NAME=amqp://HOST:PORT")?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "{name:?} is not a broker name (letters, digits, - and _)"
        ));
    }
    lambdad_triggers::rmq_poller::check_url(url)?;
    Ok((name.to_owned(), url.to_owned()))
}

fn parse_secret(s: &str) -> Result<(String, (String, String)), String> {
    let (arn, creds) = s.split_once('=').ok_or("expected ARN=USER:PASSWORD")?;
    if !arn.starts_with("arn:aws:secretsmanager:") {
        return Err(format!("{arn:?} is not a Secrets Manager secret ARN"));
    }
    let (user, password) = creds.split_once(':').ok_or("expected ARN=USER:PASSWORD")?;
    Ok((arn.to_owned(), (user.to_owned(), password.to_owned())))
}
