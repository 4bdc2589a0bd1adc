//! Shared set-up of the data-plane benchmarks: a control plane in-process on SQLite, an account,
//! a provider VPC whose server answers on TCP 80 behind an endpoint service (approval off), and
//! helpers that make consumer networks and connect from inside a namespace without spawning a
//! process (so the measurement is the data plane's, not `fork`'s).

#![allow(dead_code)] // each benchmark uses part of it

use std::io::Read;
use std::net::{SocketAddr, TcpStream};

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_client::Client;
use vpcep_control::{Control, Settings};
use vpcep_dataplane::agent::{Agent, AgentConfig};
use vpcep_dataplane::kernel::netlink::in_namespace;
use vpcep_dataplane::plan::naming::Namespaces;
use vpcep_test_support::server::Server;

pub struct Provider {
    pub service: String,
    pub web: String,
    pub vpc: String,
    pub subnet: String,
    /// The web server's security group (members reach each other on any port).
    pub group: String,
}

pub struct Bench {
    pub url: String,
    pub control: Control,
    pub names: Namespaces,
    pub c: Client,
    pub token: String,
    /// The control plane (`vpcep-test-support`), kept for the bench's lifetime.
    _server: Server,
}

pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

impl Bench {
    pub async fn start(tag: &str) -> Bench {
        let settings = Settings {
            default_quotas: vpcep_core::model::Quotas {
                endpoint_service: 10,
                endpoint: 1_000_000,
            },
            ..Settings::default()
        };
        let server = Server::start_with(settings).await;
        let url = server.url();
        let control = server.control.clone();
        let names = Namespaces {
            prefix: format!("vb{tag}{}-", std::process::id() % 10000),
        };
        let acc = control
            .create_account("bench", None)
            .await
            .expect("account");
        let c =
            Client::new(&url, &acc.access_key, &acc.secret_key, &acc.project_id).expect("client");
        Bench {
            url,
            control,
            names,
            c,
            token: server.token.clone(),
            _server: server,
        }
    }

    /// The agent as `vpcep serve` runs it, following this control plane over HTTP.
    pub fn spawn_agent(&self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(
            Agent::new(AgentConfig {
                control_url: self.url.clone(),
                token: self.token.clone(),
                names: self.names.clone(),
                name: "bench".into(),
            })
            .run(),
        )
    }

    /// A VPC with one subnet: (vpc id, subnet id).
    pub async fn network(&self, name: &str, cidr: &str, sub: &str, gw: &str) -> (String, String) {
        let c = &self.c;
        let v: Value = c
            .post(
                &c.project_path("/vpcs"),
                &json!({"vpc": {"name": name, "cidr": cidr}}),
            )
            .await
            .expect("vpc");
        let vpc = v["vpc"]["id"].as_str().expect("id").to_string();
        let s: Value = c
            .post(
                &c.project_path("/subnets"),
                &json!({"subnet": {"name": name, "cidr": sub, "gateway_ip": gw, "vpc_id": vpc}}),
            )
            .await
            .expect("subnet");
        (vpc, s["subnet"]["id"].as_str().expect("id").to_string())
    }

    /// A lab server with one NIC: (server id, port id).
    pub async fn server(
        &self,
        name: &str,
        vpc: &str,
        subnet: &str,
        ip: &str,
        sg: &[&str],
    ) -> (String, String) {
        let c = &self.c;
        let s: Value = c
            .post(&c.project_path("/lab/servers"), &json!({"server": {"name": name, "vpc_id": vpc, "nics": [{"subnet_id": subnet, "ip_address": ip}], "security_groups": sg}}))
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

    /// Provider VPC 10.0.0.0/16 with server `web` (10.0.0.20, port 80 open to the SNAT range)
    /// behind a VM service without approval mapping `mappings` (protocol, port → same port).
    pub async fn provider_with(&self, mappings: &[&str]) -> Provider {
        let c = &self.c;
        let (pvpc, psub) = self
            .network("prov", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1")
            .await;
        let g: Value = c
            .post(
                &c.project_path("/security-groups"),
                &json!({"security_group": {"name": "b"}}),
            )
            .await
            .expect("sg");
        let sg = g["security_group"]["id"].as_str().expect("id").to_string();
        for proto in mappings {
            let _: Value = c
                .post(&c.project_path("/security-group-rules"), &json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": proto, "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "198.19.128.0/20"}}))
                .await
                .expect("rule");
        }
        let ports: Vec<Value> = mappings
            .iter()
            .map(|p| json!({"client_port": 80, "server_port": 80, "protocol": p.to_uppercase()}))
            .collect();
        let (web, port) = self.server("web", &pvpc, &psub, "10.0.0.20", &[&sg]).await;
        let svc: Value = c
            .post(&c.project_path("/vpc-endpoint-services"), &json!({"port_id": port, "vpc_id": pvpc, "server_type": "VM", "approval_enabled": false, "ports": ports}))
            .await
            .expect("service");
        Provider {
            service: svc["id"].as_str().expect("id").to_string(),
            web,
            vpc: pvpc,
            subnet: psub,
            group: sg,
        }
    }

    /// [`Bench::provider_with`] a TCP 80 mapping: (service id, web server id).
    pub async fn provider(&self) -> (String, String) {
        let p = self.provider_with(&["tcp"]).await;
        (p.service, p.web)
    }

    /// Create an endpoint: (id, ip).
    pub async fn endpoint(&self, service: &str, vpc: &str, subnet: &str) -> (String, String) {
        let c = &self.c;
        let e: Value = c
            .post(
                &c.project_path("/vpc-endpoints"),
                &json!({"endpoint_service_id": service, "vpc_id": vpc, "subnet_id": subnet}),
            )
            .await
            .expect("endpoint");
        (
            e["id"].as_str().expect("id").to_string(),
            e["ip"].as_str().expect("ip").to_string(),
        )
    }

    /// Wait until at least `present` endpoints are `accepted` (listed in pages of 1,000).
    pub async fn wait_accepted(&self, present: usize) {
        let c = &self.c;
        let deadline = Instant::now() + Duration::from_secs(900);
        loop {
            let mut accepted = 0;
            let mut offset = 0;
            loop {
                let v: Value = c
                    .get(
                        &c.project_path("/vpc-endpoints"),
                        &[("limit", "1000".into()), ("offset", offset.to_string())],
                    )
                    .await
                    .expect("list");
                let page = v["endpoints"].as_array().cloned().unwrap_or_default();
                accepted += page.iter().filter(|e| e["status"] == "accepted").count();
                offset += 1000;
                if page.len() < 1000 {
                    break;
                }
            }
            if accepted >= present {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "only {accepted} of {present} accepted"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Wait until lab server `id` is `ACTIVE` (the agent programmed its namespace).
    pub async fn wait_active(&self, id: &str) {
        let c = &self.c;
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let s: Value = c
                .get(&c.project_path(&format!("/lab/servers/{id}")), &[])
                .await
                .expect("server");
            if s["server"]["status"] == "ACTIVE" {
                return;
            }
            assert!(Instant::now() < deadline, "server {id} never ACTIVE: {s}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn teardown(&self) {
        let _ = vpcep_dataplane::kernel::linux::teardown(&self.names).await;
    }
}

/// A benchmark that fails half-way still removes its namespaces (and what runs in them).
impl Drop for Bench {
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir("/run/netns") else {
            return;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if !self.names.owns(&name) {
                continue;
            }
            if let Ok(p) = std::process::Command::new("ip")
                .args(["netns", "pids", &name])
                .output()
            {
                for pid in String::from_utf8_lossy(&p.stdout).split_whitespace() {
                    let _ = std::process::Command::new("kill")
                        .args(["-9", pid])
                        .status();
                }
            }
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", &name])
                .status();
        }
    }
}

/// Start `socat` answering "ok" on TCP 80 inside server namespace `ns` once the agent has
/// given it its NIC (the namespace file appears before the namespace is mounted on it).
pub async fn serve_ok(ns: &str) -> std::process::Child {
    let has_nic = || {
        std::process::Command::new("ip")
            .args(["-n", ns, "link", "show", "eth0"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    while !has_nic() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            "SYSTEM:echo ok",
        ])
        .spawn()
        .expect("socat")
}

/// One TCP request from inside `ns` to `ip:80`; true when "ok" came back.
pub async fn request_ok(ns: &str, ip: &str, timeout: Duration) -> bool {
    let Ok(addr) = format!("{ip}:80").parse::<SocketAddr>() else {
        return false;
    };
    let ns = ns.to_string();
    tokio::task::spawn_blocking(move || {
        in_namespace(&ns, move || {
            let mut s = TcpStream::connect_timeout(&addr, timeout)?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out.contains("ok"))
        })
        .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}
