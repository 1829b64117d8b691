//! [`ObjectStore`] for [`PgStore`]: every write is one transaction;
//! notification events are inserted in the same transaction as the record
//! that caused them. A write locks its bucket (or upload) row `FOR SHARE`
//! so that a concurrent bucket delete cannot slip between its check and its
//! insert; replacing an object or part reads the replaced row `FOR UPDATE`.

use tokio_postgres::{Row, Transaction};

use crate::objects::{
    BucketDelete, BucketRecord, ObjectRecord, ObjectStore, ObjectWrite, PartRecord, UploadRecord,
};
use crate::pg::{PgStore, big, small, unsigned};
use crate::pg_events::insert_events;
use crate::{AsyncEvent, StoreError};

const OBJECT_COLUMNS: &str = "bucket, key, blob, size, etag, modified_ms, meta";
const PART_COLUMNS: &str = "upload_id, number, blob, size, etag, modified_ms";

fn object_row(r: &Row) -> Result<ObjectRecord, StoreError> {
    Ok(ObjectRecord {
        bucket: r.try_get(0)?,
        key: r.try_get(1)?,
        blob: r.try_get(2)?,
        size: unsigned(r.try_get(3)?),
        etag: r.try_get(4)?,
        modified_ms: r.try_get(5)?,
        meta: r.try_get(6)?,
    })
}

fn bucket_row(r: &Row) -> Result<BucketRecord, StoreError> {
    Ok(BucketRecord {
        name: r.try_get(0)?,
        region: r.try_get(1)?,
        created_ms: r.try_get(2)?,
        notification: r.try_get(3)?,
    })
}

fn upload_row(r: &Row) -> Result<UploadRecord, StoreError> {
    Ok(UploadRecord {
        id: r.try_get(0)?,
        bucket: r.try_get(1)?,
        key: r.try_get(2)?,
        created_ms: r.try_get(3)?,
        meta: r.try_get(4)?,
    })
}

fn part_row(r: &Row) -> Result<PartRecord, StoreError> {
    Ok(PartRecord {
        upload_id: r.try_get(0)?,
        number: small(r.try_get(1)?),
        blob: r.try_get(2)?,
        size: unsigned(r.try_get(3)?),
        etag: r.try_get(4)?,
        modified_ms: r.try_get(5)?,
    })
}

/// Whether the bucket exists, locking it against deletion until commit.
async fn lock_bucket(tx: &Transaction<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt("SELECT 1 FROM buckets WHERE name = $1 FOR SHARE", &[&name])
        .await?
        .is_some())
}

/// Replaces the object's row; the replaced row's blob.
async fn write_object(
    tx: &Transaction<'_>,
    o: &ObjectRecord,
) -> Result<Option<String>, StoreError> {
    let size = big(o.size);
    // Update a present row (read locked), else insert; an insert that a
    // concurrent writer beat finds that row on the next turn.
    loop {
        let old = tx
            .query_opt(
                "SELECT blob FROM objects WHERE bucket = $1 AND key = $2 FOR UPDATE",
                &[&o.bucket, &o.key],
            )
            .await?;
        if let Some(old) = old {
            tx.execute(
                "UPDATE objects SET blob = $3, size = $4, etag = $5, modified_ms = $6, meta = $7
                 WHERE bucket = $1 AND key = $2",
                &[
                    &o.bucket,
                    &o.key,
                    &o.blob,
                    &size,
                    &o.etag,
                    &o.modified_ms,
                    &o.meta,
                ],
            )
            .await?;
            return Ok(Some(old.try_get(0)?));
        }
        let n = tx
            .execute(
                &format!(
                    "INSERT INTO objects ({OBJECT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (bucket, key) DO NOTHING"
                ),
                &[
                    &o.bucket,
                    &o.key,
                    &o.blob,
                    &size,
                    &o.etag,
                    &o.modified_ms,
                    &o.meta,
                ],
            )
            .await?;
        if n == 1 {
            return Ok(None);
        }
    }
}

impl ObjectStore for PgStore {
    fn create_bucket(&self, b: &BucketRecord) -> Result<(), StoreError> {
        let n = self.execute(
            "INSERT INTO buckets (name, region, created_ms, notification) VALUES ($1, $2, $3, $4)
             ON CONFLICT (name) DO NOTHING",
            &[&b.name, &b.region, &b.created_ms, &b.notification],
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
        self.query_opt(
            "SELECT name, region, created_ms, notification FROM buckets WHERE name = $1",
            &[&name],
        )?
        .as_ref()
        .map(bucket_row)
        .transpose()
    }

    fn list_buckets(&self) -> Result<Vec<BucketRecord>, StoreError> {
        self.query(
            "SELECT name, region, created_ms, notification FROM buckets ORDER BY name",
            &[],
        )?
        .iter()
        .map(bucket_row)
        .collect()
    }

    fn delete_bucket(&self, name: &str) -> Result<BucketDelete, StoreError> {
        self.in_tx(async |tx| {
            let found = tx
                .query_opt("SELECT 1 FROM buckets WHERE name = $1 FOR UPDATE", &[&name])
                .await?;
            if found.is_none() {
                return Ok(BucketDelete::Missing);
            }
            let used = tx
                .query_opt(
                    "SELECT 1 FROM objects WHERE bucket = $1 UNION ALL SELECT 1 FROM uploads WHERE bucket = $1 LIMIT 1",
                    &[&name],
                )
                .await?
                .is_some();
            if used {
                return Ok(BucketDelete::NotEmpty);
            }
            tx.execute("DELETE FROM buckets WHERE name = $1", &[&name])
                .await?;
            Ok(BucketDelete::Deleted)
        })
    }

    fn set_bucket_notification(
        &self,
        name: &str,
        notification: Option<&str>,
    ) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE buckets SET notification = $2 WHERE name = $1",
            &[&name, &notification],
        )? > 0)
    }

    fn put_object(
        &self,
        object: &ObjectRecord,
        events: &[AsyncEvent],
    ) -> Result<ObjectWrite, StoreError> {
        let written = self.in_tx(async |tx| {
            if !lock_bucket(tx, &object.bucket).await? {
                return Ok(ObjectWrite::Missing);
            }
            let replaced = write_object(tx, object).await?;
            insert_events(tx, events).await?;
            Ok(ObjectWrite::Written { replaced })
        })?;
        if written != ObjectWrite::Missing {
            self.doorbells.ring(events);
        }
        Ok(written)
    }

    fn get_object(&self, bucket: &str, key: &str) -> Result<Option<ObjectRecord>, StoreError> {
        self.query_opt(
            &format!("SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = $1 AND key = $2"),
            &[&bucket, &key],
        )?
        .as_ref()
        .map(object_row)
        .transpose()
    }

    fn delete_object(
        &self,
        bucket: &str,
        key: &str,
        events: &[AsyncEvent],
    ) -> Result<Option<ObjectRecord>, StoreError> {
        let old = self.in_tx(async |tx| {
            let old = tx
                .query_opt(
                    &format!(
                        "DELETE FROM objects WHERE bucket = $1 AND key = $2 RETURNING {OBJECT_COLUMNS}"
                    ),
                    &[&bucket, &key],
                )
                .await?;
            let old = old.as_ref().map(object_row).transpose()?;
            if old.is_some() {
                insert_events(tx, events).await?;
            }
            Ok(old)
        })?;
        if old.is_some() {
            self.doorbells.ring(events);
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
        // Keys are `COLLATE "C"`: compared and ordered bytewise. A UTF-8
        // string starts with a (UTF-8) prefix by bytes iff by characters.
        self.query(
            &format!(
                "SELECT {OBJECT_COLUMNS} FROM objects
                 WHERE bucket = $1 AND key > $2 AND starts_with(key, $3)
                 ORDER BY key LIMIT $4"
            ),
            &[&bucket, &after, &prefix, &big(limit as u64)],
        )?
        .iter()
        .map(object_row)
        .collect()
    }

    fn create_upload(&self, u: &UploadRecord) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO uploads (id, bucket, key, created_ms, meta) VALUES ($1, $2, $3, $4, $5)",
            &[&u.id, &u.bucket, &u.key, &u.created_ms, &u.meta],
        )?;
        Ok(())
    }

    fn get_upload(&self, id: &str) -> Result<Option<UploadRecord>, StoreError> {
        self.query_opt(
            "SELECT id, bucket, key, created_ms, meta FROM uploads WHERE id = $1",
            &[&id],
        )?
        .as_ref()
        .map(upload_row)
        .transpose()
    }

    fn list_uploads(&self, bucket: &str) -> Result<Vec<UploadRecord>, StoreError> {
        self.query(
            "SELECT id, bucket, key, created_ms, meta FROM uploads WHERE bucket = $1 ORDER BY key, created_ms",
            &[&bucket],
        )?
        .iter()
        .map(upload_row)
        .collect()
    }

    fn put_part(&self, p: &PartRecord) -> Result<ObjectWrite, StoreError> {
        let number = i64::from(p.number);
        let size = big(p.size);
        self.in_tx(async |tx| {
            let upload = tx
                .query_opt(
                    "SELECT 1 FROM uploads WHERE id = $1 FOR SHARE",
                    &[&p.upload_id],
                )
                .await?;
            if upload.is_none() {
                return Ok(ObjectWrite::Missing);
            }
            // The upload's share lock does not order two writers of one
            // part: the replaced row is read locked, as for objects.
            loop {
                let old = tx
                    .query_opt(
                        "SELECT blob FROM parts WHERE upload_id = $1 AND number = $2 FOR UPDATE",
                        &[&p.upload_id, &number],
                    )
                    .await?;
                if let Some(old) = old {
                    tx.execute(
                        "UPDATE parts SET blob = $3, size = $4, etag = $5, modified_ms = $6
                         WHERE upload_id = $1 AND number = $2",
                        &[
                            &p.upload_id,
                            &number,
                            &p.blob,
                            &size,
                            &p.etag,
                            &p.modified_ms,
                        ],
                    )
                    .await?;
                    return Ok(ObjectWrite::Written {
                        replaced: Some(old.try_get(0)?),
                    });
                }
                let n = tx
                    .execute(
                        &format!(
                            "INSERT INTO parts ({PART_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                             ON CONFLICT (upload_id, number) DO NOTHING"
                        ),
                        &[
                            &p.upload_id,
                            &number,
                            &p.blob,
                            &size,
                            &p.etag,
                            &p.modified_ms,
                        ],
                    )
                    .await?;
                if n == 1 {
                    return Ok(ObjectWrite::Written { replaced: None });
                }
            }
        })
    }

    fn list_parts(&self, upload_id: &str) -> Result<Vec<PartRecord>, StoreError> {
        self.query(
            &format!("SELECT {PART_COLUMNS} FROM parts WHERE upload_id = $1 ORDER BY number"),
            &[&upload_id],
        )?
        .iter()
        .map(part_row)
        .collect()
    }

    fn complete_upload(
        &self,
        upload_id: &str,
        object: &ObjectRecord,
        events: &[AsyncEvent],
    ) -> Result<ObjectWrite, StoreError> {
        let written = self.in_tx(async |tx| {
            // Checked before anything is written: `Ok` commits.
            if !lock_bucket(tx, &object.bucket).await? {
                return Ok(ObjectWrite::Missing);
            }
            let n = tx
                .execute("DELETE FROM uploads WHERE id = $1", &[&upload_id])
                .await?;
            if n == 0 {
                return Ok(ObjectWrite::Missing);
            }
            tx.execute("DELETE FROM parts WHERE upload_id = $1", &[&upload_id])
                .await?;
            let replaced = write_object(tx, object).await?;
            insert_events(tx, events).await?;
            Ok(ObjectWrite::Written { replaced })
        })?;
        if written != ObjectWrite::Missing {
            self.doorbells.ring(events);
        }
        Ok(written)
    }

    fn delete_upload(&self, upload_id: &str) -> Result<Option<Vec<PartRecord>>, StoreError> {
        self.in_tx(async |tx| {
            let n = tx
                .execute("DELETE FROM uploads WHERE id = $1", &[&upload_id])
                .await?;
            if n == 0 {
                return Ok(None);
            }
            let rows = tx
                .query(
                    &format!("DELETE FROM parts WHERE upload_id = $1 RETURNING {PART_COLUMNS}"),
                    &[&upload_id],
                )
                .await?;
            let mut parts = rows.iter().map(part_row).collect::<Result<Vec<_>, _>>()?;
            parts.sort_by_key(|p| p.number);
            Ok(Some(parts))
        })
    }

    fn blobs_in_use(&self) -> Result<std::collections::HashSet<String>, StoreError> {
        self.query("SELECT blob FROM objects UNION SELECT blob FROM parts", &[])?
            .iter()
            .map(|r| Ok(r.try_get(0)?))
            .collect()
    }
}
