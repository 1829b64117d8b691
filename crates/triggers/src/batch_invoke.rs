//! The synchronous invocation of a broker mapping's batch (RabbitMQ,
//! Kafka) through the funnel, and how it ended.

use std::time::Duration;

use bytes::Bytes;
use lambdad_engine::InvokeError;
use lambdad_service::esm::Mapping;
use lambdad_service::invocations::{InvocationError, Invocations};
use lambdad_service::telemetry::Trigger;

/// How an invocation of a batch ended.
pub(crate) enum Outcome {
    Success,
    /// The function ran and failed (an error, a timeout, a crash).
    FunctionError,
    /// It did not run (throttled, or it cannot run); the batch is tried
    /// again after the pause without counting as a failure.
    NotRun(Duration),
}

/// Invokes mapping `m`'s function with `payload`, synchronously.
pub(crate) async fn invoke(
    invocations: &Invocations,
    region: &str,
    m: &Mapping,
    payload: Bytes,
) -> Outcome {
    let snapshot = match invocations
        .resolve(region, &m.function, m.qualifier.as_deref())
        .await
    {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(mapping = %m.uuid, error = %e, "The mapping's function cannot run.");
            return Outcome::NotRun(Duration::from_secs(2));
        }
    };
    let req = Invocations::request(
        snapshot,
        m.qualifier.as_deref(),
        &uuid::Uuid::new_v4().to_string(),
        payload,
    );
    match invocations
        .invoke(req, Trigger::Event, Duration::ZERO, true)
        .await
    {
        Ok(r) if r.function_error.is_some() => Outcome::FunctionError,
        Ok(_) => Outcome::Success,
        Err(InvocationError::Invoke(InvokeError::Throttled(_))) => {
            Outcome::NotRun(Duration::from_secs(1))
        }
        Err(e) => {
            tracing::warn!(mapping = %m.uuid, error = %e, "The invocation of a mapping's batch failed.");
            Outcome::NotRun(Duration::from_secs(2))
        }
    }
}
