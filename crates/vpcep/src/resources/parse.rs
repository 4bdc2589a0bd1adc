//! Parsers of the compact command-line notations: `--ports 80:8080/tcp,53:53/udp`,
//! `--listener TCP:80=192.168.0.10:8080,…`, `--nic SUBNET[:IP]`, whitelist shorthands, tags,
//! port ranges.

use std::net::Ipv4Addr;

use vpcep_client::lab::{ListenerSpec, MemberSpec, NicSpec};
use vpcep_huawei::vpcep::PortListIn;

fn port(s: &str, what: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "{what} '{}' is not a port number (1-65535)",
            s.trim()
        )),
    }
}

fn protocol(s: &str) -> Result<String, String> {
    match s.trim().to_ascii_uppercase().as_str() {
        p @ ("TCP" | "UDP") => Ok(p.to_string()),
        _ => Err(format!("protocol '{}' is not tcp or udp", s.trim())),
    }
}

/// A list of port mappings, as one `--ports` value.
#[derive(Debug, Clone)]
pub struct Ports(pub Vec<PortListIn>);

/// `CLIENT[:SERVER][/PROTO]` items separated by commas: `80:8080/tcp,53:53/udp`, `443`
/// (= `443:443/tcp`).
pub fn ports(s: &str) -> Result<Ports, String> {
    let mut out = Vec::new();
    for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (pair, proto) = match item.split_once('/') {
            Some((p, proto)) => (p, protocol(proto)?),
            None => (item, "TCP".to_string()),
        };
        let (c, srv) = match pair.split_once(':') {
            Some((c, srv)) => (port(c, "client port")?, port(srv, "server port")?),
            None => {
                let p = port(pair, "port")?;
                (p, p)
            }
        };
        out.push(PortListIn {
            client_port: Some(c.into()),
            server_port: Some(srv.into()),
            protocol: Some(proto),
        });
    }
    if out.is_empty() {
        return Err("no port mapping: use CLIENT:SERVER[/tcp|udp], e.g. 80:8080/tcp".into());
    }
    Ok(Ports(out))
}

/// `[PROTO:]PORT[=ADDR:PORT,ADDR:PORT…]`: `TCP:80=192.168.0.10:8080,192.168.0.11:8080`.
pub fn listener(s: &str) -> Result<ListenerSpec, String> {
    let (head, members) = s.split_once('=').unwrap_or((s, ""));
    let (proto, p) = match head.split_once(':') {
        Some((proto, p)) => (protocol(proto)?, p),
        None => ("TCP".to_string(), head),
    };
    let lport = port(p, "listener port")?;
    let mut list = Vec::new();
    for m in members.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let (addr, mp) = m
            .rsplit_once(':')
            .ok_or_else(|| format!("member '{m}' is not ADDRESS:PORT"))?;
        let addr: Ipv4Addr = addr
            .trim()
            .parse()
            .map_err(|_| format!("member address '{addr}' is not an IPv4 address"))?;
        list.push(MemberSpec {
            address: addr.to_string(),
            port: port(mp, "member port")?,
        });
    }
    Ok(ListenerSpec {
        protocol: proto,
        port: lport,
        members: list,
    })
}

/// `SUBNET_ID[:IP]`.
pub fn nic(s: &str) -> Result<NicSpec, String> {
    let (subnet, ip) = match s.split_once(':') {
        Some((sub, ip)) => {
            let ip: Ipv4Addr = ip
                .trim()
                .parse()
                .map_err(|_| format!("'{ip}' is not an IPv4 address"))?;
            (sub.trim(), Some(ip.to_string()))
        }
        None => (s.trim(), None),
    };
    if subnet.is_empty() {
        return Err("the subnet id is empty: use SUBNET_ID[:IP]".into());
    }
    Ok(NicSpec {
        subnet_id: subnet.to_string(),
        ip_address: ip,
    })
}

/// A whitelist entry and its `permission_type`: `*`, `iam:domain::<id>`,
/// `organizations:orgPath::<path>`, or a bare 32-hex domain id (made `iam:domain::<id>`).
pub fn permission(s: &str) -> Result<(String, &'static str), String> {
    let s = s.trim();
    if s == "*" {
        return Ok((s.to_string(), "domainId"));
    }
    if let Some(rest) = s.strip_prefix("iam:domain::") {
        if rest.is_empty() {
            return Err(format!("'{s}' names no domain"));
        }
        return Ok((s.to_string(), "domainId"));
    }
    if let Some(rest) = s.strip_prefix("organizations:orgPath::") {
        if rest.is_empty() {
            return Err(format!("'{s}' names no organization path"));
        }
        return Ok((s.to_string(), "orgPath"));
    }
    if s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok((format!("iam:domain::{s}"), "domainId"));
    }
    Err(format!(
        "'{s}' is not a permission: use a 32-hex domain id, iam:domain::<id>, organizations:orgPath::<path> or *"
    ))
}

/// `KEY=VALUE` (or `KEY`, value empty).
pub fn tag(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').unwrap_or((s, ""));
    if k.trim().is_empty() {
        return Err(format!("tag '{s}' has no key: use KEY=VALUE"));
    }
    Ok((k.trim().to_string(), v.to_string()))
}

/// `80` or `8000-8080`.
pub fn port_range(s: &str) -> Result<(u16, u16), String> {
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (port(a, "port")?, port(b, "port")?),
        None => {
            let p = port(s, "port")?;
            (p, p)
        }
    };
    if a > b {
        return Err(format!("port range '{s}' ends before it starts"));
    }
    Ok((a, b))
}

/// The first host address of `cidr` (`192.168.1.0/24` → `192.168.1.1`): the default gateway.
pub fn first_host(cidr: &str) -> Result<String, String> {
    let (addr, len) = cidr
        .split_once('/')
        .ok_or_else(|| format!("'{cidr}' is not a CIDR such as 192.168.1.0/24"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("'{cidr}' is not a CIDR such as 192.168.1.0/24"))?;
    let len: u32 = len
        .parse()
        .ok()
        .filter(|l| *l <= 30)
        .ok_or_else(|| format!("'{cidr}': the prefix must be /0 to /30"))?;
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    Ok(Ipv4Addr::from((u32::from(addr) & mask) + 1).to_string())
}

/// `8-4-4-4-12` hex: an id rather than a name.
pub fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triples(p: &Ports) -> Vec<(i64, i64, String)> {
        p.0.iter()
            .map(|m| {
                (
                    m.client_port.unwrap(),
                    m.server_port.unwrap(),
                    m.protocol.clone().unwrap(),
                )
            })
            .collect()
    }

    #[test]
    fn ports_notation() {
        assert_eq!(
            triples(&ports("80:8080/tcp,53:53/udp").unwrap()),
            vec![(80, 8080, "TCP".to_string()), (53, 53, "UDP".to_string())]
        );
        assert_eq!(
            triples(&ports("443").unwrap()),
            vec![(443, 443, "TCP".to_string())]
        );
        assert_eq!(
            triples(&ports(" 22:2222 , ").unwrap()),
            vec![(22, 2222, "TCP".to_string())]
        );
        assert_eq!(
            triples(&ports("1:65535/UDP").unwrap()),
            vec![(1, 65535, "UDP".to_string())]
        );
        for bad in ["", ",", "0:80", "80:70000", "80:8080/icmp", "a:b", "80:"] {
            assert!(ports(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn listener_notation() {
        let l = listener("TCP:80=192.168.0.10:8080,192.168.0.11:8080").unwrap();
        assert_eq!(l.protocol, "TCP");
        assert_eq!(l.port, 80);
        assert_eq!(
            l.members,
            vec![
                MemberSpec {
                    address: "192.168.0.10".into(),
                    port: 8080
                },
                MemberSpec {
                    address: "192.168.0.11".into(),
                    port: 8080
                }
            ]
        );
        let u = listener("udp:53=10.0.0.2:53").unwrap();
        assert_eq!(
            (u.protocol.as_str(), u.port, u.members.len()),
            ("UDP", 53, 1)
        );
        let bare = listener("443").unwrap();
        assert_eq!(
            (bare.protocol.as_str(), bare.port, bare.members.len()),
            ("TCP", 443, 0)
        );
        for bad in [
            "TCP:0=1.2.3.4:80",
            "SCTP:80=1.2.3.4:80",
            "TCP:80=1.2.3.4",
            "TCP:80=host:80",
            "TCP:80=1.2.3.4:0",
            "",
        ] {
            assert!(listener(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn nic_notation() {
        let id = "4779ab1c-7c1a-44b1-a02e-93dfc361b32d";
        assert_eq!(
            nic(id).unwrap(),
            NicSpec {
                subnet_id: id.into(),
                ip_address: None
            }
        );
        assert_eq!(
            nic(&format!("{id}:192.168.0.10")).unwrap(),
            NicSpec {
                subnet_id: id.into(),
                ip_address: Some("192.168.0.10".into())
            }
        );
        assert!(nic(&format!("{id}:300.1.1.1")).is_err());
        assert!(nic(":10.0.0.1").is_err());
        assert!(nic("").is_err());
    }

    #[test]
    fn permission_shorthand() {
        let d = "0123456789abcdef0123456789ABCDEF";
        assert_eq!(
            permission(d).unwrap(),
            (format!("iam:domain::{d}"), "domainId")
        );
        assert_eq!(permission("*").unwrap(), ("*".to_string(), "domainId"));
        assert_eq!(
            permission("iam:domain::abc").unwrap(),
            ("iam:domain::abc".to_string(), "domainId")
        );
        assert_eq!(
            permission("organizations:orgPath::o-1/r-2/ou-3").unwrap(),
            ("organizations:orgPath::o-1/r-2/ou-3".to_string(), "orgPath")
        );
        for bad in [
            "abc",
            "0123456789abcdef0123456789abcdeg",
            "iam:domain::",
            "organizations:orgPath::",
            "",
        ] {
            assert!(permission(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tags_ranges_gateways_ids() {
        assert_eq!(tag("env=prod").unwrap(), ("env".into(), "prod".into()));
        assert_eq!(tag("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert_eq!(tag("flag").unwrap(), ("flag".into(), String::new()));
        assert!(tag("=x").is_err());
        assert_eq!(port_range("80").unwrap(), (80, 80));
        assert_eq!(port_range("8000-8080").unwrap(), (8000, 8080));
        assert!(port_range("90-80").is_err());
        assert!(port_range("0").is_err());
        assert_eq!(first_host("192.168.1.0/24").unwrap(), "192.168.1.1");
        assert_eq!(first_host("10.1.2.3/16").unwrap(), "10.1.0.1");
        assert!(first_host("10.0.0.0/31").is_err());
        assert!(first_host("10.0.0.0").is_err());
        assert!(is_uuid("4779ab1c-7c1a-44b1-a02e-93dfc361b32d"));
        assert!(!is_uuid(
            "cn-north-4.web.4779ab1c-7c1a-44b1-a02e-93dfc361b32d"
        ));
    }
}
