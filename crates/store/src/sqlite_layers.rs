//! Layers in [`SqliteStore`]: version numbers that are never reused (the
//! last one given is kept per name, even after deletes), and each version's
//! record with its policy, replaced by compare-and-set on its revision.

use rusqlite::{OptionalExtension, params};

use crate::sqlite::SqliteStore;
use crate::{LayerVersionRecord, StoreError};

fn layer_rows(
    stmt: &mut rusqlite::Statement<'_>,
    params: impl rusqlite::Params,
) -> Result<Vec<LayerVersionRecord>, StoreError> {
    let rows = stmt.query_map(params, |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        out.push(serde_json::from_str(&row?)?);
    }
    Ok(out)
}

impl SqliteStore {
    pub(crate) fn publish_layer_version_impl(
        &self,
        record: &LayerVersionRecord,
    ) -> Result<u64, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let last: Option<i64> = tx
            .query_row(
                "SELECT last_version FROM layers WHERE name = ?1",
                [&record.name],
                |r| r.get(0),
            )
            .optional()?;
        let version = last.unwrap_or(0) + 1;
        tx.execute(
            "INSERT INTO layers (name, last_version) VALUES (?1, ?2)
             ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
            params![record.name, version],
        )?;
        let stored = LayerVersionRecord {
            version: version as u64,
            ..record.clone()
        };
        tx.execute(
            "INSERT INTO layer_versions (name, version, code_hex, policy_revision, record) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![record.name, version, record.code_hex, record.policy_revision, serde_json::to_string(&stored)?],
        )?;
        tx.commit()?;
        Ok(version as u64)
    }

    pub(crate) fn get_layer_version_impl(
        &self,
        name: &str,
        version: u64,
    ) -> Result<Option<LayerVersionRecord>, StoreError> {
        let row: Option<String> = self
            .conn()
            .query_row(
                "SELECT record FROM layer_versions WHERE name = ?1 AND version = ?2",
                params![name, version as i64],
                |r| r.get(0),
            )
            .optional()?;
        Ok(row.map(|r| serde_json::from_str(&r)).transpose()?)
    }

    pub(crate) fn list_layer_versions_impl(
        &self,
        name: &str,
    ) -> Result<Vec<LayerVersionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT record FROM layer_versions WHERE name = ?1 ORDER BY version DESC")?;
        layer_rows(&mut stmt, [name])
    }

    pub(crate) fn list_layers_impl(&self) -> Result<Vec<LayerVersionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT record FROM layer_versions v WHERE version = (SELECT MAX(version) FROM layer_versions w WHERE w.name = v.name) ORDER BY name",
        )?;
        layer_rows(&mut stmt, [])
    }

    pub(crate) fn delete_layer_version_impl(
        &self,
        name: &str,
        version: u64,
    ) -> Result<bool, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM layer_versions WHERE name = ?1 AND version = ?2",
            params![name, version as i64],
        )? == 1)
    }

    pub(crate) fn update_layer_policy_impl(
        &self,
        record: &LayerVersionRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE layer_versions SET policy_revision = ?3, record = ?4 WHERE name = ?1 AND version = ?2 AND policy_revision = ?5",
            params![record.name, record.version as i64, record.policy_revision, serde_json::to_string(record)?, expected_revision],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::RevisionMismatch {
                kind: "layer version",
                id: format!("{}:{}", record.name, record.version),
            })
        }
    }
}
