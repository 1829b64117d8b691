//! Moving a whole metadata store between SQLite and PostgreSQL (`lambdad
//! store export|import`): every table of the schema, row by row, in one
//! transaction of the target, which must be empty. Both schemas have the
//! same tables and columns (`pg_migrations.rs` ports `migrations.rs`), so
//! the copy is generic: each column is converted by its PostgreSQL type.
//! Sealed environment variables are copied as sealed: both stores of a data
//! directory use its key. Counters (`last_version`, message and delivery
//! sequence numbers) come along, so numbers are still never reused.
//!
//! A table is held in memory while it is copied (metadata only: object and
//! code bytes live in files).

use rusqlite::types::Value;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Transaction};

use crate::pg::PgStore;
use crate::{SqliteStore, StoreError};

/// How a column is stored, by its PostgreSQL type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Int,
    Text,
    Bytes,
    Bool,
}

/// A table of the schema and its columns.
#[derive(Debug)]
struct Table {
    name: String,
    columns: Vec<(String, Kind)>,
    /// The column PostgreSQL generates (`seq`), if any.
    identity: Option<String>,
}

/// What a copy moved: rows per table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// (table, rows), in schema order.
    pub tables: Vec<(String, u64)>,
}

fn corrupt(what: String) -> StoreError {
    StoreError::Corrupt(serde::de::Error::custom(what))
}

/// The store's tables (but the migrations' own), from PostgreSQL's catalog.
async fn tables(tx: &Transaction<'_>) -> Result<Vec<Table>, StoreError> {
    let rows = tx
        .query(
            "SELECT c.table_name::TEXT, c.column_name::TEXT, c.data_type::TEXT, c.is_identity::TEXT
             FROM information_schema.columns c
             JOIN information_schema.tables t
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name
             WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
               AND c.table_name <> 'lambdad_schema' AND c.table_name NOT LIKE 'cluster\\_%'
             ORDER BY c.table_name, c.ordinal_position",
            &[],
        )
        .await?;
    let mut out: Vec<Table> = Vec::new();
    for r in &rows {
        let (table, column, ty, identity): (String, String, String, String) =
            (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, r.try_get(3)?);
        let kind = match ty.as_str() {
            "bigint" | "integer" => Kind::Int,
            "text" => Kind::Text,
            "bytea" => Kind::Bytes,
            "boolean" => Kind::Bool,
            other => return Err(corrupt(format!("{table}.{column} has type {other}"))),
        };
        if out.last().is_none_or(|t| t.name != table) {
            out.push(Table {
                name: table,
                columns: Vec::new(),
                identity: None,
            });
        }
        if let Some(t) = out.last_mut() {
            if identity == "YES" {
                t.identity = Some(column.clone());
            }
            t.columns.push((column, kind));
        }
    }
    Ok(out)
}

fn column_list(t: &Table) -> String {
    t.columns
        .iter()
        .map(|(c, _)| format!("\"{c}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A SQLite value as a PostgreSQL parameter of `kind`.
fn to_pg(value: Value, kind: Kind, at: &str) -> Result<Box<dyn ToSql + Sync>, StoreError> {
    Ok(match (value, kind) {
        (Value::Null, Kind::Int) => Box::new(None::<i64>),
        (Value::Null, Kind::Text) => Box::new(None::<String>),
        (Value::Null, Kind::Bytes) => Box::new(None::<Vec<u8>>),
        (Value::Null, Kind::Bool) => Box::new(None::<bool>),
        (Value::Integer(i), Kind::Int) => Box::new(i),
        (Value::Integer(i), Kind::Bool) => Box::new(i != 0),
        (Value::Text(s), Kind::Text) => Box::new(s),
        (Value::Blob(b), Kind::Bytes) => Box::new(b),
        (v, k) => return Err(corrupt(format!("{at}: {v:?} is no {k:?}"))),
    })
}

/// Column `i` of a PostgreSQL row as a SQLite value.
fn to_sqlite(row: &Row, i: usize, kind: Kind) -> Result<Value, StoreError> {
    Ok(match kind {
        Kind::Int => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Integer),
        Kind::Text => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
        Kind::Bytes => row
            .try_get::<_, Option<Vec<u8>>>(i)?
            .map_or(Value::Null, Value::Blob),
        Kind::Bool => row
            .try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, |b| Value::Integer(i64::from(b))),
    })
}

/// Fails unless SQLite has exactly the tables `tables` names (a schema
/// drift between the backends would otherwise drop data silently).
fn check_same_tables(conn: &rusqlite::Connection, tables: &[Table]) -> Result<(), StoreError> {
    let mut stmt = conn.prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )?;
    let sqlite: Vec<String> = stmt
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut pg: Vec<&str> = tables.iter().map(|t| t.name.as_str()).collect();
    pg.sort_unstable();
    if sqlite != pg {
        return Err(corrupt(format!(
            "the SQLite tables {sqlite:?} are not PostgreSQL's {pg:?}"
        )));
    }
    Ok(())
}

async fn ensure_empty_pg(tx: &Transaction<'_>, t: &Table) -> Result<(), StoreError> {
    let present: i64 = tx
        .query_one(&format!("SELECT COUNT(*) FROM \"{}\"", t.name), &[])
        .await?
        .try_get(0)?;
    if present > 0 {
        return Err(StoreError::AlreadyExists {
            kind: "metadata in the target store",
            id: t.name.clone(),
        });
    }
    Ok(())
}

/// Inserts SQLite's `rows` of `t` (identity columns as given, the
/// sequence then set past them).
async fn insert_pg(
    tx: &Transaction<'_>,
    t: &Table,
    rows: Vec<Vec<Value>>,
) -> Result<(), StoreError> {
    let columns = column_list(t);
    let placeholders = (1..=t.columns.len())
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let overriding = if t.identity.is_some() {
        "OVERRIDING SYSTEM VALUE"
    } else {
        ""
    };
    let insert = tx
        .prepare(&format!(
            "INSERT INTO \"{}\" ({columns}) {overriding} VALUES ({placeholders})",
            t.name
        ))
        .await?;
    for row in rows {
        let params = row
            .into_iter()
            .zip(&t.columns)
            .map(|(v, (c, kind))| to_pg(v, *kind, &format!("{}.{c}", t.name)))
            .collect::<Result<Vec<_>, _>>()?;
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(AsRef::as_ref).collect();
        tx.execute(&insert, &refs).await?;
    }
    if let Some(id) = &t.identity {
        // The next generated number follows the copied ones.
        tx.execute(
            &format!(
                "SELECT setval(pg_get_serial_sequence('\"{0}\"', '{id}'),
                     COALESCE((SELECT MAX(\"{id}\") FROM \"{0}\"), 0) + 1, false)",
                t.name
            ),
            &[],
        )
        .await?;
    }
    Ok(())
}

impl PgStore {
    /// Copies every row of the SQLite store `from` into this store, which
    /// must be empty.
    pub fn import_from(&self, from: &SqliteStore) -> Result<CopyReport, StoreError> {
        let tables = self.in_tx(async |tx| tables(tx).await)?;
        let data = {
            let conn = from.conn();
            check_same_tables(&conn, &tables)?;
            let mut data = Vec::with_capacity(tables.len());
            for t in &tables {
                let n = t.columns.len();
                let mut stmt =
                    conn.prepare(&format!("SELECT {} FROM \"{}\"", column_list(t), t.name))?;
                let rows = stmt
                    .query_map([], |r| (0..n).map(|i| r.get::<_, Value>(i)).collect())?
                    .collect::<Result<Vec<Vec<Value>>, _>>()?;
                data.push(rows);
            }
            data
        };
        self.in_tx(async |tx| {
            let mut report = CopyReport::default();
            for t in &tables {
                ensure_empty_pg(tx, t).await?;
            }
            for (t, rows) in tables.iter().zip(data) {
                let count = rows.len() as u64;
                insert_pg(tx, t, rows).await?;
                report.tables.push((t.name.clone(), count));
            }
            Ok(report)
        })
    }

    /// Copies every row of this store into the SQLite store `to`, which
    /// must be empty.
    pub fn export_to(&self, to: &SqliteStore) -> Result<CopyReport, StoreError> {
        let (tables, data) = self.in_tx(async |tx| {
            let tables = tables(tx).await?;
            let mut data = Vec::with_capacity(tables.len());
            for t in &tables {
                data.push(
                    tx.query(
                        &format!("SELECT {} FROM \"{}\"", column_list(t), t.name),
                        &[],
                    )
                    .await?,
                );
            }
            Ok((tables, data))
        })?;
        let mut conn = to.conn();
        let sqlite = conn.transaction()?;
        let mut report = CopyReport::default();
        for (t, rows) in tables.iter().zip(&data) {
            let present: i64 =
                sqlite.query_row(&format!("SELECT COUNT(*) FROM \"{}\"", t.name), [], |r| {
                    r.get(0)
                })?;
            if present > 0 {
                return Err(StoreError::AlreadyExists {
                    kind: "metadata in the target store",
                    id: t.name.clone(),
                });
            }
            let placeholders = (1..=t.columns.len())
                .map(|i| format!("?{i}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut insert = sqlite.prepare(&format!(
                "INSERT INTO \"{}\" ({}) VALUES ({placeholders})",
                t.name,
                column_list(t)
            ))?;
            for row in rows {
                let values = t
                    .columns
                    .iter()
                    .enumerate()
                    .map(|(i, (_, kind))| to_sqlite(row, i, *kind))
                    .collect::<Result<Vec<_>, _>>()?;
                insert.execute(rusqlite::params_from_iter(values))?;
            }
            report.tables.push((t.name.clone(), rows.len() as u64));
        }
        sqlite.commit()?;
        Ok(report)
    }
}
