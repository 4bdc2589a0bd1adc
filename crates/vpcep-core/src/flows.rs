//! Flow records: one when a connection through an endpoint starts and one when it ends, joining
//! both sides of the gateway's NAT (the consumer's source, the 198.19.128.0/20 address and port
//! the backend saw, the backend). The data plane writes them as JSON lines (one [`FlowRecord`]
//! per line); the control plane reads them back for the service's and the endpoint's owners
//! ([`FlowQuery`]). See docs/flows.md.

use std::net::SocketAddrV4;

use serde::{Deserialize, Serialize};

use crate::error::{DomainError, DomainResult};

/// The file records are written to; rotated files are `flows.jsonl.1` (newest) and on.
pub const FILE: &str = "flows.jsonl";

/// The `i`-th file, newest first: [`FILE`] itself, then `flows.jsonl.1`, ….
pub fn rotated(i: usize) -> String {
    if i == 0 {
        FILE.to_string()
    } else {
        format!("{FILE}.{i}")
    }
}

/// What a record says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowEvent {
    Start,
    End,
    /// The kernel dropped events this gateway's listener could not take in time (its receive
    /// buffer was full `overruns` times, each losing one or more events): the stream has a gap
    /// here, said out loud.
    Overrun,
}

/// How a connection ended, as far as the gateway can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndReason {
    /// TCP closed by both sides (FIN, then the gateway's TIME_WAIT ran out).
    Closed,
    /// TCP reset by one side.
    Reset,
    /// Idle until the gateway forgot it (TCP not closed, UDP, other protocols).
    Timeout,
    /// Cut by the agent: the endpoint was rejected or deleted.
    Cut,
}

/// Packets and bytes one way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub packets: u64,
    pub bytes: u64,
}

/// One line of a flow file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowRecord {
    /// Position in this agent's stream, strictly increasing (across rotations and restarts):
    /// the paging marker.
    pub seq: u64,
    pub event: FlowEvent,
    /// When: the connection's start or end as the gateway's conntrack stamped it, else when the
    /// agent read the event (Unix nanoseconds).
    pub time_ns: u64,
    /// The same instant, `YYYY-MM-DDTHH:MM:SS.mmmZ`, for people.
    pub time: String,
    /// The gateway shard's namespace.
    pub gateway: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub endpoint_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_id: String,
    /// The consumer's project (the endpoint's owner) and account.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub project_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub domain_id: String,
    /// The provider's project (the service's owner).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_project_id: String,
    /// `tcp`, `udp` or the IP protocol number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub protocol: String,
    /// The consumer host's address and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SocketAddrV4>,
    /// The endpoint address and port the consumer connected to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<SocketAddrV4>,
    /// The 198.19.128.0/20 address and port the backend saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translated: Option<SocketAddrV4>,
    /// The backend address and port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<SocketAddrV4>,
    /// The gateway's conntrack id of the connection (joins a start to its end).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub conntrack_id: u32,
    /// Consumer → backend (end records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_backend: Option<Volume>,
    /// Backend → consumer (end records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_consumer: Option<Volume>,
    /// When the connection started (end records; Unix nanoseconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ns: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_reason: Option<EndReason>,
    /// The TCP state conntrack held when it forgot the connection (end records of TCP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp_state: Option<String>,
    /// Receive buffer overruns since the previous record (overrun records).
    #[serde(default, skip_serializing_if = "is_zero64")]
    pub overruns: u64,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

fn is_zero64(v: &u64) -> bool {
    *v == 0
}

/// Whose flows a query asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowScope {
    /// Every endpoint of a service (its owner asks).
    Service(String),
    /// One endpoint (its owner asks).
    Endpoint(String),
}

/// A page of flow records: scope, time range, position and an optional translated address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowQuery {
    pub scope: FlowScope,
    /// Unix milliseconds, inclusive.
    pub from_ms: Option<u64>,
    /// Unix milliseconds, exclusive.
    pub to_ms: Option<u64>,
    /// Only records after this `seq`.
    pub marker: Option<u64>,
    pub limit: usize,
    /// Only the connection the backend saw from this address (and port).
    pub translated: Option<SocketAddrV4>,
}

/// The most records a page holds, and how many one holds when not told.
pub const MAX_LIMIT: usize = 1000;
pub const DEFAULT_LIMIT: usize = 100;

impl FlowQuery {
    pub fn new(scope: FlowScope) -> Self {
        Self {
            scope,
            from_ms: None,
            to_ms: None,
            marker: None,
            limit: DEFAULT_LIMIT,
            translated: None,
        }
    }

    /// Whether `r` belongs in this query's answer (the limit aside). Overrun records belong to
    /// every query in range: a gap in the stream may hide any endpoint's flows.
    pub fn matches(&self, r: &FlowRecord) -> bool {
        let scoped = match (&self.scope, r.event) {
            (_, FlowEvent::Overrun) => self.translated.is_none(),
            (FlowScope::Service(id), _) => r.service_id == *id,
            (FlowScope::Endpoint(id), _) => r.endpoint_id == *id,
        };
        let ms = r.time_ns / 1_000_000;
        scoped
            && self.marker.is_none_or(|m| r.seq > m)
            && self.from_ms.is_none_or(|f| ms >= f)
            && self.to_ms.is_none_or(|t| ms < t)
            && self.translated.is_none_or(|t| {
                r.translated.is_some_and(|have| {
                    have.ip() == t.ip() && (t.port() == 0 || have.port() == t.port())
                })
            })
    }
}

/// A flows query's parameters as a front received them (all optional, raw).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: Option<String>,
    pub marker: Option<String>,
    pub translated: Option<String>,
}

impl FlowParams {
    /// The query they ask for: `from`/`to` as Unix milliseconds or RFC 3339
    /// (`2026-11-29T06:00:00Z`), `limit` 1–[`MAX_LIMIT`], `marker` a `seq` of an earlier page,
    /// `translated` an address with or without its port (`198.19.128.7:40123`, `198.19.128.7`).
    pub fn query(&self, scope: FlowScope) -> DomainResult<FlowQuery> {
        fn blank(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        let time = |field: &'static str, v: &Option<String>| -> DomainResult<Option<u64>> {
            let Some(v) = blank(v) else { return Ok(None) };
            let bad = || DomainError::InvalidQueryValue {
                field,
                value: crate::error::quoted(v),
            };
            if let Ok(ms) = v.parse::<u64>() {
                return Ok(Some(ms));
            }
            let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad())?;
            u64::try_from(t.unix_timestamp_nanos() / 1_000_000)
                .map(Some)
                .map_err(|_| bad())
        };
        let mut q = FlowQuery::new(scope);
        q.from_ms = time("from", &self.from)?;
        q.to_ms = time("to", &self.to)?;
        if let Some(v) = blank(&self.limit) {
            q.limit = v
                .parse::<usize>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| DomainError::InvalidLimit {
                    value: crate::error::quoted(v),
                    max: MAX_LIMIT as i64,
                })?;
        }
        if let Some(v) = blank(&self.marker) {
            q.marker = Some(v.parse().map_err(|_| DomainError::InvalidQueryValue {
                field: "marker",
                value: crate::error::quoted(v),
            })?);
        }
        if let Some(v) = blank(&self.translated) {
            let addr = v
                .parse::<SocketAddrV4>()
                .ok()
                .or_else(|| v.parse().ok().map(|ip| SocketAddrV4::new(ip, 0)));
            q.translated = Some(addr.ok_or_else(|| DomainError::InvalidAddress {
                field: "translated",
                value: crate::error::quoted(v),
            })?);
        }
        Ok(q)
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of Unix nanoseconds.
pub fn time_text(ns: u64) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns))
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(seq: u64, event: FlowEvent) -> FlowRecord {
        FlowRecord {
            seq,
            event,
            time_ns: 1_704_110_400_123_000_000,
            time: time_text(1_704_110_400_123_000_000),
            gateway: "vpcep-g-0".into(),
            endpoint_id: "ep1".into(),
            service_id: "svc1".into(),
            project_id: "p1".into(),
            domain_id: "d1".into(),
            service_project_id: "p2".into(),
            protocol: "tcp".into(),
            source: "10.0.0.5:40000".parse().ok(),
            endpoint: "10.0.0.9:80".parse().ok(),
            translated: "198.19.128.7:40123".parse().ok(),
            backend: "192.168.0.4:8080".parse().ok(),
            conntrack_id: 7,
            to_backend: None,
            to_consumer: None,
            started_ns: None,
            end_reason: None,
            tcp_state: None,
            overruns: 0,
        }
    }

    #[test]
    fn parameters_become_a_query_or_a_domain_error() {
        let scope = || FlowScope::Endpoint("ep1".into());
        let p = FlowParams {
            from: Some("1704110400000".into()),
            to: Some("2024-01-01T12:00:01Z".into()),
            limit: Some("5".into()),
            marker: Some("42".into()),
            translated: Some("198.19.128.7".into()),
        };
        let q = p.query(scope()).expect("query");
        assert_eq!(q.from_ms, Some(1_704_110_400_000));
        assert_eq!(q.to_ms, Some(1_704_110_401_000));
        assert_eq!((q.limit, q.marker), (5, Some(42)));
        assert_eq!(q.translated, "198.19.128.7:0".parse().ok());
        let empty = FlowParams::default().query(scope()).expect("defaults");
        assert_eq!(
            (empty.limit, empty.marker, empty.from_ms),
            (DEFAULT_LIMIT, None, None)
        );
        let bad = |f: &dyn Fn(&mut FlowParams)| {
            let mut p = FlowParams::default();
            f(&mut p);
            p.query(scope()).expect_err("refused")
        };
        assert!(matches!(
            bad(&|p| p.from = Some("yesterday".into())),
            DomainError::InvalidQueryValue { field: "from", .. }
        ));
        assert!(matches!(
            bad(&|p| p.marker = Some("-1".into())),
            DomainError::InvalidQueryValue {
                field: "marker",
                ..
            }
        ));
        assert!(matches!(
            bad(&|p| p.limit = Some("0".into())),
            DomainError::InvalidLimit { .. }
        ));
        assert!(matches!(
            bad(&|p| p.limit = Some("1001".into())),
            DomainError::InvalidLimit { .. }
        ));
        assert!(matches!(
            bad(&|p| p.translated = Some("x:1".into())),
            DomainError::InvalidAddress { .. }
        ));
    }

    #[test]
    fn records_are_one_json_line_and_read_back() {
        let r = record(3, FlowEvent::Start);
        let line = serde_json::to_string(&r).expect("json");
        assert!(!line.contains('\n'));
        assert!(
            line.contains(r#""translated":"198.19.128.7:40123""#),
            "{line}"
        );
        assert!(
            line.contains(r#""time":"2024-01-01T12:00:00.123Z""#),
            "{line}"
        );
        assert!(!line.contains("end_reason"));
        let back: FlowRecord = serde_json::from_str(&line).expect("parse");
        assert_eq!(back, r);
    }

    #[test]
    fn queries_filter_by_scope_time_marker_and_translated_address() {
        let r = record(5, FlowEvent::Start);
        let q = FlowQuery::new(FlowScope::Service("svc1".into()));
        assert!(q.matches(&r));
        assert!(!FlowQuery::new(FlowScope::Service("svc2".into())).matches(&r));
        assert!(FlowQuery::new(FlowScope::Endpoint("ep1".into())).matches(&r));
        assert!(!FlowQuery::new(FlowScope::Endpoint("ep2".into())).matches(&r));
        let with = |f: &dyn Fn(&mut FlowQuery)| {
            let mut q = q.clone();
            f(&mut q);
            q.matches(&r)
        };
        assert!(with(&|q| q.marker = Some(4)));
        assert!(!with(&|q| q.marker = Some(5)));
        assert!(with(&|q| q.from_ms = Some(1_704_110_400_123)));
        assert!(!with(&|q| q.from_ms = Some(1_704_110_400_124)));
        assert!(!with(&|q| q.to_ms = Some(1_704_110_400_123)));
        assert!(with(&|q| q.translated = "198.19.128.7:40123".parse().ok()));
        assert!(with(&|q| q.translated = "198.19.128.7:0".parse().ok()));
        assert!(!with(&|q| q.translated = "198.19.128.7:40124".parse().ok()));
        assert!(!with(&|q| q.translated = "198.19.128.8:40123".parse().ok()));
        // A gap concerns everyone, but is no answer to "who was this address".
        let gap = record(6, FlowEvent::Overrun);
        assert!(FlowQuery::new(FlowScope::Service("other".into())).matches(&gap));
        let mut by_addr = q.clone();
        by_addr.translated = "198.19.128.7:40123".parse().ok();
        assert!(!by_addr.matches(&gap));
    }
}
