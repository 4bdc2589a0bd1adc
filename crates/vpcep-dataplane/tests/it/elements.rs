//! The element path on its own: set elements sent as one nf_tables netlink batch over a
//! long-lived socket must leave exactly the table that loading the whole script gives, and
//! rtnetlink address changes must land; a batch the kernel refuses changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use vpcep_dataplane::kernel::netlink::NsLink;
use vpcep_dataplane::plan::nft::{
    Action, Chain, ChainKind, DnatTo, Elem, Family, Field, Hook, Iface, L4, MapLookup, Match,
    NftSet, NftTable, Policy, Priority, Proto, Rule, Val, Value, element_delta,
};

use crate::lab::can_run;

/// A namespace removed on drop, also when the test fails.
pub struct Ns(pub String);

impl Ns {
    pub fn new(tag: &str) -> Ns {
        let name = format!("vpe{:x}{tag}", std::process::id());
        let ok = std::process::Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "ip netns add {name}");
        Ns(name)
    }
    /// The leg `c0000aaaa` the tables name (a veth whose other end stays here too).
    pub fn leg(&self) {
        self.run(
            &[
                "ip",
                "link",
                "add",
                "c0000aaaa",
                "type",
                "veth",
                "peer",
                "name",
                "c0000zzzz",
            ],
            None,
        );
    }
    /// Run `args` inside the namespace; its stdout (the test fails when it fails).
    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        use std::io::Write;
        let mut c = std::process::Command::new("ip");
        c.args(["netns", "exec", &self.0])
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = c.spawn().expect("spawn");
        if let Some(input) = stdin
            && let Some(mut pipe) = child.stdin.take()
        {
            pipe.write_all(input.as_bytes()).expect("stdin");
        }
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Ns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.0])
            .status();
    }
}

fn ip(s: &str) -> Val {
    Val::Ip(s.parse().expect("ip"))
}

/// Every value type and key shape the gateway uses.
fn table(endpoints: &[(u16, &str, u16, &str)], legs: &[(&str, u16)]) -> NftTable {
    use Field::{CtMark, CtZone, Dport, Iifname, IpDaddr, IpSaddr, MetaMark};
    let ep_key = || vec![CtZone, IpDaddr, Dport(L4::Tcp)];
    let mut t = NftTable::new(Family::Ip, "vpcep");
    let key = |(z, a, p, _): &(u16, &str, u16, &str)| vec![Val::Zone(*z), ip(a), Val::Port(*p)];
    t.sets = BTreeMap::from([
        (
            "zone_of_if",
            NftSet::map(vec![Iifname], vec![CtZone]).with(
                legs.iter()
                    .map(|(n, z)| Elem::map(vec![Val::Ifname((*n).into())], vec![Val::Zone(*z)])),
            ),
        ),
        (
            "consumer_ifs",
            NftSet::set(vec![Iifname]).with(
                legs.iter()
                    .map(|(n, _)| Elem::key(vec![Val::Ifname((*n).into())])),
            ),
        ),
        (
            "snat_of_zone",
            NftSet::map(vec![CtZone], vec![IpSaddr]).with(legs.iter().map(|(_, z)| {
                Elem::map(
                    vec![Val::Zone(*z)],
                    vec![Val::Ip(Ipv4Addr::new(198, 19, 128, *z as u8))],
                )
            })),
        ),
        (
            "ep_tcp",
            NftSet::map(ep_key(), vec![IpDaddr, Dport(L4::Tcp)]).with(
                endpoints
                    .iter()
                    .map(|e| Elem::map(key(e), vec![ip(e.3), Val::Port(8080)])),
            ),
        ),
        (
            "prov_tcp",
            NftSet::map(ep_key(), vec![MetaMark]).with(
                endpoints
                    .iter()
                    .map(|e| Elem::map(key(e), vec![Val::Mark(20_000 + u32::from(e.0))])),
            ),
        ),
        (
            "ep_restricted",
            NftSet::set(vec![CtZone, IpDaddr]).with(
                endpoints
                    .iter()
                    .map(|(z, a, _, _)| Elem::key(vec![Val::Zone(*z), ip(a)])),
            ),
        ),
    ]);
    t.chains.push(
        Chain::base(
            "pre",
            ChainKind::Nat,
            Hook::Prerouting,
            Priority::DstNat,
            Policy::Accept,
        )
        .with([Rule::new(
            vec![
                Match::Iifname(Iface::InSet("consumer_ifs")),
                Match::L4proto(Proto::Tcp),
            ],
            vec![
                Action::SetCtMark(Value::Map(MapLookup::new(ep_key(), "prov_tcp"))),
                Action::SetMetaMark(Value::Field(CtMark)),
                Action::Dnat(DnatTo::Map(MapLookup::new(ep_key(), "ep_tcp"))),
            ],
        )]),
    );
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn element_batches_match_a_whole_reload_and_addresses_land() {
    if !can_run() {
        return;
    }
    let before = table(
        &[
            (1, "10.0.0.5", 80, "10.1.0.9"),
            (2, "10.0.0.5", 443, "10.1.0.9"),
        ],
        &[("c0000aaaa", 1), ("c0000bbbb", 2)],
    );
    let after = table(
        &[
            (1, "10.0.0.5", 80, "10.1.0.10"), // same key, new value
            (3, "192.168.0.7", 53, "10.2.0.1"),
        ],
        &[("c0000aaaa", 1), ("c0000cccc", 3)],
    );
    let live = Ns::new("a");
    let reference = Ns::new("b");
    live.run(&["nft", "-f", "-"], Some(&before.script()));
    reference.run(&["nft", "-f", "-"], Some(&after.script()));
    live.leg();

    let mut link = NsLink::open(&live.0).expect("open netlink sockets");
    let delta = element_delta(&before, &after).expect("elements only");
    link.set_elements(&after, &delta).await.expect("batch");
    let list = |ns: &Ns| ns.run(&["nft", "list", "table", "ip", "vpcep"], None);
    assert_eq!(list(&live), list(&reference));

    // A batch the kernel refuses (deleting what is not there) is refused whole.
    let bogus = element_delta(
        &table(&[(9, "10.9.9.9", 9, "10.9.9.9")], &[]),
        &table(&[], &[]),
    )
    .expect("delta");
    let mut bogus_and_good = bogus.clone();
    bogus_and_good[0]
        .add
        .push(Elem::key(vec![Val::Zone(7), ip("10.7.7.7")]));
    assert!(link.set_elements(&after, &bogus_and_good).await.is_err());
    assert_eq!(
        list(&live),
        list(&reference),
        "nothing of a refused batch applied"
    );
    // And the socket stays usable.
    let back = element_delta(&after, &before).expect("delta");
    link.set_elements(&before, &back).await.expect("batch back");
    let reference_before = Ns::new("c");
    reference_before.run(&["nft", "-f", "-"], Some(&before.script()));
    assert_eq!(list(&live), list(&reference_before));

    // Addresses: add twice (idempotent), then delete twice.
    let a: Ipv4Addr = "10.0.0.5".parse().expect("ip");
    link.add_addr("c0000aaaa", a, 32).await.expect("add");
    link.add_addr("c0000aaaa", a, 32).await.expect("add again");
    let shown = live.run(&["ip", "-4", "addr", "show", "dev", "c0000aaaa"], None);
    assert!(shown.contains("10.0.0.5/32"), "{shown}");
    link.del_addr("c0000aaaa", a, 32).await.expect("del");
    link.del_addr("c0000aaaa", a, 32).await.expect("del again");
    let shown = live.run(&["ip", "-4", "addr", "show", "dev", "c0000aaaa"], None);
    assert!(!shown.contains("10.0.0.5"), "{shown}");
    assert!(link.add_addr("nosuchdev", a, 32).await.is_err());
}

/// The agent's kernel layer on real plans: after the layout exists, one more endpoint (and its
/// removal) is an element change of the gateway alone, traffic follows it, and the kernel ends
/// up exactly as a from-scratch load of the same plan leaves it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_more_endpoint_is_an_element_change() {
    use std::collections::BTreeMap;
    use vpcep_dataplane::kernel::linux::Kernel;
    use vpcep_dataplane::plan::desired::Desired;
    use vpcep_dataplane::plan::{Legs, patch_endpoints, plan};

    use crate::lab::{Lab, VmService, create_endpoint, first_success, vm_service};

    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    lab.stop_agent().await; // this test drives the kernel layer itself
    let c = lab.account("alice").await;
    let VmService {
        service,
        consumer,
        web,
        client,
    } = vm_service(&c, "192.168.0", "192.168.0.0/16").await;
    let create = || create_endpoint(&c, &service, &consumer);
    let (_, first_ip) = create().await;

    let control = lab.server.control.clone();
    let desired =
        || async { Desired::from_snapshot(&control.agent_snapshot().await.expect("snapshot")) };
    let mut kernel = Kernel::new(lab.names.clone());
    let mut legs = Legs::default();
    let p = plan(&desired().await, &lab.names, &mut legs);
    let failed = kernel.apply(&p).await.expect("apply");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(kernel.last.by_elements, 0);
    let (web_ns, client_ns) = (lab.names.server(&web), lab.names.server(&client));
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo hello"],
    )
    .await;
    let (ok, out) = first_success(&client_ns, &first_ip, 80).await;
    assert!(ok && out.contains("hello"), "{out}");

    // One more endpoint: the gateway's /32 and map elements over netlink, nothing else. The
    // agent patches its last plan for it; that must give the very plan made from scratch.
    let previous = p.clone();
    let (second, second_ip) = create().await;
    let d = desired().await;
    let mut patched = previous.clone();
    let before = BTreeMap::from([(second.clone(), None)]);
    let dirty = patch_endpoints(&mut patched, &d, &lab.names, &legs, &before).expect("patchable");
    assert_eq!(
        dirty.keys().cloned().collect::<BTreeSet<_>>(),
        BTreeSet::from([lab.names.gateway(0)])
    );
    // What it noted: the endpoint's /32 on its leg and its map elements, nothing taken out.
    let noted = &dirty[&lab.names.gateway(0)];
    assert_eq!(noted.add_addrs.len(), 1);
    assert!(noted.del_addrs.is_empty());
    assert!(noted.sets.values().all(|(del, _)| del.is_empty()));
    assert!(noted.sets.values().any(|(_, add)| !add.is_empty()));
    let p = plan(&d, &lab.names, &mut legs);
    assert!(patched == p, "patched plan equals the full plan");
    let failed = kernel.apply(&p).await.expect("apply");
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        (kernel.last.by_elements, kernel.last.by_layout),
        (1, 0),
        "{:?}",
        kernel.last
    );
    let (ok, out) = first_success(&client_ns, &second_ip, 80).await;
    assert!(ok && out.contains("hello"), "{out}");

    // The same plan loaded from scratch leaves the very same kernel state.
    let incremental = lab.kernel_state().await;
    let mut fresh = Kernel::new(lab.names.clone());
    fresh.apply(&p).await.expect("reload");
    assert!(fresh.last.by_layout > 0 && fresh.last.by_elements == 0);
    let reloaded = lab.kernel_state().await;
    assert!(
        incremental == reloaded,
        "{}",
        crate::lab::state_diff(&incremental, &reloaded)
    );

    // Removing it is an element change too, and its address stops answering.
    let second_spec = d.endpoints.get(&second).map(|e| e.spec.clone());
    c.delete_endpoint(&second).await.expect("delete");
    let d = desired().await;
    let mut patched = p.clone();
    let before = BTreeMap::from([(second.clone(), second_spec)]);
    patch_endpoints(&mut patched, &d, &lab.names, &legs, &before).expect("patchable");
    let p = plan(&d, &lab.names, &mut legs);
    assert!(
        patched == p,
        "patched plan equals the full plan after a delete"
    );
    kernel.apply(&p).await.expect("apply");
    assert_eq!(kernel.last.by_elements, 1);
    assert_eq!(kernel.last.by_layout, 0);
    let (ok, _) = crate::lab::tcp_request(&client_ns, &second_ip, 80).await;
    assert!(!ok, "a deleted endpoint carries nothing");
    let (ok, _) = crate::lab::tcp_request(&client_ns, &first_ip, 80).await;
    assert!(ok, "the other endpoint still works");
}

/// The running agent on endpoint-only changes in a subnet it already serves: it patches its last
/// plan (debug builds assert the patch equals planning from scratch), programs elements only,
/// traffic follows, and a restarted agent (which plans and checks everything) finds nothing to
/// change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_patches_its_plan_for_endpoints_of_a_served_subnet() {
    use crate::lab::{
        Lab, VmService, create_endpoint, first_success, status_of, tcp_request, vm_service,
        wait_for, wait_gone,
    };

    if !can_run() {
        return;
    }
    let mut lab = Lab::start().await;
    let c = lab.account("alice").await;
    let VmService {
        service,
        consumer,
        web,
        client,
    } = vm_service(&c, "10.0.0", "10.0.0.0/16").await;
    // Each endpoint is waited for until accepted, so the agent has handled it.
    let create = || async {
        let (id, ip) = create_endpoint(&c, &service, &consumer).await;
        wait_for("endpoint accepted", || async {
            status_of(&c, &format!("/vpc-endpoints/{id}")).await == "accepted"
        })
        .await;
        (id, ip)
    };
    let web_ns = lab.names.server(&web);
    lab.namespace(&web_ns).await;
    lab.spawn_in(
        &web_ns,
        &["socat", "TCP-LISTEN:80,fork,reuseaddr", "SYSTEM:echo hello"],
    )
    .await;
    let client_ns = lab.names.server(&client);
    let (_, first_ip) = create().await; // a new leg: planned from scratch
    let (second, second_ip) = create().await; // same subnet: patched
    let (_, third_ip) = create().await;
    for ip in [&first_ip, &second_ip, &third_ip] {
        let (ok, out) = first_success(&client_ns, ip, 80).await;
        assert!(ok && out.contains("hello"), "{ip}: {out}");
    }
    c.delete_endpoint(&second).await.expect("delete");
    wait_gone(&c, &format!("/vpc-endpoints/{second}")).await;
    let (ok, _) = tcp_request(&client_ns, &second_ip, 80).await;
    assert!(!ok, "a deleted endpoint carries nothing");
    let (ok, _) = tcp_request(&client_ns, &third_ip, 80).await;
    assert!(ok, "the others still work");

    let patched = lab.kernel_state().await;
    lab.restart_agent().await;
    // The restarted agent re-checks every namespace before it follows changes: once it has
    // accepted a new endpoint, that pass is done; the endpoint's deletion then restores the
    // state to compare.
    let (fourth, _) = create().await;
    c.delete_endpoint(&fourth).await.expect("delete");
    wait_gone(&c, &format!("/vpc-endpoints/{fourth}")).await;
    let restarted = lab.kernel_state().await;
    assert!(
        patched == restarted,
        "{}",
        crate::lab::state_diff(&patched, &restarted)
    );
}

/// Thousands of endpoints in one change (a provider accepting a backlog, an agent starting
/// behind): the kernel acknowledges every request of a batch before we read any, and an
/// acknowledgement it cannot queue fails the change with `ENOBUFS` although the kernel made
/// it. 5,000 addresses with their elements in one change, then a whole-table reload of 30,000
/// endpoints (90,000 elements, ~350 acknowledged messages), must land and be acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_endpoints_in_one_change_are_acknowledged() {
    if !can_run() {
        return;
    }
    let addr = |i: usize| {
        Ipv4Addr::new(
            10,
            64 + (i / 65_536) as u8,
            (i / 256 % 256) as u8,
            (i % 256) as u8,
        )
    };
    let names: Vec<String> = (0..30_000).map(|i| addr(i).to_string()).collect();
    let endpoints = |n: usize| -> Vec<(u16, &str, u16, &str)> {
        names[..n]
            .iter()
            .map(|a| (1, a.as_str(), 80, "10.1.0.9"))
            .collect()
    };
    let legs = [("c0000aaaa", 1)];
    let empty = table(&[], &legs);
    let live = Ns::new("k");
    live.run(&["nft", "-f", "-"], Some(&empty.script()));
    live.leg();
    let mut link = NsLink::open(&live.0).expect("open netlink sockets");

    let five = table(&endpoints(5_000), &legs);
    let delta = element_delta(&empty, &five).expect("elements only");
    let adds: Vec<(&str, Ipv4Addr, u8)> = (0..5_000).map(|i| ("c0000aaaa", addr(i), 32)).collect();
    link.program(Some(&five), &delta, &adds, &[])
        .await
        .expect("5,000 endpoints and their addresses in one change");
    let shown = live.run(
        &["ip", "-4", "-o", "addr", "show", "dev", "c0000aaaa"],
        None,
    );
    assert_eq!(shown.lines().count(), 5_000);

    let all = table(&endpoints(30_000), &legs);
    link.load_tables(Some(&all), &[])
        .await
        .expect("a whole table of 30,000 endpoints reloaded");
    let reference = Ns::new("l");
    reference.run(&["nft", "-f", "-"], Some(&all.script()));
    let list = |ns: &Ns| ns.run(&["nft", "list", "table", "ip", "vpcep"], None);
    assert_eq!(list(&live), list(&reference));
}
