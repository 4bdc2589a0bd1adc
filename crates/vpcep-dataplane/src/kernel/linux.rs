//! Applies a [`Plan`] to the kernel in two ways:
//!
//! * **Layout changes** (a namespace, link, route or rule appears or goes, a table's skeleton
//!   changes): namespaces are made in-process (unshare + bind mount, as `ip netns add` does),
//!   sysctls written from a thread inside, links, addresses, routes and rules listed and changed
//!   with typed rtnetlink messages over the namespace's long-lived route socket ([`NsLink`], one
//!   batch per namespace and step), and nftables tables loaded whole by `nft -f -` (one atomic
//!   transaction per table; the one process left on this path). Idempotent: it reads what exists
//!   and changes only the difference, so a restart after `kill -9` converges to the same state
//!   with nothing duplicated. A restart always takes this path for every namespace.
//! * **Element changes** (an endpoint comes or goes: its /32 on a consumer leg and its map
//!   elements) go over long-lived netlink sockets in the namespace ([`NsLink`]): rtnetlink address
//!   requests and one nf_tables batch of set-element adds/deletes. No process, no listing: the
//!   difference comes from what this process applied last.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::kernel::netlink::{
    NsLink, Request, create_namespace, err, is_stale_handle, write_sysctls, write_sysctls_here,
};
use crate::plan::naming::{Namespaces, consumer_leg, provider_leg};
use crate::plan::nft::{Family, SetDelta, element_delta};
use crate::plan::objects::{Addr, Link, Mac, NsListing, Sysctl};
use crate::plan::{Dirty, Legs, NsDelta, NsPlan, PROVIDER_TABLE_BASE, Plan};

pub use iproute2::describe;

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

/// Where `ip netns exec` finds a namespace's own `/etc` files.
fn netns_etc(ns: &str) -> std::path::PathBuf {
    std::path::Path::new("/etc/netns").join(ns)
}

/// Make `/etc/netns/{ns}/resolv.conf` name `resolvers`, written only when it differs. With none
/// (a router, a site: their resolver is not ours to choose) the file is left alone.
pub fn sync_resolv_conf(ns: &str, resolvers: &[std::net::Ipv4Addr]) -> Result<(), KernelError> {
    let dir = netns_etc(ns);
    let file = dir.join("resolv.conf");
    let fail = |e: std::io::Error| err(ns, &format!("write {}", file.display()), e);
    if resolvers.is_empty() {
        return Ok(());
    }
    let want: String = resolvers
        .iter()
        .map(|r| format!("nameserver {r}\n"))
        .chain(["options timeout:1 attempts:2\n".to_string()])
        .collect();
    if std::fs::read_to_string(&file).is_ok_and(|have| have == want) {
        return Ok(());
    }
    std::fs::create_dir_all(&dir).map_err(fail)?;
    std::fs::write(&file, want).map_err(fail)
}

pub async fn delete_namespace(ns: &str) -> Result<(), KernelError> {
    // Its `/etc/netns` files go with it (best effort: they do nothing without the namespace).
    let _ = std::fs::remove_dir_all(netns_etc(ns));
    let name = ns.to_string();
    tokio::task::spawn_blocking(move || crate::kernel::netlink::delete_namespace(&name))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(|e| err(ns, "delete namespace", e))
}

/// `/proc/sys/net/…` of a sysctl (what a task inside the namespace writes).
fn sysctl_path(key: Sysctl) -> String {
    format!("/proc/sys/{}", iproute2::sysctl_key(key).replace('.', "/"))
}

async fn addrs_in(ns: &str) -> Result<BTreeSet<Addr>, KernelError> {
    let out = run("ip", &["-n", ns, "-j", "-4", "addr", "show"], None).await?;
    Ok(iproute2::parse_addrs(&out))
}

/// The far end of one of a namespace's veths, as it must be in its own namespace.
#[derive(Debug, Clone)]
struct PeerEnd {
    name: String,
    mac: Mac,
    master: Option<String>,
}

/// Outcome of one namespace's links: its veth peers, by their namespace.
/// A namespace's own links brought to its plan: the far ends to configure (their namespace,
/// the end), how many requests it took, and the namespaces that got the far end of a veth
/// made in this pass (a new device there, with a new ifindex).
type LinkResult = Result<(Vec<(String, PeerEnd)>, usize, Vec<String>), KernelError>;

/// Namespaces created or given their nftables tables at once (threads or processes in flight).
const PARALLEL: usize = 8;

/// What one namespace needs when only elements changed: addresses to delete and add, and the
/// nftables element batch.
#[derive(Debug, Default)]
struct ElementChange {
    del_addrs: Vec<Addr>,
    add_addrs: Vec<Addr>,
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

/// The change a patch noted for a namespace (see [`crate::plan::NsDelta`]), as the kernel
/// programs it: no comparison of the namespace's whole plan. `None` when it touches an interval
/// set (those are reloaded with their table) or is too big for one batch.
fn noted_change(delta: &NsDelta, new: &NsPlan) -> Option<ElementChange> {
    let table = new.nft.as_ref();
    let mut sets = Vec::new();
    for (set, (del, add)) in &delta.sets {
        if del.is_empty() && add.is_empty() {
            continue;
        }
        if table?.sets.get(set)?.interval {
            return None;
        }
        sets.push(SetDelta {
            set,
            del: del.iter().cloned().collect(),
            add: add.iter().cloned().collect(),
        });
    }
    if sets
        .iter()
        .map(|d| d.add.len() + d.del.len())
        .sum::<usize>()
        > MAX_ELEMENT_CHANGES
    {
        return None;
    }
    Some(ElementChange {
        del_addrs: delta.del_addrs.iter().cloned().collect(),
        add_addrs: delta.add_addrs.iter().cloned().collect(),
        sets,
    })
}

/// An element change in the shape a patch notes it, to compare two ways of computing it
/// (debug builds).
#[cfg(debug_assertions)]
fn change_as_sets(c: &ElementChange) -> NsDelta {
    NsDelta {
        del_addrs: c.del_addrs.iter().cloned().collect(),
        add_addrs: c.add_addrs.iter().cloned().collect(),
        sets: c
            .sets
            .iter()
            .filter(|d| !d.del.is_empty() || !d.add.is_empty())
            .map(|d| {
                (
                    d.set,
                    (
                        d.del.iter().cloned().collect(),
                        d.add.iter().cloned().collect(),
                    ),
                )
            })
            .collect(),
    }
}

/// Addresses a namespace gained.
type Added = Vec<Addr>;

/// Sysctls to check in a namespace: `/proc/sys` path and value.
type Sysctls = Vec<(String, u32)>;

/// Sockets just opened (none when they were open already) and sysctls written.
type Opened = (Option<NsLink>, usize);

/// nftables tables, (family, name).
type Tables = Vec<(Family, String)>;

/// What became of a namespace's table in a layout pass.
enum TableOutcome {
    /// Its element difference was sent.
    Changed,
    /// Found as planned and left alone.
    Kept,
    /// Loaded whole (or, with no table planned, stale ones of ours deleted).
    Loaded,
}

/// How the last [`Kernel::apply`] went, for logs and benchmarks.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ApplyStats {
    /// Namespaces changed by element batches over netlink.
    pub by_elements: usize,
    /// Namespaces changed through the layout path (rtnetlink listings and batches, one
    /// nf_tables batch per table).
    pub by_layout: usize,
    /// Changes the layout path asked of the kernel over rtnetlink, plus sysctls written (a
    /// layout pass over a kernel that is already as planned makes none).
    pub layout_requests: usize,
    /// Time spent programming element changes over netlink (addresses and nf_tables batches,
    /// until the kernel acknowledged them).
    pub element_time: std::time::Duration,
    /// Time of the layout path's phases: namespaces created, links (with sysctls and sockets
    /// opened), veth far ends, addresses/routes/rules with the tables.
    pub layout_phases: [std::time::Duration; 4],
    /// Time bringing the routers' fast path to the plan (after the layout: traffic already
    /// flows the normal way meanwhile).
    pub fast_path: std::time::Duration,
    /// Tables found exactly as planned in a namespace this process had not programmed (a
    /// restart) and kept, not loaded again.
    pub tables_kept: usize,
    /// Tables loaded whole.
    pub tables_loaded: usize,
}

/// Applies plans, remembering what it applied so unchanged namespaces cost nothing.
#[derive(Debug, Default)]
pub struct Kernel {
    pub names: Namespaces,
    applied: BTreeMap<String, NsPlan>,
    links: BTreeMap<String, NsLink>,
    pub last: ApplyStats,
    /// The gateways' PROXY-v2 listeners (`proxy_open` services).
    pub proxies: crate::proxy::Proxies,
    /// Flow cuts and socket kills of endpoints that stopped carrying traffic, still running
    /// (each with the endpoint address it is about). They run beside the next converges instead
    /// of holding them up: the endpoint's elements are already gone, so no new flow reaches it.
    /// An apply that gives one of these addresses back waits for its cuts first, or they could
    /// cut the new flows.
    cuts: Vec<(std::net::Ipv4Addr, tokio::task::JoinHandle<()>)>,
    /// The forwarding-only provider routers' tc-BPF fast path (`kernel/fastpath.rs`).
    pub fast: crate::kernel::fastpath::FastPath,
}

impl Kernel {
    /// A kernel with the routers' fast path on, unless `VPCEP_NO_FAST_PATH` is set (what
    /// `vpcep agent --no-fast-path` reads; embedded agents, tests and benchmarks follow it too),
    /// or the kernel refuses its programs (off, with the reason logged).
    pub fn new(names: Namespaces) -> Self {
        // The values clap takes as false for the flag's variable, so both read it alike.
        let off = std::env::var("VPCEP_NO_FAST_PATH").is_ok_and(|v| {
            !["", "0", "n", "no", "f", "false", "off"].contains(&v.to_ascii_lowercase().as_str())
        });
        Self::with_fast_path(names, !off)
    }

    /// `fast_path: false` leaves every router forwarding the normal way (`vpcep agent
    /// --no-fast-path`; the benchmarks' comparison).
    pub fn with_fast_path(names: Namespaces, fast_path: bool) -> Self {
        let fast = if fast_path {
            crate::kernel::fastpath::FastPath::load(&names)
        } else {
            crate::kernel::fastpath::FastPath::off("turned off (--no-fast-path)", &names)
        };
        Self {
            names,
            applied: BTreeMap::new(),
            links: BTreeMap::new(),
            last: ApplyStats::default(),
            proxies: crate::proxy::Proxies::default(),
            cuts: Vec::new(),
            fast,
        }
    }

    /// Start cutting `ip`'s flows (`work`) without waiting for it.
    pub fn start_cut(
        &mut self,
        ip: std::net::Ipv4Addr,
        work: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        self.cuts.retain(|(_, h)| !h.is_finished());
        self.cuts.push((ip, tokio::spawn(work)));
    }

    /// Wait for the running cuts of any address `reused` says is coming back.
    async fn finish_cuts(&mut self, reused: impl Fn(&std::net::Ipv4Addr) -> bool) {
        let (wait, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.cuts)
            .into_iter()
            .partition(|(ip, _)| reused(ip));
        self.cuts = keep;
        for (_, h) in wait {
            let _ = h.await;
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
                    self.announce(ns, &c.add_addrs, false).await;
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
        dirty: &Dirty,
    ) -> Result<BTreeMap<String, String>, KernelError> {
        let coming_back: BTreeSet<std::net::Ipv4Addr> = dirty
            .values()
            .flat_map(|d| d.add_addrs.iter().map(|a| a.net.addr()))
            .collect();
        self.finish_cuts(|ip| coming_back.contains(ip)).await;
        self.last = ApplyStats::default();
        for (ns, delta) in dirty {
            let (Some(old), Some(new)) = (self.applied.get(ns), plan.namespaces.get(ns)) else {
                return self.apply(plan).await;
            };
            let Some(change) = noted_change(delta, new).or_else(|| element_change(old, new)) else {
                return self.apply(plan).await;
            };
            // Debug builds (every test) check the noted change against comparing the plans.
            #[cfg(debug_assertions)]
            {
                let compared = element_change(old, new).map(|c| change_as_sets(&c));
                assert!(
                    compared.as_ref() == Some(&change_as_sets(&change)),
                    "the change a patch noted for {ns} must be the plans' difference"
                );
            }
            if !self.program_elements(ns, &change, new).await {
                return self.apply(plan).await;
            }
        }
        Ok(BTreeMap::new())
    }

    /// Namespaces deleted behind the agent's back (`gone`, which `plan` had): the kernel tears a
    /// deleted namespace down only once the last reference to it is gone, so the veth ends it
    /// shared with surviving namespaces can outlive the delete, stop the rebuilt pair from being
    /// made under the same names, and vanish later with the addresses and routes on them (a
    /// provider router losing its route to the SNAT range). Delete those ends now: deleting one
    /// end of a veth deletes the pair. Returns how many ends it deleted.
    pub async fn release_gone(&mut self, gone: &[String], plan: &Plan) -> usize {
        for ns in gone {
            self.links.remove(ns);
            self.applied.remove(ns);
        }
        self.fast.forget(gone);
        let mut ends: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (ns, p) in &plan.namespaces {
            for l in &p.links {
                let Link::Veth {
                    name,
                    peer_ns,
                    peer,
                    ..
                } = l
                else {
                    continue;
                };
                if gone.contains(ns) && !gone.contains(peer_ns) {
                    ends.entry(peer_ns).or_default().push(peer);
                } else if gone.contains(peer_ns) && !gone.contains(ns) {
                    ends.entry(ns).or_default().push(name);
                }
            }
        }
        let mut deleted = 0;
        for (ns, names) in ends {
            let reqs: Vec<Request> = names.iter().map(|n| Request::del_link(n)).collect();
            let n = reqs.len();
            match self.link(ns) {
                Ok(link) => match link.batch(reqs).await {
                    Ok(_) => deleted += n,
                    Err(e) => {
                        tracing::warn!(namespace = ns, error = %e, "cannot delete the veth ends of a deleted namespace")
                    }
                },
                Err(e) => {
                    tracing::warn!(namespace = ns, error = %e, "cannot delete the veth ends of a deleted namespace")
                }
            }
        }
        deleted
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
        fn addrs(list: &[Addr]) -> Vec<(&str, std::net::Ipv4Addr, u8)> {
            list.iter()
                .map(|a| (a.dev.as_str(), a.net.addr(), a.net.prefix_len()))
                .collect()
        }
        let (add, del) = (addrs(&change.add_addrs), addrs(&change.del_addrs));
        link.program(plan.nft.as_ref(), &change.sets, &add, &del)
            .await
    }

    /// Gratuitous ARP for each new host address (see [`NsLink::announce`]); failures only
    /// slow down neighbours that asked too early, so they are logged, not returned.
    async fn announce(&mut self, ns: &str, addrs: &[Addr], new_links: bool) {
        let link = match self.link(ns) {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(error = %e, "no announcements");
                return;
            }
        };
        let hosts: Vec<&Addr> = addrs.iter().filter(|a| a.net.prefix_len() == 32).collect();
        // A leg made in this very pass may not be running yet: an announcement sent before is
        // dropped, and a consumer that asked for the address too early waits for its own ARP
        // retry, a second later. Legs that were there before the pass are running.
        let running = if new_links && !hosts.is_empty() {
            let devs: BTreeSet<&str> = hosts.iter().map(|a| a.dev.as_str()).collect();
            Some(until_running(link, ns, &devs).await)
        } else {
            None
        };
        for a in hosts {
            if running.as_ref().is_some_and(|r| !r.contains(&a.dev)) {
                continue;
            }
            if let Err(e) = link.announce(&a.dev, a.net.addr()).await {
                tracing::debug!(error = %e, "gratuitous ARP not sent");
            }
        }
    }

    /// Make the kernel match `plan`. Returns the namespaces that failed (with why); the others
    /// are in place.
    pub async fn apply(&mut self, plan: &Plan) -> Result<BTreeMap<String, String>, KernelError> {
        // A whole plan may give any address back: no cut may still be running.
        self.finish_cuts(|_| true).await;
        let mut failed = BTreeMap::new();
        let existing = list_namespaces().await?;
        // 1. Namespaces: create the missing ones first (veth peers need both ends). A handle
        // with nothing mounted on it, what an agent killed while creating leaves, is missing
        // too: nothing could enter it, and it failed its objects for good. Only handles this
        // process has not programmed are looked at (every one, once, after a restart).
        let created: BTreeSet<String> = plan
            .namespaces
            .keys()
            .filter(|ns| {
                !existing.contains(*ns) || (!self.applied.contains_key(*ns) && is_stale_handle(ns))
            })
            .cloned()
            .collect();
        for ns in &created {
            self.applied.remove(ns);
            // Sockets kept from an earlier namespace of that name (deleted behind our back)
            // would program the old one.
            self.links.remove(ns);
        }
        let phase = std::time::Instant::now();
        let made: Vec<(String, Result<(), KernelError>)> =
            futures_util::stream::iter(created.clone())
                .map(|ns| async move {
                    let name = ns.clone();
                    let r = tokio::task::spawn_blocking(move || create_namespace(&name))
                        .await
                        .map_err(std::io::Error::other)
                        .and_then(|r| r)
                        .map_err(|e| err(&ns, "create namespace", e));
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
        let mut peers: BTreeMap<String, Vec<PeerEnd>> = BTreeMap::new();
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
        // Routers (bridges) first, then everything else: veth peers are enslaved to bridges.
        let (routers, rest): (Vec<&String>, Vec<&String>) = changed.iter().partition(|ns| {
            plan.namespaces[**ns]
                .links
                .iter()
                .any(|l| matches!(l, Link::Bridge { .. }))
        });
        let order: Vec<&String> = routers.into_iter().chain(rest).collect();
        self.last.layout_phases[0] = phase.elapsed();
        let phase = std::time::Instant::now();
        // Several namespaces at once, each over its own sockets (opened, with the sysctls
        // checked, in one trip into the namespace): a namespace costs a few kernel round trips
        // (listings, then one batch), so waiting on one at a time would leave the CPUs idle.
        let live: Vec<String> = order
            .iter()
            .filter(|ns| !failed.contains_key(**ns))
            .map(|ns| (*ns).clone())
            .collect();
        for (ns, e) in self.open_links(&live, plan).await {
            failed.entry(ns).or_insert_with(|| e.to_string());
        }
        let live: Vec<String> = live
            .into_iter()
            .filter(|ns| !failed.contains_key(ns))
            .collect();
        let linked = self
            .each(live, |ns, mut link| async {
                let p = &plan.namespaces[&ns];
                let r = links_of(&mut link, &ns, p, expected.get(&ns)).await;
                (ns, link, r)
            })
            .await;
        // Where no namespace was made and no link anywhere was added, deleted or changed (an
        // agent restart, a pass that only moves addresses), each namespace's listing from this
        // phase still holds for the phases after it: a veth made or deleted in one namespace
        // would add or remove its far end in another, so one change anywhere lists again.
        let mut links_moved = !created.is_empty();
        let mut listed: BTreeSet<String> = BTreeSet::new();
        // Namespaces that may hold a re-created device (new ifindex), for the fast path (5.):
        // the far ends of veths made here, and every peer of a namespace whose links failed
        // half-way (some of its requests may have been carried out).
        let mut remade: BTreeSet<String> = BTreeSet::new();
        for (ns, r) in linked {
            match r {
                Ok((ends, n, made_in)) => {
                    self.last.layout_requests += n;
                    links_moved |= n > 0;
                    remade.extend(made_in);
                    listed.insert(ns);
                    for (peer_ns, end) in ends {
                        peers.entry(peer_ns).or_default().push(end);
                    }
                }
                // The first error of a namespace is its cause; later ones follow from it.
                Err(e) => {
                    links_moved = true;
                    for l in &plan.namespaces[&ns].links {
                        if let Link::Veth { peer_ns, .. } = l {
                            remade.insert(peer_ns.clone());
                        }
                    }
                    failed.entry(ns).or_insert_with(|| e.to_string());
                }
            }
        }
        // The namespaces whose listing from this phase serves the phases after it.
        let mut reusable = if links_moved { BTreeSet::new() } else { listed };
        self.last.layout_phases[1] = phase.elapsed();
        let phase = std::time::Instant::now();
        let ended = self
            .each(peers.keys().cloned().collect(), |ns, mut link| async {
                let r = far_ends(&mut link, &ns, &peers[&ns], reusable.contains(&ns)).await;
                (ns, link, r)
            })
            .await;
        for (ns, r) in ended {
            match r {
                Ok(n) => {
                    self.last.layout_requests += n;
                    // A MAC set here is not in the listing any more.
                    if n > 0 {
                        reusable.remove(&ns);
                    }
                }
                Err(e) => {
                    reusable.remove(&ns);
                    failed.entry(ns).or_insert_with(|| e.to_string());
                }
            }
        }
        self.last.layout_phases[2] = phase.elapsed();
        let phase = std::time::Instant::now();
        // 3. Addresses, routes, rules, then the nftables table: each a netlink batch on the
        // namespace's sockets, several namespaces at once.
        let mut live = Vec::new();
        for ns in &order {
            if failed.contains_key(*ns) {
                self.applied.remove(*ns);
            } else {
                live.push((*ns).clone());
            }
        }
        // A table whose skeleton did not change since it was last applied (a new leg of a
        // gateway adds only elements) gets its element difference, not a reload of every
        // element it holds.
        let deltas: BTreeMap<String, Vec<SetDelta>> = live
            .iter()
            .filter_map(|ns| {
                let old = self.applied.get(ns)?.nft.as_ref()?;
                let new = plan.namespaces[ns].nft.as_ref()?;
                Some((ns.clone(), element_delta(old, new)?))
            })
            .collect();
        // A table in a namespace this process has no record of (it restarted, or the last
        // attempt failed) may already be the plan's: the previous agent's, left as it was.
        // It is compared with the plan first, so a restart does not reload (and rebuild in the
        // kernel) every gateway's tens of thousands of elements.
        let unknown: BTreeSet<String> = live
            .iter()
            .filter(|ns| !self.applied.contains_key(*ns) && !created.contains(*ns))
            .cloned()
            .collect();
        let (created, deltas, unknown, reusable) = (&created, &deltas, &unknown, &reusable);
        let programmed = self
            .each(live, |ns, mut link| async {
                let p = &plan.namespaces[&ns];
                let r = match sync_resolv_conf(&ns, &p.resolvers) {
                    Err(e) => Err(e),
                    Ok(()) => {
                        let fresh = created.contains(&ns);
                        addresses_of(&mut link, &ns, p, fresh, reusable.contains(&ns)).await
                    }
                };
                let r = match r {
                    Ok((added, stale, n)) => {
                        let tables = match (p.nft.as_ref(), deltas.get(&ns)) {
                            (Some(table), Some(delta)) if stale.is_empty() => link
                                .set_elements(table, delta)
                                .await
                                .map(|()| TableOutcome::Changed),
                            (Some(table), None) if stale.is_empty() && unknown.contains(&ns) => {
                                match link.holds_table(table).await {
                                    Ok(true) => Ok(TableOutcome::Kept),
                                    Ok(false) => link
                                        .load_tables(Some(table), &stale)
                                        .await
                                        .map(|()| TableOutcome::Loaded),
                                    Err(e) => Err(e),
                                }
                            }
                            (table, _) => link
                                .load_tables(table, &stale)
                                .await
                                .map(|()| TableOutcome::Loaded),
                        };
                        tables.map(|t| (added, n, t))
                    }
                    Err(e) => Err(e),
                };
                (ns, link, r)
            })
            .await;
        for (ns, r) in programmed {
            match r {
                Ok((added, n, tables)) => {
                    self.last.layout_requests += n;
                    match tables {
                        TableOutcome::Kept => self.last.tables_kept += 1,
                        TableOutcome::Loaded if plan.namespaces[&ns].nft.is_some() => {
                            self.last.tables_loaded += 1;
                        }
                        _ => {}
                    }
                    let p = &plan.namespaces[&ns];
                    if p.announce {
                        self.announce(&ns, &added, true).await;
                    }
                    self.applied.insert(ns, p.clone());
                }
                Err(e) => {
                    failed.entry(ns.clone()).or_insert_with(|| e.to_string());
                    self.applied.remove(&ns);
                }
            }
        }
        self.last.layout_phases[3] = phase.elapsed();
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
        // 5. The routers' fast path, once their devices exist. A router's devices are its own
        // and the router ends of veths other namespaces make (gateway legs, server ports):
        // routers that went through the layout path, and those that got a veth's far end in
        // this pass (`remade`), may hold re-created devices (new ifindexes), so they are looked
        // at again. Not every peer of a changed namespace: a gateway's new leg made every
        // router it has a leg into look again (10 routers: 20-40 ms of a new consumer VPC's
        // first endpoint's converge; 100 per shard at scale), for one new device.
        let mut recheck: BTreeSet<String> = remade;
        recheck.extend(changed.iter().map(|ns| (*ns).clone()));
        recheck.extend(created.iter().cloned());
        let phase = std::time::Instant::now();
        self.fast.sync(plan, &recheck).await;
        self.last.fast_path = phase.elapsed();
        // 6. Keep sockets only where element changes are frequent (gateways, ≤ 32): three per
        // namespace for every router and host would be thousands of descriptors at scale
        // (beyond a service's default limit of 1,024); the others reopen on demand (~0.1 ms).
        self.links
            .retain(|ns, _| plan.namespaces.get(ns).is_some_and(|p| p.announce));
        for link in self.links.values_mut() {
            link.drop_listing();
        }
        Ok(failed)
    }

    /// Open the sockets of the namespaces in `list` that have none (checking their sysctls on
    /// the same trip into the namespace) and check the others' sysctls, several at once.
    /// Returns the namespaces that failed.
    async fn open_links(&mut self, list: &[String], plan: &Plan) -> Vec<(String, KernelError)> {
        // (namespace, its sysctls as paths and values, whether its sockets need opening)
        let jobs: Vec<(String, Sysctls, bool)> = list
            .iter()
            .map(|ns| {
                let values = plan.namespaces[ns]
                    .sysctls
                    .iter()
                    .map(|(k, v)| (sysctl_path(*k), *v))
                    .collect();
                (ns.clone(), values, !self.links.contains_key(ns))
            })
            .collect();
        let done: Vec<(String, Result<Opened, KernelError>)> = futures_util::stream::iter(jobs)
            .map(|(ns, values, open)| async move {
                let name = ns.clone();
                let r = tokio::task::spawn_blocking(move || {
                    if open {
                        NsLink::open_after(&name, move || write_sysctls_here(&values))
                            .map(|(link, n)| (Some(link), n))
                    } else if values.is_empty() {
                        Ok((None, 0))
                    } else {
                        write_sysctls(&name, values)
                            .map(|n| (None, n))
                            .map_err(|e| err(&name, "sysctls", e))
                    }
                })
                .await
                .map_err(|e| err(&ns, "open sockets", e))
                .and_then(|r| r);
                (ns, r)
            })
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
        let mut failed = Vec::new();
        for (ns, r) in done {
            match r {
                Ok((link, written)) => {
                    self.last.layout_requests += written;
                    if let Some(link) = link {
                        self.links.insert(ns, link);
                    }
                }
                Err(e) => failed.push((ns, e)),
            }
        }
        failed
    }

    /// Run `f` on the sockets of each namespace in `list`, several namespaces at once (each
    /// future owns its namespace's sockets for the duration). Sockets come back to the kernel
    /// layer after success and are dropped after a failure (they may be what failed).
    async fn each<T, F, Fut>(
        &mut self,
        list: Vec<String>,
        f: F,
    ) -> Vec<(String, Result<T, KernelError>)>
    where
        T: Send,
        F: Fn(String, NsLink) -> Fut + Sync,
        Fut: Future<Output = (String, NsLink, Result<T, KernelError>)>,
    {
        let mut out = Vec::new();
        let mut taken = Vec::new();
        for ns in list {
            if let Err(e) = self.link(&ns) {
                out.push((ns, Err(e)));
            } else if let Some(link) = self.links.remove(&ns) {
                taken.push((ns, link));
            }
        }
        let done = on_every_cpu(taken, &f).await;
        for (ns, link, r) in done {
            if r.is_ok() {
                self.links.insert(ns.clone(), link);
            }
            out.push((ns, r));
        }
        out
    }

    /// Forget what was applied (next apply re-checks every namespace).
    pub fn invalidate(&mut self) {
        self.applied.clear();
        self.links.clear();
    }
}

/// Run `f` on each namespace's sockets, `PARALLEL` at a time on each CPU.
///
/// The kernel does a netlink request's work (a dump's listing, a batch's commit) in the
/// sending or receiving thread's own syscall, so futures polled by one task keep one CPU busy
/// however many namespaces are in flight. With a multi-thread runtime the list is split across
/// scoped threads that each poll their share (the sockets stay registered with the runtime's
/// reactor, which its workers keep driving); with one thread, or a handful of namespaces,
/// everything stays on the calling task.
async fn on_every_cpu<T, F, Fut>(
    taken: Vec<(String, NsLink)>,
    f: &F,
) -> Vec<(String, NsLink, Result<T, KernelError>)>
where
    T: Send,
    F: Fn(String, NsLink) -> Fut + Sync,
    Fut: Future<Output = (String, NsLink, Result<T, KernelError>)>,
{
    let handle = tokio::runtime::Handle::current();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let multi = handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread;
    if !multi || threads < 2 || taken.len() < 2 * PARALLEL {
        return futures_util::stream::iter(taken)
            .map(|(ns, link)| f(ns, link))
            .buffer_unordered(PARALLEL)
            .collect()
            .await;
    }
    // Dealt round robin: namespaces come ordered by kind (routers first), and each share
    // should hold a mix.
    let mut shares: Vec<Vec<(String, NsLink)>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, job) in taken.into_iter().enumerate() {
        shares[i % threads].push(job);
    }
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let running: Vec<_> = shares
                .into_iter()
                .map(|share| {
                    let handle = &handle;
                    scope.spawn(move || {
                        handle.block_on(
                            futures_util::stream::iter(share)
                                .map(|(ns, link)| f(ns, link))
                                .buffer_unordered(PARALLEL)
                                .collect::<Vec<_>>(),
                        )
                    })
                })
                .collect();
            running
                .into_iter()
                .flat_map(|t| match t.join() {
                    Ok(done) => done,
                    // A panic in a namespace's work is a bug; carry it to the caller as one.
                    Err(panic) => std::panic::resume_unwind(panic),
                })
                .collect()
        })
    })
}

/// Links of one namespace (links missing are created with their MACs, the far ends of veths
/// directly in their namespace; MACs set where they differ; all up; links nobody plans
/// deleted). Returns what its veth peers need in their namespaces, and the requests it made.
async fn links_of(
    link: &mut NsLink,
    ns: &str,
    p: &NsPlan,
    expected: Option<&BTreeSet<String>>,
) -> LinkResult {
    let mut peers: Vec<(String, PeerEnd)> = Vec::new();
    let mut made_in: Vec<String> = Vec::new();
    let have = link.links().await?;
    let mut reqs = Vec::new();
    // Handles of the namespaces new veths' far ends go to: open until acknowledged.
    let mut handles = Vec::new();
    for l in &p.links {
        let name = l.name();
        let mac = iproute2::mac_of(l);
        let now = have.get(name);
        match (now, l) {
            (Some(_), _) => {}
            (None, Link::Bridge { .. }) => reqs.push(Request::add_bridge(name, mac)),
            (
                None,
                Link::Veth {
                    peer_ns,
                    peer,
                    peer_mac,
                    ..
                },
            ) => {
                let handle = std::fs::File::open(format!("/run/netns/{peer_ns}"))
                    .map_err(|e| err(ns, &format!("namespace {peer_ns} of {peer}"), e))?;
                reqs.push(Request::add_veth(name, mac, peer, *peer_mac, &handle));
                handles.push(handle);
                made_in.push(peer_ns.clone());
            }
        }
        // Made before MACs were planned (or changed by hand): set ours, in place.
        let set_mac = now.filter(|s| s.mac != Some(mac)).map(|_| mac);
        if set_mac.is_some() || !now.is_some_and(|s| s.up) {
            reqs.push(Request::set_link(name, set_mac, None));
        }
        if let Link::Veth {
            peer_ns,
            peer,
            peer_mac,
            peer_master,
            ..
        } = l
        {
            let end = PeerEnd {
                name: peer.clone(),
                mac: *peer_mac,
                master: peer_master.clone(),
            };
            peers.push((peer_ns.clone(), end));
        }
    }
    if !have.get("lo").is_some_and(|s| s.up) {
        reqs.push(Request::set_link("lo", None, None));
    }
    // Links in our namespaces that nobody plans any more (a deleted subnet's bridge, a leg).
    if let Some(exp) = expected {
        for name in have.keys().filter(|n| !exp.contains(*n)) {
            reqs.push(Request::del_link(name));
        }
    }
    let n = reqs.len();
    if n > 0 {
        link.batch(reqs).await?;
    }
    drop(handles);
    Ok((peers, n, made_in))
}

/// The far ends of other namespaces' veths in `ns`: MAC (only when it differs: a change of
/// address flushes the device's neighbours), master, up — only what is not so already.
async fn far_ends(
    link: &mut NsLink,
    ns: &str,
    ends: &[PeerEnd],
    unchanged: bool,
) -> Result<usize, KernelError> {
    let have = link.links_listed(unchanged).await?;
    let mut reqs = Vec::new();
    for end in ends {
        let now = have.get(&end.name);
        let mac = now.filter(|s| s.mac != Some(end.mac)).map(|_| end.mac);
        let master = match &end.master {
            Some(br) => {
                let index = have.get(br).map(|s| s.index).ok_or_else(|| {
                    err(
                        ns,
                        &format!("enslave {} to {br}", end.name),
                        "no such bridge",
                    )
                })?;
                (now.and_then(|s| s.master) != Some(index)).then_some(index)
            }
            None => None,
        };
        // A missing end is asked for too: the kernel's "no such device" is the error.
        if now.is_none() || mac.is_some() || master.is_some() || !now.is_some_and(|s| s.up) {
            reqs.push(Request::set_link(&end.name, mac, master));
        }
    }
    let n = reqs.len();
    if n > 0 {
        link.batch(reqs).await?;
    }
    Ok(n)
}

/// Addresses, routes and rules of one namespace, diffed as values against the kernel's
/// listings and changed in one batch. Returns the addresses it added and, when the plan has
/// no table for the namespace, the tables of ours it still holds, (family, name) (`fresh`:
/// it was just created, so it holds none), and the requests it made. `links_unchanged`: no
/// link changed since this pass listed them, so that listing serves.
async fn addresses_of(
    link: &mut NsLink,
    ns: &str,
    p: &NsPlan,
    fresh: bool,
    links_unchanged: bool,
) -> Result<(Added, Tables, usize), KernelError> {
    // Listed over netlink: a namespace without a table (most hosts) costs no `nft` process.
    let mut stale = Vec::new();
    if p.nft.is_none() && !fresh {
        for t in link.tables().await? {
            // Ours are `ip` or `inet` tables; nothing else carries our prefix.
            if let Some(family) = crate::plan::nft::family_of(t.family)
                && t.name.starts_with("vpcep")
            {
                stale.push((family, t.name));
            }
        }
    }
    let links = link.links_listed(links_unchanged).await?;
    let names: BTreeMap<u32, String> = links.iter().map(|(n, s)| (s.index, n.clone())).collect();
    let index = |dev: &str| {
        links
            .get(dev)
            .map(|s| s.index)
            .ok_or_else(|| err(ns, &format!("device {dev}"), "no such link"))
    };
    let have = link.addrs(&names).await?;
    let added: Added = p.addrs.difference(&have).cloned().collect();
    let mut reqs = Vec::new();
    for a in &added {
        reqs.push(Request::add_addr(a, index(&a.dev)?));
    }
    for a in have.difference(&p.addrs) {
        reqs.push(Request::del_addr(a, index(&a.dev)?));
    }
    // Routes after addresses: a preferred source must exist first.
    let routes = link.routes(&names).await?;
    for r in p.routes.difference(&routes) {
        reqs.push(Request::replace_route(r, index(&r.dev)?));
    }
    // Ours that are not planned, unless a planned one with the same key replaced them.
    let keys: BTreeSet<_> = p.routes.iter().map(|r| r.key()).collect();
    for r in routes.difference(&p.routes) {
        if !keys.contains(&r.key()) {
            reqs.push(Request::del_route(r, index(&r.dev)?));
        }
    }
    if let Some(want) = &p.rules {
        let rules = link.rules().await?;
        // Additions first: `local` is looked up at its new place before the old one goes.
        for r in want.difference(&rules) {
            reqs.push(Request::add_rule(r));
        }
        for r in rules.difference(want) {
            reqs.push(Request::del_rule(r));
        }
    }
    let n = reqs.len();
    if n > 0 {
        link.batch(reqs).await?;
    }
    Ok((added, stale, n))
}

/// Wait until the links `devs` of `ns` are running ([`NsLink::running_links`], one listing
/// per look): those that are. At most a quarter of a second (seen: 2.8 ms with both CPUs
/// busy), so a leg that cannot come up (its far end failed, reported as such) holds the
/// converge up only that long.
async fn until_running(link: &mut NsLink, ns: &str, devs: &BTreeSet<&str>) -> BTreeSet<String> {
    let started = std::time::Instant::now();
    loop {
        let running = match link.running_links().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(namespace = ns, error = %e, "links not listed: nothing announced");
                return BTreeSet::new();
            }
        };
        let waiting = devs.iter().filter(|d| !running.contains(**d)).count();
        if waiting == 0 || started.elapsed() >= std::time::Duration::from_millis(250) {
            if started.elapsed() >= std::time::Duration::from_millis(1) || waiting > 0 {
                tracing::debug!(
                    namespace = ns,
                    waiting,
                    waited_us = started.elapsed().as_micros() as u64,
                    "links running"
                );
            }
            return running;
        }
        // The kernel's link-watch work runs on a worker thread: let it.
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// Cut established flows of an endpoint that no longer carries traffic: the conntrack entries
/// of `gateway_ns` in original zone `zone` towards `ip`, deleted over ctnetlink. Best effort:
/// failures are logged.
pub async fn cut_flows(gateway_ns: &str, zone: u16, ip: &str) {
    let Ok(addr) = ip.parse() else {
        tracing::warn!(ns = gateway_ns, ip, "cut flows: not an IPv4 address");
        return;
    };
    match crate::kernel::netlink::cut_flows(gateway_ns, zone, addr).await {
        Ok(n) => tracing::debug!(
            ns = gateway_ns,
            zone,
            ip,
            deleted = n,
            "conntrack entries cut"
        ),
        Err(e) => tracing::warn!(ns = gateway_ns, zone, ip, "cut flows: {e}"),
    }
}

/// Close a lab host's TCP sockets towards `ip` (SOCK_DESTROY over sock_diag, as `ss -K` does).
/// Best effort: failures are logged.
pub async fn kill_sockets(ns: &str, ip: &str) {
    let Ok(addr) = ip.parse() else {
        tracing::warn!(ns, ip, "kill sockets: not an IPv4 address");
        return;
    };
    match crate::kernel::netlink::kill_sockets(ns, addr).await {
        Ok(n) => tracing::debug!(ns, ip, destroyed = n, "sockets destroyed"),
        Err(e) => tracing::warn!(ns, ip, "kill sockets: {e}"),
    }
}

/// Every namespace carrying `names`' prefix, deleted (`vpcep lab down`).
pub async fn teardown(names: &Namespaces) -> Result<usize, KernelError> {
    let mut n = 0;
    for ns in list_namespaces().await?.iter().filter(|ns| names.owns(ns)) {
        delete_namespace(ns).await?;
        n += 1;
    }
    // The routers' fast-path pins outlive the namespaces (they would keep programs and maps).
    crate::kernel::fastpath::remove_pins(names);
    Ok(n)
}

/// Everything `doctor` compares in namespace `ns`, parsed into the plan's types; `None` when
/// the namespace does not exist. Read only: nothing is changed.
pub async fn read_namespace(ns: &str) -> Result<Option<NsListing>, KernelError> {
    // A handle with no namespace on it (a creation cut short) holds nothing: missing.
    if !list_namespaces().await?.contains(ns) || is_stale_handle(ns) {
        return Ok(None);
    }
    let routes = run(
        "ip",
        &["-n", ns, "-j", "-4", "route", "show", "table", "all"],
        None,
    )
    .await?;
    let rules = run("ip", &["-n", ns, "-j", "rule", "show"], None).await?;
    let ruleset = run(
        "ip",
        &["netns", "exec", ns, "nft", "-j", "list", "ruleset"],
        None,
    )
    .await?;
    let links = run("ip", &["-n", ns, "-j", "link", "show"], None).await?;
    let mut args = vec!["netns", "exec", ns, "sysctl", "-n"];
    let keys: Vec<String> = Sysctl::ALL
        .iter()
        .map(|k| iproute2::sysctl_key(*k))
        .collect();
    args.extend(keys.iter().map(String::as_str));
    let sysctls = run("ip", &args, None).await?;
    let mut tables = crate::plan::nft::parse_ruleset(&ruleset);
    // nft 1.0.6's JSON leaves table comments out, where ours keep their stamp: read over
    // netlink.
    if !tables.is_empty() {
        let mut link = NsLink::open(ns)?;
        for t in link.tables().await? {
            let Some(family) = crate::plan::nft::family_of(t.family) else {
                continue;
            };
            if let Some(listed) = tables.get_mut(&(family.to_string(), t.name)) {
                listed.comment = t.comment;
            }
        }
    }
    Ok(Some(NsListing {
        links: iproute2::parse_links(&links),
        masters: iproute2::parse_masters(&links),
        down: iproute2::parse_down(&links),
        sysctls: iproute2::parse_sysctls(&Sysctl::ALL, &sysctls),
        addrs: addrs_in(ns).await?,
        routes: iproute2::parse_routes(&routes),
        rules: iproute2::parse_rules(&rules),
        tables,
    }))
}

/// Gateway leg assignments as the kernel holds them (the gateways' `zone_of_if` maps and their
/// provider tables' routes), for the subnets and VPCs of `d`: what an agent starting now would
/// recover, so a plan made with them is the plan the agent applies. Namespaces that cannot be
/// read contribute nothing.
pub async fn recover_legs(names: &Namespaces, d: &crate::plan::desired::Desired) -> Legs {
    let mut legs = Legs::default();
    let by_leg: BTreeMap<String, String> = d
        .subnets
        .keys()
        .map(|s| (consumer_leg(s).0, s.clone()))
        .collect();
    let Ok(all) = list_namespaces().await else {
        return legs;
    };
    let gw0 = names.gateway(0);
    let gw_prefix = gw0.trim_end_matches('0');
    for ns in all.iter().filter(|n| n.starts_with(gw_prefix)) {
        let Ok(shard) = ns[gw_prefix.len()..].parse::<u32>() else {
            continue;
        };
        let mut link = match NsLink::open(ns) {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!(ns = %ns, "recover legs: {e}");
                continue;
            }
        };
        match link.leg_zones().await {
            Ok(zones) => {
                for (ifname, zone) in zones {
                    if let Some(subnet) = by_leg.get(&ifname) {
                        legs.zones.insert(subnet.clone(), (shard, zone));
                    }
                }
            }
            Err(e) => tracing::debug!(ns = %ns, "recover legs: {e}"),
        }
        let by_pleg: BTreeMap<String, String> = d
            .vpcs
            .keys()
            .map(|v| (provider_leg(shard, v).0, v.clone()))
            .collect();
        let routes = match link.links().await {
            Ok(links) => {
                let names: BTreeMap<u32, String> = links
                    .into_iter()
                    .map(|(name, state)| (state.index, name))
                    .collect();
                link.routes(&names).await
            }
            Err(e) => Err(e),
        };
        match routes {
            Ok(routes) => {
                for r in routes {
                    if let (Some(vpc), Some(table)) = (by_pleg.get(&r.dev), r.table)
                        && table > PROVIDER_TABLE_BASE
                    {
                        legs.providers
                            .insert((shard, vpc.clone()), table - PROVIDER_TABLE_BASE);
                    }
                }
            }
            Err(e) => tracing::debug!(ns = %ns, "recover legs: {e}"),
        }
    }
    legs
}

/// The one place kernel objects become `ip` (and `sysctl`) arguments, and `ip -j` listings
/// become kernel objects again: both sides of every comparison are values of `kernel`'s types.
pub mod iproute2 {
    use std::collections::{BTreeMap, BTreeSet};
    use std::fmt::Write as _;
    use std::net::Ipv4Addr;

    use ipnet::Ipv4Net;
    use serde_json::Value;

    use crate::plan::NsPlan;
    use crate::plan::objects::{Addr, Conf, Dst, IpRule, Link, Lookup, Mac, Route, Sysctl};

    /// `net.ipv4.…`, the key `sysctl` knows.
    pub fn sysctl_key(key: Sysctl) -> String {
        let conf = |c: Conf| match c {
            Conf::All => "all",
            Conf::Default => "default",
        };
        match key {
            Sysctl::IpForward => "net.ipv4.ip_forward".to_string(),
            Sysctl::RpFilter(c) => format!("net.ipv4.conf.{}.rp_filter", conf(c)),
            Sysctl::ArpIgnore(c) => format!("net.ipv4.conf.{}.arp_ignore", conf(c)),
            Sysctl::AcceptLocal(c) => format!("net.ipv4.conf.{}.accept_local", conf(c)),
            Sysctl::ConntrackAcct => "net.netfilter.nf_conntrack_acct".to_string(),
            Sysctl::ConntrackTimestamp => "net.netfilter.nf_conntrack_timestamp".to_string(),
        }
    }

    /// `net.ipv4.…=value` for `sysctl -w`.
    pub fn sysctl(key: Sysctl, value: u32) -> String {
        format!("{}={value}", sysctl_key(key))
    }

    /// `sysctl -n K1 K2 …` for `keys`: one value per line, in order; lines that are not a
    /// number are skipped (their key is then not known).
    pub fn parse_sysctls(keys: &[Sysctl], listing: &str) -> BTreeMap<Sysctl, u32> {
        keys.iter()
            .zip(listing.lines())
            .filter_map(|(k, v)| Some((*k, v.trim().parse().ok()?)))
            .collect()
    }

    /// The MAC of a link's near end.
    pub fn mac_of(l: &Link) -> Mac {
        match l {
            Link::Bridge { mac, .. } | Link::Veth { mac, .. } => *mac,
        }
    }

    /// Arguments of `ip link add`: the link with its MAC(s) from the start.
    pub fn link_add(l: &Link) -> String {
        match l {
            Link::Bridge { name, mac } => format!("{name} address {mac} type bridge"),
            Link::Veth {
                name,
                mac,
                peer_ns,
                peer,
                peer_mac,
                ..
            } => format!(
                "{name} address {mac} type veth peer name {peer} address {peer_mac} netns {peer_ns}"
            ),
        }
    }

    /// `10.0.0.1/24 dev b1234`
    pub fn addr(a: &Addr) -> String {
        format!("{} dev {}", a.net, a.dev)
    }

    /// `10.1.0.0/16 via 169.254.0.2 dev p1234 onlink table 20001`
    pub fn route(r: &Route) -> String {
        let mut s = match r.dst {
            Dst::Default => "default".to_string(),
            Dst::Net(n) => n.to_string(),
        };
        if let Some(via) = r.via {
            let _ = write!(s, " via {via}");
        }
        let _ = write!(s, " dev {}", r.dev);
        if r.onlink {
            s += " onlink";
        }
        if let Some(src) = r.src {
            let _ = write!(s, " src {src}");
        }
        if let Some(t) = r.table {
            let _ = write!(s, " table {t}");
        }
        s
    }

    /// `pref 1000 fwmark 10001 lookup 10001`
    pub fn rule(r: &IpRule) -> String {
        let mut s = format!("pref {}", r.pref);
        if let Some(m) = r.fwmark {
            let _ = write!(s, " fwmark {m}");
        }
        let table = match r.table {
            Lookup::Local => "local".to_string(),
            Lookup::Main => "main".to_string(),
            Lookup::Default => "default".to_string(),
            Lookup::Table(t) => t.to_string(),
        };
        let _ = write!(s, " lookup {table}");
        s
    }

    fn json(s: &str) -> Vec<Value> {
        serde_json::from_str::<Vec<Value>>(s).unwrap_or_default()
    }

    /// `ip -j link show`: name → MAC (`None` for links without one we understand).
    pub fn parse_links(listing: &str) -> BTreeMap<String, Option<Mac>> {
        json(listing)
            .iter()
            .filter_map(|l| {
                let name = l["ifname"].as_str()?.to_string();
                Some((name, l["address"].as_str().and_then(|a| a.parse().ok())))
            })
            .collect()
    }

    /// `ip -j link show`: name → the bridge it is enslaved to, for links that have one.
    pub fn parse_masters(listing: &str) -> BTreeMap<String, String> {
        json(listing)
            .iter()
            .filter_map(|l| {
                Some((
                    l["ifname"].as_str()?.to_string(),
                    l["master"].as_str()?.to_string(),
                ))
            })
            .collect()
    }

    /// `ip -j link show`: the links without the `UP` flag (administratively down).
    pub fn parse_down(listing: &str) -> BTreeSet<String> {
        json(listing)
            .iter()
            .filter(|l| {
                !l["flags"]
                    .as_array()
                    .is_some_and(|f| f.iter().any(|f| f == "UP"))
            })
            .filter_map(|l| Some(l["ifname"].as_str()?.to_string()))
            .collect()
    }

    /// `ip -j -4 addr show`, without loopback's own 127/8.
    pub fn parse_addrs(listing: &str) -> BTreeSet<Addr> {
        let mut set = BTreeSet::new();
        for l in json(listing) {
            let dev = l["ifname"].as_str().unwrap_or_default();
            for a in l["addr_info"].as_array().into_iter().flatten() {
                let (Some(ip), Some(len)) = (
                    a["local"]
                        .as_str()
                        .and_then(|ip| ip.parse::<Ipv4Addr>().ok()),
                    a["prefixlen"].as_u64().and_then(|p| u8::try_from(p).ok()),
                ) else {
                    continue;
                };
                if dev == "lo" && ip.is_loopback() {
                    continue;
                }
                if let Ok(net) = Ipv4Net::new(ip, len) {
                    set.insert(Addr::new(dev, net));
                }
            }
        }
        set
    }

    /// `ip -j -4 route show table all`: the routes we own, i.e. unicast routes added by a
    /// command (protocol `boot`, which the listing leaves out); the kernel's connected, local
    /// and broadcast routes are not ours.
    pub fn parse_routes(listing: &str) -> BTreeSet<Route> {
        json(listing).iter().filter_map(parse_route).collect()
    }

    fn parse_route(r: &Value) -> Option<Route> {
        if r.get("type").is_some() || r["protocol"].as_str().is_some_and(|p| p != "boot") {
            return None;
        }
        let table = match r["table"].as_str() {
            None | Some("main") => None,
            Some(t) => Some(t.parse::<u32>().ok()?),
        };
        let dst = match r["dst"].as_str()? {
            "default" => Dst::Default,
            d if d.contains('/') => Dst::Net(d.parse().ok()?),
            host => Dst::Net(Ipv4Net::from(host.parse::<Ipv4Addr>().ok()?)),
        };
        let flags = r["flags"].as_array();
        Some(Route {
            dst,
            via: r["gateway"].as_str().and_then(|g| g.parse().ok()),
            dev: r["dev"].as_str()?.to_string(),
            onlink: flags.is_some_and(|f| f.iter().any(|f| f == "onlink")),
            src: r["prefsrc"].as_str().and_then(|s| s.parse().ok()),
            table,
        })
    }

    /// `ip -j rule show`: the rules of the shapes we plan (anything else is left alone).
    pub fn parse_rules(listing: &str) -> BTreeSet<IpRule> {
        json(listing).iter().filter_map(parse_rule).collect()
    }

    fn parse_rule(r: &Value) -> Option<IpRule> {
        let known = ["priority", "src", "fwmark", "table"];
        let obj = r.as_object()?;
        if obj.keys().any(|k| !known.contains(&k.as_str())) || r["src"] != "all" {
            return None;
        }
        let fwmark = match r["fwmark"].as_str() {
            None => None,
            Some(m) => Some(u32::from_str_radix(m.trim_start_matches("0x"), 16).ok()?),
        };
        let table = match r["table"].as_str()? {
            "local" => Lookup::Local,
            "main" => Lookup::Main,
            "default" => Lookup::Default,
            t => Lookup::Table(t.parse().ok()?),
        };
        Some(IpRule {
            pref: u32::try_from(r["priority"].as_u64()?).ok()?,
            fwmark,
            table,
        })
    }

    /// A namespace's plan as the commands that make it (for `doctor` and tests): sysctls, links
    /// (and where their far ends go), addresses, routes, rules, then the nftables script.
    pub fn describe(p: &NsPlan) -> String {
        let mut s = String::new();
        for (k, v) in &p.sysctls {
            let _ = writeln!(s, "sysctl {}", sysctl(*k, *v));
        }
        for l in &p.links {
            let _ = writeln!(s, "link add {}", link_add(l));
            if let Link::Veth {
                peer_ns,
                peer,
                peer_master: Some(br),
                ..
            } = l
            {
                let _ = writeln!(s, "  in {peer_ns}: link set {peer} master {br}");
            }
        }
        for a in &p.addrs {
            let _ = writeln!(s, "addr add {}", addr(a));
        }
        for r in &p.routes {
            let _ = writeln!(s, "route replace {}", route(r));
        }
        for r in p.rules.iter().flatten() {
            let _ = writeln!(s, "rule add {}", rule(r));
        }
        if let Some(t) = &p.nft {
            s += &t.script();
        }
        s
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn listings_parse_into_what_was_planned() {
            // What `ip -j` printed for routes and rules made from these very arguments.
            let routes = r#"[{"dst":"10.0.0.0/24","dev":"v1","table":"10001","scope":"link","flags":[]},
                {"dst":"10.9.0.0/16","gateway":"169.254.0.2","dev":"v1","table":"20001","flags":["onlink"]},
                {"dst":"default","gateway":"10.0.0.254","dev":"bx","flags":["linkdown"]},
                {"dst":"10.0.0.0/24","dev":"bx","protocol":"kernel","scope":"link","prefsrc":"10.0.0.1","flags":[]},
                {"dst":"10.8.0.0/16","gateway":"169.254.0.2","dev":"v1","prefsrc":"10.0.0.1","flags":["onlink"]},
                {"dst":"169.254.0.9","gateway":"169.254.0.2","dev":"v1","flags":["onlink"]},
                {"type":"local","dst":"10.0.0.1","dev":"bx","table":"local","protocol":"kernel","scope":"host","prefsrc":"10.0.0.1","flags":[]}]"#;
            let text: Vec<String> = parse_routes(routes).iter().map(route).collect();
            assert_eq!(
                text,
                [
                    "default via 10.0.0.254 dev bx",
                    "10.0.0.0/24 dev v1 table 10001",
                    "10.8.0.0/16 via 169.254.0.2 dev v1 onlink src 10.0.0.1",
                    "10.9.0.0/16 via 169.254.0.2 dev v1 onlink table 20001",
                    "169.254.0.9/32 via 169.254.0.2 dev v1 onlink",
                ]
            );
            let rules = r#"[{"priority":1000,"src":"all","fwmark":"0x2711","table":"10001"},
                {"priority":32000,"src":"all","table":"local"},
                {"priority":500,"src":"all","iif":"x","table":"main"},
                {"priority":32766,"src":"all","table":"main"},{"priority":32767,"src":"all","table":"default"}]"#;
            let text: Vec<String> = parse_rules(rules).iter().map(rule).collect();
            assert_eq!(
                text,
                [
                    "pref 1000 fwmark 10001 lookup 10001",
                    "pref 32000 lookup local",
                    "pref 32766 lookup main",
                    "pref 32767 lookup default",
                ]
            );
            let addrs = r#"[{"ifname":"lo","addr_info":[{"local":"127.0.0.1","prefixlen":8},{"local":"10.9.0.1","prefixlen":32}]},
                {"ifname":"bx","addr_info":[{"local":"10.0.0.1","prefixlen":24}]}]"#;
            let links = r#"[{"ifindex":1,"ifname":"lo","flags":["LOOPBACK","UP","LOWER_UP"],"address":"00:00:00:00:00:00"},
                {"ifindex":5,"link_index":4,"ifname":"n1234","flags":["BROADCAST","MULTICAST"],"master":"b99","address":"06:15:ac:7e:d0:08","link_netnsid":0}]"#;
            assert_eq!(parse_down(links), BTreeSet::from(["n1234".to_string()]));
            let keys = [
                Sysctl::IpForward,
                Sysctl::ArpIgnore(Conf::All),
                Sysctl::RpFilter(Conf::All),
            ];
            assert_eq!(
                parse_sysctls(&keys, "1\n0\nx\n"),
                BTreeMap::from([(Sysctl::IpForward, 1), (Sysctl::ArpIgnore(Conf::All), 0)])
            );
            assert_eq!(
                parse_masters(links),
                BTreeMap::from([("n1234".to_string(), "b99".to_string())])
            );
            let text: Vec<String> = parse_addrs(addrs).iter().map(addr).collect();
            assert_eq!(text, ["10.0.0.1/24 dev bx", "10.9.0.1/32 dev lo"]);
        }
    }
}
