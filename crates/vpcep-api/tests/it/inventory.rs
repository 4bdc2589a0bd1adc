//! The network inventory with Huawei VPC v1 shapes and the lab resources.

use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn vpcs_subnets_ports_and_groups() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let bob = srv.account("bob").await;
    let a = &alice.client;

    let r = a
        .post::<_, Value>(
            &a.project_path("/vpcs"),
            &json!({"vpc": {"name": "bad", "cidr": "198.19.128.0/24"}}),
        )
        .await;
    assert_eq!(code(r), "VPC.0002", "the SNAT range is reserved");
    let v: Value = a
        .post(
            &a.project_path("/vpcs"),
            &json!({"vpc": {"name": "v1", "cidr": "192.168.0.0/16"}}),
        )
        .await
        .expect("vpc");
    assert_eq!(v["vpc"]["status"], "OK");
    let vpc = v["vpc"]["id"].as_str().expect("id").to_string();
    let r = a
        .post::<_, Value>(&a.project_path("/subnets"), &json!({"subnet": {"name": "s", "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.1", "vpc_id": vpc}}))
        .await;
    assert_eq!(code(r), "VPC.0002", "subnet outside the VPC");
    let s: Value = a
        .post(&a.project_path("/subnets"), &json!({"subnet": {"name": "s", "cidr": "192.168.1.0/24", "gateway_ip": "192.168.1.1", "vpc_id": vpc}}))
        .await
        .expect("subnet");
    let subnet = s["subnet"]["id"].as_str().expect("id").to_string();
    let r = a
        .post::<_, Value>(&a.project_path("/subnets"), &json!({"subnet": {"name": "s2", "cidr": "192.168.1.128/25", "gateway_ip": "192.168.1.129", "vpc_id": vpc}}))
        .await;
    assert_eq!(code(r), "VPC.0209", "overlapping subnets");

    let p: Value = a
        .post(
            &a.project_path("/ports"),
            &json!({"port": {"network_id": subnet, "fixed_ips": [{"ip_address": "192.168.1.50"}]}}),
        )
        .await
        .expect("port");
    assert_eq!(p["port"]["fixed_ips"][0]["ip_address"], "192.168.1.50");
    assert_eq!(
        p["port"]["fixed_ips"][0]["subnet_id"],
        s["subnet"]["neutron_subnet_id"]
    );
    let r = a
        .post::<_, Value>(
            &a.project_path("/ports"),
            &json!({"port": {"network_id": subnet, "fixed_ips": [{"ip_address": "192.168.1.50"}]}}),
        )
        .await;
    assert_eq!(code(r), "VPC.0704", "an address is never handed out twice");
    let port = p["port"]["id"].as_str().expect("id").to_string();

    // Security groups: default rules (egress any, ingress from the same group), extra rule.
    let g: Value = a
        .post(
            &a.project_path("/security-groups"),
            &json!({"security_group": {"name": "web"}}),
        )
        .await
        .expect("sg");
    let rules = g["security_group"]["security_group_rules"]
        .as_array()
        .expect("rules")
        .clone();
    assert_eq!(rules.len(), 2);
    let sg = g["security_group"]["id"].as_str().expect("id").to_string();
    let rule: Value = a
        .post(
            &a.project_path("/security-group-rules"),
            &json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp",
                "port_range_min": 80, "port_range_max": 80, "remote_ip_prefix": "198.19.128.0/20"}}),
        )
        .await
        .expect("rule");
    assert_eq!(rule["security_group_rule"]["port_range_min"], 80);
    let r = a
        .post::<_, Value>(
            &a.project_path("/security-group-rules"),
            &json!({"security_group_rule": {"security_group_id": sg, "direction": "sideways"}}),
        )
        .await;
    assert_eq!(code(r), "VPC.0002");

    // Lab resources on top.
    let srvr: Value = a
        .post(
            &a.project_path("/lab/servers"),
            &json!({"server": {"name": "vm1", "vpc_id": vpc, "nics": [{"subnet_id": subnet}, {"subnet_id": subnet, "ip_address": "192.168.1.99"}], "security_groups": [sg]}}),
        )
        .await
        .expect("server");
    assert_eq!(srvr["server"]["nics"][1]["ip_address"], "192.168.1.99");
    let lb: Value = a
        .post(
            &a.project_path("/lab/loadbalancers"),
            &json!({"loadbalancer": {"name": "lb", "vpc_id": vpc, "subnet_id": subnet, "listeners": [{"protocol": "TCP", "port": 80, "members": [{"address": "192.168.1.2", "port": 8080}]}]}}),
        )
        .await
        .expect("lb");
    assert!(
        lb["loadbalancer"]["vip_address"]
            .as_str()
            .is_some_and(|s| s.starts_with("192.168.1."))
    );
    let site: Value = a
        .post(
            &a.project_path("/lab/sites"),
            &json!({"site": {"name": "dc", "vpc_id": vpc, "cidr": "10.8.0.0/16"}}),
        )
        .await
        .expect("site");
    assert_eq!(site["site"]["cidr"], "10.8.0.0/16");
    let r = a
        .post::<_, Value>(
            &a.project_path("/lab/sites"),
            &json!({"site": {"name": "dc2", "vpc_id": vpc, "cidr": "192.168.5.0/24"}}),
        )
        .await;
    assert_eq!(code(r), "VPC.0209", "a site must not overlap its VPC");

    // Dependencies are enforced, other tenants see nothing.
    let b = &bob.client;
    let r: Result<Value, _> = b.get(&b.project_path(&format!("/vpcs/{vpc}")), &[]).await;
    assert_eq!(r.expect_err("hidden").status(), Some(404));
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpcs/{vpc}")))
            .await
            .expect_err("in use")
            .status(),
        Some(409)
    );
    let sg_in_use = a
        .delete(&a.project_path(&format!("/security-groups/{sg}")))
        .await
        .expect_err("sg in use");
    assert_eq!(sg_in_use.status(), Some(409));
    let sid = srvr["server"]["id"].as_str().expect("id");
    assert_eq!(
        a.delete(&a.project_path(&format!("/lab/servers/{sid}")))
            .await
            .expect("del server"),
        204
    );
    let lbid = lb["loadbalancer"]["id"].as_str().expect("id");
    assert_eq!(
        a.delete(&a.project_path(&format!("/lab/loadbalancers/{lbid}")))
            .await
            .expect("del lb"),
        204
    );
    let siteid = site["site"]["id"].as_str().expect("id");
    assert_eq!(
        a.delete(&a.project_path(&format!("/lab/sites/{siteid}")))
            .await
            .expect("del site"),
        204
    );
    assert_eq!(
        a.delete(&a.project_path(&format!("/ports/{port}")))
            .await
            .expect("del port"),
        204
    );
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpcs/{vpc}/subnets/{subnet}")))
            .await
            .expect("del subnet"),
        204
    );
    assert_eq!(
        a.delete(&a.project_path(&format!("/vpcs/{vpc}")))
            .await
            .expect("del vpc"),
        204
    );
}
