//! Truthful statuses (issue 9, item 2): a kernel change an object depends on fails → exactly the
//! objects whose traffic passes through that namespace turn `failed` with a reason naming it (the
//! host itself `ERROR` with its fault), and they come back by themselves (the agent retries with
//! back-off) once the cause is gone.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::lab::*;

async fn error_of(c: &vpcep_client::Client, path: &str) -> String {
    match c.get::<Value>(&c.project_path(path), &[]).await {
        Ok(v) => v["error"].to_string(),
        Err(e) => format!("error {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_backend_namespace_fails_its_service_and_endpoint_until_repaired() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let c = lab.account("alice").await;
    // Two independent services, each with an endpoint: only the first one's backend breaks.
    let broken = vm_service(&c, "10.61.0", "10.61.0.0/16").await;
    let healthy = vm_service(&c, "10.62.0", "10.62.0.0/16").await;
    let (b_ep, b_ip) = create_endpoint(&c, &broken.service, &broken.consumer).await;
    let (h_ep, _) = create_endpoint(&c, &healthy.service, &healthy.consumer).await;
    for ep in [&b_ep, &h_ep] {
        wait_for("endpoint accepted", || async {
            status_of(&c, &format!("/vpc-endpoints/{ep}")).await == "accepted"
        })
        .await;
    }
    let web_ns = lab.names.server(&broken.web);
    let web_path = format!("/lab/servers/{}", broken.web);
    let host = |path: String| {
        let c = &c;
        async move {
            let v: Value = c.get(&c.project_path(&path), &[]).await.expect("host");
            (
                v["server"]["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                v["server"]["fault"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        }
    };
    // Hosts are BUILD until programmed, then ACTIVE: scripts wait for this, not for a guess.
    wait_for("backend host ACTIVE", || async {
        host(web_path.clone()).await.0 == "ACTIVE"
    })
    .await;

    // Behind the agent's back, a plain file is mounted over the backend host's namespace handle:
    // the namespace lives on underneath, but nothing can enter it, so every change there fails.
    let handle = format!("/run/netns/{web_ns}");
    let blocker = tempfile::NamedTempFile::new().expect("blocker file");
    let mounted = std::process::Command::new("mount")
        .args(["--bind", &blocker.path().display().to_string(), &handle])
        .status()
        .expect("mount");
    assert!(mounted.success(), "mount --bind over {handle}");
    let mut blocked = Unmount(Some(handle.clone()));

    // A change of that host (one more rule in its security group) must now fail, visibly.
    let srv: Value = c
        .get(
            &c.project_path(&format!("/lab/servers/{}", broken.web)),
            &[],
        )
        .await
        .expect("server");
    let group = srv["server"]["security_groups"][0]
        .as_str()
        .expect("group")
        .to_string();
    let changed = Instant::now();
    let _: Value = c
        .post(
            &c.project_path("/security-group-rules"),
            &json!({"security_group_rule": {"security_group_id": group, "direction": "ingress",
                "protocol": "tcp", "port_range_min": 81, "port_range_max": 81,
                "remote_ip_prefix": "198.19.128.0/20"}}),
        )
        .await
        .expect("rule");
    let svc_path = format!("/vpc-endpoint-services/{}", broken.service);
    let ep_path = format!("/vpc-endpoints/{b_ep}");
    wait_for("service and endpoint failed", || async {
        status_of(&c, &svc_path).await == "failed" && status_of(&c, &ep_path).await == "failed"
    })
    .await;
    let took = changed.elapsed();
    eprintln!("change refused by the kernel → failed shown in {took:?}");
    assert!(
        took < Duration::from_secs(1),
        "failure took {took:?} to show"
    );
    for path in [&svc_path, &ep_path] {
        let why = error_of(&c, path).await;
        assert!(
            why.contains(&web_ns) && why.contains("EndPoint.4000"),
            "{path}: the reason names the namespace: {why}"
        );
    }
    wait_for("backend host ERROR", || async {
        host(web_path.clone()).await.0 == "ERROR"
    })
    .await;
    let (_, fault) = host(web_path.clone()).await;
    assert!(
        fault.contains(&web_ns),
        "the host's fault names its namespace: {fault}"
    );
    // Exactly the affected ones: the other service and endpoint are untouched.
    assert_eq!(
        status_of(&c, &format!("/vpc-endpoint-services/{}", healthy.service)).await,
        "available"
    );
    assert_eq!(
        status_of(&c, &format!("/vpc-endpoints/{h_ep}")).await,
        "accepted"
    );

    // Repair: remove the obstacle. The agent's retry programs the host; both come back without
    // a restart, and traffic flows again.
    let unmounted = std::process::Command::new("umount")
        .arg(&handle)
        .status()
        .expect("umount");
    assert!(unmounted.success());
    blocked.0 = None;
    let repaired = Instant::now();
    wait_for("service available and endpoint accepted again", || async {
        status_of(&c, &svc_path).await == "available" && status_of(&c, &ep_path).await == "accepted"
    })
    .await;
    eprintln!("repaired → available/accepted in {:?}", repaired.elapsed());
    wait_for("backend host ACTIVE again", || async {
        host(web_path.clone()).await == ("ACTIVE".to_string(), String::new())
    })
    .await;
    assert_eq!(error_of(&c, &ep_path).await, "[]");
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo back"],
    )
    .await;
    let client_ns = lab.names.server(&broken.client);
    let (ok, out) = first_success(&client_ns, &b_ip, 80).await;
    assert!(ok, "traffic after recovery: {out}");
}

/// Removes the blocking mount when the test fails before it did (the lab's teardown needs the
/// real handle back); disarmed once the test unmounted it itself.
struct Unmount(Option<String>);

impl Drop for Unmount {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            let _ = std::process::Command::new("umount").arg(handle).status();
        }
    }
}

/// A namespace deleted behind the agent's back is rebuilt at once (the agent watches
/// `/run/netns`), not at the next change of it: traffic through the endpoint resumes by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_deleted_behind_the_agents_back_is_rebuilt() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let c = lab.account("alice").await;
    let svc = vm_service(&c, "10.63.0", "10.63.0.0/16").await;
    let (ep, ip) = create_endpoint(&c, &svc.service, &svc.consumer).await;
    wait_for("endpoint accepted", || async {
        status_of(&c, &format!("/vpc-endpoints/{ep}")).await == "accepted"
    })
    .await;
    let web_ns = lab.names.server(&svc.web);
    lab.namespace(&web_ns).await;
    let deleted = std::process::Command::new("ip")
        .args(["netns", "delete", &web_ns])
        .status()
        .expect("ip netns delete");
    assert!(deleted.success());
    let started = Instant::now();
    // Back, with its NIC in the router's bridge again: a server started in it is reachable
    // through the endpoint.
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            "SYSTEM:echo rebuilt",
        ],
    )
    .await;
    let client_ns = lab.names.server(&svc.client);
    let (ok, out) = first_success(&client_ns, &ip, 80).await;
    let took = started.elapsed();
    eprintln!("namespace deleted → rebuilt and serving through the endpoint in {took:?}");
    assert!(
        ok && out.contains("rebuilt"),
        "traffic after the rebuild: {out}"
    );
    assert!(took < Duration::from_secs(5), "rebuild took {took:?}");
    assert_eq!(
        status_of(&c, &format!("/vpc-endpoints/{ep}")).await,
        "accepted"
    );
}

/// A namespace handle with nothing mounted on it, what an agent killed between making the handle
/// and mounting the new namespace on it leaves (`vpcep`'s robustness test `agent_crash` kills
/// one there): the next agent makes the namespace on it, instead of failing to enter it for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handle_left_by_a_creation_cut_short_becomes_the_namespace_at_restart() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let c = lab.account("alice").await;
    let svc = vm_service(&c, "10.66.0", "10.66.0.0/16").await;
    let (ep, ip) = create_endpoint(&c, &svc.service, &svc.consumer).await;
    wait_for("endpoint accepted", || async {
        status_of(&c, &format!("/vpc-endpoints/{ep}")).await == "accepted"
    })
    .await;
    let web_ns = lab.names.server(&svc.web);
    lab.stop_agent().await;
    let deleted = std::process::Command::new("ip")
        .args(["netns", "delete", &web_ns])
        .status()
        .expect("ip netns delete");
    assert!(deleted.success());
    std::fs::write(format!("/run/netns/{web_ns}"), "").expect("an empty handle");
    let (entered, _) = exec_in(&web_ns, &["true"]).await;
    assert!(!entered, "an empty handle cannot be entered");

    lab.restart_agent().await;
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo made"],
    )
    .await;
    let client_ns = lab.names.server(&svc.client);
    let (ok, out) = first_success(&client_ns, &ip, 80).await;
    assert!(ok && out.contains("made"), "traffic to the host: {out}");
    assert_eq!(
        status_of(&c, &format!("/vpc-endpoints/{ep}")).await,
        "accepted"
    );
}

/// A gateway shard deleted behind the agent's back: the kernel tears a deleted namespace down
/// asynchronously, so the old veth ends in the routers can outlive the delete and then vanish
/// (taking the router's route to the SNAT range with them) after the agent rebuilt the gateway.
/// Traffic must resume and stay up, with the provider router's route back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_deleted_behind_the_agents_back_is_rebuilt_with_its_routes() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let c = lab.account("alice").await;
    let svc = vm_service(&c, "10.64.0", "10.64.0.0/16").await;
    let (ep, ip) = create_endpoint(&c, &svc.service, &svc.consumer).await;
    wait_for("endpoint accepted", || async {
        status_of(&c, &format!("/vpc-endpoints/{ep}")).await == "accepted"
    })
    .await;
    let web_ns = lab.names.server(&svc.web);
    lab.spawn_in(
        &web_ns,
        &[
            "socat",
            "TCP-LISTEN:80,fork,reuseaddr",
            "SYSTEM:echo served",
        ],
    )
    .await;
    let client_ns = lab.names.server(&svc.client);
    let (ok, out) = first_success(&client_ns, &ip, 80).await;
    assert!(ok && out.contains("served"), "before: {out}");
    let gw = lab.names.gateway(0);
    let service: Value = c
        .get(
            &c.project_path(&format!("/vpc-endpoint-services/{}", svc.service)),
            &[],
        )
        .await
        .expect("service");
    let router = lab
        .names
        .router(service["vpc_id"].as_str().expect("vpc_id"));
    let routes = |ns: String| async move {
        let out = tokio::process::Command::new("ip")
            .args(["-n", &ns, "route", "show"])
            .output()
            .await
            .expect("ip route");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(routes(router.clone()).await.contains("198.19.128.0/"));
    for round in 0..3 {
        let deleted = std::process::Command::new("ip")
            .args(["netns", "del", &gw])
            .status()
            .expect("ip netns del");
        assert!(deleted.success());
        lab.namespace(&gw).await;
        let (ok, out) = first_success(&client_ns, &ip, 80).await;
        assert!(
            ok && out.contains("served"),
            "round {round}: traffic after the rebuild: {out}"
        );
        wait_for("the provider router's route to the SNAT range", || async {
            routes(router.clone()).await.contains("198.19.128.0/")
        })
        .await;
    }
    assert_eq!(
        status_of(&c, &format!("/vpc-endpoints/{ep}")).await,
        "accepted"
    );
}
