//! Conntrack events of a namespace: a ctnetlink socket opened inside it and subscribed to the
//! NEW and DESTROY groups (what `conntrack -E -e NEW,DESTROY` listens to), read on a thread of
//! its own so reading never waits for anything else. Each datagram's events are parsed into
//! [`CtEvent`]s and handed on as one batch; a receive buffer overrun (`ENOBUFS`: the kernel
//! dropped events because we were too slow) is handed on too, never swallowed.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;
use std::time::Duration;

use netlink_sys::{Socket, SocketAddr, protocols};
use nix::sys::socket::{setsockopt, sockopt};
use nix::sys::time::{TimeVal, TimeValLike};

use super::{nlattr, nlmsgs};

const NFNL_SUBSYS_CTNETLINK: u16 = 1;
const IPCTNL_MSG_CT_NEW: u16 = 0;
const IPCTNL_MSG_CT_DELETE: u16 = 2;
/// Multicast groups (`NFNLGRP_CONNTRACK_NEW`, `NFNLGRP_CONNTRACK_DESTROY`).
const GROUP_NEW: u32 = 1;
const GROUP_DESTROY: u32 = 3;
const ENOBUFS: i32 = 105;

const CTA_TUPLE_ORIG: u16 = 1;
const CTA_TUPLE_REPLY: u16 = 2;
const CTA_STATUS: u16 = 3;
const CTA_PROTOINFO: u16 = 4;
const CTA_COUNTERS_ORIG: u16 = 9;
const CTA_COUNTERS_REPLY: u16 = 10;
const CTA_ID: u16 = 12;
const CTA_ZONE: u16 = 18;
const CTA_TIMESTAMP: u16 = 20;
const CTA_TUPLE_IP: u16 = 1;
const CTA_TUPLE_PROTO: u16 = 2;
const CTA_TUPLE_ZONE: u16 = 3;
const CTA_IP_V4_SRC: u16 = 1;
const CTA_IP_V4_DST: u16 = 2;
const CTA_PROTO_NUM: u16 = 1;
const CTA_PROTO_SRC_PORT: u16 = 2;
const CTA_PROTO_DST_PORT: u16 = 3;
const CTA_PROTOINFO_TCP: u16 = 1;
const CTA_PROTOINFO_TCP_STATE: u16 = 1;
const CTA_COUNTERS_PACKETS: u16 = 1;
const CTA_COUNTERS_BYTES: u16 = 2;
const CTA_TIMESTAMP_START: u16 = 1;
const CTA_TIMESTAMP_STOP: u16 = 2;

/// The receive buffer asked for (`SO_RCVBUFFORCE`, past `rmem_max`): at ~300 bytes an event,
/// room for ~100,000 events queued while the thread is descheduled.
pub const RCVBUF: usize = 32 << 20;

/// Which event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtKind {
    New,
    Destroy,
}

/// One direction's addresses and ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
}

/// Packets and bytes of one direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CtCount {
    pub packets: u64,
    pub bytes: u64,
}

/// One conntrack event, as the kernel described the entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtEvent {
    pub kind: CtKind,
    pub id: u32,
    /// The original direction's zone (the consumer leg, in a gateway).
    pub zone: u16,
    pub proto: u8,
    pub orig: Tuple,
    pub reply: Tuple,
    pub status: u32,
    /// `TCP_CONNTRACK_*` when TCP.
    pub tcp_state: Option<u8>,
    /// With `nf_conntrack_acct` on.
    pub counters: Option<(CtCount, CtCount)>,
    /// With `nf_conntrack_timestamp` on (Unix nanoseconds).
    pub start_ns: Option<u64>,
    pub stop_ns: Option<u64>,
}

/// What a listener hands on.
#[derive(Debug)]
pub enum Heard {
    /// The events of one datagram, and when it was read (Unix nanoseconds).
    Events {
        ns: Arc<str>,
        at_ns: u64,
        events: Vec<CtEvent>,
    },
    /// The kernel dropped events for this socket (its buffer was full).
    Overrun { ns: Arc<str>, at_ns: u64 },
}

/// `TCP_CONNTRACK_*` by number, as `conntrack` names them.
pub fn tcp_state_name(s: u8) -> &'static str {
    match s {
        0 => "NONE",
        1 => "SYN_SENT",
        2 => "SYN_RECV",
        3 => "ESTABLISHED",
        4 => "FIN_WAIT",
        5 => "CLOSE_WAIT",
        6 => "LAST_ACK",
        7 => "TIME_WAIT",
        8 => "CLOSE",
        9 => "SYN_SENT2",
        _ => "UNKNOWN",
    }
}

fn be16(b: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(..2)?.try_into().ok()?))
}
fn be32(b: &[u8]) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(..4)?.try_into().ok()?))
}
fn be64(b: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(..8)?.try_into().ok()?))
}

/// An IPv4 tuple (`CTA_TUPLE_*` payload): addresses, protocol, ports (0 when it has none);
/// its own zone if it carries one.
fn tuple(t: &[u8]) -> Option<(Tuple, u8, Option<u16>)> {
    let ip = nlattr(t, CTA_TUPLE_IP)?;
    let addr =
        |k| -> Option<Ipv4Addr> { Some(Ipv4Addr::from(<[u8; 4]>::try_from(nlattr(ip, k)?).ok()?)) };
    let proto = nlattr(t, CTA_TUPLE_PROTO)?;
    let port = |k| nlattr(proto, k).and_then(be16).unwrap_or(0);
    Some((
        Tuple {
            src: SocketAddrV4::new(addr(CTA_IP_V4_SRC)?, port(CTA_PROTO_SRC_PORT)),
            dst: SocketAddrV4::new(addr(CTA_IP_V4_DST)?, port(CTA_PROTO_DST_PORT)),
        },
        *nlattr(proto, CTA_PROTO_NUM)?.first()?,
        nlattr(t, CTA_TUPLE_ZONE).and_then(be16),
    ))
}

fn count(c: &[u8]) -> Option<CtCount> {
    Some(CtCount {
        packets: nlattr(c, CTA_COUNTERS_PACKETS).and_then(be64)?,
        bytes: nlattr(c, CTA_COUNTERS_BYTES).and_then(be64)?,
    })
}

/// One ctnetlink event message (`kind`: the netlink message type; `body`: after the netlink
/// header, nfgenmsg included). Anything else, or an IPv6 or truncated entry, is `None`.
pub fn parse(kind: u16, body: &[u8]) -> Option<CtEvent> {
    let kind = match kind {
        k if k == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW => CtKind::New,
        k if k == (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE => CtKind::Destroy,
        _ => return None,
    };
    let attrs = body.get(4..)?;
    let (orig, proto, orig_zone) = tuple(nlattr(attrs, CTA_TUPLE_ORIG)?)?;
    let (reply, _, _) = tuple(nlattr(attrs, CTA_TUPLE_REPLY)?)?;
    let counters = match (
        nlattr(attrs, CTA_COUNTERS_ORIG).and_then(count),
        nlattr(attrs, CTA_COUNTERS_REPLY).and_then(count),
    ) {
        (Some(o), Some(r)) => Some((o, r)),
        _ => None,
    };
    let stamp = nlattr(attrs, CTA_TIMESTAMP);
    let tcp_state = nlattr(attrs, CTA_PROTOINFO)
        .and_then(|p| nlattr(p, CTA_PROTOINFO_TCP))
        .and_then(|t| nlattr(t, CTA_PROTOINFO_TCP_STATE))
        .and_then(|s| s.first().copied());
    Some(CtEvent {
        kind,
        id: nlattr(attrs, CTA_ID).and_then(be32).unwrap_or(0),
        zone: orig_zone
            .or_else(|| nlattr(attrs, CTA_ZONE).and_then(be16))
            .unwrap_or(0),
        proto,
        orig,
        reply,
        status: nlattr(attrs, CTA_STATUS).and_then(be32).unwrap_or(0),
        tcp_state,
        counters,
        start_ns: stamp
            .and_then(|s| nlattr(s, CTA_TIMESTAMP_START))
            .and_then(be64)
            .filter(|t| *t > 0),
        stop_ns: stamp
            .and_then(|s| nlattr(s, CTA_TIMESTAMP_STOP))
            .and_then(be64)
            .filter(|t| *t > 0),
    })
}

/// The events of one datagram.
pub fn parse_datagram(buf: &[u8]) -> Vec<CtEvent> {
    nlmsgs(buf).filter_map(|(k, _, b)| parse(k, b)).collect()
}

/// Unix nanoseconds now.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A running listener: stops (and closes its socket) within [`POLL`] of being dropped. Not
/// joined: dropping it never blocks the caller (an async task).
pub struct Listener {
    stop: Arc<AtomicBool>,
    _thread: JoinHandle<()>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// How often a listener looks at its stop flag when no event comes.
const POLL: Duration = Duration::from_millis(200);

/// Open the event socket inside `ns` and read it on a thread of its own, handing every batch
/// to `to`. The socket is open (and subscribed) when this returns, so events of connections
/// made afterwards are heard.
pub fn listen(ns: &str, to: Sender<Heard>) -> std::io::Result<Listener> {
    let sock = super::in_namespace(ns, || {
        let mut s = Socket::new(protocols::NETLINK_NETFILTER)?;
        s.bind(&SocketAddr::new(0, 0))?;
        s.add_membership(GROUP_NEW)?;
        s.add_membership(GROUP_DESTROY)?;
        setsockopt(&s, sockopt::RcvBufForce, &RCVBUF).map_err(std::io::Error::from)?;
        let poll = TimeVal::milliseconds(i64::try_from(POLL.as_millis()).unwrap_or(200));
        setsockopt(&s, sockopt::ReceiveTimeout, &poll).map_err(std::io::Error::from)?;
        Ok(s)
    })?;
    let stop = Arc::new(AtomicBool::new(false));
    let name: Arc<str> = Arc::from(ns);
    let thread = std::thread::Builder::new()
        .name(format!("flows {ns}"))
        .spawn({
            let stop = stop.clone();
            move || read_loop(&sock, &name, &stop, &to)
        })?;
    Ok(Listener {
        stop,
        _thread: thread,
    })
}

fn read_loop(sock: &Socket, ns: &Arc<str>, stop: &AtomicBool, to: &Sender<Heard>) {
    let mut buf = vec![0u8; 1 << 16];
    while !stop.load(Ordering::Relaxed) {
        buf.clear();
        match sock.recv(&mut buf, 0) {
            Ok(n) => {
                let events = parse_datagram(&buf[..n.min(buf.len())]);
                if events.is_empty() {
                    continue;
                }
                let heard = Heard::Events {
                    ns: ns.clone(),
                    at_ns: now_ns(),
                    events,
                };
                if to.send(heard).is_err() {
                    return;
                }
            }
            Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                let heard = Heard::Overrun {
                    ns: ns.clone(),
                    at_ns: now_ns(),
                };
                if to.send(heard).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::Interrupted
                ) => {}
            Err(e) => {
                tracing::warn!(namespace = %ns, error = %e, "conntrack events: socket failed");
                return;
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::kernel::netlink::{message, nlattrs};
    use crate::plan::nft::Nla;

    /// A ctnetlink event as the kernel sends it (header included).
    pub fn event(kind: CtKind, zone: u16, with_acct: bool) -> Vec<u8> {
        let tuple = |a: &mut Nla, src: [u8; 4], sp: u16, dst: [u8; 4], dp: u16, z: Option<u16>| {
            a.nest(CTA_TUPLE_IP, |i| {
                i.put(CTA_IP_V4_SRC, &src).put(CTA_IP_V4_DST, &dst);
            })
            .nest(CTA_TUPLE_PROTO, |p| {
                p.put(CTA_PROTO_NUM, &[6])
                    .put(CTA_PROTO_SRC_PORT, &sp.to_be_bytes())
                    .put(CTA_PROTO_DST_PORT, &dp.to_be_bytes());
            });
            if let Some(z) = z {
                a.put(CTA_TUPLE_ZONE, &z.to_be_bytes());
            }
        };
        let mut a = Nla::default();
        a.nest(CTA_TUPLE_ORIG, |o| {
            tuple(o, [10, 0, 0, 5], 40000, [10, 0, 0, 9], 80, Some(zone))
        })
        .nest(CTA_TUPLE_REPLY, |r| {
            tuple(r, [192, 168, 0, 4], 8080, [198, 19, 128, 7], 40123, None)
        })
        .put(CTA_STATUS, &0x18eu32.to_be_bytes())
        .nest(CTA_PROTOINFO, |p| {
            p.nest(CTA_PROTOINFO_TCP, |t| {
                t.put(CTA_PROTOINFO_TCP_STATE, &[7]);
            });
        })
        .put(CTA_ID, &0xdead_beefu32.to_be_bytes());
        if with_acct {
            a.nest(CTA_COUNTERS_ORIG, |c| {
                c.put(CTA_COUNTERS_PACKETS, &6u64.to_be_bytes())
                    .put(CTA_COUNTERS_BYTES, &400u64.to_be_bytes());
            })
            .nest(CTA_COUNTERS_REPLY, |c| {
                c.put(CTA_COUNTERS_PACKETS, &5u64.to_be_bytes())
                    .put(CTA_COUNTERS_BYTES, &9000u64.to_be_bytes());
            })
            .nest(CTA_TIMESTAMP, |t| {
                t.put(CTA_TIMESTAMP_START, &1_000u64.to_be_bytes())
                    .put(CTA_TIMESTAMP_STOP, &2_000u64.to_be_bytes());
            });
        }
        let mut body = vec![2, 0, 0, 0];
        body.extend_from_slice(a.bytes());
        let k = match kind {
            CtKind::New => IPCTNL_MSG_CT_NEW,
            CtKind::Destroy => IPCTNL_MSG_CT_DELETE,
        };
        message((NFNL_SUBSYS_CTNETLINK << 8) | k, 0, 0, &body)
    }

    #[test]
    fn events_parse_into_both_tuples_counters_and_times() {
        let mut buf = event(CtKind::New, 3, false);
        buf.extend(event(CtKind::Destroy, 3, true));
        // Not an event of ours: skipped.
        buf.extend(message(0x0a00, 0, 0, &[2, 0, 0, 0]));
        let got = parse_datagram(&buf);
        assert_eq!(got.len(), 2);
        let (new, end) = (&got[0], &got[1]);
        assert_eq!(new.kind, CtKind::New);
        assert_eq!(new.zone, 3);
        assert_eq!(new.proto, 6);
        assert_eq!(new.orig.src, "10.0.0.5:40000".parse().expect("addr"));
        assert_eq!(new.orig.dst, "10.0.0.9:80".parse().expect("addr"));
        assert_eq!(new.reply.src, "192.168.0.4:8080".parse().expect("addr"));
        assert_eq!(new.reply.dst, "198.19.128.7:40123".parse().expect("addr"));
        assert_eq!(new.id, 0xdead_beef);
        assert_eq!(new.counters, None);
        assert_eq!(end.kind, CtKind::Destroy);
        assert_eq!(end.tcp_state.map(tcp_state_name), Some("TIME_WAIT"));
        assert_eq!(
            end.counters,
            Some((
                CtCount {
                    packets: 6,
                    bytes: 400
                },
                CtCount {
                    packets: 5,
                    bytes: 9000
                }
            ))
        );
        assert_eq!((end.start_ns, end.stop_ns), (Some(1_000), Some(2_000)));
        // Truncated data parses to fewer events, never panics.
        for n in 0..buf.len() {
            let _ = parse_datagram(&buf[..n]);
        }
        assert!(nlattrs(&[]).next().is_none());
    }
}
