//! Server configuration: one struct fed, in order of precedence, by command
//! line flags, `LAMBDAD_*` environment variables, `lambdad.toml` and
//! defaults. The flags (`settings.rs`) are the one definition of every
//! setting; the variables and keys are named after them (`sources.rs`). An
//! unknown key in the file is an error, an unknown `LAMBDAD_*` variable a
//! warning.

mod settings;
mod sources;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::{ArgMatches, Command, FromArgMatches};
use lambdad_model::NetworkMode;
use lambdad_service::invocations::{DEFAULT_ASYNC_PAYLOAD, MAX_ASYNC_PAYLOAD};

pub(crate) use settings::parse_interpreter;
pub use settings::{AuthMode, CpuQuota, SandboxChoice, ServeArgs, StoreChoice};
pub use sources::settings;

/// The `serve` command line as given: clap's matches of the [`ServeArgs`]
/// flags, which [`Config::resolve`] lays over the other sources.
#[derive(Debug, Clone, Default)]
pub struct ServeFlags(pub ArgMatches);

impl FromArgMatches for ServeFlags {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        Ok(Self(matches.clone()))
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        self.0 = matches.clone();
        Ok(())
    }
}

impl clap::Args for ServeFlags {
    fn augment_args(cmd: Command) -> Command {
        ServeArgs::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        ServeArgs::augment_args_for_update(cmd)
    }
}

#[cfg(test)]
impl ServeFlags {
    /// Parses `serve`'s arguments (without the program and command names).
    pub fn parse<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<OsString> + Clone,
    {
        let argv = std::iter::once(OsString::from("serve")).chain(args.into_iter().map(Into::into));
        sources::command().try_get_matches_from(argv).map(Self)
    }
}

/// The resolved server configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// State directory.
    pub data_dir: PathBuf,
    /// Where the metadata lives.
    pub store: StoreChoice,
    /// The key sealing environment variables (`None`: DATA_DIR/meta.key).
    pub store_key_file: Option<PathBuf>,
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
    /// How environments get CPU time.
    pub cpu_quota: CpuQuota,
    /// Sandbox helpers kept started ahead of cold starts.
    pub prestarted_sandboxes: usize,
    /// Threads of lambdad's async runtime.
    pub worker_threads: usize,
    /// Delays before the retries of failed asynchronous events.
    pub async_retry_delays: Vec<Duration>,
    /// AWS-compatible endpoint for SQS/SNS deliveries.
    pub aws_endpoint_url: Option<String>,
    /// Endpoints of the stream APIs that Kinesis/DynamoDB mappings read (fallbacks applied).
    pub stream_endpoints: lambdad_triggers::stream_poller::StreamEndpoints,
    /// The RabbitMQ brokers and secrets that broker mappings may name (file, then flags).
    pub brokers: lambdad_triggers::rmq_poller::Brokers,
    /// Largest Event payload in bytes.
    pub async_max_payload: usize,
    /// Interpreters for managed runtimes named by the operator (file, then flags).
    pub interpreters: BTreeMap<String, PathBuf>,
    /// The managed runtimes' AWS SDK cache.
    pub sdk_dir: PathBuf,
    /// Whether a missing SDK is installed at start.
    pub sdk_install: bool,
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
    /// How often S3 access logs are delivered to their target buckets.
    pub s3_log_flush_interval: Duration,
    /// The log group that also gets every S3 access log line, if any.
    pub s3_access_log_group: Option<String>,
    /// The auth file of the registries image functions are pulled from, if any.
    pub registry_auth_file: Option<PathBuf>,
}

impl Config {
    /// Resolves the configuration from `flags`, the `LAMBDAD_*` variables of
    /// `env` (the process environment, passed in), the configuration file
    /// (`--config`, else `dir/lambdad.toml` when present) and defaults.
    /// Returns it with the warnings to report (unknown variables).
    pub fn resolve(
        flags: &ServeFlags,
        env: impl IntoIterator<Item = (OsString, OsString)>,
        dir: &Path,
    ) -> anyhow::Result<(Self, Vec<String>)> {
        let known = settings();
        let (env_layers, warnings) = sources::from_env(&known, env)?;
        let flags = &flags.0;
        let file = std::iter::once(flags)
            .chain(env_layers.iter().rev())
            .find_map(|m| m.get_one::<PathBuf>(settings::FILE_FLAG));
        let file_layers = match file {
            Some(path) => sources::from_file(&known, &dir.join(path))?,
            None if dir.join("lambdad.toml").is_file() => {
                sources::from_file(&known, &dir.join("lambdad.toml"))?
            }
            None => Vec::new(),
        };
        // Lowest precedence first: each layer overwrites what it sets.
        let mut args = ServeArgs::default();
        for m in file_layers.iter().chain(&env_layers) {
            args.update_from_arg_matches(m)?;
        }
        let from_file = std::mem::take(&mut args.interpreters);
        let brokers_from_file = std::mem::take(&mut args.brokers);
        let secrets_from_file = std::mem::take(&mut args.secrets);
        args.update_from_arg_matches(flags)?;
        // Repeatable settings add up: the file's, then the flags' (which win for a name).
        args.interpreters.splice(0..0, from_file);
        args.brokers.splice(0..0, brokers_from_file);
        args.secrets.splice(0..0, secrets_from_file);
        Ok((Self::from_args(args)?, warnings))
    }

    /// Applies defaults to merged settings and checks them.
    pub fn from_args(a: ServeArgs) -> anyhow::Result<Self> {
        let listen = a.listen.unwrap_or(([127, 0, 0, 1], 9001).into());
        let prices = prices(&a)?;
        let region = a.region.unwrap_or_else(|| "us-east-1".into());
        if region.is_empty()
            || !region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            bail!("invalid region {region:?}");
        }
        let account_id = a.account_id.unwrap_or_else(|| "000000000000".into());
        if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
            bail!("account id must be 12 digits, got {account_id:?}");
        }
        let concurrency_limit = a.concurrency_limit.unwrap_or(1000);
        if concurrency_limit < 100 {
            bail!(
                "the concurrency limit must be at least 100 (AWS keeps 100 unreserved), got {concurrency_limit}"
            );
        }
        let memory_budget_mb = a
            .memory_budget_mb
            .unwrap_or_else(lambdad_engine::capacity::default_budget_mb);
        if memory_budget_mb < 128 {
            bail!("the memory budget must be at least 128 MB, got {memory_budget_mb}");
        }
        let prestarted_sandboxes = a.prestarted_sandboxes.unwrap_or(2);
        if prestarted_sandboxes > 64 {
            bail!("at most 64 prestarted sandboxes, got {prestarted_sandboxes}");
        }
        // Functions run on the same cores: lambdad's own threads take half.
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let worker_threads = a.worker_threads.unwrap_or((cores / 2).max(1));
        if !(1..=256).contains(&worker_threads) {
            bail!("worker threads must be 1 to 256, got {worker_threads}");
        }
        let async_max_payload = a.async_max_payload.unwrap_or(DEFAULT_ASYNC_PAYLOAD);
        if !(1..=MAX_ASYNC_PAYLOAD).contains(&async_max_payload) {
            bail!(
                "the asynchronous payload limit must be between 1 and {MAX_ASYNC_PAYLOAD} bytes, got {async_max_payload}"
            );
        }
        let url_base = a
            .url_base
            .unwrap_or_else(|| format!("http://localhost:{}", listen.port()));
        if !(url_base.starts_with("http://") || url_base.starts_with("https://")) {
            bail!("the URL base must start with http:// or https://, got {url_base:?}");
        }
        let loopback = listen.ip().is_loopback();
        let auth = a.auth.unwrap_or(if loopback {
            AuthMode::None
        } else {
            AuthMode::Sigv4
        });
        if auth == AuthMode::Sigv4 && a.credentials_file.is_none() {
            bail!(
                "SigV4 authentication (the default when listening on {listen}, beyond loopback) needs --credentials-file FILE; or pass --auth none to run an open server"
            );
        }
        let s3_log_flush_interval = a.s3_log_flush_interval.unwrap_or(Duration::from_secs(5));
        if s3_log_flush_interval.is_zero() {
            bail!("--s3-log-flush-interval must be more than 0");
        }
        if let Some(g) = &a.s3_access_log_group
            && !lambdad_service::gateway::access_log::valid_group_name(g)
        {
            bail!(
                "--s3-access-log-group {g:?} is not a CloudWatch Logs group name (1-512 of [.-_/#A-Za-z0-9])"
            );
        }
        let client_timeout = a.client_timeout.unwrap_or(Duration::from_secs(30));
        if client_timeout.is_zero() {
            bail!("the client timeout must be positive");
        }
        let data_dir = a.data_dir.unwrap_or_else(|| ".lambdad".into());
        Ok(Self {
            listen,
            sdk_dir: a
                .sdk_dir
                .unwrap_or_else(|| lambdad_engine::sdk::default_dir(&data_dir)),
            sdk_install: a.sdk_install.unwrap_or(true),
            data_dir,
            store: a.store.unwrap_or(StoreChoice::Sqlite),
            store_key_file: a.store_key_file,
            region,
            account_id,
            sandbox: a.sandbox.unwrap_or(SandboxChoice::Auto),
            idle_timeout: a.idle_timeout.unwrap_or(Duration::from_secs(600)),
            concurrency_limit,
            memory_budget_mb,
            fast_cgroup_migration: a.fast_cgroup_migration.unwrap_or(true),
            cpu_quota: a.cpu_quota.unwrap_or(CpuQuota::Proportional),
            prestarted_sandboxes,
            worker_threads,
            async_retry_delays: a.async_retry_delays.map_or_else(
                || vec![Duration::from_secs(60), Duration::from_secs(120)],
                |d| d.0,
            ),
            stream_endpoints: stream_endpoints(
                &a.aws_endpoint_url,
                a.aws_endpoint_url_kinesis,
                a.aws_endpoint_url_dynamodb,
                a.aws_endpoint_url_dynamodbstreams,
            ),
            aws_endpoint_url: a.aws_endpoint_url,
            brokers: lambdad_triggers::rmq_poller::Brokers {
                urls: a.brokers.into_iter().collect(),
                secrets: a.secrets.into_iter().collect(),
            },
            async_max_payload,
            interpreters: a.interpreters.into_iter().collect::<BTreeMap<_, _>>(),
            url_base,
            credentials_file: a.credentials_file,
            registry_auth_file: a.registry_auth_file,
            auth,
            log_retention_days: a.log_retention_days,
            prices,
            otlp_endpoint: a.otlp_endpoint,
            log_max_stream_mb: a.log_max_stream_mb.unwrap_or(1024),
            network: a.network.unwrap_or(NetworkMode::Host),
            client_timeout,
            schedule_min_interval: a.schedule_min_interval.unwrap_or(Duration::from_secs(60)),
            role_credentials_ttl: a
                .role_credentials_ttl
                .unwrap_or(Duration::from_secs(12 * 3600)),
            s3_log_flush_interval,
            s3_access_log_group: a.s3_access_log_group,
        })
    }
}

/// The price table of usage estimates: AWS's prices where none is set.
fn prices(a: &ServeArgs) -> anyhow::Result<lambdad_engine::metrics::Prices> {
    let defaults = lambdad_engine::metrics::Prices::default();
    let prices = lambdad_engine::metrics::Prices {
        per_million_requests: a
            .price_per_million_requests
            .unwrap_or(defaults.per_million_requests),
        per_gb_second_x86_64: a
            .price_per_gb_second_x86_64
            .unwrap_or(defaults.per_gb_second_x86_64),
        per_gb_second_arm64: a
            .price_per_gb_second_arm64
            .unwrap_or(defaults.per_gb_second_arm64),
    };
    let all = [
        prices.per_million_requests,
        prices.per_gb_second_x86_64,
        prices.per_gb_second_arm64,
    ];
    if all.iter().any(|p| !p.is_finite() || *p < 0.0) {
        bail!("prices must be non-negative numbers");
    }
    Ok(prices)
}

/// The stream APIs' endpoints: each its own setting, else DynamoDB's for
/// DynamoDB Streams (one server often serves both), else `--aws-endpoint-url`.
fn stream_endpoints(
    general: &Option<String>,
    kinesis: Option<String>,
    dynamodb: Option<String>,
    dynamodbstreams: Option<String>,
) -> lambdad_triggers::stream_poller::StreamEndpoints {
    lambdad_triggers::stream_poller::StreamEndpoints {
        kinesis: kinesis.or_else(|| general.clone()),
        dynamodbstreams: dynamodbstreams
            .or_else(|| dynamodb.clone())
            .or_else(|| general.clone()),
        dynamodb: dynamodb.or_else(|| general.clone()),
    }
}
