//! Relaying in the kernel once the header is written: both sockets of a proxied connection go
//! into a `BPF_MAP_TYPE_SOCKHASH`, and an `sk_skb` verdict program redirects every segment a
//! socket receives to the send side of its peer (`bpf_sk_redirect_hash`), so no thread of ours
//! touches the bytes; the proxy task only waits for the ends of stream and passes them on.
//!
//! The program is a dozen instructions assembled here ([`program`]) and loaded with the bpf(2)
//! syscall, so there is no C toolchain or BPF library in the build. Per shard (thread) there are
//! two maps and one program ([`Redirector`]):
//!   * `peers` (no program): key = a socket's own connection (as the program reads it from the
//!     segment's socket) → the socket to send it out on (its peer). Being in a map gives the
//!     peer the kernel state (psock) a redirect needs.
//!   * `relay` (verdict program attached): a socket in it has its received data handed to the
//!     program. Sockets join it only after both peers are in `peers`, so the program never
//!     misses; if it ever did (a peer already closed), it passes the data to the socket's own
//!     queue, where nothing reads it, instead of dropping acknowledged bytes.
//!
//! Data queued on a socket before it joined `relay` waits for the next `data_ready`; setting
//! `SO_RCVLOWAT` calls it at once (`tcp_set_rcvlowat` → `tcp_data_ready`), in order, under the
//! socket lock. Ends of stream are not data: the kernel does not pass a FIN through a
//! redirect, so the task waits for `EPOLLRDHUP`/`EPOLLERR` only (not `EPOLLIN`, which every
//! redirected segment raises), then, before shutting the peer's write side, waits until every
//! byte the socket received has been written into the peer (TCP_INFO counters), because the
//! redirect's last segments may still be in the kernel's queue for the peer. A reset on either
//! side resets the other. Sockets leave both maps when they are closed (the kernel unlinks a
//! closing socket from every sockmap); the maps and the program go with the shard's thread (the
//! agent's process), and so do the connections, as with the `splice(2)` relay.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
use nix::sys::socket::{Shutdown, getsockopt, shutdown, sockopt};
#[cfg(test)]
use std::sync::Arc;
use tokio::io::unix::AsyncFd;
use tokio::net::TcpStream;

// bpf(2) commands, map, program and attach types, helper ids (linux/bpf.h).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_MAP_TYPE_SOCKHASH: u32 = 18;
const BPF_PROG_TYPE_SK_SKB: u32 = 14;
const BPF_SK_SKB_STREAM_VERDICT: u32 = 5;
const BPF_FUNC_SK_REDIRECT_HASH: i32 = 72;
const BPF_ANY: u64 = 0;
const SK_DROP: i32 = 0;
const SK_PASS: i32 = 1;

/// `struct __sk_buff` offsets of the fields naming the segment's socket (`remote_ip4`,
/// `local_ip4`: network order; `remote_port`: network order in the upper half on little-endian
/// hosts; `local_port`: host order).
const SKB_LEN: i16 = 0;
const SKB_REMOTE_IP4: i16 = 92;
const SKB_LOCAL_IP4: i16 = 96;
const SKB_REMOTE_PORT: i16 = 132;
const SKB_LOCAL_PORT: i16 = 136;

/// Sockets per map: two per relayed connection. Beyond that a connection uses the `splice(2)`
/// relay. The hash table's buckets are allocated up front (a few hundred KiB per map).
const MAP_ENTRIES: u32 = 16384;
/// Key: remote address, local address, remote port, local port, 4 bytes each (see [`key`]).
const KEY_SIZE: usize = 16;

/// One BPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy)]
#[repr(C)]
struct Insn {
    code: u8,
    /// dst register in the low nibble, src register in the high one.
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// Opcodes used below.
const LDX_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const STX_W: u8 = 0x63; // *(u32 *)(dst + off) = src
const MOV64_X: u8 = 0xbf; // dst = src
const MOV64_K: u8 = 0xb7; // dst = imm
const ADD64_K: u8 = 0x07; // dst += imm
const LD_IMM64: u8 = 0x18; // dst = 64-bit immediate (two slots); src 1 = a map fd
const JNE_K: u8 = 0x55; // if dst != imm goto +off
const CALL: u8 = 0x85;
const EXIT: u8 = 0x95;
const PSEUDO_MAP_FD: u8 = 1;

/// The verdict program, redirecting to the peer found in `peers` under the segment's own
/// connection:
///
/// ```text
///     r6 = r1                                  ; the __sk_buff
///     if r6->len == 0: return SK_DROP          ; a FIN segment: nothing to pass on (sent to a
///                                              ; peer, no bytes fail as EPIPE and stop its psock)
///     key = { remote_ip4, local_ip4, remote_port, local_port }   ; on the stack at r10 - 16
///     r0 = bpf_sk_redirect_hash(r6, peers, r10 - 16, 0)          ; 0 = out of the peer
///     if r0 != SK_DROP goto out                ; SK_DROP: no peer in the map
///     r0 = SK_PASS                             ; keep the bytes rather than lose them
/// out: exit
/// ```
fn program(peers: RawFd) -> Vec<Insn> {
    let (r0, r1, r2, r3, r4, r6, r10) = (0, 1, 2, 3, 4, 6, 10);
    let mut p = vec![
        insn(MOV64_X, r6, r1, 0, 0),
        insn(LDX_W, r2, r6, SKB_LEN, 0),
        insn(JNE_K, r2, 0, 2, 0),
        insn(MOV64_K, r0, 0, 0, SK_DROP),
        insn(EXIT, 0, 0, 0, 0),
    ];
    for (i, field) in [
        SKB_REMOTE_IP4,
        SKB_LOCAL_IP4,
        SKB_REMOTE_PORT,
        SKB_LOCAL_PORT,
    ]
    .into_iter()
    .enumerate()
    {
        p.push(insn(LDX_W, r2, r6, field, 0));
        p.push(insn(STX_W, r10, r2, -16 + 4 * i as i16, 0));
    }
    p.extend([
        insn(MOV64_X, r1, r6, 0, 0),
        insn(LD_IMM64, r2, PSEUDO_MAP_FD, 0, peers),
        insn(0, 0, 0, 0, 0),
        insn(MOV64_X, r3, r10, 0, 0),
        insn(ADD64_K, r3, 0, 0, -16),
        insn(MOV64_K, r4, 0, 0, 0),
        insn(CALL, 0, 0, 0, BPF_FUNC_SK_REDIRECT_HASH),
        insn(JNE_K, r0, 0, 1, 0),
        insn(MOV64_K, r0, 0, 0, SK_PASS),
        insn(EXIT, 0, 0, 0, 0),
    ]);
    p
}

// bpf(2) attributes, the leading fields of `union bpf_attr` each command reads (the kernel
// takes a shorter attribute as zero-extended).
#[repr(C)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
}

#[repr(C)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
}

#[repr(C)]
struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// bpf(2) with one of the attribute structs above.
#[allow(unsafe_code)]
fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<libc::c_long> {
    // SAFETY: `attr` is a live `#[repr(C)]` value of the layout the kernel reads for `cmd`, of
    // the size passed; every pointer inside it points to memory that outlives the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            std::ptr::from_ref(attr),
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// bpf(2) for a command that returns a new descriptor.
#[allow(unsafe_code)]
fn bpf_fd<T>(cmd: libc::c_long, attr: &T) -> io::Result<OwnedFd> {
    let fd = RawFd::try_from(bpf(cmd, attr)?).map_err(io::Error::other)?;
    // SAFETY: the kernel just returned `fd` as a new descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn sockhash() -> io::Result<OwnedFd> {
    bpf_fd(
        BPF_MAP_CREATE,
        &MapCreate {
            map_type: BPF_MAP_TYPE_SOCKHASH,
            key_size: KEY_SIZE as u32,
            value_size: 4,
            max_entries: MAP_ENTRIES,
        },
    )
}

/// A socket's key: what the verdict program reads from `__sk_buff` for a segment it received.
fn key(s: &TcpStream) -> io::Result<[u8; KEY_SIZE]> {
    let (std::net::SocketAddr::V4(local), std::net::SocketAddr::V4(remote)) =
        (s.local_addr()?, s.peer_addr()?)
    else {
        return Err(io::Error::other("IPv4 sockets only"));
    };
    let mut k = [0u8; KEY_SIZE];
    k[0..4].copy_from_slice(&remote.ip().octets());
    k[4..8].copy_from_slice(&local.ip().octets());
    // `skc_dport` (network order) loaded as a 16-bit value and shifted into the upper half.
    k[10..12].copy_from_slice(&remote.port().to_be_bytes());
    k[12..16].copy_from_slice(&u32::from(local.port()).to_ne_bytes());
    Ok(k)
}

/// A shard's maps and program.
pub struct Redirector {
    peers: OwnedFd,
    relay: OwnedFd,
    /// Attached to `relay`; kept so the attachment's owner is plain to see.
    _verdict: OwnedFd,
}

static UNAVAILABLE_LOGGED: AtomicBool = AtomicBool::new(false);

impl Redirector {
    /// The maps and the program, or `None` (logged once per process) where BPF is not
    /// available (not root, no sockmap, an old kernel): the `splice(2)` relay then serves.
    pub fn new_or_log() -> Option<Redirector> {
        match Redirector::new() {
            Ok(r) => Some(r),
            Err(e) => {
                if !UNAVAILABLE_LOGGED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(error = %e, "sockmap relay unavailable; PROXY-v2 connections are relayed with splice(2)");
                }
                None
            }
        }
    }

    fn new() -> io::Result<Redirector> {
        let peers = sockhash()?;
        let relay = sockhash()?;
        let insns = program(peers.as_raw_fd());
        let license = c"GPL";
        let mut log = vec![0u8; 4096];
        let verdict = bpf_fd(
            BPF_PROG_LOAD,
            &ProgLoad {
                prog_type: BPF_PROG_TYPE_SK_SKB,
                insn_cnt: insns.len() as u32,
                insns: insns.as_ptr() as u64,
                license: license.as_ptr() as u64,
                log_level: 1,
                log_size: log.len() as u32,
                log_buf: log.as_mut_ptr() as u64,
            },
        )
        .map_err(|e| {
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            io::Error::new(
                e.kind(),
                format!(
                    "loading the verdict program: {e}: {}",
                    String::from_utf8_lossy(&log[..end]).trim()
                ),
            )
        })?;
        bpf(
            BPF_PROG_ATTACH,
            &ProgAttach {
                target_fd: relay.as_raw_fd() as u32,
                attach_bpf_fd: verdict.as_raw_fd() as u32,
                attach_type: BPF_SK_SKB_STREAM_VERDICT,
                attach_flags: 0,
            },
        )?;
        Ok(Redirector {
            peers,
            relay,
            _verdict: verdict,
        })
    }

    fn update(map: &OwnedFd, key: &[u8; KEY_SIZE], sock: BorrowedFd<'_>) -> io::Result<()> {
        let fd = sock.as_raw_fd() as u32;
        bpf(
            BPF_MAP_UPDATE_ELEM,
            &MapElem {
                map_fd: map.as_raw_fd() as u32,
                _pad: 0,
                key: key.as_ptr() as u64,
                value: std::ptr::from_ref(&fd) as u64,
                flags: BPF_ANY,
            },
        )
        .map(drop)
    }

    fn delete(map: &OwnedFd, key: &[u8; KEY_SIZE]) {
        // Absent already is fine: only undoing a partial insert.
        let _ = bpf(
            BPF_MAP_DELETE_ELEM,
            &MapElem {
                map_fd: map.as_raw_fd() as u32,
                _pad: 0,
                key: key.as_ptr() as u64,
                value: 0,
                flags: 0,
            },
        );
    }

    /// Put `a` and `b` in the maps, each the other's peer; on an error (a full map) nothing
    /// stays in them and the sockets are as before.
    fn link(&self, a: &TcpStream, b: &TcpStream) -> io::Result<()> {
        let (ka, kb) = (key(a)?, key(b)?);
        let steps: [(&OwnedFd, &[u8; KEY_SIZE], BorrowedFd<'_>); 4] = [
            (&self.peers, &ka, b.as_fd()),
            (&self.peers, &kb, a.as_fd()),
            (&self.relay, &ka, a.as_fd()),
            (&self.relay, &kb, b.as_fd()),
        ];
        for (i, (map, k, s)) in steps.iter().enumerate() {
            if let Err(e) = Redirector::update(map, k, *s) {
                for (map, k, _) in &steps[..i] {
                    Redirector::delete(map, k);
                }
                return Err(e);
            }
        }
        Ok(())
    }

    /// Relay `client` ↔ `upstream` in the kernel until both ends of stream have been passed
    /// on. Nothing may have been read from either socket (every byte they received is
    /// relayed); what was written into them before (the header) is not counted. Bytes moved
    /// (client → backend, backend → client). If the sockets could not be put in the maps (a
    /// full map) they come back in `Unlinked`, untouched, to be relayed another way.
    pub async fn relay(
        &self,
        client: TcpStream,
        upstream: TcpStream,
    ) -> Result<(u64, u64), RelayError> {
        // What was written before the kernel took over (the header) is not relayed bytes.
        let base = [
            Counters::of(&client)?.written,
            Counters::of(&upstream)?.written,
        ];
        if let Err(e) = self.link(&client, &upstream) {
            return Err(RelayError::Unlinked(e, Box::new((client, upstream))));
        }
        // Out of tokio's reactor: every redirected segment wakes a socket's readers, and the
        // thread must not wake with them. Only `Ends` below is registered.
        let socks = [client.into_std()?, upstream.into_std()?];
        // Hand over what arrived before the sockets joined the map (see the module comment).
        for s in &socks {
            set_rcvlowat(s, 1)?;
        }
        let ends = Ends::new(&socks)?;
        let mut passed = [false, false];
        let mut moved = [0u64; 2];
        loop {
            for i in 0..2 {
                let (from, to) = (&socks[i], &socks[1 - i]);
                if let Some(e) = getsockopt(from, sockopt::SocketError)
                    .ok()
                    .filter(|e| *e != 0)
                {
                    // The redirect hands the peer's FIN segment on too (no bytes); sent after
                    // our shutdown it fails with EPIPE, which is no error of the connection.
                    if !(e == libc::EPIPE && passed[1 - i]) {
                        // A reset (or another error) on one side resets the other.
                        reset(to);
                        return Err(RelayError::Io(io::Error::from_raw_os_error(e)));
                    }
                }
                if passed[i] || !read_closed(tcp_info(from)?.tcpi_state) {
                    continue;
                }
                // `from` saw its end of stream: everything before it must be in `to` first.
                let received = Counters::of(from)?.received;
                if let Err(e) = drained(to, base[1 - i], received).await {
                    reset(from);
                    return Err(RelayError::Io(e));
                }
                // A peer already gone is no error of ours.
                let _ = shutdown(to.as_raw_fd(), Shutdown::Write);
                passed[i] = true;
                moved[i] = received;
            }
            if passed == [true, true] {
                break;
            }
            ends.wait().await?;
        }
        Ok((moved[0], moved[1]))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Not in the maps; the sockets as they were (client, upstream).
    #[error("sockmap: {0}")]
    Unlinked(io::Error, Box<(TcpStream, TcpStream)>),
    #[error("{0}")]
    Io(#[from] io::Error),
}

/// Close with a reset, as the kernel path passes one on.
fn reset(s: &std::net::TcpStream) {
    let _ = nix::sys::socket::setsockopt(
        s,
        sockopt::Linger,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
}

/// A socket's byte counters (TCP_INFO).
struct Counters {
    /// Payload bytes received in order (the FIN's sequence number not included).
    received: u64,
    /// Payload bytes written into the socket: sent once, or still queued.
    written: u64,
}

impl Counters {
    fn of(s: &impl AsFd) -> io::Result<Counters> {
        let i = tcp_info(s)?;
        // `bytes_received` follows `rcv_nxt`, which a FIN advances by one.
        let fin = u64::from(read_closed(i.tcpi_state));
        Ok(Counters {
            received: i.tcpi_bytes_received.saturating_sub(fin),
            written: i.tcpi_bytes_sent - i.tcpi_bytes_retrans + u64::from(i.tcpi_notsent_bytes),
        })
    }
}

// TCP states (include/net/tcp_states.h).
const TCP_TIME_WAIT: u8 = 6;
const TCP_CLOSE: u8 = 7;
const TCP_CLOSE_WAIT: u8 = 8;
const TCP_LAST_ACK: u8 = 9;
const TCP_CLOSING: u8 = 11;

/// States past a received FIN. A socket reset is closed too, but its error is seen first;
/// one of ours only reaches `TCP_CLOSE` without an error by having both FINs behind it.
fn read_closed(state: u8) -> bool {
    matches!(
        state,
        TCP_CLOSE_WAIT | TCP_LAST_ACK | TCP_CLOSING | TCP_TIME_WAIT | TCP_CLOSE
    )
}

#[allow(unsafe_code)]
fn tcp_info(s: &impl AsFd) -> io::Result<libc::tcp_info> {
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `tcp_info` is plain old data (all-zero is a valid value), writable for `len`
    // bytes; the kernel writes at most `len` bytes of it.
    let (r, info) = unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let r = libc::getsockopt(
            s.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        );
        (r, info)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(info)
}

#[allow(unsafe_code)]
fn set_rcvlowat(s: &impl AsFd, v: libc::c_int) -> io::Result<()> {
    // SAFETY: an `int` option value, valid for its size during the call.
    let r = unsafe {
        libc::setsockopt(
            s.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            std::ptr::from_ref(&v).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Wait until `to` has had `received` bytes written into it since `base` (the redirect's
/// queue for it is empty). There is no event for that, so it is polled, from 1 ms up to
/// 64 ms; normally the kernel's queue is empty by the first look.
async fn drained(to: &std::net::TcpStream, base: u64, received: u64) -> io::Result<()> {
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(e) = getsockopt(to, sockopt::SocketError)
            .ok()
            .filter(|e| *e != 0)
        {
            return Err(io::Error::from_raw_os_error(e));
        }
        if Counters::of(to)?.written - base >= received {
            return Ok(());
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(64));
    }
}

/// An epoll set watching both sockets for an end of stream or an error only, itself watched
/// by tokio.
struct Ends(AsyncFd<EpollFd>);

struct EpollFd(Epoll);

impl AsRawFd for EpollFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.0.as_raw_fd()
    }
}

impl Ends {
    #[allow(unsafe_code)]
    fn new(socks: &[std::net::TcpStream; 2]) -> io::Result<Ends> {
        let ep = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        let flags = EpollFlags::EPOLLRDHUP
            | EpollFlags::EPOLLERR
            | EpollFlags::EPOLLHUP
            | EpollFlags::EPOLLET;
        for (i, s) in socks.iter().enumerate() {
            ep.add(s, EpollEvent::new(flags, i as u64))?;
        }
        // SAFETY: the epoll descriptor is owned by the `AsyncFd` it is registered with, which
        // neither replaces nor closes it while registered.
        let fd =
            unsafe { AsyncFd::register_with_interest(EpollFd(ep), tokio::io::Interest::READABLE) };
        Ok(Ends(fd.map_err(io::Error::from)?))
    }

    /// Until either socket reports an end of stream or an error.
    async fn wait(&self) -> io::Result<()> {
        loop {
            let mut guard = self.0.readable().await?;
            let mut events = [EpollEvent::empty(); 2];
            let n = guard
                .get_inner()
                .0
                .wait(&mut events, nix::sys::epoll::EpollTimeout::ZERO)?;
            if n > 0 {
                return Ok(());
            }
            guard.clear_ready();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn pattern(seed: u8, len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// A relayed pair on loopback: (consumer side, backend side, the relay's result).
    async fn relayed(
        r: Arc<Redirector>,
        greeting: &'static [u8],
    ) -> (
        TcpStream,
        TcpStream,
        tokio::task::JoinHandle<Result<(u64, u64), RelayError>>,
    ) {
        let front = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let back = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let mut consumer = TcpStream::connect(front.local_addr().expect("addr"))
            .await
            .expect("connect");
        // Before the proxy even accepts: these bytes wait in the client socket's queue.
        consumer.write_all(b"early").await.expect("early");
        let (client, _) = front.accept().await.expect("accept");
        let mut upstream = TcpStream::connect(back.local_addr().expect("addr"))
            .await
            .expect("connect");
        let (mut backend, _) = back.accept().await.expect("accept");
        // A server-first backend: its greeting may arrive before the sockets are linked.
        backend.write_all(greeting).await.expect("greeting");
        upstream.write_all(b"HDR!").await.expect("header");
        let relay = tokio::spawn(async move { r.relay(client, upstream).await });
        (consumer, backend, relay)
    }

    fn root() -> bool {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
    }

    #[tokio::test]
    async fn large_transfers_and_half_close_arrive_intact() {
        if !root() {
            return;
        }
        let r = Arc::new(Redirector::new().expect("BPF available as root"));
        let (mut consumer, mut backend, relay) = relayed(r, b"hello").await;
        let up = pattern(1, 8 << 20);
        let down = pattern(7, 6 << 20);
        let up2 = up.clone();
        let writer = tokio::spawn(async move {
            let (mut rd, mut wr) = consumer.split();
            let mut greeting = [0u8; 5];
            rd.read_exact(&mut greeting).await.expect("greeting");
            assert_eq!(&greeting, b"hello");
            wr.write_all(&up2).await.expect("up");
            // Half-close: the backend answers only after this end of stream.
            wr.shutdown().await.expect("shutdown");
            let mut got = Vec::new();
            rd.read_to_end(&mut got).await.expect("down");
            got
        });
        let mut got = Vec::new();
        backend
            .read_to_end(&mut got)
            .await
            .expect("up at the backend");
        let mut want = b"HDR!early".to_vec();
        want.extend_from_slice(&up);
        assert_eq!(got.len(), want.len());
        assert!(got == want, "client → backend bytes differ");
        if let Err(e) = backend.write_all(&down).await {
            panic!("down: {e}; relay {:?}", relay.await);
        }
        backend.shutdown().await.expect("shutdown");
        let got = writer.await.expect("consumer");
        assert_eq!(got.len(), down.len());
        assert!(got == down, "backend → client bytes differ");
        let moved = relay.await.expect("relay").expect("relay result");
        assert_eq!(moved, (5 + up.len() as u64, 5 + down.len() as u64));
    }

    #[tokio::test]
    async fn a_reset_is_passed_on() {
        if !root() {
            return;
        }
        let r = Arc::new(Redirector::new().expect("BPF available as root"));
        let (consumer, mut backend, relay) = relayed(r, b"").await;
        let mut b = [0u8; 9];
        backend
            .read_exact(&mut b)
            .await
            .expect("header and early bytes");
        consumer.set_zero_linger().expect("linger");
        drop(consumer);
        let mut rest = Vec::new();
        let e = backend
            .read_to_end(&mut rest)
            .await
            .expect_err("the backend sees a reset");
        assert_eq!(e.kind(), io::ErrorKind::ConnectionReset);
        assert!(matches!(
            relay.await.expect("relay"),
            Err(RelayError::Io(_))
        ));
    }
}
