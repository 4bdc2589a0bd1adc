//! The audit log (issue 12): a scripted session by two accounts in several projects, then each
//! account's log holds every change it made (operation, ids, outcome, request id, source), none
//! of the other's, no read, and no secret key anywhere; the log survives a restart.

use serde_json::{Value, json};
use vpcep_client::audit::AuditFilter;
use vpcep_client::{Client, ClientError};
use vpcep_huawei::audit::AuditEntryOut;

use crate::harness::*;

/// Every entry of the client's account, paging through with `limit` 3 (so paging is exercised).
async fn whole_log(c: &Client) -> Vec<AuditEntryOut> {
    let mut out: Vec<AuditEntryOut> = vec![];
    let mut marker = None;
    loop {
        let page = c
            .audit_log(&AuditFilter {
                limit: Some(3),
                marker: marker.clone(),
                ..Default::default()
            })
            .await
            .expect("audit log");
        out.extend(page.audit_logs);
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => break,
        }
        assert!(out.len() < 1000, "paging does not end");
    }
    out
}

/// The one entry of `op` that names `id` (panics when there is not exactly one).
fn entry<'a>(log: &'a [AuditEntryOut], op: &str, id: &str) -> &'a AuditEntryOut {
    let found: Vec<_> = log
        .iter()
        .filter(|e| e.operation == op && e.resource_ids.iter().any(|r| r == id))
        .collect();
    assert_eq!(found.len(), 1, "{op} {id}: {found:?}\nlog: {log:#?}");
    found[0]
}

fn request_id(e: &ClientError) -> String {
    match e {
        ClientError::Api { request_id, .. } => request_id.clone(),
        other => panic!("not an API error: {other}"),
    }
}

#[tokio::test]
async fn a_scripted_session_is_audited_per_account_on_every_backend() {
    for srv in every_backend().await {
        session(&srv).await;
    }
}

async fn session(srv: &Server) {
    let b_ = srv.backend;
    let alice = srv.account("alice").await;
    let bob = srv.account("bob").await;
    let a = &alice.client;
    let b = &bob.client;
    // Alice's second project (another region), same keys.
    let p2 = srv
        .control
        .create_project("alice", "cn-east-3")
        .await
        .expect("project");
    let a2 = Client::new(
        &srv.url(),
        &alice.info.access_key,
        &alice.info.secret_key,
        &p2.project_id,
    )
    .expect("client");

    // The session: VPC, subnet, backends, a service, a whitelist entry, Bob's endpoint, its
    // acceptance, a refused create, a delete, a VPC in the second project, reads in between.
    let anet = network(a, "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let svc = create_service(
        a,
        &anet,
        "web",
        true,
        json!([{"client_port": 80, "server_port": 8080, "protocol": "TCP"}]),
    )
    .await
    .expect("service");
    let sid = svc["id"].as_str().expect("sid").to_string();
    srv.settle().await;
    let _: Value = a
        .post(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/permissions/batch-create")),
            &json!({"permissions": [{"permission": format!("iam:domain::{}", bob.info.domain_id)}], "permission_type": "domainId"}),
        )
        .await
        .expect("whitelist");
    let bnet = network(b, "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1").await;
    let ep = create_endpoint(b, &sid, &bnet).await.expect("endpoint");
    let eid = ep["id"].as_str().expect("eid").to_string();
    let _: Value = a
        .post(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/connections/action")),
            &json!({"action": "receive", "endpoints": [eid]}),
        )
        .await
        .expect("accept");
    let refused = a
        .post::<_, Value>(
            &a.project_path("/vpcs"),
            &json!({"vpc": {"name": "bad", "cidr": "10.0.0.0/33"}}),
        )
        .await
        .expect_err("bad cidr");
    let refused_code = refused.code().expect("code").to_string();
    let refused_request = request_id(&refused);
    b.delete(&b.project_path(&format!("/vpc-endpoints/{eid}")))
        .await
        .expect("delete");
    let v2: Value = a2
        .post(
            &a2.project_path("/vpcs"),
            &json!({"vpc": {"name": "second", "cidr": "172.16.0.0/16"}}),
        )
        .await
        .expect("vpc in project 2");
    let vpc2 = v2["vpc"]["id"].as_str().expect("vpc2").to_string();
    // Reads, including the one Huawei sends as POST: never audited.
    let _: Value = a.get(&a.project_path("/vpcs"), &[]).await.expect("list");
    let _: Value = a
        .post(
            &a.project_path("/endpoint_service/resource_instances/action"),
            &json!({"action": "count"}),
        )
        .await
        .expect("count by tags");
    // A forged signature with Alice's key id: refused, recorded under Alice (no secret).
    let forged = Client::new(
        &srv.url(),
        &alice.info.access_key,
        "not-the-secret-0123456789",
        &alice.info.project_id,
    )
    .expect("client");
    let denied = forged
        .post::<_, Value>(
            &forged.project_path("/vpcs"),
            &json!({"vpc": {"name": "x", "cidr": "10.9.0.0/16"}}),
        )
        .await
        .expect_err("forged");
    assert_eq!(denied.status(), Some(401));
    // An unknown key names no account: nothing to file it under.
    let stranger = Client::new(&srv.url(), "NOSUCHKEY0000000000", "s", "p").expect("client");
    let _ = stranger
        .post::<_, Value>(&stranger.project_path("/vpcs"), &json!({}))
        .await
        .expect_err("unknown key");

    // Alice's log: every project of her account, newest first, every change once.
    let log = whole_log(a).await;
    assert_eq!(log.len(), whole_log(&a2).await.len(), "{b_}: account-wide");
    assert!(
        log.windows(2).all(|w| w[0].seq > w[1].seq),
        "{b_}: newest first"
    );
    for e in &log {
        assert_eq!(e.domain_id, alice.info.domain_id, "{b_}: {e:?}");
        assert_eq!(e.front, "api");
        assert!(e.source.starts_with("127.0.0.1:"), "{b_}: source {e:?}");
        assert_eq!(e.request_id.len(), 36, "{b_}: request id {e:?}");
        assert!(!e.operation.starts_with("List"), "{b_}: a read {e:?}");
    }
    let mut ids: Vec<_> = log.iter().map(|e| e.request_id.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), log.len(), "{b_}: one entry per request");
    let ok = |e: &AuditEntryOut| {
        assert!(
            (200..300).contains(&e.status) && e.error_code.is_empty(),
            "{b_}: {e:?}"
        );
        assert_eq!(e.access_key_id, alice.info.access_key);
    };
    ok(entry(&log, "CreateVpc", &anet.vpc));
    ok(entry(&log, "CreateSubnet", &anet.subnet));
    ok(entry(&log, "CreateEndpointService", &sid));
    ok(entry(&log, "BatchAddEndpointServicePermissions", &sid));
    ok(entry(&log, "AcceptOrRejectEndpoint", &sid));
    let second = entry(&log, "CreateVpc", &vpc2);
    ok(second);
    assert_eq!(second.project_id, p2.project_id, "{b_}");
    assert_eq!(
        entry(&log, "CreateEndpointService", &sid).project_id,
        alice.info.project_id
    );
    let bad: Vec<_> = log
        .iter()
        .filter(|e| e.request_id == refused_request)
        .collect();
    assert_eq!(bad.len(), 1, "{b_}: the refused create, by its request id");
    assert_eq!(
        (
            bad[0].operation.as_str(),
            bad[0].status,
            bad[0].error_code.as_str()
        ),
        ("CreateVpc", 400, refused_code.as_str()),
        "{b_}"
    );
    let forged_entry: Vec<_> = log.iter().filter(|e| e.status == 401).collect();
    assert_eq!(forged_entry.len(), 1, "{b_}: the forged attempt");
    assert_eq!(forged_entry[0].access_key_id, alice.info.access_key);
    assert_eq!(forged_entry[0].operation, "CreateVpc");
    assert!(!forged_entry[0].error_code.is_empty());
    // 4 network creates + service + whitelist + accept + refused + project-2 VPC + forged.
    assert_eq!(log.len(), 10, "{b_}: {log:#?}");

    // Bob's log: his changes only.
    let blog = whole_log(b).await;
    for e in &blog {
        assert_eq!(e.domain_id, bob.info.domain_id, "{b_}: {e:?}");
    }
    ok_for(entry(&blog, "CreateEndpoint", &eid), &bob.info.access_key);
    ok_for(entry(&blog, "DeleteEndpoint", &eid), &bob.info.access_key);
    assert_eq!(blog.len(), 6, "{b_}: {blog:#?}");
    assert!(
        !blog
            .iter()
            .any(|e| e.resource_ids.contains(&sid) && e.operation != "CreateEndpoint"),
        "{b_}: none of Alice's entries"
    );

    // No secret key, anywhere in either log's raw JSON.
    for c in [a, b] {
        let raw: Value = c
            .get(&c.project_path("/audit"), &[("limit", "1000".into())])
            .await
            .expect("raw");
        let text = raw.to_string();
        for secret in [&alice.info.secret_key, &bob.info.secret_key] {
            assert!(!text.contains(secret.as_str()), "{b_}: a secret in {text}");
        }
    }

    // Time range: nothing before the session, everything up to now.
    let later = a
        .audit_log(&AuditFilter {
            from_ms: Some(log[0].time_ms + 1),
            ..Default::default()
        })
        .await
        .expect("range");
    assert!(
        later.audit_logs.is_empty(),
        "{b_}: from is inclusive of later only"
    );
    let bad_from = a
        .get::<Value>(&a.project_path("/audit"), &[("from", "yesterday".into())])
        .await
        .expect_err("bad from");
    assert_eq!(bad_from.status(), Some(400), "{b_}");

    // Store-backed: a new control plane over the same database reads the same log.
    if srv.backend == "sqlite" {
        let store = vpcep_store::SqlStore::open_sqlite(&srv.dir().join("t.db"))
            .await
            .expect("reopen");
        let (secrets, _) = vpcep_auth::SecretBox::generate().expect("key");
        let again = vpcep_control::Control::new(
            std::sync::Arc::new(store),
            Default::default(),
            secrets,
            vpcep_huawei::error::recorded_failure,
        );
        let caller = again
            .caller_for(&alice.info.domain_id, &alice.info.project_id)
            .await
            .expect("caller");
        let page = again
            .audit_log(
                &caller,
                &vpcep_control::audit::AuditLogQuery {
                    limit: Some("1000".into()),
                    ..Default::default()
                },
            )
            .await
            .expect("log after restart");
        assert_eq!(
            page.records.iter().map(|r| r.seq).collect::<Vec<_>>(),
            log.iter().map(|e| e.seq).collect::<Vec<_>>(),
            "the log survives a restart"
        );
        // And the database files hold no secret either.
        for f in ["t.db", "t.db-wal"] {
            let bytes = std::fs::read(srv.dir().join(f)).unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes);
            for secret in [&alice.info.secret_key, &bob.info.secret_key] {
                assert!(!text.contains(secret.as_str()), "a secret in {f}");
            }
        }
    }
}

fn ok_for(e: &AuditEntryOut, access_key: &str) {
    assert!(
        (200..300).contains(&e.status) && e.error_code.is_empty(),
        "{e:?}"
    );
    assert_eq!(e.access_key_id, access_key);
}
