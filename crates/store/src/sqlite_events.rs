//! The asynchronous event queue of [`SqliteStore`]. Accepting an event is
//! durable (`synchronous=FULL`, one sync per group of accepts); leasing,
//! rescheduling and deleting run with `synchronous=NORMAL`: in WAL mode such a
//! commit is on disk at the next synced commit or checkpoint, and one lost in
//! a crash only makes an event run again (delivery is at-least-once; leases
//! are released at start anyway). So the queue's bookkeeping does not cost a
//! disk sync per delivered event.

use rusqlite::{Connection, params};

use crate::sqlite::SqliteStore;
use crate::{AsyncEvent, StoreError};

impl SqliteStore {
    /// Runs `f` with `synchronous=NORMAL`, then restores `FULL`.
    pub(crate) fn relaxed<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.conn();
        conn.prepare_cached("PRAGMA synchronous = NORMAL")?
            .execute([])?;
        let result = f(&mut conn);
        conn.prepare_cached("PRAGMA synchronous = FULL")?
            .execute([])?;
        result
    }

    pub(crate) fn enqueue_events_impl(&self, events: &[AsyncEvent]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
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
        }
        tx.commit()?;
        Ok(())
    }

    pub(crate) fn lease_events_impl(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<AsyncEvent>, StoreError> {
        self.relaxed(|conn| {
            let tx = conn.transaction()?;
            let events = {
                let mut stmt = tx.prepare_cached(
                    "SELECT id, function, qualifier, payload, received_ms, attempts, not_before_ms FROM async_events
                     WHERE not_before_ms <= ?1 AND leased_until_ms <= ?1 ORDER BY not_before_ms LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![now_ms, limit as i64], |r| {
                    Ok(AsyncEvent {
                        id: r.get(0)?,
                        function: r.get(1)?,
                        qualifier: r.get(2)?,
                        payload: r.get(3)?,
                        received_ms: r.get(4)?,
                        attempts: r.get(5)?,
                        not_before_ms: r.get(6)?,
                    })
                })?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            {
                let mut lease =
                    tx.prepare_cached("UPDATE async_events SET leased_until_ms = ?2 WHERE id = ?1")?;
                for e in &events {
                    lease.execute(params![e.id, now_ms + lease_ms])?;
                }
            }
            tx.commit()?;
            Ok(events)
        })
    }

    pub(crate) fn release_leases_impl(&self) -> Result<u64, StoreError> {
        let n = self.conn().execute(
            "UPDATE async_events SET leased_until_ms = 0 WHERE leased_until_ms > 0",
            [],
        )?;
        Ok(n as u64)
    }

    pub(crate) fn reschedule_event_impl(
        &self,
        id: &str,
        attempts: u32,
        not_before_ms: i64,
    ) -> Result<(), StoreError> {
        self.relaxed(|conn| {
            conn.prepare_cached(
                "UPDATE async_events SET attempts = ?2, not_before_ms = ?3, leased_until_ms = 0 WHERE id = ?1",
            )?
            .execute(params![id, attempts, not_before_ms])?;
            Ok(())
        })
    }

    pub(crate) fn delete_events_impl(&self, ids: &[String]) -> Result<(), StoreError> {
        self.relaxed(|conn| {
            let tx = conn.transaction()?;
            {
                let mut stmt = tx.prepare_cached("DELETE FROM async_events WHERE id = ?1")?;
                for id in ids {
                    stmt.execute([id])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    pub(crate) fn pending_events_impl(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn()
            .query_row("SELECT COUNT(*) FROM async_events", [], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    pub(crate) fn oldest_event_ms_impl(&self) -> Result<Option<i64>, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT MIN(received_ms) FROM async_events", [], |r| {
                r.get(0)
            })?)
    }
}
