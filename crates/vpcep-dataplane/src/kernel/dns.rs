//! The resolver's sockets inside a namespace: a UDP socket and a TCP listener on `addr:53`,
//! opened from a thread that entered the namespace (a socket stays in the namespace it was made
//! in) and handed to the resolver. `IP_FREEBIND` lets them bind before the address exists: the
//! agent adds the VPC router's resolver address in its own time, and queries are answered from
//! the moment it does.

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
    setsockopt(&fd, sockopt::IpFreebind, &true)?;
    setsockopt(&fd, sockopt::ReuseAddr, &true)?;
    bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &SockaddrIn::from(at))?;
    Ok(fd)
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
        let tcp_fd = bound(SockType::Stream, at)?;
        listen(&tcp_fd, Backlog::new(128).map_err(std::io::Error::from)?)?;
        let tcp = TcpListener::from(tcp_fd);
        udp.set_nonblocking(true)?;
        tcp.set_nonblocking(true)?;
        Ok((udp, tcp))
    })
    .map_err(|e| err(ns, &format!("resolver socket {at}"), e))
}
