//! Metering's wire (vpcep's extension, docs/metering.md): `GET /v1/{project_id}/usage?from=&to=`
//! answers [`UsageOut`] as JSON, or the same rows as CSV with `format=csv` or
//! `Accept: text/csv` ([`csv`]). Used by the API server and the typed client (the CLI's
//! `vpcep usage`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpcep_core::metering::{HourUsage, UsageRange};
use vpcep_core::timefmt::to_wire;

/// One endpoint's usage in one hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageRowOut {
    /// Start of the hour (UTC), `YYYY-MM-DDTHH:00:00Z`.
    pub hour: String,
    pub endpoint_id: String,
    pub endpoint_service_id: String,
    /// The endpoint's (consumer's) project.
    pub project_id: String,
    /// Seconds the endpoint was `accepted` in this hour (whole seconds, rounded down).
    pub accepted_seconds: i64,
    /// Bytes the endpoint received (consumer → endpoint; IP bytes, headers included).
    pub rx_bytes: u64,
    pub rx_packets: u64,
    /// Bytes the endpoint sent (endpoint → consumer).
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UsageOut {
    /// The range answered, in whole hours: `[from, to)`.
    pub from: String,
    pub to: String,
    /// By hour, then endpoint; hours without usage are absent.
    pub usage: Vec<UsageRowOut>,
}

impl UsageRowOut {
    pub fn from_usage(u: &HourUsage) -> Self {
        Self {
            hour: to_wire(u.hour_ms),
            endpoint_id: u.endpoint_id.clone(),
            endpoint_service_id: u.service_id.clone(),
            project_id: u.project_id.clone(),
            accepted_seconds: u.accepted_ms.div_euclid(1000),
            rx_bytes: u.traffic.rx.bytes,
            rx_packets: u.traffic.rx.packets,
            tx_bytes: u.traffic.tx.bytes,
            tx_packets: u.traffic.tx.packets,
        }
    }
}

impl UsageOut {
    pub fn new(range: UsageRange, rows: &[HourUsage]) -> Self {
        Self {
            from: to_wire(range.from_ms),
            to: to_wire(range.to_ms),
            usage: rows.iter().map(UsageRowOut::from_usage).collect(),
        }
    }
}

/// The CSV header: the JSON row's field names, in order.
pub const CSV_HEADER: &str = "hour,endpoint_id,endpoint_service_id,project_id,accepted_seconds,rx_bytes,rx_packets,tx_bytes,tx_packets";

/// The rows as CSV (RFC 4180, `\r\n` line ends, a header line). Ids and times hold no comma,
/// quote or line break, but a field that did would be quoted.
pub fn csv(rows: &[UsageRowOut]) -> String {
    let field = |s: &str| {
        if s.contains([',', '"', '\r', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_string()
        }
    };
    let mut out = String::with_capacity(64 + rows.len() * 160);
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{}\r\n",
            field(&r.hour),
            field(&r.endpoint_id),
            field(&r.endpoint_service_id),
            field(&r.project_id),
            r.accepted_seconds,
            r.rx_bytes,
            r.rx_packets,
            r.tx_bytes,
            r.tx_packets
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use vpcep_core::metering::{Counters, Traffic};

    use super::*;

    #[test]
    fn rows_as_json_and_csv() {
        let u = HourUsage {
            endpoint_id: "e1".into(),
            hour_ms: 1_764_392_400_000,
            project_id: "p1".into(),
            service_id: "s,1".into(),
            accepted_ms: 3_599_999,
            traffic: Counters {
                rx: Traffic {
                    packets: 3,
                    bytes: 300,
                },
                tx: Traffic {
                    packets: 4,
                    bytes: 400,
                },
            },
        };
        let row = UsageRowOut::from_usage(&u);
        assert_eq!(row.hour, "2025-11-29T05:00:00Z");
        assert_eq!(row.accepted_seconds, 3599);
        assert_eq!(
            csv(&[row]),
            format!("{CSV_HEADER}\r\n2025-11-29T05:00:00Z,e1,\"s,1\",p1,3599,300,3,400,4\r\n")
        );
    }
}
