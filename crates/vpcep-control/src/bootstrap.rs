//! The built-in DNS cloud service (SPEC S2, S8): created at every start of `vpcep serve` if
//! missing. Idempotent: each piece is looked up by name (the service by its `vpcep.builtin` tag)
//! in the operator's project and created only when absent; nothing that exists is changed.

use vpcep_core::command::{CreateSecurityGroup, CreateSecurityGroupRule, CreateSubnet, CreateVpc};
use vpcep_core::command::{CreateService, PortMappingInput, TagInput};
use vpcep_core::error::{DomainError, DomainResult};
use vpcep_core::inventory::Direction;
use vpcep_core::model::{EndpointService, ServiceStatus};
use vpcep_core::naming;
use vpcep_core::validate::{Page, SortKey};

pub use vpcep_core::builtin::*;

use crate::services::CreateServiceOptions;
use crate::{Caller, Control};
use vpcep_core::command::{CreateServer, NicInput};

/// What [`Control::bootstrap_builtin_dns`] found or made.
#[derive(Debug, Clone)]
pub struct BuiltinDns {
    /// The operator's caller in the served region.
    pub caller: Caller,
    pub vpc_id: String,
    pub subnet_id: String,
    pub security_group_id: String,
    pub server_id: String,
    /// The resolver's NIC (fixed IP [`DNS_RESOLVER_IP`]), the service's backend.
    pub port_id: String,
    pub service: EndpointService,
    /// Which pieces this run created (empty when everything was there: a restart).
    pub created: Vec<&'static str>,
}

/// Is `s` the built-in DNS cloud service?
impl Control {
    /// Name of the built-in DNS cloud service here: `{vendor_prefix}.{region}.dns`.
    pub fn builtin_dns_service_name(&self) -> String {
        naming::dns_cloud_service_name(&self.settings.vendor_prefix, &self.settings.region)
    }

    /// Ensure the operator account, the resolver's network and server, and the public DNS cloud
    /// service exist (SPEC S2). Creates what is missing, never duplicates, never changes what
    /// exists. The operator's secret key is never returned or logged.
    pub async fn bootstrap_builtin_dns(&self) -> DomainResult<BuiltinDns> {
        let mut created = Vec::new();
        let region = self.settings.region.clone();
        let caller = self.operator_caller(&region, &mut created).await?;

        // VPC.
        let vpc = match self
            .list_vpcs(&caller)
            .await?
            .into_iter()
            .find(|v| v.name == DNS_RESOLVER_NAME)
        {
            Some(v) => v,
            None => {
                created.push("vpc");
                self.create_vpc(
                    &caller,
                    CreateVpc {
                        name: Some(DNS_RESOLVER_NAME.into()),
                        cidr: Some(DNS_RESOLVER_VPC_CIDR.into()),
                        description: Some("Built-in DNS resolver (vpcep)".into()),
                    },
                )
                .await?
            }
        };

        // Subnet.
        let subnet = match self
            .list_subnets(&caller, Some(&vpc.id))
            .await?
            .into_iter()
            .find(|s| s.name == DNS_RESOLVER_NAME)
        {
            Some(s) => s,
            None => {
                created.push("subnet");
                self.create_subnet(
                    &caller,
                    CreateSubnet {
                        name: Some(DNS_RESOLVER_NAME.into()),
                        vpc_id: Some(vpc.id.clone()),
                        cidr: Some(DNS_RESOLVER_SUBNET_CIDR.into()),
                        gateway_ip: Some(DNS_RESOLVER_GATEWAY.into()),
                        ..Default::default()
                    },
                )
                .await?
            }
        };

        // Security group and its DNS rules from the endpoint SNAT range.
        let (group, rules) = match self
            .list_security_groups(&caller, None)
            .await?
            .into_iter()
            .find(|(g, _)| g.name == DNS_RESOLVER_NAME)
        {
            Some(g) => g,
            None => {
                created.push("security group");
                self.create_security_group(
                    &caller,
                    CreateSecurityGroup {
                        name: Some(DNS_RESOLVER_NAME.into()),
                        vpc_id: Some(vpc.id.clone()),
                        description: Some("DNS from endpoints (198.19.128.0/20)".into()),
                    },
                )
                .await?
            }
        };
        for proto in ["udp", "tcp"] {
            let present = rules.iter().any(|r| {
                r.direction == Direction::Ingress
                    && r.protocol.as_deref() == Some(proto)
                    && r.port_range_min == Some(DNS_PORT)
                    && r.port_range_max == Some(DNS_PORT)
                    && r.remote_ip_prefix.as_deref() == Some(ENDPOINT_SNAT_CIDR)
            });
            if !present {
                created.push(if proto == "udp" {
                    "rule udp/53"
                } else {
                    "rule tcp/53"
                });
                self.create_security_group_rule(
                    &caller,
                    CreateSecurityGroupRule {
                        security_group_id: Some(group.id.clone()),
                        direction: Some("ingress".into()),
                        protocol: Some(proto.into()),
                        port_range_min: Some(i64::from(DNS_PORT)),
                        port_range_max: Some(i64::from(DNS_PORT)),
                        remote_ip_prefix: Some(ENDPOINT_SNAT_CIDR.into()),
                        description: Some("DNS from endpoints".into()),
                        ..Default::default()
                    },
                )
                .await?;
            }
        }

        // Server, with its NIC on the fixed resolver IP.
        let (server, ports) = match self
            .list_servers(&caller)
            .await?
            .into_iter()
            .find(|(s, _)| s.name == DNS_RESOLVER_NAME)
        {
            Some(s) => s,
            None => {
                created.push("server");
                self.create_server(
                    &caller,
                    CreateServer {
                        name: Some(DNS_RESOLVER_NAME.into()),
                        vpc_id: Some(vpc.id.clone()),
                        nics: Some(vec![NicInput {
                            subnet_id: Some(subnet.id.clone()),
                            ip_address: Some(DNS_RESOLVER_IP.into()),
                        }]),
                        security_groups: Some(vec![group.id.clone()]),
                    },
                )
                .await?
            }
        };
        let port = ports
            .iter()
            .find(|p| p.ip_address == DNS_RESOLVER_IP)
            .or_else(|| ports.first())
            .ok_or_else(|| {
                DomainError::internal(format!(
                    "the built-in resolver server {} has no NIC",
                    server.id
                ))
            })?
            .clone();

        // The public service.
        let service = match self.find_builtin_dns(&caller).await? {
            Some(s) => s,
            None => {
                created.push("service");
                let dns = |protocol: &str| PortMappingInput {
                    client_port: Some(i64::from(DNS_PORT)),
                    server_port: Some(i64::from(DNS_PORT)),
                    protocol: Some(protocol.into()),
                };
                self.create_service_with(
                    &caller,
                    CreateService {
                        port_id: Some(port.id.clone()),
                        vpc_id: Some(vpc.id.clone()),
                        server_type: Some("VM".into()),
                        service_name: Some("dns".into()),
                        approval_enabled: Some(false),
                        ports: Some(vec![dns("UDP"), dns("TCP")]),
                        description: Some("Built-in DNS resolver (cloud service)".into()),
                        tags: Some(vec![TagInput {
                            key: Some(BUILTIN_TAG_KEY.into()),
                            value: Some(BUILTIN_DNS_TAG_VALUE.into()),
                        }]),
                        ..Default::default()
                    },
                    CreateServiceOptions {
                        public: true,
                        full_name: Some(self.builtin_dns_service_name()),
                        skip_quota: true,
                    },
                )
                .await?
            }
        };
        Ok(BuiltinDns {
            caller,
            vpc_id: vpc.id,
            subnet_id: subnet.id,
            security_group_id: group.id,
            server_id: server.id,
            port_id: port.id,
            service,
            created,
        })
    }

    /// The operator's caller in `region`, creating the account and its project there if missing.
    async fn operator_caller(
        &self,
        region: &str,
        created: &mut Vec<&'static str>,
    ) -> DomainResult<Caller> {
        if self.find_account(OPERATOR_ACCOUNT).await.is_err() {
            // The new account's secret key is dropped here: the operator makes a credential with
            // `vpcep admin credential create operator` when it wants one.
            match self.create_account(OPERATOR_ACCOUNT, Some(region)).await {
                Ok(_) => created.push("operator account"),
                // Another replica may have won the race; the lookup below settles it.
                Err(e) if self.find_account(OPERATOR_ACCOUNT).await.is_ok() => {
                    tracing::debug!(error = %e, "operator account created concurrently");
                }
                Err(e) => return Err(e),
            }
        }
        match self.caller_for_account(OPERATOR_ACCOUNT, region).await {
            Ok(c) => Ok(c),
            Err(_) => {
                if self.create_project(OPERATOR_ACCOUNT, region).await.is_ok() {
                    created.push("operator project");
                }
                self.caller_for_account(OPERATOR_ACCOUNT, region).await
            }
        }
    }

    /// The built-in DNS service in the operator's project (by its tag), unless being deleted.
    async fn find_builtin_dns(&self, caller: &Caller) -> DomainResult<Option<EndpointService>> {
        let page = Page {
            limit: 1000,
            offset: 0,
            sort_key: SortKey::CreatedAt,
            descending: false,
        };
        let (list, _) = self.list_services(caller, None, None, None, page).await?;
        Ok(list
            .into_iter()
            .find(|s| is_builtin_dns(s) && s.status != ServiceStatus::Deleting))
    }
}
