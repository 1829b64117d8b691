//! Asynchronous invocation: events are stored durably before the 202, a
//! worker leases due events from the store, invokes, and applies Lambda's
//! rules: function errors are retried `MaximumRetryAttempts` times after the
//! configured delays, throttles and service errors are retried with backoff
//! until `MaximumEventAgeInSeconds`, and the outcome goes to the OnSuccess /
//! OnFailure destination. An event leaves the queue only once its outcome is
//! handled, so a crash (even kill -9) loses nothing: expired leases are
//! handed out again (at-least-once delivery).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use lambdad_engine::{InvokeError, InvokeRequest, Invoker};
use lambdad_model::Code;
use lambdad_store::AsyncEvent;
use serde::Deserialize;
use serde_json::{Value, json};

use super::async_limit::Limiter;
use super::destinations::Destinations;
use super::functions::{Functions, blocking};
use crate::api::error::{ApiError, ApiResult};

/// Counters of the asynchronous path, kept for the metrics endpoint.
#[derive(Debug, Default)]
pub struct AsyncStats {
    /// Events accepted (202).
    pub received: AtomicU64,
    /// Events whose function succeeded.
    pub succeeded: AtomicU64,
    /// Events given up after their retries.
    pub retries_exhausted: AtomicU64,
    /// Events dropped for their age.
    pub age_exceeded: AtomicU64,
    /// Dead-letter deliveries that failed.
    pub dead_letter_errors: AtomicU64,
    /// Destination deliveries that failed.
    pub destination_failures: AtomicU64,
    /// How many events may run at once now (service/async_limit.rs).
    pub in_flight_limit: AtomicU64,
}

impl AsyncStats {
    /// The counters as JSON.
    pub fn to_json(&self) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        json!({
            "received": get(&self.received),
            "succeeded": get(&self.succeeded),
            "retriesExhausted": get(&self.retries_exhausted),
            "ageExceeded": get(&self.age_exceeded),
            "deadLetterErrors": get(&self.dead_letter_errors),
            "destinationFailures": get(&self.destination_failures),
            "inFlightLimit": get(&self.in_flight_limit),
        })
    }
}

/// A lease outlives the longest function timeout (15 min).
const LEASE_MS: i64 = 16 * 60 * 1000;

/// Most events leased in one transaction.
const LEASE_BATCH: usize = 64;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `PutFunctionEventInvokeConfig` / `UpdateFunctionEventInvokeConfig` body.
#[derive(Debug, Default, Deserialize, Clone)]
#[serde(rename_all = "PascalCase")]
pub struct EventInvokeConfigRequest {
    maximum_retry_attempts: Option<i64>,
    maximum_event_age_in_seconds: Option<i64>,
    destination_config: Option<Value>,
}

/// The effective settings for one event.
#[derive(Debug, Clone)]
struct Settings {
    max_retries: u32,
    max_age_ms: i64,
    on_success: Option<String>,
    on_failure: Option<String>,
}

impl Functions {
    fn event_config_key(q: Option<&str>) -> String {
        q.unwrap_or("$LATEST").to_owned()
    }

    /// Put (replace) or Update (merge) an EventInvokeConfig.
    pub async fn put_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
        req: EventInvokeConfigRequest,
        merge: bool,
    ) -> ApiResult<Value> {
        let r = self.parse_ref(region, name)?;
        let q = Self::qualifier(&r, qualifier)?.map(str::to_owned);
        self.load(region, &r.name, q.as_deref()).await?;
        let key = Self::event_config_key(q.as_deref());
        let mut current: Value = if merge {
            self.event_config(&r.name, &key)
                .await?
                .unwrap_or_else(|| json!({}))
        } else {
            json!({})
        };
        if let Some(n) = req.maximum_retry_attempts {
            if !(0..=2).contains(&n) {
                let c = if n < 0 {
                    "greater than or equal to 0"
                } else {
                    "less than or equal to 2"
                };
                return Err(ApiError::new(
                    Code::Validation,
                    format!(
                        "1 validation error detected: Value '{n}' at 'maximumRetryAttempts' failed to satisfy constraint: Member must have value {c}"
                    ),
                ));
            }
            current["MaximumRetryAttempts"] = json!(n);
        }
        if let Some(n) = req.maximum_event_age_in_seconds {
            if !(60..=21600).contains(&n) {
                let c = if n < 60 {
                    "greater than or equal to 60"
                } else {
                    "less than or equal to 21600"
                };
                return Err(ApiError::new(
                    Code::Validation,
                    format!(
                        "1 validation error detected: Value '{n}' at 'maximumEventAgeInSeconds' failed to satisfy constraint: Member must have value {c}"
                    ),
                ));
            }
            current["MaximumEventAgeInSeconds"] = json!(n);
        }
        if let Some(d) = req.destination_config {
            for kind in ["OnSuccess", "OnFailure"] {
                if let Some(dest) = d[kind]["Destination"].as_str()
                    && !dest.starts_with("arn:aws:lambda:")
                    && !dest.starts_with("arn:aws:sqs:")
                    && !dest.starts_with("arn:aws:sns:")
                    && !dest.starts_with("arn:aws:events:")
                {
                    return Err(ApiError::new(
                        Code::InvalidParameterValue,
                        format!("The destination ARN {dest} is invalid."),
                    ));
                }
            }
            current["DestinationConfig"] = d;
        }
        let secs = now_ms() as f64 / 1000.0;
        current["LastModified"] = json!(secs);
        let (store, f, k, text) = (
            self.store.clone(),
            r.name.clone(),
            key.clone(),
            current.to_string(),
        );
        blocking(move || store.put_event_invoke_config(&f, &k, Some(&text))).await?;
        Ok(self.render_event_config(region, &r.name, &key, current))
    }

    fn render_event_config(&self, region: &str, name: &str, key: &str, mut v: Value) -> Value {
        v["FunctionArn"] = json!(format!("{}:{key}", self.arn(region, name)));
        if v.get("DestinationConfig").is_none() {
            v["DestinationConfig"] = json!({"OnSuccess": {}, "OnFailure": {}});
        }
        v
    }

    async fn event_config(&self, name: &str, key: &str) -> ApiResult<Option<Value>> {
        let (store, f) = (self.store.clone(), name.to_owned());
        let all = blocking(move || store.event_invoke_configs(&f)).await?;
        Ok(all
            .into_iter()
            .find(|(q, _)| q == key)
            .and_then(|(_, c)| serde_json::from_str(&c).ok()))
    }

    /// GetFunctionEventInvokeConfig.
    pub async fn get_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ApiResult<Value> {
        let r = self.parse_ref(region, name)?;
        let q = Self::qualifier(&r, qualifier)?.map(str::to_owned);
        self.load(region, &r.name, q.as_deref()).await?;
        let key = Self::event_config_key(q.as_deref());
        let v = self.event_config(&r.name, &key).await?.ok_or_else(|| {
            ApiError::new(
                Code::ResourceNotFound,
                format!(
                    "The function {}:{key} doesn't have an EventInvokeConfig",
                    self.arn(region, &r.name)
                ),
            )
        })?;
        Ok(self.render_event_config(region, &r.name, &key, v))
    }

    /// DeleteFunctionEventInvokeConfig.
    pub async fn delete_event_invoke_config(
        &self,
        region: &str,
        name: &str,
        qualifier: Option<&str>,
    ) -> ApiResult<()> {
        self.get_event_invoke_config(region, name, qualifier)
            .await?;
        let r = self.parse_ref(region, name)?;
        let key = Self::event_config_key(Self::qualifier(&r, qualifier)?);
        let (store, f) = (self.store.clone(), r.name.clone());
        blocking(move || store.put_event_invoke_config(&f, &key, None)).await
    }

    /// ListFunctionEventInvokeConfigs.
    pub async fn list_event_invoke_configs(&self, region: &str, name: &str) -> ApiResult<Value> {
        let r = self.parse_ref(region, name)?;
        self.load(region, &r.name, None).await?;
        let (store, f) = (self.store.clone(), r.name.clone());
        let all = blocking(move || store.event_invoke_configs(&f)).await?;
        let items: Vec<Value> = all
            .into_iter()
            .filter_map(|(q, c)| {
                serde_json::from_str(&c)
                    .ok()
                    .map(|v| self.render_event_config(region, &r.name, &q, v))
            })
            .collect();
        Ok(json!({ "FunctionEventInvokeConfigs": items }))
    }

    /// Events waiting or in flight, and when the oldest was accepted (epoch ms).
    pub async fn async_backlog(&self) -> ApiResult<(u64, Option<i64>)> {
        let store = self.store.clone();
        blocking(move || Ok((store.pending_events()?, store.oldest_event_ms()?))).await
    }

    /// Accepts an asynchronous invocation: durable (fsynced) when this returns;
    /// concurrent accepts share a commit (service/accepts.rs).
    pub async fn enqueue_event(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: Bytes,
        request_id: &str,
    ) -> ApiResult<()> {
        let now = now_ms();
        let event = AsyncEvent {
            id: request_id.to_owned(),
            function: function.to_owned(),
            qualifier: qualifier.map(str::to_owned),
            payload: payload.to_vec(),
            received_ms: now,
            attempts: 0,
            not_before_ms: now,
        };
        self.accepts.enqueue.commit(&self.store, event).await?;
        self.async_stats.received.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    async fn settings(&self, function: &str, qualifier: Option<&str>) -> Settings {
        let v = self
            .event_config(function, &Self::event_config_key(qualifier))
            .await
            .ok()
            .flatten()
            .unwrap_or_else(|| json!({}));
        Settings {
            max_retries: v["MaximumRetryAttempts"].as_u64().unwrap_or(2) as u32,
            max_age_ms: v["MaximumEventAgeInSeconds"].as_i64().unwrap_or(21600) * 1000,
            on_success: v["DestinationConfig"]["OnSuccess"]["Destination"]
                .as_str()
                .map(str::to_owned),
            on_failure: v["DestinationConfig"]["OnFailure"]["Destination"]
                .as_str()
                .map(str::to_owned),
        }
    }
}

/// Runs the asynchronous queue until the process ends.
pub async fn run_worker(
    functions: Functions,
    engine: Invoker,
    region: String,
    retry_delays: Arc<Vec<Duration>>,
    destinations: Destinations,
) {
    let store = functions.store.clone();
    match tokio::task::spawn_blocking(move || store.release_leases()).await {
        Ok(Ok(n)) if n > 0 => tracing::info!(
            events = n,
            "Asynchronous events in flight at the last stop are due again."
        ),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "Cannot release the leases of asynchronous events.")
        }
        _ => {}
    }
    // A backlog stays in the store, not in memory: events are leased only
    // as places in flight free up (service/async_limit.rs).
    let limiter = Arc::new(Limiter::default());
    loop {
        let mut slots = limiter.acquire(LEASE_BATCH).await;
        let free = slots.len();
        let limit = limiter.limit() as u64;
        functions
            .async_stats
            .in_flight_limit
            .store(limit, Ordering::Relaxed);
        let store = functions.store.clone();
        let leased =
            tokio::task::spawn_blocking(move || store.lease_events(now_ms(), LEASE_MS, free)).await;
        let events = match leased {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "Cannot lease asynchronous events.");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        if events.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        }
        // Settings are read once per function and qualifier in the batch.
        let mut settings: HashMap<(String, Option<String>), Arc<Settings>> = HashMap::new();
        for event in events {
            let key = (event.function.clone(), event.qualifier.clone());
            let s = match settings.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(functions.settings(&key.0, key.1.as_deref()).await);
                    settings.insert(key, s.clone());
                    s
                }
            };
            let (f, e, r, d) = (
                functions.clone(),
                engine.clone(),
                region.clone(),
                retry_delays.clone(),
            );
            let dest = destinations.clone();
            let (slot, limiter) = (slots.pop(), limiter.clone());
            tokio::spawn(async move {
                let function = event.function.clone();
                if let Some(run) = handle(&f, &e, &r, &d, &dest, &s, event).await {
                    limiter.record(&function, run);
                }
                drop(slot);
            });
        }
    }
}

fn record(
    event: &AsyncEvent,
    arn: &str,
    condition: &str,
    attempts: u32,
    response: Option<(&Bytes, &str, bool)>,
) -> Value {
    let parse = |b: &[u8]| {
        serde_json::from_slice::<Value>(b)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(b).into_owned()))
    };
    let ts = time::OffsetDateTime::now_utc()
        .format(&time::macros::format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .unwrap_or_default();
    let mut out = json!({
        "version": "1.0",
        "timestamp": ts,
        "requestContext": {"requestId": event.id, "functionArn": arn, "condition": condition, "approximateInvokeCount": attempts},
        "requestPayload": parse(&event.payload),
    });
    if let Some((payload, version, failed)) = response {
        let mut ctx = json!({"statusCode": 200, "executedVersion": version});
        if failed {
            ctx["functionError"] = json!("Unhandled");
        }
        out["responseContext"] = ctx;
        out["responsePayload"] = parse(payload);
    }
    out
}

async fn deliver(
    functions: &Functions,
    destinations: &Destinations,
    destination: Option<&str>,
    region: &str,
    rec: impl FnOnce() -> Value,
    request_id: &str,
) {
    // The record is built only for a configured destination.
    let Some(dest) = destination else { return };
    let rec = rec();
    if dest.starts_with("arn:aws:lambda:") {
        let target = dest.split(':').nth(6).unwrap_or_default();
        let qualifier = dest.split(':').nth(7);
        let id = uuid::Uuid::new_v4().to_string();
        if let Err(e) = functions
            .enqueue_event(target, qualifier, Bytes::from(rec.to_string()), &id)
            .await
        {
            functions
                .async_stats
                .destination_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(request_id, destination = dest, error = %e.0, "Cannot deliver to the destination.");
        }
        let _ = region;
    } else if dest.starts_with("arn:aws:events:") {
        let success = rec["requestContext"]["condition"] == "Success";
        let function_arn = rec["requestContext"]["functionArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Err(e) = destinations
            .put_record(dest, &function_arn, success, &rec.to_string())
            .await
        {
            functions
                .async_stats
                .destination_failures
                .fetch_add(1, Ordering::Relaxed);
            tracing::warn!(request_id, destination = dest, error = %e, "Cannot deliver to the destination.");
        }
    } else if let Err(e) = destinations.send(dest, &rec.to_string(), &[]).await {
        functions
            .async_stats
            .destination_failures
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(request_id, destination = dest, error = %e, "Cannot deliver to the destination.");
    }
}

/// Sends the original event to the function's dead-letter queue, as AWS does.
async fn dead_letter(
    functions: &Functions,
    destinations: &Destinations,
    region: &str,
    event: &AsyncEvent,
    error_message: &str,
) {
    let Ok(rec) = functions
        .get(region, &event.function, event.qualifier.as_deref())
        .await
    else {
        return;
    };
    let Some(target) = rec.config.dead_letter_config.and_then(|d| d.target_arn) else {
        return;
    };
    let body = String::from_utf8_lossy(&event.payload).into_owned();
    let attrs = [
        ("RequestID", "String", event.id.as_str()),
        ("ErrorCode", "Number", "200"),
        ("ErrorMessage", "String", error_message),
    ];
    if let Err(e) = destinations.send(&target, &body, &attrs).await {
        functions
            .async_stats
            .dead_letter_errors
            .fetch_add(1, Ordering::Relaxed);
        tracing::warn!(request_id = %event.id, target = %target, error = %e, "Cannot deliver to the dead-letter queue.");
    }
}

async fn handle(
    functions: &Functions,
    engine: &Invoker,
    region: &str,
    delays: &[Duration],
    destinations: &Destinations,
    settings: &Settings,
    event: AsyncEvent,
) -> Option<Duration> {
    let store = functions.store.clone();
    let finish = |id: String| {
        let (store, delete) = (store.clone(), functions.accepts.delete.clone());
        async move {
            if let Err(e) = delete.commit(&store, id).await {
                tracing::warn!(error = %e.0, "Cannot remove a handled asynchronous event; it will run again.");
            }
        }
    };
    let now = now_ms();
    let arn = format!(
        "{}:{}",
        functions.arn(region, &event.function),
        event.qualifier.as_deref().unwrap_or("$LATEST")
    );
    if now - event.received_ms > settings.max_age_ms {
        functions
            .async_stats
            .age_exceeded
            .fetch_add(1, Ordering::Relaxed);
        let rec = || record(&event, &arn, "EventAgeExceeded", event.attempts, None);
        deliver(
            functions,
            destinations,
            settings.on_failure.as_deref(),
            region,
            rec,
            &event.id,
        )
        .await;
        finish(event.id.clone()).await;
        return None;
    }
    let snapshot = match functions
        .resolve_snapshot(region, &event.function, event.qualifier.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) if e.0.code == Code::ResourceNotFound => {
            tracing::warn!(request_id = %event.id, function = %event.function, "Dropping an event of a deleted function.");
            finish(event.id.clone()).await;
            return None;
        }
        Err(_) => {
            let store = store.clone();
            let id = event.id.clone();
            let _ = tokio::task::spawn_blocking(move || {
                store.reschedule_event(&id, event.attempts, now_ms() + 1000)
            })
            .await;
            return None;
        }
    };
    let req = InvokeRequest {
        invoked_function_arn: arn.clone(),
        snapshot,
        request_id: event.id.clone(),
        payload: Bytes::from(event.payload.clone()),
        client_context: None,
        trace_id: None,
        tail_log: false,
    };
    let attempts = event.attempts + 1;
    let waited = Duration::from_millis(u64::try_from(now_ms() - event.received_ms).unwrap_or(0));
    let trigger = crate::telemetry::Trigger::Event;
    let result = functions
        .telemetry
        .invoke(engine, req, trigger, waited, true)
        .await;
    let run = result
        .as_ref()
        .ok()
        .and_then(|r| r.timings)
        .map(|t| t.finished.saturating_sub(t.started));
    match result {
        Ok(resp) if resp.function_error.is_none() => {
            functions
                .async_stats
                .succeeded
                .fetch_add(1, Ordering::Relaxed);
            let rec = || {
                record(
                    &event,
                    &arn,
                    "Success",
                    attempts,
                    Some((&resp.payload, &resp.executed_version, false)),
                )
            };
            deliver(
                functions,
                destinations,
                settings.on_success.as_deref(),
                region,
                rec,
                &event.id,
            )
            .await;
            finish(event.id.clone()).await;
        }
        Ok(resp) => {
            let delay = delays
                .get((attempts - 1) as usize)
                .or(delays.last())
                .copied()
                .unwrap_or(Duration::from_secs(60));
            let next_at = now_ms() + delay.as_millis() as i64;
            let condition = if attempts > settings.max_retries {
                Some("RetriesExhausted")
            } else if next_at - event.received_ms > settings.max_age_ms {
                // The retry would come after the event's maximum age: give up now, as Lambda does.
                Some("EventAgeExceeded")
            } else {
                None
            };
            match condition {
                Some(condition) => {
                    let message = serde_json::from_slice::<Value>(&resp.payload)
                        .ok()
                        .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
                        .unwrap_or_default();
                    let counter = if condition == "RetriesExhausted" {
                        &functions.async_stats.retries_exhausted
                    } else {
                        &functions.async_stats.age_exceeded
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                    dead_letter(functions, destinations, region, &event, &message).await;
                    let rec = || {
                        record(
                            &event,
                            &arn,
                            condition,
                            attempts,
                            Some((&resp.payload, &resp.executed_version, true)),
                        )
                    };
                    deliver(
                        functions,
                        destinations,
                        settings.on_failure.as_deref(),
                        region,
                        rec,
                        &event.id,
                    )
                    .await;
                    finish(event.id.clone()).await;
                }
                None => {
                    let (store, id) = (store.clone(), event.id.clone());
                    let _ = tokio::task::spawn_blocking(move || {
                        store.reschedule_event(&id, attempts, next_at)
                    })
                    .await;
                }
            }
        }
        Err(e) => {
            // Throttles and platform errors do not use up retry attempts: back off.
            let backoff = if matches!(e, InvokeError::Throttled(_)) {
                1000
            } else {
                5000
            };
            let (store, id, kept) = (store.clone(), event.id.clone(), event.attempts);
            let _ = tokio::task::spawn_blocking(move || {
                store.reschedule_event(&id, kept, now_ms() + backoff)
            })
            .await;
        }
    }
    run
}
