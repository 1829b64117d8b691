//! Metrics of event source mappings, per mapping: batches invoked, records
//! delivered, failed invocations, and for streams the iterator age (how old
//! the newest processed record was when its batch finished) and the lag
//! (records read from the shards and not yet checkpointed). The pollers of
//! the triggers crate count; `/metrics` collects them at each scrape.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use lambdad_engine::openmetrics::{self, Collector, DescriptorEncoder, Labels};

/// What one mapping has done since start-up.
#[derive(Debug, Default, Clone)]
struct Counts {
    /// `sqs`, `kinesis`, `dynamodb` or `rmq`.
    source: &'static str,
    function: String,
    batches: u64,
    records: u64,
    failures: u64,
    /// Per shard: the iterator age in seconds of its last batch.
    iterator_age: BTreeMap<String, f64>,
    /// Per shard: records read and not yet checkpointed.
    lag: BTreeMap<String, u64>,
}

/// The mappings' counters, shared by the pollers and the metrics endpoint.
#[derive(Debug, Clone, Default)]
pub struct MappingMetrics {
    by_uuid: Arc<Mutex<BTreeMap<String, Counts>>>,
}

impl MappingMetrics {
    fn with(&self, uuid: &str, source: &'static str, function: &str, f: impl FnOnce(&mut Counts)) {
        let mut map = self.by_uuid.lock().unwrap_or_else(|e| e.into_inner());
        let c = map.entry(uuid.to_owned()).or_default();
        if c.function != function || c.source != source {
            c.source = source;
            function.clone_into(&mut c.function);
        }
        f(c);
    }

    /// Counts one invocation of `records` records; `failed` when the
    /// function or the platform failed it.
    pub fn batch(
        &self,
        uuid: &str,
        source: &'static str,
        function: &str,
        records: usize,
        failed: bool,
    ) {
        self.with(uuid, source, function, |c| {
            c.batches += 1;
            c.records += records as u64;
            c.failures += u64::from(failed);
        });
    }

    /// Sets a shard's iterator age, in seconds.
    pub fn iterator_age(
        &self,
        uuid: &str,
        source: &'static str,
        function: &str,
        shard: &str,
        secs: f64,
    ) {
        self.with(uuid, source, function, |c| {
            c.iterator_age.insert(shard.to_owned(), secs.max(0.0));
        });
    }

    /// Sets a shard's lag: records read and not yet checkpointed.
    pub fn lag(
        &self,
        uuid: &str,
        source: &'static str,
        function: &str,
        shard: &str,
        records: usize,
    ) {
        self.with(uuid, source, function, |c| {
            c.lag.insert(shard.to_owned(), records as u64);
        });
    }

    /// Drops a deleted mapping's series.
    pub fn forget(&self, uuid: &str) {
        self.by_uuid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(uuid);
    }
}

impl Collector for MappingMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> openmetrics::Result {
        let map = self
            .by_uuid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let labels = |uuid: &str, c: &Counts| -> Labels {
            vec![
                ("mapping", uuid.to_owned()),
                ("function", c.function.clone()),
                ("source", c.source.to_owned()),
            ]
        };
        type Family = (&'static str, &'static str, fn(&Counts) -> u64);
        let counters: [Family; 3] = [
            (
                "lambdad_esm_batches",
                "Batches an event source mapping invoked its function with.",
                |c| c.batches,
            ),
            (
                "lambdad_esm_records",
                "Records an event source mapping delivered to its function (retries count again).",
                |c| c.records,
            ),
            (
                "lambdad_esm_failures",
                "Invocations of an event source mapping that failed.",
                |c| c.failures,
            ),
        ];
        for (name, help, value) in counters {
            let rows = map.iter().map(|(uuid, c)| (labels(uuid, c), value(c)));
            openmetrics::counters(&mut enc, name, help, rows)?;
        }
        let by_shard = |pick: fn(&Counts) -> Vec<(&String, f64)>| {
            map.iter().flat_map(move |(uuid, c)| {
                pick(c).into_iter().map(move |(shard, v)| {
                    let mut l = labels(uuid, c);
                    l.push(("shard", shard.clone()));
                    (l, v)
                })
            })
        };
        openmetrics::gauges(
            &mut enc,
            "lambdad_esm_iterator_age_seconds",
            "Age of the newest record of a stream mapping's last batch of a shard when the batch finished.",
            by_shard(|c| c.iterator_age.iter().map(|(s, a)| (s, *a)).collect()),
        )?;
        openmetrics::gauges(
            &mut enc,
            "lambdad_esm_lag_records",
            "Records a stream mapping read from a shard and has not yet checkpointed.",
            by_shard(|c| c.lag.iter().map(|(s, n)| (s, *n as f64)).collect()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_forgets() {
        let m = MappingMetrics::default();
        let encode = |m: &MappingMetrics| openmetrics::text(Box::new(m.clone()));
        assert_eq!(encode(&m), "# EOF\n");
        m.batch("u1", "kinesis", "f", 10, false);
        m.batch("u1", "kinesis", "f", 5, true);
        m.iterator_age("u1", "kinesis", "f", "shardId-0", 1.5);
        m.lag("u1", "kinesis", "f", "shardId-0", 7);
        let text = encode(&m);
        let l = "mapping=\"u1\",function=\"f\",source=\"kinesis\"";
        assert!(text.contains(&format!("lambdad_esm_batches_total{{{l}}} 2")));
        assert!(text.contains(&format!("lambdad_esm_records_total{{{l}}} 15")));
        assert!(text.contains(&format!("lambdad_esm_failures_total{{{l}}} 1")));
        assert!(text.contains(&format!(
            "lambdad_esm_iterator_age_seconds{{{l},shard=\"shardId-0\"}} 1.5"
        )));
        assert!(text.contains(&format!(
            "lambdad_esm_lag_records{{{l},shard=\"shardId-0\"}} 7"
        )));
        m.forget("u1");
        assert_eq!(encode(&m), "# EOF\n");
    }
}
