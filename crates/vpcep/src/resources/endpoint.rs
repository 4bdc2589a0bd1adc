//! `vpcep endpoint …`: connect a VPC to an endpoint service.

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use vpcep_client::Client;
use vpcep_client::endpoints::EndpointFilter;
use vpcep_client::params::Page;
use vpcep_client::services::ServiceRef;
use vpcep_huawei::vpcep::{CreateEndpointBody, EndpointOut, TagIn};

use super::conn::{ApiResultExt, Conn};
use super::output::{Output, Table, done, emit, kv, yes_no};
use super::parse;
use super::service::wait_gone;
use super::wait::{WaitArgs, Waiter};

#[derive(Args, Debug)]
pub struct EndpointArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    pub cmd: EndpointCommand,
}

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// The service: its id, or its full name REGION.NAME.ID (resolved with `describe`).
    #[arg(long, value_name = "ID_OR_NAME")]
    service: String,
    /// Your VPC.
    #[arg(long = "vpc", value_name = "ID")]
    vpc_id: String,
    /// The subnet of your VPC the endpoint's address comes from.
    #[arg(long = "subnet", value_name = "ID")]
    subnet_id: String,
    /// A fixed address for the endpoint (default: the next free one).
    #[arg(long, value_name = "A.B.C.D")]
    ip: Option<std::net::Ipv4Addr>,
    /// Create a private DNS name for the endpoint.
    #[arg(long)]
    dns: bool,
    /// Free text (no < or >).
    #[arg(long)]
    description: Option<String>,
    /// Only these addresses (IP or CIDR) may use the endpoint; repeatable. Enables the whitelist.
    #[arg(long = "allow-from", value_name = "CIDR")]
    whitelist: Vec<String>,
    /// KEY=VALUE, repeatable.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse::tag)]
    tags: Vec<(String, String)>,
    #[command(flatten)]
    wait: WaitArgs,
}

#[derive(Subcommand, Debug)]
pub enum EndpointCommand {
    /// Create an endpoint to a service in one of your subnets.
    Create(CreateArgs),
    /// Your endpoints.
    List {
        /// Only endpoints of services whose full name contains this.
        #[arg(long)]
        service_name: Option<String>,
        /// Only endpoints in this VPC.
        #[arg(long = "vpc", value_name = "ID")]
        vpc_id: Option<String>,
        /// At most this many (default: up to 1000).
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        offset: Option<u32>,
    },
    /// One endpoint in detail.
    Show { id: String },
    /// Flow records of the endpoint's connections (docs/flows.md).
    Flows {
        id: String,
        #[command(flatten)]
        flows: super::flows::FlowArgs,
    },
    /// Delete an endpoint.
    Delete {
        id: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Show or change the endpoint's IP whitelist (CIDRs replace the list).
    Whitelist {
        id: String,
        /// IPs or CIDRs; they replace the current list.
        #[arg(value_name = "CIDR")]
        cidrs: Vec<String>,
        /// Enforce the whitelist.
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        /// Stop enforcing it (the list is kept).
        #[arg(long)]
        disable: bool,
        /// Empty the list.
        #[arg(long, conflicts_with = "cidrs")]
        clear: bool,
    },
}

fn endpoint_kv(e: &EndpointOut) -> String {
    let mut rows = vec![
        ("id", e.id.clone()),
        ("status", e.status.clone()),
        ("ip", e.ip.clone()),
        ("service_name", e.endpoint_service_name.clone()),
        ("service_id", e.endpoint_service_id.clone()),
        ("service_type", e.service_type.clone()),
        ("vpc_id", e.vpc_id.clone()),
        ("subnet_id", e.subnet_id.clone()),
        ("marker_id", e.marker_id.to_string()),
        ("dns", yes_no(e.enable_dns)),
        ("dns_names", e.dns_names.join(",")),
        (
            "whitelist",
            if e.enable_whitelist {
                "enabled"
            } else {
                "disabled"
            }
            .to_string(),
        ),
        ("whitelist_cidrs", e.whitelist.join(",")),
        ("description", e.description.clone()),
        (
            "tags",
            e.tags
                .iter()
                .map(|t| format!("{}={}", t.key, t.value))
                .collect::<Vec<_>>()
                .join(","),
        ),
        ("created_at", e.created_at.clone()),
        ("updated_at", e.updated_at.clone()),
    ];
    for err in &e.error {
        rows.push((
            "error",
            format!("{}: {}", err.error_code, err.error_message),
        ));
    }
    kv(&rows)
}

fn endpoints_table(list: &[EndpointOut]) -> String {
    let mut t = Table::new(&["ID", "SERVICE", "STATUS", "IP", "VPC", "SUBNET", "DNS"]);
    for e in list {
        t.row(vec![
            e.id.clone(),
            e.endpoint_service_name.clone(),
            e.status.clone(),
            e.ip.clone(),
            e.vpc_id.clone(),
            e.subnet_id.clone(),
            e.dns_names.first().cloned().unwrap_or_default(),
        ]);
    }
    t.render()
}

/// A service id as given, or the id `describe` finds for a full name.
async fn resolve_service(client: &Client, s: &str) -> anyhow::Result<String> {
    if parse::is_uuid(s) {
        return Ok(s.to_string());
    }
    let d = client
        .describe_service(&ServiceRef::Name(s.to_string()))
        .await
        .api()
        .with_context(|| format!("resolving the service name '{s}'"))?;
    Ok(d.id)
}

fn failure(e: &EndpointOut) -> String {
    let why = e
        .error
        .iter()
        .map(|x| format!("{}: {}", x.error_code, x.error_message))
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "endpoint {} failed{}",
        e.id,
        if why.is_empty() {
            String::new()
        } else {
            format!(": {why}")
        }
    )
}

/// Poll until `accepted`, `pendingAcceptance`, `rejected` or `failed`.
async fn wait_settled(
    client: &Client,
    id: &str,
    out: Output,
    args: &WaitArgs,
) -> anyhow::Result<EndpointOut> {
    let mut w = Waiter::new(format!("endpoint {id}"), out, args);
    loop {
        let e = client.get_endpoint(id).await.api()?;
        w.observe(&e.status);
        if matches!(
            e.status.as_str(),
            "accepted" | "pendingAcceptance" | "rejected" | "failed"
        ) {
            w.finish();
            return Ok(e);
        }
        w.tick().await?;
    }
}

pub async fn run(args: EndpointArgs) -> anyhow::Result<()> {
    let out = args.conn.output;
    let client = args.conn.client()?;
    match args.cmd {
        EndpointCommand::Flows { id, flows } => {
            super::flows::run(&client, out, super::flows::Flows::Endpoint(&id), flows).await
        }
        EndpointCommand::Create(a) => {
            let service_id = resolve_service(&client, &a.service).await?;
            let body = CreateEndpointBody {
                endpoint_service_id: Some(service_id),
                vpc_id: Some(a.vpc_id),
                subnet_id: Some(a.subnet_id),
                enable_dns: Some(a.dns),
                port_ip: a.ip.map(|ip| ip.to_string()),
                enable_whitelist: (!a.whitelist.is_empty()).then_some(true),
                whitelist: (!a.whitelist.is_empty()).then_some(a.whitelist),
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
            let mut e = client.create_endpoint(&body).await.api()?;
            if a.wait.wait {
                e = wait_settled(&client, &e.id, out, &a.wait).await?;
            }
            emit(out, &e, || endpoint_kv(&e))?;
            if e.status == "failed" {
                bail!(failure(&e));
            }
            Ok(())
        }
        EndpointCommand::List {
            service_name,
            vpc_id,
            limit,
            offset,
        } => {
            let f = EndpointFilter {
                service_name,
                vpc_id,
                page: Page {
                    limit: limit.or(Some(1000)),
                    offset,
                    ..Page::default()
                },
                ..Default::default()
            };
            let list = client.list_endpoints(&f).await.api()?;
            emit(out, &list, || {
                let mut s = endpoints_table(&list.endpoints);
                if (list.endpoints.len() as i64) < list.total_count {
                    s += &format!(
                        "({} of {} shown: use --limit/--offset)\n",
                        list.endpoints.len(),
                        list.total_count
                    );
                }
                s
            })
        }
        EndpointCommand::Show { id } => {
            let e = client.get_endpoint(&id).await.api()?;
            emit(out, &e, || endpoint_kv(&e))
        }
        EndpointCommand::Delete { id, wait } => {
            client.delete_endpoint(&id).await.api()?;
            if wait.wait {
                wait_gone(format!("endpoint {id}"), out, &wait, || async {
                    client.get_endpoint(&id).await.map(|e| e.status)
                })
                .await?;
                done(out, format!("endpoint {id} deleted"));
            } else {
                done(out, format!("endpoint {id} is being deleted"));
            }
            Ok(())
        }
        EndpointCommand::Whitelist {
            id,
            cidrs,
            enable,
            disable,
            clear,
        } => {
            let list = if clear {
                Some(Vec::new())
            } else {
                (!cidrs.is_empty()).then_some(cidrs)
            };
            let toggle = if enable {
                Some(true)
            } else if disable {
                Some(false)
            } else {
                None
            };
            let e = if list.is_none() && toggle.is_none() {
                client.get_endpoint(&id).await.api()?
            } else {
                client
                    .update_endpoint_whitelist(&id, list, toggle)
                    .await
                    .api()?
            };
            emit(out, &e, || {
                kv(&[
                    ("id", e.id.clone()),
                    (
                        "whitelist",
                        if e.enable_whitelist {
                            "enabled"
                        } else {
                            "disabled"
                        }
                        .to_string(),
                    ),
                    ("cidrs", e.whitelist.join(",")),
                ])
            })
        }
    }
}
