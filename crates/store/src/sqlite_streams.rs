//! Stream event source mappings' shard checkpoints in [`SqliteStore`]: one
//! row per mapping and shard, replaced after every processed batch.

use rusqlite::params;

use crate::sqlite::SqliteStore;
use crate::{StoreError, StreamCheckpoint};

impl SqliteStore {
    pub(crate) fn stream_checkpoints_impl(
        &self,
        mapping: &str,
    ) -> Result<Vec<StreamCheckpoint>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT mapping, shard, sequence, ended FROM stream_checkpoints
             WHERE mapping = ?1 ORDER BY shard",
        )?;
        let rows = stmt.query_map([mapping], |r| {
            Ok(StreamCheckpoint {
                mapping: r.get(0)?,
                shard: r.get(1)?,
                sequence: r.get(2)?,
                ended: r.get::<_, i64>(3)? != 0,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub(crate) fn put_stream_checkpoint_impl(
        &self,
        cp: &StreamCheckpoint,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO stream_checkpoints (mapping, shard, sequence, ended) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (mapping, shard) DO UPDATE SET sequence = excluded.sequence, ended = excluded.ended",
            params![cp.mapping, cp.shard, cp.sequence, i64::from(cp.ended)],
        )?;
        Ok(())
    }

    pub(crate) fn delete_stream_checkpoints_impl(&self, mapping: &str) -> Result<u64, StoreError> {
        let n = self.conn().execute(
            "DELETE FROM stream_checkpoints WHERE mapping = ?1",
            [mapping],
        )?;
        Ok(n as u64)
    }
}
