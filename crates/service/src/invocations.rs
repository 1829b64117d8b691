//! The invocation funnel: every entry point (Invoke,
//! InvokeWithResponseStream, function URLs, the asynchronous queue, event
//! source mappings, rules and schedules) checks, resolves and runs an
//! invocation here, so that the rules are written once: the invocation
//! type and log type, payload limits, the client context, the version an
//! alias routes to, the ARN the function sees as invoked, tracing, and the
//! durable accept of asynchronous events.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use lambdad_engine::{InvokeError, InvokeRequest, InvokeResponse};
use lambdad_model::{VersionSnapshot, validate};
use lambdad_store::AsyncEvent;
use serde_json::{Value, json};

use crate::accepts::Accepts;
use crate::context::{Context, blocking};
use crate::error::service_error;
use crate::telemetry::{Telemetry, Trigger};

/// Largest synchronous payload (AWS: 6 MB).
pub const MAX_SYNC_PAYLOAD: usize = 6_291_456;
/// Largest client context, base64-encoded.
pub const MAX_CLIENT_CONTEXT: usize = 3583;
/// Default largest asynchronous payload (AWS: 256 KiB).
pub const DEFAULT_ASYNC_PAYLOAD: usize = 262_144;
/// The largest asynchronous payload lambdad can be configured to take (1 MiB).
pub const MAX_ASYNC_PAYLOAD: usize = 1_048_576;

service_error! {
    /// Why an invocation cannot be accepted or run. The triggers decide
    /// between retrying and giving up on its variants: a throttle is
    /// `Invoke(InvokeError::Throttled(_))`, a function that does not exist
    /// (any more) is `Common(e)` with `e.is_function_not_found()`.
    pub enum InvocationError {
        /// An invocation type the operation does not take (the list it takes).
        #[error("{}", validate::one_error(
            .given,
            "invocationType",
            &enum_constraint(.allowed),
        ))]
        BadInvocationType { given: String, allowed: String } => InvalidParameterValue,
        /// A log type other than `None` or `Tail`.
        #[error("{}", validate::one_error(
            .log_type,
            "logType",
            "Member must satisfy enum value set: [None, Tail]",
        ))]
        BadLogType { log_type: String } => InvalidParameterValue,
        /// An `Event` payload of `size` bytes, over the `limit`.
        #[error(
            "{size} byte payload is too large for the Event invocation type (limit {limit} bytes)"
        )]
        EventTooLarge { size: usize, limit: usize } => RequestEntityTooLarge,
        /// A payload that is not JSON (the parser's complaint).
        #[error(
            "Could not parse request body into json: Could not parse payload into json: {0}"
        )]
        NotJson(String) => InvalidRequestContent,
        /// A client context that is not base64, or longer than [`MAX_CLIENT_CONTEXT`].
        #[error(
            "Client context must be a valid Base64-encoded JSON object of at most {MAX_CLIENT_CONTEXT} bytes."
        )]
        BadClientContext => InvalidParameterValue,
    }
    wraps {
        /// The engine could not run the invocation (throttles included).
        Invoke(InvokeError),
    }
}

/// Shorthand for invocation results.
pub type InvocationResult<T> = Result<T, InvocationError>;

fn enum_constraint(allowed: &str) -> String {
    format!("Member must satisfy enum value set: [{allowed}]")
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

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
    /// Store writes of the queue that failed (the event runs again later).
    pub store_errors: AtomicU64,
    /// How many events may run at once now (the queue's adaptive limit).
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
            "storeErrors": get(&self.store_errors),
            "inFlightLimit": get(&self.in_flight_limit),
        })
    }
}

/// An invocation as a client asked for it (Invoke's parameters), not yet checked.
#[derive(Debug)]
pub struct InvokeInput<'a> {
    /// The region the request addresses.
    pub region: &'a str,
    /// `FunctionName` (a name, a partial or a full ARN, maybe qualified).
    pub function: &'a str,
    /// `Qualifier`.
    pub qualifier: Option<&'a str>,
    /// `X-Amz-Invocation-Type` (default `RequestResponse`).
    pub invocation_type: Option<&'a str>,
    /// The invocation types the operation takes.
    pub allowed: &'a [&'a str],
    /// `X-Amz-Log-Type`.
    pub log_type: Option<&'a str>,
    /// The payload (at most [`MAX_SYNC_PAYLOAD`]; the caller reads the body).
    pub payload: Bytes,
    /// `X-Amz-Client-Context` (base64).
    pub client_context: Option<&'a str>,
    /// `X-Amzn-Trace-Id`.
    pub trace_id: Option<&'a str>,
    /// The request id the invocation gets.
    pub request_id: &'a str,
}

/// A checked invocation, resolved to the version it runs.
#[derive(Debug)]
pub enum Prepared {
    /// `DryRun`: everything checked, nothing to run.
    DryRun,
    /// `Event`: to be accepted with [`Invocations::enqueue_event`].
    Event(InvokeRequest),
    /// `RequestResponse`: to be run with [`Invocations::invoke`].
    Sync(InvokeRequest),
}

/// The ARN a function sees as invoked (`context.invoked_function_arn`):
/// the function's, with the qualifier it was invoked by, if any.
pub fn invoked_arn(snapshot: &VersionSnapshot, qualifier: Option<&str>) -> String {
    match qualifier {
        Some(q) => format!("{}:{q}", snapshot.function_arn),
        None => snapshot.function_arn.clone(),
    }
}

/// The invocation funnel.
#[derive(Clone, Debug)]
pub struct Invocations {
    ctx: Context,
    accepts: Accepts,
    stats: Arc<AsyncStats>,
    telemetry: Telemetry,
    max_async_payload: usize,
}

impl Invocations {
    /// The funnel over `ctx`, tracing through `telemetry`, accepting
    /// asynchronous payloads of at most `max_async_payload` bytes.
    pub fn new(ctx: Context, telemetry: Telemetry, max_async_payload: usize) -> Self {
        Self {
            ctx,
            accepts: Accepts::default(),
            stats: Arc::default(),
            telemetry,
            max_async_payload,
        }
    }

    /// Counters of the asynchronous path.
    pub fn stats(&self) -> &Arc<AsyncStats> {
        &self.stats
    }

    /// The invocation traces' exporter.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// The unqualified ARN of function `name`.
    pub fn function_arn(&self, region: &str, name: &str) -> String {
        self.ctx.arn(region, name)
    }

    /// Checks an Invoke-style request and resolves the version it runs.
    pub async fn prepare(&self, input: InvokeInput<'_>) -> InvocationResult<Prepared> {
        let invocation_type = input.invocation_type.unwrap_or("RequestResponse");
        if !input.allowed.contains(&invocation_type) {
            return Err(InvocationError::BadInvocationType {
                given: invocation_type.to_owned(),
                allowed: input.allowed.join(", "),
            });
        }
        let tail_log = match input.log_type {
            None | Some("None") => false,
            Some("Tail") => true,
            Some(other) => {
                return Err(InvocationError::BadLogType {
                    log_type: other.to_owned(),
                });
            }
        };
        let payload = input.payload;
        if invocation_type == "Event" && payload.len() > self.max_async_payload {
            return Err(InvocationError::EventTooLarge {
                size: payload.len(),
                limit: self.max_async_payload,
            });
        }
        let payload = if payload.iter().all(u8::is_ascii_whitespace) {
            Bytes::from_static(b"{}")
        } else {
            payload
        };
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
            return Err(InvocationError::NotJson(e.to_string()));
        }
        let client_context = input
            .client_context
            .map(decode_client_context)
            .transpose()?;
        let snapshot = self
            .ctx
            .resolve_snapshot(input.region, input.function, input.qualifier)
            .await?;
        if invocation_type == "DryRun" {
            return Ok(Prepared::DryRun);
        }
        let mut req = Self::request(snapshot, input.qualifier, input.request_id, payload);
        req.client_context = client_context;
        req.trace_id = input.trace_id.map(str::to_owned);
        req.tail_log = tail_log;
        Ok(if invocation_type == "Event" {
            Prepared::Event(req)
        } else {
            Prepared::Sync(req)
        })
    }

    /// The snapshot of `function` at `qualifier` (an alias routed by its weights).
    pub async fn resolve(
        &self,
        region: &str,
        function: &str,
        qualifier: Option<&str>,
    ) -> InvocationResult<Arc<VersionSnapshot>> {
        Ok(self
            .ctx
            .resolve_snapshot(region, function, qualifier)
            .await?)
    }

    /// An invocation of `snapshot`, invoked by `qualifier`, with no client
    /// context, trace or log tail (those are Invoke's; see [`Self::prepare`]).
    pub fn request(
        snapshot: Arc<VersionSnapshot>,
        qualifier: Option<&str>,
        request_id: &str,
        payload: Bytes,
    ) -> InvokeRequest {
        InvokeRequest {
            invoked_function_arn: invoked_arn(&snapshot, qualifier),
            snapshot,
            request_id: request_id.to_owned(),
            payload,
            client_context: None,
            trace_id: None,
            tail_log: false,
        }
    }

    /// Runs `req` through the engine, traced as started by `trigger` after
    /// `waited` in a queue; `buffered` collects a streamed response.
    pub async fn invoke(
        &self,
        req: InvokeRequest,
        trigger: Trigger,
        waited: Duration,
        buffered: bool,
    ) -> InvocationResult<InvokeResponse> {
        Ok(self
            .telemetry
            .invoke(&self.ctx.engine, req, trigger, waited, buffered)
            .await?)
    }

    /// Accepts an asynchronous invocation of `req`: durable (fsynced) when
    /// this returns; concurrent accepts share a commit (accepts.rs).
    pub async fn enqueue(
        &self,
        req: &InvokeRequest,
        qualifier: Option<&str>,
    ) -> InvocationResult<()> {
        self.enqueue_event(
            &req.snapshot.function_name,
            qualifier,
            req.payload.clone(),
            &req.request_id,
        )
        .await
    }

    /// Accepts an asynchronous invocation of `function` at `qualifier`.
    pub async fn enqueue_event(
        &self,
        function: &str,
        qualifier: Option<&str>,
        payload: Bytes,
        request_id: &str,
    ) -> InvocationResult<()> {
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
        self.accepts.enqueue.commit(&self.ctx.store, event).await?;
        self.stats.received.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Removes a handled event from the queue (group-committed with others).
    pub async fn forget_event(&self, id: String) -> InvocationResult<()> {
        Ok(self.accepts.delete.commit(&self.ctx.store, id).await?)
    }

    /// Events waiting or in flight, and when the oldest was accepted (epoch ms).
    pub async fn async_backlog(&self) -> InvocationResult<(u64, Option<i64>)> {
        let store = self.ctx.store.clone();
        Ok(blocking(move || Ok((store.pending_events()?, store.oldest_event_ms()?))).await?)
    }
}

fn decode_client_context(cc: &str) -> InvocationResult<String> {
    if cc.len() > MAX_CLIENT_CONTEXT {
        return Err(InvocationError::BadClientContext);
    }
    base64::engine::general_purpose::STANDARD
        .decode(cc)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or(InvocationError::BadClientContext)
}
