//! Regression tests for the hardening findings of issue 8, each on every store backend where the
//! store matters (SQLite always, PostgreSQL when `VPCEP_TEST_PG_URL` is set).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vpcep_client::Client;
use vpcep_control::Settings;
use vpcep_core::model::{Kind, QuotaType};
use vpcep_store::{ChangeSet, Page, Query, Record, SharedStore, SqlStore, Store, StoreError, Tx};

use crate::auth::signed_raw;
use crate::harness::*;

fn code(v: &Value) -> &str {
    v["error_code"].as_str().unwrap_or("<no error_code>")
}

/// What the client got back for a failed typed call.
fn api_error<T: std::fmt::Debug>(r: Result<T, vpcep_client::ClientError>) -> (u16, String) {
    match r {
        Err(e) => (e.status().unwrap_or(0), e.code().unwrap_or("").to_string()),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// Finding 1: a request that cannot authenticate is answered from its headers, before its body
/// arrives. The client declares 11 MiB, sends 1 KiB and waits: the 401 must come now (the old
/// server waited for the whole body first).
#[tokio::test]
async fn refused_before_the_body_is_read() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let declared = 11 * 1024 * 1024;
    let cases = [
        ("no Authorization", String::new()),
        (
            "unknown access key",
            "Authorization: SDK-HMAC-SHA256 Access=UNKNOWNKEY0000000000, SignedHeaders=host;x-sdk-date, Signature=00\r\nX-Sdk-Date: 20240101T120000Z\r\n".to_string(),
        ),
        (
            "known key, stale date",
            format!(
                "Authorization: SDK-HMAC-SHA256 Access={}, SignedHeaders=host;x-sdk-date, Signature=00\r\nX-Sdk-Date: 20200101T000000Z\r\n",
                alice.info.access_key
            ),
        ),
    ];
    for (what, auth) in cases {
        let mut sock = tokio::net::TcpStream::connect(srv.addr)
            .await
            .expect("connect");
        let head = format!(
            "POST /v1/{}/vpcs HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n{auth}\r\n",
            alice.info.project_id, srv.addr
        );
        sock.write_all(head.as_bytes()).await.expect("head");
        sock.write_all(&[b' '; 1024]).await.expect("some body");
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        let answered = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let n = sock.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                if got.windows(4).any(|w| w == b"\r\n\r\n")
                    && String::from_utf8_lossy(&got).contains("error_code")
                {
                    break;
                }
            }
        })
        .await;
        let text = String::from_utf8_lossy(&got);
        assert!(
            answered.is_ok(),
            "{what}: no answer within 5 s while the body was incomplete"
        );
        assert!(text.starts_with("HTTP/1.1 401"), "{what}: {text}");
        assert!(text.contains("EndPoint.0003"), "{what}: {text}");
    }
}

/// Finding 1 and 5: sizes. A signed body between the framework's 2 MiB default and Huawei's 12 MB
/// reaches the handler; a larger declared one is refused with the JSON shape before it is read.
#[tokio::test]
async fn body_size_limits_answer_in_json() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let path = alice.client.project_path("/vpcs");
    let big =
        json!({"vpc": {"name": "v", "cidr": "10.0.0.0/16", "description": "x".repeat(3 << 20)}})
            .to_string();
    let (st, body) = signed_raw(
        &alice,
        reqwest::Method::POST,
        &path,
        "",
        big.as_bytes(),
        |_| {},
    )
    .await;
    assert_eq!(st, 400, "a 3 MiB body is the handler's to judge: {body}");
    assert!(
        code(&body).starts_with("VPC.") || code(&body).starts_with("EndPoint."),
        "{body}"
    );

    let huge = vec![b' '; 13 * 1024 * 1024];
    let (st, body) = signed_raw(&alice, reqwest::Method::POST, &path, "", &huge, |_| {}).await;
    assert_eq!((st, code(&body)), (413, "EndPoint.0002"), "{body}");
}

/// Finding 5: every framework rejection is Huawei's JSON error shape.
#[tokio::test]
async fn framework_rejections_are_json() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let p = alice.info.project_id.clone();
    let cases: Vec<(&str, reqwest::Method, String, &str, u16, &str)> = vec![
        (
            "invalid UTF-8 in a path id",
            reqwest::Method::GET,
            format!("/v1/{p}/vpcs/%FF"),
            "",
            400,
            "EndPoint.0002",
        ),
        (
            "invalid UTF-8 in a service id",
            reqwest::Method::GET,
            format!("/v1/{p}/vpc-endpoint-services/%C3%28"),
            "",
            400,
            "EndPoint.0002",
        ),
        (
            "unknown route",
            reqwest::Method::GET,
            format!("/v1/{p}/no-such-thing"),
            "",
            404,
            "EndPoint.0005",
        ),
        (
            "wrong method",
            reqwest::Method::PATCH,
            format!("/v1/{p}/vpcs"),
            "",
            405,
            "EndPoint.1004",
        ),
        (
            "broken JSON",
            reqwest::Method::POST,
            format!("/v1/{p}/vpcs"),
            "{not json",
            400,
            "EndPoint.0002",
        ),
    ];
    for (what, method, path, body, status, want) in cases {
        let (st, got) = signed_raw(&alice, method, &path, "", body.as_bytes(), |_| {}).await;
        assert_eq!((st, code(&got)), (status, want), "{what}: {got}");
        assert!(
            got["error_msg"].as_str().is_some_and(|m| !m.is_empty()),
            "{what}: {got}"
        );
    }
    // Unauthenticated and outside any route: still JSON.
    let resp = reqwest::get(format!("{}/v1/{p}/vpcs/%FF", srv.url()))
        .await
        .expect("get");
    assert_eq!(resp.status().as_u16(), 401);
    let v: Value = resp.json().await.expect("JSON body");
    assert_eq!(code(&v), "EndPoint.0003");
}

/// Finding 6: the signature pins what the handler reads. `+` is a space on both sides (as the
/// reference verifier's `parse_qsl` reads it); signed over `%2B` and sent as `+` is refused.
#[tokio::test]
async fn query_plus_is_pinned_by_the_signature() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let path = alice.client.project_path("/vpc-endpoint-services");
    // Signed and sent alike: accepted, and the handler reads a space (its error echoes the value).
    let (st, body) = signed_raw(
        &alice,
        reqwest::Method::GET,
        &path,
        "status=a+b",
        b"",
        |_| {},
    )
    .await;
    assert_eq!((st, code(&body)), (400, "EndPoint.0019"), "{body}");
    assert!(
        body["error_msg"].as_str().unwrap_or("").contains("'a b'"),
        "{body}"
    );
    // Signed over a%2Bb ("a+b"), sent as a+b ("a b"): a different request, refused.
    let host = srv.addr.to_string();
    let mut headers = vec![
        ("Host".to_string(), host),
        ("Content-Type".to_string(), "application/json".to_string()),
        ("X-Project-Id".to_string(), alice.info.project_id.clone()),
    ];
    vpcep_auth::sign_request(
        &alice.info.access_key,
        &alice.info.secret_key,
        "GET",
        &path,
        "status=a%2Bb",
        &mut headers,
        b"",
        OffsetDateTime::now_utc(),
    );
    let mut req = reqwest::Client::new().get(format!("{}{path}?status=a+b", srv.url()));
    for (k, v) in &headers {
        if k != "Host" {
            req = req.header(k.as_str(), v.as_str());
        }
    }
    let resp = req.send().await.expect("send");
    assert_eq!(resp.status().as_u16(), 401);
}

/// Finding 2: NUL in ids, filters and bodies is one parameter error on every backend (it was a
/// 500 on PostgreSQL).
#[tokio::test]
async fn nul_characters_are_a_parameter_error_on_every_backend() {
    for srv in every_backend().await {
        let b = srv.backend;
        let alice = srv.account("alice").await;
        let c = &alice.client;
        let net = network(c, "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
        let reads = [
            c.get::<Value>(&c.project_path("/vpcs/\0"), &[]).await,
            c.get::<Value>(
                &c.project_path("/vpc-endpoint-services"),
                &[("endpoint_service_name", "\0".into())],
            )
            .await,
            c.get::<Value>(&c.project_path("/vpc-endpoints"), &[("id", "a\0b".into())])
                .await,
        ];
        for r in reads {
            assert_eq!(api_error(r), (400, "EndPoint.0002".to_string()), "{b}");
        }
        let (st, _) = match c.delete(&c.project_path("/ports/\0")).await {
            Err(e) => (e.status().unwrap_or(0), e.code().map(str::to_string)),
            Ok(s) => (s, None),
        };
        assert_eq!(st, 400, "{b}: DELETE /ports/%00");
        let r = c
            .post::<_, Value>(
                &c.project_path("/vpc-endpoints"),
                &json!({"endpoint_service_id": "svc\u{0}", "vpc_id": net.vpc, "subnet_id": net.subnet}),
            )
            .await;
        assert_eq!(api_error(r).0, 400, "{b}: NUL in a JSON id");
        let r = c
            .post::<_, Value>(
                &c.project_path("/vpcs"),
                &json!({"vpc": {"name": "a\u{0}b", "cidr": "10.0.0.0/16"}}),
            )
            .await;
        assert_eq!(api_error(r).0, 400, "{b}: NUL in a name");
        // The console's sign-in looks the access key up before anything is authenticated.
        let e = srv
            .control
            .credential_secret("AK\0")
            .await
            .expect_err("NUL access key");
        let e = vpcep_huawei::error::vpcep(&e);
        assert_eq!((e.status, e.code), (400, "EndPoint.0002"), "{b}");
    }
}

/// Finding 3: asking for .4 while .45 is taken is not "in use" (exact claim keys; the network's
/// VIP and NIC took .2 and .3).
#[tokio::test]
async fn requested_ip_is_compared_exactly() {
    for srv in every_backend().await {
        let b = srv.backend;
        let alice = srv.account("alice").await;
        let c = &alice.client;
        let net = network(c, "192.168.0.0/16", "192.168.5.0/24", "192.168.5.1").await;
        let _: Value = c
            .post(
                &c.project_path("/ports"),
                &json!({"port": {"network_id": net.subnet, "fixed_ips": [{"ip_address": "192.168.5.45"}]}}),
            )
            .await
            .expect("port on .25");
        let svc = create_service(
            c,
            &net,
            "exact",
            false,
            json!([{"server_port": 80, "client_port": 80, "protocol": "TCP"}]),
        )
        .await
        .expect("service");
        let svc_id = svc["id"].as_str().expect("id");
        let body = |ip: &str| json!({"endpoint_service_id": svc_id, "vpc_id": net.vpc, "subnet_id": net.subnet, "port_ip": ip});
        let ep: Value = c
            .post(&c.project_path("/vpc-endpoints"), &body("192.168.5.4"))
            .await
            .unwrap_or_else(|e| panic!("{b}: .4 is free although .45 is taken: {e}"));
        assert_eq!(ep["ip"], "192.168.5.4", "{b}");
        for taken in ["192.168.5.4", "192.168.5.45"] {
            let r = c
                .post::<_, Value>(&c.project_path("/vpc-endpoints"), &body(taken))
                .await;
            assert_eq!(
                api_error(r),
                (400, "EndPoint.2042".to_string()),
                "{b}: {taken}"
            );
        }
    }
}

/// Finding 4: quotas are per account, across its projects in every region.
#[tokio::test]
async fn quota_is_enforced_per_account_across_projects() {
    for srv in every_backend().await {
        let b = srv.backend;
        let alice = srv.account("alice").await;
        srv.control
            .set_quota("alice", QuotaType::EndpointService, 2)
            .await
            .expect("quota");
        let south = srv
            .control
            .create_project("alice", "cn-south-1")
            .await
            .expect("second project");
        let south_client = Client::new(
            &srv.url(),
            &alice.info.access_key,
            &alice.info.secret_key,
            &south.project_id,
        )
        .expect("client");
        let ports = json!([{"server_port": 80, "client_port": 80, "protocol": "TCP"}]);
        let home = network(
            &alice.client,
            "192.168.0.0/16",
            "192.168.0.0/24",
            "192.168.0.1",
        )
        .await;
        let away = network(
            &south_client,
            "192.168.0.0/16",
            "192.168.0.0/24",
            "192.168.0.1",
        )
        .await;
        create_service(&alice.client, &home, "one", false, ports.clone())
            .await
            .expect("1st");
        create_service(&south_client, &away, "two", false, ports.clone())
            .await
            .expect("2nd");
        for (who, c, net) in [
            ("home", &alice.client, &home),
            ("away", &south_client, &away),
        ] {
            let r = create_service(c, net, "three", false, ports.clone()).await;
            assert_eq!(
                api_error(r),
                (400, "Endpoint.1018".to_string()),
                "{b}: {who}"
            );
            let q: Value = c
                .get(
                    &c.project_path("/quotas"),
                    &[("type", "endpoint_service".into())],
                )
                .await
                .expect("quotas");
            let r = &q["quotas"]["resources"][0];
            assert_eq!(
                (r["used"].as_i64(), r["quota"].as_i64()),
                (Some(2), Some(2)),
                "{b}: {who}: {q}"
            );
        }
    }
}

/// A store that counts the queries it serves, to see how many a listing costs.
struct CountingStore {
    inner: SharedStore,
    reads: AtomicU64,
}

#[async_trait]
impl Store for CountingStore {
    async fn begin(&self) -> Result<Box<dyn Tx>, StoreError> {
        self.inner.begin().await
    }
    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Record>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get(kind, id).await
    }
    async fn list(&self, query: &Query) -> Result<Page, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.list(query).await
    }
    async fn count(&self, query: &Query) -> Result<i64, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.count(query).await
    }
    async fn count_by_parent(
        &self,
        query: &Query,
    ) -> Result<std::collections::HashMap<String, i64>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.count_by_parent(query).await
    }
    async fn revision(&self) -> Result<u64, StoreError> {
        self.inner.revision().await
    }
    async fn snapshot(&self, kinds: &[Kind]) -> Result<(u64, Vec<Record>), StoreError> {
        self.inner.snapshot(kinds).await
    }
    async fn changes_since(&self, after: u64, kinds: &[Kind]) -> Result<ChangeSet, StoreError> {
        self.inner.changes_since(after, kinds).await
    }
    async fn compact(&self, revision: u64) -> Result<(), StoreError> {
        self.inner.compact(revision).await
    }
    fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.inner.subscribe()
    }
    async fn usage(
        &self,
        project_id: &str,
        range: vpcep_core::metering::UsageRange,
    ) -> Result<Vec<vpcep_core::metering::HourUsage>, StoreError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.usage(project_id, range).await
    }
    async fn audit_append(&self, row: &vpcep_store::AuditRow) -> Result<u64, StoreError> {
        self.inner.audit_append(row).await
    }
    async fn audit_list(
        &self,
        query: &vpcep_store::AuditQuery,
    ) -> Result<Vec<vpcep_store::AuditRow>, StoreError> {
        self.inner.audit_list(query).await
    }
}

/// Finding 8: listing services costs the same number of store queries for 1 or 5 services (it
/// was one connection count per listed service).
#[tokio::test]
async fn listing_services_costs_no_query_per_row() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sql: SharedStore = Arc::new(
        SqlStore::open_sqlite(&dir.path().join("t.db"))
            .await
            .expect("store"),
    );
    let counting = Arc::new(CountingStore {
        inner: sql,
        reads: AtomicU64::new(0),
    });
    let srv = Server::serve(counting.clone(), Settings::default(), dir, "sqlite", None).await;
    let alice = srv.account("alice").await;
    let c = &alice.client;
    let net = network(c, "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let mut costs = vec![];
    for i in 0..5 {
        let ports = json!([{"server_port": 80 + i, "client_port": 80, "protocol": "TCP"}]);
        create_service(c, &net, &format!("s{i}"), false, ports)
            .await
            .expect("service");
        let before = counting.reads.load(Ordering::SeqCst);
        let list: Value = c
            .get(&c.project_path("/vpc-endpoint-services"), &[])
            .await
            .expect("list");
        assert_eq!(
            list["endpoint_services"].as_array().map(Vec::len),
            Some(i + 1)
        );
        costs.push(counting.reads.load(Ordering::SeqCst) - before);
    }
    assert!(
        costs.iter().all(|&n| n == costs[0]),
        "store queries per listing must not grow with the rows listed: {costs:?}"
    );
}

/// SPEC Q6 at the connection level: at most `max` connections are served at once (the next one
/// waits, unaccepted, until a slot frees) and a connection idle for the timeout is closed.
#[tokio::test]
async fn connections_are_capped_and_idle_ones_closed() {
    use vpcep_api::listener::LimitedListener;
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = tcp.local_addr().expect("addr");
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let server = tokio::spawn(async move {
        let _ = axum::serve(
            LimitedListener::new(tcp, 2, Duration::from_millis(600)),
            app,
        )
        .await;
    });
    async fn ask(sock: &mut tokio::net::TcpStream) -> String {
        sock.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
            .await
            .expect("write");
        let mut buf = vec![0u8; 1024];
        let n = sock.read(&mut buf).await.unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).to_string()
    }
    let mut a = tokio::net::TcpStream::connect(addr).await.expect("a");
    let mut b = tokio::net::TcpStream::connect(addr).await.expect("b");
    assert!(ask(&mut a).await.starts_with("HTTP/1.1 200"));
    assert!(ask(&mut b).await.starts_with("HTTP/1.1 200"));
    // A third connection completes the TCP handshake (kernel backlog) but is not served.
    let mut c = tokio::net::TcpStream::connect(addr).await.expect("c");
    let waiting = tokio::time::timeout(Duration::from_millis(300), ask(&mut c)).await;
    assert!(
        waiting.is_err(),
        "a third connection was served beyond the cap of 2"
    );
    // Freeing a slot lets it through.
    drop(a);
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), c.read(&mut buf))
        .await
        .expect("served once a slot was free")
        .unwrap_or(0);
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // An idle connection is closed by the server (read sees end of stream).
    let closed = tokio::time::timeout(Duration::from_secs(5), b.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "idle connection left open: {closed:?}"
    );
    server.abort();
}
