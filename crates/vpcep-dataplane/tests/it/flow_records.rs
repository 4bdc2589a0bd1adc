//! Flow records end to end (docs/flows.md): two consumer projects with identical CIDRs and
//! identical client addresses connect through their endpoints of one service; each connection's
//! start and end records name the right consumer project, endpoint, source, translated
//! (198.19.128.0/20) and backend addresses, and the bytes each way. The service's owner reads
//! all of them, finds a consumer by the translated address a backend logged, an endpoint's owner
//! reads only their own, and a connection cut by a reject ends with reason `cut`.

use std::net::SocketAddrV4;

use vpcep_client::params::FlowFilter;
use vpcep_client::services::ConnectionAction;
use vpcep_core::flows::{EndReason, FlowEvent, FlowRecord};

use crate::lab::*;

/// Bytes each client sends and the backend answers with.
const UP: u64 = 50_000;
const DOWN: u64 = 70_000;

/// One exchange from `ns` through `ip`:80 from source port `sport`: UP bytes up, DOWN back.
async fn exchange(ns: &str, ip: &str, sport: u16) {
    let script = format!(
        "head -c {UP} /dev/zero | timeout 10 socat -t 5 - TCP:{ip}:80,connect-timeout=2,sourceport={sport},reuseaddr | wc -c"
    );
    let (ok, out) = exec_in(ns, &["sh", "-c", &script]).await;
    assert!(
        ok && out.trim() == DOWN.to_string(),
        "exchange through {ip} from :{sport}: {out:?}"
    );
}

/// Every record of service `sid` its owner can read (all pages).
async fn all(c: &vpcep_client::Client, sid: &str, f: FlowFilter) -> Vec<FlowRecord> {
    let mut out = Vec::new();
    let mut f = FlowFilter {
        limit: Some(2),
        ..f
    };
    loop {
        let p = c.service_flows(sid, &f).await.expect("flows");
        out.extend(p.flows);
        match p.next_marker {
            Some(m) => f.marker = Some(m),
            None => return out,
        }
    }
}

fn of(records: &[FlowRecord], source: &str, event: FlowEvent) -> Option<FlowRecord> {
    let source: SocketAddrV4 = source.parse().expect("addr");
    records
        .iter()
        .find(|r| r.source == Some(source) && r.event == event)
        .cloned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_name_consumer_endpoint_and_both_sides_of_the_nat() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let mut lab = Lab::start_with(vpcep_control::Settings {
        flow_dir: Some(dir.path().join("flows")),
        ..Default::default()
    })
    .await;
    let alice = lab.account("alice").await;
    let bob = lab.account("bob").await;
    let bob_domain = lab.domain_id("bob").await;
    // Alice offers the service and consumes it from her own VPC; Bob's VPC has the same CIDR
    // and his client the same address as hers.
    let v = vm_service(&alice, "10.7.0", "10.7.0.0/16").await;
    let bob_net = network(&bob, "cons", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let (bob_client, _) = server(&bob, "client", &bob_net, "10.7.0.20", &[]).await;
    alice
        .add_permissions(
            &v.service,
            "domainId",
            &[(format!("iam:domain::{bob_domain}"), "bob".into())],
        )
        .await
        .expect("whitelist");
    let web_ns = lab.names.server(&v.web);
    let serve = format!("wc -c >/dev/null; head -c {DOWN} /dev/zero");
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            &format!("SYSTEM:{serve}"),
        ],
    )
    .await;
    let (a_ep, a_ip) = create_endpoint(&alice, &v.service, &v.consumer).await;
    let (b_ep, b_ip) = create_endpoint(&bob, &v.service, &bob_net).await;
    for (c, e) in [(&alice, &a_ep), (&bob, &b_ep)] {
        wait_for("accepted", || async {
            status_of(c, &format!("/vpc-endpoints/{e}")).await == "accepted"
        })
        .await;
    }
    let (a_ns, b_ns) = (lab.names.server(&v.client), lab.names.server(&bob_client));
    lab.namespace(&a_ns).await;
    lab.namespace(&b_ns).await;
    // Conntrack forgets a closed TCP connection when its TIME_WAIT (120 s by default) ends, and
    // that is when the end record is written: shortened here so the test need not wait.
    let gw = lab.names.gateway(0);
    let (ok, out) = exec_in(
        &gw,
        &[
            "sysctl",
            "-w",
            "net.netfilter.nf_conntrack_tcp_timeout_time_wait=1",
        ],
    )
    .await;
    assert!(ok, "time_wait: {out}");
    exchange(&a_ns, &a_ip, 41001).await;
    exchange(&b_ns, &b_ip, 41002).await;

    let (a_src, b_src) = ("10.7.0.20:41001", "10.7.0.20:41002");
    let mut records = Vec::new();
    wait_for("start and end records of both connections", async || {
        records = all(&alice, &v.service, FlowFilter::default()).await;
        [a_src, b_src]
            .iter()
            .all(|s| of(&records, s, FlowEvent::End).is_some())
    })
    .await;
    let backend: SocketAddrV4 = "10.7.0.10:80".parse().expect("addr");
    let snat = vpcep_core::validate::snat_range();
    let mut translated = Vec::new();
    for (src, ep, ip, project) in [
        (a_src, &a_ep, &a_ip, &alice.project_id),
        (b_src, &b_ep, &b_ip, &bob.project_id),
    ] {
        let start = of(&records, src, FlowEvent::Start).expect("start record");
        let end = of(&records, src, FlowEvent::End).expect("end record");
        for r in [&start, &end] {
            assert_eq!(&r.endpoint_id, ep, "{r:?}");
            assert_eq!(&r.project_id, project, "{r:?}");
            assert_eq!(r.service_id, v.service);
            assert_eq!(r.service_project_id, alice.project_id);
            assert_eq!(r.protocol, "tcp");
            assert_eq!(r.endpoint, Some(format!("{ip}:80").parse().expect("addr")));
            assert_eq!(r.backend, Some(backend), "{r:?}");
            let t = r.translated.expect("translated");
            assert!(snat.contains(t.ip()), "{t} in 198.19.128.0/20");
        }
        assert_eq!(start.translated, end.translated);
        assert_eq!(start.conntrack_id, end.conntrack_id);
        assert!(start.seq < end.seq && start.time_ns <= end.time_ns);
        // The kernel stamps the start when it confirms the entry and reports it with the
        // DESTROY event only: the start record carries when its NEW event was read, just after.
        let started = end.started_ns.expect("timestamps on");
        assert!(started <= start.time_ns && start.time_ns - started < 1_000_000_000);
        // IP bytes: the payload and at most 60 bytes of headers per packet (a SYN: IP 20, TCP
        // 40 with its options).
        let (up, down) = (end.to_backend.expect("up"), end.to_consumer.expect("down"));
        assert!(up.bytes >= UP && up.bytes <= UP + 60 * up.packets, "{up:?}");
        assert!(
            down.bytes >= DOWN && down.bytes <= DOWN + 60 * down.packets,
            "{down:?}"
        );
        assert_eq!(end.end_reason, Some(EndReason::Closed), "{end:?}");
        translated.push(start.translated.expect("translated"));
    }
    assert_ne!(
        translated[0].ip(),
        translated[1].ip(),
        "one SNAT address per consumer leg"
    );
    assert!(
        !records.iter().any(|r| r.event == FlowEvent::Overrun),
        "no events lost"
    );

    // A backend owner who logged Bob's translated source finds him in one query.
    let found = all(
        &alice,
        &v.service,
        FlowFilter {
            translated: Some(translated[1].to_string()),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(
        found
            .iter()
            .all(|r| r.project_id == bob.project_id && r.endpoint_id == b_ep)
    );

    // Bob reads his endpoint's records only; Alice's endpoint and service are not his.
    let mine = bob
        .endpoint_flows(&b_ep, &FlowFilter::default())
        .await
        .expect("own endpoint");
    assert_eq!(mine.flows.len(), 2);
    assert!(mine.flows.iter().all(|r| r.endpoint_id == b_ep));
    for refused in [
        bob.endpoint_flows(&a_ep, &FlowFilter::default())
            .await
            .err(),
        bob.service_flows(&v.service, &FlowFilter::default())
            .await
            .err(),
    ] {
        assert_eq!(refused.and_then(|e| e.status()), Some(404));
    }
    let bad = alice
        .service_flows(
            &v.service,
            &FlowFilter {
                from: Some("yesterday".into()),
                ..Default::default()
            },
        )
        .await
        .expect_err("bad time");
    assert_eq!(bad.status(), Some(400));

    // A connection still open when its endpoint is rejected ends as cut.
    let script = format!("sleep 60 | socat - TCP:{b_ip}:80,sourceport=41003,reuseaddr");
    lab.spawn_in(&b_ns, &["sh", "-c", &script]).await;
    let long = "10.7.0.20:41003";
    wait_for("the long connection's start record", || async {
        let r = bob
            .endpoint_flows(&b_ep, &FlowFilter::default())
            .await
            .expect("flows");
        of(&r.flows, long, FlowEvent::Start).is_some()
    })
    .await;
    alice
        .connection_action(&v.service, ConnectionAction::Reject, &b_ep)
        .await
        .expect("reject");
    let mut end = None;
    wait_for("the cut connection's end record", async || {
        let r = all(&alice, &v.service, FlowFilter::default()).await;
        end = of(&r, long, FlowEvent::End);
        end.is_some()
    })
    .await;
    let end = end.expect("end");
    assert_eq!(end.end_reason, Some(EndReason::Cut), "{end:?}");
    assert!(end.tcp_state.is_some(), "{end:?}");
    assert_eq!(end.project_id, bob.project_id);
}
