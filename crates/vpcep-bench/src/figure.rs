//! One measured figure, its SPEC target and whether it was met; the result of a whole run.

use serde::{Deserialize, Serialize};

/// Which way a target points.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    AtLeast,
    AtMost,
}

/// What a target is judged on: the value itself, the endpoint/direct ratio (in %), or the
/// endpoint's value minus the direct path's (added round trip).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum On {
    Value,
    RatioPercent,
    Added,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub on: On,
    pub op: Op,
    pub limit: f64,
}

impl Target {
    pub fn at_most(limit: f64) -> Self {
        Target {
            on: On::Value,
            op: Op::AtMost,
            limit,
        }
    }
    pub fn at_least(limit: f64) -> Self {
        Target {
            on: On::Value,
            op: Op::AtLeast,
            limit,
        }
    }
    /// The endpoint path at least `percent` % of the direct path.
    pub fn ratio_at_least(percent: f64) -> Self {
        Target {
            on: On::RatioPercent,
            op: Op::AtLeast,
            limit: percent,
        }
    }
    /// The endpoint path adds at most `limit` (the figure's unit) over the direct path.
    pub fn added_at_most(limit: f64) -> Self {
        Target {
            on: On::Added,
            op: Op::AtMost,
            limit,
        }
    }

    /// The target as the table shows it, e.g. "≥ 90 % of direct", "≤ +5 µs", "≤ 20 ms".
    pub fn describe(&self, unit: &str) -> String {
        let op = match self.op {
            Op::AtLeast => "≥",
            Op::AtMost => "≤",
        };
        match self.on {
            On::Value => format!("{op} {} {unit}", num(self.limit)),
            On::RatioPercent => format!("{op} {} % of direct", num(self.limit)),
            On::Added => format!("{op} +{} {unit} over direct", num(self.limit)),
        }
    }
}

/// A figure: `value` is the measured value (the endpoint path's where there is a direct path to
/// compare with, then `direct` and `ratio` = value / direct are set); `samples` are the
/// per-round values (endpoint path) and `direct_samples` the direct path's, in round order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// SPEC figure: P1..P6 (P6 is private DNS).
    pub id: String,
    pub name: String,
    pub value: f64,
    pub unit: String,
    pub direct: Option<f64>,
    pub ratio: Option<f64>,
    pub target: Option<Target>,
    /// `None` when there is no target (a breakdown shown for context).
    pub pass: Option<bool>,
    pub rounds: usize,
    pub samples: Vec<f64>,
    pub direct_samples: Vec<f64>,
}

impl Figure {
    /// A figure with no direct path to compare with.
    pub fn absolute(
        id: &str,
        name: impl Into<String>,
        value: f64,
        unit: &str,
        target: Option<Target>,
    ) -> Figure {
        let mut f = Figure {
            id: id.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            direct: None,
            ratio: None,
            target,
            pass: None,
            rounds: 1,
            samples: vec![value],
            direct_samples: vec![],
        };
        f.judge();
        f
    }

    /// Direct and endpoint path measured in alternating rounds: the medians of each, their ratio.
    pub fn versus(
        id: &str,
        name: impl Into<String>,
        direct_samples: Vec<f64>,
        samples: Vec<f64>,
        unit: &str,
        target: Option<Target>,
    ) -> Figure {
        let direct = crate::lab::median(&mut direct_samples.clone());
        let value = crate::lab::median(&mut samples.clone());
        let mut f = Figure {
            id: id.into(),
            name: name.into(),
            value,
            unit: unit.into(),
            direct: Some(direct),
            ratio: Some(value / direct),
            target,
            pass: None,
            rounds: samples.len().min(direct_samples.len()),
            samples,
            direct_samples,
        };
        f.judge();
        f
    }

    /// The quantity the target is judged on.
    pub fn judged(&self) -> Option<f64> {
        let t = self.target?;
        match t.on {
            On::Value => Some(self.value),
            On::RatioPercent => self.ratio.map(|r| 100.0 * r),
            On::Added => self.direct.map(|d| self.value - d),
        }
    }

    fn judge(&mut self) {
        self.pass = match (self.target, self.judged()) {
            (Some(t), Some(v)) if v.is_finite() => Some(match t.op {
                Op::AtLeast => v >= t.limit,
                Op::AtMost => v <= t.limit,
            }),
            (Some(_), _) => Some(false),
            (None, _) => None,
        };
    }

    /// Every number of the figure is finite (what the quick mode asserts).
    pub fn is_finite(&self) -> bool {
        self.value.is_finite()
            && self.direct.is_none_or(f64::is_finite)
            && self.ratio.is_none_or(f64::is_finite)
    }
}

/// The machine a run was taken on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub nproc: usize,
    pub kernel: String,
    pub cpu: String,
    /// 1-minute load average when the run started and when it ended (others' builds show here).
    pub load_start: f64,
    pub load_end: f64,
}

impl Machine {
    pub fn probe() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|_| "unknown".into());
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            kernel,
            cpu,
            load_start: load_average(),
            load_end: f64::NAN,
        }
    }
}

/// The 1-minute load average (NaN when unreadable).
pub fn load_average() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Round-trip times of one path, as quantiles (µs at 0 %, 1 %, …, 100 %) of every exchange of
/// every round: what the SVG's distribution plot draws.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub path: String,
    pub samples: usize,
    pub quantiles_us: Vec<f64>,
}

impl Distribution {
    pub fn of(path: &str, mut us: Vec<f64>) -> Distribution {
        us.sort_by(f64::total_cmp);
        let quantiles_us = if us.is_empty() {
            vec![]
        } else {
            (0..=100)
                .map(|q| us[((us.len() - 1) as f64 * q as f64 / 100.0).round() as usize])
                .collect()
        };
        Distribution {
            path: path.into(),
            samples: us.len(),
            quantiles_us,
        }
    }
}

/// A whole run: what `target/bench/result.json` holds, and what the table and the SVG are drawn
/// from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub mode: String,
    /// UTC, RFC 3339.
    pub date: String,
    pub command: String,
    pub machine: Machine,
    pub seconds: f64,
    pub figures: Vec<Figure>,
    pub round_trips: Vec<Distribution>,
}

impl Run {
    /// Figures that are missing a finite value, by name (empty when all are there).
    pub fn not_finite(&self) -> Vec<String> {
        self.figures
            .iter()
            .filter(|f| !f.is_finite())
            .map(|f| format!("{} {}", f.id, f.name))
            .collect()
    }
}

/// A number as the table prints it: three significant digits, thousands separated.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    let decimals = if a == 0.0 || a >= 100.0 || a == a.trunc() && a >= 1.0 {
        0
    } else if a >= 10.0 {
        1
    } else if a >= 1.0 {
        2
    } else {
        3
    };
    let s = format!("{v:.decimals$}");
    let (int, frac) = s.split_once('.').unwrap_or((&s, ""));
    let (sign, digits) = int.strip_prefix('-').map_or(("", int), |rest| ("-", rest));
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if frac.is_empty() {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_target_is_judged_on_the_medians() {
        let f = Figure::versus(
            "P2",
            "TCP",
            vec![10.0, 12.0, 11.0, 30.0, 9.0],
            vec![9.0, 10.5, 10.0, 1.0, 10.2],
            "Gbit/s",
            Some(Target::ratio_at_least(90.0)),
        );
        assert_eq!(f.direct, Some(11.0));
        assert_eq!(f.value, 10.0);
        assert_eq!(f.rounds, 5);
        assert_eq!(f.pass, Some(true));
        let f = Figure::versus(
            "P2",
            "TCP",
            vec![10.0],
            vec![8.9],
            "Gbit/s",
            Some(Target::ratio_at_least(90.0)),
        );
        assert_eq!(f.pass, Some(false));
    }

    #[test]
    fn an_added_target_subtracts_the_direct_path() {
        let f = Figure::versus(
            "P3",
            "rtt",
            vec![40.0],
            vec![46.0],
            "µs",
            Some(Target::added_at_most(5.0)),
        );
        assert_eq!(f.judged(), Some(6.0));
        assert_eq!(f.pass, Some(false));
    }

    #[test]
    fn a_missing_value_fails_its_target_and_is_not_finite() {
        let f = Figure::absolute("P5", "list", f64::NAN, "ms", Some(Target::at_most(20.0)));
        assert_eq!(f.pass, Some(false));
        assert!(!f.is_finite());
        let f = Figure::absolute("P5", "list", 3.0, "ms", None);
        assert_eq!(f.pass, None);
        assert!(f.is_finite());
    }

    #[test]
    fn numbers_print_with_three_significant_digits_and_separators() {
        assert_eq!(num(116_860.4), "116,860");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1.0), "1");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(0.2741), "0.274");
        assert_eq!(num(-1234.0), "-1,234");
        assert_eq!(num(f64::NAN), "—");
    }

    #[test]
    fn quantiles_run_from_the_smallest_to_the_largest_sample() {
        let d = Distribution::of("direct", (1..=1000).map(f64::from).rev().collect());
        assert_eq!(d.quantiles_us.len(), 101);
        assert_eq!(d.quantiles_us[0], 1.0);
        assert_eq!(d.quantiles_us[50], 501.0);
        assert_eq!(d.quantiles_us[100], 1000.0);
    }
}
