//! nftables chains and rules as values: what the planner emits, and nothing it does not. A rule
//! is a list of matches followed by statements; each variant renders to exactly one `nft`
//! construct (see `render`), so a rule cannot come out half written or unbalanced.

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    Ip,
    Inet,
}

/// A transport protocol that has ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum L4 {
    Tcp,
    Udp,
}

/// `meta l4proto` values the planner matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
}

impl From<L4> for Proto {
    fn from(p: L4) -> Self {
        match p {
            L4::Tcp => Proto::Tcp,
            L4::Udp => Proto::Udp,
        }
    }
}

/// A selector: where one component of a set key, a map value or a lookup key comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Field {
    /// `ct zone`
    CtZone,
    /// `ct mark`
    CtMark,
    /// `ip saddr`
    IpSaddr,
    /// `ip daddr`
    IpDaddr,
    /// `tcp dport` / `udp dport`
    Dport(L4),
    /// `meta mark`
    MetaMark,
    /// `iifname`
    Iifname,
    /// `oifname`
    Oifname,
}

/// A chain: a base chain when `base` is set (attached to a hook), a regular one otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub name: &'static str,
    pub base: Option<BaseChain>,
    pub rules: Vec<Rule>,
}

impl Chain {
    pub fn regular(name: &'static str) -> Self {
        Chain {
            name,
            base: None,
            rules: Vec::new(),
        }
    }
    pub fn base(
        name: &'static str,
        kind: ChainKind,
        hook: Hook,
        priority: Priority,
        policy: Policy,
    ) -> Self {
        Chain {
            name,
            base: Some(BaseChain {
                kind,
                hook,
                priority,
                policy,
            }),
            rules: Vec::new(),
        }
    }
    pub fn with(mut self, rules: impl IntoIterator<Item = Rule>) -> Self {
        self.rules.extend(rules);
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BaseChain {
    pub kind: ChainKind,
    pub hook: Hook,
    pub priority: Priority,
    pub policy: Policy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainKind {
    Filter,
    Nat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    Prerouting,
    Input,
    Forward,
    Output,
    Postrouting,
}

/// The standard priority names nft knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Priority {
    Raw,
    Mangle,
    DstNat,
    Filter,
    SrcNat,
    /// `srcnat + 10`: after source NAT (and the un-DNAT of replies), where a reply's source is
    /// the endpoint address again.
    AfterSrcNat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Accept,
    Drop,
}

/// Matches (all must hold), then statements in order, then an optional comment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rule {
    pub matches: Vec<Match>,
    pub actions: Vec<Action>,
    pub comment: Option<String>,
}

impl Rule {
    pub fn new(matches: Vec<Match>, actions: Vec<Action>) -> Self {
        Rule {
            matches,
            actions,
            comment: None,
        }
    }
    pub fn comment(self, comment: impl Into<String>) -> Self {
        Rule {
            comment: Some(comment.into()),
            ..self
        }
    }
}

/// An interface by name, by name prefix (`"h*"`), or as a member of a named set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Iface {
    Name(String),
    Prefix(String),
    InSet(&'static str),
}

/// An address match: one address, a prefix, or an anonymous set of addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Addrs {
    One(Ipv4Addr),
    Net(Ipv4Net),
    AnyOf(Vec<Ipv4Addr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ports {
    One(u16),
    /// Inclusive.
    Range(u16, u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtState {
    New,
    Established,
    Related,
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtDirection {
    Original,
    Reply,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `iifname …`
    Iifname(Iface),
    /// `oifname …`
    Oifname(Iface),
    /// `iif "lo"`: arrived from the loopback device (index 1 in every namespace).
    FromLoopback,
    /// `oif "lo"`
    ToLoopback,
    /// `ip saddr …`
    Saddr(Addrs),
    /// `ip daddr …`
    Daddr(Addrs),
    /// `meta l4proto …`
    L4proto(Proto),
    /// `tcp dport …` / `udp dport …`
    Dport(L4, Ports),
    /// `ct state a,b`
    CtState(Vec<CtState>),
    /// `ct direction …`
    CtDirection(CtDirection),
    /// `ct mark != 0`: the connection was marked (an endpoint flow).
    CtMarked,
    /// `ct status dnat`
    CtStatusDnat,
    /// `<key> @set`, or `<key> != @set` when `negate`.
    Lookup {
        key: Vec<Field>,
        set: &'static str,
        negate: bool,
    },
}

/// `<key> map @map`: a value looked up in a named map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapLookup {
    pub key: Vec<Field>,
    pub map: &'static str,
}

impl MapLookup {
    pub fn new(key: Vec<Field>, map: &'static str) -> Self {
        MapLookup { key, map }
    }
}

/// The value a statement sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Field(Field),
    Map(MapLookup),
}

/// Where a DNAT sends a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnatTo {
    /// `dnat to a:p`
    Addr(Ipv4Addr, u16),
    /// `dnat ip to numgen inc mod n map { 0 : a . p, … }`: round robin over n ≥ 2 members.
    RoundRobin(Vec<(Ipv4Addr, u16)>),
    /// `dnat ip to <key> map @map` (the map's values are `address . port`)
    Map(MapLookup),
}

impl DnatTo {
    /// Spread over `members` (none: no DNAT at all).
    pub fn spread(members: Vec<(Ipv4Addr, u16)>) -> Option<DnatTo> {
        match members.as_slice() {
            [] => None,
            [(a, p)] => Some(DnatTo::Addr(*a, *p)),
            _ => Some(DnatTo::RoundRobin(members)),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Accept,
    Drop,
    /// `reject with tcp reset`
    RejectTcpReset,
    Masquerade,
    Dnat(DnatTo),
    /// `snat ip to <key> map @map`
    Snat(MapLookup),
    /// `meta mark set …`
    SetMetaMark(Value),
    /// `ct mark set …`
    SetCtMark(Value),
    /// `ct original zone set …`
    SetCtOriginalZone(Value),
}
