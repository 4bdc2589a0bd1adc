//! Shared set-up of the data-plane benchmarks: a control plane in-process on SQLite, an account,
//! a provider VPC whose server answers on TCP 80 behind an endpoint service (approval off), and
//! helpers that make consumer networks and connect from inside a namespace without spawning a
//! process (so the measurement is the data plane's, not `fork`'s).

use std::io::Read;
use std::net::{SocketAddr, TcpStream};

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_client::Client;
use vpcep_control::Settings;
use vpcep_dataplane::kernel::netlink::in_namespace;
use vpcep_test_support::lab::{Lab, Net, Running, backend_group, network, server, vm_service_on};

pub struct Provider {
    pub service: String,
    pub web: String,
    pub net: Net,
    /// The web server's security group (members reach each other on any port).
    pub group: String,
}

/// The shared lab (`vpcep-test-support`: control plane, namespaces removed on drop) and the
/// bench account's client.
pub struct Bench {
    lab: Lab,
    pub c: Client,
}

impl std::ops::Deref for Bench {
    type Target = Lab;
    fn deref(&self) -> &Lab {
        &self.lab
    }
}

/// The `p` quantile (0..=1) of `v` (sorted in place); zero when `v` is empty.
pub fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    if v.is_empty() {
        return Duration::ZERO;
    }
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// The median of `v` (sorted in place; the mean of the middle two for an even count); NaN when `v` is empty (a missing figure shows as such).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let m = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[m - 1] + v[m]) / 2.0
    } else {
        v[m]
    }
}

impl Bench {
    /// The lab's agent, reporting usage at the production interval: the test labs report every
    /// 500 ms so tests see bills at once, and reading every counter of 10,000 endpoints that
    /// often takes most of a core here (P6's name propagation went from ~12 ms to ~400 ms).
    /// Stop it with [`Bench::stop`] before the teardown.
    pub fn spawn_agent(&self) -> Running {
        self.lab
            .start_agent_reporting_every(vpcep_dataplane::agent::usage::USAGE_EVERY)
    }

    /// Stop `task` (the agent, private DNS) and wait until it has ended. Aborting it instead
    /// is not enough before a teardown: a converge running on the other worker thread, or a
    /// namespace creation in a blocking task, outlives the abort and recreates namespaces the
    /// teardown removed (seen in CI: five `vbd…` namespaces left after a quick P6 run).
    pub async fn stop(&self, task: Running) {
        if let Err(e) = task.stop().await {
            panic!(
                "{}: {e} (its namespaces may outlive the teardown)",
                self.names.prefix
            );
        }
    }

    /// A lab with namespaces `vb{tag}…` and room for many endpoints.
    pub async fn start(tag: &str) -> Bench {
        Self::start_with(tag, Settings::default()).await
    }

    /// [`Bench::start`] with `settings` (its quotas aside), e.g. a flow directory.
    pub async fn start_with(tag: &str, settings: Settings) -> Bench {
        let settings = Settings {
            default_quotas: vpcep_core::model::Quotas {
                endpoint_service: 10,
                endpoint: 1_000_000,
            },
            ..settings
        };
        let lab = Lab::start(&format!("vb{tag}"), settings).await;
        let c = lab.account("bench").await;
        Bench { lab, c }
    }

    /// Provider VPC 10.0.0.0/16 with server `web` (10.0.0.20, port 80 open to the SNAT range)
    /// behind a VM service without approval mapping `mappings` (protocol, port → same port).
    pub async fn provider_with(&self, mappings: &[&str]) -> Provider {
        let c = &self.c;
        let net = network(c, "prov", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
        let rules: Vec<(&str, u16)> = mappings.iter().map(|p| (*p, 80)).collect();
        let group = backend_group(c, &rules).await;
        let ports: Vec<Value> = mappings
            .iter()
            .map(|p| json!({"client_port": 80, "server_port": 80, "protocol": p.to_uppercase()}))
            .collect();
        let (web, port) = server(c, "web", &net, "10.0.0.20", &[&group]).await;
        let service = vm_service_on(c, &port, &net.vpc, json!(ports)).await;
        Provider {
            service,
            web,
            net,
            group,
        }
    }

    /// [`Bench::provider_with`] a TCP 80 mapping: (service id, web server id).
    pub async fn provider(&self) -> (String, String) {
        let p = self.provider_with(&["tcp"]).await;
        (p.service, p.web)
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
    request_try(ns, ip, timeout).await.is_ok()
}

/// One try of [`request_ok`]: how it failed, if it did (the step and the error), for the
/// benches that explain a slow sample.
pub async fn request_try(ns: &str, ip: &str, timeout: Duration) -> Result<(), String> {
    let Ok(addr) = format!("{ip}:80").parse::<SocketAddr>() else {
        return Err(format!("not an address: {ip}"));
    };
    let ns = ns.to_string();
    tokio::task::spawn_blocking(move || {
        in_namespace(&ns, move || {
            let step = |what: &'static str| {
                move |e: std::io::Error| std::io::Error::other(format!("{what}: {e}"))
            };
            let mut s = TcpStream::connect_timeout(&addr, timeout).map_err(step("connect"))?;
            s.set_read_timeout(Some(Duration::from_secs(2)))?;
            let mut out = String::new();
            s.read_to_string(&mut out).map_err(step("read"))?;
            if out.contains("ok") {
                Ok(())
            } else {
                Err(std::io::Error::other(format!("read: answered {out:?}")))
            }
        })
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// iperf3 from `ns` to `ip:80` for `seconds`; bits per second received.
pub fn iperf(ns: &str, ip: &str, seconds: &str, extra: &[&str]) -> f64 {
    let out = std::process::Command::new("ip")
        .args([
            "netns", "exec", ns, "iperf3", "-J", "-c", ip, "-p", "80", "-t", seconds,
        ])
        .args(extra)
        .output()
        .expect("iperf3");
    let v: Value = serde_json::from_slice(&out.stdout).expect("iperf3 json");
    let end = &v["end"];
    end["sum_received"]["bits_per_second"]
        .as_f64()
        .or_else(|| end["sum"]["bits_per_second"].as_f64())
        .unwrap_or_else(|| panic!("no iperf3 result: {v}"))
}

/// New TCP connections per second from `ns` to `addr` (connect, one byte back, close) for
/// `seconds`.
pub fn connection_rate(ns: &str, addr: SocketAddr, seconds: u64) -> f64 {
    in_namespace(ns, move || {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_secs(seconds) {
            let mut s = TcpStream::connect(addr)?;
            let mut b = [0u8; 1];
            s.read_exact(&mut b)?;
            n += 1;
        }
        Ok(n as f64 / start.elapsed().as_secs_f64())
    })
    .expect("connections")
}

/// In `ns`: accept on :80, send one byte, close (the connection-storm benches' server).
pub fn greeter(ns: &str) {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        let _ = in_namespace(&ns, || {
            let l = std::net::TcpListener::bind("0.0.0.0:80")?;
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let _ = std::io::Write::write_all(&mut s, b"!");
            }
            Ok(())
        });
    });
}
