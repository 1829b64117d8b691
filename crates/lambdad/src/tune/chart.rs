//! The charts of a tuning run: an SVG (cost and average duration against
//! memory, two axes; the PNG in png.rs draws the same layout) and a few
//! lines of text for the terminal.

use std::fmt::Write;

use super::stats::SizeResult;

pub(super) const W: f64 = 720.0;
pub(super) const H: f64 = 400.0;
pub(super) const LEFT: f64 = 80.0;
const RIGHT: f64 = 90.0;
pub(super) const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// The plot area's width and height.
pub(super) const PW: f64 = W - LEFT - RIGHT;
pub(super) const PH: f64 = H - TOP - BOTTOM;

/// Where a run's points go: sizes evenly along x; duration and cost each
/// from 0 (bottom) to its largest value (top).
pub(super) struct Plot {
    n: usize,
    pub max_ms: f64,
    pub max_cost: f64,
}

impl Plot {
    pub fn of(results: &[SizeResult]) -> Self {
        let max = |f: fn(&SizeResult) -> f64, least: f64| {
            results.iter().map(f).fold(0.0, f64::max).max(least)
        };
        Self {
            n: results.len().max(1),
            max_ms: max(|r| r.avg_ms, 1e-9),
            max_cost: max(|r| r.cost_per_million_usd, 1e-12),
        }
    }

    /// The x of the `i`th size.
    pub fn x(&self, i: usize) -> f64 {
        if self.n == 1 {
            LEFT + PW / 2.0
        } else {
            LEFT + PW * i as f64 / (self.n - 1) as f64
        }
    }

    /// The y of a duration.
    pub fn y_ms(&self, v: f64) -> f64 {
        TOP + PH - PH * v / self.max_ms
    }

    /// The y of a cost per million.
    pub fn y_cost(&self, v: f64) -> f64 {
        TOP + PH - PH * v / self.max_cost
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG chart: sizes evenly along x; duration (ms, left axis, blue) and
/// cost per million invocations (USD, right axis, orange), each from 0 to
/// its largest value; the recommended size marked.
pub fn svg(title: &str, results: &[SizeResult], recommended: Option<u32>) -> String {
    let (pw, ph) = (PW, PH);
    let plot = Plot::of(results);
    let (x, max_ms, max_cost) = (|i| plot.x(i), plot.max_ms, plot.max_cost);
    let y = |v: f64, max: f64| TOP + ph - ph * v / max;
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="#fff"/>
<text x="{}" y="24" text-anchor="middle" font-size="15">{}</text>
<line x1="{LEFT}" y1="{}" x2="{}" y2="{}" stroke="#333"/>
<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}" stroke="#1f77b4"/>
<line x1="{}" y1="{TOP}" x2="{}" y2="{}" stroke="#ff7f0e"/>
"##,
        W / 2.0,
        escape(title),
        TOP + ph,
        LEFT + pw,
        TOP + ph,
        TOP + ph,
        LEFT + pw,
        LEFT + pw,
        TOP + ph,
    );
    for k in 0..=4 {
        let f = f64::from(k) / 4.0;
        let yy = TOP + ph - ph * f;
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#1f77b4">{:.0} ms</text><text x="{:.1}" y="{:.1}" fill="#ff7f0e">${:.2}</text>"##,
            LEFT + pw,
            LEFT - 6.0,
            yy + 4.0,
            max_ms * f,
            LEFT + pw + 6.0,
            yy + 4.0,
            max_cost * f
        );
    }
    let line = |f: &dyn Fn(&SizeResult) -> f64, max: f64| {
        results
            .iter()
            .enumerate()
            .map(|(i, r)| format!("{:.1},{:.1}", x(i), y(f(r), max)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##,
        line(&|r| r.avg_ms, max_ms)
    );
    let _ = writeln!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#ff7f0e" stroke-width="2" stroke-dasharray="6 3"/>"##,
        line(&|r| r.cost_per_million_usd, max_cost)
    );
    for (i, r) in results.iter().enumerate() {
        let mark = recommended == Some(r.memory_mb);
        let _ = writeln!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#1f77b4"/><circle cx="{:.1}" cy="{:.1}" r="4" fill="#ff7f0e"/><text x="{:.1}" y="{:.1}" text-anchor="middle"{}>{} MB</text>"##,
            x(i),
            y(r.avg_ms, max_ms),
            x(i),
            y(r.cost_per_million_usd, max_cost),
            x(i),
            TOP + ph + 18.0,
            if mark { r#" font-weight="bold""# } else { "" },
            r.memory_mb
        );
        if mark {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{TOP}" x2="{:.1}" y2="{:.1}" stroke="#2ca02c" stroke-dasharray="3 3"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#2ca02c">recommended</text>"##,
                x(i),
                x(i),
                TOP + ph,
                x(i),
                TOP - 6.0
            );
        }
    }
    let _ = write!(
        s,
        r##"<text x="{LEFT}" y="{:.1}" fill="#1f77b4">— average duration</text><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#ff7f0e">- - cost per million invocations</text>
</svg>
"##,
        H - 14.0,
        LEFT + pw,
        H - 14.0
    );
    s
}

/// A bar per size for the terminal: duration and cost, each relative to its largest.
pub fn text(results: &[SizeResult]) -> String {
    const WIDTH: f64 = 30.0;
    let max_ms = results
        .iter()
        .map(|r| r.avg_ms)
        .fold(0.0, f64::max)
        .max(1e-9);
    let max_cost = results
        .iter()
        .map(|r| r.cost_usd)
        .fold(0.0, f64::max)
        .max(1e-15);
    let bar = |v: f64, max: f64, c: char| {
        std::iter::repeat_n(c, ((v / max) * WIDTH).round() as usize).collect::<String>()
    };
    let mut out = String::new();
    for r in results {
        let _ = writeln!(
            out,
            "{:>6} MB  duration {:<30} {:>9.1} ms\n{:>9}  cost     {:<30} ${:.2}/M",
            r.memory_mb,
            bar(r.avg_ms, max_ms, '█'),
            r.avg_ms,
            "",
            bar(r.cost_usd, max_cost, '▒'),
            r.cost_per_million_usd
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::stats::{Prices, Report, summarise};
    use super::*;

    #[test]
    fn svg_has_a_point_per_size_and_the_mark() {
        let p = Prices {
            per_gb_second: 0.000_016_666_7,
            per_request: 0.000_000_2,
        };
        let r = |mb, ms| {
            summarise(
                mb,
                &[Report {
                    duration_ms: ms,
                    billed_ms: ms,
                    init_ms: None,
                }],
                0,
                p,
            )
        };
        let results = [r(128, 800.0), r(512, 200.0), r(1024, 100.0)];
        let s = svg("f <tune>", &results, Some(512));
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert_eq!(s.matches("<circle").count(), 6);
        assert!(s.contains("f &lt;tune&gt;"));
        assert!(s.contains(r#"font-weight="bold">512 MB"#));
        assert!(s.contains("recommended"));
        let t = text(&results);
        assert_eq!(t.lines().count(), 6);
        assert!(t.contains("128 MB"));
    }
}
