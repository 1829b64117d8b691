//! Tumbling windows (`TumblingWindowInSeconds`): a shard's records fall in
//! windows of that length aligned on the epoch, by arrival time. Each batch
//! of a window is invoked with the window's members (`window`, `state`,
//! `shardId`, `eventSourceARN`, `isFinalInvokeForWindow`,
//! `isWindowTerminatedEarly`) and must answer `{"state": {...}}`, the state
//! the next batch of the window receives (no `state`: a failed call). When
//! the window ends (a later record, or the clock passing its end) the
//! function is called a last time with no records and
//! `isFinalInvokeForWindow: true`, retried until it succeeds; only then is
//! the window's checkpoint stored, so a restart reads the window again from
//! its start with a fresh state. A state over 1 MB ends the window early: a
//! final call with `isWindowTerminatedEarly: true`, then the window goes on
//! with a fresh state.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Lane, MAX_BACKOFF, Outcome, give_up, invoke, now_secs};
use crate::stream_events::{Condition, LastInvoke, StreamRecord};

/// The largest state a window keeps (AWS: 1 MB per shard).
const MAX_STATE: usize = 1024 * 1024;
/// How long after its end a window is closed by the clock: a record that
/// arrived just before the end has this long to be read into it.
const CLOSE_GRACE: f64 = 1.0;

/// The window being aggregated.
#[derive(Debug)]
struct Open {
    start: f64,
    end: f64,
    state: Value,
    /// The last record processed in the window.
    through: Option<String>,
}

/// Runs a shard's batches through its windows until the reader is done
/// (an empty batch: nothing new, only a chance to close a window).
pub(super) async fn run(lane: Lane, mut rx: mpsc::Receiver<Vec<StreamRecord>>) {
    let length = f64::from(lane.settings.tumbling_window.max(1));
    let mut open: Option<Open> = None;
    while let Some(batch) = rx.recv().await {
        for (start, recs) in runs(batch, length) {
            if let Some(o) = open.take_if(|o| o.start != start) {
                close(&lane, &o, false).await;
            }
            let o = open.get_or_insert_with(|| Open {
                start,
                end: start + length,
                state: json!({}),
                through: None,
            });
            aggregate(&lane, o, recs).await;
        }
        if let Some(o) = open.take_if(|o| now_secs() >= o.end + CLOSE_GRACE) {
            close(&lane, &o, false).await;
        }
    }
    if let Some(o) = open {
        close(&lane, &o, false).await;
    }
}

/// Splits a batch into runs of records of one window, each with the
/// window's start.
fn runs(batch: Vec<StreamRecord>, length: f64) -> Vec<(f64, Vec<StreamRecord>)> {
    let mut out: Vec<(f64, Vec<StreamRecord>)> = Vec::new();
    for r in batch {
        let start = (r.arrival / length).floor() * length;
        match out.last_mut() {
            Some((s, recs)) if *s == start => recs.push(r),
            _ => out.push((start, vec![r])),
        }
    }
    out
}

/// ISO 8601 in whole seconds, as AWS writes a window's bounds.
fn iso_secs(epoch: f64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(epoch.floor() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt).unwrap_or_default()
}

/// The window's members of an event.
fn members(lane: &Lane, o: &Open, last: bool, early: bool) -> Value {
    json!({
        "window": { "start": iso_secs(o.start), "end": iso_secs(o.end) },
        "state": o.state,
        "shardId": lane.shard,
        "eventSourceARN": lane.m.event_source_arn,
        "isFinalInvokeForWindow": last,
        "isWindowTerminatedEarly": early,
    })
}

/// The `state` of a function's answer, if it is an object.
fn answered_state(payload: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v.get("state").filter(|s| s.is_object()).cloned()
}

fn backoff(invoked: u32) -> Duration {
    Duration::from_millis(100u64 << invoked.min(6)).min(MAX_BACKOFF)
}

/// Invokes the window's next batch, retried as the mapping says; its
/// answer becomes the window's state. A batch given up leaves the state
/// as it was.
async fn aggregate(lane: &Lane, o: &mut Open, recs: Vec<StreamRecord>) {
    let s = &lane.settings;
    let mut invoked = 0u32;
    loop {
        let failed = match invoke(lane, &recs, Some(&members(lane, o, false, false))).await {
            Outcome::Done(None) => break,
            Outcome::Done(Some(payload)) => match answered_state(&payload) {
                Some(state) => {
                    o.state = state;
                    break;
                }
                None => {
                    tracing::warn!(mapping = %lane.m.uuid, "A tumbling window's function answered no state.");
                    LastInvoke::default()
                }
            },
            Outcome::NotRun => {
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            // A window's batch runs again whole, with the state it had.
            Outcome::FailedFrom(_, last) => last,
        };
        invoked += 1;
        if s.max_retries >= 0 && i64::from(invoked) > s.max_retries {
            give_up(
                lane,
                &recs,
                Condition::RetryAttemptsExhausted,
                invoked,
                Some(&failed),
            )
            .await;
            break;
        }
        tokio::time::sleep(backoff(invoked)).await;
    }
    if let Some(r) = recs.last() {
        o.through = Some(r.sequence.clone());
    }
    if o.state.to_string().len() > MAX_STATE {
        close(lane, o, true).await;
        o.state = json!({});
    }
}

/// The window's final call, retried until it succeeds, then its checkpoint.
async fn close(lane: &Lane, o: &Open, early: bool) {
    let mut invoked = 0u32;
    loop {
        match invoke(lane, &[], Some(&members(lane, o, true, early))).await {
            Outcome::Done(_) => break,
            Outcome::NotRun => tokio::time::sleep(Duration::from_secs(1)).await,
            Outcome::FailedFrom(..) => {
                invoked += 1;
                tokio::time::sleep(backoff(invoked)).await;
            }
        }
    }
    if let Some(seq) = &o.through {
        lane.progress
            .finished_through(&lane.ctx, &lane.m, seq)
            .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_events::{Origin, kinesis_record};

    #[test]
    fn runs_split_on_window_bounds() {
        let o = Origin {
            region: "us-east-1",
            source_arn: "arn:aws:kinesis:us-east-1:1:stream/s",
            shard: "shardId-000000000000",
        };
        let at = |seq: &str, t: f64| kinesis_record(&o, seq, "k", b"x", t);
        let r = runs(
            vec![at("1", 59.0), at("2", 60.0), at("3", 119.9), at("4", 120.0)],
            60.0,
        );
        let shape: Vec<(f64, usize)> = r.iter().map(|(s, v)| (*s, v.len())).collect();
        assert_eq!(shape, vec![(0.0, 1), (60.0, 2), (120.0, 1)]);
        assert_eq!(iso_secs(1_607_497_440.0), "2020-12-09T07:04:00Z");
        assert_eq!(
            answered_state(br#"{"state":{"n":1}}"#),
            Some(json!({"n": 1}))
        );
        assert_eq!(answered_state(br#"{"batchItemFailures":[]}"#), None);
    }
}
