//! Our nftables tables as data: a fixed skeleton (chains, rules, set declarations) plus the
//! elements of its named sets. The skeleton changes only when the layout does (a new leg, a
//! load balancer's listeners); endpoints come and go as set elements. So the kernel side can
//! load a whole table in one atomic nf_tables transaction when the skeleton changed, and
//! otherwise send only the element difference as one batch on a socket it keeps open.
//!
//! Pure: the typed table (`rule` holds the rule expressions), its rendering to `nft` text for
//! people (`render`: `doctor`, tests) and its encoding as nf_tables netlink batches (`batch`)
//! live here, the sockets in `netlink`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

mod batch;
mod render;
mod rule;

pub(crate) use batch::Nla;
pub use batch::{ElemBytes, Encoded, family_id, family_of, stamp, table_batch};
pub use rule::*;

use ipnet::Ipv4Net;

/// One component of a set key or map value, typed so it renders as `nft` text and encodes
/// exactly as `nft` would put it in a netlink message.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Val {
    /// `ct zone`: 16 bits, host byte order.
    Zone(u16),
    /// `ip saddr`/`ip daddr`: network byte order.
    Ip(Ipv4Addr),
    /// A prefix in an interval set (text only: interval sets are always loaded whole).
    Net(Ipv4Net),
    /// `tcp dport`/`udp dport`: 16 bits, network byte order.
    Port(u16),
    /// `meta mark`: 32 bits, host byte order.
    Mark(u32),
    /// `iifname`/`oifname`: IFNAMSIZ bytes, zero padded. (A `Box<str>`, not a `String`: it keeps
    /// every `Val` at 24 bytes instead of 32, and a gateway holds ~10 of them per endpoint.)
    Ifname(Box<str>),
}

const IFNAMSIZ: usize = 16;

impl Val {
    fn write_bytes(&self, out: &mut Vec<u8>) -> Result<(), NftError> {
        match self {
            Val::Zone(z) => out.extend_from_slice(&z.to_ne_bytes()),
            Val::Ip(ip) => out.extend_from_slice(&ip.octets()),
            Val::Net(n) => return Err(NftError::Interval(n.to_string())),
            Val::Port(p) => out.extend_from_slice(&p.to_be_bytes()),
            Val::Mark(m) => out.extend_from_slice(&m.to_ne_bytes()),
            Val::Ifname(n) => {
                if n.len() >= IFNAMSIZ {
                    return Err(NftError::Ifname(n.to_string()));
                }
                let mut b = [0u8; IFNAMSIZ];
                b[..n.len()].copy_from_slice(n.as_bytes());
                out.extend_from_slice(&b);
            }
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NftError {
    #[error("interval element {0} cannot be sent as a single element")]
    Interval(String),
    #[error("interface name {0:?} is too long")]
    Ifname(String),
    #[error("no set or map {0} in the table")]
    UnknownSet(String),
    #[error("not supported: {0}")]
    Unsupported(String),
}

/// A key (`a . b . c`) or value: one component as is, several as a concatenation where each
/// component takes whole 32-bit registers (what nft and the kernel expect).
fn encode(vals: &[Val]) -> Result<Vec<u8>, NftError> {
    let mut out = Vec::with_capacity(vals.len() * 4);
    for v in vals {
        v.write_bytes(&mut out)?;
        if vals.len() > 1 {
            while out.len() % 4 != 0 {
                out.push(0);
            }
        }
    }
    Ok(out)
}

/// A key as the kernel holds it (and lists it back): what counters are filed under.
pub fn key_bytes(vals: &[Val]) -> Result<Vec<u8>, NftError> {
    encode(vals)
}

/// A counter's reading.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Count {
    pub packets: u64,
    pub bytes: u64,
}

impl Count {
    /// The larger of two readings, component-wise (counters only grow).
    pub fn max(self, other: Count) -> Count {
        Count {
            packets: self.packets.max(other.packets),
            bytes: self.bytes.max(other.bytes),
        }
    }
}

/// Counter readings of a table's counter sets: set name → key bytes → reading. A table
/// reloaded (or an element added again) starts its elements' counters from these.
pub type Seeds = BTreeMap<String, BTreeMap<ElemKey, Count>>;

/// An element's key bytes as a reading is kept under: inline up to 16 bytes (a counted set's
/// key, `ct zone . ip addr`, is 8), so the agent's readings of 40,000 counters (10,000
/// endpoints) are not 40,000 allocations of their own. Looked up by `&[u8]`.
pub type ElemKey = smallvec::SmallVec<[u8; 16]>;

/// One set element: its key's components and (a map's) value's.
///
/// Both are kept in one shared slice: a gateway shard holds six elements per endpoint and the
/// agent two copies of each (its plan and the kernel layer's record of what it applied, a clone
/// of it). One allocation and 24 bytes per element instead of two `Vec`s (48 bytes and two
/// allocations), and a clone that shares the components instead of copying them: at 10,000
/// endpoints ~9 MB less of the agent's memory (measured with a counting allocator).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Elem {
    /// The key's components, then the value's (none for a plain set).
    vals: std::sync::Arc<[Val]>,
    key_len: u8,
}

impl Elem {
    pub fn key(key: Vec<Val>) -> Self {
        Elem::map(key, vec![])
    }
    pub fn map(mut key: Vec<Val>, data: Vec<Val>) -> Self {
        // A key has at most a handful of components (a concatenation fills ≤ 16 registers).
        let key_len = u8::try_from(key.len()).unwrap_or(u8::MAX);
        key.extend(data);
        Elem {
            vals: key.into(),
            key_len,
        }
    }
    /// The key's components.
    pub fn key_vals(&self) -> &[Val] {
        &self.vals[..usize::from(self.key_len).min(self.vals.len())]
    }
    /// The value's components (empty for a plain set's element).
    pub fn data_vals(&self) -> &[Val] {
        &self.vals[usize::from(self.key_len).min(self.vals.len())..]
    }
}

/// Ordered by key, then value (as the two separate lists were).
impl Ord for Elem {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.key_vals(), self.data_vals()).cmp(&(other.key_vals(), other.data_vals()))
    }
}

impl PartialOrd for Elem {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// A named set or map: its declaration (key and value selectors, interval flag) and elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftSet {
    /// What a key is made of, e.g. `ct zone . ip daddr . tcp dport`.
    pub key: Vec<Field>,
    /// What a value is made of (maps); empty for a plain set.
    pub data: Vec<Field>,
    /// `flags interval`: elements are ranges, reloaded with the whole table when they change.
    pub interval: bool,
    /// `counter`: each element carries a packet and byte counter the kernel updates on every
    /// lookup that finds it (traffic accounting, read back by one element dump).
    pub counter: bool,
    pub elements: BTreeSet<Elem>,
}

impl NftSet {
    pub fn set(key: Vec<Field>) -> Self {
        NftSet {
            key,
            data: vec![],
            interval: false,
            counter: false,
            elements: BTreeSet::new(),
        }
    }
    pub fn map(key: Vec<Field>, data: Vec<Field>) -> Self {
        NftSet {
            data,
            ..NftSet::set(key)
        }
    }
    pub fn interval(self) -> Self {
        NftSet {
            interval: true,
            ..self
        }
    }
    pub fn counter(self) -> Self {
        NftSet {
            counter: true,
            ..self
        }
    }
    pub fn with(self, elements: impl IntoIterator<Item = Elem>) -> Self {
        NftSet {
            elements: elements.into_iter().collect(),
            ..self
        }
    }
    /// Same declaration: elements can move between the two without reloading the table.
    fn same_declaration(&self, other: &NftSet) -> bool {
        self.key == other.key
            && self.data == other.data
            && self.interval == other.interval
            && self.counter == other.counter
    }
}

/// One of our tables in a namespace: named sets and maps, chains of typed rules. Rendered to
/// `nft` text only in [`render`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NftTable {
    pub family: Family,
    pub name: &'static str,
    pub sets: BTreeMap<&'static str, NftSet>,
    pub chains: Vec<Chain>,
}

impl NftTable {
    pub fn new(family: Family, name: &'static str) -> Self {
        NftTable {
            family,
            name,
            sets: BTreeMap::new(),
            chains: Vec::new(),
        }
    }

    /// The chain called `name` (added, empty and regular, when missing).
    pub fn chain_mut(&mut self, name: &'static str) -> &mut Chain {
        let at = match self.chains.iter().position(|c| c.name == name) {
            Some(i) => i,
            None => {
                self.chains.push(Chain::regular(name));
                self.chains.len() - 1
            }
        };
        &mut self.chains[at]
    }

    fn same_skeleton(&self, other: &NftTable) -> bool {
        self.family == other.family
            && self.name == other.name
            && self.chains == other.chains
            && self.sets.len() == other.sets.len()
            && self
                .sets
                .iter()
                .zip(other.sets.iter())
                .all(|((a, x), (b, y))| a == b && x.same_declaration(y))
    }
}

/// Elements to delete and add in one set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SetDelta {
    pub set: &'static str,
    pub del: Vec<Elem>,
    pub add: Vec<Elem>,
}

/// The element changes that turn `old` into `new`, or `None` when that takes more than
/// elements (another skeleton, or a changed interval set): then the table is loaded whole.
pub fn element_delta(old: &NftTable, new: &NftTable) -> Option<Vec<SetDelta>> {
    if !old.same_skeleton(new) {
        return None;
    }
    let mut out = Vec::new();
    for ((set, o), (_, n)) in old.sets.iter().zip(new.sets.iter()) {
        if o.elements == n.elements {
            continue;
        }
        if n.interval {
            return None;
        }
        // A map element whose value changed is deleted and re-added (same key).
        let del: Vec<Elem> = o.elements.difference(&n.elements).cloned().collect();
        let add: Vec<Elem> = n.elements.difference(&o.elements).cloned().collect();
        out.push(SetDelta { set, del, add });
    }
    Some(out)
}

/// One nf_tables transaction (batch begin, element deletes then adds, batch end) as the bytes of
/// a single datagram: the kernel applies all of it or none. Every element message asks for an
/// acknowledgement.
pub fn element_batch(
    table: &NftTable,
    deltas: &[SetDelta],
    seq: u32,
    seeds: Option<&Seeds>,
) -> Result<Encoded, NftError> {
    let mut b = batch::Batch::new(seq);
    b.set_elements(table, deltas, seeds)?;
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Val {
        Val::Ip(s.parse().expect("ip"))
    }

    #[test]
    fn concatenations_pad_each_component_to_a_register() {
        // What `nft --debug=netlink add element ip vpcep ep_tcp { 3 . 10.0.0.5 . 80 :
        // 10.1.2.3 . 8080 }` sends (words shown little-endian there).
        let key = encode(&[Val::Zone(3), ip("10.0.0.5"), Val::Port(80)]).expect("key");
        let mut want = 3u16.to_ne_bytes().to_vec();
        want.extend([0, 0, 10, 0, 0, 5, 0, 80, 0, 0]);
        assert_eq!(key, want);
        let data = encode(&[ip("10.1.2.3"), Val::Port(8080)]).expect("data");
        assert_eq!(data, vec![10, 1, 2, 3, 0x1f, 0x90, 0, 0]);
        // A single component keeps its own length.
        assert_eq!(encode(&[Val::Zone(3)]).expect("zone").len(), 2);
        assert_eq!(
            encode(&[Val::Mark(20001)]).expect("mark"),
            20001u32.to_ne_bytes()
        );
        let name = encode(&[Val::Ifname("c1234".into())]).expect("ifname");
        assert_eq!(name.len(), 16);
        assert_eq!(&name[..6], b"c1234\0");
        assert!(encode(&[Val::Ifname("x".repeat(16).into())]).is_err());
        assert!(encode(&[Val::Net("10.0.0.0/8".parse().expect("net"))]).is_err());
    }

    fn table(elems: &[(u16, &str)], interval: bool) -> NftTable {
        let mut t = NftTable::new(Family::Ip, "vpcep");
        let mut m = NftSet::map(vec![Field::CtZone], vec![Field::IpSaddr]).with(
            elems
                .iter()
                .map(|(z, a)| Elem::map(vec![Val::Zone(*z)], vec![ip(a)])),
        );
        m.interval = interval;
        t.sets.insert("m", m);
        t
    }

    #[test]
    fn script_declares_then_fills() {
        let t = table(&[(1, "198.19.128.1"), (2, "198.19.128.2")], false);
        let stamp = stamp(&t).expect("stamp");
        assert_eq!(
            t.script(),
            format!(
                "add table ip vpcep\ndelete table ip vpcep\ntable ip vpcep {{\n  comment \"{stamp}\"\n  map m {{ typeof ct zone : ip saddr; }}\n}}\nadd element ip vpcep m {{ 1 : 198.19.128.1, 2 : 198.19.128.2 }}\n"
            )
        );
        // The stamp is the skeleton's: other elements keep it, another declaration does not.
        let other = table(&[(3, "198.19.128.3")], false);
        assert_eq!(super::stamp(&other), Ok(stamp.clone()));
        let mut declared = t.clone();
        declared.sets.insert("n", NftSet::set(vec![Field::CtZone]));
        assert_ne!(super::stamp(&declared), Ok(stamp));
    }

    #[test]
    fn delta_is_elements_only_when_the_skeleton_holds() {
        let a = table(&[(1, "198.19.128.1"), (2, "198.19.128.2")], false);
        let b = table(&[(1, "198.19.128.9"), (3, "198.19.128.3")], false);
        let d = element_delta(&a, &b).expect("elements only");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].del.len(), 2, "{d:?}");
        assert_eq!(d[0].add.len(), 2);
        assert_eq!(element_delta(&a, &a), Some(vec![]));
        let mut c = b.clone();
        c.chains.push(Chain::regular("x"));
        assert_eq!(element_delta(&a, &c), None, "another skeleton");
        let i = table(&[(1, "198.19.128.1")], true);
        let j = table(&[(2, "198.19.128.1")], true);
        assert_eq!(element_delta(&i, &j), None, "interval sets load whole");
    }

    #[test]
    fn batch_frames_begin_elements_end() {
        let a = table(&[(1, "198.19.128.1")], false);
        let b = table(&[(2, "198.19.128.2")], false);
        let d = element_delta(&a, &b).expect("delta");
        let batch = element_batch(&b, &d, 100, None).expect("batch");
        assert_eq!(batch.acks(), 2, "one delete message, one add message");
        let bytes = batch.bytes;
        // Walk the datagram: four netlink messages with consecutive sequence numbers.
        let mut off = 0;
        let mut kinds = vec![];
        while off < bytes.len() {
            let len = u32::from_ne_bytes(bytes[off..off + 4].try_into().expect("len")) as usize;
            let kind = u16::from_ne_bytes(bytes[off + 4..off + 6].try_into().expect("type"));
            let seq = u32::from_ne_bytes(bytes[off + 8..off + 12].try_into().expect("seq"));
            kinds.push((kind, seq));
            off += len.div_ceil(4) * 4;
        }
        // BATCH_BEGIN (16), DELSETELEM (10 << 8 | 14), NEWSETELEM (10 << 8 | 12), BATCH_END.
        assert_eq!(
            kinds,
            vec![
                (16, 100),
                ((10 << 8) | 14, 101),
                ((10 << 8) | 12, 102),
                (17, 103)
            ]
        );
    }
}

/// One table as `nft -j list ruleset` shows it, reduced to what `doctor` compares with the
/// plan: chain names with their hooks (`None` for a regular chain), rules per chain, set/map
/// names with their element counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableListing {
    pub chains: BTreeMap<String, Option<String>>,
    /// Rules per chain (chains without rules absent).
    pub rules: BTreeMap<String, usize>,
    pub sets: BTreeMap<String, usize>,
    /// The table's comment, where a table the agent loaded carries its stamp ([`stamp`]).
    /// Not from the JSON (nft 1.0.6 leaves table comments out of it): `read_namespace` fills
    /// it over netlink.
    pub comment: Option<String>,
}

/// `nft -j list ruleset` (or `list table`) → tables by (family, name). Objects of a shape we
/// do not know are skipped; text that is not nft's JSON gives no tables.
pub fn parse_ruleset(listing: &str) -> BTreeMap<(String, String), TableListing> {
    let mut out: BTreeMap<(String, String), TableListing> = BTreeMap::new();
    let v: serde_json::Value = serde_json::from_str(listing).unwrap_or_default();
    let key = |o: &serde_json::Value, table_field: &str| -> Option<(String, String)> {
        Some((
            o["family"].as_str()?.to_string(),
            o[table_field].as_str()?.to_string(),
        ))
    };
    for item in v["nftables"].as_array().into_iter().flatten() {
        if let Some(k) = key(&item["table"], "name") {
            out.entry(k).or_default();
        } else if let Some(k) = key(&item["chain"], "table") {
            let c = &item["chain"];
            if let Some(name) = c["name"].as_str() {
                out.entry(k)
                    .or_default()
                    .chains
                    .insert(name.to_string(), c["hook"].as_str().map(str::to_string));
            }
        } else if let Some(k) = key(&item["rule"], "table") {
            if let Some(chain) = item["rule"]["chain"].as_str() {
                *out.entry(k)
                    .or_default()
                    .rules
                    .entry(chain.to_string())
                    .or_default() += 1;
            }
        } else {
            for kind in ["set", "map"] {
                let s = &item[kind];
                if let (Some(k), Some(name)) = (key(s, "table"), s["name"].as_str()) {
                    let n = s["elem"].as_array().map_or(0, Vec::len);
                    out.entry(k).or_default().sets.insert(name.to_string(), n);
                }
            }
        }
    }
    out
}
