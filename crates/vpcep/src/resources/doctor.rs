//! `vpcep doctor service|endpoint ID`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use vpcep_dataplane::doctor::{self, Finding, Object};

use super::conn::{Conn, DEFAULT_ENDPOINT};
use super::output::{Output, Table, emit};

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
    /// Skip comparing the kernel with the agent's plan (it needs root on the agent's host and
    /// the agent token).
    #[arg(long, global = true)]
    no_kernel: bool,
    /// File holding the agent token, to read the desired state as the agent does [default:
    /// `$VPCEP_DATA_DIR/agent.token`].
    #[arg(long, global = true, env = "VPCEP_AGENT_TOKEN_FILE")]
    agent_token_file: Option<PathBuf>,
    /// The control plane's URL for the agent snapshot [default: the API endpoint].
    #[arg(long, global = true, env = "VPCEP_CONTROL_URL")]
    control_url: Option<String>,
    /// Also print what the agent plans in each namespace on the path (the commands and the
    /// `nft` script it applies).
    #[arg(long, global = true)]
    show_plan: bool,
}

#[derive(Subcommand, Debug)]
enum Target {
    /// An endpoint service you own.
    Service { id: String },
    /// An endpoint you own (and its service, when it is yours too).
    Endpoint { id: String },
}

/// The agent token: the flag, else the server's data directory.
fn agent_token(a: &DoctorArgs) -> Option<String> {
    let path = a.agent_token_file.clone().or_else(|| {
        std::env::var_os("VPCEP_DATA_DIR").map(|d| PathBuf::from(d).join("agent.token"))
    })?;
    std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_string())
}

fn note(level: &'static str, message: String) -> Finding {
    Finding {
        level,
        namespace: None,
        message,
        fix: None,
    }
}

pub async fn run(a: DoctorArgs) -> anyhow::Result<()> {
    let c = a.conn.client()?;
    let names = vpcep_dataplane::plan::naming::Namespaces {
        prefix: a.ns_prefix.clone(),
    };
    let probe = if a.no_probe { None } else { Some(&names) };
    let (mut findings, object) = match &a.target {
        Target::Service { id } => (doctor::service(&c, id, probe).await?, Object::Service(id)),
        Target::Endpoint { id } => (doctor::endpoint(&c, id, probe).await?, Object::Endpoint(id)),
    };
    let mut plan = None;
    if !a.no_kernel {
        match agent_token(&a) {
            None => findings.push(note(
                "warn",
                "kernel not compared with the plan: no agent token (--agent-token-file, or \
                 VPCEP_DATA_DIR holding agent.token; --no-kernel to skip)"
                    .into(),
            )),
            Some(token) => {
                let url = a
                    .control_url
                    .clone()
                    .or_else(|| a.conn.endpoint.clone())
                    .unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
                let checked = async {
                    let d = doctor::fetch_desired(&url, &token).await?;
                    doctor::kernel_check(&d, &names, object).await
                }
                .await;
                match checked {
                    Ok(check) => {
                        findings.extend(check.summary());
                        findings.extend(check.findings.iter().cloned());
                        plan = Some(check.plan);
                    }
                    Err(e) => findings.push(note(
                        "warn",
                        format!("kernel not compared with the plan: {e}"),
                    )),
                }
            }
        }
    }
    let planned = if a.show_plan {
        plan.as_ref().map(doctor::planned)
    } else {
        None
    };
    let value = match &planned {
        Some(p) => json!({"findings": findings, "plan": p}),
        None => json!(findings),
    };
    emit(a.conn.output, &value, || {
        let mut t = Table::new(&["LEVEL", "NAMESPACE", "FINDING", "FIX"]);
        for f in &findings {
            t.row(vec![
                f.level.to_string(),
                f.namespace.clone().unwrap_or_default(),
                f.message.clone(),
                f.fix.clone().unwrap_or_default(),
            ]);
        }
        let mut out = t.render();
        if let Some(p) = &planned {
            out += "\n";
            out += p;
        }
        out
    })?;
    if a.conn.output == Output::Table && a.show_plan && planned.is_none() {
        eprintln!("no plan to show: the kernel was not compared");
    }
    if findings.iter().any(|f| f.level == "error") {
        std::process::exit(1);
    }
    Ok(())
}
