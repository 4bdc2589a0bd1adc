//! Domain errors: what went wrong, with the offending field and values as data. No wire format
//! here: each front renders them in its own words (the Huawei front as `EndPoint.xxxx` or
//! `VPC.xxxx` codes with an HTTP status and an English message, the console in the user's
//! language next to the field, the CLI in its own wording through [`std::fmt::Display`]).

use std::borrow::Cow;

use crate::model::Protocol;

/// The request field an error is about, by its API name (`server_port`, `vpc_id`, ...).
pub type Field = &'static str;

/// Longest text quoted back from a request (bytes). Errors quote the offending value; a 11 MB name
/// must not come back as an 11 MB error.
pub const MAX_QUOTED: usize = 1024;

/// `s` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub fn shorten(s: &str, max: usize) -> Cow<'_, str> {
    if s.len() <= max {
        return Cow::Borrowed(s);
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}…", &s[..end]))
}

/// A value quoted from a request, bounded to [`MAX_QUOTED`] bytes when the error is made (so a
/// hostile value costs nothing however often the error is rendered).
pub fn quoted(value: &str) -> String {
    shorten(value, MAX_QUOTED).into_owned()
}

/// The things an error can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Thing {
    Vpc,
    Subnet,
    /// A subnet addressed by its network id (what ports call `network_id`).
    Network,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Server,
    LoadBalancer,
    Site,
    EndpointService,
    Endpoint,
    /// A whitelist record of a service.
    Permission,
}

impl Thing {
    /// Its English name, as error messages use it.
    pub fn noun(self) -> &'static str {
        match self {
            Thing::Vpc => "VPC",
            Thing::Subnet => "subnet",
            Thing::Network => "network",
            Thing::Port => "port",
            Thing::SecurityGroup => "security group",
            Thing::SecurityGroupRule => "security group rule",
            Thing::Server => "server",
            Thing::LoadBalancer => "load balancer",
            Thing::Site => "site",
            Thing::EndpointService => "endpoint service",
            Thing::Endpoint => "endpoint",
            Thing::Permission => "whitelist record",
        }
    }
}

/// What is wrong with a CIDR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CidrProblem {
    /// Not an IPv4 network in `a.b.c.d/n` form.
    Malformed,
    /// Host bits are set; `network` is what was probably meant.
    HostBits { network: String },
    /// The prefix is outside /8–/29.
    PrefixLength,
    /// It overlaps the range reserved for translated endpoint traffic.
    Reserved { reserved: String },
}

/// What is wrong with a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagProblem {
    KeyEmpty,
    KeyTooLong,
    ValueTooLong,
    /// Control characters or one of `< > = ,`.
    ForbiddenCharacter,
}

/// What is wrong with a requested fixed IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IpProblem {
    /// Outside the subnet.
    NotInSubnet { cidr: String },
    /// The subnet's network, gateway or broadcast address.
    Reserved { cidr: String },
    /// Another port or endpoint has it.
    InUse,
}

/// A network another one overlaps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overlapped {
    /// A subnet of the same VPC.
    Subnet { name: String, cidr: String },
    /// The VPC a site joins.
    Vpc { cidr: String },
    /// Another site of the same VPC.
    Site { name: String, cidr: String },
}

/// Per-parent limits (not account quotas).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Whitelist records of one service.
    PermissionsPerService,
    /// Endpoint services on one backend port.
    ServicesPerBackend,
}

/// Everything that can go wrong in a domain operation. Values quoted from requests are bounded by
/// [`quoted`] where the error is made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    // ---- the request's shape ------------------------------------------------------------------
    #[error("{field} is required")]
    Missing { field: Field },
    /// An item of a list lacks one of its required parts.
    #[error("an item of {field} is incomplete")]
    Incomplete { field: Field },
    #[error("{field} has more than {max} items")]
    TooMany { field: Field, max: usize },
    #[error("{field} needs {min} to {max} items")]
    CountOutOfRange {
        field: Field,
        min: usize,
        max: usize,
    },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: Field, max: usize },
    /// `<` or `>` in a free text.
    #[error("{field} contains '<' or '>'")]
    AngleBrackets { field: Field },
    /// A value outside a fixed set; `allowed` lists the set (empty when it is too long to list).
    #[error("{field} '{value}' is not one of {allowed:?}")]
    Unsupported {
        field: Field,
        value: String,
        allowed: &'static [&'static str],
    },
    /// Two fields that exclude each other (or of which exactly one is needed) were both given.
    #[error("give one of {first} and {second}")]
    ExclusiveFields { first: Field, second: Field },
    /// A field that cannot change after creation.
    #[error("{field} cannot be modified")]
    NotModifiable { field: Field },

    // ---- values ---------------------------------------------------------------------------------
    #[error("{field} {value} is out of range 1-65535")]
    PortOutOfRange { field: Field, value: i64 },
    #[error("{field} {port} {protocol:?} appears twice")]
    DuplicatePort {
        field: Field,
        port: u16,
        protocol: Protocol,
    },
    #[error("{protocol:?} server port {port} is already used on this backend")]
    BackendPortTaken { protocol: Protocol, port: u16 },
    #[error("listener {protocol:?} {port} is defined twice")]
    DuplicateListener { protocol: Protocol, port: u16 },
    #[error("protocol '{value}' is not TCP or UDP")]
    InvalidProtocol { value: String },
    /// A service's short name (`field`: `service_name`, or `endpoint_service_name` on rename).
    #[error("invalid service name '{value}'")]
    InvalidServiceName { field: Field, value: String },
    #[error("invalid {field} '{value}'")]
    InvalidResourceName { field: Field, value: String },
    #[error("invalid tag '{key}': {problem:?}")]
    InvalidTag { key: String, problem: TagProblem },
    #[error("tag key '{key}' is duplicated")]
    DuplicateTagKey { key: String },
    #[error("invalid whitelist record '{value}'")]
    InvalidPermission { value: String },
    #[error("invalid whitelist entry '{value}'")]
    InvalidWhitelistEntry { value: String },
    #[error("invalid {field} '{value}': {problem:?}")]
    InvalidCidr {
        field: Field,
        value: String,
        problem: CidrProblem,
    },
    /// Not an IPv4 address (or, for `remote_ip_prefix`, network).
    #[error("invalid {field} '{value}'")]
    InvalidAddress { field: Field, value: String },
    #[error("gateway {gateway} is not a host address of {cidr}")]
    GatewayNotHost { gateway: String, cidr: String },
    #[error("the fixed IP {ip}: {problem:?}")]
    PortIp { ip: String, problem: IpProblem },
    #[error("subnet {cidr} has no free address")]
    SubnetFull { cidr: String },
    #[error("subnet CIDR {cidr} is not inside the VPC CIDR {vpc_cidr}")]
    CidrOutsideVpc { cidr: String, vpc_cidr: String },
    #[error("CIDR {cidr} does not contain subnet {subnet_name} ({subnet_cidr})")]
    CidrLeavesOutSubnet {
        cidr: String,
        subnet_name: String,
        subnet_cidr: String,
    },
    #[error("CIDR {cidr} overlaps {with:?}")]
    CidrOverlap { cidr: String, with: Overlapped },
    #[error("port ranges need protocol tcp or udp")]
    PortRangeNeedsProtocol,
    #[error("port_range_min exceeds port_range_max")]
    PortRangeReversed,
    #[error("fixed_ips.subnet_id is not in network_id")]
    FixedIpOutsideNetwork,
    #[error("invalid policy statement")]
    InvalidPolicyStatement,
    #[error("policy_document is not a JSON object")]
    PolicyDocumentNotObject,
    #[error("invalid route table id")]
    InvalidRouteTable,
    #[error("invalid limit '{value}' (0 to {max})")]
    InvalidLimit { value: String, max: i64 },
    #[error("invalid offset '{value}'")]
    InvalidOffset { value: String },
    /// A query parameter that is not what it must be (flow records: `from`, `to`, `marker`).
    #[error("invalid {field} '{value}'")]
    InvalidQueryValue { field: Field, value: String },
    /// `limit` of a tag filter outside 1–1000.
    #[error("limit {value} is outside 1-1000")]
    FilterLimitOutOfRange { value: i64 },
    #[error("offset {value} is negative")]
    NegativeOffset { value: i64 },
    #[error("invalid marker_id '{value}'")]
    InvalidMarkerId { value: String },
    #[error("invalid region '{value}'")]
    InvalidRegion { value: String },
    #[error("quota {value} is outside 0-1000000")]
    QuotaValueOutOfRange { value: i64 },
    /// A time that is not RFC 3339 or epoch milliseconds, or a range that ends before it
    /// starts or spans more than a year (usage and audit queries; `field`: `from` or `to`).
    #[error("invalid {field} time '{value}'")]
    InvalidTime { field: Field, value: String },
    /// An IP address given for an interface service, which takes none.
    #[error("an interface service takes no ip")]
    IpNotTaken,

    // ---- what exists ------------------------------------------------------------------------
    /// The resource a request addresses (its path) does not exist or is not the caller's.
    #[error("the {} {id} does not exist", kind.noun())]
    NotFound { kind: Thing, id: String },
    /// A field of the request names a resource that does not exist or is not the caller's.
    #[error("{field} names a {} {id} that does not exist", kind.noun())]
    UnknownReference {
        field: Field,
        kind: Thing,
        id: String,
    },
    /// `describe` found no service by that id or name in the region.
    #[error("no such endpoint service in this region")]
    ServiceNotInRegion,
    #[error("no account named '{name}'")]
    AccountNotFound { name: String },
    #[error("account '{account}' has no project in {region}")]
    NoProjectInRegion { account: String, region: String },
    #[error("an account named '{name}' already exists")]
    AccountExists { name: String },
    #[error("account '{account}' already has a project in {region}")]
    ProjectExists { account: String, region: String },
    #[error("subnet {subnet_id} is not in VPC {vpc_id}")]
    SubnetNotInVpc { subnet_id: String, vpc_id: String },
    #[error("port {port_id} is not in VPC {vpc_id}")]
    PortNotInVpc { port_id: String, vpc_id: String },
    #[error("port {port_id} is not a load balancer's VIP")]
    NotLoadBalancerVip { port_id: String },
    #[error("port {port_id} is a load balancer's VIP")]
    LoadBalancerVipAsVm { port_id: String },
    #[error("an identical rule exists")]
    DuplicateRule,

    // ---- what is in use ---------------------------------------------------------------------
    /// A VPC still holds `count` resources of a kind (`what`, plural).
    #[error("the VPC still has {count} {what}")]
    VpcNotEmpty { count: i64, what: &'static str },
    #[error("the subnet still has {ports} port(s) and {endpoints} endpoint(s)")]
    SubnetNotEmpty { ports: i64, endpoints: usize },
    #[error("the security group is used by {ports} port(s)")]
    SecurityGroupInUse { ports: usize },
    #[error("the port belongs to {device_owner} {device_id}")]
    PortOwned {
        device_owner: String,
        device_id: String,
    },
    #[error("the port backs endpoint service {service_name}")]
    PortBacksService { service_name: String },
    #[error("the endpoint service has {endpoints} endpoint(s)")]
    ServiceInUse { endpoints: i64 },

    // ---- status and permission ---------------------------------------------------------------
    #[error("the service's status does not allow this change")]
    ServiceNotModifiable,
    #[error("the endpoint service is unavailable")]
    ServiceUnavailable,
    #[error("the endpoint is being deleted")]
    EndpointDeleting,
    #[error("the endpoint failed and cannot be modified")]
    EndpointFailed,
    #[error("the endpoint has no policy")]
    NoPolicy,
    #[error("the endpoint is not of this endpoint service")]
    EndpointNotOfService,
    #[error("the account is not on the service's whitelist")]
    NotWhitelisted,
    #[error("quota exceeded: at most {quota} {what} per account")]
    QuotaExceeded { what: &'static str, quota: i64 },
    #[error("limit of {max} reached ({limit:?})")]
    LimitReached { limit: Limit, max: i64 },
    /// The caller may not act on the project.
    #[error("no permission for this project")]
    Forbidden,

    // ---- the system -----------------------------------------------------------------------
    /// Stored text cannot hold U+0000.
    #[error("text contains U+0000")]
    NulInText,
    /// A failure that is not the caller's (store, broken stored record); `detail` is for logs.
    #[error("internal error: {detail}")]
    Internal { detail: String },
}

impl DomainError {
    /// A failure that is not the caller's.
    pub fn internal(detail: impl Into<String>) -> Self {
        Self::Internal {
            detail: detail.into(),
        }
    }

    /// The request field a form marks for this error, when there is one.
    pub fn field(&self) -> Option<Field> {
        use DomainError::*;
        Some(match self {
            Missing { field }
            | Incomplete { field }
            | TooMany { field, .. }
            | CountOutOfRange { field, .. }
            | TooLong { field, .. }
            | AngleBrackets { field }
            | Unsupported { field, .. }
            | NotModifiable { field }
            | InvalidResourceName { field, .. }
            | InvalidServiceName { field, .. }
            | InvalidCidr { field, .. }
            | InvalidAddress { field, .. }
            | InvalidTime { field, .. }
            | InvalidQueryValue { field, .. }
            | UnknownReference { field, .. } => field,
            // Port problems are marked on the mapping list as a whole.
            PortOutOfRange { .. }
            | DuplicatePort { .. }
            | BackendPortTaken { .. }
            | InvalidProtocol { .. } => "ports",
            InvalidTag { .. } | DuplicateTagKey { .. } => "tags",
            InvalidPermission { .. } => "permissions",
            InvalidWhitelistEntry { .. } => "whitelist",
            InvalidPolicyStatement => "policy_statement",
            PolicyDocumentNotObject => "policy_document",
            InvalidRouteTable => "routetables",
            InvalidMarkerId { .. } => "marker_id",
            FilterLimitOutOfRange { .. } => "limit",
            NegativeOffset { .. } => "offset",
            PortIp { .. } => "port_ip",
            SubnetFull { .. } | SubnetNotInVpc { .. } => "subnet_id",
            NotWhitelisted | ServiceUnavailable => "endpoint_service_id",
            EndpointNotOfService => "endpoints",
            PortNotInVpc { .. } | NotLoadBalancerVip { .. } | LoadBalancerVipAsVm { .. } => {
                "port_id"
            }
            LimitReached {
                limit: Limit::ServicesPerBackend,
                ..
            } => "port_id",
            LimitReached {
                limit: Limit::PermissionsPerService,
                ..
            } => "permissions",
            IpNotTaken => "ip",
            AccountExists { .. } => "name",
            _ => return None,
        })
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_form_field_they_belong_to() {
        use crate::model::Protocol;
        let port = DomainError::PortOutOfRange {
            field: "server_port",
            value: 70000,
        };
        // The value and the precise field are data; the form marks the mapping list.
        assert_eq!(port.field(), Some("ports"));
        assert_eq!(
            DomainError::DuplicatePort {
                field: "client_port",
                port: 80,
                protocol: Protocol::TCP
            }
            .field(),
            Some("ports")
        );
        assert_eq!(
            DomainError::Missing { field: "vpc_id" }.field(),
            Some("vpc_id")
        );
        assert_eq!(
            DomainError::UnknownReference {
                field: "port_id",
                kind: Thing::Port,
                id: String::new()
            }
            .field(),
            Some("port_id")
        );
        assert_eq!(
            DomainError::InvalidServiceName {
                field: "endpoint_service_name",
                value: "a b".into()
            }
            .field(),
            Some("endpoint_service_name")
        );
        assert_eq!(
            DomainError::NotWhitelisted.field(),
            Some("endpoint_service_id")
        );
        assert_eq!(DomainError::EndpointDeleting.field(), None);
        assert_eq!(DomainError::internal("x").field(), None);
    }

    #[test]
    fn quoted_values_are_bounded_and_cut_on_character_boundaries() {
        let q = quoted(&"名".repeat(1_000_000));
        assert!(q.len() <= MAX_QUOTED + '…'.len_utf8());
        assert!(q.ends_with('…'));
        assert_eq!(shorten("short", 10), "short");
        assert_eq!(shorten("ab名", 3), "ab…");
    }
}
