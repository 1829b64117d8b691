//! The service layer: business rules behind the API, called with plain arguments.

pub mod accepts;
pub mod async_invoke;
pub mod async_limit;
pub mod concurrency;
pub mod destinations;
mod docs;
pub mod esm;
pub mod events;
pub mod functions;
pub mod layers;
pub mod logs;
pub mod provisioned;
pub mod snapshot_cache;
pub mod sqs_poller;
pub mod tags;
pub mod urls;
pub mod versions;
