//! `GET /metrics`: the engine's metrics, then what the other parts collect
//! (the event source mappings, the front doors, the S3 API, the built-in
//! queues and topics), in one OpenMetrics text through prometheus-client.

use axum::extract::State;
use axum::response::IntoResponse as _;
use lambdad_engine::openmetrics::{self, Collector, DescriptorEncoder, Labels};
use lambdad_service::queues::QueueMetrics;
use lambdad_service::topics::TopicMetrics;

use super::AppState;

/// `GET /metrics`: Prometheus (OpenMetrics) text.
pub(crate) async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    state.engine.refresh_gauges();
    let m = state.engine.metrics();
    if let Ok((depth, oldest)) = state.services.invocations.async_backlog().await {
        m.async_queue_depth
            .set(i64::try_from(depth).unwrap_or(i64::MAX));
        let age = oldest.map_or(0.0, |ms| (now_ms() - i128::from(ms)).max(0) as f64 / 1000.0);
        m.async_oldest_event_age.set(age);
    }
    let queues = state.services.queues.metrics().await.unwrap_or_default();
    let topics = state.services.topics.metrics().await.unwrap_or_default();
    let text = m.encode_with(vec![
        Box::new(state.services.mappings.metrics().clone()),
        Box::new(state.doors.clone()),
        Box::new(state.s3_metrics.clone()),
        Box::new(Queues(queues)),
        Box::new(Topics(topics)),
    ]);
    (
        [(
            "content-type",
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn now_ms() -> i128 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000
}

/// The built-in queues' counts, read at this scrape.
#[derive(Debug)]
struct Queues(Vec<QueueMetrics>);

impl Collector for Queues {
    fn encode(&self, mut enc: DescriptorEncoder) -> openmetrics::Result {
        let labels = |q: &QueueMetrics| vec![("queue", q.name.clone())];
        type Counter = (&'static str, &'static str, fn(&QueueMetrics) -> u64);
        let counters: [Counter; 3] = [
            (
                "lambdad_sqs_messages_sent",
                "Messages sent to a built-in queue since start-up.",
                |q| q.sent,
            ),
            (
                "lambdad_sqs_messages_received",
                "Messages received from a built-in queue since start-up.",
                |q| q.received,
            ),
            (
                "lambdad_sqs_messages_deleted",
                "Messages deleted from a built-in queue since start-up.",
                |q| q.deleted,
            ),
        ];
        for (name, help, value) in counters {
            let rows = self.0.iter().map(|q| (labels(q), value(q)));
            openmetrics::counters(&mut enc, name, help, rows)?;
        }
        let now = now_ms();
        type Gauge = (&'static str, &'static str, fn(&QueueMetrics, i128) -> f64);
        let gauges: [Gauge; 4] = [
            (
                "lambdad_sqs_messages_visible",
                "Messages of a built-in queue visible now.",
                |q, _| q.counts.visible as f64,
            ),
            (
                "lambdad_sqs_messages_in_flight",
                "Messages of a built-in queue received and not yet deleted or visible again.",
                |q, _| q.counts.in_flight as f64,
            ),
            (
                "lambdad_sqs_messages_delayed",
                "Messages of a built-in queue whose delay has not passed.",
                |q, _| q.counts.delayed as f64,
            ),
            (
                "lambdad_sqs_oldest_message_age_seconds",
                "Age of the oldest message of a built-in queue.",
                |q, now| {
                    q.counts
                        .oldest_ms
                        .map_or(0.0, |t| (now - i128::from(t)).max(0) as f64 / 1000.0)
                },
            ),
        ];
        for (name, help, value) in gauges {
            let rows = self.0.iter().map(|q| (labels(q), value(q, now)));
            openmetrics::gauges(&mut enc, name, help, rows)?;
        }
        Ok(())
    }
}

/// The built-in topics' counts, read at this scrape: messages published,
/// and deliveries that succeeded or were given up, by protocol.
#[derive(Debug)]
struct Topics(Vec<TopicMetrics>);

impl Collector for Topics {
    fn encode(&self, mut enc: DescriptorEncoder) -> openmetrics::Result {
        openmetrics::counters(
            &mut enc,
            "lambdad_sns_messages_published",
            "Messages published to a built-in topic since start-up.",
            self.0
                .iter()
                .map(|t| (vec![("topic", t.name.clone())], t.published)),
        )?;
        let by_protocol = |pick: fn(&TopicMetrics) -> &std::collections::BTreeMap<String, u64>| {
            self.0.iter().flat_map(move |t| {
                pick(t).iter().map(|(protocol, n)| {
                    let labels: Labels =
                        vec![("topic", t.name.clone()), ("protocol", protocol.clone())];
                    (labels, *n)
                })
            })
        };
        openmetrics::counters(
            &mut enc,
            "lambdad_sns_deliveries_succeeded",
            "Deliveries of a built-in topic's messages that succeeded, by protocol.",
            by_protocol(|t| &t.delivered),
        )?;
        openmetrics::counters(
            &mut enc,
            "lambdad_sns_deliveries_failed",
            "Deliveries of a built-in topic's messages given up, by protocol.",
            by_protocol(|t| &t.failed),
        )
    }
}
