//! Small charts where people look rather than read: the last hour of an endpoint's or a
//! service's traffic as inline SVG bars, one per minute, drawn on the server (no script, no
//! chart library, nothing fetched). Each chart states its total and peak in words too, for
//! screen readers and for anyone who wants the number.

use maud::{Markup, html};
use vpcep_control::recent::Hour;

use crate::i18n::{Lang, M};

/// What a series counts; decides how its numbers are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Connections,
    Bytes,
}

/// One chart: a value per minute, oldest first, the last one ending at `end_ms`.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub title: String,
    pub unit: Unit,
    pub per_minute: Vec<u64>,
}

const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 64.0;

/// `n` as people read it: 1,234 connections; 1.5 MB (decimal units, as traffic is billed).
pub fn amount(unit: Unit, n: u64) -> String {
    match unit {
        Unit::Connections => grouped(n),
        Unit::Bytes => {
            let units = ["B", "KB", "MB", "GB", "TB", "PB"];
            let mut v = n as f64;
            let mut i = 0;
            while v >= 1000.0 && i + 1 < units.len() {
                v /= 1000.0;
                i += 1;
            }
            if i == 0 {
                format!("{n} B")
            } else {
                format!("{v:.1} {}", units[i])
            }
        }
    }
}

fn grouped(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The sentence under a chart: total and busiest minute.
pub fn summary(s: &Series, lang: Lang) -> String {
    let total: u64 = s.per_minute.iter().sum();
    let peak = s.per_minute.iter().copied().max().unwrap_or(0);
    let minutes = s.per_minute.len();
    match lang {
        Lang::Zh => format!(
            "最近 {minutes} 分钟共 {}，峰值每分钟 {}。",
            amount(s.unit, total),
            amount(s.unit, peak)
        ),
        Lang::En => format!(
            "{} in the last {minutes} minutes; busiest minute {}.",
            amount(s.unit, total),
            amount(s.unit, peak)
        ),
    }
}

/// The chart: bars scaled to the busiest minute, a baseline, the scale at the top left.
pub fn bars(s: &Series, lang: Lang) -> Markup {
    let n = s.per_minute.len().max(1);
    let peak = s.per_minute.iter().copied().max().unwrap_or(0);
    let slot = WIDTH / n as f64;
    let bar = (slot - 1.0).max(1.0);
    let words = summary(s, lang);
    let (start, end) = match lang {
        Lang::Zh => (format!("{n} 分钟前"), "现在".to_string()),
        Lang::En => (format!("{n} min ago"), "now".to_string()),
    };
    html! {
        figure.chart {
            figcaption { (s.title) }
            svg viewBox={ "0 0 " (WIDTH) " " (HEIGHT + 14.0) } role="img" aria-label=(words)
                preserveAspectRatio="none" {
                line x1="0" y1=(HEIGHT) x2=(WIDTH) y2=(HEIGHT) class="axis" {}
                @for (i, v) in s.per_minute.iter().enumerate() {
                    @if *v > 0 {
                        @let h = (*v as f64 / peak as f64 * (HEIGHT - 2.0)).max(1.0);
                        rect x=(format!("{:.2}", i as f64 * slot)) y=(format!("{:.2}", HEIGHT - h))
                            width=(format!("{bar:.2}")) height=(format!("{h:.2}")) {
                            title { (amount(s.unit, *v)) }
                        }
                    }
                }
                text x="0" y=(HEIGHT + 12.0) class="tick" { (start) }
                text x=(WIDTH) y=(HEIGHT + 12.0) class="tick" text-anchor="end" { (end) }
            }
            p.small.muted { (words) }
        }
    }
}

/// The last hour of an endpoint's or a service's traffic: new connections and bytes each way,
/// with where the numbers come from.
pub fn traffic_charts(lang: Lang, hour: &Hour) -> Markup {
    let series = |title: M, unit: Unit, f: fn(&vpcep_control::recent::Minute) -> u64| Series {
        title: title.t(lang).to_string(),
        unit,
        per_minute: hour.minutes.iter().map(f).collect(),
    };
    html! {
        div.charts {
            (bars(&series(M::ChartConnections, Unit::Connections, |m| m.connections), lang))
            (bars(&series(M::ChartRx, Unit::Bytes, |m| m.rx_bytes), lang))
            (bars(&series(M::ChartTx, Unit::Bytes, |m| m.tx_bytes), lang))
        }
        p.small.muted { (M::TrafficSource.t(lang)) }
    }
}

/// [`traffic_charts`] as a panel of its own (the endpoint page).
pub fn traffic_panel(lang: Lang, hour: &Hour) -> Markup {
    html! {
        section.panel aria-labelledby="traffic-title" #traffic {
            h2 #traffic-title { (M::TrafficTitle.t(lang)) }
            (traffic_charts(lang, hour))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(v: Vec<u64>) -> Series {
        Series {
            title: "新建连接".into(),
            unit: Unit::Connections,
            per_minute: v,
        }
    }

    #[test]
    fn amounts_read_as_people_write_them() {
        assert_eq!(amount(Unit::Connections, 1_234_567), "1,234,567");
        assert_eq!(amount(Unit::Connections, 12), "12");
        assert_eq!(amount(Unit::Bytes, 999), "999 B");
        assert_eq!(amount(Unit::Bytes, 1_500_000), "1.5 MB");
        assert_eq!(amount(Unit::Bytes, 2_000_000_000_000), "2.0 TB");
    }

    #[test]
    fn one_bar_per_busy_minute_scaled_to_the_peak() {
        let mut v = vec![0; 60];
        v[10] = 5;
        v[59] = 10;
        let html = bars(&series(v), Lang::Zh).into_string();
        assert_eq!(html.matches("<rect").count(), 2);
        // The busiest minute is full height (62 of 64), the other half of it.
        assert!(html.contains("height=\"62.00\""), "{html}");
        assert!(html.contains("height=\"31.00\""), "{html}");
        assert!(
            html.contains("最近 60 分钟共 15，峰值每分钟 10。"),
            "{html}"
        );
        assert!(html.contains("aria-label=\"最近 60 分钟共 15"), "{html}");
    }

    #[test]
    fn an_idle_hour_draws_no_bar_and_says_so() {
        let html = bars(&series(vec![0; 60]), Lang::En).into_string();
        assert!(!html.contains("<rect"));
        assert!(html.contains("0 in the last 60 minutes; busiest minute 0."));
    }
}
