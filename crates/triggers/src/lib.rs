//! lambdad's triggers: everything that starts invocations without an API
//! caller waiting — the asynchronous queue (with its retry policy and
//! destinations), the EventBridge scheduler and the event source pollers
//! (SQS queues, Kinesis and DynamoDB streams, RabbitMQ brokers,
//! self-managed Kafka), and the built-in SNS's deliveries. Each runs as a task owned by [`Triggers`], invokes through the
//! service layer's funnel (`lambdad_service::invocations`), and stops when
//! its cancellation token is cancelled.
#![forbid(unsafe_code)]

pub mod async_limit;
pub mod async_worker;
mod batch_invoke;
pub mod destinations;
mod fifo_gate;
pub mod kafka_events;
pub mod kafka_poller;
pub mod retry;
pub mod rmq_events;
pub mod rmq_poller;
pub mod schedules;
pub mod sns_delivery;
pub mod sqs_poller;
pub mod sqs_source;
pub mod stream_events;
pub mod stream_poller;
mod supervisor;

use std::time::Duration;

use lambdad_service::Services;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How the triggers are set up (from lambdad's configuration).
#[derive(Debug, Clone)]
pub struct TriggerOptions {
    /// The default region of the events they run.
    pub region: String,
    /// Delays before the first, second, … retry of a failed asynchronous event.
    pub async_retry_delays: Vec<Duration>,
    /// The shortest interval a schedule may fire at.
    pub schedule_min_interval: Duration,
    /// Where the Kinesis and DynamoDB Streams APIs are.
    pub stream_endpoints: stream_poller::StreamEndpoints,
    /// The RabbitMQ brokers and secrets that broker mappings may name.
    pub brokers: rmq_poller::Brokers,
}

/// The running triggers: started together, stopped together.
#[derive(Debug)]
pub struct Triggers {
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Triggers {
    /// Starts every trigger over `services`, delivering to SQS, SNS and
    /// EventBridge destinations through `destinations`.
    pub fn start(
        services: &Services,
        destinations: destinations::Destinations,
        options: TriggerOptions,
    ) -> Self {
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        tasks.spawn(async_worker::run(
            services.clone(),
            options.region.clone(),
            options.async_retry_delays,
            destinations.clone(),
            shutdown.child_token(),
        ));
        tasks.spawn(sqs_poller::run(
            services.mappings.clone(),
            services.invocations.clone(),
            options.region.clone(),
            destinations.clone(),
            shutdown.child_token(),
        ));
        tasks.spawn(stream_poller::run(
            services.mappings.clone(),
            services.invocations.clone(),
            options.region.clone(),
            options.stream_endpoints,
            destinations.clone(),
            shutdown.child_token(),
        ));
        tasks.spawn(rmq_poller::run(
            services.mappings.clone(),
            services.invocations.clone(),
            options.region.clone(),
            options.brokers,
            shutdown.child_token(),
        ));
        tasks.spawn(kafka_poller::run(
            services.mappings.clone(),
            services.invocations.clone(),
            options.region.clone(),
            shutdown.child_token(),
        ));
        tasks.spawn(sns_delivery::run(
            services.clone(),
            options.region.clone(),
            shutdown.child_token(),
        ));
        tasks.spawn(schedules::run(
            services.rules.clone(),
            options.region,
            options.schedule_min_interval,
            shutdown.child_token(),
        ));
        Self { shutdown, tasks }
    }

    /// Stops every trigger and waits (at most `grace`) for their loops to end.
    pub async fn stop(mut self, grace: Duration) {
        self.shutdown.cancel();
        let all = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("Triggers did not stop in time; aborting them.");
            self.tasks.abort_all();
        }
    }
}
