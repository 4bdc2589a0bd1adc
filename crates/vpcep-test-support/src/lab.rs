//! A control plane with a namespace prefix of its own, the real agent (and private DNS) following
//! it over HTTP, and the lab resources (VPCs, subnets, servers, security groups, endpoints) the
//! data-plane tests and benchmarks build on. Everything the lab made in the kernel is removed
//! when it drops, also when a test panics half-way.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_client::Client;
use vpcep_control::Settings;
use vpcep_dataplane::agent::dns::{DnsConfig, DnsFollower};
use vpcep_dataplane::agent::flows::FlowConfig;
use vpcep_dataplane::agent::{Agent, AgentConfig};
use vpcep_dataplane::plan::naming::Namespaces;

use crate::server::Server;

/// A control plane ([`Server`], SQLite) and the namespace prefix its agents program under. Its
/// namespaces (and whatever runs in them) are removed when it drops, unless `VPCEP_KEEP_LAB` is
/// set (then `vpcep lab down --ns-prefix PREFIX` removes them after inspection).
pub struct Lab {
    pub server: Server,
    pub names: Namespaces,
}

impl Lab {
    /// A lab whose namespaces start with `kind` and a per-run tag (`kind` of three letters keeps
    /// the derived interface names within the kernel's 15 characters), on a server with
    /// `settings` (quotas, region).
    pub async fn start(kind: &str, settings: Settings) -> Lab {
        let server = Server::start_with(settings).await;
        Lab {
            server,
            names: unique_names(kind),
        }
    }

    /// The agent as `vpcep serve` runs it, following this control plane over HTTP, until
    /// [`Running::stop`]. Metering reports every half second, so tests see traffic billed
    /// without waiting 15 s.
    /// Its traffic counters are read when the server's `/metrics` is scraped, as in `vpcep serve`.
    /// When the server's settings name a flow directory, the agent writes flow records there
    /// (as `vpcep serve` does), so the flows queries read what it wrote.
    pub fn start_agent(&self) -> Running {
        self.start_agent_reporting_every(Duration::from_millis(500))
    }

    /// [`Lab::start_agent`] with metering reports every `every` (after one at its start).
    /// Stop it with [`Running::stop`] before a teardown or another agent: an aborted agent
    /// (what dropping the [`Running`] does) may still be converging on another worker thread
    /// (or in a blocking task creating a namespace), and would then recreate namespaces a
    /// teardown right after removes, or race the next agent.
    pub fn start_agent_reporting_every(&self, every: Duration) -> Running {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        Running {
            what: "agent",
            stop,
            task: tokio::spawn(self.agent(every).run_until(stopped)),
        }
    }

    fn agent(&self, every: Duration) -> Agent {
        let mut agent = Agent::new(AgentConfig {
            control_url: self.server.url(),
            token: self.server.token.clone(),
            names: self.names.clone(),
            name: "test".into(),
        })
        .with_usage_every(every);
        if let Some(dir) = &self.server.control.settings.flow_dir {
            agent = agent
                .with_flows(FlowConfig::new(dir))
                .expect("flow records");
        }
        let telemetry = agent.telemetry();
        vpcep_api::metrics::on_scrape("agent", move || {
            let t = telemetry.clone();
            async move { t.refresh().await }
        });
        agent
    }

    /// Private DNS as `vpcep serve` runs it next to its agent, answering names it does not own
    /// from `upstream`; it stops when the returned [`Dns`] drops (aborted), or cleanly by
    /// [`Running::stop`].
    pub fn spawn_dns(&self, upstream: Option<SocketAddr>) -> Dns {
        let dns = DnsFollower::new(DnsConfig {
            control_url: self.server.url(),
            token: self.server.token.clone(),
            names: self.names.clone(),
            region: self.server.control.settings.region.clone(),
            resolver: vpcep_dns::ResolverConfig {
                upstream,
                ..Default::default()
            },
        })
        .expect("resolver");
        let (stop, stopped) = tokio::sync::watch::channel(false);
        Running {
            what: "DNS",
            stop,
            task: tokio::spawn(dns.run_until(stopped)),
        }
    }

    /// A new account's signed client.
    pub async fn account(&self, name: &str) -> Client {
        self.server.account(name).await.client
    }

    /// The domain (account) id of account `name`, made by [`Lab::account`].
    pub async fn domain_id(&self, name: &str) -> String {
        self.server
            .control
            .find_account(name)
            .await
            .unwrap_or_else(|e| panic!("account {name}: {e:?}"))
            .domain_id
    }

    /// Remove the lab's namespaces the way `vpcep lab down` does (dropping the lab also does it,
    /// synchronously, as a fallback).
    pub async fn teardown(&self) {
        // Kept for a look inside (or an experiment) when asked, like the drop below.
        if std::env::var_os("VPCEP_KEEP_LAB").is_some() {
            return;
        }
        let _ = vpcep_dataplane::kernel::linux::teardown(&self.names).await;
    }

    /// Remove the lab's namespaces now and wait until the kernel has freed them (see
    /// [`ScratchNames::remove_and_wait`]); the control plane keeps running. For a measurement
    /// that must start from a host without them.
    pub fn remove_namespaces_and_wait(&self) -> Duration {
        remove_and_wait(&self.names)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        remove_namespaces(&self.names);
    }
}

/// A namespace prefix of its own: `kind` and a per-run tag.
pub fn unique_names(kind: &str) -> Namespaces {
    let tag = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
        ^ (u128::from(std::process::id()) << 7);
    Namespaces {
        prefix: format!("{kind}{:04x}-", tag as u16),
    }
}

/// Namespaces under a prefix of their own beside a lab's (a second kernel layer or agent
/// programming the same control plane's objects), removed on drop as a [`Lab`]'s are.
pub struct ScratchNames {
    pub names: Namespaces,
}

impl ScratchNames {
    pub fn new(kind: &str) -> ScratchNames {
        ScratchNames {
            names: unique_names(kind),
        }
    }
}

impl Drop for ScratchNames {
    fn drop(&mut self) {
        remove_namespaces(&self.names);
    }
}

impl ScratchNames {
    /// Remove the namespaces and wait until the kernel has freed them; returns how long that
    /// took. `ip netns del` returns at once and the kernel dismantles the namespaces in the
    /// background (`cleanup_net`), holding the locks that creating namespaces and links needs:
    /// a measurement that builds namespaces right after would pay for this teardown. Waits
    /// until the kernel's count of namespaces ([`kernel_namespaces`]) has dropped
    /// by as many as were removed, or has stopped falling for 30 s (other work on the host may
    /// create namespaces meanwhile), at most 120 s.
    pub fn remove_and_wait(self) -> Duration {
        remove_and_wait(&self.names)
    }
}

/// Remove `names`' namespaces and wait until the kernel has freed them (see
/// [`ScratchNames::remove_and_wait`]).
fn remove_and_wait(names: &Namespaces) -> Duration {
    let before = kernel_namespaces();
    let removed = remove_namespaces(names);
    let started = Instant::now();
    let (Some(before), true) = (before, removed > 0) else {
        return started.elapsed();
    };
    let goal = before.saturating_sub(removed);
    let mut last = (before, Instant::now());
    while started.elapsed() < Duration::from_secs(120) {
        let Some(now) = kernel_namespaces() else {
            break;
        };
        if now <= goal {
            break;
        }
        // The kernel frees removed namespaces in batches (`cleanup_net` takes every one queued
        // at once and frees them together at its end): the count stays flat for seconds, then
        // drops. Measured: 1,013 namespaces with their links took 14–45 s on 2 cores.
        if now >= last.0 && last.1.elapsed() > Duration::from_secs(30) {
            eprintln!(
                "{}: {} namespaces not freed by the kernel 30 s after their removal",
                names.prefix,
                now - goal
            );
            break;
        }
        if now < last.0 {
            last = (now, Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// Network namespaces the kernel holds (freed ones included until it has dismantled them),
/// from the `net_namespace` slab cache; `None` where that is not readable. SLUB's own count
/// (`/sys/kernel/slab/…/objects`) first: `/proc/slabinfo`'s active objects also count the free
/// ones still sitting in per-CPU slabs (measured: 884 "active" with 54 namespaces left).
fn kernel_namespaces() -> Option<usize> {
    if let Ok(objects) = std::fs::read_to_string("/sys/kernel/slab/net_namespace/objects")
        && let Some(n) = objects
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
    {
        return Some(n);
    }
    let slabs = std::fs::read_to_string("/proc/slabinfo").ok()?;
    slabs
        .lines()
        .find_map(|l| l.strip_prefix("net_namespace "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Kill what runs in `names`' namespaces and delete them (synchronously: this runs in `Drop`,
/// also while a test unwinds), unless `VPCEP_KEEP_LAB` is set; returns how many it deleted.
fn remove_namespaces(names: &Namespaces) -> usize {
    if std::env::var_os("VPCEP_KEEP_LAB").is_some() {
        eprintln!("keeping namespaces with prefix {}", names.prefix);
        return 0;
    }
    let Ok(out) = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
    else {
        return 0;
    };
    let mut deleted = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(ns) = line.split_whitespace().next() else {
            continue;
        };
        if !names.owns(ns) {
            continue;
        }
        if let Ok(p) = std::process::Command::new("ip")
            .args(["netns", "pids", ns])
            .output()
        {
            for pid in String::from_utf8_lossy(&p.stdout).split_whitespace() {
                let _ = std::process::Command::new("kill")
                    .args(["-9", pid])
                    .status();
            }
        }
        if std::process::Command::new("ip")
            .args(["netns", "del", ns])
            .status()
            .is_ok_and(|s| s.success())
        {
            deleted += 1;
        }
    }
    // The routers' fast-path pins outlive their namespaces (and the agent): they would keep
    // programs and maps in the kernel.
    vpcep_dataplane::kernel::fastpath::remove_pins(names);
    deleted
}

/// Private DNS started by [`Lab::spawn_dns`].
pub type Dns = Running;

/// How long [`Running::stop`] waits: a stop ends the task within one converge (or one metering
/// report, whose request times out after 10 s); 10,000 endpoints converge in seconds.
const STOP_WITHIN: Duration = Duration::from_secs(60);

/// A lab task (its agent, its private DNS) that ends when asked. Dropping it aborts it (as
/// `kill -9` would: no clean-up), which is the fallback while a test unwinds.
pub struct Running {
    what: &'static str,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A lab task that did not end when asked to ([`Running::stop`]).
#[derive(Debug, thiserror::Error)]
pub enum StopError {
    /// Still running after [`STOP_WITHIN`]; it has been aborted.
    #[error("{what} still running {after:?} after it was asked to stop")]
    TimedOut { what: &'static str, after: Duration },
    /// It panicked (or was cancelled) before it could stop.
    #[error("{what} task failed: {error}")]
    Failed {
        what: &'static str,
        #[source]
        error: tokio::task::JoinError,
    },
}

impl Running {
    /// Ask the task to stop and wait until it has: when this returns Ok, nothing of it runs any
    /// more (no converge, no blocking namespace work), so the lab can be torn down.
    pub async fn stop(mut self) -> Result<(), StopError> {
        let what = self.what;
        // An error means the task has already ended (its receiver is gone): the wait says how.
        let _ = self.stop.send(true);
        match tokio::time::timeout(STOP_WITHIN, &mut self.task).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(StopError::Failed { what, error }),
            Err(_) => Err(StopError::TimedOut {
                what,
                after: STOP_WITHIN,
            }),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A no-op once the task has ended (after `stop`).
        self.task.abort();
    }
}

/// Poll `f` every 25 ms until it holds; panic naming `what` after 120 s (a loaded machine is
/// slow, a broken path never arrives). Takes `async || …` and `|| async …` alike.
pub async fn wait_for(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The `status` of the object at `path`, or `error CODE` when it cannot be read.
pub async fn status_of(c: &Client, path: &str) -> String {
    match c.get::<Value>(&c.project_path(path), &[]).await {
        Ok(v) => v["status"].as_str().unwrap_or_default().to_string(),
        Err(e) => format!("error {}", e.code().unwrap_or("?")),
    }
}

/// Wait until `path` answers with an error (the object is gone).
pub async fn wait_gone(c: &Client, path: &str) {
    wait_for(&format!("{path} gone"), || async {
        status_of(c, path).await.starts_with("error")
    })
    .await;
}

/// Wait until lab server `id` is `ACTIVE` (the agent programmed its namespace).
pub async fn wait_server_active(c: &Client, id: &str) {
    let path = c.project_path(&format!("/lab/servers/{id}"));
    wait_for(&format!("server {id} ACTIVE"), || async {
        let s: Result<Value, _> = c.get(&path, &[]).await;
        s.is_ok_and(|s| s["server"]["status"] == "ACTIVE")
    })
    .await;
}

/// A VPC with one subnet.
#[derive(Clone, Debug)]
pub struct Net {
    pub vpc: String,
    pub subnet: String,
}

/// VPC `name` on `cidr` with subnet `subnet_cidr` (gateway `gw`).
pub async fn network(c: &Client, name: &str, cidr: &str, subnet_cidr: &str, gw: &str) -> Net {
    let v: Value = c
        .post(
            &c.project_path("/vpcs"),
            &json!({"vpc": {"name": name, "cidr": cidr}}),
        )
        .await
        .expect("vpc");
    let vpc = v["vpc"]["id"].as_str().expect("vpc id").to_string();
    let s: Value = c
        .post(&c.project_path("/subnets"), &json!({"subnet": {"name": name, "cidr": subnet_cidr, "gateway_ip": gw, "vpc_id": vpc}}))
        .await
        .expect("subnet");
    Net {
        vpc,
        subnet: s["subnet"]["id"].as_str().expect("subnet id").to_string(),
    }
}

/// A security group allowing the SNAT range on `ports` (what FAQ 4.2 asks of a backend).
pub async fn backend_group(c: &Client, ports: &[(&str, u16)]) -> String {
    let g: Value = c
        .post(
            &c.project_path("/security-groups"),
            &json!({"security_group": {"name": "backend"}}),
        )
        .await
        .expect("sg");
    let id = g["security_group"]["id"].as_str().expect("id").to_string();
    for (proto, port) in ports {
        let _: Value = c
            .post(
                &c.project_path("/security-group-rules"),
                &json!({"security_group_rule": {"security_group_id": id, "direction": "ingress", "protocol": proto,
                    "port_range_min": port, "port_range_max": port, "remote_ip_prefix": "198.19.128.0/20"}}),
            )
            .await
            .expect("rule");
    }
    id
}

/// Lab server `name` with one NIC at `ip` in `net`, in security `groups`: (server id, port id).
pub async fn server(
    c: &Client,
    name: &str,
    net: &Net,
    ip: &str,
    groups: &[&str],
) -> (String, String) {
    let s: Value = c
        .post(
            &c.project_path("/lab/servers"),
            &json!({"server": {"name": name, "vpc_id": net.vpc, "nics": [{"subnet_id": net.subnet, "ip_address": ip}], "security_groups": groups}}),
        )
        .await
        .expect("server");
    (
        s["server"]["id"].as_str().expect("id").to_string(),
        s["server"]["nics"][0]["port_id"]
            .as_str()
            .expect("port")
            .to_string(),
    )
}

/// An endpoint of `service` in `net`: (id, ip).
pub async fn create_endpoint(c: &Client, service: &str, net: &Net) -> (String, String) {
    let e: Value = c
        .post(
            &c.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": service, "vpc_id": net.vpc, "subnet_id": net.subnet}),
        )
        .await
        .expect("endpoint");
    (
        e["id"].as_str().expect("id").to_string(),
        e["ip"].as_str().expect("ip").to_string(),
    )
}

/// A VM-backed service without approval: `port_id` in `vpc`, `ports` as given.
pub async fn vm_service_on(c: &Client, port_id: &str, vpc: &str, ports: Value) -> String {
    let svc: Value = c
        .post(&c.project_path("/vpc-endpoint-services"), &json!({"port_id": port_id, "vpc_id": vpc, "server_type": "VM", "approval_enabled": false, "ports": ports}))
        .await
        .expect("service");
    svc["id"].as_str().expect("id").to_string()
}

/// A provider VPC and a consumer VPC on the same `cidr` (subnet `.0/24`, gateway `.1`), server
/// `web` (`.10`, TCP 80 open to the SNAT range) behind a VM service without approval mapping
/// 80 → 80, and server `client` (`.20`) in the consumer VPC.
pub struct VmService {
    pub service: String,
    pub consumer: Net,
    pub web: String,
    pub client: String,
}

/// Build a [`VmService`] with addresses `{prefix}.N` in `cidr`.
pub async fn vm_service(c: &Client, prefix: &str, cidr: &str) -> VmService {
    let at = |host: u8| format!("{prefix}.{host}");
    let subnet = format!("{prefix}.0/24");
    let prov = network(c, "prov", cidr, &subnet, &at(1)).await;
    let consumer = network(c, "cons", cidr, &subnet, &at(1)).await;
    let sg = backend_group(c, &[("tcp", 80)]).await;
    let (web, web_port) = server(c, "web", &prov, &at(10), &[&sg]).await;
    let (client, _) = server(c, "client", &consumer, &at(20), &[]).await;
    let service = vm_service_on(
        c,
        &web_port,
        &prov.vpc,
        json!([{"client_port": 80, "server_port": 80}]),
    )
    .await;
    VmService {
        service,
        consumer,
        web,
        client,
    }
}
