//! A shard's progress and its lanes. With `ParallelizationFactor` N a
//! shard's records are spread over N lanes by partition key (DynamoDB: by
//! the item's key), so records of one key stay in order in one lane while
//! up to N batches of the shard run at once. The checkpoint only moves up
//! to the last record before the oldest one still being processed: a
//! restart never skips a record another lane has not finished.

use std::collections::{HashSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};

use lambdad_service::esm::Mapping;
use tokio::sync::Mutex;

use super::Ctx;
use crate::stream_events::StreamRecord;

/// The lane of a record among `lanes`: by partition key (Kinesis) or item
/// key (DynamoDB).
pub(super) fn lane_of(record: &StreamRecord, lanes: usize) -> usize {
    if lanes <= 1 {
        return 0;
    }
    let mut h = DefaultHasher::new();
    match record.event["kinesis"]["partitionKey"].as_str() {
        Some(key) => key.hash(&mut h),
        None => record.event["dynamodb"]["Keys"].to_string().hash(&mut h),
    }
    (h.finish() % lanes as u64) as usize
}

/// Splits a batch read from a shard into the lanes' parts, in order.
pub(super) fn split(batch: Vec<StreamRecord>, lanes: usize) -> Vec<Vec<StreamRecord>> {
    let mut parts: Vec<Vec<StreamRecord>> = (0..lanes.max(1)).map(|_| Vec::new()).collect();
    for r in batch {
        let lane = lane_of(&r, lanes);
        parts[lane].push(r);
    }
    parts
}

/// Records read from a shard, in order, and which are finished.
#[derive(Debug, Default)]
struct Pending {
    order: VecDeque<String>,
    done: HashSet<String>,
}

/// A shard's progress: what was read, what is finished, and the checkpoint
/// that follows (stored as it moves).
#[derive(Debug)]
pub(super) struct Progress {
    shard: String,
    source: &'static str,
    pending: Mutex<Pending>,
}

impl Progress {
    pub(super) fn new(shard: &str, dynamodb: bool) -> Self {
        Self {
            shard: shard.to_owned(),
            source: if dynamodb { "dynamodb" } else { "kinesis" },
            pending: Mutex::new(Pending::default()),
        }
    }

    /// Notes records read from the shard (in the shard's order).
    pub(super) async fn read(&self, ctx: &Ctx, m: &Mapping, recs: &[StreamRecord]) {
        let mut p = self.pending.lock().await;
        p.order.extend(recs.iter().map(|r| r.sequence.clone()));
        let lag = p.order.len();
        drop(p);
        ctx.mappings
            .metrics()
            .lag(&m.uuid, self.source, &m.function, &self.shard, lag);
    }

    /// Notes `recs` processed (delivered, or given up) and stores the
    /// checkpoint if every record before them is processed too.
    pub(super) async fn finished(&self, ctx: &Ctx, m: &Mapping, recs: &[StreamRecord]) {
        let Some(newest) = recs.last() else { return };
        let mut p = self.pending.lock().await;
        p.done.extend(recs.iter().map(|r| r.sequence.clone()));
        self.advance(ctx, m, &mut p).await;
        let age = super::now_secs() - newest.arrival;
        ctx.mappings
            .metrics()
            .iterator_age(&m.uuid, self.source, &m.function, &self.shard, age);
    }

    /// Notes every record read up to and including `sequence` processed
    /// (a tumbling window's records, when the window closes).
    pub(super) async fn finished_through(&self, ctx: &Ctx, m: &Mapping, sequence: &str) {
        let mut p = self.pending.lock().await;
        if let Some(i) = p.order.iter().position(|s| s == sequence) {
            let through: Vec<String> = p.order.iter().take(i + 1).cloned().collect();
            p.done.extend(through);
        }
        self.advance(ctx, m, &mut p).await;
    }

    /// Pops the finished front of the pending records and stores the
    /// checkpoint after the last one popped. The lock is held across the
    /// store so that checkpoints are written in order.
    async fn advance(&self, ctx: &Ctx, m: &Mapping, p: &mut Pending) {
        let mut last = None;
        while let Some(front) = p.order.front() {
            if !p.done.remove(front) {
                break;
            }
            last = p.order.pop_front();
        }
        ctx.mappings.metrics().lag(
            &m.uuid,
            self.source,
            &m.function,
            &self.shard,
            p.order.len(),
        );
        let Some(last) = last else { return };
        if let Err(e) = ctx
            .mappings
            .save_checkpoint(&m.uuid, &self.shard, Some(&last), false)
            .await
        {
            tracing::warn!(mapping = %m.uuid, shard = self.shard, error = %e, "Cannot store a checkpoint; records may run again.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stream_events::{Origin, kinesis_record};

    #[test]
    fn one_key_one_lane_and_order_kept() {
        let o = Origin {
            region: "us-east-1",
            source_arn: "arn:aws:kinesis:us-east-1:1:stream/s",
            shard: "shardId-000000000000",
        };
        let batch: Vec<StreamRecord> = (0..200)
            .map(|i| kinesis_record(&o, &i.to_string(), &format!("k{}", i % 13), b"x", 1.0))
            .collect();
        let parts = split(batch, 4);
        assert_eq!(parts.len(), 4);
        assert!(parts.iter().filter(|p| !p.is_empty()).count() > 1);
        let mut lanes_of_key = std::collections::HashMap::new();
        for (lane, part) in parts.iter().enumerate() {
            let seqs: Vec<u64> = part.iter().map(|r| r.sequence.parse().unwrap()).collect();
            assert!(seqs.windows(2).all(|w| w[0] < w[1]));
            for r in part {
                let key = r.event["kinesis"]["partitionKey"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                assert_eq!(*lanes_of_key.entry(key).or_insert(lane), lane);
            }
        }
        assert_eq!(split(vec![], 1).len(), 1);
    }
}
