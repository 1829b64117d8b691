//! OpenTelemetry traces of invocations, exported by OTLP (HTTP/JSON) when
//! `--otlp-endpoint` is set: one `lambdad.invocation` span per invocation
//! with children `queue`, `init` (cold starts), `invoke` and `overhead`.
//!
//! The trace id is the X-Ray trace's (`Root=1-XXXXXXXX-YYYY…` gives the 32
//! hex digits), and the caller's `Parent` segment is the root's parent, so
//! the spans join the trace the function itself sees in `_X_AMZN_TRACE_ID`.

use std::sync::Arc;
use std::time::Duration;

use lambdad_engine::InvokeResponse;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The span exporter, or nothing when no endpoint is configured.
#[derive(Clone, Default)]
pub struct Telemetry {
    inner: Option<Arc<(SdkTracerProvider, SdkTracer)>>,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Telemetry")
            .field("enabled", &self.inner.is_some())
            .finish()
    }
}

/// The OTLP exporter could not be built.
#[derive(Debug, thiserror::Error)]
#[error("building the OTLP exporter: {0}")]
pub struct TelemetryError(String);

/// What started an invocation (`faas.trigger`).
#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// Invoke or InvokeWithResponseStream.
    Api,
    /// A function URL.
    Http,
    /// An asynchronous event.
    Event,
}

/// Trace and parent span ids of an X-Ray trace header.
fn parse_trace_header(header: &str) -> Option<(TraceId, SpanId)> {
    let mut root = None;
    let mut parent = None;
    for part in header.split(';') {
        match part.trim().split_once('=') {
            Some(("Root", v)) => {
                let mut f = v.split('-');
                let (_, time, id) = (f.next()?, f.next()?, f.next()?);
                root = TraceId::from_hex(&format!("{time}{id}")).ok();
            }
            Some(("Parent", v)) => parent = SpanId::from_hex(v).ok(),
            _ => {}
        }
    }
    Some((root?, parent.unwrap_or(SpanId::INVALID)))
}

impl Telemetry {
    /// An exporter to `endpoint` (`http://host:4318`, or the full `/v1/traces` URL).
    pub fn new(endpoint: Option<&str>) -> Result<Self, TelemetryError> {
        let Some(endpoint) = endpoint else {
            return Ok(Self::default());
        };
        let url = if endpoint.ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .with_endpoint(url)
            .build()
            .map_err(|e| TelemetryError(e.to_string()))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("lambdad")
                    .build(),
            )
            .build();
        let tracer = provider.tracer("lambdad");
        Ok(Self {
            inner: Some(Arc::new((provider, tracer))),
        })
    }

    /// Records the spans of a finished (or streaming) invocation; `waited`
    /// is time spent queued before the engine saw it (asynchronous events).
    pub fn invocation(
        &self,
        function: &str,
        resp: &InvokeResponse,
        trigger: Trigger,
        waited: Duration,
    ) {
        let (Some(inner), Some(t)) = (&self.inner, resp.timings) else {
            return;
        };
        let tracer = &inner.1;
        let (trace_id, parent) = parse_trace_header(&resp.trace)
            .unwrap_or_else(|| (TraceId::from(rand::random::<u128>()), SpanId::INVALID));
        // Exported whatever the X-Ray sampling flag says: this is lambdad's own telemetry.
        let remote = SpanContext::new(
            trace_id,
            parent,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let parent_cx = Context::new().with_remote_span_context(remote);
        let origin = t.start.checked_sub(waited).unwrap_or(t.start);
        let trigger = match trigger {
            Trigger::Api => "other",
            Trigger::Http => "http",
            Trigger::Event => "pubsub",
        };
        let mut root = tracer
            .span_builder("lambdad.invocation")
            .with_kind(SpanKind::Server)
            .with_start_time(origin)
            .with_attributes([
                KeyValue::new("faas.name", function.to_owned()),
                KeyValue::new("faas.version", resp.executed_version.clone()),
                KeyValue::new("faas.invocation_id", resp.request_id.clone()),
                KeyValue::new("faas.coldstart", t.cold),
                KeyValue::new("faas.trigger", trigger),
            ])
            .start_with_context(tracer, &parent_cx);
        if resp.function_error.is_some() {
            root.set_status(Status::error("function error"));
        }
        let cx = parent_cx.with_span(root);
        let child = |name: &'static str, from, to| {
            let mut span = tracer
                .span_builder(name)
                .with_kind(SpanKind::Internal)
                .with_start_time(from)
                .start_with_context(tracer, &cx);
            span.end_with_timestamp(to);
        };
        child("queue", origin, t.start + t.queued);
        if t.cold {
            child("init", t.start + t.queued, t.start + t.started);
        }
        child("invoke", t.start + t.started, t.start + t.finished);
        child("overhead", t.start + t.finished, t.start + t.done);
        cx.span().end_with_timestamp(t.start + t.done);
    }

    /// Runs `req` through the engine and records its spans: every caller of
    /// the engine goes through here. With `buffered`, a streamed response is
    /// collected first (so a mid-stream error marks the trace as failed).
    pub async fn invoke(
        &self,
        engine: &lambdad_engine::Invoker,
        req: lambdad_engine::InvokeRequest,
        trigger: Trigger,
        waited: Duration,
        buffered: bool,
    ) -> Result<InvokeResponse, lambdad_engine::InvokeError> {
        let function = req.snapshot.function_name.clone();
        let mut out = engine.invoke(req).await?;
        if buffered {
            out = out.into_buffered().await;
        }
        self.invocation(&function, &out, trigger, waited);
        Ok(out)
    }

    /// Exports what is buffered and stops the exporter.
    pub fn shutdown(&self) {
        if let Some(inner) = &self.inner
            && let Err(e) = inner.0.shutdown()
        {
            tracing::warn!(error = %e, "Cannot flush the OTLP exporter.");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_headers_give_otel_ids() {
        let (t, p) = parse_trace_header(
            "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        )
        .unwrap();
        assert_eq!(t.to_string(), "5759e988bd862e3fe1be46a994272793");
        assert_eq!(p.to_string(), "53995c3f42cd8ad8");
        assert!(parse_trace_header("garbage").is_none());
    }
}
