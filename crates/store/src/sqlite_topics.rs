//! [`TopicStore`] for [`SqliteStore`]: topics, subscriptions and the
//! deliveries publishes owe, in three tables. Every write is one
//! transaction; leasing, retrying and deleting deliveries commit with
//! `synchronous=NORMAL` (a lost commit only repeats a delivery).

use rusqlite::{OptionalExtension, Transaction, params};

use crate::StoreError;
use crate::sqlite::SqliteStore;
use crate::topics::{
    DedupRecord, DeliveryRecord, Publication, SubscriptionRecord, TopicRecord, TopicStore,
};

const TOPIC_COLUMNS: &str = "name, region, attributes, tags, created_ms";
const SUB_COLUMNS: &str = "arn, topic, protocol, endpoint, attributes, token, created_ms";

fn topic_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TopicRecord> {
    Ok(TopicRecord {
        name: r.get(0)?,
        region: r.get(1)?,
        attributes: r.get(2)?,
        tags: r.get(3)?,
        created_ms: r.get(4)?,
    })
}

fn sub_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SubscriptionRecord> {
    Ok(SubscriptionRecord {
        arn: r.get(0)?,
        topic: r.get(1)?,
        protocol: r.get(2)?,
        endpoint: r.get(3)?,
        attributes: r.get(4)?,
        token: r.get(5)?,
        created_ms: r.get(6)?,
    })
}

fn topic_exists(tx: &Transaction<'_>, name: &str) -> Result<bool, StoreError> {
    Ok(tx
        .query_row("SELECT 1 FROM sns_topics WHERE name = ?1", [name], |_| {
            Ok(())
        })
        .optional()?
        .is_some())
}

fn insert_deliveries(
    tx: &Transaction<'_>,
    deliveries: &[DeliveryRecord],
) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO sns_deliveries (subscription, payload, attempts, due_ms) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for d in deliveries {
        stmt.execute(params![
            d.subscription,
            d.payload,
            i64::from(d.attempts),
            d.due_ms
        ])?;
    }
    Ok(())
}

fn not_found(kind: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_owned(),
    }
}

impl TopicStore for SqliteStore {
    fn create_topic(&self, t: &TopicRecord) -> Result<(), StoreError> {
        let n = self.conn().execute(
            &format!(
                "INSERT OR IGNORE INTO sns_topics ({TOPIC_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
            ),
            params![t.name, t.region, t.attributes, t.tags, t.created_ms],
        )?;
        if n == 0 {
            return Err(StoreError::AlreadyExists {
                kind: "topic",
                id: t.name.clone(),
            });
        }
        Ok(())
    }

    fn get_topic(&self, name: &str) -> Result<Option<TopicRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {TOPIC_COLUMNS} FROM sns_topics WHERE name = ?1"),
                [name],
                topic_row,
            )
            .optional()?)
    }

    fn list_topics(&self) -> Result<Vec<TopicRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {TOPIC_COLUMNS} FROM sns_topics ORDER BY name"
        ))?;
        let rows = stmt.query_map([], topic_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn update_topic(&self, t: &TopicRecord) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE sns_topics SET attributes = ?2, tags = ?3 WHERE name = ?1",
            params![t.name, t.attributes, t.tags],
        )?;
        Ok(n > 0)
    }

    fn delete_topic(&self, name: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM sns_topics WHERE name = ?1", [name])?;
        tx.execute("DELETE FROM sns_dedup WHERE topic = ?1", [name])?;
        tx.execute(
            "DELETE FROM sns_deliveries WHERE subscription IN
                 (SELECT arn FROM sns_subscriptions WHERE topic = ?1)",
            [name],
        )?;
        tx.execute("DELETE FROM sns_subscriptions WHERE topic = ?1", [name])?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn create_subscription(
        &self,
        s: &SubscriptionRecord,
        deliveries: &[DeliveryRecord],
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !topic_exists(&tx, &s.topic)? {
            return Err(not_found("topic", &s.topic));
        }
        let n = tx.execute(
            &format!(
                "INSERT OR IGNORE INTO sns_subscriptions ({SUB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
            ),
            params![
                s.arn,
                s.topic,
                s.protocol,
                s.endpoint,
                s.attributes,
                s.token,
                s.created_ms
            ],
        )?;
        if n == 0 {
            return Err(StoreError::AlreadyExists {
                kind: "subscription",
                id: s.arn.clone(),
            });
        }
        insert_deliveries(&tx, deliveries)?;
        tx.commit()?;
        Ok(())
    }

    fn get_subscription(&self, arn: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {SUB_COLUMNS} FROM sns_subscriptions WHERE arn = ?1"),
                [arn],
                sub_row,
            )
            .optional()?)
    }

    fn list_subscriptions(
        &self,
        topic: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!(
            "SELECT {SUB_COLUMNS} FROM sns_subscriptions
             WHERE ?1 IS NULL OR topic = ?1 ORDER BY arn"
        ))?;
        let rows = stmt.query_map([topic], sub_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn update_subscription(&self, s: &SubscriptionRecord) -> Result<bool, StoreError> {
        let n = self.conn().execute(
            "UPDATE sns_subscriptions SET attributes = ?2, token = ?3 WHERE arn = ?1",
            params![s.arn, s.attributes, s.token],
        )?;
        Ok(n > 0)
    }

    fn delete_subscription(&self, arn: &str) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM sns_subscriptions WHERE arn = ?1", [arn])?;
        tx.execute("DELETE FROM sns_deliveries WHERE subscription = ?1", [arn])?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn publish(
        &self,
        topic: &str,
        messages: &[Publication],
        dedup_since_ms: i64,
    ) -> Result<Vec<Option<DedupRecord>>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        if !topic_exists(&tx, topic)? {
            return Err(not_found("topic", topic));
        }
        tx.execute(
            "DELETE FROM sns_dedup WHERE topic = ?1 AND sent_ms < ?2",
            params![topic, dedup_since_ms],
        )?;
        let mut out = Vec::with_capacity(messages.len());
        for m in messages {
            if let Some(d) = &m.dedup {
                let first = tx
                    .query_row(
                        "SELECT message_id, sequence, sent_ms FROM sns_dedup
                         WHERE topic = ?1 AND dedup = ?2",
                        params![topic, d.dedup],
                        |r| {
                            Ok(DedupRecord {
                                dedup: d.dedup.clone(),
                                message_id: r.get(0)?,
                                sequence: r.get(1)?,
                                sent_ms: r.get(2)?,
                            })
                        },
                    )
                    .optional()?;
                if first.is_some() {
                    out.push(first);
                    continue;
                }
                tx.execute(
                    "INSERT INTO sns_dedup (topic, dedup, message_id, sequence, sent_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![topic, d.dedup, d.message_id, d.sequence, d.sent_ms],
                )?;
            }
            insert_deliveries(&tx, &m.deliveries)?;
            out.push(None);
        }
        tx.commit()?;
        Ok(out)
    }

    fn lease_deliveries(
        &self,
        now_ms: i64,
        max: usize,
        lease_until_ms: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.relaxed(|conn| {
            let tx = conn.transaction()?;
            let out: Vec<DeliveryRecord> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT seq, subscription, payload, attempts, due_ms FROM sns_deliveries
                     WHERE due_ms <= ?1 ORDER BY seq LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![now_ms, max as i64], |r| {
                    Ok(DeliveryRecord {
                        seq: r.get(0)?,
                        subscription: r.get(1)?,
                        payload: r.get(2)?,
                        attempts: r.get::<_, i64>(3)?.clamp(0, i64::from(u32::MAX)) as u32,
                        due_ms: r.get(4)?,
                    })
                })?;
                rows.collect::<Result<_, _>>()?
            };
            {
                let mut stmt =
                    tx.prepare_cached("UPDATE sns_deliveries SET due_ms = ?2 WHERE seq = ?1")?;
                for d in &out {
                    stmt.execute(params![d.seq, lease_until_ms])?;
                }
            }
            tx.commit()?;
            Ok(out)
        })
    }

    fn retry_delivery(&self, seq: i64, attempts: u32, due_ms: i64) -> Result<(), StoreError> {
        self.relaxed(|conn| {
            conn.prepare_cached(
                "UPDATE sns_deliveries SET attempts = ?2, due_ms = ?3 WHERE seq = ?1",
            )?
            .execute(params![seq, i64::from(attempts), due_ms])?;
            Ok(())
        })
    }

    fn delete_delivery(&self, seq: i64) -> Result<(), StoreError> {
        self.relaxed(|conn| {
            conn.prepare_cached("DELETE FROM sns_deliveries WHERE seq = ?1")?
                .execute([seq])?;
            Ok(())
        })
    }
}
