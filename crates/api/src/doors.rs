//! Metrics of the front doors (API Gateway HTTP and REST APIs, Application
//! Load Balancers): requests, 4xx and 5xx answers and latency per door and
//! API or load balancer id, written into `/metrics` in OpenMetrics text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// Most (door, id) series kept; the ids of later requests count as [`OTHER`].
const MAX_SERIES: usize = 1000;
/// The id of the requests past [`MAX_SERIES`].
const OTHER: &str = "_other";

/// Counters of one API or load balancer.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: u64,
    client_errors: u64,
    server_errors: u64,
    latency: Duration,
}

/// The front doors' counters, by (door, id).
#[derive(Debug, Default)]
pub struct DoorMetrics {
    by_id: Mutex<BTreeMap<(&'static str, String), Counts>>,
}

impl DoorMetrics {
    /// Counts one answered request of `door` (`execute-api` or `elb`) to `id`.
    pub fn record(&self, door: &'static str, id: &str, status: u16, latency: Duration) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = (door, id.to_owned());
        // Hosts name ids freely: past the limit, new ids share one series.
        if !map.contains_key(&key) && map.len() >= MAX_SERIES {
            key.1 = OTHER.to_owned();
        }
        let c = map.entry(key).or_default();
        c.requests += 1;
        c.client_errors += u64::from((400..500).contains(&status));
        c.server_errors += u64::from(status >= 500);
        c.latency += latency;
    }

    /// The families in OpenMetrics text (empty before the first request).
    pub fn encode(&self) -> String {
        let map = self.by_id.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        if map.is_empty() {
            return out;
        }
        type Family = (&'static str, &'static str, fn(&Counts) -> String);
        let families: [Family; 3] = [
            (
                "lambdad_door_requests",
                "Requests answered by a front door.",
                |c| c.requests.to_string(),
            ),
            ("lambdad_door_4xx", "4xx answers of a front door.", |c| {
                c.client_errors.to_string()
            }),
            ("lambdad_door_5xx", "5xx answers of a front door.", |c| {
                c.server_errors.to_string()
            }),
        ];
        let label = |(door, id): &(&str, String)| format!("door=\"{door}\",id=\"{id}\"");
        for (name, help, value) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            for (k, c) in &map {
                let _ = writeln!(out, "{name}_total{{{}}} {}", label(k), value(c));
            }
        }
        let name = "lambdad_door_latency_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} Time from request to answer at a front door."
        );
        let _ = writeln!(out, "# TYPE {name} summary");
        for (k, c) in &map {
            let _ = writeln!(
                out,
                "{name}_sum{{{}}} {}",
                label(k),
                c.latency.as_secs_f64()
            );
            let _ = writeln!(out, "{name}_count{{{}}} {}", label(k), c.requests);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_door_and_id() {
        let m = DoorMetrics::default();
        assert_eq!(m.encode(), "");
        m.record("elb", "web-1", 200, Duration::from_millis(500));
        m.record("elb", "web-1", 502, Duration::from_millis(500));
        m.record("execute-api", "abc", 404, Duration::ZERO);
        let text = m.encode();
        assert!(text.contains("lambdad_door_requests_total{door=\"elb\",id=\"web-1\"} 2\n"));
        assert!(text.contains("lambdad_door_5xx_total{door=\"elb\",id=\"web-1\"} 1\n"));
        assert!(text.contains("lambdad_door_4xx_total{door=\"execute-api\",id=\"abc\"} 1\n"));
        assert!(text.contains("lambdad_door_latency_seconds_sum{door=\"elb\",id=\"web-1\"} 1\n"));
        for i in 0..MAX_SERIES {
            m.record("elb", &format!("x{i}"), 200, Duration::ZERO);
        }
        assert!(
            m.encode()
                .contains("lambdad_door_requests_total{door=\"elb\",id=\"_other\"} 2\n")
        );
    }
}
