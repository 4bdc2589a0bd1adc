//! The lab resources under `/v1/{project_id}/lab/`: servers (one or more NICs), load balancers
//! (a VIP port spreading listeners over members) and sites (a network behind a VPN).
//! Bodies are wrapped as the API expects: `{"server": …}`, `{"loadbalancer": …}`, `{"site": …}`.

//!
//! The wire shapes are `vpcep_huawei::lab`'s; the `*Spec` types here are the typed inputs (required
//! fields not optional), turned into those bodies.

use serde::{Deserialize, Serialize};
use vpcep_huawei::lab::{
    CreateLoadBalancerBody, CreateLoadBalancerRequest, CreateServerBody, CreateServerRequest,
    CreateSiteBody, CreateSiteRequest, ListenerIn, LoadBalancerEnvelope, LoadBalancersEnvelope,
    MemberIn, NicIn, ServerEnvelope, ServersEnvelope, SiteEnvelope, SitesEnvelope,
    UpdateLoadBalancerBody, UpdateLoadBalancerRequest,
};
pub use vpcep_huawei::lab::{
    ListenerOut as Listener, LoadBalancerOut as LoadBalancer, MemberOut as Member, NicOut as Nic,
    ServerOut as Server, SiteOut as Site,
};

use crate::{Client, ClientError};

/// A NIC to create: the subnet (v1 subnet id) and optionally a fixed address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicSpec {
    pub subnet_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerSpec {
    pub name: String,
    pub vpc_id: String,
    /// Primary NIC first.
    pub nics: Vec<NicSpec>,
    /// Empty: the project's `default` group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberSpec {
    pub address: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListenerSpec {
    /// `TCP` or `UDP`.
    pub protocol: String,
    pub port: u16,
    pub members: Vec<MemberSpec>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerSpec {
    pub name: String,
    pub vpc_id: String,
    pub subnet_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vip_address: Option<String>,
    pub listeners: Vec<ListenerSpec>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancerUpdate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Replaces every listener when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listeners: Option<Vec<ListenerSpec>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteSpec {
    pub name: String,
    pub vpc_id: String,
    pub cidr: String,
}

impl ServerSpec {
    fn body(&self) -> CreateServerRequest {
        CreateServerRequest {
            server: CreateServerBody {
                name: Some(self.name.clone()),
                vpc_id: Some(self.vpc_id.clone()),
                nics: Some(
                    self.nics
                        .iter()
                        .map(|n| NicIn {
                            subnet_id: Some(n.subnet_id.clone()),
                            ip_address: n.ip_address.clone(),
                        })
                        .collect(),
                ),
                // An empty list is left out: the server then uses the project's `default` group.
                security_groups: Some(self.security_groups.clone()).filter(|g| !g.is_empty()),
            },
        }
    }
}

impl ListenerSpec {
    fn body(&self) -> ListenerIn {
        ListenerIn {
            protocol: Some(self.protocol.clone()),
            port: Some(i64::from(self.port)),
            members: Some(
                self.members
                    .iter()
                    .map(|m| MemberIn {
                        address: Some(m.address.clone()),
                        port: Some(i64::from(m.port)),
                    })
                    .collect(),
            ),
        }
    }
}

fn listeners_body(listeners: &[ListenerSpec]) -> Vec<ListenerIn> {
    listeners.iter().map(ListenerSpec::body).collect()
}

impl LoadBalancerSpec {
    fn body(&self) -> CreateLoadBalancerRequest {
        CreateLoadBalancerRequest {
            loadbalancer: CreateLoadBalancerBody {
                name: Some(self.name.clone()),
                vpc_id: Some(self.vpc_id.clone()),
                subnet_id: Some(self.subnet_id.clone()),
                vip_address: self.vip_address.clone(),
                listeners: Some(listeners_body(&self.listeners)),
            },
        }
    }
}

impl LoadBalancerUpdate {
    fn body(&self) -> UpdateLoadBalancerRequest {
        UpdateLoadBalancerRequest {
            loadbalancer: UpdateLoadBalancerBody {
                name: self.name.clone(),
                listeners: self.listeners.as_deref().map(listeners_body),
            },
        }
    }
}

impl SiteSpec {
    fn body(&self) -> CreateSiteRequest {
        CreateSiteRequest {
            site: CreateSiteBody {
                name: Some(self.name.clone()),
                vpc_id: Some(self.vpc_id.clone()),
                cidr: Some(self.cidr.clone()),
            },
        }
    }
}

impl Client {
    fn lab_path(&self, rest: &str) -> String {
        self.project_path(&format!("/lab/{rest}"))
    }

    // ---- servers ------------------------------------------------------------------------------

    pub async fn create_server(&self, spec: &ServerSpec) -> Result<Server, ClientError> {
        let r: ServerEnvelope = self.post(&self.lab_path("servers"), &spec.body()).await?;
        Ok(r.server)
    }

    pub async fn list_servers(&self) -> Result<Vec<Server>, ClientError> {
        let r: ServersEnvelope = self.get(&self.lab_path("servers"), &[]).await?;
        Ok(r.servers)
    }

    pub async fn get_server(&self, id: &str) -> Result<Server, ClientError> {
        let r: ServerEnvelope = self
            .get(&self.lab_path(&format!("servers/{id}")), &[])
            .await?;
        Ok(r.server)
    }

    pub async fn delete_server(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.lab_path(&format!("servers/{id}")))
            .await
            .map(|_| ())
    }

    // ---- load balancers -----------------------------------------------------------------------

    pub async fn create_loadbalancer(
        &self,
        spec: &LoadBalancerSpec,
    ) -> Result<LoadBalancer, ClientError> {
        let r: LoadBalancerEnvelope = self
            .post(&self.lab_path("loadbalancers"), &spec.body())
            .await?;
        Ok(r.loadbalancer)
    }

    pub async fn list_loadbalancers(&self) -> Result<Vec<LoadBalancer>, ClientError> {
        let r: LoadBalancersEnvelope = self.get(&self.lab_path("loadbalancers"), &[]).await?;
        Ok(r.loadbalancers)
    }

    pub async fn get_loadbalancer(&self, id: &str) -> Result<LoadBalancer, ClientError> {
        let r: LoadBalancerEnvelope = self
            .get(&self.lab_path(&format!("loadbalancers/{id}")), &[])
            .await?;
        Ok(r.loadbalancer)
    }

    pub async fn update_loadbalancer(
        &self,
        id: &str,
        update: &LoadBalancerUpdate,
    ) -> Result<LoadBalancer, ClientError> {
        let r: LoadBalancerEnvelope = self
            .put(
                &self.lab_path(&format!("loadbalancers/{id}")),
                &update.body(),
            )
            .await?;
        Ok(r.loadbalancer)
    }

    pub async fn delete_loadbalancer(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.lab_path(&format!("loadbalancers/{id}")))
            .await
            .map(|_| ())
    }

    // ---- sites --------------------------------------------------------------------------------

    pub async fn create_site(&self, spec: &SiteSpec) -> Result<Site, ClientError> {
        let r: SiteEnvelope = self.post(&self.lab_path("sites"), &spec.body()).await?;
        Ok(r.site)
    }

    pub async fn list_sites(&self) -> Result<Vec<Site>, ClientError> {
        let r: SitesEnvelope = self.get(&self.lab_path("sites"), &[]).await?;
        Ok(r.sites)
    }

    pub async fn get_site(&self, id: &str) -> Result<Site, ClientError> {
        let r: SiteEnvelope = self
            .get(&self.lab_path(&format!("sites/{id}")), &[])
            .await?;
        Ok(r.site)
    }

    pub async fn delete_site(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.lab_path(&format!("sites/{id}")))
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_match_the_api() {
        let s = ServerSpec {
            name: "web".into(),
            vpc_id: "v".into(),
            nics: vec![
                NicSpec {
                    subnet_id: "s".into(),
                    ip_address: Some("192.168.0.10".into()),
                },
                NicSpec {
                    subnet_id: "t".into(),
                    ip_address: None,
                },
            ],
            security_groups: vec![],
        };
        assert_eq!(
            serde_json::to_value(s.body()).unwrap(),
            json!({"server": {"name": "web", "vpc_id": "v", "nics": [{"subnet_id": "s", "ip_address": "192.168.0.10"}, {"subnet_id": "t"}]}})
        );
        let lb = LoadBalancerSpec {
            name: "lb".into(),
            vpc_id: "v".into(),
            subnet_id: "s".into(),
            vip_address: None,
            listeners: vec![ListenerSpec {
                protocol: "TCP".into(),
                port: 80,
                members: vec![MemberSpec {
                    address: "192.168.0.10".into(),
                    port: 8080,
                }],
            }],
        };
        assert_eq!(
            serde_json::to_value(lb.body()).unwrap(),
            json!({"loadbalancer": {"name": "lb", "vpc_id": "v", "subnet_id": "s",
                "listeners": [{"protocol": "TCP", "port": 80, "members": [{"address": "192.168.0.10", "port": 8080}]}]}})
        );
        let lb: LoadBalancerEnvelope = serde_json::from_value(json!({"loadbalancer": {"id": "x",
            "name": "lb", "vpc_id": "v", "subnet_id": "s", "vip_port_id": "p",
            "vip_address": "192.168.0.9", "status": "ACTIVE", "created_at": "2026-01-01T00:00:00Z",
            "listeners": [{"protocol": "UDP", "port": 53, "members": []}]}}))
        .unwrap();
        assert_eq!(lb.loadbalancer.listeners[0].port, 53);
    }
}
