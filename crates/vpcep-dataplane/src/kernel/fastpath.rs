//! The provider routers' fast path in the kernel (`docs/dataplane.md`, "Fast path"): the BPF
//! object `bpf/router_skip.bpf.c` (built by `build.rs` with clang), one instance per
//! forwarding-only router (a tc program cannot tell which namespace it runs in, so each router's
//! maps hold its own entries only), its programs attached with TCX links to the router's gateway
//! legs and server ports, its maps filled from the plan ([`crate::plan::fast::RouterSkip`]).
//!
//! An instance's programs, maps and links are pinned in bpffs
//! (`/sys/fs/bpf/vpcep/<namespace>/<nsfs inode>-<object hash>/`), like every other kernel object
//! the agent programs: they outlive the agent's process, so a restarted agent (or one that was
//! killed) adopts them instead of loading and attaching again, and traffic keeps the fast path
//! meanwhile. What the agent takes away (a router that stops being forwarding-only, a namespace
//! that goes, `--no-fast-path`, a teardown) it unpins. Where bpffs cannot be had the links are
//! held by the process alone, as before. The fast path only ever shortens a path the plan
//! already allows; a router without it (not loaded, not attached, a failed sync) carries the
//! same traffic the normal way, which is why a failure here is logged (and `doctor` warns of a
//! router left without it) but fails no object.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use aya::maps::{HashMap as BpfHashMap, Map, MapData};
use aya::programs::links::{FdLink, PinnedLink};
use aya::programs::tc::{SchedClassifierLink, TcAttachType};
use aya::programs::{Program, SchedClassifier};
use aya::{Ebpf, EbpfLoader, Pod};

use crate::plan::Plan;
use crate::plan::fast::RouterSkip;
use crate::plan::naming::Namespaces;
use crate::plan::objects::Mac;

/// The object `build.rs` compiled.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/router_skip.o"));

/// Program names in the object: at a gateway leg's router end, at a host port's bridge end, at
/// a consumer leg's router end.
const TO_SERVER: &str = "to_server";
const FROM_PORT: &str = "from_port";
const FROM_LEG: &str = "from_leg";
/// All three (and their pins' names).
const PROGRAMS: [&str; 3] = [TO_SERVER, FROM_PORT, FROM_LEG];

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
    programs: Programs,
    maps: Maps,
    /// Where its objects are pinned; `None` where bpffs could not be had (the process holds
    /// them alone).
    pins: Option<PathBuf>,
    /// What its maps hold at most.
    capacity: Capacity,
    /// The namespace's identity (its nsfs inode): a namespace re-created under the same name
    /// starts over.
    inode: u64,
    /// Device → (ifindex, the link that keeps the program attached).
    links: BTreeMap<String, (u32, Held)>,
    ports: BTreeMap<u32, HopVal>,
    bridges: BTreeMap<u32, BridgeVal>,
    legs: BTreeMap<u32, HopVal>,
    l2: BTreeMap<L2Key, u32>,
}

/// An instance's programs: the object as loaded, or (adopted) opened from their pins.
enum Programs {
    Loaded(Ebpf),
    Pinned(BTreeMap<&'static str, SchedClassifier>),
}

impl Programs {
    fn get(&mut self, name: &str) -> Option<&mut SchedClassifier> {
        match self {
            Programs::Loaded(ebpf) => match ebpf.program_mut(name) {
                Some(Program::SchedClassifier(p)) => Some(p),
                _ => None,
            },
            Programs::Pinned(p) => p.get_mut(name),
        }
    }
}

/// An instance's maps, as the object's C structs.
struct Maps {
    ports: BpfHashMap<MapData, u32, HopVal>,
    bridges: BpfHashMap<MapData, u32, BridgeVal>,
    legs: BpfHashMap<MapData, u32, HopVal>,
    l2: BpfHashMap<MapData, L2Key, u32>,
}

/// The object's maps by their names in it (and their pins' names), in [`Maps`]' order.
const MAPS: [&str; 4] = ["ports", "bridge_ports", "legs", "l2"];

impl Maps {
    /// The object's maps, in [`MAPS`]' order, as their typed views.
    fn from_maps([ports, bridges, legs, l2]: [Map; 4]) -> Result<Self, aya::maps::MapError> {
        Ok(Self {
            ports: BpfHashMap::try_from(ports)?,
            bridges: BpfHashMap::try_from(bridges)?,
            legs: BpfHashMap::try_from(legs)?,
            l2: BpfHashMap::try_from(l2)?,
        })
    }
}

/// A program's attachment: pinned (it outlives the process), or held by the process alone.
enum Held {
    Pinned(PinnedLink),
    Process(#[allow(dead_code)] SchedClassifierLink),
}

impl Held {
    /// Detach: a pinned link loses its pin first (the kernel frees a link when its last
    /// reference goes).
    fn detach(self) {
        if let Held::Pinned(p) = self
            && let Err(e) = p.unpin()
        {
            tracing::warn!(error = %e, "unpinning a fast-path link");
        }
    }
}

type Routers = Arc<Mutex<BTreeMap<String, Router>>>;

/// The fast path of every forwarding-only router (see the module docs).
#[derive(Default)]
pub struct FastPath {
    /// Why it is off, when it is (the kernel refused the programs, or it was turned off).
    off: Option<String>,
    /// Whose routers these are: pins of this agent's namespaces that its plan does not want are
    /// removed at the first sync (left by an earlier run). `None`: none are looked for.
    owner: Option<Namespaces>,
    /// Where instances are pinned (`None`: bpffs could not be had; links die with the process).
    pins: Option<PathBuf>,
    swept: bool,
    routers: Routers,
    /// The plans last synced, by router namespace (to skip unchanged ones).
    synced: BTreeMap<String, RouterSkip>,
    failed: BTreeMap<String, String>,
}

impl std::fmt::Debug for FastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastPath")
            .field("off", &self.off)
            .field("pins", &self.pins)
            .field("routers", &self.synced.len())
            .finish()
    }
}

impl FastPath {
    /// A fast path that stays off (`why`): every router forwards the normal way, and pins an
    /// earlier run of `owner`'s agent left are removed at the first sync.
    pub fn off(why: &str, owner: &Namespaces) -> Self {
        Self {
            off: Some(why.to_string()),
            owner: Some(owner.clone()),
            // Not mounted for this: without a bpffs there are no pins to remove.
            pins: Some(pin_dir()).filter(|d| d.is_dir()),
            ..Default::default()
        }
    }

    /// The fast path of `owner`'s routers, if the kernel accepts its programs (one instance
    /// loaded and dropped to find out); off, with the reason logged, where it refuses them.
    pub fn load(owner: &Namespaces) -> Self {
        match load_object(Capacity::default()) {
            Ok(_) => {
                let pins = match pin_root() {
                    Ok(root) => Some(root),
                    Err(e) => {
                        tracing::warn!(error = %e, "router fast path not pinned: it ends with the agent's process");
                        None
                    }
                };
                Self {
                    owner: Some(owner.clone()),
                    pins,
                    ..Default::default()
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "router fast path off: routers forward the normal way");
                Self::off(&e.to_string(), owner)
            }
        }
    }

    /// Remove the pins of this agent's routers that `wanted` does not hold (once, at the first
    /// sync: later, routers that stop being wanted are retired by the sync itself).
    fn sweep(&mut self, wanted: &BTreeMap<&String, &RouterSkip>) {
        if std::mem::replace(&mut self.swept, true) {
            return;
        }
        let (Some(root), Some(owner)) = (&self.pins, &self.owner) else {
            return;
        };
        remove_owned_pins(root, owner, |ns| wanted.contains_key(&ns.to_string()));
    }

    /// Bring every router's fast path to `plan`. `recheck`: routers whose devices may have been
    /// re-created since the last sync (their ifindexes are looked up again).
    pub async fn sync(&mut self, plan: &Plan, recheck: &BTreeSet<String>) {
        let wanted: BTreeMap<&String, &RouterSkip> = if self.off.is_some() {
            BTreeMap::new()
        } else {
            plan.namespaces
                .iter()
                .filter_map(|(ns, p)| Some((ns, p.fast.as_ref().filter(|f| !f.is_idle())?)))
                .collect()
        };
        self.sweep(&wanted);
        if self.off.is_some() {
            return;
        }
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
        let pins = self.pins.clone();
        let results = tokio::task::spawn_blocking(move || {
            let mut routers = routers.lock().unwrap_or_else(|e| e.into_inner());
            work.into_iter()
                .map(|(ns, skip)| {
                    let r = match &skip {
                        Some(s) => sync_router(&mut routers, pins.as_deref(), &ns, s),
                        None => {
                            retire(&mut routers, pins.as_deref(), &ns);
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

    /// Let go of routers deleted behind the agent's back (their links were detached with their
    /// devices; their pins still hold the programs and maps).
    pub fn forget(&mut self, gone: &[String]) {
        let mut routers = self.routers.lock().unwrap_or_else(|e| e.into_inner());
        for ns in gone {
            retire(&mut routers, self.pins.as_deref(), ns);
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
    for name in PROGRAMS {
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

/// Where bpffs is mounted, and the directory of this product's pins in it.
const BPFFS: &str = "/sys/fs/bpf";
const PIN_DIR: &str = "vpcep";

/// The directory routers' instances are pinned under, bpffs mounted at `/sys/fs/bpf` first
/// where nothing is (systemd mounts it on most hosts; this VM has none). Decided once per
/// process.
fn pin_root() -> Result<PathBuf, String> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        // Two agents (or tests) starting at once must not both mount: the second mount would
        // hide the first one's pins from it.
        let lock = std::fs::File::create("/run/vpcep-bpffs.lock")
            .map_err(|e| format!("/run/vpcep-bpffs.lock: {e}"))?;
        let _locked = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| format!("locking /run/vpcep-bpffs.lock: {e}"))?;
        let mounts = std::fs::read_to_string("/proc/self/mounts")
            .map_err(|e| format!("/proc/self/mounts: {e}"))?;
        let mounted = mounts.lines().any(|l| {
            let mut f = l.split_whitespace().skip(1);
            f.next() == Some(BPFFS) && f.next() == Some("bpf")
        });
        if !mounted {
            use nix::mount::MsFlags;
            nix::mount::mount(
                Some("bpf"),
                BPFFS,
                Some("bpf"),
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                None::<&str>,
            )
            .map_err(|e| format!("mounting bpffs at {BPFFS}: {e}"))?;
        }
        let root = pin_dir();
        std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
        Ok(root)
    })
    .clone()
}

/// Where this product's pins are (whether or not bpffs is mounted there yet).
fn pin_dir() -> PathBuf {
    Path::new(BPFFS).join(PIN_DIR)
}

/// An instance's directory: per namespace, then per namespace identity and object, so that a
/// re-created namespace or an agent with other programs never adopts what does not fit.
fn instance_dir(root: &Path, ns: &str, inode: u64) -> PathBuf {
    root.join(ns)
        .join(format!("{inode}-{:016x}", object_hash()))
}

/// The object's bytes and the constants it is loaded with, hashed (an upgraded agent's
/// programs are loaded again, not adopted).
fn object_hash() -> u64 {
    use std::hash::{Hash, Hasher};
    static HASH: OnceLock<u64> = OnceLock::new();
    *HASH.get_or_init(|| {
        let mut h = std::hash::DefaultHasher::new();
        OBJECT.hash(&mut h);
        let range = vpcep_core::validate::snat_range();
        u32::from(range.network()).hash(&mut h);
        range.prefix_len().hash(&mut h);
        h.finish()
    })
}

/// A link's pin: `link-<device>-<ifindex>`.
fn link_pin_name(dev: &str, ifindex: u32) -> String {
    format!("link-{dev}-{ifindex}")
}

fn link_pin_parts(name: &str) -> Option<(String, u32)> {
    let (dev, ifindex) = name.strip_prefix("link-")?.rsplit_once('-')?;
    Some((dev.to_string(), ifindex.parse().ok()?))
}

/// Remove `ns`'s pins (every instance): what they held is freed once nothing else holds it
/// (a link detaches when its last reference goes).
fn remove_pins_of(root: &Path, ns: &str) {
    match std::fs::remove_dir_all(root.join(ns)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(namespace = %ns, error = %e, "removing fast-path pins"),
    }
}

/// Remove the pins under `root` of `owner`'s routers except those `keep` names. Returns how
/// many routers had theirs removed.
fn remove_owned_pins(root: &Path, owner: &Namespaces, keep: impl Fn(&str) -> bool) -> usize {
    let Ok(listed) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut n = 0;
    for ns in listed
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
    {
        if owner.owns(&ns) && !keep(&ns) {
            remove_pins_of(root, &ns);
            n += 1;
        }
    }
    n
}

/// Remove every pin of `names`' routers (a teardown: the namespaces are going, and pins would
/// keep their programs and maps in the kernel). Returns how many routers had pins.
pub fn remove_pins(names: &Namespaces) -> usize {
    remove_owned_pins(&pin_dir(), names, |_| false)
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
    pins: Option<&Path>,
    ns: &str,
    skip: &RouterSkip,
) -> Result<(), FastPathError> {
    let r = try_sync_router(routers, pins, ns, skip);
    if r.is_err() {
        retire(routers, pins, ns);
    }
    r
}

fn try_sync_router(
    routers: &mut BTreeMap<String, Router>,
    pins: Option<&Path>,
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
        retire(routers, pins, ns);
    }
    let mut router = match routers.remove(ns) {
        Some(r) => r,
        None => match pins.and_then(|root| adopt_pinned(root, ns, inode, skip)) {
            Some(r) => r,
            None => fresh(pins, ns, inode, skip)?,
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

/// Take `ns`'s fast path away: its links detached, its pins removed.
fn retire(routers: &mut BTreeMap<String, Router>, pins: Option<&Path>, ns: &str) {
    if let Some(router) = routers.remove(ns) {
        for (_, (_, held)) in router.links {
            held.detach();
        }
    }
    if let Some(root) = pins {
        remove_pins_of(root, ns);
    }
}

/// A new instance for `ns`, sized for `skip`, pinned under `pins` when given (an earlier
/// instance's pins there are removed first).
fn fresh(
    pins: Option<&Path>,
    ns: &str,
    inode: u64,
    skip: &RouterSkip,
) -> Result<Router, FastPathError> {
    let capacity = Capacity::for_plan(skip);
    let mut ebpf = load_object(capacity)?;
    let load = |e: String| FastPathError::Load(format!("{ns}: {e}"));
    let dir = match pins {
        Some(root) => {
            remove_pins_of(root, ns);
            let dir = instance_dir(root, ns, inode);
            std::fs::create_dir_all(&dir).map_err(|e| load(format!("{}: {e}", dir.display())))?;
            for name in PROGRAMS {
                let program: &mut SchedClassifier = ebpf
                    .program_mut(name)
                    .ok_or_else(|| load(format!("no program {name}")))?
                    .try_into()
                    .map_err(|e: aya::programs::ProgramError| load(e.to_string()))?;
                program
                    .pin(dir.join(name))
                    .map_err(|e| load(format!("pinning {name}: {e}")))?;
            }
            Some(dir)
        }
        None => None,
    };
    let mut take = |name: &str| -> Result<Map, FastPathError> {
        let map = ebpf
            .take_map(name)
            .ok_or_else(|| load(format!("the object lacks map {name}")))?;
        if let Some(dir) = &dir {
            map.pin(dir.join(name))
                .map_err(|e| load(format!("pinning {name}: {e}")))?;
        }
        Ok(map)
    };
    let [ports, bridges, legs, l2] = MAPS;
    let maps = [take(ports)?, take(bridges)?, take(legs)?, take(l2)?];
    let maps = Maps::from_maps(maps).map_err(|e| load(e.to_string()))?;
    Ok(Router {
        programs: Programs::Loaded(ebpf),
        maps,
        pins: dir,
        capacity,
        inode,
        links: BTreeMap::new(),
        ports: BTreeMap::new(),
        bridges: BTreeMap::new(),
        legs: BTreeMap::new(),
        l2: BTreeMap::new(),
    })
}

/// The instance an earlier run pinned for `ns` (same namespace, same object), with what its
/// maps and links hold read back from the kernel, if it holds `skip`; `None` (its pins
/// removed, a fresh one to be loaded) when there is none or it cannot be opened whole.
fn adopt_pinned(root: &Path, ns: &str, inode: u64, skip: &RouterSkip) -> Option<Router> {
    let dir = instance_dir(root, ns, inode);
    if !dir.is_dir() {
        return None;
    }
    match adopt(&dir, inode) {
        Ok(router) if router.capacity.holds(skip) => {
            tracing::debug!(namespace = %ns, links = router.links.len(), "router fast path adopted from its pins");
            Some(router)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(namespace = %ns, error = %e, "router fast path pins not adopted: loading it again");
            None
        }
    }
}

fn adopt(dir: &Path, inode: u64) -> Result<Router, String> {
    let mut programs = BTreeMap::new();
    for name in PROGRAMS {
        let p = SchedClassifier::from_pin(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        programs.insert(name, p);
    }
    let open = |name: &str| -> Result<(Map, u32), String> {
        let data = MapData::from_pin(dir.join(name)).map_err(|e| format!("{name}: {e}"))?;
        let max = data
            .info()
            .map_err(|e| format!("{name}: {e}"))?
            .max_entries();
        Ok((
            Map::from_map_data(data).map_err(|e| format!("{name}: {e}"))?,
            max,
        ))
    };
    let [ports, bridges, legs, l2] = MAPS;
    let ((ports, cap_ports), (bridges, _), (legs, cap_legs), (l2, cap_l2)) =
        (open(ports)?, open(bridges)?, open(legs)?, open(l2)?);
    let maps = Maps::from_maps([ports, bridges, legs, l2]).map_err(|e| e.to_string())?;
    let mut links = BTreeMap::new();
    let listed = std::fs::read_dir(dir).map_err(|e| e.to_string())?;
    for entry in listed.flatten() {
        let name = entry.file_name();
        let Some((dev, ifindex)) = name.to_str().and_then(link_pin_parts) else {
            continue;
        };
        let link = PinnedLink::from_pin(entry.path()).map_err(|e| format!("{dev}: {e}"))?;
        links.insert(dev, (ifindex, Held::Pinned(link)));
    }
    Ok(Router {
        ports: entries(&maps.ports)?,
        bridges: entries(&maps.bridges)?,
        legs: entries(&maps.legs)?,
        l2: entries(&maps.l2)?,
        programs: Programs::Pinned(programs),
        maps,
        pins: Some(dir.to_path_buf()),
        capacity: Capacity {
            ports: cap_ports,
            legs: cap_legs,
            l2: cap_l2,
        },
        inode,
        links,
    })
}

/// A BPF hash map's entries, read back.
fn entries<K: Pod + Ord, V: Pod>(
    map: &BpfHashMap<MapData, K, V>,
) -> Result<BTreeMap<K, V>, String> {
    map.iter().map(|kv| kv.map_err(|e| e.to_string())).collect()
}

/// Program one router (called inside its namespace): map entries first, so a program attached
/// next finds them, then the attachments; what is no longer wanted goes.
fn program(router: &mut Router, ns: &str, want: Resolved) -> Result<(), FastPathError> {
    let map_err = |e: aya::maps::MapError| FastPathError::Map {
        ns: ns.to_string(),
        error: e.to_string(),
    };
    let maps = &mut router.maps;
    sync_map(&mut maps.ports, &mut router.ports, &want.ports).map_err(map_err)?;
    sync_map(&mut maps.bridges, &mut router.bridges, &want.bridges).map_err(map_err)?;
    sync_map(&mut maps.legs, &mut router.legs, &want.legs).map_err(map_err)?;
    sync_map(&mut maps.l2, &mut router.l2, &want.l2).map_err(map_err)?;
    // A link on a device that went or was re-created (another ifindex) is dropped (detached).
    let stale: Vec<String> = router
        .links
        .iter()
        .filter(|(dev, (i, _))| want.attach.get(*dev).is_none_or(|(_, w)| w != i))
        .map(|(dev, _)| dev.clone())
        .collect();
    for dev in stale {
        if let Some((_, held)) = router.links.remove(&dev) {
            held.detach();
        }
    }
    for (dev, (prog, ifindex)) in &want.attach {
        if router.links.contains_key(dev) {
            continue;
        }
        let held = attach(router, prog, dev, *ifindex).map_err(|error| FastPathError::Attach {
            ns: ns.to_string(),
            dev: dev.clone(),
            error,
        })?;
        router.links.insert(dev.clone(), (*ifindex, held));
    }
    Ok(())
}

/// Make a BPF hash map's entries (`have`, what we put there) equal `want`.
fn sync_map<K: Pod + Ord, V: Pod + PartialEq>(
    map: &mut BpfHashMap<MapData, K, V>,
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

/// Attach program `prog` at `dev`'s ingress (TCX) in the calling thread's namespace, pinned
/// beside the router's instance when it is pinned (the pin's name records the device and its
/// ifindex, for the agent that adopts it).
fn attach(router: &mut Router, prog: &str, dev: &str, ifindex: u32) -> Result<Held, String> {
    let program = router
        .programs
        .get(prog)
        .ok_or_else(|| format!("no program {prog}"))?;
    let id = program
        .attach(dev, TcAttachType::Ingress)
        .map_err(|e| e.to_string())?;
    let link = program.take_link(id).map_err(|e| e.to_string())?;
    let Some(dir) = &router.pins else {
        return Ok(Held::Process(link));
    };
    let path = dir.join(link_pin_name(dev, ifindex));
    // A pin of that name left by a link that could not be opened would refuse the new one.
    let _ = std::fs::remove_file(&path);
    let fd = FdLink::try_from(link).map_err(|e| e.to_string())?;
    fd.pin(&path)
        .map(Held::Pinned)
        .map_err(|e| format!("pinning {}: {e}", path.display()))
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
/// `doctor`, a process of its own.
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

/// Router `ns`'s pinned links: (device, link id, program id), for tests and people (an
/// adopted instance keeps its links and programs; one loaded again has new ids).
pub fn pinned_links(ns: &str) -> Vec<(String, u32, u32)> {
    let root = pin_dir().join(ns);
    let mut out = Vec::new();
    for dir in std::fs::read_dir(root).into_iter().flatten().flatten() {
        for entry in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let name = entry.file_name();
            let Some((dev, _)) = name.to_str().and_then(link_pin_parts) else {
                continue;
            };
            let Ok(link) = PinnedLink::from_pin(entry.path()) else {
                continue;
            };
            if let Ok(info) = FdLink::from(link).info() {
                out.push((dev, info.id(), info.program_id()));
            }
        }
    }
    out.sort();
    out
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
