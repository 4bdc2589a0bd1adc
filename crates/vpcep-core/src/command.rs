//! What a user asks the service layer to do, as plain data, whatever front it came through.
//!
//! Fields a request may leave out or get wrong stay raw here (`Option`, strings, `i64`): the
//! rules that judge them (required, ranges, allowed values) belong to the domain, so every front
//! gets the same checks and the same [`DomainError`](crate::error::DomainError)s. A front only
//! decodes its own format into these (the Huawei front: `vpcep-huawei`'s `From<…Body>`).

use crate::error::DomainError;

/// Which of `fields` (name, absent?) is the first one missing, as a [`DomainError::Missing`].
fn first_missing(fields: &[(&'static str, bool)]) -> Result<(), DomainError> {
    match fields.iter().find(|(_, missing)| *missing) {
        Some((field, _)) => Err(DomainError::Missing { field }),
        None => Ok(()),
    }
}

// ---- Endpoint services, endpoints, connections, whitelists, tags ------------------------------

/// One port mapping as given (both ports required, protocol TCP when left out).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortMappingInput {
    pub client_port: Option<i64>,
    pub server_port: Option<i64>,
    pub protocol: Option<String>,
}

/// One resource tag as given (the key is trimmed and checked by the domain).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagInput {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateService {
    pub port_id: Option<String>,
    /// The short name (the stored name is `{region}.{short name}.{id}`).
    pub service_name: Option<String>,
    pub vpc_id: Option<String>,
    pub approval_enabled: Option<bool>,
    pub service_type: Option<String>,
    pub server_type: Option<String>,
    /// A fixed service address: not supported, refused when given.
    pub ip: Option<String>,
    pub ports: Option<Vec<PortMappingInput>>,
    pub tcp_proxy: Option<String>,
    pub tags: Option<Vec<TagInput>>,
    pub description: Option<String>,
    pub ip_version: Option<String>,
    pub enable_policy: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateService {
    pub approval_enabled: Option<bool>,
    pub service_name: Option<String>,
    pub ports: Option<Vec<PortMappingInput>>,
    /// Not modifiable: refused unless it names the current backend.
    pub port_id: Option<String>,
    pub tcp_proxy: Option<String>,
    pub description: Option<String>,
    /// Not modifiable: refused when given.
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CreateEndpoint {
    pub endpoint_service_id: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub enable_dns: Option<bool>,
    /// The endpoint's address; allocated from the subnet when left out.
    pub port_ip: Option<String>,
    pub whitelist: Option<Vec<String>>,
    pub enable_whitelist: Option<bool>,
    pub tags: Option<Vec<TagInput>>,
    pub routetables: Option<Vec<String>>,
    pub description: Option<String>,
    /// Policy statements as the user wrote them (JSON objects).
    pub policy_statement: Option<Vec<serde_json::Value>>,
    pub policy_document: Option<serde_json::Value>,
    pub ip_version: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateEndpointWhitelist {
    pub whitelist: Option<Vec<String>>,
    pub enable_whitelist: Option<bool>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateEndpointPolicy {
    pub policy_statement: Option<Vec<serde_json::Value>>,
    pub policy_document: Option<serde_json::Value>,
}

/// A service owner accepting (`receive`) or rejecting (`reject`) an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecideConnection {
    pub action: Option<String>,
    /// Exactly one endpoint id.
    pub endpoints: Option<Vec<String>>,
}

/// One connection's new description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionDescription {
    pub id: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescribeConnections {
    pub connections: Option<Vec<ConnectionDescription>>,
}

/// Add or remove whitelist entries given as bare permission strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangePermissions {
    pub permissions: Option<Vec<String>>,
    pub permission_type: Option<String>,
    /// `add` or `remove`.
    pub action: Option<String>,
}

/// One whitelist entry with its description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionInput {
    pub permission: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddPermissions {
    pub permissions: Option<Vec<PermissionInput>>,
    pub permission_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RemovePermissions {
    /// Ids of whitelist records.
    pub permission_ids: Option<Vec<String>>,
}

/// Add (`create`) or remove (`delete`) tags on one resource.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeTags {
    pub action: Option<String>,
    pub tags: Option<Vec<TagInput>>,
}

/// A tag key with the values that match (any value when empty).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagFilter {
    pub key: Option<String>,
    pub values: Option<Vec<String>>,
}

/// A `key`/`value` match on a resource property (`resource_name`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PropertyMatch {
    pub key: Option<String>,
    pub value: Option<String>,
}

/// Filter (`filter`) or count (`count`) resources by their tags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindByTags {
    pub action: Option<String>,
    pub tags: Option<Vec<TagFilter>>,
    pub tags_any: Option<Vec<TagFilter>>,
    pub not_tags: Option<Vec<TagFilter>>,
    pub not_tags_any: Option<Vec<TagFilter>>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
    pub matches: Option<Vec<PropertyMatch>>,
    pub without_any_tag: Option<bool>,
}

// ---- The network inventory: VPCs, subnets, security groups, ports ----------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateVpc {
    pub name: Option<String>,
    pub cidr: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateVpc {
    pub name: Option<String>,
    pub description: Option<String>,
    pub cidr: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSubnet {
    pub name: Option<String>,
    pub description: Option<String>,
    pub cidr: Option<String>,
    pub vpc_id: Option<String>,
    pub gateway_ip: Option<String>,
    pub dhcp_enable: Option<bool>,
    pub primary_dns: Option<String>,
    pub secondary_dns: Option<String>,
    pub dns_list: Option<Vec<String>>,
    pub availability_zone: Option<String>,
}

impl CreateSubnet {
    /// The first required field left out (name, cidr, vpc_id, gateway_ip, in that order).
    pub fn check_required(&self) -> Result<(), DomainError> {
        first_missing(&[
            ("name", self.name.is_none()),
            ("cidr", self.cidr.is_none()),
            ("vpc_id", self.vpc_id.is_none()),
            ("gateway_ip", self.gateway_ip.is_none()),
        ])
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateSubnet {
    pub name: Option<String>,
    pub description: Option<String>,
    pub dhcp_enable: Option<bool>,
    pub primary_dns: Option<String>,
    pub secondary_dns: Option<String>,
}

/// A requested address of a new port (the subnet given by its v1 or Neutron id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FixedIpInput {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatePort {
    pub name: Option<String>,
    /// The subnet's id (Neutron calls a subnet's network by the subnet's v1 id).
    pub network_id: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpInput>>,
    pub device_owner: Option<String>,
    /// The project's `default` group when left out.
    pub security_groups: Option<Vec<String>>,
}

impl CreatePort {
    pub fn check_required(&self) -> Result<(), DomainError> {
        first_missing(&[("network_id", self.network_id.is_none())])
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdatePort {
    pub name: Option<String>,
    pub security_groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSecurityGroup {
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    pub description: Option<String>,
}

impl CreateSecurityGroup {
    pub fn check_required(&self) -> Result<(), DomainError> {
        first_missing(&[("name", self.name.is_none())])
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSecurityGroupRule {
    pub security_group_id: Option<String>,
    pub description: Option<String>,
    pub direction: Option<String>,
    pub ethertype: Option<String>,
    pub protocol: Option<String>,
    pub port_range_min: Option<i64>,
    pub port_range_max: Option<i64>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
}

impl CreateSecurityGroupRule {
    pub fn check_required(&self) -> Result<(), DomainError> {
        first_missing(&[
            ("security_group_id", self.security_group_id.is_none()),
            ("direction", self.direction.is_none()),
        ])
    }
}

// ---- The lab: servers, load balancers, sites --------------------------------------------------

/// One NIC of a lab server: its subnet, and an address or the next free one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NicInput {
    pub subnet_id: Option<String>,
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateServer {
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    pub nics: Option<Vec<NicInput>>,
    pub security_groups: Option<Vec<String>>,
}

/// A load balancer's backend member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberInput {
    pub address: Option<String>,
    pub port: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListenerInput {
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub members: Option<Vec<MemberInput>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateLoadBalancer {
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    pub vip_address: Option<String>,
    pub listeners: Option<Vec<ListenerInput>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateLoadBalancer {
    pub name: Option<String>,
    pub listeners: Option<Vec<ListenerInput>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateSite {
    pub name: Option<String>,
    pub vpc_id: Option<String>,
    pub cidr: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_fields_are_reported_in_order() {
        let subnet = CreateSubnet {
            name: Some("s".into()),
            cidr: Some("10.0.0.0/24".into()),
            ..Default::default()
        };
        assert!(matches!(
            subnet.check_required(),
            Err(DomainError::Missing { field: "vpc_id" })
        ));
        assert!(matches!(
            CreatePort::default().check_required(),
            Err(DomainError::Missing {
                field: "network_id"
            })
        ));
        let rule = CreateSecurityGroupRule {
            security_group_id: Some("g".into()),
            direction: Some("ingress".into()),
            ..Default::default()
        };
        assert!(rule.check_required().is_ok());
    }
}
