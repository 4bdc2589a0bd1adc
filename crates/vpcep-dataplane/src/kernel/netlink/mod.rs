//! Long-lived netlink sockets inside a namespace: route sockets for links and addresses,
//! nf_tables for set elements (and a packet socket for gratuitous ARP). A socket belongs to the
//! namespace of the thread that created it, so they are opened on a short-lived thread that has
//! entered the namespace (never on a tokio worker) and then driven from async code for as long as
//! the namespace lives.

use std::collections::HashMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::OwnedFd;
use std::time::Duration;

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_CREATE, NLM_F_REPLACE, NLM_F_REQUEST, NetlinkDeserializable, NetlinkHeader,
    NetlinkMessage, NetlinkPayload,
};
use netlink_sys::{AsyncSocket, AsyncSocketExt, TokioSocket, protocols};
use rtnetlink::AddressMessageBuilder;
use rtnetlink::packet_route::RouteNetlinkMessage;

use crate::kernel::linux::KernelError;
use crate::plan::nft::{Encoded, Family, NftTable, SetDelta, element_batch, table_batch};

pub mod counters;
pub mod events;
mod flows;
mod layout;
pub use flows::{cut_flows, kill_sockets};
pub use layout::{
    LinkState, Request, create_namespace, delete_namespace, is_stale_handle, write_sysctls,
    write_sysctls_here,
};

const ENOENT: i32 = 2;
const EADDRNOTAVAIL: i32 = 99;
/// How long the kernel may take to acknowledge a batch before we call the socket broken.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

pub(crate) fn err(ns: &str, what: &str, e: impl std::fmt::Display) -> KernelError {
    KernelError::Netlink {
        ns: ns.to_string(),
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Netlink sockets of one namespace (and a packet socket for gratuitous ARP).
///
/// Two sockets, driven by whoever holds the `NsLink` (no task of their own): requests and
/// dumps alike go out on `route_raw` and their answers are read there ([`NsLink::route_dump`]).
/// Why not rtnetlink's `Connection`: it is a task per socket with a 64 KiB read buffer and an
/// 8 KiB write buffer of its own, held for the namespace's life, for the few
/// link/address/route/rule dumps a converge reads back: at 1,013 namespaces (P4, 10,060
/// endpoints) 74 MB allocated (heaptrack), mostly never touched; the agent's resident heap went
/// 9.2 → 7.2 MB with the VPCs alone and 56.8 → 54.9 MB at its highest with every endpoint.
pub struct NsLink {
    ns: String,
    /// Route requests and dumps (links, addresses, routes, rules).
    route_raw: TokioSocket,
    nft: TokioSocket,
    packet: Option<OwnedFd>,
    seq: u32,
    /// What the nftables socket's send buffer holds at least (the kernel default is larger).
    sndbuf: usize,
    /// What the nftables and the address sockets' receive buffers hold at least.
    rcvbuf: [usize; 2],
    /// Interface name → (index, MAC), learnt on first use (forgotten when links may have changed).
    index: HashMap<String, (u32, Option<[u8; 6]>)>,
    /// The last listing of every link ([`NsLink::links`]), for a layout pass that knows no
    /// link changed since ([`NsLink::links_listed`]); dropped at the end of each pass.
    listing: Option<std::collections::BTreeMap<String, layout::LinkState>>,
}

impl std::fmt::Debug for NsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsLink").field("ns", &self.ns).finish()
    }
}

/// Run `f` on a new thread that has entered namespace `ns` (sockets it creates stay there).
pub fn in_namespace<T, F>(ns: &str, f: F) -> std::io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> std::io::Result<T> + Send + 'static,
{
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || -> std::io::Result<T> {
        let file = File::open(&path)?;
        nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        f()
    })
    .join()
    .map_err(|_| std::io::Error::other("namespace thread panicked"))?
}

/// Open a route socket and a netfilter socket inside `ns`, registered with `rt`'s reactor,
/// after running `first` there.
fn open_in<T: Send + 'static>(
    ns: &str,
    rt: tokio::runtime::Handle,
    first: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<([TokioSocket; 2], T)> {
    in_namespace(ns, move || {
        let done = first()?;
        let _reactor = rt.enter();
        let open = |protocol| -> std::io::Result<TokioSocket> {
            let mut s = TokioSocket::new(protocol)?;
            s.socket_mut().bind_auto()?;
            Ok(s)
        };
        Ok((
            [
                open(protocols::NETLINK_ROUTE)?,
                open(protocols::NETLINK_NETFILTER)?,
            ],
            done,
        ))
    })
}

impl NsLink {
    /// Must be called from within the tokio runtime (the sockets register with its reactor).
    pub fn open(ns: &str) -> Result<NsLink, KernelError> {
        Ok(Self::open_after(ns, || Ok(()))?.0)
    }

    /// [`NsLink::open`], running `first` inside the namespace beforehand on the same thread
    /// (e.g. its sysctls: one trip into the namespace instead of two). Blocks for a moment (a
    /// thread enters the namespace): call it from a blocking task when opening many.
    pub fn open_after<T: Send + 'static>(
        ns: &str,
        first: impl FnOnce() -> std::io::Result<T> + Send + 'static,
    ) -> Result<(NsLink, T), KernelError> {
        let ([route_raw, nft], done) = open_in(ns, tokio::runtime::Handle::current(), first)
            .map_err(|e| err(ns, "open sockets", e))?;
        let link = NsLink {
            ns: ns.to_string(),
            route_raw,
            nft,
            packet: None,
            seq: 1,
            sndbuf: 64 * 1024,
            rcvbuf: [RCVBUF_DEFAULT; 2],
            index: HashMap::new(),
            listing: None,
        };
        Ok((link, done))
    }

    pub fn forget_links(&mut self) {
        self.index.clear();
        self.listing = None;
    }

    async fn link_index(&mut self, dev: &str) -> Result<u32, KernelError> {
        Ok(self.link_of(dev).await?.0)
    }

    /// The link's index and MAC, from the cache or else from a dump of every link (which
    /// refreshes the cache: a converge looks up several links of a namespace at once).
    async fn link_of(&mut self, dev: &str) -> Result<(u32, Option<[u8; 6]>), KernelError> {
        if let Some(i) = self.index.get(dev) {
            return Ok(*i);
        }
        self.links().await?;
        self.index
            .get(dev)
            .copied()
            .ok_or_else(|| err(&self.ns, &format!("find link {dev}"), "no such link"))
    }

    /// Dump request `msg` on the route socket (`what` names it in errors): every answer, parsed.
    pub(super) async fn route_dump(
        &mut self,
        msg: RouteNetlinkMessage,
        what: &str,
    ) -> Result<Vec<RouteNetlinkMessage>, KernelError> {
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_DUMP;
        header.sequence_number = seq;
        let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        m.finalize();
        let mut req = vec![0; m.buffer_len()];
        m.serialize(&mut req);
        let mut out = Vec::new();
        let mut bad = None;
        let answered = answers(
            &self.route_raw,
            &self.ns,
            what,
            seq,
            &req,
            false,
            |kind, body| {
                let mut header = NetlinkHeader::default();
                header.message_type = kind;
                match RouteNetlinkMessage::deserialize(&header, body) {
                    Ok(m) => out.push(m),
                    Err(e) => bad = Some(e.to_string()),
                }
            },
        )
        .await?;
        if let Err(code) = answered {
            return Err(err(&self.ns, what, std::io::Error::from_raw_os_error(code)));
        }
        if let Some(e) = bad {
            return Err(err(&self.ns, what, e));
        }
        Ok(out)
    }

    /// Gratuitous ARP for `ip` on `dev`: a neighbour that asked for the address before it
    /// existed (its entry still incomplete) learns it now instead of on its next retry, a
    /// second later. Best effort: the address works without it.
    pub async fn announce(&mut self, dev: &str, ip: Ipv4Addr) -> Result<(), KernelError> {
        let (index, mac) = self.link_of(dev).await?;
        let Some(mac) = mac else {
            return Ok(());
        };
        if self.packet.is_none() {
            let fd = in_namespace(&self.ns, garp::open)
                .map_err(|e| err(&self.ns, "packet socket", e))?;
            self.packet = Some(fd);
        }
        if let Some(fd) = &self.packet {
            garp::send(fd, index, mac, ip)
                .map_err(|e| err(&self.ns, &format!("announce {ip}"), e))?;
        }
        Ok(())
    }

    /// `ip addr replace`.
    pub async fn add_addr(
        &mut self,
        dev: &str,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), KernelError> {
        self.program(None, &[], &[(dev, ip, prefix)], &[]).await
    }

    /// `ip addr del`, succeeding when the address is already gone.
    pub async fn del_addr(
        &mut self,
        dev: &str,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), KernelError> {
        self.program(None, &[], &[], &[(dev, ip, prefix)]).await
    }

    /// Apply element changes to `table` as one nf_tables transaction (all or nothing).
    pub async fn set_elements(
        &mut self,
        table: &NftTable,
        deltas: &[SetDelta],
    ) -> Result<(), KernelError> {
        self.program(Some(table), deltas, &[], &[]).await
    }

    /// Make room in a socket's receive buffer for `acks` acknowledgements (socket 0: nftables,
    /// 1: addresses). The kernel answers every request of a batch while it processes it, before
    /// we read any: an acknowledgement it cannot queue is dropped and the socket reports
    /// `ENOBUFS`, failing a change that the kernel made. Thousands of endpoints accepted at once
    /// are thousands of address requests in one datagram.
    fn make_ack_room(&mut self, which: usize, acks: u32) -> Result<(), KernelError> {
        let want = (acks as usize).saturating_mul(ACK_TRUESIZE) + RCVBUF_DEFAULT;
        let Some(have) = self.rcvbuf.get_mut(which) else {
            return Ok(());
        };
        if want > *have {
            let sock = if which == 0 {
                self.nft.socket_ref()
            } else {
                self.route_raw.socket_ref()
            };
            nix::sys::socket::setsockopt(sock, nix::sys::socket::sockopt::RcvBufForce, &want)
                .map_err(|e| err(&self.ns, "grow the receive buffer", e))?;
            *have = want;
        }
        Ok(())
    }

    /// The kernel takes a batch as one datagram: make room for it (a gateway's full table is
    /// larger than the default send buffer).
    fn make_room(&mut self, len: usize) -> Result<(), KernelError> {
        if len > self.sndbuf {
            let want = len + 4096;
            nix::sys::socket::setsockopt(
                self.nft.socket_ref(),
                nix::sys::socket::sockopt::SndBufForce,
                &want,
            )
            .map_err(|e| err(&self.ns, "grow the send buffer", e))?;
            self.sndbuf = want;
        }
        Ok(())
    }

    /// Replace the namespace's table by `table` and delete the `stale` tables of ours, as one
    /// nf_tables transaction (all or nothing, like one `nft -f` file).
    pub async fn load_tables(
        &mut self,
        table: Option<&NftTable>,
        stale: &[(Family, String)],
    ) -> Result<(), KernelError> {
        if table.is_none() && stale.is_empty() {
            return Ok(());
        }
        // Counters survive the reload: read them first, and start the new elements from them
        // (or from what was read last, when the table is gone: a namespace rebuilt).
        if let Some(t) = table.filter(|t| t.sets.values().any(|s| s.counter)) {
            counters::read(&self.nft, &self.ns, self.seq, t).await?;
            self.seq = self.seq.wrapping_add(t.sets.len() as u32);
        }
        let encoded = {
            let cache = counters::cache();
            table_batch(table, stale, self.seq, cache.get(&self.ns))
                .map_err(|e| err(&self.ns, "encode table", e))?
        };
        self.seq = self.seq.wrapping_add(encoded.acks() + 2);
        self.make_room(encoded.bytes.len())?;
        self.make_ack_room(0, encoded.acks())?;
        self.nft
            .send(&encoded.bytes)
            .await
            .map_err(|e| err(&self.ns, "send nftables batch", e))?;
        refusal(&self.ns, &self.nft, &encoded).await
    }

    /// One change of a namespace: the nf_tables element batch and the address requests are
    /// sent back to back, then both sockets' acknowledgements are awaited together, so the
    /// change costs about one kernel round trip. Adding an address that exists and deleting
    /// one that is gone are fine; anything else the kernel refuses is an error.
    pub async fn program(
        &mut self,
        table: Option<&NftTable>,
        deltas: &[SetDelta],
        add: &[(&str, Ipv4Addr, u8)],
        del: &[(&str, Ipv4Addr, u8)],
    ) -> Result<(), KernelError> {
        // Route requests (indexes first: a lookup is a round trip, but only once per link).
        let mut route_msgs = Vec::new();
        for (adding, list) in [(true, add), (false, del)] {
            for (dev, ip, prefix) in list {
                let index = self.link_index(dev).await?;
                let msg = AddressMessageBuilder::<Ipv4Addr>::new()
                    .index(index)
                    .address(*ip, *prefix)
                    .build();
                route_msgs.push(if adding {
                    (
                        RouteNetlinkMessage::NewAddress(msg),
                        NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
                    )
                } else {
                    (
                        RouteNetlinkMessage::DelAddress(msg),
                        NLM_F_REQUEST | NLM_F_ACK,
                    )
                });
            }
        }
        let route_first = self.seq;
        let mut route_bytes = Vec::new();
        for (msg, flags) in route_msgs {
            let mut header = NetlinkHeader::default();
            header.flags = flags;
            header.sequence_number = self.seq;
            self.seq = self.seq.wrapping_add(1);
            let mut m = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
            m.finalize();
            let start = route_bytes.len();
            route_bytes.resize(start + m.buffer_len(), 0);
            m.serialize(&mut route_bytes[start..]);
        }
        let route_count = self.seq.wrapping_sub(route_first);
        // The element batch.
        let mut batch = None;
        if let Some(table) = table
            && deltas
                .iter()
                .any(|d| !d.add.is_empty() || !d.del.is_empty())
        {
            let encoded = {
                let cache = counters::cache();
                element_batch(table, deltas, self.seq, cache.get(&self.ns))
                    .map_err(|e| err(&self.ns, "encode elements", e))?
            };
            self.seq = self.seq.wrapping_add(encoded.acks() + 2);
            self.make_room(encoded.bytes.len())?;
            self.make_ack_room(0, encoded.acks())?;
            self.nft
                .send(&encoded.bytes)
                .await
                .map_err(|e| err(&self.ns, "send nftables batch", e))?;
            batch = Some(encoded);
        }
        if route_count > 0 {
            self.make_ack_room(1, route_count)?;
            self.route_raw
                .send(&route_bytes)
                .await
                .map_err(|e| err(&self.ns, "send address requests", e))?;
        }
        let (nft, route) = tokio::join!(
            async {
                match &batch {
                    Some(b) => refusal(&self.ns, &self.nft, b).await,
                    None => Ok(()),
                }
            },
            acks(&self.route_raw, route_first, route_count)
        );
        nft?;
        let route = route.map_err(|e| err(&self.ns, "address requests", e))?;
        // Deleting an address that is already gone is what we wanted.
        if let Some(code) = route
            .iter()
            .find(|c| !(**c == EADDRNOTAVAIL || **c == ENOENT))
        {
            return Err(err(
                &self.ns,
                "addresses",
                std::io::Error::from_raw_os_error(*code),
            ));
        }
        Ok(())
    }
}

/// Wait for the acknowledgements of `count` requests numbered from `first` on; returns the
/// error numbers of those the kernel refused.
async fn acks(sock: &TokioSocket, first: u32, count: u32) -> std::io::Result<Vec<i32>> {
    Ok(acks_by_seq(sock, first, count)
        .await?
        .into_iter()
        .map(|(_, code)| code)
        .collect())
}

/// Wait for a batch's acknowledgements; the first message the kernel refused (the cause: the
/// rest of the batch is rolled back with it) becomes the error, named by what it did.
async fn refusal(ns: &str, sock: &TokioSocket, batch: &Encoded) -> Result<(), KernelError> {
    let refused = acks_by_seq(sock, batch.first, batch.acks())
        .await
        .map_err(|e| err(ns, "nftables batch", e))?;
    match refused
        .iter()
        .min_by_key(|(seq, _)| seq.wrapping_sub(batch.first))
    {
        Some((seq, code)) => Err(err(
            ns,
            batch.label(*seq),
            std::io::Error::from_raw_os_error(*code),
        )),
        None => Ok(()),
    }
}

/// [`acks`], with the sequence number of each refused request (which request it was).
async fn acks_by_seq(
    sock: &TokioSocket,
    first: u32,
    count: u32,
) -> std::io::Result<Vec<(u32, i32)>> {
    let mut pending = count;
    let mut refused = Vec::new();
    while pending > 0 {
        let (buf, _) = tokio::time::timeout(ACK_TIMEOUT, sock.recv_from_full())
            .await
            .map_err(|_| std::io::Error::other("no acknowledgement"))??;
        for (kind, seq, body) in nlmsgs(&buf) {
            // Answers to an earlier, abandoned request are skipped.
            if kind == NLMSG_ERROR && body.len() >= 4 && seq.wrapping_sub(first) < count {
                pending = pending.saturating_sub(1);
                let code = error_code(body);
                if code != 0 {
                    refused.push((seq, -code));
                }
            }
        }
    }
    Ok(refused)
}

/// The netlink messages of one datagram, as (type, sequence number, body); stops at the first
/// whose length does not fit.
fn nlmsgs(buf: &[u8]) -> impl Iterator<Item = (u16, u32, &[u8])> {
    let mut off = 0;
    std::iter::from_fn(move || {
        let head = buf.get(off..off + 16)?;
        let word = |at: usize| [head[at], head[at + 1], head[at + 2], head[at + 3]];
        let len = u32::from_ne_bytes(word(0)) as usize;
        if len < 16 {
            return None;
        }
        let body = buf.get(off + 16..off + len)?;
        off += len.div_ceil(4) * 4;
        Some((
            u16::from_ne_bytes([head[4], head[5]]),
            u32::from_ne_bytes(word(8)),
            body,
        ))
    })
}

/// The error number an `NLMSG_ERROR` body carries (0: an acknowledgement), negative as sent.
fn error_code(body: &[u8]) -> i32 {
    body.get(..4)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map_or(0, i32::from_ne_bytes)
}

/// What one queued acknowledgement takes of a receive buffer (the skb's true size, headers
/// included; a success acknowledgement echoes only the request's header), with a margin.
const ACK_TRUESIZE: usize = 1024;
/// Receive buffer assumed before we grow it (the kernel's default `rmem_default` is 208 KiB).
const RCVBUF_DEFAULT: usize = 208 * 1024;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_DUMP: u16 = 0x300;

/// One netlink message: a header (`kind`, `flags`, `seq`, port 0) and `body`.
fn message(kind: u16, flags: u16, seq: u32, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(16 + body.len()).unwrap_or(u32::MAX);
    let mut m = Vec::with_capacity(16 + body.len().div_ceil(4) * 4);
    m.extend_from_slice(&len.to_ne_bytes());
    m.extend_from_slice(&kind.to_ne_bytes());
    m.extend_from_slice(&flags.to_ne_bytes());
    m.extend_from_slice(&seq.to_ne_bytes());
    m.extend_from_slice(&0u32.to_ne_bytes());
    m.extend_from_slice(body);
    while !m.len().is_multiple_of(4) {
        m.push(0);
    }
    m
}

/// The netlink attributes in `b`, as (type without the nested/byte-order flags, payload); stops
/// at the first one whose length does not fit.
fn nlattrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let head = b.get(..4)?;
        let len = usize::from(u16::from_ne_bytes([head[0], head[1]]));
        let kind = u16::from_ne_bytes([head[2], head[3]]) & 0x3fff;
        let payload = b.get(4..len)?;
        b = b.get(len.div_ceil(4) * 4..).unwrap_or_default();
        Some((kind, payload))
    })
}

/// The first attribute of type `kind` in `b`.
fn nlattr(b: &[u8], kind: u16) -> Option<&[u8]> {
    nlattrs(b).find_map(|(k, p)| (k == kind).then_some(p))
}

/// Send the dump request `req` (sequence number `seq`) and hand every answer's (type, body) to
/// `each` until the dump is done; the kernel's refusal is the error.
async fn dump(
    sock: &TokioSocket,
    ns: &str,
    what: &str,
    seq: u32,
    req: &[u8],
    each: impl FnMut(u16, &[u8]),
) -> Result<(), KernelError> {
    dump_answers(sock, ns, what, seq, req, each)
        .await?
        .map_err(|code| err(ns, what, std::io::Error::from_raw_os_error(code)))
}

/// [`dump`], with the kernel's refusal as its errno inside `Ok`, for callers that tell "not
/// there" (ENOENT) from a failure.
async fn dump_answers(
    sock: &TokioSocket,
    ns: &str,
    what: &str,
    seq: u32,
    req: &[u8],
    each: impl FnMut(u16, &[u8]),
) -> Result<Result<(), i32>, KernelError> {
    answers(sock, ns, what, seq, req, false, each).await
}

/// [`dump_answers`], or with `ends_at_ack` for a request that is not a dump but asks for an
/// acknowledgement (`NLM_F_ACK`): its answers end at the acknowledgement, not `NLMSG_DONE`.
pub(super) async fn answers(
    sock: &TokioSocket,
    ns: &str,
    what: &str,
    seq: u32,
    req: &[u8],
    ends_at_ack: bool,
    mut each: impl FnMut(u16, &[u8]),
) -> Result<Result<(), i32>, KernelError> {
    sock.send(req).await.map_err(|e| err(ns, what, e))?;
    loop {
        let (buf, _) = tokio::time::timeout(ACK_TIMEOUT, sock.recv_from_full())
            .await
            .map_err(|_| err(ns, what, "no answer"))?
            .map_err(|e| err(ns, what, e))?;
        for (kind, this, body) in nlmsgs(&buf) {
            // Answers to an earlier, abandoned request are skipped.
            if this != seq {
                continue;
            }
            match kind {
                NLMSG_DONE => return Ok(Ok(())),
                NLMSG_ERROR => {
                    let code = -error_code(body);
                    // An acknowledgement, not a refusal.
                    if code == 0 {
                        if ends_at_ack {
                            return Ok(Ok(()));
                        }
                        continue;
                    }
                    return Ok(Err(code));
                }
                k => each(k, body),
            }
        }
    }
}

/// Gratuitous ARP over an `AF_PACKET` socket (what `arping -U` sends), in-process so an
/// announcement costs a syscall, not a process.
mod garp {
    use std::net::Ipv4Addr;
    use std::os::fd::{AsRawFd, OwnedFd};

    use nix::sys::socket::{AddressFamily, SockFlag, SockType, socket};

    const ETH_P_ARP: u16 = 0x0806;

    /// A packet socket that only sends (protocol 0: it receives nothing).
    pub fn open() -> std::io::Result<OwnedFd> {
        socket(
            AddressFamily::Packet,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .map_err(std::io::Error::from)
    }

    /// ARP request "who-has ip tell ip" from `mac`, broadcast on interface `ifindex`.
    pub fn frame(mac: [u8; 6], ip: Ipv4Addr) -> [u8; 28] {
        let mut p = [0u8; 28];
        p[0..2].copy_from_slice(&1u16.to_be_bytes()); // Ethernet
        p[2..4].copy_from_slice(&0x0800u16.to_be_bytes()); // IPv4
        p[4] = 6;
        p[5] = 4;
        p[6..8].copy_from_slice(&1u16.to_be_bytes()); // request
        p[8..14].copy_from_slice(&mac);
        p[14..18].copy_from_slice(&ip.octets());
        // target hardware address stays zero
        p[24..28].copy_from_slice(&ip.octets());
        p
    }

    #[allow(unsafe_code)]
    pub fn send(fd: &OwnedFd, ifindex: u32, mac: [u8; 6], ip: Ipv4Addr) -> std::io::Result<()> {
        let payload = frame(mac, ip);
        // SAFETY: `sockaddr_ll` is plain old data, so all-zero is a valid value; every field we
        // set is in range.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_protocol = ETH_P_ARP.to_be();
        to.sll_ifindex = i32::try_from(ifindex).map_err(std::io::Error::other)?;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&[0xff; 6]);
        // SAFETY: the buffer and the address are valid for the lengths passed, and `fd` is an
        // open socket we own for the duration of the call.
        let sent = unsafe {
            libc::sendto(
                fd.as_raw_fd(),
                payload.as_ptr().cast(),
                payload.len(),
                0,
                (&raw const to).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn announcement_asks_for_its_own_address() {
            let p = super::frame([2, 0, 0, 0, 0, 1], "10.0.0.5".parse().expect("ip"));
            assert_eq!(&p[..8], &[0, 1, 8, 0, 6, 4, 0, 1]);
            assert_eq!(&p[8..14], &[2, 0, 0, 0, 0, 1]);
            assert_eq!(&p[14..18], &[10, 0, 0, 5]);
            assert_eq!(&p[18..24], &[0; 6]);
            assert_eq!(&p[24..28], &[10, 0, 0, 5]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_split_into_messages_and_stop_at_a_truncated_one() {
        let mut buf = message(NLMSG_ERROR, 0, 7, &0i32.to_ne_bytes());
        buf.extend(message(NLMSG_ERROR, 0, 8, &(-2i32).to_ne_bytes()));
        buf.extend(message(NLMSG_DONE, 0, 9, &[1, 2, 3]));
        let mut truncated = message(NLMSG_DONE, 0, 10, &[0; 8]);
        truncated.truncate(20);
        buf.extend(truncated);
        let got: Vec<(u16, u32, i32)> = nlmsgs(&buf)
            .map(|(kind, seq, body)| (kind, seq, error_code(body)))
            .collect();
        assert_eq!(
            got,
            vec![
                (NLMSG_ERROR, 7, 0),
                (NLMSG_ERROR, 8, -2),
                (NLMSG_DONE, 9, 0)
            ]
        );
        assert_eq!(nlmsgs(&[0; 10]).count(), 0);
    }
}
