//! The scheduler: fires EventBridge schedule rules (`rate`, `cron`).

use std::time::Duration;

use lambdad_model::schedule::Schedule;
use lambdad_service::events::{Rules, from_ms, iso_seconds};
use serde_json::json;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

/// Fires schedules: each due tick becomes one "Scheduled Event" per target.
///
/// Policy: a tick is fired when the scheduler sees it within `grace` of its
/// time; ticks missed by more (lambdad was down) are skipped, not fired in a
/// burst. The tick is recorded before its events are queued, so a crash in
/// between loses that tick rather than firing it twice.
pub async fn run(
    rules: Rules,
    region: String,
    min_interval: Duration,
    shutdown: CancellationToken,
) {
    let poll = min_interval
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(200));
    let grace = poll * 3;
    loop {
        tokio::select! {
            () = tokio::time::sleep(poll) => {}
            () = shutdown.cancelled() => return,
        }
        let all = match rules.rules().await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "Cannot read rules.");
                continue;
            }
        };
        let now = OffsetDateTime::now_utc();
        for mut rule in all {
            if rule.state != "ENABLED" {
                continue;
            }
            let Some(schedule) = rule
                .schedule_expression
                .as_deref()
                .and_then(|s| Schedule::parse(s, Duration::ZERO).ok())
            else {
                continue;
            };
            let anchor = from_ms(rule.anchor_ms);
            let after = rule.last_tick_ms.map_or(anchor, from_ms);
            // The latest tick not after now.
            let mut latest = None;
            let mut next = schedule.next_after(after, anchor);
            while let Some(t) = next.filter(|t| *t <= now) {
                latest = Some(t);
                next = schedule.next_after(t, anchor);
            }
            let Some(tick) = latest else { continue };
            rule.last_tick_ms = Some((tick.unix_timestamp_nanos() / 1_000_000) as i64);
            if let Err(e) = rules.save_rule(&rule).await {
                tracing::warn!(rule = %rule.name, error = %e, "Cannot record a schedule tick.");
                continue;
            }
            if now - tick > time::Duration::try_from(grace).unwrap_or_default() {
                tracing::info!(rule = %rule.name, tick = %iso_seconds(tick), "Skipping a schedule tick missed while lambdad was down.");
                continue;
            }
            let event = json!({
                "version": "0", "id": uuid::Uuid::new_v4().to_string(), "detail-type": "Scheduled Event",
                "source": "aws.events", "account": rules.account(), "time": iso_seconds(tick),
                "region": region, "resources": [rules.rule_arn(&region, &rule.name)], "detail": {},
            });
            rules.deliver(&region, &rule, &event).await;
        }
    }
}
