//! Test lab: control plane + agent + helpers to run programs inside lab namespaces.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_client::Client;
use vpcep_control::Control;
use vpcep_dataplane::agent::{Agent, AgentConfig};
use vpcep_dataplane::plan::naming::Namespaces;
use vpcep_test_support::server::Server;

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
    pub url: String,
    pub control: Control,
    pub names: Namespaces,
    /// The control plane (`vpcep-test-support`); dropped with the lab.
    _server: Server,
    pub agent: tokio::task::JoinHandle<()>,
    /// Private DNS, when started ([`Lab::start_dns`]): its stop signal and task.
    dns: Option<(
        tokio::sync::watch::Sender<bool>,
        tokio::task::JoinHandle<()>,
    )>,
    token: String,
    children: Vec<std::process::Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.agent.abort();
        if let Some((_, task)) = self.dns.take() {
            task.abort();
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Synchronous teardown by prefix: runs even when the test panicked (set VPCEP_KEEP_LAB=1 to
        // keep the namespaces for inspection; `vpcep lab down --ns-prefix vpt…-` removes them).
        if std::env::var_os("VPCEP_KEEP_LAB").is_some() {
            eprintln!("keeping namespaces with prefix {}", self.names.prefix);
            return;
        }
        if let Ok(out) = std::process::Command::new("ip")
            .args(["netns", "list"])
            .output()
        {
            for line in String::from_utf8_lossy(&out.stdout).lines() {
                if let Some(ns) = line.split_whitespace().next()
                    && ns.starts_with(&self.names.prefix)
                {
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
                    let _ = std::process::Command::new("ip")
                        .args(["netns", "del", ns])
                        .status();
                }
            }
        }
    }
}

impl Lab {
    pub async fn start() -> Lab {
        let server = Server::start().await;
        let url = server.url();
        let token = server.token.clone();
        let tag: String = uuid_tail();
        let names = Namespaces {
            prefix: format!("vpt{tag}-"),
        };
        let agent = Agent::new(AgentConfig {
            control_url: url.clone(),
            token: token.clone(),
            names: names.clone(),
            name: "test".into(),
        });
        let agent = tokio::spawn(agent.run());
        Lab {
            url,
            control: server.control.clone(),
            names,
            _server: server,
            agent,
            dns: None,
            token,
            children: vec![],
        }
    }

    /// Kill the agent (as kill -9 would: no cleanup runs) and start a fresh one.
    pub fn restart_agent(&mut self) {
        self.agent.abort();
        let agent = Agent::new(AgentConfig {
            control_url: self.url.clone(),
            token: self.token.clone(),
            names: self.names.clone(),
            name: "test".into(),
        });
        self.agent = tokio::spawn(agent.run());
    }

    /// The agent token the control plane accepts (what `vpcep doctor` reads the snapshot with).
    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn stop_agent(&mut self) {
        self.agent.abort();
    }

    /// Start private DNS (as `vpcep serve` does next to its agent), answering names it does not
    /// own from `upstream`; it stops when the lab drops.
    pub fn start_dns(&mut self, upstream: Option<std::net::SocketAddr>) {
        let dns =
            vpcep_dataplane::agent::dns::DnsFollower::new(vpcep_dataplane::agent::dns::DnsConfig {
                control_url: self.url.clone(),
                token: self.token.clone(),
                names: self.names.clone(),
                region: self.control.settings.region.clone(),
                resolver: vpcep_dns::ResolverConfig {
                    upstream,
                    ..Default::default()
                },
            })
            .expect("resolver");
        let (stop_tx, stop) = tokio::sync::watch::channel(false);
        self.dns = Some((stop_tx, tokio::spawn(dns.run_until(stop))));
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

    pub async fn account(&self, name: &str) -> Client {
        let a = self
            .control
            .create_account(name, None)
            .await
            .expect("account");
        Client::new(&self.url, &a.access_key, &a.secret_key, &a.project_id).expect("client")
    }

    /// Start a long-running program inside a namespace (killed when the lab drops).
    /// Run `cmd` in `ns` until the lab ends. A TCP server (`socat TCP-LISTEN:PORT…`) is waited for
    /// until it listens, so a loaded machine's slow start is never taken for a broken path.
    pub async fn spawn_in(&mut self, ns: &str, cmd: &[&str]) {
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

    /// Wait until `ns` exists (the agent made it).
    pub async fn namespace(&self, ns: &str) {
        wait_for(&format!("namespace {ns}"), || async {
            std::process::Command::new("ip")
                .args(["netns", "list"])
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).contains(ns))
                .unwrap_or(false)
        })
        .await;
    }
}

fn uuid_tail() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("{:04x}", (t ^ (u128::from(std::process::id()) << 7)) as u16)
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

pub async fn wait_for<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Wait until `path` answers with an error (the object is gone).
pub async fn wait_gone(c: &Client, path: &str) {
    wait_for(&format!("{path} gone"), || async {
        status_of(c, path).await.starts_with("error")
    })
    .await;
}

/// Create an endpoint of `service` in `net`: (id, ip).
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

/// A provider VPC and a consumer VPC on the same `cidr` (subnet `.0/24`, gateway `.1`), server
/// `web` (`.10`, TCP 80 open to the SNAT range) behind a VM service without approval mapping
/// 80 → 80, and server `client` (`.20`) in the consumer VPC.
pub struct VmService {
    pub service: String,
    pub consumer: Net,
    pub web: String,
    pub client: String,
}

pub async fn vm_service(c: &Client, prefix: &str, cidr: &str) -> VmService {
    let at = |host: u8| format!("{prefix}.{host}");
    let subnet = format!("{prefix}.0/24");
    let prov = network(c, "prov", cidr, &subnet, &at(1)).await;
    let consumer = network(c, "cons", cidr, &subnet, &at(1)).await;
    let sg = backend_group(c, &[("tcp", 80)]).await;
    let (web, web_port) = server(c, "web", &prov, &at(10), &[&sg]).await;
    let (client, _) = server(c, "client", &consumer, &at(20), &[]).await;
    let svc: Value = c
        .post(&c.project_path("/vpc-endpoint-services"), &json!({"port_id": web_port, "vpc_id": prov.vpc, "server_type": "VM", "approval_enabled": false, "ports": [{"client_port": 80, "server_port": 80}]}))
        .await
        .expect("service");
    VmService {
        service: svc["id"].as_str().expect("id").to_string(),
        consumer,
        web,
        client,
    }
}

pub async fn status_of(c: &Client, path: &str) -> String {
    match c.get::<Value>(&c.project_path(path), &[]).await {
        Ok(v) => v["status"].as_str().unwrap_or_default().to_string(),
        Err(e) => format!("error {}", e.code().unwrap_or("?")),
    }
}

pub struct Net {
    pub vpc: String,
    pub subnet: String,
}

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
