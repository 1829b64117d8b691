//! Prometheus metrics of the engine and the meter of what functions use.
//!
//! Series are labelled by function (and executed version where it helps):
//! label sets are bounded by the functions and versions that exist, and a
//! deleted function's series are removed ([`Metrics::forget`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Prices of the usage estimate, in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    /// Per million requests.
    pub per_million_requests: f64,
    /// Per GB-second on x86_64.
    pub per_gb_second_x86_64: f64,
    /// Per GB-second on arm64.
    pub per_gb_second_arm64: f64,
}

impl Default for Prices {
    /// AWS's published prices (us-east-1, first tier).
    fn default() -> Self {
        Self {
            per_million_requests: 0.20,
            per_gb_second_x86_64: 0.000_016_666_7,
            per_gb_second_arm64: 0.000_013_333_4,
        }
    }
}

/// Usage of one function (since metering began).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// Invocations billed.
    pub requests: u64,
    /// Billed duration times memory, in GB-seconds.
    pub gb_seconds: f64,
    /// The architecture it last ran on.
    pub architecture: String,
}

impl Usage {
    /// The estimated cost in USD under `prices`.
    pub fn cost(&self, prices: &Prices) -> f64 {
        let per_gbs = if self.architecture == "arm64" {
            prices.per_gb_second_arm64
        } else {
            prices.per_gb_second_x86_64
        };
        self.requests as f64 / 1e6 * prices.per_million_requests + self.gb_seconds * per_gbs
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Version {
    function: String,
    version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Function {
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Qualified {
    function: String,
    qualifier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct State {
    state: String,
}

type F64Counter = Counter<f64, AtomicU64>;

/// Handles on the series one function version's invocations update.
#[derive(Debug)]
struct VersionSeries {
    label: Version,
    invocations: Counter,
    duration: Histogram,
    gb_seconds: F64Counter,
    cost: F64Gauge,
    /// Created by the version's first error (a series appears when it has a value).
    errors: Option<Counter>,
    /// Cold starts and their init durations, created by the first.
    cold_starts: Option<(Counter, Histogram)>,
}
type F64Gauge = Gauge<f64, AtomicU64>;

fn duration_histogram() -> Histogram {
    // 0.5 ms to ~9 minutes.
    Histogram::new(exponential_buckets(0.0005, 2.0, 21))
}

/// Everything the engine measures.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    invocations: Family<Version, Counter>,
    errors: Family<Version, Counter>,
    cold_starts: Family<Version, Counter>,
    throttles: Family<Function, Counter>,
    duration: Family<Version, Histogram, fn() -> Histogram>,
    init_duration: Family<Version, Histogram, fn() -> Histogram>,
    gb_seconds: Family<Function, F64Counter>,
    cost: Family<Function, F64Gauge>,
    /// Running invocations per function (set at scrape time).
    concurrent: Family<Function, Gauge>,
    /// Environments by state (set at scrape time).
    environments: Family<State, Gauge>,
    /// CPUs the newest environment of a version may use (its CFS quota; 0: unlimited).
    cpu_quota: Family<Version, F64Gauge>,
    provisioned_requested: Family<Qualified, Gauge>,
    provisioned_ready: Family<Qualified, Gauge>,
    /// Memory committed to environments, in bytes (set at scrape time).
    pub memory_committed: Gauge,
    /// Events waiting in the asynchronous queue (set by the server at scrape time).
    pub async_queue_depth: Gauge,
    /// Age of the oldest waiting event, in seconds (set by the server at scrape time).
    pub async_oldest_event_age: F64Gauge,
    /// The series of each function version that has run (function → version).
    seen: Mutex<HashMap<String, HashMap<String, VersionSeries>>>,
    usage: Mutex<BTreeMap<String, Usage>>,
    prices: Prices,
}

impl Metrics {
    /// A registry with every metric, and the price table of the estimates.
    pub fn new(prices: Prices) -> Self {
        let mut m = Self {
            registry: Registry::with_prefix("lambdad"),
            invocations: Family::default(),
            errors: Family::default(),
            cold_starts: Family::default(),
            throttles: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
            init_duration: Family::new_with_constructor(duration_histogram),
            gb_seconds: Family::default(),
            cost: Family::default(),
            concurrent: Family::default(),
            environments: Family::default(),
            cpu_quota: Family::default(),
            provisioned_requested: Family::default(),
            provisioned_ready: Family::default(),
            memory_committed: Gauge::default(),
            async_queue_depth: Gauge::default(),
            async_oldest_event_age: F64Gauge::default(),
            seen: Mutex::default(),
            usage: Mutex::default(),
            prices,
        };
        let r = &mut m.registry;
        r.register(
            "invocations",
            "Invocations by function and executed version",
            m.invocations.clone(),
        );
        r.register(
            "errors",
            "Invocations that ended in a function error or timeout",
            m.errors.clone(),
        );
        r.register(
            "cold_starts",
            "Invocations that started a new execution environment",
            m.cold_starts.clone(),
        );
        r.register(
            "throttles",
            "Invocations refused by a concurrency or capacity limit",
            m.throttles.clone(),
        );
        r.register_with_unit(
            "duration",
            "Invocation duration",
            Unit::Seconds,
            m.duration.clone(),
        );
        r.register_with_unit(
            "init_duration",
            "Init duration of new environments",
            Unit::Seconds,
            m.init_duration.clone(),
        );
        r.register(
            "billed_gb_seconds",
            "Billed duration times memory, in GB-seconds",
            m.gb_seconds.clone(),
        );
        r.register(
            "estimated_cost_usd",
            "Estimated cost under the configured price table, in USD",
            m.cost.clone(),
        );
        r.register(
            "concurrent_executions",
            "Invocations running now",
            m.concurrent.clone(),
        );
        r.register(
            "environments",
            "Execution environments by state",
            m.environments.clone(),
        );
        r.register(
            "cpu_quota",
            "CPUs an environment of the version may use (CFS quota, MemorySize / 1769 MB, at most 6 and the host's cores); 0: unlimited",
            m.cpu_quota.clone(),
        );
        r.register(
            "provisioned_concurrency_requested",
            "Environments a provisioned concurrency configuration asks for",
            m.provisioned_requested.clone(),
        );
        r.register(
            "provisioned_concurrency_ready",
            "Provisioned environments initialised and alive",
            m.provisioned_ready.clone(),
        );
        r.register_with_unit(
            "memory_committed",
            "Memory committed to execution environments",
            Unit::Bytes,
            m.memory_committed.clone(),
        );
        r.register(
            "async_queue_depth",
            "Asynchronous events waiting or in flight",
            m.async_queue_depth.clone(),
        );
        r.register_with_unit(
            "async_oldest_event_age",
            "Age of the oldest asynchronous event",
            Unit::Seconds,
            m.async_oldest_event_age.clone(),
        );
        m
    }

    /// The series of a function version, looked up in the families once
    /// and kept (handles share their series' values), so that recording an
    /// invocation allocates no label set.
    fn series<T>(
        &self,
        function: &str,
        version: &str,
        f: impl FnOnce(&mut VersionSeries) -> T,
    ) -> T {
        let mut all = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if !all.get(function).is_some_and(|v| v.contains_key(version)) {
            let l = Version {
                function: function.to_owned(),
                version: version.to_owned(),
            };
            let fl = Function {
                function: function.to_owned(),
            };
            let series = VersionSeries {
                invocations: self.invocations.get_or_create(&l).clone(),
                duration: self.duration.get_or_create(&l).clone(),
                gb_seconds: self.gb_seconds.get_or_create(&fl).clone(),
                cost: self.cost.get_or_create(&fl).clone(),
                label: l,
                errors: None,
                cold_starts: None,
            };
            all.entry(function.to_owned())
                .or_default()
                .insert(version.to_owned(), series);
        }
        let series = all
            .get_mut(function)
            .and_then(|v| v.get_mut(version))
            .unwrap_or_else(|| unreachable!("inserted above"));
        f(series)
    }

    /// Records a finished invocation.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn invocation(
        &self,
        function: &str,
        version: &str,
        architecture: &str,
        memory_mb: u32,
        duration_ms: f64,
        init_ms: Option<f64>,
        failed: bool,
    ) {
        let billed_ms = duration_ms.ceil().max(1.0);
        let gbs = billed_ms / 1000.0 * f64::from(memory_mb) / 1024.0;
        // Held until the cost gauge is set: concurrent invocations set it in order.
        let mut usage = self.usage.lock().unwrap_or_else(|e| e.into_inner());
        if !usage.contains_key(function) {
            usage.insert(function.to_owned(), Usage::default());
        }
        let u = usage
            .get_mut(function)
            .unwrap_or_else(|| unreachable!("inserted above"));
        u.requests += 1;
        u.gb_seconds += gbs;
        if u.architecture != architecture {
            architecture.clone_into(&mut u.architecture);
        }
        let cost = u.cost(&self.prices);
        self.series(function, version, |m| {
            m.invocations.inc();
            if failed {
                m.errors
                    .get_or_insert_with(|| self.errors.get_or_create(&m.label).clone())
                    .inc();
            }
            m.duration.observe(duration_ms / 1000.0);
            if let Some(init) = init_ms {
                let (cold, init_duration) = m.cold_starts.get_or_insert_with(|| {
                    (
                        self.cold_starts.get_or_create(&m.label).clone(),
                        self.init_duration.get_or_create(&m.label).clone(),
                    )
                });
                cold.inc();
                init_duration.observe(init / 1000.0);
            }
            m.gb_seconds.inc_by(gbs);
            m.cost.set(cost);
        });
    }

    /// Records a throttled invocation.
    pub(crate) fn throttle(&self, function: &str) {
        self.throttles
            .get_or_create(&Function {
                function: function.to_owned(),
            })
            .inc();
    }

    /// Removes a deleted function's series (its metered usage stays).
    pub fn forget(&self, function: &str) {
        let versions = self
            .seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(function)
            .unwrap_or_default();
        for version in versions.into_keys() {
            let l = Version {
                function: function.to_owned(),
                version,
            };
            self.invocations.remove(&l);
            self.errors.remove(&l);
            self.cold_starts.remove(&l);
            self.duration.remove(&l);
            self.cpu_quota.remove(&l);
            self.init_duration.remove(&l);
        }
        let f = Function {
            function: function.to_owned(),
        };
        self.throttles.remove(&f);
        self.concurrent.remove(&f);
    }

    /// Sets the gauges of environments by state.
    pub(crate) fn set_environments(&self, counts: &[(&str, i64)]) {
        for (state, n) in counts {
            self.environments
                .get_or_create(&State {
                    state: (*state).to_owned(),
                })
                .set(*n);
        }
    }

    /// Sets a provisioned configuration's gauges (`key` is `function:qualifier`).
    pub(crate) fn set_provisioned(&self, key: &str, requested: u32, ready: u32) {
        let (function, qualifier) = key.split_once(':').unwrap_or((key, ""));
        let l = Qualified {
            function: function.to_owned(),
            qualifier: qualifier.to_owned(),
        };
        self.provisioned_requested
            .get_or_create(&l)
            .set(i64::from(requested));
        self.provisioned_ready
            .get_or_create(&l)
            .set(i64::from(ready));
    }

    /// Forgets the gauges of provisioned configurations that are gone.
    pub(crate) fn clear_provisioned(&self) {
        self.provisioned_requested.clear();
        self.provisioned_ready.clear();
    }

    /// The metered usage per function, with the estimated cost.
    pub fn usage(&self) -> Vec<(String, Usage, f64)> {
        self.usage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(f, u)| (f.clone(), u.clone(), u.cost(&self.prices)))
            .collect()
    }

    /// Restores usage metered before a restart.
    pub fn restore_usage(&self, saved: BTreeMap<String, Usage>) {
        for (function, u) in &saved {
            let f = Function {
                function: function.clone(),
            };
            self.gb_seconds.get_or_create(&f).inc_by(u.gb_seconds);
            self.cost.get_or_create(&f).set(u.cost(&self.prices));
        }
        *self.usage.lock().unwrap_or_else(|e| e.into_inner()) = saved;
    }

    /// The metered usage, for saving.
    pub fn usage_snapshot(&self) -> BTreeMap<String, Usage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        self.encode_with(Vec::new())
    }

    /// OpenMetrics text of every metric, then of the `extra` collectors
    /// (`crate::openmetrics`), read now.
    pub fn encode_with(&self, extra: Vec<Box<dyn crate::openmetrics::Collector>>) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut others = Registry::default();
        for c in extra {
            others.register_collector(c);
        }
        let mut out = String::new();
        let encoded = encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &others))
            .and_then(|()| encode_eof(&mut out));
        if let Err(e) = encoded {
            tracing::error!(error = %e, "Cannot encode metrics.");
        }
        out
    }
}

impl crate::Invoker {
    /// The engine's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Starts an environment, counted as initialising meanwhile.
    pub(crate) async fn start_environment(
        &self,
        new: crate::env::NewEnvironment,
    ) -> Result<crate::env::Started, crate::InvokeError> {
        use std::sync::atomic::Ordering;
        let mut new = new;
        new.uid = Some(self.inner.uids.lease());
        let quota = if self.inner.cfg.cpu_quota && self.inner.backend.isolates_users() {
            crate::cpu_quota_millis(new.snapshot.memory_mb, crate::host_cpus())
        } else {
            0
        };
        self.inner
            .metrics
            .cpu_quota
            .get_or_create(&Version {
                function: new.snapshot.function_name.clone(),
                version: new.snapshot.version.clone(),
            })
            .set(quota as f64 / 1000.0);
        self.inner.initialising.fetch_add(1, Ordering::Relaxed);
        let started =
            crate::env::Environment::start(&self.inner.cfg, &self.inner.backend, new).await;
        self.inner.initialising.fetch_sub(1, Ordering::Relaxed);
        started
    }

    /// Sets the gauges read at scrape time: running invocations,
    /// environments by state, committed memory, provisioned environments.
    pub fn refresh_gauges(&self) {
        use std::sync::atomic::Ordering;
        let m = &self.inner.metrics;
        for (function, n) in self.inner.concurrency.in_flight_by_function() {
            m.concurrent
                .get_or_create(&Function { function })
                .set(i64::from(n));
        }
        let counts = self.environments();
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        m.set_environments(&[
            ("initialising", gauge(counts.initialising)),
            ("busy", gauge(counts.busy)),
            ("idle", gauge(counts.idle)),
            ("frozen", gauge(counts.frozen)),
        ]);
        let mb = self.inner.committed_mb.load(Ordering::Relaxed);
        m.memory_committed
            .set(i64::try_from(mb.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX));
        m.clear_provisioned();
        let keys: Vec<String> = self.lock_provisions().keys().cloned().collect();
        for key in keys {
            if let Some((requested, ready)) = self.provisioned_status(&key) {
                m.set_provisioned(&key, requested, ready);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meters_and_encodes() {
        let m = Metrics::new(Prices::default());
        m.invocation("f", "$LATEST", "x86_64", 1024, 999.2, Some(50.0), false);
        m.invocation("f", "$LATEST", "x86_64", 1024, 0.2, None, true);
        m.throttle("f");
        let u = &m.usage()[0];
        assert_eq!((u.0.as_str(), u.1.requests), ("f", 2));
        assert!((u.1.gb_seconds - 1.001).abs() < 1e-9);
        let cost = 2.0 / 1e6 * 0.20 + 1.001 * 0.000_016_666_7;
        assert!((u.2 - cost).abs() < 1e-12);
        let text = m.encode();
        assert!(
            text.contains("lambdad_invocations_total{function=\"f\",version=\"$LATEST\"} 2"),
            "{text}"
        );
        assert!(text.contains("lambdad_errors_total{function=\"f\",version=\"$LATEST\"} 1"));
        assert!(text.contains("lambdad_cold_starts_total{function=\"f\",version=\"$LATEST\"} 1"));
        assert!(text.contains("lambdad_throttles_total{function=\"f\"} 1"));
        m.forget("f");
        assert!(!m.encode().contains("lambdad_invocations_total{"));
    }
}
