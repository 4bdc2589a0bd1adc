//! `vpcep usage [--from T] [--to T] [-o table|json|csv]`: the project's metered usage per
//! endpoint and hour (docs/metering.md). `-o csv` prints the server's CSV export format.

use clap::Args;

use super::conn::{ApiResultExt, Conn};
use super::output::{Output, Table};

#[derive(Args, Debug)]
pub struct UsageArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Start: RFC 3339 (2026-11-29T00:00:00Z) or epoch milliseconds, rounded down to the hour
    /// [default: today 00:00 UTC].
    #[arg(long)]
    from: Option<String>,
    /// End, exclusive, rounded up to the hour [default: now].
    #[arg(long)]
    to: Option<String>,
}

pub async fn run(args: UsageArgs) -> anyhow::Result<()> {
    let client = args.conn.client()?;
    let u = client
        .usage(args.from.as_deref(), args.to.as_deref())
        .await
        .api()?;
    match args.conn.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&u)?),
        Output::Csv => print!("{}", vpcep_huawei::usage::csv(&u.usage)),
        Output::Table => {
            let mut t = Table::new(&[
                "HOUR",
                "ENDPOINT",
                "SERVICE",
                "ACCEPTED_S",
                "RX_BYTES",
                "RX_PKTS",
                "TX_BYTES",
                "TX_PKTS",
            ]);
            for r in &u.usage {
                t.row(vec![
                    r.hour.clone(),
                    r.endpoint_id.clone(),
                    r.endpoint_service_id.clone(),
                    r.accepted_seconds.to_string(),
                    r.rx_bytes.to_string(),
                    r.rx_packets.to_string(),
                    r.tx_bytes.to_string(),
                    r.tx_packets.to_string(),
                ]);
            }
            print!("{}", t.render());
            eprintln!("{} to {} (UTC, whole hours)", u.from, u.to);
        }
    }
    Ok(())
}
