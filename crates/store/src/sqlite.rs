//! The embedded SQLite backend.
//!
//! One connection behind a mutex: SQLite has one writer at a time anyway, and
//! metadata operations are short. WAL mode lets readers proceed during a
//! write; `synchronous=FULL` makes every commit durable before it returns.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{
    AliasRecord, AsyncEvent, FunctionRecord, GatewayApiRecord, LayerVersionRecord, PolicyRecord,
    ProvisionedRecord, Store, StoreError, StreamCheckpoint, UrlConfigRecord,
};

use crate::doorbells::Doorbells;
use crate::migrations::MIGRATIONS;
use crate::seal::Sealer;

/// SQLite metadata store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
    sealer: Sealer,
    doorbells: Doorbells,
}

impl SqliteStore {
    /// Rings the doorbells when `events` (just committed) is not empty.
    pub(crate) fn ring(&self, events: &[AsyncEvent]) {
        self.doorbells.ring(events);
    }
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path`.
    /// Environment variables are sealed with the key in `<path>.key`
    /// (`meta.key` beside `meta.db`), created on first use.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn, Sealer::from_key_file(&path.with_extension("key"))?)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, Sealer::ephemeral())
    }

    fn init(conn: Connection, sealer: Sealer) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (i, sql) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let tx = conn.unchecked_transaction()?;
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", i as i64 + 1)?;
            tx.commit()?;
        }
        Ok(Self {
            conn: Mutex::new(conn),
            sealer,
            doorbells: Doorbells::default(),
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied change
        // (every write is one transaction), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn row_to_record(
    sealer: &Sealer,
    (config, tags, code_hex, layer_code): (String, String, String, String),
) -> Result<FunctionRecord, StoreError> {
    let (config, image) = sealer.open_with(&config)?;
    Ok(FunctionRecord {
        config,
        tags: serde_json::from_str(&tags)?,
        code_hex,
        layer_code: serde_json::from_str(&layer_code)?,
        image,
    })
}

type Row = (String, String, String, String);

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
}

impl Store for SqliteStore {
    fn create_function(&self, r: &FunctionRecord) -> Result<(), StoreError> {
        let conn = self.conn();
        let res = conn.execute(
            "INSERT INTO functions (name, revision_id, code_hex, code_size, config, tags, layer_code) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                r.config.function_name,
                r.config.revision_id,
                r.code_hex,
                r.config.code_size as i64,
                self.sealer.seal_with(&r.config, r.image.as_ref())?,
                serde_json::to_string(&r.tags)?,
                serde_json::to_string(&r.layer_code)?
            ],
        );
        match res {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::AlreadyExists {
                    kind: "function",
                    id: r.config.function_name.clone(),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    fn get_function(&self, name: &str) -> Result<Option<FunctionRecord>, StoreError> {
        let conn = self.conn();
        let row = conn
            .query_row(
                "SELECT config, tags, code_hex, layer_code FROM functions WHERE name = ?1",
                [name],
                read_row,
            )
            .optional()?;
        row.map(|r| row_to_record(&self.sealer, r)).transpose()
    }

    fn update_function(
        &self,
        r: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE functions SET revision_id = ?2, code_hex = ?3, code_size = ?4, config = ?5, tags = ?6, layer_code = ?8 WHERE name = ?1 AND revision_id = ?7",
            params![
                r.config.function_name,
                r.config.revision_id,
                r.code_hex,
                r.config.code_size as i64,
                self.sealer.seal_with(&r.config, r.image.as_ref())?,
                serde_json::to_string(&r.tags)?,
                expected_revision,
                serde_json::to_string(&r.layer_code)?
            ],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::RevisionMismatch {
                kind: "function",
                id: r.config.function_name.clone(),
            })
        }
    }

    fn delete_function(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM functions WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM versions WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM aliases WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM concurrency WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM provisioned WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM event_invoke_configs WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM url_configs WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM policies WHERE name = ?1", [name])?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT config, tags, code_hex, layer_code FROM functions WHERE name > ?1 ORDER BY name LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after.unwrap_or(""), limit as i64], read_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row_to_record(&self.sealer, row?)?);
        }
        Ok(out)
    }

    fn usage(&self) -> Result<(u64, u64), StoreError> {
        let (count, size): (i64, i64) = self.conn().query_row(
            "SELECT COUNT(*), COALESCE(SUM(code_size), 0) FROM functions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((count.max(0) as u64, size.max(0) as u64))
    }

    fn code_in_use(&self, code_hex: &str) -> Result<bool, StoreError> {
        // A layer's archive stays while any function still references it,
        // even after the layer version itself was deleted (as on AWS).
        let quoted = format!("%\"{code_hex}\"%");
        let n: i64 = self.conn().query_row(
            "SELECT (SELECT COUNT(*) FROM functions WHERE code_hex = ?1 OR layer_code LIKE ?2)
                  + (SELECT COUNT(*) FROM versions WHERE code_hex = ?1 OR layer_code LIKE ?2)
                  + (SELECT COUNT(*) FROM layer_versions WHERE code_hex = ?1)",
            params![code_hex, quoted],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }

    fn publish_version(
        &self,
        r: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT last_version FROM functions WHERE name = ?1 AND revision_id = ?2",
                params![r.config.function_name, expected_revision],
                |row| row.get(0),
            )
            .optional()?;
        let Some(last) = last else {
            return Err(StoreError::RevisionMismatch {
                kind: "function",
                id: r.config.function_name.clone(),
            });
        };
        let version = last + 1;
        let mut config = r.config.clone();
        config.version = version.to_string();
        config.function_arn = format!("{}:{version}", r.config.function_arn);
        tx.execute(
            "INSERT INTO versions (name, version, code_hex, layer_code, config) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![r.config.function_name, version, r.code_hex, serde_json::to_string(&r.layer_code)?, self.sealer.seal_with(&config, r.image.as_ref())?],
        )?;
        tx.execute(
            "UPDATE functions SET last_version = ?2 WHERE name = ?1",
            params![r.config.function_name, version],
        )?;
        tx.commit()?;
        Ok(version as u64)
    }

    fn get_version(
        &self,
        function: &str,
        version: u64,
    ) -> Result<Option<FunctionRecord>, StoreError> {
        let row = self
            .conn()
            .query_row(
                "SELECT config, '{}', code_hex, layer_code FROM versions WHERE name = ?1 AND version = ?2",
                params![function, version as i64],
                read_row,
            )
            .optional()?;
        row.map(|r| row_to_record(&self.sealer, r)).transpose()
    }

    fn list_versions(&self, function: &str) -> Result<Vec<FunctionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT config, '{}', code_hex, layer_code FROM versions WHERE name = ?1 ORDER BY version")?;
        let rows = stmt.query_map([function], read_row)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row_to_record(&self.sealer, row?)?);
        }
        Ok(out)
    }

    fn delete_version(&self, function: &str, version: u64) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM versions WHERE name = ?1 AND version = ?2",
            params![function, version as i64],
        )?;
        tx.execute(
            "DELETE FROM policies WHERE name = ?1 AND qualifier = ?2",
            params![function, version.to_string()],
        )?;
        tx.commit()?;
        Ok(n == 1)
    }

    fn create_alias(&self, a: &AliasRecord) -> Result<(), StoreError> {
        let res = self.conn().execute(
            "INSERT INTO aliases (name, alias, revision_id, record) VALUES (?1, ?2, ?3, ?4)",
            params![a.function, a.name, a.revision_id, serde_json::to_string(a)?],
        );
        match res {
            Ok(_) => Ok(()),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::AlreadyExists {
                    kind: "alias",
                    id: format!("{}:{}", a.function, a.name),
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    fn get_alias(&self, function: &str, name: &str) -> Result<Option<AliasRecord>, StoreError> {
        let row: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM aliases WHERE name = ?1 AND alias = ?2",
                params![function, name],
                |r| r.get(0),
            )
            .optional()?;
        Ok(row.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    fn list_aliases(&self, function: &str) -> Result<Vec<AliasRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT record FROM aliases WHERE name = ?1 ORDER BY alias")?;
        let rows = stmt.query_map([function], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    fn update_alias(&self, a: &AliasRecord, expected_revision: &str) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE aliases SET revision_id = ?3, record = ?4 WHERE name = ?1 AND alias = ?2 AND revision_id = ?5",
            params![a.function, a.name, a.revision_id, serde_json::to_string(a)?, expected_revision],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::RevisionMismatch {
                kind: "alias",
                id: format!("{}:{}", a.function, a.name),
            })
        }
    }

    fn delete_alias(&self, function: &str, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute(
            "DELETE FROM aliases WHERE name = ?1 AND alias = ?2",
            params![function, name],
        )?;
        for table in ["url_configs", "policies"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE name = ?1 AND qualifier = ?2"),
                params![function, name],
            )?;
        }
        tx.commit()?;
        Ok(n == 1)
    }

    fn set_reserved_concurrency(
        &self,
        function: &str,
        reserved: Option<u32>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        match reserved {
            Some(n) => conn.execute(
                "INSERT INTO concurrency (name, reserved) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET reserved = excluded.reserved",
                params![function, n],
            )?,
            None => conn.execute("DELETE FROM concurrency WHERE name = ?1", [function])?,
        };
        Ok(())
    }

    fn reserved_concurrency(&self) -> Result<Vec<(String, u32)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT name, reserved FROM concurrency ORDER BY name")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn set_provisioned(&self, p: &ProvisionedRecord) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO provisioned (name, qualifier, requested, last_modified) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(name, qualifier) DO UPDATE SET requested = excluded.requested, last_modified = excluded.last_modified",
            params![p.function, p.qualifier, p.requested, p.last_modified],
        )?;
        Ok(())
    }

    fn delete_provisioned(&self, function: &str, qualifier: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM provisioned WHERE name = ?1 AND qualifier = ?2",
            params![function, qualifier],
        )? == 1)
    }

    fn list_provisioned(
        &self,
        function: Option<&str>,
    ) -> Result<Vec<ProvisionedRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT name, qualifier, requested, last_modified FROM provisioned WHERE ?1 IS NULL OR name = ?1 ORDER BY name, qualifier",
        )?;
        let rows = stmt.query_map([function], |r| {
            Ok(ProvisionedRecord {
                function: r.get(0)?,
                qualifier: r.get(1)?,
                requested: r.get(2)?,
                last_modified: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn enqueue_events(&self, events: &[AsyncEvent]) -> Result<(), StoreError> {
        self.enqueue_events_impl(events)?;
        self.ring(events);
        Ok(())
    }

    fn on_events_queued(&self, ring: Box<dyn Fn() + Send + Sync>) {
        self.doorbells.add(ring);
    }

    fn lease_events(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError> {
        self.lease_events_impl(now_ms, lease_ms, limit)
    }

    fn release_leases(&self) -> Result<u64, StoreError> {
        self.release_leases_impl()
    }

    fn reschedule_event(
        &self,
        id: &str,
        attempts: u32,
        not_before_ms: i64,
    ) -> Result<(), StoreError> {
        self.reschedule_event_impl(id, attempts, not_before_ms)
    }

    fn delete_events(&self, ids: &[String]) -> Result<(), StoreError> {
        self.delete_events_impl(ids)
    }

    fn pending_events(&self) -> Result<u64, StoreError> {
        self.pending_events_impl()
    }

    fn oldest_event_ms(&self) -> Result<Option<i64>, StoreError> {
        self.oldest_event_ms_impl()
    }

    fn put_event_invoke_config(
        &self,
        name: &str,
        qualifier: &str,
        config: Option<&str>,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        match config {
            Some(c) => conn.execute(
                "INSERT INTO event_invoke_configs (name, qualifier, config) VALUES (?1, ?2, ?3)
                 ON CONFLICT(name, qualifier) DO UPDATE SET config = excluded.config",
                params![name, qualifier, c],
            )?,
            None => conn.execute(
                "DELETE FROM event_invoke_configs WHERE name = ?1 AND qualifier = ?2",
                params![name, qualifier],
            )?,
        };
        Ok(())
    }

    fn event_invoke_configs(&self, name: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT qualifier, config FROM event_invoke_configs WHERE name = ?1 ORDER BY qualifier",
        )?;
        let rows = stmt.query_map([name], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn create_url_config(&self, url: &UrlConfigRecord) -> Result<(), StoreError> {
        let res = self.conn().execute(
            "INSERT INTO url_configs (name, qualifier, url_id, record) VALUES (?1, ?2, ?3, ?4)",
            params![
                url.function,
                url.qualifier,
                url.url_id,
                serde_json::to_string(url)?
            ],
        );
        match res {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::AlreadyExists {
                    kind: "function url config",
                    id: format!("{}:{}", url.function, url.qualifier),
                })
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    fn update_url_config(&self, url: &UrlConfigRecord) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "UPDATE url_configs SET record = ?3 WHERE name = ?1 AND qualifier = ?2",
            params![url.function, url.qualifier, serde_json::to_string(url)?],
        )? == 1)
    }

    fn get_url_config(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<UrlConfigRecord>, StoreError> {
        let doc: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM url_configs WHERE name = ?1 AND qualifier = ?2",
                params![function, qualifier],
                |r| r.get(0),
            )
            .optional()?;
        Ok(doc.map(|d| serde_json::from_str(&d)).transpose()?)
    }

    fn url_config_by_id(&self, url_id: &str) -> Result<Option<UrlConfigRecord>, StoreError> {
        let doc: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM url_configs WHERE url_id = ?1",
                [url_id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(doc.map(|d| serde_json::from_str(&d)).transpose()?)
    }

    fn delete_url_config(&self, function: &str, qualifier: &str) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM url_configs WHERE name = ?1 AND qualifier = ?2",
            params![function, qualifier],
        )? == 1)
    }

    fn list_url_configs(&self, function: &str) -> Result<Vec<UrlConfigRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT record FROM url_configs WHERE name = ?1 ORDER BY qualifier")?;
        let rows = stmt.query_map([function], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            out.push(serde_json::from_str(&row?)?);
        }
        Ok(out)
    }

    fn get_policy(
        &self,
        function: &str,
        qualifier: &str,
    ) -> Result<Option<PolicyRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT statements, revision_id FROM policies WHERE name = ?1 AND qualifier = ?2",
                params![function, qualifier],
                |r| {
                    Ok(PolicyRecord {
                        statements: r.get(0)?,
                        revision_id: r.get(1)?,
                    })
                },
            )
            .optional()?)
    }

    fn set_policy(
        &self,
        function: &str,
        qualifier: &str,
        policy: Option<&PolicyRecord>,
        expected_revision: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let current: Option<String> = tx
            .query_row(
                "SELECT revision_id FROM policies WHERE name = ?1 AND qualifier = ?2",
                params![function, qualifier],
                |r| r.get(0),
            )
            .optional()?;
        if current.as_deref() != expected_revision {
            return Err(StoreError::RevisionMismatch {
                kind: "policy",
                id: format!("{function}:{qualifier}"),
            });
        }
        match policy {
            Some(p) => tx.execute(
                "INSERT INTO policies (name, qualifier, revision_id, statements) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(name, qualifier) DO UPDATE SET revision_id = excluded.revision_id, statements = excluded.statements",
                params![function, qualifier, p.revision_id, p.statements],
            )?,
            None => tx.execute(
                "DELETE FROM policies WHERE name = ?1 AND qualifier = ?2",
                params![function, qualifier],
            )?,
        };
        tx.commit()?;
        Ok(())
    }

    fn put_doc(&self, kind: &str, key: &str, body: Option<&str>) -> Result<(), StoreError> {
        let conn = self.conn();
        match body {
            Some(b) => conn.execute(
                "INSERT INTO docs (kind, key, body) VALUES (?1, ?2, ?3)
                 ON CONFLICT(kind, key) DO UPDATE SET body = excluded.body",
                params![kind, key, b],
            )?,
            None => conn.execute(
                "DELETE FROM docs WHERE kind = ?1 AND key = ?2",
                params![kind, key],
            )?,
        };
        Ok(())
    }

    fn get_doc(&self, kind: &str, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT body FROM docs WHERE kind = ?1 AND key = ?2",
                params![kind, key],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn list_docs(&self, kind: &str) -> Result<Vec<(String, String)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT key, body FROM docs WHERE kind = ?1 ORDER BY key")?;
        let rows = stmt.query_map([kind], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn publish_layer_version(&self, record: &LayerVersionRecord) -> Result<u64, StoreError> {
        self.publish_layer_version_impl(record)
    }

    fn get_layer_version(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>, StoreError> {
        self.get_layer_version_impl(name, version)
    }

    fn list_layer_versions(&self, name: &str) -> Result<Vec<LayerVersionRecord>, StoreError> {
        self.list_layer_versions_impl(name)
    }

    fn list_layers(&self) -> Result<Vec<LayerVersionRecord>, StoreError> {
        self.list_layers_impl()
    }

    fn delete_layer_version(&self, name: &str, version: u64) -> Result<bool, StoreError> {
        self.delete_layer_version_impl(name, version)
    }

    fn update_layer_policy(
        &self,
        record: &LayerVersionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        self.update_layer_policy_impl(record, expected_revision)
    }

    fn create_gateway_api(&self, api: &GatewayApiRecord) -> Result<(), StoreError> {
        self.create_gateway_api_impl(api)
    }

    fn get_gateway_api(&self, api_id: &str) -> Result<Option<GatewayApiRecord>, StoreError> {
        self.get_gateway_api_impl(api_id)
    }

    fn list_gateway_apis(&self) -> Result<Vec<GatewayApiRecord>, StoreError> {
        self.list_gateway_apis_impl()
    }

    fn update_gateway_api(
        &self,
        api: &GatewayApiRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        self.update_gateway_api_impl(api, expected_revision)
    }

    fn delete_gateway_api(&self, api_id: &str) -> Result<bool, StoreError> {
        self.delete_gateway_api_impl(api_id)
    }

    fn stream_checkpoints(&self, mapping: &str) -> Result<Vec<StreamCheckpoint>, StoreError> {
        self.stream_checkpoints_impl(mapping)
    }

    fn put_stream_checkpoint(&self, checkpoint: &StreamCheckpoint) -> Result<(), StoreError> {
        self.put_stream_checkpoint_impl(checkpoint)
    }

    fn delete_stream_checkpoints(&self, mapping: &str) -> Result<u64, StoreError> {
        self.delete_stream_checkpoints_impl(mapping)
    }
}
