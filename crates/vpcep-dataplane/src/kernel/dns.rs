//! The resolver's sockets inside a namespace: a UDP socket and a TCP listener on `addr:53`,
//! opened from a thread that entered the namespace (a socket stays in the namespace it was made
//! in) and handed to the resolver. They are opened only once the address exists there (the
//! caller retries on `EADDRNOTAVAIL`): a UDP socket bound with `IP_FREEBIND` before its address
//! was local was seen answering from the bridge's address instead, which clients drop.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::os::fd::OwnedFd;

use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrIn, bind, listen, setsockopt, socket,
    sockopt,
};

use crate::kernel::linux::KernelError;
use crate::kernel::netlink::{err, in_namespace};

fn bound(kind: SockType, at: SocketAddrV4) -> std::io::Result<OwnedFd> {
    let fd = socket(AddressFamily::Inet, kind, SockFlag::SOCK_CLOEXEC, None)?;
    if kind == SockType::Stream {
        // A listener closed a moment ago may leave connections in TIME_WAIT on the port.
        setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    }
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(at))?;
    Ok(fd)
}

/// Check that datagrams from `udp` leave with source `addr`: one goes to a probe socket on
/// loopback and its source is read back. A socket bound while the kernel did not take `addr`
/// for a local unicast address sends from whatever the route prefers instead (seen: the
/// subnet gateway's address), and clients drop such answers; it is refused here and opened
/// again a moment later.
fn answers_from(udp: &UdpSocket, addr: Ipv4Addr) -> std::io::Result<()> {
    let probe = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    probe.set_read_timeout(Some(std::time::Duration::from_millis(200)))?;
    udp.send_to(b"vpcep-probe", probe.local_addr()?)?;
    let mut buf = [0u8; 16];
    let (_, from) = probe.recv_from(&mut buf)?;
    if from.ip() != std::net::IpAddr::V4(addr) {
        return Err(std::io::Error::other(format!(
            "its datagrams leave from {}, not {addr}",
            from.ip()
        )));
    }
    Ok(())
}

/// UDP socket and TCP listener on `addr:port` inside namespace `ns`, non-blocking (ready for
/// tokio).
pub fn open_listener(
    ns: &str,
    addr: Ipv4Addr,
    port: u16,
) -> Result<(UdpSocket, TcpListener), KernelError> {
    let at = SocketAddrV4::new(addr, port);
    in_namespace(ns, move || {
        let udp = UdpSocket::from(bound(SockType::Datagram, at)?);
        answers_from(&udp, addr)?;
        let tcp_fd = bound(SockType::Stream, at)?;
        listen(&tcp_fd, Backlog::new(128).map_err(std::io::Error::from)?)?;
        let tcp = TcpListener::from(tcp_fd);
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        Ok((udp, tcp))
    })
    .map_err(|e| err(ns, &format!("resolver socket {at}"), e))
}
