//! [`ClusterStore`] over PostgreSQL: code archives in 1 MiB `bytea`
//! chunks, the change log written by triggers, and the `cluster_nodes`
//! membership table judged by the database's clock.
//!
//! The change log is the database's own: a trigger on every table of a
//! function's records appends `(seq, function, table, op)` to
//! `cluster_changes` and sends `NOTIFY lambdad_changes` in the writing
//! transaction, so no write can forget it and a notification arrives only
//! on commit. The trigger takes a transaction-scoped advisory lock before
//! drawing the seq, so seqs commit in order: a node that has read every
//! change up to seq N has missed none below it. (Control-plane writes are
//! rare; the hot paths, the async queue and messages, have no trigger.)

use std::future::poll_fn;
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::{AsyncMessage, NoTls};

use crate::StoreError;
use crate::cluster::{ChangeRecord, ClusterStore, NodeRecord, Watch};
use crate::pg::{PgStore, big};

/// Chunk size of stored archives.
pub(crate) const CHUNK: usize = 1 << 20;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

impl ClusterStore for PgStore {
    fn put_code_blob(&self, hex: &str, zip: &[u8]) -> Result<(), StoreError> {
        let chunks = zip.chunks(CHUNK).count();
        self.in_tx(async |tx| {
            let inserted: bool = tx
                .query_one(
                    "INSERT INTO cluster_code_blobs (hex, size, chunks) VALUES ($1, $2, $3)
                     ON CONFLICT (hex) DO UPDATE SET touched_at = now()
                     RETURNING (xmax = 0)",
                    &[&hex, &big(zip.len() as u64), &big(chunks as u64)],
                )
                .await?
                .try_get(0)?;
            if inserted {
                let stmt = tx
                    .prepare("INSERT INTO cluster_code_chunks (hex, idx, data) VALUES ($1, $2, $3)")
                    .await?;
                for (idx, chunk) in zip.chunks(CHUNK).enumerate() {
                    tx.execute(&stmt, &[&hex, &big(idx as u64), &chunk]).await?;
                }
            }
            Ok(())
        })
    }

    fn get_code_blob(&self, hex: &str, max: usize) -> Result<Option<Vec<u8>>, StoreError> {
        self.in_tx(async |tx| {
            let Some(head) = tx
                .query_opt(
                    "SELECT size, chunks FROM cluster_code_blobs WHERE hex = $1",
                    &[&hex],
                )
                .await?
            else {
                return Ok(None);
            };
            let (size, chunks): (i64, i64) = (head.try_get(0)?, head.try_get(1)?);
            let size = usize::try_from(size).unwrap_or(usize::MAX);
            if size > max {
                return Ok(None);
            }
            let mut zip = Vec::with_capacity(size);
            let mut next = 0i64;
            for row in tx
                .query(
                    "SELECT idx, data FROM cluster_code_chunks WHERE hex = $1 ORDER BY idx",
                    &[&hex],
                )
                .await?
            {
                let (idx, data): (i64, &[u8]) = (row.try_get(0)?, row.try_get(1)?);
                if idx != next || zip.len() + data.len() > size {
                    return Ok(None);
                }
                zip.extend_from_slice(data);
                next += 1;
            }
            Ok((next == chunks && zip.len() == size).then_some(zip))
        })
    }

    fn collect_code_blob(&self, hex: &str, grace: Duration) -> Result<bool, StoreError> {
        let quoted = format!("\"{hex}\"");
        let n = self.execute(
            "DELETE FROM cluster_code_blobs WHERE hex = $1
               AND touched_at < now() - make_interval(secs => $3)
               AND NOT EXISTS (SELECT 1 FROM functions WHERE code_hex = $1 OR strpos(layer_code, $2) > 0)
               AND NOT EXISTS (SELECT 1 FROM versions WHERE code_hex = $1 OR strpos(layer_code, $2) > 0)
               AND NOT EXISTS (SELECT 1 FROM layer_versions WHERE code_hex = $1)",
            &[&hex, &quoted, &secs(grace)],
        )?;
        Ok(n > 0)
    }

    fn join_node(&self, node_id: &str, api_addr: &str) -> Result<(i64, i64), StoreError> {
        self.in_tx(async |tx| {
            // Under the change lock: no change commits between the seq read
            // here and the row that says it was applied.
            tx.execute("SELECT pg_advisory_xact_lock(7813586321355301990)", &[])
                .await?;
            let row = tx
                .query_one(
                    "INSERT INTO cluster_nodes (node_id, incarnation, api_addr, state, applied_seq)
                     VALUES ($1, 1, $2, 'active', (SELECT COALESCE(MAX(seq), 0) FROM cluster_changes))
                     ON CONFLICT (node_id) DO UPDATE SET
                        incarnation = cluster_nodes.incarnation + 1, api_addr = EXCLUDED.api_addr,
                        state = 'active', started_at = now(), heartbeat_at = now(),
                        applied_seq = EXCLUDED.applied_seq, load = '{}'
                     RETURNING incarnation, applied_seq",
                    &[&node_id, &api_addr],
                )
                .await?;
            Ok((row.try_get(0)?, row.try_get(1)?))
        })
    }

    fn heartbeat(
        &self,
        node_id: &str,
        incarnation: i64,
        applied_seq: i64,
        load: &serde_json::Value,
    ) -> Result<bool, StoreError> {
        let load = load.to_string();
        let n = self.execute(
            "UPDATE cluster_nodes SET heartbeat_at = now(),
                applied_seq = GREATEST(applied_seq, $3), load = $4
             WHERE node_id = $1 AND incarnation = $2 AND state IN ('active', 'draining')",
            &[&node_id, &incarnation, &applied_seq, &load],
        )?;
        Ok(n > 0)
    }

    fn set_node_state(
        &self,
        node_id: &str,
        incarnation: i64,
        state: &str,
    ) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE cluster_nodes SET state = $3, heartbeat_at = now()
             WHERE node_id = $1 AND incarnation = $2 AND state IN ('active', 'draining')",
            &[&node_id, &incarnation, &state],
        )?;
        Ok(n > 0)
    }

    fn declare_dead(&self, silence: Duration) -> Result<Vec<String>, StoreError> {
        let rows = self.query(
            "UPDATE cluster_nodes SET state = 'dead'
             WHERE state IN ('active', 'draining') AND heartbeat_at < now() - make_interval(secs => $1)
             RETURNING node_id",
            &[&secs(silence)],
        )?;
        rows.iter()
            .map(|r| r.try_get(0).map_err(StoreError::from))
            .collect()
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>, StoreError> {
        let rows = self.query(
            "SELECT node_id, incarnation, api_addr, state,
                (EXTRACT(EPOCH FROM (now() - heartbeat_at)) * 1000)::BIGINT, applied_seq, load
             FROM cluster_nodes ORDER BY node_id",
            &[],
        )?;
        rows.iter()
            .map(|r| {
                let load: String = r.try_get(6)?;
                Ok(NodeRecord {
                    node_id: r.try_get(0)?,
                    incarnation: r.try_get(1)?,
                    api_addr: r.try_get(2)?,
                    state: r.try_get(3)?,
                    heartbeat_age_ms: r.try_get(4)?,
                    applied_seq: r.try_get(5)?,
                    load: serde_json::from_str(&load)?,
                })
            })
            .collect()
    }

    fn changes_since(&self, seq: i64, limit: usize) -> Result<Vec<ChangeRecord>, StoreError> {
        let rows = self.query(
            "SELECT seq, function, source, op FROM cluster_changes WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&seq, &big(limit as u64)],
        )?;
        rows.iter()
            .map(|r| {
                Ok(ChangeRecord {
                    seq: r.try_get(0)?,
                    function: r.try_get(1)?,
                    table: r.try_get(2)?,
                    op: r.try_get(3)?,
                })
            })
            .collect()
    }

    fn change_pending(&self, function: &str, silence: Duration) -> Result<bool, StoreError> {
        let row = self.query_opt(
            "SELECT EXISTS (SELECT 1 FROM cluster_nodes n
                WHERE n.state = 'active' AND n.heartbeat_at >= now() - make_interval(secs => $2)
                  AND n.applied_seq < (SELECT MAX(seq) FROM cluster_changes WHERE function = $1))",
            &[&function, &secs(silence)],
        )?;
        Ok(match row {
            Some(r) => r.try_get(0)?,
            None => false,
        })
    }

    fn prune_changes(&self, age: Duration) -> Result<u64, StoreError> {
        self.execute(
            "DELETE FROM cluster_changes WHERE at < now() - make_interval(secs => $1)
               AND seq <= COALESCE(
                   (SELECT MIN(applied_seq) FROM cluster_nodes WHERE state = 'active'),
                   (SELECT MAX(seq) FROM cluster_changes))",
            &[&secs(age)],
        )
    }

    fn watch_changes(&self, ring: Arc<dyn Fn(Watch) + Send + Sync>) {
        let config = self.config.clone();
        self.spawn(async move {
            loop {
                match config.connect(NoTls).await {
                    Ok((client, mut conn)) => {
                        let notify = ring.clone();
                        let driver = tokio::spawn(async move {
                            while let Some(m) = poll_fn(|cx| conn.poll_message(cx)).await {
                                match m {
                                    Ok(AsyncMessage::Notification(_)) => notify(Watch::Changed),
                                    Ok(_) => {}
                                    Err(_) => break,
                                }
                            }
                        });
                        if client.batch_execute("LISTEN lambdad_changes").await.is_ok() {
                            ring(Watch::Listening);
                            let _ = driver.await;
                        } else {
                            driver.abort();
                        }
                        drop(client);
                        ring(Watch::Broken);
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "The change watcher cannot connect.");
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}
