//! `vpcep`: the one binary. `serve` runs the all-in-one control plane; `admin` works on the same
//! store directly (no server needed); resource commands talk to a server over the signed API.

mod admin;
mod config;
mod demo;
mod metrics;
mod resources;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vpcep",
    version,
    about = "Self-hosted VPC Endpoint service (Huawei VPCEP v1 API)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the all-in-one server (API, web console, data-plane agent) on embedded SQLite.
    Serve(serve::ServeArgs),
    /// Build the user guide's quick start for real on this machine and leave it running.
    Demo(demo::DemoArgs),
    /// Run only the data-plane agent, following a control plane over `/agent/v1`.
    Agent(AgentArgs),
    /// Run the private DNS resolver alone against a control plane (as `vpcep agent` runs the
    /// data plane): every VPC's resolver at 169.254.169.253, endpoint and host names, the DNS
    /// cloud service's backend.
    Dns(DnsArgs),
    /// Operator commands on the store: accounts, credentials, projects, quotas.
    Admin(admin::AdminArgs),
    #[command(flatten)]
    Resource(resources::ResourceCommand),
}

fn main() -> std::process::ExitCode {
    if let Err(e) = config::apply_config_file() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Admin(a) => admin::run(a).await,
            Command::Agent(a) => run_agent(a).await,
            Command::Dns(a) => run_dns(a).await,
            Command::Demo(a) => demo::run(a).await,
            Command::Resource(r) => resources::run(r).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Where the control plane's feed is, and which namespaces are ours.
#[derive(clap::Args, Debug)]
struct FeedArgs {
    /// The control plane's URL.
    #[arg(
        long,
        env = "VPCEP_CONTROL_URL",
        default_value = "http://127.0.0.1:8480"
    )]
    control_url: String,
    /// File holding the agent token (the server's `<data-dir>/agent.token`).
    #[arg(long, env = "VPCEP_AGENT_TOKEN_FILE")]
    token_file: std::path::PathBuf,
    /// Prefix of the network namespaces this agent owns.
    #[arg(long, env = "VPCEP_NS_PREFIX", default_value = "vpcep-")]
    ns_prefix: String,
}

impl FeedArgs {
    fn token(&self) -> anyhow::Result<String> {
        Ok(std::fs::read_to_string(&self.token_file)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", self.token_file.display()))?
            .trim()
            .to_string())
    }
    fn names(&self) -> vpcep_dataplane::plan::naming::Namespaces {
        vpcep_dataplane::plan::naming::Namespaces {
            prefix: self.ns_prefix.clone(),
        }
    }
}

#[derive(clap::Args, Debug)]
struct AgentArgs {
    #[command(flatten)]
    feed: FeedArgs,
    /// Name reported to the control plane.
    #[arg(long, default_value = "agent")]
    name: String,
    /// Serve `/metrics`, `/health` and `/ready` on this address (e.g. `127.0.0.1:9480`).
    #[arg(long, env = "VPCEP_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Write flow records (docs/flows.md) to this directory; none without it.
    #[arg(long, env = "VPCEP_FLOW_DIR")]
    flow_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    flows: config::FlowArgs,
    #[command(flatten)]
    dataplane: config::DataPlaneArgs,
}

async fn run_agent(a: AgentArgs) -> anyhow::Result<()> {
    serve::init_tracing(false);
    let names = a.feed.names();
    let mut agent = vpcep_dataplane::agent::Agent::with_kernel(
        vpcep_dataplane::agent::AgentConfig {
            token: a.feed.token()?,
            names: names.clone(),
            control_url: a.feed.control_url,
            name: a.name,
        },
        a.dataplane.kernel(names),
    );
    if let Some(cfg) = a.flow_dir.and_then(|dir| a.flows.config(dir)) {
        let dir = cfg.dir.clone();
        agent = agent
            .with_flows(cfg)
            .map_err(|e| anyhow::anyhow!("starting flow records in {}: {e}", dir.display()))?;
    }
    if let Some(addr) = a.metrics_listen {
        let telemetry = agent.telemetry();
        let scraped = telemetry.clone();
        vpcep_api::metrics::on_scrape("agent", move || {
            let t = scraped.clone();
            async move { t.refresh().await }
        });
        metrics::spawn(addr, move || telemetry.ready()).await?;
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        serve::shutdown().await;
        let _ = stop_tx.send(true);
    });
    agent.run_until(stop).await;
    Ok(())
}

#[derive(clap::Args, Debug)]
struct DnsArgs {
    #[command(flatten)]
    feed: FeedArgs,
    /// Region of the lab hosts' names (`{host}.{vpc}.{region}.internal`).
    #[arg(long, env = "VPCEP_REGION", default_value = "cn-north-4")]
    region: String,
    #[command(flatten)]
    resolver: serve::ResolverArgs,
    /// Serve `/metrics`, `/health` and `/ready` on this address (e.g. `127.0.0.1:9481`).
    #[arg(long, env = "VPCEP_METRICS_LISTEN")]
    metrics_listen: Option<std::net::SocketAddr>,
    /// Write flow records (docs/flows.md) to this directory; none without it.
    #[arg(long, env = "VPCEP_FLOW_DIR")]
    flow_dir: Option<std::path::PathBuf>,
    #[command(flatten)]
    flows: config::FlowArgs,
}

async fn run_dns(a: DnsArgs) -> anyhow::Result<()> {
    serve::init_tracing(false);
    let dns =
        vpcep_dataplane::agent::dns::DnsFollower::new(vpcep_dataplane::agent::dns::DnsConfig {
            token: a.feed.token()?,
            names: a.feed.names(),
            control_url: a.feed.control_url,
            region: a.region,
            resolver: a.resolver.config(),
        })?;
    if let Some(addr) = a.metrics_listen {
        metrics::spawn(addr, || true).await?;
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        serve::shutdown().await;
        let _ = stop_tx.send(true);
    });
    dns.run_until(stop).await;
    Ok(())
}
