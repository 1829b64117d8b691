//! The built-in SNS's delivery worker: leases the deliveries publishes
//! stored (due ones, in publish order), renders each for its subscription
//! (`Topics::render`) and delivers it — to a function through the
//! asynchronous invocation path (its durable queue and retries), to a
//! built-in SQS queue, or to an HTTP endpoint (POST with SNS's headers).
//! A delivery is deleted once delivered, retried with back-off when it
//! failed, and given up after its last attempt (then sent to the
//! subscription's RedrivePolicy dead-letter queue, if it has one). The
//! deliveries of one subscription go one at a time, in order (FIFO topics).

use std::collections::BTreeMap;
use std::time::Duration;

use lambdad_service::Services;
use lambdad_service::queues::messages::SendEntry;
use lambdad_service::topics::deliver::{Outgoing, function_of};
use lambdad_store::topics::DeliveryRecord;
use tokio_util::sync::CancellationToken;

/// Deliveries leased at once.
const BATCH: usize = 64;
/// How long a leased delivery is not due again (a crash mid-delivery
/// makes it due after this).
const LEASE_MS: i64 = 60_000;
/// Attempts before a delivery is given up.
const MAX_ATTEMPTS: u32 = 6;
/// Timeout of one HTTP delivery.
const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// The back-off before attempt `attempts + 1`: 1 s, 2 s, 4 s, … at most 20 s.
fn backoff_ms(attempts: u32) -> i64 {
    (1000_i64 << attempts.min(5)).min(20_000)
}

/// Runs until `shutdown`.
pub async fn run(services: Services, region: String, shutdown: CancellationToken) {
    let wake = services.topics.wake();
    let http = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .unwrap_or_default();
    loop {
        let leased = match services.topics.lease(BATCH, LEASE_MS).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot lease SNS deliveries.");
                Vec::new()
            }
        };
        if leased.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = wake.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
            continue;
        }
        let mut by_sub: BTreeMap<String, Vec<DeliveryRecord>> = BTreeMap::new();
        for d in leased {
            by_sub.entry(d.subscription.clone()).or_default().push(d);
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (_, list) in by_sub {
            let (services, region, http) = (services.clone(), region.clone(), http.clone());
            tasks.spawn(async move {
                for d in list {
                    handle(&services, &region, &http, &d).await;
                }
            });
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = async { while tasks.join_next().await.is_some() {} } => {}
        }
    }
}

/// Delivers `d` once; deletes, retries or gives it up.
async fn handle(services: &Services, region: &str, http: &reqwest::Client, d: &DeliveryRecord) {
    let topics = &services.topics;
    let out = match topics.render(d).await {
        Ok(Some(out)) => out,
        // The subscription is gone: nothing to deliver.
        Ok(None) => {
            let _ = topics.finish(d.seq).await;
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "Cannot render an SNS delivery.");
            let _ = topics.retry_later(d, backoff_ms(d.attempts)).await;
            return;
        }
    };
    let result = deliver(services, region, http, &out).await;
    let done = match &result {
        Ok(()) => {
            topics.count(&out.topic, &out.protocol, true);
            true
        }
        Err(Failure::Permanent(why)) => {
            tracing::warn!(subscription = %out.subscription, reason = %why, "SNS delivery refused.");
            give_up(services, region, &out).await;
            true
        }
        Err(Failure::Transient(why)) if d.attempts + 1 >= MAX_ATTEMPTS => {
            tracing::warn!(subscription = %out.subscription, reason = %why, "SNS delivery given up.");
            give_up(services, region, &out).await;
            true
        }
        Err(Failure::Transient(_)) => false,
    };
    let r = if done {
        topics.finish(d.seq).await
    } else {
        topics.retry_later(d, backoff_ms(d.attempts)).await
    };
    if let Err(e) = r {
        tracing::warn!(error = %e, "Cannot record an SNS delivery's outcome.");
    }
}

/// A failed delivery is counted and goes to the subscription's dead-letter
/// queue, if it has one.
async fn give_up(services: &Services, region: &str, out: &Outgoing) {
    services.topics.count(&out.topic, &out.protocol, false);
    if let Some(dlq) = &out.dead_letter {
        let mut dead = out.clone();
        dead.endpoint.clone_from(dlq);
        if let Err(e) = to_queue(services, region, &dead).await {
            tracing::warn!(queue = %dlq, error = ?e, "Cannot move an SNS message to its dead-letter queue.");
        }
    }
}

#[derive(Debug)]
enum Failure {
    /// Worth another attempt.
    Transient(String),
    /// Never going to work (a function that does not let SNS invoke it).
    Permanent(String),
}

async fn deliver(
    services: &Services,
    region: &str,
    http: &reqwest::Client,
    out: &Outgoing,
) -> Result<(), Failure> {
    match out.protocol.as_str() {
        "lambda" => {
            if !services
                .topics
                .lambda_allowed(out)
                .await
                .map_err(|e| Failure::Transient(e.to_string()))?
            {
                return Err(Failure::Permanent(
                    "the function's resource policy does not allow sns.amazonaws.com".to_owned(),
                ));
            }
            let (name, qualifier) = function_of(&out.endpoint);
            services
                .invocations
                .enqueue_event(
                    &name,
                    qualifier.as_deref(),
                    bytes::Bytes::from(out.body.clone()),
                    &uuid::Uuid::new_v4().to_string(),
                )
                .await
                .map_err(|e| Failure::Transient(e.to_string()))
        }
        "sqs" => {
            if let Some(queue) = services.queues.name_of_arn(&out.endpoint, region)
                && !services
                    .topics
                    .queue_allowed(&services.queues, &queue, out)
                    .await
                    .map_err(|e| Failure::Transient(e.to_string()))?
            {
                return Err(Failure::Permanent(
                    "the queue's policy does not allow sns.amazonaws.com to send this topic's messages".to_owned(),
                ));
            }
            to_queue(services, region, out).await
        }
        _ => {
            let mut req = http.post(&out.endpoint).body(out.body.clone());
            for (k, v) in &out.headers {
                req = req.header(k, v);
            }
            match req.send().await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(Failure::Transient(format!("HTTP {}", resp.status()))),
                Err(e) => Err(Failure::Transient(e.to_string())),
            }
        }
    }
}

async fn to_queue(services: &Services, region: &str, out: &Outgoing) -> Result<(), Failure> {
    let name = services
        .queues
        .name_of_arn(&out.endpoint, region)
        .ok_or_else(|| Failure::Permanent(format!("{} is not a built-in queue", out.endpoint)))?;
    let fifo = name.ends_with(".fifo");
    let entry = SendEntry {
        message_body: Some(out.body.clone()),
        message_attributes: out.attributes.clone(),
        message_group_id: if fifo {
            Some(out.group.clone().unwrap_or_else(|| "sns".to_owned()))
        } else {
            None
        },
        message_deduplication_id: if fifo {
            Some(
                out.dedup
                    .clone()
                    .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            )
        } else {
            None
        },
        ..SendEntry::default()
    };
    let mut sent = services
        .queues
        .send(&name, std::slice::from_ref(&entry))
        .await
        .map_err(|e| Failure::Transient(e.to_string()))?;
    match sent.pop() {
        Some(Ok(_)) => Ok(()),
        Some(Err(e)) => Err(Failure::Transient(e.to_string())),
        None => Err(Failure::Transient("nothing sent".to_owned())),
    }
}
