//! What the front doors (API Gateway HTTP and REST APIs, Application Load
//! Balancers) record of each request: their metrics — requests, 4xx and 5xx
//! answers and a latency histogram per door, API or load balancer id and
//! stage, written into `/metrics` in OpenMetrics text — and the stages'
//! access log lines. A door puts a [`Served`] into its answer's extensions;
//! its dispatch middleware hands both to [`finish`].

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::HttpBody as _;
use axum::http::request::Parts;
use axum::response::Response;
use lambdad_engine::openmetrics::{self, Collector, DescriptorEncoder, HistogramValue};
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
}

impl Collector for DoorMetrics {
    fn encode(&self, mut enc: DescriptorEncoder) -> openmetrics::Result {
        let map = self.by_id.lock().unwrap_or_else(|e| e.into_inner()).clone();
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
        let labels = |(door, id, stage): &Key| {
            let mut l = vec![("door", (*door).to_owned()), ("id", id.clone())];
            if !stage.is_empty() {
                l.push(("stage", stage.clone()));
            }
            l
        };
        for (name, help, value) in families {
            let rows = map.iter().map(|(k, c)| (labels(k), value(c)));
            openmetrics::counters(&mut enc, name, help, rows)?;
        }
        let rows = map.iter().map(|(k, c)| {
            let h = HistogramValue {
                buckets: BUCKETS.iter().copied().zip(c.buckets).collect(),
                sum: c.latency.as_secs_f64(),
                count: c.requests,
            };
            (labels(k), h)
        });
        openmetrics::histograms(
            &mut enc,
            "lambdad_door_latency_seconds",
            "Time from request to answer at a front door.",
            rows,
        )
    }
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

    fn encode(m: &std::sync::Arc<DoorMetrics>) -> String {
        openmetrics::text(Box::new(m.clone()))
    }

    #[test]
    fn counts_by_door_id_and_stage() {
        let m = std::sync::Arc::new(DoorMetrics::default());
        assert_eq!(encode(&m), "# EOF\n");
        m.record("elb", "web-1", "", 200, Duration::from_millis(500));
        m.record("elb", "web-1", "", 502, Duration::from_millis(500));
        m.record("execute-api", "abc", "prod", 404, Duration::ZERO);
        m.record("execute-api", "abc", "dev", 200, Duration::from_secs(60));
        let text = encode(&m);
        assert!(text.contains("lambdad_door_requests_total{door=\"elb\",id=\"web-1\"} 2\n"));
        assert!(text.contains("lambdad_door_5xx_total{door=\"elb\",id=\"web-1\"} 1\n"));
        assert!(text.contains(
            "lambdad_door_4xx_total{door=\"execute-api\",id=\"abc\",stage=\"prod\"} 1\n"
        ));
        assert!(text.contains("lambdad_door_latency_seconds_sum{door=\"elb\",id=\"web-1\"} 1.0\n"));
        assert!(text.contains(
            "lambdad_door_latency_seconds_bucket{le=\"0.25\",door=\"elb\",id=\"web-1\"} 0\n"
        ));
        assert!(text.contains(
            "lambdad_door_latency_seconds_bucket{le=\"0.5\",door=\"elb\",id=\"web-1\"} 2\n"
        ));
        assert!(text.contains(
            "lambdad_door_latency_seconds_bucket{le=\"30.0\",door=\"execute-api\",id=\"abc\",stage=\"dev\"} 0\n"
        ));
        assert!(text.contains(
            "lambdad_door_latency_seconds_bucket{le=\"+Inf\",door=\"execute-api\",id=\"abc\",stage=\"dev\"} 1\n"
        ));
        for i in 0..MAX_SERIES {
            m.record("elb", &format!("x{i}"), "", 200, Duration::ZERO);
        }
        assert!(encode(&m).contains("lambdad_door_requests_total{door=\"elb\",id=\"_other\"} 3\n"));
    }
}
