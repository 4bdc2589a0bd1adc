//! P1/P4 benchmark (root): with N endpoints already present (default 1,000; set
//! VPCEP_BENCH_PRESENT), create 20 more one at a time (approval off) and time
//!   * create call → `accepted` (the agent has programmed it: P4's upper bound), and
//!   * create call → first successful TCP connection through it (P1).
//!
//! Runs in namespaces with a unique prefix and removes them at the end.
//!
//!     cargo bench -p vpcep-dataplane --bench create_to_traffic

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_api::AppState;
use vpcep_client::Client;
use vpcep_control::{Control, Settings};
use vpcep_dataplane::agent::{Agent, AgentConfig};
use vpcep_dataplane::naming::Namespaces;
use vpcep_store::{SharedStore, SqlStore};

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn ip(args: &[&str]) -> bool {
    tokio::process::Command::new("ip")
        .args(args)
        .output()
        .await
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let present: usize = std::env::var("VPCEP_BENCH_PRESENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("tempdir");
    let store: SharedStore = Arc::new(
        SqlStore::open_sqlite(&dir.path().join("b.db"))
            .await
            .expect("store"),
    );
    let (secrets, _) = vpcep_auth::SecretBox::generate().expect("key");
    let settings = Settings {
        default_quotas: vpcep_core::model::Quotas {
            endpoint_service: 10,
            endpoint: 1_000_000,
        },
        ..Settings::default()
    };
    let control = Control::new(store, settings, secrets);
    let app = vpcep_api::router(AppState {
        control: control.clone(),
        agent_token: Arc::new("b".into()),
        started: Instant::now(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let names = Namespaces {
        prefix: format!("vpb{}-", std::process::id() % 10000),
    };
    let agent = tokio::spawn(
        Agent::new(AgentConfig {
            control_url: url.clone(),
            token: "b".into(),
            names: names.clone(),
            name: "bench".into(),
        })
        .run(),
    );
    let acc = control
        .create_account("bench", None)
        .await
        .expect("account");
    let c = Client::new(&url, &acc.access_key, &acc.secret_key, &acc.project_id).expect("client");

    let mk_net = |name: &str, cidr: &str, sub: &str, gw: &str| {
        let (c, name, cidr, sub, gw) = (
            c.clone(),
            name.to_string(),
            cidr.to_string(),
            sub.to_string(),
            gw.to_string(),
        );
        async move {
            let v: Value = c
                .post(
                    &c.project_path("/vpcs"),
                    &json!({"vpc": {"name": name, "cidr": cidr}}),
                )
                .await
                .expect("vpc");
            let vpc = v["vpc"]["id"].as_str().expect("id").to_string();
            let s: Value = c
                .post(&c.project_path("/subnets"), &json!({"subnet": {"name": name, "cidr": sub, "gateway_ip": gw, "vpc_id": vpc}}))
                .await
                .expect("subnet");
            (vpc, s["subnet"]["id"].as_str().expect("id").to_string())
        }
    };
    let (pvpc, psub) = mk_net("prov", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let g: Value = c
        .post(
            &c.project_path("/security-groups"),
            &json!({"security_group": {"name": "b"}}),
        )
        .await
        .expect("sg");
    let sg = g["security_group"]["id"].as_str().expect("id").to_string();
    let _: Value = c
        .post(&c.project_path("/security-group-rules"), &json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "198.19.128.0/20"}}))
        .await
        .expect("rule");
    let web: Value = c
        .post(&c.project_path("/lab/servers"), &json!({"server": {"name": "web", "vpc_id": pvpc, "nics": [{"subnet_id": psub, "ip_address": "10.0.0.20"}], "security_groups": [sg]}}))
        .await
        .expect("web");
    let svc: Value = c
        .post(&c.project_path("/vpc-endpoint-services"), &json!({"port_id": web["server"]["nics"][0]["port_id"], "vpc_id": pvpc, "server_type": "VM", "approval_enabled": false, "ports": [{"client_port": 80, "server_port": 80}]}))
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    // One consumer VPC with a big subnet holding every endpoint (one shard, one zone).
    let (cvpc, csub) = mk_net("cons", "10.0.0.0/8", "10.0.0.0/14", "10.0.0.1").await;
    let client: Value = c
        .post(&c.project_path("/lab/servers"), &json!({"server": {"name": "client", "vpc_id": cvpc, "nics": [{"subnet_id": csub, "ip_address": "10.3.255.250"}]}}))
        .await
        .expect("client");
    let web_ns = names.server(web["server"]["id"].as_str().expect("id"));
    let client_ns = names.server(client["server"]["id"].as_str().expect("id"));
    while !ip(&["-n", &web_ns, "link", "show", "eth0"]).await {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut srv = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &web_ns,
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            "SYSTEM:echo ok",
        ])
        .spawn()
        .expect("socat");
    let create = |c: Client, sid: String, vpc: String, sub: String| async move {
        let e: Value = c
            .post(
                &c.project_path("/vpc-endpoints"),
                &json!({"endpoint_service_id": sid, "vpc_id": vpc, "subnet_id": sub}),
            )
            .await
            .expect("endpoint");
        (
            e["id"].as_str().expect("id").to_string(),
            e["ip"].as_str().expect("ip").to_string(),
        )
    };
    let started = Instant::now();
    for chunk in (0..present).collect::<Vec<_>>().chunks(50) {
        futures_util::future::join_all(
            chunk
                .iter()
                .map(|_| create(c.clone(), sid.clone(), cvpc.clone(), csub.clone())),
        )
        .await;
    }
    // Wait for all present to be accepted (pages of 1000).
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
        if accepted == present {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "only {accepted} of {present} accepted"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "{present} endpoints present (created and programmed in {:.1?})",
        started.elapsed()
    );
    let mut to_accepted = vec![];
    let mut to_traffic = vec![];
    for _ in 0..20 {
        let t = Instant::now();
        let (eid, eip) = create(c.clone(), sid.clone(), cvpc.clone(), csub.clone()).await;
        loop {
            let v: Value = c
                .get(&c.project_path(&format!("/vpc-endpoints/{eid}")), &[])
                .await
                .expect("get");
            if v["status"] == "accepted" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        to_accepted.push(t.elapsed());
        loop {
            let ok = tokio::process::Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &client_ns,
                    "socat",
                    "-u",
                    &format!("TCP:{eip}:80,connect-timeout=1"),
                    "STDOUT",
                ])
                .output()
                .await
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ok {
                break;
            }
        }
        to_traffic.push(t.elapsed());
    }
    println!(
        "create → accepted (programmed): p50 {:.1?} p99 {:.1?}",
        pct(&mut to_accepted, 0.5),
        pct(&mut to_accepted, 0.99)
    );
    println!(
        "P1 create → first TCP connection: p50 {:.1?} p99 {:.1?} (target p50 ≤ 20 ms, p99 ≤ 100 ms)",
        pct(&mut to_traffic, 0.5),
        pct(&mut to_traffic, 0.99)
    );
    let _ = srv.kill();
    let _ = srv.wait();
    agent.abort();
    let _ = vpcep_dataplane::linux::teardown(&names).await;
}
