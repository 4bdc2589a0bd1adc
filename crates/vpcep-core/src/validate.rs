//! Input rules of SPEC S1–S6 and the reference, in one place: API, console and CLI all call these.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;

use crate::error::{ApiError, ApiResult, codes};
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
pub fn service_short_name(name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_SERVICE_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::new(
            400,
            codes::INVALID_SERVICE_NAME_3076,
            format!(
                "Invalid service name '{name}': use 1 to {MAX_SERVICE_NAME} letters, digits, '_' or '-'."
            ),
        )
        .on("service_name"))
    }
}

/// Descriptions: no `<` or `>`, bounded length.
pub fn description(field: &'static str, text: &str) -> ApiResult<()> {
    if text.contains('<') || text.contains('>') {
        return Err(ApiError::param(format!("{field} must not contain '<' or '>'.")).on(field));
    }
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::param(format!(
            "{field} is longer than {MAX_DESCRIPTION} characters."
        ))
        .on(field));
    }
    Ok(())
}

/// Port mappings of one service: 1..=200, ports in 1–65535, TCP or UDP, no duplicate endpoint port
/// and no duplicate backend port per protocol.
pub fn port_mappings(ports: &[PortMapping]) -> ApiResult<()> {
    if ports.is_empty() {
        return Err(ApiError::new(
            400,
            "EndPoint.2028",
            "The endpoint service port or protocol is empty.",
        )
        .on("ports"));
    }
    if ports.len() > MAX_PORTS_PER_CALL {
        return Err(ApiError::new(
            400,
            codes::PORTS_LIMIT,
            format!("The maximum of ports has been reached: at most {MAX_PORTS_PER_CALL} mappings per call."),
        )
        .on("ports"));
    }
    let mut client = HashSet::new();
    let mut server = HashSet::new();
    for p in ports {
        if p.client_port == 0 {
            return Err(ApiError::new(
                400,
                codes::INVALID_PORT,
                "client_port must be between 1 and 65535.",
            )
            .on("ports"));
        }
        if p.server_port == 0 {
            return Err(ApiError::new(
                400,
                codes::INVALID_SERVICE_PORT,
                "server_port must be between 1 and 65535.",
            )
            .on("ports"));
        }
        if !client.insert((p.client_port, p.protocol)) {
            return Err(ApiError::new(
                400,
                codes::PORTS_CONFLICT,
                format!(
                    "Duplicate mapping: client_port {} {} appears twice.",
                    p.client_port,
                    p.protocol.as_str()
                ),
            )
            .on("ports"));
        }
        if !server.insert((p.server_port, p.protocol)) {
            return Err(ApiError::new(
                400,
                codes::PORTS_CONFLICT,
                format!(
                    "Duplicate mapping: server_port {} {} appears twice.",
                    p.server_port,
                    p.protocol.as_str()
                ),
            )
            .on("ports"));
        }
    }
    Ok(())
}

/// A raw port number from a request (the SDK sends ints; older docs show strings).
pub fn port_number(field: &'static str, raw: i64, code: &'static str) -> ApiResult<u16> {
    if (1..=65535).contains(&raw) {
        Ok(raw as u16)
    } else {
        Err(ApiError::new(400, code, format!("{field} {raw} is out of range 1-65535.")).on("ports"))
    }
}

pub fn protocol(raw: &str) -> ApiResult<Protocol> {
    Protocol::parse(raw).ok_or_else(|| {
        ApiError::new(
            400,
            codes::INVALID_PROTOCOL,
            format!("The protocol '{raw}' is invalid: use TCP or UDP."),
        )
        .on("ports")
    })
}

/// Tags: at most 20, keys 1–128 and unique, values ≤255, no control characters.
pub fn tags(tags: &[Tag]) -> ApiResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(ApiError::new(
            400,
            codes::TAG_LIMIT,
            format!("At most {MAX_TAGS} tags per resource."),
        )
        .on("tags"));
    }
    let mut keys = HashSet::new();
    for t in tags {
        tag(t)?;
        if !keys.insert(t.key.as_str()) {
            return Err(ApiError::new(
                400,
                codes::TAG_KEY_DUPLICATED,
                format!("Tag key '{}' is duplicated.", t.key),
            )
            .on("tags"));
        }
    }
    Ok(())
}

pub fn tag(t: &Tag) -> ApiResult<()> {
    let key = t.key.trim();
    if key.is_empty() {
        return Err(
            ApiError::new(400, codes::TAG_EMPTY, "The tag key cannot be empty.").on("tags"),
        );
    }
    if key.chars().count() > 128 {
        return Err(ApiError::new(
            400,
            codes::TAG_KEY_SIZE,
            "A tag key is 1 to 128 characters.",
        )
        .on("tags"));
    }
    if t.value.chars().count() > 255 {
        return Err(ApiError::new(
            400,
            codes::TAG_VALUE_SIZE,
            "A tag value is at most 255 characters.",
        )
        .on("tags"));
    }
    if t.key
        .chars()
        .chain(t.value.chars())
        .any(|c| c.is_control() || c == '<' || c == '>' || c == '=' || c == ',')
    {
        return Err(ApiError::new(
            400,
            codes::TAG_INVALID,
            "Tag keys and values may not contain control characters or < > = ,",
        )
        .on("tags"));
    }
    Ok(())
}

/// A whitelist record: `iam:domain::<domain_id>`, `organizations:orgPath::<path>` or `*`.
/// Returns the permission type (`domainId` / `orgPath`).
pub fn permission(p: &str) -> ApiResult<&'static str> {
    let bad = || {
        ApiError::new(
            400,
            codes::INVALID_PERMISSION,
            format!("Invalid permission '{p}': use iam:domain::<account id>, organizations:orgPath::<path> or *."),
        )
        .on("permissions")
    };
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
pub fn endpoint_whitelist(list: &[String]) -> ApiResult<Vec<String>> {
    if list.len() > MAX_ENDPOINT_WHITELIST {
        return Err(ApiError::new(
            400,
            codes::INVALID_WHITELIST,
            format!("The maximum number of whitelist records ({MAX_ENDPOINT_WHITELIST}) has been reached."),
        )
        .on("whitelist"));
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
                return Err(ApiError::new(
                    400,
                    codes::INVALID_ENDPOINT_WHITELIST,
                    format!("Invalid whitelist entry '{raw}': use an IPv4 address or CIDR such as 10.0.0.0/24."),
                )
                .on("whitelist"));
            }
        }
    }
    Ok(out)
}

/// A VPC or subnet CIDR: canonical IPv4 network, prefix /8–/29, not overlapping the SNAT range.
pub fn network_cidr(field: &'static str, raw: &str) -> ApiResult<Ipv4Net> {
    let net: Ipv4Net = raw.trim().parse().map_err(|_| {
        ApiError::new(
            400,
            codes::INVALID_CIDR,
            format!("Invalid CIDR '{raw}': use a form such as 192.168.0.0/24."),
        )
        .on(field)
    })?;
    if net.trunc() != net {
        return Err(ApiError::new(
            400,
            codes::INVALID_CIDR,
            format!(
                "Invalid CIDR '{raw}': host bits are set (did you mean {}?).",
                net.trunc()
            ),
        )
        .on(field));
    }
    if !(8..=29).contains(&net.prefix_len()) {
        return Err(ApiError::new(
            400,
            codes::INVALID_CIDR,
            format!("CIDR '{raw}' must have a prefix from /8 to /29."),
        )
        .on(field));
    }
    let reserved = snat_range();
    if net.contains(&reserved.network()) || reserved.contains(&net.network()) {
        return Err(ApiError::new(
            400,
            codes::INVALID_CIDR,
            format!(
                "CIDR '{raw}' overlaps {reserved}, which is reserved for VPC endpoint traffic."
            ),
        )
        .on(field));
    }
    Ok(net)
}

/// Generic resource names in the inventory (Huawei VPC: 1–64 characters, letters, digits, `_-.`,
/// and CJK).
pub fn resource_name(field: &'static str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ApiError::param(format!(
            "Invalid {field} '{}': use 1 to 64 letters, digits, '_', '-' or '.'.",
            crate::error::shorten(name, 80)
        ))
        .on(field))
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
) -> ApiResult<Page> {
    let limit = match limit {
        None | Some("") => 10,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (0..=max_limit).contains(&n) => n,
            _ => {
                return Err(ApiError::new(
                    400,
                    codes::INVALID_LIMIT,
                    format!("Invalid limit '{s}': use an integer from 0 to {max_limit}."),
                ));
            }
        },
    };
    let offset = match offset {
        None | Some("") => 0,
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n >= 0 => n,
            _ => {
                return Err(ApiError::new(
                    400,
                    codes::INVALID_OFFSET,
                    format!("Invalid offset '{s}': use an integer ≥ 0."),
                ));
            }
        },
    };
    let sort_key = match sort_key {
        None | Some("") | Some("create_at") | Some("created_at") => SortKey::CreatedAt,
        Some("update_at") | Some("updated_at") => SortKey::UpdatedAt,
        Some(s) => {
            return Err(ApiError::new(
                400,
                codes::INVALID_SORT_KEY,
                format!("Invalid sort_key '{s}': use create_at or update_at."),
            ));
        }
    };
    let descending = match sort_dir {
        None | Some("") | Some("desc") => true,
        Some("asc") => false,
        Some(s) => {
            return Err(ApiError::new(
                400,
                codes::INVALID_SORT_DIR,
                format!("Invalid sort_dir '{s}': use asc or desc."),
            ));
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
        assert_eq!(
            service_short_name("0123456789abcdefg").unwrap_err().code,
            "EndPoint.3076"
        );
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
        assert_eq!(port_mappings(&[]).unwrap_err().code, "EndPoint.2028");
        assert_eq!(
            port_mappings(&[pm(80, 1, Protocol::TCP), pm(80, 2, Protocol::TCP)])
                .unwrap_err()
                .code,
            "EndPoint.3044"
        );
        assert_eq!(
            port_mappings(&[pm(1, 80, Protocol::TCP), pm(2, 80, Protocol::TCP)])
                .unwrap_err()
                .code,
            "EndPoint.3044"
        );
        let many: Vec<_> = (1..=201).map(|i| pm(i, i, Protocol::TCP)).collect();
        assert_eq!(port_mappings(&many).unwrap_err().code, "EndPoint.3074");
        assert!(port_mappings(&many[..200]).is_ok());
        assert_eq!(
            port_number("server_port", 65536, codes::INVALID_SERVICE_PORT)
                .unwrap_err()
                .code,
            "EndPoint.3043"
        );
        assert_eq!(
            port_number("client_port", 0, codes::INVALID_PORT)
                .unwrap_err()
                .code,
            "EndPoint.3004"
        );
        assert_eq!(protocol("SCTP").unwrap_err().code, "EndPoint.3075");
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
        assert_eq!(permission("domain::abc").unwrap_err().code, "EndPoint.3002");
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
        assert_eq!(
            endpoint_whitelist(&["10.0.0.1/24".into()])
                .unwrap_err()
                .code,
            "EndPoint.2044"
        );
        assert!(endpoint_whitelist(&["x".into()]).is_err());
    }

    #[test]
    fn paging() {
        let p = page(None, None, None, None, 1000).unwrap();
        assert_eq!((p.limit, p.offset, p.descending), (10, 0, true));
        assert_eq!(
            page(Some("1001"), None, None, None, 1000).unwrap_err().code,
            "EndPoint.0006"
        );
        assert_eq!(
            page(Some("x"), None, None, None, 1000).unwrap_err().code,
            "EndPoint.0006"
        );
        assert_eq!(
            page(None, Some("-1"), None, None, 1000).unwrap_err().code,
            "EndPoint.0010"
        );
        assert_eq!(
            page(None, None, Some("name"), None, 1000).unwrap_err().code,
            "EndPoint.0017"
        );
        assert_eq!(
            page(None, None, None, Some("up"), 1000).unwrap_err().code,
            "EndPoint.0018"
        );
    }
}
