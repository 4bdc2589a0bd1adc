//! `vpcep audit`: the account's audit log (every mutating request of every project of the
//! account, newest first; `docs/audit.md`).

use clap::Args;
use vpcep_client::audit::AuditFilter;

use super::conn::{ApiResultExt, Conn};
use super::output::{Table, emit};

#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Entries recorded at or after this time: RFC 3339 (`2026-11-29T06:00:00Z`) or milliseconds
    /// since the epoch.
    #[arg(long, value_parser = time_ms)]
    from: Option<i64>,
    /// Entries recorded before this time (same forms as --from).
    #[arg(long, value_parser = time_ms)]
    to: Option<i64>,
    /// Page size (0-1000, default 100).
    #[arg(long)]
    limit: Option<u32>,
    /// Continue after this entry (the `next_marker` of the previous page).
    #[arg(long)]
    marker: Option<String>,
}

/// RFC 3339 or milliseconds since the epoch.
fn time_ms(s: &str) -> Result<i64, String> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    let t = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("'{s}' is neither RFC 3339 nor milliseconds: {e}"))?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| format!("'{s}' is out of range"))
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    let out = args.conn.output;
    let client = args.conn.client()?;
    let page = client
        .audit_log(&AuditFilter {
            from_ms: args.from,
            to_ms: args.to,
            limit: args.limit,
            marker: args.marker,
        })
        .await
        .api()?;
    emit(out, &page, || {
        let mut t = Table::new(&[
            "TIME",
            "FRONT",
            "OPERATION",
            "RESOURCES",
            "STATUS",
            "ERROR",
            "ACCESS KEY",
            "SOURCE",
            "REQUEST",
        ]);
        for e in &page.audit_logs {
            t.row(vec![
                e.time.clone(),
                e.front.clone(),
                e.operation.clone(),
                e.resource_ids.join(","),
                e.status.to_string(),
                e.error_code.clone(),
                e.access_key_id.clone(),
                e.source.clone(),
                e.request_id.clone(),
            ]);
        }
        let mut s = t.render();
        if let Some(m) = &page.next_marker {
            s.push_str(&format!("\nmore: --marker {m}\n"));
        }
        s
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn times_are_rfc3339_or_milliseconds() {
        assert_eq!(super::time_ms("1500"), Ok(1500));
        assert_eq!(super::time_ms("1970-01-01T00:00:02Z"), Ok(2000));
        assert!(super::time_ms("yesterday").is_err());
    }
}
