//! Endpoints and connections (SPEC S3, S4, S5, S6).

use std::collections::HashSet;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use vpcep_core::command::{
    CreateEndpoint, DecideConnection, DescribeConnections, UpdateEndpointPolicy,
    UpdateEndpointWhitelist,
};
use vpcep_core::error::{DomainError, DomainResult, IpProblem, Thing, quoted};
use vpcep_core::inventory::{Subnet, Vpc};
use vpcep_core::ipam::{self, RequestedIpProblem};
use vpcep_core::model::{
    Endpoint, EndpointService, EndpointStatus, Kind, ServiceStatus, ServiceType,
};
use vpcep_core::naming;
use vpcep_core::state::{self, ConnectionAction};
use vpcep_core::validate::{self, Page as PageReq};
use vpcep_store::{Query, StoreExt, Tx, TxExt};

use crate::identity::check_quota;
use crate::services::{order, own_service};
use crate::tags::parse_tags;
use crate::{Caller, Control, new_uuid, now_ms};

/// Markers are unique packet tags; start high so they look like Huawei's nine-digit ones.
const MARKER_BASE: u64 = 100_000_000;

pub(crate) fn ip_claim_key(subnet_id: &str, ip: Ipv4Addr) -> String {
    format!("{subnet_id}/{ip}")
}

/// Pick (or check the requested) address in `subnet` and claim it for `owner`.
pub(crate) async fn allocate_ip(
    tx: &mut Box<dyn Tx>,
    subnet: &Subnet,
    requested: Option<&str>,
    owner: &str,
) -> DomainResult<Ipv4Addr> {
    let net: Ipv4Net = subnet
        .cidr
        .parse()
        .map_err(|_| DomainError::internal("stored subnet CIDR is invalid"))?;
    let gateway: Ipv4Addr = subnet
        .gateway_ip
        .parse()
        .unwrap_or_else(|_| ipam::default_gateway(net));
    match requested.filter(|s| !s.is_empty()) {
        Some(raw) => {
            let ip: Ipv4Addr = raw
                .trim()
                .parse()
                .map_err(|_| DomainError::InvalidAddress {
                    field: "port_ip",
                    value: quoted(raw),
                })?;
            // Exactly this address's claim (a prefix scan once took .25 for .2).
            let taken: HashSet<Ipv4Addr> = if tx
                .claim_owner("ip", &ip_claim_key(&subnet.id, ip))
                .await?
                .is_none()
            {
                HashSet::new()
            } else {
                [ip].into()
            };
            let problem = match ipam::check_requested(net, gateway, ip, &taken) {
                Ok(()) => None,
                Err(RequestedIpProblem::NotInSubnet) => Some(IpProblem::NotInSubnet {
                    cidr: subnet.cidr.clone(),
                }),
                Err(RequestedIpProblem::Reserved) => Some(IpProblem::Reserved {
                    cidr: subnet.cidr.clone(),
                }),
                Err(RequestedIpProblem::Taken) => Some(IpProblem::InUse),
            };
            if let Some(problem) = problem {
                return Err(DomainError::PortIp {
                    ip: ip.to_string(),
                    problem,
                });
            }
            // The claim is the guard of last resort: if two writers ever raced, the primary key
            // refuses one.
            if !tx.claim("ip", &ip_claim_key(&subnet.id, ip), owner).await? {
                return Err(DomainError::PortIp {
                    ip: ip.to_string(),
                    problem: IpProblem::InUse,
                });
            }
            Ok(ip)
        }
        None => {
            // Probe from a per-subnet cursor: one claim attempt per create in the common case
            // instead of reading every taken address. The claim itself decides, so this stays
            // race-free; a full subnet is detected after one lap.
            let hosts = ipam::host_count(net);
            let mut found = None;
            for _ in 0..hosts {
                let n = tx
                    .next_sequence(&format!("ip-cursor/{}", subnet.id))
                    .await?
                    - 1;
                let candidate = ipam::nth_host(net, n % hosts);
                if ipam::is_reserved(net, gateway, candidate) {
                    continue;
                }
                if tx
                    .claim("ip", &ip_claim_key(&subnet.id, candidate), owner)
                    .await?
                {
                    found = Some(candidate);
                    break;
                }
            }
            // Found means claimed for `owner` just now: claiming it again could only agree.
            found.ok_or_else(|| DomainError::SubnetFull {
                cidr: subnet.cidr.clone(),
            })
        }
    }
}

async fn own_endpoint(tx: &mut Box<dyn Tx>, caller: &Caller, id: &str) -> DomainResult<Endpoint> {
    caller.own(tx.load::<Endpoint>(id).await?, Thing::Endpoint, id)
}

fn parse_policy(
    statements: Option<Vec<serde_json::Value>>,
) -> DomainResult<Vec<serde_json::Value>> {
    let list = statements.unwrap_or_default();
    for s in &list {
        let ok = s.is_object()
            && matches!(
                s.get("Effect").and_then(|v| v.as_str()),
                Some("Allow" | "Deny")
            )
            && s.get("Action").is_some_and(|v| v.is_array())
            && s.get("Resource").is_some_and(|v| v.is_array());
        if !ok {
            return Err(DomainError::InvalidPolicyStatement);
        }
    }
    Ok(list)
}

impl Control {
    pub async fn create_endpoint(
        &self,
        caller: &Caller,
        body: CreateEndpoint,
    ) -> DomainResult<Endpoint> {
        let service_id =
            body.endpoint_service_id
                .filter(|s| !s.is_empty())
                .ok_or(DomainError::Missing {
                    field: "endpoint_service_id",
                })?;
        let vpc_id = body
            .vpc_id
            .filter(|s| !s.is_empty())
            .ok_or(DomainError::Missing { field: "vpc_id" })?;
        let whitelist =
            validate::endpoint_whitelist(body.whitelist.as_deref().unwrap_or_default())?;
        let tags = parse_tags(body.tags.as_deref().unwrap_or_default())?;
        let description = body.description.unwrap_or_default();
        validate::description("description", &description)?;
        let policy_statement = parse_policy(body.policy_statement)?;
        if let Some(doc) = &body.policy_document
            && !doc.is_object()
        {
            return Err(DomainError::PolicyDocumentNotObject);
        }
        if let Some(v) = body.ip_version.as_deref()
            && v != "ipv4"
        {
            return Err(DomainError::Unsupported {
                field: "ip_version",
                value: quoted(v),
                allowed: &["ipv4"],
            });
        }

        let not_found = || DomainError::UnknownReference {
            field: "endpoint_service_id",
            kind: Thing::EndpointService,
            id: quoted(&service_id),
        };
        // Whitelist is checked before the transaction (reads only) and the service re-read inside.
        let service = self
            .store
            .load::<EndpointService>(&service_id)
            .await?
            .ok_or_else(not_found)?;
        if service.region != caller.region {
            return Err(not_found());
        }
        if !self.may_connect(&service, &caller.domain_id).await? {
            return Err(DomainError::NotWhitelisted);
        }
        let quotas = self.quotas_for(&caller.domain_id).await?;
        let id = new_uuid();
        let now = now_ms();

        let mut tx = self.store.begin().await?;
        let service = tx
            .load::<EndpointService>(&service_id)
            .await?
            .ok_or_else(not_found)?;
        if matches!(
            service.status,
            ServiceStatus::Failed | ServiceStatus::Deleting
        ) {
            return Err(DomainError::ServiceUnavailable);
        }
        caller.own_reference(
            tx.load::<Vpc>(&vpc_id).await?,
            "vpc_id",
            Thing::Vpc,
            &vpc_id,
        )?;
        let subnet_id = body
            .subnet_id
            .filter(|s| !s.is_empty())
            .ok_or(DomainError::Missing { field: "subnet_id" })?;
        let subnet = caller.own_reference(
            tx.load::<Subnet>(&subnet_id).await?,
            "subnet_id",
            Thing::Subnet,
            &subnet_id,
        )?;
        if subnet.vpc_id != vpc_id {
            return Err(DomainError::SubnetNotInVpc {
                subnet_id: quoted(&subnet_id),
                vpc_id: quoted(&vpc_id),
            });
        }
        check_quota(
            &mut tx,
            Kind::Endpoint,
            &caller.domain_id,
            quotas.endpoint,
            "endpoints",
        )
        .await?;
        let ip = allocate_ip(
            &mut tx,
            &subnet,
            body.port_ip.as_deref(),
            &format!("endpoint:{id}"),
        )
        .await?;
        let marker_id = MARKER_BASE + tx.next_sequence("marker_id").await?;
        let enable_dns = body.enable_dns.unwrap_or(false);
        let dns_names = if enable_dns {
            vec![naming::endpoint_dns_name(
                &caller.region,
                service.short_name.as_deref(),
                &service.id,
                &id,
            )]
        } else {
            vec![]
        };
        let endpoint = Endpoint {
            id,
            project_id: caller.project_id.clone(),
            domain_id: caller.domain_id.clone(),
            region: caller.region.clone(),
            service_id: service.id.clone(),
            service_name: service.service_name.clone(),
            service_type: ServiceType::Interface,
            vpc_id,
            subnet_id,
            ip: ip.to_string(),
            marker_id,
            status: state::new_endpoint_status(service.approval_enabled),
            enable_dns,
            dns_names,
            whitelist,
            enable_whitelist: body.enable_whitelist.unwrap_or(false),
            tags,
            description,
            connection_description: String::new(),
            routetables: body.routetables.unwrap_or_default(),
            policy_statement,
            policy_document: body.policy_document,
            error: vec![],
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&endpoint, endpoint.generation).await?;
        tx.commit().await?;
        tracing::info!(
            endpoint = endpoint.id,
            service = service.id,
            ip = endpoint.ip,
            status = endpoint.status.as_str(),
            "endpoint created"
        );
        Ok(endpoint)
    }

    pub async fn get_endpoint(&self, caller: &Caller, id: &str) -> DomainResult<Endpoint> {
        caller.own(self.store.load::<Endpoint>(id).await?, Thing::Endpoint, id)
    }

    pub async fn list_endpoints(
        &self,
        caller: &Caller,
        service_name: Option<&str>,
        vpc_id: Option<&str>,
        id: Option<&str>,
        page: PageReq,
    ) -> DomainResult<(Vec<Endpoint>, i64)> {
        let mut q = Query::of(Kind::Endpoint).project(&caller.project_id);
        q.name_contains = service_name.filter(|s| !s.is_empty()).map(str::to_string);
        q.vpc_id = vpc_id.filter(|s| !s.is_empty()).map(str::to_string);
        q.id = id.filter(|s| !s.is_empty()).map(str::to_string);
        q.order = order(&page);
        q.limit = Some(page.limit);
        q.offset = page.offset;
        Ok(self.store.load_page::<Endpoint>(q).await?)
    }

    pub async fn delete_endpoint(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let mut e = own_endpoint(&mut tx, caller, id).await?;
        if e.status == EndpointStatus::Deleting {
            return Ok(());
        }
        e.status = state::on_endpoint_delete(e.status)?;
        e.generation += 1;
        e.updated_ms = now_ms();
        tx.save(&e, e.generation).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Finish a delete once the agent confirmed.
    pub(crate) async fn purge_endpoint(tx: &mut Box<dyn Tx>, e: &Endpoint) -> DomainResult<()> {
        tx.release_owner(&format!("endpoint:{}", e.id)).await?;
        tx.delete(Kind::Endpoint, &e.id).await?;
        Ok(())
    }

    pub async fn update_endpoint_whitelist(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdateEndpointWhitelist,
    ) -> DomainResult<Endpoint> {
        let whitelist = body
            .whitelist
            .as_deref()
            .map(validate::endpoint_whitelist)
            .transpose()?;
        let mut tx = self.store.begin().await?;
        let mut e = own_endpoint(&mut tx, caller, id).await?;
        match e.status {
            EndpointStatus::Failed => {
                return Err(DomainError::EndpointFailed);
            }
            EndpointStatus::Deleting => {
                return Err(DomainError::EndpointDeleting);
            }
            _ => {}
        }
        if let Some(w) = whitelist {
            e.whitelist = w;
        }
        if let Some(en) = body.enable_whitelist {
            e.enable_whitelist = en;
        }
        e.generation += 1;
        e.updated_ms = now_ms();
        tx.save(&e, e.generation).await?;
        tx.commit().await?;
        Ok(e)
    }

    pub async fn update_endpoint_policy(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdateEndpointPolicy,
    ) -> DomainResult<Endpoint> {
        let statements = body
            .policy_statement
            .map(|s| parse_policy(Some(s)))
            .transpose()?;
        if let Some(doc) = &body.policy_document
            && !doc.is_object()
        {
            return Err(DomainError::PolicyDocumentNotObject);
        }
        let mut tx = self.store.begin().await?;
        let mut e = own_endpoint(&mut tx, caller, id).await?;
        if let Some(s) = statements {
            e.policy_statement = s;
        }
        if body.policy_document.is_some() {
            e.policy_document = body.policy_document;
        }
        e.updated_ms = now_ms();
        tx.save(&e, e.generation).await?;
        tx.commit().await?;
        Ok(e)
    }

    pub async fn delete_endpoint_policy(
        &self,
        caller: &Caller,
        id: &str,
    ) -> DomainResult<Endpoint> {
        let mut tx = self.store.begin().await?;
        let mut e = own_endpoint(&mut tx, caller, id).await?;
        if e.policy_statement.is_empty() && e.policy_document.is_none() {
            return Err(DomainError::NoPolicy);
        }
        e.policy_statement.clear();
        e.policy_document = None;
        e.updated_ms = now_ms();
        tx.save(&e, e.generation).await?;
        tx.commit().await?;
        Ok(e)
    }

    pub async fn update_endpoint_routetables(
        &self,
        caller: &Caller,
        id: &str,
        tables: Option<Vec<String>>,
    ) -> DomainResult<Endpoint> {
        let tables = tables.ok_or(DomainError::Missing {
            field: "routetables",
        })?;
        if tables.iter().any(|t| !validate::is_uuid(t)) {
            return Err(DomainError::InvalidRouteTable);
        }
        let mut tx = self.store.begin().await?;
        let mut e = own_endpoint(&mut tx, caller, id).await?;
        e.routetables = tables;
        e.updated_ms = now_ms();
        tx.save(&e, e.generation).await?;
        tx.commit().await?;
        Ok(e)
    }

    // ---- the service owner's side: connections --------------------------------------------

    pub async fn list_connections(
        &self,
        caller: &Caller,
        service_id: &str,
        endpoint_id: Option<&str>,
        marker_id: Option<&str>,
        status: Option<&str>,
        page: PageReq,
    ) -> DomainResult<(Vec<Endpoint>, i64)> {
        self.get_service(caller, service_id).await?;
        let mut q = Query::of(Kind::Endpoint).parent(service_id);
        q.id = endpoint_id.filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            let st = EndpointStatus::parse(s).ok_or_else(|| DomainError::Unsupported {
                field: "status",
                value: quoted(s),
                allowed: &[],
            })?;
            q.status = Some(st.as_str().to_string());
        }
        let marker = match marker_id.filter(|s| !s.is_empty()) {
            Some(m) => Some(
                m.parse::<u64>()
                    .map_err(|_| DomainError::InvalidMarkerId { value: quoted(m) })?,
            ),
            None => None,
        };
        q.order = order(&page);
        if marker.is_none() {
            q.limit = Some(page.limit);
            q.offset = page.offset;
            return Ok(self.store.load_page::<Endpoint>(q).await?);
        }
        let (all, _) = self.store.load_page::<Endpoint>(q).await?;
        let hits: Vec<_> = all
            .into_iter()
            .filter(|e| Some(e.marker_id) == marker)
            .collect();
        let total = hits.len() as i64;
        Ok((
            hits.into_iter()
                .skip(page.offset as usize)
                .take(page.limit as usize)
                .collect(),
            total,
        ))
    }

    /// Accept (`receive`) or reject one endpoint of the caller's service (SPEC S4).
    pub async fn connection_action(
        &self,
        caller: &Caller,
        service_id: &str,
        body: DecideConnection,
    ) -> DomainResult<Endpoint> {
        let action = ConnectionAction::parse(body.action.as_deref().unwrap_or_default())?;
        let endpoints = body.endpoints.unwrap_or_default();
        let endpoint_id = match endpoints.as_slice() {
            [one] => one.clone(),
            [] => return Err(DomainError::Missing { field: "endpoints" }),
            _ => {
                return Err(DomainError::TooMany {
                    field: "endpoints",
                    max: 1,
                });
            }
        };
        let mut tx = self.store.begin().await?;
        own_service(&mut tx, caller, service_id).await?;
        let mut e = match tx.load::<Endpoint>(&endpoint_id).await? {
            Some(e) if e.service_id == service_id => e,
            Some(_) => {
                return Err(DomainError::EndpointNotOfService);
            }
            None => {
                return Err(DomainError::NotFound {
                    kind: Thing::Endpoint,
                    id: quoted(&endpoint_id),
                });
            }
        };
        let next = state::on_connection_action(e.status, action)?;
        if next != e.status {
            e.status = next;
            e.error.clear();
            e.generation += 1;
            e.updated_ms = now_ms();
            tx.save(&e, e.generation).await?;
            tx.commit().await?;
            tracing::info!(
                endpoint = e.id,
                status = e.status.as_str(),
                "connection {:?}",
                action
            );
        }
        Ok(e)
    }

    pub async fn describe_connections(
        &self,
        caller: &Caller,
        service_id: &str,
        body: DescribeConnections,
    ) -> DomainResult<Vec<Endpoint>> {
        let items = body.connections.unwrap_or_default();
        if items.is_empty() {
            return Err(DomainError::Missing {
                field: "connections",
            });
        }
        if items.len() > validate::MAX_PERMISSIONS_PER_CALL {
            return Err(DomainError::TooMany {
                field: "connections",
                max: validate::MAX_PERMISSIONS_PER_CALL,
            });
        }
        let mut tx = self.store.begin().await?;
        own_service(&mut tx, caller, service_id).await?;
        let mut out = Vec::new();
        for item in items {
            let (Some(id), Some(desc)) = (item.id, item.description) else {
                return Err(DomainError::Incomplete {
                    field: "connections",
                });
            };
            validate::description("description", &desc)?;
            let mut e = match tx.load::<Endpoint>(&id).await? {
                Some(e) if e.service_id == service_id => e,
                _ => {
                    return Err(DomainError::NotFound {
                        kind: Thing::Endpoint,
                        id: quoted(&id),
                    });
                }
            };
            e.connection_description = desc;
            e.updated_ms = now_ms();
            tx.save(&e, e.generation).await?;
            out.push(e);
        }
        tx.commit().await?;
        Ok(out)
    }
}
