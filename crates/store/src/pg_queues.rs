//! [`QueueStore`] for [`PgStore`]: queues and messages in two tables, FIFO
//! deduplication ids in a third. Every write is one transaction. Sends and
//! receives lock the queue's row (`FOR UPDATE`), which orders them per
//! queue as SQLite's single writer does: a FIFO group's lock, a
//! deduplication id and a message in flight are each decided once.

use tokio_postgres::{Row, Transaction};

use crate::StoreError;
use crate::pg::{PgStore, big, small};
use crate::queues::{
    MessageRecord, QueueCounts, QueueRecord, QueueStore, ReceiveRequest, Received, SendOutcome,
    VisibilityChange,
};

const QUEUE_COLUMNS: &str = "name, region, attributes, tags, created_ms, modified_ms";
const MESSAGE_COLUMNS: &str = "queue, id, seq, body, meta, grp, dedup, sent_ms, visible_ms, \
     receive_count, first_receive_ms, receipt";

fn queue_row(r: &Row) -> Result<QueueRecord, StoreError> {
    Ok(QueueRecord {
        name: r.try_get(0)?,
        region: r.try_get(1)?,
        attributes: r.try_get(2)?,
        tags: r.try_get(3)?,
        created_ms: r.try_get(4)?,
        modified_ms: r.try_get(5)?,
    })
}

fn message_row(r: &Row) -> Result<MessageRecord, StoreError> {
    Ok(MessageRecord {
        queue: r.try_get(0)?,
        id: r.try_get(1)?,
        seq: r.try_get(2)?,
        body: r.try_get(3)?,
        meta: r.try_get(4)?,
        group: r.try_get(5)?,
        dedup: r.try_get(6)?,
        sent_ms: r.try_get(7)?,
        visible_ms: r.try_get(8)?,
        receive_count: small(r.try_get(9)?),
        first_receive_ms: r.try_get(10)?,
        receipt: r.try_get(11)?,
    })
}

/// Inserts a message (a new `seq`); returns it.
async fn insert_message(
    tx: &Transaction<'_>,
    queue: &str,
    m: &MessageRecord,
) -> Result<i64, StoreError> {
    let row = tx
        .query_one(
            "INSERT INTO sqs_messages (queue, id, body, meta, grp, dedup, sent_ms, visible_ms,
                 receive_count, first_receive_ms, receipt)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING seq",
            &[
                &queue,
                &m.id,
                &m.body,
                &m.meta,
                &m.group,
                &m.dedup,
                &m.sent_ms,
                &m.visible_ms,
                &i64::from(m.receive_count),
                &m.first_receive_ms,
                &m.receipt,
            ],
        )
        .await?;
    Ok(row.try_get(0)?)
}

/// Whether the queue exists; locks it (`FOR UPDATE`) until commit.
async fn lock_queue(tx: &Transaction<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM sqs_queues WHERE name = $1 FOR UPDATE",
            &[&name],
        )
        .await?
        .is_some())
}

fn no_queue(name: &str) -> StoreError {
    StoreError::NotFound {
        kind: "queue",
        id: name.to_owned(),
    }
}

/// The visible candidates of a receive, oldest first (FIFO: only groups
/// with nothing hidden).
async fn candidates(
    tx: &Transaction<'_>,
    queue: &str,
    req: &ReceiveRequest,
    limit: usize,
) -> Result<Vec<MessageRecord>, StoreError> {
    let fifo_clause = if req.fifo {
        "AND (grp IS NULL OR grp NOT IN (SELECT grp FROM sqs_messages
              WHERE queue = $1 AND visible_ms > $2 AND grp IS NOT NULL))"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {MESSAGE_COLUMNS} FROM sqs_messages
         WHERE queue = $1 AND visible_ms <= $2 {fifo_clause}
         ORDER BY seq LIMIT $3"
    );
    tx.query(&sql, &[&queue, &req.now_ms, &big(limit as u64)])
        .await?
        .iter()
        .map(message_row)
        .collect()
}

impl QueueStore for PgStore {
    fn create_queue(&self, q: &QueueRecord) -> Result<(), StoreError> {
        let n = self.execute(
            &format!(
                "INSERT INTO sqs_queues ({QUEUE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                 ON CONFLICT (name) DO NOTHING"
            ),
            &[
                &q.name,
                &q.region,
                &q.attributes,
                &q.tags,
                &q.created_ms,
                &q.modified_ms,
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
        self.query_opt(
            &format!("SELECT {QUEUE_COLUMNS} FROM sqs_queues WHERE name = $1"),
            &[&name],
        )?
        .as_ref()
        .map(queue_row)
        .transpose()
    }

    fn list_queues(&self) -> Result<Vec<QueueRecord>, StoreError> {
        self.query(
            &format!("SELECT {QUEUE_COLUMNS} FROM sqs_queues ORDER BY name"),
            &[],
        )?
        .iter()
        .map(queue_row)
        .collect()
    }

    fn update_queue(&self, q: &QueueRecord) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE sqs_queues SET attributes = $2, tags = $3, modified_ms = $4 WHERE name = $1",
            &[&q.name, &q.attributes, &q.tags, &q.modified_ms],
        )? > 0)
    }

    fn delete_queue(&self, name: &str) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            let n = tx
                .execute("DELETE FROM sqs_queues WHERE name = $1", &[&name])
                .await?;
            tx.execute("DELETE FROM sqs_messages WHERE queue = $1", &[&name])
                .await?;
            tx.execute("DELETE FROM sqs_dedup WHERE queue = $1", &[&name])
                .await?;
            Ok(n > 0)
        })
    }

    fn send_messages(
        &self,
        queue: &str,
        messages: &[MessageRecord],
        dedup_since_ms: i64,
    ) -> Result<Vec<SendOutcome>, StoreError> {
        self.in_tx(async |tx| {
            if !lock_queue(tx, queue).await? {
                return Err(no_queue(queue));
            }
            tx.execute(
                "DELETE FROM sqs_dedup WHERE queue = $1 AND sent_ms < $2",
                &[&queue, &dedup_since_ms],
            )
            .await?;
            let mut out = Vec::with_capacity(messages.len());
            for m in messages {
                let Some(dedup) = &m.dedup else {
                    out.push(SendOutcome::Sent {
                        seq: insert_message(tx, queue, m).await?,
                    });
                    continue;
                };
                let first = tx
                    .query_opt(
                        "SELECT id, seq FROM sqs_dedup WHERE queue = $1 AND dedup = $2",
                        &[&queue, dedup],
                    )
                    .await?;
                if let Some(first) = first {
                    out.push(SendOutcome::Duplicate {
                        id: first.try_get(0)?,
                        seq: first.try_get(1)?,
                    });
                    continue;
                }
                let seq = insert_message(tx, queue, m).await?;
                tx.execute(
                    "INSERT INTO sqs_dedup (queue, dedup, id, seq, sent_ms) VALUES ($1, $2, $3, $4, $5)",
                    &[&queue, dedup, &m.id, &seq, &m.sent_ms],
                )
                .await?;
                out.push(SendOutcome::Sent { seq });
            }
            Ok(out)
        })
    }

    fn receive_messages(&self, queue: &str, req: &ReceiveRequest) -> Result<Received, StoreError> {
        self.in_tx(async |tx| {
            if !lock_queue(tx, queue).await? {
                return Err(no_queue(queue));
            }
            tx.execute(
                "DELETE FROM sqs_messages WHERE queue = $1 AND sent_ms < $2",
                &[&queue, &req.expire_before_ms],
            )
            .await?;
            let mut taken = Vec::new();
            // Messages moved to the redrive queue free their place (and, on
            // a FIFO queue, the next of their group), so look again after moves.
            loop {
                let mut moved = false;
                let limit = req.max.saturating_sub(taken.len());
                for mut m in candidates(tx, queue, req, limit).await? {
                    if let Some((dlq, max)) = &req.redrive
                        && m.receive_count >= *max
                        && dlq != queue
                        && lock_queue(tx, dlq).await?
                    {
                        tx.execute(
                            "DELETE FROM sqs_messages WHERE queue = $1 AND id = $2",
                            &[&queue, &m.id],
                        )
                        .await?;
                        let moved_msg = MessageRecord {
                            visible_ms: req.now_ms,
                            receive_count: 0,
                            first_receive_ms: None,
                            receipt: None,
                            ..m
                        };
                        tx.execute(
                            "DELETE FROM sqs_messages WHERE queue = $1 AND id = $2",
                            &[dlq, &moved_msg.id],
                        )
                        .await?;
                        insert_message(tx, dlq, &moved_msg).await?;
                        moved = true;
                        continue;
                    }
                    m.receive_count += 1;
                    m.first_receive_ms = m.first_receive_ms.or(Some(req.now_ms));
                    m.visible_ms = req.now_ms.saturating_add(req.visibility_ms);
                    m.receipt = Some(req.receipt.clone());
                    tx.execute(
                        "UPDATE sqs_messages SET receive_count = $3, first_receive_ms = $4,
                             visible_ms = $5, receipt = $6 WHERE queue = $1 AND id = $2",
                        &[
                            &queue,
                            &m.id,
                            &i64::from(m.receive_count),
                            &m.first_receive_ms,
                            &m.visible_ms,
                            &m.receipt,
                        ],
                    )
                    .await?;
                    taken.push(m);
                }
                if !moved || taken.len() >= req.max {
                    break;
                }
            }
            let next_visible_ms: Option<i64> = tx
                .query_one(
                    "SELECT MIN(visible_ms) FROM sqs_messages WHERE queue = $1 AND visible_ms > $2",
                    &[&queue, &req.now_ms],
                )
                .await?
                .try_get(0)?;
            Ok(Received {
                messages: taken,
                next_visible_ms,
            })
        })
    }

    fn delete_message(&self, queue: &str, id: &str, receipt: &str) -> Result<bool, StoreError> {
        Ok(self.execute(
            "DELETE FROM sqs_messages WHERE queue = $1 AND id = $2 AND receipt = $3",
            &[&queue, &id, &receipt],
        )? > 0)
    }

    fn move_message(
        &self,
        queue: &str,
        id: &str,
        receipt: &str,
        message: &MessageRecord,
    ) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            if !lock_queue(tx, &message.queue).await? {
                return Err(no_queue(&message.queue));
            }
            let n = tx
                .execute(
                    "DELETE FROM sqs_messages WHERE queue = $1 AND id = $2 AND receipt = $3",
                    &[&queue, &id, &receipt],
                )
                .await?;
            if n == 0 {
                return Ok(false);
            }
            insert_message(tx, &message.queue, message).await?;
            Ok(true)
        })
    }

    fn change_visibility(
        &self,
        queue: &str,
        id: &str,
        receipt: &str,
        visible_ms: i64,
        now_ms: i64,
    ) -> Result<VisibilityChange, StoreError> {
        let n = self.execute(
            "UPDATE sqs_messages SET visible_ms = $4
             WHERE queue = $1 AND id = $2 AND receipt = $3 AND visible_ms > $5",
            &[&queue, &id, &receipt, &visible_ms, &now_ms],
        )?;
        Ok(if n > 0 {
            VisibilityChange::Changed
        } else {
            VisibilityChange::NotInFlight
        })
    }

    fn purge_queue(&self, queue: &str) -> Result<u64, StoreError> {
        self.execute("DELETE FROM sqs_messages WHERE queue = $1", &[&queue])
    }

    fn queue_counts(&self, queue: &str, now_ms: i64) -> Result<QueueCounts, StoreError> {
        let rows = self.query(
            "SELECT
                 COUNT(*) FILTER (WHERE visible_ms <= $2),
                 COUNT(*) FILTER (WHERE visible_ms > $2 AND receipt IS NOT NULL),
                 COUNT(*) FILTER (WHERE visible_ms > $2 AND receipt IS NULL),
                 MIN(sent_ms)
             FROM sqs_messages WHERE queue = $1",
            &[&queue, &now_ms],
        )?;
        let Some(r) = rows.first() else {
            return Ok(QueueCounts::default());
        };
        Ok(QueueCounts {
            visible: crate::pg::unsigned(r.try_get(0)?),
            in_flight: crate::pg::unsigned(r.try_get(1)?),
            delayed: crate::pg::unsigned(r.try_get(2)?),
            oldest_ms: r.try_get(3)?,
        })
    }
}
