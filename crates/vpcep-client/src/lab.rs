//! The lab resources under `/v1/{project_id}/lab/`: servers (one or more NICs), load balancers
//! (a VIP port spreading listeners over members) and sites (a network behind a VPN).
//! Bodies are wrapped as the API expects: `{"server": …}`, `{"loadbalancer": …}`, `{"site": …}`.

use serde::{Deserialize, Serialize};
pub use vpcep_core::inventory::{Listener, Member};

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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nic {
    pub port_id: String,
    pub subnet_id: String,
    pub ip_address: String,
    pub mac_address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Server {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    /// `BUILD`, `ACTIVE` once programmed, `ERROR` with `fault`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub security_groups: Vec<String>,
    pub nics: Vec<Nic>,
    pub created_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoadBalancer {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub subnet_id: String,
    /// What `service create --server-type LB` takes as `port_id`.
    pub vip_port_id: String,
    pub vip_address: String,
    pub listeners: Vec<Listener>,
    /// `BUILD`, `ACTIVE` once programmed, `ERROR` with `fault`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Site {
    pub id: String,
    pub name: String,
    pub vpc_id: String,
    pub cidr: String,
    /// `BUILD`, `ACTIVE` once programmed, `ERROR` with `fault`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
    pub created_at: String,
}

#[derive(Serialize)]
struct ServerReq<'a> {
    server: &'a ServerSpec,
}
#[derive(Deserialize)]
struct ServerEnv {
    server: Server,
}
#[derive(Deserialize)]
struct ServersEnv {
    servers: Vec<Server>,
}
#[derive(Serialize)]
struct LbReq<'a, T> {
    loadbalancer: &'a T,
}
#[derive(Deserialize)]
struct LbEnv {
    loadbalancer: LoadBalancer,
}
#[derive(Deserialize)]
struct LbsEnv {
    loadbalancers: Vec<LoadBalancer>,
}
#[derive(Serialize)]
struct SiteReq<'a> {
    site: &'a SiteSpec,
}
#[derive(Deserialize)]
struct SiteEnv {
    site: Site,
}
#[derive(Deserialize)]
struct SitesEnv {
    sites: Vec<Site>,
}

impl Client {
    fn lab_path(&self, rest: &str) -> String {
        self.project_path(&format!("/lab/{rest}"))
    }

    // ---- servers ------------------------------------------------------------------------------

    pub async fn create_server(&self, spec: &ServerSpec) -> Result<Server, ClientError> {
        let r: ServerEnv = self
            .post(&self.lab_path("servers"), &ServerReq { server: spec })
            .await?;
        Ok(r.server)
    }

    pub async fn list_servers(&self) -> Result<Vec<Server>, ClientError> {
        let r: ServersEnv = self.get(&self.lab_path("servers"), &[]).await?;
        Ok(r.servers)
    }

    pub async fn get_server(&self, id: &str) -> Result<Server, ClientError> {
        let r: ServerEnv = self
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
        let r: LbEnv = self
            .post(
                &self.lab_path("loadbalancers"),
                &LbReq { loadbalancer: spec },
            )
            .await?;
        Ok(r.loadbalancer)
    }

    pub async fn list_loadbalancers(&self) -> Result<Vec<LoadBalancer>, ClientError> {
        let r: LbsEnv = self.get(&self.lab_path("loadbalancers"), &[]).await?;
        Ok(r.loadbalancers)
    }

    pub async fn get_loadbalancer(&self, id: &str) -> Result<LoadBalancer, ClientError> {
        let r: LbEnv = self
            .get(&self.lab_path(&format!("loadbalancers/{id}")), &[])
            .await?;
        Ok(r.loadbalancer)
    }

    pub async fn update_loadbalancer(
        &self,
        id: &str,
        update: &LoadBalancerUpdate,
    ) -> Result<LoadBalancer, ClientError> {
        let r: LbEnv = self
            .put(
                &self.lab_path(&format!("loadbalancers/{id}")),
                &LbReq {
                    loadbalancer: update,
                },
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
        let r: SiteEnv = self
            .post(&self.lab_path("sites"), &SiteReq { site: spec })
            .await?;
        Ok(r.site)
    }

    pub async fn list_sites(&self) -> Result<Vec<Site>, ClientError> {
        let r: SitesEnv = self.get(&self.lab_path("sites"), &[]).await?;
        Ok(r.sites)
    }

    pub async fn get_site(&self, id: &str) -> Result<Site, ClientError> {
        let r: SiteEnv = self
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
            serde_json::to_value(ServerReq { server: &s }).unwrap(),
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
            serde_json::to_value(LbReq { loadbalancer: &lb }).unwrap(),
            json!({"loadbalancer": {"name": "lb", "vpc_id": "v", "subnet_id": "s",
                "listeners": [{"protocol": "TCP", "port": 80, "members": [{"address": "192.168.0.10", "port": 8080}]}]}})
        );
        let lb: LbEnv = serde_json::from_value(json!({"loadbalancer": {"id": "x", "listeners": [{"protocol": "UDP", "port": 53, "members": []}]}})).unwrap();
        assert_eq!(lb.loadbalancer.listeners[0].port, 53);
    }
}
