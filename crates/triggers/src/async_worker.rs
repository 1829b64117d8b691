//! Asynchronous invocation: events are stored durably before the 202 (by
//! the funnel, `lambdad_service::invocations`); this worker leases due
//! events from the store, invokes through the funnel, and applies Lambda's
//! rules (retry.rs): function errors are retried `MaximumRetryAttempts`
//! times after the configured delays, throttles and service errors are
//! retried with backoff until `MaximumEventAgeInSeconds`, and the outcome
//! goes to the OnSuccess / OnFailure destination. An event leaves the
//! queue only once its outcome is handled, so a crash (even kill -9) loses
//! nothing: expired leases are handed out again (at-least-once delivery).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use lambdad_engine::InvokeError;
use lambdad_service::Services;
use lambdad_service::event_configs::Settings;
use lambdad_service::events::targets::{Refusal, RuleMessage};
use lambdad_service::invocations::InvocationError;
use lambdad_service::invocations::{Invocations, now_ms};
use lambdad_service::telemetry::Trigger;
use lambdad_store::{AsyncEvent, Store};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::async_limit::Limiter;
use crate::destinations::{Destinations, Message};
use crate::retry::{self, Decision, Failure, Limits, Outcome};

/// A lease outlives the longest function timeout (15 min).
const LEASE_MS: i64 = 16 * 60 * 1000;

/// Most events leased in one transaction.
const LEASE_BATCH: usize = 64;

/// How often an idle worker looks for events that came due.
const IDLE_POLL: Duration = Duration::from_millis(50);

/// How soon a store write of the queue that failed is tried again.
const STORE_RETRY: Duration = Duration::from_secs(1);

/// What the worker's tasks share.
#[derive(Clone)]
struct Queue {
    services: Services,
    store: Arc<dyn Store>,
    region: String,
    delays: Arc<Vec<Duration>>,
    destinations: Destinations,
    shutdown: CancellationToken,
}

impl Queue {
    fn invocations(&self) -> &Invocations {
        &self.services.invocations
    }

    fn count(
        &self,
        counter: impl Fn(&lambdad_service::invocations::AsyncStats) -> &std::sync::atomic::AtomicU64,
    ) {
        counter(self.services.async_stats()).fetch_add(1, Ordering::Relaxed);
    }

    /// Removes a handled event.
    async fn finish(&self, id: &str) {
        self.until_written(id, "remove a handled asynchronous event", || {
            let invocations = self.invocations().clone();
            let id = id.to_owned();
            async move {
                invocations
                    .forget_event(id)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
        .await;
    }

    /// Makes an event due again at `at_ms` with `attempts` counted.
    async fn reschedule(&self, id: &str, attempts: u32, at_ms: i64) {
        self.until_written(id, "reschedule an asynchronous event", || {
            let (store, key) = (self.store.clone(), id.to_owned());
            async move {
                match tokio::task::spawn_blocking(move || {
                    store.reschedule_event(&key, attempts, at_ms)
                })
                .await
                {
                    Ok(done) => done.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
    }

    /// Runs the store write `write` of the leased event `id` until it
    /// succeeds. A write that failed (a full disk, say) is tried again every
    /// [`STORE_RETRY`] rather than left to the lease's end, 16 minutes
    /// away: a handled event would otherwise stay queued, and run again,
    /// long after the disk has room. On shutdown the event stays leased;
    /// the next start releases it (at-least-once).
    async fn until_written<F, Fut>(&self, id: &str, what: &str, mut write: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let mut failures = 0u32;
        loop {
            match write().await {
                Ok(()) if failures == 0 => return,
                Ok(()) => {
                    tracing::info!(request_id = id, failures, "Could {what} again.");
                    return;
                }
                Err(error) => {
                    self.count(|s| &s.store_errors);
                    if failures == 0 {
                        tracing::warn!(request_id = id, error, "Cannot {what}; trying again.");
                    }
                    failures += 1;
                }
            }
            tokio::select! {
                () = tokio::time::sleep(STORE_RETRY) => {}
                () = self.shutdown.cancelled() => return,
            }
        }
    }
}

/// Runs the asynchronous queue until `shutdown` is cancelled; events in
/// flight then finish or are leased again at the next start.
pub async fn run(
    services: Services,
    region: String,
    retry_delays: Vec<Duration>,
    destinations: Destinations,
    shutdown: CancellationToken,
) {
    let store = services.ctx.store.clone();
    let q = Queue {
        store: store.clone(),
        services,
        region,
        delays: Arc::new(retry_delays),
        destinations,
        shutdown: shutdown.clone(),
    };
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
    // New events ring this; the idle poll remains for events that come due
    // later (retries) and leases that expire.
    let doorbell = Arc::new(tokio::sync::Notify::new());
    let bell = doorbell.clone();
    q.store
        .on_events_queued(Box::new(move || bell.notify_one()));
    // A backlog stays in the store, not in memory: events are leased only
    // as places in flight free up (async_limit.rs).
    let limiter = Arc::new(Limiter::default());
    loop {
        let mut slots = tokio::select! {
            slots = limiter.acquire(LEASE_BATCH) => slots,
            () = shutdown.cancelled() => return,
        };
        let free = slots.len();
        let limit = limiter.limit() as u64;
        q.services
            .async_stats()
            .in_flight_limit
            .store(limit, Ordering::Relaxed);
        let store = q.store.clone();
        let leased =
            tokio::task::spawn_blocking(move || store.lease_events(now_ms(), LEASE_MS, free)).await;
        let events = match leased {
            Ok(Ok(e)) => e,
            Ok(Err(e)) => {
                q.count(|s| &s.store_errors);
                tracing::error!(error = %e, "Cannot lease asynchronous events.");
                Vec::new()
            }
            Err(_) => Vec::new(),
        };
        if events.is_empty() {
            tokio::select! {
                () = doorbell.notified() => continue,
                () = tokio::time::sleep(IDLE_POLL) => continue,
                () = shutdown.cancelled() => return,
            }
        }
        // Settings are read once per function and qualifier in the batch.
        let mut settings: HashMap<(String, Option<String>), Arc<Settings>> = HashMap::new();
        for event in events {
            if is_message(&event.function) {
                let (q, slot) = (q.clone(), slots.pop());
                tokio::spawn(async move {
                    send_message(&q, event).await;
                    drop(slot);
                });
                continue;
            }
            let key = (event.function.clone(), event.qualifier.clone());
            let s = match settings.get(&key) {
                Some(s) => s.clone(),
                None => {
                    let s = Arc::new(
                        q.services
                            .event_configs
                            .settings(&key.0, key.1.as_deref())
                            .await,
                    );
                    settings.insert(key, s.clone());
                    s
                }
            };
            let q = q.clone();
            let (slot, limiter) = (slots.pop(), limiter.clone());
            tokio::spawn(async move {
                let function = event.function.clone();
                if let Some(run) = handle(&q, &s, event).await {
                    limiter.record(&function, run);
                }
                drop(slot);
            });
        }
    }
}

/// Whether an event's `function` is a queue's or topic's ARN: an S3 event
/// record for a bucket's queue or topic destination, or an EventBridge
/// rule's event for a queue or topic target (function names have no `:`).
fn is_message(function: &str) -> bool {
    function.starts_with("arn:aws:sqs:") || function.starts_with("arn:aws:sns:")
}

/// How long messages for a queue or topic are tried before they are
/// dropped (S3's and EventBridge's day).
const MESSAGE_MAX_AGE_MS: i64 = 24 * 60 * 60 * 1000;

/// Whether S3 may still send its event record to the queue or topic: as
/// S3, only while the destination's policy lets S3 send; a record it
/// refuses is dropped (counted, and a warning in the log).
async fn s3_may_send(q: &Queue, event: &AsyncEvent) -> bool {
    match q
        .services
        .s3_delivery_refusal(&event.function, &event.payload)
        .await
    {
        Ok(Some(r)) if !r.missing => {
            q.count(|s| &s.destination_failures);
            tracing::warn!(request_id = %event.id, destination = %event.function, reason = %r.value, "Dropping an S3 event record: the destination's policy does not let S3 send it.");
            false
        }
        Ok(_) => true,
        Err(e) => {
            tracing::warn!(request_id = %event.id, destination = %event.function, error = %e, "Cannot read an S3 destination's policy; sending anyway.");
            true
        }
    }
}

/// Whether EventBridge may send a rule's event to the queue or topic: as
/// on AWS, a queue or topic that does not exist, or whose policy does not
/// let `events.amazonaws.com` send for the rule, is not retried: the event
/// is dropped (counted, and a warning in the log).
async fn rule_may_send(q: &Queue, event: &AsyncEvent, m: &RuleMessage) -> bool {
    match q
        .services
        .rules
        .message_refusal(&q.region, &event.function, &m.rule_arn)
        .await
    {
        Ok(Some(why)) => {
            q.count(|s| &s.destination_failures);
            let reason = match why {
                Refusal::Missing => "it does not exist",
                Refusal::Denied => "its policy does not let EventBridge send the rule's events",
            };
            tracing::warn!(request_id = %event.id, rule = %m.rule_arn, target = %event.function, reason, "Dropping a rule's event for a queue or topic target.");
            false
        }
        Ok(None) => true,
        Err(e) => {
            tracing::warn!(request_id = %event.id, target = %event.function, error = %e, "Cannot read a rule target's policy; sending anyway.");
            true
        }
    }
}

/// Sends an S3 event record (SNS `Subject` "Amazon S3 Notification", as
/// S3) or an EventBridge rule's event (the target's `MessageGroupId`, and
/// the queued event's id as the FIFO deduplication id, so that a retry is
/// not delivered twice) to its queue or topic; a failure is tried again
/// with exponential back-off (at most a minute apart) for
/// [`MESSAGE_MAX_AGE_MS`].
async fn send_message(q: &Queue, event: AsyncEvent) {
    let rule = event
        .qualifier
        .as_deref()
        .and_then(RuleMessage::from_qualifier);
    let may = match &rule {
        Some(m) => rule_may_send(q, &event, m).await,
        None => s3_may_send(q, &event).await,
    };
    if !may {
        q.finish(&event.id).await;
        return;
    }
    let body = String::from_utf8_lossy(&event.payload);
    let message = match &rule {
        Some(m) => Message {
            group_id: m.message_group_id.as_deref(),
            deduplication_id: Some(&event.id),
            ..Message::new(&body)
        },
        None => Message {
            subject: event
                .function
                .starts_with("arn:aws:sns:")
                .then_some("Amazon S3 Notification"),
            ..Message::new(&body)
        },
    };
    match q.destinations.send_message(&event.function, &message).await {
        Ok(()) => q.finish(&event.id).await,
        Err(e) if now_ms() - event.received_ms > MESSAGE_MAX_AGE_MS => {
            q.count(|s| &s.destination_failures);
            tracing::warn!(request_id = %event.id, destination = %event.function, error = %e, "Dropping a message its queue or topic refused for a day.");
            q.finish(&event.id).await;
        }
        Err(e) => {
            if event.attempts == 0 {
                tracing::warn!(request_id = %event.id, destination = %event.function, error = %e, "Cannot send a message to a queue or topic; trying again.");
            }
            let delay = 1000i64 << event.attempts.min(6);
            q.reschedule(&event.id, event.attempts + 1, now_ms() + delay)
                .await;
        }
    }
}

/// AWS's invocation record, sent to destinations.
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

/// Sends the record built by `rec` to `destination`, if one is configured.
async fn deliver(
    q: &Queue,
    destination: Option<&str>,
    rec: impl FnOnce() -> Value,
    request_id: &str,
) {
    // The record is built only for a configured destination.
    let Some(dest) = destination else { return };
    let rec = rec();
    let result = if dest.starts_with("arn:aws:lambda:") {
        match lambdad_model::arn::parse_function_ref(dest) {
            Some(target) => {
                let id = uuid::Uuid::new_v4().to_string();
                q.invocations()
                    .enqueue_event(
                        &target.name,
                        target.qualifier.as_deref(),
                        Bytes::from(rec.to_string()),
                        &id,
                    )
                    .await
                    .map_err(|e| e.to_string())
            }
            None => Err("not a function ARN".to_owned()),
        }
    } else if dest.starts_with("arn:aws:events:") {
        let success = rec["requestContext"]["condition"] == "Success";
        let function_arn = rec["requestContext"]["functionArn"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        q.destinations
            .put_record(dest, &function_arn, success, &rec.to_string())
            .await
            .map_err(|e| e.to_string())
    } else {
        q.destinations
            .send(dest, &rec.to_string(), &[])
            .await
            .map_err(|e| e.to_string())
    };
    if let Err(error) = result {
        q.count(|s| &s.destination_failures);
        tracing::warn!(
            request_id,
            destination = dest,
            error,
            "Cannot deliver to the destination."
        );
    }
}

/// Sends the original event to the function's dead-letter queue, as AWS does.
async fn dead_letter(q: &Queue, event: &AsyncEvent, error_message: &str) {
    let Ok(rec) = q
        .services
        .functions
        .get(&q.region, &event.function, event.qualifier.as_deref())
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
    if let Err(e) = q.destinations.send(&target, &body, &attrs).await {
        q.count(|s| &s.dead_letter_errors);
        tracing::warn!(request_id = %event.id, target = %target, error = %e, "Cannot deliver to the dead-letter queue.");
    }
}

/// Runs one leased event and handles its outcome; returns the function's
/// run time when it ran.
async fn handle(q: &Queue, settings: &Settings, event: AsyncEvent) -> Option<Duration> {
    let limits = Limits {
        max_retries: settings.max_retries,
        max_age_ms: settings.max_age_ms,
        delays: &q.delays,
    };
    let arn = format!(
        "{}:{}",
        q.invocations().function_arn(&q.region, &event.function),
        event.qualifier.as_deref().unwrap_or("$LATEST")
    );
    if retry::expired(event.received_ms, now_ms(), &limits) {
        q.count(|s| &s.age_exceeded);
        let rec = || record(&event, &arn, "EventAgeExceeded", event.attempts, None);
        deliver(q, settings.on_failure.as_deref(), rec, &event.id).await;
        q.finish(&event.id).await;
        return None;
    }
    let qualifier = event.qualifier.as_deref();
    let snapshot = match q
        .invocations()
        .resolve(&q.region, &event.function, qualifier)
        .await
    {
        Ok(s) => s,
        Err(InvocationError::Common(e)) if e.is_function_not_found() => {
            tracing::warn!(request_id = %event.id, function = %event.function, "Dropping an event of a deleted function.");
            q.finish(&event.id).await;
            return None;
        }
        Err(e) => {
            tracing::warn!(request_id = %event.id, error = %e, "Cannot resolve an asynchronous event's function; retrying.");
            let at = now_ms() + 1000;
            q.reschedule(&event.id, event.attempts, at).await;
            return None;
        }
    };
    let req = Invocations::request(
        snapshot,
        qualifier,
        &event.id,
        Bytes::from(event.payload.clone()),
    );
    let attempts = event.attempts + 1;
    let waited = Duration::from_millis(u64::try_from(now_ms() - event.received_ms).unwrap_or(0));
    let result = q
        .invocations()
        .invoke(req, Trigger::Event, waited, true)
        .await;
    let run = result
        .as_ref()
        .ok()
        .and_then(|r| r.timings)
        .map(|t| t.finished.saturating_sub(t.started));
    let resp = match result {
        Ok(resp) => resp,
        Err(e) => {
            // It never reached the function: back off, using no attempt.
            let failure = match e {
                InvocationError::Invoke(InvokeError::Throttled(_)) => Failure::Throttled,
                _ => Failure::PlatformError,
            };
            let again = retry::backoff(failure, event.attempts, now_ms());
            q.reschedule(&event.id, again.attempts, again.at_ms).await;
            return run;
        }
    };
    let outcome = match resp.function_error {
        None => Outcome::Succeeded,
        Some(_) => Outcome::FunctionError,
    };
    match retry::decide(outcome, attempts, event.received_ms, now_ms(), &limits) {
        Decision::Done => {
            q.count(|s| &s.succeeded);
            let response = Some((&resp.payload, resp.executed_version.as_str(), false));
            let rec = || record(&event, &arn, "Success", attempts, response);
            deliver(q, settings.on_success.as_deref(), rec, &event.id).await;
            q.finish(&event.id).await;
        }
        Decision::GiveUp(why) => {
            let message = serde_json::from_slice::<Value>(&resp.payload)
                .ok()
                .and_then(|v| v["errorMessage"].as_str().map(str::to_owned))
                .unwrap_or_default();
            match why {
                retry::GiveUp::RetriesExhausted => q.count(|s| &s.retries_exhausted),
                retry::GiveUp::EventAgeExceeded => q.count(|s| &s.age_exceeded),
            }
            dead_letter(q, &event, &message).await;
            let response = Some((&resp.payload, resp.executed_version.as_str(), true));
            let rec = || record(&event, &arn, why.condition(), attempts, response);
            deliver(q, settings.on_failure.as_deref(), rec, &event.id).await;
            q.finish(&event.id).await;
        }
        Decision::Retry(again) => {
            q.reschedule(&event.id, again.attempts, again.at_ms).await;
        }
    }
    run
}
