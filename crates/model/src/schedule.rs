//! EventBridge schedule expressions: `rate(N unit)` and AWS's six-field
//! `cron(minutes hours day-of-month month day-of-week year)`, validated as
//! EventBridge does and evaluated to the next firing time (UTC).

use std::time::Duration;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Every `Duration`, counted from when the rule was created or enabled.
    Rate(Duration),
    /// At the times a cron expression names.
    Cron(Box<Cron>),
}

/// The fields of a cron expression, each as the set of values it allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    /// Days of month 1..=31, or `None` for `?`.
    dom: Option<Vec<bool>>,
    /// `L` in day-of-month: the last day.
    last_dom: bool,
    months: Vec<bool>,
    /// Days of week 1..=7 (1 = Sunday), or `None` for `?`.
    dow: Option<Vec<bool>>,
    years: Vec<bool>,
}

/// The error EventBridge gives for any bad expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Parameter ScheduleExpression is not valid.")]
pub struct ScheduleError;

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value(s: &str, names: &[&str], min: u32) -> Result<u32, ScheduleError> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
        return Ok(i as u32 + min);
    }
    s.parse().map_err(|_| ScheduleError)
}

/// Parses one field into the set of values in `min..=max` it allows.
fn field(s: &str, min: u32, max: u32, names: &[&str]) -> Result<Vec<bool>, ScheduleError> {
    let mut set = vec![false; max as usize + 1];
    for part in s.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, st)) => (r, st.parse::<u32>().map_err(|_| ScheduleError)?),
            None => (part, 1),
        };
        if step == 0 {
            return Err(ScheduleError);
        }
        let (lo, hi) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, names, min)?, value(b, names, min)?)
        } else {
            let v = value(range, names, min)?;
            (v, if part.contains('/') { max } else { v })
        };
        if lo < min || hi > max || lo > hi {
            return Err(ScheduleError);
        }
        for v in (lo..=hi).step_by(step as usize) {
            set[v as usize] = true;
        }
    }
    Ok(set)
}

impl Schedule {
    /// Parses an expression; rates below `min_interval` are refused.
    pub fn parse(expr: &str, min_interval: Duration) -> Result<Self, ScheduleError> {
        let expr = expr.trim();
        if let Some(inner) = expr.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            let mut parts = inner.split_whitespace();
            let (n, unit) = (
                parts.next().ok_or(ScheduleError)?,
                parts.next().ok_or(ScheduleError)?,
            );
            if parts.next().is_some() {
                return Err(ScheduleError);
            }
            let n: u64 = n.parse().map_err(|_| ScheduleError)?;
            let secs = match (n, unit) {
                (0, _) => return Err(ScheduleError),
                (1, "second") | (2.., "seconds") => 1,
                (1, "minute") | (2.., "minutes") => 60,
                (1, "hour") | (2.., "hours") => 3600,
                (1, "day") | (2.., "days") => 86_400,
                _ => return Err(ScheduleError),
            };
            let every = Duration::from_secs(n.checked_mul(secs).ok_or(ScheduleError)?);
            if every < min_interval {
                return Err(ScheduleError);
            }
            return Ok(Schedule::Rate(every));
        }
        let inner = expr
            .strip_prefix("cron(")
            .and_then(|r| r.strip_suffix(')'))
            .ok_or(ScheduleError)?;
        let f: Vec<&str> = inner.split_whitespace().collect();
        if f.len() != 6 {
            return Err(ScheduleError);
        }
        // Exactly one of day-of-month and day-of-week is `?`.
        if (f[2] == "?") == (f[4] == "?") {
            return Err(ScheduleError);
        }
        let last_dom = f[2] == "L";
        let dom = match f[2] {
            "?" => None,
            "L" => Some(vec![false; 32]),
            s => Some(field(s, 1, 31, &[])?),
        };
        let dow = match f[4] {
            "?" => None,
            s => Some(field(s, 1, 7, &DAYS)?),
        };
        Ok(Schedule::Cron(Box::new(Cron {
            minutes: field(f[0], 0, 59, &[])?,
            hours: field(f[1], 0, 23, &[])?,
            dom,
            last_dom,
            months: field(f[3], 1, 12, &MONTHS)?,
            dow,
            years: field(f[5], 1970, 2199, &[])?,
        })))
    }

    /// The first firing time strictly after `after`; for rates, counted from `anchor`.
    pub fn next_after(
        &self,
        after: OffsetDateTime,
        anchor: OffsetDateTime,
    ) -> Option<OffsetDateTime> {
        match self {
            Schedule::Rate(every) => {
                let every = time::Duration::try_from(*every).ok()?;
                if after < anchor {
                    return Some(anchor + every);
                }
                let periods =
                    ((after - anchor).whole_milliseconds() / every.whole_milliseconds()) + 1;
                Some(anchor + every * i32::try_from(periods).ok()?)
            }
            Schedule::Cron(c) => c.next_after(after),
        }
    }
}

fn last_day(year: i32, month: Month) -> u8 {
    time::util::days_in_month(month, year)
}

impl Cron {
    fn day_ok(&self, d: Date) -> bool {
        let dom_ok = match &self.dom {
            None => true,
            Some(set) => {
                set[d.day() as usize] || (self.last_dom && d.day() == last_day(d.year(), d.month()))
            }
        };
        let dow_ok = match &self.dow {
            None => true,
            Some(set) => set[d.weekday().number_from_sunday() as usize],
        };
        dom_ok
            && dow_ok
            && self.months[u8::from(d.month()) as usize]
            && d.year() >= 1970
            && self.years.get(d.year() as usize).copied().unwrap_or(false)
    }

    fn next_after(&self, after: OffsetDateTime) -> Option<OffsetDateTime> {
        let start =
            after.replace_second(0).ok()?.replace_nanosecond(0).ok()? + time::Duration::minutes(1);
        let mut date = start.date();
        // Up to ~10 years of days: beyond that the expression never fires again.
        for _ in 0..3700 {
            if self.day_ok(date) {
                let first = if date == start.date() {
                    (start.hour(), start.minute())
                } else {
                    (0, 0)
                };
                for h in first.0..24 {
                    if !self.hours[h as usize] {
                        continue;
                    }
                    let m0 = if h == first.0 { first.1 } else { 0 };
                    for m in m0..60 {
                        if self.minutes[m as usize] {
                            let t = Time::from_hms(h, m, 0).ok()?;
                            return Some(PrimitiveDateTime::new(date, t).assume_utc());
                        }
                    }
                }
            }
            date = date.next_day()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn rates() {
        assert_eq!(
            Schedule::parse("rate(1 minute)", MIN),
            Ok(Schedule::Rate(MIN))
        );
        assert_eq!(
            Schedule::parse("rate(5 minutes)", MIN),
            Ok(Schedule::Rate(MIN * 5))
        );
        for bad in [
            "rate(1 minutes)",
            "rate(2 minute)",
            "rate(0 minutes)",
            "rate(2 seconds)",
            "rate(x)",
            "every minute",
        ] {
            assert!(Schedule::parse(bad, MIN).is_err(), "{bad}");
        }
        let fast = Schedule::parse("rate(2 seconds)", Duration::from_secs(1)).unwrap();
        let anchor = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(
            fast.next_after(datetime!(2026-01-01 0:00:05 UTC), anchor),
            Some(datetime!(2026-01-01 0:00:06 UTC))
        );
    }

    #[test]
    fn crons() {
        let c = Schedule::parse("cron(0 10 * * ? *)", MIN).unwrap();
        let a = datetime!(2026-01-01 0:00 UTC);
        assert_eq!(
            c.next_after(datetime!(2026-03-04 10:00 UTC), a),
            Some(datetime!(2026-03-05 10:00 UTC))
        );
        let c = Schedule::parse("cron(15 12 ? * MON-FRI *)", MIN).unwrap();
        // 2026-11-21 is a Saturday.
        assert_eq!(
            c.next_after(datetime!(2026-11-21 13:00 UTC), a),
            Some(datetime!(2026-11-23 12:15 UTC))
        );
        let c = Schedule::parse("cron(0/15 * * * ? *)", MIN).unwrap();
        assert_eq!(
            c.next_after(datetime!(2026-11-21 13:16 UTC), a),
            Some(datetime!(2026-11-21 13:30 UTC))
        );
        let c = Schedule::parse("cron(0 0 L * ? *)", MIN).unwrap();
        assert_eq!(
            c.next_after(datetime!(2026-02-10 0:00 UTC), a),
            Some(datetime!(2026-02-28 0:00 UTC))
        );
        for bad in [
            "cron(0 10 * * * *)",
            "cron(0 10 ? * ? *)",
            "cron(60 10 * * ? *)",
            "cron(0 10 * * ?)",
            "cron(0 10 * FOO ? *)",
        ] {
            assert!(Schedule::parse(bad, MIN).is_err(), "{bad}");
        }
    }
}
