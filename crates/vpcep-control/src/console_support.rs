//! What the web console needs beyond the API's operations: the signed-in account and its
//! projects (so the console never reads the store), and the backend check of FAQ 4.2 (the
//! `doctor`'s security-group finding, typed: does the backend's security group admit the
//! endpoint SNAT range 198.19.128.0/20 on every mapped port?).

use ipnet::Ipv4Net;
use vpcep_core::error::DomainResult;
use vpcep_core::inventory::{Direction, Port, SecurityGroupRule};
use vpcep_core::model::{Account, EndpointService, Kind, Project, Protocol, ServerType};
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt};

use crate::{Caller, Control};

/// One finding of [`Control::backend_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendFinding {
    /// The backend at `ip` admits the SNAT range on `protocol`/`port`.
    Admitted {
        ip: String,
        protocol: Protocol,
        port: u16,
    },
    /// No rule of the backend's security groups admits the SNAT range on `protocol`/`port`;
    /// a rule in `security_group` (the backend's first group, if any) fixes it.
    NotAdmitted {
        ip: String,
        protocol: Protocol,
        port: u16,
        security_group: Option<String>,
    },
    /// The load balancer has no listener for a mapped server port.
    NoListener {
        loadbalancer: String,
        loadbalancer_id: String,
        protocol: Protocol,
        port: u16,
    },
    /// A listener member is not a NIC of the project.
    UnknownMember { address: String, port: u16 },
    /// The service's backend (NIC or load balancer VIP) no longer exists.
    BackendGone { port_id: String },
}

impl BackendFinding {
    /// Is this finding a problem (anything but [`BackendFinding::Admitted`])?
    pub fn is_problem(&self) -> bool {
        !matches!(self, BackendFinding::Admitted { .. })
    }

    /// The command that fixes a missing security-group rule (the `doctor`'s fix line).
    pub fn fix_command(&self) -> Option<String> {
        match self {
            BackendFinding::NotAdmitted {
                protocol,
                port,
                security_group,
                ..
            } => Some(format!(
                "vpcep lab sg-rule add {} --direction ingress --protocol {} --ports {port} --remote-ip {}",
                security_group.as_deref().unwrap_or("<SG_ID>"),
                protocol.as_str().to_ascii_lowercase(),
                vpcep_core::builtin::ENDPOINT_SNAT_CIDR,
            )),
            BackendFinding::NoListener {
                loadbalancer_id,
                protocol,
                port,
                ..
            } => Some(format!(
                "vpcep lab lb update {loadbalancer_id} --listener {}:{port}=<ADDR>:<PORT>",
                protocol.as_str()
            )),
            _ => None,
        }
    }
}

/// Does `rule` admit `protocol`/`port` from the whole endpoint SNAT range?
pub fn rule_admits_snat(rule: &SecurityGroupRule, protocol: Protocol, port: u16) -> bool {
    if rule.direction != Direction::Ingress {
        return false;
    }
    let snat = validate::snat_range();
    let remote_ok = match rule.remote_ip_prefix.as_deref() {
        None => rule.remote_group_id.is_none(),
        Some(p) => p.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&snat)),
    };
    let proto_ok = match rule.protocol.as_deref() {
        None | Some("") => true,
        Some(p) => p.eq_ignore_ascii_case(protocol.as_str()),
    };
    let port_ok = match (rule.port_range_min, rule.port_range_max) {
        (Some(a), Some(b)) => (a..=b).contains(&port),
        (None, None) => true,
        (Some(a), None) | (None, Some(a)) => a == port,
    };
    remote_ok && proto_ok && port_ok
}

impl Control {
    /// The account `domain_id` (the console's signed-in user), if it exists.
    pub async fn account_of(&self, domain_id: &str) -> DomainResult<Option<Account>> {
        Ok(self.store.load::<Account>(domain_id).await?)
    }

    /// The projects (one per region) of account `domain_id`, by region.
    pub async fn projects_of(&self, domain_id: &str) -> DomainResult<Vec<Project>> {
        let (mut list, _) = self
            .store
            .load_page::<Project>(Query::of(Kind::Project).parent(domain_id))
            .await?;
        list.sort_by(|a, b| a.region.cmp(&b.region));
        Ok(list)
    }

    /// FAQ 4.2 for a service the caller owns: for every mapped port, does the backend's
    /// security group admit 198.19.128.0/20? For a load balancer, the members behind each
    /// listener are checked on their own ports.
    pub async fn backend_check(
        &self,
        caller: &Caller,
        service: &EndpointService,
    ) -> DomainResult<Vec<BackendFinding>> {
        let ports = self.list_ports(caller).await?;
        let mut targets: Vec<(&Port, Protocol, u16)> = Vec::new();
        let mut out = Vec::new();
        if service.server_type == ServerType::LB {
            let lbs = self.list_loadbalancers(caller).await?;
            let Some(lb) = lbs.iter().find(|l| l.vip_port_id == service.port_id) else {
                return Ok(vec![BackendFinding::BackendGone {
                    port_id: service.port_id.clone(),
                }]);
            };
            for m in &service.ports {
                let listener = lb
                    .listeners
                    .iter()
                    .find(|l| l.port == m.server_port && l.protocol == m.protocol);
                let Some(listener) = listener else {
                    out.push(BackendFinding::NoListener {
                        loadbalancer: lb.name.clone(),
                        loadbalancer_id: lb.id.clone(),
                        protocol: m.protocol,
                        port: m.server_port,
                    });
                    continue;
                };
                for member in &listener.members {
                    match ports.iter().find(|p| p.ip_address == member.address) {
                        Some(p) => targets.push((p, m.protocol, member.port)),
                        None => out.push(BackendFinding::UnknownMember {
                            address: member.address.clone(),
                            port: member.port,
                        }),
                    }
                }
            }
        } else if let Some(p) = ports.iter().find(|p| p.id == service.port_id) {
            for m in &service.ports {
                targets.push((p, m.protocol, m.server_port));
            }
        } else {
            return Ok(vec![BackendFinding::BackendGone {
                port_id: service.port_id.clone(),
            }]);
        }
        let rules = self.list_security_group_rules(caller, None).await?;
        for (port, protocol, num) in targets {
            let admitted = rules.iter().any(|r| {
                port.security_groups.contains(&r.security_group_id)
                    && rule_admits_snat(r, protocol, num)
            });
            let ip = port.ip_address.clone();
            out.push(if admitted {
                BackendFinding::Admitted {
                    ip,
                    protocol,
                    port: num,
                }
            } else {
                BackendFinding::NotAdmitted {
                    ip,
                    protocol,
                    port: num,
                    security_group: port.security_groups.first().cloned(),
                }
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        prefix: Option<&str>,
        proto: Option<&str>,
        ports: (Option<u16>, Option<u16>),
    ) -> SecurityGroupRule {
        SecurityGroupRule {
            id: "r".into(),
            project_id: "p".into(),
            security_group_id: "g".into(),
            direction: Direction::Ingress,
            ethertype: "IPv4".into(),
            protocol: proto.map(str::to_string),
            port_range_min: ports.0,
            port_range_max: ports.1,
            remote_ip_prefix: prefix.map(str::to_string),
            remote_group_id: None,
            description: String::new(),
            generation: 0,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[test]
    fn a_rule_admits_the_snat_range_only_when_it_covers_all_of_it() {
        let tcp = Protocol::TCP;
        assert!(rule_admits_snat(
            &rule(Some("198.19.128.0/20"), Some("tcp"), (Some(80), Some(80))),
            tcp,
            80
        ));
        assert!(rule_admits_snat(
            &rule(Some("0.0.0.0/0"), None, (None, None)),
            tcp,
            8080
        ));
        assert!(!rule_admits_snat(
            &rule(Some("198.19.128.0/24"), Some("tcp"), (Some(80), Some(80))),
            tcp,
            80
        ));
        assert!(!rule_admits_snat(
            &rule(Some("198.19.128.0/20"), Some("udp"), (Some(80), Some(80))),
            tcp,
            80
        ));
        assert!(!rule_admits_snat(
            &rule(Some("198.19.128.0/20"), Some("tcp"), (Some(81), Some(90))),
            tcp,
            80
        ));
        let mut egress = rule(Some("198.19.128.0/20"), None, (None, None));
        egress.direction = Direction::Egress;
        assert!(!rule_admits_snat(&egress, tcp, 80));
        let mut by_group = rule(None, None, (None, None));
        by_group.remote_group_id = Some("g2".into());
        assert!(!rule_admits_snat(&by_group, tcp, 80));
    }

    #[test]
    fn a_missing_rule_comes_with_the_command_that_adds_it() {
        let f = BackendFinding::NotAdmitted {
            ip: "192.168.1.20".into(),
            protocol: Protocol::TCP,
            port: 8080,
            security_group: Some("sg-1".into()),
        };
        assert!(f.is_problem());
        assert_eq!(
            f.fix_command().as_deref(),
            Some(
                "vpcep lab sg-rule add sg-1 --direction ingress --protocol tcp --ports 8080 --remote-ip 198.19.128.0/20"
            )
        );
    }
}
