//! What a run writes: the JSON result, the Markdown table (`docs/benchmarks.md`) and the SVG
//! (`docs/benchmarks.svg`), all from the same [`Run`].

use plotters::prelude::*;

use crate::figure::{Run, num};

/// `docs/benchmarks.md`: one row per figure (target, measured, ratio, pass), the date, the
/// machine and the command, and the SVG linked.
pub fn markdown(run: &Run, svg_name: &str) -> String {
    let m = &run.machine;
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Written by `vpcep-bench` (`scripts/bench.sh`) from one run; do not edit by hand: re-run \
         it. Targets are SPEC P1–P6 (`shared/SPEC.md`). Figures with a direct path are medians of \
         interleaved rounds (direct, endpoint, direct, …) and the ratio is endpoint / direct; \
         every round's value is in `target/bench/result.json`. How each figure is taken: \
         `crates/vpcep-bench/src/lib.rs`.\n\n",
    );
    out.push_str(&format!(
        "- date: {}\n- machine: {} cores ({}), Linux {}; load average {} at the start, {} at the end{}\n- command: `{}` ({} mode, {:.0} s)\n\n",
        date(&run.date),
        m.nproc,
        m.cpu,
        m.kernel,
        num(m.load_start),
        num(m.load_end),
        if m.load_start.max(m.load_end) > 0.5 * m.nproc as f64 {
            " — **taken under load** (other work on the machine): throughput ratios are noisy"
        } else {
            ""
        },
        run.command,
        run.mode,
        run.seconds
    ));
    out.push_str("| | figure | target | measured | direct | ratio | rounds | pass |\n");
    out.push_str("|---|---|---|---|---|---|---|---|\n");
    for f in &run.figures {
        let target = f
            .target
            .map(|t| t.describe(&f.unit))
            .unwrap_or_else(|| "—".into());
        let pass = match f.pass {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} {} | {} | {} | {} | {} |\n",
            f.id,
            f.name,
            target,
            num(f.value),
            f.unit,
            f.direct
                .map(|d| format!("{} {}", num(d), f.unit))
                .unwrap_or_default(),
            f.ratio
                .map(|r| format!("{} %", num(100.0 * r)))
                .unwrap_or_default(),
            f.rounds,
            pass
        ));
    }
    let (met, judged) = run
        .figures
        .iter()
        .filter_map(|f| f.pass)
        .fold((0, 0), |(m, n), p| (m + usize::from(p), n + 1));
    out.push_str(&format!(
        "\n{met} of {judged} targets met.\n\n![Throughput and round trips, direct vs endpoint]({svg_name})\n"
    ));
    out
}

/// An RFC 3339 time to the minute ("2026-11-29 07:27 UTC"); anything else as it is.
fn date(d: &str) -> String {
    match (d.get(..10), d.get(10..11), d.get(11..16)) {
        (Some(day), Some("T"), Some(hm)) => format!("{day} {hm} UTC"),
        _ => d.to_string(),
    }
}

/// The figure: P2/P3's throughput (medians as bars, each round a dot) direct vs endpoint, and
/// the round-trip distributions (cumulative, all exchanges of all rounds) of both paths.
pub fn svg(run: &Run) -> Result<String, String> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, 450)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let (left, right) = root.split_horizontally(560);
        throughput(&left, run)?;
        round_trips(&right, run)?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

const DIRECT: RGBColor = RGBColor(0x4c, 0x72, 0xb0);
const ENDPOINT: RGBColor = RGBColor(0xdd, 0x84, 0x52);

fn throughput<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    run: &Run,
) -> Result<(), String> {
    let bars: Vec<_> = run
        .figures
        .iter()
        .filter(|f| f.id == "P2" && f.direct.is_some())
        .collect();
    let top = bars
        .iter()
        .flat_map(|f| f.samples.iter().chain(f.direct_samples.iter()))
        .copied()
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "P2 throughput, Gbit/s (bars: median; dots: rounds)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(8)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..bars.len().max(1) as f64, 0f64..top)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, f) in bars.iter().enumerate() {
        let x = i as f64;
        for (offset, value, samples, color) in [
            (0.1, f.direct.unwrap_or(f64::NAN), &f.direct_samples, DIRECT),
            (0.5, f.value, &f.samples, ENDPOINT),
        ] {
            let (x0, x1) = (x + offset, x + offset + 0.38);
            if value.is_finite() {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x0, 0.0), (x1, value)],
                        color.mix(0.8).filled(),
                    )))
                    .map_err(|e| e.to_string())?;
            }
            chart
                .draw_series(
                    samples
                        .iter()
                        .filter(|v| v.is_finite())
                        .map(|v| Circle::new(((x0 + x1) / 2.0, *v), 3, BLACK.filled())),
                )
                .map_err(|e| e.to_string())?;
        }
        let ratio = format!(
            "{} % of direct",
            f.ratio.map(|r| num(100.0 * r)).unwrap_or_default()
        );
        for (line, y) in [(short(&f.name), 0.97), (ratio, 0.92)] {
            chart
                .draw_series(std::iter::once(Text::new(
                    line,
                    (x + 0.08, top * y),
                    ("sans-serif", 12),
                )))
                .map_err(|e| e.to_string())?;
        }
    }
    legend(&mut chart, top)
}

/// A bar group's label: the figure's name cut to what fits under a quarter of the plot.
fn short(name: &str) -> String {
    let path = if name.contains("PROXY") {
        "proxy: "
    } else {
        ""
    };
    let what = if name.contains("UDP") {
        "UDP"
    } else if name.contains("four") {
        "TCP, 4 streams"
    } else if name.contains("one stream") {
        "TCP, 1 stream"
    } else {
        name
    };
    format!("{path}{what}")
}

fn legend<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    top: f64,
) -> Result<(), String> {
    let (x0, x1) = {
        let r = chart.x_range();
        (r.start, r.end)
    };
    let w = x1 - x0;
    for (i, (name, color)) in [("direct", DIRECT), ("endpoint", ENDPOINT)]
        .into_iter()
        .enumerate()
    {
        let y = top * (0.85 - 0.06 * i as f64);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(x0 + 0.02 * w, y), (x0 + 0.05 * w, y - top * 0.03)],
                color.filled(),
            )))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(Text::new(
                name,
                (x0 + 0.06 * w, y),
                ("sans-serif", 12),
            )))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn round_trips<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    run: &Run,
) -> Result<(), String> {
    // Up to 1.5 × the 95th percentile of the slower path: the tail beyond is scheduling noise
    // (and on a loaded machine would squeeze both curves against the axis).
    let right = run
        .round_trips
        .iter()
        .filter_map(|d| d.quantiles_us.get(95).copied())
        .filter(|v| v.is_finite())
        .fold(1.0f64, f64::max)
        * 1.5;
    let mut chart = ChartBuilder::on(area)
        .caption(
            "P3 one-byte round trip, µs (cumulative, all exchanges, to p95 × 1.5)",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..right, 0f64..100f64)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("µs")
        .y_desc("% of exchanges")
        .draw()
        .map_err(|e| e.to_string())?;
    for d in &run.round_trips {
        let color = if d.path == "direct" { DIRECT } else { ENDPOINT };
        chart
            .draw_series(LineSeries::new(
                d.quantiles_us
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| **v <= right)
                    .map(|(q, v)| (*v, q as f64)),
                color.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(format!("{} ({} exchanges)", d.path, num(d.samples as f64)))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::figure::{Distribution, Figure, Machine, Target};

    fn run() -> Run {
        Run {
            mode: "quick".into(),
            date: "2026-11-29T07:00:00Z".into(),
            command: "vpcep-bench --quick".into(),
            machine: Machine {
                nproc: 2,
                kernel: "6.1".into(),
                cpu: "AMD EPYC".into(),
                load_start: 0.1,
                load_end: 0.2,
            },
            seconds: 42.0,
            figures: vec![
                Figure::versus(
                    "P2",
                    "TCP, one stream",
                    vec![10.0, 11.0],
                    vec![9.5, 9.0],
                    "Gbit/s",
                    Some(Target::ratio_at_least(90.0)),
                ),
                Figure::absolute("P5", "list p99", 25.0, "ms", Some(Target::at_most(20.0))),
            ],
            round_trips: vec![
                Distribution::of("direct", vec![10.0, 11.0, 12.0]),
                Distribution::of("endpoint", vec![14.0, 15.0, 19.0]),
            ],
        }
    }

    #[test]
    fn the_table_has_a_row_per_figure_and_says_which_targets_failed() {
        let md = markdown(&run(), "benchmarks.svg");
        assert!(md.contains("| P2 | TCP, one stream | ≥ 90 % of direct | 9.25 Gbit/s | 10.5 Gbit/s | 88.1 % | 2 | **no** |"), "{md}");
        assert!(md.contains("| P5 | list p99 | ≤ 20 ms | 25 ms |"), "{md}");
        assert!(md.contains("0 of 2 targets met"), "{md}");
        assert!(md.contains("![Throughput and round trips, direct vs endpoint](benchmarks.svg)"));
        assert!(md.contains("2 cores (AMD EPYC), Linux 6.1"));
        assert!(md.contains("- date: 2026-11-29 07:00 UTC\n"), "{md}");
        assert!(!md.contains("under load"));
    }

    #[test]
    fn the_svg_draws_both_paths_without_fonts() {
        let s = svg(&run()).expect("svg");
        assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(200)]);
        assert!(s.contains("TCP, 1 stream"));
        assert!(s.contains("88.1 % of direct"));
        assert!(s.contains("endpoint (3 exchanges)"));
        assert!(s.contains("<rect"));
        assert!(s.contains("<polyline"));
    }
}
