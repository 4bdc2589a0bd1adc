//! A namespace's kernel objects other than nftables, as values: links (with their MACs),
//! addresses, routes, routing rules and sysctls. The planner produces them; `linux` renders them
//! to `ip` arguments and parses the kernel's listings back into the same types, so what is
//! planned and what exists are compared as values, never as differently formatted text.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;

/// A link-layer address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Mac(pub [u8; 6]);

impl Mac {
    /// A fixed, locally administered unicast address derived from `what` (an object's role and
    /// id): the same object always gets the same MAC, so neighbours' ARP entries stay valid
    /// across re-creation and a bridge never changes address when its ports come and go.
    pub fn stable(what: &str) -> Mac {
        // FNV-1a, 64 bits, then MurmurHash3's finaliser so ids that differ in one digit differ
        // in every byte: stable across builds and platforms (std's hasher is not).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in what.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        let b = h.to_be_bytes();
        // Locally administered (bit 1 set), unicast (bit 0 clear).
        Mac([(b[0] & 0xfc) | 0x02, b[1], b[2], b[3], b[4], b[5]])
    }
}

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl FromStr for Mac {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for b in &mut out {
            *b = u8::from_str_radix(parts.next().ok_or(())?, 16).map_err(|_| ())?;
        }
        if parts.next().is_some() {
            return Err(());
        }
        Ok(Mac(out))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Link {
    /// A bridge with an explicitly set MAC: the kernel then keeps that address whatever ports
    /// join or leave (without it a bridge takes the lowest MAC among its ports).
    Bridge { name: String, mac: Mac },
    /// A veth whose `name` end (`mac`) is in this namespace and `peer` end (`peer_mac`) in
    /// `peer_ns`, enslaved to `peer_master` there when set.
    Veth {
        name: String,
        mac: Mac,
        peer_ns: String,
        peer: String,
        peer_mac: Mac,
        peer_master: Option<String>,
    },
}

impl Link {
    pub fn name(&self) -> &str {
        match self {
            Link::Bridge { name, .. } | Link::Veth { name, .. } => name,
        }
    }
}

/// An IPv4 address on a device (`net` keeps the host part: `10.0.0.1/24`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Addr {
    pub dev: String,
    pub net: Ipv4Net,
}

impl Addr {
    pub fn new(dev: impl Into<String>, net: Ipv4Net) -> Self {
        Addr {
            dev: dev.into(),
            net,
        }
    }
    /// A host address (`/32`).
    pub fn host(dev: impl Into<String>, ip: Ipv4Addr) -> Self {
        Addr::new(dev, Ipv4Net::from(ip))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dst {
    Default,
    Net(Ipv4Net),
}

/// A unicast route we own (the kernel's connected and local routes are not planned).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    pub dst: Dst,
    pub via: Option<Ipv4Addr>,
    pub dev: String,
    /// The gateway is on the link even though no address of ours covers it.
    pub onlink: bool,
    /// Preferred source address.
    pub src: Option<Ipv4Addr>,
    /// Routing table; `None` is `main`.
    pub table: Option<u32>,
}

impl Route {
    /// `dst dev D` (directly connected).
    pub fn link(dst: Dst, dev: impl Into<String>) -> Self {
        Route {
            dst,
            via: None,
            dev: dev.into(),
            onlink: false,
            src: None,
            table: None,
        }
    }
    /// `dst via G dev D`.
    pub fn via(dst: Dst, via: Ipv4Addr, dev: impl Into<String>) -> Self {
        Route {
            via: Some(via),
            ..Route::link(dst, dev)
        }
    }
    pub fn onlink(self) -> Self {
        Route {
            onlink: true,
            ..self
        }
    }
    pub fn src(self, src: Ipv4Addr) -> Self {
        Route {
            src: Some(src),
            ..self
        }
    }
    pub fn table(self, table: u32) -> Self {
        Route {
            table: Some(table),
            ..self
        }
    }
    /// What identifies a route in the kernel (another route with the same key replaces it).
    pub fn key(&self) -> (Dst, Option<u32>) {
        (self.dst, self.table)
    }
}

/// The routing table a rule looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lookup {
    Local,
    Main,
    Default,
    Table(u32),
}

/// A routing policy rule: at `pref`, packets (with `fwmark`, when set) look up `table`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpRule {
    pub pref: u32,
    pub fwmark: Option<u32>,
    pub table: Lookup,
}

impl IpRule {
    /// The rules every namespace starts with.
    pub fn kernel_defaults() -> [IpRule; 3] {
        [
            IpRule {
                pref: 0,
                fwmark: None,
                table: Lookup::Local,
            },
            IpRule {
                pref: 32766,
                fwmark: None,
                table: Lookup::Main,
            },
            IpRule {
                pref: 32767,
                fwmark: None,
                table: Lookup::Default,
            },
        ]
    }
}

/// Which `net.ipv4.conf.*` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Conf {
    All,
    Default,
}

/// The sysctls the planner sets (`net.ipv4.…`, and conntrack's `net.netfilter.…`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Sysctl {
    IpForward,
    RpFilter(Conf),
    ArpIgnore(Conf),
    AcceptLocal(Conf),
    /// `nf_conntrack_acct`: packets and bytes per connection (flow records' volumes).
    ConntrackAcct,
    /// `nf_conntrack_timestamp`: start and stop times per connection (flow records' times).
    ConntrackTimestamp,
}

impl Sysctl {
    /// Every key the planner may set (what `doctor` reads back).
    pub const ALL: [Sysctl; 9] = [
        Sysctl::IpForward,
        Sysctl::RpFilter(Conf::All),
        Sysctl::RpFilter(Conf::Default),
        Sysctl::ArpIgnore(Conf::All),
        Sysctl::ArpIgnore(Conf::Default),
        Sysctl::AcceptLocal(Conf::All),
        Sysctl::AcceptLocal(Conf::Default),
        Sysctl::ConntrackAcct,
        Sysctl::ConntrackTimestamp,
    ];
}

/// What one namespace holds, read back from the kernel and parsed into the plan's types (the
/// `doctor` compares it with the plan as values).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NsListing {
    /// Link name → its MAC (`None` when the kernel reports none we understand).
    pub links: std::collections::BTreeMap<String, Option<Mac>>,
    /// Links that are administratively down.
    pub down: std::collections::BTreeSet<String>,
    /// Link name → the bridge it is enslaved to.
    pub masters: std::collections::BTreeMap<String, String>,
    pub addrs: std::collections::BTreeSet<Addr>,
    /// Only the routes we could own (see `linux::iproute2::parse_routes`).
    pub routes: std::collections::BTreeSet<Route>,
    /// The values of [`Sysctl::ALL`] that could be read.
    pub sysctls: std::collections::BTreeMap<Sysctl, u32>,
    /// Only rules of the shapes we plan.
    pub rules: std::collections::BTreeSet<IpRule>,
    /// Every nftables table, by (family, name).
    pub tables: std::collections::BTreeMap<(String, String), crate::plan::nft::TableListing>,
}
