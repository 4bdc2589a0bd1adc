//! P4 benchmark (root): 10,000 endpoints across 1,000 consumer VPCs, all on 10.0.0.0/24 (set
//! VPCEP_BENCH_VPCS and VPCEP_BENCH_PER_VPC to change the shape). It drives the agent's kernel
//! layer directly (plan → `Kernel::apply`), so each step is timed on its own:
//!   * a full reconcile from empty (every namespace, link, shard and table), and the same plan
//!     again by a kernel layer that remembers nothing (an agent restart);
//!   * every gateway table reloaded whole, through `nft -f` and through one netlink batch each;
//!   * 10,000 endpoints' map elements loaded into an empty gateway table in one transaction,
//!     through `nft -f` and through one netlink batch;
//!   * one more endpoint when all exist: planning, and programming over the long-lived netlink
//!     sockets (SPEC P4: ≤ 1 ms), then a real TCP request through it.
//!
//! Runs in namespaces with a unique prefix and removes them at the end.
//!
//!     cargo bench -p vpcep-bench --bench scale

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vpcep_dataplane::kernel::linux::{Kernel, run};
use vpcep_dataplane::kernel::netlink::NsLink;
use vpcep_dataplane::plan::desired::Desired;
use vpcep_dataplane::plan::nft::{NftTable, element_delta};
use vpcep_dataplane::plan::{Legs, patch_endpoints, plan};

use vpcep_bench::lab::{Bench, pct, request_ok, serve_ok};
use vpcep_bench::p4::synthetic;
use vpcep_test_support::lab::{Net, create_endpoint, network, server};

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let vpcs = env("VPCEP_BENCH_VPCS", 1000);
    let per_vpc = env("VPCEP_BENCH_PER_VPC", 10);
    let b = Bench::start("s").await;
    let (sid, web) = b.provider().await;
    let started = Instant::now();
    let mut consumers = Vec::new();
    let vpc_names: Vec<String> = (0..vpcs).map(|i| format!("c{i}")).collect();
    for chunk in vpc_names.chunks(25) {
        consumers.extend(
            futures_util::future::join_all(
                chunk
                    .iter()
                    .map(|n| network(&b.c, n, "10.0.0.0/16", "10.0.0.0/24", "10.0.0.1")),
            )
            .await,
        );
    }
    let last = consumers.last().cloned().expect("a consumer VPC");
    let (client, _) = server(&b.c, "client", &last, "10.0.0.250", &[]).await;
    let all: Vec<Net> = consumers
        .iter()
        .flat_map(|n| std::iter::repeat_n(n.clone(), per_vpc))
        .collect();
    for chunk in all.chunks(50) {
        futures_util::future::join_all(chunk.iter().map(|n| create_endpoint(&b.c, &sid, n))).await;
    }
    println!(
        "{} endpoints in {vpcs} consumer VPCs created in the control plane in {:.1?}",
        all.len(),
        started.elapsed()
    );

    // Full reconcile from empty.
    let snapshot = b.server.control.agent_snapshot().await.expect("snapshot");
    let mut d = Desired::from_snapshot(&snapshot);
    drop(snapshot);
    let mut legs = Legs::default();
    let t = Instant::now();
    let p = plan(&d, &b.names, &mut legs);
    let plan_all = t.elapsed();
    let mut kernel = Kernel::new(b.names.clone());
    let t = Instant::now();
    let failed = kernel.apply(&p).await.expect("apply");
    let apply_all = t.elapsed();
    assert!(failed.is_empty(), "{failed:?}");
    let shards: Vec<(&String, &NftTable)> = p
        .namespaces
        .iter()
        .filter_map(|(ns, n)| {
            n.nft
                .as_ref()
                .filter(|t| t.name == "vpcep")
                .map(|t| (ns, t))
        })
        .collect();
    println!(
        "full reconcile from empty: plan {plan_all:.1?}, kernel {apply_all:.1?} ({} namespaces, {} gateway shards)",
        p.namespaces.len(),
        shards.len()
    );
    // What a restarted agent does when nothing changed: list and compare every namespace
    // (nothing cached), change nothing but reload the tables.
    let mut restarted = Kernel::new(b.names.clone());
    let t = Instant::now();
    let failed = restarted.apply(&p).await.expect("apply after restart");
    let restart = t.elapsed();
    assert!(failed.is_empty(), "{failed:?}");
    println!(
        "reconcile after a restart, nothing to change: kernel {restart:.1?} ({} layout requests; phases: namespaces, links, far ends, addresses+tables {:.1?})",
        restarted.last.layout_requests, restarted.last.layout_phases
    );
    drop(restarted);
    // Each shard's table reloaded whole (one `nft -f` transaction each).
    let t = Instant::now();
    for (ns, table) in &shards {
        run(
            "ip",
            &["netns", "exec", ns, "nft", "-f", "-"],
            Some(&table.script()),
        )
        .await
        .expect("reload");
    }
    println!(
        "reload of every gateway table (nft -f, {} transactions): {:.1?}",
        shards.len(),
        t.elapsed()
    );
    // The same, as the agent does it now: one nf_tables batch per table on a netlink socket.
    let t = Instant::now();
    for (ns, table) in &shards {
        let mut link = NsLink::open(ns).expect("netlink");
        link.load_tables(Some(table), &[]).await.expect("reload");
    }
    println!(
        "reload of every gateway table (netlink, {} batches): {:.1?}",
        shards.len(),
        t.elapsed()
    );

    // 10,000 endpoints' elements into one empty table in one transaction.
    let scratch = format!("{}scratch", b.names.prefix);
    run("ip", &["netns", "add", &scratch], None)
        .await
        .expect("netns");
    let (empty, full) = synthetic(all.len());
    let nft = |script: String| {
        let scratch = scratch.clone();
        async move {
            run(
                "ip",
                &["netns", "exec", &scratch, "nft", "-f", "-"],
                Some(&script),
            )
            .await
            .expect("nft -f")
        }
    };
    nft(empty.script()).await;
    let t = Instant::now();
    nft(full.script()).await;
    println!(
        "{} endpoints (2 × {} map elements) from empty in one transaction: nft -f {:.1?}",
        all.len(),
        all.len(),
        t.elapsed()
    );
    nft(empty.script()).await;
    let mut link = NsLink::open(&scratch).expect("netlink");
    let delta = element_delta(&empty, &full).expect("delta");
    let t = Instant::now();
    link.set_elements(&full, &delta).await.expect("batch");
    println!(
        "the same through one netlink batch on a long-lived socket: {:.1?}",
        t.elapsed()
    );
    drop(link);
    let _ = run("ip", &["netns", "del", &scratch], None).await;

    // One more endpoint when all exist.
    let mut srv = serve_ok(&b.names.server(&web)).await;
    let client_ns = b.names.server(&client);
    let (mut programmed, mut planned, mut patched, mut applied, mut to_traffic) =
        (vec![], vec![], vec![], vec![], vec![]);
    let mut p = p;
    for _ in 0..20 {
        let (id, ip) = create_endpoint(&b.c, &sid, &last).await;
        // As the agent does: the change from the feed onto the desired state it keeps.
        let changes = b
            .server
            .control
            .agent_changes(d.revision, Duration::from_secs(5))
            .await
            .expect("changes");
        d.apply(&changes.changes, changes.revision);
        // What the agent does: patch the last plan for the one endpoint, program the dirty shard.
        let t = Instant::now();
        let before = BTreeMap::from([(id, None)]);
        let dirty = patch_endpoints(&mut p, &d, &b.names, &legs, &before).expect("patchable");
        patched.push(t.elapsed());
        let t = Instant::now();
        let failed = kernel.apply_changed(&p, &dirty).await.expect("apply");
        applied.push(t.elapsed());
        // For comparison (after the measured steps): planning everything from scratch.
        let t = Instant::now();
        let full = plan(&d, &b.names, &mut legs);
        planned.push(t.elapsed());
        assert!(full == p, "patched plan equals the full plan");
        drop(full);
        assert!(failed.is_empty(), "{failed:?}");
        assert_eq!(
            (kernel.last.by_elements, kernel.last.by_layout),
            (1, 0),
            "{:?}",
            kernel.last
        );
        programmed.push(kernel.last.element_time);
        let t = Instant::now();
        while !request_ok(&client_ns, &ip, Duration::from_millis(50)).await {
            assert!(t.elapsed() < Duration::from_secs(10), "no traffic to {ip}");
        }
        to_traffic.push(t.elapsed());
    }
    let total = all.len() + 20;
    println!(
        "P4 one more endpoint at {total}: programmed (netlink: address + element batch, acknowledged) p50 {:.0?} p99 {:.0?} (target ≤ 1 ms)",
        pct(&mut programmed, 0.5),
        pct(&mut programmed, 0.99)
    );
    println!(
        "    the agent's whole step: patching its plan p50 {:.0?} p99 {:.0?} + applying the dirty shard p50 {:.0?} p99 {:.0?}; (planning everything from scratch instead: p50 {:.1?}); then the first TCP request p50 {:.1?}",
        pct(&mut patched, 0.5),
        pct(&mut patched, 0.99),
        pct(&mut applied, 0.5),
        pct(&mut applied, 0.99),
        pct(&mut planned, 0.5),
        pct(&mut to_traffic, 0.5)
    );
    let _ = srv.kill();
    let _ = srv.wait();
    drop(kernel);
    b.teardown().await;
}
