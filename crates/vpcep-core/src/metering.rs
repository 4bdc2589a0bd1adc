//! Metering: what is billed per endpoint and the two rules that make it exact across restarts
//! (see docs/metering.md).
//!
//! * **Traffic** is counted by the kernel in cumulative counters the agent reports as they are
//!   ([`CounterReading`]); the control plane keeps the last value seen per (endpoint, counter
//!   identity) and bills only what a reading adds to it ([`counter_delta`]).
//! * **Time in `accepted`** is billed by the control plane from its own clock: every metering
//!   tick adds the time since the endpoint's persisted `metered_until`, cut at hour boundaries
//!   ([`split_hours`]).
//!
//! Pure: time is passed in as epoch milliseconds.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::{DomainError, DomainResult, Field, quoted};

pub const HOUR_MS: i64 = 3_600_000;

/// Packets and bytes of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Traffic {
    pub packets: u64,
    pub bytes: u64,
}

/// One endpoint's cumulative kernel counters as read at one moment: rx is consumer → endpoint,
/// tx endpoint → consumer (docs/metrics.md).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub rx: Traffic,
    pub tx: Traffic,
}

impl Counters {
    /// Whether any of the four values is below `earlier`'s: the counter was recreated.
    pub fn went_down_from(&self, earlier: &Counters) -> bool {
        self.rx.packets < earlier.rx.packets
            || self.rx.bytes < earlier.rx.bytes
            || self.tx.packets < earlier.tx.packets
            || self.tx.bytes < earlier.tx.bytes
    }

    fn minus(&self, earlier: &Counters) -> Counters {
        Counters {
            rx: Traffic {
                packets: self.rx.packets - earlier.rx.packets,
                bytes: self.rx.bytes - earlier.rx.bytes,
            },
            tx: Traffic {
                packets: self.tx.packets - earlier.tx.packets,
                bytes: self.tx.bytes - earlier.tx.bytes,
            },
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Counters::default()
    }
}

/// A reading of one endpoint's counter, with the counter's identity: `counter` names the kernel
/// object (the agent's host boot id and the gateway namespace), so a counter that starts again
/// from zero in a place the rule below cannot see (another host, a reboot) is a new identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterReading {
    pub endpoint_id: String,
    pub counter: String,
    /// The consumer's project (the endpoint's owner) and the endpoint's service.
    pub project_id: String,
    pub service_id: String,
    pub value: Counters,
    /// When the agent read it (its clock, epoch ms): orders readings of one counter.
    pub read_ms: i64,
}

/// **The delta rule.** What a reading (`value`, read at `read_ms`) adds to the bill, given the
/// last reading kept for the same (endpoint, counter identity) with its read time:
///
/// * first reading of this identity: all of it (the counter started at zero when it was made);
/// * read before the last one (a report that arrived late, out of order): `None`, ignored —
///   nothing is lost, the next reading's difference covers it;
/// * a value at or above the last one: the difference (a repeated report adds nothing);
/// * a value below the last one in any of its four numbers: the counter was recreated, so the
///   whole value is new (counted from zero) — unless it was read at the same millisecond,
///   which can only be an out-of-order copy (ignored).
///
/// The caller keeps (`value`, `read_ms`) as the last reading in the same transaction as the
/// bill, unless ignored.
pub fn counter_delta(
    last: Option<(&Counters, i64)>,
    value: &Counters,
    read_ms: i64,
) -> Option<Counters> {
    match last {
        None => Some(*value),
        Some((_, at)) if read_ms < at => None,
        Some((l, at)) if value.went_down_from(l) => (read_ms > at).then_some(*value),
        Some((l, _)) => Some(value.minus(l)),
    }
}

/// The start of the hour `ms` falls in (UTC; hours of epoch time).
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS) * HOUR_MS
}

/// `[from, to)` cut at hour boundaries: (hour start, milliseconds in that hour), in order; empty
/// when `to <= from`.
pub fn split_hours(from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let hour = hour_of(at);
        let end = (hour + HOUR_MS).min(to);
        out.push((hour, end - at));
        at = end;
    }
    out
}

/// One endpoint's usage in one hour: what is billed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourUsage {
    pub endpoint_id: String,
    /// Start of the hour, epoch milliseconds (UTC).
    pub hour_ms: i64,
    /// The consumer's project (the endpoint's owner).
    pub project_id: String,
    pub service_id: String,
    /// Milliseconds the endpoint was `accepted` in this hour.
    pub accepted_ms: i64,
    /// Traffic billed to this hour (by the hour the control plane received the reading).
    pub traffic: Counters,
}

/// A usage query's time range: `[from, to)`, whole hours (from rounded down, to rounded up).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageRange {
    pub from_ms: i64,
    pub to_ms: i64,
}

/// The longest range one usage query may cover (a year of hours).
pub const MAX_RANGE_MS: i64 = 366 * 24 * HOUR_MS;

/// Parse a usage query's bounds: RFC 3339 (`2026-11-29T06:00:00Z`) or epoch milliseconds.
/// Without `from`: the start of the current day (UTC); without `to`: the end of the current
/// hour. Both are rounded to whole hours.
pub fn usage_range(from: Option<&str>, to: Option<&str>, now_ms: i64) -> DomainResult<UsageRange> {
    let from_ms = match from.filter(|s| !s.is_empty()) {
        Some(s) => parse_time("from", s)?,
        None => now_ms.div_euclid(24 * HOUR_MS) * 24 * HOUR_MS,
    };
    let to_ms = match to.filter(|s| !s.is_empty()) {
        Some(s) => parse_time("to", s)?,
        None => now_ms,
    };
    let from_ms = hour_of(from_ms);
    let to_ms = hour_of(to_ms.saturating_add(HOUR_MS - 1));
    if to_ms < from_ms || to_ms - from_ms > MAX_RANGE_MS {
        return Err(DomainError::InvalidTime {
            field: "to",
            value: quoted(to.unwrap_or_default()),
        });
    }
    Ok(UsageRange { from_ms, to_ms })
}

/// One time bound of a query (`field`): RFC 3339 or epoch milliseconds, years 1970–9999.
pub fn parse_time(field: Field, s: &str) -> DomainResult<i64> {
    let bad = || DomainError::InvalidTime {
        field,
        value: quoted(s),
    };
    if let Ok(ms) = s.parse::<i64>() {
        // Years 1970–9999 only: arithmetic on it cannot overflow.
        return if (0..=253_402_300_799_999).contains(&ms) {
            Ok(ms)
        } else {
            Err(bad())
        };
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| bad())?;
    let ms = t.unix_timestamp_nanos() / 1_000_000;
    i64::try_from(ms).ok().filter(|ms| *ms >= 0).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(rx: u64, tx: u64) -> Counters {
        Counters {
            rx: Traffic {
                packets: rx / 100,
                bytes: rx,
            },
            tx: Traffic {
                packets: tx / 100,
                bytes: tx,
            },
        }
    }

    #[test]
    fn the_delta_rule() {
        let d = |last: Option<(Counters, i64)>, v: Counters, at: i64| {
            counter_delta(last.as_ref().map(|(c, t)| (c, *t)), &v, at)
        };
        // First reading: all of it.
        assert_eq!(d(None, c(500, 700), 1), Some(c(500, 700)));
        // Growth: the difference; a repeated reading: nothing.
        assert_eq!(d(Some((c(500, 700), 1)), c(800, 700), 2), Some(c(300, 0)));
        assert_eq!(d(Some((c(800, 700), 2)), c(800, 700), 2), Some(c(0, 0)));
        assert_eq!(d(Some((c(800, 700), 2)), c(800, 700), 9), Some(c(0, 0)));
        // Down in any number, read later: a new counter, counted from zero.
        assert_eq!(d(Some((c(800, 700), 2)), c(100, 900), 3), Some(c(100, 900)));
        assert_eq!(d(Some((c(800, 700), 2)), c(900, 600), 3), Some(c(900, 600)));
        // Read earlier than the last (late, out of order): ignored, whatever its value.
        assert_eq!(d(Some((c(800, 700), 5)), c(100, 100), 4), None);
        assert_eq!(d(Some((c(800, 700), 5)), c(900, 900), 4), None);
        // Lower at the same millisecond: an out-of-order copy, ignored.
        assert_eq!(d(Some((c(800, 700), 5)), c(700, 700), 5), None);
    }

    #[test]
    fn hours_are_split_at_their_boundaries() {
        let h = 5 * HOUR_MS;
        assert_eq!(split_hours(h + 10, h + 20), vec![(h, 10)]);
        assert_eq!(
            split_hours(h - 1_000, h + HOUR_MS + 500),
            vec![(h - HOUR_MS, 1_000), (h, HOUR_MS), (h + HOUR_MS, 500)]
        );
        assert!(split_hours(h, h).is_empty());
        assert!(split_hours(h, h - 1).is_empty());
        // The pieces add up to the interval.
        let total: i64 = split_hours(123, 10 * HOUR_MS + 456)
            .iter()
            .map(|p| p.1)
            .sum();
        assert_eq!(total, 10 * HOUR_MS + 456 - 123);
    }

    #[test]
    fn ranges_are_whole_hours() {
        let now = 1_764_396_000_000 + 1_234; // 2025-11-29T06:00:01.234Z
        let r = usage_range(
            Some("2025-11-29T05:30:00Z"),
            Some("2025-11-29T06:00:00Z"),
            now,
        )
        .expect("range");
        assert_eq!(r.from_ms, 1_764_392_400_000);
        assert_eq!(r.to_ms, 1_764_396_000_000);
        let r = usage_range(None, None, now).expect("defaults");
        assert_eq!(r.from_ms, 1_764_374_400_000); // midnight
        assert_eq!(r.to_ms, 1_764_399_600_000); // end of the current hour
        assert_eq!(
            usage_range(Some("1764392400000"), None, now).map(|r| r.from_ms),
            Ok(1_764_392_400_000)
        );
        for (from, to) in [
            (Some("yesterday"), None),
            (Some("-5"), None),
            (Some("2025-11-29T06:00:00Z"), Some("2025-11-29T05:00:00Z")),
            (Some("2020-01-01T00:00:00Z"), Some("2025-01-01T00:00:00Z")),
        ] {
            assert!(
                matches!(
                    usage_range(from, to, now),
                    Err(DomainError::InvalidTime { .. })
                ),
                "{from:?} {to:?}"
            );
        }
    }
}
