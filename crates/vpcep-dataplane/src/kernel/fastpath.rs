//! The provider routers' fast path in the kernel (`docs/dataplane.md`, "Fast path"): the BPF
//! object `bpf/router_skip.bpf.c` (built by `build.rs` with clang), one instance per
//! forwarding-only router (a tc program cannot tell which namespace it runs in, so each router's
//! maps hold its own entries only), its programs attached with TCX links to the router's gateway
//! legs and server ports, its maps filled from the plan ([`crate::plan::fast::RouterSkip`]).
//!
//! The links are held by this process: when the agent stops (even killed), the kernel drops them
//! and the routers forward as before, so the fast path can never act on a plan nobody follows
//! any more. It only ever shortens a path the plan already allows; a router without it (not
//! loaded, not attached, a failed sync) carries the same traffic the normal way, which is why a
//! failure here is logged and shown by [`FastPath::status`] but fails no object.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use aya::maps::{HashMap as BpfHashMap, MapData};
use aya::programs::tc::{SchedClassifierLink, TcAttachType};
use aya::programs::{Program, SchedClassifier};
use aya::{Ebpf, EbpfLoader, Pod};

use crate::plan::Plan;
use crate::plan::fast::RouterSkip;
use crate::plan::objects::Mac;

/// The object `build.rs` compiled.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/router_skip.o"));

/// Program names in the object: at a gateway leg's router end, at a host port's bridge end, at
/// a consumer leg's router end.
const TO_SERVER: &str = "to_server";
const FROM_PORT: &str = "from_port";
const FROM_LEG: &str = "from_leg";

// The maps' keys and values as the bytes of the object's C structs (native byte order, explicit
// padding): plain arrays, which aya takes as they are, so no `unsafe impl Pod` is needed.

/// `struct hop`: the ifindex whose peer gets the packet, the next link's destination and source
/// MACs, 4 bytes of padding.
type HopVal = [u8; 20];
/// `struct bridge_val`: the bridge's MAC, 2 bytes of padding.
type BridgeVal = [u8; 8];
/// `struct l2_key`: the arriving ifindex, the destination MAC, 2 bytes of padding.
type L2Key = [u8; 12];

fn hop_val(ifindex: u32, dst: Mac, src: Mac) -> HopVal {
    let mut v = [0u8; 20];
    v[..4].copy_from_slice(&ifindex.to_ne_bytes());
    v[4..10].copy_from_slice(&dst.0);
    v[10..16].copy_from_slice(&src.0);
    v
}

fn bridge_val(mac: Mac) -> BridgeVal {
    let mut v = [0u8; 8];
    v[..6].copy_from_slice(&mac.0);
    v
}

fn l2_key(ifindex: u32, mac: Mac) -> L2Key {
    let mut k = [0u8; 12];
    k[..4].copy_from_slice(&ifindex.to_ne_bytes());
    k[4..10].copy_from_slice(&mac.0);
    k
}

/// What went wrong on the fast path (logged and shown, never an object's failure).
#[derive(Debug, thiserror::Error)]
pub enum FastPathError {
    #[error("loading the fast-path programs: {0}")]
    Load(String),
    #[error("entering namespace {ns}: {error}")]
    Namespace { ns: String, error: std::io::Error },
    #[error("{ns}: no device {dev}")]
    NoDevice { ns: String, dev: String },
    #[error("{ns}: attaching to {dev}: {error}")]
    Attach {
        ns: String,
        dev: String,
        error: String,
    },
    #[error("{ns}: updating the maps: {error}")]
    Map { ns: String, error: String },
}

/// One router as programmed: its own instance of the object, attachments and map entries.
struct Router {
    ebpf: Ebpf,
    /// What its maps hold at most.
    capacity: Capacity,
    /// The namespace's identity (its nsfs inode): a namespace re-created under the same name
    /// starts over.
    inode: u64,
    /// Device → (ifindex, the link that keeps the program attached).
    links: BTreeMap<String, (u32, SchedClassifierLink)>,
    ports: BTreeMap<u32, HopVal>,
    bridges: BTreeMap<u32, BridgeVal>,
    legs: BTreeMap<u32, HopVal>,
    l2: BTreeMap<L2Key, u32>,
}

type Routers = Arc<Mutex<BTreeMap<String, Router>>>;

/// The fast path of every forwarding-only router (see the module docs).
#[derive(Default)]
pub struct FastPath {
    /// Why it is off, when it is (the kernel refused the programs, or it was turned off).
    off: Option<String>,
    routers: Routers,
    /// The plans last synced, by router namespace (to skip unchanged ones).
    synced: BTreeMap<String, RouterSkip>,
    failed: BTreeMap<String, String>,
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath")
            .field("off", &self.off)
            .field("routers", &self.synced.len())
            .finish()
    }
}

impl FastPath {
    /// A fast path that stays off (`why`): every router forwards the normal way.
    pub fn off(why: &str) -> Self {
        Self {
            off: Some(why.to_string()),
            ..Default::default()
        }
    }

    /// A fast path whose programs the kernel accepts (one instance loaded and dropped to find
    /// out); off, with the reason logged, where it refuses them.
    pub fn load() -> Self {
        match load_object(Capacity::default()) {
            Ok(_) => Self::default(),
            Err(e) => {
                tracing::warn!(error = %e, "router fast path off: routers forward the normal way");
                Self::off(&e.to_string())
            }
        }
    }

    /// Bring every router's fast path to `plan`. `recheck`: routers whose devices may have been
    /// re-created since the last sync (their ifindexes are looked up again).
    pub async fn sync(&mut self, plan: &Plan, recheck: &BTreeSet<String>) {
        if self.off.is_some() {
            return;
        }
        let wanted: BTreeMap<&String, &RouterSkip> = plan
            .namespaces
            .iter()
            .filter_map(|(ns, p)| Some((ns, p.fast.as_ref().filter(|f| !f.is_idle())?)))
            .collect();
        let mut work: Vec<(String, Option<RouterSkip>)> = Vec::new();
        for ns in self.synced.keys() {
            if !wanted.contains_key(ns) {
                work.push((ns.clone(), None));
            }
        }
        for (ns, skip) in &wanted {
            let same = self.synced.get(*ns) == Some(*skip) && !self.failed.contains_key(*ns);
            if !same || recheck.contains(*ns) {
                work.push(((*ns).clone(), Some((*skip).clone())));
            }
        }
        if work.is_empty() {
            return;
        }
        let routers = self.routers.clone();
        let results = tokio::task::spawn_blocking(move || {
            let mut routers = routers.lock().unwrap_or_else(|e| e.into_inner());
            work.into_iter()
                .map(|(ns, skip)| {
                    let r = match &skip {
                        Some(s) => sync_router(&mut routers, &ns, s),
                        None => {
                            routers.remove(&ns);
                            Ok(())
                        }
                    };
                    (ns, skip, r)
                })
                .collect::<Vec<_>>()
        })
        .await;
        let Ok(results) = results else {
            return;
        };
        for (ns, skip, r) in results {
            match (r, skip) {
                (Ok(()), Some(skip)) => {
                    self.failed.remove(&ns);
                    self.synced.insert(ns, skip);
                }
                (Ok(()), None) => {
                    self.failed.remove(&ns);
                    self.synced.remove(&ns);
                }
                (Err(e), _) => {
                    tracing::warn!(namespace = %ns, error = %e, "router fast path not synced: the router forwards the normal way");
                    self.synced.remove(&ns);
                    self.failed.insert(ns, e.to_string());
                }
            }
        }
    }

    /// Let go of routers deleted behind the agent's back (their links died with them).
    pub fn forget(&mut self, gone: &[String]) {
        let mut routers = self.routers.lock().unwrap_or_else(|e| e.into_inner());
        for ns in gone {
            routers.remove(ns);
            self.synced.remove(ns);
            self.failed.remove(ns);
        }
    }
}

/// How many entries one instance's maps hold. Sized per router from its plan, with room to
/// grow: a hash map's bucket array is allocated (and zeroed) whole at creation, 65,536 entries
/// cost ~1 MiB of kernel memory and 5 ms per map (measured: 20 ms per instance of four), which
/// every router would pay. A router that outgrows its instance gets a bigger one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Capacity {
    ports: u32,
    legs: u32,
    l2: u32,
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            ports: 16,
            legs: 16,
            l2: 16,
        }
    }
}

impl Capacity {
    /// Room for `skip`'s entries twice over (at least 16 each), in powers of two.
    fn for_plan(skip: &RouterSkip) -> Self {
        let room = |n: usize| {
            (u32::try_from(n).unwrap_or(u32::MAX / 4).saturating_mul(2))
                .next_power_of_two()
                .max(16)
        };
        Self {
            ports: room(skip.ports.len()),
            legs: room(skip.legs.len()),
            l2: room(skip.to_hosts.len() + skip.to_legs.len()),
        }
    }

    /// Whether an instance of this capacity holds `skip`.
    fn holds(&self, skip: &RouterSkip) -> bool {
        let fits = |n: usize, cap: u32| u32::try_from(n).is_ok_and(|n| n <= cap);
        fits(skip.ports.len(), self.ports)
            && fits(skip.legs.len(), self.legs)
            && fits(skip.to_hosts.len() + skip.to_legs.len(), self.l2)
    }
}

/// The constants the programs read (the translated range, the shard size), for the loader's
/// whole life.
static GLOBALS: OnceLock<[u32; 3]> = OnceLock::new();

/// One loader for every instance: `EbpfLoader::new` parses the kernel's BTF
/// (/sys/kernel/btf/vmlinux) each time, 18–20 ms measured, which every router's first converge
/// would pay; a kept loader's `load` costs the object alone (~1 ms).
static LOADER: Mutex<Option<EbpfLoader<'static>>> = Mutex::new(None);

/// A new instance of the object, its programs loaded (verified) and not yet attached.
fn load_object(cap: Capacity) -> Result<Ebpf, FastPathError> {
    let mut loader = LOADER.lock().unwrap_or_else(|e| e.into_inner());
    let loader = loader.get_or_insert_with(|| {
        let [net, mask, shift] = GLOBALS.get_or_init(|| {
            let range = vpcep_core::validate::snat_range();
            // A shard owns a /25 of the range (`plan::shard_snat_net`).
            [
                u32::from(range.network()),
                u32::from(range.netmask()),
                32 - 25,
            ]
        });
        let mut l = EbpfLoader::new();
        // No kernel BTF relocations: the programs read no kernel structure.
        l.btf(None)
            .override_global("snat_net", net, true)
            .override_global("snat_mask", mask, true)
            .override_global("shard_shift", shift, true);
        l
    });
    let mut ebpf = loader
        .map_max_entries("ports", cap.ports)
        .map_max_entries("bridge_ports", cap.ports)
        .map_max_entries("legs", cap.legs)
        .map_max_entries("l2", cap.l2)
        .load(OBJECT)
        .map_err(|e| FastPathError::Load(e.to_string()))?;
    for name in [TO_SERVER, FROM_PORT, FROM_LEG] {
        let prog: &mut SchedClassifier = ebpf
            .program_mut(name)
            .ok_or_else(|| FastPathError::Load(format!("no program {name}")))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| FastPathError::Load(e.to_string()))?;
        prog.load()
            .map_err(|e| FastPathError::Load(format!("{name}: {e}")))?;
    }
    Ok(ebpf)
}

/// What a router's maps and attachments should be, resolved inside its namespace (ifindexes
/// are per namespace).
struct Resolved {
    /// Device → (program, ifindex), as [`devices`] lists them.
    attach: BTreeMap<String, (&'static str, u32)>,
    ports: BTreeMap<u32, HopVal>,
    bridges: BTreeMap<u32, BridgeVal>,
    legs: BTreeMap<u32, HopVal>,
    l2: BTreeMap<L2Key, u32>,
}

fn ifindex_of(dev: &str) -> Option<u32> {
    nix::net::if_::if_nametoindex(dev).ok().filter(|i| *i != 0)
}

/// Attach and fill `ns`'s fast path as `skip` says, replacing what it held. On any error the
/// router's fast path is taken away whole: the normal path is always right, while entries left
/// from an earlier plan could point at devices that changed.
fn sync_router(
    routers: &mut BTreeMap<String, Router>,
    ns: &str,
    skip: &RouterSkip,
) -> Result<(), FastPathError> {
    let r = try_sync_router(routers, ns, skip);
    if r.is_err() {
        routers.remove(ns);
    }
    r
}

fn try_sync_router(
    routers: &mut BTreeMap<String, Router>,
    ns: &str,
    skip: &RouterSkip,
) -> Result<(), FastPathError> {
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::File::open(format!("/run/netns/{ns}")).map_err(|error| {
        FastPathError::Namespace {
            ns: ns.to_string(),
            error,
        }
    })?;
    let inode = file
        .metadata()
        .map_err(|error| FastPathError::Namespace {
            ns: ns.to_string(),
            error,
        })?
        .ino();
    // A namespace re-created under this name: the old instance's links died with its devices.
    // A plan the instance cannot hold: a bigger one (its links go with the old one; the normal
    // path carries the traffic meanwhile).
    if routers
        .get(ns)
        .is_some_and(|r| r.inode != inode || !r.capacity.holds(skip))
    {
        routers.remove(ns);
    }
    let mut router = match routers.remove(ns) {
        Some(r) => r,
        None => Router {
            capacity: Capacity::for_plan(skip),
            ebpf: load_object(Capacity::for_plan(skip))?,
            inode,
            links: BTreeMap::new(),
            ports: BTreeMap::new(),
            bridges: BTreeMap::new(),
            legs: BTreeMap::new(),
            l2: BTreeMap::new(),
        },
    };
    // Attachments take the ifindex in the calling thread's namespace: the work runs on a thread
    // of its own that enters the router's (the agent's threads stay where they are).
    let r = std::thread::scope(|s| {
        s.spawn(|| -> Result<(), FastPathError> {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| {
                FastPathError::Namespace {
                    ns: ns.to_string(),
                    error: e.into(),
                }
            })?;
            let want = resolve(ns, skip)?;
            program(&mut router, ns, want)
        })
        .join()
        .unwrap_or_else(|_| {
            Err(FastPathError::Map {
                ns: ns.to_string(),
                error: "the namespace thread panicked".into(),
            })
        })
    });
    routers.insert(ns.to_string(), router);
    r
}

/// Program one router (called inside its namespace): map entries first, so a program attached
/// next finds them, then the attachments; what is no longer wanted goes.
fn program(router: &mut Router, ns: &str, want: Resolved) -> Result<(), FastPathError> {
    let map_err = |e: aya::maps::MapError| FastPathError::Map {
        ns: ns.to_string(),
        error: e.to_string(),
    };
    {
        let [ports, bridges, legs, l2] =
            router
                .ebpf
                .maps_disjoint_mut(["ports", "bridge_ports", "legs", "l2"]);
        let (Some(ports), Some(bridges), Some(legs), Some(l2)) = (ports, bridges, legs, l2) else {
            return Err(FastPathError::Map {
                ns: ns.to_string(),
                error: "the object lacks a map".into(),
            });
        };
        let mut ports: BpfHashMap<_, u32, HopVal> = BpfHashMap::try_from(ports).map_err(map_err)?;
        let mut bridges: BpfHashMap<_, u32, BridgeVal> =
            BpfHashMap::try_from(bridges).map_err(map_err)?;
        let mut legs: BpfHashMap<_, u32, HopVal> = BpfHashMap::try_from(legs).map_err(map_err)?;
        sync_map(&mut ports, &mut router.ports, &want.ports).map_err(map_err)?;
        sync_map(&mut bridges, &mut router.bridges, &want.bridges).map_err(map_err)?;
        sync_map(&mut legs, &mut router.legs, &want.legs).map_err(map_err)?;
        let mut l2: BpfHashMap<_, L2Key, u32> = BpfHashMap::try_from(l2).map_err(map_err)?;
        sync_map(&mut l2, &mut router.l2, &want.l2).map_err(map_err)?;
    }
    // A link on a device that went or was re-created (another ifindex) is dropped (detached).
    router
        .links
        .retain(|dev, (i, _)| want.attach.get(dev).is_some_and(|(_, w)| w == i));
    for (dev, (prog, ifindex)) in &want.attach {
        if router.links.contains_key(dev) {
            continue;
        }
        let link = attach(&mut router.ebpf, prog, dev).map_err(|error| FastPathError::Attach {
            ns: ns.to_string(),
            dev: dev.clone(),
            error,
        })?;
        router.links.insert(dev.clone(), (*ifindex, link));
    }
    Ok(())
}

/// Make a BPF hash map's entries (`have`, what we put there) equal `want`.
fn sync_map<K: Pod + Ord, V: Pod + PartialEq>(
    map: &mut BpfHashMap<&mut MapData, K, V>,
    have: &mut BTreeMap<K, V>,
    want: &BTreeMap<K, V>,
) -> Result<(), aya::maps::MapError> {
    for (k, v) in want {
        if have.get(k) != Some(v) {
            map.insert(k, v, 0)?;
            have.insert(*k, *v);
        }
    }
    let gone: Vec<K> = have
        .keys()
        .filter(|k| !want.contains_key(k))
        .copied()
        .collect();
    for k in gone {
        match map.remove(&k) {
            Ok(()) | Err(aya::maps::MapError::KeyNotFound) => {}
            Err(e) => return Err(e),
        }
        have.remove(&k);
    }
    Ok(())
}

/// Attach program `prog` at `dev`'s ingress (TCX) in the calling thread's namespace; the link
/// is ours (dropping it detaches).
fn attach(ebpf: &mut Ebpf, prog: &str, dev: &str) -> Result<SchedClassifierLink, String> {
    let program: &mut SchedClassifier = match ebpf.program_mut(prog) {
        Some(p @ Program::SchedClassifier(_)) => p.try_into().map_err(|e| format!("{e}"))?,
        _ => return Err(format!("no program {prog}")),
    };
    let id = program
        .attach(dev, TcAttachType::Ingress)
        .map_err(|e| e.to_string())?;
    program.take_link(id).map_err(|e| e.to_string())
}

/// The devices `skip` attaches programs to, with the program each gets: gateway legs' router
/// ends `to_server` (router skip), host ports' bridge ends `from_port` (router skip, and bridge
/// skip towards the legs), consumer legs' router ends `from_leg` (bridge skip towards the
/// hosts).
fn devices(skip: &RouterSkip) -> BTreeMap<String, &'static str> {
    let mut d = BTreeMap::new();
    if skip.skips_router() {
        d.extend(skip.legs.values().map(|l| (l.dev.clone(), TO_SERVER)));
        d.extend(skip.ports.values().map(|p| (p.dev.clone(), FROM_PORT)));
    }
    d.extend(
        skip.to_legs
            .keys()
            .map(|(port, _)| (port.clone(), FROM_PORT)),
    );
    d.extend(skip.to_hosts.keys().map(|(leg, _)| (leg.clone(), FROM_LEG)));
    d
}

/// `skip` as map entries, resolved inside the router's namespace.
fn resolve(ns: &str, skip: &RouterSkip) -> Result<Resolved, FastPathError> {
    let index = |dev: &str| -> Result<u32, FastPathError> {
        ifindex_of(dev).ok_or_else(|| FastPathError::NoDevice {
            ns: ns.to_string(),
            dev: dev.to_string(),
        })
    };
    let mut r = Resolved {
        attach: BTreeMap::new(),
        ports: BTreeMap::new(),
        bridges: BTreeMap::new(),
        legs: BTreeMap::new(),
        l2: BTreeMap::new(),
    };
    for (dev, prog) in devices(skip) {
        let i = index(&dev)?;
        r.attach.insert(dev, (prog, i));
    }
    let attach = r.attach.clone();
    let at = |dev: &str| attach.get(dev).map(|(_, i)| *i).unwrap_or_default();
    if skip.skips_router() {
        for (ip, port) in &skip.ports {
            let i = at(&port.dev);
            // The program compares `ip->daddr` (network order) as a plain u32.
            r.ports.insert(
                u32::from_ne_bytes(ip.octets()),
                hop_val(i, port.mac, port.bridge_mac),
            );
            r.bridges.insert(i, bridge_val(port.bridge_mac));
        }
        for (shard, leg) in &skip.legs {
            r.legs
                .insert(*shard, hop_val(at(&leg.dev), leg.peer_mac, leg.mac));
        }
    }
    for ((from, mac), to) in skip.to_hosts.iter().chain(&skip.to_legs) {
        r.l2.insert(l2_key(at(from), *mac), index(to)?);
    }
    Ok(r)
}

/// Which of `skip`'s devices in router `ns` have their fast-path program attached (TCX
/// ingress), as the kernel lists them: (device, program it should have, attached). For
/// `doctor`, a process of its own (the links belong to the agent's).
pub fn attached(ns: &str, skip: &RouterSkip) -> std::io::Result<Vec<(String, &'static str, bool)>> {
    let devs = devices(skip);
    crate::kernel::netlink::in_namespace(ns, move || {
        Ok(devs
            .into_iter()
            .map(|(dev, prog)| {
                let on = SchedClassifier::query_tcx(&dev, TcAttachType::Ingress)
                    .is_ok_and(|(_, progs)| progs.iter().any(|p| p.name_as_str() == Some(prog)));
                (dev, prog, on)
            })
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn map_entries_are_laid_out_as_the_objects_structs() {
        let (a, b) = (Mac([1, 2, 3, 4, 5, 6]), Mac([7, 8, 9, 10, 11, 12]));
        let mut want = 7u32.to_ne_bytes().to_vec();
        want.extend([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0]);
        assert_eq!(hop_val(7, a, b).to_vec(), want);
        assert_eq!(bridge_val(b), [7, 8, 9, 10, 11, 12, 0, 0]);
        let mut want = 9u32.to_ne_bytes().to_vec();
        want.extend([1, 2, 3, 4, 5, 6, 0, 0]);
        assert_eq!(l2_key(9, a).to_vec(), want);
    }

    #[test]
    fn addresses_are_keyed_in_network_order() {
        // The program compares `ip->daddr` (network order) as a plain u32.
        let ip = Ipv4Addr::new(10, 0, 0, 20);
        assert_eq!(
            u32::from_ne_bytes(ip.octets()).to_ne_bytes(),
            [10, 0, 0, 20]
        );
    }
}
