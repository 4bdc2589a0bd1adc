//! `vpcep doctor service|endpoint ID`.

use clap::{Args, Subcommand};

use super::conn::Conn;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    target: Target,
    /// Skip the live probe (it needs root on the host running the agent).
    #[arg(long, global = true)]
    no_probe: bool,
    /// Namespace prefix of the agent that realised the lab.
    #[arg(long, global = true, env = "VPCEP_NS_PREFIX", default_value = "vpcep-")]
    ns_prefix: String,
}

#[derive(Subcommand, Debug)]
enum Target {
    /// An endpoint service you own.
    Service { id: String },
    /// An endpoint you own (and its service, when it is yours too).
    Endpoint { id: String },
}

pub async fn run(a: DoctorArgs) -> anyhow::Result<()> {
    let c = a.conn.client()?;
    let names = vpcep_dataplane::naming::Namespaces {
        prefix: a.ns_prefix.clone(),
    };
    let probe = if a.no_probe { None } else { Some(&names) };
    let findings = match &a.target {
        Target::Service { id } => vpcep_dataplane::doctor::service(&c, id, probe).await?,
        Target::Endpoint { id } => vpcep_dataplane::doctor::endpoint(&c, id, probe).await?,
    };
    for f in &findings {
        println!("{f}");
    }
    if findings.iter().any(|f| f.level == "error") {
        std::process::exit(1);
    }
    Ok(())
}
