//! Metrics of event source mappings, per mapping: batches invoked, records
//! delivered, failed invocations, and for streams the iterator age (how old
//! the newest processed record was when its batch finished) and the lag
//! (records read from the shards and not yet checkpointed). The pollers of
//! the triggers crate count; `/metrics` renders them in OpenMetrics text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

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

    /// The families in OpenMetrics text (empty before the first batch).
    pub fn encode(&self) -> String {
        let map = self
            .by_uuid
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut out = String::new();
        if map.is_empty() {
            return out;
        }
        let label = |uuid: &str, c: &Counts| {
            format!(
                "mapping=\"{uuid}\",function=\"{}\",source=\"{}\"",
                c.function, c.source
            )
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
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (uuid, c) in &map {
                let _ = writeln!(out, "{name}_total{{{}}} {}", label(uuid, c), value(c));
            }
        }
        let name = "lambdad_esm_iterator_age_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Age of the newest record of a stream mapping's last batch of a shard when the batch finished."
        );
        let _ = writeln!(out, "# TYPE {name} gauge");
        let _ = writeln!(out, "# UNIT {name} seconds");
        for (uuid, c) in &map {
            for (shard, age) in &c.iterator_age {
                let _ = writeln!(out, "{name}{{{},shard=\"{shard}\"}} {age}", label(uuid, c));
            }
        }
        let name = "lambdad_esm_lag_records";
        let _ = writeln!(
            out,
            "# HELP {name} Records a stream mapping read from a shard and has not yet checkpointed."
        );
        let _ = writeln!(out, "# TYPE {name} gauge");
        for (uuid, c) in &map {
            for (shard, lag) in &c.lag {
                let _ = writeln!(out, "{name}{{{},shard=\"{shard}\"}} {lag}", label(uuid, c));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_forgets() {
        let m = MappingMetrics::default();
        assert_eq!(m.encode(), "");
        m.batch("u1", "kinesis", "f", 10, false);
        m.batch("u1", "kinesis", "f", 5, true);
        m.iterator_age("u1", "kinesis", "f", "shardId-0", 1.5);
        m.lag("u1", "kinesis", "f", "shardId-0", 7);
        let text = m.encode();
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
        assert_eq!(m.encode(), "");
    }
}
