//! [`ObjectStore`] for [`SqliteStore`]: every write is one transaction,
//! committed with `synchronous=FULL`; notification events are inserted in
//! the same transaction as the record that caused them.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::objects::{
    BucketDelete, BucketRecord, ObjectRecord, ObjectStore, ObjectWrite, PartRecord, UploadRecord,
};
use crate::sqlite::SqliteStore;
use crate::{AsyncEvent, StoreError};

const OBJECT_COLUMNS: &str = "bucket, key, blob, size, etag, modified_ms, meta";

fn object_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRecord> {
    Ok(ObjectRecord {
        bucket: r.get(0)?,
        key: r.get(1)?,
        blob: r.get(2)?,
        size: r.get::<_, i64>(3)?.max(0) as u64,
        etag: r.get(4)?,
        modified_ms: r.get(5)?,
        meta: r.get(6)?,
    })
}

fn bucket_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<BucketRecord> {
    Ok(BucketRecord {
        name: r.get(0)?,
        region: r.get(1)?,
        created_ms: r.get(2)?,
        notification: r.get(3)?,
    })
}

fn upload_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UploadRecord> {
    Ok(UploadRecord {
        id: r.get(0)?,
        bucket: r.get(1)?,
        key: r.get(2)?,
        created_ms: r.get(3)?,
        meta: r.get(4)?,
    })
}

fn part_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<PartRecord> {
    Ok(PartRecord {
        upload_id: r.get(0)?,
        number: r.get(1)?,
        blob: r.get(2)?,
        size: r.get::<_, i64>(3)?.max(0) as u64,
        etag: r.get(4)?,
        modified_ms: r.get(5)?,
    })
}

fn bucket_exists(tx: &Transaction<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_row("SELECT 1 FROM buckets WHERE name = ?1", [name], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Replaces the object's row; the replaced row's blob.
fn write_object(tx: &Transaction<'_>, o: &ObjectRecord) -> Result<Option<String>, StoreError> {
    let replaced: Option<String> = tx
        .query_row(
            "SELECT blob FROM objects WHERE bucket = ?1 AND key = ?2",
            params![o.bucket, o.key],
            |r| r.get(0),
        )
        .optional()?;
    tx.execute(
        &format!(
            "INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ),
        params![
            o.bucket,
            o.key,
            o.blob,
            i64::try_from(o.size).unwrap_or(i64::MAX),
            o.etag,
            o.modified_ms,
            o.meta
        ],
    )?;
    Ok(replaced)
}

fn insert_events(tx: &Transaction<'_>, events: &[AsyncEvent]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO async_events (id, function, qualifier, payload, received_ms, attempts, not_before_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for e in events {
        stmt.execute(params![
            e.id,
            e.function,
            e.qualifier,
            e.payload,
            e.received_ms,
            e.attempts,
            e.not_before_ms
        ])?;
    }
    Ok(())
}

impl ObjectStore for SqliteStore {
    fn create_bucket(&self, b: &BucketRecord) -> Result<(), StoreError> {
        let n = self.conn().execute(
            "INSERT OR IGNORE INTO buckets (name, region, created_ms, notification) VALUES (?1, ?2, ?3, ?4)",
            params![b.name, b.region, b.created_ms, b.notification],
        )?;
        if n == 0 {
            return Err(StoreError::AlreadyExists {
                kind: "bucket",
                id: b.name.clone(),
            });
        }
        Ok(())
    }

    fn get_bucket(&self, name: &str) -> Result<Option<BucketRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT name, region, created_ms, notification FROM buckets WHERE name = ?1",
                [name],
                bucket_row,
            )
            .optional()?)
    }

    fn list_buckets(&self) -> Result<Vec<BucketRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare("SELECT name, region, created_ms, notification FROM buckets ORDER BY name")?;
        let rows = stmt.query_map([], bucket_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn delete_bucket(&self, name: &str) -> Result<BucketDelete, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !bucket_exists(&tx, name)? {
            return Ok(BucketDelete::Missing);
        }
        let used = tx
            .query_row(
                "SELECT 1 FROM objects WHERE bucket = ?1 UNION ALL SELECT 1 FROM uploads WHERE bucket = ?1 LIMIT 1",
                [name],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if used {
            return Ok(BucketDelete::NotEmpty);
        }
        tx.execute("DELETE FROM buckets WHERE name = ?1", [name])?;
        tx.commit()?;
        Ok(BucketDelete::Deleted)
    }

    fn set_bucket_notification(
        &self,
        name: &str,
        notification: Option<&str>,
    ) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE buckets SET notification = ?2 WHERE name = ?1",
            params![name, notification],
        )?;
        Ok(n > 0)
    }

    fn put_object(
        &self,
        object: &ObjectRecord,
        events: &[AsyncEvent],
    ) -> Result<ObjectWrite, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !bucket_exists(&tx, &object.bucket)? {
            return Ok(ObjectWrite::Missing);
        }
        let replaced = write_object(&tx, object)?;
        insert_events(&tx, events)?;
        tx.commit()?;
        self.ring(events);
        Ok(ObjectWrite::Written { replaced })
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                params![bucket, key],
                object_row,
            )
            .optional()?)
    }

    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        events: &[AsyncEvent],
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let old = tx
            .query_row(
                &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ?1 AND key = ?2"),
                params![bucket, key],
                object_row,
            )
            .optional()?;
        if old.is_some() {
            tx.execute(
                "DELETE FROM objects WHERE bucket = ?1 AND key = ?2",
                params![bucket, key],
            )?;
            insert_events(&tx, events)?;
            tx.commit()?;
            self.ring(events);
        }
        Ok(old)
    }

    fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        after: &str,
        limit: usize,
    ) -> Result<Vec<ObjectRecord>, StoreError> {
        let conn = self.conn();
        // substr counts characters of TEXT: compare the prefix's bytes instead.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {OBJECT_COLUMNS} FROM objects
             WHERE bucket = ?1 AND key > ?2 AND substr(CAST(key AS BLOB), 1, ?4) = CAST(?3 AS BLOB)
             ORDER BY key LIMIT ?5"
        ))?;
        let rows = stmt.query_map(
            params![
                bucket,
                after,
                prefix,
                prefix.len() as i64,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            object_row,
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn create_upload(&self, u: &UploadRecord) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO uploads (id, bucket, key, created_ms, meta) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![u.id, u.bucket, u.key, u.created_ms, u.meta],
        )?;
        Ok(())
    }

    fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT id, bucket, key, created_ms, meta FROM uploads WHERE id = ?1",
                [id],
                upload_row,
            )
            .optional()?)
    }

    fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, bucket, key, created_ms, meta FROM uploads WHERE bucket = ?1 ORDER BY key, created_ms",
        )?;
        let rows = stmt.query_map([bucket], upload_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn put_part(&self, p: &PartRecord) -> Result<ObjectWrite, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let exists = tx
            .query_row(
                "SELECT 1 FROM uploads WHERE id = ?1",
                [&p.upload_id],
                |_| Ok(()),
            )
            .optional()?
            .is_some();
        if !exists {
            return Ok(ObjectWrite::Missing);
        }
        let replaced: Option<String> = tx
            .query_row(
                "SELECT blob FROM parts WHERE upload_id = ?1 AND number = ?2",
                params![p.upload_id, p.number],
                |r| r.get(0),
            )
            .optional()?;
        tx.execute(
            "INSERT OR REPLACE INTO parts (upload_id, number, blob, size, etag, modified_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                p.upload_id,
                p.number,
                p.blob,
                i64::try_from(p.size).unwrap_or(i64::MAX),
                p.etag,
                p.modified_ms
            ],
        )?;
        tx.commit()?;
        Ok(ObjectWrite::Written { replaced })
    }

    fn list_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT upload_id, number, blob, size, etag, modified_ms FROM parts WHERE upload_id = ?1 ORDER BY number",
        )?;
        let rows = stmt.query_map([upload_id], part_row)?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        events: &[AsyncEvent],
    ) -> Result<ObjectWrite, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM uploads WHERE id = ?1", [upload_id])?;
        if n == 0 || !bucket_exists(&tx, &object.bucket)? {
            return Ok(ObjectWrite::Missing);
        }
        tx.execute("DELETE FROM parts WHERE upload_id = ?1", [upload_id])?;
        let replaced = write_object(&tx, object)?;
        insert_events(&tx, events)?;
        tx.commit()?;
        self.ring(events);
        Ok(ObjectWrite::Written { replaced })
    }

    fn delete_upload(&self, upload_id: &str) -> Result<Option<Vec<PartRecord>>, StoreError> {
        let parts = self.list_parts(upload_id)?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM uploads WHERE id = ?1", [upload_id])?;
        if n == 0 {
            return Ok(None);
        }
        tx.execute("DELETE FROM parts WHERE upload_id = ?1", [upload_id])?;
        tx.commit()?;
        Ok(Some(parts))
    }

    fn blobs_in_use(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT blob FROM objects UNION SELECT blob FROM parts")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
