//! The PostgreSQL backend: the synchronous [`Store`](crate::Store) over
//! `tokio-postgres` with a `deadpool-postgres` pool.
//!
//! The store owns a small tokio runtime of its own that drives the
//! connections. A call enters that runtime's context and blocks its own
//! thread on the query (callers already run the store on blocking threads,
//! as they must for SQLite's disk syncs); because the connections never
//! depend on the caller's runtime, a caller on a current-thread runtime or
//! an async worker cannot starve them.
//!
//! Every write is one transaction (PostgreSQL's `synchronous_commit=on`:
//! durable when it returns). Compare-and-set writes are single
//! `UPDATE … WHERE revision_id = $expected` statements; version and layer
//! numbers come from row-locked counters. Environment variables are sealed
//! with the data directory's key exactly as in SQLite; the key is never
//! stored in the database.
//!
//! Tables live in the connection's `search_path`: the default schema, or the
//! one [`PgStore::connect`] is given (created when absent).

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row, Transaction};

use crate::StoreError;
use crate::doorbells::Doorbells;
use crate::seal::Sealer;

/// Most connections a store keeps open.
const MAX_CONNECTIONS: usize = 16;
/// How long a call waits for a free or new connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL metadata store.
pub struct PgStore {
    pub(crate) pool: Pool,
    /// How to connect (the change watcher's own connection).
    pub(crate) config: tokio_postgres::Config,
    pub(crate) sealer: Sealer,
    pub(crate) doorbells: Doorbells,
    /// Drives the connections; `None` only while dropping.
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").finish_non_exhaustive()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which tokio forbids in async contexts;
        // the connections' tasks need no orderly end.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Parameters of a statement.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// Whether `e` is a unique (or primary key) violation.
pub(crate) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// A `u64` as PostgreSQL's `BIGINT` (saturating).
pub(crate) fn big(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A `BIGINT` count or size as `u64` (negatives as 0).
pub(crate) fn unsigned(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// A `BIGINT` as `u32` (clamped).
pub(crate) fn small(n: i64) -> u32 {
    u32::try_from(n.max(0)).unwrap_or(u32::MAX)
}

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `fut` to completion on this thread.
fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Whether `schema` is a name this store accepts (it is quoted in SQL).
fn valid_schema(schema: &str) -> bool {
    !schema.is_empty()
        && schema.len() <= 63
        && schema
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !schema.as_bytes()[0].is_ascii_digit()
}

impl PgStore {
    /// Connects to the PostgreSQL database at `url` (a `postgres://` URL or
    /// a `key=value` connection string), in `schema` if given (created when
    /// absent), and migrates it. Environment variables are sealed with the
    /// key in `key_file` (created on first use, as for SQLite's `meta.key`).
    pub fn connect(url: &str, schema: Option<&str>, key_file: &Path) -> Result<Self, StoreError> {
        Self::connect_with(url, schema, Sealer::from_key_file(key_file)?)
    }

    /// Whether `url` is a connection string [`Self::connect`] can use (an
    /// error naming the fault otherwise).
    pub fn check_url(url: &str) -> Result<(), String> {
        url.parse::<tokio_postgres::Config>()
            .map(drop)
            .map_err(|e| format!("invalid PostgreSQL URL: {e}"))
    }

    fn connect_with(url: &str, schema: Option<&str>, sealer: Sealer) -> Result<Self, StoreError> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Unavailable(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(s) = schema {
            if !valid_schema(s) {
                return Err(StoreError::Unavailable(format!(
                    "invalid schema name {s:?} (lowercase letters, digits and _)"
                )));
            }
            let mut options = config.get_options().unwrap_or_default().to_owned();
            options.push_str(&format!(" -c search_path={s}"));
            config.options(options.trim_start());
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("lambdad");
        // A silently vanished server is noticed (the change watcher's idle
        // connection must break, not hang).
        config.keepalives_idle(Duration::from_secs(5));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("lambdad-pg")
            .enable_all()
            .build()?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = {
            let _entered = runtime.enter();
            Pool::builder(manager)
                .max_size(MAX_CONNECTIONS)
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(CONNECT_TIMEOUT))
                .create_timeout(Some(CONNECT_TIMEOUT))
                .build()
                .map_err(|e| StoreError::Unavailable(e.to_string()))?
        };
        let store = Self {
            pool,
            config,
            sealer,
            doorbells: Doorbells::default(),
            runtime: Some(runtime),
        };
        store.in_tx(async |tx| crate::pg_migrations::migrate(tx, schema).await)?;
        Ok(store)
    }

    /// Spawns `fut` on the store's runtime (it ends when the store is dropped).
    pub(crate) fn spawn(&self, fut: impl Future<Output = ()> + Send + 'static) {
        if let Some(rt) = &self.runtime {
            rt.spawn(fut);
        }
    }

    /// Runs `fut` to completion within the store's runtime.
    pub(crate) fn run<T>(&self, fut: impl Future<Output = T>) -> T {
        let _entered = self.runtime.as_ref().map(|rt| rt.enter());
        block_on(fut)
    }

    /// A pooled connection.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Runs `f` in a transaction, committed when it returns `Ok`.
    pub(crate) fn in_tx<T>(
        &self,
        f: impl AsyncFnOnce(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.run(async {
            let mut client = self.client().await?;
            let tx = client.transaction().await?;
            let out = f(&tx).await?;
            tx.commit().await?;
            Ok(out)
        })
    }

    /// Runs one statement; the rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: Params<'_>) -> Result<u64, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await?;
            Ok(client.execute(&stmt, params).await?)
        })
    }

    /// Runs one query; its rows.
    pub(crate) fn query(&self, sql: &str, params: Params<'_>) -> Result<Vec<Row>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await?;
            Ok(client.query(&stmt, params).await?)
        })
    }

    /// Runs one query of at most one row.
    pub(crate) fn query_opt(
        &self,
        sql: &str,
        params: Params<'_>,
    ) -> Result<Option<Row>, StoreError> {
        self.run(async {
            let client = self.client().await?;
            let stmt = client.prepare_cached(sql).await?;
            Ok(client.query_opt(&stmt, params).await?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::valid_schema;

    #[test]
    fn schema_names() {
        assert!(valid_schema("lambdad_test_1"));
        for bad in ["", "1abc", "Abc", "a-b", "a\"b", "a;b", &"x".repeat(64)] {
            assert!(!valid_schema(bad), "{bad:?}");
        }
    }
}
