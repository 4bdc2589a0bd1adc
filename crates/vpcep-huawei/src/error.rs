//! Errors as Huawei's APIs show them: a documented code (`EndPoint.xxxx` for VPCEP, `VPC.xxxx` for
//! the VPC and lab APIs), an HTTP status and an English message, in the body
//! `{"error_code","error_msg"}`. [`vpcep`] and [`vpc`] map every [`DomainError`] to exactly the
//! code, status and message the SDK suites expect.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpcep_core::agent::Failure;
use vpcep_core::error::{
    CidrProblem, DomainError, Field, IpProblem, Limit, Overlapped, TagProblem, Thing, shorten,
};
use vpcep_core::model::RecordedFailure;

/// Longest error message sent back (bytes); values are already bounded when quoted, this bounds
/// the sentence around them too.
pub const MAX_MESSAGE: usize = 1024;

/// An error as the Huawei API answers it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        let mut message = message.into();
        if message.len() > MAX_MESSAGE {
            message = shorten(&message, MAX_MESSAGE).into_owned();
        }
        Self {
            status,
            code,
            message,
        }
    }

    pub fn system(message: impl Into<String>) -> Self {
        Self::new(500, codes::SYSTEM, message)
    }
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(400, codes::PARAMETER, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            401,
            codes::AUTH_FAILED,
            "Authentication failed or authentication information is invalid.",
        )
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, codes::NOT_FOUND, message)
    }
}

/// The VPCEP rendering (the default: the API's VPCEP routes).
impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        vpcep(&e)
    }
}

/// The body the API returns for an error: `{"error_code": "...", "error_msg": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, ToSchema)]
pub struct ErrorBody {
    pub error_code: String,
    pub error_msg: String,
}

impl From<&ApiError> for ErrorBody {
    fn from(e: &ApiError) -> Self {
        Self {
            error_code: e.code.to_string(),
            error_msg: e.message.clone(),
        }
    }
}

/// Documented error codes (reference `huawei-vpcep-api.md` §6). Only the codes we emit are listed.
pub mod codes {
    pub const SYSTEM: &str = "EndPoint.0001";
    pub const PARAMETER: &str = "EndPoint.0002";
    pub const AUTH_FAILED: &str = "EndPoint.0003";
    pub const FORBIDDEN: &str = "EndPoint.0004";
    pub const NOT_FOUND: &str = "EndPoint.0005";
    pub const INVALID_LIMIT: &str = "EndPoint.0006";
    pub const INVALID_ACTION: &str = "EndPoint.0007";
    pub const INVALID_OFFSET: &str = "EndPoint.0010";
    pub const BODY_NULL: &str = "EndPoint.0011";
    pub const TIMEOUT: &str = "EndPoint.0013";
    pub const INVALID_PROJECT: &str = "EndPoint.0014";
    pub const BATCH_LIMIT: &str = "EndPoint.0016";
    pub const INVALID_SORT_KEY: &str = "EndPoint.0017";
    pub const INVALID_SORT_DIR: &str = "EndPoint.0018";
    pub const INVALID_STATUS: &str = "EndPoint.0019";
    pub const INVALID_VPC_ID: &str = "EndPoint.0020";
    pub const INVALID_MARKER_ID: &str = "EndPoint.0021";
    pub const TOO_MANY_REQUESTS: &str = "EndPoint.0022";
    pub const INVALID_SUBNET_ID: &str = "EndPoint.0023";
    pub const INVALID_SERVICE_NAME: &str = "EndPoint.1003";
    pub const INVALID_REQUEST: &str = "EndPoint.1004";
    /// Printed with a lower-case `p` in Huawei's docs; kept as documented.
    pub const QUOTA_EXCEEDED: &str = "Endpoint.1018";
    pub const INVALID_ROUTE_TABLE: &str = "EndPoint.1019";
    pub const VPC_NOT_FOUND: &str = "EndPoint.2001";
    pub const SERVICE_NOT_FOUND: &str = "EndPoint.2003";
    pub const SERVICE_UNAVAILABLE: &str = "EndPoint.2004";
    pub const ENDPOINT_NOT_FOUND: &str = "EndPoint.2006";
    pub const SUBNET_EMPTY: &str = "EndPoint.2010";
    pub const VPC_EMPTY: &str = "EndPoint.2011";
    pub const NO_PERMISSION_TO_CONNECT: &str = "EndPoint.2012";
    pub const NOT_OF_SERVICE: &str = "EndPoint.2013";
    pub const ENDPOINT_DELETING: &str = "EndPoint.2018";
    pub const ENDPOINT_CREATING: &str = "EndPoint.2019";
    pub const INVALID_ENDPOINT_ACTION: &str = "EndPoint.2027";
    pub const PORTS_EMPTY: &str = "EndPoint.2028";
    pub const SERVICE_ID_EMPTY: &str = "EndPoint.2029";
    pub const ONLY_ONE_ENDPOINT: &str = "EndPoint.2031";
    pub const SUBNET_NOT_IN_VPC: &str = "EndPoint.2037";
    pub const INVALID_PORT_IP: &str = "EndPoint.2041";
    pub const PORT_IP_IN_USE: &str = "EndPoint.2042";
    pub const PORT_IP_NOT_IN_SUBNET: &str = "EndPoint.2043";
    pub const INVALID_WHITELIST: &str = "EndPoint.2045";
    pub const INVALID_ENDPOINT_WHITELIST: &str = "EndPoint.2044";
    pub const FAILED_NOT_MODIFIABLE: &str = "EndPoint.2047";
    pub const INVALID_POLICY: &str = "EndPoint.2048";
    pub const NO_POLICY: &str = "EndPoint.2049";
    pub const PORT_CREATE_FAILED: &str = "EndPoint.3001";
    pub const INVALID_PERMISSION: &str = "EndPoint.3002";
    pub const INVALID_PORT_ID: &str = "EndPoint.3003";
    pub const INVALID_PORT: &str = "EndPoint.3004";
    pub const SERVICE_IN_USE: &str = "EndPoint.3006";
    pub const PORT_NOT_FOUND: &str = "EndPoint.3008";
    pub const INVALID_CIDR: &str = "EndPoint.3009";
    pub const INVALID_IP: &str = "EndPoint.3010";
    pub const IP_NOT_REQUIRED: &str = "EndPoint.3011";
    pub const INVALID_SERVER_TYPE: &str = "EndPoint.3021";
    pub const INVALID_PERMISSION_ACTION: &str = "EndPoint.3035";
    pub const EMPTY_PERMISSIONS: &str = "EndPoint.3036";
    pub const PORT_NOT_IN_VPC: &str = "EndPoint.3042";
    pub const INVALID_SERVICE_PORT: &str = "EndPoint.3043";
    pub const PORTS_CONFLICT: &str = "EndPoint.3044";
    pub const STATE_NOT_MODIFIABLE: &str = "EndPoint.3045";
    pub const PERMISSION_LIMIT: &str = "EndPoint.3049";
    pub const INVALID_VIP_PORT: &str = "EndPoint.3051";
    pub const PORT_ID_NOT_MODIFIABLE: &str = "EndPoint.3054";
    pub const IP_NOT_MODIFIABLE: &str = "EndPoint.3055";
    pub const BACKEND_LIMIT: &str = "EndPoint.3056";
    pub const INVALID_SERVICE_ID: &str = "EndPoint.3062";
    pub const TAG_EMPTY: &str = "EndPoint.3066";
    pub const TAG_KEY_DUPLICATED: &str = "EndPoint.3067";
    pub const TAG_INVALID: &str = "EndPoint.3068";
    pub const TAG_LIMIT: &str = "EndPoint.3069";
    pub const INVALID_RESOURCE_TYPE: &str = "EndPoint.3070";
    pub const TAG_KEY_SIZE: &str = "EndPoint.3072";
    pub const TAG_VALUE_SIZE: &str = "EndPoint.3073";
    pub const PORTS_LIMIT: &str = "EndPoint.3074";
    pub const INVALID_PROTOCOL: &str = "EndPoint.3075";
    pub const INVALID_SERVICE_NAME_3076: &str = "EndPoint.3076";
    /// vpcep's own: the data plane could not program a resource (not in Huawei's table).
    pub const DATA_PLANE_FAILED: &str = "EndPoint.4000";
}

/// Error codes of the VPC and lab APIs, in Huawei's `VPC.xxxx` style.
pub mod vpc_codes {
    pub const PARAMETER: &str = "VPC.0002";
    pub const IN_USE: &str = "VPC.0008";
    pub const VPC_NOT_FOUND: &str = "VPC.0101";
    pub const SUBNET_NOT_FOUND: &str = "VPC.0202";
    pub const CIDR_CONFLICT: &str = "VPC.0209";
    pub const SG_NOT_FOUND: &str = "VPC.0602";
    pub const RULE_NOT_FOUND: &str = "VPC.0603";
    pub const RULE_EXISTS: &str = "VPC.0604";
    pub const PORT_NOT_FOUND: &str = "VPC.0701";
    pub const IP_IN_USE: &str = "VPC.0704";
    pub const LAB_NOT_FOUND: &str = "LAB.0404";
}

/// `a, b or c`.
fn one_of(allowed: &[&str]) -> String {
    match allowed {
        [] => String::new(),
        [only] => (*only).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// How messages name a field where Huawei's wording differs from the API name.
fn label(field: Field) -> &'static str {
    match field {
        "server_type" => "serverType",
        "resource_type" => "resource type",
        other => other,
    }
}

/// `The {thing} {id} does not exist.`, or that the id is missing when it is empty.
fn does_not_exist(kind: Thing, id: &str) -> String {
    if id.is_empty() {
        format!("The {} ID is missing.", kind.noun())
    } else {
        format!("The {} {id} does not exist.", kind.noun())
    }
}

/// The VPCEP code of an invalid choice, by field and (for `action`, which four operations share)
/// by the choices offered.
fn unsupported_code(field: Field, allowed: &[&str]) -> &'static str {
    match (field, allowed.first().copied()) {
        ("server_type", _) => codes::INVALID_SERVER_TYPE,
        ("permission_type", _) => codes::INVALID_PERMISSION,
        ("sort_key", _) => codes::INVALID_SORT_KEY,
        ("sort_dir", _) => codes::INVALID_SORT_DIR,
        ("status", _) => codes::INVALID_STATUS,
        ("resource_type", _) => codes::INVALID_RESOURCE_TYPE,
        ("action", Some("receive")) => codes::INVALID_ENDPOINT_ACTION,
        ("action", Some("add")) => codes::INVALID_PERMISSION_ACTION,
        ("action", _) => codes::INVALID_ACTION,
        _ => codes::PARAMETER,
    }
}

fn unsupported_message(field: Field, value: &str, allowed: &[&str]) -> String {
    match (field, allowed) {
        ("ip_version", _) => format!("ip_version '{value}' is not supported: only ipv4."),
        ("ethertype", _) => "Only ethertype IPv4 is supported.".to_string(),
        ("service_type", [_, ..]) => {
            "Only interface endpoint services can be created by users.".to_string()
        }
        ("protocol", _) => {
            format!("Invalid protocol '{value}': use tcp, udp, icmp or leave it empty.")
        }
        (_, []) => format!("Invalid {} '{value}'.", label(field)),
        _ => format!(
            "Invalid {} '{value}': use {}.",
            label(field),
            one_of(allowed)
        ),
    }
}

/// A domain error as the VPCEP API reports it.
pub fn vpcep(e: &DomainError) -> ApiError {
    use DomainError::*;
    let bad = |code: &'static str, message: String| (400, code, message);
    let param = |message: String| (400, codes::PARAMETER, message);
    let rendered = match e {
        Missing { field } => match *field {
            "port_id" => bad(codes::INVALID_PORT_ID, "port_id is required.".into()),
            "vpc_id" => bad(codes::VPC_EMPTY, "The input parameter VPC ID is empty.".into()),
            "endpoint_service_id" => bad(
                codes::SERVICE_ID_EMPTY,
                "The requested endpoint service ID is empty.".into(),
            ),
            "subnet_id" => bad(
                codes::SUBNET_EMPTY,
                "The input parameter subnet ID is empty.".into(),
            ),
            "server_type" => bad(codes::INVALID_SERVER_TYPE, "server_type is required.".into()),
            "ports" => bad(
                codes::PORTS_EMPTY,
                "The endpoint service port or protocol is empty.".into(),
            ),
            "tags" => bad(codes::TAG_EMPTY, "The tag cannot be empty.".into()),
            "permissions" => bad(
                codes::EMPTY_PERMISSIONS,
                "Invalid permissions: the list is empty.".into(),
            ),
            other => param(format!("{other} is required.")),
        },
        Incomplete { field } => match *field {
            "ports" => bad(
                codes::PORTS_EMPTY,
                "Each mapping needs client_port and server_port.".into(),
            ),
            "connections" => param("Each connection needs id and description.".into()),
            "permissions" => bad(
                codes::INVALID_PERMISSION,
                "Each record needs a permission.".into(),
            ),
            other => param(format!("Each item of {other} is incomplete.")),
        },
        TooMany { field, max } => match *field {
            "ports" => bad(
                codes::PORTS_LIMIT,
                format!(
                    "The maximum of ports has been reached: at most {max} mappings per call."
                ),
            ),
            "tags" => bad(codes::TAG_LIMIT, format!("At most {max} tags per resource.")),
            "whitelist" => bad(
                codes::INVALID_WHITELIST,
                format!("The maximum number of whitelist records ({max}) has been reached."),
            ),
            "permissions" => bad(
                codes::BATCH_LIMIT,
                format!("At most {max} whitelist records per call."),
            ),
            "connections" => bad(
                codes::BATCH_LIMIT,
                "The number of batch operated resources exceeded the limit.".into(),
            ),
            "endpoints" => bad(
                codes::ONLY_ONE_ENDPOINT,
                "Only one endpoint is allowed.".into(),
            ),
            "fixed_ips" => param("A port has at most one fixed IP here.".into()),
            other => param(format!("{other} has more than {max} items.")),
        },
        CountOutOfRange { field, min, max } => match *field {
            "nics" => param(format!(
                "A server needs {min} to {max} NICs (primary first)."
            )),
            other => param(format!("{other} needs {min} to {max} items.")),
        },
        TooLong { field, max } => param(format!("{field} is longer than {max} characters.")),
        AngleBrackets { field } => param(format!("{field} must not contain '<' or '>'.")),
        Unsupported {
            field,
            value,
            allowed,
        } => bad(
            unsupported_code(field, allowed),
            unsupported_message(field, value, allowed),
        ),
        ExclusiveFields { first, second } => match (*first, *second) {
            ("id", "endpoint_service_name") => {
                param("Give exactly one of id and endpoint_service_name.".into())
            }
            (a, b) => param(format!("Give {a} or {b}, not both.")),
        },
        NotModifiable { field } => match *field {
            "port_id" => bad(
                codes::PORT_ID_NOT_MODIFIABLE,
                "portId or vipPortId cannot be modified.".into(),
            ),
            "ip" => bad(codes::IP_NOT_MODIFIABLE, "ip cannot be modified.".into()),
            other => param(format!("{other} cannot be modified.")),
        },
        PortOutOfRange { field, value } => bad(
            match *field {
                "client_port" => codes::INVALID_PORT,
                "server_port" => codes::INVALID_SERVICE_PORT,
                _ => codes::PARAMETER,
            },
            format!("{field} {value} is out of range 1-65535."),
        ),
        DuplicatePort {
            field,
            port,
            protocol,
        } => bad(
            codes::PORTS_CONFLICT,
            format!(
                "Duplicate mapping: {field} {port} {} appears twice.",
                protocol.as_str()
            ),
        ),
        BackendPortTaken { protocol, port } => bad(
            codes::PORTS_CONFLICT,
            format!(
                "The parameter ports conflicted with ports in an existing endpoint service: {} server_port {port} is already used on this backend.",
                protocol.as_str()
            ),
        ),
        DuplicateListener { protocol, port } => param(format!(
            "Listener {} {port} is defined twice.",
            protocol.as_str()
        )),
        InvalidProtocol { value } => bad(
            codes::INVALID_PROTOCOL,
            format!("The protocol '{value}' is invalid: use TCP or UDP."),
        ),
        InvalidServiceName { value, .. } => bad(
            codes::INVALID_SERVICE_NAME_3076,
            format!(
                "Invalid service name '{value}': use 1 to {} letters, digits, '_' or '-'.",
                vpcep_core::validate::MAX_SERVICE_NAME
            ),
        ),
        InvalidResourceName { field, value } => param(format!(
            "Invalid {field} '{value}': use 1 to 64 letters, digits, '_', '-' or '.'."
        )),
        InvalidTag { problem, .. } => match problem {
            TagProblem::KeyEmpty => bad(codes::TAG_EMPTY, "The tag key cannot be empty.".into()),
            TagProblem::KeyTooLong => bad(
                codes::TAG_KEY_SIZE,
                "A tag key is 1 to 128 characters.".into(),
            ),
            TagProblem::ValueTooLong => bad(
                codes::TAG_VALUE_SIZE,
                "A tag value is at most 255 characters.".into(),
            ),
            TagProblem::ForbiddenCharacter => bad(
                codes::TAG_INVALID,
                "Tag keys and values may not contain control characters or < > = ,".into(),
            ),
        },
        DuplicateTagKey { key } => bad(
            codes::TAG_KEY_DUPLICATED,
            format!("Tag key '{key}' is duplicated."),
        ),
        InvalidPermission { value } => bad(
            codes::INVALID_PERMISSION,
            format!(
                "Invalid permission '{value}': use iam:domain::<account id>, organizations:orgPath::<path> or *."
            ),
        ),
        InvalidWhitelistEntry { value } => bad(
            codes::INVALID_ENDPOINT_WHITELIST,
            format!(
                "Invalid whitelist entry '{value}': use an IPv4 address or CIDR such as 10.0.0.0/24."
            ),
        ),
        InvalidCidr { value, problem, .. } => bad(
            codes::INVALID_CIDR,
            match problem {
                CidrProblem::Malformed => {
                    format!("Invalid CIDR '{value}': use a form such as 192.168.0.0/24.")
                }
                CidrProblem::HostBits { network } => format!(
                    "Invalid CIDR '{value}': host bits are set (did you mean {network}?)."
                ),
                CidrProblem::PrefixLength => {
                    format!("CIDR '{value}' must have a prefix from /8 to /29.")
                }
                CidrProblem::Reserved { reserved } => format!(
                    "CIDR '{value}' overlaps {reserved}, which is reserved for VPC endpoint traffic."
                ),
            },
        ),
        InvalidAddress { field, value } => match *field {
            "port_ip" => bad(
                codes::INVALID_PORT_IP,
                format!("Invalid Port IP address '{value}'."),
            ),
            "gateway_ip" => param("gateway_ip must be an IPv4 address.".into()),
            "dns_list" => param(format!("Invalid DNS server '{value}'.")),
            "members.address" => param(format!("Invalid member address '{value}'.")),
            other => param(format!("Invalid {other} '{value}'.")),
        },
        GatewayNotHost { gateway, cidr } => param(format!(
            "gateway_ip {gateway} must be a host address of {cidr}."
        )),
        PortIp { ip, problem } => match problem {
            IpProblem::NotInSubnet { cidr } => bad(
                codes::PORT_IP_NOT_IN_SUBNET,
                format!("The Port IP {ip} is not valid for the subnet {cidr}."),
            ),
            IpProblem::Reserved { cidr } => bad(
                codes::PORT_IP_NOT_IN_SUBNET,
                format!(
                    "The Port IP {ip} is reserved in subnet {cidr} (network, gateway or broadcast)."
                ),
            ),
            IpProblem::InUse => bad(
                codes::PORT_IP_IN_USE,
                format!("The Port IP {ip} is in use."),
            ),
        },
        SubnetFull { cidr } => bad(
            codes::PORT_CREATE_FAILED,
            format!("Failed to create a port: subnet {cidr} has no free address."),
        ),
        CidrOutsideVpc { cidr, vpc_cidr } => param(format!(
            "The subnet CIDR {cidr} is not inside the VPC CIDR {vpc_cidr}."
        )),
        CidrLeavesOutSubnet {
            cidr,
            subnet_name,
            subnet_cidr,
        } => param(format!(
            "The new CIDR {cidr} does not contain subnet {subnet_name} ({subnet_cidr})."
        )),
        CidrOverlap { cidr, with } => bad(
            vpc_codes::CIDR_CONFLICT,
            match with {
                Overlapped::Subnet { name, cidr: other } => {
                    format!("The subnet CIDR {cidr} overlaps subnet {name} ({other}) in this VPC.")
                }
                Overlapped::Vpc { cidr: vpc } => format!(
                    "The site CIDR {cidr} overlaps the VPC CIDR {vpc}: a VPN needs distinct networks on each side."
                ),
                Overlapped::Site { name, cidr: other } => {
                    format!("The site CIDR {cidr} overlaps site {name} ({other}).")
                }
            },
        ),
        PortRangeNeedsProtocol => param("Port ranges need protocol tcp or udp.".into()),
        PortRangeReversed => param("port_range_min must not exceed port_range_max.".into()),
        FixedIpOutsideNetwork => {
            param("fixed_ips.subnet_id does not belong to network_id.".into())
        }
        InvalidPolicyStatement => bad(
            codes::INVALID_POLICY,
            "The VPC endpoint policy is invalid: each statement needs Effect (Allow|Deny), Action [] and Resource [].".into(),
        ),
        PolicyDocumentNotObject => bad(
            codes::INVALID_POLICY,
            "policy_document must be a JSON object.".into(),
        ),
        InvalidRouteTable => bad(codes::INVALID_ROUTE_TABLE, "Invalid route table ID.".into()),
        InvalidLimit { value, max } => bad(
            codes::INVALID_LIMIT,
            format!("Invalid limit '{value}': use an integer from 0 to {max}."),
        ),
        InvalidQueryValue { field, value } => param(format!(
            "Invalid {field} '{value}': use Unix milliseconds or YYYY-MM-DDTHH:MM:SSZ for from and to, and a marker from an earlier page."
        )),
        InvalidOffset { value } => bad(
            codes::INVALID_OFFSET,
            format!("Invalid offset '{value}': use an integer ≥ 0."),
        ),
        FilterLimitOutOfRange { .. } => {
            bad(codes::INVALID_LIMIT, "Invalid limit: use 1 to 1000.".into())
        }
        NegativeOffset { .. } => bad(codes::INVALID_OFFSET, "Invalid offset.".into()),
        InvalidMarkerId { value } => bad(
            codes::INVALID_MARKER_ID,
            format!("Invalid marker_id '{value}'."),
        ),
        InvalidTime { field, value } => param(format!(
            "Invalid {field} time '{value}': use RFC 3339 (2026-01-01T00:00:00Z) or epoch \
             milliseconds, with to not before from and at most a year apart."
        )),
        InvalidRegion { value } => param(format!(
            "Invalid region '{value}': use lowercase letters, digits and '-'."
        )),
        QuotaValueOutOfRange { .. } => param("A quota is an integer from 0 to 1000000.".into()),
        IpNotTaken => bad(
            codes::IP_NOT_REQUIRED,
            "Parameter IP is not required to create an endpoint service (interface).".into(),
        ),
        NotFound { kind, id } => match kind {
            Thing::Endpoint => (404, codes::ENDPOINT_NOT_FOUND, does_not_exist(*kind, id)),
            _ => (404, codes::NOT_FOUND, does_not_exist(*kind, id)),
        },
        UnknownReference { kind, id, .. } => match kind {
            Thing::Vpc => bad(codes::VPC_NOT_FOUND, does_not_exist(*kind, id)),
            Thing::Port => bad(codes::PORT_NOT_FOUND, does_not_exist(*kind, id)),
            Thing::EndpointService => bad(codes::SERVICE_NOT_FOUND, does_not_exist(*kind, id)),
            Thing::Subnet if id.is_empty() => {
                bad(codes::INVALID_SUBNET_ID, does_not_exist(*kind, id))
            }
            Thing::Subnet => bad(
                codes::INVALID_SUBNET_ID,
                format!("Invalid subnet_id {id}: no such subnet."),
            ),
            _ => bad(codes::PARAMETER, does_not_exist(*kind, id)),
        },
        ServiceNotInRegion => (
            404,
            codes::NOT_FOUND,
            "The endpoint service does not exist in this region.".into(),
        ),
        AccountNotFound { name } => (
            404,
            codes::NOT_FOUND,
            format!("No account named '{name}'."),
        ),
        NoProjectInRegion { account, region } => (
            404,
            codes::NOT_FOUND,
            format!("Account '{account}' has no project in {region}."),
        ),
        AccountExists { name } => param(format!("An account named '{name}' already exists.")),
        ProjectExists { account, region } => param(format!(
            "Account '{account}' already has a project in {region}."
        )),
        SubnetNotInVpc { .. } => bad(
            codes::SUBNET_NOT_IN_VPC,
            "The current network does not belong to the VPC.".into(),
        ),
        PortNotInVpc { port_id, vpc_id } => bad(
            codes::PORT_NOT_IN_VPC,
            format!("The port {port_id} does not belong to VPC {vpc_id}."),
        ),
        NotLoadBalancerVip { port_id } => bad(
            codes::INVALID_VIP_PORT,
            format!(
                "Endpoint service vip port id is invalid: {port_id} is not a load balancer's VIP port."
            ),
        ),
        LoadBalancerVipAsVm { port_id } => bad(
            codes::INVALID_PORT_ID,
            format!("Invalid port ID: {port_id} is a load balancer VIP; use server_type LB."),
        ),
        DuplicateRule => (
            409,
            vpc_codes::RULE_EXISTS,
            "An identical rule already exists in this security group.".into(),
        ),
        VpcNotEmpty { count, what } => (
            409,
            vpc_codes::IN_USE,
            format!("The VPC still has {count} {what}: delete them first."),
        ),
        SubnetNotEmpty { ports, endpoints } => (
            409,
            vpc_codes::IN_USE,
            format!(
                "The subnet still has {ports} port(s) and {endpoints} endpoint(s): delete them first."
            ),
        ),
        SecurityGroupInUse { ports } => (
            409,
            vpc_codes::IN_USE,
            format!("The security group is used by {ports} port(s)."),
        ),
        PortOwned {
            device_owner,
            device_id,
        } => (
            409,
            vpc_codes::IN_USE,
            format!("The port belongs to {device_owner} {device_id}: delete that instead."),
        ),
        PortBacksService { service_name } => (
            409,
            vpc_codes::IN_USE,
            format!("The port backs endpoint service {service_name}: delete the service first."),
        ),
        ServiceInUse { endpoints } => bad(
            codes::SERVICE_IN_USE,
            format!(
                "The endpoint service is being used by {endpoints} endpoint(s): reject or delete them first."
            ),
        ),
        ServiceNotModifiable => bad(
            codes::STATE_NOT_MODIFIABLE,
            "Other properties cannot be modified in the current endpoint service state.".into(),
        ),
        ServiceUnavailable => bad(
            codes::SERVICE_UNAVAILABLE,
            "The endpoint service is unavailable.".into(),
        ),
        EndpointDeleting => bad(
            codes::ENDPOINT_DELETING,
            "The endpoint is being deleted.".into(),
        ),
        EndpointFailed => bad(
            codes::FAILED_NOT_MODIFIABLE,
            "The VPC endpoint in the Failed status cannot be modified.".into(),
        ),
        NoPolicy => bad(
            codes::NO_POLICY,
            "The VPC endpoint has no policy associated.".into(),
        ),
        EndpointNotOfService => bad(
            codes::NOT_OF_SERVICE,
            "The endpoint does not belong to the endpoint service.".into(),
        ),
        NotWhitelisted => bad(
            codes::NO_PERMISSION_TO_CONNECT,
            "You have no permission to connect to the VPC endpoint service: ask its owner to add your account to its whitelist.".into(),
        ),
        QuotaExceeded { what, quota } => bad(
            codes::QUOTA_EXCEEDED,
            format!("Quota exceeded: at most {quota} {what} per account."),
        ),
        LimitReached { limit, max } => match limit {
            Limit::PermissionsPerService => bad(
                codes::PERMISSION_LIMIT,
                format!("The maximum number of whitelist records ({max}) has been reached."),
            ),
            Limit::ServicesPerBackend => bad(
                codes::BACKEND_LIMIT,
                format!(
                    "The maximum of VPC endpoint services using the same backend ({max}) has been reached."
                ),
            ),
        },
        Forbidden => (
            403,
            codes::FORBIDDEN,
            "Authentication information is incorrect or you have no permissions for this project."
                .into(),
        ),
        NulInText => param(
            "Parameter error: text must not contain the NUL character (U+0000).".into(),
        ),
        Internal { detail } => (500, codes::SYSTEM, detail.clone()),
    };
    let (status, code, message) = rendered;
    ApiError::new(status, code, message)
}

/// A domain error as the VPC and lab APIs report it: request problems are `VPC.0002`, a missing
/// resource has its kind's `VPC.xxxx` (or `LAB.0404`) code, a taken address `VPC.0704`; failures
/// that are not the request's keep their VPCEP code, as they always have.
pub fn vpc(e: &DomainError) -> ApiError {
    use DomainError::*;
    let mut out = vpcep(e);
    let status = out.status;
    match e {
        NotFound { kind, id } | UnknownReference { kind, id, .. } => {
            let code = match kind {
                Thing::Vpc => vpc_codes::VPC_NOT_FOUND,
                Thing::Subnet | Thing::Network => vpc_codes::SUBNET_NOT_FOUND,
                Thing::Port => vpc_codes::PORT_NOT_FOUND,
                Thing::SecurityGroup => vpc_codes::SG_NOT_FOUND,
                Thing::SecurityGroupRule => vpc_codes::RULE_NOT_FOUND,
                _ => vpc_codes::LAB_NOT_FOUND,
            };
            out.status = 404;
            out.code = code;
            out.message = does_not_exist(*kind, id);
        }
        SubnetNotInVpc { subnet_id, vpc_id } => {
            out.code = vpc_codes::PARAMETER;
            out.message = format!("Subnet {subnet_id} is not in VPC {vpc_id}.");
        }
        PortIp {
            problem: IpProblem::InUse,
            ..
        } => out.code = vpc_codes::IP_IN_USE,
        // Kept as they are: already VPC codes, or not the request's fault.
        DuplicateRule
        | VpcNotEmpty { .. }
        | SubnetNotEmpty { .. }
        | SecurityGroupInUse { .. }
        | PortOwned { .. }
        | PortBacksService { .. }
        | CidrOverlap { .. }
        | Forbidden
        | NulInText
        | Internal { .. } => {}
        _ if status == 400 => out.code = vpc_codes::PARAMETER,
        _ => {}
    }
    out
}

/// How the VPCEP API words a data-plane failure in an object's `error[]`: `(code, message)`.
/// `None`: the agent said it failed without saying why.
pub fn data_plane_failure(failure: Option<&Failure>) -> (&'static str, String) {
    match failure {
        Some(Failure::ServiceUnavailable) => (
            codes::SERVICE_UNAVAILABLE,
            "The endpoint service is unavailable.".into(),
        ),
        Some(Failure::BackendGone) => (codes::PORT_NOT_FOUND, "The port does not exist.".into()),
        Some(Failure::Namespace { namespace, detail }) => (
            codes::DATA_PLANE_FAILED,
            format!("The data plane could not program namespace {namespace}: {detail}"),
        ),
        None => (
            codes::DATA_PLANE_FAILED,
            "The data plane could not program this resource.".into(),
        ),
    }
}

/// The VPCEP code of a domain error: what a console shows on an error's detail line, so a user
/// can quote it or find it in the API's error list.
pub fn vpcep_code(e: &DomainError) -> &'static str {
    vpcep(e).code
}

/// The HTTP status the VPCEP API answers a domain error with.
pub fn vpcep_status(e: &DomainError) -> u16 {
    vpcep(e).status
}

/// Which data-plane failure a stored `error[]` code stands for: the inverse of
/// [`data_plane_failure`]. A namespace failure's data is only in its message, so it comes back
/// as `None`, as does a code this front never records.
pub fn stored_data_plane_failure(code: &str) -> Option<Failure> {
    [Failure::ServiceUnavailable, Failure::BackendGone]
        .into_iter()
        .find(|f| data_plane_failure(Some(f)).0 == code)
}

/// The code and message a resource's `error[]` shows for a failure the control plane records
/// (the service layer is given this when the Huawei front serves its records).
pub fn recorded_failure(cause: RecordedFailure<'_>) -> (&'static str, String) {
    match cause {
        RecordedFailure::DataPlane(failure) => data_plane_failure(failure),
        RecordedFailure::ServiceDeleted => (
            codes::SERVICE_UNAVAILABLE,
            "The endpoint service was deleted.".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use vpcep_core::error::{
        CidrProblem, DomainError, IpProblem, Limit, Overlapped, TagProblem, Thing,
    };
    use vpcep_core::model::Protocol::{TCP, UDP};

    use super::*;

    /// Every variant once (and the field-dependent ones per field), with what the VPCEP API says.
    #[rustfmt::skip]
    fn cases() -> Vec<(DomainError, u16, &'static str, &'static str)> {
        use DomainError::*;
        let s = |v: &str| v.to_string();
        vec![
            (Missing { field: "port_id" }, 400, "EndPoint.3003", "port_id is required."),
            (Missing { field: "vpc_id" }, 400, "EndPoint.2011", "The input parameter VPC ID is empty."),
            (Missing { field: "endpoint_service_id" }, 400, "EndPoint.2029", "The requested endpoint service ID is empty."),
            (Missing { field: "subnet_id" }, 400, "EndPoint.2010", "The input parameter subnet ID is empty."),
            (Missing { field: "server_type" }, 400, "EndPoint.3021", "server_type is required."),
            (Missing { field: "ports" }, 400, "EndPoint.2028", "The endpoint service port or protocol is empty."),
            (Missing { field: "tags" }, 400, "EndPoint.3066", "The tag cannot be empty."),
            (Missing { field: "permissions" }, 400, "EndPoint.3036", "Invalid permissions: the list is empty."),
            (Missing { field: "routetables" }, 400, "EndPoint.0002", "routetables is required."),
            (Incomplete { field: "ports" }, 400, "EndPoint.2028", "Each mapping needs client_port and server_port."),
            (Incomplete { field: "connections" }, 400, "EndPoint.0002", "Each connection needs id and description."),
            (Incomplete { field: "permissions" }, 400, "EndPoint.3002", "Each record needs a permission."),
            (TooMany { field: "ports", max: 200 }, 400, "EndPoint.3074", "The maximum of ports has been reached: at most 200 mappings per call."),
            (TooMany { field: "tags", max: 20 }, 400, "EndPoint.3069", "At most 20 tags per resource."),
            (TooMany { field: "whitelist", max: 20 }, 400, "EndPoint.2045", "The maximum number of whitelist records (20) has been reached."),
            (TooMany { field: "permissions", max: 200 }, 400, "EndPoint.0016", "At most 200 whitelist records per call."),
            (TooMany { field: "connections", max: 200 }, 400, "EndPoint.0016", "The number of batch operated resources exceeded the limit."),
            (TooMany { field: "endpoints", max: 1 }, 400, "EndPoint.2031", "Only one endpoint is allowed."),
            (TooMany { field: "fixed_ips", max: 1 }, 400, "EndPoint.0002", "A port has at most one fixed IP here."),
            (CountOutOfRange { field: "nics", min: 1, max: 8 }, 400, "EndPoint.0002", "A server needs 1 to 8 NICs (primary first)."),
            (TooLong { field: "description", max: 512 }, 400, "EndPoint.0002", "description is longer than 512 characters."),
            (AngleBrackets { field: "description" }, 400, "EndPoint.0002", "description must not contain '<' or '>'."),
            (Unsupported { field: "server_type", value: s("X"), allowed: &["VM", "LB"] }, 400, "EndPoint.3021", "Invalid serverType 'X': use VM or LB."),
            (Unsupported { field: "tcp_proxy", value: s("x"), allowed: &["close", "toa_open", "proxy_open", "open"] }, 400, "EndPoint.0002", "Invalid tcp_proxy 'x': use close, toa_open, proxy_open or open."),
            (Unsupported { field: "service_type", value: s("gateway"), allowed: &["interface"] }, 400, "EndPoint.0002", "Only interface endpoint services can be created by users."),
            (Unsupported { field: "service_type", value: s("x"), allowed: &[] }, 400, "EndPoint.0002", "Invalid service_type 'x'."),
            (Unsupported { field: "status", value: s("x"), allowed: &[] }, 400, "EndPoint.0019", "Invalid status 'x'."),
            (Unsupported { field: "ip_version", value: s("ipv6"), allowed: &["ipv4"] }, 400, "EndPoint.0002", "ip_version 'ipv6' is not supported: only ipv4."),
            (Unsupported { field: "action", value: s("x"), allowed: &["receive", "reject"] }, 400, "EndPoint.2027", "Invalid action 'x': use receive or reject."),
            (Unsupported { field: "action", value: s(""), allowed: &["add", "remove"] }, 400, "EndPoint.3035", "Invalid action '': use add or remove."),
            (Unsupported { field: "action", value: s("x"), allowed: &["create", "delete"] }, 400, "EndPoint.0007", "Invalid action 'x': use create or delete."),
            (Unsupported { field: "action", value: s("x"), allowed: &["filter", "count"] }, 400, "EndPoint.0007", "Invalid action 'x': use filter or count."),
            (Unsupported { field: "permission_type", value: s("x"), allowed: &["domainId", "orgPath"] }, 400, "EndPoint.3002", "Invalid permission_type 'x': use domainId or orgPath."),
            (Unsupported { field: "resource_type", value: s("x"), allowed: &["endpoint_service", "endpoint"] }, 400, "EndPoint.3070", "Invalid resource type 'x': use endpoint_service or endpoint."),
            (Unsupported { field: "type", value: s("x"), allowed: &["endpoint_service", "endpoint"] }, 400, "EndPoint.0002", "Invalid type 'x': use endpoint_service or endpoint."),
            (Unsupported { field: "sort_key", value: s("x"), allowed: &["create_at", "update_at"] }, 400, "EndPoint.0017", "Invalid sort_key 'x': use create_at or update_at."),
            (Unsupported { field: "sort_dir", value: s("x"), allowed: &["asc", "desc"] }, 400, "EndPoint.0018", "Invalid sort_dir 'x': use asc or desc."),
            (Unsupported { field: "direction", value: s("x"), allowed: &["ingress", "egress"] }, 400, "EndPoint.0002", "Invalid direction 'x': use ingress or egress."),
            (Unsupported { field: "ethertype", value: s("IPv6"), allowed: &["IPv4"] }, 400, "EndPoint.0002", "Only ethertype IPv4 is supported."),
            (Unsupported { field: "protocol", value: s("gre"), allowed: &["tcp", "udp", "icmp"] }, 400, "EndPoint.0002", "Invalid protocol 'gre': use tcp, udp, icmp or leave it empty."),
            (ExclusiveFields { first: "id", second: "endpoint_service_name" }, 400, "EndPoint.0002", "Give exactly one of id and endpoint_service_name."),
            (ExclusiveFields { first: "remote_ip_prefix", second: "remote_group_id" }, 400, "EndPoint.0002", "Give remote_ip_prefix or remote_group_id, not both."),
            (NotModifiable { field: "port_id" }, 400, "EndPoint.3054", "portId or vipPortId cannot be modified."),
            (NotModifiable { field: "ip" }, 400, "EndPoint.3055", "ip cannot be modified."),
            (PortOutOfRange { field: "client_port", value: 0 }, 400, "EndPoint.3004", "client_port 0 is out of range 1-65535."),
            (PortOutOfRange { field: "server_port", value: 70000 }, 400, "EndPoint.3043", "server_port 70000 is out of range 1-65535."),
            (PortOutOfRange { field: "listener port", value: -1 }, 400, "EndPoint.0002", "listener port -1 is out of range 1-65535."),
            (DuplicatePort { field: "client_port", port: 80, protocol: TCP }, 400, "EndPoint.3044", "Duplicate mapping: client_port 80 TCP appears twice."),
            (BackendPortTaken { protocol: UDP, port: 53 }, 400, "EndPoint.3044", "The parameter ports conflicted with ports in an existing endpoint service: UDP server_port 53 is already used on this backend."),
            (DuplicateListener { protocol: TCP, port: 80 }, 400, "EndPoint.0002", "Listener TCP 80 is defined twice."),
            (InvalidProtocol { value: s("SCTP") }, 400, "EndPoint.3075", "The protocol 'SCTP' is invalid: use TCP or UDP."),
            (InvalidServiceName { field: "service_name", value: s("a b") }, 400, "EndPoint.3076", "Invalid service name 'a b': use 1 to 16 letters, digits, '_' or '-'."),
            (InvalidResourceName { field: "name", value: s("a b") }, 400, "EndPoint.0002", "Invalid name 'a b': use 1 to 64 letters, digits, '_', '-' or '.'."),
            (InvalidTag { key: s(""), problem: TagProblem::KeyEmpty }, 400, "EndPoint.3066", "The tag key cannot be empty."),
            (InvalidTag { key: s("k"), problem: TagProblem::KeyTooLong }, 400, "EndPoint.3072", "A tag key is 1 to 128 characters."),
            (InvalidTag { key: s("k"), problem: TagProblem::ValueTooLong }, 400, "EndPoint.3073", "A tag value is at most 255 characters."),
            (InvalidTag { key: s("k="), problem: TagProblem::ForbiddenCharacter }, 400, "EndPoint.3068", "Tag keys and values may not contain control characters or < > = ,"),
            (DuplicateTagKey { key: s("k") }, 400, "EndPoint.3067", "Tag key 'k' is duplicated."),
            (InvalidPermission { value: s("x") }, 400, "EndPoint.3002", "Invalid permission 'x': use iam:domain::<account id>, organizations:orgPath::<path> or *."),
            (InvalidWhitelistEntry { value: s("x") }, 400, "EndPoint.2044", "Invalid whitelist entry 'x': use an IPv4 address or CIDR such as 10.0.0.0/24."),
            (InvalidCidr { field: "cidr", value: s("x"), problem: CidrProblem::Malformed }, 400, "EndPoint.3009", "Invalid CIDR 'x': use a form such as 192.168.0.0/24."),
            (InvalidCidr { field: "cidr", value: s("10.0.0.1/8"), problem: CidrProblem::HostBits { network: s("10.0.0.0/8") } }, 400, "EndPoint.3009", "Invalid CIDR '10.0.0.1/8': host bits are set (did you mean 10.0.0.0/8?)."),
            (InvalidCidr { field: "cidr", value: s("10.0.0.0/30"), problem: CidrProblem::PrefixLength }, 400, "EndPoint.3009", "CIDR '10.0.0.0/30' must have a prefix from /8 to /29."),
            (InvalidCidr { field: "cidr", value: s("198.19.0.0/16"), problem: CidrProblem::Reserved { reserved: s("198.19.128.0/20") } }, 400, "EndPoint.3009", "CIDR '198.19.0.0/16' overlaps 198.19.128.0/20, which is reserved for VPC endpoint traffic."),
            (InvalidAddress { field: "port_ip", value: s("x") }, 400, "EndPoint.2041", "Invalid Port IP address 'x'."),
            (InvalidAddress { field: "gateway_ip", value: s("x") }, 400, "EndPoint.0002", "gateway_ip must be an IPv4 address."),
            (InvalidAddress { field: "dns_list", value: s("x") }, 400, "EndPoint.0002", "Invalid DNS server 'x'."),
            (InvalidAddress { field: "members.address", value: s("x") }, 400, "EndPoint.0002", "Invalid member address 'x'."),
            (InvalidAddress { field: "remote_ip_prefix", value: s("x") }, 400, "EndPoint.0002", "Invalid remote_ip_prefix 'x'."),
            (GatewayNotHost { gateway: s("10.0.0.0"), cidr: s("10.0.0.0/24") }, 400, "EndPoint.0002", "gateway_ip 10.0.0.0 must be a host address of 10.0.0.0/24."),
            (PortIp { ip: s("10.1.0.1"), problem: IpProblem::NotInSubnet { cidr: s("10.0.0.0/24") } }, 400, "EndPoint.2043", "The Port IP 10.1.0.1 is not valid for the subnet 10.0.0.0/24."),
            (PortIp { ip: s("10.0.0.1"), problem: IpProblem::Reserved { cidr: s("10.0.0.0/24") } }, 400, "EndPoint.2043", "The Port IP 10.0.0.1 is reserved in subnet 10.0.0.0/24 (network, gateway or broadcast)."),
            (PortIp { ip: s("10.0.0.9"), problem: IpProblem::InUse }, 400, "EndPoint.2042", "The Port IP 10.0.0.9 is in use."),
            (SubnetFull { cidr: s("10.0.0.0/29") }, 400, "EndPoint.3001", "Failed to create a port: subnet 10.0.0.0/29 has no free address."),
            (CidrOutsideVpc { cidr: s("10.1.0.0/24"), vpc_cidr: s("10.0.0.0/16") }, 400, "EndPoint.0002", "The subnet CIDR 10.1.0.0/24 is not inside the VPC CIDR 10.0.0.0/16."),
            (CidrLeavesOutSubnet { cidr: s("10.0.0.0/24"), subnet_name: s("b"), subnet_cidr: s("10.0.1.0/24") }, 400, "EndPoint.0002", "The new CIDR 10.0.0.0/24 does not contain subnet b (10.0.1.0/24)."),
            (CidrOverlap { cidr: s("10.0.0.0/24"), with: Overlapped::Subnet { name: s("a"), cidr: s("10.0.0.0/25") } }, 400, "VPC.0209", "The subnet CIDR 10.0.0.0/24 overlaps subnet a (10.0.0.0/25) in this VPC."),
            (CidrOverlap { cidr: s("10.0.0.0/24"), with: Overlapped::Vpc { cidr: s("10.0.0.0/16") } }, 400, "VPC.0209", "The site CIDR 10.0.0.0/24 overlaps the VPC CIDR 10.0.0.0/16: a VPN needs distinct networks on each side."),
            (CidrOverlap { cidr: s("172.16.0.0/24"), with: Overlapped::Site { name: s("hq"), cidr: s("172.16.0.0/16") } }, 400, "VPC.0209", "The site CIDR 172.16.0.0/24 overlaps site hq (172.16.0.0/16)."),
            (PortRangeNeedsProtocol, 400, "EndPoint.0002", "Port ranges need protocol tcp or udp."),
            (PortRangeReversed, 400, "EndPoint.0002", "port_range_min must not exceed port_range_max."),
            (FixedIpOutsideNetwork, 400, "EndPoint.0002", "fixed_ips.subnet_id does not belong to network_id."),
            (InvalidPolicyStatement, 400, "EndPoint.2048", "The VPC endpoint policy is invalid: each statement needs Effect (Allow|Deny), Action [] and Resource []."),
            (PolicyDocumentNotObject, 400, "EndPoint.2048", "policy_document must be a JSON object."),
            (InvalidRouteTable, 400, "EndPoint.1019", "Invalid route table ID."),
            (InvalidLimit { value: s("x"), max: 1000 }, 400, "EndPoint.0006", "Invalid limit 'x': use an integer from 0 to 1000."),
            (InvalidQueryValue { field: "from", value: s("x") }, 400, "EndPoint.0002", "Invalid from 'x': use Unix milliseconds or YYYY-MM-DDTHH:MM:SSZ for from and to, and a marker from an earlier page."),
            (InvalidOffset { value: s("-1") }, 400, "EndPoint.0010", "Invalid offset '-1': use an integer ≥ 0."),
            (FilterLimitOutOfRange { value: 0 }, 400, "EndPoint.0006", "Invalid limit: use 1 to 1000."),
            (NegativeOffset { value: -1 }, 400, "EndPoint.0010", "Invalid offset."),
            (InvalidMarkerId { value: s("x") }, 400, "EndPoint.0021", "Invalid marker_id 'x'."),
            (InvalidTime { field: "to", value: s("x") }, 400, "EndPoint.0002", "Invalid to time 'x': use RFC 3339 (2026-01-01T00:00:00Z) or epoch milliseconds, with to not before from and at most a year apart."),
            (InvalidRegion { value: s("X") }, 400, "EndPoint.0002", "Invalid region 'X': use lowercase letters, digits and '-'."),
            (QuotaValueOutOfRange { value: -1 }, 400, "EndPoint.0002", "A quota is an integer from 0 to 1000000."),
            (IpNotTaken, 400, "EndPoint.3011", "Parameter IP is not required to create an endpoint service (interface)."),
            (NotFound { kind: Thing::EndpointService, id: s("s1") }, 404, "EndPoint.0005", "The endpoint service s1 does not exist."),
            (NotFound { kind: Thing::Endpoint, id: s("e1") }, 404, "EndPoint.2006", "The endpoint e1 does not exist."),
            (NotFound { kind: Thing::Permission, id: s("p1") }, 404, "EndPoint.0005", "The whitelist record p1 does not exist."),
            (UnknownReference { field: "vpc_id", kind: Thing::Vpc, id: s("v1") }, 400, "EndPoint.2001", "The VPC v1 does not exist."),
            (UnknownReference { field: "port_id", kind: Thing::Port, id: s("p1") }, 400, "EndPoint.3008", "The port p1 does not exist."),
            // An empty id says the id is missing, not "The port  does not exist.".
            (UnknownReference { field: "port_id", kind: Thing::Port, id: s("") }, 400, "EndPoint.3008", "The port ID is missing."),
            (UnknownReference { field: "endpoint_service_id", kind: Thing::EndpointService, id: s("s1") }, 400, "EndPoint.2003", "The endpoint service s1 does not exist."),
            (UnknownReference { field: "subnet_id", kind: Thing::Subnet, id: s("n1") }, 400, "EndPoint.0023", "Invalid subnet_id n1: no such subnet."),
            (ServiceNotInRegion, 404, "EndPoint.0005", "The endpoint service does not exist in this region."),
            (AccountNotFound { name: s("bob") }, 404, "EndPoint.0005", "No account named 'bob'."),
            (NoProjectInRegion { account: s("bob"), region: s("r1") }, 404, "EndPoint.0005", "Account 'bob' has no project in r1."),
            (AccountExists { name: s("bob") }, 400, "EndPoint.0002", "An account named 'bob' already exists."),
            (ProjectExists { account: s("bob"), region: s("r1") }, 400, "EndPoint.0002", "Account 'bob' already has a project in r1."),
            (SubnetNotInVpc { subnet_id: s("n1"), vpc_id: s("v1") }, 400, "EndPoint.2037", "The current network does not belong to the VPC."),
            (PortNotInVpc { port_id: s("p1"), vpc_id: s("v1") }, 400, "EndPoint.3042", "The port p1 does not belong to VPC v1."),
            (NotLoadBalancerVip { port_id: s("p1") }, 400, "EndPoint.3051", "Endpoint service vip port id is invalid: p1 is not a load balancer's VIP port."),
            (LoadBalancerVipAsVm { port_id: s("p1") }, 400, "EndPoint.3003", "Invalid port ID: p1 is a load balancer VIP; use server_type LB."),
            (DuplicateRule, 409, "VPC.0604", "An identical rule already exists in this security group."),
            (VpcNotEmpty { count: 2, what: "subnets" }, 409, "VPC.0008", "The VPC still has 2 subnets: delete them first."),
            (SubnetNotEmpty { ports: 1, endpoints: 2 }, 409, "VPC.0008", "The subnet still has 1 port(s) and 2 endpoint(s): delete them first."),
            (SecurityGroupInUse { ports: 3 }, 409, "VPC.0008", "The security group is used by 3 port(s)."),
            (PortOwned { device_owner: s("compute:lab"), device_id: s("d1") }, 409, "VPC.0008", "The port belongs to compute:lab d1: delete that instead."),
            (PortBacksService { service_name: s("svc") }, 409, "VPC.0008", "The port backs endpoint service svc: delete the service first."),
            (ServiceInUse { endpoints: 2 }, 400, "EndPoint.3006", "The endpoint service is being used by 2 endpoint(s): reject or delete them first."),
            (ServiceNotModifiable, 400, "EndPoint.3045", "Other properties cannot be modified in the current endpoint service state."),
            (ServiceUnavailable, 400, "EndPoint.2004", "The endpoint service is unavailable."),
            (EndpointDeleting, 400, "EndPoint.2018", "The endpoint is being deleted."),
            (EndpointFailed, 400, "EndPoint.2047", "The VPC endpoint in the Failed status cannot be modified."),
            (NoPolicy, 400, "EndPoint.2049", "The VPC endpoint has no policy associated."),
            (EndpointNotOfService, 400, "EndPoint.2013", "The endpoint does not belong to the endpoint service."),
            (NotWhitelisted, 400, "EndPoint.2012", "You have no permission to connect to the VPC endpoint service: ask its owner to add your account to its whitelist."),
            (QuotaExceeded { what: "endpoints", quota: 50 }, 400, "Endpoint.1018", "Quota exceeded: at most 50 endpoints per account."),
            (LimitReached { limit: Limit::PermissionsPerService, max: 1000 }, 400, "EndPoint.3049", "The maximum number of whitelist records (1000) has been reached."),
            (LimitReached { limit: Limit::ServicesPerBackend, max: 5 }, 400, "EndPoint.3056", "The maximum of VPC endpoint services using the same backend (5) has been reached."),
            (Forbidden, 403, "EndPoint.0004", "Authentication information is incorrect or you have no permissions for this project."),
            (NulInText, 400, "EndPoint.0002", "Parameter error: text must not contain the NUL character (U+0000)."),
            (Internal { detail: s("System error. Please retry.") }, 500, "EndPoint.0001", "System error. Please retry."),
        ]
    }

    /// Fails to compile when a variant is added, so the table above gains its case.
    fn covered(e: &DomainError) {
        use DomainError::*;
        match e {
            Missing { .. }
            | Incomplete { .. }
            | TooMany { .. }
            | CountOutOfRange { .. }
            | TooLong { .. }
            | AngleBrackets { .. }
            | Unsupported { .. }
            | ExclusiveFields { .. }
            | NotModifiable { .. }
            | PortOutOfRange { .. }
            | DuplicatePort { .. }
            | BackendPortTaken { .. }
            | DuplicateListener { .. }
            | InvalidProtocol { .. }
            | InvalidServiceName { .. }
            | InvalidResourceName { .. }
            | InvalidTag { .. }
            | DuplicateTagKey { .. }
            | InvalidPermission { .. }
            | InvalidWhitelistEntry { .. }
            | InvalidCidr { .. }
            | InvalidAddress { .. }
            | GatewayNotHost { .. }
            | PortIp { .. }
            | SubnetFull { .. }
            | CidrOutsideVpc { .. }
            | CidrLeavesOutSubnet { .. }
            | CidrOverlap { .. }
            | PortRangeNeedsProtocol
            | PortRangeReversed
            | FixedIpOutsideNetwork
            | InvalidPolicyStatement
            | PolicyDocumentNotObject
            | InvalidRouteTable
            | InvalidLimit { .. }
            | InvalidOffset { .. }
            | InvalidQueryValue { .. }
            | FilterLimitOutOfRange { .. }
            | NegativeOffset { .. }
            | InvalidMarkerId { .. }
            | InvalidTime { .. }
            | InvalidRegion { .. }
            | QuotaValueOutOfRange { .. }
            | IpNotTaken
            | NotFound { .. }
            | UnknownReference { .. }
            | ServiceNotInRegion
            | AccountNotFound { .. }
            | NoProjectInRegion { .. }
            | AccountExists { .. }
            | ProjectExists { .. }
            | SubnetNotInVpc { .. }
            | PortNotInVpc { .. }
            | NotLoadBalancerVip { .. }
            | LoadBalancerVipAsVm { .. }
            | DuplicateRule
            | VpcNotEmpty { .. }
            | SubnetNotEmpty { .. }
            | SecurityGroupInUse { .. }
            | PortOwned { .. }
            | PortBacksService { .. }
            | ServiceInUse { .. }
            | ServiceNotModifiable
            | ServiceUnavailable
            | EndpointDeleting
            | EndpointFailed
            | NoPolicy
            | EndpointNotOfService
            | NotWhitelisted
            | QuotaExceeded { .. }
            | LimitReached { .. }
            | Forbidden
            | NulInText
            | Internal { .. } => {}
        }
    }

    #[test]
    fn every_variant_has_its_vpcep_code_status_and_message() {
        let cases = cases();
        for (e, status, code, message) in &cases {
            covered(e);
            let r = vpcep(e);
            assert_eq!(
                (r.status, r.code, r.message.as_str()),
                (*status, *code, *message),
                "{e:?}"
            );
        }
        // Each variant appears in the table (by discriminant).
        let seen: std::collections::HashSet<_> = cases
            .iter()
            .map(|(e, ..)| std::mem::discriminant(e))
            .collect();
        assert_eq!(seen.len(), 74, "a variant without a case");
    }

    #[test]
    #[rustfmt::skip]
    fn the_vpc_api_recodes_request_errors_and_missing_resources() {
        use DomainError::*;
        let s = |v: &str| v.to_string();
        let check = |e: DomainError, status: u16, code: &str, message: &str| {
            let r = vpc(&e);
            assert_eq!((r.status, r.code, r.message.as_str()), (status, code, message), "{e:?}");
        };
        check(Missing { field: "cidr" }, 400, "VPC.0002", "cidr is required.");
        check(InvalidResourceName { field: "name", value: s("a b") }, 400, "VPC.0002", "Invalid name 'a b': use 1 to 64 letters, digits, '_', '-' or '.'.");
        check(InvalidCidr { field: "cidr", value: s("x"), problem: CidrProblem::Malformed }, 400, "VPC.0002", "Invalid CIDR 'x': use a form such as 192.168.0.0/24.");
        check(PortOutOfRange { field: "port_range_min", value: 0 }, 400, "VPC.0002", "port_range_min 0 is out of range 1-65535.");
        check(PortIp { ip: s("10.0.0.9"), problem: IpProblem::InUse }, 400, "VPC.0704", "The Port IP 10.0.0.9 is in use.");
        check(SubnetFull { cidr: s("10.0.0.0/29") }, 400, "VPC.0002", "Failed to create a port: subnet 10.0.0.0/29 has no free address.");
        check(SubnetNotInVpc { subnet_id: s("n1"), vpc_id: s("v1") }, 400, "VPC.0002", "Subnet n1 is not in VPC v1.");
        check(NotFound { kind: Thing::Vpc, id: s("v1") }, 404, "VPC.0101", "The VPC v1 does not exist.");
        check(NotFound { kind: Thing::Subnet, id: s("n1") }, 404, "VPC.0202", "The subnet n1 does not exist.");
        check(NotFound { kind: Thing::Network, id: s("n1") }, 404, "VPC.0202", "The network n1 does not exist.");
        check(NotFound { kind: Thing::Port, id: s("p1") }, 404, "VPC.0701", "The port p1 does not exist.");
        check(NotFound { kind: Thing::SecurityGroup, id: s("g1") }, 404, "VPC.0602", "The security group g1 does not exist.");
        check(NotFound { kind: Thing::SecurityGroupRule, id: s("r1") }, 404, "VPC.0603", "The security group rule r1 does not exist.");
        check(NotFound { kind: Thing::Server, id: s("h1") }, 404, "LAB.0404", "The server h1 does not exist.");
        check(NotFound { kind: Thing::LoadBalancer, id: s("l1") }, 404, "LAB.0404", "The load balancer l1 does not exist.");
        check(NotFound { kind: Thing::Site, id: s("s1") }, 404, "LAB.0404", "The site s1 does not exist.");
        check(NotFound { kind: Thing::Vpc, id: s("") }, 404, "VPC.0101", "The VPC ID is missing.");
        check(VpcNotEmpty { count: 1, what: "servers" }, 409, "VPC.0008", "The VPC still has 1 servers: delete them first.");
        check(DuplicateRule, 409, "VPC.0604", "An identical rule already exists in this security group.");
        check(NulInText, 400, "EndPoint.0002", "Parameter error: text must not contain the NUL character (U+0000).");
        check(Internal { detail: s("stored CIDR invalid") }, 500, "EndPoint.0001", "stored CIDR invalid");
    }

    #[test]
    fn data_plane_failures_have_their_codes() {
        assert_eq!(
            data_plane_failure(Some(&Failure::ServiceUnavailable)),
            (
                "EndPoint.2004",
                "The endpoint service is unavailable.".into()
            )
        );
        assert_eq!(
            data_plane_failure(Some(&Failure::BackendGone)),
            ("EndPoint.3008", "The port does not exist.".into())
        );
        assert_eq!(
            data_plane_failure(Some(&Failure::Namespace {
                namespace: "vpcep-h-1".into(),
                detail: "EPERM".into()
            })),
            (
                "EndPoint.4000",
                "The data plane could not program namespace vpcep-h-1: EPERM".into()
            )
        );
        assert_eq!(
            data_plane_failure(None),
            (
                "EndPoint.4000",
                "The data plane could not program this resource.".into()
            )
        );
    }

    #[test]
    fn messages_are_bounded_and_cut_on_character_boundaries() {
        let huge = "名".repeat(1_000_000);
        let r = vpcep(&DomainError::InvalidPermission {
            value: vpcep_core::error::quoted(&huge),
        });
        assert!(r.message.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(r.message.starts_with("Invalid permission '名"));
        let r = ApiError::param(huge);
        assert!(r.message.len() <= MAX_MESSAGE + '…'.len_utf8());
        assert!(r.message.ends_with('…'));
    }
}
