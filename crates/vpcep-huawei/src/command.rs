//! Request bodies into the core's commands ([`vpcep_core::command`]): the Huawei front decodes
//! its wire shapes, the domain judges the values. Fields Huawei accepts and vpcep ignores
//! (`enterprise_project_id`, `extra_dhcp_opts`, `snat_network_id`, ...) stop here.

use vpcep_core::command as cmd;

use crate::{lab, vpc, vpcep};

fn each<T, U: From<T>>(list: Option<Vec<T>>) -> Option<Vec<U>> {
    list.map(|l| l.into_iter().map(U::from).collect())
}

// ---- VPCEP v1 ---------------------------------------------------------------------------------

impl From<vpcep::PortListIn> for cmd::PortMappingInput {
    fn from(p: vpcep::PortListIn) -> Self {
        Self {
            client_port: p.client_port,
            server_port: p.server_port,
            protocol: p.protocol,
        }
    }
}

impl From<vpcep::TagIn> for cmd::TagInput {
    fn from(t: vpcep::TagIn) -> Self {
        Self {
            key: t.key,
            value: t.value,
        }
    }
}

impl From<vpcep::CreateEndpointServiceBody> for cmd::CreateService {
    fn from(b: vpcep::CreateEndpointServiceBody) -> Self {
        Self {
            port_id: b.port_id,
            service_name: b.service_name,
            vpc_id: b.vpc_id,
            approval_enabled: b.approval_enabled,
            service_type: b.service_type,
            server_type: b.server_type,
            ip: b.ip,
            ports: each(b.ports),
            tcp_proxy: b.tcp_proxy,
            tags: each(b.tags),
            description: b.description,
            ip_version: b.ip_version,
            enable_policy: b.enable_policy,
        }
    }
}

impl From<vpcep::UpdateEndpointServiceBody> for cmd::UpdateService {
    fn from(b: vpcep::UpdateEndpointServiceBody) -> Self {
        Self {
            approval_enabled: b.approval_enabled,
            service_name: b.service_name,
            ports: each(b.ports),
            port_id: b.port_id,
            tcp_proxy: b.tcp_proxy,
            description: b.description,
            ip: b.ip,
        }
    }
}

impl From<vpcep::CreateEndpointBody> for cmd::CreateEndpoint {
    fn from(b: vpcep::CreateEndpointBody) -> Self {
        Self {
            endpoint_service_id: b.endpoint_service_id,
            vpc_id: b.vpc_id,
            subnet_id: b.subnet_id,
            enable_dns: b.enable_dns,
            port_ip: b.port_ip,
            whitelist: b.whitelist,
            enable_whitelist: b.enable_whitelist,
            tags: each(b.tags),
            routetables: b.routetables,
            description: b.description,
            policy_statement: b.policy_statement,
            policy_document: b.policy_document,
            ip_version: b.ip_version,
        }
    }
}

impl From<vpcep::UpdateEndpointWhiteBody> for cmd::UpdateEndpointWhitelist {
    fn from(b: vpcep::UpdateEndpointWhiteBody) -> Self {
        Self {
            whitelist: b.whitelist,
            enable_whitelist: b.enable_whitelist,
        }
    }
}

impl From<vpcep::UpdateEndpointPolicyBody> for cmd::UpdateEndpointPolicy {
    fn from(b: vpcep::UpdateEndpointPolicyBody) -> Self {
        Self {
            policy_statement: b.policy_statement,
            policy_document: b.policy_document,
        }
    }
}

impl From<vpcep::ConnectionActionBody> for cmd::DecideConnection {
    fn from(b: vpcep::ConnectionActionBody) -> Self {
        Self {
            action: b.action,
            endpoints: b.endpoints,
        }
    }
}

impl From<vpcep::ConnectionDescIn> for cmd::ConnectionDescription {
    fn from(c: vpcep::ConnectionDescIn) -> Self {
        Self {
            id: c.id,
            description: c.description,
        }
    }
}

impl From<vpcep::ConnectionsDescBody> for cmd::DescribeConnections {
    fn from(b: vpcep::ConnectionsDescBody) -> Self {
        Self {
            connections: each(b.connections),
        }
    }
}

impl From<vpcep::PermissionsActionBody> for cmd::ChangePermissions {
    fn from(b: vpcep::PermissionsActionBody) -> Self {
        Self {
            permissions: b.permissions,
            permission_type: b.permission_type,
            action: b.action,
        }
    }
}

impl From<vpcep::PermissionIn> for cmd::PermissionInput {
    fn from(p: vpcep::PermissionIn) -> Self {
        Self {
            permission: p.permission,
            description: p.description,
        }
    }
}

impl From<vpcep::BatchAddPermissionsBody> for cmd::AddPermissions {
    fn from(b: vpcep::BatchAddPermissionsBody) -> Self {
        Self {
            permissions: each(b.permissions),
            permission_type: b.permission_type,
        }
    }
}

impl From<vpcep::BatchRemovePermissionsBody> for cmd::RemovePermissions {
    fn from(b: vpcep::BatchRemovePermissionsBody) -> Self {
        Self {
            // An entry without an id names no record: it is reported as not found.
            permission_ids: b
                .permissions
                .map(|l| l.into_iter().map(|p| p.id.unwrap_or_default()).collect()),
        }
    }
}

impl From<vpcep::TagsActionBody> for cmd::ChangeTags {
    fn from(b: vpcep::TagsActionBody) -> Self {
        Self {
            action: b.action,
            tags: each(b.tags),
        }
    }
}

impl From<vpcep::TagValuesIn> for cmd::TagFilter {
    fn from(t: vpcep::TagValuesIn) -> Self {
        Self {
            key: t.key,
            values: t.values,
        }
    }
}

impl From<vpcep::MatchIn> for cmd::PropertyMatch {
    fn from(m: vpcep::MatchIn) -> Self {
        Self {
            key: m.key,
            value: m.value,
        }
    }
}

impl From<vpcep::ResourceInstancesBody> for cmd::FindByTags {
    fn from(b: vpcep::ResourceInstancesBody) -> Self {
        Self {
            action: b.action,
            tags: each(b.tags),
            tags_any: each(b.tags_any),
            not_tags: each(b.not_tags),
            not_tags_any: each(b.not_tags_any),
            limit: b.limit,
            offset: b.offset,
            matches: each(b.matches),
            without_any_tag: b.without_any_tag,
        }
    }
}

// ---- VPC v1 -----------------------------------------------------------------------------------

impl From<vpc::CreateVpcBody> for cmd::CreateVpc {
    fn from(b: vpc::CreateVpcBody) -> Self {
        Self {
            name: b.name,
            cidr: b.cidr,
            description: b.description,
        }
    }
}

impl From<vpc::UpdateVpcBody> for cmd::UpdateVpc {
    fn from(b: vpc::UpdateVpcBody) -> Self {
        Self {
            name: b.name,
            description: b.description,
            cidr: b.cidr,
        }
    }
}

impl From<vpc::CreateSubnetBody> for cmd::CreateSubnet {
    fn from(b: vpc::CreateSubnetBody) -> Self {
        Self {
            name: b.name,
            description: b.description,
            cidr: b.cidr,
            vpc_id: b.vpc_id,
            gateway_ip: b.gateway_ip,
            dhcp_enable: b.dhcp_enable,
            primary_dns: b.primary_dns,
            secondary_dns: b.secondary_dns,
            dns_list: b.dns_list,
            availability_zone: b.availability_zone,
        }
    }
}

impl From<vpc::UpdateSubnetBody> for cmd::UpdateSubnet {
    fn from(b: vpc::UpdateSubnetBody) -> Self {
        Self {
            name: b.name,
            description: b.description,
            dhcp_enable: b.dhcp_enable,
            primary_dns: b.primary_dns,
            secondary_dns: b.secondary_dns,
        }
    }
}

impl From<vpc::FixedIp> for cmd::FixedIpInput {
    fn from(f: vpc::FixedIp) -> Self {
        Self {
            subnet_id: f.subnet_id,
            ip_address: f.ip_address,
        }
    }
}

impl From<vpc::CreatePortBody> for cmd::CreatePort {
    fn from(b: vpc::CreatePortBody) -> Self {
        Self {
            name: b.name,
            network_id: b.network_id,
            fixed_ips: each(b.fixed_ips),
            device_owner: b.device_owner,
            security_groups: b.security_groups,
        }
    }
}

impl From<vpc::UpdatePortBody> for cmd::UpdatePort {
    fn from(b: vpc::UpdatePortBody) -> Self {
        Self {
            name: b.name,
            security_groups: b.security_groups,
        }
    }
}

impl From<vpc::CreateSecurityGroupBody> for cmd::CreateSecurityGroup {
    fn from(b: vpc::CreateSecurityGroupBody) -> Self {
        Self {
            name: b.name,
            vpc_id: b.vpc_id,
            description: b.description,
        }
    }
}

impl From<vpc::CreateSecurityGroupRuleBody> for cmd::CreateSecurityGroupRule {
    fn from(b: vpc::CreateSecurityGroupRuleBody) -> Self {
        Self {
            security_group_id: b.security_group_id,
            description: b.description,
            direction: b.direction,
            ethertype: b.ethertype,
            protocol: b.protocol,
            port_range_min: b.port_range_min,
            port_range_max: b.port_range_max,
            remote_ip_prefix: b.remote_ip_prefix,
            remote_group_id: b.remote_group_id,
        }
    }
}

// ---- The lab ----------------------------------------------------------------------------------

impl From<lab::NicIn> for cmd::NicInput {
    fn from(n: lab::NicIn) -> Self {
        Self {
            subnet_id: n.subnet_id,
            ip_address: n.ip_address,
        }
    }
}

impl From<lab::CreateServerBody> for cmd::CreateServer {
    fn from(b: lab::CreateServerBody) -> Self {
        Self {
            name: b.name,
            vpc_id: b.vpc_id,
            nics: each(b.nics),
            security_groups: b.security_groups,
        }
    }
}

impl From<lab::MemberIn> for cmd::MemberInput {
    fn from(m: lab::MemberIn) -> Self {
        Self {
            address: m.address,
            port: m.port,
        }
    }
}

impl From<lab::ListenerIn> for cmd::ListenerInput {
    fn from(l: lab::ListenerIn) -> Self {
        Self {
            protocol: l.protocol,
            port: l.port,
            members: each(l.members),
        }
    }
}

impl From<lab::CreateLoadBalancerBody> for cmd::CreateLoadBalancer {
    fn from(b: lab::CreateLoadBalancerBody) -> Self {
        Self {
            name: b.name,
            vpc_id: b.vpc_id,
            subnet_id: b.subnet_id,
            vip_address: b.vip_address,
            listeners: each(b.listeners),
        }
    }
}

impl From<lab::UpdateLoadBalancerBody> for cmd::UpdateLoadBalancer {
    fn from(b: lab::UpdateLoadBalancerBody) -> Self {
        Self {
            name: b.name,
            listeners: each(b.listeners),
        }
    }
}

impl From<lab::CreateSiteBody> for cmd::CreateSite {
    fn from(b: lab::CreateSiteBody) -> Self {
        Self {
            name: b.name,
            vpc_id: b.vpc_id,
            cidr: b.cidr,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body as the SDK sends it (string booleans and ports) reaches the domain with every
    /// value the domain judges, unchanged: the front decodes, it does not validate.
    #[test]
    fn service_body_becomes_the_command_with_its_raw_values() {
        let body: vpcep::CreateEndpointServiceBody = serde_json::from_str(
            r#"{"port_id": "p", "vpc_id": "v", "server_type": "VM", "approval_enabled": "false",
                "ports": [{"client_port": "80", "server_port": 70000, "protocol": "TCP"}],
                "tags": [{"key": " k "}], "snat_network_id": "ignored"}"#,
        )
        .expect("body");
        let command = cmd::CreateService::from(body);
        assert_eq!(command.approval_enabled, Some(false));
        assert_eq!(
            command.ports,
            Some(vec![cmd::PortMappingInput {
                client_port: Some(80),
                server_port: Some(70000),
                protocol: Some("TCP".into()),
            }])
        );
        assert_eq!(
            command.tags,
            Some(vec![cmd::TagInput {
                key: Some(" k ".into()),
                value: None,
            }])
        );
        assert_eq!(command.service_type, None);
    }

    /// An entry without an id stays in the list (and is reported as not found), so a batch
    /// keeps its size for the per-call limit.
    #[test]
    fn permission_ids_keep_entries_without_an_id() {
        let body: vpcep::BatchRemovePermissionsBody =
            serde_json::from_str(r#"{"permissions": [{"id": "a"}, {}]}"#).expect("body");
        assert_eq!(
            cmd::RemovePermissions::from(body).permission_ids,
            Some(vec!["a".to_string(), String::new()])
        );
    }
}
