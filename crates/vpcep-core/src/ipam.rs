//! Address allocation inside a subnet. Pure: the caller supplies the addresses already taken
//! (inside the same store transaction, which is what makes allocation race-free).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

/// Whether two networks share any address (one contains the other's first address).
pub fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Addresses a subnet never hands out: network, gateway (first host), broadcast.
pub fn is_reserved(net: Ipv4Net, gateway: Ipv4Addr, ip: Ipv4Addr) -> bool {
    ip == net.network() || ip == net.broadcast() || ip == gateway
}

/// Lowest free host address of `net` (skipping reserved and `taken`).
pub fn first_free(net: Ipv4Net, gateway: Ipv4Addr, taken: &HashSet<Ipv4Addr>) -> Option<Ipv4Addr> {
    net.hosts()
        .find(|ip| !is_reserved(net, gateway, *ip) && !taken.contains(ip))
}

/// Number of host addresses (excluding network and broadcast) of `net`.
pub fn host_count(net: Ipv4Net) -> u64 {
    let size = 1u64 << (32 - u32::from(net.prefix_len()));
    size.saturating_sub(2).max(1)
}

/// The `n`-th host address of `net` (0 = first host), for `n < host_count(net)`.
pub fn nth_host(net: Ipv4Net, n: u64) -> Ipv4Addr {
    let base = u32::from(net.network());
    Ipv4Addr::from(base.wrapping_add(1).wrapping_add(n as u32))
}

/// Why a requested address cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedIpProblem {
    NotInSubnet,
    Reserved,
    Taken,
}

pub fn check_requested(
    net: Ipv4Net,
    gateway: Ipv4Addr,
    ip: Ipv4Addr,
    taken: &HashSet<Ipv4Addr>,
) -> Result<(), RequestedIpProblem> {
    if !net.contains(&ip) {
        return Err(RequestedIpProblem::NotInSubnet);
    }
    if is_reserved(net, gateway, ip) {
        return Err(RequestedIpProblem::Reserved);
    }
    if taken.contains(&ip) {
        return Err(RequestedIpProblem::Taken);
    }
    Ok(())
}

/// Default gateway of a subnet: its first host address.
pub fn default_gateway(net: Ipv4Net) -> Ipv4Addr {
    net.hosts().next().unwrap_or(net.network())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn allocates_lowest_free() {
        let net: Ipv4Net = "192.168.0.0/29".parse().unwrap();
        let gw = default_gateway(net);
        assert_eq!(gw, Ipv4Addr::new(192, 168, 0, 1));
        let mut taken = HashSet::new();
        let mut got = vec![];
        while let Some(ip) = first_free(net, gw, &taken) {
            taken.insert(ip);
            got.push(ip.octets()[3]);
        }
        assert_eq!(got, vec![2, 3, 4, 5, 6]);
    }

    #[test]
    fn requested() {
        let net: Ipv4Net = "10.0.0.0/24".parse().unwrap();
        let gw = default_gateway(net);
        let taken: HashSet<_> = [Ipv4Addr::new(10, 0, 0, 9)].into();
        assert_eq!(
            check_requested(net, gw, Ipv4Addr::new(10, 0, 1, 1), &taken),
            Err(RequestedIpProblem::NotInSubnet)
        );
        assert_eq!(
            check_requested(net, gw, gw, &taken),
            Err(RequestedIpProblem::Reserved)
        );
        assert_eq!(
            check_requested(net, gw, Ipv4Addr::new(10, 0, 0, 255), &taken),
            Err(RequestedIpProblem::Reserved)
        );
        assert_eq!(
            check_requested(net, gw, Ipv4Addr::new(10, 0, 0, 9), &taken),
            Err(RequestedIpProblem::Taken)
        );
        assert_eq!(
            check_requested(net, gw, Ipv4Addr::new(10, 0, 0, 10), &taken),
            Ok(())
        );
    }

    #[test]
    fn nth() {
        let net: Ipv4Net = "10.0.0.0/29".parse().unwrap();
        assert_eq!(host_count(net), 6);
        assert_eq!(nth_host(net, 0), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(nth_host(net, 5), Ipv4Addr::new(10, 0, 0, 6));
    }

    proptest! {
        #[test]
        fn never_hands_out_twice(prefix in 24u8..30, n in 0usize..300) {
            let net = Ipv4Net::new(Ipv4Addr::new(172, 16, 5, 0), prefix).unwrap().trunc();
            let gw = default_gateway(net);
            let mut taken = HashSet::new();
            for _ in 0..n {
                match first_free(net, gw, &taken) {
                    Some(ip) => {
                        prop_assert!(net.contains(&ip));
                        prop_assert!(!is_reserved(net, gw, ip));
                        prop_assert!(taken.insert(ip));
                    }
                    None => {
                        prop_assert_eq!(taken.len() as u32, (1u32 << (32 - prefix)) - 3);
                        break;
                    }
                }
            }
        }
    }
}
