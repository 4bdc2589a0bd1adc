//! Private DNS end to end (root): the resolver each VPC reaches at 169.254.169.253, names that
//! follow the endpoint's real state, per-VPC views with identical CIDRs, and the DNS cloud
//! service used from an on-premises site. Queries are made with `dig` and `getent` from inside
//! the lab hosts, as a user would (`vpcep lab exec HOST -- dig NAME`).

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vpcep_client::services::ConnectionAction;

use crate::lab::{
    Lab, Net, backend_group, can_run, exec_in, first_success, network, server, site, status_of,
    wait_for,
};

/// `dig`'s verdict on `name` (type A) from inside `ns`, at `server` when given (else the host's
/// resolv.conf): (status, addresses).
async fn dig(ns: &str, name: &str, server: Option<&str>, tcp: bool) -> (String, Vec<String>) {
    let mut args = vec![
        "dig",
        "+time=2",
        "+tries=1",
        "+noall",
        "+comments",
        "+answer",
    ];
    if tcp {
        args.push("+tcp");
    }
    let at = server.map(|s| format!("@{s}"));
    if let Some(at) = &at {
        args.push(at);
    }
    args.push(name);
    args.push("A");
    let (_, out) = exec_in(ns, &args).await;
    let status = out
        .split("status: ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .unwrap_or("no answer")
        .to_string();
    // `name. TTL IN A address` (dig pads with tabs, or one space after a long name).
    let ips = out
        .lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [_, _, "IN", "A", ip] => Some(ip.to_string()),
            _ => None,
        })
        .collect();
    (status, ips)
}

fn have_dig() -> bool {
    let ok = std::process::Command::new("dig")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: needs dig (Debian dnsutils)");
    }
    ok
}

/// Wait until `name` resolves in `ns` to exactly `ip` (or, with `None`, is NXDOMAIN).
async fn wait_answer(ns: &str, name: &str, ip: Option<&str>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = (String::new(), vec![]);
    while Instant::now() < deadline {
        last = dig(ns, name, None, false).await;
        let (status, ips) = &last;
        let done = match ip {
            Some(ip) => status == "NOERROR" && ips == &[ip.to_string()],
            None => status == "NXDOMAIN",
        };
        if done {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let prefix = ns.split('-').next().unwrap_or_default();
    let mut sockets = String::new();
    for r in std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
    {
        let n = r.file_name().to_string_lossy().into_owned();
        if n.starts_with(&format!("{prefix}-r-")) {
            let (_, out) = exec_in(&n, &["ss", "-lnu"]).await;
            let local = dig(&n, name, Some("169.254.169.253"), false).await;
            sockets += &format!("{n}: {out}\n  asked from inside: {local:?}\n");
        }
    }
    let tcp = dig(ns, name, None, true).await;
    let (_, rules) = exec_in(ns, &["nft", "list", "ruleset"]).await;
    let (_, routes) = exec_in(ns, &["ip", "route"]).await;
    panic!(
        "{name} in {ns}: wanted {ip:?}, last answer {last:?} (TCP {tcp:?}); resolver sockets:\n{sockets}\nroutes: {routes}\nrules: {rules}"
    );
}

struct World {
    svc: String,
    a: Net,
    b: Net,
    client_a: String,
    client_b: String,
}

/// Provider with a web server behind a VM service (approval on); consumer VPCs A and B on the
/// same CIDR, each with a `client` host.
async fn world(lab: &mut Lab, c: &vpcep_client::Client) -> World {
    let prov = network(c, "prov", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let a = network(c, "consa", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let b = network(c, "consb", "10.7.0.0/16", "10.7.0.0/24", "10.7.0.1").await;
    let sg = backend_group(c, &[("tcp", 80)]).await;
    let (web, web_port) = server(c, "web", &prov, "10.7.0.10", &[&sg]).await;
    let (client_a, _) = server(c, "client", &a, "10.7.0.20", &[]).await;
    let (client_b, _) = server(c, "client", &b, "10.7.0.21", &[]).await;
    let svc: Value = c
        .post(&c.project_path("/vpc-endpoint-services"), &json!({"port_id": web_port, "vpc_id": prov.vpc, "server_type": "VM", "approval_enabled": true, "service_name": "web", "ports": [{"client_port": 80, "server_port": 80}]}))
        .await
        .expect("service");
    let web_ns = lab.names.server(&web);
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo web"],
    )
    .await;
    World {
        svc: svc["id"].as_str().expect("id").to_string(),
        a,
        b,
        client_a: lab.names.server(&client_a),
        client_b: lab.names.server(&client_b),
    }
}

/// An endpoint of `service` in `net` with a private name: (id, ip, name).
async fn named_endpoint(
    c: &vpcep_client::Client,
    service: &str,
    net: &Net,
) -> (String, String, String) {
    let e: Value = c
        .post(
            &c.project_path("/vpc-endpoints"),
            &json!({"endpoint_service_id": service, "vpc_id": net.vpc, "subnet_id": net.subnet, "enable_dns": true}),
        )
        .await
        .expect("endpoint");
    let field = |k: &str| e[k].as_str().expect(k).to_string();
    let name = e["dns_names"][0].as_str().expect("a dns name").to_string();
    (field("id"), field("ip"), name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_names_follow_acceptance_and_stay_in_their_vpc() {
    if !can_run() || !have_dig() {
        return;
    }
    let mut lab = Lab::start().await;
    lab.start_dns(None);
    let c = lab.account("alice").await;
    let w = world(&mut lab, &c).await;
    let (id, ip, name) = named_endpoint(&c, &w.svc, &w.a).await;
    wait_for("pendingAcceptance", || async {
        status_of(&c, &format!("/vpc-endpoints/{id}")).await == "pendingAcceptance"
    })
    .await;
    for ns in [&w.client_a, &w.client_b] {
        lab.namespace(ns).await;
    }
    // The hosts' own names answer from their VPC's resolver (169.254.169.253, from resolv.conf):
    // the resolver is up, so the NXDOMAIN below is about the endpoint, not a dead resolver.
    wait_answer(
        &w.client_a,
        "client.consa.cn-north-4.internal",
        Some("10.7.0.20"),
    )
    .await;
    wait_answer(
        &w.client_b,
        "client.consb.cn-north-4.internal",
        Some("10.7.0.21"),
    )
    .await;
    assert_eq!(
        dig(&w.client_b, "client.consa.cn-north-4.internal", None, false)
            .await
            .0,
        "NXDOMAIN",
        "another VPC's host names are not visible"
    );
    // Not accepted yet: no name (it would lead nowhere).
    assert_eq!(dig(&w.client_a, &name, None, false).await.0, "NXDOMAIN");

    // Accepted: the name resolves in A, over UDP and TCP, and for the C library too.
    let t = Instant::now();
    c.connection_action(&w.svc, ConnectionAction::Accept, &id)
        .await
        .expect("receive");
    wait_answer(&w.client_a, &name, Some(&ip)).await;
    eprintln!(
        "accept → name resolvable in the consumer VPC: {:?}",
        t.elapsed()
    );
    assert_eq!(
        dig(&w.client_a, &name, None, true).await,
        ("NOERROR".to_string(), vec![ip.clone()])
    );
    let (ok, out) = exec_in(&w.client_a, &["getent", "hosts", &name]).await;
    assert!(ok && out.starts_with(&ip), "getent: {out}");
    // …and the name leads somewhere: a request by name goes through the endpoint.
    let (ok, out) = first_success(&w.client_a, &name, 80).await;
    assert!(ok && out.contains("web"), "by name: {out}");
    // B (identical CIDR, its own resolver) does not see it.
    assert_eq!(dig(&w.client_b, &name, None, false).await.0, "NXDOMAIN");
    assert_eq!(dig(&w.client_b, &name, None, true).await.0, "NXDOMAIN");

    // Names the resolver does not own, with no upstream: REFUSED at once.
    let t = Instant::now();
    let (status, _) = dig(&w.client_a, "example.com", None, false).await;
    let took = t.elapsed();
    assert_eq!(status, "REFUSED");
    // The whole `ip netns exec dig` round, process start included.
    assert!(took < Duration::from_secs(1), "REFUSED took {took:?}");

    // Rejected: gone again.
    let t = Instant::now();
    c.connection_action(&w.svc, ConnectionAction::Reject, &id)
        .await
        .expect("reject");
    wait_answer(&w.client_a, &name, None).await;
    eprintln!("reject → NXDOMAIN: {:?}", t.elapsed());
    // Host names stay.
    wait_answer(
        &w.client_a,
        "client.consa.cn-north-4.internal",
        Some("10.7.0.20"),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dns_cloud_service_answers_a_site_in_its_vpcs_view() {
    if !can_run() || !have_dig() {
        return;
    }
    let mut lab = Lab::start().await;
    let builtin = lab
        .server
        .control
        .bootstrap_builtin_dns()
        .await
        .expect("built-in DNS service");
    lab.start_dns(None);
    let c = lab.account("bob").await;
    let w = world(&mut lab, &c).await;
    // An ordinary endpoint with a name in A, accepted.
    let (web_id, web_ip, web_name) = named_endpoint(&c, &w.svc, &w.a).await;
    c.connection_action(&w.svc, ConnectionAction::Accept, &web_id)
        .await
        .expect("receive");
    // The DNS endpoints: one in A, one in B (identical CIDRs), no whitelist needed.
    let mut dns_ips = Vec::new();
    for net in [&w.a, &w.b] {
        let d: Value = c
            .post(
                &c.project_path("/vpc-endpoints"),
                &json!({"endpoint_service_id": builtin.service.id, "vpc_id": net.vpc, "subnet_id": net.subnet}),
            )
            .await
            .expect("DNS endpoint");
        let id = d["id"].as_str().expect("id").to_string();
        wait_for("DNS endpoint accepted", || async {
            status_of(&c, &format!("/vpc-endpoints/{id}")).await == "accepted"
        })
        .await;
        dns_ips.push(d["ip"].as_str().expect("ip").to_string());
    }
    // A site joined to A (the on-premises data centre of the guide, over its "VPN").
    let dc = site(&lab, &c, "dc", &w.a, "172.16.0.0/24").await;
    // Through A's DNS endpoint the site sees A's private names (the endpoint name and A's host),
    // even though the query reaches the resolver translated to 198.19.128.0/20.
    let dns_a = &dns_ips[0];
    wait_for("the site resolves through the DNS endpoint", || async {
        dig(&dc, &web_name, Some(dns_a), false).await
            == ("NOERROR".to_string(), vec![web_ip.clone()])
    })
    .await;
    assert_eq!(
        dig(&dc, "client.consa.cn-north-4.internal", Some(dns_a), true).await,
        ("NOERROR".to_string(), vec!["10.7.0.20".to_string()])
    );
    assert_eq!(
        dig(&dc, "client.consb.cn-north-4.internal", Some(dns_a), false)
            .await
            .0,
        "NXDOMAIN",
        "B's names are not in A's view"
    );
    // A host in B asking B's DNS endpoint gets B's view.
    assert_eq!(
        dig(
            &w.client_b,
            "client.consb.cn-north-4.internal",
            Some(&dns_ips[1]),
            false
        )
        .await,
        ("NOERROR".to_string(), vec!["10.7.0.21".to_string()])
    );
    assert_eq!(
        dig(&w.client_b, &web_name, Some(&dns_ips[1]), false)
            .await
            .0,
        "NXDOMAIN"
    );
    // A site that only has resolv.conf pointing at the DNS endpoint: the C library resolves the
    // cloud's names, and the site reaches the service by name through the ordinary endpoint.
    let etc = std::path::Path::new("/etc/netns").join(&dc);
    std::fs::create_dir_all(&etc).expect("netns etc");
    std::fs::write(etc.join("resolv.conf"), format!("nameserver {dns_a}\n")).expect("resolv.conf");
    let (ok, out) = exec_in(&dc, &["getent", "hosts", &web_name]).await;
    assert!(
        ok && out.starts_with(&web_ip),
        "getent from the site: {out}"
    );
    let (ok, out) = first_success(&dc, &web_name, 80).await;
    assert!(ok && out.contains("web"), "site by name: {out}");

    // The guide's data centre with real BIND: a second site joined to A runs `named` forwarding
    // to the DNS endpoint; its hosts ask their own BIND.
    if std::process::Command::new("named")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let dc2 = site(&lab, &c, "dc2", &w.a, "172.17.0.0/24").await;
        let dir = tempfile::tempdir().expect("bind dir");
        let conf = dir.path().join("named.conf");
        let d = dir.path().display();
        std::fs::write(
            &conf,
            format!(
                "options {{\n  directory \"{d}\";\n  pid-file \"{d}/named.pid\";\n  listen-on port 53 {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n  recursion yes;\n  allow-query {{ any; }};\n  forwarders {{ {dns_a}; }};\n  forward only;\n  dnssec-validation no;\n}};\n"
            ),
        )
        .expect("named.conf");
        let conf = conf.display().to_string();
        lab.spawn_in(&dc2, &["named", "-g", "-u", "root", "-c", &conf])
            .await;
        lab.listening(&dc2, 53).await;
        wait_for("BIND forwards to the DNS endpoint", || async {
            dig(
                &dc2,
                "client.consa.cn-north-4.internal",
                Some("127.0.0.1"),
                false,
            )
            .await
                == ("NOERROR".to_string(), vec!["10.7.0.20".to_string()])
        })
        .await;
        assert_eq!(
            dig(&dc2, &web_name, Some("127.0.0.1"), false).await,
            ("NOERROR".to_string(), vec![web_ip.clone()])
        );
        assert_eq!(
            dig(
                &dc2,
                "client.consb.cn-north-4.internal",
                Some("127.0.0.1"),
                false
            )
            .await
            .0,
            "NXDOMAIN"
        );
    } else {
        eprintln!("BIND part skipped: needs named (Debian bind9)");
    }
}
