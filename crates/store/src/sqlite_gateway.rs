//! API Gateway HTTP APIs in [`SqliteStore`]: one row per API holding the
//! whole API (routes, integrations, stages) as a document, replaced by
//! compare-and-set on its revision so that concurrent writes never lose one
//! another.

use rusqlite::{OptionalExtension, params};

use crate::sqlite::SqliteStore;
use crate::{GatewayApiRecord, StoreError};

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<GatewayApiRecord> {
    Ok(GatewayApiRecord {
        api_id: r.get(0)?,
        revision: r.get(1)?,
        body: r.get(2)?,
    })
}

impl SqliteStore {
    pub(crate) fn create_gateway_api_impl(&self, api: &GatewayApiRecord) -> Result<(), StoreError> {
        let res = self.conn().execute(
            "INSERT INTO gateway_apis (api_id, revision, body) VALUES (?1, ?2, ?3)",
            params![api.api_id, api.revision, api.body],
        );
        match res {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Err(StoreError::AlreadyExists {
                    kind: "api",
                    id: api.api_id.clone(),
                })
            }
            other => other.map(|_| ()).map_err(Into::into),
        }
    }

    pub(crate) fn get_gateway_api_impl(
        &self,
        api_id: &str,
    ) -> Result<Option<GatewayApiRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT api_id, revision, body FROM gateway_apis WHERE api_id = ?1",
                [api_id],
                row,
            )
            .optional()?)
    }

    pub(crate) fn list_gateway_apis_impl(&self) -> Result<Vec<GatewayApiRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare("SELECT api_id, revision, body FROM gateway_apis ORDER BY api_id")?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    pub(crate) fn update_gateway_api_impl(
        &self,
        api: &GatewayApiRecord,
        expected_revision: &str,
    ) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "UPDATE gateway_apis SET revision = ?2, body = ?3 WHERE api_id = ?1 AND revision = ?4",
            params![api.api_id, api.revision, api.body, expected_revision],
        )?;
        if n == 1 {
            Ok(())
        } else {
            Err(StoreError::RevisionMismatch {
                kind: "api",
                id: api.api_id.clone(),
            })
        }
    }

    pub(crate) fn delete_gateway_api_impl(&self, api_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .conn()
            .execute("DELETE FROM gateway_apis WHERE api_id = ?1", [api_id])?
            == 1)
    }
}
