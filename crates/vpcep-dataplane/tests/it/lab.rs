//! Test lab: the shared lab (`vpcep-test-support`: control plane, agent, DNS, lab resources)
//! plus what only these tests need: programs run inside lab namespaces, and the kernel's state as
//! text.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_control::Settings;
use vpcep_test_support::lab::{Dns, Running};
pub use vpcep_test_support::lab::{
    Net, VmService, backend_group, create_endpoint, network, server, status_of, vm_service,
    vm_service_on, wait_for, wait_gone,
};

/// Lines only in `a` / only in `b` (for readable failures of state comparisons).
pub fn state_diff(a: &str, b: &str) -> String {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let mut out = String::new();
    for l in la.iter().filter(|l| !lb.contains(l)) {
        out += &format!("- {l}\n");
    }
    for l in lb.iter().filter(|l| !la.contains(l)) {
        out += &format!("+ {l}\n");
    }
    out
}

pub fn can_run() -> bool {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false);
    let nft = std::process::Command::new("nft")
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let socat = std::process::Command::new("socat")
        .arg("-V")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !(root && nft && socat) {
        eprintln!("skipped: needs root, nft and socat (root={root} nft={nft} socat={socat})");
    }
    root && nft && socat
}

pub struct Lab {
    /// The shared lab: its control plane and namespace prefix (removed when it drops).
    base: vpcep_test_support::lab::Lab,
    /// The agent, until [`Lab::stop_agent`].
    agent: Option<Running>,
    /// Private DNS, when started ([`Lab::start_dns`]).
    dns: Option<Dns>,
    children: Vec<std::process::Child>,
}

impl std::ops::Deref for Lab {
    type Target = vpcep_test_support::lab::Lab;
    fn deref(&self) -> &Self::Target {
        &self.base
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // The agent (and DNS) must have ended before the namespaces go: an aborted agent's
        // converge, or its namespace creation in a blocking task, outlives the abort and would
        // recreate namespaces the teardown removes.
        let tasks: Vec<Running> = self
            .agent
            .take()
            .into_iter()
            .chain(self.dns.take())
            .collect();
        stop_in_drop(&self.names.prefix, tasks);
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // The namespaces go when `base` drops next (set VPCEP_KEEP_LAB=1 to keep them).
    }
}

impl Lab {
    pub async fn start() -> Lab {
        Self::start_with(Settings::default()).await
    }

    /// [`Lab::start`] on a control plane with `settings` (e.g. a flow directory, which the
    /// agent then writes flow records to).
    pub async fn start_with(settings: Settings) -> Lab {
        let base = vpcep_test_support::lab::Lab::start("vpt", settings).await;
        let agent = Some(base.start_agent());
        Lab {
            base,
            agent,
            dns: None,
            children: vec![],
        }
    }

    /// Stop the agent ([`Lab::stop_agent`]) and start a fresh one.
    pub async fn restart_agent(&mut self) {
        self.stop_agent().await;
        self.agent = Some(self.base.start_agent());
    }

    /// [`Lab::restart_agent`], the new agent sending metering reports every `every`.
    pub async fn restart_agent_reporting_every(&mut self, every: Duration) {
        self.stop_agent().await;
        self.agent = Some(self.base.start_agent_reporting_every(every));
    }

    /// Stop the agent and wait until it has ended. It ends between converges (a stop never
    /// interrupts one) and cleans nothing up: the kernel keeps what it programmed (tables,
    /// counters) as after `kill -9`, and its fast-path links go with it. Aborting it instead
    /// would let a converge in flight run on beside the next agent or the teardown. Panics
    /// when it does not end within [`Running::stop`]'s bound (it is then aborted).
    pub async fn stop_agent(&mut self) {
        if let Some(agent) = self.agent.take()
            && let Err(e) = agent.stop().await
        {
            panic!(
                "{}: {e}; aborted, and what it was doing may still run",
                self.names.prefix
            );
        }
    }

    /// Start private DNS (as `vpcep serve` does next to its agent), answering names it does not
    /// own from `upstream`; it stops when the lab drops.
    pub fn start_dns(&mut self, upstream: Option<std::net::SocketAddr>) {
        self.dns = Some(self.base.spawn_dns(upstream));
    }

    /// Everything the agent made, as text: per namespace its links (with peer indexes, so a
    /// re-created link shows), addresses, routes, rules and nftables ruleset.
    pub async fn kernel_state(&self) -> String {
        let out = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip");
        let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter(|n| n.starts_with(&self.names.prefix))
            .map(str::to_string)
            .collect();
        names.sort();
        let mut s = String::new();
        for ns in names {
            s += &format!("## {ns}\n");
            for args in [
                vec!["-n", &ns, "-br", "link"],
                vec!["-n", &ns, "-4", "-br", "addr"],
                vec!["-n", &ns, "-4", "route", "show", "table", "all"],
                vec!["-n", &ns, "rule"],
            ] {
                let o = std::process::Command::new("ip")
                    .args(&args)
                    .output()
                    .expect("ip");
                // Operational state (UP/UNKNOWN) lags carrier changes by design; compare the rest.
                let mut lines: Vec<String> = String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|l| {
                        let w: Vec<&str> = l.split_whitespace().collect();
                        if w.len() > 2
                            && ["UP", "UNKNOWN", "DOWN", "LOWERLAYERDOWN"].contains(&w[1])
                        {
                            format!("{} {}", w[0], w[2..].join(" "))
                        } else {
                            l.to_string()
                        }
                    })
                    .collect();
                lines.sort();
                s += &lines.join("\n");
                s += "\n";
            }
            let o = std::process::Command::new("ip")
                .args(["netns", "exec", &ns, "nft", "list", "ruleset"])
                .output()
                .expect("nft");
            s += &String::from_utf8_lossy(&o.stdout);
        }
        s
    }

    /// Start a long-running program inside a namespace (killed when the lab drops).
    /// Run `cmd` in `ns` until the lab ends. A TCP server (`socat TCP-LISTEN:PORT…`) is waited for
    /// until it listens, so a loaded machine's slow start is never taken for a broken path.
    pub async fn spawn_in(&mut self, ns: &str, cmd: &[&str]) {
        self.namespace(ns).await;
        let child = std::process::Command::new("ip")
            .args(["netns", "exec", ns])
            .args(cmd)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        self.children.push(child);
        let tcp_port = cmd
            .iter()
            .find_map(|a| a.strip_prefix("TCP-LISTEN:"))
            .and_then(|rest| rest.split(',').next())
            .and_then(|p| p.parse::<u16>().ok());
        if let Some(port) = tcp_port {
            self.listening(ns, port).await;
        }
    }

    /// Wait until something in `ns` listens on TCP `port` (a server spawned with
    /// [`Lab::spawn_in`] is ready), so a loaded machine's slow start is not taken for a broken
    /// path.
    pub async fn listening(&self, ns: &str, port: u16) {
        let filter = format!("sport = :{port}");
        wait_for(&format!("a listener on {ns}:{port}"), || async {
            let (ok, out) = exec_in(ns, &["ss", "-Htln", &filter]).await;
            ok && !out.trim().is_empty()
        })
        .await;
    }

    /// Wait until `ns` exists and can be entered (the agent made it). Its handle in /run/netns
    /// appears before the namespace is mounted on it, and entering it in between fails
    /// ("setting the network namespace failed: Invalid argument").
    pub async fn namespace(&self, ns: &str) {
        wait_for(&format!("namespace {ns}"), || async {
            std::process::Command::new("ip")
                .args(["-n", ns, "link", "show", "lo"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .await;
    }
}

/// Stop `tasks` (the agent, DNS) from `Drop`, which cannot await: on a multi-thread runtime
/// (every root test here) the dropping thread waits for them in place, also while a failed
/// test unwinds. Where it cannot wait (another runtime, none), or a task does not end within
/// [`Running::stop`]'s bound, the task is aborted and that is said, not hidden: its namespaces
/// may then outlive the teardown.
fn stop_in_drop(prefix: &str, tasks: Vec<Running>) {
    use tokio::runtime::{Handle, RuntimeFlavor};
    if tasks.is_empty() {
        return;
    }
    match Handle::try_current() {
        // `block_in_place` hands this worker's other tasks away first (or, on the thread in
        // `Runtime::block_on`, leaves the runtime's context), so `block_on` may run here and the
        // runtime's workers drive the tasks to their end.
        Ok(h) if h.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| {
                h.block_on(async {
                    for task in tasks {
                        if let Err(e) = task.stop().await {
                            eprintln!("{prefix}: {e}; aborted before the teardown");
                        }
                    }
                })
            });
        }
        _ => {
            eprintln!(
                "{prefix}: no multi-thread runtime to wait on: agent/DNS aborted, not stopped, \
                 before the teardown"
            );
            drop(tasks);
        }
    }
}

/// Run a command in a namespace and return (exit ok, stdout).
pub async fn exec_in(ns: &str, cmd: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("ip")
        .args(["netns", "exec", ns])
        .args(cmd)
        .output()
        .await
        .expect("exec");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
    )
}

/// One TCP request with socat: what the server answered.
pub async fn tcp_request(ns: &str, ip: &str, port: u16) -> (bool, String) {
    exec_in(
        ns,
        &[
            "timeout",
            "4",
            "socat",
            "-u",
            &format!("TCP:{ip}:{port},connect-timeout=2"),
            "STDOUT",
        ],
    )
    .await
}

/// Retry a TCP request for up to 5 s; the first success, or the last failure.
pub async fn first_success(ns: &str, ip: &str, port: u16) -> (bool, String) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = tcp_request(ns, ip, port).await;
        if r.0 || Instant::now() > deadline {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A site joined to `net`'s VPC: its namespace (the site's first address is its host).
pub async fn site(
    lab: &Lab,
    c: &vpcep_client::Client,
    name: &str,
    net: &Net,
    cidr: &str,
) -> String {
    let s: Value = c
        .post(
            &c.project_path("/lab/sites"),
            &json!({"site": {"name": name, "vpc_id": net.vpc, "cidr": cidr}}),
        )
        .await
        .expect("site");
    let id = s["site"]["id"].as_str().expect("site id").to_string();
    wait_for(&format!("site {name} ACTIVE"), || async {
        let s: Result<Value, _> = c
            .get(&c.project_path(&format!("/lab/sites/{id}")), &[])
            .await;
        s.is_ok_and(|s| s["site"]["status"] == "ACTIVE")
    })
    .await;
    let ns = lab.names.site(&id);
    lab.namespace(&ns).await;
    ns
}
