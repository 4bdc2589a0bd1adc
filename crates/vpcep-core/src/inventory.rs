//! The network inventory: the resources an endpoint service stands on (SPEC R3). These are the
//! stored forms; `vpc_wire` holds the Huawei VPC v1 shapes the API speaks.

use serde::{Deserialize, Serialize};

use crate::model::{IndexColumns, Kind, Resource};

macro_rules! resource {
    ($ty:ty, $kind:expr, |$s:ident| $parent:expr, $vpc:expr, $name:expr, $status:expr) => {
        impl Resource for $ty {
            const KIND: Kind = $kind;
            fn id(&self) -> &str {
                &self.id
            }
            fn index(&self) -> IndexColumns {
                let $s = self;
                IndexColumns {
                    project_id: $s.project_id.clone(),
                    parent_id: $parent,
                    vpc_id: $vpc,
                    name: $name,
                    status: $status,
                    created_ms: $s.created_ms,
                    updated_ms: $s.updated_ms,
                    shared: false,
                }
            }
        }
    };
}

/// Statuses of lab hosts (cloud hosts, load balancers, sites), as Huawei's ECS uses them.
pub mod host_status {
    /// Created; its namespace, links and rules are not programmed yet.
    pub const BUILD: &str = "BUILD";
    /// Programmed: programs can run in it and traffic reaches it.
    pub const ACTIVE: &str = "ACTIVE";
    /// The data plane could not program it (the reason is in `fault`); it keeps retrying.
    pub const ERROR: &str = "ERROR";
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vpc {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub cidr: String,
    pub status: String,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
resource!(
    Vpc,
    Kind::Vpc,
    |s| String::new(),
    s.id.clone(),
    s.name.clone(),
    s.status.clone()
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub project_id: String,
    pub vpc_id: String,
    pub name: String,
    pub description: String,
    pub cidr: String,
    pub gateway_ip: String,
    /// Huawei's second id for a subnet (the Neutron subnet id), shown in ports' `fixed_ips`.
    #[serde(default)]
    pub neutron_subnet_id: String,
    pub primary_dns: Option<String>,
    pub secondary_dns: Option<String>,
    pub dhcp_enable: bool,
    pub availability_zone: Option<String>,
    pub status: String,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
resource!(
    Subnet,
    Kind::Subnet,
    |s| s.vpc_id.clone(),
    s.vpc_id.clone(),
    s.name.clone(),
    s.status.clone()
);

/// A NIC with one fixed IP in a subnet. Server NICs and load-balancer VIPs are ports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub id: String,
    pub project_id: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub name: String,
    pub ip_address: String,
    pub mac_address: String,
    /// `compute:lab` for a server NIC, `neutron:LOADBALANCERV2` for a VIP, empty when free.
    pub device_owner: String,
    pub device_id: String,
    pub security_groups: Vec<String>,
    pub admin_state_up: bool,
    pub status: String,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
resource!(
    Port,
    Kind::Port,
    |s| s.subnet_id.clone(),
    s.vpc_id.clone(),
    s.name.clone(),
    s.status.clone()
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub vpc_id: Option<String>,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
resource!(
    SecurityGroup,
    Kind::SecurityGroup,
    |s| String::new(),
    s.vpc_id.clone().unwrap_or_default(),
    s.name.clone(),
    String::new()
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: String,
    pub project_id: String,
    pub security_group_id: String,
    pub direction: Direction,
    pub ethertype: String,
    /// `tcp`, `udp`, `icmp`, or `None` for any protocol.
    pub protocol: Option<String>,
    pub port_range_min: Option<u16>,
    pub port_range_max: Option<u16>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
resource!(
    SecurityGroupRule,
    Kind::SecurityGroupRule,
    |s| s.security_group_id.clone(),
    String::new(),
    String::new(),
    String::new()
);

/// A cloud host (lab resource): one or more NICs, primary first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub vpc_id: String,
    /// Port ids, primary NIC first.
    pub nics: Vec<String>,
    pub security_groups: Vec<String>,
    /// `BUILD` until the data plane has programmed the host, `ACTIVE` after, `ERROR` (with
    /// [`Self::fault`]) when that failed. See [`host_status`].
    pub status: String,
    /// Why the data plane could not program the host (with `ERROR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
resource!(
    Server,
    Kind::Server,
    |s| String::new(),
    s.vpc_id.clone(),
    s.name.clone(),
    s.status.clone()
);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub address: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub protocol: crate::model::Protocol,
    pub port: u16,
    pub members: Vec<Member>,
}

/// A load balancer (lab resource): a VIP port in a subnet spreading each listener over members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub vip_port_id: String,
    pub vip_address: String,
    pub listeners: Vec<Listener>,
    /// `BUILD` until the data plane has programmed the host, `ACTIVE` after, `ERROR` (with
    /// [`Self::fault`]) when that failed. See [`host_status`].
    pub status: String,
    /// Why the data plane could not program the host (with `ERROR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
resource!(
    LoadBalancer,
    Kind::Loadbalancer,
    |s| s.subnet_id.clone(),
    s.vpc_id.clone(),
    s.name.clone(),
    s.status.clone()
);

/// An on-premises network joined to a VPC by a VPN link (lab resource).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Site {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub vpc_id: String,
    pub cidr: String,
    /// `BUILD` until the data plane has programmed the host, `ACTIVE` after, `ERROR` (with
    /// [`Self::fault`]) when that failed. See [`host_status`].
    pub status: String,
    /// Why the data plane could not program the host (with `ERROR`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}
resource!(
    Site,
    Kind::Site,
    |s| String::new(),
    s.vpc_id.clone(),
    s.name.clone(),
    s.status.clone()
);
