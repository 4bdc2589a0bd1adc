//! Service and endpoint lifecycles through the API (SPEC S1–S6, S9, S11).

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn service_lifecycle_with_approval_and_whitelist() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let bob = srv.account("bob").await;
    let a = &alice.client;
    let b = &bob.client;
    let anet = network(a, "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    // Bob's VPC uses the very same CIDR: allowed, VPCs never meet.
    let bnet = network(b, "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;

    let svc = create_service(
        a,
        &anet,
        "web",
        true,
        json!([{"client_port": 80, "server_port": 8080, "protocol": "TCP"},
        {"client_port": 53, "server_port": 53, "protocol": "UDP"}]),
    )
    .await
    .expect("create service");
    let sid = svc["id"].as_str().expect("id").to_string();
    assert_eq!(
        svc["status"], "creating",
        "a new service waits for the data plane"
    );
    assert_eq!(svc["service_name"], format!("cn-north-4.web.{sid}"));
    assert_eq!(svc["approval_enabled"], true);
    assert_eq!(svc["ports"][0]["client_port"], 80, "ports are JSON numbers");
    assert_eq!(srv.settle().await, 1);
    let detail: Value = a
        .get(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}")),
            &[],
        )
        .await
        .expect("detail");
    assert_eq!(detail["status"], "available");

    // Bob is not whitelisted: cannot describe it, cannot connect.
    let name = svc["service_name"].as_str().expect("name").to_string();
    let r: Result<Value, _> = b
        .get(
            &b.project_path("/vpc-endpoint-services/describe"),
            &[("endpoint_service_name", name.clone())],
        )
        .await;
    assert_eq!(r.expect_err("hidden").status(), Some(404));
    assert_eq!(code(create_endpoint(b, &sid, &bnet).await), "EndPoint.2012");

    // Alice whitelists Bob (batch-create), now describe finds it and connect works.
    let added: Value = a
        .post(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/permissions/batch-create")),
            &json!({"permissions": [{"permission": format!("iam:domain::{}", bob.info.domain_id), "description": "bob"}], "permission_type": "domainId"}),
        )
        .await
        .expect("whitelist");
    assert_eq!(added["permissions"][0]["permission_type"], "domainId");
    let found: Value = b
        .get(
            &b.project_path("/vpc-endpoint-services/describe"),
            &[("endpoint_service_name", name.clone())],
        )
        .await
        .expect("describe");
    assert_eq!(found["id"], sid.as_str());
    let ep = create_endpoint(b, &sid, &bnet).await.expect("endpoint");
    let eid = ep["id"].as_str().expect("id").to_string();
    assert_eq!(ep["status"], "pendingAcceptance");
    assert_eq!(
        ep["ip"].as_str().map(|s| s.starts_with("192.168.0.")),
        Some(true)
    );
    // Pending endpoints are not programmed: the agent's report does nothing.
    assert_eq!(srv.settle().await, 0);

    // Alice sees the connection, with Bob's account, and accepts it.
    let conns: Value = a
        .get(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/connections")),
            &[],
        )
        .await
        .expect("conns");
    assert_eq!(conns["total_count"], 1);
    assert_eq!(
        conns["connections"][0]["domain_id"],
        bob.info.domain_id.as_str()
    );
    let r = a
        .post::<_, Value>(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/connections/action")),
            &json!({"action": "receive", "endpoints": [eid, eid]}),
        )
        .await;
    assert_eq!(code(r), "EndPoint.2031");
    let acc: Value = a
        .post(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/connections/action")),
            &json!({"action": "receive", "endpoints": [eid]}),
        )
        .await
        .expect("receive");
    assert_eq!(
        acc["connections"][0]["status"], "creating",
        "accepted only once the path is programmed"
    );
    assert_eq!(srv.settle().await, 1);
    let e: Value = b
        .get(&b.project_path(&format!("/vpc-endpoints/{eid}")), &[])
        .await
        .expect("endpoint");
    assert_eq!(e["status"], "accepted");
    let list: Value = a
        .get(&a.project_path("/vpc-endpoint-services"), &[])
        .await
        .expect("list");
    assert_eq!(list["endpoint_services"][0]["connection_count"], 1);

    // The service cannot be deleted while connected; reject first.
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoint-services/{sid}")))
            .await
            .expect_err("in use")
            .code(),
        Some("EndPoint.3006")
    );
    let rej: Value = a
        .post(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/connections/action")),
            &json!({"action": "reject", "endpoints": [eid]}),
        )
        .await
        .expect("reject");
    assert_eq!(rej["connections"][0]["status"], "rejected");

    // Bob cannot see or delete Alice's service (404, not 403).
    let r: Result<Value, _> = b
        .get(
            &b.project_path(&format!("/vpc-endpoint-services/{sid}")),
            &[],
        )
        .await;
    assert_eq!(r.expect_err("other tenant").status(), Some(404));
    assert_eq!(
        b.delete(&b.project_path(&format!("/vpc-endpoint-services/{sid}")))
            .await
            .expect_err("x")
            .status(),
        Some(404)
    );

    // Deletes go through `deleting` and finish when the agent confirms.
    assert_eq!(
        b.delete(&b.project_path(&format!("/vpc-endpoints/{eid}")))
            .await
            .expect("delete ep"),
        204
    );
    let e: Value = b
        .get(&b.project_path(&format!("/vpc-endpoints/{eid}")), &[])
        .await
        .expect("deleting");
    assert_eq!(e["status"], "deleting");
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpc-endpoint-services/{sid}")))
            .await
            .expect("delete svc"),
        204
    );
    assert_eq!(srv.settle().await, 2);
    let r: Result<Value, _> = b
        .get(&b.project_path(&format!("/vpc-endpoints/{eid}")), &[])
        .await;
    assert_eq!(r.expect_err("gone").code(), Some("EndPoint.2006"));
    let list: Value = a
        .get(&a.project_path("/vpc-endpoint-services"), &[])
        .await
        .expect("list");
    assert_eq!(list["total_count"], 0);
}

#[tokio::test]
async fn service_rules() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let a = &alice.client;
    let net = network(a, "10.0.0.0/16", "10.0.1.0/24", "10.0.1.1").await;
    let p = |c: i64, s: i64| json!([{"client_port": c, "server_port": s, "protocol": "TCP"}]);

    assert_eq!(
        code(create_service(a, &net, "way-too-long-name", false, p(80, 80)).await),
        "EndPoint.3076"
    );
    assert_eq!(
        code(create_service(a, &net, "x", false, p(80, 65536)).await),
        "EndPoint.3043"
    );
    assert_eq!(
        code(create_service(a, &net, "x", false, p(0, 80)).await),
        "EndPoint.3004"
    );
    assert_eq!(
        code(
            create_service(
                a,
                &net,
                "x",
                false,
                json!([{"client_port": 1, "server_port": 1, "protocol": "SCTP"}])
            )
            .await
        ),
        "EndPoint.3075"
    );
    let dup = json!([{"client_port": 80, "server_port": 80, "protocol": "TCP"}, {"client_port": 80, "server_port": 81, "protocol": "TCP"}]);
    assert_eq!(
        code(create_service(a, &net, "x", false, dup).await),
        "EndPoint.3044"
    );
    let many: Vec<Value> = (1..=201)
        .map(|i| json!({"client_port": i, "server_port": i, "protocol": "TCP"}))
        .collect();
    assert_eq!(
        code(create_service(a, &net, "x", false, Value::Array(many)).await),
        "EndPoint.3074"
    );
    // Broken JSON and wrong types are parameter errors, not 422s or 500s.
    let (st, body) = raw(&alice, "POST", "/vpc-endpoint-services", "{not json").await;
    assert_eq!(
        (st, body["error_code"].as_str()),
        (400, Some("EndPoint.0002"))
    );
    let (st, body) = raw(
        &alice,
        "POST",
        "/vpc-endpoint-services",
        r#"{"ports": "x"}"#,
    )
    .await;
    assert_eq!(
        (st, body["error_code"].as_str()),
        (400, Some("EndPoint.0002"))
    );

    // The same (server_port, protocol) on one backend conflicts across services; UDP does not.
    create_service(a, &net, "one", false, p(80, 8080))
        .await
        .expect("one");
    assert_eq!(
        code(create_service(a, &net, "two", false, p(81, 8080)).await),
        "EndPoint.3044"
    );
    create_service(
        a,
        &net,
        "two",
        false,
        json!([{"client_port": 80, "server_port": 8080, "protocol": "UDP"}]),
    )
    .await
    .expect("udp ok");
    // At most five services per backend.
    for i in 3..=5 {
        create_service(a, &net, &format!("s{i}"), false, p(80, 9000 + i))
            .await
            .expect("within limit");
    }
    assert_eq!(
        code(create_service(a, &net, "s6", false, p(80, 9006)).await),
        "EndPoint.3056"
    );

    // Listing: filters, paging, totals, sort validation.
    let list: Value = a
        .get(
            &a.project_path("/vpc-endpoint-services"),
            &[("limit", "2".into()), ("offset", "1".into())],
        )
        .await
        .expect("page");
    assert_eq!(list["total_count"], 5);
    assert_eq!(list["endpoint_services"].as_array().map(Vec::len), Some(2));
    let list: Value = a
        .get(
            &a.project_path("/vpc-endpoint-services"),
            &[("endpoint_service_name", "S4".into())],
        )
        .await
        .expect("filter");
    assert_eq!(
        list["total_count"], 1,
        "name filter is a case-insensitive substring"
    );
    for (k, v, c) in [
        ("limit", "1001", "EndPoint.0006"),
        ("offset", "-1", "EndPoint.0010"),
        ("sort_key", "name", "EndPoint.0017"),
        ("sort_dir", "up", "EndPoint.0018"),
        ("status", "weird", "EndPoint.0019"),
    ] {
        let r: Result<Value, _> = a
            .get(&a.project_path("/vpc-endpoint-services"), &[(k, v.into())])
            .await;
        assert_eq!(r.expect_err(k).code(), Some(c), "{k}={v}");
    }

    // Rename and update; the backend cannot change.
    let sid = list["endpoint_services"][0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    let r: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/name")),
            &json!({"endpoint_service_name": "renamed"}),
        )
        .await
        .expect("rename");
    assert_eq!(r["endpoint_service_name"], "renamed");
    let u: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}")),
            &json!({"approval_enabled": true, "description": "d"}),
        )
        .await
        .expect("update");
    assert_eq!(u["service_name"], format!("cn-north-4.renamed.{sid}"));
    assert_eq!(u["approval_enabled"], true);
    let r: Result<Value, _> = a
        .put(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}")),
            &json!({"port_id": net.vm_port}),
        )
        .await;
    assert_eq!(code(r), "EndPoint.3054");
}

#[tokio::test]
async fn endpoint_rules_regions_and_quotas() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let carol = srv.account_in("carol", Some("cn-south-1")).await;
    let a = &alice.client;
    let net = network(a, "172.16.0.0/16", "172.16.0.0/29", "172.16.0.1").await;
    let svc = create_service(
        a,
        &net,
        "api",
        false,
        json!([{"client_port": 443, "server_port": 8443}]),
    )
    .await
    .expect("svc");
    let sid = svc["id"].as_str().expect("id").to_string();
    assert_eq!(
        svc["ports"][0]["protocol"], "TCP",
        "protocol defaults to TCP"
    );

    // Requested IPs: taken, outside, reserved; then a free one.
    let body = |ip: &str| json!({"endpoint_service_id": sid, "vpc_id": net.vpc, "subnet_id": net.subnet, "port_ip": ip, "enable_dns": true});
    let lbip = "172.16.0.2"; // the LB VIP took the first address
    let r = a
        .post::<_, Value>(&a.project_path("/vpc-endpoints"), &body(lbip))
        .await;
    assert_eq!(code(r), "EndPoint.2042");
    let r = a
        .post::<_, Value>(&a.project_path("/vpc-endpoints"), &body("10.0.0.5"))
        .await;
    assert_eq!(code(r), "EndPoint.2043");
    let r = a
        .post::<_, Value>(&a.project_path("/vpc-endpoints"), &body("172.16.0.7"))
        .await;
    assert_eq!(code(r), "EndPoint.2043", "broadcast is reserved");
    let e: Value = a
        .post(&a.project_path("/vpc-endpoints"), &body("172.16.0.6"))
        .await
        .expect("requested ip");
    assert_eq!(e["ip"], "172.16.0.6");
    assert_eq!(
        e["status"], "creating",
        "approval off: straight to creating"
    );
    assert_eq!(e["enable_dns"], true);
    let eid = e["id"].as_str().expect("id").to_string();
    let detail: Value = a
        .get(&a.project_path(&format!("/vpc-endpoints/{eid}")), &[])
        .await
        .expect("detail");
    assert_eq!(
        detail["dns_names"][0],
        format!("{eid}.api.vpcep.cn-north-4.internal")
    );
    srv.settle().await;

    // A /29 has 5 usable addresses; LB VIP + server NIC + 1 endpoint use 3: two more, then full.
    create_endpoint(a, &sid, &net).await.expect("4th");
    create_endpoint(a, &sid, &net).await.expect("5th");
    assert_eq!(code(create_endpoint(a, &sid, &net).await), "EndPoint.3001");

    // Endpoint whitelist.
    let r = a
        .put::<_, Value>(
            &a.project_path(&format!("/vpc-endpoints/{eid}")),
            &json!({"whitelist": ["10.0.0.1/8"], "enable_whitelist": true}),
        )
        .await;
    assert_eq!(code(r), "EndPoint.2044");
    let w: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoints/{eid}")),
            &json!({"whitelist": ["10.0.0.0/8", "192.168.1.1"], "enable_whitelist": true}),
        )
        .await
        .expect("whitelist");
    assert_eq!(w["whitelist"], json!(["10.0.0.0/8", "192.168.1.1"]));
    assert_eq!(w["enable_whitelist"], true);

    // Another region never sees it (SPEC S6).
    let c = &carol.client;
    let r: Result<Value, _> = c
        .get(
            &c.project_path("/vpc-endpoint-services/describe"),
            &[("id", sid.clone())],
        )
        .await;
    assert_eq!(r.expect_err("region").status(), Some(404));
    let cnet = network(c, "172.16.0.0/16", "172.16.0.0/24", "172.16.0.1").await;
    assert_eq!(code(create_endpoint(c, &sid, &cnet).await), "EndPoint.2003");
    let r: Result<Value, _> = a
        .get(&a.project_path("/vpc-endpoint-services/describe"), &[])
        .await;
    assert_eq!(r.expect_err("neither").code(), Some("EndPoint.0002"));

    // Quotas: an operator lowers Alice's endpoint quota below her usage.
    srv.control
        .set_quota("alice", vpcep_core::model::QuotaType::Endpoint, 3)
        .await
        .expect("quota");
    let q: Value = a
        .get(&a.project_path("/quotas"), &[("type", "endpoint".into())])
        .await
        .expect("quotas");
    assert_eq!(
        q["quotas"]["resources"],
        json!([{"type": "endpoint", "used": 3, "quota": 3}])
    );
    let other = network(a, "10.9.0.0/16", "10.9.0.0/24", "10.9.0.1").await;
    assert_eq!(
        code(create_endpoint(a, &sid, &other).await),
        "Endpoint.1018"
    );
}

#[tokio::test]
async fn tags_permissions_policy_and_versions() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let a = &alice.client;
    let net = network(a, "10.1.0.0/16", "10.1.0.0/24", "10.1.0.1").await;
    let svc = create_service(
        a,
        &net,
        "tagged",
        true,
        json!([{"client_port": 1, "server_port": 1}]),
    )
    .await
    .expect("svc");
    let sid = svc["id"].as_str().expect("id").to_string();

    let st = a
        .call(reqwest::Method::POST, &a.project_path(&format!("/endpoint_service/{sid}/tags/action")), &[], Some(&json!({"action": "create", "tags": [{"key": "env", "value": "prod"}, {"key": "team", "value": "a"}]})))
        .await
        .expect("tags");
    assert_eq!(st.0, 204);
    let tags: Value = a
        .get(&a.project_path("/endpoint_service/tags"), &[])
        .await
        .expect("project tags");
    assert_eq!(
        tags["tags"],
        json!([{"key": "env", "values": ["prod"]}, {"key": "team", "values": ["a"]}])
    );
    let found: Value = a
        .post(
            &a.project_path("/endpoint_service/resource_instances/action"),
            &json!({"action": "filter", "tags": [{"key": "env", "values": ["prod"]}]}),
        )
        .await
        .expect("filter");
    assert_eq!(found["total_count"], 1);
    assert_eq!(found["resources"][0]["resource_id"], sid.as_str());
    let count: Value = a
        .post(
            &a.project_path("/endpoint_service/resource_instances/action"),
            &json!({"action": "count", "tags": [{"key": "env", "values": ["dev"]}]}),
        )
        .await
        .expect("count");
    assert_eq!(count["total_count"], 0);
    let r = a
        .post::<_, Value>(
            &a.project_path("/bogus/resource_instances/action"),
            &json!({"action": "filter"}),
        )
        .await;
    assert_eq!(code(r), "EndPoint.3070");
    a.call(
        reqwest::Method::POST,
        &a.project_path(&format!("/endpoint_service/{sid}/tags/action")),
        &[],
        Some(&json!({"action": "delete", "tags": [{"key": "env"}]})),
    )
    .await
    .expect("untag");
    let d: Value = a
        .get(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}")),
            &[],
        )
        .await
        .expect("detail");
    assert_eq!(d["tags"], json!([{"key": "team", "value": "a"}]));

    // Legacy add/remove, list with fuzzy filter, description update, batch delete.
    let r: Value = a
        .post(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/permissions/action")),
            &json!({"permissions": ["*", "iam:domain::abc123"], "action": "add"}),
        )
        .await
        .expect("add");
    assert_eq!(r["permissions"], json!(["*", "iam:domain::abc123"]));
    let r = a
        .post::<_, Value>(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/permissions/action")),
            &json!({"permissions": ["nope"], "action": "add"}),
        )
        .await;
    assert_eq!(code(r), "EndPoint.3002");
    let r = a
        .post::<_, Value>(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/permissions/action")),
            &json!({"permissions": ["*"], "action": "grant"}),
        )
        .await;
    assert_eq!(code(r), "EndPoint.3035");
    let list: Value = a
        .get(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/permissions")),
            &[("permission", "abc".into())],
        )
        .await
        .expect("list");
    assert_eq!(list["total_count"], 1);
    let pid = list["permissions"][0]["id"]
        .as_str()
        .expect("pid")
        .to_string();
    let u: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoint-services/{sid}/permissions/{pid}")),
            &json!({"permission": {"description": "partner"}}),
        )
        .await
        .expect("desc");
    assert_eq!(u["permissions"][0]["description"], "partner");
    let del: Value = a
        .post(
            &a.project_path(&format!(
                "/vpc-endpoint-services/{sid}/permissions/batch-delete"
            )),
            &json!({"permissions": [{"id": pid}]}),
        )
        .await
        .expect("batch delete");
    assert_eq!(del["permissions"][0]["permission"], "iam:domain::abc123");

    // Endpoint policy and route tables, connection descriptions.
    let e = create_endpoint(a, &sid, &net).await.expect("ep");
    let eid = e["id"].as_str().expect("id").to_string();
    let stmt = json!([{"Effect": "Allow", "Action": ["obs:*"], "Resource": ["*"]}]);
    let pol: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoints/{eid}/policy")),
            &json!({"policy_statement": stmt}),
        )
        .await
        .expect("policy");
    assert_eq!(pol["policy_statement"], stmt);
    let r = a
        .put::<_, Value>(
            &a.project_path(&format!("/vpc-endpoints/{eid}/policy")),
            &json!({"policy_statement": [{"Effect": "Maybe"}]}),
        )
        .await;
    assert_eq!(code(r), "EndPoint.2048");
    let (st, v) = a
        .call(
            reqwest::Method::DELETE,
            &a.project_path(&format!("/vpc-endpoints/{eid}/policy")),
            &[],
            None,
        )
        .await
        .expect("del policy");
    assert_eq!((st, &v["policy_statement"]), (200, &json!([])));
    let desc: Value = a
        .put(
            &a.project_path(&format!(
                "/vpc-endpoint-services/{sid}/connections/description"
            )),
            &json!({"connections": [{"id": eid, "description": "team b"}]}),
        )
        .await
        .expect("conn desc");
    assert_eq!(desc["connections"][0]["description"], "team b");
    let rt = uuid_like();
    let r: Value = a
        .put(
            &a.project_path(&format!("/vpc-endpoints/{eid}/routetables")),
            &json!({"routetables": [rt]}),
        )
        .await
        .expect("rt");
    assert_eq!(r["routetables"][0], rt.as_str());

    // Version discovery needs no signature.
    let v: Value = reqwest::get(format!("{}/", srv.url()))
        .await
        .expect("versions")
        .json()
        .await
        .expect("json");
    assert_eq!(v["versions"][0]["id"], "v1");
    let v: Value = reqwest::get(format!("{}/v1", srv.url()))
        .await
        .expect("v1")
        .json()
        .await
        .expect("json");
    assert_eq!(v["version"]["status"], "CURRENT");
    // The OpenAPI document is served.
    let doc: Value = reqwest::get(format!("{}/openapi.json", srv.url()))
        .await
        .expect("openapi")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|s| s.starts_with("3.")));
}

fn uuid_like() -> String {
    "0b7c9f59-8d1c-4a43-9f55-9a3c1e1a2b3c".to_string()
}

/// A signed request with a raw body (to send what the typed client never would).
pub async fn raw(acc: &Account, method: &str, rest: &str, body: &str) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let path = acc.client.project_path(rest);
    crate::auth::signed_raw(acc, m, &path, "", body.as_bytes(), |_| {}).await
}

#[tokio::test]
async fn cloud_services_need_no_whitelist() {
    let srv = Server::start().await;
    let op = srv.account("operator").await;
    let bob = srv.account("bob").await;
    let carol = srv.account_in("carol", Some("cn-south-1")).await;
    let net = network(&op.client, "10.50.0.0/16", "10.50.0.0/24", "10.50.0.1").await;
    let caller = srv
        .control
        .caller_for_account("operator", "cn-north-4")
        .await
        .expect("caller");
    let body = vpcep_huawei::vpcep::CreateEndpointServiceBody {
        port_id: Some(net.vm_port.clone()),
        vpc_id: Some(net.vpc.clone()),
        server_type: Some("VM".into()),
        service_name: Some("dns".into()),
        approval_enabled: Some(false),
        ports: Some(vec![vpcep_huawei::vpcep::PortListIn {
            client_port: Some(53),
            server_port: Some(53),
            protocol: Some("UDP".into()),
        }]),
        ..Default::default()
    };
    let svc = srv
        .control
        .create_service_as(&caller, body.into(), true)
        .await
        .expect("cloud service");
    let b = &bob.client;
    let public: Value = b
        .get(&b.project_path("/vpc-endpoint-services/public"), &[])
        .await
        .expect("public");
    assert_eq!(public["total_count"], 1);
    assert_eq!(
        public["endpoint_services"][0]["service_name"],
        svc.service_name.as_str()
    );
    assert_eq!(
        public["endpoint_services"][0]["owner"],
        op.info.domain_id.as_str()
    );
    let bnet = network(b, "10.50.0.0/16", "10.50.0.0/24", "10.50.0.1").await;
    let e = create_endpoint(b, &svc.id, &bnet)
        .await
        .expect("no whitelist needed");
    assert_eq!(e["status"], "creating");
    // Other regions do not list it.
    let c = &carol.client;
    let public: Value = c
        .get(&c.project_path("/vpc-endpoint-services/public"), &[])
        .await
        .expect("public");
    assert_eq!(public["total_count"], 0);
}

/// Records of every kind in the store (a restart must not add any).
async fn store_counts(srv: &Server) -> Vec<(vpcep_core::model::Kind, i64)> {
    let mut out = Vec::new();
    for k in vpcep_core::model::Kind::ALL {
        let n = srv.control.count_all(k).await.expect("count");
        out.push((k, n));
    }
    out
}

/// SPEC S2: the built-in DNS cloud service exists after the start-up bootstrap, is public under
/// `{vendor_prefix}.{region}.dns` with 53/UDP and 53/TCP, takes endpoints without a whitelist or
/// approval, and a second bootstrap (a restart) creates nothing and keeps the ids.
#[tokio::test]
async fn builtin_dns_cloud_service_on_every_backend() {
    use vpcep_control::bootstrap::*;
    for srv in every_backend().await {
        let be = srv.backend;
        let first = srv
            .control
            .bootstrap_builtin_dns()
            .await
            .expect("bootstrap");
        assert!(
            first.created.contains(&"service"),
            "{be}: {:?}",
            first.created
        );
        assert!(first.created.contains(&"operator account"), "{be}");
        let name = format!("{DEFAULT_VENDOR_PREFIX}.cn-north-4.dns");
        assert_eq!(first.service.service_name, name, "{be}");
        assert!(
            first.service.is_public && !first.service.approval_enabled,
            "{be}"
        );
        assert!(
            is_builtin_dns(&first.service),
            "{be}: tagged vpcep.builtin=dns"
        );

        // The resolver's network: fixed IP, group admitting DNS from the SNAT range.
        let port = srv
            .control
            .get_port(&first.caller, &first.port_id)
            .await
            .expect("port");
        assert_eq!(port.ip_address, DNS_RESOLVER_IP, "{be}");
        assert_eq!(port.device_id, first.server_id, "{be}: the server's NIC");
        assert_eq!(
            port.security_groups,
            vec![first.security_group_id.clone()],
            "{be}"
        );
        let vpc = srv
            .control
            .get_vpc(&first.caller, &first.vpc_id)
            .await
            .expect("vpc");
        assert_eq!(vpc.cidr, DNS_RESOLVER_VPC_CIDR, "{be}");
        let (_, rules) = srv
            .control
            .get_security_group(&first.caller, &first.security_group_id)
            .await
            .expect("sg");
        for proto in ["udp", "tcp"] {
            assert!(
                rules.iter().any(|r| r.protocol.as_deref() == Some(proto)
                    && r.port_range_min == Some(53)
                    && r.port_range_max == Some(53)
                    && r.remote_ip_prefix.as_deref() == Some(ENDPOINT_SNAT_CIDR)),
                "{be}: {proto}/53 from {ENDPOINT_SNAT_CIDR} admitted: {rules:?}"
            );
        }

        // An ordinary new account sees exactly it in the public list, by name too.
        let bob = srv.account("bob").await;
        let b = &bob.client;
        let public: Value = b
            .get(&b.project_path("/vpc-endpoint-services/public"), &[])
            .await
            .expect("public");
        assert_eq!(public["total_count"], 1, "{be}: {public}");
        let s = &public["endpoint_services"][0];
        assert_eq!(s["service_name"], name.as_str(), "{be}");
        assert_eq!(s["id"], first.service.id.as_str(), "{be}");
        let by_name: Value = b
            .get(
                &b.project_path("/vpc-endpoint-services/public"),
                &[("endpoint_service_name", name.clone())],
            )
            .await
            .expect("public by name");
        assert_eq!(by_name["total_count"], 1, "{be}");
        let described: Value = b
            .get(
                &b.project_path("/vpc-endpoint-services/describe"),
                &[("endpoint_service_name", name.clone())],
            )
            .await
            .expect("describe by name");
        assert_eq!(described["id"], first.service.id.as_str(), "{be}");
        // The Huawei public/describe shapes carry no ports: read the record.
        let stored = srv
            .control
            .get_service(&first.caller, &first.service.id)
            .await
            .expect("stored");
        let mut ports: Vec<(u16, u16, &str)> = stored
            .ports
            .iter()
            .map(|p| (p.client_port, p.server_port, p.protocol.as_str()))
            .collect();
        ports.sort();
        assert_eq!(ports, vec![(53, 53, "TCP"), (53, 53, "UDP")], "{be}");

        // A restart: nothing new, same ids.
        let before = store_counts(&srv).await;
        let again = srv.control.bootstrap_builtin_dns().await.expect("again");
        assert!(again.created.is_empty(), "{be}: {:?}", again.created);
        assert_eq!(again.service.id, first.service.id, "{be}");
        assert_eq!(again.caller, first.caller, "{be}");
        assert_eq!(
            (&again.vpc_id, &again.subnet_id, &again.security_group_id),
            (&first.vpc_id, &first.subnet_id, &first.security_group_id),
            "{be}"
        );
        assert_eq!(
            (&again.server_id, &again.port_id),
            (&first.server_id, &first.port_id),
            "{be}"
        );
        assert_eq!(store_counts(&srv).await, before, "{be}");

        // Bob connects without a whitelist entry and without approval.
        assert_eq!(srv.settle().await, 1, "{be}: the service becomes available");
        let bnet = network(b, "10.60.0.0/16", "10.60.0.0/24", "10.60.0.1").await;
        let e = create_endpoint(b, &first.service.id, &bnet)
            .await
            .expect("no whitelist needed");
        assert!(
            e["status"] == "creating" || e["status"] == "accepted",
            "{be}: {e}"
        );
        assert_eq!(srv.settle().await, 1, "{be}");
        let eid = e["id"].as_str().expect("id");
        let e: Value = b
            .get(&b.project_path(&format!("/vpc-endpoints/{eid}")), &[])
            .await
            .expect("endpoint");
        assert_eq!(e["status"], "accepted", "{be}");
    }
}

/// The name follows `--vendor-prefix` and the region (SPEC S2's `cn.ctyun.cn-gzt.dns`), and the
/// operator's quota does not stop the bootstrap while users keep theirs.
#[tokio::test]
async fn builtin_dns_name_is_configurable_and_ignores_operator_quota() {
    let srv = Server::start_with(vpcep_control::Settings {
        region: "cn-gzt".into(),
        vendor_prefix: "cn.ctyun".into(),
        default_quotas: vpcep_core::model::Quotas {
            endpoint_service: 0,
            endpoint: 5,
        },
        ..Default::default()
    })
    .await;
    let b = srv
        .control
        .bootstrap_builtin_dns()
        .await
        .expect("bootstrap");
    assert_eq!(b.service.service_name, "cn.ctyun.cn-gzt.dns");
    assert_eq!(
        srv.control.builtin_dns_service_name(),
        "cn.ctyun.cn-gzt.dns"
    );
    let bob = srv.account("bob").await;
    let c = &bob.client;
    let public: Value = c
        .get(&c.project_path("/vpc-endpoint-services/public"), &[])
        .await
        .expect("public");
    assert_eq!(public["total_count"], 1, "{public}");
    assert_eq!(
        public["endpoint_services"][0]["service_name"],
        "cn.ctyun.cn-gzt.dns"
    );
    // A user's quota of 0 still holds.
    let net = network(c, "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let r = create_service(
        c,
        &net,
        "web",
        false,
        json!([{"client_port": 80, "server_port": 80}]),
    )
    .await;
    assert_eq!(code(r), vpcep_huawei::error::codes::QUOTA_EXCEEDED);
}
