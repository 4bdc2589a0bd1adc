//! The kernel read back and compared with the plan, namespace by namespace along an object's
//! path (`deps`). The plan is made the way the agent makes it: the control plane's agent
//! snapshot, leg assignments recovered from the gateways, `plan::plan`. The reads are in
//! `linux` ([`linux::read_namespace`]); [`compare`] is pure, so each kind of difference is
//! unit-tested against a listing with the difference injected.

use std::collections::{BTreeMap, BTreeSet};

use super::Finding;
use crate::agent::AgentError;
use crate::agent::deps::{endpoint_namespaces, service_namespaces};
use crate::kernel::linux::{self, iproute2};
use crate::plan::desired::Desired;
use crate::plan::naming::Namespaces;
use crate::plan::nft::NftTable;
use crate::plan::objects::{Addr, IpRule, Link, Mac, NsListing, Route, Sysctl};
use crate::plan::{self, Plan};

/// Which object's path to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object<'a> {
    Service(&'a str),
    Endpoint(&'a str),
}

/// What one namespace must hold according to the plan: its own objects plus the far ends of
/// other namespaces' veths that live in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expected {
    pub links: BTreeMap<String, Mac>,
    /// Link → the bridge it must be enslaved to (veth far ends on a subnet's bridge).
    pub masters: BTreeMap<String, String>,
    pub addrs: BTreeSet<Addr>,
    pub routes: BTreeSet<Route>,
    pub rules: Option<BTreeSet<IpRule>>,
    pub sysctls: BTreeMap<Sysctl, u32>,
    pub table: Option<NftTable>,
}

/// [`Expected`] for `ns` in `plan`; `None` when the plan has no such namespace.
pub fn expected(plan: &Plan, ns: &str) -> Option<Expected> {
    let p = plan.namespaces.get(ns)?;
    let mut links: BTreeMap<String, Mac> = p
        .links
        .iter()
        .map(|l| (l.name().to_string(), iproute2::mac_of(l)))
        .collect();
    let mut masters = BTreeMap::new();
    for other in plan.namespaces.values() {
        for l in &other.links {
            if let Link::Veth {
                peer_ns,
                peer,
                peer_mac,
                peer_master,
                ..
            } = l
                && peer_ns == ns
            {
                links.insert(peer.clone(), *peer_mac);
                if let Some(br) = peer_master {
                    masters.insert(peer.clone(), br.clone());
                }
            }
        }
    }
    Some(Expected {
        links,
        masters,
        addrs: p.addrs.clone(),
        routes: p.routes.clone(),
        rules: p.rules.clone(),
        sysctls: p.sysctls.clone(),
        table: p.nft.clone(),
    })
}

fn at(ns: &str, level: &'static str, message: String, fix: String) -> Finding {
    Finding {
        level,
        namespace: Some(ns.to_string()),
        message,
        fix: Some(fix),
    }
}

/// The fix for whatever only a re-apply of the whole namespace restores (links with their
/// peers, nftables tables): the agent re-checks every namespace when it starts.
fn rebuild(ns: &str) -> String {
    format!("restart the agent (or run `vpcep agent`): it rebuilds namespace {ns}")
}

/// Differences between what `ns` should hold and what it holds (`None`: the namespace does not
/// exist). Missing or different objects are errors; objects of ours the plan does not have are
/// warnings (the agent deletes them at its next full apply). Pure.
pub fn compare(ns: &str, want: &Expected, have: Option<&NsListing>) -> Vec<Finding> {
    let Some(have) = have else {
        return vec![at(ns, "error", "namespace missing".into(), rebuild(ns))];
    };
    let mut out = Vec::new();
    for (k, v) in &want.sysctls {
        match have.sysctls.get(k) {
            Some(got) if got == v => {}
            got => out.push(at(
                ns,
                "error",
                format!(
                    "sysctl {} is {}, the plan sets {v}",
                    iproute2::sysctl_key(*k),
                    got.map_or_else(|| "unreadable".to_string(), u32::to_string)
                ),
                format!("ip netns exec {ns} sysctl -w {}", iproute2::sysctl(*k, *v)),
            )),
        }
    }
    for (name, mac) in &want.links {
        match have.links.get(name) {
            None => out.push(at(ns, "error", format!("link {name} missing"), rebuild(ns))),
            Some(m) if *m != Some(*mac) => out.push(at(
                ns,
                "error",
                format!(
                    "link {name} has MAC {}, the plan sets {mac}",
                    m.map_or_else(|| "none".to_string(), |m| m.to_string())
                ),
                format!("ip -n {ns} link set {name} address {mac}"),
            )),
            Some(_) if have.down.contains(name) => out.push(at(
                ns,
                "error",
                format!("link {name} is down"),
                format!("ip -n {ns} link set {name} up"),
            )),
            Some(_) => {}
        }
    }
    // A port off its bridge cuts its host (or a gateway leg) from the subnet. Only links that
    // exist are checked: a missing one is reported above.
    for (name, br) in &want.masters {
        let got = have.masters.get(name);
        if have.links.contains_key(name) && got != Some(br) {
            out.push(at(
                ns,
                "error",
                format!(
                    "link {name} is {}, the plan puts it on bridge {br}",
                    got.map_or_else(|| "on no bridge".to_string(), |g| format!("on bridge {g}"))
                ),
                format!("ip -n {ns} link set {name} master {br}"),
            ));
        }
    }
    for name in have.links.keys() {
        if name != "lo" && !want.links.contains_key(name) {
            out.push(at(
                ns,
                "warn",
                format!("link {name} is not in the plan"),
                format!("ip -n {ns} link del {name}"),
            ));
        }
    }
    for a in want.addrs.difference(&have.addrs) {
        let a = iproute2::addr(a);
        out.push(at(
            ns,
            "error",
            format!("address {a} missing"),
            format!("ip -n {ns} addr add {a}"),
        ));
    }
    for a in have.addrs.difference(&want.addrs) {
        let a = iproute2::addr(a);
        out.push(at(
            ns,
            "warn",
            format!("address {a} is not in the plan"),
            format!("ip -n {ns} addr del {a}"),
        ));
    }
    // A planned route whose key holds another route is reported once, as missing: `route
    // replace` fixes both.
    let keys: BTreeSet<_> = want.routes.iter().map(Route::key).collect();
    for r in want.routes.difference(&have.routes) {
        let r = iproute2::route(r);
        out.push(at(
            ns,
            "error",
            format!("route {r} missing"),
            format!("ip -n {ns} route replace {r}"),
        ));
    }
    for r in have.routes.difference(&want.routes) {
        if !keys.contains(&r.key()) {
            let r = iproute2::route(r);
            out.push(at(
                ns,
                "warn",
                format!("route {r} is not in the plan"),
                format!("ip -n {ns} route del {r}"),
            ));
        }
    }
    // Only namespaces whose routing policy we manage (gateways) have their rules compared.
    if let Some(rules) = &want.rules {
        for r in rules.difference(&have.rules) {
            let r = iproute2::rule(r);
            out.push(at(
                ns,
                "error",
                format!("rule {r} missing"),
                format!("ip -n {ns} rule add {r}"),
            ));
        }
        for r in have.rules.difference(rules) {
            let r = iproute2::rule(r);
            out.push(at(
                ns,
                "warn",
                format!("rule {r} is not in the plan"),
                format!("ip -n {ns} rule del {r}"),
            ));
        }
    }
    if let Some(t) = &want.table {
        out.extend(compare_table(ns, t, have));
    }
    out
}

fn compare_table(ns: &str, t: &NftTable, have: &NsListing) -> Vec<Finding> {
    let what = format!("table {} {}", t.family, t.name);
    let Some(listed) = have.tables.get(&(t.family.to_string(), t.name.to_string())) else {
        return vec![at(
            ns,
            "error",
            format!("nftables {what} missing"),
            rebuild(ns),
        )];
    };
    let mut out = Vec::new();
    for c in &t.chains {
        let hook = c.base.map(|b| b.hook.name().to_string());
        match listed.chains.get(c.name) {
            None => out.push(at(
                ns,
                "error",
                format!("nftables {what}: chain {} missing", c.name),
                rebuild(ns),
            )),
            Some(h) if *h != hook => out.push(at(
                ns,
                "error",
                format!(
                    "nftables {what}: chain {} is on hook {}, the plan puts it on {}",
                    c.name,
                    h.as_deref().unwrap_or("none"),
                    hook.as_deref().unwrap_or("none")
                ),
                rebuild(ns),
            )),
            Some(_) => {
                let n = listed.rules.get(c.name).copied().unwrap_or(0);
                if n != c.rules.len() {
                    out.push(at(
                        ns,
                        "error",
                        format!(
                            "nftables {what}: chain {} holds {n} rules, the plan {}",
                            c.name,
                            c.rules.len()
                        ),
                        rebuild(ns),
                    ));
                }
            }
        }
    }
    for (name, set) in &t.sets {
        match listed.sets.get(*name) {
            None => out.push(at(
                ns,
                "error",
                format!("nftables {what}: set {name} missing"),
                rebuild(ns),
            )),
            // Interval sets may list ranges merged or split; their counts prove nothing.
            Some(n) if !set.interval && *n != set.elements.len() => out.push(at(
                ns,
                "error",
                format!(
                    "nftables {what}: set {name} holds {n} elements, the plan {}",
                    set.elements.len()
                ),
                rebuild(ns),
            )),
            Some(_) => {}
        }
    }
    // A table of the plan's shape under another stamp was not loaded from this plan by this
    // agent (another version, or by hand): what it holds rule by rule is unknown here, and a
    // restarted agent loads it again.
    let want = crate::plan::nft::stamp(t).ok();
    if out.is_empty() && want.is_some() && listed.comment != want {
        out.push(at(
            ns,
            "warning",
            format!(
                "nftables {what}: stamp {}, the plan's {}",
                listed.comment.as_deref().unwrap_or("missing"),
                want.as_deref().unwrap_or_default()
            ),
            rebuild(ns),
        ));
    }
    out
}

/// The outcome of [`kernel_check`]: the namespaces compared, the plan restricted to them (for
/// `--show-plan`) and the differences.
#[derive(Debug, Clone, Default)]
pub struct KernelCheck {
    pub namespaces: Vec<String>,
    pub plan: Plan,
    pub findings: Vec<Finding>,
}

impl KernelCheck {
    /// One line saying the kernel matches, when nothing differs.
    pub fn summary(&self) -> Option<Finding> {
        if !self.findings.is_empty() || self.namespaces.is_empty() {
            return None;
        }
        Some(super::finding(
            "ok",
            format!("kernel matches the plan in {}", self.namespaces.join(", ")),
        ))
    }
}

/// The desired state as the agent sees it (`/agent/v1/snapshot`, with the agent token).
pub async fn fetch_desired(control_url: &str, token: &str) -> Result<Desired, AgentError> {
    let snap = crate::agent::fetch_snapshot(&reqwest::Client::new(), control_url, token).await?;
    Ok(Desired::from_snapshot(&snap))
}

/// Compare the kernel with the plan in every namespace `object`'s traffic passes through.
pub async fn kernel_check(
    d: &Desired,
    names: &Namespaces,
    object: Object<'_>,
) -> Result<KernelCheck, AgentError> {
    // The legs the agent uses are in the gateways; planning with them reproduces its plan.
    let mut legs = linux::recover_legs(names, d).await;
    let full = plan::plan(d, names, &mut legs);
    let namespaces = match object {
        Object::Service(id) => d
            .services
            .get(id)
            .map(|s| service_namespaces(d, names, &s.spec)),
        Object::Endpoint(id) => d
            .endpoints
            .get(id)
            .map(|e| endpoint_namespaces(d, names, &legs, &e.spec)),
    };
    let mut check = KernelCheck::default();
    let Some(namespaces) = namespaces else {
        let (kind, id) = match object {
            Object::Service(id) => ("service", id),
            Object::Endpoint(id) => ("endpoint", id),
        };
        check.findings.push(super::finding(
            "warn",
            format!("{kind} {id} is not in the agent's snapshot: nothing to compare"),
        ));
        return Ok(check);
    };
    for ns in &namespaces {
        let Some(want) = expected(&full, ns) else {
            // deps names it but nothing is planned there (an object that cannot be realised):
            // the planner's problems say why, through the object's status.
            continue;
        };
        let have = linux::read_namespace(ns).await?;
        check.findings.extend(compare(ns, &want, have.as_ref()));
        if let Some(skip) = full.namespaces.get(ns).and_then(|p| p.fast.as_ref()) {
            check.findings.extend(fast_path(ns, skip).await);
        }
        if let Some(p) = full.namespaces.get(ns) {
            check.plan.namespaces.insert(ns.clone(), p.clone());
        }
    }
    check.namespaces = namespaces;
    Ok(check)
}

/// A forwarding-only router's fast path, attached as planned? Missing, it is a warning: the
/// router still forwards every packet the normal way, only slower (`docs/dataplane.md`).
async fn fast_path(ns: &str, skip: &crate::plan::fast::RouterSkip) -> Vec<Finding> {
    if skip.is_idle() {
        return Vec::new();
    }
    let (n, s) = (ns.to_string(), skip.clone());
    let listed = tokio::task::spawn_blocking(move || crate::kernel::fastpath::attached(&n, &s))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
    let warn = |message: String| Finding {
        level: "warn",
        namespace: Some(ns.to_string()),
        message,
        fix: Some(
            "run the agent (it attaches the fast path, which stays attached between its runs; its \
             log says why when it cannot), or ignore: the normal path carries the same traffic"
                .into(),
        ),
    };
    match listed {
        Err(e) => vec![warn(format!("cannot list the fast path's programs: {e}"))],
        Ok(list) => {
            let missing: Vec<String> = list
                .into_iter()
                .filter(|(_, _, on)| !on)
                .map(|(dev, prog, _)| format!("{prog} on {dev}"))
                .collect();
            if missing.is_empty() {
                Vec::new()
            } else {
                vec![warn(format!(
                    "fast path not attached ({}): this router forwards the normal way",
                    missing.join(", ")
                ))]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::plan::NsPlan;
    use crate::plan::nft::{
        Action, Chain, ChainKind, Elem, Family, Field, Hook, Match, NftSet, Policy, Priority, Rule,
        Val,
    };
    use crate::plan::objects::{Dst, Lookup};

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().expect("ip")
    }

    /// A gateway-like namespace with a veth to a router: something of every kind compared.
    fn plan() -> Plan {
        let mut t = NftTable::new(Family::Ip, "vpcep");
        t.chains.push(
            Chain::base(
                "pre",
                ChainKind::Filter,
                Hook::Prerouting,
                Priority::Raw,
                Policy::Accept,
            )
            .with([Rule::new(vec![Match::CtMarked], vec![Action::Accept])]),
        );
        t.chains.push(Chain::regular("helper"));
        t.sets.insert(
            "zone_of_if",
            NftSet::map(vec![Field::Iifname], vec![Field::CtZone]).with([Elem::map(
                vec![Val::Ifname("c1".into())],
                vec![Val::Zone(1)],
            )]),
        );
        let gw = NsPlan {
            links: vec![Link::Veth {
                name: "c1".into(),
                mac: Mac([2, 0, 0, 0, 0, 1]),
                peer_ns: "r".into(),
                peer: "g1".into(),
                peer_mac: Mac([2, 0, 0, 0, 0, 2]),
                peer_master: Some("b1".into()),
            }],
            addrs: BTreeSet::from([Addr::host("c1", ip("10.0.0.5"))]),
            routes: BTreeSet::from([Route::via(
                Dst::Net("198.19.128.0/25".parse().expect("net")),
                ip("169.254.0.1"),
                "c1",
            )
            .onlink()
            .table(10001)]),
            rules: Some(BTreeSet::from([IpRule {
                pref: 1000,
                fwmark: Some(10001),
                table: Lookup::Table(10001),
            }])),
            sysctls: BTreeMap::from([(Sysctl::IpForward, 1)]),
            nft: Some(t),
            ..NsPlan::default()
        };
        let router = NsPlan {
            links: vec![Link::Bridge {
                name: "b1".into(),
                mac: Mac([2, 0, 0, 0, 0, 3]),
            }],
            ..NsPlan::default()
        };
        Plan {
            namespaces: BTreeMap::from([("gw".to_string(), gw), ("r".to_string(), router)]),
            ..Plan::default()
        }
    }

    /// Exactly what the plan asks for, as the kernel would list it.
    fn listing(want: &Expected) -> NsListing {
        let mut tables = BTreeMap::new();
        if let Some(t) = &want.table {
            tables.insert(
                (t.family.to_string(), t.name.to_string()),
                crate::plan::nft::TableListing {
                    chains: t
                        .chains
                        .iter()
                        .map(|c| {
                            (
                                c.name.to_string(),
                                c.base.map(|b| b.hook.name().to_string()),
                            )
                        })
                        .collect(),
                    rules: t
                        .chains
                        .iter()
                        .filter(|c| !c.rules.is_empty())
                        .map(|c| (c.name.to_string(), c.rules.len()))
                        .collect(),
                    sets: t
                        .sets
                        .iter()
                        .map(|(n, s)| (n.to_string(), s.elements.len()))
                        .collect(),
                    comment: crate::plan::nft::stamp(t).ok(),
                },
            );
        }
        let mut links: BTreeMap<String, Option<Mac>> = want
            .links
            .iter()
            .map(|(n, m)| (n.clone(), Some(*m)))
            .collect();
        links.insert("lo".into(), Some(Mac([0; 6])));
        NsListing {
            links,
            masters: want.masters.clone(),
            down: BTreeSet::new(),
            sysctls: want.sysctls.clone(),
            addrs: want.addrs.clone(),
            routes: want.routes.clone(),
            // The kernel's own rules are listed too; they are in the plan of a managed policy
            // in reality, here they show as extras only if the comparison is wrong.
            rules: want.rules.clone().unwrap_or_default(),
            tables,
        }
    }

    fn messages(f: &[Finding]) -> Vec<String> {
        f.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_faithful_kernel_has_no_findings() {
        let p = plan();
        for ns in ["gw", "r"] {
            let want = expected(&p, ns).expect("planned");
            assert_eq!(compare(ns, &want, Some(&listing(&want))), vec![], "{ns}");
        }
        // The router holds its bridge and the far end of the gateway's veth.
        let r = expected(&p, "r").expect("router");
        assert_eq!(
            r.links.keys().collect::<Vec<_>>(),
            ["b1", "g1"],
            "peer ends are expected where they live"
        );
    }

    #[test]
    fn each_injected_difference_is_one_finding_with_its_fix() {
        let p = plan();
        let want = expected(&p, "gw").expect("planned");
        let mut have = listing(&want);
        // A removed route, a changed MAC, a removed rule, an extra address, a chain gone, a
        // map short of an element.
        have.routes.clear();
        have.sysctls.insert(Sysctl::IpForward, 0);
        have.links
            .insert("c1".into(), Some(Mac([2, 0, 0, 0, 0, 9])));
        have.rules.clear();
        have.addrs.insert(Addr::host("c1", ip("10.0.0.6")));
        let t = have
            .tables
            .get_mut(&("ip".to_string(), "vpcep".to_string()))
            .expect("table");
        t.chains.remove("helper");
        t.rules.remove("pre");
        t.sets.insert("zone_of_if".into(), 0);
        assert_eq!(
            messages(&compare("gw", &want, Some(&have))),
            [
                "error gw: sysctl net.ipv4.ip_forward is 0, the plan sets 1 — fix: ip netns exec gw sysctl -w net.ipv4.ip_forward=1",
                "error gw: link c1 has MAC 02:00:00:00:00:09, the plan sets 02:00:00:00:00:01 — fix: ip -n gw link set c1 address 02:00:00:00:00:01",
                "warn  gw: address 10.0.0.6/32 dev c1 is not in the plan — fix: ip -n gw addr del 10.0.0.6/32 dev c1",
                "error gw: route 198.19.128.0/25 via 169.254.0.1 dev c1 onlink table 10001 missing — fix: ip -n gw route replace 198.19.128.0/25 via 169.254.0.1 dev c1 onlink table 10001",
                "error gw: rule pref 1000 fwmark 10001 lookup 10001 missing — fix: ip -n gw rule add pref 1000 fwmark 10001 lookup 10001",
                "error gw: nftables table ip vpcep: chain pre holds 0 rules, the plan 1 — fix: restart the agent (or run `vpcep agent`): it rebuilds namespace gw",
                "error gw: nftables table ip vpcep: chain helper missing — fix: restart the agent (or run `vpcep agent`): it rebuilds namespace gw",
                "error gw: nftables table ip vpcep: set zone_of_if holds 0 elements, the plan 1 — fix: restart the agent (or run `vpcep agent`): it rebuilds namespace gw",
            ]
        );
    }

    #[test]
    fn a_table_of_the_plans_shape_under_another_stamp_is_a_warning() {
        let p = plan();
        let want = expected(&p, "gw").expect("planned");
        let mut have = listing(&want);
        assert_eq!(
            messages(&compare("gw", &want, Some(&have))),
            [] as [&str; 0]
        );
        let stamp = crate::plan::nft::stamp(want.table.as_ref().expect("table")).expect("stamp");
        let t = have
            .tables
            .get_mut(&("ip".to_string(), "vpcep".to_string()))
            .expect("table");
        t.comment = None;
        assert_eq!(
            messages(&compare("gw", &want, Some(&have))),
            [format!(
                "warning gw: nftables table ip vpcep: stamp missing, the plan's {stamp} — fix: restart the agent (or run `vpcep agent`): it rebuilds namespace gw"
            )]
        );
    }

    #[test]
    fn a_missing_table_link_or_namespace_is_reported_once() {
        let p = plan();
        let want = expected(&p, "gw").expect("planned");
        let mut have = listing(&want);
        have.tables.clear();
        let f = compare("gw", &want, Some(&have));
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!(f[0].message, "nftables table ip vpcep missing");
        assert_eq!(f[0].namespace.as_deref(), Some("gw"));

        let r = expected(&p, "r").expect("router");
        let mut have = listing(&r);
        have.links.remove("g1");
        have.links.insert("stale".into(), None);
        assert_eq!(
            messages(&compare("r", &r, Some(&have))),
            [
                "error r: link g1 missing — fix: restart the agent (or run `vpcep agent`): it rebuilds namespace r",
                "warn  r: link stale is not in the plan — fix: ip -n r link del stale",
            ]
        );
        assert_eq!(r.masters["g1"], "b1");
        let mut have = listing(&r);
        have.masters.clear();
        have.down.insert("b1".into());
        assert_eq!(
            messages(&compare("r", &r, Some(&have))),
            [
                "error r: link b1 is down — fix: ip -n r link set b1 up",
                "error r: link g1 is on no bridge, the plan puts it on bridge b1 — fix: ip -n r link set g1 master b1"
            ]
        );

        let f = compare("r", &r, None);
        assert_eq!(
            messages(&f),
            [
                "error r: namespace missing — fix: restart the agent (or run `vpcep agent`): it rebuilds namespace r"
            ]
        );
    }

    #[test]
    fn a_route_replaced_under_its_key_is_one_finding() {
        let p = plan();
        let want = expected(&p, "gw").expect("planned");
        let mut have = listing(&want);
        let r = have.routes.pop_first().expect("route");
        have.routes.insert(Route {
            via: Some(ip("169.254.0.9")),
            ..r
        });
        let f = compare("gw", &want, Some(&have));
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(f[0].message.ends_with("missing"), "{f:?}");
    }

    #[test]
    fn nft_json_listing_parses_into_chains_and_counts() {
        // Shape of `nft -j list ruleset` (nft 1.0.6), trimmed.
        let json = r#"{"nftables":[{"metainfo":{"version":"1.0.6"}},
          {"table":{"family":"ip","name":"vpcep","handle":1}},
          {"map":{"family":"ip","name":"zone_of_if","table":"vpcep","type":"ifname","handle":2,"map":"ct_zone","elem":[["c1",1],["c2",2]]}},
          {"set":{"family":"ip","name":"ep_restricted","table":"vpcep","type":["zone","ipv4_addr"],"handle":3}},
          {"chain":{"family":"ip","table":"vpcep","name":"pre","handle":4,"type":"filter","hook":"prerouting","prio":-300,"policy":"accept"}},
          {"chain":{"family":"ip","table":"vpcep","name":"helper","handle":5}},
          {"rule":{"family":"ip","table":"vpcep","chain":"pre","handle":6,"expr":[]}},
          {"table":{"family":"inet","name":"other","handle":7}}]}"#;
        let t = crate::plan::nft::parse_ruleset(json);
        assert_eq!(t.len(), 2);
        let v = &t[&("ip".to_string(), "vpcep".to_string())];
        assert_eq!(v.chains["pre"].as_deref(), Some("prerouting"));
        assert_eq!(v.chains["helper"], None);
        assert_eq!(v.sets["zone_of_if"], 2);
        assert_eq!(v.sets["ep_restricted"], 0);
        assert_eq!(v.rules["pre"], 1);
        assert!(!v.rules.contains_key("helper"));
        assert!(crate::plan::nft::parse_ruleset("not json").is_empty());
    }
}
