//! The composition root: opens the store, builds the engine, the services,
//! the triggers and the API once, serves until SIGINT or SIGTERM, then
//! stops everything in order: the listener (draining requests), the
//! triggers, the background tasks, the engine; then it saves the metered
//! usage and flushes the traces.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use lambdad_api::auth::Credentials;
use lambdad_api::{ApiConfig, AppState};
use lambdad_engine::{EngineConfig, ExtraEnv, Invoker};
use lambdad_sandbox::Preference;
use lambdad_service::logs::Logs;
use lambdad_service::telemetry::Telemetry;
use lambdad_service::{Context, ServiceOptions, Services};
use lambdad_store::{CodeStore, PgStore, SqliteStore, Store};
use lambdad_triggers::destinations::Destinations;
use lambdad_triggers::{TriggerOptions, Triggers};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{AuthMode, Config, SandboxChoice, StoreChoice};

/// How long the triggers and background tasks get to stop.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Runs the server until a shutdown signal arrives.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let data_dir = config.data_dir.canonicalize()?;
    let store = open_store(&config.store, config.store_key_file.as_deref(), &data_dir).await?;
    let code = CodeStore::open(data_dir.join("code")).context("opening the code store")?;
    let keys = Arc::new(
        match &config.credentials_file {
            Some(path) => Credentials::load(path)?,
            None => Credentials::default(),
        }
        .with_ttl(config.role_credentials_ttl),
    );
    let credentials = config.credentials_file.is_some().then(|| keys.clone());
    let engine = start_engine(&config, &data_dir, keys)?;
    for (name, reserved) in store
        .reserved_concurrency()
        .context("reading reservations")?
    {
        engine.concurrency().set_reserved(&name, Some(reserved));
    }
    // The OTLP exporter's blocking HTTP client must be built off the async runtime.
    let endpoint = config.otlp_endpoint.clone();
    let telemetry =
        tokio::task::spawn_blocking(move || Telemetry::new(endpoint.as_deref())).await??;
    let objects = lambdad_objects::Objects::open(
        &data_dir.join("objects"),
        store.clone(),
        lambdad_objects::ObjectsConfig {
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            body_idle_timeout: config.client_timeout,
        },
    )
    .context("opening the object store")?;
    let registries = match &config.registry_auth_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading the registry auth file {}", path.display()))?;
            lambdad_service::images::RegistryCredentials::parse(&text)
                .map_err(|e| anyhow::anyhow!("the registry auth file {}: {e}", path.display()))?
        }
        None => Default::default(),
    };
    let ctx = Context::new(
        store.clone(),
        code,
        config.account_id.clone(),
        engine.clone(),
        config.network,
        objects.clone(),
        registries,
    );
    let services = Services::new(
        ctx,
        telemetry.clone(),
        &ServiceOptions {
            url_base: config.url_base.clone(),
            max_async_payload: config.async_max_payload,
            api_endpoint: local_endpoint(config.listen),
            queue_policies: config.auth == AuthMode::Sigv4,
        },
    );
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    for p in services.provisioned.all_provisioned().await? {
        if let Err(e) = services
            .provisioned
            .apply_provisioned(&config.region, &p)
            .await
        {
            tracing::warn!(function = %p.function, qualifier = %p.qualifier, error = %e, "Cannot restore provisioned concurrency.");
        }
    }
    match services.queues.resume_moves().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(tasks = n, "Resumed message move tasks."),
        Err(e) => tracing::warn!(error = %e, "Cannot resume message move tasks."),
    }
    let destinations = Destinations::new(&config.region, config.aws_endpoint_url.as_deref())
        .await
        .with_queues(services.queues.clone(), &config.region)
        .with_topics(services.topics.clone());
    let triggers = Triggers::start(
        &services,
        destinations,
        TriggerOptions {
            region: config.region.clone(),
            async_retry_delays: config.async_retry_delays.clone(),
            schedule_min_interval: config.schedule_min_interval,
            stream_endpoints: config.stream_endpoints.clone(),
            brokers: config.brokers.clone(),
        },
    );
    let logs = Logs::new(data_dir.join("logs"), &config.region, &config.account_id);
    let usage_file = data_dir.join("usage.json");
    if let Ok(saved) = std::fs::read(&usage_file) {
        match serde_json::from_slice(&saved) {
            Ok(saved) => engine.metrics().restore_usage(saved),
            Err(e) => tracing::warn!(error = %e, "Ignoring an unreadable usage.json."),
        }
    }
    let stop = CancellationToken::new();
    let mut background = JoinSet::new();
    background.spawn(enforce_log_retention(
        logs.clone(),
        config.log_retention_days,
        stop.child_token(),
    ));
    background.spawn(save_usage_periodically(
        engine.clone(),
        usage_file.clone(),
        stop.child_token(),
    ));
    background.spawn(flush_s3_access_logs(
        objects.clone(),
        config.s3_log_flush_interval,
        stop.child_token(),
    ));
    let s3 = lambdad_api::s3::service(
        &objects,
        credentials.clone(),
        config.auth == AuthMode::Sigv4,
        &config.account_id,
    );
    let state = AppState::new(lambdad_api::AppParts {
        config: Arc::new(ApiConfig {
            listen: config.listen,
            region: config.region.clone(),
            account_id: config.account_id.clone(),
            require_signatures: config.auth == AuthMode::Sigv4,
            prices: config.prices,
            schedule_min_interval: config.schedule_min_interval,
            s3_access_log_group: config.s3_access_log_group.clone(),
        }),
        services,
        engine: engine.clone(),
        credentials,
        logs,
        s3: Some(s3),
        objects: Some(objects),
        doors: Arc::default(),
        s3_metrics: Arc::default(),
        console_sessions: Arc::default(),
    });
    let node = lambdad_service::cluster::Node::join(
        &state.services.ctx,
        &node_id(&data_dir)?,
        &local_endpoint(config.listen),
    )
    .await
    .context("joining the cluster")?;
    if let Some(node) = node.clone() {
        let stop = stop.child_token();
        background.spawn(async move {
            tokio::select! {
                () = node.run() => {}
                () = stop.cancelled() => {}
            }
        });
    }
    let app = lambdad_api::router(state);
    tracing::info!(listen = %listener.local_addr()?, data_dir = %data_dir.display(), "lambdad is serving.");
    let draining = node.clone();
    let shutdown = async move {
        shutdown_signal().await;
        // Waiters stop counting on this node while it finishes its requests.
        if let Some(node) = draining {
            node.drain().await;
        }
    };
    lambdad_api::listener::serve(listener, app, config.client_timeout, shutdown)
        .await
        .context("serving HTTP")?;
    triggers.stop(STOP_GRACE).await;
    stop.cancel();
    if tokio::time::timeout(STOP_GRACE, async {
        while background.join_next().await.is_some() {}
    })
    .await
    .is_err()
    {
        tracing::warn!("Background tasks did not stop in time; aborting them.");
        background.abort_all();
    }
    engine.shutdown().await;
    if let Some(node) = node {
        node.leave().await;
    }
    save_usage(&engine, &usage_file);
    let _ = tokio::task::spawn_blocking(move || telemetry.shutdown()).await;
    tracing::info!("lambdad stopped.");
    Ok(())
}

/// The metadata store: SQLite in the data directory, or PostgreSQL (whose
/// environment variables are sealed with `--store-key-file`, by default the
/// data directory's key, as SQLite's).
async fn open_store(
    choice: &StoreChoice,
    key_file: Option<&std::path::Path>,
    data_dir: &std::path::Path,
) -> anyhow::Result<Arc<dyn Store>> {
    let store: Arc<dyn Store> = match choice {
        StoreChoice::Sqlite if key_file.is_some() => {
            anyhow::bail!(
                "--store-key-file applies to a PostgreSQL store (SQLite's key is DATA_DIR/meta.key)"
            )
        }
        StoreChoice::Sqlite => Arc::new(
            SqliteStore::open(&data_dir.join("meta.db")).context("opening the metadata store")?,
        ),
        StoreChoice::Postgres(url) => {
            let url = url.clone();
            let key = key_file.map_or_else(|| data_dir.join("meta.key"), ToOwned::to_owned);
            // Connecting and migrating block: off the async workers.
            let store = tokio::task::spawn_blocking(move || PgStore::connect(&url, None, &key))
                .await?
                .context("opening the PostgreSQL metadata store")?;
            tracing::info!("The metadata store is PostgreSQL.");
            Arc::new(store)
        }
    };
    Ok(store)
}

/// This node's id in a cluster: kept in `DATA_DIR/node-id`, made once.
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => Ok(id.trim().to_owned()),
        _ => {
            let id = uuid::Uuid::new_v4().simple().to_string();
            std::fs::write(&path, &id)
                .with_context(|| format!("writing the node id {}", path.display()))?;
            Ok(id)
        }
    }
}

/// The sandbox backend and the engine over it.
fn start_engine(
    config: &Config,
    data_dir: &std::path::Path,
    keys: Arc<Credentials>,
) -> anyhow::Result<Invoker> {
    let preference = match config.sandbox {
        SandboxChoice::Auto => Preference::Auto,
        SandboxChoice::Namespace => Preference::Namespace,
        SandboxChoice::Process => Preference::Process,
    };
    let exe = std::env::current_exe().context("locating the lambdad binary")?;
    // The small helper beside lambdad when it is installed, else lambdad itself.
    let helper = Some(exe.with_file_name("lambdad-sandbox-init"))
        .filter(|p| p.is_file())
        .unwrap_or(exe);
    let backend = lambdad_sandbox::detect(
        &helper,
        &data_dir.join("sandbox-root"),
        preference,
        config.prestarted_sandboxes,
    )
    .context("setting up execution environments")?;
    tracing::info!(backend = backend.name(), helper = %helper.display(), "Execution environments ready.");
    if backend.isolates_users() && config.fast_cgroup_migration {
        match lambdad_sandbox::favor_dynamic_migrations(true) {
            Ok(true) => tracing::info!(
                "Turned on the cgroup option favordynmods (host-wide): cold starts no longer wait for an RCU grace period. --fast-cgroup-migration false leaves it off."
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "Cannot turn on the cgroup option favordynmods; cold starts will be slower.")
            }
        }
    }
    Ok(Invoker::new(
        EngineConfig {
            data_dir: data_dir.to_owned(),
            region: config.region.clone(),
            idle_timeout: config.idle_timeout,
            interpreters: config.interpreters.clone(),
            concurrency_limit: config.concurrency_limit,
            memory_budget_mb: config.memory_budget_mb,
            prices: config.prices,
            log_max_stream_bytes: config.log_max_stream_mb.saturating_mul(1024 * 1024),
            extra_env: role_environment(keys, config.listen),
            sdk: lambdad_engine::sdk::Sdk::new(config.sdk_dir.clone(), config.sdk_install),
            cpu_quota: config.cpu_quota == crate::config::CpuQuota::Proportional,
        },
        backend,
    ))
}

/// The address at which this server's API is reached locally
/// (`http://127.0.0.1:PORT` when it listens on every address).
fn local_endpoint(listen: std::net::SocketAddr) -> String {
    let host = if listen.ip().is_unspecified() {
        std::net::IpAddr::from([127, 0, 0, 1])
    } else {
        listen.ip()
    };
    format!("http://{}", std::net::SocketAddr::new(host, listen.port()))
}

/// Each environment's execution-role credentials, and the endpoints through
/// which the AWS SDKs in a function reach this server's Lambda, Logs,
/// EventBridge, S3, SQS and SNS APIs.
fn role_environment(keys: Arc<Credentials>, listen: std::net::SocketAddr) -> ExtraEnv {
    let endpoint = local_endpoint(listen);
    ExtraEnv(Some(Arc::new(move |s: &lambdad_model::VersionSnapshot| {
        let (key, secret, token) = keys.mint(&s.role);
        vec![
            ("AWS_ACCESS_KEY_ID".to_owned(), key),
            ("AWS_SECRET_ACCESS_KEY".to_owned(), secret),
            ("AWS_SESSION_TOKEN".to_owned(), token),
            ("AWS_ENDPOINT_URL_LAMBDA".to_owned(), endpoint.clone()),
            (
                "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS".to_owned(),
                endpoint.clone(),
            ),
            ("AWS_ENDPOINT_URL_EVENTBRIDGE".to_owned(), endpoint.clone()),
            ("AWS_ENDPOINT_URL_S3".to_owned(), endpoint.clone()),
            ("AWS_ENDPOINT_URL_SQS".to_owned(), endpoint.clone()),
            ("AWS_ENDPOINT_URL_SNS".to_owned(), endpoint.clone()),
        ]
    })))
}

/// Writes the metered usage (atomically: a temporary file renamed over the old one).
fn save_usage(engine: &Invoker, path: &std::path::Path) {
    let tmp = path.with_extension("json.tmp");
    let Ok(json) = serde_json::to_vec(&engine.metrics().usage_snapshot()) else {
        return;
    };
    if let Err(e) = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, path)) {
        tracing::warn!(error = %e, "Cannot save the metered usage.");
    }
}

/// Saves the metered usage every 10 seconds until `stop`.
async fn save_usage_periodically(
    engine: Invoker,
    path: std::path::PathBuf,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(10)) => {}
            () = stop.cancelled() => return,
        }
        let (e, p) = (engine.clone(), path.clone());
        let _ = tokio::task::spawn_blocking(move || save_usage(&e, &p)).await;
    }
}

/// Delivers the S3 access logs' pending lines every `every`, and once more
/// when `stop` comes (after the listener closed: every answered request's
/// line is delivered).
async fn flush_s3_access_logs(
    objects: lambdad_objects::Objects,
    every: Duration,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = stop.cancelled() => break,
        }
        objects.flush_access_logs().await;
    }
    objects.flush_access_logs().await;
}

/// Deletes expired log streams at start-up and then hourly, until `stop`.
async fn enforce_log_retention(logs: Logs, default_days: Option<u32>, stop: CancellationToken) {
    loop {
        let l = logs.clone();
        if let Ok(n) = tokio::task::spawn_blocking(move || l.enforce_retention(default_days)).await
            && n > 0
        {
            tracing::info!(streams = n, "Expired log streams deleted.");
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(3600)) => {}
            () = stop.cancelled() => return,
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "Cannot listen for SIGTERM.");
            return std::future::pending().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("Shutdown signal received.");
}
