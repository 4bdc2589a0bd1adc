//! The end-to-end scenarios, through the public API.

use serde_json::{Value, json};

use crate::lab::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_backed_service_carries_http_and_member_sees_snat_source() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let alice = lab.account("alice").await;
    let a = &alice;

    // Provider: a member behind a load balancer, its group allowing the SNAT range on 8080.
    let prov = network(a, "prov", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let sg = backend_group(a, &[("tcp", 8080)]).await;
    let (web, _) = server(a, "web", &prov, "192.168.0.10", &[&sg]).await;
    let lb: Value = a
        .post(
            &a.project_path("/lab/loadbalancers"),
            &json!({"loadbalancer": {"name": "elb", "vpc_id": prov.vpc, "subnet_id": prov.subnet, "vip_address": "192.168.0.100",
                "listeners": [{"protocol": "TCP", "port": 80, "members": [{"address": "192.168.0.10", "port": 8080}]}]}}),
        )
        .await
        .expect("lb");
    let vip_port = lb["loadbalancer"]["vip_port_id"]
        .as_str()
        .expect("vip")
        .to_string();
    // Consumer: the very same CIDR, a client host.
    let cons = network(a, "cons", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let (client, _) = server(a, "client", &cons, "192.168.0.10", &[]).await;

    let web_ns = lab.names.server(&web);
    let client_ns = lab.names.server(&client);
    lab.namespace(&web_ns).await;
    lab.namespace(&client_ns).await;
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:8080,fork,reuseaddr",
            "SYSTEM:echo member sees $SOCAT_PEERADDR",
        ],
    );

    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": vip_port, "vpc_id": prov.vpc, "server_type": "LB", "service_name": "web",
                "approval_enabled": false, "ports": [{"client_port": 80, "server_port": 80, "protocol": "TCP"}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    wait_for("service available", || async {
        status_of(a, &format!("/vpc-endpoint-services/{sid}")).await == "available"
    })
    .await;

    let started = std::time::Instant::now();
    let ep: Value = a
        .post(
            &a.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": sid, "vpc_id": cons.vpc, "subnet_id": cons.subnet}),
        )
        .await
        .expect("endpoint");
    let eid = ep["id"].as_str().expect("id").to_string();
    let ip = ep["ip"].as_str().expect("ip").to_string();
    wait_for("endpoint accepted", || async {
        status_of(a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    let (ok, out) = tcp_request(&client_ns, &ip, 80).await;
    eprintln!(
        "create → accepted → first response: {:?}",
        started.elapsed()
    );
    assert!(ok, "request through the endpoint failed: {out}");
    assert!(
        out.starts_with("member sees 198.19.1"),
        "the member must see a 198.19.128.0/20 source, got {out:?}"
    );

    // Nothing but mapped ports.
    let (ok, _) = tcp_request(&client_ns, &ip, 22).await;
    assert!(!ok, "an unmapped port must not connect");

    // Delete: traffic stops, the record goes, the gateway is removed with its last endpoint.
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoints/{eid}")))
            .await
            .expect("delete"),
        204
    );
    wait_for("endpoint gone", || async {
        status_of(a, &format!("/vpc-endpoints/{eid}"))
            .await
            .starts_with("error")
    })
    .await;
    let (ok, _) = tcp_request(&client_ns, &ip, 80).await;
    assert!(!ok, "a deleted endpoint carries nothing");
}
