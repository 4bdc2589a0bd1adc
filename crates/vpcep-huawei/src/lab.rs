//! The lab resources under `/v1/{project_id}/lab/` (vpcep's own, in the style of Huawei's APIs):
//! servers (one or more NICs), load balancers (a VIP port spreading listeners over members) and
//! sites (a network behind a VPN). Bodies are wrapped as `{"server": …}`, `{"loadbalancer": …}`,
//! `{"site": …}`.
//!
//! Request bodies are lenient (every field optional, so a missing one becomes a documented error
//! rather than a framework rejection) and omit unset fields when a client sends them. Responses
//! always carry every field but `fault` (the schema marks them required).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use vpcep_core::inventory as inv;
use vpcep_core::timefmt::to_wire;

// ---- requests -----------------------------------------------------------------------------------

/// A NIC to create for a lab server: the subnet (v1 subnet id) and optionally a fixed address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NicIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateServerBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    /// Primary NIC first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nics: Option<Vec<NicIn>>,
    /// Security group ids; the project's `default` group when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_groups: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct MemberIn {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListenerIn {
    /// `TCP` (default) or `UDP`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<MemberIn>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateLoadBalancerBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vip_address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listeners: Option<Vec<ListenerIn>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpdateLoadBalancerBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Replaces every listener when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listeners: Option<Vec<ListenerIn>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateSiteBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateServerRequest {
    pub server: CreateServerBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateLoadBalancerRequest {
    pub loadbalancer: CreateLoadBalancerBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateLoadBalancerRequest {
    pub loadbalancer: UpdateLoadBalancerBody,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CreateSiteRequest {
    pub site: CreateSiteBody,
}

// ---- responses ----------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NicOut {
    pub port_id: String,
    pub subnet_id: String,
    pub ip_address: String,
    pub mac_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServerOut {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    /// `BUILD` → `ACTIVE` once the data plane programmed it; `ERROR` with `fault` when it could not.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub security_groups: Vec<String>,
    pub nics: Vec<NicOut>,
    pub created_at: String,
}

impl ServerOut {
    /// `ports` are the server's NICs, primary first.
    pub fn from_server(s: &inv::Server, ports: &[inv::Port]) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            vpc_id: s.vpc_id.clone(),
            status: s.status.clone(),
            fault: s.fault.clone(),
            security_groups: s.security_groups.clone(),
            nics: ports
                .iter()
                .map(|p| NicOut {
                    port_id: p.id.clone(),
                    subnet_id: p.subnet_id.clone(),
                    ip_address: p.ip_address.clone(),
                    mac_address: p.mac_address.clone(),
                })
                .collect(),
            created_at: to_wire(s.created_ms),
        }
    }
}

/// A listener's protocol as responses spell it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum Protocol {
    #[default]
    TCP,
    UDP,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TCP => "TCP",
            Self::UDP => "UDP",
        }
    }
}

impl From<vpcep_core::model::Protocol> for Protocol {
    fn from(p: vpcep_core::model::Protocol) -> Self {
        match p {
            vpcep_core::model::Protocol::TCP => Self::TCP,
            vpcep_core::model::Protocol::UDP => Self::UDP,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberOut {
    pub address: String,
    pub port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(as = Listener)]
pub struct ListenerOut {
    pub protocol: Protocol,
    pub port: u16,
    pub members: Vec<MemberOut>,
}

impl From<&inv::Listener> for ListenerOut {
    fn from(l: &inv::Listener) -> Self {
        Self {
            protocol: l.protocol.into(),
            port: l.port,
            members: l
                .members
                .iter()
                .map(|m| MemberOut {
                    address: m.address.clone(),
                    port: m.port,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LoadBalancerOut {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub subnet_id: String,
    /// What a `LB` endpoint service takes as `port_id`.
    pub vip_port_id: String,
    pub vip_address: String,
    pub listeners: Vec<ListenerOut>,
    /// `BUILD` → `ACTIVE` once the data plane programmed it; `ERROR` with `fault` when it could not.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub created_at: String,
}

impl From<&inv::LoadBalancer> for LoadBalancerOut {
    fn from(l: &inv::LoadBalancer) -> Self {
        Self {
            id: l.id.clone(),
            name: l.name.clone(),
            vpc_id: l.vpc_id.clone(),
            subnet_id: l.subnet_id.clone(),
            vip_port_id: l.vip_port_id.clone(),
            vip_address: l.vip_address.clone(),
            listeners: l.listeners.iter().map(ListenerOut::from).collect(),
            status: l.status.clone(),
            fault: l.fault.clone(),
            created_at: to_wire(l.created_ms),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SiteOut {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub cidr: String,
    /// `BUILD` → `ACTIVE` once the data plane programmed it; `ERROR` with `fault` when it could not.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub created_at: String,
}

impl From<&inv::Site> for SiteOut {
    fn from(s: &inv::Site) -> Self {
        Self {
            id: s.id.clone(),
            name: s.name.clone(),
            vpc_id: s.vpc_id.clone(),
            cidr: s.cidr.clone(),
            status: s.status.clone(),
            fault: s.fault.clone(),
            created_at: to_wire(s.created_ms),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServerEnvelope {
    pub server: ServerOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServersEnvelope {
    pub servers: Vec<ServerOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoadBalancerEnvelope {
    pub loadbalancer: LoadBalancerOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LoadBalancersEnvelope {
    pub loadbalancers: Vec<LoadBalancerOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SiteEnvelope {
    pub site: SiteOut,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SitesEnvelope {
    pub sites: Vec<SiteOut>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn requests_omit_unset_fields_and_responses_read_back() {
        let body = CreateServerRequest {
            server: CreateServerBody {
                name: Some("web".into()),
                vpc_id: Some("v".into()),
                nics: Some(vec![NicIn {
                    subnet_id: Some("s".into()),
                    ip_address: None,
                }]),
                security_groups: None,
            },
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"server": {"name": "web", "vpc_id": "v", "nics": [{"subnet_id": "s"}]}})
        );
        let lb: LoadBalancerEnvelope = serde_json::from_value(json!({"loadbalancer": {"id": "x",
            "name": "lb", "vpc_id": "v", "subnet_id": "s", "vip_port_id": "p",
            "vip_address": "192.168.0.9", "status": "BUILD", "created_at": "2026-01-01T00:00:00Z",
            "listeners": [{"protocol": "UDP", "port": 53, "members": []}]}}))
        .unwrap();
        assert_eq!(lb.loadbalancer.listeners[0].protocol, Protocol::UDP);
        assert_eq!(
            lb.loadbalancer.fault, None,
            "fault is left out unless ERROR"
        );
    }

    #[test]
    fn listeners_keep_the_protocol_spelling_of_the_stored_record() {
        let stored = inv::Listener {
            protocol: vpcep_core::model::Protocol::UDP,
            port: 53,
            members: vec![inv::Member {
                address: "192.168.0.10".into(),
                port: 5353,
            }],
        };
        assert_eq!(
            serde_json::to_value(ListenerOut::from(&stored)).unwrap(),
            serde_json::to_value(&stored).unwrap()
        );
    }
}
