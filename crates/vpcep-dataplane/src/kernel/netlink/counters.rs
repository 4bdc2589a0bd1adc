//! Traffic accounting read back from the kernel: the counters of a table's counted sets (one
//! element dump per set, `NFT_MSG_GETSETELEM`), and established connections per endpoint (one
//! conntrack dump).
//!
//! Every reading is kept per namespace ([`cache`]): a table reloaded, a namespace rebuilt or
//! an element added again starts its counters from there, so what is exported never goes
//! backwards. The kernel keeps the counters across an agent restart; the reload a starting
//! agent does reads them first.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{LazyLock, Mutex, MutexGuard};

use netlink_packet_core::{NLM_F_ACK, NLM_F_REQUEST};
use netlink_sys::{AsyncSocket, TokioSocket, protocols};

use super::{NLM_F_DUMP, answers, err, in_namespace, message, nlattr, nlattrs};
use crate::kernel::linux::KernelError;
use crate::plan::nft::{Count, ElemKey, NftTable, Nla, Seeds};

const NFNL_SUBSYS_NFTABLES: u16 = 10;
const NFT_MSG_NEWSETELEM: u16 = 12;
const NFT_MSG_GETSETELEM: u16 = 13;
const ELEM_LIST_TABLE: u16 = 1;
const ELEM_LIST_SET: u16 = 2;
const ELEM_LIST_ELEMENTS: u16 = 3;
const LIST_ELEM: u16 = 1;
/// Keys listed in one element request (each takes 20 bytes of a 64 KiB attribute).
const KEYS_PER_REQUEST: usize = 2000;
const ELEM_KEY: u16 = 1;
const ELEM_EXPR: u16 = 7;
const ELEM_EXPRESSIONS: u16 = 11;
const DATA_VALUE: u16 = 1;
const EXPR_NAME: u16 = 1;
const EXPR_DATA: u16 = 2;
const COUNTER_BYTES: u16 = 1;
const COUNTER_PACKETS: u16 = 2;
const AF_INET: u8 = 2;
const ENOENT: i32 = 2;

static CACHE: LazyLock<Mutex<BTreeMap<String, Seeds>>> =
    LazyLock::new(|| Mutex::new(BTreeMap::new()));

/// The last readings, per namespace (never lower than an earlier one).
pub fn cache() -> MutexGuard<'static, BTreeMap<String, Seeds>> {
    CACHE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Merge `read` into the namespace's readings (component-wise maximum).
fn remember(ns: &str, read: Seeds) {
    let mut cache = cache();
    let mine = cache.entry(ns.to_string()).or_default();
    for (set, elems) in read {
        let known = mine.entry(set).or_default();
        for (key, c) in elems {
            let e = known.entry(key).or_default();
            *e = e.max(c);
        }
    }
}

/// One element's key bytes and counter, from a `NEWSETELEM` answer's list item.
fn element(item: &[u8]) -> Option<(ElemKey, Count)> {
    let key = ElemKey::from_slice(nlattr(nlattr(item, ELEM_KEY)?, DATA_VALUE)?);
    let expr = nlattr(item, ELEM_EXPR).or_else(|| {
        // Several expressions come as a list; ours is the only one.
        nlattrs(nlattr(item, ELEM_EXPRESSIONS)?)
            .map(|(_, e)| e)
            .next()
    })?;
    if nlattr(expr, EXPR_NAME)? != b"counter\0" {
        return None;
    }
    let data = nlattr(expr, EXPR_DATA)?;
    let u64_of = |kind| {
        nlattr(data, kind)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
    };
    Some((
        key,
        Count {
            bytes: u64_of(COUNTER_BYTES)?,
            packets: u64_of(COUNTER_PACKETS)?,
        },
    ))
}

/// The elements of a `NEWSETELEM` answer (after the nfgenmsg).
fn elements(body: &[u8]) -> Vec<(ElemKey, Count)> {
    nlattr(body, ELEM_LIST_ELEMENTS)
        .map(|list| {
            nlattrs(list)
                .filter_map(|(_, item)| element(item))
                .collect()
        })
        .unwrap_or_default()
}

/// Send dump request `req` and hand every answer of type `want` to `each`; `Ok(false)` when the
/// kernel says there is no such object (the table or set is not there).
async fn dump_of(
    sock: &TokioSocket,
    ns: &str,
    seq: u32,
    req: &[u8],
    want: u16,
    mut each: impl FnMut(&[u8]),
) -> Result<bool, KernelError> {
    let what = "read counters";
    let answered = super::dump_answers(sock, ns, what, seq, req, |kind, body| {
        if kind == want {
            each(body.get(4..).unwrap_or_default());
        }
    })
    .await?;
    match answered {
        Ok(()) => Ok(true),
        Err(code) if code == ENOENT => Ok(false),
        Err(code) => Err(err(ns, what, std::io::Error::from_raw_os_error(code))),
    }
}

/// The answers' message type: elements of a set.
const ELEMENTS: u16 = (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWSETELEM;

/// A `GETSETELEM` request for set `set` of `table` (`flags`: a dump, or acknowledged), listing
/// `keys` when there are any (the kernel then answers just those elements).
fn get_elements(table: &NftTable, set: &str, flags: u16, seq: u32, keys: &[Vec<u8>]) -> Vec<u8> {
    let mut a = Nla::default();
    a.str(ELEM_LIST_TABLE, table.name).str(ELEM_LIST_SET, set);
    if !keys.is_empty() {
        a.nest(ELEM_LIST_ELEMENTS, |list| {
            for key in keys {
                list.nest(LIST_ELEM, |el| {
                    el.nest(ELEM_KEY, |k| {
                        k.put(DATA_VALUE, key);
                    });
                });
            }
        });
    }
    let mut body = vec![AF_INET, 0, 0, 0];
    body.extend_from_slice(a.bytes());
    message(
        (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETSETELEM,
        flags,
        seq,
        &body,
    )
}

/// Read every counted set of `table` in `ns` over `sock` (sequence numbers from `seq`, one per
/// set) into the namespace's readings. A table or set not in the kernel reads as nothing.
pub(super) async fn read(
    sock: &TokioSocket,
    ns: &str,
    seq: u32,
    table: &NftTable,
) -> Result<(), KernelError> {
    let mut read = Seeds::new();
    for (i, (name, _)) in table.sets.iter().filter(|(_, s)| s.counter).enumerate() {
        let this = seq.wrapping_add(i as u32);
        let req = get_elements(table, name, NLM_F_REQUEST | NLM_F_DUMP, this, &[]);
        let mut got = BTreeMap::new();
        if dump_of(sock, ns, this, &req, ELEMENTS, |b| got.extend(elements(b))).await? {
            read.insert(name.to_string(), got);
        }
    }
    remember(ns, read);
    Ok(())
}

/// Read the counters of just the elements `keys` of `table`'s counted sets in `ns` (one request
/// per set listing the keys, answered element by element): what metering needs of endpoints
/// about to be removed, without dumping the other endpoints' elements. Into the namespace's
/// readings, like [`read_table`]. A key some set does not hold (the kernel stops at it) makes
/// that set be read whole instead, so a reading is never missing for an element that is there.
pub async fn read_keys(ns: &str, table: &NftTable, keys: &[Vec<u8>]) -> Result<(), KernelError> {
    if keys.is_empty() {
        return Ok(());
    }
    let sock = open(ns)?;
    let mut readings = Seeds::new();
    let mut whole = false;
    let mut seq = 0u32;
    'sets: for (name, _) in table.sets.iter().filter(|(_, s)| s.counter) {
        let mut got = BTreeMap::new();
        // An attribute's length is 16 bits: a few thousand keys per request.
        for chunk in keys.chunks(KEYS_PER_REQUEST) {
            seq = seq.wrapping_add(1);
            let req = get_elements(table, name, NLM_F_REQUEST | NLM_F_ACK, seq, chunk);
            let what = "read counters";
            let answered = answers(&sock, ns, what, seq, &req, true, |kind, b| {
                if kind == ELEMENTS {
                    got.extend(elements(b.get(4..).unwrap_or_default()));
                }
            })
            .await?;
            match answered {
                Ok(()) => {}
                Err(code) if code == ENOENT => {
                    whole = true;
                    break 'sets;
                }
                Err(code) => return Err(err(ns, what, std::io::Error::from_raw_os_error(code))),
            }
        }
        readings.insert(name.to_string(), got);
    }
    remember(ns, readings);
    if whole {
        read(&sock, ns, seq.wrapping_add(1), table).await?;
    }
    Ok(())
}

/// A netfilter socket inside `ns`, registered with the current runtime.
fn open(ns: &str) -> Result<TokioSocket, KernelError> {
    let rt = tokio::runtime::Handle::current();
    in_namespace(ns, move || {
        let _reactor = rt.enter();
        let mut s = TokioSocket::new(protocols::NETLINK_NETFILTER)?;
        s.socket_mut().bind_auto()?;
        Ok(s)
    })
    .map_err(|e| err(ns, "open socket", e))
}

/// Read the counters of `table`'s counted sets in `ns` now into the namespace's readings
/// ([`cache`]: the kernel's, or the last ones kept when an element or the table is gone),
/// where the caller looks them up. Not returned as a copy: that was every counter of the
/// namespace copied on each metering read and each scrape.
pub async fn read_table(ns: &str, table: &NftTable) -> Result<(), KernelError> {
    let sock = open(ns)?;
    read(&sock, ns, 1, table).await
}

mod ct {
    pub const NFNL_SUBSYS_CTNETLINK: u16 = 1;
    pub const IPCTNL_MSG_CT_NEW: u16 = 0;
    pub const IPCTNL_MSG_CT_GET: u16 = 1;
    pub const CTA_TUPLE_ORIG: u16 = 1;
    pub const CTA_PROTOINFO: u16 = 4;
    pub const CTA_ZONE: u16 = 18;
    pub const CTA_TUPLE_IP: u16 = 1;
    pub const CTA_TUPLE_ZONE: u16 = 3;
    pub const CTA_IP_V4_DST: u16 = 2;
    pub const CTA_PROTOINFO_TCP: u16 = 1;
    pub const CTA_PROTOINFO_TCP_STATE: u16 = 1;
    pub const TCP_CONNTRACK_ESTABLISHED: u8 = 3;
}

/// An entry's original zone and destination, when it counts as established: a TCP connection
/// in state ESTABLISHED, or any other flow (UDP) the table still holds.
fn established_entry(body: &[u8]) -> Option<(u16, Ipv4Addr)> {
    let be16 = |p: &[u8]| p.get(..2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let orig = nlattr(body, ct::CTA_TUPLE_ORIG)?;
    let dst = nlattr(nlattr(orig, ct::CTA_TUPLE_IP)?, ct::CTA_IP_V4_DST)?;
    let dst = Ipv4Addr::from(<[u8; 4]>::try_from(dst).ok()?);
    let zone = nlattr(orig, ct::CTA_TUPLE_ZONE)
        .and_then(be16)
        .or_else(|| nlattr(body, ct::CTA_ZONE).and_then(be16))
        .unwrap_or(0);
    if let Some(tcp) =
        nlattr(body, ct::CTA_PROTOINFO).and_then(|p| nlattr(p, ct::CTA_PROTOINFO_TCP))
    {
        let state = nlattr(tcp, ct::CTA_PROTOINFO_TCP_STATE)?.first()?;
        if *state != ct::TCP_CONNTRACK_ESTABLISHED {
            return None;
        }
    }
    Some((zone, dst))
}

/// Established connections in `ns` by (original zone, original destination): one dump.
pub async fn established(ns: &str) -> Result<BTreeMap<(u16, Ipv4Addr), u64>, KernelError> {
    let sock = open(ns)?;
    let subsys = ct::NFNL_SUBSYS_CTNETLINK << 8;
    let req = message(
        subsys | ct::IPCTNL_MSG_CT_GET,
        NLM_F_REQUEST | NLM_F_DUMP,
        1,
        &[AF_INET, 0, 0, 0],
    );
    let mut out = BTreeMap::new();
    dump_of(&sock, ns, 1, &req, subsys | ct::IPCTNL_MSG_CT_NEW, |body| {
        if let Some(k) = established_entry(body) {
            *out.entry(k).or_insert(0) += 1;
        }
    })
    .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nest(ty: u16, f: impl FnOnce(&mut Nla)) -> Nla {
        let mut n = Nla::default();
        n.nest(ty, f);
        n
    }

    #[test]
    fn element_dumps_parse_into_key_and_counter() {
        let item = nest(1, |el| {
            el.nest(ELEM_KEY, |k| {
                k.put(DATA_VALUE, &[3, 0, 0, 0, 10, 0, 0, 5]);
            });
            el.nest(ELEM_EXPR, |x| {
                x.str(EXPR_NAME, "counter");
                x.nest(EXPR_DATA, |d| {
                    d.put(COUNTER_BYTES, &900u64.to_be_bytes())
                        .put(COUNTER_PACKETS, &7u64.to_be_bytes());
                });
            });
        });
        let body = nest(ELEM_LIST_ELEMENTS, |l| {
            l.put(1 | 0x8000, &item.bytes()[4..]);
        });
        let got = elements(body.bytes());
        assert_eq!(
            got,
            vec![(
                ElemKey::from_slice(&[3, 0, 0, 0, 10, 0, 0, 5]),
                Count {
                    packets: 7,
                    bytes: 900
                }
            )]
        );
    }

    #[test]
    fn readings_only_grow() {
        let ns = "counters-test-ns";
        let key = ElemKey::from_slice(&[1u8, 2, 3, 4]);
        let read = |p, b| {
            let mut s = Seeds::new();
            s.entry("ep_rx".into()).or_default().insert(
                key.clone(),
                Count {
                    packets: p,
                    bytes: b,
                },
            );
            s
        };
        remember(ns, read(5, 500));
        remember(ns, read(1, 100));
        assert_eq!(
            cache()[ns]["ep_rx"][&key],
            Count {
                packets: 5,
                bytes: 500
            }
        );
    }
}
