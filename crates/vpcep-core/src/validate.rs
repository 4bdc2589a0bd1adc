//! Input rules of SPEC S1–S6 and the reference, in one place: API, console and CLI all call these.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::command::PortMappingInput;
use crate::error::{CidrProblem, DomainError, DomainResult, TagProblem, quoted};
use crate::model::{PortMapping, Protocol, Tag};

pub const MAX_SERVICE_NAME: usize = 16;
pub const MAX_PORTS_PER_CALL: usize = 200;
pub const MAX_SERVICES_PER_BACKEND: i64 = 5;
pub const MAX_TAGS: usize = 20;
pub const MAX_DESCRIPTION: usize = 512;
pub const MAX_ENDPOINT_WHITELIST: usize = 20;
pub const MAX_PERMISSIONS_PER_CALL: usize = 200;

/// Source range of translated traffic (SPEC S7); no VPC or subnet may overlap it.
pub fn snat_range() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(198, 19, 128, 0), 20).unwrap_or_default()
}

/// `[A-Za-z0-9_-]{1,16}`.
pub fn service_short_name(name: &str) -> DomainResult<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_SERVICE_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(DomainError::InvalidServiceName {
            field: "service_name",
            value: quoted(name),
        })
    }
}

/// Descriptions: no `<` or `>`, bounded length.
pub fn description(field: &'static str, text: &str) -> DomainResult<()> {
    if text.contains('<') || text.contains('>') {
        return Err(DomainError::AngleBrackets { field });
    }
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(DomainError::TooLong {
            field,
            max: MAX_DESCRIPTION,
        });
    }
    Ok(())
}

/// Port mappings of one service: 1..=200, ports in 1–65535, TCP or UDP, no duplicate endpoint port
/// and no duplicate backend port per protocol.
/// Port mappings as a user gave them, parsed and checked: at most [`MAX_PORTS_PER_CALL`], both
/// ports present and in range, TCP when no protocol is given, no repeats ([`port_mappings`]).
pub fn port_mapping_inputs(raw: &[PortMappingInput]) -> DomainResult<Vec<PortMapping>> {
    if raw.len() > MAX_PORTS_PER_CALL {
        return Err(DomainError::TooMany {
            field: "ports",
            max: MAX_PORTS_PER_CALL,
        });
    }
    let mut out = Vec::with_capacity(raw.len());
    for p in raw {
        let (Some(c), Some(s)) = (p.client_port, p.server_port) else {
            return Err(DomainError::Incomplete { field: "ports" });
        };
        out.push(PortMapping {
            client_port: port_number("client_port", c)?,
            server_port: port_number("server_port", s)?,
            protocol: match p.protocol.as_deref() {
                None | Some("") => Protocol::TCP,
                Some(x) => protocol(x)?,
            },
        });
    }
    port_mappings(&out)?;
    Ok(out)
}

pub fn port_mappings(ports: &[PortMapping]) -> DomainResult<()> {
    if ports.is_empty() {
        return Err(DomainError::Missing { field: "ports" });
    }
    if ports.len() > MAX_PORTS_PER_CALL {
        return Err(DomainError::TooMany {
            field: "ports",
            max: MAX_PORTS_PER_CALL,
        });
    }
    let mut client = HashSet::new();
    let mut server = HashSet::new();
    for p in ports {
        if p.client_port == 0 {
            return Err(DomainError::PortOutOfRange {
                field: "client_port",
                value: 0,
            });
        }
        if p.server_port == 0 {
            return Err(DomainError::PortOutOfRange {
                field: "server_port",
                value: 0,
            });
        }
        if !client.insert((p.client_port, p.protocol)) {
            return Err(DomainError::DuplicatePort {
                field: "client_port",
                port: p.client_port,
                protocol: p.protocol,
            });
        }
        if !server.insert((p.server_port, p.protocol)) {
            return Err(DomainError::DuplicatePort {
                field: "server_port",
                port: p.server_port,
                protocol: p.protocol,
            });
        }
    }
    Ok(())
}

/// A raw port number from a request (the SDK sends ints; older docs show strings).
pub fn port_number(field: &'static str, raw: i64) -> DomainResult<u16> {
    match u16::try_from(raw) {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(DomainError::PortOutOfRange { field, value: raw }),
    }
}

pub fn protocol(raw: &str) -> DomainResult<Protocol> {
    Protocol::parse(raw).ok_or_else(|| DomainError::InvalidProtocol { value: quoted(raw) })
}

/// Tags: at most 20, keys 1–128 and unique, values ≤255, no control characters.
pub fn tags(tags: &[Tag]) -> DomainResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(DomainError::TooMany {
            field: "tags",
            max: MAX_TAGS,
        });
    }
    let mut keys = HashSet::new();
    for t in tags {
        tag(t)?;
        if !keys.insert(t.key.as_str()) {
            return Err(DomainError::DuplicateTagKey {
                key: quoted(&t.key),
            });
        }
    }
    Ok(())
}

pub fn tag(t: &Tag) -> DomainResult<()> {
    let key = t.key.trim();
    let problem = if key.is_empty() {
        TagProblem::KeyEmpty
    } else if key.chars().count() > 128 {
        TagProblem::KeyTooLong
    } else if t.value.chars().count() > 255 {
        TagProblem::ValueTooLong
    } else if t
        .key
        .chars()
        .chain(t.value.chars())
        .any(|c| c.is_control() || c == '<' || c == '>' || c == '=' || c == ',')
    {
        TagProblem::ForbiddenCharacter
    } else {
        return Ok(());
    };
    Err(DomainError::InvalidTag {
        key: quoted(&t.key),
        problem,
    })
}

/// A whitelist record: `iam:domain::<domain_id>`, `organizations:orgPath::<path>` or `*`.
/// Returns the permission type (`domainId` / `orgPath`).
pub fn permission(p: &str) -> DomainResult<&'static str> {
    let bad = || DomainError::InvalidPermission { value: quoted(p) };
    if p == "*" {
        return Ok("domainId");
    }
    if let Some(id) = p.strip_prefix("iam:domain::") {
        let ok = (1..=64).contains(&id.len())
            && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '*');
        return if ok { Ok("domainId") } else { Err(bad()) };
    }
    if let Some(path) = p.strip_prefix("organizations:orgPath::") {
        let ok = (1..=1024).contains(&path.len())
            && path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/-*?".contains(c));
        return if ok { Ok("orgPath") } else { Err(bad()) };
    }
    Err(bad())
}

/// Does whitelist record `p` let account `domain_id` connect?
pub fn permission_matches(p: &str, domain_id: &str) -> bool {
    if p == "*" {
        return true;
    }
    match p.strip_prefix("iam:domain::") {
        Some("*") => true,
        Some(id) => id.eq_ignore_ascii_case(domain_id),
        None => false,
    }
}

/// The endpoint's source ACL: IPv4 addresses or CIDRs.
pub fn endpoint_whitelist(list: &[String]) -> DomainResult<Vec<String>> {
    if list.len() > MAX_ENDPOINT_WHITELIST {
        return Err(DomainError::TooMany {
            field: "whitelist",
            max: MAX_ENDPOINT_WHITELIST,
        });
    }
    let mut out = Vec::with_capacity(list.len());
    for raw in list {
        let s = raw.trim();
        let net = if s.contains('/') {
            s.parse::<Ipv4Net>().ok()
        } else {
            s.parse::<Ipv4Addr>().ok().map(Ipv4Net::from)
        };
        match net {
            Some(n) if n.trunc() == n || !s.contains('/') => out.push(s.to_string()),
            _ => {
                return Err(DomainError::InvalidWhitelistEntry { value: quoted(raw) });
            }
        }
    }
    Ok(out)
}

/// A VPC or subnet CIDR: canonical IPv4 network, prefix /8–/29, not overlapping the SNAT range.
pub fn network_cidr(field: &'static str, raw: &str) -> DomainResult<Ipv4Net> {
    let bad = |problem| DomainError::InvalidCidr {
        field,
        value: quoted(raw),
        problem,
    };
    let net: Ipv4Net = raw
        .trim()
        .parse()
        .map_err(|_| bad(CidrProblem::Malformed))?;
    if net.trunc() != net {
        return Err(bad(CidrProblem::HostBits {
            network: net.trunc().to_string(),
        }));
    }
    if !(8..=29).contains(&net.prefix_len()) {
        return Err(bad(CidrProblem::PrefixLength));
    }
    let reserved = snat_range();
    if crate::ipam::overlaps(&net, &reserved) {
        return Err(bad(CidrProblem::Reserved {
            reserved: reserved.to_string(),
        }));
    }
    Ok(net)
}

/// Generic resource names in the inventory (Huawei VPC: 1–64 characters, letters, digits, `_-.`,
/// and CJK).
pub fn resource_name(field: &'static str, name: &str) -> DomainResult<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        // Names are quoted short: they are echoed next to a form field.
        Err(DomainError::InvalidResourceName {
            field,
            value: crate::error::shorten(name, 80).into_owned(),
        })
    }
}

/// UUID-shaped ids. Anything else cannot name a resource, so it answers "does not exist" rather
/// than a parse error, matching how a real cloud treats unknown ids.
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok()
}

/// 32 lowercase hex characters (account and project ids).
pub fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    UpdatedAt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
    pub sort_key: SortKey,
    pub descending: bool,
}

/// Pagination query parameters as received (strings, so bad numbers get the documented codes).
pub fn page(
    limit: Option<&str>,
    offset: Option<&str>,
    sort_key: Option<&str>,
    sort_dir: Option<&str>,
    max_limit: i64,
) -> DomainResult<Page> {
    let limit = match limit {
        None | Some("") => 10,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (0..=max_limit).contains(&n) => n,
            _ => {
                return Err(DomainError::InvalidLimit {
                    value: quoted(s),
                    max: max_limit,
                });
            }
        },
    };
    let offset = match offset {
        None | Some("") => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => return Err(DomainError::InvalidOffset { value: quoted(s) }),
        },
    };
    let sort_key = match sort_key {
        None | Some("") | Some("create_at") | Some("created_at") => SortKey::CreatedAt,
        Some("update_at") | Some("updated_at") => SortKey::UpdatedAt,
        Some(s) => {
            return Err(DomainError::Unsupported {
                field: "sort_key",
                value: quoted(s),
                allowed: &["create_at", "update_at"],
            });
        }
    };
    let descending = match sort_dir {
        None | Some("") | Some("desc") => true,
        Some("asc") => false,
        Some(s) => {
            return Err(DomainError::Unsupported {
                field: "sort_dir",
                value: quoted(s),
                allowed: &["asc", "desc"],
            });
        }
    };
    Ok(Page {
        limit,
        offset,
        sort_key,
        descending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_names() {
        assert!(service_short_name("svc_1-A").is_ok());
        assert!(service_short_name("0123456789abcdef").is_ok());
        assert!(matches!(
            service_short_name("0123456789abcdefg"),
            Err(DomainError::InvalidServiceName { .. })
        ));
        assert!(service_short_name("bad name").is_err());
        assert!(service_short_name("").is_err());
        assert!(service_short_name("名字").is_err());
    }

    fn pm(c: u16, s: u16, p: Protocol) -> PortMapping {
        PortMapping {
            client_port: c,
            server_port: s,
            protocol: p,
        }
    }

    #[test]
    fn port_rules() {
        assert!(port_mappings(&[pm(80, 8080, Protocol::TCP), pm(80, 8080, Protocol::UDP)]).is_ok());
        assert_eq!(
            port_mappings(&[]),
            Err(DomainError::Missing { field: "ports" })
        );
        assert_eq!(
            port_mappings(&[pm(80, 1, Protocol::TCP), pm(80, 2, Protocol::TCP)]),
            Err(DomainError::DuplicatePort {
                field: "client_port",
                port: 80,
                protocol: Protocol::TCP
            })
        );
        assert_eq!(
            port_mappings(&[pm(1, 80, Protocol::TCP), pm(2, 80, Protocol::TCP)]),
            Err(DomainError::DuplicatePort {
                field: "server_port",
                port: 80,
                protocol: Protocol::TCP
            })
        );
        let many: Vec<_> = (1..=201).map(|i| pm(i, i, Protocol::TCP)).collect();
        assert_eq!(
            port_mappings(&many),
            Err(DomainError::TooMany {
                field: "ports",
                max: 200
            })
        );
        assert!(port_mappings(&many[..200]).is_ok());
        assert_eq!(
            port_number("server_port", 65536),
            Err(DomainError::PortOutOfRange {
                field: "server_port",
                value: 65536
            })
        );
        assert_eq!(
            port_number("client_port", -1),
            Err(DomainError::PortOutOfRange {
                field: "client_port",
                value: -1
            })
        );
        assert_eq!(port_number("client_port", 65535), Ok(65535));
        assert_eq!(
            protocol("SCTP"),
            Err(DomainError::InvalidProtocol {
                value: "SCTP".into()
            })
        );
    }

    #[test]
    fn permissions() {
        assert_eq!(permission("*").unwrap(), "domainId");
        assert_eq!(
            permission("iam:domain::0123456789abcdef0123456789abcdef").unwrap(),
            "domainId"
        );
        assert_eq!(
            permission("organizations:orgPath::o-1/r-2").unwrap(),
            "orgPath"
        );
        assert!(matches!(
            permission("domain::abc"),
            Err(DomainError::InvalidPermission { .. })
        ));
        assert!(permission("iam:domain::").is_err());
        assert!(permission("iam:domain::a b").is_err());
        assert!(permission_matches("iam:domain::ABC", "abc"));
        assert!(permission_matches("*", "x"));
        assert!(!permission_matches("iam:domain::abc", "abd"));
    }

    #[test]
    fn cidrs() {
        assert!(network_cidr("cidr", "192.168.0.0/16").is_ok());
        assert!(network_cidr("cidr", "192.168.0.1/16").is_err());
        assert!(network_cidr("cidr", "198.19.0.0/16").is_err());
        assert!(network_cidr("cidr", "198.19.130.0/24").is_err());
        assert!(network_cidr("cidr", "198.19.144.0/24").is_ok());
        assert!(network_cidr("cidr", "10.0.0.0/30").is_err());
        assert!(network_cidr("cidr", "nope").is_err());
    }

    #[test]
    fn whitelist() {
        assert!(endpoint_whitelist(&["10.0.0.1".into(), "10.0.0.0/24".into()]).is_ok());
        assert!(matches!(
            endpoint_whitelist(&["10.0.0.1/24".into()]),
            Err(DomainError::InvalidWhitelistEntry { .. })
        ));
        assert!(endpoint_whitelist(&["x".into()]).is_err());
    }

    #[test]
    fn paging() {
        let p = page(None, None, None, None, 1000).unwrap();
        assert_eq!((p.limit, p.offset, p.descending), (10, 0, true));
        assert!(matches!(
            page(Some("1001"), None, None, None, 1000),
            Err(DomainError::InvalidLimit { max: 1000, .. })
        ));
        assert!(matches!(
            page(Some("x"), None, None, None, 1000),
            Err(DomainError::InvalidLimit { .. })
        ));
        assert!(matches!(
            page(None, Some("-1"), None, None, 1000),
            Err(DomainError::InvalidOffset { .. })
        ));
        assert!(matches!(
            page(None, None, Some("name"), None, 1000),
            Err(DomainError::Unsupported {
                field: "sort_key",
                ..
            })
        ));
        assert!(matches!(
            page(None, None, None, Some("up"), 1000),
            Err(DomainError::Unsupported {
                field: "sort_dir",
                ..
            })
        ));
    }
}
