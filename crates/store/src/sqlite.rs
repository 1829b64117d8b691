//! The embedded SQLite backend.
//!
//! One connection behind a mutex: SQLite has one writer at a time anyway, and
//! metadata operations are short. WAL mode lets readers proceed during a
//! write; `synchronous=FULL` makes every commit durable before it returns.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::{FunctionRecord, Store, StoreError};

const MIGRATIONS: &[&str] = &["CREATE TABLE functions (
        name TEXT PRIMARY KEY,
        revision_id TEXT NOT NULL,
        code_hex TEXT NOT NULL,
        code_size INTEGER NOT NULL,
        config TEXT NOT NULL,
        tags TEXT NOT NULL
    );
    CREATE INDEX functions_code ON functions(code_hex);"];

/// SQLite metadata store.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating and migrating) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory database, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, StoreError> {
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
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-applied change
        // (every write is one transaction), so a poisoned lock is still usable.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn row_to_record(
    config: String,
    tags: String,
    code_hex: String,
) -> Result<FunctionRecord, StoreError> {
    Ok(FunctionRecord {
        config: serde_json::from_str(&config)?,
        tags: serde_json::from_str(&tags)?,
        code_hex,
    })
}

impl Store for SqliteStore {
    fn create_function(&self, r: &FunctionRecord) -> Result<(), StoreError> {
        let conn = self.conn();
        let res = conn.execute(
            "INSERT INTO functions (name, revision_id, code_hex, code_size, config, tags) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                r.config.function_name,
                r.config.revision_id,
                r.code_hex,
                r.config.code_size as i64,
                serde_json::to_string(&r.config)?,
                serde_json::to_string(&r.tags)?
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
                "SELECT config, tags, code_hex FROM functions WHERE name = ?1",
                [name],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        row.map(|(c, t, h)| row_to_record(c, t, h)).transpose()
    }

    fn update_function(
        &self,
        r: &FunctionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let conn = self.conn();
        let n = conn.execute(
            "UPDATE functions SET revision_id = ?2, code_hex = ?3, code_size = ?4, config = ?5, tags = ?6 WHERE name = ?1 AND revision_id = ?7",
            params![
                r.config.function_name,
                r.config.revision_id,
                r.code_hex,
                r.config.code_size as i64,
                serde_json::to_string(&r.config)?,
                serde_json::to_string(&r.tags)?,
                expected_revision
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
        Ok(self
            .conn()
            .execute("DELETE FROM functions WHERE name = ?1", [name])?
            == 1)
    }

    fn list_functions(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<FunctionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT config, tags, code_hex FROM functions WHERE name > ?1 ORDER BY name LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after.unwrap_or(""), limit as i64], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (c, t, h) = row?;
            out.push(row_to_record(c, t, h)?);
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
        let n: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM functions WHERE code_hex = ?1",
            [code_hex],
            |r| r.get(0),
        )?;
        Ok(n > 0)
    }
}
