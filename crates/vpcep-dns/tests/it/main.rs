//! End-to-end tests of the resolver over real UDP and TCP sockets on
//! 127.0.0.1 (ephemeral ports), queried with hickory-proto messages.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{Name, RData, Record as DnsRecord, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use vpcep_dns::{Record, Resolver, ResolverConfig, ViewError, Views};

static NEXT_ID: AtomicU16 = AtomicU16::new(1);

struct Vpc {
    udp: SocketAddr,
    tcp: SocketAddr,
}

async fn serve(resolver: &Resolver, vpc: &str) -> Vpc {
    let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
    let tcp = TcpListener::bind("127.0.0.1:0").await.expect("bind tcp");
    let out = Vpc {
        udp: udp.local_addr().expect("udp addr"),
        tcp: tcp.local_addr().expect("tcp addr"),
    };
    resolver.serve_vpc(vpc, udp, tcp);
    out
}

fn rec(vpc: &str, name: &str, ip: [u8; 4]) -> Record {
    Record {
        vpc: vpc.into(),
        name: name.into(),
        ip: Ipv4Addr::from(ip),
    }
}

fn query_bytes(name: &str, qtype: RecordType) -> (u16, Vec<u8>) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let mut msg = Message::query();
    msg.metadata.id = id;
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(Name::from_ascii(name).expect("name"), qtype));
    (id, msg.to_vec().expect("encode"))
}

/// One UDP query from `from` (an address on loopback); `None` if no answer in `wait`.
async fn udp_query_from(
    from: &str,
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    wait: Duration,
) -> Option<Message> {
    let sock = UdpSocket::bind(from).await.expect("bind client");
    let (id, bytes) = query_bytes(name, qtype);
    sock.send_to(&bytes, server).await.expect("send");
    let mut buf = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(wait, sock.recv_from(&mut buf))
        .await
        .ok()?
        .expect("recv");
    let msg = Message::from_vec(&buf[..len]).expect("decode response");
    assert_eq!(msg.metadata.id, id, "response id");
    Some(msg)
}

async fn udp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    udp_query_from("127.0.0.1:0", server, name, qtype, Duration::from_secs(3))
        .await
        .expect("no UDP answer within 3 s")
}

async fn tcp(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    let mut stream = TcpStream::connect(server).await.expect("connect");
    let (id, bytes) = query_bytes(name, qtype);
    let len = u16::try_from(bytes.len()).expect("len");
    stream
        .write_all(&len.to_be_bytes())
        .await
        .expect("write len");
    stream.write_all(&bytes).await.expect("write");
    let read = async {
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await.expect("read len");
        let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut buf).await.expect("read");
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(3), read)
        .await
        .expect("no TCP answer within 3 s");
    let msg = Message::from_vec(&buf).expect("decode response");
    assert_eq!(msg.metadata.id, id, "response id");
    msg
}

fn a_records(msg: &Message) -> Vec<Ipv4Addr> {
    msg.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect()
}

fn has_soa_authority(msg: &Message) -> bool {
    msg.authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA)
}

fn two_vpcs() -> Views {
    Views::from_records([
        rec("vpc-a", "svc.internal", [10, 0, 0, 5]),
        rec("vpc-b", "svc.internal", [10, 1, 0, 9]),
        rec("vpc-a", "only-a.internal", [10, 0, 0, 6]),
    ])
    .expect("views")
}

#[tokio::test]
async fn same_name_in_two_vpcs_answers_per_socket_udp_and_tcp() {
    let resolver = Resolver::new(ResolverConfig::default(), two_vpcs()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    let b = serve(&resolver, "vpc-b").await;
    for (vpc, ip) in [(&a, [10, 0, 0, 5]), (&b, [10, 1, 0, 9])] {
        for msg in [
            udp(vpc.udp, "svc.internal.", RecordType::A).await,
            tcp(vpc.tcp, "SVC.Internal.", RecordType::A).await,
        ] {
            assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
            assert!(
                msg.metadata.authoritative,
                "private answers are authoritative"
            );
            assert_eq!(a_records(&msg), vec![Ipv4Addr::from(ip)]);
            assert_eq!(msg.answers.len(), 1);
            assert_eq!(msg.answers[0].ttl, 5, "default private TTL");
            // The owner name echoes the question's spelling (0x20 case randomisation).
            assert_eq!(
                msg.answers[0].name.to_string(),
                msg.queries[0].name().to_string()
            );
        }
    }
}

#[tokio::test]
async fn name_only_in_vpc_a_is_nxdomain_in_vpc_b() {
    let resolver = Resolver::new(ResolverConfig::default(), two_vpcs()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    let b = serve(&resolver, "vpc-b").await;
    let on_a = udp(a.udp, "only-a.internal.", RecordType::A).await;
    assert_eq!(a_records(&on_a), vec![Ipv4Addr::new(10, 0, 0, 6)]);
    for msg in [
        udp(b.udp, "only-a.internal.", RecordType::A).await,
        tcp(b.tcp, "only-a.internal.", RecordType::A).await,
    ] {
        assert_eq!(msg.metadata.response_code, ResponseCode::NXDomain);
        assert!(msg.metadata.authoritative);
        assert!(msg.answers.is_empty());
        assert!(has_soa_authority(&msg), "negative answer carries the SOA");
    }
}

/// The probe says what a query would get: the name's addresses while the key's sockets are
/// served and the view holds it, nothing before, after removal, or once the sockets stop.
#[tokio::test]
async fn probe_agrees_with_queries() {
    let resolver = Resolver::new(ResolverConfig::default(), Views::new()).expect("resolver");
    let probe = resolver.probe();
    let handle = resolver.views().clone();
    handle
        .upsert(rec("vpc-a", "web.internal", [10, 0, 0, 7]))
        .expect("upsert");
    assert_eq!(
        probe.answers("vpc-a", "vpc-a", "web.internal"),
        None,
        "not served yet"
    );
    let a = serve(&resolver, "vpc-a").await;
    assert_eq!(
        a_records(&udp(a.udp, "web.internal.", RecordType::A).await),
        vec![Ipv4Addr::new(10, 0, 0, 7)]
    );
    assert_eq!(
        probe.answers("vpc-a", "vpc-a", "Web.Internal."),
        Some(vec![Ipv4Addr::new(10, 0, 0, 7)])
    );
    assert_eq!(
        probe.answers("vpc-a", "vpc-b", "web.internal"),
        None,
        "another view"
    );
    assert_eq!(handle.remove("vpc-a", "web.internal"), Ok(true));
    assert_eq!(probe.answers("vpc-a", "vpc-a", "web.internal"), None);
    handle
        .upsert(rec("vpc-a", "web.internal", [10, 0, 0, 7]))
        .expect("upsert");
    assert!(resolver.stop("vpc-a").await);
    assert_eq!(
        probe.answers("vpc-a", "vpc-a", "web.internal"),
        None,
        "sockets closed"
    );
}

#[tokio::test]
async fn upsert_then_remove_without_restart() {
    let resolver = Resolver::new(ResolverConfig::default(), Views::new()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    let before = udp(a.udp, "new.internal.", RecordType::A).await;
    assert_eq!(before.metadata.response_code, ResponseCode::NXDomain);

    let handle = resolver.views().clone();
    handle
        .upsert(rec("vpc-a", "new.internal", [10, 0, 0, 42]))
        .expect("upsert");
    let added = udp(a.udp, "new.internal.", RecordType::A).await;
    assert_eq!(added.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&added), vec![Ipv4Addr::new(10, 0, 0, 42)]);

    handle
        .replace_vpc(
            "vpc-a",
            [("new.internal".to_owned(), Ipv4Addr::new(10, 0, 0, 43))],
        )
        .expect("replace");
    let replaced = tcp(a.tcp, "new.internal.", RecordType::A).await;
    assert_eq!(a_records(&replaced), vec![Ipv4Addr::new(10, 0, 0, 43)]);

    assert_eq!(handle.remove("vpc-a", "new.internal"), Ok(true));
    let removed = udp(a.udp, "new.internal.", RecordType::A).await;
    assert_eq!(removed.metadata.response_code, ResponseCode::NXDomain);
    assert!(removed.answers.is_empty());
}

#[tokio::test]
async fn snat_source_is_answered_in_consumer_view() {
    let resolver = Resolver::new(ResolverConfig::default(), two_vpcs()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    // 127.0.0.2 stands in for an endpoint SNAT address (198.19.128.x) on loopback.
    let snat_src = "127.0.0.2:0";
    let wait = Duration::from_secs(3);
    let plain = udp_query_from(snat_src, a.udp, "svc.internal.", RecordType::A, wait)
        .await
        .expect("answer");
    assert_eq!(
        a_records(&plain),
        vec![Ipv4Addr::new(10, 0, 0, 5)],
        "socket's VPC by default"
    );

    assert_eq!(
        resolver.snat().insert(Ipv4Addr::new(127, 0, 0, 2), "vpc-b"),
        None
    );
    let via_endpoint = udp_query_from(snat_src, a.udp, "svc.internal.", RecordType::A, wait)
        .await
        .expect("answer");
    assert_eq!(
        a_records(&via_endpoint),
        vec![Ipv4Addr::new(10, 1, 0, 9)],
        "consumer VPC's view"
    );
    let only_a = udp_query_from(snat_src, a.udp, "only-a.internal.", RecordType::A, wait)
        .await
        .expect("answer");
    assert_eq!(
        only_a.metadata.response_code,
        ResponseCode::NXDomain,
        "vpc-a names hidden"
    );

    // Other sources on the same socket keep the socket's view.
    let other = udp(a.udp, "svc.internal.", RecordType::A).await;
    assert_eq!(a_records(&other), vec![Ipv4Addr::new(10, 0, 0, 5)]);

    assert_eq!(
        resolver
            .snat()
            .remove(Ipv4Addr::new(127, 0, 0, 2))
            .as_deref(),
        Some("vpc-b")
    );
    let back = udp_query_from(snat_src, a.udp, "svc.internal.", RecordType::A, wait)
        .await
        .expect("answer");
    assert_eq!(a_records(&back), vec![Ipv4Addr::new(10, 0, 0, 5)]);
}

#[tokio::test]
async fn no_upstream_is_refused_immediately() {
    let resolver = Resolver::new(ResolverConfig::default(), two_vpcs()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    // Warm-up so the measurement is not the first-task spawn.
    let _ = udp(a.udp, "svc.internal.", RecordType::A).await;
    let start = Instant::now();
    let msg = udp(a.udp, "example.com.", RecordType::A).await;
    let elapsed = start.elapsed();
    assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
    assert!(elapsed < Duration::from_millis(100), "took {elapsed:?}");
    let msg = tcp(a.tcp, "example.com.", RecordType::A).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn silent_upstream_gives_servfail_within_timeout() {
    // Drops everything: a UDP socket nobody reads, and a TCP listener on the
    // same port that never accepts (so a TCP retry hangs too).
    let silent = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let upstream = silent.local_addr().expect("addr");
    let _silent_tcp = TcpListener::bind(upstream).await.ok();
    let config = ResolverConfig {
        upstream: Some(upstream),
        forward_timeout: Duration::from_millis(300),
        ..ResolverConfig::default()
    };
    let resolver = Resolver::new(config, two_vpcs()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    let start = Instant::now();
    let msg = udp(a.udp, "example.com.", RecordType::A).await;
    let elapsed = start.elapsed();
    assert_eq!(msg.metadata.response_code, ResponseCode::ServFail);
    assert!(
        elapsed >= Duration::from_millis(250),
        "answered too early: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_millis(1000), "took {elapsed:?}");
    // Private names do not depend on the upstream.
    let private = udp(a.udp, "svc.internal.", RecordType::A).await;
    assert_eq!(a_records(&private), vec![Ipv4Addr::new(10, 0, 0, 5)]);
    drop(silent);
}

/// Answers every A query with 203.0.113.7 and counts the queries it saw.
async fn stub_upstream() -> (SocketAddr, Arc<AtomicUsize>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.expect("bind stub");
    let addr = sock.local_addr().expect("addr");
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((len, from)) = sock.recv_from(&mut buf).await else {
                return;
            };
            let Ok(req) = Message::from_vec(&buf[..len]) else {
                continue;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
            resp.metadata.recursion_desired = req.metadata.recursion_desired;
            resp.metadata.recursion_available = true;
            for q in &req.queries {
                if q.query_type() == RecordType::A {
                    resp.answers.push(DnsRecord::from_rdata(
                        q.name().clone(),
                        60,
                        RData::A(A::new(203, 0, 113, 7)),
                    ));
                }
            }
            resp.queries = req.queries.clone();
            resp.edns = req.edns.clone();
            if let Ok(bytes) = resp.to_vec() {
                let _ = sock.send_to(&bytes, from).await;
            }
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn answering_upstream_is_forwarded() {
    let (upstream, seen) = stub_upstream().await;
    let config = ResolverConfig {
        upstream: Some(upstream),
        forward_timeout: Duration::from_millis(1000),
        ..ResolverConfig::default()
    };
    let resolver = Resolver::new(config, two_vpcs()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    let msg = udp(a.udp, "www.example.com.", RecordType::A).await;
    assert_eq!(msg.metadata.response_code, ResponseCode::NoError);
    assert_eq!(a_records(&msg), vec![Ipv4Addr::new(203, 0, 113, 7)]);
    assert!(
        !msg.metadata.authoritative,
        "forwarded answers are not ours"
    );
    let msg = tcp(a.tcp, "other.example.org.", RecordType::A).await;
    assert_eq!(a_records(&msg), vec![Ipv4Addr::new(203, 0, 113, 7)]);
    let upstream_queries = seen.load(Ordering::SeqCst);
    assert!(upstream_queries >= 2, "upstream saw {upstream_queries}");

    // Private names, present or not, never reach the upstream.
    let private = udp(a.udp, "svc.internal.", RecordType::A).await;
    assert_eq!(a_records(&private), vec![Ipv4Addr::new(10, 0, 0, 5)]);
    let missing = udp(a.udp, "missing.internal.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert_eq!(seen.load(Ordering::SeqCst), upstream_queries);
}

#[tokio::test]
async fn other_types_of_existing_private_name_are_nodata() {
    let resolver = Resolver::new(ResolverConfig::default(), two_vpcs()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    for qtype in [RecordType::AAAA, RecordType::MX, RecordType::TXT] {
        let msg = udp(a.udp, "svc.internal.", qtype).await;
        assert_eq!(msg.metadata.response_code, ResponseCode::NoError, "{qtype}");
        assert!(msg.answers.is_empty(), "{qtype}");
        assert!(has_soa_authority(&msg), "{qtype}: NODATA carries the SOA");
    }
    let tcp_aaaa = tcp(a.tcp, "svc.internal.", RecordType::AAAA).await;
    assert_eq!(tcp_aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(tcp_aaaa.answers.is_empty());
}

#[tokio::test]
async fn custom_suffix_and_ttl() {
    let config = ResolverConfig {
        private_suffixes: vec!["corp.example".to_owned()],
        ttl: 30,
        ..ResolverConfig::default()
    };
    let views =
        Views::from_records([rec("vpc-a", "db.corp.example", [10, 0, 0, 7])]).expect("views");
    let resolver = Resolver::new(config, views).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    let found = udp(a.udp, "db.corp.example.", RecordType::A).await;
    assert_eq!(a_records(&found), vec![Ipv4Addr::new(10, 0, 0, 7)]);
    assert_eq!(found.answers[0].ttl, 30);
    let missing = udp(a.udp, "x.corp.example.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    // `internal.` is no longer ours: with no upstream it is refused.
    let not_ours = udp(a.udp, "x.internal.", RecordType::A).await;
    assert_eq!(not_ours.metadata.response_code, ResponseCode::Refused);
}

#[tokio::test]
async fn invalid_names_are_rejected_by_the_model() {
    let resolver = Resolver::new(ResolverConfig::default(), Views::new()).expect("resolver");
    let handle = resolver.views();
    for bad in [
        "bad_name.internal",
        "a..internal",
        "",
        "-x.internal",
        "ünï.internal",
    ] {
        assert!(
            handle.upsert(rec("vpc-a", bad, [10, 0, 0, 1])).is_err(),
            "{bad:?}"
        );
    }
    let too_long = format!("{}.internal", "a".repeat(64));
    assert!(matches!(
        handle.upsert(rec("vpc-a", &too_long, [10, 0, 0, 1])),
        Err(ViewError::BadLabelLength { .. })
    ));
    assert_eq!(handle.read(|v| v.name_count()), 0);
    assert!(
        Resolver::new(
            ResolverConfig {
                private_suffixes: vec!["bad suffix".to_owned()],
                ..ResolverConfig::default()
            },
            Views::new()
        )
        .is_err()
    );
}

#[tokio::test]
async fn stop_vpc_closes_only_that_vpc() {
    let resolver = Resolver::new(ResolverConfig::default(), two_vpcs()).expect("resolver");
    let a = serve(&resolver, "vpc-a").await;
    let b = serve(&resolver, "vpc-b").await;
    assert!(resolver.stop_vpc("vpc-a").await);
    assert!(!resolver.stop_vpc("vpc-a").await);
    let gone = udp_query_from(
        "127.0.0.1:0",
        a.udp,
        "svc.internal.",
        RecordType::A,
        Duration::from_millis(300),
    )
    .await;
    assert!(gone.is_none(), "stopped VPC still answers");
    assert!(
        TcpStream::connect(a.tcp).await.is_err(),
        "stopped VPC's TCP listener still open"
    );
    let still = udp(b.udp, "svc.internal.", RecordType::A).await;
    assert_eq!(a_records(&still), vec![Ipv4Addr::new(10, 1, 0, 9)]);
    assert_eq!(resolver.served_vpcs(), vec!["vpc-b".to_owned()]);
    resolver.shutdown().await;
    assert!(resolver.served_vpcs().is_empty());
}
