//! Tumbling windows (`TumblingWindowInSeconds`): a shard's records fall in
//! windows of that length aligned on the epoch, by arrival time. Each batch
//! of a window is invoked with the window's members (`window`, `state`,
//! `shardId`, `eventSourceARN`, `isFinalInvokeForWindow`,
//! `isWindowTerminatedEarly`) and must answer `{"state": {...}}`, the state
//! the next batch of the window receives (no `state`: a failed call). The
//! batches go through the mapping's error handling as any stream batch does
//! (`MaximumRetryAttempts`, `MaximumRecordAgeInSeconds`, bisection,
//! `ReportBatchItemFailures`: the state answered with a partial failure is
//! kept and the batch retried from the failed item; records given up go to
//! the OnFailure destination and leave the state as it was). When the
//! window ends (a record of a later window, or the clock passing its end
//! while the shard is read to its tip) the function is called a last time
//! with no records and `isFinalInvokeForWindow: true`, retried until it
//! succeeds; only then is the window's checkpoint stored, so a restart
//! reads the window again from its start with a fresh state. A record that
//! arrives late, for a window already closed, goes to the window open at
//! the time (or the next one): each window is aggregated once. A state over
//! 1 MB ends the window early: a final call with `isWindowTerminatedEarly:
//! true`, then the window goes on with a fresh state.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{Lane, MAX_BACKOFF, Outcome, invoke, now_secs, process};
use crate::stream_events::{LastInvoke, StreamRecord};

/// The largest state a window keeps (AWS: 1 MB per shard).
const MAX_STATE: usize = 1024 * 1024;
/// How long after its end a window is closed by the clock: a record that
/// arrived just before the end has this long to be read into it.
const CLOSE_GRACE: f64 = 1.0;

/// The window being aggregated.
#[derive(Debug)]
pub(super) struct Open {
    start: f64,
    end: f64,
    state: Value,
    /// The last record processed in the window.
    through: Option<String>,
}

impl Open {
    /// The window's members of an event.
    pub(super) fn members(&self, lane: &Lane, last: bool, early: bool) -> Value {
        json!({
            "window": { "start": iso_secs(self.start), "end": iso_secs(self.end) },
            "state": self.state,
            "shardId": lane.shard,
            "eventSourceARN": lane.m.event_source_arn,
            "isFinalInvokeForWindow": last,
            "isWindowTerminatedEarly": early,
        })
    }

    /// Takes the state from an aggregating call's answer: a success, or a
    /// partial failure the function reported, must carry one, else the
    /// call failed as a whole.
    pub(super) fn answered(&mut self, lane: &Lane, outcome: Outcome) -> Outcome {
        match outcome {
            Outcome::Done(Some(payload)) => match answered_state(&payload) {
                Some(state) => {
                    self.state = state;
                    Outcome::Done(Some(payload))
                }
                None => {
                    tracing::warn!(mapping = %lane.m.uuid, "A tumbling window's function answered no state.");
                    Outcome::FailedFrom(0, LastInvoke::default(), None)
                }
            },
            Outcome::FailedFrom(index, last, Some(payload)) if index > 0 => {
                match answered_state(&payload) {
                    Some(state) => {
                        self.state = state;
                        Outcome::FailedFrom(index, last, Some(payload))
                    }
                    None => Outcome::FailedFrom(0, last, None),
                }
            }
            other => other,
        }
    }
}

/// Runs a shard's batches through its windows until the reader is done
/// (an empty batch: the shard is read to its tip, a chance to close a
/// window by the clock).
pub(super) async fn run(lane: Lane, mut rx: mpsc::Receiver<Vec<StreamRecord>>) {
    let length = f64::from(lane.settings.tumbling_window.max(1));
    let mut open: Option<Open> = None;
    // The earliest window a record can still go to.
    let mut floor = f64::MIN;
    while let Some(batch) = rx.recv().await {
        let idle = batch.is_empty();
        for (start, recs) in runs(batch, length, floor) {
            if let Some(o) = open.take_if(|o| o.start != start) {
                close(&lane, &o, false).await;
            }
            floor = start;
            let o = open.get_or_insert_with(|| Open {
                start,
                end: start + length,
                state: json!({}),
                through: None,
            });
            aggregate(&lane, o, recs).await;
        }
        if let Some(o) = open.take_if(|o| idle && now_secs() >= o.end + CLOSE_GRACE) {
            close(&lane, &o, false).await;
            floor = o.end;
        }
    }
    if let Some(o) = open {
        close(&lane, &o, false).await;
    }
}

/// Splits a batch into runs of records of one window, each with the
/// window's start: the window of the record's arrival, or, for a record
/// that arrived late, `floor` (the window open, or the next one to open
/// after the last closed) or the window of the run before it.
fn runs(batch: Vec<StreamRecord>, length: f64, floor: f64) -> Vec<(f64, Vec<StreamRecord>)> {
    let mut out: Vec<(f64, Vec<StreamRecord>)> = Vec::new();
    for r in batch {
        let earliest = out.last().map_or(floor, |(s, _)| *s);
        let start = ((r.arrival / length).floor() * length).max(earliest);
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

/// The `state` of a function's answer, if it is an object.
fn answered_state(payload: &[u8]) -> Option<Value> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    v.get("state").filter(|s| s.is_object()).cloned()
}

fn backoff(invoked: u32) -> Duration {
    Duration::from_millis(100u64 << invoked.min(6)).min(MAX_BACKOFF)
}

/// Runs the window's next batch through the function (and the mapping's
/// error handling); the answers build the window's state.
async fn aggregate(lane: &Lane, o: &mut Open, recs: Vec<StreamRecord>) {
    let through = recs.last().map(|r| r.sequence.clone());
    process(lane, recs, Some(o)).await;
    if through.is_some() {
        o.through = through;
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
        match invoke(lane, &[], Some(&o.members(lane, true, early))).await {
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
        let shape = |r: Vec<(f64, Vec<StreamRecord>)>| -> Vec<(f64, usize)> {
            r.iter().map(|(s, v)| (*s, v.len())).collect()
        };
        let r = runs(
            vec![at("1", 59.0), at("2", 60.0), at("3", 119.9), at("4", 120.0)],
            60.0,
            f64::MIN,
        );
        assert_eq!(shape(r), vec![(0.0, 1), (60.0, 2), (120.0, 1)]);
        // Late records (windows 0 and 60 closed or behind): the floor's
        // window, or the one of the run before them; never back.
        let r = runs(
            vec![
                at("1", 30.0),
                at("2", 130.0),
                at("3", 100.0),
                at("4", 200.0),
            ],
            60.0,
            60.0,
        );
        assert_eq!(shape(r), vec![(60.0, 1), (120.0, 2), (180.0, 1)]);
        assert_eq!(iso_secs(1_607_497_440.0), "2020-12-09T07:04:00Z");
        assert_eq!(
            answered_state(br#"{"state":{"n":1}}"#),
            Some(json!({"n": 1}))
        );
        assert_eq!(answered_state(br#"{"batchItemFailures":[]}"#), None);
    }
}
