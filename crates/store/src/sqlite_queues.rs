//! [`QueueStore`] for [`SqliteStore`]: queues and messages in two tables,
//! FIFO deduplication ids in a third (they outlive the messages they
//! deduplicate). Every write is one transaction.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::StoreError;
use crate::queues::{
    MessageRecord, QueueCounts, QueueRecord, QueueStore, ReceiveRequest, Received, SendOutcome,
    VisibilityChange,
};
use crate::sqlite::SqliteStore;

const QUEUE_COLUMNS: &str = "name, region, attributes, tags, created_ms, modified_ms";
const MESSAGE_COLUMNS: &str = "queue, id, seq, body, meta, grp, dedup, sent_ms, visible_ms, \
     receive_count, first_receive_ms, receipt";

fn queue_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<QueueRecord> {
    Ok(QueueRecord {
        name: r.get(0)?,
        region: r.get(1)?,
        attributes: r.get(2)?,
        tags: r.get(3)?,
        created_ms: r.get(4)?,
        modified_ms: r.get(5)?,
    })
}

fn message_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<MessageRecord> {
    Ok(MessageRecord {
        queue: r.get(0)?,
        id: r.get(1)?,
        seq: r.get(2)?,
        body: r.get(3)?,
        meta: r.get(4)?,
        group: r.get(5)?,
        dedup: r.get(6)?,
        sent_ms: r.get(7)?,
        visible_ms: r.get(8)?,
        receive_count: r.get::<_, i64>(9)?.clamp(0, i64::from(u32::MAX)) as u32,
        first_receive_ms: r.get(10)?,
        receipt: r.get(11)?,
    })
}

/// Inserts a message (a new `seq`); returns it.
fn insert_message(tx: &Transaction<'_>, queue: &str, m: &MessageRecord) -> Result<i64, StoreError> {
    tx.execute(
        "INSERT INTO sqs_messages (queue, id, body, meta, grp, dedup, sent_ms, visible_ms,
             receive_count, first_receive_ms, receipt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            queue,
            m.id,
            m.body,
            m.meta,
            m.group,
            m.dedup,
            m.sent_ms,
            m.visible_ms,
            i64::from(m.receive_count),
            m.first_receive_ms,
            m.receipt
        ],
    )?;
    Ok(tx.last_insert_rowid())
}

fn queue_exists(tx: &Transaction<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_row("SELECT 1 FROM sqs_queues WHERE name = ?1", [name], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

/// The visible candidates of a receive, oldest first (FIFO: only groups
/// with nothing hidden).
fn candidates(
    tx: &Transaction<'_>,
    queue: &str,
    req: &ReceiveRequest,
    limit: usize,
) -> Result<Vec<MessageRecord>, StoreError> {
    let fifo_clause = if req.fifo {
        "AND (grp IS NULL OR grp NOT IN (SELECT grp FROM sqs_messages
              WHERE queue = ?1 AND visible_ms > ?2 AND grp IS NOT NULL))"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM sqs_messages
         WHERE queue = ?1 AND visible_ms <= ?2 {fifo_clause}
         ORDER BY seq LIMIT ?3"
    );
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt.query_map(params![queue, req.now_ms, limit as i64], message_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

impl QueueStore for SqliteStore {
    fn create_queue(&self, q: &QueueRecord) -> Result<(), StoreError> {
        let n = self.conn().execute(
            &format!(
                "INSERT OR IGNORE INTO sqs_queues ({QUEUE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ),
            params![
                q.name,
                q.region,
                q.attributes,
                q.tags,
                q.created_ms,
                q.modified_ms
            ],
        )?;
        if n == 0 {
            return Err(StoreError::AlreadyExists {
                kind: "queue",
                id: q.name.clone(),
            });
        }
        Ok(())
    }

    fn get_queue(&self, name: &str) -> Result<Option<QueueRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {QUEUE_COLUMNS} FROM sqs_queues WHERE name = ?1"),
                [name],
                queue_row,
            )
            .optional()?)
    }

    fn list_queues(&self) -> Result<Vec<QueueRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {QUEUE_COLUMNS} FROM sqs_queues ORDER BY name"
        ))?;
        let rows = stmt.query_map([], queue_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn update_queue(&self, q: &QueueRecord) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE sqs_queues SET attributes = ?2, tags = ?3, modified_ms = ?4 WHERE name = ?1",
            params![q.name, q.attributes, q.tags, q.modified_ms],
        )?;
        Ok(n > 0)
    }

    fn delete_queue(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM sqs_queues WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM sqs_messages WHERE queue = ?1", [name])?;
        tx.execute("DELETE FROM sqs_dedup WHERE queue = ?1", [name])?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn send_messages(
        &self,
        queue: &str,
        messages: &[MessageRecord],
        dedup_since_ms: i64,
    ) -> Result<Vec<SendOutcome>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !queue_exists(&tx, queue)? {
            return Err(StoreError::NotFound {
                kind: "queue",
                id: queue.to_owned(),
            });
        }
        tx.execute(
            "DELETE FROM sqs_dedup WHERE queue = ?1 AND sent_ms < ?2",
            params![queue, dedup_since_ms],
        )?;
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            if let Some(dedup) = &m.dedup {
                let first: Option<(String, i64)> = tx
                    .query_row(
                        "SELECT id, seq FROM sqs_dedup WHERE queue = ?1 AND dedup = ?2",
                        params![queue, dedup],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                if let Some((id, seq)) = first {
                    out.push(SendOutcome::Duplicate { id, seq });
                    continue;
                }
                let seq = insert_message(&tx, queue, m)?;
                tx.execute(
                    "INSERT INTO sqs_dedup (queue, dedup, id, seq, sent_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![queue, dedup, m.id, seq, m.sent_ms],
                )?;
                out.push(SendOutcome::Sent { seq });
            } else {
                let seq = insert_message(&tx, queue, m)?;
                out.push(SendOutcome::Sent { seq });
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn receive_messages(&self, queue: &str, req: &ReceiveRequest) -> Result<Received, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !queue_exists(&tx, queue)? {
            return Err(StoreError::NotFound {
                kind: "queue",
                id: queue.to_owned(),
            });
        }
        tx.execute(
            "DELETE FROM sqs_messages WHERE queue = ?1 AND sent_ms < ?2",
            params![queue, req.expire_before_ms],
        )?;
        let mut taken = Vec::new();
        // Messages moved to the redrive queue free their place (and, on a
        // FIFO queue, the next of their group), so look again after moves.
        loop {
            let mut moved = false;
            for mut m in candidates(&tx, queue, req, req.max - taken.len())? {
                if let Some((dlq, max)) = &req.redrive
                    && m.receive_count >= *max
                    && dlq != queue
                    && queue_exists(&tx, dlq)?
                {
                    tx.execute(
                        "DELETE FROM sqs_messages WHERE queue = ?1 AND id = ?2",
                        params![queue, m.id],
                    )?;
                    let moved_msg = MessageRecord {
                        visible_ms: req.now_ms,
                        receive_count: 0,
                        first_receive_ms: None,
                        receipt: None,
                        ..m
                    };
                    tx.execute(
                        "DELETE FROM sqs_messages WHERE queue = ?1 AND id = ?2",
                        params![dlq, moved_msg.id],
                    )?;
                    insert_message(&tx, dlq, &moved_msg)?;
                    moved = true;
                    continue;
                }
                m.receive_count += 1;
                m.first_receive_ms = m.first_receive_ms.or(Some(req.now_ms));
                m.visible_ms = req.now_ms + req.visibility_ms;
                m.receipt = Some(req.receipt.clone());
                tx.execute(
                    "UPDATE sqs_messages SET receive_count = ?3, first_receive_ms = ?4,
                         visible_ms = ?5, receipt = ?6 WHERE queue = ?1 AND id = ?2",
                    params![
                        queue,
                        m.id,
                        i64::from(m.receive_count),
                        m.first_receive_ms,
                        m.visible_ms,
                        m.receipt
                    ],
                )?;
                taken.push(m);
            }
            if !moved || taken.len() >= req.max {
                break;
            }
        }
        let next_visible_ms: Option<i64> = tx.query_row(
            "SELECT MIN(visible_ms) FROM sqs_messages WHERE queue = ?1 AND visible_ms > ?2",
            params![queue, req.now_ms],
            |r| r.get(0),
        )?;
        tx.commit()?;
        Ok(Received {
            messages: taken,
            next_visible_ms,
        })
    }

    fn delete_message(&self, queue: &str, id: &str, receipt: &str) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "DELETE FROM sqs_messages WHERE queue = ?1 AND id = ?2 AND receipt = ?3",
            params![queue, id, receipt],
        )?;
        Ok(n > 0)
    }

    fn move_message(
        &self,
        queue: &str,
        id: &str,
        receipt: &str,
        message: &MessageRecord,
    ) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !queue_exists(&tx, &message.queue)? {
            return Err(StoreError::NotFound {
                kind: "queue",
                id: message.queue.clone(),
            });
        }
        let n = tx.execute(
            "DELETE FROM sqs_messages WHERE queue = ?1 AND id = ?2 AND receipt = ?3",
            params![queue, id, receipt],
        )?;
        if n == 0 {
            return Ok(false);
        }
        insert_message(&tx, &message.queue, message)?;
        tx.commit()?;
        Ok(true)
    }

    fn change_visibility(
        &self,
        queue: &str,
        id: &str,
        receipt: &str,
        visible_ms: i64,
        now_ms: i64,
    ) -> Result<VisibilityChange, StoreError> {
        let n = self.conn().execute(
            "UPDATE sqs_messages SET visible_ms = ?4
             WHERE queue = ?1 AND id = ?2 AND receipt = ?3 AND visible_ms > ?5",
            params![queue, id, receipt, visible_ms, now_ms],
        )?;
        Ok(if n > 0 {
            VisibilityChange::Changed
        } else {
            VisibilityChange::NotInFlight
        })
    }

    fn purge_queue(&self, queue: &str) -> Result<u64, StoreError> {
        let n = self
            .conn()
            .execute("DELETE FROM sqs_messages WHERE queue = ?1", [queue])?;
        Ok(n as u64)
    }

    fn queue_counts(&self, queue: &str, now_ms: i64) -> Result<QueueCounts, StoreError> {
        Ok(self.conn().query_row(
            "SELECT
                 COALESCE(SUM(visible_ms <= ?2), 0),
                 COALESCE(SUM(visible_ms > ?2 AND receipt IS NOT NULL), 0),
                 COALESCE(SUM(visible_ms > ?2 AND receipt IS NULL), 0),
                 MIN(sent_ms)
             FROM sqs_messages WHERE queue = ?1",
            params![queue, now_ms],
            |r| {
                Ok(QueueCounts {
                    visible: r.get::<_, i64>(0)?.max(0) as u64,
                    in_flight: r.get::<_, i64>(1)?.max(0) as u64,
                    delayed: r.get::<_, i64>(2)?.max(0) as u64,
                    oldest_ms: r.get(3)?,
                })
            },
        )?)
    }
}
