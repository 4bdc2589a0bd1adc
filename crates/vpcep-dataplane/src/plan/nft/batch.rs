//! Our tables as nf_tables netlink transactions: the bytes `nft -f` would send for the same
//! table, built from the typed values without a process or a text parser in between. A batch
//! (`NFNL_MSG_BATCH_BEGIN` … `NFNL_MSG_BATCH_END`, one datagram) is applied by the kernel all or
//! nothing, exactly like one `nft -f` file.
//!
//! Rules compile to the kernel's expressions the way nft 1.0.6 compiles the same text (register
//! layout, implicit protocol dependencies, prefix and single-element shortcuts), so that
//! `nft list table` prints a table loaded here exactly as it prints one loaded from
//! [`NftTable::script`]; `plan::tests` checks that on every planned table. Set declarations carry
//! nft's `typeof` user data so listings keep showing `typeof ct zone . ip daddr`.
//!
//! Pure: bytes out, no socket (the sending is `netlink::load_batch`).

use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use super::{
    Action, Addrs, Chain, ChainKind, CtDirection, CtState, DnatTo, Elem, Family, Field, Hook,
    Iface, L4, MapLookup, Match, NftError, NftSet, NftTable, Policy, Ports, Priority, Proto, Rule,
    Seeds, SetDelta, Val, Value,
};

/// Constants of `linux/netfilter/nf_tables.h`, `nfnetlink.h` and `netlink.h`.
mod k {
    pub const NLM_F_REQUEST: u16 = 0x1;
    pub const NLM_F_ACK: u16 = 0x4;
    pub const NLM_F_APPEND: u16 = 0x800;
    pub const NLM_F_CREATE: u16 = 0x400;
    pub const NLA_F_NESTED: u16 = 0x8000;
    pub const NFNL_MSG_BATCH_BEGIN: u16 = 0x10;
    pub const NFNL_MSG_BATCH_END: u16 = 0x11;
    pub const NFNL_SUBSYS_NFTABLES: u16 = 10;

    pub const NEWTABLE: u16 = 0;
    pub const DELTABLE: u16 = 2;
    pub const NEWCHAIN: u16 = 3;
    pub const NEWRULE: u16 = 6;
    pub const NEWSET: u16 = 9;
    pub const NEWSETELEM: u16 = 12;
    pub const DELSETELEM: u16 = 14;

    pub const NFPROTO_INET: u8 = 1;
    pub const NFPROTO_IPV4: u8 = 2;

    pub const LIST_ELEM: u16 = 1;
    pub const DATA_VALUE: u16 = 1;
    pub const DATA_VERDICT: u16 = 2;
    pub const VERDICT_CODE: u16 = 1;
    pub const NF_DROP: u32 = 0;
    pub const NF_ACCEPT: u32 = 1;

    pub const TABLE_NAME: u16 = 1;
    pub const TABLE_USERDATA: u16 = 6;
    pub const CHAIN_TABLE: u16 = 1;
    pub const CHAIN_NAME: u16 = 3;
    pub const CHAIN_HOOK: u16 = 4;
    pub const CHAIN_POLICY: u16 = 5;
    pub const CHAIN_TYPE: u16 = 7;
    pub const HOOK_HOOKNUM: u16 = 1;
    pub const HOOK_PRIORITY: u16 = 2;

    pub const RULE_TABLE: u16 = 1;
    pub const RULE_CHAIN: u16 = 2;
    pub const RULE_EXPRESSIONS: u16 = 4;
    pub const RULE_USERDATA: u16 = 7;
    pub const EXPR_NAME: u16 = 1;
    pub const EXPR_DATA: u16 = 2;

    pub const SET_TABLE: u16 = 1;
    pub const SET_NAME: u16 = 2;
    pub const SET_FLAGS: u16 = 3;
    pub const SET_KEY_TYPE: u16 = 4;
    pub const SET_KEY_LEN: u16 = 5;
    pub const SET_DATA_TYPE: u16 = 6;
    pub const SET_DATA_LEN: u16 = 7;
    pub const SET_DESC: u16 = 9;
    pub const SET_ID: u16 = 10;
    pub const SET_USERDATA: u16 = 13;
    pub const SET_EXPR: u16 = 17;
    pub const SET_DESC_SIZE: u16 = 1;
    pub const SET_DESC_CONCAT: u16 = 2;
    pub const SET_FIELD_LEN: u16 = 1;
    pub const SET_ANONYMOUS: u32 = 0x1;
    pub const SET_CONSTANT: u32 = 0x2;
    pub const SET_INTERVAL: u32 = 0x4;
    pub const SET_MAP: u32 = 0x8;
    pub const SET_CONCAT: u32 = 0x80;

    pub const ELEM_LIST_TABLE: u16 = 1;
    pub const ELEM_LIST_SET: u16 = 2;
    pub const ELEM_LIST_ELEMENTS: u16 = 3;
    pub const ELEM_LIST_SET_ID: u16 = 4;
    pub const ELEM_KEY: u16 = 1;
    pub const ELEM_DATA: u16 = 2;
    pub const ELEM_KEY_END: u16 = 10;
    pub const ELEM_EXPR: u16 = 7;
    pub const COUNTER_BYTES: u16 = 1;
    pub const COUNTER_PACKETS: u16 = 2;

    pub const META_MARK: u32 = 3;
    pub const META_IIF: u32 = 4;
    pub const META_OIF: u32 = 5;
    pub const META_IIFNAME: u32 = 6;
    pub const META_OIFNAME: u32 = 7;
    pub const META_NFPROTO: u32 = 15;
    pub const META_L4PROTO: u32 = 16;
    pub const CT_STATE: u32 = 0;
    pub const CT_DIRECTION: u32 = 1;
    pub const CT_STATUS: u32 = 2;
    pub const CT_MARK: u32 = 3;
    pub const CT_ZONE: u32 = 17;
    pub const PAYLOAD_NETWORK: u32 = 1;
    pub const PAYLOAD_TRANSPORT: u32 = 2;
    pub const CMP_EQ: u32 = 0;
    pub const CMP_NEQ: u32 = 1;
    pub const CMP_LTE: u32 = 3;
    pub const CMP_GTE: u32 = 5;
    pub const NAT_SNAT: u32 = 0;
    pub const NAT_DNAT: u32 = 1;
    pub const NAT_RANGE_PROTO_SPECIFIED: u32 = 0x2;
    pub const REJECT_TCP_RST: u32 = 1;
    pub const BYTEORDER_HTON: u32 = 1;

    /// Registers: the verdict, the four 16-byte ones, and the 32-bit view of the same space.
    pub const REG_VERDICT: u32 = 0;
    pub const REG_1: u32 = 1;
    pub const REG_2: u32 = 2;
    pub const REG32_00: u32 = 8;
}

/// nft's own ids in a set's user data (its `typeof` and byte orders: `libnftnl/udata.h`,
/// nftables' `expression.h`, `proto.h`, `datatype.h`).
mod nft_ids {
    pub const UDATA_SET_KEYBYTEORDER: u8 = 0;
    pub const UDATA_SET_DATABYTEORDER: u8 = 1;
    pub const UDATA_SET_KEY_TYPEOF: u8 = 3;
    pub const UDATA_SET_DATA_TYPEOF: u8 = 4;
    pub const UDATA_SET_DATA_INTERVAL: u8 = 6;
    pub const UDATA_TYPEOF_EXPR: u8 = 0;
    pub const UDATA_TYPEOF_DATA: u8 = 1;
    pub const UDATA_RULE_COMMENT: u8 = 0;
    pub const UDATA_TABLE_COMMENT: u8 = 0;
    pub const EXPR_PAYLOAD: u32 = 7;
    pub const EXPR_META: u32 = 9;
    pub const EXPR_CT: u32 = 12;
    pub const EXPR_CONCAT: u32 = 13;
    pub const PROTO_UDP: u32 = 6;
    pub const PROTO_TCP: u32 = 8;
    pub const PROTO_IP: u32 = 12;
    pub const IP_SADDR: u32 = 11;
    pub const IP_DADDR: u32 = 12;
    pub const TH_DPORT: u32 = 2;
    pub const BYTEORDER_HOST: u32 = 1;
    pub const BYTEORDER_BIG: u32 = 2;
    pub const TYPE_INTEGER: u32 = 4;
    pub const TYPE_IPADDR: u32 = 7;
    pub const TYPE_INET_SERVICE: u32 = 13;
    pub const TYPE_MARK: u32 = 19;
    pub const TYPE_IFNAME: u32 = 41;
    /// Bits per component in a concatenated type id.
    pub const TYPE_BITS: u32 = 6;
}

/// Elements per netlink message (one batch holds many messages).
const ELEMS_PER_MESSAGE: usize = 256;

/// Netlink attributes being written (`len`, `type`, payload padded to 4 bytes).
#[derive(Default)]
pub(crate) struct Nla(Vec<u8>);

impl Nla {
    /// The attributes written so far.
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
    pub(crate) fn put(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        let len = u16::try_from(4 + data.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0.extend_from_slice(&ty.to_ne_bytes());
        self.0.extend_from_slice(data);
        self.pad();
        self
    }
    fn pad(&mut self) {
        while !self.0.len().is_multiple_of(4) {
            self.0.push(0);
        }
    }
    /// A 32-bit attribute: nf_tables takes them in network byte order.
    fn u32(&mut self, ty: u16, v: u32) -> &mut Self {
        self.put(ty, &v.to_be_bytes())
    }
    pub(crate) fn str(&mut self, ty: u16, s: &str) -> &mut Self {
        let mut b = s.as_bytes().to_vec();
        b.push(0);
        self.put(ty, &b)
    }
    pub(crate) fn nest(&mut self, ty: u16, f: impl FnOnce(&mut Nla)) -> &mut Self {
        let mut inner = Nla::default();
        f(&mut inner);
        let len = u16::try_from(4 + inner.0.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_ne_bytes());
        self.0
            .extend_from_slice(&(ty | k::NLA_F_NESTED).to_ne_bytes());
        self.0.extend_from_slice(&inner.0);
        self
    }
    /// `NFTA_DATA_VALUE` inside a nest of type `ty`.
    fn value(&mut self, ty: u16, data: &[u8]) -> &mut Self {
        self.nest(ty, |n| {
            n.put(k::DATA_VALUE, data);
        })
    }
}

/// nft's user-data records (`type`, `len`, value; one byte each for type and length).
#[derive(Default)]
struct Udata(Vec<u8>);

impl Udata {
    fn put(&mut self, ty: u8, data: &[u8]) -> &mut Self {
        self.0.push(ty);
        self.0.push(u8::try_from(data.len()).unwrap_or(u8::MAX));
        self.0.extend_from_slice(data);
        self
    }
    fn u32(&mut self, ty: u8, v: u32) -> &mut Self {
        self.put(ty, &v.to_ne_bytes())
    }
    fn nest(&mut self, ty: u8, f: impl FnOnce(&mut Udata)) -> &mut Self {
        let mut inner = Udata::default();
        f(&mut inner);
        self.put(ty, &inner.0)
    }
}

/// An nf_tables transaction being written: messages numbered from the batch's first sequence
/// number, each remembered by what it does so a refusal can name it.
pub struct Batch {
    bytes: Vec<u8>,
    seq: u32,
    first: u32,
    labels: Vec<String>,
}

/// A finished batch: the datagram and, for each acknowledged message (sequence numbers from
/// `first` on), what it was.
#[derive(Debug, Clone)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    pub first: u32,
    pub labels: Vec<String>,
}

impl Encoded {
    /// What the message with sequence number `seq` did, for an error message.
    pub fn label(&self, seq: u32) -> &str {
        usize::try_from(seq.wrapping_sub(self.first))
            .ok()
            .and_then(|i| self.labels.get(i))
            .map_or("nftables batch", String::as_str)
    }
    /// Sequence numbers the kernel will acknowledge.
    pub fn acks(&self) -> u32 {
        u32::try_from(self.labels.len()).unwrap_or(u32::MAX)
    }
}

impl Batch {
    pub fn new(seq: u32) -> Self {
        let mut b = Batch {
            bytes: Vec::new(),
            seq,
            first: seq.wrapping_add(1),
            labels: Vec::new(),
        };
        b.frame(
            k::NFNL_MSG_BATCH_BEGIN,
            0,
            k::NLM_F_REQUEST,
            &Nla::default(),
        );
        b
    }

    fn frame(&mut self, ty: u16, family: u8, flags: u16, attrs: &Nla) {
        let len = u32::try_from(16 + 4 + attrs.0.len()).unwrap_or(u32::MAX);
        self.bytes.extend_from_slice(&len.to_ne_bytes());
        self.bytes.extend_from_slice(&ty.to_ne_bytes());
        self.bytes.extend_from_slice(&flags.to_ne_bytes());
        self.bytes.extend_from_slice(&self.seq.to_ne_bytes());
        self.bytes.extend_from_slice(&0u32.to_ne_bytes());
        // nfgenmsg: family, version 0, resource id (the subsystem, for batch messages).
        let res_id = if ty == k::NFNL_MSG_BATCH_BEGIN || ty == k::NFNL_MSG_BATCH_END {
            k::NFNL_SUBSYS_NFTABLES
        } else {
            0
        };
        self.bytes.push(family);
        self.bytes.push(0);
        self.bytes.extend_from_slice(&res_id.to_be_bytes());
        self.bytes.extend_from_slice(&attrs.0);
        self.seq = self.seq.wrapping_add(1);
    }

    /// One nf_tables message that asks for an acknowledgement.
    fn message(&mut self, msg: u16, family: Family, flags: u16, label: String, attrs: &Nla) {
        self.labels.push(label);
        self.frame(
            (k::NFNL_SUBSYS_NFTABLES << 8) | msg,
            family_id(family),
            k::NLM_F_REQUEST | k::NLM_F_ACK | flags,
            attrs,
        );
    }

    pub fn finish(mut self) -> Encoded {
        self.frame(k::NFNL_MSG_BATCH_END, 0, k::NLM_F_REQUEST, &Nla::default());
        Encoded {
            bytes: self.bytes,
            first: self.first,
            labels: self.labels,
        }
    }

    /// Delete a table (with everything in it).
    pub fn delete_table(&mut self, family: Family, name: &str) {
        let mut a = Nla::default();
        a.str(k::TABLE_NAME, name);
        self.message(
            k::DELTABLE,
            family,
            0,
            format!("delete table {family} {name}"),
            &a,
        );
    }

    /// Replace the table of that name (if any) by `table`: created empty first so the delete
    /// cannot fail, deleted, then declared and filled — `add table; delete table; table {…}`.
    pub fn replace_table(
        &mut self,
        table: &NftTable,
        seeds: Option<&Seeds>,
    ) -> Result<(), NftError> {
        let (family, name) = (table.family, table.name);
        let mut a = Nla::default();
        a.str(k::TABLE_NAME, name);
        self.message(
            k::NEWTABLE,
            family,
            k::NLM_F_CREATE,
            format!("add table {family} {name}"),
            &a,
        );
        self.delete_table(family, name);
        // The table carries its skeleton's stamp, what a restarted agent compares with its
        // plan before it trusts the table it finds (`netlink::NsLink::holds_table`).
        let mut stamped = Nla::default();
        stamped.str(k::TABLE_NAME, name);
        let mut u = Udata::default();
        let mut comment = stamp(table)?.into_bytes();
        comment.push(0);
        u.put(nft_ids::UDATA_TABLE_COMMENT, &comment);
        stamped.put(k::TABLE_USERDATA, &u.0);
        self.message(
            k::NEWTABLE,
            family,
            k::NLM_F_CREATE,
            format!("table {family} {name}"),
            &stamped,
        );
        self.skeleton(table)?;
        for (set_name, set) in &table.sets {
            let elems: Vec<&Elem> = set.elements.iter().collect();
            self.elements(table, set_name, set, &elems, true, seeds)?;
        }
        Ok(())
    }

    /// Chains, set declarations and rules: everything of a table but its elements.
    fn skeleton(&mut self, table: &NftTable) -> Result<(), NftError> {
        for chain in &table.chains {
            self.chain(table, chain);
        }
        let mut ids = SetIds(0);
        for (set_name, set) in &table.sets {
            self.named_set(table, set_name, set, ids.next())?;
        }
        for chain in &table.chains {
            for (i, rule) in chain.rules.iter().enumerate() {
                let compiled = compile(table, rule, &mut ids)?;
                for anon in &compiled.anonymous {
                    self.anonymous_set(table, anon)?;
                }
                self.rule(table, chain, i + 1, rule, &compiled.exprs);
            }
        }
        Ok(())
    }

    /// Element deletes, then adds (a map element whose value changed is both).
    pub fn set_elements(
        &mut self,
        table: &NftTable,
        deltas: &[SetDelta],
        seeds: Option<&Seeds>,
    ) -> Result<(), NftError> {
        for add in [false, true] {
            for d in deltas {
                let set = table
                    .sets
                    .get(d.set)
                    .ok_or_else(|| NftError::UnknownSet(d.set.to_string()))?;
                let list: Vec<&Elem> = if add { &d.add } else { &d.del }.iter().collect();
                self.elements(table, d.set, set, &list, add, seeds)?;
            }
        }
        Ok(())
    }

    fn chain(&mut self, table: &NftTable, chain: &Chain) {
        let mut a = Nla::default();
        a.str(k::CHAIN_TABLE, table.name)
            .str(k::CHAIN_NAME, chain.name);
        if let Some(base) = &chain.base {
            a.nest(k::CHAIN_HOOK, |h| {
                h.u32(k::HOOK_HOOKNUM, hook_num(base.hook))
                    .u32(k::HOOK_PRIORITY, priority(base.priority) as u32);
            });
            a.u32(
                k::CHAIN_POLICY,
                match base.policy {
                    Policy::Accept => k::NF_ACCEPT,
                    Policy::Drop => k::NF_DROP,
                },
            );
            a.str(
                k::CHAIN_TYPE,
                match base.kind {
                    ChainKind::Filter => "filter",
                    ChainKind::Nat => "nat",
                },
            );
        }
        self.message(
            k::NEWCHAIN,
            table.family,
            k::NLM_F_CREATE,
            format!("chain {}", chain.name),
            &a,
        );
    }

    fn named_set(
        &mut self,
        table: &NftTable,
        name: &str,
        set: &NftSet,
        id: u32,
    ) -> Result<(), NftError> {
        if set.interval && set.key.len() < 2 {
            // nft sends single-field intervals as start/end-flag pairs; no plan uses them.
            return Err(NftError::Unsupported(format!(
                "interval set {name} over one field"
            )));
        }
        let concat = set.key.len() > 1;
        let mut flags = 0;
        if !set.data.is_empty() {
            flags |= k::SET_MAP;
        }
        if set.interval {
            flags |= k::SET_INTERVAL;
            if concat {
                flags |= k::SET_CONCAT;
            }
        }
        let mut a = Nla::default();
        a.str(k::SET_TABLE, table.name)
            .str(k::SET_NAME, name)
            .u32(k::SET_FLAGS, flags)
            .u32(k::SET_KEY_TYPE, type_id(&set.key))
            .u32(k::SET_KEY_LEN, width(&set.key));
        if !set.data.is_empty() {
            a.u32(k::SET_DATA_TYPE, type_id(&set.data))
                .u32(k::SET_DATA_LEN, width(&set.data));
        }
        a.u32(k::SET_ID, id);
        if set.interval && concat {
            a.nest(k::SET_DESC, |d| {
                d.nest(k::SET_DESC_CONCAT, |c| {
                    for f in &set.key {
                        c.nest(k::LIST_ELEM, |e| {
                            e.u32(k::SET_FIELD_LEN, field_len(*f));
                        });
                    }
                });
            });
        }
        let mut u = Udata::default();
        u.u32(nft_ids::UDATA_SET_KEYBYTEORDER, byteorder(&set.key));
        if !set.data.is_empty() {
            u.u32(nft_ids::UDATA_SET_DATABYTEORDER, byteorder(&set.data));
        }
        u.nest(nft_ids::UDATA_SET_KEY_TYPEOF, |t| typeof_udata(t, &set.key));
        if !set.data.is_empty() {
            u.nest(nft_ids::UDATA_SET_DATA_TYPEOF, |t| {
                typeof_udata(t, &set.data)
            });
            u.u32(nft_ids::UDATA_SET_DATA_INTERVAL, 0);
        }
        a.put(k::SET_USERDATA, &u.0);
        if set.counter {
            // `counter;` in the declaration: every element gets its own counter.
            a.nest(k::SET_EXPR, |e| {
                e.str(k::EXPR_NAME, "counter");
                e.nest(k::EXPR_DATA, |_| {});
            });
        }
        let kind = if set.data.is_empty() { "set" } else { "map" };
        self.message(
            k::NEWSET,
            table.family,
            k::NLM_F_CREATE,
            format!("{kind} {name}"),
            &a,
        );
        Ok(())
    }

    fn anonymous_set(&mut self, table: &NftTable, anon: &Anonymous) -> Result<(), NftError> {
        let mut a = Nla::default();
        let size = u32::try_from(anon.elements.len()).unwrap_or(u32::MAX);
        a.str(k::SET_TABLE, table.name)
            .str(k::SET_NAME, anon.name());
        let mut u = Udata::default();
        match &anon.kind {
            AnonKind::Addrs(field) => {
                a.u32(k::SET_FLAGS, k::SET_ANONYMOUS | k::SET_CONSTANT)
                    .u32(k::SET_KEY_TYPE, nft_ids::TYPE_IPADDR)
                    .u32(k::SET_KEY_LEN, 4);
                u.u32(nft_ids::UDATA_SET_KEYBYTEORDER, nft_ids::BYTEORDER_BIG);
                u.nest(nft_ids::UDATA_SET_KEY_TYPEOF, |t| {
                    typeof_udata(t, &[*field])
                });
            }
            AnonKind::RoundRobin => {
                let data = [Field::IpDaddr, Field::Dport(L4::Tcp)];
                a.u32(
                    k::SET_FLAGS,
                    k::SET_ANONYMOUS | k::SET_CONSTANT | k::SET_MAP,
                )
                .u32(k::SET_KEY_TYPE, nft_ids::TYPE_INTEGER)
                .u32(k::SET_KEY_LEN, 4)
                .u32(k::SET_DATA_TYPE, type_id(&data))
                .u32(k::SET_DATA_LEN, width(&data));
                u.u32(nft_ids::UDATA_SET_KEYBYTEORDER, nft_ids::BYTEORDER_HOST)
                    .u32(nft_ids::UDATA_SET_DATABYTEORDER, 0)
                    .u32(nft_ids::UDATA_SET_DATA_INTERVAL, 0);
            }
        }
        a.u32(k::SET_ID, anon.id);
        a.nest(k::SET_DESC, |d| {
            d.u32(k::SET_DESC_SIZE, size);
        });
        a.put(k::SET_USERDATA, &u.0);
        self.message(
            k::NEWSET,
            table.family,
            k::NLM_F_CREATE,
            "anonymous set".to_string(),
            &a,
        );
        let mut e = Nla::default();
        e.str(k::ELEM_LIST_TABLE, table.name)
            .str(k::ELEM_LIST_SET, anon.name())
            .u32(k::ELEM_LIST_SET_ID, anon.id);
        e.nest(k::ELEM_LIST_ELEMENTS, |list| {
            for (key, data) in &anon.elements {
                list.nest(k::LIST_ELEM, |el| {
                    el.value(k::ELEM_KEY, key);
                    if !data.is_empty() {
                        el.value(k::ELEM_DATA, data);
                    }
                });
            }
        });
        self.message(
            k::NEWSETELEM,
            table.family,
            k::NLM_F_CREATE,
            "anonymous set elements".to_string(),
            &e,
        );
        Ok(())
    }

    fn elements(
        &mut self,
        table: &NftTable,
        name: &str,
        set: &NftSet,
        elems: &[&Elem],
        add: bool,
        seeds: Option<&Seeds>,
    ) -> Result<(), NftError> {
        // A counter set's element starts from what its counter last read (a table reloaded,
        // a namespace rebuilt, an endpoint back after leaving): counters never go backwards.
        let seeds = seeds.filter(|_| add && set.counter);
        for chunk in elems.chunks(ELEMS_PER_MESSAGE) {
            let mut encoded = Vec::with_capacity(chunk.len());
            for e in chunk {
                let ElemBytes { key, key_end, data } = ElemBytes::of(set, e)?;
                // A delete names the key only.
                let data = Some(data).filter(|d| add && !d.is_empty());
                let seed = seeds
                    .and_then(|s| s.get(name).and_then(|per| per.get(key.as_slice())))
                    .copied();
                encoded.push((key, key_end, data, seed));
            }
            let mut a = Nla::default();
            a.str(k::ELEM_LIST_TABLE, table.name)
                .str(k::ELEM_LIST_SET, name);
            a.nest(k::ELEM_LIST_ELEMENTS, |list| {
                for (key, key_end, data, seed) in &encoded {
                    list.nest(k::LIST_ELEM, |el| {
                        el.value(k::ELEM_KEY, key);
                        if let Some(end) = key_end {
                            el.value(k::ELEM_KEY_END, end);
                        }
                        if let Some(d) = data {
                            el.value(k::ELEM_DATA, d);
                        }
                        if let Some(c) = seed {
                            el.nest(k::ELEM_EXPR, |x| {
                                x.str(k::EXPR_NAME, "counter");
                                x.nest(k::EXPR_DATA, |d| {
                                    d.put(k::COUNTER_BYTES, &c.bytes.to_be_bytes());
                                    d.put(k::COUNTER_PACKETS, &c.packets.to_be_bytes());
                                });
                            });
                        }
                    });
                }
            });
            let (msg, flags, verb) = if add {
                (k::NEWSETELEM, k::NLM_F_CREATE, "add")
            } else {
                (k::DELSETELEM, 0, "delete")
            };
            self.message(
                msg,
                table.family,
                flags,
                format!("{verb} {} elements of {name}", chunk.len()),
                &a,
            );
        }
        Ok(())
    }

    fn rule(&mut self, table: &NftTable, chain: &Chain, n: usize, rule: &Rule, exprs: &[Expr]) {
        let mut a = Nla::default();
        a.str(k::RULE_TABLE, table.name)
            .str(k::RULE_CHAIN, chain.name);
        a.nest(k::RULE_EXPRESSIONS, |list| {
            for e in exprs {
                list.nest(k::LIST_ELEM, |el| e.write(el));
            }
        });
        if let Some(c) = &rule.comment {
            // As the text path writes it (no quotes), NUL-terminated.
            let mut text = c.replace('"', "'").into_bytes();
            text.truncate(127);
            text.push(0);
            let mut u = Udata::default();
            u.put(nft_ids::UDATA_RULE_COMMENT, &text);
            a.put(k::RULE_USERDATA, &u.0);
        }
        self.message(
            k::NEWRULE,
            table.family,
            k::NLM_F_CREATE | k::NLM_F_APPEND,
            format!("rule {n} of chain {} ({rule})", chain.name),
            &a,
        );
    }
}

/// A set element as the kernel holds it and lists it back (`NFT_MSG_GETSETELEM`): its key,
/// an interval element's last key, and a map element's value (empty for a plain set).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ElemBytes {
    pub key: Vec<u8>,
    pub key_end: Option<Vec<u8>>,
    pub data: Vec<u8>,
}

impl ElemBytes {
    /// Element `e` of `set`, encoded as it is sent.
    pub fn of(set: &NftSet, e: &Elem) -> Result<Self, NftError> {
        let (key, key_end) = if set.interval {
            let (start, end) = encode_range(e.key_vals())?;
            (start, Some(end))
        } else {
            (super::encode(e.key_vals())?, None)
        };
        Ok(ElemBytes {
            key,
            key_end,
            data: super::encode(e.data_vals())?,
        })
    }

    /// Every element of `set`, as the kernel would list them.
    pub fn all(set: &NftSet) -> Result<std::collections::BTreeSet<Self>, NftError> {
        set.elements.iter().map(|e| ElemBytes::of(set, e)).collect()
    }
}

/// The stamp a loaded table carries (its comment): a hash of the bytes its skeleton (chains,
/// set declarations, rules) encodes to. Two plans whose tables differ in anything but elements
/// stamp differently, and so do two agents that encode the same plan differently (an upgrade),
/// so a table found with the plan's stamp holds the plan's skeleton as this agent would write
/// it. (`DefaultHasher` may change between Rust releases: a new build then reloads each table
/// once.)
pub fn stamp(table: &NftTable) -> Result<String, NftError> {
    use std::hash::{Hash, Hasher};
    let mut b = Batch::new(0);
    b.skeleton(table)?;
    let mut h = std::hash::DefaultHasher::new();
    b.bytes.hash(&mut h);
    Ok(format!("vpcep skeleton {:016x}", h.finish()))
}

/// The one table `table` replaces in its namespace, plus the `stale` tables of ours deleted,
/// as one transaction.
pub fn table_batch(
    table: Option<&NftTable>,
    stale: &[(Family, String)],
    seq: u32,
    seeds: Option<&Seeds>,
) -> Result<Encoded, NftError> {
    let mut b = Batch::new(seq);
    for (family, name) in stale {
        b.delete_table(*family, name);
    }
    if let Some(t) = table {
        b.replace_table(t, seeds)?;
    }
    Ok(b.finish())
}

/// A family's netfilter protocol number (`NFPROTO_*`), as nf_tables messages carry it.
pub fn family_id(f: Family) -> u8 {
    match f {
        Family::Ip => k::NFPROTO_IPV4,
        Family::Inet => k::NFPROTO_INET,
    }
}

/// The family of a netfilter protocol number, where it is one of ours.
pub fn family_of(id: u8) -> Option<Family> {
    [Family::Ip, Family::Inet]
        .into_iter()
        .find(|f| family_id(*f) == id)
}

fn hook_num(h: Hook) -> u32 {
    match h {
        Hook::Prerouting => 0,
        Hook::Input => 1,
        Hook::Forward => 2,
        Hook::Output => 3,
        Hook::Postrouting => 4,
    }
}

fn priority(p: Priority) -> i32 {
    match p {
        Priority::Raw => -300,
        Priority::Mangle => -150,
        Priority::DstNat => -100,
        Priority::Filter => 0,
        Priority::SrcNat => 100,
        Priority::AfterSrcNat => 110,
    }
}

/// Bytes a selector loads.
fn field_len(f: Field) -> u32 {
    match f {
        Field::CtZone | Field::Dport(_) => 2,
        Field::CtMark | Field::MetaMark | Field::IpSaddr | Field::IpDaddr => 4,
        Field::Iifname | Field::Oifname => 16,
    }
}

/// Whether the value is in host byte order (integers nft keeps as the kernel does).
fn host_order(f: Field) -> bool {
    matches!(
        f,
        Field::CtZone | Field::CtMark | Field::MetaMark | Field::Iifname | Field::Oifname
    )
}

fn data_type(f: Field) -> u32 {
    match f {
        Field::CtZone => nft_ids::TYPE_INTEGER,
        Field::CtMark | Field::MetaMark => nft_ids::TYPE_MARK,
        Field::IpSaddr | Field::IpDaddr => nft_ids::TYPE_IPADDR,
        Field::Dport(_) => nft_ids::TYPE_INET_SERVICE,
        Field::Iifname | Field::Oifname => nft_ids::TYPE_IFNAME,
    }
}

/// A key's type id: one field's own, or a concatenation's packed six bits per component.
fn type_id(fields: &[Field]) -> u32 {
    fields
        .iter()
        .fold(0, |acc, f| (acc << nft_ids::TYPE_BITS) | data_type(*f))
}

/// A key's width: one field's length, or each component rounded up to a 32-bit register.
fn width(fields: &[Field]) -> u32 {
    match fields {
        [one] => field_len(*one),
        many => many.iter().map(|f| field_len(*f).div_ceil(4) * 4).sum(),
    }
}

fn byteorder(fields: &[Field]) -> u32 {
    match fields {
        [one] if host_order(*one) => nft_ids::BYTEORDER_HOST,
        [_] => nft_ids::BYTEORDER_BIG,
        _ => 0,
    }
}

/// nft's `typeof` record of one expression (or a concatenation of them).
fn typeof_udata(u: &mut Udata, fields: &[Field]) {
    fn one(u: &mut Udata, f: Field) {
        let (expr, data): (u32, Vec<u32>) = match f {
            Field::CtZone => (nft_ids::EXPR_CT, vec![k::CT_ZONE, u32::MAX]),
            Field::CtMark => (nft_ids::EXPR_CT, vec![k::CT_MARK, u32::MAX]),
            Field::IpSaddr => (
                nft_ids::EXPR_PAYLOAD,
                vec![nft_ids::PROTO_IP, nft_ids::IP_SADDR],
            ),
            Field::IpDaddr => (
                nft_ids::EXPR_PAYLOAD,
                vec![nft_ids::PROTO_IP, nft_ids::IP_DADDR],
            ),
            Field::Dport(L4::Tcp) => (
                nft_ids::EXPR_PAYLOAD,
                vec![nft_ids::PROTO_TCP, nft_ids::TH_DPORT],
            ),
            Field::Dport(L4::Udp) => (
                nft_ids::EXPR_PAYLOAD,
                vec![nft_ids::PROTO_UDP, nft_ids::TH_DPORT],
            ),
            Field::MetaMark => (nft_ids::EXPR_META, vec![k::META_MARK]),
            Field::Iifname => (nft_ids::EXPR_META, vec![k::META_IIFNAME]),
            Field::Oifname => (nft_ids::EXPR_META, vec![k::META_OIFNAME]),
        };
        u.u32(nft_ids::UDATA_TYPEOF_EXPR, expr);
        u.nest(nft_ids::UDATA_TYPEOF_DATA, |d| {
            for (i, v) in data.iter().enumerate() {
                d.u32(i as u8, *v);
            }
        });
    }
    match fields {
        [f] => one(u, *f),
        many => {
            u.u32(nft_ids::UDATA_TYPEOF_EXPR, nft_ids::EXPR_CONCAT);
            u.nest(nft_ids::UDATA_TYPEOF_DATA, |d| {
                for (i, f) in many.iter().enumerate() {
                    d.nest(i as u8, |item| one(item, *f));
                }
            });
        }
    }
}

/// An interval element's first and last key: prefixes become their first and last address,
/// other components stay as they are, and host-order integers go big-endian (interval sets
/// compare keys as bytes; the rule converts the packet's value the same way).
fn encode_range(vals: &[Val]) -> Result<(Vec<u8>, Vec<u8>), NftError> {
    let mut start = Vec::new();
    let mut end = Vec::new();
    for v in vals {
        match v {
            Val::Net(n) => {
                start.extend_from_slice(&n.network().octets());
                end.extend_from_slice(&n.broadcast().octets());
            }
            Val::Zone(z) => {
                start.extend_from_slice(&z.to_be_bytes());
                end.extend_from_slice(&z.to_be_bytes());
            }
            Val::Mark(m) => {
                start.extend_from_slice(&m.to_be_bytes());
                end.extend_from_slice(&m.to_be_bytes());
            }
            other => {
                other.write_bytes(&mut start)?;
                other.write_bytes(&mut end)?;
            }
        }
        if vals.len() > 1 {
            for b in [&mut start, &mut end] {
                while !b.len().is_multiple_of(4) {
                    b.push(0);
                }
            }
        }
    }
    Ok((start, end))
}

/// One kernel expression, as nft would emit it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expr {
    Meta {
        key: u32,
        dreg: u32,
    },
    MetaSet {
        key: u32,
        sreg: u32,
    },
    Ct {
        key: u32,
        dreg: u32,
    },
    CtSet {
        key: u32,
        sreg: u32,
        original: bool,
    },
    Payload {
        base: u32,
        offset: u32,
        len: u32,
        dreg: u32,
    },
    Cmp {
        op: u32,
        sreg: u32,
        data: Vec<u8>,
    },
    Bitwise {
        reg: u32,
        mask: Vec<u8>,
    },
    Hton {
        reg: u32,
        size: u32,
    },
    Lookup {
        set: String,
        id: Option<u32>,
        sreg: u32,
        dreg: Option<u32>,
        invert: bool,
    },
    Immediate {
        dreg: u32,
        data: Vec<u8>,
    },
    Verdict(u32),
    Nat {
        dnat: bool,
        addr: u32,
        proto: Option<u32>,
        flags: Option<u32>,
    },
    Masq,
    RejectTcpReset,
    Numgen {
        dreg: u32,
        modulus: u32,
    },
}

impl Expr {
    fn write(&self, el: &mut Nla) {
        let (name, data) = self.encode();
        el.str(k::EXPR_NAME, name);
        if let Some(data) = data {
            el.nest(k::EXPR_DATA, |d| d.0.extend_from_slice(&data.0));
        }
    }

    fn encode(&self) -> (&'static str, Option<Nla>) {
        let mut a = Nla::default();
        let name = match self {
            Expr::Meta { key, dreg } => {
                a.u32(2, *key).u32(1, *dreg);
                "meta"
            }
            Expr::MetaSet { key, sreg } => {
                a.u32(2, *key).u32(3, *sreg);
                "meta"
            }
            Expr::Ct { key, dreg } => {
                a.u32(2, *key).u32(1, *dreg);
                "ct"
            }
            Expr::CtSet {
                key,
                sreg,
                original,
            } => {
                a.u32(2, *key).u32(4, *sreg);
                if *original {
                    a.put(3, &[0]);
                }
                "ct"
            }
            Expr::Payload {
                base,
                offset,
                len,
                dreg,
            } => {
                a.u32(1, *dreg).u32(2, *base).u32(3, *offset).u32(4, *len);
                "payload"
            }
            Expr::Cmp { op, sreg, data } => {
                a.u32(1, *sreg).u32(2, *op).value(3, data);
                "cmp"
            }
            Expr::Bitwise { reg, mask } => {
                let len = u32::try_from(mask.len()).unwrap_or(4);
                a.u32(1, *reg)
                    .u32(2, *reg)
                    .u32(3, len)
                    .value(4, mask)
                    .value(5, &vec![0; mask.len()]);
                "bitwise"
            }
            Expr::Hton { reg, size } => {
                a.u32(1, *reg)
                    .u32(2, *reg)
                    .u32(3, k::BYTEORDER_HTON)
                    .u32(4, *size)
                    .u32(5, *size);
                "byteorder"
            }
            Expr::Lookup {
                set,
                id,
                sreg,
                dreg,
                invert,
            } => {
                a.str(1, set).u32(2, *sreg);
                if let Some(d) = dreg {
                    a.u32(3, *d);
                }
                if let Some(id) = id {
                    a.u32(4, *id);
                }
                if *invert {
                    a.u32(5, 1);
                }
                "lookup"
            }
            Expr::Immediate { dreg, data } => {
                a.u32(1, *dreg).value(2, data);
                "immediate"
            }
            Expr::Verdict(code) => {
                a.u32(1, k::REG_VERDICT).nest(2, |d| {
                    d.nest(k::DATA_VERDICT, |v| {
                        v.u32(k::VERDICT_CODE, *code);
                    });
                });
                "immediate"
            }
            Expr::Nat {
                dnat,
                addr,
                proto,
                flags,
            } => {
                a.u32(1, if *dnat { k::NAT_DNAT } else { k::NAT_SNAT })
                    .u32(2, u32::from(k::NFPROTO_IPV4))
                    .u32(3, *addr);
                if let Some(p) = proto {
                    a.u32(5, *p);
                }
                if let Some(f) = flags {
                    a.u32(7, *f);
                }
                "nat"
            }
            Expr::Masq => return ("masq", None),
            Expr::RejectTcpReset => {
                a.u32(1, k::REJECT_TCP_RST).put(2, &[0]);
                "reject"
            }
            Expr::Numgen { dreg, modulus } => {
                a.u32(1, *dreg).u32(2, *modulus).u32(3, 0);
                "numgen"
            }
        };
        (name, Some(a))
    }
}

/// Set ids within one batch (the kernel names anonymous sets; rules find them by id).
struct SetIds(u32);

impl SetIds {
    fn next(&mut self) -> u32 {
        self.0 += 1;
        self.0
    }
}

enum AnonKind {
    /// `ip saddr { a, b }` / `ip daddr { … }`
    Addrs(Field),
    /// `numgen inc mod n map { 0 : a . p, … }`
    RoundRobin,
}

/// An anonymous constant set a rule brings with it.
struct Anonymous {
    id: u32,
    kind: AnonKind,
    elements: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Anonymous {
    fn name(&self) -> &'static str {
        match self.kind {
            AnonKind::Addrs(_) => "__set%d",
            AnonKind::RoundRobin => "__map%d",
        }
    }
}

struct Compiled {
    exprs: Vec<Expr>,
    anonymous: Vec<Anonymous>,
}

/// Compiles one rule the way nft does: matches in order, each loading into register 1
/// (concatenations into consecutive 32-bit registers), with the protocol checks nft adds
/// before a field that needs them.
struct Compiler<'a> {
    table: &'a NftTable,
    ids: &'a mut SetIds,
    exprs: Vec<Expr>,
    anonymous: Vec<Anonymous>,
    l4: Option<Proto>,
    ipv4_checked: bool,
}

fn compile(table: &NftTable, rule: &Rule, ids: &mut SetIds) -> Result<Compiled, NftError> {
    let mut c = Compiler {
        table,
        ids,
        exprs: Vec::new(),
        anonymous: Vec::new(),
        l4: None,
        ipv4_checked: false,
    };
    for m in &rule.matches {
        c.matches(m)?;
    }
    for a in &rule.actions {
        c.action(a)?;
    }
    Ok(Compiled {
        exprs: c.exprs,
        anonymous: c.anonymous,
    })
}

fn proto_num(p: Proto) -> u8 {
    match p {
        Proto::Tcp => 6,
        Proto::Udp => 17,
        Proto::Icmp => 1,
    }
}

fn ifname_bytes(name: &str) -> Result<Vec<u8>, NftError> {
    let mut b = Vec::new();
    Val::Ifname(name.into()).write_bytes(&mut b)?;
    Ok(b)
}

impl Compiler<'_> {
    fn push(&mut self, e: Expr) {
        self.exprs.push(e);
    }

    fn cmp(&mut self, op: u32, data: impl Into<Vec<u8>>) {
        self.push(Expr::Cmp {
            op,
            sreg: k::REG_1,
            data: data.into(),
        });
    }

    /// `meta nfproto ipv4` before the first IPv4 header field of a rule in an `inet` table.
    fn need_ipv4(&mut self) {
        if self.table.family == Family::Inet && !self.ipv4_checked {
            self.push(Expr::Meta {
                key: k::META_NFPROTO,
                dreg: k::REG_1,
            });
            self.cmp(k::CMP_EQ, [k::NFPROTO_IPV4]);
            self.ipv4_checked = true;
        }
    }

    /// `meta l4proto p` before a transport header field, unless the rule already said so.
    fn need_l4(&mut self, p: Proto) {
        if self.l4 != Some(p) {
            self.l4_match(p);
        }
    }

    fn l4_match(&mut self, p: Proto) {
        self.push(Expr::Meta {
            key: k::META_L4PROTO,
            dreg: k::REG_1,
        });
        self.cmp(k::CMP_EQ, [proto_num(p)]);
        self.l4 = Some(p);
    }

    fn need(&mut self, f: Field) {
        match f {
            Field::IpSaddr | Field::IpDaddr => self.need_ipv4(),
            Field::Dport(l4) => self.need_l4(l4.into()),
            _ => {}
        }
    }

    fn load(&mut self, f: Field, dreg: u32) {
        let e = match f {
            Field::CtZone => Expr::Ct {
                key: k::CT_ZONE,
                dreg,
            },
            Field::CtMark => Expr::Ct {
                key: k::CT_MARK,
                dreg,
            },
            Field::IpSaddr | Field::IpDaddr => Expr::Payload {
                base: k::PAYLOAD_NETWORK,
                offset: if f == Field::IpSaddr { 12 } else { 16 },
                len: 4,
                dreg,
            },
            Field::Dport(_) => Expr::Payload {
                base: k::PAYLOAD_TRANSPORT,
                offset: 2,
                len: 2,
                dreg,
            },
            Field::MetaMark => Expr::Meta {
                key: k::META_MARK,
                dreg,
            },
            Field::Iifname => Expr::Meta {
                key: k::META_IIFNAME,
                dreg,
            },
            Field::Oifname => Expr::Meta {
                key: k::META_OIFNAME,
                dreg,
            },
        };
        self.push(e);
    }

    /// Load a (concatenated) key starting at register 1; `interval`: host-order integers are
    /// turned big-endian, as interval sets store them.
    fn load_key(&mut self, key: &[Field], interval: bool) {
        for f in key {
            self.need(*f);
        }
        let mut words = 0;
        for f in key {
            let reg = if words == 0 {
                k::REG_1
            } else {
                k::REG32_00 + words
            };
            self.load(*f, reg);
            if interval && host_order(*f) {
                self.push(Expr::Hton {
                    reg,
                    size: field_len(*f),
                });
            }
            words += field_len(*f).div_ceil(4);
        }
    }

    fn named(&self, name: &str) -> Result<&NftSet, NftError> {
        self.table
            .sets
            .get(name)
            .ok_or_else(|| NftError::UnknownSet(name.to_string()))
    }

    fn lookup(
        &mut self,
        key: &[Field],
        set: &str,
        dreg: Option<u32>,
        invert: bool,
    ) -> Result<(), NftError> {
        let interval = self.named(set)?.interval;
        self.load_key(key, interval);
        self.push(Expr::Lookup {
            set: set.to_string(),
            id: None,
            sreg: k::REG_1,
            dreg,
            invert,
        });
        Ok(())
    }

    fn iface(&mut self, key: u32, field: Field, i: &Iface) -> Result<(), NftError> {
        match i {
            Iface::InSet(set) => self.lookup(&[field], set, None, false)?,
            Iface::Name(n) => {
                self.push(Expr::Meta {
                    key,
                    dreg: k::REG_1,
                });
                self.cmp(k::CMP_EQ, ifname_bytes(n)?);
            }
            Iface::Prefix(p) => {
                self.push(Expr::Meta {
                    key,
                    dreg: k::REG_1,
                });
                self.cmp(k::CMP_EQ, p.as_bytes());
            }
        }
        Ok(())
    }

    fn addrs(&mut self, field: Field, a: &Addrs) {
        self.need_ipv4();
        let offset = if field == Field::IpSaddr { 12 } else { 16 };
        let load = |len| Expr::Payload {
            base: k::PAYLOAD_NETWORK,
            offset,
            len,
            dreg: k::REG_1,
        };
        match a {
            Addrs::One(ip) => {
                self.push(load(4));
                self.cmp(k::CMP_EQ, ip.octets());
            }
            Addrs::AnyOf(list) if list.len() == 1 => self.addrs(field, &Addrs::One(list[0])),
            Addrs::Net(n) if n.prefix_len() == 32 => self.addrs(field, &Addrs::One(n.addr())),
            Addrs::Net(n) => self.prefix(load, n),
            Addrs::AnyOf(list) => {
                let mut sorted: Vec<Ipv4Addr> = list.clone();
                sorted.sort();
                sorted.dedup();
                let id = self.ids.next();
                self.anonymous.push(Anonymous {
                    id,
                    kind: AnonKind::Addrs(field),
                    elements: sorted
                        .iter()
                        .map(|a| (a.octets().to_vec(), vec![]))
                        .collect(),
                });
                self.push(load(4));
                self.push(Expr::Lookup {
                    set: "__set%d".into(),
                    id: Some(id),
                    sreg: k::REG_1,
                    dreg: None,
                    invert: false,
                });
            }
        }
    }

    /// A prefix: whole bytes compare only those bytes; others mask the address first.
    fn prefix(&mut self, load: impl Fn(u32) -> Expr, n: &Ipv4Net) {
        let bits = u32::from(n.prefix_len());
        let net = n.network().octets();
        if bits > 0 && bits.is_multiple_of(8) {
            let bytes = (bits / 8) as usize;
            self.push(load(bits / 8));
            self.cmp(k::CMP_EQ, &net[..bytes]);
        } else {
            self.push(load(4));
            self.push(Expr::Bitwise {
                reg: k::REG_1,
                mask: n.netmask().octets().to_vec(),
            });
            self.cmp(k::CMP_EQ, net);
        }
    }

    fn bits_set(&mut self, ct_key: u32, bits: u32) {
        self.push(Expr::Ct {
            key: ct_key,
            dreg: k::REG_1,
        });
        self.push(Expr::Bitwise {
            reg: k::REG_1,
            mask: bits.to_ne_bytes().to_vec(),
        });
        self.cmp(k::CMP_NEQ, 0u32.to_ne_bytes());
    }

    fn matches(&mut self, m: &Match) -> Result<(), NftError> {
        match m {
            Match::Iifname(i) => self.iface(k::META_IIFNAME, Field::Iifname, i)?,
            Match::Oifname(i) => self.iface(k::META_OIFNAME, Field::Oifname, i)?,
            Match::FromLoopback | Match::ToLoopback => {
                let key = if matches!(m, Match::FromLoopback) {
                    k::META_IIF
                } else {
                    k::META_OIF
                };
                self.push(Expr::Meta {
                    key,
                    dreg: k::REG_1,
                });
                // The loopback device is index 1 in every namespace.
                self.cmp(k::CMP_EQ, 1u32.to_ne_bytes());
            }
            Match::Saddr(a) => self.addrs(Field::IpSaddr, a),
            Match::Daddr(a) => self.addrs(Field::IpDaddr, a),
            Match::L4proto(p) => self.l4_match(*p),
            Match::Dport(l4, ports) => {
                self.need_l4((*l4).into());
                self.load(Field::Dport(*l4), k::REG_1);
                match ports {
                    Ports::One(p) => self.cmp(k::CMP_EQ, p.to_be_bytes()),
                    Ports::Range(a, b) => {
                        self.cmp(k::CMP_GTE, a.to_be_bytes());
                        self.cmp(k::CMP_LTE, b.to_be_bytes());
                    }
                }
            }
            Match::CtState(states) => {
                let bits = states.iter().fold(0u32, |acc, s| {
                    acc | match s {
                        CtState::Invalid => 1,
                        CtState::Established => 2,
                        CtState::Related => 4,
                        CtState::New => 8,
                    }
                });
                self.bits_set(k::CT_STATE, bits);
            }
            Match::CtDirection(d) => {
                self.push(Expr::Ct {
                    key: k::CT_DIRECTION,
                    dreg: k::REG_1,
                });
                self.cmp(
                    k::CMP_EQ,
                    [match d {
                        CtDirection::Original => 0,
                        CtDirection::Reply => 1,
                    }],
                );
            }
            Match::CtMarked => {
                self.push(Expr::Ct {
                    key: k::CT_MARK,
                    dreg: k::REG_1,
                });
                self.cmp(k::CMP_NEQ, 0u32.to_ne_bytes());
            }
            // IPS_DST_NAT
            Match::CtStatusDnat => self.bits_set(k::CT_STATUS, 0x20),
            Match::Lookup { key, set, negate } => self.lookup(key, set, None, *negate)?,
        }
        Ok(())
    }

    /// A statement's value into register 1.
    fn value(&mut self, v: &Value) -> Result<(), NftError> {
        match v {
            Value::Field(f) => {
                self.need(*f);
                self.load(*f, k::REG_1);
            }
            Value::Map(m) => self.map(m)?,
        }
        Ok(())
    }

    fn map(&mut self, m: &MapLookup) -> Result<(), NftError> {
        self.lookup(&m.key, m.map, Some(k::REG_1), false)
    }

    /// Where a NAT map's port lands: the register after the address, when the map has one.
    fn port_reg(&self, m: &MapLookup) -> Result<Option<u32>, NftError> {
        let data = &self.named(m.map)?.data;
        Ok(data
            .iter()
            .any(|f| matches!(f, Field::Dport(_)))
            .then_some(k::REG32_00 + 1))
    }

    fn action(&mut self, a: &Action) -> Result<(), NftError> {
        match a {
            Action::Accept => self.push(Expr::Verdict(k::NF_ACCEPT)),
            Action::Drop => self.push(Expr::Verdict(k::NF_DROP)),
            Action::RejectTcpReset => {
                self.need_l4(Proto::Tcp);
                self.push(Expr::RejectTcpReset);
            }
            Action::Masquerade => self.push(Expr::Masq),
            Action::Dnat(DnatTo::Addr(ip, port)) => {
                self.push(Expr::Immediate {
                    dreg: k::REG_1,
                    data: ip.octets().to_vec(),
                });
                self.push(Expr::Immediate {
                    dreg: k::REG_2,
                    data: port.to_be_bytes().to_vec(),
                });
                self.push(Expr::Nat {
                    dnat: true,
                    addr: k::REG_1,
                    proto: Some(k::REG_2),
                    flags: Some(k::NAT_RANGE_PROTO_SPECIFIED),
                });
            }
            Action::Dnat(DnatTo::RoundRobin(members)) => {
                let id = self.ids.next();
                let mut elements = Vec::with_capacity(members.len());
                for (i, (ip, port)) in members.iter().enumerate() {
                    let key = u32::try_from(i).unwrap_or(u32::MAX).to_ne_bytes().to_vec();
                    let data = super::encode(&[Val::Ip(*ip), Val::Port(*port)])?;
                    elements.push((key, data));
                }
                self.anonymous.push(Anonymous {
                    id,
                    kind: AnonKind::RoundRobin,
                    elements,
                });
                self.push(Expr::Numgen {
                    dreg: k::REG_1,
                    modulus: u32::try_from(members.len()).unwrap_or(u32::MAX),
                });
                self.push(Expr::Lookup {
                    set: "__map%d".into(),
                    id: Some(id),
                    sreg: k::REG_1,
                    dreg: Some(k::REG_1),
                    invert: false,
                });
                self.push(Expr::Nat {
                    dnat: true,
                    addr: k::REG_1,
                    proto: Some(k::REG32_00 + 1),
                    flags: None,
                });
            }
            Action::Dnat(DnatTo::Map(m)) | Action::Snat(m) => {
                let proto = self.port_reg(m)?;
                self.map(m)?;
                self.push(Expr::Nat {
                    dnat: matches!(a, Action::Dnat(_)),
                    addr: k::REG_1,
                    proto,
                    flags: None,
                });
            }
            Action::SetMetaMark(v) => {
                self.value(v)?;
                self.push(Expr::MetaSet {
                    key: k::META_MARK,
                    sreg: k::REG_1,
                });
            }
            Action::SetCtMark(v) => {
                self.value(v)?;
                self.push(Expr::CtSet {
                    key: k::CT_MARK,
                    sreg: k::REG_1,
                    original: false,
                });
            }
            Action::SetCtOriginalZone(v) => {
                self.value(v)?;
                self.push(Expr::CtSet {
                    key: k::CT_ZONE,
                    sreg: k::REG_1,
                    original: true,
                });
            }
        }
        Ok(())
    }
}
