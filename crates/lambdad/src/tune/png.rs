//! The chart of a tuning run as PNG: the SVG's layout (chart.rs) drawn
//! with tiny-skia at twice its size, its text in font8x8's 8×8 glyphs (no
//! font files needed).

use anyhow::Context;
use font8x8::UnicodeFonts;
use tiny_skia::{Color, FillRule, Paint, PathBuilder, Pixmap, Rect, Stroke, StrokeDash, Transform};

use super::chart::{H, LEFT, PH, PW, Plot, TOP, W};
use super::stats::SizeResult;

/// Pixels per SVG unit.
const SCALE: f32 = 2.0;
const BLUE: (u8, u8, u8) = (0x1f, 0x77, 0xb4);
const ORANGE: (u8, u8, u8) = (0xff, 0x7f, 0x0e);
const GREEN: (u8, u8, u8) = (0x2c, 0xa0, 0x2c);
const INK: (u8, u8, u8) = (0x33, 0x33, 0x33);
const GRID: (u8, u8, u8) = (0xee, 0xee, 0xee);

/// Where text is anchored at its x.
#[derive(Clone, Copy)]
enum Anchor {
    Start,
    Middle,
    End,
}

struct Canvas(Pixmap);

fn paint((r, g, b): (u8, u8, u8)) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color_rgba8(r, g, b, 255);
    p.anti_alias = true;
    p
}

impl Canvas {
    /// A polyline through `points` (SVG units), dashed when `dash` is given.
    fn line(&mut self, points: &[(f64, f64)], color: (u8, u8, u8), width: f32, dash: &[f32]) {
        let mut pb = PathBuilder::new();
        for (i, &(x, y)) in points.iter().enumerate() {
            let (x, y) = (x as f32 * SCALE, y as f32 * SCALE);
            if i == 0 {
                pb.move_to(x, y)
            } else {
                pb.line_to(x, y)
            }
        }
        let Some(path) = pb.finish() else { return };
        let stroke = Stroke {
            width: width * SCALE,
            dash: (!dash.is_empty())
                .then(|| StrokeDash::new(dash.iter().map(|d| d * SCALE).collect(), 0.0))
                .flatten(),
            ..Stroke::default()
        };
        self.0
            .stroke_path(&path, &paint(color), &stroke, Transform::identity(), None);
    }

    fn dot(&mut self, (x, y): (f64, f64), color: (u8, u8, u8)) {
        let Some(path) = PathBuilder::from_circle(x as f32 * SCALE, y as f32 * SCALE, 4.0 * SCALE)
        else {
            return;
        };
        self.0.fill_path(
            &path,
            &paint(color),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }

    /// `text` with its baseline at `y`, each glyph pixel a square of `size`
    /// image pixels (whole pixels: crisp, and no anti-aliasing needed);
    /// characters the font lacks are drawn as `?`.
    fn text(&mut self, text: &str, (x, y): (f64, f64), size: u8, color: (u8, u8, u8), at: Anchor) {
        let size = f32::from(size);
        let width = text.chars().count() as f32 * 8.0 * size;
        let left = (x as f32 * SCALE
            - match at {
                Anchor::Start => 0.0,
                Anchor::Middle => width / 2.0,
                Anchor::End => width,
            })
        .round();
        let top = (y as f32 * SCALE - 7.0 * size).round();
        let mut ink = paint(color);
        ink.anti_alias = false;
        for (i, c) in text.chars().enumerate() {
            let glyph = font8x8::BASIC_FONTS
                .get(c)
                .or_else(|| font8x8::BASIC_FONTS.get('?'))
                .unwrap_or([0; 8]);
            for (row, bits) in glyph.iter().enumerate() {
                for col in 0..8 {
                    if bits & (1 << col) != 0 {
                        let px = left + (i as f32 * 8.0 + col as f32) * size;
                        let py = top + row as f32 * size;
                        if let Some(r) = Rect::from_xywh(px, py, size, size) {
                            self.0.fill_rect(r, &ink, Transform::identity(), None);
                        }
                    }
                }
            }
        }
    }
}

/// The PNG chart: what [`super::chart::svg`] draws, as an image.
pub fn png(
    title: &str,
    results: &[SizeResult],
    recommended: Option<u32>,
) -> anyhow::Result<Vec<u8>> {
    let mut pixmap = Pixmap::new((W as f32 * SCALE) as u32, (H as f32 * SCALE) as u32)
        .context("a chart of no size")?;
    pixmap.fill(Color::WHITE);
    let mut c = Canvas(pixmap);
    let plot = Plot::of(results);
    let (bottom, right) = (TOP + PH, LEFT + PW);
    for k in 0..=4 {
        let f = f64::from(k) / 4.0;
        let y = bottom - PH * f;
        c.line(&[(LEFT, y), (right, y)], GRID, 1.0, &[]);
        c.text(
            &format!("{:.0} ms", plot.max_ms * f),
            (LEFT - 6.0, y + 4.0),
            2,
            BLUE,
            Anchor::End,
        );
        c.text(
            &format!("${:.2}", plot.max_cost * f),
            (right + 6.0, y + 4.0),
            2,
            ORANGE,
            Anchor::Start,
        );
    }
    c.line(&[(LEFT, bottom), (right, bottom)], INK, 1.0, &[]);
    c.line(&[(LEFT, TOP), (LEFT, bottom)], BLUE, 1.0, &[]);
    c.line(&[(right, TOP), (right, bottom)], ORANGE, 1.0, &[]);
    // The title in 3-pixel glyphs, or 2 when that would not fit.
    let fits = title.chars().count() * 8 * 3 <= (W as f32 * SCALE) as usize - 40;
    c.text(
        title,
        (W / 2.0, 24.0),
        if fits { 3 } else { 2 },
        INK,
        Anchor::Middle,
    );
    let ms: Vec<_> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (plot.x(i), plot.y_ms(r.avg_ms)))
        .collect();
    let cost: Vec<_> = results
        .iter()
        .enumerate()
        .map(|(i, r)| (plot.x(i), plot.y_cost(r.cost_per_million_usd)))
        .collect();
    c.line(&ms, BLUE, 2.0, &[]);
    c.line(&cost, ORANGE, 2.0, &[6.0, 3.0]);
    for (i, r) in results.iter().enumerate() {
        c.dot(ms[i], BLUE);
        c.dot(cost[i], ORANGE);
        let mark = recommended == Some(r.memory_mb);
        let label = format!("{} MB", r.memory_mb);
        c.text(
            &label,
            (plot.x(i), bottom + 18.0),
            if mark { 3 } else { 2 },
            INK,
            Anchor::Middle,
        );
        if mark {
            c.line(
                &[(plot.x(i), TOP), (plot.x(i), bottom)],
                GREEN,
                1.0,
                &[3.0, 3.0],
            );
            c.text(
                "recommended",
                (plot.x(i), TOP - 6.0),
                2,
                GREEN,
                Anchor::Middle,
            );
        }
    }
    c.text(
        "- average duration",
        (LEFT, H - 14.0),
        2,
        BLUE,
        Anchor::Start,
    );
    c.text(
        "- - cost per million invocations",
        (right, H - 14.0),
        2,
        ORANGE,
        Anchor::End,
    );
    c.0.encode_png().context("encoding the chart as PNG")
}

#[cfg(test)]
mod tests {
    use super::super::stats::{Prices, Report, summarise};
    use super::*;

    #[test]
    fn png_is_an_image_of_the_chart_size_with_both_series_drawn() {
        let p = Prices {
            per_gb_second: 0.000_016_666_7,
            per_request: 0.000_000_2,
        };
        let r = |mb, ms| {
            let report = Report {
                duration_ms: ms,
                billed_ms: ms,
                init_ms: None,
            };
            summarise(mb, &[report], 0, p)
        };
        let results = [r(128, 800.0), r(512, 200.0), r(1024, 100.0)];
        let bytes = png("f", &results, Some(512)).unwrap();
        let image = Pixmap::decode_png(&bytes).unwrap();
        assert_eq!((image.width(), image.height()), (1440, 800));
        let count = |(r, g, b): (u8, u8, u8)| {
            image
                .pixels()
                .iter()
                .filter(|p| (p.red(), p.green(), p.blue(), p.alpha()) == (r, g, b, 255))
                .count()
        };
        for color in [BLUE, ORANGE, GREEN, INK] {
            assert!(count(color) > 100, "{color:?} drawn");
        }
    }
}
