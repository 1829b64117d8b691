//! What the front doors (API Gateway HTTP and REST APIs, Application Load
//! Balancers) record of each request: their metrics — requests, 4xx and 5xx
//! answers and a latency histogram per door, API or load balancer id and
//! stage, written into `/metrics` in OpenMetrics text — and the stages'
//! access log lines. A door puts a [`Served`] into its answer's extensions;
//! its dispatch middleware hands both to [`finish`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::HttpBody as _;
use axum::http::request::Parts;
use axum::response::Response;
use lambdad_service::gateway::access_log::{AccessLogSettings, render_line};

use super::AppState;

/// Most (door, id, stage) series kept; later ones count as [`OTHER`].
const MAX_SERIES: usize = 1000;
/// The id of the requests past [`MAX_SERIES`].
const OTHER: &str = "_other";
/// Upper bounds of the latency histogram's buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Counters of one API stage or load balancer.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    requests: u64,
    client_errors: u64,
    server_errors: u64,
    latency: Duration,
    /// Requests at most each of [`BUCKETS`] (not cumulative).
    buckets: [u64; BUCKETS.len()],
}

type Key = (&'static str, String, String);

/// The front doors' counters, by (door, id, stage).
#[derive(Debug, Default)]
pub struct DoorMetrics {
    by_id: Mutex<BTreeMap<Key, Counts>>,
}

impl DoorMetrics {
    /// Counts one answered request of `door` (`execute-api` or `elb`) to
    /// `id` and `stage` (empty: a load balancer, or no stage was reached).
    pub fn record(
        &self,
        door: &'static str,
        id: &str,
        stage: &str,
        status: u16,
        latency: Duration,
    ) {
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let mut key = (door, id.to_owned(), stage.to_owned());
        // Hosts name ids freely: past the limit, new ids share one series.
        if !map.contains_key(&key) && map.len() >= MAX_SERIES {
            key = (door, OTHER.to_owned(), String::new());
        }
        let c = map.entry(key).or_default();
        c.requests += 1;
        c.client_errors += u64::from((400..500).contains(&status));
        c.server_errors += u64::from(status >= 500);
        c.latency += latency;
        let secs = latency.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            c.buckets[i] += 1;
        }
    }

    /// The families in OpenMetrics text (empty before the first request).
    pub fn encode(&self) -> String {
        let map = self.by_id.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut out = String::new();
        if map.is_empty() {
            return out;
        }
        type Family = (&'static str, &'static str, fn(&Counts) -> u64);
        let families: [Family; 3] = [
            (
                "lambdad_door_requests",
                "Requests answered by a front door.",
                |c| c.requests,
            ),
            ("lambdad_door_4xx", "4xx answers of a front door.", |c| {
                c.client_errors
            }),
            ("lambdad_door_5xx", "5xx answers of a front door.", |c| {
                c.server_errors
            }),
        ];
        let label = |(door, id, stage): &Key| match stage.as_str() {
            "" => format!("door=\"{door}\",id=\"{id}\""),
            s => format!("door=\"{door}\",id=\"{id}\",stage=\"{}\"", escape(s)),
        };
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
        let _ = writeln!(out, "# TYPE {name} histogram");
        for (k, c) in &map {
            let l = label(k);
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(c.buckets) {
                cumulative += n;
                let _ = writeln!(out, "{name}_bucket{{{l},le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"+Inf\"}} {}", c.requests);
            let _ = writeln!(out, "{name}_sum{{{l}}} {}", c.latency.as_secs_f64());
            let _ = writeln!(out, "{name}_count{{{l}}} {}", c.requests);
        }
        out
    }
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// What a door learned of a request it served at a stage: the stage, its
/// access log settings and the `$context` variables known before the answer.
#[derive(Debug, Clone, Default)]
pub struct Served {
    /// The stage's name.
    pub stage: String,
    /// The stage's access log settings.
    pub access_log: Option<AccessLogSettings>,
    /// `$context` variables (names without `$context.`).
    pub vars: BTreeMap<&'static str, String>,
    /// How long the integration took, when it ran.
    pub integration_latency: Option<Duration>,
}

impl Served {
    /// The variables every execute-api request has.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        parts: &Parts,
        account: &str,
        api_id: &str,
        domain: &str,
        stage: &str,
        request_id: &str,
        time_ms: i64,
        source_ip: &str,
    ) -> Self {
        let header = |n: &str| {
            parts
                .headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(time_ms) * 1_000_000)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let clf = time::macros::format_description!(
            "[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"
        );
        let vars = BTreeMap::from([
            ("accountId", account.to_owned()),
            ("apiId", api_id.to_owned()),
            ("domainName", domain.to_owned()),
            ("domainPrefix", api_id.to_owned()),
            ("extendedRequestId", request_id.to_owned()),
            ("httpMethod", parts.method.to_string()),
            ("identity.sourceIp", source_ip.to_owned()),
            ("identity.userAgent", header("user-agent")),
            ("path", parts.uri.path().to_owned()),
            ("protocol", format!("{:?}", parts.version)),
            ("requestId", request_id.to_owned()),
            ("requestTime", time.format(&clf).unwrap_or_default()),
            ("requestTimeEpoch", time_ms.to_string()),
            ("stage", stage.to_owned()),
        ]);
        Self {
            stage: stage.to_owned(),
            vars,
            ..Self::default()
        }
    }
}

/// Records an answered request of `door` to `id`: its metrics and, when
/// the door served it at a stage that logs access, its access log line.
pub fn finish(state: &AppState, door: &'static str, id: &str, start: Instant, resp: &mut Response) {
    let latency = start.elapsed();
    let status = resp.status().as_u16();
    let served = resp.extensions_mut().remove::<Served>();
    let stage = served.as_ref().map_or("", |s| s.stage.as_str());
    state.doors.record(door, id, stage, status, latency);
    let Some(mut served) = served else { return };
    let Some((group, format)) = served.access_log.as_ref().and_then(|a| a.target()) else {
        return;
    };
    let length = resp.body().size_hint().exact().unwrap_or(0);
    let ms = |d: Duration| d.as_millis().to_string();
    served.vars.insert("status", status.to_string());
    served.vars.insert("responseLength", length.to_string());
    served.vars.insert("responseLatency", ms(latency));
    if let Some(d) = served.integration_latency {
        served.vars.insert("integrationLatency", ms(d));
        served.vars.insert("integration.latency", ms(d));
    }
    let line = render_line(format, &served.vars);
    let stream = format!("{id}_{}", served.stage);
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let logs = state.logs.clone();
    tokio::task::spawn_blocking(move || {
        if let Err(e) = logs.append(&group, &stream, now as i64, &line) {
            tracing::warn!(error = %e, group = %group, "Cannot write an access log line.");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_door_id_and_stage() {
        let m = DoorMetrics::default();
        assert_eq!(m.encode(), "");
        m.record("elb", "web-1", "", 200, Duration::from_millis(500));
        m.record("elb", "web-1", "", 502, Duration::from_millis(500));
        m.record("execute-api", "abc", "prod", 404, Duration::ZERO);
        m.record("execute-api", "abc", "dev", 200, Duration::from_secs(60));
        let text = m.encode();
        assert!(text.contains("lambdad_door_requests_total{door=\"elb\",id=\"web-1\"} 2\n"));
        assert!(text.contains("lambdad_door_5xx_total{door=\"elb\",id=\"web-1\"} 1\n"));
        assert!(text.contains(
            "lambdad_door_4xx_total{door=\"execute-api\",id=\"abc\",stage=\"prod\"} 1\n"
        ));
        assert!(text.contains("lambdad_door_latency_seconds_sum{door=\"elb\",id=\"web-1\"} 1\n"));
        assert!(text.contains(
            "lambdad_door_latency_seconds_bucket{door=\"elb\",id=\"web-1\",le=\"0.25\"} 0\n"
        ));
        assert!(text.contains(
            "lambdad_door_latency_seconds_bucket{door=\"elb\",id=\"web-1\",le=\"0.5\"} 2\n"
        ));
        assert!(text.contains(
            "lambdad_door_latency_seconds_bucket{door=\"execute-api\",id=\"abc\",stage=\"dev\",le=\"30\"} 0\n"
        ));
        assert!(text.contains(
            "lambdad_door_latency_seconds_bucket{door=\"execute-api\",id=\"abc\",stage=\"dev\",le=\"+Inf\"} 1\n"
        ));
        for i in 0..MAX_SERIES {
            m.record("elb", &format!("x{i}"), "", 200, Duration::ZERO);
        }
        assert!(
            m.encode()
                .contains("lambdad_door_requests_total{door=\"elb\",id=\"_other\"} 3\n")
        );
    }
}
