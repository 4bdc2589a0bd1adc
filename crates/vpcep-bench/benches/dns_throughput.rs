//! P6 (resolver throughput through the lab, root): queries per second answered
//! - from a host of a VPC asking its VPC's resolver (169.254.169.253, the per-VPC view, one hop
//!   through the VPC router), and
//! - from an on-premises site joined to that VPC asking the VPC's DNS endpoint (the built-in DNS
//!   cloud service: consumer bridge, gateway shard DNAT+SNAT, resolver socket in the service's
//!   backend host, answered in the consumer VPC's view through the translated-source map),
//!
//! side by side in one run, rounds alternating so machine noise hits both; medians and their
//! ratio are printed. The resolver, agent and control plane run as in `vpcep serve`.
//!
//!     cargo bench -p vpcep-bench --bench dns_throughput
//!     (VPCEP_BENCH_ROUNDS, VPCEP_BENCH_SECS, VPCEP_BENCH_CLIENTS change the shape)

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use serde_json::{Value, json};

use vpcep_bench::lab::Bench;
use vpcep_test_support::lab::{network, server, wait_server_active};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Answers (NOERROR with one record) to `name` per second from `clients` UDP sockets opened in
/// namespace `ns`, each asking again as soon as it has its answer, for `secs`.
async fn load(ns: &str, server: SocketAddr, name: &str, clients: u64, secs: f64) -> f64 {
    let answered = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let std_sock = vpcep_dataplane::kernel::netlink::in_namespace(ns, move || {
            let s = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            s.connect(server)?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .expect("socket in the namespace");
        let sock = tokio::net::UdpSocket::from_std(std_sock).expect("tokio socket");
        let (answered, name) = (answered.clone(), name.to_string());
        tasks.push(tokio::spawn(async move {
            let mut buf = [0u8; 512];
            let mut id = (c as u16).wrapping_mul(4099);
            while Instant::now() < deadline {
                id = id.wrapping_add(1);
                let mut msg = Message::query();
                msg.metadata.id = id;
                msg.metadata.recursion_desired = true;
                msg.add_query(Query::query(
                    Name::from_ascii(&name).expect("name"),
                    RecordType::A,
                ));
                if sock.send(&msg.to_vec().expect("encode")).await.is_err() {
                    continue;
                }
                if let Ok(Ok(len)) =
                    tokio::time::timeout(Duration::from_millis(500), sock.recv(&mut buf)).await
                    && Message::from_vec(&buf[..len]).is_ok_and(|m| {
                        m.metadata.id == id
                            && m.metadata.response_code == ResponseCode::NoError
                            && m.answers.len() == 1
                    })
                {
                    answered.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    answered.load(Ordering::Relaxed) as f64 / secs
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env("VPCEP_BENCH_ROUNDS", 5);
    let secs = env("VPCEP_BENCH_SECS", 3) as f64;
    let clients = env("VPCEP_BENCH_CLIENTS", 8);
    let b = Bench::start("q").await;
    let builtin = b
        .server
        .control
        .bootstrap_builtin_dns()
        .await
        .expect("built-in DNS service");
    let agent = b.spawn_agent();
    let dns = b.spawn_dns(None);
    let region = b.server.control.settings.region.clone();
    let c = &b.c;
    let cons = network(c, "cons", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let (vpc, subnet) = (cons.vpc.clone(), cons.subnet.clone());
    let (client, _) = server(c, "client", &cons, "10.0.0.20", &[]).await;
    let d: Value = c
        .post(
            &c.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": builtin.service.id, "vpc_id": vpc, "subnet_id": subnet}),
        )
        .await
        .expect("DNS endpoint");
    let dns_ip: Ipv4Addr = d["ip"].as_str().expect("ip").parse().expect("ip");
    let s: Value = c
        .post(
            &c.project_path("/lab/sites"),
            &json!({"site": {"name": "dc", "vpc_id": vpc, "cidr": "172.16.0.0/24"}}),
        )
        .await
        .expect("site");
    let site_id = s["site"]["id"].as_str().expect("site id").to_string();
    b.wait_accepted(1).await;
    wait_server_active(c, &client).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let s: Value = c
            .get(&c.project_path(&format!("/lab/sites/{site_id}")), &[])
            .await
            .expect("site");
        if s["site"]["status"] == "ACTIVE" {
            break;
        }
        assert!(Instant::now() < deadline, "site never ACTIVE: {s}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let host_ns = b.names.server(&client);
    let site_ns = b.names.site(&site_id);
    let name = format!("client.cons.{region}.internal.");
    let resolver = SocketAddr::from((vpcep_dataplane::plan::dns::RESOLVER_ADDR, 53));
    let endpoint = SocketAddr::from((dns_ip, 53));
    // Both paths answer before measuring (sockets open, names in the views).
    let ready = Instant::now();
    while load(&host_ns, resolver, &name, 1, 0.05).await == 0.0
        || load(&site_ns, endpoint, &name, 1, 0.05).await == 0.0
    {
        assert!(
            ready.elapsed() < Duration::from_secs(30),
            "no answers from the resolver or through the DNS endpoint"
        );
    }
    let (mut direct, mut through) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        direct.push(load(&host_ns, resolver, &name, clients, secs).await);
        through.push(load(&site_ns, endpoint, &name, clients, secs).await);
    }
    let (d, t) = (median(&mut direct), median(&mut through));
    println!(
        "P6 resolver through the lab ({clients} clients, {rounds} rounds of {secs} s, medians): host → its VPC's resolver {d:.0} q/s; site → the VPC's DNS endpoint {t:.0} q/s; ratio {:.2}",
        t / d
    );
    b.stop(dns).await;
    b.stop(agent).await;
    b.teardown().await;
}
