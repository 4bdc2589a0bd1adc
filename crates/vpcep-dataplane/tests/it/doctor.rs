//! `vpcep doctor` compares the kernel with the plan (issue 9, item 3): with the agent stopped (so
//! it repairs nothing), a route and an nftables table removed behind its back along an
//! endpoint's path are exactly the two errors, each naming its namespace; untouched and with the
//! agent running, nothing; the agent stopped, still nothing (the routers' fast path is pinned and
//! outlives it); its pins removed, each router's fast path is one warning.

use vpcep_dataplane::doctor::{self, Object};
use vpcep_dataplane::kernel::linux::iproute2;

use crate::lab::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_what_was_removed_behind_the_agents_back() {
    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let a = lab.account("alice").await;
    let s = vm_service(&a, "10.9.0", "10.9.0.0/16").await;
    let (eid, _) = create_endpoint(&a, &s.service, &s.consumer).await;
    wait_for("endpoint accepted", || async {
        status_of(&a, &format!("/vpc-endpoints/{eid}")).await == "accepted"
    })
    .await;
    wait_for("service available", || async {
        status_of(&a, &format!("/vpc-endpoint-services/{}", s.service)).await == "available"
    })
    .await;
    // Accepted means applied: with the agent running, the kernel (the provider router's fast
    // path included) is the plan.
    let d = doctor::fetch_desired(&lab.server.url(), &lab.server.token)
        .await
        .expect("snapshot");
    let check = doctor::kernel_check(&d, &lab.names, Object::Endpoint(&eid))
        .await
        .expect("check");
    assert_eq!(check.findings, vec![], "a faithful kernel has no findings");
    assert!(check.summary().is_some());
    let provider = lab.names.router(&d.services[&s.service].spec.vpc_id);

    // Stopped, the agent can no longer repair what we remove. Its fast path stays (pinned);
    // with its pins removed (what a teardown does) the doctor tells each router's missing fast
    // path as a warning (the router forwards the normal way).
    lab.stop_agent().await;
    let still = doctor::kernel_check(&d, &lab.names, Object::Endpoint(&eid))
        .await
        .expect("check");
    assert_eq!(
        still.findings,
        vec![],
        "the stopped agent's kernel, fast path included, is still the plan"
    );
    assert!(
        vpcep_dataplane::kernel::fastpath::remove_pins(&lab.names) >= 2,
        "the provider's and the consumer's routers were pinned"
    );
    let fast_path_gone = |f: &doctor::Finding| {
        f.level == "warn" && f.message.starts_with("fast path not attached (")
    };
    let consumer = lab.names.router(&s.consumer.vpc);
    let mut check = None;
    wait_for("the doctor seeing the agent's fast path gone", async || {
        let c = doctor::kernel_check(&d, &lab.names, Object::Endpoint(&eid))
            .await
            .expect("check");
        // One warning per router: the provider's (router and bridge skip) and the consumer's
        // (bridge skip); nothing else.
        let at = |ns: &str, progs: &[&str]| {
            c.findings.iter().any(|f| {
                fast_path_gone(f)
                    && f.namespace.as_deref() == Some(ns)
                    && progs.iter().all(|p| f.message.contains(p))
            })
        };
        let gone = c.findings.len() == 2
            && at(&provider, &["to_server on h", "from_port on n"])
            && at(&consumer, &["from_leg on g", "from_port on n"]);
        check = Some(c);
        gone
    })
    .await;
    let check = check.expect("checked");
    let web = lab.names.server(&s.web);
    for ns in [&provider, &web, &lab.names.gateway(0)] {
        assert!(
            check.namespaces.contains(ns),
            "{ns} in {:?}",
            check.namespaces
        );
    }

    // Behind the agent's back: the provider router's return route to the shard, and the
    // backend's security-group table.
    let route = check.plan.namespaces[&provider]
        .routes
        .first()
        .cloned()
        .expect("the provider router has a planned route");
    let route = iproute2::route(&route);
    let del: Vec<&str> = ["-n", &provider, "route", "del"]
        .into_iter()
        .chain(route.split(' '))
        .collect();
    let out = std::process::Command::new("ip")
        .args(&del)
        .output()
        .expect("ip");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (ok, err) = exec_in(&web, &["nft", "delete", "table", "inet", "vpcep_sg"]).await;
    assert!(ok, "{err}");

    let check = doctor::kernel_check(&d, &lab.names, Object::Endpoint(&eid))
        .await
        .expect("check");
    let got: Vec<(Option<&str>, &str, &str)> = check
        .findings
        .iter()
        .filter(|f| !fast_path_gone(f))
        .map(|f| (f.namespace.as_deref(), f.level, f.message.as_str()))
        .collect();
    let route_missing = format!("route {route} missing");
    let mut want = vec![
        (Some(provider.as_str()), "error", route_missing.as_str()),
        (
            Some(web.as_str()),
            "error",
            "nftables table inet vpcep_sg missing",
        ),
    ];
    let mut got_sorted = got.clone();
    got_sorted.sort();
    want.sort();
    assert_eq!(got_sorted, want, "{:#?}", check.findings);
    assert!(
        check
            .findings
            .iter()
            .any(|f| f.fix.as_deref() == Some(&format!("ip -n {provider} route replace {route}"))),
        "the missing route's fix is the exact command"
    );
    assert!(check.summary().is_none());
}
