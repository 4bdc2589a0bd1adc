//! The one place our nftables values become `nft` text: the `nft -f` script the layout path
//! loads, and what `doctor` shows. Every construct is written by the `Display` of its type, so
//! braces and separators come from the structure, never from inspecting text.

use std::fmt::{self, Display, Formatter, Write as _};

use super::{
    Action, Addrs, BaseChain, Chain, ChainKind, CtDirection, CtState, DnatTo, Elem, Family, Field,
    Hook, Iface, L4, MapLookup, Match, NftSet, NftTable, Policy, Ports, Priority, Proto, Rule, Val,
    Value,
};

/// Elements per `add element` line (one netlink message for nft, kept to a sane size).
const ELEMENTS_PER_LINE: usize = 1000;

impl NftTable {
    /// The whole table as one `nft -f` script: one atomic transaction that replaces whatever
    /// table of that name exists (add + delete + define works on nft 1.0.6, which lacks
    /// `destroy`), then fills the sets.
    pub fn script(&self) -> String {
        let (f, n) = (self.family, self.name);
        let mut s = format!("add table {f} {n}\ndelete table {f} {n}\ntable {f} {n} {{\n");
        // The same stamp the netlink batch gives the table (a table nothing can encode has
        // none: the batch refuses it anyway).
        if let Ok(stamp) = super::stamp(self) {
            let _ = writeln!(s, "  comment \"{stamp}\"");
        }
        for (name, set) in &self.sets {
            let _ = writeln!(s, "  {}", Declaration(name, set));
        }
        for chain in &self.chains {
            let _ = write!(s, "{chain}");
        }
        s += "}\n";
        for (name, set) in &self.sets {
            let elems: Vec<&Elem> = set.elements.iter().collect();
            for chunk in elems.chunks(ELEMENTS_PER_LINE) {
                let _ = writeln!(s, "add element {f} {n} {name} {{ {} }}", List(chunk, ", "));
            }
        }
        s
    }
}

/// Items written one after another with a separator.
struct List<'a, T>(&'a [T], &'static str);

impl<T: Display> Display for List<'_, T> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, item) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(self.1)?;
            }
            write!(f, "{item}")?;
        }
        Ok(())
    }
}

/// `set name { typeof …; }` / `map name { typeof … : …; flags interval; }`
struct Declaration<'a>(&'a str, &'a NftSet);

impl Display for Declaration<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let Declaration(name, set) = self;
        let kind = if set.data.is_empty() { "set" } else { "map" };
        write!(f, "{kind} {name} {{ typeof {}", List(&set.key, " . "))?;
        if !set.data.is_empty() {
            write!(f, " : {}", List(&set.data, " . "))?;
        }
        f.write_str(";")?;
        if set.interval {
            f.write_str(" flags interval;")?;
        }
        if set.counter {
            f.write_str(" counter;")?;
        }
        f.write_str(" }")
    }
}

impl Display for Family {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Ip => "ip",
            Family::Inet => "inet",
        })
    }
}

impl Display for L4 {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            L4::Tcp => "tcp",
            L4::Udp => "udp",
        })
    }
}

impl Display for Proto {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        })
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Field::CtZone => f.write_str("ct zone"),
            Field::CtMark => f.write_str("ct mark"),
            Field::IpSaddr => f.write_str("ip saddr"),
            Field::IpDaddr => f.write_str("ip daddr"),
            Field::Dport(p) => write!(f, "{p} dport"),
            Field::MetaMark => f.write_str("meta mark"),
            Field::Iifname => f.write_str("iifname"),
            Field::Oifname => f.write_str("oifname"),
        }
    }
}

impl Display for Val {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Val::Zone(z) => write!(f, "{z}"),
            Val::Ip(ip) => write!(f, "{ip}"),
            Val::Net(n) => write!(f, "{n}"),
            Val::Port(p) => write!(f, "{p}"),
            Val::Mark(m) => write!(f, "{m}"),
            Val::Ifname(n) => write!(f, "\"{n}\""),
        }
    }
}

impl Display for Elem {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", List(self.key_vals(), " . "))?;
        if !self.data_vals().is_empty() {
            write!(f, " : {}", List(self.data_vals(), " . "))?;
        }
        Ok(())
    }
}

impl Display for Chain {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        writeln!(f, "  chain {} {{", self.name)?;
        if let Some(base) = &self.base {
            writeln!(f, "    {base}")?;
        }
        for rule in &self.rules {
            writeln!(f, "    {rule}")?;
        }
        writeln!(f, "  }}")
    }
}

impl Hook {
    /// The hook's name in `nft` syntax, which is also how `nft -j` lists it.
    pub fn name(self) -> &'static str {
        match self {
            Hook::Prerouting => "prerouting",
            Hook::Input => "input",
            Hook::Forward => "forward",
            Hook::Output => "output",
            Hook::Postrouting => "postrouting",
        }
    }
}

impl Display for BaseChain {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            ChainKind::Filter => "filter",
            ChainKind::Nat => "nat",
        };
        let hook = self.hook.name();
        let priority = match self.priority {
            Priority::Raw => "raw",
            Priority::Mangle => "mangle",
            Priority::DstNat => "dstnat",
            Priority::Filter => "filter",
            Priority::SrcNat => "srcnat",
            Priority::AfterSrcNat => "srcnat + 10",
        };
        let policy = match self.policy {
            Policy::Accept => "accept",
            Policy::Drop => "drop",
        };
        write!(
            f,
            "type {kind} hook {hook} priority {priority}; policy {policy};"
        )
    }
}

impl Display for Rule {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .matches
            .iter()
            .map(ToString::to_string)
            .chain(self.actions.iter().map(ToString::to_string))
            .collect();
        f.write_str(&parts.join(" "))?;
        if let Some(c) = &self.comment {
            // nft comments are quoted strings: keep them free of quotes.
            write!(f, " comment \"{}\"", c.replace('"', "'"))?;
        }
        Ok(())
    }
}

impl Display for Iface {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Iface::Name(n) => write!(f, "\"{n}\""),
            Iface::Prefix(p) => write!(f, "\"{p}*\""),
            Iface::InSet(s) => write!(f, "@{s}"),
        }
    }
}

impl Display for Addrs {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Addrs::One(a) => write!(f, "{a}"),
            Addrs::Net(n) => write!(f, "{n}"),
            Addrs::AnyOf(list) => write!(f, "{{ {} }}", List(list, ", ")),
        }
    }
}

impl Display for Ports {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Ports::One(p) => write!(f, "{p}"),
            Ports::Range(a, b) => write!(f, "{a}-{b}"),
        }
    }
}

impl Display for CtState {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CtState::New => "new",
            CtState::Established => "established",
            CtState::Related => "related",
            CtState::Invalid => "invalid",
        })
    }
}

impl Display for Match {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Match::Iifname(i) => write!(f, "iifname {i}"),
            Match::Oifname(i) => write!(f, "oifname {i}"),
            Match::FromLoopback => f.write_str("iif \"lo\""),
            Match::ToLoopback => f.write_str("oif \"lo\""),
            Match::Saddr(a) => write!(f, "ip saddr {a}"),
            Match::Daddr(a) => write!(f, "ip daddr {a}"),
            Match::L4proto(p) => write!(f, "meta l4proto {p}"),
            Match::Dport(p, ports) => write!(f, "{p} dport {ports}"),
            Match::CtState(states) => write!(f, "ct state {}", List(states, ",")),
            Match::CtDirection(CtDirection::Original) => f.write_str("ct direction original"),
            Match::CtDirection(CtDirection::Reply) => f.write_str("ct direction reply"),
            Match::CtMarked => f.write_str("ct mark != 0"),
            Match::CtStatusDnat => f.write_str("ct status dnat"),
            Match::Lookup { key, set, negate } => {
                let op = if *negate { "!= " } else { "" };
                write!(f, "{} {op}@{set}", List(key, " . "))
            }
        }
    }
}

impl Display for MapLookup {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} map @{}", List(&self.key, " . "), self.map)
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Field(field) => write!(f, "{field}"),
            Value::Map(m) => write!(f, "{m}"),
        }
    }
}

impl Display for DnatTo {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            DnatTo::Addr(a, p) => write!(f, "dnat to {a}:{p}"),
            DnatTo::RoundRobin(members) => {
                let elems: Vec<String> = members
                    .iter()
                    .enumerate()
                    .map(|(i, (a, p))| format!("{i} : {a} . {p}"))
                    .collect();
                write!(
                    f,
                    "dnat ip to numgen inc mod {} map {{ {} }}",
                    members.len(),
                    elems.join(", ")
                )
            }
            DnatTo::Map(m) => write!(f, "dnat ip to {m}"),
        }
    }
}

impl Display for Action {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Action::Accept => f.write_str("accept"),
            Action::Drop => f.write_str("drop"),
            Action::RejectTcpReset => f.write_str("reject with tcp reset"),
            Action::Masquerade => f.write_str("masquerade"),
            Action::Dnat(to) => write!(f, "{to}"),
            Action::Snat(m) => write!(f, "snat ip to {m}"),
            Action::SetMetaMark(v) => write!(f, "meta mark set {v}"),
            Action::SetCtMark(v) => write!(f, "ct mark set {v}"),
            Action::SetCtOriginalZone(v) => write!(f, "ct original zone set {v}"),
        }
    }
}
