//! Long-lived netlink sockets inside a namespace: rtnetlink for addresses, nf_tables for set
//! elements. A netlink socket belongs to the namespace of the thread that created it, so each
//! pair is opened on a short-lived thread that has entered the namespace (never on a tokio
//! worker) and then driven from async code for as long as the namespace lives.

use std::collections::HashMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::time::Duration;

use futures_util::TryStreamExt;
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::NetfilterMessage;
use netlink_sys::{AsyncSocket, AsyncSocketExt, TokioSocket, protocols};
use rtnetlink::AddressMessageBuilder;

use crate::linux::KernelError;
use crate::nft::{NftTable, SetDelta, element_batch};

const EEXIST: i32 = 17;
const ENOENT: i32 = 2;
const EADDRNOTAVAIL: i32 = 99;
/// How long the kernel may take to acknowledge a batch before we call the socket broken.
const ACK_TIMEOUT: Duration = Duration::from_secs(2);

fn err(ns: &str, what: &str, e: impl std::fmt::Display) -> KernelError {
    KernelError::Netlink {
        ns: ns.to_string(),
        what: what.to_string(),
        message: e.to_string(),
    }
}

/// Netlink sockets of one namespace.
pub struct NsLink {
    ns: String,
    route: rtnetlink::Handle,
    nft: TokioSocket,
    seq: u32,
    /// Interface name → index, learnt on first use (forgotten when links may have changed).
    index: HashMap<String, u32>,
}

impl std::fmt::Debug for NsLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NsLink").field("ns", &self.ns).finish()
    }
}

/// Open a route and a netfilter socket inside `/run/netns/{ns}`, registered with `rt`'s reactor.
fn open_in(ns: &str, rt: tokio::runtime::Handle) -> std::io::Result<(TokioSocket, TokioSocket)> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || -> std::io::Result<(TokioSocket, TokioSocket)> {
        let _reactor = rt.enter();
        let f = File::open(&path)?;
        nix::sched::setns(&f, nix::sched::CloneFlags::CLONE_NEWNET)
            .map_err(std::io::Error::from)?;
        let mut route = TokioSocket::new(protocols::NETLINK_ROUTE)?;
        route.socket_mut().bind_auto()?;
        let mut nft = TokioSocket::new(protocols::NETLINK_NETFILTER)?;
        nft.socket_mut().bind_auto()?;
        Ok((route, nft))
    })
    .join()
    .map_err(|_| std::io::Error::other("namespace thread panicked"))?
}

impl NsLink {
    /// Must be called from within the tokio runtime (the sockets register with its reactor).
    pub fn open(ns: &str) -> Result<NsLink, KernelError> {
        let (route, nft) = open_in(ns, tokio::runtime::Handle::current())
            .map_err(|e| err(ns, "open sockets", e))?;
        let (conn, route, _) = rtnetlink::from_socket(route);
        tokio::spawn(conn);
        Ok(NsLink {
            ns: ns.to_string(),
            route,
            nft,
            seq: 1,
            index: HashMap::new(),
        })
    }

    pub fn forget_links(&mut self) {
        self.index.clear();
    }

    async fn link_index(&mut self, dev: &str) -> Result<u32, KernelError> {
        if let Some(i) = self.index.get(dev) {
            return Ok(*i);
        }
        let link = self
            .route
            .link()
            .get()
            .match_name(dev.to_string())
            .execute()
            .try_next()
            .await
            .map_err(|e| err(&self.ns, &format!("find link {dev}"), e))?
            .ok_or_else(|| err(&self.ns, &format!("find link {dev}"), "no such link"))?;
        self.index.insert(dev.to_string(), link.header.index);
        Ok(link.header.index)
    }

    /// `ip addr add`, succeeding when the address is already there.
    pub async fn add_addr(
        &mut self,
        dev: &str,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), KernelError> {
        let index = self.link_index(dev).await?;
        match self
            .route
            .address()
            .add(index, ip.into(), prefix)
            .execute()
            .await
        {
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -EEXIST => Ok(()),
            r => r.map_err(|e| err(&self.ns, &format!("add {ip}/{prefix} on {dev}"), e)),
        }
    }

    /// `ip addr del`, succeeding when the address is already gone.
    pub async fn del_addr(
        &mut self,
        dev: &str,
        ip: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), KernelError> {
        let index = self.link_index(dev).await?;
        let msg = AddressMessageBuilder::<Ipv4Addr>::new()
            .index(index)
            .address(ip, prefix)
            .build();
        match self.route.address().del(msg).execute().await {
            Err(rtnetlink::Error::NetlinkError(e))
                if [-EADDRNOTAVAIL, -ENOENT].contains(&e.raw_code()) =>
            {
                Ok(())
            }
            r => r.map_err(|e| err(&self.ns, &format!("delete {ip}/{prefix} on {dev}"), e)),
        }
    }

    /// Apply element changes to `table` as one nf_tables transaction and wait for the kernel's
    /// verdict on every message (all applied, or none).
    pub async fn set_elements(
        &mut self,
        table: &NftTable,
        deltas: &[SetDelta],
    ) -> Result<(), KernelError> {
        if deltas.iter().all(|d| d.add.is_empty() && d.del.is_empty()) {
            return Ok(());
        }
        let first = self.seq;
        let (bytes, acks) =
            element_batch(table, deltas, first).map_err(|e| err(&self.ns, "encode elements", e))?;
        self.seq = self.seq.wrapping_add(acks + 2);
        self.nft
            .send(&bytes)
            .await
            .map_err(|e| err(&self.ns, "send nftables batch", e))?;
        let mut pending = acks;
        let mut failure: Option<String> = None;
        while pending > 0 {
            let (buf, _) = tokio::time::timeout(ACK_TIMEOUT, self.nft.recv_from_full())
                .await
                .map_err(|_| err(&self.ns, "nftables batch", "no acknowledgement"))?
                .map_err(|e| err(&self.ns, "receive nftables ack", e))?;
            let mut off = 0;
            while off + 16 <= buf.len() {
                let len = u32::from_ne_bytes([buf[off], buf[off + 1], buf[off + 2], buf[off + 3]])
                    as usize;
                if len < 16 || off + len > buf.len() {
                    break;
                }
                let msg = NetlinkMessage::<NetfilterMessage>::deserialize(&buf[off..off + len]);
                off += len.div_ceil(4) * 4;
                let Ok(msg) = msg else { continue };
                let seq = msg.header.sequence_number;
                if seq.wrapping_sub(first) > acks + 1 {
                    continue; // an answer to an earlier, abandoned batch
                }
                if let NetlinkPayload::Error(e) = msg.payload {
                    pending = pending.saturating_sub(1);
                    if let Some(code) = e.code
                        && failure.is_none()
                    {
                        failure = Some(std::io::Error::from_raw_os_error(-code.get()).to_string());
                    }
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(why) => Err(err(
                &self.ns,
                &format!("nftables elements of {}", table.name),
                why,
            )),
        }
    }
}
