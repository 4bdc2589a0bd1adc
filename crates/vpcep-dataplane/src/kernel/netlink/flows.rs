//! Cutting flows without a process: conntrack entries deleted over ctnetlink (what
//! `conntrack -D --orig-zone Z --orig-dst IP` does) and TCP sockets destroyed over sock_diag
//! (what `ss -K dst IP` does), on short-lived sockets opened inside the namespace.

use std::net::Ipv4Addr;

use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST};
use netlink_sys::{AsyncSocket, AsyncSocketExt, TokioSocket, protocols};

use super::{NLM_F_DUMP, acks_by_seq, dump, err, in_namespace, message, nlattr};
use crate::kernel::linux::KernelError;
use crate::plan::nft::Nla;

const ENOENT: i32 = 2;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const IPPROTO_TCP: u8 = 6;
/// Requests per datagram (their acknowledgements must fit the receive buffer).
const CHUNK: usize = 64;

mod ct {
    pub const NFNL_SUBSYS_CTNETLINK: u16 = 1;
    pub const IPCTNL_MSG_CT_NEW: u16 = 0;
    pub const IPCTNL_MSG_CT_GET: u16 = 1;
    pub const IPCTNL_MSG_CT_DELETE: u16 = 2;
    pub const CTA_TUPLE_ORIG: u16 = 1;
    pub const CTA_ZONE: u16 = 18;
    pub const CTA_TUPLE_IP: u16 = 1;
    pub const CTA_TUPLE_ZONE: u16 = 3;
    pub const CTA_IP_V4_DST: u16 = 2;
    pub const NLA_F_NESTED: u16 = 0x8000;
}

mod diag {
    pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
    pub const SOCK_DESTROY: u16 = 21;
    /// `struct inet_diag_sockid`: ports, addresses, interface, cookie.
    pub const SOCKID_LEN: usize = 48;
    /// `struct inet_diag_msg` up to and including its `inet_diag_sockid`.
    pub const MSG_HEAD: usize = 4 + SOCKID_LEN;
    /// Where the destination address starts in a `inet_diag_sockid`.
    pub const DST_AT: usize = 4 + 16;
    pub const ALL_STATES: u32 = u32::MAX;
}

/// A netlink socket of `protocol` opened inside `ns`, registered with the current runtime.
fn open(ns: &str, protocol: isize) -> Result<TokioSocket, KernelError> {
    let rt = tokio::runtime::Handle::current();
    in_namespace(ns, move || {
        let _reactor = rt.enter();
        let mut s = TokioSocket::new(protocol)?;
        s.socket_mut().bind_auto()?;
        Ok(s)
    })
    .map_err(|e| err(ns, "open socket", e))
}

/// Send `reqs` (one body each, numbered from `first`) as a few datagrams of back-to-back
/// messages of type `kind`, awaiting the acknowledgements of each; "already gone" is fine.
/// Returns how many the kernel carried out.
async fn requests(
    sock: &TokioSocket,
    ns: &str,
    what: &str,
    kind: u16,
    first: u32,
    reqs: &[Vec<u8>],
) -> Result<usize, KernelError> {
    let mut seq = first;
    let mut done = 0;
    let mut refused = None;
    for chunk in reqs.chunks(CHUNK) {
        let start = seq;
        let mut bytes = Vec::new();
        for body in chunk {
            bytes.extend_from_slice(&message(kind, NLM_F_REQUEST | NLM_F_ACK, seq, body));
            seq = seq.wrapping_add(1);
        }
        let count = seq.wrapping_sub(start);
        sock.send(&bytes).await.map_err(|e| err(ns, what, e))?;
        let codes = acks_by_seq(sock, start, count)
            .await
            .map_err(|e| err(ns, what, e))?;
        done += chunk.len().saturating_sub(codes.len());
        if let Some((_, code)) = codes.iter().find(|(_, c)| *c != ENOENT)
            && refused.is_none()
        {
            refused = Some(*code);
        }
    }
    match refused {
        Some(code) => Err(err(ns, what, std::io::Error::from_raw_os_error(code))),
        None => Ok(done),
    }
}

/// The original-direction tuple (the `CTA_TUPLE_ORIG` payload) of a conntrack entry whose
/// original zone is `zone` and original destination is `ip` (`body`: after the nfgenmsg).
/// The zone is the original tuple's own (`CTA_TUPLE_ZONE`, set for that direction only), else
/// the entry's (`CTA_ZONE`, both directions), else 0. The flag tells whether the tuple carries
/// its zone (then a delete must not name it again in `CTA_ZONE`: the kernel refuses both).
fn ct_match(body: &[u8], zone: u16, ip: Ipv4Addr) -> Option<(&[u8], bool)> {
    let be16 = |p: &[u8]| p.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let orig = nlattr(body, ct::CTA_TUPLE_ORIG)?;
    let dst = nlattr(nlattr(orig, ct::CTA_TUPLE_IP)?, ct::CTA_IP_V4_DST)?;
    if dst != ip.octets() {
        return None;
    }
    let tuple_zone = nlattr(orig, ct::CTA_TUPLE_ZONE).and_then(be16);
    let entry_zone = tuple_zone
        .or_else(|| nlattr(body, ct::CTA_ZONE).and_then(be16))
        .unwrap_or(0);
    (entry_zone == zone).then_some((orig, tuple_zone.is_some()))
}

/// Delete the conntrack entries of `ns` whose original zone is `zone` and original destination
/// is `ip`: one dump, then the deletes back to back. Returns how many were deleted.
pub async fn cut_flows(ns: &str, zone: u16, ip: Ipv4Addr) -> Result<usize, KernelError> {
    let sock = open(ns, protocols::NETLINK_NETFILTER)?;
    let subsys = ct::NFNL_SUBSYS_CTNETLINK << 8;
    // nfgenmsg: family, version 0, resource id 0.
    let nfgen = [AF_INET, 0, 0, 0];
    let req = message(
        subsys | ct::IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_DUMP,
        1,
        &nfgen,
    );
    let mut dels = Vec::new();
    dump(&sock, ns, "list conntrack", 1, &req, |kind, body| {
        if kind != subsys | ct::IPCTNL_MSG_CT_NEW {
            return;
        }
        if let Some((orig, tuple_zone)) = body.get(4..).and_then(|b| ct_match(b, zone, ip)) {
            // The tuple as the kernel gave it (its zone with it, when it has one).
            let mut a = Nla::default();
            a.put(ct::CTA_TUPLE_ORIG | ct::NLA_F_NESTED, orig);
            if !tuple_zone {
                a.put(ct::CTA_ZONE, &zone.to_be_bytes());
            }
            let mut del = nfgen.to_vec();
            del.extend_from_slice(a.bytes());
            dels.push(del);
        }
    })
    .await?;
    requests(
        &sock,
        ns,
        "delete conntrack entries",
        subsys | ct::IPCTNL_MSG_CT_DELETE,
        2,
        &dels,
    )
    .await
}

/// `struct inet_diag_req_v2` for TCP sockets of `family` in every state, for socket `id`.
fn diag_req(family: u8, id: &[u8; diag::SOCKID_LEN]) -> Vec<u8> {
    let mut r = vec![family, IPPROTO_TCP, 0, 0];
    r.extend_from_slice(&diag::ALL_STATES.to_ne_bytes());
    r.extend_from_slice(id);
    r
}

/// The `inet_diag_sockid` (cookie included) of a socket whose peer is `ip` (`body`: an
/// `inet_diag_msg`); an IPv6 socket's peer is `ip` as `::ffff:a.b.c.d`.
fn sock_to(body: &[u8], ip: Ipv4Addr) -> Option<[u8; diag::SOCKID_LEN]> {
    let head = body.get(..diag::MSG_HEAD)?;
    let id: [u8; diag::SOCKID_LEN] = head.get(4..)?.try_into().ok()?;
    let dst = &id[diag::DST_AT..diag::DST_AT + 16];
    let matches = match head[0] {
        AF_INET => dst[..4] == ip.octets(),
        AF_INET6 => dst == ip.to_ipv6_mapped().octets(),
        _ => false,
    };
    matches.then_some(id)
}

/// Destroy the TCP sockets of `ns` whose peer is `ip` (IPv4, and IPv6 sockets talking to it
/// mapped): one dump per family, then a `SOCK_DESTROY` per socket, by its exact id. Returns how
/// many were destroyed.
pub async fn kill_sockets(ns: &str, ip: Ipv4Addr) -> Result<usize, KernelError> {
    let sock = open(ns, protocols::NETLINK_SOCK_DIAG)?;
    let mut seq = 1u32;
    let mut killed = 0;
    for family in [AF_INET, AF_INET6] {
        let req = message(
            diag::SOCK_DIAG_BY_FAMILY,
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
            &diag_req(family, &[0; diag::SOCKID_LEN]),
        );
        let mut kills = Vec::new();
        dump(&sock, ns, "list sockets", seq, &req, |kind, body| {
            if kind == diag::SOCK_DIAG_BY_FAMILY
                && let Some(id) = sock_to(body, ip)
            {
                kills.push(diag_req(family, &id));
            }
        })
        .await?;
        seq = seq.wrapping_add(1);
        killed += requests(
            &sock,
            ns,
            "destroy sockets",
            diag::SOCK_DESTROY,
            seq,
            &kills,
        )
        .await?;
        seq = seq.wrapping_add(u32::try_from(kills.len()).unwrap_or(u32::MAX));
    }
    Ok(killed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nest(ty: u16, f: impl FnOnce(&mut Nla)) -> Nla {
        let mut a = Nla::default();
        a.nest(ty, f);
        a
    }

    /// A conntrack entry as the kernel dumps it: original tuple (with its own zone when
    /// `tuple_zone`), then the entry's zone when `zone`.
    fn entry(dst: [u8; 4], tuple_zone: Option<u16>, zone: Option<u16>) -> Vec<u8> {
        let mut a = nest(ct::CTA_TUPLE_ORIG, |o| {
            o.nest(ct::CTA_TUPLE_IP, |i| {
                i.put(1, &[10, 0, 0, 1]).put(ct::CTA_IP_V4_DST, &dst);
            })
            .nest(2, |p| {
                p.put(1, &[17]);
            });
            if let Some(z) = tuple_zone {
                o.put(ct::CTA_TUPLE_ZONE, &z.to_be_bytes());
            }
        });
        a.put(3, &8u32.to_be_bytes());
        if let Some(z) = zone {
            a.put(ct::CTA_ZONE, &z.to_be_bytes());
        }
        a.bytes().to_vec()
    }

    #[test]
    fn conntrack_entries_match_on_original_zone_and_destination() {
        let ip = Ipv4Addr::new(10, 9, 0, 5);
        let e = entry(ip.octets(), Some(7), None);
        let (orig, tuple_zone) = ct_match(&e, 7, ip).expect("orig-only zone");
        assert!(tuple_zone);
        // The tuple is sent back as it came.
        assert_eq!(nlattr(orig, ct::CTA_TUPLE_IP).map(<[u8]>::len), Some(16));
        assert!(ct_match(&e, 8, ip).is_none());
        assert!(ct_match(&e, 7, Ipv4Addr::new(10, 9, 0, 6)).is_none());
        // Zone for both directions.
        assert_eq!(
            ct_match(&entry(ip.octets(), None, Some(7)), 7, ip).map(|(_, t)| t),
            Some(false)
        );
        // No zone is zone 0.
        assert!(ct_match(&entry(ip.octets(), None, None), 0, ip).is_some());
        assert!(ct_match(&entry(ip.octets(), None, None), 7, ip).is_none());
        // Truncated data matches nothing (and does not panic).
        for n in 0..e.len() {
            let _ = ct_match(&e[..n], 7, ip);
        }
    }

    #[test]
    fn sockets_match_on_peer_address_with_their_whole_id() {
        let ip = Ipv4Addr::new(10, 9, 0, 5);
        let mut msg = vec![AF_INET, 1, 0, 0];
        let mut id = [0u8; diag::SOCKID_LEN];
        id[..2].copy_from_slice(&40000u16.to_be_bytes());
        id[2..4].copy_from_slice(&80u16.to_be_bytes());
        id[diag::DST_AT..diag::DST_AT + 4].copy_from_slice(&ip.octets());
        id[40..48].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
        msg.extend_from_slice(&id);
        msg.extend_from_slice(&[0; 20]);
        assert_eq!(sock_to(&msg, ip), Some(id));
        assert_eq!(sock_to(&msg, Ipv4Addr::new(10, 9, 0, 6)), None);
        assert_eq!(sock_to(&msg[..40], ip), None);
        let mut v6 = vec![AF_INET6, 1, 0, 0];
        let mut id6 = [0u8; diag::SOCKID_LEN];
        id6[diag::DST_AT..diag::DST_AT + 16].copy_from_slice(&ip.to_ipv6_mapped().octets());
        v6.extend_from_slice(&id6);
        assert_eq!(sock_to(&v6, ip), Some(id6));
        let req = diag_req(AF_INET, &id);
        assert_eq!(req.len(), 56);
        assert_eq!(&req[8..], &id);
    }
}
