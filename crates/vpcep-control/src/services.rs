//! Endpoint services (SPEC S1, S2, S5, S11).

use vpcep_core::command::{CreateService, PortMappingInput, UpdateService};
use vpcep_core::error::{DomainError, DomainResult, Limit, Thing, quoted};
use vpcep_core::inventory::{LoadBalancer, Port, Server, Vpc};
use vpcep_core::model::{
    Backend, Endpoint, EndpointService, EndpointStatus, Kind, PortMapping, QueryError,
    RecordedFailure, ServerType, ServiceStatus, ServiceType, TcpProxy,
};
use vpcep_core::naming;
use vpcep_core::validate::{self, MAX_SERVICES_PER_BACKEND, Page as PageReq, SortKey};
use vpcep_store::{Order, Query, StoreExt, Tx, TxExt};

use crate::identity::check_quota;
use crate::tags::parse_tags;
use crate::{Caller, Control, new_uuid, now_ms};

pub(crate) fn order(p: &PageReq) -> Order {
    match (p.sort_key, p.descending) {
        (SortKey::CreatedAt, true) => Order::CreatedDesc,
        (SortKey::CreatedAt, false) => Order::CreatedAsc,
        (SortKey::UpdatedAt, true) => Order::UpdatedDesc,
        (SortKey::UpdatedAt, false) => Order::UpdatedAsc,
    }
}

/// Port mappings as received, validated by the core ([`validate::port_mapping_inputs`]). Generic
/// so a front's own row type (e.g. a form's) converts on the way in.
pub fn parse_ports<P: Clone + Into<PortMappingInput>>(raw: &[P]) -> DomainResult<Vec<PortMapping>> {
    let inputs: Vec<PortMappingInput> = raw.iter().cloned().map(Into::into).collect();
    validate::port_mapping_inputs(&inputs)
}

fn backend_claim_key(port_id: &str, m: &PortMapping) -> String {
    format!("{port_id}/{}/{}", m.protocol.as_str(), m.server_port)
}

/// Resolve and check a service's backend inside the transaction: the port exists in the caller's
/// project and VPC and is of the right type.
async fn resolve_backend(
    tx: &mut Box<dyn Tx>,
    caller: &Caller,
    server_type: ServerType,
    port_id: &str,
    vpc_id: &str,
) -> DomainResult<Backend> {
    let port = caller.own_reference(
        tx.load::<Port>(port_id).await?,
        "port_id",
        Thing::Port,
        port_id,
    )?;
    if port.vpc_id != vpc_id {
        return Err(DomainError::PortNotInVpc {
            port_id: quoted(port_id),
            vpc_id: quoted(vpc_id),
        });
    }
    let mut backend = Backend {
        port_id: port.id.clone(),
        ip: port.ip_address.clone(),
        subnet_id: port.subnet_id.clone(),
        loadbalancer_id: None,
        server_id: None,
    };
    match server_type {
        ServerType::LB => {
            let lb = if port.device_owner == "neutron:LOADBALANCERV2" {
                tx.load::<LoadBalancer>(&port.device_id).await?
            } else {
                None
            };
            let Some(lb) = lb else {
                return Err(DomainError::NotLoadBalancerVip {
                    port_id: quoted(port_id),
                });
            };
            backend.loadbalancer_id = Some(lb.id);
        }
        ServerType::VM | ServerType::VIP => {
            if port.device_owner == "neutron:LOADBALANCERV2" {
                return Err(DomainError::LoadBalancerVipAsVm {
                    port_id: quoted(port_id),
                });
            }
            if !port.device_id.is_empty() && tx.load::<Server>(&port.device_id).await?.is_some() {
                backend.server_id = Some(port.device_id.clone());
            }
        }
    }
    Ok(backend)
}

/// Claim the (port, protocol, server port) pairs of `ports` for service `id`; conflict with
/// another service on the same backend is EndPoint.3044.
async fn claim_backend_ports(
    tx: &mut Box<dyn Tx>,
    port_id: &str,
    id: &str,
    ports: &[PortMapping],
) -> DomainResult<()> {
    for m in ports {
        if !tx
            .claim(
                "backend_port",
                &backend_claim_key(port_id, m),
                &format!("service:{id}"),
            )
            .await?
        {
            return Err(DomainError::BackendPortTaken {
                protocol: m.protocol,
                port: m.server_port,
            });
        }
    }
    Ok(())
}

async fn release_backend_ports(
    tx: &mut Box<dyn Tx>,
    port_id: &str,
    ports: &[PortMapping],
) -> DomainResult<()> {
    for m in ports {
        tx.release("backend_port", &backend_claim_key(port_id, m))
            .await?;
    }
    Ok(())
}

/// The caller's own service or 404 (another tenant's id looks just like a missing one).
pub(crate) async fn own_service(
    tx: &mut Box<dyn Tx>,
    caller: &Caller,
    id: &str,
) -> DomainResult<EndpointService> {
    caller.own(
        tx.load::<EndpointService>(id).await?,
        Thing::EndpointService,
        id,
    )
}

/// How [`Control::create_service_with`] departs from a user's create.
#[derive(Debug, Clone, Default)]
pub(crate) struct CreateServiceOptions {
    /// An operator cloud service (SPEC S2), usable by every account without a whitelist.
    pub public: bool,
    /// The stored name as given instead of `{region}.{name}.{id}` (the built-in DNS service is
    /// `{vendor_prefix}.{region}.dns`).
    pub full_name: Option<String>,
    /// Not counted against the owner's endpoint-service quota (built-in services).
    pub skip_quota: bool,
}

impl Control {
    pub async fn create_service(
        &self,
        caller: &Caller,
        body: CreateService,
    ) -> DomainResult<EndpointService> {
        self.create_service_as(caller, body, false).await
    }

    /// `public`: an operator cloud service (SPEC S2), usable by every account.
    pub async fn create_service_as(
        &self,
        caller: &Caller,
        body: CreateService,
        public: bool,
    ) -> DomainResult<EndpointService> {
        self.create_service_with(
            caller,
            body,
            CreateServiceOptions {
                public,
                ..Default::default()
            },
        )
        .await
    }

    /// The general form of [`Control::create_service_as`], for the built-in services.
    pub(crate) async fn create_service_with(
        &self,
        caller: &Caller,
        body: CreateService,
        opts: CreateServiceOptions,
    ) -> DomainResult<EndpointService> {
        let public = opts.public;
        let port_id = body
            .port_id
            .filter(|s| !s.is_empty())
            .ok_or(DomainError::Missing { field: "port_id" })?;
        let vpc_id = body
            .vpc_id
            .filter(|s| !s.is_empty())
            .ok_or(DomainError::Missing { field: "vpc_id" })?;
        let server_type = match body.server_type.as_deref() {
            Some(s) => ServerType::parse(s).ok_or_else(|| DomainError::Unsupported {
                field: "server_type",
                value: quoted(s),
                allowed: &["VM", "LB"],
            })?,
            None => {
                return Err(DomainError::Missing {
                    field: "server_type",
                });
            }
        };
        let service_type = match body.service_type.as_deref() {
            None | Some("") | Some("interface") => ServiceType::Interface,
            Some("gateway") => {
                return Err(DomainError::Unsupported {
                    field: "service_type",
                    value: "gateway".into(),
                    allowed: &["interface"],
                });
            }
            Some(s) => {
                return Err(DomainError::Unsupported {
                    field: "service_type",
                    value: quoted(s),
                    allowed: &[],
                });
            }
        };
        let ports = validate::port_mapping_inputs(body.ports.as_deref().unwrap_or_default())?;
        if let Some(n) = &body.service_name {
            validate::service_short_name(n)?;
        }
        let tcp_proxy = match body.tcp_proxy.as_deref() {
            None | Some("") => TcpProxy::Close,
            Some(s) => TcpProxy::parse(s).ok_or_else(|| DomainError::Unsupported {
                field: "tcp_proxy",
                value: quoted(s),
                allowed: &["close", "toa_open", "proxy_open", "open"],
            })?,
        };
        if let Some(v) = body.ip_version.as_deref()
            && v != "ipv4"
        {
            return Err(DomainError::Unsupported {
                field: "ip_version",
                value: quoted(v),
                allowed: &["ipv4"],
            });
        }
        if body.ip.as_deref().is_some_and(|s| !s.is_empty()) {
            return Err(DomainError::IpNotTaken);
        }
        let description = body.description.unwrap_or_default();
        validate::description("description", &description)?;
        let tags = parse_tags(body.tags.as_deref().unwrap_or_default())?;

        let id = new_uuid();
        let now = now_ms();
        let quotas = self.quotas_for(&caller.domain_id).await?;
        let mut tx = self.store.begin().await?;
        caller.own_reference(
            tx.load::<Vpc>(&vpc_id).await?,
            "vpc_id",
            Thing::Vpc,
            &vpc_id,
        )?;
        let backend = resolve_backend(&mut tx, caller, server_type, &port_id, &vpc_id).await?;
        if !opts.skip_quota {
            check_quota(
                &mut tx,
                Kind::EndpointService,
                &caller.domain_id,
                quotas.endpoint_service,
                "endpoint services",
            )
            .await?;
        }
        let on_backend = tx
            .count(&Query::of(Kind::EndpointService).parent(&port_id))
            .await?;
        if on_backend >= MAX_SERVICES_PER_BACKEND {
            return Err(DomainError::LimitReached {
                limit: Limit::ServicesPerBackend,
                max: MAX_SERVICES_PER_BACKEND,
            });
        }
        claim_backend_ports(&mut tx, &port_id, &id, &ports).await?;
        let service = EndpointService {
            service_name: opts.full_name.unwrap_or_else(|| {
                naming::service_name(&caller.region, body.service_name.as_deref(), &id)
            }),
            id,
            project_id: caller.project_id.clone(),
            domain_id: caller.domain_id.clone(),
            region: caller.region.clone(),
            short_name: body.service_name.filter(|s| !s.is_empty()),
            port_id,
            vpc_id,
            server_type,
            service_type,
            approval_enabled: body.approval_enabled.unwrap_or(true),
            status: ServiceStatus::Creating,
            ports,
            tcp_proxy,
            tags,
            description,
            enable_policy: body.enable_policy.unwrap_or(false),
            is_public: public,
            backend: Some(backend),
            error: vec![],
            generation: 1,
            created_ms: now,
            updated_ms: now,
        };
        tx.save(&service, service.generation).await?;
        tx.commit().await?;
        tracing::info!(
            service = service.id,
            name = service.service_name,
            project = caller.project_id,
            "endpoint service created"
        );
        Ok(service)
    }

    pub async fn get_service(&self, caller: &Caller, id: &str) -> DomainResult<EndpointService> {
        caller.own(
            self.store.load::<EndpointService>(id).await?,
            Thing::EndpointService,
            id,
        )
    }

    /// Endpoints counted by `connection_count`.
    pub async fn connection_count(&self, service_id: &str) -> DomainResult<i64> {
        let counts = self.connection_counts(&[service_id.to_string()]).await?;
        Ok(counts.get(service_id).copied().unwrap_or(0))
    }

    /// `connection_count` of many services in one store query (a listing must not cost one
    /// query per row). Services without connections map to 0.
    pub async fn connection_counts(
        &self,
        service_ids: &[String],
    ) -> DomainResult<std::collections::HashMap<String, i64>> {
        let mut q = Query::of(Kind::Endpoint);
        q.parent_ids = Some(service_ids.to_vec());
        q.statuses = Some(
            EndpointStatus::ALL
                .iter()
                .filter(|s| s.counts_as_connection())
                .map(|s| s.as_str().to_string())
                .collect(),
        );
        let mut counts = self.store.count_by_parent(&q).await?;
        for id in service_ids {
            counts.entry(id.clone()).or_insert(0);
        }
        Ok(counts)
    }

    pub async fn list_services(
        &self,
        caller: &Caller,
        name: Option<&str>,
        id: Option<&str>,
        status: Option<&str>,
        page: PageReq,
    ) -> DomainResult<(Vec<EndpointService>, i64)> {
        let mut q = Query::of(Kind::EndpointService).project(&caller.project_id);
        q.name_contains = name.filter(|s| !s.is_empty()).map(str::to_string);
        q.id = id.filter(|s| !s.is_empty()).map(str::to_string);
        if let Some(s) = status.filter(|s| !s.is_empty()) {
            let st = ServiceStatus::parse(s).ok_or_else(|| DomainError::Unsupported {
                field: "status",
                value: quoted(s),
                allowed: &[],
            })?;
            q.status = Some(st.as_str().to_string());
        }
        q.order = order(&page);
        q.limit = Some(page.limit);
        q.offset = page.offset;
        Ok(self.store.load_page::<EndpointService>(q).await?)
    }

    pub async fn update_service(
        &self,
        caller: &Caller,
        id: &str,
        body: UpdateService,
    ) -> DomainResult<EndpointService> {
        if let Some(n) = &body.service_name {
            validate::service_short_name(n)?;
        }
        let ports = body
            .ports
            .as_deref()
            .map(validate::port_mapping_inputs)
            .transpose()?;
        let tcp_proxy = body
            .tcp_proxy
            .as_deref()
            .map(|s| {
                TcpProxy::parse(s).ok_or_else(|| DomainError::Unsupported {
                    field: "tcp_proxy",
                    value: quoted(s),
                    allowed: &["close", "toa_open", "proxy_open", "open"],
                })
            })
            .transpose()?;
        if let Some(d) = &body.description {
            validate::description("description", d)?;
        }
        let mut tx = self.store.begin().await?;
        let mut s = own_service(&mut tx, caller, id).await?;
        if matches!(s.status, ServiceStatus::Deleting) {
            return Err(DomainError::ServiceNotModifiable);
        }
        if let Some(p) = body.port_id.as_deref()
            && p != s.port_id
        {
            return Err(DomainError::NotModifiable { field: "port_id" });
        }
        if body.ip.as_deref().is_some_and(|x| !x.is_empty()) {
            return Err(DomainError::NotModifiable { field: "ip" });
        }
        let mut data_plane_changed = false;
        if let Some(n) = body.service_name {
            s.short_name = Some(n).filter(|x| !x.is_empty());
            s.service_name = naming::service_name(&s.region, s.short_name.as_deref(), &s.id);
            rename_on_endpoints(&mut tx, &s).await?;
        }
        if let Some(a) = body.approval_enabled {
            s.approval_enabled = a;
        }
        if let Some(p) = ports {
            release_backend_ports(&mut tx, &s.port_id, &s.ports).await?;
            claim_backend_ports(&mut tx, &s.port_id, &s.id, &p).await?;
            data_plane_changed |= p != s.ports;
            s.ports = p;
        }
        if let Some(t) = tcp_proxy {
            data_plane_changed |= t != s.tcp_proxy;
            s.tcp_proxy = t;
        }
        if let Some(d) = body.description {
            s.description = d;
        }
        if data_plane_changed {
            s.generation += 1;
        }
        s.updated_ms = now_ms();
        tx.save(&s, s.generation).await?;
        tx.commit().await?;
        Ok(s)
    }

    pub async fn rename_service(
        &self,
        caller: &Caller,
        id: &str,
        name: Option<String>,
    ) -> DomainResult<EndpointService> {
        let name = name.ok_or(DomainError::Missing {
            field: "endpoint_service_name",
        })?;
        validate::service_short_name(&name).map_err(|e| match e {
            DomainError::InvalidServiceName { value, .. } => DomainError::InvalidServiceName {
                field: "endpoint_service_name",
                value,
            },
            other => other,
        })?;
        self.update_service(
            caller,
            id,
            UpdateService {
                service_name: Some(name),
                ..Default::default()
            },
        )
        .await
    }

    /// Start deleting a service. Refused while endpoints are connected or waiting (EndPoint.3006):
    /// reject or delete them first, as on AWS, so no consumer loses traffic by surprise.
    pub async fn delete_service(&self, caller: &Caller, id: &str) -> DomainResult<()> {
        let mut tx = self.store.begin().await?;
        let mut s = own_service(&mut tx, caller, id).await?;
        if s.status == ServiceStatus::Deleting {
            return Ok(());
        }
        let mut q = Query::of(Kind::Endpoint).parent(id);
        q.statuses = Some(vec![
            EndpointStatus::PendingAcceptance.as_str().into(),
            EndpointStatus::Creating.as_str().into(),
            EndpointStatus::Accepted.as_str().into(),
        ]);
        let busy = tx.count(&q).await?;
        if busy > 0 {
            return Err(DomainError::ServiceInUse { endpoints: busy });
        }
        // Endpoints left (rejected, failed) lose their service: mark them so their owners see why.
        let orphans = tx
            .load_all::<Endpoint>(Query::of(Kind::Endpoint).parent(id))
            .await?;
        for mut e in orphans {
            if e.status != EndpointStatus::Deleting {
                e.status = EndpointStatus::Failed;
                let (code, message) = (self.word_failure)(RecordedFailure::ServiceDeleted);
                e.error = vec![QueryError {
                    error_code: code.to_string(),
                    error_message: message,
                }];
                e.generation += 1;
                e.updated_ms = now_ms();
                tx.save(&e, e.generation).await?;
            }
        }
        s.status = ServiceStatus::Deleting;
        s.generation += 1;
        s.updated_ms = now_ms();
        tx.save(&s, s.generation).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Finish a delete once the agent confirmed: the record, its claims and its whitelist go.
    pub(crate) async fn purge_service(
        tx: &mut Box<dyn Tx>,
        s: &EndpointService,
    ) -> DomainResult<()> {
        release_backend_ports(tx, &s.port_id, &s.ports).await?;
        tx.release_owner(&format!("service:{}", s.id)).await?;
        let perms = tx.list(&Query::of(Kind::Permission).parent(&s.id)).await?;
        for p in perms.records {
            tx.delete(Kind::Permission, &p.id).await?;
        }
        tx.delete(Kind::EndpointService, &s.id).await?;
        Ok(())
    }

    /// `describe`: a service by id or full name, if the caller may see it (owner, whitelisted or
    /// public) and it is in the caller's region. Anything else is "not found" (SPEC S3, S6).
    pub async fn describe_service(
        &self,
        caller: &Caller,
        id: Option<&str>,
        name: Option<&str>,
    ) -> DomainResult<EndpointService> {
        let id = id.filter(|s| !s.is_empty());
        let name = name.filter(|s| !s.is_empty());
        let found = match (id, name) {
            (Some(_), Some(_)) | (None, None) => {
                return Err(DomainError::ExclusiveFields {
                    first: "id",
                    second: "endpoint_service_name",
                });
            }
            (Some(id), None) => self.store.load::<EndpointService>(id).await?,
            (None, Some(name)) => {
                let (list, _) = self
                    .store
                    .load_page::<EndpointService>(Query::of(Kind::EndpointService).named(name))
                    .await?;
                list.into_iter().next()
            }
        };
        let not_found = || DomainError::ServiceNotInRegion;
        let s = found.ok_or_else(not_found)?;
        if s.region != caller.region || s.status == ServiceStatus::Deleting {
            return Err(not_found());
        }
        if !self.may_connect(&s, &caller.domain_id).await? {
            return Err(not_found());
        }
        Ok(s)
    }

    /// Owner, public service, or whitelisted account (SPEC S5).
    pub async fn may_connect(&self, s: &EndpointService, domain_id: &str) -> DomainResult<bool> {
        if s.domain_id == domain_id || s.is_public {
            return Ok(true);
        }
        let (perms, _) = self
            .store
            .load_page::<vpcep_core::model::Permission>(Query::of(Kind::Permission).parent(&s.id))
            .await?;
        Ok(perms
            .iter()
            .any(|p| validate::permission_matches(&p.permission, domain_id)))
    }

    pub async fn list_public_services(
        &self,
        caller: &Caller,
        name: Option<&str>,
        id: Option<&str>,
        page: PageReq,
    ) -> DomainResult<(Vec<EndpointService>, i64)> {
        let mut q = Query::of(Kind::EndpointService);
        q.shared = Some(true);
        q.name_contains = name.filter(|s| !s.is_empty()).map(str::to_string);
        q.id = id.filter(|s| !s.is_empty()).map(str::to_string);
        q.statuses = Some(vec![
            ServiceStatus::Available.as_str().into(),
            ServiceStatus::Creating.as_str().into(),
        ]);
        q.order = order(&page);
        let (all, _) = self.store.load_page::<EndpointService>(q).await?;
        let in_region: Vec<_> = all
            .into_iter()
            .filter(|s| s.region == caller.region)
            .collect();
        let total = in_region.len() as i64;
        let items = in_region
            .into_iter()
            .skip(page.offset as usize)
            .take(page.limit as usize)
            .collect();
        Ok((items, total))
    }
}

async fn rename_on_endpoints(tx: &mut Box<dyn Tx>, s: &EndpointService) -> DomainResult<()> {
    let eps = tx
        .load_all::<Endpoint>(Query::of(Kind::Endpoint).parent(&s.id))
        .await?;
    for mut e in eps {
        e.service_name = s.service_name.clone();
        tx.save(&e, e.generation).await?;
    }
    Ok(())
}
