//! The Huawei VPC v1 wire format (`/v1/{project_id}/vpcs|subnets|ports|security-groups|
//! security-group-rules`), as driven by the official Python SDK `huaweicloudsdkvpc` 3.1.219
//! (`huaweicloudsdkvpc.v2.VpcClient`). The contract, with paths and status codes, is
//! `docs/vpc-v1-wire.md`.
//!
//! Request bodies are parsed leniently: every field is an `Option` (required ones too: the domain
//! reports the first one missing, `vpcep_core::command`'s `check_required`) and booleans/integers also accept their string forms, so a bad body
//! becomes a VPC error code (`{"code","message"}`) rather than a framework rejection. They
//! serialize exactly as the SDK does: a field left unset is omitted.
//!
//! Response objects carry the exact JSON keys the SDK reads (`dnsList`, `binding:vnic_type`, ...).
//! Fields the real API returns as `null` (a rule's protocol/ports/remotes) are always emitted;
//! fields it leaves out when unset (IPv6 subnet fields, ...) are skipped.
//!
//! Id vocabulary (Huawei's): a v1 subnet's `id` is the Neutron *network* id (`neutron_network_id`,
//! the console's "Network ID"); a port's `network_id` is that same id, while a port's
//! `fixed_ips[].subnet_id` is the Neutron *subnet* id (`neutron_subnet_id`).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpcep_core::inventory as inv;
use vpcep_core::timefmt::to_wire;

// Lenient scalar parsing for request bodies: the same rules as the VPCEP bodies.

use crate::vpcep::{lenient_bool, lenient_int};

// ---------------------------------------------------------------------------------------------
// Small shared objects (used in requests and responses).

/// A VPC route (`vpc.routes[]`). Huawei only allows `destination` `0.0.0.0/0`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Route {
    pub destination: String,
    pub nexthop: String,
}

/// A subnet DHCP option (`subnet.extra_dhcp_opts[]`): `opt_name` is `ntp` or `addresstime`
/// (newer regions also `domainname`); `opt_value: null` clears the option.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ExtraDhcpOption {
    pub opt_name: String,
    pub opt_value: Option<String>,
}

/// A port DHCP option (`port.extra_dhcp_opts[]`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ExtraDhcpOpt {
    pub opt_name: String,
    pub opt_value: String,
}

/// A port's fixed IP. In a request either key may be left out (subnet only: any free address;
/// address only: that address); in a response both are set. `subnet_id` is the Neutron subnet id.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct FixedIp {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

/// An allowed address pair; `ip_address` (an IP or CIDR, never `0.0.0.0/0`) is required.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct AllowedAddressPair {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

/// `port.dns_assignment[]` (system-maintained).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct DnsAssignment {
    pub hostname: String,
    pub ip_address: String,
    pub fqdn: String,
}

/// `port["binding:vif_details"]`; the real API usually returns `{}` or a few of these.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct BindingVifDetails {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_interface: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_filter: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ovs_hybrid_plug: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlan_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_device_id: Option<String>,
}

/// An object, with `null` read as the empty object (older servers sent `binding:profile: null`).
fn object_or_null<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error> {
    Ok(Option::deserialize(d)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Response objects.

/// A VPC as returned by create/show/update/list. `status`: `CREATING` or `OK`. Timestamps are
/// UTC `YYYY-MM-DDTHH:MM:SS` (a trailing `Z` is fine for the SDK; a `+00:00` offset is not).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Vpc {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Empty when the VPC was created without one.
    pub cidr: String,
    pub status: String,
    pub routes: Vec<Route>,
    pub enterprise_project_id: String,
    /// The project id.
    pub tenant_id: String,
    pub created_at: String,
    pub updated_at: String,
    /// `on`/`off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_service_endpoint_states: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_network_address_usage_metrics: Option<bool>,
}

/// A subnet as returned by create/show/list. `id` == `neutron_network_id` (what ports call
/// `network_id`); `neutron_subnet_id` is what `fixed_ips[].subnet_id` holds. `status`: `ACTIVE`,
/// `UNKNOWN` or `ERROR`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub description: String,
    pub cidr: String,
    pub gateway_ip: String,
    pub ipv6_enable: bool,
    /// Only for IPv6-enabled subnets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr_v6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_ip_v6: Option<String>,
    pub dhcp_enable: bool,
    /// Left out when no DNS server is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_dns: Option<String>,
    /// Left out when at most one DNS server is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_dns: Option<String>,
    #[serde(rename = "dnsList")]
    pub dns_list: Vec<String>,
    pub availability_zone: String,
    pub vpc_id: String,
    pub status: String,
    pub neutron_network_id: String,
    pub neutron_subnet_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neutron_subnet_id_v6: Option<String>,
    pub extra_dhcp_opts: Vec<ExtraDhcpOption>,
    /// `center` or an AZ id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub tenant_id: String,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_network_address_usage_metrics: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available_ip_address_count: Option<i64>,
}

/// What update_subnet returns: only `{"subnet": {"id", "status"}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct SubnetResult {
    pub id: String,
    pub status: String,
}

/// A port as returned by create/show/update/list. `status`: `ACTIVE`, `BUILD` or `DOWN`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Port {
    pub id: String,
    pub name: String,
    /// The v1 subnet id (Neutron network id).
    pub network_id: String,
    pub admin_state_up: bool,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_id: String,
    /// e.g. `""`, `neutron:VIP_PORT`, `compute:xxx`, `network:dhcp`.
    pub device_owner: String,
    pub tenant_id: String,
    pub status: String,
    pub security_groups: Vec<String>,
    pub allowed_address_pairs: Vec<AllowedAddressPair>,
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
    /// `normal`.
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: String,
    pub dns_assignment: Vec<DnsAssignment>,
    pub dns_name: String,
    #[serde(rename = "binding:vif_details")]
    pub binding_vif_details: BindingVifDetails,
    /// A free-form object; `{}` when unset. A map rather than a `Value` so that the default (and a
    /// `null` a client might send back) can never be serialized as anything but an object.
    #[serde(rename = "binding:profile", deserialize_with = "object_or_null")]
    #[schema(value_type = Object)]
    pub binding_profile: serde_json::Map<String, serde_json::Value>,
    pub instance_id: String,
    pub instance_type: String,
    pub port_security_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub zone_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_efi: Option<bool>,
    /// Only when an IPv6 port is bound to a shared bandwidth.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_bandwidth_id: Option<String>,
}

/// A security group as returned by create/show/list, with its rules inlined.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Left out for a group not tied to a VPC.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    pub enterprise_project_id: String,
    pub security_group_rules: Vec<SecurityGroupRule>,
}

/// A security group rule. The optional matchers are emitted as `null` when unset, as the real
/// API does: `protocol: null` means any protocol, null ports mean all ports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct SecurityGroupRule {
    pub id: String,
    pub description: String,
    pub security_group_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// `tcp`, `udp`, `icmp`, an IP protocol number, or null for any.
    pub protocol: Option<String>,
    /// For icmp: the ICMP type.
    pub port_range_min: Option<u16>,
    /// For icmp: the ICMP code.
    pub port_range_max: Option<u16>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: Option<String>,
    pub tenant_id: String,
}

/// The VPC v1 error body (any 4xx/5xx): `{"code": "VPC.0101", "message": "..."}`. The SDK maps
/// `code`/`message` to `ClientRequestException.error_code`/`error_msg` (and reads `X-Request-Id`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct VpcError {
    pub code: String,
    pub message: String,
}

// ---------------------------------------------------------------------------------------------
// From the domain: the records as the SDK reads them.

impl From<&inv::Vpc> for Vpc {
    fn from(v: &inv::Vpc) -> Self {
        Self {
            id: v.id.clone(),
            name: v.name.clone(),
            description: v.description.clone(),
            cidr: v.cidr.clone(),
            status: v.status.clone(),
            enterprise_project_id: "0".into(),
            tenant_id: v.project_id.clone(),
            created_at: to_wire(v.created_ms),
            updated_at: to_wire(v.updated_ms),
            ..Default::default()
        }
    }
}

impl From<&inv::Subnet> for Subnet {
    fn from(s: &inv::Subnet) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            description: s.description.clone(),
            cidr: s.cidr.clone(),
            gateway_ip: s.gateway_ip.clone(),
            dhcp_enable: s.dhcp_enable,
            primary_dns: s.primary_dns.clone(),
            secondary_dns: s.secondary_dns.clone(),
            dns_list: s
                .primary_dns
                .iter()
                .chain(s.secondary_dns.iter())
                .cloned()
                .collect(),
            availability_zone: s.availability_zone.clone().unwrap_or_default(),
            vpc_id: s.vpc_id.clone(),
            status: s.status.clone(),
            neutron_network_id: s.id.clone(),
            neutron_subnet_id: s.neutron_subnet_id.clone(),
            tenant_id: s.project_id.clone(),
            created_at: to_wire(s.created_ms),
            updated_at: to_wire(s.updated_ms),
            ..Default::default()
        }
    }
}

impl Port {
    /// `neutron_subnet_id`: the port's subnet by its Neutron id, as the SDK reads `fixed_ips`
    /// (the v1 id when unknown).
    pub fn from_port(p: &inv::Port, neutron_subnet_id: &str) -> Self {
        Self {
            id: p.id.clone(),
            name: p.name.clone(),
            network_id: p.subnet_id.clone(),
            admin_state_up: p.admin_state_up,
            mac_address: p.mac_address.clone(),
            fixed_ips: vec![FixedIp {
                subnet_id: Some(if neutron_subnet_id.is_empty() {
                    p.subnet_id.clone()
                } else {
                    neutron_subnet_id.to_string()
                }),
                ip_address: Some(p.ip_address.clone()),
            }],
            device_id: p.device_id.clone(),
            device_owner: p.device_owner.clone(),
            tenant_id: p.project_id.clone(),
            status: p.status.clone(),
            security_groups: p.security_groups.clone(),
            binding_vnic_type: "normal".into(),
            instance_id: p.device_id.clone(),
            port_security_enabled: true,
            ..Default::default()
        }
    }
}

impl From<&inv::SecurityGroupRule> for SecurityGroupRule {
    fn from(r: &inv::SecurityGroupRule) -> Self {
        Self {
            id: r.id.clone(),
            description: r.description.clone(),
            security_group_id: r.security_group_id.clone(),
            direction: match r.direction {
                inv::Direction::Ingress => "ingress".into(),
                inv::Direction::Egress => "egress".into(),
            },
            ethertype: r.ethertype.clone(),
            protocol: r.protocol.clone(),
            port_range_min: r.port_range_min,
            port_range_max: r.port_range_max,
            remote_ip_prefix: r.remote_ip_prefix.clone(),
            remote_group_id: r.remote_group_id.clone(),
            remote_address_group_id: None,
            tenant_id: r.project_id.clone(),
        }
    }
}

impl SecurityGroup {
    pub fn from_group(g: &inv::SecurityGroup, rules: &[inv::SecurityGroupRule]) -> Self {
        Self {
            id: g.id.clone(),
            name: g.name.clone(),
            description: g.description.clone(),
            vpc_id: g.vpc_id.clone(),
            enterprise_project_id: "0".into(),
            security_group_rules: rules.iter().map(SecurityGroupRule::from).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Response envelopes.

macro_rules! envelope {
    ($(#[$doc:meta])* $name:ident { $field:ident : $ty:ty }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            pub $field: $ty,
        }
    };
}

envelope!(
    /// create_vpc / show_vpc / update_vpc: `{"vpc": {...}}`.
    VpcEnvelope { vpc: Vpc }
);
envelope!(
    /// list_vpcs: `{"vpcs": [...]}` (no count, no links).
    VpcsEnvelope { vpcs: Vec<Vpc> }
);
envelope!(
    /// create_subnet / show_subnet: `{"subnet": {...}}`.
    SubnetEnvelope { subnet: Subnet }
);
envelope!(
    /// update_subnet: `{"subnet": {"id", "status"}}`.
    SubnetResultEnvelope { subnet: SubnetResult }
);
envelope!(
    /// list_subnets: `{"subnets": [...]}`.
    SubnetsEnvelope { subnets: Vec<Subnet> }
);
envelope!(
    /// create_port / show_port / update_port: `{"port": {...}}`.
    PortEnvelope { port: Port }
);
envelope!(
    /// list_ports: `{"ports": [...]}`.
    PortsEnvelope { ports: Vec<Port> }
);
envelope!(
    /// create_security_group / show_security_group: `{"security_group": {...}}`.
    SecurityGroupEnvelope { security_group: SecurityGroup }
);
envelope!(
    /// list_security_groups: `{"security_groups": [...]}`.
    SecurityGroupsEnvelope { security_groups: Vec<SecurityGroup> }
);
envelope!(
    /// create_security_group_rule / show_security_group_rule: `{"security_group_rule": {...}}`.
    SecurityGroupRuleEnvelope { security_group_rule: SecurityGroupRule }
);
envelope!(
    /// list_security_group_rules: `{"security_group_rules": [...]}`.
    SecurityGroupRulesEnvelope { security_group_rules: Vec<SecurityGroupRule> }
);

// ---------------------------------------------------------------------------------------------
// Request bodies (the inner objects) and their wrappers.

/// `POST /v1/{project_id}/vpcs` body `vpc`. Every field is optional (the SDK may send `{}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateVpcBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Default `"0"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enterprise_project_id: Option<String>,
    /// `key*value` strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// `on`/`off`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub block_service_endpoint_states: Option<String>,
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_network_address_usage_metrics: Option<bool>,
}

/// `PUT /v1/{project_id}/vpcs/{vpc_id}` body `vpc`. All optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct UpdateVpcBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub routes: Option<Vec<Route>>,
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_network_address_usage_metrics: Option<bool>,
}

/// `POST /v1/{project_id}/subnets` body `subnet`. Required: `name`, `cidr`, `vpc_id`,
/// `gateway_ip`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateSubnetBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway_ip: Option<String>,
    /// Default false.
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_enable: Option<bool>,
    /// Default true.
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub dhcp_enable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_dns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_dns: Option<String>,
    #[serde(rename = "dnsList", skip_serializing_if = "Option::is_none")]
    pub dns_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_dhcp_opts: Option<Vec<ExtraDhcpOption>>,
    /// `key*value` strings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_network_address_usage_metrics: Option<bool>,
}

/// `PUT /v1/{project_id}/vpcs/{vpc_id}/subnets/{subnet_id}` body `subnet`. Huawei documents
/// `name` as required (the SDK does not enforce it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct UpdateSubnetBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub ipv6_enable: Option<bool>,
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub dhcp_enable: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_dns: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secondary_dns: Option<String>,
    #[serde(rename = "dnsList", skip_serializing_if = "Option::is_none")]
    pub dns_list: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_dhcp_opts: Option<Vec<ExtraDhcpOption>>,
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub enable_network_address_usage_metrics: Option<bool>,
}

/// `POST /v1/{project_id}/ports` body `port`. Required: `network_id` (the v1 subnet id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreatePortBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_id: Option<String>,
    /// At most one entry for IPv4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_ips: Option<Vec<FixedIp>>,
    /// Only `""` or `neutron:VIP_PORT` may be set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device_owner: Option<String>,
    /// Default: the project's default security group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    /// Only `true` is supported (the default).
    #[serde(
        deserialize_with = "lenient_bool",
        skip_serializing_if = "Option::is_none"
    )]
    pub admin_state_up: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_address_pairs: Option<Vec<AllowedAddressPair>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_dhcp_opts: Option<Vec<ExtraDhcpOpt>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<String>,
}

/// `PUT /v1/{project_id}/ports/{port_id}` body `port`. All optional; a list that is present
/// replaces the old one (`[]` clears it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct UpdatePortBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_address_pairs: Option<Vec<AllowedAddressPair>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extra_dhcp_opts: Option<Vec<ExtraDhcpOpt>>,
}

/// `POST /v1/{project_id}/security-groups` body `security_group`. Required: `name`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateSecurityGroupBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Default `"0"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enterprise_project_id: Option<String>,
    /// Not in the SDK's v1 model; accepted for clients that send it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// `POST /v1/{project_id}/security-group-rules` body `security_group_rule`. Required:
/// `security_group_id`, `direction`. `remote_ip_prefix`, `remote_group_id` and
/// `remote_address_group_id` are mutually exclusive.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct CreateSecurityGroupRuleBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `ingress` or `egress`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
    /// `IPv4` (default) or `IPv6`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ethertype: Option<String>,
    /// `tcp`, `udp`, `icmp` or a protocol number 0-255; absent means any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// 1-65535 (ICMP type for icmp); absent means all ports.
    #[serde(
        deserialize_with = "lenient_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub port_range_min: Option<i64>,
    /// 1-65535 (ICMP code for icmp); not below `port_range_min`.
    #[serde(
        deserialize_with = "lenient_int",
        skip_serializing_if = "Option::is_none"
    )]
    pub port_range_max: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_ip_prefix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_group_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remote_address_group_id: Option<String>,
}

macro_rules! wrapper {
    ($(#[$doc:meta])* $name:ident { $field:ident : $ty:ty }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
        pub struct $name {
            pub $field: $ty,
        }
    };
}

wrapper!(
    /// `{"vpc": CreateVpcBody}`.
    CreateVpcRequest { vpc: CreateVpcBody }
);
wrapper!(
    /// `{"vpc": UpdateVpcBody}`.
    UpdateVpcRequest { vpc: UpdateVpcBody }
);
wrapper!(
    /// `{"subnet": CreateSubnetBody}`.
    CreateSubnetRequest { subnet: CreateSubnetBody }
);
wrapper!(
    /// `{"subnet": UpdateSubnetBody}`.
    UpdateSubnetRequest { subnet: UpdateSubnetBody }
);
wrapper!(
    /// `{"port": CreatePortBody}`.
    CreatePortRequest { port: CreatePortBody }
);
wrapper!(
    /// `{"port": UpdatePortBody}`.
    UpdatePortRequest { port: UpdatePortBody }
);
wrapper!(
    /// `{"security_group": CreateSecurityGroupBody}`.
    CreateSecurityGroupRequest { security_group: CreateSecurityGroupBody }
);
wrapper!(
    /// `{"security_group_rule": CreateSecurityGroupRuleBody}`.
    CreateSecurityGroupRuleRequest { security_group_rule: CreateSecurityGroupRuleBody }
);

// ---------------------------------------------------------------------------------------------
// List query parameters. The SDK drops unset parameters, sorts the rest by name and percent-
// encodes values (`:` -> `%3A`, `/` -> `%2F`); booleans are `true`/`false`; list-valued ones
// (`id`, `security_groups`, `fixed_ips` on list_ports) are sent as repeated keys
// (`id=a&id=b`), which serde_urlencoded (axum's `Query`) cannot collect, hence `from_pairs`.
// Paging everywhere: `limit` (page size) and `marker` (the id of the last item of the previous
// page; results start after it). There is no total count and no `*_links`.

/// list_vpcs: `limit`, `marker`, `id`, `enterprise_project_id` (`all_granted_eps` = all).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ListVpcsQuery {
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub id: Option<String>,
    pub enterprise_project_id: Option<String>,
}

/// list_subnets: `limit`, `marker`, `vpc_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ListSubnetsQuery {
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub vpc_id: Option<String>,
}

/// list_security_groups: `limit`, `marker`, `vpc_id`, `enterprise_project_id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ListSecurityGroupsQuery {
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub vpc_id: Option<String>,
    pub enterprise_project_id: Option<String>,
}

/// list_security_group_rules: `marker`, `limit`, `security_group_id`, `remote_ip_prefix`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ListSecurityGroupRulesQuery {
    pub limit: Option<i64>,
    pub marker: Option<String>,
    pub security_group_id: Option<String>,
    pub remote_ip_prefix: Option<String>,
}

/// list_ports. `fixed_ips` entries are filters of the form `ip_address=1.2.3.4` or
/// `subnet_id=<neutron subnet id>` (the `=` arrives percent-encoded as `%3D`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ListPortsQuery {
    pub name: Option<String>,
    pub id: Vec<String>,
    pub limit: Option<i64>,
    pub admin_state_up: Option<bool>,
    pub network_id: Option<String>,
    pub mac_address: Option<String>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    /// `ACTIVE`, `BUILD` or `DOWN`.
    pub status: Option<String>,
    pub security_groups: Vec<String>,
    pub marker: Option<String>,
    pub fixed_ips: Vec<String>,
    pub enterprise_project_id: Option<String>,
    pub enable_efi: Option<bool>,
}

impl ListPortsQuery {
    /// Builds the query from already percent-decoded `(key, value)` pairs, collecting repeated
    /// keys. Unknown keys are ignored; the first bad `limit`/boolean is returned as `Err(key)`.
    pub fn from_pairs<'a, I>(pairs: I) -> Result<Self, &'static str>
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        fn bool_of(v: &str, key: &'static str) -> Result<bool, &'static str> {
            match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(key),
            }
        }
        let mut q = ListPortsQuery::default();
        for (k, v) in pairs {
            let v = v.to_string();
            match k {
                "name" => q.name = Some(v),
                "id" => q.id.push(v),
                "limit" => q.limit = Some(v.trim().parse().map_err(|_| "limit")?),
                "admin_state_up" => q.admin_state_up = Some(bool_of(&v, "admin_state_up")?),
                "network_id" => q.network_id = Some(v),
                "mac_address" => q.mac_address = Some(v),
                "device_id" => q.device_id = Some(v),
                "device_owner" => q.device_owner = Some(v),
                "status" => q.status = Some(v),
                "security_groups" => q.security_groups.push(v),
                "marker" => q.marker = Some(v),
                "fixed_ips" => q.fixed_ips.push(v),
                "enterprise_project_id" => q.enterprise_project_id = Some(v),
                "enable_efi" => q.enable_efi = Some(bool_of(&v, "enable_efi")?),
                _ => {}
            }
        }
        Ok(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::collections::BTreeSet;
    use vpcep_core::DomainError;
    use vpcep_core::command as cmd;

    /// The required field the domain finds missing in a body once converted to its command.
    fn missing_in<C>(
        body: impl Into<C>,
        check: impl Fn(&C) -> Result<(), DomainError>,
    ) -> Option<&'static str> {
        match check(&body.into()) {
            Err(DomainError::Missing { field }) => Some(field),
            _ => None,
        }
    }

    // Bodies byte-for-byte as huaweicloudsdkvpc 3.1.219 sent them to a capture server.
    const SDK_CREATE_VPC: &str = r#"{"vpc": {"cidr": "192.168.0.0/16", "name": "vpc-1", "description": "test vpc", "enterprise_project_id": "0"}}"#;
    const SDK_CREATE_VPC_EMPTY: &str = r#"{"vpc": {}}"#;
    const SDK_UPDATE_VPC: &str = r#"{"vpc": {"name": "vpc-2", "description": "d2", "cidr": "192.168.0.0/16", "routes": [{"destination": "0.0.0.0/0", "nexthop": "192.168.0.5"}], "enable_network_address_usage_metrics": false}}"#;
    const SDK_CREATE_SUBNET: &str = r#"{"subnet": {"name": "subnet-1", "cidr": "192.168.1.0/24", "vpc_id": "4189d3c2-8882-4871-a3c2-d380272eed80", "gateway_ip": "192.168.1.1", "dhcp_enable": true, "primary_dns": "100.125.1.250", "secondary_dns": "100.125.21.250", "dnsList": ["100.125.1.250", "100.125.21.250"], "availability_zone": "az1", "extra_dhcp_opts": [{"opt_name": "ntp", "opt_value": "10.100.0.33"}]}}"#;
    const SDK_UPDATE_SUBNET: &str = r#"{"subnet": {"name": "subnet-2", "description": "d", "dhcp_enable": false, "primary_dns": "114.114.114.114"}}"#;
    const SDK_CREATE_PORT: &str = r#"{"port": {"name": "port-1", "network_id": "4dc70db6-cb7f-4200-9790-a6a910776bba", "fixed_ips": [{"ip_address": "192.168.1.10", "subnet_id": "4dc70db6-cb7f-4200-9790-a6a910776bba"}], "security_groups": ["a0608cbf-d047-4f54-8b28-cd7b59853fff"], "admin_state_up": true, "allowed_address_pairs": [{"ip_address": "192.168.1.200"}]}}"#;
    const SDK_CREATE_PORT_MIN: &str =
        r#"{"port": {"network_id": "4dc70db6-cb7f-4200-9790-a6a910776bba"}}"#;
    const SDK_UPDATE_PORT: &str = r#"{"port": {"name": "port-2", "security_groups": ["a0608cbf-d047-4f54-8b28-cd7b59853fff"], "allowed_address_pairs": [], "extra_dhcp_opts": [{"opt_name": "51", "opt_value": "86400"}]}}"#;
    const SDK_CREATE_SG: &str = r#"{"security_group": {"name": "sg-1", "vpc_id": "4189d3c2-8882-4871-a3c2-d380272eed80", "enterprise_project_id": "0"}}"#;
    const SDK_CREATE_RULE: &str = r#"{"security_group_rule": {"security_group_id": "a0608cbf-d047-4f54-8b28-cd7b59853fff", "description": "allow ssh", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "10.0.0.0/8"}}"#;
    const SDK_CREATE_RULE_MIN: &str = r#"{"security_group_rule": {"security_group_id": "a0608cbf-d047-4f54-8b28-cd7b59853fff", "direction": "egress"}}"#;

    /// Parses `raw` into `T`, then checks that serializing it gives back the same JSON (so the
    /// typed client sends what the SDK sends: same keys, unset fields omitted).
    fn roundtrip<T: Serialize + for<'de> Deserialize<'de>>(raw: &str) -> T {
        let parsed: T = serde_json::from_str(raw).expect("parses");
        let original: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(
            serde_json::to_value(&parsed).unwrap(),
            original,
            "round trip of {raw}"
        );
        parsed
    }

    fn keys(v: &Value) -> BTreeSet<String> {
        v.as_object().expect("object").keys().cloned().collect()
    }

    fn set(ks: &[&str]) -> BTreeSet<String> {
        ks.iter().map(|s| s.to_string()).collect()
    }

    // The JSON keys each SDK response model reads (its `attribute_map` values).
    const SDK_VPC_KEYS: &[&str] = &[
        "id",
        "name",
        "cidr",
        "description",
        "routes",
        "status",
        "enterprise_project_id",
        "tenant_id",
        "created_at",
        "updated_at",
        "block_service_endpoint_states",
        "enable_network_address_usage_metrics",
    ];
    const SDK_SUBNET_KEYS: &[&str] = &[
        "id",
        "name",
        "description",
        "cidr",
        "gateway_ip",
        "ipv6_enable",
        "cidr_v6",
        "gateway_ip_v6",
        "dhcp_enable",
        "primary_dns",
        "secondary_dns",
        "dnsList",
        "availability_zone",
        "vpc_id",
        "status",
        "neutron_network_id",
        "neutron_subnet_id",
        "neutron_subnet_id_v6",
        "extra_dhcp_opts",
        "scope",
        "tenant_id",
        "created_at",
        "updated_at",
        "enable_network_address_usage_metrics",
        "available_ip_address_count",
    ];
    const SDK_PORT_KEYS: &[&str] = &[
        "id",
        "name",
        "network_id",
        "admin_state_up",
        "mac_address",
        "fixed_ips",
        "device_id",
        "device_owner",
        "tenant_id",
        "status",
        "security_groups",
        "allowed_address_pairs",
        "extra_dhcp_opts",
        "binding:vnic_type",
        "dns_assignment",
        "dns_name",
        "binding:vif_details",
        "binding:profile",
        "instance_id",
        "instance_type",
        "port_security_enabled",
        "zone_id",
        "enable_efi",
        "ipv6_bandwidth_id",
    ];
    const SDK_SG_KEYS: &[&str] = &[
        "name",
        "description",
        "id",
        "vpc_id",
        "enterprise_project_id",
        "security_group_rules",
    ];
    const SDK_RULE_KEYS: &[&str] = &[
        "id",
        "description",
        "security_group_id",
        "direction",
        "ethertype",
        "protocol",
        "port_range_min",
        "port_range_max",
        "remote_ip_prefix",
        "remote_group_id",
        "remote_address_group_id",
        "tenant_id",
    ];

    #[test]
    fn create_vpc_as_sdk_sends_it() {
        let r: CreateVpcRequest = roundtrip(SDK_CREATE_VPC);
        assert_eq!(r.vpc.cidr.as_deref(), Some("192.168.0.0/16"));
        assert_eq!(r.vpc.name.as_deref(), Some("vpc-1"));
        assert_eq!(r.vpc.description.as_deref(), Some("test vpc"));
        assert_eq!(r.vpc.enterprise_project_id.as_deref(), Some("0"));
        assert_eq!(r.vpc.tags, None);
        let empty: CreateVpcRequest = roundtrip(SDK_CREATE_VPC_EMPTY);
        assert_eq!(empty.vpc, CreateVpcBody::default());
        // The wrapper key is required.
        assert!(serde_json::from_str::<CreateVpcRequest>("{}").is_err());
    }

    #[test]
    fn update_vpc_as_sdk_sends_it() {
        let r: UpdateVpcRequest = roundtrip(SDK_UPDATE_VPC);
        assert_eq!(
            r.vpc.routes,
            Some(vec![Route {
                destination: "0.0.0.0/0".into(),
                nexthop: "192.168.0.5".into()
            }])
        );
        assert_eq!(r.vpc.enable_network_address_usage_metrics, Some(false));
    }

    #[test]
    fn create_subnet_as_sdk_sends_it() {
        let r: CreateSubnetRequest = roundtrip(SDK_CREATE_SUBNET);
        let s = &r.subnet;
        assert_eq!(
            missing_in(s.clone(), cmd::CreateSubnet::check_required),
            None
        );
        assert_eq!(
            s.vpc_id.as_deref(),
            Some("4189d3c2-8882-4871-a3c2-d380272eed80")
        );
        assert_eq!(s.gateway_ip.as_deref(), Some("192.168.1.1"));
        assert_eq!(s.dhcp_enable, Some(true));
        assert_eq!(
            s.dns_list.as_deref(),
            Some(&["100.125.1.250".to_string(), "100.125.21.250".to_string()][..])
        );
        assert_eq!(s.availability_zone.as_deref(), Some("az1"));
        assert_eq!(
            s.extra_dhcp_opts,
            Some(vec![ExtraDhcpOption {
                opt_name: "ntp".into(),
                opt_value: Some("10.100.0.33".into())
            }])
        );
        let partial: CreateSubnetRequest =
            serde_json::from_str(r#"{"subnet": {"name": "a", "cidr": "10.0.0.0/24"}}"#).unwrap();
        assert_eq!(
            missing_in(partial.subnet, cmd::CreateSubnet::check_required),
            Some("vpc_id")
        );
    }

    #[test]
    fn update_subnet_as_sdk_sends_it() {
        let r: UpdateSubnetRequest = roundtrip(SDK_UPDATE_SUBNET);
        assert_eq!(r.subnet.dhcp_enable, Some(false));
        assert_eq!(r.subnet.primary_dns.as_deref(), Some("114.114.114.114"));
    }

    #[test]
    fn create_port_as_sdk_sends_it() {
        let r: CreatePortRequest = roundtrip(SDK_CREATE_PORT);
        let p = &r.port;
        assert_eq!(missing_in(p.clone(), cmd::CreatePort::check_required), None);
        assert_eq!(
            p.network_id.as_deref(),
            Some("4dc70db6-cb7f-4200-9790-a6a910776bba")
        );
        assert_eq!(
            p.fixed_ips,
            Some(vec![FixedIp {
                subnet_id: Some("4dc70db6-cb7f-4200-9790-a6a910776bba".into()),
                ip_address: Some("192.168.1.10".into()),
            }])
        );
        assert_eq!(
            p.security_groups.as_deref(),
            Some(&["a0608cbf-d047-4f54-8b28-cd7b59853fff".to_string()][..])
        );
        assert_eq!(p.admin_state_up, Some(true));
        assert_eq!(
            p.allowed_address_pairs,
            Some(vec![AllowedAddressPair {
                ip_address: Some("192.168.1.200".into()),
                mac_address: None
            }])
        );
        let min: CreatePortRequest = roundtrip(SDK_CREATE_PORT_MIN);
        assert_eq!(min.port.fixed_ips, None);
        assert_eq!(min.port.security_groups, None);
        let none: CreatePortRequest = serde_json::from_str(r#"{"port": {"name": "x"}}"#).unwrap();
        assert_eq!(
            missing_in(none.port, cmd::CreatePort::check_required),
            Some("network_id")
        );
    }

    #[test]
    fn update_port_as_sdk_sends_it() {
        let r: UpdatePortRequest = roundtrip(SDK_UPDATE_PORT);
        assert_eq!(r.port.allowed_address_pairs, Some(vec![]));
        assert_eq!(
            r.port.extra_dhcp_opts,
            Some(vec![ExtraDhcpOpt {
                opt_name: "51".into(),
                opt_value: "86400".into()
            }])
        );
    }

    #[test]
    fn create_security_group_as_sdk_sends_it() {
        let r: CreateSecurityGroupRequest = roundtrip(SDK_CREATE_SG);
        assert_eq!(
            missing_in(
                r.security_group.clone(),
                cmd::CreateSecurityGroup::check_required
            ),
            None
        );
        assert_eq!(
            r.security_group.vpc_id.as_deref(),
            Some("4189d3c2-8882-4871-a3c2-d380272eed80")
        );
    }

    #[test]
    fn create_security_group_rule_as_sdk_sends_it() {
        let r: CreateSecurityGroupRuleRequest = roundtrip(SDK_CREATE_RULE);
        let b = &r.security_group_rule;
        assert_eq!(
            missing_in(b.clone(), cmd::CreateSecurityGroupRule::check_required),
            None
        );
        assert_eq!(b.direction.as_deref(), Some("ingress"));
        assert_eq!(b.ethertype.as_deref(), Some("IPv4"));
        assert_eq!(b.protocol.as_deref(), Some("tcp"));
        assert_eq!((b.port_range_min, b.port_range_max), (Some(22), Some(22)));
        assert_eq!(b.remote_ip_prefix.as_deref(), Some("10.0.0.0/8"));
        let min: CreateSecurityGroupRuleRequest = roundtrip(SDK_CREATE_RULE_MIN);
        assert_eq!(min.security_group_rule.protocol, None);
        assert_eq!(min.security_group_rule.port_range_min, None);
        let bad: CreateSecurityGroupRuleRequest =
            serde_json::from_str(r#"{"security_group_rule": {"direction": "ingress"}}"#).unwrap();
        assert_eq!(
            missing_in(
                bad.security_group_rule,
                cmd::CreateSecurityGroupRule::check_required
            ),
            Some("security_group_id")
        );
    }

    #[test]
    fn lenient_scalars() {
        let r: CreateSecurityGroupRuleRequest = serde_json::from_str(
            r#"{"security_group_rule": {"security_group_id": "g", "direction": "ingress", "port_range_min": "80", "port_range_max": null}}"#,
        )
        .unwrap();
        assert_eq!(r.security_group_rule.port_range_min, Some(80));
        assert_eq!(r.security_group_rule.port_range_max, None);
        let s: CreateSubnetRequest =
            serde_json::from_str(r#"{"subnet": {"dhcp_enable": "false"}}"#).unwrap();
        assert_eq!(s.subnet.dhcp_enable, Some(false));
        assert!(
            serde_json::from_str::<CreateSubnetRequest>(r#"{"subnet": {"dhcp_enable": 1}}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<CreateSecurityGroupRuleRequest>(
                r#"{"security_group_rule": {"port_range_min": "eighty"}}"#
            )
            .is_err()
        );
    }

    fn sample_rule() -> SecurityGroupRule {
        SecurityGroupRule {
            id: "f11a3824-ac19-4fad-b4f1-c5f4a6dd0a80".into(),
            description: String::new(),
            security_group_id: "16b6e77a-08fa-42c7-aa8b-106c048884e6".into(),
            direction: "egress".into(),
            ethertype: "IPv4".into(),
            tenant_id: "0123456789abcdef0123456789abcdef".into(),
            ..Default::default()
        }
    }

    #[test]
    fn vpc_response_keys() {
        let v = VpcEnvelope {
            vpc: Vpc {
                id: "99d9d709-8478-4b46-9f3f-2206b1023fd3".into(),
                name: "vpc".into(),
                cidr: "192.168.0.0/16".into(),
                status: "OK".into(),
                enterprise_project_id: "0".into(),
                tenant_id: "0123456789abcdef0123456789abcdef".into(),
                created_at: "2024-01-01T12:00:00".into(),
                updated_at: "2024-01-01T12:00:00".into(),
                ..Default::default()
            },
        };
        let j = serde_json::to_value(&v).unwrap();
        assert_eq!(keys(&j), set(&["vpc"]));
        let ks = keys(&j["vpc"]);
        assert!(ks.is_subset(&set(SDK_VPC_KEYS)), "{ks:?}");
        assert_eq!(
            ks,
            set(&[
                "id",
                "name",
                "cidr",
                "description",
                "routes",
                "status",
                "enterprise_project_id",
                "tenant_id",
                "created_at",
                "updated_at"
            ])
        );
        assert_eq!(j["vpc"]["routes"], json!([]));
        let list = serde_json::to_value(VpcsEnvelope {
            vpcs: vec![v.vpc.clone()],
        })
        .unwrap();
        assert_eq!(keys(&list), set(&["vpcs"]));
        assert_eq!(list["vpcs"][0], j["vpc"]);
        // The typed client reads it back.
        assert_eq!(serde_json::from_value::<VpcEnvelope>(j).unwrap(), v);
    }

    #[test]
    fn subnet_response_keys() {
        let s = Subnet {
            id: "4779ab1c-7c1a-44b1-a02e-93dfc361b32d".into(),
            name: "subnet".into(),
            cidr: "192.168.20.0/24".into(),
            gateway_ip: "192.168.20.1".into(),
            dhcp_enable: true,
            primary_dns: Some("100.125.1.250".into()),
            dns_list: vec!["100.125.1.250".into()],
            availability_zone: "az1".into(),
            vpc_id: "3ec3b33f-ac1c-4630-ad1c-7dba1ed79d85".into(),
            status: "ACTIVE".into(),
            neutron_network_id: "4779ab1c-7c1a-44b1-a02e-93dfc361b32d".into(),
            neutron_subnet_id: "213cb9d0-3122-2ce1-b543-ab34cd11a999".into(),
            tenant_id: "0123456789abcdef0123456789abcdef".into(),
            created_at: "2024-01-01T12:00:00".into(),
            updated_at: "2024-01-01T12:00:00".into(),
            ..Default::default()
        };
        let j = serde_json::to_value(SubnetEnvelope { subnet: s.clone() }).unwrap();
        let ks = keys(&j["subnet"]);
        assert!(ks.is_subset(&set(SDK_SUBNET_KEYS)), "{ks:?}");
        for k in [
            "dnsList",
            "neutron_network_id",
            "neutron_subnet_id",
            "dhcp_enable",
            "ipv6_enable",
            "gateway_ip",
        ] {
            assert!(ks.contains(k), "missing {k}");
        }
        for k in [
            "dns_list",
            "secondary_dns",
            "cidr_v6",
            "gateway_ip_v6",
            "neutron_subnet_id_v6",
        ] {
            assert!(!ks.contains(k), "unexpected {k}");
        }
        assert_eq!(j["subnet"]["dhcp_enable"], json!(true));
        assert_eq!(j["subnet"]["ipv6_enable"], json!(false));
        let list = serde_json::to_value(SubnetsEnvelope { subnets: vec![s] }).unwrap();
        assert_eq!(keys(&list), set(&["subnets"]));
        let upd = serde_json::to_value(SubnetResultEnvelope {
            subnet: SubnetResult {
                id: "4779ab1c-7c1a-44b1-a02e-93dfc361b32d".into(),
                status: "ACTIVE".into(),
            },
        })
        .unwrap();
        assert_eq!(
            upd,
            json!({"subnet": {"id": "4779ab1c-7c1a-44b1-a02e-93dfc361b32d", "status": "ACTIVE"}})
        );
    }

    #[test]
    fn port_response_keys() {
        let p = Port {
            id: "d00f9c13-0d6f-42d2-9df2-8c4b7b0b4a5c".into(),
            name: "p".into(),
            network_id: "4779ab1c-7c1a-44b1-a02e-93dfc361b32d".into(),
            admin_state_up: true,
            mac_address: "fa:16:3e:01:f7:90".into(),
            fixed_ips: vec![FixedIp {
                subnet_id: Some("213cb9d0-3122-2ce1-b543-ab34cd11a999".into()),
                ip_address: Some("192.168.20.10".into()),
            }],
            tenant_id: "0123456789abcdef0123456789abcdef".into(),
            status: "DOWN".into(),
            security_groups: vec!["16b6e77a-08fa-42c7-aa8b-106c048884e6".into()],
            binding_vnic_type: "normal".into(),
            port_security_enabled: true,
            ..Default::default()
        };
        let j = serde_json::to_value(PortEnvelope { port: p.clone() }).unwrap();
        let ks = keys(&j["port"]);
        assert!(ks.is_subset(&set(SDK_PORT_KEYS)), "{ks:?}");
        for k in [
            "binding:vnic_type",
            "binding:vif_details",
            "binding:profile",
            "fixed_ips",
            "network_id",
        ] {
            assert!(ks.contains(k), "missing {k}");
        }
        assert_eq!(j["port"]["binding:vif_details"], json!({}));
        assert_eq!(j["port"]["binding:profile"], json!({}));
        assert_eq!(j["port"]["admin_state_up"], json!(true));
        assert_eq!(
            j["port"]["fixed_ips"],
            json!([{"subnet_id": "213cb9d0-3122-2ce1-b543-ab34cd11a999", "ip_address": "192.168.20.10"}])
        );
        let list = serde_json::to_value(PortsEnvelope {
            ports: vec![p.clone()],
        })
        .unwrap();
        assert_eq!(keys(&list), set(&["ports"]));
        assert_eq!(serde_json::from_value::<PortEnvelope>(j).unwrap().port, p);
    }

    /// An unset `binding:profile` is `{}` (the schema says object), never `null`; a `null` read
    /// back is the empty object too.
    #[test]
    fn unset_binding_profile_is_an_empty_object() {
        let j = serde_json::to_value(Port::default()).unwrap();
        assert_eq!(j["binding:profile"], json!({}));
        let p: Port = serde_json::from_value(json!({"binding:profile": null})).unwrap();
        assert!(p.binding_profile.is_empty());
    }

    #[test]
    fn security_group_response_keys() {
        let sg = SecurityGroup {
            id: "16b6e77a-08fa-42c7-aa8b-106c048884e6".into(),
            name: "sg".into(),
            vpc_id: Some("3ec3b33f-ac1c-4630-ad1c-7dba1ed79d85".into()),
            enterprise_project_id: "0".into(),
            security_group_rules: vec![sample_rule()],
            ..Default::default()
        };
        let j = serde_json::to_value(SecurityGroupEnvelope {
            security_group: sg.clone(),
        })
        .unwrap();
        assert_eq!(keys(&j["security_group"]), set(SDK_SG_KEYS));
        assert_eq!(
            keys(&j["security_group"]["security_group_rules"][0]),
            set(SDK_RULE_KEYS)
        );
        let list = serde_json::to_value(SecurityGroupsEnvelope {
            security_groups: vec![sg],
        })
        .unwrap();
        assert_eq!(keys(&list), set(&["security_groups"]));
    }

    #[test]
    fn rule_response_emits_nulls() {
        let j = serde_json::to_value(SecurityGroupRuleEnvelope {
            security_group_rule: sample_rule(),
        })
        .unwrap();
        let r = &j["security_group_rule"];
        assert_eq!(keys(r), set(SDK_RULE_KEYS));
        for k in [
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
            "remote_address_group_id",
        ] {
            assert_eq!(r[k], Value::Null, "{k}");
        }
        let ported = SecurityGroupRule {
            protocol: Some("tcp".into()),
            port_range_min: Some(22),
            port_range_max: Some(22),
            ..sample_rule()
        };
        let j = serde_json::to_value(SecurityGroupRulesEnvelope {
            security_group_rules: vec![ported],
        })
        .unwrap();
        assert_eq!(j["security_group_rules"][0]["port_range_min"], json!(22));
        assert_eq!(j["security_group_rules"][0]["protocol"], json!("tcp"));
    }

    /// A response shaped like Huawei's documented examples (as the SDK reads it) parses into the
    /// response types, so the typed client can also talk to the real service.
    #[test]
    fn parses_huawei_documented_responses() {
        let port: PortEnvelope = serde_json::from_value(json!({"port": {
            "id": "d00f9c13-0d6f-42d2-9df2-8c4b7b0b4a5c", "name": "EricTestPort", "status": "DOWN",
            "admin_state_up": true, "fixed_ips": [{"subnet_id": "70c3fd28-d0f7-4ef0-8f6e-e6a9ed1fbd36", "ip_address": "192.168.0.162"}],
            "mac_address": "fa:16:3e:01:f7:90", "network_id": "5ae24488-454f-499c-86c4-c0355704005d",
            "tenant_id": "43f2ea0f65bc46979a8d8e6e9c5de4a4", "device_id": "", "device_owner": "",
            "security_groups": ["02b4e8ee-74fa-4a4e-a8ad-d7f2bbff6b0f"], "extra_dhcp_opts": [], "allowed_address_pairs": [],
            "binding:vnic_type": "normal", "binding:vif_details": {"primary_interface": true}, "binding:profile": {},
            "port_security_enabled": true, "dns_assignment": [{"hostname": "h", "ip_address": "192.168.0.162", "fqdn": "h.x."}],
            "dns_name": "h", "instance_id": "", "instance_type": "", "zone_id": "az1"
        }}))
        .unwrap();
        assert_eq!(port.port.binding_vif_details.primary_interface, Some(true));
        assert_eq!(port.port.dns_assignment[0].fqdn, "h.x.");
        let rules: SecurityGroupRulesEnvelope = serde_json::from_value(json!({"security_group_rules": [{
            "id": "f11a3824-ac19-4fad-b4f1-c5f4a6dd0a80", "description": "", "security_group_id": "16b6e77a-08fa-42c7-aa8b-106c048884e6",
            "direction": "egress", "ethertype": "IPv6", "protocol": null, "port_range_min": null, "port_range_max": null,
            "remote_ip_prefix": null, "remote_group_id": null, "remote_address_group_id": null, "tenant_id": "060576782980d5762f9ec014dd2f1148"
        }]}))
        .unwrap();
        assert_eq!(rules.security_group_rules[0].protocol, None);
        let subnet: SubnetEnvelope = serde_json::from_value(json!({"subnet": {
            "id": "4779ab1c-7c1a-44b1-a02e-93dfc361b32d", "name": "subnet", "cidr": "192.168.20.0/24",
            "dnsList": ["114.xx.xx.114", "114.xx.xx.115"], "status": "UNKNOWN", "vpc_id": "3ec3b33f-ac1c-4630-ad1c-7dba1ed79d85",
            "gateway_ip": "192.168.20.1", "dhcp_enable": true, "primary_dns": "114.xx.xx.114", "secondary_dns": "114.xx.xx.115",
            "availability_zone": "aa-bb-cc", "neutron_network_id": "4779ab1c-7c1a-44b1-a02e-93dfc361b32d",
            "neutron_subnet_id": "213cb9d-3122-2ce1-b543-ab34cd11a999", "extra_dhcp_opts": [], "tags": []
        }}))
        .unwrap();
        assert_eq!(subnet.subnet.dns_list.len(), 2);
        assert_eq!(subnet.subnet.id, subnet.subnet.neutron_network_id);
    }

    #[test]
    fn error_body_shape() {
        let e = VpcError {
            code: "VPC.0202".into(),
            message: "Query Subnet error: the subnet could not be found.".into(),
        };
        assert_eq!(
            serde_json::to_value(e).unwrap(),
            json!({"code": "VPC.0202", "message": "Query Subnet error: the subnet could not be found."})
        );
    }

    #[test]
    fn list_ports_query_from_sdk_pairs() {
        // The decoded form of the query string the SDK sent for list_ports (keys sorted by the SDK).
        let pairs = [
            ("admin_state_up", "true"),
            ("device_id", "d"),
            ("device_owner", "neutron:VIP_PORT"),
            ("enable_efi", "false"),
            ("enterprise_project_id", "0"),
            ("fixed_ips", "ip_address=192.168.1.10"),
            (
                "fixed_ips",
                "subnet_id=4dc70db6-cb7f-4200-9790-a6a910776bba",
            ),
            ("id", "4dc70db6-cb7f-4200-9790-a6a910776bba"),
            ("id", "6b58b4b1-0b0c-4f0e-9a0b-2a2b8a6a1a11"),
            ("limit", "5"),
            ("mac_address", "fa:16:3e:00:00:01"),
            ("marker", "6b58b4b1-0b0c-4f0e-9a0b-2a2b8a6a1a11"),
            ("name", "p"),
            ("network_id", "4dc70db6-cb7f-4200-9790-a6a910776bba"),
            ("security_groups", "a0608cbf-d047-4f54-8b28-cd7b59853fff"),
            ("security_groups", "sg2"),
            ("status", "ACTIVE"),
        ];
        let q = ListPortsQuery::from_pairs(pairs).unwrap();
        assert_eq!(q.id.len(), 2);
        assert_eq!(
            q.security_groups,
            vec![
                "a0608cbf-d047-4f54-8b28-cd7b59853fff".to_string(),
                "sg2".to_string()
            ]
        );
        assert_eq!(q.fixed_ips.len(), 2);
        assert_eq!(q.admin_state_up, Some(true));
        assert_eq!(q.enable_efi, Some(false));
        assert_eq!(q.limit, Some(5));
        assert_eq!(q.device_owner.as_deref(), Some("neutron:VIP_PORT"));
        assert_eq!(ListPortsQuery::from_pairs([("limit", "x")]), Err("limit"));
        assert_eq!(
            ListPortsQuery::from_pairs([("admin_state_up", "yes")]),
            Err("admin_state_up")
        );
    }
}
