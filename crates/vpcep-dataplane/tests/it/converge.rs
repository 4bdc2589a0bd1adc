//! The agent's converge and report logic against a fake kernel (`vpcep-test-support`): no root,
//! no namespaces. An injected failure in the namespace of a service's load balancer fails that
//! service, its endpoint and the load balancer, and they all come back once the "kernel" heals;
//! a rejected endpoint's flows are cut.

use std::time::Duration;

use serde_json::{Value, json};
use vpcep_client::services::ConnectionAction;
use vpcep_dataplane::agent::{Agent, AgentConfig};
use vpcep_dataplane::plan::naming::Namespaces;
use vpcep_test_support::fake_kernel::FakeKernel;
use vpcep_test_support::lab::wait_for as wait;
use vpcep_test_support::server::{Server, create_endpoint, create_service, network};

async fn status(c: &vpcep_client::Client, path: &str, field: Option<&str>) -> String {
    match c.get::<Value>(&c.project_path(path), &[]).await {
        Ok(v) => {
            let v = field.map(|f| &v[f]).unwrap_or(&v);
            v["status"].as_str().unwrap_or_default().to_string()
        }
        Err(e) => format!("error {}", e.code().unwrap_or("?")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_recoveries_reach_every_dependent_object() {
    let srv = Server::start().await;
    let alice = srv.account("alice").await;
    let c = &alice.client;
    let names = Namespaces {
        prefix: "fk-".into(),
    };
    let (kernel, fake) = FakeKernel::new();
    let agent = Agent::with_kernel(
        AgentConfig {
            control_url: srv.url(),
            token: srv.token.clone(),
            names: names.clone(),
            name: "fake".into(),
        },
        kernel,
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let agent = tokio::spawn(agent.run_until(stop));

    let prov = network(c, "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let cons = network(c, "192.168.0.0/16", "192.168.0.0/24", "192.168.0.1").await;
    let ports = json!([{"server_port": 80, "client_port": 80, "protocol": "TCP"}]);
    let svc = create_service(c, &prov, "web", true, ports)
        .await
        .expect("service");
    let sid = svc["id"].as_str().expect("id").to_string();
    let ep = create_endpoint(c, &sid, &cons).await.expect("endpoint");
    let eid = ep["id"].as_str().expect("id").to_string();
    c.connection_action(&sid, ConnectionAction::Accept, &eid)
        .await
        .expect("receive");
    let svc_path = format!("/vpc-endpoint-services/{sid}");
    let ep_path = format!("/vpc-endpoints/{eid}");
    let lbs: Value = c
        .get(&c.project_path("/lab/loadbalancers"), &[])
        .await
        .expect("lbs");
    let lb = lbs["loadbalancers"]
        .as_array()
        .and_then(|l| l.iter().find(|l| l["vip_port_id"] == prov.lb_port.as_str()))
        .and_then(|l| l["id"].as_str())
        .expect("the provider's load balancer")
        .to_string();
    let lb_path = format!("/lab/loadbalancers/{lb}");
    wait("available, accepted, ACTIVE", async || {
        status(c, &svc_path, None).await == "available"
            && status(c, &ep_path, None).await == "accepted"
            && status(c, &lb_path, Some("loadbalancer")).await == "ACTIVE"
    })
    .await;
    assert!(fake.is_applied(&names.lb(&lb)));

    // The load balancer's namespace now fails; a change of its listeners makes the agent try.
    fake.fail(&names.lb(&lb), "injected: Operation not permitted");
    let _: Value = c
        .put(
            &c.project_path(&lb_path),
            &json!({"loadbalancer": {"listeners": [{"protocol": "TCP", "port": 80,
                "members": [{"address": "192.168.0.10", "port": 8080}, {"address": "192.168.0.11", "port": 8080}]}]}}),
        )
        .await
        .expect("lb update");
    wait("failed, failed, ERROR", async || {
        status(c, &svc_path, None).await == "failed"
            && status(c, &ep_path, None).await == "failed"
            && status(c, &lb_path, Some("loadbalancer")).await == "ERROR"
    })
    .await;
    let e: Value = c.get(&c.project_path(&ep_path), &[]).await.expect("ep");
    let why = e["error"][0]["error_message"].as_str().unwrap_or_default();
    assert!(
        why.contains(&names.lb(&lb)) && why.contains("injected"),
        "the reason names the namespace and the kernel's error: {e}"
    );
    assert_eq!(e["error"][0]["error_code"], "EndPoint.4000");

    // Healed: the agent's retry programs it, and every object returns by itself.
    fake.heal(&names.lb(&lb));
    wait("available, accepted, ACTIVE again", async || {
        status(c, &svc_path, None).await == "available"
            && status(c, &ep_path, None).await == "accepted"
            && status(c, &lb_path, Some("loadbalancer")).await == "ACTIVE"
    })
    .await;
    let e: Value = c.get(&c.project_path(&ep_path), &[]).await.expect("ep");
    assert_eq!(e["error"], json!([]), "{e}");

    // Rejecting the endpoint cuts its flows in its gateway shard.
    c.connection_action(&sid, ConnectionAction::Reject, &eid)
        .await
        .expect("reject");
    let ip = ep["ip"].as_str().expect("ip").to_string();
    wait("the endpoint's flows cut", async || {
        fake.state().cuts.iter().any(|(_, _, cut)| *cut == ip)
    })
    .await;

    let _ = stop_tx.send(true);
    tokio::time::timeout(Duration::from_secs(5), agent)
        .await
        .expect("the agent stops on request")
        .expect("agent task");
}
