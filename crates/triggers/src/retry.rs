//! What happens to an asynchronous event after an attempt, as Lambda
//! decides it: a pure function of the outcome, the event's age and
//! attempts, and the function's EventInvokeConfig, so that the policy is
//! table-tested without a server.
//!
//! - Success: done, to OnSuccess.
//! - A function error: retried after the configured delay (the n-th
//!   retry waits `delays[n-1]`, the last delay repeating) until
//!   `MaximumRetryAttempts` retries are used (`RetriesExhausted`), or
//!   sooner when the retry would come after `MaximumEventAgeInSeconds`
//!   (`EventAgeExceeded`); either way to OnFailure and the dead-letter queue.
//! - A throttle or a platform error: backed off (1 s, 5 s) without using an
//!   attempt; the event's age still ends it.

use std::time::Duration;

/// What an attempt that reached the function came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The function returned a result.
    Succeeded,
    /// The function returned or raised an error (Handled or Unhandled).
    FunctionError,
}

/// Why an attempt did not reach the function: always retried after a
/// back-off ([`backoff`]), whatever the limits say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// A concurrency limit refused the invocation.
    Throttled,
    /// The platform could not run it (environment, store, shutdown).
    PlatformError,
}

/// Why an event is given up (the invocation record's `condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp {
    /// Every retry was used.
    RetriesExhausted,
    /// The event is older than its maximum age.
    EventAgeExceeded,
}

impl GiveUp {
    /// The record's `requestContext.condition`.
    pub fn condition(self) -> &'static str {
        match self {
            GiveUp::RetriesExhausted => "RetriesExhausted",
            GiveUp::EventAgeExceeded => "EventAgeExceeded",
        }
    }
}

/// Run the event again at `at_ms`, with `attempts` attempts counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// When (epoch ms).
    pub at_ms: i64,
    /// Attempts counted so far (throttles and platform errors count none).
    pub attempts: u32,
}

/// What to do with an event whose attempt reached the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Done: the function succeeded.
    Done,
    /// Give up: OnFailure and the dead-letter queue.
    GiveUp(GiveUp),
    /// Run it again.
    Retry(Retry),
}

/// The limits that apply to one event.
#[derive(Debug, Clone, Copy)]
pub struct Limits<'a> {
    /// `MaximumRetryAttempts`.
    pub max_retries: u32,
    /// `MaximumEventAgeInSeconds`, in milliseconds.
    pub max_age_ms: i64,
    /// The delays before the first, second, … retry (the last one repeats).
    pub delays: &'a [Duration],
}

/// Back-off after a throttle (no attempt used).
pub const THROTTLE_BACKOFF: Duration = Duration::from_secs(1);
/// Back-off after a platform error (no attempt used).
pub const PLATFORM_BACKOFF: Duration = Duration::from_secs(5);
/// The retry delay when none is configured.
pub const DEFAULT_DELAY: Duration = Duration::from_secs(60);

/// Whether an event received at `received_ms` is too old to run at `now_ms`.
pub fn expired(received_ms: i64, now_ms: i64, limits: &Limits<'_>) -> bool {
    now_ms - received_ms > limits.max_age_ms
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The decision after an attempt that reached the function and ended with
/// `outcome` at `now_ms`; `attempts` counts this attempt.
pub fn decide(
    outcome: Outcome,
    attempts: u32,
    received_ms: i64,
    now_ms: i64,
    limits: &Limits<'_>,
) -> Decision {
    if outcome == Outcome::Succeeded {
        return Decision::Done;
    }
    if attempts > limits.max_retries {
        return Decision::GiveUp(GiveUp::RetriesExhausted);
    }
    let delay = limits
        .delays
        .get(attempts.saturating_sub(1) as usize)
        .or(limits.delays.last())
        .copied()
        .unwrap_or(DEFAULT_DELAY);
    let at_ms = now_ms.saturating_add(millis(delay));
    // A retry after the event's maximum age: give up now, as Lambda does.
    if at_ms - received_ms > limits.max_age_ms {
        return Decision::GiveUp(GiveUp::EventAgeExceeded);
    }
    Decision::Retry(Retry { at_ms, attempts })
}

/// The retry after an attempt that did not reach the function (`attempts`
/// stays as it was); the event's age ends it when it is next leased.
pub fn backoff(failure: Failure, attempts: u32, now_ms: i64) -> Retry {
    let wait = match failure {
        Failure::Throttled => THROTTLE_BACKOFF,
        Failure::PlatformError => PLATFORM_BACKOFF,
    };
    Retry {
        at_ms: now_ms.saturating_add(millis(wait)),
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn decisions_follow_lambdas_rules() {
        let delays = [Duration::from_secs(60), Duration::from_secs(120)];
        let limits = Limits {
            max_retries: 2,
            max_age_ms: 360 * MIN,
            delays: &delays,
        };
        use Decision::*;
        use Outcome::*;
        // (outcome, attempts counted, received, now) -> decision
        let table = [
            (Succeeded, 1, 0, 0, Done),
            (Succeeded, 3, 0, 5 * MIN, Done),
            (
                FunctionError,
                1,
                0,
                0,
                Retry(super::Retry {
                    at_ms: MIN,
                    attempts: 1,
                }),
            ),
            (
                FunctionError,
                2,
                0,
                MIN,
                Retry(super::Retry {
                    at_ms: 3 * MIN,
                    attempts: 2,
                }),
            ),
            (
                FunctionError,
                3,
                0,
                3 * MIN,
                GiveUp(super::GiveUp::RetriesExhausted),
            ),
            // The retry would land after the maximum age.
            (
                FunctionError,
                1,
                0,
                359 * MIN + 1,
                GiveUp(super::GiveUp::EventAgeExceeded),
            ),
            (
                FunctionError,
                1,
                0,
                359 * MIN,
                Retry(super::Retry {
                    at_ms: 360 * MIN,
                    attempts: 1,
                }),
            ),
        ];
        for (outcome, attempts, received, now, want) in table {
            assert_eq!(
                decide(outcome, attempts, received, now, &limits),
                want,
                "{outcome:?} after {attempts} attempts at {now}"
            );
        }
    }

    #[test]
    fn throttles_and_platform_errors_back_off_without_an_attempt() {
        let table = [
            (Failure::Throttled, 0, 10, 1_010),
            (Failure::PlatformError, 1, 10, 5_010),
            // Even past the maximum age: the age ends it at the next lease.
            (Failure::Throttled, 2, 400 * MIN, 400 * MIN + 1_000),
        ];
        for (failure, attempts, now, at_ms) in table {
            assert_eq!(
                backoff(failure, attempts, now),
                Retry { at_ms, attempts },
                "{failure:?} after {attempts} attempts at {now}"
            );
        }
    }

    #[test]
    fn the_last_delay_repeats_and_no_delays_mean_a_minute() {
        let delays = [Duration::from_secs(1), Duration::from_secs(2)];
        let limits = Limits {
            max_retries: 5,
            max_age_ms: i64::MAX / 2,
            delays: &delays,
        };
        let at = |attempts| match decide(Outcome::FunctionError, attempts, 0, 0, &limits) {
            Decision::Retry(r) => r.at_ms,
            other => panic!("{other:?}"),
        };
        assert_eq!([at(1), at(2), at(3), at(4)], [1_000, 2_000, 2_000, 2_000]);
        let none = Limits {
            delays: &[],
            ..limits
        };
        assert_eq!(
            decide(Outcome::FunctionError, 1, 0, 0, &none),
            Decision::Retry(Retry {
                at_ms: 60_000,
                attempts: 1
            })
        );
        assert_eq!(
            decide(Outcome::FunctionError, 0, 0, 0, &limits),
            Decision::Retry(Retry {
                at_ms: 1_000,
                attempts: 0
            }),
            "attempt 0 (never reached the function) waits the first delay"
        );
    }

    #[test]
    fn expiry_is_strictly_after_the_maximum_age() {
        let limits = Limits {
            max_retries: 0,
            max_age_ms: 60_000,
            delays: &[],
        };
        assert!(!expired(0, 60_000, &limits));
        assert!(expired(0, 60_001, &limits));
    }
}
