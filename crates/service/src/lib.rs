//! lambdad's service layer: the business rules of every Lambda resource
//! (functions, tags, versions and aliases, layers, concurrency, provisioned
//! concurrency, function URLs and resource policies, EventInvokeConfig,
//! event source mappings, EventBridge rules, API Gateway HTTP APIs, logs) and the one invocation
//! funnel ([`invocations::Invocations`]) that every entry point runs
//! invocations through.
//!
//! Services are called with plain arguments and each returns its own typed
//! error (`functions::FunctionsError`, …, `invocations::InvocationError`,
//! see [`error`]) whose variants carry AWS's exception type and message,
//! the shared ones wrapped from [`ServiceError`]; they know nothing of HTTP. They share a [`Context`] (store, code store, account,
//! engine, snapshot cache) and are all built once, by [`Services::new`].
#![forbid(unsafe_code)]

pub mod accepts;
pub mod cluster;
pub mod code_signing;
pub mod concurrency;
pub mod context;
pub mod error;
pub mod esm;
pub use esm::streams as esm_streams;
pub mod elb;
pub mod event_configs;
pub mod events;
pub mod functions;
pub mod gateway;
pub mod images;
pub use gateway::{
    authorizers as gateway_authorizers, rest_route as gateway_rest_route,
    rest_types as gateway_rest_types, route as gateway_route,
};
pub mod invocations;
pub mod layers;
pub mod logs;
pub mod node;
pub mod provisioned;
pub mod queues;
pub mod records;
pub mod recursion;
pub mod shared_code;
pub mod snapshot_cache;
pub mod tags;
pub mod telemetry;
pub mod test_events;
pub mod topics;
pub mod urls;
pub mod versions;

use std::sync::Arc;

pub use context::Context;
pub use error::{ServiceError, ServiceResult};

/// How the services are set up (from lambdad's configuration).
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Scheme and domain (with port) under which function URLs are published.
    pub url_base: String,
    /// The largest asynchronous payload accepted.
    pub max_async_payload: usize,
    /// Where this server's API is reached (SNS's SubscribeURL and UnsubscribeURL).
    pub api_endpoint: String,
    /// Whether queue policies govern deliveries to built-in queues (as on
    /// AWS; on when requests must be signed).
    pub queue_policies: bool,
}

/// Every service, built once over one context; cloned (per request, per
/// event) as one `Arc`.
#[derive(Clone, Debug)]
pub struct Services(Arc<ServiceSet>);

impl std::ops::Deref for Services {
    type Target = ServiceSet;
    fn deref(&self) -> &ServiceSet {
        &self.0
    }
}

/// The services of [`Services`].
#[derive(Debug)]
pub struct ServiceSet {
    /// What they share.
    pub ctx: Context,
    /// Functions: create, read, list, update, delete.
    pub functions: functions::Functions,
    /// Tags of functions.
    pub tags: tags::Tags,
    /// Versions and aliases.
    pub versions: versions::Versions,
    /// Layers.
    pub layers: layers::Layers,
    /// Reserved concurrency.
    pub concurrency: concurrency::Concurrency,
    /// Provisioned concurrency.
    pub provisioned: provisioned::Provisioned,
    /// Function URLs and resource policies.
    pub urls: urls::Urls,
    /// EventInvokeConfig.
    pub event_configs: event_configs::EventConfigs,
    /// Event source mappings.
    pub mappings: esm::Mappings,
    /// EventBridge rules and PutEvents.
    pub rules: events::Rules,
    /// API Gateway HTTP APIs.
    pub gateway: gateway::Gateway,
    /// Application Load Balancers (elbv2).
    pub elb: elb::Elb,
    /// The invocation funnel.
    pub invocations: invocations::Invocations,
    /// The built-in SQS queues.
    pub queues: queues::Queues,
    /// The built-in SNS topics.
    pub topics: topics::Topics,
    /// The web console's saved test events.
    pub test_events: test_events::TestEvents,
    /// Code signing configurations.
    pub code_signing: code_signing::CodeSigning,
    /// Recursive loop detection settings.
    pub recursion: recursion::Recursion,
}

impl Services {
    /// Builds every service over `ctx`.
    pub fn new(ctx: Context, telemetry: telemetry::Telemetry, options: &ServiceOptions) -> Self {
        let layers = layers::Layers::new(ctx.clone());
        let versions = versions::Versions::new(ctx.clone());
        let invocations =
            invocations::Invocations::new(ctx.clone(), telemetry, options.max_async_payload);
        Self(Arc::new(ServiceSet {
            functions: functions::Functions::new(ctx.clone(), layers.clone(), versions.clone()),
            tags: tags::Tags::new(ctx.clone()),
            versions,
            layers,
            concurrency: concurrency::Concurrency::new(ctx.clone()),
            provisioned: provisioned::Provisioned::new(ctx.clone()),
            urls: urls::Urls::new(ctx.clone(), &options.url_base),
            event_configs: event_configs::EventConfigs::new(ctx.clone()),
            mappings: esm::Mappings::new(ctx.clone()),
            rules: events::Rules::new(ctx.clone(), invocations.clone()),
            gateway: gateway::Gateway::new(ctx.clone(), &options.url_base),
            elb: elb::Elb::new(ctx.clone(), &options.url_base),
            invocations,
            queues: queues::Queues::new(ctx.clone()),
            topics: topics::Topics::new(ctx.clone(), &options.api_endpoint, options.queue_policies),
            test_events: test_events::TestEvents::new(ctx.clone()),
            code_signing: code_signing::CodeSigning::new(ctx.clone()),
            recursion: recursion::Recursion::new(ctx.clone()),
            ctx,
        }))
    }

    /// Why an S3 event record may no longer go to the queue or topic
    /// `destination` (None: it may): its policy is checked again before
    /// each delivery (`lambdad_objects::Objects::delivery_refusal`).
    pub async fn s3_delivery_refusal(
        &self,
        destination: &str,
        payload: &[u8],
    ) -> Result<Option<lambdad_objects::notify::Refusal>, lambdad_store::StoreError> {
        self.ctx
            .objects
            .delivery_refusal(destination, payload)
            .await
    }

    /// The counters of the asynchronous path.
    pub fn async_stats(&self) -> &Arc<invocations::AsyncStats> {
        self.invocations.stats()
    }
}
