//! Sites (SPEC S8, "private DNS" item 4): an on-premises network joined to a VPC by VPN reaches
//! that VPC's endpoints (TCP and UDP) with the isolation a host of the VPC has: a site of
//! another VPC with the very same CIDRs does not reach them, nothing beyond the mapped ports,
//! and a rejected or deleted endpoint carries nothing from the site either.

use serde_json::{Value, json};
use vpcep_client::services::ConnectionAction;

use crate::lab::*;

/// One UDP exchange, asked up to three times (a datagram or its answer may be lost).
async fn udp_request(ns: &str, ip: &str, port: u16) -> (bool, String) {
    let mut r = (false, String::new());
    for _ in 0..3 {
        r = exec_in(
            ns,
            &[
                "sh",
                "-c",
                &format!("echo hi | timeout 4 socat -T2 - UDP:{ip}:{port}"),
            ],
        )
        .await;
        if r.0 && !r.1.is_empty() {
            break;
        }
    }
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_reaches_its_vpcs_endpoint_and_only_its_own() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let alice = lab.account("alice").await;
    let a = &alice;

    // Provider: a VM backend, TCP 8080 and UDP 5353 open to the SNAT range.
    let prov = network(a, "prov", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let sg = backend_group(a, &[("tcp", 8080), ("udp", 5353)]).await;
    let (web, web_port) = server(a, "web", &prov, "192.168.0.20", &[&sg]).await;
    let web_ns = lab.names.server(&web);
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:8080,fork,reuseaddr",
            "SYSTEM:echo tcp from $SOCAT_PEERADDR",
        ],
    )
    .await;
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "UDP-RECVFROM:5353,fork",
            "SYSTEM:echo udp from $SOCAT_PEERADDR",
        ],
    )
    .await;
    let svc: Value = a
        .post(
            &a.project_path("/vpc-endpoint-services"),
            &json!({"port_id": web_port, "vpc_id": prov.vpc, "server_type": "VM", "service_name": "web",
                "approval_enabled": false, "ports": [
                    {"client_port": 80, "server_port": 8080, "protocol": "TCP"},
                    {"client_port": 53, "server_port": 5353, "protocol": "UDP"}]}),
        )
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    wait_for("service available", || async {
        status_of(a, &format!("/vpc-endpoint-services/{sid}")).await == "available"
    })
    .await;

    // Consumers A and B: identical VPC CIDRs, identical site CIDRs.
    let cons_a = network(a, "a", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let cons_b = network(a, "b", "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let site_a = site(&lab, a, "site-a", &cons_a, "172.16.0.0/24").await;
    let site_b = site(&lab, a, "site-b", &cons_b, "172.16.0.0/24").await;
    // A host of A, for comparison.
    let (client, _) = server(a, "client", &cons_a, "192.168.0.10", &[]).await;
    let client_ns = lab.names.server(&client);
    lab.namespace(&client_ns).await;

    let accepted = |e: String| async move {
        wait_for("endpoint accepted", || async {
            status_of(a, &format!("/vpc-endpoints/{e}")).await == "accepted"
        })
        .await;
    };
    let (ea, ip_a) = create_endpoint(a, &sid, &cons_a).await;
    accepted(ea.clone()).await;

    // The site host (172.16.0.1) reaches the service through A's endpoint, TCP and UDP; the
    // backend sees a translated source, the same as A's own host gets.
    let (ok, from_site) = first_success(&site_a, &ip_a, 80).await;
    assert!(
        ok && from_site.starts_with("tcp from 198.19.1"),
        "a site of A reaches A's endpoint, the backend seeing 198.19.128.0/20: {from_site:?}"
    );
    let (ok, from_host) = first_success(&client_ns, &ip_a, 80).await;
    assert!(ok, "a host of A reaches A's endpoint: {from_host}");
    assert_eq!(from_site, from_host, "the site and the host share A's leg");
    let (ok, out) = udp_request(&site_a, &ip_a, 53).await;
    assert!(
        ok && out.starts_with("udp from 198.19.1"),
        "UDP from the site through the endpoint: {out:?}"
    );
    // Nothing but the mapped ports.
    assert!(
        !tcp_request(&site_a, &ip_a, 8080).await.0,
        "an unmapped port must not connect from the site"
    );
    // B's site, identical CIDRs: A's endpoint is not there for it.
    assert!(
        !tcp_request(&site_b, &ip_a, 80).await.0,
        "a site of another VPC must not reach A's endpoint"
    );

    // B's own endpoint works for B's site, with B's own translated source.
    let (eb, ip_b) = create_endpoint(a, &sid, &cons_b).await;
    accepted(eb.clone()).await;
    let (ok, from_b) = first_success(&site_b, &ip_b, 80).await;
    assert!(
        ok && from_b.starts_with("tcp from 198.19.1"),
        "B's site reaches B's endpoint: {from_b:?}"
    );
    assert_ne!(from_b, from_site, "B's site comes through B's leg");

    // Rejected: A's site connects no more; B's is unaffected.
    a.connection_action(&sid, ConnectionAction::Reject, &ea)
        .await
        .expect("reject");
    wait_for(
        "A's endpoint rejected carries nothing from its site",
        || async { !tcp_request(&site_a, &ip_a, 80).await.0 },
    )
    .await;
    assert!(
        tcp_request(&site_b, &ip_b, 80).await.0,
        "B's site is unaffected by A's reject"
    );

    // Deleted: B's site connects no more.
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoints/{eb}")))
            .await
            .expect("delete"),
        204
    );
    wait_gone(a, &format!("/vpc-endpoints/{eb}")).await;
    assert!(
        !tcp_request(&site_b, &ip_b, 80).await.0,
        "a deleted endpoint carries nothing from the site"
    );
}
