//! The last hour of each endpoint's traffic, per minute, for the console's charts: taken from the
//! same cumulative kernel counters the agents report for metering (`POST /agent/v1/usage`), kept
//! in memory only. A chart is a picture of now, not a bill: after a control-plane restart the
//! charts start empty (the bill, `usage.rs`, is in the store), and the first reading of a counter
//! only sets its baseline.
//!
//! Memory: a counter's last reading per endpoint and gateway, plus one entry per minute that
//! carried traffic; idle endpoints hold no minutes. Minutes older than the window are dropped as
//! new ones arrive and when read.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;

/// How far back the charts look.
pub const WINDOW_MINUTES: usize = 60;
const MINUTE_MS: i64 = 60_000;

/// One minute of one endpoint's (or one service's) traffic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Minute {
    /// New connections (the kernel's per-endpoint `new` counter).
    pub connections: u64,
    /// Bytes from consumers to the service.
    pub rx_bytes: u64,
    /// Bytes from the service back to consumers.
    pub tx_bytes: u64,
}

impl Minute {
    /// Saturating: readings come over the network, and a counter near `u64::MAX` must not
    /// overflow a sum.
    fn add(&mut self, o: &Minute) {
        self.connections = self.connections.saturating_add(o.connections);
        self.rx_bytes = self.rx_bytes.saturating_add(o.rx_bytes);
        self.tx_bytes = self.tx_bytes.saturating_add(o.tx_bytes);
    }
    fn is_zero(&self) -> bool {
        *self == Minute::default()
    }
}

/// The last [`WINDOW_MINUTES`] minutes, oldest first; the last one is the minute holding
/// `now_ms` (still filling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hour {
    pub end_ms: i64,
    pub minutes: Vec<Minute>,
}

/// A cumulative reading of one endpoint's counters in one gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading<'a> {
    pub endpoint_id: &'a str,
    pub service_id: &'a str,
    /// Which kernel counter (boot and gateway namespace): a reading is compared only with the
    /// last one of the same counter.
    pub counter: &'a str,
    pub total: Minute,
}

#[derive(Default)]
struct Inner {
    last: HashMap<(String, String), Minute>,
    /// endpoint → (minute index, traffic), minutes ascending.
    minutes: HashMap<String, VecDeque<(i64, Minute)>>,
    service_of: HashMap<String, String>,
}

/// Recent traffic of every endpoint (shared by the agent-report handler and the console).
#[derive(Default)]
pub struct RecentTraffic {
    inner: Mutex<Inner>,
}

fn minute_of(ms: i64) -> i64 {
    ms.div_euclid(MINUTE_MS)
}

impl RecentTraffic {
    /// Add what each reading grew by since the same counter's last reading to the minute of
    /// `at_ms`. A counter that went down was made anew: its whole value is new traffic.
    pub fn observe(&self, readings: &[Reading<'_>], at_ms: i64) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        let minute = minute_of(at_ms);
        for r in readings {
            let key = (r.endpoint_id.to_string(), r.counter.to_string());
            let delta = match inner.last.insert(key, r.total) {
                None => continue,
                Some(prev) => grown(&prev, &r.total),
            };
            inner
                .service_of
                .insert(r.endpoint_id.to_string(), r.service_id.to_string());
            if delta.is_zero() {
                continue;
            }
            let q = inner.minutes.entry(r.endpoint_id.to_string()).or_default();
            match q.back_mut() {
                Some((m, t)) if *m == minute => t.add(&delta),
                _ => q.push_back((minute, delta)),
            }
            while q
                .front()
                .is_some_and(|(m, _)| *m <= minute - WINDOW_MINUTES as i64)
            {
                q.pop_front();
            }
        }
    }

    /// Forget an endpoint that is gone.
    pub fn forget(&self, endpoint_id: &str) {
        if let Ok(mut inner) = self.inner.lock() {
            inner.minutes.remove(endpoint_id);
            inner.service_of.remove(endpoint_id);
            inner.last.retain(|(e, _), _| e != endpoint_id);
        }
    }

    /// One endpoint's last hour.
    pub fn endpoint(&self, endpoint_id: &str, now_ms: i64) -> Hour {
        let mut sum = BTreeMap::new();
        if let Ok(inner) = self.inner.lock()
            && let Some(q) = inner.minutes.get(endpoint_id)
        {
            for (m, t) in q {
                sum.entry(*m).or_insert_with(Minute::default).add(t);
            }
        }
        hour(&sum, now_ms)
    }

    /// The last hour of all of a service's endpoints together.
    pub fn service(&self, service_id: &str, now_ms: i64) -> Hour {
        let mut sum = BTreeMap::new();
        if let Ok(inner) = self.inner.lock() {
            for (ep, q) in &inner.minutes {
                if inner.service_of.get(ep).map(String::as_str) != Some(service_id) {
                    continue;
                }
                for (m, t) in q {
                    sum.entry(*m).or_insert_with(Minute::default).add(t);
                }
            }
        }
        hour(&sum, now_ms)
    }
}

fn grown(prev: &Minute, now: &Minute) -> Minute {
    // Each counter on its own: a reset of one (a re-made set element) does not hide the others.
    let d = |a: u64, b: u64| if b >= a { b - a } else { b };
    Minute {
        connections: d(prev.connections, now.connections),
        rx_bytes: d(prev.rx_bytes, now.rx_bytes),
        tx_bytes: d(prev.tx_bytes, now.tx_bytes),
    }
}

fn hour(sum: &BTreeMap<i64, Minute>, now_ms: i64) -> Hour {
    let last = minute_of(now_ms);
    let first = last - WINDOW_MINUTES as i64 + 1;
    let minutes = (first..=last)
        .map(|m| sum.get(&m).copied().unwrap_or_default())
        .collect();
    Hour {
        end_ms: (last + 1) * MINUTE_MS,
        minutes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r<'a>(ep: &'a str, svc: &'a str, counter: &'a str, c: u64, rx: u64, tx: u64) -> Reading<'a> {
        Reading {
            endpoint_id: ep,
            service_id: svc,
            counter,
            total: Minute {
                connections: c,
                rx_bytes: rx,
                tx_bytes: tx,
            },
        }
    }

    const T0: i64 = 1_800_000_000_000; // a minute boundary

    #[test]
    fn the_first_reading_is_a_baseline_then_growth_lands_in_its_minute() {
        let t = RecentTraffic::default();
        t.observe(&[r("e1", "s1", "boot/g0", 10, 1000, 500)], T0);
        assert!(t.endpoint("e1", T0).minutes.iter().all(Minute::is_zero));
        t.observe(&[r("e1", "s1", "boot/g0", 12, 1500, 700)], T0 + 30_000);
        t.observe(&[r("e1", "s1", "boot/g0", 13, 1600, 800)], T0 + 61_000);
        let h = t.endpoint("e1", T0 + 61_000);
        assert_eq!(h.minutes.len(), WINDOW_MINUTES);
        assert_eq!(h.end_ms, T0 + 120_000);
        assert_eq!(
            h.minutes[WINDOW_MINUTES - 2],
            Minute {
                connections: 2,
                rx_bytes: 500,
                tx_bytes: 200
            }
        );
        assert_eq!(h.minutes[WINDOW_MINUTES - 1].connections, 1);
        // An hour later the minutes have scrolled out.
        let later = t.endpoint("e1", T0 + 3_700_000);
        assert!(later.minutes.iter().all(Minute::is_zero));
    }

    #[test]
    fn a_counter_that_went_down_is_new_and_counters_do_not_mix() {
        let t = RecentTraffic::default();
        t.observe(&[r("e1", "s1", "boot/g0", 100, 100, 100)], T0);
        // Same endpoint in a second gateway: its own baseline.
        t.observe(&[r("e1", "s1", "boot/g1", 7, 7, 7)], T0);
        t.observe(&[r("e1", "s1", "boot/g0", 3, 30, 40)], T0 + 1_000);
        let h = t.endpoint("e1", T0 + 1_000);
        assert_eq!(
            h.minutes[WINDOW_MINUTES - 1],
            Minute {
                connections: 3,
                rx_bytes: 30,
                tx_bytes: 40
            }
        );
    }

    #[test]
    fn huge_readings_saturate_instead_of_overflowing() {
        let t = RecentTraffic::default();
        t.observe(&[r("e1", "s1", "a", 0, 0, 0)], T0);
        t.observe(&[r("e2", "s1", "a", 0, 0, 0)], T0);
        t.observe(&[r("e1", "s1", "a", u64::MAX, u64::MAX, 1)], T0 + 1);
        t.observe(&[r("e2", "s1", "a", u64::MAX, 1, u64::MAX)], T0 + 1);
        let m = t.service("s1", T0 + 1).minutes[WINDOW_MINUTES - 1];
        assert_eq!(
            (m.connections, m.rx_bytes, m.tx_bytes),
            (u64::MAX, u64::MAX, u64::MAX)
        );
    }

    #[test]
    fn a_service_sums_its_endpoints_only() {
        let t = RecentTraffic::default();
        for (ep, svc) in [("e1", "s1"), ("e2", "s1"), ("e3", "s2")] {
            t.observe(&[r(ep, svc, "c", 0, 0, 0)], T0);
            t.observe(&[r(ep, svc, "c", 1, 10, 20)], T0 + 5_000);
        }
        let m = t.service("s1", T0 + 5_000).minutes[WINDOW_MINUTES - 1];
        assert_eq!((m.connections, m.rx_bytes, m.tx_bytes), (2, 20, 40));
        t.forget("e2");
        let m = t.service("s1", T0 + 5_000).minutes[WINDOW_MINUTES - 1];
        assert_eq!(m.connections, 1);
    }
}
