//! The pure part of `lambdad tune`: the memory sizes to try, the payload of
//! each invocation, REPORT lines, statistics per size, cost, and the
//! recommendation. No I/O.

use serde::Serialize;

/// Lambda's smallest and largest MemorySize.
pub const MIN_MB: u32 = 128;
/// See [`MIN_MB`].
pub const MAX_MB: u32 = 10_240;

/// Parses `--memory`: a list (`128,256,1024`) or a range of evenly spaced
/// sizes (`128..3008/6`: 6 sizes from 128 to 3008 MB, both included).
/// Sizes are sorted and unique, each within Lambda's 128–10,240 MB.
pub fn parse_memory(s: &str) -> Result<Vec<u32>, String> {
    let mb = |p: &str| -> Result<u32, String> {
        let v: u32 = p
            .trim()
            .parse()
            .map_err(|_| format!("{p:?} is not a memory size in MB"))?;
        if (MIN_MB..=MAX_MB).contains(&v) {
            Ok(v)
        } else {
            Err(format!(
                "{v} MB is outside Lambda's {MIN_MB}-{MAX_MB} MB range"
            ))
        }
    };
    let mut sizes = if let Some((range, count)) = s.split_once("..") {
        let (hi, n) = count
            .split_once('/')
            .ok_or("a range is written LOW..HIGH/COUNT, e.g. 128..3008/6")?;
        let (lo, hi) = (mb(range)?, mb(hi)?);
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("{n:?} is not a count"))?;
        if !(2..=64).contains(&n) || hi <= lo {
            return Err("a range needs LOW < HIGH and a COUNT of 2 to 64".into());
        }
        (0..n)
            .map(|i| lo + ((f64::from(hi - lo) * f64::from(i) / f64::from(n - 1)).round() as u32))
            .collect::<Vec<_>>()
    } else {
        s.split(',').map(mb).collect::<Result<Vec<_>, _>>()?
    };
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() {
        return Err("no memory size given".into());
    }
    Ok(sizes)
}

/// The payload index of each of `n` invocations, spread by `weights`: each
/// payload gets its share of `n` (largest remainders first), interleaved.
pub fn payload_plan(weights: &[u32], n: usize) -> Vec<usize> {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    if weights.is_empty() || total == 0 || n == 0 {
        return vec![0; n];
    }
    let exact: Vec<f64> = weights
        .iter()
        .map(|w| n as f64 * f64::from(*w) / total as f64)
        .collect();
    let mut counts: Vec<usize> = exact.iter().map(|e| e.floor() as usize).collect();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| {
        (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor()))
    });
    let mut missing = n - counts.iter().sum::<usize>();
    for i in order {
        if missing == 0 {
            break;
        }
        counts[i] += 1;
        missing -= 1;
    }
    // Interleave: at each step the payload furthest behind its share.
    let mut given = vec![0usize; weights.len()];
    (0..n)
        .map(|step| {
            let i = (0..weights.len())
                .filter(|i| given[*i] < counts[*i])
                .max_by(|a, b| {
                    let lag = |i: usize| {
                        counts[i] as f64 * (step + 1) as f64 / n as f64 - given[i] as f64
                    };
                    lag(*a).total_cmp(&lag(*b)).then(b.cmp(a))
                })
                .unwrap_or(0);
            given[i] += 1;
            i
        })
        .collect()
}

/// What a REPORT line says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Report {
    /// `Duration`, ms.
    pub duration_ms: f64,
    /// `Billed Duration`, ms.
    pub billed_ms: f64,
    /// `Init Duration`, ms: present on a cold start.
    pub init_ms: Option<f64>,
}

/// The last REPORT line of a log (the tail of an Invoke with `LogType: Tail`).
pub fn parse_report(log: &str) -> Option<Report> {
    let line = log.lines().rev().find(|l| l.starts_with("REPORT "))?;
    let field = |name: &str| -> Option<f64> {
        line.split('\t').find_map(|f| {
            let rest = f.trim().strip_prefix(name)?.strip_prefix(": ")?;
            rest.strip_suffix(" ms")?.trim().parse().ok()
        })
    };
    Some(Report {
        duration_ms: field("Duration")?,
        billed_ms: field("Billed Duration")?,
        init_ms: field("Init Duration"),
    })
}

/// The price table (lambdad's, from `GET /_lambdad/usage`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Prices {
    /// USD per GB-second of the function's architecture.
    pub per_gb_second: f64,
    /// USD per request.
    pub per_request: f64,
}

/// The cost of one invocation billed `billed_ms` at `memory_mb`.
pub fn invocation_cost(prices: Prices, memory_mb: u32, billed_ms: f64) -> f64 {
    billed_ms / 1000.0 * f64::from(memory_mb) / 1024.0 * prices.per_gb_second + prices.per_request
}

/// The `q` quantile (0–1) of sorted values, nearest rank.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The results of one memory size.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SizeResult {
    /// MemorySize, MB.
    pub memory_mb: u32,
    /// Warm invocations measured.
    pub invocations: usize,
    /// Mean duration of warm invocations, ms.
    pub avg_ms: f64,
    /// Median duration, ms.
    pub p50_ms: f64,
    /// 90th percentile duration, ms.
    pub p90_ms: f64,
    /// Mean billed duration, ms.
    pub billed_ms: f64,
    /// Mean cost of one invocation, USD.
    pub cost_usd: f64,
    /// Cost of a million invocations, USD.
    pub cost_per_million_usd: f64,
    /// Invocations that ended in a function error (measured or not).
    pub errors: usize,
    /// Cold starts (invocations with an Init Duration), left out of the statistics.
    pub cold_starts: usize,
    /// Mean Init Duration of the cold starts, ms.
    pub avg_init_ms: Option<f64>,
}

/// Summarises the reports of one size: cold starts apart, warm ones measured.
pub fn summarise(memory_mb: u32, reports: &[Report], errors: usize, prices: Prices) -> SizeResult {
    let (cold, warm): (Vec<&Report>, Vec<&Report>) =
        reports.iter().partition(|r| r.init_ms.is_some());
    let mut durations: Vec<f64> = warm.iter().map(|r| r.duration_ms).collect();
    durations.sort_by(f64::total_cmp);
    let mean = |v: &mut dyn Iterator<Item = f64>, n: usize| {
        if n == 0 {
            0.0
        } else {
            v.sum::<f64>() / n as f64
        }
    };
    let n = warm.len();
    let avg_ms = mean(&mut durations.iter().copied(), n);
    let billed_ms = mean(&mut warm.iter().map(|r| r.billed_ms), n);
    let cost_usd = invocation_cost(prices, memory_mb, billed_ms);
    SizeResult {
        memory_mb,
        invocations: n,
        avg_ms,
        p50_ms: quantile(&durations, 0.5),
        p90_ms: quantile(&durations, 0.9),
        billed_ms,
        cost_usd,
        cost_per_million_usd: cost_usd * 1e6,
        errors,
        cold_starts: cold.len(),
        avg_init_ms: (!cold.is_empty())
            .then(|| cold.iter().filter_map(|r| r.init_ms).sum::<f64>() / cold.len() as f64),
    }
}

/// What to optimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// The lowest cost per invocation.
    Cost,
    /// The lowest average duration.
    Speed,
    /// The lowest `weight × cost + (1 − weight) × duration`, each relative to its largest value.
    Balanced,
}

/// The recommended size and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Recommendation {
    /// The recommended MemorySize, MB.
    pub memory_mb: u32,
    /// The reasons, one sentence each.
    pub reasons: Vec<String>,
}

/// Picks a size by `strategy` among those without errors that measured
/// something (all measured sizes when every one had errors).
/// `balanced_weight` (0–1) weighs cost against speed: 1 is `cost`, 0 `speed`.
pub fn recommend(
    results: &[SizeResult],
    strategy: Strategy,
    balanced_weight: f64,
) -> Option<Recommendation> {
    let measured: Vec<&SizeResult> = results.iter().filter(|r| r.invocations > 0).collect();
    let clean: Vec<&SizeResult> = measured.iter().copied().filter(|r| r.errors == 0).collect();
    let pool = if clean.is_empty() { measured } else { clean };
    let max_cost = pool.iter().map(|r| r.cost_usd).fold(0.0, f64::max);
    let max_ms = pool.iter().map(|r| r.avg_ms).fold(0.0, f64::max);
    let rel = |v: f64, max: f64| if max > 0.0 { v / max } else { 0.0 };
    let w = balanced_weight.clamp(0.0, 1.0);
    let score = |r: &SizeResult| match strategy {
        Strategy::Cost => (r.cost_usd, r.avg_ms),
        Strategy::Speed => (r.avg_ms, r.cost_usd),
        Strategy::Balanced => (
            w * rel(r.cost_usd, max_cost) + (1.0 - w) * rel(r.avg_ms, max_ms),
            r.avg_ms,
        ),
    };
    // Scores within a part in a billion are equal (float rounding): the second decides.
    let near = |x: f64, y: f64| (x - y).abs() <= 1e-9 * x.abs().max(y.abs());
    let best = *pool.iter().min_by(|a, b| {
        let (sa, sb) = (score(a), score(b));
        if near(sa.0, sb.0) {
            sa.1.total_cmp(&sb.1)
        } else {
            sa.0.total_cmp(&sb.0)
        }
    })?;
    let mut reasons = vec![match strategy {
        Strategy::Cost => format!(
            "{} MB is the cheapest: ${:.9} per invocation (${:.2} per million), {:.1} ms on average.",
            best.memory_mb, best.cost_usd, best.cost_per_million_usd, best.avg_ms
        ),
        Strategy::Speed => format!(
            "{} MB is the fastest: {:.1} ms on average (p90 {:.1} ms), ${:.9} per invocation.",
            best.memory_mb, best.avg_ms, best.p90_ms, best.cost_usd
        ),
        Strategy::Balanced => format!(
            "{} MB has the best balance (weight {w} on cost, {} on speed): {:.1} ms, ${:.9} per invocation.",
            best.memory_mb,
            1.0 - w,
            best.avg_ms,
            best.cost_usd
        ),
    }];
    let smallest = pool.iter().min_by_key(|r| r.memory_mb);
    if let Some(s) = smallest.filter(|s| s.memory_mb != best.memory_mb) {
        reasons.push(format!(
            "Against {} MB: {:.1}x as fast, {:+.0}% cost.",
            s.memory_mb,
            if best.avg_ms > 0.0 {
                s.avg_ms / best.avg_ms
            } else {
                1.0
            },
            if s.cost_usd > 0.0 {
                (best.cost_usd / s.cost_usd - 1.0) * 100.0
            } else {
                0.0
            }
        ));
    }
    let skipped: Vec<String> = results
        .iter()
        .filter(|r| r.errors > 0 && !pool.iter().any(|p| p.memory_mb == r.memory_mb))
        .map(|r| format!("{} MB", r.memory_mb))
        .collect();
    if !skipped.is_empty() {
        reasons.push(format!("Left out for errors: {}.", skipped.join(", ")));
    }
    Some(Recommendation {
        memory_mb: best.memory_mb,
        reasons,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRICES: Prices = Prices {
        per_gb_second: 0.000_016_666_7,
        per_request: 0.000_000_2,
    };

    #[test]
    fn memory_lists_and_ranges() {
        assert_eq!(parse_memory("1024,128, 512").unwrap(), vec![128, 512, 1024]);
        assert_eq!(
            parse_memory("128..3008/6").unwrap(),
            vec![128, 704, 1280, 1856, 2432, 3008]
        );
        assert!(parse_memory("64").unwrap_err().contains("outside"));
        assert!(parse_memory("128..3008").is_err());
        assert!(parse_memory("512..256/3").is_err());
        assert!(parse_memory("abc").is_err());
    }

    #[test]
    fn payloads_follow_their_weights() {
        let plan = payload_plan(&[3, 1], 8);
        assert_eq!(plan.iter().filter(|i| **i == 0).count(), 6);
        assert_eq!(plan.iter().filter(|i| **i == 1).count(), 2);
        // Interleaved, not 6 then 2.
        assert!(plan[..4].contains(&1), "{plan:?}");
        assert_eq!(payload_plan(&[1], 3), vec![0, 0, 0]);
        assert_eq!(payload_plan(&[1, 1, 1], 4).len(), 4);
    }

    #[test]
    fn report_lines() {
        let log = "START RequestId: a\nhello\nEND RequestId: a\nREPORT RequestId: a\tDuration: 12.34 ms\tBilled Duration: 13 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\tInit Duration: 101.50 ms\t\n";
        assert_eq!(
            parse_report(log),
            Some(Report {
                duration_ms: 12.34,
                billed_ms: 13.0,
                init_ms: Some(101.5)
            })
        );
        let warm = "REPORT RequestId: b\tDuration: 2.00 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\tMax Memory Used: 20 MB\t";
        assert_eq!(parse_report(warm).unwrap().init_ms, None);
        assert_eq!(parse_report("no report"), None);
    }

    #[test]
    fn cost_is_gb_seconds_plus_the_request() {
        // 1 s at 1 GB.
        let c = invocation_cost(PRICES, 1024, 1000.0);
        assert!((c - (0.000_016_666_7 + 0.000_000_2)).abs() < 1e-15);
    }

    fn report(ms: f64) -> Report {
        Report {
            duration_ms: ms,
            billed_ms: ms.ceil(),
            init_ms: None,
        }
    }

    #[test]
    fn summaries_leave_cold_starts_out() {
        let mut reports: Vec<Report> = (1..=10).map(|i| report(f64::from(i) * 10.0)).collect();
        reports.push(Report {
            duration_ms: 999.0,
            billed_ms: 999.0,
            init_ms: Some(200.0),
        });
        let s = summarise(1024, &reports, 0, PRICES);
        assert_eq!((s.invocations, s.cold_starts), (10, 1));
        assert_eq!(s.avg_ms, 55.0);
        assert_eq!((s.p50_ms, s.p90_ms), (50.0, 90.0));
        assert_eq!(s.avg_init_ms, Some(200.0));
        assert!((s.cost_per_million_usd - s.cost_usd * 1e6).abs() < 1e-9);
    }

    fn sized(mb: u32, ms: f64, errors: usize) -> SizeResult {
        summarise(mb, &[report(ms)], errors, PRICES)
    }

    #[test]
    fn recommendations_by_strategy() {
        // CPU-bound: twice the memory, half the time, until 1769 MB.
        let cpu = [
            sized(256, 4000.0, 0),
            sized(512, 2000.0, 0),
            sized(1024, 1000.0, 0),
            sized(2048, 870.0, 0),
        ];
        let speed = recommend(&cpu, Strategy::Speed, 0.5).unwrap();
        assert_eq!(speed.memory_mb, 2048);
        // Same GB-seconds from 256 to 1024 MB: the tie goes to the faster.
        let cost = recommend(&cpu, Strategy::Cost, 0.5).unwrap();
        assert_eq!(cost.memory_mb, 1024, "{:?}", cost.reasons);
        assert_eq!(
            recommend(&cpu, Strategy::Balanced, 1.0).unwrap().memory_mb,
            1024
        );
        assert_eq!(
            recommend(&cpu, Strategy::Balanced, 0.0).unwrap().memory_mb,
            2048
        );
        // Sleep-bound: the same time everywhere, so the smallest is cheapest.
        let sleepy = [
            sized(128, 500.0, 0),
            sized(512, 500.0, 0),
            sized(1024, 499.0, 0),
        ];
        assert_eq!(
            recommend(&sleepy, Strategy::Cost, 0.5).unwrap().memory_mb,
            128
        );
        // Sizes with errors are left out while others have none.
        let failing = [sized(128, 100.0, 2), sized(256, 100.0, 0)];
        let r = recommend(&failing, Strategy::Cost, 0.5).unwrap();
        assert_eq!(r.memory_mb, 256);
        assert!(
            r.reasons.iter().any(|s| s.contains("128 MB")),
            "{:?}",
            r.reasons
        );
        assert_eq!(recommend(&[], Strategy::Cost, 0.5), None);
    }
}
