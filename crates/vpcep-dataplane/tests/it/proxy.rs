//! PROXY protocol v2 (`tcp_proxy = proxy_open`, issue 12 item 5) against real PROXY-v2
//! consumers: Debian's nginx (`listen … proxy_protocol`) logs the consumer host's own address
//! and port while its peer is a 198.19.128.0/20 address; a small parser backend reads the
//! endpoint-id TLV (Debian's nginx 1.22 cannot log TLVs: `$proxy_protocol_tlv_*` came in 1.23.2).
//! A `close` service on the same backend host gets no header; switching `tcp_proxy` moves new
//! connections while an established one keeps its path; a deleted endpoint's relayed
//! connections end.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use vpcep_dataplane::kernel::netlink::in_namespace;

use crate::lab::*;

/// A backend on `port` inside `ns` that answers each connection with one line saying what
/// came first: `proxy <source> <destination> <endpoint id>` for a PROXY v2 header (then it
/// echoes), or `plain <peer>` when nothing came within 300 ms (a kernel-path connection).
async fn header_backend(ns: &str, port: u16) -> tokio::task::JoinHandle<()> {
    let l = in_namespace(ns, move || {
        let l = std::net::TcpListener::bind(("0.0.0.0", port))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .expect("backend listener in namespace");
    let l = tokio::net::TcpListener::from_std(l).expect("tokio listener");
    tokio::spawn(async move {
        while let Ok((s, peer)) = l.accept().await {
            tokio::spawn(describe_connection(s, peer));
        }
    })
}

async fn describe_connection(mut s: tokio::net::TcpStream, peer: SocketAddr) {
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    let line = loop {
        let read = tokio::time::timeout(Duration::from_millis(300), s.read(&mut buf[n..])).await;
        match read {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(k)) => n += k,
            Err(_) if n == 0 => break format!("plain {peer}\n"),
            Err(_) => break format!("garbage {:?}\n", &buf[..n]),
        }
        match ppp::v2::Header::try_from(&buf[..n]) {
            Ok(h) => {
                let (src, dst) = match h.addresses {
                    ppp::v2::Addresses::IPv4(a) => (
                        format!("{}:{}", a.source_address, a.source_port),
                        format!("{}:{}", a.destination_address, a.destination_port),
                    ),
                    _ => ("?".into(), "?".into()),
                };
                let id = h
                    .tlvs()
                    .filter_map(Result::ok)
                    .find(|t| t.kind == 0xEA && t.value.first() == Some(&0x01))
                    .map(|t| String::from_utf8_lossy(&t.value[1..]).to_string())
                    .unwrap_or_default();
                let used = h.len();
                let line = format!("proxy {src} {dst} {id}\n");
                buf.copy_within(used..n, 0);
                n -= used;
                break line;
            }
            Err(ppp::v2::ParseError::Incomplete(_)) | Err(ppp::v2::ParseError::Partial(_, _)) => {
                continue;
            }
            Err(_) => break format!("garbage {:?}\n", &buf[..n]),
        }
    };
    if s.write_all(line.as_bytes()).await.is_err() || s.write_all(&buf[..n]).await.is_err() {
        return;
    }
    // Echo the rest (established connections are checked with it).
    let (mut r, mut w) = s.split();
    let _ = tokio::io::copy(&mut r, &mut w).await;
}

/// A TCP connection opened from inside `ns` (the consumer host) to `ip:port`, with the first
/// line it got.
async fn connect_from(ns: &str, ip: &str, port: u16) -> (BufReader<tokio::net::TcpStream>, String) {
    let addr: SocketAddr = format!("{ip}:{port}").parse().expect("addr");
    let s = in_namespace(ns, move || {
        let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
        s.set_nonblocking(true)?;
        Ok(s)
    })
    .expect("connect from the consumer host");
    let mut r = BufReader::new(tokio::net::TcpStream::from_std(s).expect("tokio stream"));
    let mut line = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), r.read_line(&mut line)).await;
    (r, line.trim().to_string())
}

/// The first line from a new connection until `want` says it is the one (5 s at most).
async fn first_line_until(ns: &str, ip: &str, port: u16, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (ok, line) = exec_in(
            ns,
            &[
                "timeout",
                "3",
                "socat",
                "-T1",
                &format!("TCP:{ip}:{port},connect-timeout=2"),
                "STDOUT",
            ],
        )
        .await;
        let line = line.lines().next().unwrap_or_default().to_string();
        if (ok && want(&line)) || std::time::Instant::now() > deadline {
            return line;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn nginx_conf(dir: &std::path::Path) -> String {
    let d = dir.display();
    format!(
        "daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  log_format pp '$proxy_protocol_addr $proxy_protocol_port $remote_addr';
  server {{
    listen 8080 proxy_protocol;
    access_log {d}/pp.log pp;
    location / {{ return 200 \"hello $proxy_protocol_addr\\n\"; }}
  }}
}}
"
    )
}

async fn service(
    c: &vpcep_client::Client,
    port_id: &str,
    vpc: &str,
    tcp_proxy: &str,
    ports: Value,
) -> String {
    let svc: Value = c
        .post(
            &c.project_path("/vpc-endpoint-services"),
            &json!({"port_id": port_id, "vpc_id": vpc, "server_type": "VM", "approval_enabled": false,
                "tcp_proxy": tcp_proxy, "ports": ports}),
        )
        .await
        .expect("service");
    let id = svc["id"].as_str().expect("id").to_string();
    wait_for("service available", || async {
        status_of(c, &format!("/vpc-endpoint-services/{id}")).await == "available"
    })
    .await;
    id
}

/// A provider and a consumer VPC on the very same CIDR (10.0.0.0/24): `web` (.10, behind a
/// group opening `ports`) in the provider's, `client` (.20) in the consumer's, both namespaces
/// ready.
struct SameCidr {
    prov: Net,
    cons: Net,
    web_port: String,
    web_ns: String,
    client_ns: String,
}

async fn same_cidr(lab: &Lab, a: &vpcep_client::Client, ports: &[(&str, u16)]) -> SameCidr {
    let prov = network(a, "prov", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let cons = network(a, "cons", "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let sg = backend_group(a, ports).await;
    let (web, web_port) = server(a, "web", &prov, "10.0.0.10", &[&sg]).await;
    let (client, _) = server(a, "client", &cons, "10.0.0.20", &[]).await;
    let web_ns = lab.names.server(&web);
    let client_ns = lab.names.server(&client);
    lab.namespace(&web_ns).await;
    lab.namespace(&client_ns).await;
    SameCidr {
        prov,
        cons,
        web_port,
        web_ns,
        client_ns,
    }
}

async fn accepted_endpoint(c: &vpcep_client::Client, service: &str, net: &Net) -> (String, String) {
    let (id, ip) = create_endpoint(c, service, net).await;
    wait_for("endpoint accepted", || async {
        status_of(c, &format!("/vpc-endpoints/{id}")).await == "accepted"
    })
    .await;
    (id, ip)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proxy_open_sends_the_consumers_address_and_the_endpoint_id() {
    if !can_run() {
        return;
    }
    if std::process::Command::new("nginx")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipped: needs nginx (scripts/test.sh installs it)");
        return;
    }
    let mut lab = Lab::start().await;
    let alice = lab.account("alice").await;
    let a = &alice;

    // Provider and consumer VPCs on the very same CIDR (only the listener's mark tells the
    // consumer leg apart when the proxy answers).
    let SameCidr {
        prov,
        cons,
        web_port,
        web_ns,
        client_ns,
    } = same_cidr(&lab, a, &[("tcp", 8080), ("tcp", 8082), ("tcp", 8083)]).await;

    let dir = tempfile::tempdir().expect("tempdir");
    for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        std::fs::create_dir_all(dir.path().join(sub)).expect("nginx dir");
    }
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, nginx_conf(dir.path())).expect("nginx.conf");
    let conf = conf.display().to_string();
    lab.spawn_in(&web_ns, &["nginx", "-c", &conf]).await;
    lab.listening(&web_ns, 8080).await;
    // One parser per service (a backend port serves one service).
    let _backend = header_backend(&web_ns, 8082).await;
    let _backend2 = header_backend(&web_ns, 8083).await;

    let pp = service(
        a,
        &web_port,
        &prov.vpc,
        "proxy_open",
        json!([{"client_port": 80, "server_port": 8080, "protocol": "TCP"},
               {"client_port": 82, "server_port": 8082, "protocol": "TCP"}]),
    )
    .await;
    let plain = service(
        a,
        &web_port,
        &prov.vpc,
        "close",
        json!([{"client_port": 82, "server_port": 8083, "protocol": "TCP"}]),
    )
    .await;
    let (pp_ep, pp_ip) = accepted_endpoint(a, &pp, &cons).await;
    let (plain_ep, plain_ip) = accepted_endpoint(a, &plain, &cons).await;

    // nginx behind proxy_open: the consumer host's own address and source port, from a
    // 198.19.128.0/20 peer.
    let (ok, body) = exec_in(
        &client_ns,
        &[
            "sh",
            "-c",
            &format!(
                "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 4 socat - TCP:{pp_ip}:80,sourceport=40123,connect-timeout=2"
            ),
        ],
    )
    .await;
    assert!(
        ok && body.contains("hello 10.0.0.20"),
        "nginx answered {body:?}"
    );
    let log = std::fs::read_to_string(dir.path().join("pp.log")).unwrap_or_default();
    let fields: Vec<&str> = log.lines().last().unwrap_or_default().split(' ').collect();
    assert_eq!(fields.len(), 3, "nginx log {log:?}");
    assert_eq!(fields[0], "10.0.0.20", "PROXY source address in {log:?}");
    assert_eq!(fields[1], "40123", "PROXY source port in {log:?}");
    assert!(
        fields[2].starts_with("198.19.12"),
        "the backend's peer {log:?}"
    );

    // The endpoint id TLV (0xEA, sub-type 0x01) and the destination the consumer used.
    let line = first_line_until(&client_ns, &pp_ip, 82, |l| l.starts_with("proxy")).await;
    let w: Vec<&str> = line.split(' ').collect();
    assert_eq!(w.len(), 4, "{line:?}");
    assert!(w[1].starts_with("10.0.0.20:"), "{line:?}");
    assert_eq!(w[2], format!("{pp_ip}:82"), "{line:?}");
    assert_eq!(w[3], pp_ep, "{line:?}");

    // The close service on the same backend: no header, the translated peer.
    let line = first_line_until(&client_ns, &plain_ip, 82, |l| l.starts_with("plain")).await;
    assert!(line.starts_with("plain 198.19.12"), "{line:?}");

    // Switching tcp_proxy moves new connections; an established one stays where it started.
    let (mut before, first) = connect_from(&client_ns, &plain_ip, 82).await;
    assert!(first.starts_with("plain"), "{first:?}");
    let _: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoint-services/{plain}")),
            &json!({"tcp_proxy": "proxy_open"}),
        )
        .await
        .expect("switch to proxy_open");
    let line = first_line_until(&client_ns, &plain_ip, 82, |l| l.starts_with("proxy")).await;
    assert!(
        line.starts_with("proxy 10.0.0.20:") && line.ends_with(&plain_ep),
        "after the switch: {line:?}"
    );
    before
        .get_mut()
        .write_all(b"still here\n")
        .await
        .expect("write on the established connection");
    let mut echo = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), before.read_line(&mut echo)).await;
    assert_eq!(
        echo.trim(),
        "still here",
        "the established kernel-path connection"
    );

    // A proxied connection held open across the switch back keeps working too.
    let (mut proxied, first) = connect_from(&client_ns, &plain_ip, 82).await;
    assert!(first.starts_with("proxy"), "{first:?}");
    let _: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoint-services/{plain}")),
            &json!({"tcp_proxy": "close"}),
        )
        .await
        .expect("switch back to close");
    let line = first_line_until(&client_ns, &plain_ip, 82, |l| l.starts_with("plain")).await;
    assert!(
        line.starts_with("plain 198.19.12"),
        "after switching back: {line:?}"
    );
    proxied
        .get_mut()
        .write_all(b"relayed\n")
        .await
        .expect("write on the relayed connection");
    let mut echo = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(3), proxied.read_line(&mut echo)).await;
    assert_eq!(echo.trim(), "relayed", "the established proxied connection");

    // A deleted endpoint loses its relayed connections as kernel-path ones lose theirs.
    let (mut doomed, first) = connect_from(&client_ns, &pp_ip, 82).await;
    assert!(first.starts_with("proxy"), "{first:?}");
    a.delete(&a.project_path(&format!("/vpc-endpoints/{pp_ep}")))
        .await
        .expect("delete endpoint");
    wait_gone(a, &format!("/vpc-endpoints/{pp_ep}")).await;
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = doomed.get_mut().write_all(b"anyone?\n").await;
        doomed.read_to_end(&mut rest).await
    })
    .await;
    assert!(
        matches!(ended, Ok(Ok(_)) | Ok(Err(_)))
            && !String::from_utf8_lossy(&rest).contains("anyone?"),
        "the relayed connection of a deleted endpoint must end: {ended:?} {rest:?}"
    );
    lab.teardown().await;
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// A backend on `port` inside `ns` that skips the PROXY v2 header, reads until the consumer's
/// end of stream, and only then answers: the 8-byte count it read, whether the bytes were
/// `pattern(1, …)`, then `down` bytes of `pattern(7, …)`, then its own end of stream.
async fn sink_then_source(ns: &str, port: u16, down: usize) -> tokio::task::JoinHandle<()> {
    let l = in_namespace(ns, move || {
        let l = std::net::TcpListener::bind(("0.0.0.0", port))?;
        l.set_nonblocking(true)?;
        Ok(l)
    })
    .expect("backend listener in namespace");
    let l = tokio::net::TcpListener::from_std(l).expect("tokio listener");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut fixed = [0u8; 16];
                s.read_exact(&mut fixed).await?;
                let mut rest = vec![0u8; u16::from_be_bytes([fixed[14], fixed[15]]) as usize];
                s.read_exact(&mut rest).await?;
                let mut got = Vec::new();
                s.read_to_end(&mut got).await?;
                let intact = got == pattern(1, got.len());
                s.write_all(&(got.len() as u64).to_be_bytes()).await?;
                s.write_all(&[u8::from(intact)]).await?;
                s.write_all(&pattern(7, down)).await?;
                s.shutdown().await?;
                std::io::Result::Ok(())
            });
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_transfers_and_half_close_through_the_proxy_arrive_intact() {
    if !can_run() {
        return;
    }
    let lab = Lab::start().await;
    let alice = lab.account("alice").await;
    let a = &alice;
    let SameCidr {
        prov,
        cons,
        web_port,
        web_ns,
        client_ns,
    } = same_cidr(&lab, a, &[("tcp", 8090)]).await;
    const UP: usize = 24 << 20;
    const DOWN: usize = 16 << 20;
    let _backend = sink_then_source(&web_ns, 8090, DOWN).await;
    let pp = service(
        a,
        &web_port,
        &prov.vpc,
        "proxy_open",
        json!([{"client_port": 90, "server_port": 8090, "protocol": "TCP"}]),
    )
    .await;
    let (_, ip) = accepted_endpoint(a, &pp, &cons).await;

    // Twice: connections one after the other reuse the proxy's kernel state.
    for round in 0..2 {
        let addr: SocketAddr = format!("{ip}:90").parse().expect("addr");
        let s = in_namespace(&client_ns, move || {
            let s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))?;
            s.set_nonblocking(true)?;
            Ok(s)
        })
        .expect("connect from the consumer host");
        let mut s = tokio::net::TcpStream::from_std(s).expect("tokio stream");
        let done = tokio::time::timeout(Duration::from_secs(60), async {
            s.write_all(&pattern(1, UP)).await.expect("upload");
            // Half-close: the backend answers only after this end of stream, through the
            // direction still open.
            s.shutdown().await.expect("shutdown");
            let mut got = Vec::new();
            s.read_to_end(&mut got).await.expect("download");
            got
        })
        .await
        .expect("the transfer ends");
        assert!(done.len() >= 9, "round {round}: {} bytes back", done.len());
        let count = u64::from_be_bytes(done[..8].try_into().expect("8 bytes"));
        assert_eq!(count, UP as u64, "round {round}: bytes the backend read");
        assert_eq!(done[8], 1, "round {round}: the backend's bytes differ");
        let down = &done[9..];
        assert_eq!(down.len(), DOWN, "round {round}: bytes back");
        assert!(
            down == pattern(7, DOWN).as_slice(),
            "round {round}: the bytes back differ"
        );
    }
    lab.teardown().await;
}
