//! Cutting flows in-process: conntrack entries deleted over ctnetlink must be exactly those of
//! the zone and destination asked for, sockets destroyed over sock_diag exactly those towards
//! the address asked for, and the leg zones and provider tables of the gateways read back as
//! loaded (what an agent recovers when it starts).

use std::collections::BTreeMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use vpcep_dataplane::kernel::linux;
use vpcep_dataplane::kernel::netlink::{NsLink, in_namespace};
use vpcep_dataplane::plan::PROVIDER_TABLE_BASE;
use vpcep_dataplane::plan::desired::{Desired, Versioned};
use vpcep_dataplane::plan::naming::{Namespaces, consumer_leg, provider_leg};

use crate::elements::Ns;
use crate::lab::can_run;

fn has(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// The source ports of the namespace's UDP/TCP conntrack entries (each entry inserted with its
/// own source port, so the port names it).
fn ct_sports(ns: &Ns) -> Vec<u16> {
    let out = ns.run(&["conntrack", "-L"], None);
    let mut ports: Vec<u16> = out
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .find_map(|w| w.strip_prefix("sport="))
                .and_then(|p| p.parse().ok())
        })
        .collect();
    ports.sort_unstable();
    ports
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cut_flows_deletes_exactly_the_zone_and_destination() {
    if !can_run() || !has("conntrack") {
        return;
    }
    let ns = Ns::new("ct");
    // (source port, protocol, destination, how the zone is set)
    let entries: &[(u16, &str, &str, &[&str])] = &[
        (1001, "udp", "10.9.0.5", &["--orig-zone", "7"]), // zone of the original direction
        (1002, "tcp", "10.9.0.5", &["--orig-zone", "7"]),
        (1003, "udp", "10.9.0.5", &["--zone", "7"]), // zone of both directions
        (1004, "udp", "10.9.0.6", &["--orig-zone", "7"]), // other destination
        (1005, "udp", "10.9.0.5", &["--orig-zone", "8"]), // other zone
        (1006, "udp", "10.9.0.5", &[]),              // no zone (0)
        (1007, "udp", "10.9.0.5", &["--reply-zone", "7"]), // zone 7 only in reply direction
    ];
    for (sport, proto, dst, zone) in entries {
        let sport = sport.to_string();
        let mut args = vec![
            "conntrack",
            "-I",
            "-p",
            proto,
            "-s",
            "10.1.0.1",
            "-d",
            dst,
            "--sport",
            &sport,
            "--dport",
            "53",
            "-t",
            "120",
        ];
        if *proto == "tcp" {
            args.extend(["--state", "ESTABLISHED"]);
        }
        args.extend(zone.iter().copied());
        ns.run(&args, None);
    }
    assert_eq!(
        ct_sports(&ns),
        vec![1001, 1002, 1003, 1004, 1005, 1006, 1007]
    );
    linux::cut_flows(&ns.0, 7, "10.9.0.5").await;
    assert_eq!(ct_sports(&ns), vec![1004, 1005, 1006, 1007]);
    // Nothing left to cut: fine, and nothing else goes.
    linux::cut_flows(&ns.0, 7, "10.9.0.5").await;
    assert_eq!(ct_sports(&ns), vec![1004, 1005, 1006, 1007]);
    // Zone 0 is a zone like the others (and a zone set for the reply direction only leaves the
    // original direction in zone 0).
    linux::cut_flows(&ns.0, 0, "10.9.0.5").await;
    assert_eq!(ct_sports(&ns), vec![1004, 1005]);
}

/// A TCP connection from `client` to `ip:port`, the socket living in `client`'s namespace.
fn connect(client: &Ns, ip: &str, port: u16) -> TcpStream {
    let to = format!("{ip}:{port}");
    let s = in_namespace(&client.0, move || TcpStream::connect(to)).expect("connect");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    s
}

/// Whether the connection is still open: a read times out (nothing sent, nothing closed).
fn alive(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 16];
    match s.read(&mut b) {
        Err(e) => matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        Ok(n) => n > 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_sockets_closes_exactly_the_connections_to_the_address() {
    if !can_run() {
        return;
    }
    let client = Ns::new("kc");
    let server = Ns::new("ks");
    client.run(
        &[
            "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1", "netns", &server.0,
        ],
        None,
    );
    client.run(&["ip", "addr", "add", "10.77.0.1/24", "dev", "v0"], None);
    client.run(&["ip", "link", "set", "v0", "up"], None);
    server.run(&["ip", "addr", "add", "10.77.0.2/24", "dev", "v1"], None);
    server.run(&["ip", "addr", "add", "10.77.0.3/24", "dev", "v1"], None);
    server.run(&["ip", "link", "set", "v1", "up"], None);
    let listener = in_namespace(&server.0, || TcpListener::bind("0.0.0.0:7001")).expect("listen");
    let mut doomed = connect(&client, "10.77.0.2", 7001);
    let (mut doomed_peer, _) = listener.accept().expect("accept");
    let mut kept = connect(&client, "10.77.0.3", 7001);
    let (mut kept_peer, _) = listener.accept().expect("accept");
    assert!(alive(&mut doomed) && alive(&mut kept), "both connected");

    linux::kill_sockets(&client.0, "10.77.0.2").await;

    // The destroyed socket reports the abort (or end of stream) at once.
    let mut b = [0u8; 16];
    match doomed.read(&mut b) {
        Ok(0) => {}
        Err(e) => assert!(
            matches!(
                e.kind(),
                ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
            ),
            "destroyed socket: {e}"
        ),
        Ok(n) => panic!("destroyed socket read {n} bytes"),
    }
    let listed = client.run(&["ss", "-tn"], None);
    assert!(
        !listed.contains("10.77.0.2:7001"),
        "still listed:\n{listed}"
    );
    assert!(listed.contains("10.77.0.3:7001"), "other gone:\n{listed}");
    // The peer learns of it (a reset once it writes) ...
    doomed_peer
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let _ = doomed_peer.write_all(b"x");
    // ... and the other connection still carries data both ways.
    kept.write_all(b"ping")
        .expect("write on the kept connection");
    kept_peer
        .set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    let mut got = [0u8; 4];
    kept_peer.read_exact(&mut got).expect("read ping");
    assert_eq!(&got, b"ping");
    kept_peer.write_all(b"pong").expect("write back");
    kept.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    kept.read_exact(&mut got).expect("read pong");
    assert_eq!(&got, b"pong");
    // Nothing towards the address: nothing to do, nothing else touched.
    linux::kill_sockets(&client.0, "10.77.0.2").await;
    kept.write_all(b"ping").expect("write after a second kill");
    kept_peer.read_exact(&mut got).expect("read ping again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leg_zones_read_back_as_loaded() {
    if !can_run() {
        return;
    }
    let ns = Ns::new("lz");
    let mut link = NsLink::open(&ns.0).expect("open");
    // No table yet: an error, not an empty answer.
    assert!(link.leg_zones().await.is_err());
    ns.run(
        &["nft", "-f", "-"],
        Some(
            "table ip vpcep {\n\
             map zone_of_if { typeof iifname : ct zone; \
             elements = { \"c0000aaaa\" : 7, \"c0000bbbbbbbbbb\" : 300 } }\n\
             }\n",
        ),
    );
    assert_eq!(
        link.leg_zones().await.expect("leg zones"),
        BTreeMap::from([
            ("c0000aaaa".to_string(), 7),
            ("c0000bbbbbbbbbb".to_string(), 300)
        ])
    );
}

/// A feed object as the planner reads it (the fields it does not read filled in).
fn versioned<T: serde::de::DeserializeOwned>(mut v: serde_json::Value) -> Versioned<T> {
    let extra = serde_json::json!({"project_id": "p", "generation": 1, "created_ms": 0,
        "updated_ms": 0, "status": "ACTIVE", "name": "n", "description": ""});
    for (k, x) in extra.as_object().into_iter().flatten() {
        if v.get(k).is_none() {
            v[k] = x.clone();
        }
    }
    Versioned {
        generation: 1,
        spec: serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recover_legs_reads_zones_and_provider_tables_of_every_gateway() {
    if !can_run() {
        return;
    }
    let names = Namespaces {
        prefix: format!("vpe{:x}r", std::process::id()),
    };
    // `Ns::new` names are `vpe{pid}{tag}`: these are the gateways of `names`.
    let gw0 = Ns::new("rg-0");
    let gw1 = Ns::new("rg-1");
    assert_eq!(gw0.0, names.gateway(0));
    assert_eq!(gw1.0, names.gateway(1));
    let (vpc_a, vpc_b) = ("0000-vpc-aaaa0001", "0000-vpc-aaaa0002");
    let (s1, s2) = ("0000-sub-bbbb0001", "0000-sub-bbbb0002");
    let mut d = Desired::default();
    for (id, cidr) in [(vpc_a, "10.50.0.0/16"), (vpc_b, "10.60.0.0/16")] {
        d.vpcs.insert(
            id.into(),
            versioned(serde_json::json!({"id": id, "cidr": cidr})),
        );
    }
    for (id, vpc, cidr, gw) in [
        (s1, vpc_a, "10.50.1.0/24", "10.50.1.1"),
        (s2, vpc_b, "10.60.1.0/24", "10.60.1.1"),
    ] {
        let s = serde_json::json!({"id": id, "vpc_id": vpc, "cidr": cidr, "gateway_ip": gw,
            "primary_dns": null, "secondary_dns": null, "dhcp_enable": true,
            "availability_zone": null});
        d.subnets.insert(id.into(), versioned(s));
    }
    let zones = |legs: &[(&str, u16)]| {
        let elems: Vec<String> = legs.iter().map(|(n, z)| format!("\"{n}\" : {z}")).collect();
        format!(
            "table ip vpcep {{\n map zone_of_if {{ typeof iifname : ct zone; \
             elements = {{ {} }} }}\n}}\n",
            elems.join(", ")
        )
    };
    // Gateway 0: subnet 1's leg in zone 7, a leg of no subnet we know; provider VPC a in table
    // index 3 (and routes that are not a provider table's).
    gw0.run(
        &["nft", "-f", "-"],
        Some(&zones(&[
            (&consumer_leg(s1).0, 7),
            (&consumer_leg("0000-sub-ffff0009").0, 9),
        ])),
    );
    let pleg = provider_leg(0, vpc_a).0;
    gw0.run(
        &[
            "ip", "link", "add", &pleg, "type", "veth", "peer", "name", "pother",
        ],
        None,
    );
    gw0.run(&["ip", "link", "set", "pother", "up"], None);
    gw0.run(&["ip", "link", "set", &pleg, "up"], None);
    gw0.run(&["ip", "addr", "add", "169.254.3.1/30", "dev", &pleg], None);
    let table = (PROVIDER_TABLE_BASE + 3).to_string();
    let base = PROVIDER_TABLE_BASE.to_string();
    for (net, table) in [
        ("10.50.0.0/16", table.as_str()),
        ("10.51.0.0/16", "main"),
        ("10.52.0.0/16", base.as_str()),
    ] {
        gw0.run(
            &["ip", "route", "add", net, "dev", &pleg, "table", table],
            None,
        );
    }
    // Gateway 1: subnet 2's leg in zone 300; no provider legs.
    gw1.run(
        &["nft", "-f", "-"],
        Some(&zones(&[(&consumer_leg(s2).0, 300)])),
    );
    let legs = linux::recover_legs(&names, &d).await;
    assert_eq!(
        legs.zones,
        BTreeMap::from([(s1.to_string(), (0, 7)), (s2.to_string(), (1, 300))])
    );
    assert_eq!(
        legs.providers,
        BTreeMap::from([((0, vpc_a.to_string()), 3)])
    );
}
