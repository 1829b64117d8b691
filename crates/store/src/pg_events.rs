//! The asynchronous event queue, HTTP APIs and stream checkpoints of
//! [`PgStore`]: the reads and the transactional pieces the `Store` impl in
//! `pg_functions.rs` and the object store share.
//!
//! A lease takes due rows with `FOR UPDATE SKIP LOCKED`, so concurrent
//! leasers never hand out one event twice. Unlike SQLite, every queue write
//! is a durable commit (`synchronous_commit` is left as the server has it).

use tokio_postgres::{Row, Transaction};

use crate::pg::{PgStore, big, small};
use crate::{AsyncEvent, GatewayApiRecord, StoreError, StreamCheckpoint};

/// Inserts `events` in `tx` (a duplicate id fails the transaction).
pub(crate) async fn insert_events(
    tx: &Transaction<'_>,
    events: &[AsyncEvent],
) -> Result<(), StoreError> {
    if events.is_empty() {
        return Ok(());
    }
    let stmt = tx
        .prepare(
            "INSERT INTO async_events (id, function, qualifier, payload, received_ms, attempts, not_before_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for e in events {
        tx.execute(
            &stmt,
            &[
                &e.id,
                &e.function,
                &e.qualifier,
                &e.payload,
                &e.received_ms,
                &i64::from(e.attempts),
                &e.not_before_ms,
            ],
        )
        .await?;
    }
    Ok(())
}

fn event_row(r: &Row) -> Result<AsyncEvent, StoreError> {
    Ok(AsyncEvent {
        id: r.try_get(0)?,
        function: r.try_get(1)?,
        qualifier: r.try_get(2)?,
        payload: r.try_get(3)?,
        received_ms: r.try_get(4)?,
        attempts: small(r.try_get(5)?),
        not_before_ms: r.try_get(6)?,
    })
}

fn api_row(r: &Row) -> Result<GatewayApiRecord, StoreError> {
    Ok(GatewayApiRecord {
        api_id: r.try_get(0)?,
        revision: r.try_get(1)?,
        body: r.try_get(2)?,
    })
}

impl PgStore {
    pub(crate) fn lease_events_impl(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError> {
        let rows = self.query(
            "UPDATE async_events SET leased_until_ms = $2 WHERE id IN (
                 SELECT id FROM async_events
                 WHERE not_before_ms <= $1 AND leased_until_ms <= $1
                 ORDER BY not_before_ms LIMIT $3 FOR UPDATE SKIP LOCKED)
             RETURNING id, function, qualifier, payload, received_ms, attempts, not_before_ms",
            &[
                &now_ms,
                &now_ms.saturating_add(lease_ms),
                &big(limit as u64),
            ],
        )?;
        let mut events = rows.iter().map(event_row).collect::<Result<Vec<_>, _>>()?;
        // RETURNING keeps no order: due first, as SQLite hands them out.
        events.sort_by_key(|e| e.not_before_ms);
        Ok(events)
    }

    pub(crate) fn get_gateway_api_impl(
        &self,
        api_id: &str,
    ) -> Result<Option<GatewayApiRecord>, StoreError> {
        self.query_opt(
            "SELECT api_id, revision, body FROM gateway_apis WHERE api_id = $1",
            &[&api_id],
        )?
        .as_ref()
        .map(api_row)
        .transpose()
    }

    pub(crate) fn list_gateway_apis_impl(&self) -> Result<Vec<GatewayApiRecord>, StoreError> {
        self.query(
            "SELECT api_id, revision, body FROM gateway_apis ORDER BY api_id",
            &[],
        )?
        .iter()
        .map(api_row)
        .collect()
    }

    pub(crate) fn stream_checkpoints_impl(
        &self,
        mapping: &str,
    ) -> Result<Vec<StreamCheckpoint>, StoreError> {
        self.query(
            "SELECT mapping, shard, sequence, ended FROM stream_checkpoints
             WHERE mapping = $1 ORDER BY shard",
            &[&mapping],
        )?
        .iter()
        .map(|r| {
            Ok(StreamCheckpoint {
                mapping: r.try_get(0)?,
                shard: r.try_get(1)?,
                sequence: r.try_get(2)?,
                ended: r.try_get(3)?,
            })
        })
        .collect()
    }
}
