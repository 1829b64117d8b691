//! [`TopicStore`] for [`PgStore`]: topics, subscriptions and the deliveries
//! publishes owe, in three tables (and FIFO deduplication ids in a fourth).
//! Every write is one transaction. A publish locks its topic's row
//! (`FOR UPDATE`: a deduplication id is decided once); a subscription locks
//! it `FOR SHARE` against a concurrent delete. Leasing deliveries skips
//! rows another leaser holds.

use tokio_postgres::{Row, Transaction};

use crate::StoreError;
use crate::pg::{PgStore, big, small};
use crate::topics::{
    DedupRecord, DeliveryRecord, Publication, SubscriptionRecord, TopicRecord, TopicStore,
};

const TOPIC_COLUMNS: &str = "name, region, attributes, tags, created_ms";
const SUB_COLUMNS: &str = "arn, topic, protocol, endpoint, attributes, token, created_ms";

fn topic_row(r: &Row) -> Result<TopicRecord, StoreError> {
    Ok(TopicRecord {
        name: r.try_get(0)?,
        region: r.try_get(1)?,
        attributes: r.try_get(2)?,
        tags: r.try_get(3)?,
        created_ms: r.try_get(4)?,
    })
}

fn sub_row(r: &Row) -> Result<SubscriptionRecord, StoreError> {
    Ok(SubscriptionRecord {
        arn: r.try_get(0)?,
        topic: r.try_get(1)?,
        protocol: r.try_get(2)?,
        endpoint: r.try_get(3)?,
        attributes: r.try_get(4)?,
        token: r.try_get(5)?,
        created_ms: r.try_get(6)?,
    })
}

fn delivery_row(r: &Row) -> Result<DeliveryRecord, StoreError> {
    Ok(DeliveryRecord {
        seq: r.try_get(0)?,
        subscription: r.try_get(1)?,
        payload: r.try_get(2)?,
        attempts: small(r.try_get(3)?),
        due_ms: r.try_get(4)?,
    })
}

/// Whether the topic exists, locking its row (`FOR UPDATE` or `FOR SHARE`).
async fn lock_topic(tx: &Transaction<'_>, name: &str, share: bool) -> Result<bool, StoreError> {
    let sql = if share {
        "SELECT 1 FROM sns_topics WHERE name = $1 FOR SHARE"
    } else {
        "SELECT 1 FROM sns_topics WHERE name = $1 FOR UPDATE"
    };
    Ok(tx.query_opt(sql, &[&name]).await?.is_some())
}

async fn insert_deliveries(
    tx: &Transaction<'_>,
    deliveries: &[DeliveryRecord],
) -> Result<(), StoreError> {
    if deliveries.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare(
            "INSERT INTO sns_deliveries (subscription, payload, attempts, due_ms) VALUES ($1, $2, $3, $4)",
        )
        .await?;
    for d in deliveries {
        tx.execute(
            &stmt,
            &[
                &d.subscription,
                &d.payload,
                &i64::from(d.attempts),
                &d.due_ms,
            ],
        )
        .await?;
    }
    Ok(())
}

fn not_found(kind: &'static str, id: &str) -> StoreError {
    StoreError::NotFound {
        kind,
        id: id.to_owned(),
    }
}

impl TopicStore for PgStore {
    fn create_topic(&self, t: &TopicRecord) -> Result<(), StoreError> {
        let n = self.execute(
            &format!(
                "INSERT INTO sns_topics ({TOPIC_COLUMNS}) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO NOTHING"
            ),
            &[&t.name, &t.region, &t.attributes, &t.tags, &t.created_ms],
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
        self.query_opt(
            &format!("SELECT {TOPIC_COLUMNS} FROM sns_topics WHERE name = $1"),
            &[&name],
        )?
        .as_ref()
        .map(topic_row)
        .transpose()
    }

    fn list_topics(&self) -> Result<Vec<TopicRecord>, StoreError> {
        self.query(
            &format!("SELECT {TOPIC_COLUMNS} FROM sns_topics ORDER BY name"),
            &[],
        )?
        .iter()
        .map(topic_row)
        .collect()
    }

    fn update_topic(&self, t: &TopicRecord) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE sns_topics SET attributes = $2, tags = $3 WHERE name = $1",
            &[&t.name, &t.attributes, &t.tags],
        )? > 0)
    }

    fn delete_topic(&self, name: &str) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            let n = tx
                .execute("DELETE FROM sns_topics WHERE name = $1", &[&name])
                .await?;
            tx.execute("DELETE FROM sns_dedup WHERE topic = $1", &[&name])
                .await?;
            tx.execute(
                "DELETE FROM sns_deliveries WHERE subscription IN
                     (SELECT arn FROM sns_subscriptions WHERE topic = $1)",
                &[&name],
            )
            .await?;
            tx.execute("DELETE FROM sns_subscriptions WHERE topic = $1", &[&name])
                .await?;
            Ok(n > 0)
        })
    }

    fn create_subscription(
        &self,
        s: &SubscriptionRecord,
        deliveries: &[DeliveryRecord],
    ) -> Result<(), StoreError> {
        self.in_tx(async |tx| {
            if !lock_topic(tx, &s.topic, true).await? {
                return Err(not_found("topic", &s.topic));
            }
            let n = tx
                .execute(
                    &format!(
                        "INSERT INTO sns_subscriptions ({SUB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (arn) DO NOTHING"
                    ),
                    &[
                        &s.arn,
                        &s.topic,
                        &s.protocol,
                        &s.endpoint,
                        &s.attributes,
                        &s.token,
                        &s.created_ms,
                    ],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::AlreadyExists {
                    kind: "subscription",
                    id: s.arn.clone(),
                });
            }
            insert_deliveries(tx, deliveries).await
        })
    }

    fn get_subscription(&self, arn: &str) -> Result<Option<SubscriptionRecord>, StoreError> {
        self.query_opt(
            &format!("SELECT {SUB_COLUMNS} FROM sns_subscriptions WHERE arn = $1"),
            &[&arn],
        )?
        .as_ref()
        .map(sub_row)
        .transpose()
    }

    fn list_subscriptions(
        &self,
        topic: Option<&str>,
    ) -> Result<Vec<SubscriptionRecord>, StoreError> {
        self.query(
            &format!(
                "SELECT {SUB_COLUMNS} FROM sns_subscriptions
                 WHERE $1::TEXT IS NULL OR topic = $1 ORDER BY arn"
            ),
            &[&topic],
        )?
        .iter()
        .map(sub_row)
        .collect()
    }

    fn update_subscription(&self, s: &SubscriptionRecord) -> Result<bool, StoreError> {
        Ok(self.execute(
            "UPDATE sns_subscriptions SET attributes = $2, token = $3 WHERE arn = $1",
            &[&s.arn, &s.attributes, &s.token],
        )? > 0)
    }

    fn delete_subscription(&self, arn: &str) -> Result<bool, StoreError> {
        self.in_tx(async |tx| {
            let n = tx
                .execute("DELETE FROM sns_subscriptions WHERE arn = $1", &[&arn])
                .await?;
            tx.execute(
                "DELETE FROM sns_deliveries WHERE subscription = $1",
                &[&arn],
            )
            .await?;
            Ok(n > 0)
        })
    }

    fn publish(
        &self,
        topic: &str,
        messages: &[Publication],
        dedup_since_ms: i64,
    ) -> Result<Vec<Option<DedupRecord>>, StoreError> {
        self.in_tx(async |tx| {
            if !lock_topic(tx, topic, false).await? {
                return Err(not_found("topic", topic));
            }
            tx.execute(
                "DELETE FROM sns_dedup WHERE topic = $1 AND sent_ms < $2",
                &[&topic, &dedup_since_ms],
            )
            .await?;
            let mut out = Vec::with_capacity(messages.len());
            for m in messages {
                if let Some(d) = &m.dedup {
                    let first = tx
                        .query_opt(
                            "SELECT message_id, sequence, sent_ms FROM sns_dedup
                             WHERE topic = $1 AND dedup = $2",
                            &[&topic, &d.dedup],
                        )
                        .await?;
                    if let Some(first) = first {
                        out.push(Some(DedupRecord {
                            dedup: d.dedup.clone(),
                            message_id: first.try_get(0)?,
                            sequence: first.try_get(1)?,
                            sent_ms: first.try_get(2)?,
                        }));
                        continue;
                    }
                    tx.execute(
                        "INSERT INTO sns_dedup (topic, dedup, message_id, sequence, sent_ms)
                         VALUES ($1, $2, $3, $4, $5)",
                        &[&topic, &d.dedup, &d.message_id, &d.sequence, &d.sent_ms],
                    )
                    .await?;
                }
                insert_deliveries(tx, &m.deliveries).await?;
                out.push(None);
            }
            Ok(out)
        })
    }

    fn lease_deliveries(
        &self,
        now_ms: i64,
        max: usize,
        lease_until_ms: i64,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = self.query(
            "WITH due AS (
                 SELECT seq, due_ms FROM sns_deliveries WHERE due_ms <= $1
                 ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED)
             UPDATE sns_deliveries d SET due_ms = $3 FROM due WHERE d.seq = due.seq
             RETURNING d.seq, d.subscription, d.payload, d.attempts, due.due_ms",
            &[&now_ms, &big(max as u64), &lease_until_ms],
        )?;
        let mut out = rows
            .iter()
            .map(delivery_row)
            .collect::<Result<Vec<_>, _>>()?;
        // RETURNING keeps no order: publish order, as SQLite hands them out.
        out.sort_by_key(|d| d.seq);
        Ok(out)
    }

    fn retry_delivery(&self, seq: i64, attempts: u32, due_ms: i64) -> Result<(), StoreError> {
        self.execute(
            "UPDATE sns_deliveries SET attempts = $2, due_ms = $3 WHERE seq = $1",
            &[&seq, &i64::from(attempts), &due_ms],
        )?;
        Ok(())
    }

    fn delete_delivery(&self, seq: i64) -> Result<(), StoreError> {
        self.execute("DELETE FROM sns_deliveries WHERE seq = $1", &[&seq])?;
        Ok(())
    }
}
