//! `vpcep serve`: the all-in-one main job.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::config::{StoreArgs, load_or_create_token};

/// How the private DNS resolver answers names it does not own.
#[derive(clap::Args, Debug, Clone)]
pub struct ResolverArgs {
    /// Where names that are not private go (`IP:PORT`, e.g. `192.0.2.53:53`). None (the
    /// default): they are answered REFUSED at once.
    #[arg(long, env = "VPCEP_DNS_UPSTREAM")]
    pub dns_upstream: Option<SocketAddr>,
    /// How long a forwarded query may take before the client gets SERVFAIL.
    #[arg(long, env = "VPCEP_DNS_TIMEOUT_MS", default_value_t = 2000)]
    pub dns_timeout_ms: u64,
}

impl ResolverArgs {
    pub fn config(&self) -> vpcep_dns::ResolverConfig {
        vpcep_dns::ResolverConfig {
            upstream: self.dns_upstream,
            forward_timeout: Duration::from_millis(self.dns_timeout_ms.max(1)),
            ..Default::default()
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address of the API and the web console (`/console`).
    #[arg(long, env = "VPCEP_LISTEN", default_value = "127.0.0.1:8480")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Do not run the data-plane agent in this process (run `vpcep agent` elsewhere, or none).
    #[arg(long, env = "VPCEP_NO_AGENT")]
    pub no_agent: bool,
    /// Prefix of the network namespaces the built-in agent owns.
    #[arg(long, env = "VPCEP_NS_PREFIX", default_value = "vpcep-")]
    pub ns_prefix: String,
    /// Do not run the private DNS resolver next to the built-in agent (every VPC's
    /// 169.254.169.253, endpoint names, the DNS cloud service's backend).
    #[arg(long, env = "VPCEP_NO_DNS")]
    pub no_dns: bool,
    #[command(flatten)]
    pub resolver: ResolverArgs,
    /// Do not create the built-in DNS cloud service (the `operator` account, its `dns-resolver`
    /// network and server, and the public `{vendor-prefix}.{region}.dns` service) at start.
    #[arg(long, env = "VPCEP_NO_BUILTIN_DNS")]
    pub no_builtin_dns: bool,
    #[command(flatten)]
    pub flows: crate::config::FlowArgs,
    #[command(flatten)]
    pub dataplane: crate::config::DataPlaneArgs,
    /// Log as JSON lines instead of text.
    #[arg(long, env = "VPCEP_LOG_JSON")]
    pub log_json: bool,
    /// Mark console cookies `Secure` (when a TLS proxy serves the console over HTTPS).
    #[arg(long, env = "VPCEP_CONSOLE_SECURE_COOKIES")]
    pub console_secure_cookies: bool,
    /// Connections served at once; more wait in the kernel's accept queue (SPEC Q6).
    #[arg(long, env = "VPCEP_MAX_CONNECTIONS", default_value_t = vpcep_api::listener::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Close a connection that sent and received nothing for this many seconds.
    #[arg(long, env = "VPCEP_IDLE_TIMEOUT_SECS", default_value_t = vpcep_api::listener::IDLE_TIMEOUT.as_secs())]
    pub idle_timeout_secs: u64,
}

pub fn init_tracing(json: bool) {
    // hickory logs every DNS request at info: its warnings only, unless VPCEP_LOG asks.
    let filter = EnvFilter::try_from_env("VPCEP_LOG").unwrap_or_else(|_| {
        EnvFilter::new(
            "info,sqlx=warn,tower_http=info,hickory_server=warn,hickory_proto=warn,hickory_resolver=warn",
        )
    });
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing(args.log_json);
    let (control, store) = args.store.open().await?;
    store.spawn_revision_poller(Duration::from_millis(500));
    spawn_compactor(store.clone());
    if args.no_builtin_dns {
        tracing::info!("built-in DNS cloud service not bootstrapped (--no-builtin-dns)");
    } else {
        bootstrap_builtin_dns(&control).await;
    }
    let token_path = args.store.data_dir.join("agent.token");
    let agent_token = load_or_create_token(&token_path)?;
    let agent_cfg = vpcep_dataplane::agent::AgentConfig {
        control_url: String::new(),
        token: agent_token.clone(),
        names: vpcep_dataplane::plan::naming::Namespaces {
            prefix: args.ns_prefix.clone(),
        },
        name: "built-in".to_string(),
    };
    let state = vpcep_api::AppState {
        control,
        agent_token: Arc::new(agent_token),
        started: Instant::now(),
    };
    let console_key = args.store.data_dir.join("console.key");
    let keys = vpcep_console::Keys::load_or_create(&console_key)
        .with_context(|| format!("loading the console key {}", console_key.display()))?;
    let mut console = vpcep_console::ConsoleState::new(
        state.control.clone(),
        keys,
        vpcep_console::ConsoleOptions {
            secure_cookies: args.console_secure_cookies,
        },
        // The console shows the Huawei front's codes on its detail lines.
        vpcep_console::ErrorCodes {
            code: vpcep_huawei::error::vpcep_code,
            status: vpcep_huawei::error::vpcep_status,
            stored_failure: vpcep_huawei::error::stored_data_plane_failure,
        },
    );
    spawn_meter(state.control.clone());
    // Private DNS runs with the agent; its URL is known once the listener is bound (below).
    let dns = if args.no_agent || args.no_dns {
        None
    } else {
        let dns =
            vpcep_dataplane::agent::dns::DnsFollower::new(vpcep_dataplane::agent::dns::DnsConfig {
                control_url: String::new(),
                token: agent_cfg.token.clone(),
                names: vpcep_dataplane::plan::naming::Namespaces {
                    prefix: args.ns_prefix.clone(),
                },
                region: args.store.region.clone(),
                resolver: args.resolver.config(),
            })
            .context("starting the private DNS resolver")?;
        console = console.with_name_check(Arc::new(ResolverNames(dns.resolver().probe())));
        Some(dns)
    };
    let app = vpcep_api::router(state).merge(vpcep_console::router(console));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    // One stop signal for everything: SIGTERM or Ctrl-C flips it.
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown().await;
        tracing::info!("stopping");
        let _ = stop_tx.send(true);
    });
    let mut agent_task = None;
    if args.no_agent {
        tracing::info!(
            "data-plane agent disabled (--no-agent): statuses move only when an agent reports"
        );
    } else {
        let control_url = if addr.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", addr.port())
        } else {
            format!("http://{addr}")
        };
        let agent_cfg_url = control_url.clone();
        let kernel = args.dataplane.kernel(agent_cfg.names.clone());
        let mut agent = vpcep_dataplane::agent::Agent::with_kernel(
            vpcep_dataplane::agent::AgentConfig {
                control_url,
                ..agent_cfg
            },
            kernel,
        );
        if let Some(cfg) = args.flows.config(args.store.flow_dir()) {
            let dir = cfg.dir.clone();
            agent = agent
                .with_flows(cfg)
                .with_context(|| format!("starting flow records in {}", dir.display()))?;
            tracing::info!(dir = %dir.display(), "flow records on");
        }
        // `/metrics` on the API listener reads the gateways' traffic counters when scraped.
        let telemetry = agent.telemetry();
        vpcep_api::metrics::on_scrape("agent", move || {
            let t = telemetry.clone();
            async move { t.refresh().await }
        });
        agent_task = Some(tokio::spawn(agent.run_until(stop.clone())));
        tracing::info!(prefix = args.ns_prefix, "data-plane agent started");
        match dns {
            None => tracing::info!("private DNS disabled (--no-dns)"),
            Some(dns) => {
                tokio::spawn(dns.with_control_url(agent_cfg_url).run_until(stop.clone()));
                tracing::info!(upstream = ?args.resolver.dns_upstream, "private DNS started");
            }
        }
    }
    tracing::info!(%addr, data_dir = %args.store.data_dir.display(), region = args.store.region, "vpcep serving");
    eprintln!(
        "vpcep listening on http://{addr} (console: http://{addr}/console/; agent token in {})",
        token_path.display()
    );
    let listener = vpcep_api::listener::LimitedListener::new(
        listener,
        args.max_connections,
        Duration::from_secs(args.idle_timeout_secs.max(1)),
    );
    let mut graceful = stop.clone();
    // The peer address reaches handlers as `ConnectInfo` (the audit log's `source`).
    let app = app
        .layer(axum::middleware::from_fn(vpcep_api::listener::expose_peer))
        .into_make_service_with_connect_info::<vpcep_api::listener::PeerAddr>();
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        let _ = graceful.wait_for(|s| *s).await;
    });
    // In-flight requests get a short grace; a long-poll (an agent's, 25 s) or a slow client
    // does not hold the stop up.
    let mut deadline = stop.clone();
    tokio::select! {
        served = server => served.context("serving")?,
        _ = async {
            let _ = deadline.wait_for(|s| *s).await;
            tokio::time::sleep(STOP_GRACE).await;
        } => tracing::info!("requests still in flight after the grace period were cut"),
    }
    // The agent ends at a converge boundary (no half-applied namespace); a converge longer than
    // the grace (a from-empty reconcile) is left to the next start, which reconciles anyway.
    if let Some(task) = agent_task
        && tokio::time::timeout(STOP_GRACE, task).await.is_err()
    {
        tracing::warn!("agent still converging at stop; the next start reconciles");
    }
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Create the built-in DNS cloud service if missing (SPEC S2). A failure is logged and serving
/// goes on: the API is useful without it, and the next start tries again.
async fn bootstrap_builtin_dns(control: &vpcep_control::Control) {
    match control.bootstrap_builtin_dns().await {
        Ok(b) => tracing::info!(
            service = b.service.id,
            name = b.service.service_name,
            created = ?b.created,
            "built-in DNS cloud service ready"
        ),
        Err(e) => tracing::error!(
            error = %e,
            "built-in DNS cloud service bootstrap failed; serving without it"
        ),
    }
}

/// How long a stop waits for in-flight requests, and then for the agent (SIGTERM → exit < 1 s).
const STOP_GRACE: Duration = Duration::from_millis(400);

/// Tombstones older than this many revisions are dropped; an agent further behind re-lists.
const KEEP_REVISIONS: u64 = 100_000;

/// The metering tick (docs/metering.md): bills time in `accepted` up to now, every
/// [`vpcep_control::usage::METER_EVERY`]. Nothing is lost when the process stops between two
/// ticks: the next start bills from the persisted clocks.
fn spawn_meter(control: vpcep_control::Control) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(vpcep_control::usage::METER_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = control.meter(vpcep_control::now_ms()).await {
                tracing::warn!(error = %e, "metering tick failed; the next one bills the time");
            }
        }
    });
}

fn spawn_compactor(store: Arc<vpcep_store::SqlStore>) {
    use vpcep_store::Store;
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(300)).await;
            match store.revision().await {
                Ok(rev) if rev > KEEP_REVISIONS => {
                    if let Err(e) = store.compact(rev - KEEP_REVISIONS).await {
                        tracing::warn!(error = %e, "compaction failed");
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "compaction: cannot read revision"),
            }
        }
    });
}

pub async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The console's view of the embedded resolver: a name resolves in a VPC when that VPC's
/// resolver sockets are open and its view holds the name.
struct ResolverNames(vpcep_dns::Probe);

impl vpcep_console::NameCheck for ResolverNames {
    fn resolves(&self, vpc_id: &str, name: &str) -> Option<Vec<std::net::Ipv4Addr>> {
        let key = vpcep_dataplane::plan::dns::vpc_listener_key(vpc_id);
        self.0.answers(&key, vpc_id, name)
    }
}
