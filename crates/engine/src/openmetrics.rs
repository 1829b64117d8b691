//! Metric families whose values are read at scrape time, for the
//! collectors of the crates above the engine (the front doors, the S3 API,
//! the event source mappings, the built-in queues and topics). Each
//! collector implements prometheus-client's [`Collector`] and writes its
//! families with [`counters`], [`gauges`] and [`histograms`];
//! `Metrics::encode_with` (the metrics module) encodes
//! them after the engine's own, in one OpenMetrics text, so names, label
//! escaping and the `_total` suffixes are prometheus-client's.

use prometheus_client::encoding::{EncodeMetric as _, MetricEncoder};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

pub use prometheus_client::collector::Collector;
pub use prometheus_client::encoding::DescriptorEncoder;

/// A series' labels, in order.
pub type Labels = Vec<(&'static str, String)>;

/// The encoder's error type.
pub type Result = std::result::Result<(), std::fmt::Error>;

/// One collector's families alone, in OpenMetrics text (for tests).
pub fn text(collector: Box<dyn Collector>) -> String {
    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(collector);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
    out
}

/// One histogram series: per-bucket (not cumulative) counts for each upper
/// bound, the count above the last bound, the sum and the count.
#[derive(Debug, Clone)]
pub struct HistogramValue {
    /// (upper bound, observations in this bucket only).
    pub buckets: Vec<(f64, u64)>,
    /// The sum of the observations.
    pub sum: f64,
    /// How many observations there were.
    pub count: u64,
}

fn family<'a, T>(
    enc: &'a mut DescriptorEncoder,
    name: &'a str,
    help: &str,
    kind: MetricType,
    rows: impl IntoIterator<Item = (Labels, T)>,
    mut write: impl FnMut(MetricEncoder<'_>, T) -> Result,
) -> Result {
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return Ok(());
    }
    let mut metric = enc.encode_descriptor(name, help, None, kind)?;
    for (labels, value) in rows {
        write(metric.encode_family(&labels)?, value)?;
    }
    Ok(())
}

/// A counter family (`name` without `_total`; the encoder adds it). No
/// rows, no family.
pub fn counters(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, u64)>,
) -> Result {
    family(enc, name, help, MetricType::Counter, rows, |m, v| {
        ConstCounter::new(v).encode(m)
    })
}

/// A gauge family. No rows, no family.
pub fn gauges(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, f64)>,
) -> Result {
    family(enc, name, help, MetricType::Gauge, rows, |m, v| {
        ConstGauge::new(v).encode(m)
    })
}

/// A histogram family. No rows, no family.
pub fn histograms(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: impl IntoIterator<Item = (Labels, HistogramValue)>,
) -> Result {
    family(enc, name, help, MetricType::Histogram, rows, |mut m, h| {
        let above: u64 = h.count - h.buckets.iter().map(|(_, n)| n).sum::<u64>().min(h.count);
        let mut buckets = h.buckets;
        // prometheus-client writes an infinite bound as `+Inf`.
        buckets.push((f64::INFINITY, above));
        m.encode_histogram::<Labels>(h.sum, h.count, &buckets, None)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Sample;

    impl Collector for Sample {
        fn encode(&self, mut enc: DescriptorEncoder) -> Result {
            let l = |v: &str| vec![("queue", v.to_owned())];
            counters(&mut enc, "x_sent", "Sent.", [(l("a\"b"), 3)])?;
            gauges(&mut enc, "x_visible", "Visible.", [(l("a"), 1.5)])?;
            gauges(&mut enc, "x_none", "Never written.", [])?;
            let h = HistogramValue {
                buckets: vec![(0.1, 2), (1.0, 1)],
                sum: 2.5,
                count: 4,
            };
            histograms(&mut enc, "x_latency_seconds", "Latency.", [(l("a"), h)])
        }
    }

    #[test]
    fn families_encode_as_openmetrics() {
        let text = text(Box::new(Sample));
        assert!(text.contains("# TYPE x_sent counter\n"), "{text}");
        assert!(
            text.contains("x_sent_total{queue=\"a\\\"b\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("x_visible{queue=\"a\"} 1.5\n"), "{text}");
        assert!(!text.contains("x_none"), "{text}");
        assert!(
            text.contains("x_latency_seconds_bucket{le=\"0.1\",queue=\"a\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("x_latency_seconds_bucket{le=\"1.0\",queue=\"a\"} 3\n"));
        assert!(text.contains("x_latency_seconds_bucket{le=\"+Inf\",queue=\"a\"} 4\n"));
        assert!(
            text.contains("x_latency_seconds_count{queue=\"a\"} 4\n"),
            "{text}"
        );
    }
}
