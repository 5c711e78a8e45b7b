//! `--plot FILE.svg`: every probed case in a panel of its own, one above the
//! other on the same axes: each probe operation's latency (log scale) at
//! the time it started, relative to the start of the measured step, and
//! each batch as a band over its duration with a black bar at its own
//! length on the same scale. Hand-written SVG: no plotting dependency.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::probe_ops::Op;
use crate::probe_report::ProbeCase;

const WIDTH: f64 = 1000.0;
const PANEL: f64 = 230.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
/// Room for a panel's title above and its time axis below.
const GAP: f64 = 55.0;
/// The lowest latency drawn, in ms: anything faster sits on the axis.
const FLOOR_MS: f64 = 0.1;

fn colour(op: Op) -> &'static str {
    match op {
        Op::Read => "#1f77b4",
        Op::Action => "#ff7f0e",
        Op::Touch => "#2ca02c",
    }
}

/// The shared axes: seconds from the step's start, and decades of ms.
struct Axes {
    t0: f64,
    t1: f64,
    decades: (i32, i32),
}

impl Axes {
    fn new(cases: &[ProbeCase<'_>]) -> Axes {
        let t0 = cases.iter().map(|c| -c.record.step.0).fold(0.0, f64::min);
        let t1 = cases
            .iter()
            .map(|c| {
                let ops = c.record.samples.iter().map(|s| s.start + s.seconds);
                let batches = c.batches.iter().map(|b| b.0 + b.1);
                ops.chain(batches).fold(c.record.step.1, f64::max) - c.record.step.0
            })
            .fold(1.0, f64::max);
        let slowest = cases
            .iter()
            .flat_map(|c| {
                let ops = c.record.samples.iter().map(|s| s.seconds);
                ops.chain(c.batches.iter().map(|b| b.1))
            })
            .fold(1e-3, f64::max)
            * 1000.0;
        Axes {
            t0,
            t1,
            decades: (FLOOR_MS.log10() as i32, slowest.log10().ceil() as i32),
        }
    }

    fn x(&self, t: f64) -> f64 {
        LEFT + (t - self.t0) / (self.t1 - self.t0) * (WIDTH - LEFT - RIGHT)
    }

    /// The y of `ms` within a panel whose plot area starts at `top`.
    fn y(&self, top: f64, ms: f64) -> f64 {
        let (lo, hi) = self.decades;
        let f = (ms.max(FLOOR_MS).log10() - f64::from(lo)) / f64::from(hi - lo).max(1.0);
        top + PANEL * (1.0 - f)
    }

    /// A tick every 1, 2, 5, 10... seconds, about ten in all.
    fn time_step(&self) -> f64 {
        let raw = (self.t1 - self.t0) / 10.0;
        let decade = 10f64.powf(raw.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .iter()
            .map(|m| m * decade)
            .find(|step| *step >= raw)
            .unwrap_or(10.0 * decade)
    }
}

/// Writes the plot of `cases` to `path`.
pub fn write(path: &Path, title: &str, cases: &[ProbeCase<'_>]) -> Result<()> {
    std::fs::write(path, render(title, cases))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn render(title: &str, cases: &[ProbeCase<'_>]) -> String {
    let axes = Axes::new(cases);
    let height = TOP + cases.len() as f64 * (PANEL + GAP) + 10.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"20\" font-size=\"14\">{}</text>",
        escape(title)
    );
    legend(&mut svg);
    for (i, case) in cases.iter().enumerate() {
        let top = TOP + i as f64 * (PANEL + GAP) + 20.0;
        panel(&mut svg, &axes, top, case);
    }
    svg.push_str("</svg>\n");
    svg
}

fn legend(svg: &mut String) {
    let mut x = LEFT;
    for op in Op::ALL {
        let _ = write!(
            svg,
            "<circle cx=\"{x}\" cy=\"38\" r=\"4\" fill=\"{}\"/>\
             <text x=\"{}\" y=\"42\">{}</text>",
            colour(op),
            x + 8.0,
            op.name()
        );
        x += 80.0;
    }
    let _ = writeln!(
        svg,
        "<rect x=\"{x}\" y=\"32\" width=\"14\" height=\"12\" fill=\"#ddd\"/>\
         <line x1=\"{x}\" y1=\"38\" x2=\"{}\" y2=\"38\" stroke=\"black\" stroke-width=\"2\"/>\
         <text x=\"{}\" y=\"42\">a batch: its span, and a bar at its duration \
         (ms, same scale); failed ops in red; time 0 = the step starts</text>",
        x + 14.0,
        x + 20.0
    );
}

fn panel(svg: &mut String, axes: &Axes, top: f64, case: &ProbeCase<'_>) {
    let bottom = top + PANEL;
    let (left, right) = (LEFT, WIDTH - RIGHT);
    let shift = case.record.step.0;
    let figures = case.figures();
    let _ = writeln!(
        svg,
        "<text x=\"{left}\" y=\"{}\" font-weight=\"bold\">{}</text>\
         <text x=\"{right}\" y=\"{}\" text-anchor=\"end\">p99 ms idle {:.1}, during {:.1}; \
         {} batches, longest {:.0} ms</text>",
        top - 6.0,
        escape(&case.label),
        top - 6.0,
        figures.idle.all.p99_ms,
        figures.during.all.p99_ms,
        figures.batches,
        figures.longest_batch_ms
    );
    // Batches: alternate shades, so that neighbours stay apart.
    for (i, (start, seconds)) in case.batches.iter().enumerate() {
        let (x0, x1) = (axes.x(start - shift), axes.x(start + seconds - shift));
        let shade = if i % 2 == 0 { "#e4e4e4" } else { "#f0f0f0" };
        let _ = write!(
            svg,
            "<rect x=\"{x0:.1}\" y=\"{top}\" width=\"{:.2}\" height=\"{PANEL}\" fill=\"{shade}\"/>",
            (x1 - x0).max(0.5)
        );
    }
    svg.push('\n');
    // The step's start and end.
    for t in [0.0, case.record.step.1 - shift] {
        let x = axes.x(t);
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{top}\" x2=\"{x:.1}\" y2=\"{bottom}\" \
             stroke=\"#888\" stroke-dasharray=\"4 3\"/>"
        );
    }
    // Latency axis: decades.
    for decade in axes.decades.0..=axes.decades.1 {
        let ms = 10f64.powi(decade);
        let y = axes.y(top, ms);
        let label = if ms < 1.0 {
            format!("{ms}")
        } else {
            format!("{ms:.0}")
        };
        let _ = write!(
            svg,
            "<line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{right}\" y2=\"{y:.1}\" stroke=\"#ccc\" stroke-width=\"0.5\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            left - 5.0,
            y + 4.0
        );
    }
    // Time axis.
    let step = axes.time_step();
    // Ticks as whole multiples of the step, so that no rounding error
    // accumulates into the labels.
    let mut k = (axes.t0 / step).ceil() as i64;
    while k as f64 * step <= axes.t1 {
        let t = k as f64 * step;
        let x = axes.x(t);
        let _ = write!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{bottom}\" x2=\"{x:.1}\" y2=\"{}\" stroke=\"black\"/>\
             <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            bottom + 4.0,
            bottom + 16.0,
            tick_label(t, step)
        );
        k += 1;
    }
    let _ = writeln!(
        svg,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{PANEL}\" fill=\"none\" stroke=\"black\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">seconds since the step started</text>\
         <text transform=\"translate(18 {}) rotate(-90)\" text-anchor=\"middle\">latency, ms (log)</text>",
        right - left,
        (left + right) / 2.0,
        bottom + 32.0,
        top + PANEL / 2.0
    );
    // Each batch's duration, on the latency scale.
    let mut bars = String::new();
    for (start, seconds) in &case.batches {
        let _ = write!(
            bars,
            "M{:.1} {:.1}H{:.1}",
            axes.x(start - shift),
            axes.y(top, seconds * 1000.0),
            axes.x(start + seconds - shift)
        );
    }
    let _ = writeln!(
        svg,
        "<path d=\"{bars}\" stroke=\"black\" stroke-width=\"2\" fill=\"none\"/>"
    );
    // The operations: one short dash each, one path per kind.
    for op in Op::ALL {
        dots(svg, axes, top, case, colour(op), |s| {
            s.op == op && !s.failed
        });
    }
    dots(svg, axes, top, case, "red", |s| s.failed);
}

/// `t` with no more decimals than the step has: "0.4", not
/// "0.4000000000000001"; "0", never "-0" or "0.0".
fn tick_label(t: f64, step: f64) -> String {
    let decimals = (-step.log10().floor()).max(0.0) as usize;
    // Adding 0.0 turns -0 into 0.
    let text = format!("{:.*}", decimals, t + 0.0);
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn dots(
    svg: &mut String,
    axes: &Axes,
    top: f64,
    case: &ProbeCase<'_>,
    colour: &str,
    keep: impl Fn(&crate::probe::Sample) -> bool,
) {
    let shift = case.record.step.0;
    let mut d = String::new();
    // Tens of thousands of operations land on a few thousand spots: draw
    // each spot (to a fifth of a pixel, far below the dash's 3 px) once,
    // which keeps the file small and the picture the same.
    let mut drawn = HashSet::new();
    for s in case.record.samples.iter().filter(|s| keep(s)) {
        let (x, y) = (axes.x(s.start - shift), axes.y(top, s.seconds * 1000.0));
        if drawn.insert(((x * 5.0).round() as i64, (y * 5.0).round() as i64)) {
            let _ = write!(d, "M{x:.1} {y:.1}h0");
        }
    }
    if !d.is_empty() {
        let _ = writeln!(
            svg,
            "<path d=\"{d}\" stroke=\"{colour}\" stroke-width=\"3\" stroke-linecap=\"round\" \
             stroke-opacity=\"0.6\" fill=\"none\"/>"
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::probe::{Record, Sample};

    fn sample(op: Op, start: f64, seconds: f64, failed: bool) -> Sample {
        Sample {
            op,
            start,
            seconds,
            failed,
        }
    }

    #[test]
    fn a_panel_per_case_with_a_path_per_kind_and_the_batches() {
        let record = Record {
            started_at: Utc::now(),
            step: (5.0, 7.0),
            samples: vec![
                sample(Op::Read, 1.0, 0.001, false),
                sample(Op::Action, 5.5, 0.4, false),
                sample(Op::Touch, 6.0, 0.002, true),
            ],
            first_error: None,
        };
        let case = |label: &str| ProbeCase {
            label: label.to_owned(),
            record: &record,
            batches: vec![(5.1, 0.5), (5.7, 0.6)],
            batch_sizes: Some([10, 20, 30]),
        };
        let svg = render("a <title>", &[case("one"), case("two")]);
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>\n"));
        assert!(svg.contains("a &lt;title&gt;"));
        assert_eq!(svg.matches("font-weight=\"bold\"").count(), 2);
        // Per panel: read and action dots, the failed touch in red, the
        // batch bars; two batch bands.
        assert_eq!(svg.matches("stroke=\"red\"").count(), 2);
        assert_eq!(svg.matches(colour(Op::Touch)).count(), 1, "legend only");
        assert_eq!(svg.matches("fill=\"#e4e4e4\"").count(), 2);
        assert_eq!(svg.matches("fill=\"#f0f0f0\"").count(), 2);
    }

    #[test]
    fn operations_on_the_same_spot_are_drawn_once() {
        let same = sample(Op::Read, 1.0, 0.001, false);
        let record = Record {
            started_at: Utc::now(),
            step: (0.5, 2.0),
            samples: vec![same, same, sample(Op::Read, 1.5, 0.1, false)],
            first_error: None,
        };
        let case = ProbeCase {
            label: "one".to_owned(),
            record: &record,
            batches: vec![],
            batch_sizes: None,
        };
        let svg = render("t", &[case]);
        let read = format!("stroke=\"{}\"", colour(Op::Read));
        let path = svg
            .lines()
            .find(|l| l.starts_with("<path") && l.contains(&read))
            .unwrap();
        assert_eq!(path.matches('M').count(), 2, "{path}");
        assert!(
            svg.contains(">0<") && !svg.contains(">-0<"),
            "the origin is labelled 0"
        );
    }
}
