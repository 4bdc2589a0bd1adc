//! Applies a [`Plan`] to the kernel in two ways:
//!
//! * **Layout changes** (a namespace, link, route or rule appears or goes, a table's skeleton
//!   changes) go through iproute2 (`ip -n NS -batch -`, one process per namespace) and nftables
//!   (`nft -f -`, the whole table in one atomic transaction). Idempotent: it reads what exists and
//!   changes only the difference, so a restart after `kill -9` converges to the same state with
//!   nothing duplicated. A restart always takes this path for every namespace.
//! * **Element changes** (an endpoint comes or goes: its /32 on a consumer leg and its map
//!   elements) go over long-lived netlink sockets in the namespace ([`NsLink`]): rtnetlink address
//!   requests and one nf_tables batch of set-element adds/deletes. No process, no listing: the
//!   difference comes from what this process applied last.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::naming::Namespaces;
use crate::netlink::NsLink;
use crate::nft::{SetDelta, element_delta};
use crate::plan::{Link, NsPlan, Plan};

#[derive(Debug, thiserror::Error)]
pub enum KernelError {
    #[error("`{cmd}` failed: {stderr}")]
    Command { cmd: String, stderr: String },
    #[error("cannot run `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("{ns}: {what}: {message}")]
    Netlink {
        ns: String,
        what: String,
        message: String,
    },
}

/// Run a program; its stdout, or an error with its stderr when it exits non-zero.
pub async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<String, KernelError> {
    let cmd = format!("{program} {}", args.join(" "));
    let mut c = Command::new(program);
    c.args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = c.spawn().map_err(|source| KernelError::Spawn {
        cmd: cmd.clone(),
        source,
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input.as_bytes())
            .await
            .map_err(|source| KernelError::Spawn {
                cmd: cmd.clone(),
                source,
            })?;
        drop(pipe);
    }
    let out = child
        .wait_with_output()
        .await
        .map_err(|source| KernelError::Spawn {
            cmd: cmd.clone(),
            source,
        })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(KernelError::Command { cmd, stderr });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Namespaces that exist now (the names `ip netns` keeps under /run/netns).
pub async fn list_namespaces() -> Result<BTreeSet<String>, KernelError> {
    let mut out = BTreeSet::new();
    let mut dir = match tokio::fs::read_dir("/run/netns").await {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(KernelError::Spawn {
                cmd: "read /run/netns".into(),
                source,
            });
        }
    };
    while let Ok(Some(e)) = dir.next_entry().await {
        if let Some(name) = e.file_name().to_str() {
            out.insert(name.to_string());
        }
    }
    Ok(out)
}

pub async fn delete_namespace(ns: &str) -> Result<(), KernelError> {
    // Stop whatever runs inside (lab programs) so the namespace really goes away.
    if let Ok(pids) = run("ip", &["netns", "pids", ns], None).await {
        for pid in pids.split_whitespace() {
            let _ = run("kill", &["-9", pid], None).await;
        }
    }
    run("ip", &["netns", "del", ns], None).await.map(|_| ())
}

fn json(s: &str) -> Vec<serde_json::Value> {
    serde_json::from_str::<Vec<serde_json::Value>>(s).unwrap_or_default()
}

async fn links_in(ns: &str) -> Result<BTreeSet<String>, KernelError> {
    let out = run("ip", &["-n", ns, "-j", "link", "show"], None).await?;
    Ok(json(&out)
        .iter()
        .filter_map(|l| l["ifname"].as_str())
        .map(str::to_string)
        .collect())
}

async fn addrs_in(ns: &str) -> Result<BTreeSet<(String, String)>, KernelError> {
    let out = run("ip", &["-n", ns, "-j", "-4", "addr", "show"], None).await?;
    let mut set = BTreeSet::new();
    for l in json(&out) {
        let dev = l["ifname"].as_str().unwrap_or_default().to_string();
        for a in l["addr_info"].as_array().cloned().unwrap_or_default() {
            if let (Some(ip), Some(p)) = (a["local"].as_str(), a["prefixlen"].as_u64()) {
                if dev == "lo" && ip.starts_with("127.") {
                    continue;
                }
                set.insert((dev.clone(), format!("{ip}/{p}")));
            }
        }
    }
    Ok(set)
}

/// The fwmark → table rules (ours: pref 1000) among a namespace's `ip -j rule` listing.
fn fwmark_rules(rules: &[serde_json::Value]) -> BTreeSet<u32> {
    rules
        .iter()
        .filter(|r| r["priority"].as_u64() == Some(1000))
        .filter_map(|r| {
            r["fwmark"]
                .as_str()
                .and_then(|m| u32::from_str_radix(m.trim_start_matches("0x"), 16).ok())
        })
        .collect()
}

/// Outcome of one namespace's links: the commands its veth peers need, in their namespaces.
type LinkResult = Result<Vec<(String, String)>, KernelError>;

/// Where gateways look up their `local` table: after the fwmark rules (pref 1000).
const LOCAL_LAST_PREF: u64 = 32000;

/// Namespaces programmed at once (processes in flight).
const PARALLEL: usize = 8;

/// What one namespace needs when only elements changed: addresses to delete and add, and the
/// nftables element batch.
#[derive(Debug, Default)]
struct ElementChange {
    del_addrs: Vec<(String, String)>,
    add_addrs: Vec<(String, String)>,
    sets: Vec<SetDelta>,
}

impl ElementChange {
    /// Turn the plan it was computed from into the one it leads to.
    fn apply_to(&self, p: &mut NsPlan) {
        for a in &self.del_addrs {
            p.addrs.remove(a);
        }
        p.addrs.extend(self.add_addrs.iter().cloned());
        if let Some(t) = p.nft.as_mut() {
            for d in &self.sets {
                if let Some(set) = t.sets.get_mut(d.set) {
                    for e in &d.del {
                        set.elements.remove(e);
                    }
                    set.elements.extend(d.add.iter().cloned());
                }
            }
        }
    }
}

/// The element-only difference from `old` to `new`, or `None` when the layout changed.
fn element_change(old: &NsPlan, new: &NsPlan) -> Option<ElementChange> {
    if old.sysctls != new.sysctls
        || old.links != new.links
        || old.routes != new.routes
        || old.rules != new.rules
        || old.local_table_last != new.local_table_last
        || old.announce != new.announce
    {
        return None;
    }
    let sets = match (&old.nft, &new.nft) {
        (None, None) => vec![],
        (Some(o), Some(n)) => element_delta(o, n)?,
        _ => return None,
    };
    // Big differences (a resync after a long disconnection) load whole tables instead.
    if sets
        .iter()
        .map(|d| d.add.len() + d.del.len())
        .sum::<usize>()
        > MAX_ELEMENT_CHANGES
    {
        return None;
    }
    Some(ElementChange {
        del_addrs: old.addrs.difference(&new.addrs).cloned().collect(),
        add_addrs: new.addrs.difference(&old.addrs).cloned().collect(),
        sets,
    })
}

const MAX_ELEMENT_CHANGES: usize = 4096;

/// (device, address/prefix) pairs a namespace gained.
type Added = Vec<(String, String)>;

fn parse_cidr(a: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (ip, len) = a.split_once('/')?;
    Some((ip.parse().ok()?, len.parse().ok()?))
}

/// How the last [`Kernel::apply`] went, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    /// Namespaces changed by element batches over netlink.
    pub by_elements: usize,
    /// Namespaces changed through iproute2/`nft -f`.
    pub by_layout: usize,
    /// Time spent programming element changes over netlink (addresses and nf_tables batches,
    /// until the kernel acknowledged them).
    pub element_time: std::time::Duration,
}

/// Applies plans, remembering what it applied so unchanged namespaces cost nothing.
#[derive(Debug, Default)]
pub struct Kernel {
    pub names: Namespaces,
    applied: BTreeMap<String, NsPlan>,
    links: BTreeMap<String, NsLink>,
    pub last: ApplyStats,
}

impl Kernel {
    pub fn new(names: Namespaces) -> Self {
        Self {
            names,
            applied: BTreeMap::new(),
            links: BTreeMap::new(),
            last: ApplyStats::default(),
        }
    }

    /// Program one namespace's element change and record it as applied. False when it failed:
    /// the socket may be stale or the kernel differ from what we think, so the caller redoes
    /// the namespace the thorough way.
    async fn program_elements(&mut self, ns: &str, c: &ElementChange, p: &NsPlan) -> bool {
        // Sockets are opened once per namespace and kept; that is not part of a change.
        if let Err(e) = self.link(ns) {
            tracing::warn!(namespace = %ns, error = %e, "no netlink sockets; reloading the namespace");
            self.applied.remove(ns);
            return false;
        }
        let started = std::time::Instant::now();
        let r = self.apply_elements(ns, c, p).await;
        self.last.element_time += started.elapsed();
        match r {
            Ok(()) => {
                if p.announce {
                    self.announce(ns, &c.add_addrs).await;
                }
                // The applied plan takes the same change (no copy of a shard's elements).
                if let Some(applied) = self.applied.get_mut(ns) {
                    c.apply_to(applied);
                }
                self.last.by_elements += 1;
                true
            }
            Err(e) => {
                tracing::warn!(namespace = %ns, error = %e, "element update failed; reloading the namespace");
                self.links.remove(ns);
                self.applied.remove(ns);
                false
            }
        }
    }

    /// Apply `plan` where only the namespaces in `dirty` may differ from what was applied (the
    /// agent knows that after patching a plan for endpoint changes): no listing, no comparison
    /// of the others. Anything beyond element changes goes through [`Kernel::apply`].
    pub async fn apply_changed(
        &mut self,
        plan: &Plan,
        dirty: &BTreeSet<String>,
    ) -> Result<BTreeMap<String, String>, KernelError> {
        self.last = ApplyStats::default();
        for ns in dirty {
            let (Some(old), Some(new)) = (self.applied.get(ns), plan.namespaces.get(ns)) else {
                return self.apply(plan).await;
            };
            let Some(change) = element_change(old, new) else {
                return self.apply(plan).await;
            };
            if !self.program_elements(ns, &change, new).await {
                return self.apply(plan).await;
            }
        }
        Ok(BTreeMap::new())
    }

    /// The namespace's netlink sockets, opened on first use and kept.
    fn link(&mut self, ns: &str) -> Result<&mut NsLink, KernelError> {
        if !self.links.contains_key(ns) {
            let l = NsLink::open(ns)?;
            self.links.insert(ns.to_string(), l);
        }
        self.links.get_mut(ns).ok_or_else(|| KernelError::Netlink {
            ns: ns.to_string(),
            what: "netlink sockets".into(),
            message: "not open".into(),
        })
    }

    /// Element-only changes of one namespace over its netlink sockets.
    async fn apply_elements(
        &mut self,
        ns: &str,
        change: &ElementChange,
        plan: &NsPlan,
    ) -> Result<(), KernelError> {
        let link = self.link(ns)?;
        fn addrs(list: &[(String, String)]) -> Vec<(&str, std::net::Ipv4Addr, u8)> {
            list.iter()
                .filter_map(|(dev, a)| parse_cidr(a).map(|(ip, len)| (dev.as_str(), ip, len)))
                .collect()
        }
        let (add, del) = (addrs(&change.add_addrs), addrs(&change.del_addrs));
        link.program(plan.nft.as_ref(), &change.sets, &add, &del)
            .await
    }

    /// Gratuitous ARP for each new host address (see [`NsLink::announce`]); failures only
    /// slow down neighbours that asked too early, so they are logged, not returned.
    async fn announce(&mut self, ns: &str, addrs: &[(String, String)]) {
        let link = match self.link(ns) {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "no announcements");
                return;
            }
        };
        for (dev, a) in addrs {
            if let Some((ip, 32)) = parse_cidr(a)
                && let Err(e) = link.announce(dev, ip).await
            {
                tracing::debug!(error = %e, "gratuitous ARP not sent");
            }
        }
    }

    /// Make the kernel match `plan`. Returns the namespaces that failed (with why); the others
    /// are in place.
    pub async fn apply(&mut self, plan: &Plan) -> Result<BTreeMap<String, String>, KernelError> {
        let mut failed = BTreeMap::new();
        let existing = list_namespaces().await?;
        // 1. Namespaces: create the missing ones first (veth peers need both ends).
        let created: BTreeSet<String> = plan
            .namespaces
            .keys()
            .filter(|ns| !existing.contains(*ns))
            .cloned()
            .collect();
        let made: Vec<(String, Result<(), KernelError>)> =
            futures_util::stream::iter(created.clone())
                .map(|ns| async move {
                    let r = async {
                        run("ip", &["netns", "add", &ns], None).await?;
                        run("ip", &["-n", &ns, "link", "set", "lo", "up"], None)
                            .await
                            .map(|_| ())
                    }
                    .await;
                    (ns, r)
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
        // A namespace that cannot be made fails its objects (reported), not the whole converge.
        for (ns, r) in made {
            if let Err(e) = r {
                failed.insert(ns, e.to_string());
            }
        }
        for ns in &created {
            self.applied.remove(ns);
        }
        // 2. Links each namespace must hold: its own and the peers others put there.
        let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (ns, p) in &plan.namespaces {
            let e = expected.entry(ns.clone()).or_default();
            e.insert("lo".into());
            for l in &p.links {
                e.insert(l.name().to_string());
            }
            for l in &p.links {
                if let Link::Veth { peer_ns, peer, .. } = l {
                    expected
                        .entry(peer_ns.clone())
                        .or_default()
                        .insert(peer.clone());
                }
            }
        }
        // Veth peers to configure (master, up), per namespace.
        let mut peer_cmds: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut changed: Vec<&String> = Vec::new();
        let mut by_elements = Vec::new();
        for (ns, p) in &plan.namespaces {
            match self.applied.get(ns) {
                Some(old) if old == p => {}
                Some(old) => match element_change(old, p) {
                    Some(c) => by_elements.push((ns, c)),
                    None => changed.push(ns),
                },
                None => changed.push(ns),
            }
        }
        self.last = ApplyStats::default();
        for (ns, c) in by_elements {
            if !self.program_elements(ns, &c, &plan.namespaces[ns]).await {
                changed.push(ns);
            }
        }
        self.last.by_layout = changed.len();
        for ns in &changed {
            if let Some(l) = self.links.get_mut(ns.as_str()) {
                l.forget_links();
            }
        }
        // Bridges first (routers), then the rest: veth peers are enslaved to bridges.
        let mut order: Vec<&String> = changed.clone();
        order.sort_by_key(|ns| {
            !plan.namespaces[*ns]
                .links
                .iter()
                .any(|l| matches!(l, Link::Bridge { .. }))
        });
        // Routers (bridges) first, then everything else; each group in parallel.
        let (routers, rest): (Vec<&String>, Vec<&String>) = order.iter().partition(|ns| {
            plan.namespaces[**ns]
                .links
                .iter()
                .any(|l| matches!(l, Link::Bridge { .. }))
        });
        for group in [routers, rest] {
            let jobs: Vec<(String, NsPlan, Option<BTreeSet<String>>)> = group
                .into_iter()
                .map(|ns| {
                    (
                        ns.clone(),
                        plan.namespaces[ns].clone(),
                        expected.get(ns).cloned(),
                    )
                })
                .collect();
            let results: Vec<(String, LinkResult)> = futures_util::stream::iter(jobs)
                .map(|(ns, p, exp)| async move {
                    let r = Self::apply_links(&ns, &p, exp.as_ref()).await;
                    (ns, r)
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
            for (ns, r) in results {
                match r {
                    Ok(cmds) => {
                        for (peer_ns, cmd) in cmds {
                            peer_cmds.entry(peer_ns).or_default().push(cmd);
                        }
                    }
                    Err(e) => {
                        // The first error of a namespace is its cause; later ones follow from it.
                        failed.entry(ns).or_insert_with(|| e.to_string());
                    }
                }
            }
        }
        let peer_results: Vec<(String, Result<String, KernelError>)> =
            futures_util::stream::iter(peer_cmds)
                .map(|(ns, cmds)| async move {
                    let batch = cmds.join("\n") + "\n";
                    let r = run("ip", &["-n", &ns, "-force", "-batch", "-"], Some(&batch)).await;
                    (ns, r)
                })
                .buffer_unordered(PARALLEL)
                .collect()
                .await;
        for (ns, r) in peer_results {
            if let Err(e) = r {
                failed.entry(ns).or_insert_with(|| e.to_string());
            }
        }
        // 3. Addresses, routes, rules, nftables.
        let jobs: Vec<(String, NsPlan, bool)> = order
            .iter()
            .map(|ns| {
                (
                    (*ns).clone(),
                    plan.namespaces[*ns].clone(),
                    created.contains(*ns),
                )
            })
            .collect();
        let results: Vec<(String, Result<Added, KernelError>)> = futures_util::stream::iter(jobs)
            .map(|(ns, p, fresh)| async move {
                let r = Self::apply_rest(&ns, &p, fresh).await;
                (ns, r)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        for (ns, r) in results {
            match r {
                Ok(added) if !failed.contains_key(&ns) => {
                    let p = plan.namespaces[&ns].clone();
                    if p.announce {
                        self.announce(&ns, &added).await;
                    }
                    self.applied.insert(ns, p);
                }
                Ok(_) => {}
                Err(e) => {
                    failed.entry(ns.clone()).or_insert_with(|| e.to_string());
                    self.applied.remove(&ns);
                }
            }
        }
        // 4. Namespaces we own that the plan no longer has.
        for ns in existing
            .iter()
            .filter(|n| self.names.owns(n) && !plan.namespaces.contains_key(*n))
        {
            // Our sockets would keep the namespace (and its veths) alive: close them first.
            self.links.remove(ns);
            delete_namespace(ns).await?;
            self.applied.remove(ns);
        }
        Ok(failed)
    }

    /// Links of one namespace; returns the commands its veth peers need in their namespaces.
    async fn apply_links(
        ns: &str,
        p: &NsPlan,
        expected: Option<&BTreeSet<String>>,
    ) -> Result<Vec<(String, String)>, KernelError> {
        let mut peer_cmds: Vec<(String, String)> = Vec::new();
        if !p.sysctls.is_empty() {
            let mut args: Vec<String> = vec![
                "netns".into(),
                "exec".into(),
                ns.into(),
                "sysctl".into(),
                "-qw".into(),
            ];
            args.extend(p.sysctls.iter().map(|(k, v)| format!("{k}={v}")));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            run("ip", &refs, None).await?;
        }
        let have = links_in(ns).await?;
        let mut cmds = Vec::new();
        for l in &p.links {
            match l {
                Link::Bridge { name } => {
                    if !have.contains(name) {
                        cmds.push(format!("link add {name} type bridge"));
                    }
                    cmds.push(format!("link set {name} up"));
                }
                Link::Veth {
                    name,
                    peer_ns,
                    peer,
                    peer_master,
                    mac,
                } => {
                    if !have.contains(name) {
                        cmds.push(format!(
                            "link add {name} type veth peer name {peer} netns {peer_ns}"
                        ));
                    }
                    if let Some(m) = mac.as_ref().filter(|m| !m.is_empty()) {
                        cmds.push(format!("link set {name} address {m}"));
                    }
                    cmds.push(format!("link set {name} up"));
                    if let Some(br) = peer_master {
                        peer_cmds.push((peer_ns.clone(), format!("link set {peer} master {br}")));
                    }
                    peer_cmds.push((peer_ns.clone(), format!("link set {peer} up")));
                }
            }
        }
        // Links in our namespaces that nobody plans any more (a deleted subnet's bridge, a leg).
        if let Some(exp) = expected {
            for name in have.iter().filter(|n| !exp.contains(*n)) {
                cmds.push(format!("link del {name}"));
            }
        }
        if !cmds.is_empty() {
            let batch = cmds.join("\n") + "\n";
            run("ip", &["-n", ns, "-batch", "-"], Some(&batch)).await?;
        }
        Ok(peer_cmds)
    }

    /// `fresh`: the namespace was just created, so it holds nothing of ours yet.
    /// Returns the addresses it added.
    async fn apply_rest(ns: &str, p: &NsPlan, fresh: bool) -> Result<Added, KernelError> {
        let have = addrs_in(ns).await?;
        let added: Added = p.addrs.difference(&have).cloned().collect();
        let mut cmds = Vec::new();
        for (dev, a) in &added {
            cmds.push(format!("addr add {a} dev {dev}"));
        }
        for (dev, a) in have.difference(&p.addrs) {
            cmds.push(format!("addr del {a} dev {dev}"));
        }
        for r in &p.routes {
            cmds.push(format!("route replace {r}"));
        }
        // One listing serves both the `local` placement and our fwmark rules.
        let rules = json(&run("ip", &["-n", ns, "-j", "rule", "show"], None).await?);
        if p.local_table_last {
            let has = |prio: u64| {
                rules
                    .iter()
                    .any(|r| r["priority"].as_u64() == Some(prio) && r["table"] == "local")
            };
            if !has(LOCAL_LAST_PREF) {
                cmds.push(format!("rule add pref {LOCAL_LAST_PREF} lookup local"));
            }
            if has(0) {
                cmds.push("rule del pref 0 lookup local".to_string());
            }
        }
        let rules = fwmark_rules(&rules);
        for t in p.rules.difference(&rules) {
            cmds.push(format!("rule add fwmark {t} lookup {t} pref 1000"));
        }
        for t in rules.difference(&p.rules) {
            cmds.push(format!("rule del fwmark {t} lookup {t} pref 1000"));
        }
        if !cmds.is_empty() {
            let batch = cmds.join("\n") + "\n";
            run("ip", &["-n", ns, "-batch", "-"], Some(&batch)).await?;
        }
        match &p.nft {
            Some(t) => {
                run(
                    "ip",
                    &["netns", "exec", ns, "nft", "-f", "-"],
                    Some(&t.script()),
                )
                .await?;
            }
            None if fresh => {}
            None => {
                let tables =
                    run("ip", &["netns", "exec", ns, "nft", "list", "tables"], None).await?;
                for line in tables.lines() {
                    let parts: Vec<&str> = line.split_whitespace().collect();
                    if let ["table", fam, name] = parts.as_slice()
                        && name.starts_with("vpcep")
                    {
                        run(
                            "ip",
                            &["netns", "exec", ns, "nft", "delete", "table", fam, name],
                            None,
                        )
                        .await?;
                    }
                }
            }
        }
        Ok(added)
    }

    /// Forget what was applied (next apply re-checks every namespace).
    pub fn invalidate(&mut self) {
        self.applied.clear();
        self.links.clear();
    }
}

/// Cut established flows of an endpoint that no longer carries traffic.
pub async fn cut_flows(gateway_ns: &str, zone: u16, ip: &str) {
    let zone = zone.to_string();
    // conntrack exits 1 when nothing matched; that is fine.
    let _ = run(
        "ip",
        &[
            "netns",
            "exec",
            gateway_ns,
            "conntrack",
            "-D",
            "--orig-zone",
            &zone,
            "--orig-dst",
            ip,
        ],
        None,
    )
    .await;
}

/// Close a lab host's TCP sockets towards `ip` (sock_destroy through `ss -K`).
pub async fn kill_sockets(ns: &str, ip: &str) {
    let _ = run("ip", &["netns", "exec", ns, "ss", "-K", "dst", ip], None).await;
}

/// Every namespace carrying `names`' prefix, deleted (`vpcep lab down`).
pub async fn teardown(names: &Namespaces) -> Result<usize, KernelError> {
    let mut n = 0;
    for ns in list_namespaces().await?.iter().filter(|ns| names.owns(ns)) {
        delete_namespace(ns).await?;
        n += 1;
    }
    Ok(n)
}
