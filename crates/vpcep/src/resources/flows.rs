//! `vpcep service flows ID` and `vpcep endpoint flows ID`: flow records (docs/flows.md), one
//! page or followed as they are written (`--follow` polls with the last record's `seq` as the
//! marker).

use std::time::Duration;

use clap::Args;
use vpcep_client::Client;
use vpcep_client::params::FlowFilter;
use vpcep_core::flows::{FlowEvent, FlowRecord};
use vpcep_huawei::vpcep::FlowListOut;

use super::conn::ApiResultExt;
use super::output::{Output, Table};

#[derive(Args, Debug, Clone)]
pub struct FlowArgs {
    /// Only the connection a backend saw from this address (198.19.128.x:PORT, or the address).
    #[arg(long, value_name = "ADDR:PORT")]
    pub translated: Option<String>,
    /// From this time (Unix milliseconds or YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long)]
    pub from: Option<String>,
    /// Before this time (same forms).
    #[arg(long)]
    pub to: Option<String>,
    /// Records per page (1–1000).
    #[arg(long, default_value_t = 100)]
    pub limit: u32,
    /// Start after this record (a `seq`, or the `next_marker` of a page).
    #[arg(long)]
    pub marker: Option<u64>,
    /// Keep printing new records as they are written (Ctrl-C stops).
    #[arg(long)]
    pub follow: bool,
}

/// Whose records.
pub enum Flows<'a> {
    Service(&'a str),
    Endpoint(&'a str),
}

/// How often `--follow` asks for new records.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

async fn page(c: &Client, of: &Flows<'_>, f: &FlowFilter) -> anyhow::Result<FlowListOut> {
    match of {
        Flows::Service(id) => c.service_flows(id, f).await.api(),
        Flows::Endpoint(id) => c.endpoint_flows(id, f).await.api(),
    }
}

fn addr(a: Option<std::net::SocketAddrV4>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

/// One table row per record.
pub fn table(records: &[FlowRecord], header: bool) -> String {
    let mut t = Table::new(&[
        "TIME",
        "EVENT",
        "ENDPOINT",
        "PROJECT",
        "PROTO",
        "SOURCE",
        "TRANSLATED",
        "BACKEND",
        "BYTES UP/DOWN",
        "END",
    ]);
    for r in records {
        let event = match r.event {
            FlowEvent::Start => "start",
            FlowEvent::End => "end",
            FlowEvent::Overrun => "OVERRUN",
        };
        let bytes = match (r.to_backend, r.to_consumer) {
            (Some(u), Some(d)) => format!("{}/{}", u.bytes, d.bytes),
            _ => String::new(),
        };
        let end = match (r.event, r.end_reason) {
            (FlowEvent::Overrun, _) => {
                format!("{} overrun(s) on {}: records lost", r.overruns, r.gateway)
            }
            (_, Some(e)) => format!("{e:?}").to_lowercase(),
            _ => String::new(),
        };
        t.row(vec![
            r.time.clone(),
            event.into(),
            r.endpoint_id.clone(),
            r.project_id.clone(),
            r.protocol.clone(),
            addr(r.source),
            addr(r.translated),
            addr(r.backend),
            bytes,
            end,
        ]);
    }
    let text = t.render();
    if header {
        text
    } else {
        text.split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default()
    }
}

pub async fn run(c: &Client, out: Output, of: Flows<'_>, a: FlowArgs) -> anyhow::Result<()> {
    let mut f = FlowFilter {
        from: a.from,
        to: a.to,
        limit: Some(a.limit),
        marker: a.marker,
        translated: a.translated,
    };
    let mut first = true;
    loop {
        let p = page(c, &of, &f).await?;
        match out {
            // One record per line, so a follower's output is itself JSON lines.
            Output::Json if a.follow => {
                for r in &p.flows {
                    println!("{}", serde_json::to_string(r)?);
                }
            }
            Output::Json => println!("{}", serde_json::to_string_pretty(&p)?),
            Output::Csv => anyhow::bail!("-o csv is for `vpcep usage`; use table or json"),
            Output::Table => {
                if !p.flows.is_empty() || first {
                    print!("{}", table(&p.flows, first));
                    first = false;
                }
            }
        }
        if let Some(last) = p.flows.last() {
            f.marker = Some(last.seq);
        }
        if !a.follow {
            if let (Some(m), Output::Table) = (p.next_marker, out) {
                eprintln!("more: --marker {m}");
            }
            return Ok(());
        }
        if p.next_marker.is_none() {
            tokio::time::sleep(FOLLOW_EVERY).await;
        }
    }
}
