//! `vpcep service …`: endpoint services you offer, their connections and whitelist.

use anyhow::bail;
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use vpcep_client::Client;
use vpcep_client::params::Page;
use vpcep_client::services::{ConnectionAction, ConnectionFilter, ServiceFilter, ServiceRef};
use vpcep_huawei::vpcep::{
    ConnectionOut, CreateEndpointServiceBody, PermissionOut, PortListOut, ServiceOut, TagIn,
    UpdateEndpointServiceBody,
};

use super::conn::{ApiResultExt, Conn};
use super::output::{Output, Table, done, emit, kv, yes_no};
use super::parse::{self, Ports};
use super::wait::{WaitArgs, Waiter};

#[derive(Args, Debug)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: ServiceCommand,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ServerType {
    /// A server's NIC (`--port-id` = the NIC's port id).
    #[value(name = "VM")]
    Vm,
    /// A load balancer (`--port-id` = its VIP port id).
    #[value(name = "LB")]
    Lb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TcpProxy {
    #[value(name = "close")]
    Close,
    #[value(name = "toa_open")]
    ToaOpen,
    #[value(name = "proxy_open")]
    ProxyOpen,
    #[value(name = "open")]
    Open,
}

impl TcpProxy {
    fn wire(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }
}

/// `--approval` / `--no-approval`: the last one given wins; neither leaves the setting alone.
#[derive(Args, Debug, Clone)]
pub struct Approval {
    /// New connections wait in pendingAcceptance until you accept them (the default on create).
    #[arg(long, overrides_with = "no_approval")]
    approval: bool,
    /// New connections are accepted at once.
    #[arg(long, overrides_with = "approval")]
    no_approval: bool,
}

impl Approval {
    fn value(&self) -> Option<bool> {
        match (self.approval, self.no_approval) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// VPC of the backend.
    #[arg(long = "vpc", value_name = "ID")]
    vpc_id: String,
    /// The backend's port: a server NIC's port id (VM) or a load balancer's VIP port id (LB).
    #[arg(long, value_name = "ID")]
    port_id: String,
    #[arg(long, value_enum, ignore_case = true)]
    server_type: ServerType,
    /// Short name (≤16 of A-Z a-z 0-9 _ -); the full name becomes REGION.NAME.ID.
    #[arg(long)]
    name: Option<String>,
    /// Port mappings CLIENT:SERVER[/tcp|udp], comma-separated or repeated.
    #[arg(long, value_name = "MAPPINGS", value_parser = parse::ports, required = true)]
    ports: Vec<Ports>,
    #[command(flatten)]
    approval: Approval,
    /// Free text (no < or >).
    #[arg(long)]
    description: Option<String>,
    /// Pass client addresses to the backend (TOA and/or Proxy Protocol).
    #[arg(long, value_enum)]
    tcp_proxy: Option<TcpProxy>,
    /// KEY=VALUE, repeatable.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse::tag)]
    tags: Vec<(String, String)>,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    id: String,
    /// Replace every port mapping: CLIENT:SERVER[/tcp|udp], comma-separated or repeated.
    #[arg(long, value_name = "MAPPINGS", value_parser = parse::ports)]
    ports: Vec<Ports>,
    #[command(flatten)]
    approval: Approval,
    /// Free text (no < or >).
    #[arg(long)]
    description: Option<String>,
    /// Move the service to another backend port.
    #[arg(long, value_name = "ID")]
    port_id: Option<String>,
    #[arg(long, value_enum)]
    tcp_proxy: Option<TcpProxy>,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Subcommand, Debug)]
pub enum ServiceCommand {
    /// Offer a server NIC or a load balancer as an endpoint service.
    Create(CreateArgs),
    /// Your endpoint services.
    List {
        /// Only services whose full name contains this.
        #[arg(long)]
        name: Option<String>,
        /// creating, available, failed or deleting.
        #[arg(long)]
        status: Option<String>,
        /// At most this many (default: up to 1000).
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        offset: Option<u32>,
    },
    /// One service in detail.
    Show { id: String },
    /// Change ports, approval, description, backend port or TCP proxy.
    Update(UpdateArgs),
    /// Change the short name (the full name becomes REGION.NAME.ID).
    Rename { id: String, name: String },
    /// Delete a service (its endpoints must be gone).
    Delete {
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Endpoints connected to a service.
    Connections {
        id: String,
        /// pendingAcceptance, accepted, rejected or failed.
        #[arg(long)]
        status: Option<String>,
    },
    /// Flow records of the service's endpoints: who connected, from where, as which
    /// 198.19.128.x:PORT the backend saw, how much and how it ended (docs/flows.md).
    Flows {
        id: String,
        #[command(flatten)]
        flows: super::flows::FlowArgs,
    },
    /// Accept an endpoint's connection.
    Accept {
        id: String,
        endpoint_id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Reject an endpoint's connection.
    Reject { id: String, endpoint_id: String },
    /// The service's whitelist (accounts allowed to connect).
    Permissions { id: String },
    /// Whitelist accounts: 32-hex domain ids, iam:domain::ID, organizations:orgPath::PATH or '*'.
    Allow {
        id: String,
        #[arg(required = true, value_name = "PERMISSION", value_parser = parse::permission)]
        permissions: Vec<(String, &'static str)>,
        #[arg(long, default_value = "")]
        description: String,
    },
    /// Remove whitelist records by record id (see `service permissions`).
    Disallow {
        id: String,
        #[arg(required = true, value_name = "PERMISSION_RECORD_ID")]
        record_ids: Vec<String>,
    },
    /// What a consumer sees of a service, by id or full name.
    #[command(group(ArgGroup::new("by").required(true).args(["id", "name"])))]
    Describe {
        #[arg(long)]
        id: Option<String>,
        /// The full name REGION.NAME.ID.
        #[arg(long)]
        name: Option<String>,
    },
    /// Public services offered to every account.
    Public {
        /// Only services whose name contains this.
        #[arg(long)]
        name: Option<String>,
        /// At most this many (default: up to 1000).
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        offset: Option<u32>,
    },
}

fn flatten_ports(p: Vec<Ports>) -> Vec<vpcep_huawei::vpcep::PortListIn> {
    p.into_iter().flat_map(|p| p.0).collect()
}

pub fn ports_text(ports: &[PortListOut]) -> String {
    ports
        .iter()
        .map(|p| format!("{}:{}/{}", p.client_port, p.server_port, p.protocol))
        .collect::<Vec<_>>()
        .join(",")
}

fn tags_text(tags: &[vpcep_huawei::vpcep::Tag]) -> String {
    tags.iter()
        .map(|t| format!("{}={}", t.key, t.value))
        .collect::<Vec<_>>()
        .join(",")
}

fn service_kv(s: &ServiceOut) -> String {
    let mut rows = vec![
        ("id", s.id.clone()),
        ("name", s.service_name.clone()),
        ("status", s.status.clone()),
        ("server_type", s.server_type.clone()),
        ("port_id", s.port_id.clone()),
        ("vpc_id", s.vpc_id.clone()),
        ("ports", ports_text(&s.ports)),
        ("approval", yes_no(s.approval_enabled)),
        ("tcp_proxy", s.tcp_proxy.clone()),
        ("service_type", s.service_type.clone()),
        ("description", s.description.clone()),
        ("tags", tags_text(&s.tags)),
    ];
    if let Some(n) = s.connection_count {
        rows.push(("connections", n.to_string()));
    }
    rows.push(("created_at", s.created_at.clone()));
    rows.push(("updated_at", s.updated_at.clone()));
    for e in &s.error {
        rows.push(("error", format!("{}: {}", e.code, e.message)));
    }
    kv(&rows)
}

fn services_table(list: &[ServiceOut]) -> String {
    let mut t = Table::new(&[
        "ID",
        "NAME",
        "STATUS",
        "TYPE",
        "PORTS",
        "APPROVAL",
        "CONNECTIONS",
    ]);
    for s in list {
        t.row(vec![
            s.id.clone(),
            s.service_name.clone(),
            s.status.clone(),
            s.server_type.clone(),
            ports_text(&s.ports),
            yes_no(s.approval_enabled),
            s.connection_count
                .map(|n| n.to_string())
                .unwrap_or_default(),
        ]);
    }
    t.render()
}

fn connections_table(list: &[ConnectionOut]) -> String {
    let mut t = Table::new(&[
        "ENDPOINT_ID",
        "MARKER_ID",
        "STATUS",
        "DOMAIN_ID",
        "DESCRIPTION",
        "CREATED_AT",
    ]);
    for c in list {
        t.row(vec![
            c.id.clone(),
            c.marker_id.to_string(),
            c.status.clone(),
            c.domain_id.clone(),
            c.description.clone(),
            c.created_at.clone(),
        ]);
    }
    t.render()
}

fn permissions_table(list: &[PermissionOut]) -> String {
    let mut t = Table::new(&["ID", "PERMISSION", "TYPE", "DESCRIPTION", "CREATED_AT"]);
    for p in list {
        t.row(vec![
            p.id.clone(),
            p.permission.clone(),
            p.permission_type.clone(),
            p.description.clone(),
            p.created_at.clone(),
        ]);
    }
    t.render()
}

/// Poll the service until `available` or `failed`; `failed` is an error.
async fn wait_available(
    client: &Client,
    id: &str,
    out: Output,
    args: &WaitArgs,
) -> anyhow::Result<ServiceOut> {
    let mut w = Waiter::new(format!("service {id}"), out, args);
    loop {
        let s = client.get_service(id).await.api()?;
        w.observe(&s.status);
        match s.status.as_str() {
            "available" => {
                w.finish();
                return Ok(s);
            }
            "failed" => {
                w.finish();
                let why = s
                    .error
                    .iter()
                    .map(|e| format!("{}: {}", e.code, e.message))
                    .collect::<Vec<_>>()
                    .join("; ");
                bail!(
                    "service {id} failed{}",
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {why}")
                    }
                );
            }
            _ => w.tick().await?,
        }
    }
}

/// Poll a detail GET until it answers 404.
pub async fn wait_gone<F, Fut>(
    what: String,
    out: Output,
    args: &WaitArgs,
    mut get_status: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<String, vpcep_client::ClientError>>,
{
    let mut w = Waiter::new(what, out, args);
    loop {
        match get_status().await {
            Ok(status) => w.observe(&status),
            Err(e) if e.status() == Some(404) => {
                w.observe("deleted");
                w.finish();
                return Ok(());
            }
            Err(e) => return Err(super::conn::api(e)),
        }
        w.tick().await?;
    }
}

pub async fn run(args: ServiceArgs) -> anyhow::Result<()> {
    let out = args.conn.output;
    let client = args.conn.client()?;
    match args.cmd {
        ServiceCommand::Create(a) => {
            let body = CreateEndpointServiceBody {
                port_id: Some(a.port_id),
                service_name: a.name,
                vpc_id: Some(a.vpc_id),
                approval_enabled: a.approval.value(),
                service_type: Some("interface".into()),
                server_type: Some(match a.server_type {
                    ServerType::Vm => "VM".into(),
                    ServerType::Lb => "LB".into(),
                }),
                ports: Some(flatten_ports(a.ports)),
                tcp_proxy: a.tcp_proxy.map(TcpProxy::wire),
                tags: (!a.tags.is_empty()).then(|| {
                    a.tags
                        .into_iter()
                        .map(|(k, v)| TagIn {
                            key: Some(k),
                            value: Some(v),
                        })
                        .collect()
                }),
                description: a.description,
                ..Default::default()
            };
            let mut s = client.create_service(&body).await.api()?;
            if a.wait.wait {
                s = wait_available(&client, &s.id, out, &a.wait).await?;
            }
            emit(out, &s, || service_kv(&s))
        }
        ServiceCommand::List {
            name,
            status,
            limit,
            offset,
        } => {
            let page = Page {
                limit: limit.or(Some(1000)),
                offset,
                ..Page::default()
            };
            let f = ServiceFilter {
                name,
                status,
                page,
                ..Default::default()
            };
            let list = client.list_services(&f).await.api()?;
            emit(out, &list, || {
                let mut s = services_table(&list.endpoint_services);
                if (list.endpoint_services.len() as i64) < list.total_count {
                    s += &format!(
                        "({} of {} shown: use --limit/--offset)\n",
                        list.endpoint_services.len(),
                        list.total_count
                    );
                }
                s
            })
        }
        ServiceCommand::Show { id } => {
            let s = client.get_service(&id).await.api()?;
            emit(out, &s, || service_kv(&s))
        }
        ServiceCommand::Update(a) => {
            let ports = flatten_ports(a.ports);
            let body = UpdateEndpointServiceBody {
                approval_enabled: a.approval.value(),
                ports: (!ports.is_empty()).then_some(ports),
                port_id: a.port_id,
                tcp_proxy: a.tcp_proxy.map(TcpProxy::wire),
                description: a.description,
                ..Default::default()
            };
            if body.approval_enabled.is_none()
                && body.ports.is_none()
                && body.port_id.is_none()
                && body.tcp_proxy.is_none()
                && body.description.is_none()
            {
                bail!(
                    "nothing to update: give --ports, --approval/--no-approval, --description, --port-id or --tcp-proxy"
                );
            }
            let mut s = client.update_service(&a.id, &body).await.api()?;
            if a.wait.wait {
                s = wait_available(&client, &s.id, out, &a.wait).await?;
            }
            emit(out, &s, || service_kv(&s))
        }
        ServiceCommand::Rename { id, name } => {
            let r = client.rename_service(&id, &name).await.api()?;
            emit(out, &r, || {
                format!("service {id} renamed to {}\n", r.endpoint_service_name)
            })
        }
        ServiceCommand::Delete { id, wait } => {
            client.delete_service(&id).await.api()?;
            if wait.wait {
                wait_gone(format!("service {id}"), out, &wait, || async {
                    client.get_service(&id).await.map(|s| s.status)
                })
                .await?;
                done(out, format!("service {id} deleted"));
            } else {
                done(out, format!("service {id} is being deleted"));
            }
            Ok(())
        }
        ServiceCommand::Flows { id, flows } => {
            super::flows::run(&client, out, super::flows::Flows::Service(&id), flows).await
        }
        ServiceCommand::Connections { id, status } => {
            let list = client
                .list_connections(
                    &id,
                    &ConnectionFilter {
                        status,
                        page: Page::limit(1000),
                        ..Default::default()
                    },
                )
                .await
                .api()?;
            emit(out, &list, || connections_table(&list.connections))
        }
        ServiceCommand::Accept {
            id,
            endpoint_id,
            wait,
        } => {
            let r = client
                .connection_action(&id, ConnectionAction::Accept, &endpoint_id)
                .await
                .api()?;
            if !wait.wait {
                return emit(out, &r, || connections_table(&r.connections));
            }
            let mut w = Waiter::new(format!("endpoint {endpoint_id}"), out, &wait);
            let filter = ConnectionFilter {
                id: Some(endpoint_id.clone()),
                ..Default::default()
            };
            loop {
                let list = client.list_connections(&id, &filter).await.api()?;
                let Some(c) = list.connections.into_iter().find(|c| c.id == endpoint_id) else {
                    bail!("endpoint {endpoint_id} is no longer connected to service {id}");
                };
                w.observe(&c.status);
                match c.status.as_str() {
                    "accepted" | "rejected" | "failed" => {
                        w.finish();
                        let failed = c.status == "failed";
                        let why = c
                            .error
                            .iter()
                            .map(|e| format!("{}: {}", e.error_code, e.error_message))
                            .collect::<Vec<_>>()
                            .join("; ");
                        let list = vpcep_huawei::vpcep::ConnectionListOut {
                            connections: vec![c],
                            total_count: None,
                        };
                        emit(out, &list, || connections_table(&list.connections))?;
                        if failed {
                            bail!(
                                "endpoint {endpoint_id} failed{}",
                                if why.is_empty() {
                                    String::new()
                                } else {
                                    format!(": {why}")
                                }
                            );
                        }
                        return Ok(());
                    }
                    _ => w.tick().await?,
                }
            }
        }
        ServiceCommand::Reject { id, endpoint_id } => {
            let r = client
                .connection_action(&id, ConnectionAction::Reject, &endpoint_id)
                .await
                .api()?;
            emit(out, &r, || connections_table(&r.connections))
        }
        ServiceCommand::Permissions { id } => {
            let list = client
                .list_permissions(&id, None, &Page::limit(500))
                .await
                .api()?;
            emit(out, &list, || permissions_table(&list.permissions))
        }
        ServiceCommand::Allow {
            id,
            permissions,
            description,
        } => {
            // One batch per permission_type, as the API takes one type per call.
            let mut added = Vec::new();
            for ptype in ["domainId", "orgPath"] {
                let items: Vec<(String, String)> = permissions
                    .iter()
                    .filter(|(_, t)| *t == ptype)
                    .map(|(p, _)| (p.clone(), description.clone()))
                    .collect();
                if !items.is_empty() {
                    added.extend(
                        client
                            .add_permissions(&id, ptype, &items)
                            .await
                            .api()?
                            .permissions,
                    );
                }
            }
            let list = vpcep_huawei::vpcep::PermissionListOut {
                permissions: added,
                total_count: None,
            };
            emit(out, &list, || permissions_table(&list.permissions))
        }
        ServiceCommand::Disallow { id, record_ids } => {
            let r = client.remove_permissions(&id, &record_ids).await.api()?;
            emit(out, &r, || permissions_table(&r.permissions))
        }
        ServiceCommand::Describe { id, name } => {
            let by = match (id, name) {
                (Some(id), _) => ServiceRef::Id(id),
                (None, Some(n)) => ServiceRef::Name(n),
                (None, None) => bail!("give --id or --name"),
            };
            let s = client.describe_service(&by).await.api()?;
            emit(out, &s, || {
                kv(&[
                    ("id", s.id.clone()),
                    ("name", s.service_name.clone()),
                    ("service_type", s.service_type.clone()),
                    ("created_at", s.created_at.clone()),
                    ("is_charge", yes_no(s.is_charge)),
                    ("enable_policy", yes_no(s.enable_policy)),
                ])
            })
        }
        ServiceCommand::Public {
            name,
            limit,
            offset,
        } => {
            let list = client
                .list_public_services(
                    name.as_deref(),
                    &Page {
                        limit: limit.or(Some(1000)),
                        offset,
                        ..Page::default()
                    },
                )
                .await
                .api()?;
            emit(out, &list, || {
                let mut t = Table::new(&["ID", "NAME", "OWNER", "TYPE", "CREATED_AT"]);
                for s in &list.endpoint_services {
                    t.row(vec![
                        s.id.clone(),
                        s.service_name.clone(),
                        s.owner.clone(),
                        s.service_type.clone(),
                        s.created_at.clone(),
                    ]);
                }
                t.render()
            })
        }
    }
}
