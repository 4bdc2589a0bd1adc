//! The layout path on its own (rtnetlink, no `ip` process): a plan applied from empty leaves
//! exactly the planned links (with their MACs, masters, up), addresses, routes, rules and
//! sysctls — read back with `ip -j` listings, independently of the netlink readers — and
//! applying the same plan again, even by a kernel layer that remembers nothing (a restart),
//! asks nothing of the kernel and changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use vpcep_dataplane::kernel::linux::{Kernel, read_namespace};
use vpcep_dataplane::plan::desired::Desired;
use vpcep_dataplane::plan::objects::{IpRule, Link, Mac};
use vpcep_dataplane::plan::{Legs, Plan, plan};

use crate::lab::{Lab, VmService, can_run, create_endpoint, exec_in, vm_service};

/// Every namespace of `p` as the kernel lists it must be what `p` plans, exactly.
async fn assert_as_planned(p: &Plan) {
    // Links each namespace must hold: (MAC, master) by name, its own and the far ends of
    // other namespaces' veths.
    let mut want: BTreeMap<&str, BTreeMap<String, (Mac, Option<String>)>> = BTreeMap::new();
    for (ns, np) in &p.namespaces {
        want.entry(ns.as_str()).or_default();
        for l in &np.links {
            match l {
                Link::Bridge { name, mac } => {
                    want.entry(ns.as_str())
                        .or_default()
                        .insert(name.clone(), (*mac, None));
                }
                Link::Veth {
                    name,
                    mac,
                    peer_ns,
                    peer,
                    peer_mac,
                    peer_master,
                } => {
                    want.entry(ns.as_str())
                        .or_default()
                        .insert(name.clone(), (*mac, None));
                    want.entry(peer_ns.as_str())
                        .or_default()
                        .insert(peer.clone(), (*peer_mac, peer_master.clone()));
                }
            }
        }
    }
    for (ns, np) in &p.namespaces {
        let have = read_namespace(ns)
            .await
            .expect("listing")
            .unwrap_or_else(|| panic!("{ns} exists"));
        let links: BTreeMap<String, (Option<Mac>, Option<String>)> = have
            .links
            .iter()
            .filter(|(n, _)| *n != "lo")
            .map(|(n, m)| (n.clone(), (*m, have.masters.get(n).cloned())))
            .collect();
        let planned: BTreeMap<String, (Option<Mac>, Option<String>)> = want[ns.as_str()]
            .iter()
            .map(|(n, (m, br))| (n.clone(), (Some(*m), br.clone())))
            .collect();
        assert_eq!(links, planned, "{ns}: links, MACs, masters");
        assert!(have.down.is_empty(), "{ns}: links down: {:?}", have.down);
        assert_eq!(have.addrs, np.addrs, "{ns}: addresses");
        assert_eq!(have.routes, np.routes, "{ns}: routes");
        let rules = np
            .rules
            .clone()
            .unwrap_or_else(|| BTreeSet::from(IpRule::kernel_defaults()));
        assert_eq!(have.rules, rules, "{ns}: rules");
        for (k, v) in &np.sysctls {
            assert_eq!(have.sysctls.get(k), Some(v), "{ns}: sysctl {k:?}");
        }
        if let Some(t) = &np.nft {
            assert!(
                have.tables.keys().any(|(_, name)| name == t.name),
                "{ns}: table {}",
                t.name
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_applied_from_empty_is_exactly_in_the_kernel_and_a_second_apply_changes_nothing() {
    if !can_run() {
        return;
    }
    // The lab's namespaces carry a test-unique prefix and are removed when it drops, also on
    // failure.
    let mut lab = Lab::start().await;
    lab.stop_agent().await; // this test drives the kernel layer itself, from empty
    let c = lab.account("alice").await;
    // (Traffic through such a plan is what the scenario tests check.)
    let VmService {
        service, consumer, ..
    } = vm_service(&c, "192.168.0", "192.168.0.0/16").await;
    create_endpoint(&c, &service, &consumer).await;
    let d = Desired::from_snapshot(&lab.server.control.agent_snapshot().await.expect("snapshot"));
    let p = plan(&d, &lab.names, &mut Legs::default());
    // Routers, hosts and a gateway: bridges, veths across namespaces, onlink and table routes,
    // fwmark rules, sysctls.
    assert!(p.namespaces.len() >= 5, "{:?}", p.namespaces.keys());
    assert!(p.namespaces.values().any(|n| n.rules.is_some()));

    let mut kernel = Kernel::new(lab.names.clone());
    let failed = kernel.apply(&p).await.expect("apply");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(kernel.last.by_layout, p.namespaces.len());
    assert!(kernel.last.layout_requests > 0);
    assert_as_planned(&p).await;
    // The same plan again: nothing to do for the layer that applied it.
    let state = lab.kernel_state().await;
    let failed = kernel.apply(&p).await.expect("apply again");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        (
            kernel.last.by_layout,
            kernel.last.by_elements,
            kernel.last.layout_requests
        ),
        (0, 0, 0)
    );
    // A layer that remembers nothing (an agent restart) lists every namespace, finds it as
    // planned and asks for no change: the kernel state (links with peer indexes, addresses,
    // routes, rules, rulesets) is the very same.
    let mut fresh = Kernel::new(lab.names.clone());
    let failed = fresh.apply(&p).await.expect("apply fresh");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(fresh.last.by_layout, p.namespaces.len());
    assert_eq!(fresh.last.layout_requests, 0, "{:?}", fresh.last);
    // Its tables too: each is found with the plan's stamp and elements and kept, not reloaded.
    let tables = p.namespaces.values().filter(|n| n.nft.is_some()).count();
    assert!(tables >= 1);
    assert_eq!((kernel.last.tables_kept, kernel.last.tables_loaded), (0, 0));
    assert_eq!(
        (fresh.last.tables_kept, fresh.last.tables_loaded),
        (tables, 0)
    );
    let again = lab.kernel_state().await;
    assert!(state == again, "{}", crate::lab::state_diff(&state, &again));
    assert_as_planned(&p).await;

    // A table that differs from the plan in one set (emptied while no agent ran) is loaded
    // again by the next agent, and the kernel is as it was.
    let (gateway, set) = p
        .namespaces
        .iter()
        .find_map(|(ns, n)| {
            let t = n.nft.as_ref()?;
            let (set, _) = t.sets.iter().find(|(_, s)| !s.elements.is_empty())?;
            Some((ns.clone(), (t.family.to_string(), t.name, *set)))
        })
        .expect("a table with elements");
    let (family, table, set) = set;
    let (ok, out) = exec_in(&gateway, &["nft", "flush", "set", &family, table, set]).await;
    assert!(ok, "{out}");
    let mut fresh = Kernel::new(lab.names.clone());
    let failed = fresh.apply(&p).await.expect("apply over a changed table");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        (fresh.last.tables_kept, fresh.last.tables_loaded),
        (tables - 1, 1),
        "{gateway}: set {set} emptied"
    );
    let again = lab.kernel_state().await;
    assert!(state == again, "{}", crate::lab::state_diff(&state, &again));

    // A table of ours that the plan no longer has (an older plan's) is found over netlink and
    // removed; anybody else's table stays.
    let (bare, _) = p
        .namespaces
        .iter()
        .find(|(_, n)| n.nft.is_none())
        .expect("a namespace without a table");
    for t in ["vpcep_stale", "theirs"] {
        let (ok, out) = exec_in(bare, &["nft", "add", "table", "ip", t]).await;
        assert!(ok, "{out}");
    }
    let mut fresh = Kernel::new(lab.names.clone());
    let failed = fresh.apply(&p).await.expect("apply with a stale table");
    assert!(failed.is_empty(), "{failed:?}");
    let (_, tables) = exec_in(bare, &["nft", "list", "tables"]).await;
    assert_eq!(tables.trim(), "table ip theirs", "{bare}");
}
