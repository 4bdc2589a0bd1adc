//! `vpcep lab …`: the network a service stands on — VPCs, subnets, security groups (Huawei VPC
//! v1) and the lab's servers, load balancers and sites.

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use serde_json::json;
use vpcep_client::lab::{
    Listener, ListenerSpec, LoadBalancer, LoadBalancerSpec, LoadBalancerUpdate, NicSpec, Server,
    ServerSpec, Site, SiteSpec,
};
use vpcep_huawei::vpc::{
    CreateSecurityGroupBody, CreateSecurityGroupRuleBody, CreateSubnetBody, CreateVpcBody,
    SecurityGroup, SecurityGroupRule, Subnet, Vpc,
};

use super::conn::{ApiResultExt, Conn};
use super::output::Output;
use super::output::{Table, done, emit, kv};
use super::parse;
use super::wait::{WaitArgs, Waiter};

#[derive(Args, Debug)]
pub struct LabArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    cmd: LabCommand,
}

#[derive(Subcommand, Debug)]
enum LabCommand {
    /// VPCs.
    #[command(subcommand)]
    Vpc(VpcCommand),
    /// Subnets of a VPC.
    #[command(subcommand)]
    Subnet(SubnetCommand),
    /// Security groups.
    #[command(subcommand)]
    Sg(SgCommand),
    /// Security group rules.
    #[command(subcommand)]
    SgRule(RuleCommand),
    /// Lab servers (one or more NICs).
    #[command(subcommand)]
    Server(ServerCommand),
    /// Lab load balancers (a VIP spreading listeners over members).
    #[command(subcommand)]
    Lb(LbCommand),
    /// Lab sites (a network reached over a VPN from a VPC).
    #[command(subcommand)]
    Site(SiteCommand),
    /// Run a program inside a server, load balancer or site (by name or id), e.g.
    /// `vpcep lab exec web1 -- curl http://192.168.0.50/`.
    Exec {
        name: String,
        #[arg(last = true, required = true)]
        command: Vec<String>,
        /// Namespace prefix of the agent that realised the lab.
        #[arg(long, env = "VPCEP_NS_PREFIX", default_value = "vpcep-")]
        ns_prefix: String,
    },
    /// Remove every namespace (and so every link, address, route and nftables table) the agent
    /// made on this host. The records stay; a running agent rebuilds them.
    Down {
        #[arg(long, env = "VPCEP_NS_PREFIX", default_value = "vpcep-")]
        ns_prefix: String,
    },
}

#[derive(Subcommand, Debug)]
enum VpcCommand {
    Create {
        name: String,
        /// e.g. 192.168.0.0/16.
        #[arg(long)]
        cidr: String,
        #[arg(long)]
        description: Option<String>,
    },
    List,
    Show {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum SubnetCommand {
    Create {
        name: String,
        #[arg(long = "vpc", value_name = "ID")]
        vpc_id: String,
        /// Inside the VPC's CIDR, e.g. 192.168.1.0/24.
        #[arg(long)]
        cidr: String,
        /// Default: the first host address of the CIDR.
        #[arg(long, value_name = "IP")]
        gateway: Option<std::net::Ipv4Addr>,
        #[arg(long)]
        description: Option<String>,
    },
    List {
        #[arg(long = "vpc", value_name = "ID")]
        vpc_id: Option<String>,
    },
    Show {
        id: String,
    },
    Delete {
        vpc_id: String,
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum SgCommand {
    /// Create a group (with the usual default rules: all egress, ingress from the group).
    Create {
        name: String,
        #[arg(long = "vpc", value_name = "ID")]
        vpc_id: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    List,
    /// A group with its rules.
    Show {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Direction {
    Ingress,
    Egress,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RuleProtocol {
    Tcp,
    Udp,
    Icmp,
}

#[derive(Subcommand, Debug)]
enum RuleCommand {
    Add {
        #[arg(value_name = "SG_ID")]
        sg_id: String,
        #[arg(long, value_enum)]
        direction: Direction,
        /// Default: any protocol.
        #[arg(long, value_enum)]
        protocol: Option<RuleProtocol>,
        /// 80 or 8000-8080 (needs --protocol tcp or udp). Default: all ports.
        #[arg(long, value_parser = parse::port_range)]
        ports: Option<(u16, u16)>,
        /// Remote addresses, e.g. 10.0.0.0/8.
        #[arg(long, value_name = "CIDR", conflicts_with = "remote_group")]
        remote_ip: Option<String>,
        /// Remote security group id.
        #[arg(long, value_name = "ID")]
        remote_group: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    List {
        /// Only the rules of this group.
        #[arg(long = "sg", value_name = "ID")]
        sg_id: Option<String>,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum ServerCommand {
    Create {
        name: String,
        #[arg(long = "vpc", value_name = "ID")]
        vpc_id: String,
        /// SUBNET_ID[:IP], repeatable, primary NIC first.
        #[arg(long = "nic", value_name = "SUBNET_ID[:IP]", required = true, value_parser = parse::nic)]
        nics: Vec<NicSpec>,
        /// Security group id, repeatable (default: the project's `default` group).
        #[arg(long = "sg", value_name = "ID")]
        security_groups: Vec<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    List,
    Show {
        id: String,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum LbCommand {
    Create {
        name: String,
        #[arg(long = "vpc", value_name = "ID")]
        vpc_id: String,
        #[arg(long = "subnet", value_name = "ID")]
        subnet_id: String,
        /// The VIP (default: the next free address).
        #[arg(long, value_name = "IP")]
        vip: Option<std::net::Ipv4Addr>,
        /// [TCP|UDP:]PORT=ADDR:PORT,ADDR:PORT…, repeatable.
        #[arg(long = "listener", value_name = "LISTENER", value_parser = parse::listener)]
        listeners: Vec<ListenerSpec>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    List,
    Show {
        id: String,
    },
    /// Replace the listeners (and/or rename).
    Update {
        id: String,
        /// [TCP|UDP:]PORT=ADDR:PORT,ADDR:PORT…, repeatable; replaces every listener.
        #[arg(long = "listener", value_name = "LISTENER", value_parser = parse::listener)]
        listeners: Vec<ListenerSpec>,
        /// Remove every listener.
        #[arg(long, conflicts_with = "listeners")]
        no_listeners: bool,
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        wait: WaitArgs,
    },
    Delete {
        id: String,
    },
}

#[derive(Subcommand, Debug)]
enum SiteCommand {
    Create {
        name: String,
        #[arg(long = "vpc", value_name = "ID")]
        vpc_id: String,
        /// The site's network; must not overlap the VPC.
        #[arg(long)]
        cidr: String,
        #[command(flatten)]
        wait: WaitArgs,
    },
    List,
    Show {
        id: String,
    },
    Delete {
        id: String,
    },
}

// ---- rendering ----------------------------------------------------------------------------------

fn vpcs_table(list: &[Vpc]) -> String {
    let mut t = Table::new(&["ID", "NAME", "CIDR", "STATUS"]);
    for v in list {
        t.row(vec![
            v.id.clone(),
            v.name.clone(),
            v.cidr.clone(),
            v.status.clone(),
        ]);
    }
    t.render()
}

fn vpc_kv(v: &Vpc) -> String {
    kv(&[
        ("id", v.id.clone()),
        ("name", v.name.clone()),
        ("cidr", v.cidr.clone()),
        ("status", v.status.clone()),
        ("description", v.description.clone()),
        ("created_at", v.created_at.clone()),
    ])
}

fn subnets_table(list: &[Subnet]) -> String {
    let mut t = Table::new(&["ID", "NAME", "CIDR", "GATEWAY", "VPC", "STATUS"]);
    for s in list {
        t.row(vec![
            s.id.clone(),
            s.name.clone(),
            s.cidr.clone(),
            s.gateway_ip.clone(),
            s.vpc_id.clone(),
            s.status.clone(),
        ]);
    }
    t.render()
}

fn subnet_kv(s: &Subnet) -> String {
    kv(&[
        ("id", s.id.clone()),
        ("name", s.name.clone()),
        ("cidr", s.cidr.clone()),
        ("gateway_ip", s.gateway_ip.clone()),
        ("vpc_id", s.vpc_id.clone()),
        ("neutron_subnet_id", s.neutron_subnet_id.clone()),
        ("dns", s.dns_list.join(",")),
        ("status", s.status.clone()),
        ("description", s.description.clone()),
        ("created_at", s.created_at.clone()),
    ])
}

fn rule_ports(r: &SecurityGroupRule) -> String {
    match (r.port_range_min, r.port_range_max) {
        (None, None) => "all".into(),
        (Some(a), Some(b)) if a == b => a.to_string(),
        (a, b) => format!(
            "{}-{}",
            a.map(|p| p.to_string()).unwrap_or_default(),
            b.map(|p| p.to_string()).unwrap_or_default()
        ),
    }
}

fn rules_table(list: &[SecurityGroupRule]) -> String {
    let mut t = Table::new(&["ID", "SG", "DIRECTION", "PROTOCOL", "PORTS", "REMOTE"]);
    for r in list {
        let remote = r
            .remote_ip_prefix
            .clone()
            .or_else(|| r.remote_group_id.as_ref().map(|g| format!("sg:{g}")))
            .unwrap_or_else(|| "any".into());
        t.row(vec![
            r.id.clone(),
            r.security_group_id.clone(),
            r.direction.clone(),
            r.protocol.clone().unwrap_or_else(|| "any".into()),
            rule_ports(r),
            remote,
        ]);
    }
    t.render()
}

fn sgs_table(list: &[SecurityGroup]) -> String {
    let mut t = Table::new(&["ID", "NAME", "VPC", "RULES", "DESCRIPTION"]);
    for g in list {
        t.row(vec![
            g.id.clone(),
            g.name.clone(),
            g.vpc_id.clone().unwrap_or_default(),
            g.security_group_rules.len().to_string(),
            g.description.clone(),
        ]);
    }
    t.render()
}

fn sg_kv(g: &SecurityGroup) -> String {
    let mut s = kv(&[
        ("id", g.id.clone()),
        ("name", g.name.clone()),
        ("vpc_id", g.vpc_id.clone().unwrap_or_default()),
        ("description", g.description.clone()),
    ]);
    s += "\n";
    s += &rules_table(&g.security_group_rules);
    s
}

fn servers_table(list: &[Server]) -> String {
    let mut t = Table::new(&["ID", "NAME", "STATUS", "VPC", "PRIMARY_PORT", "IPS"]);
    for s in list {
        t.row(vec![
            s.id.clone(),
            s.name.clone(),
            s.status.clone(),
            s.vpc_id.clone(),
            s.nics
                .first()
                .map(|n| n.port_id.clone())
                .unwrap_or_default(),
            s.nics
                .iter()
                .map(|n| n.ip_address.clone())
                .collect::<Vec<_>>()
                .join(","),
        ]);
    }
    t.render()
}

fn server_kv(s: &Server) -> String {
    let mut out = kv(&[
        ("id", s.id.clone()),
        ("name", s.name.clone()),
        ("status", s.status.clone()),
        ("vpc_id", s.vpc_id.clone()),
        ("security_groups", s.security_groups.join(",")),
        ("created_at", s.created_at.clone()),
    ]);
    out += "\n";
    let mut t = Table::new(&["NIC", "PORT_ID", "SUBNET_ID", "IP", "MAC"]);
    for (i, n) in s.nics.iter().enumerate() {
        t.row(vec![
            i.to_string(),
            n.port_id.clone(),
            n.subnet_id.clone(),
            n.ip_address.clone(),
            n.mac_address.clone(),
        ]);
    }
    out + &t.render()
}

fn listener_text(l: &Listener) -> String {
    let members = l
        .members
        .iter()
        .map(|m| format!("{}:{}", m.address, m.port))
        .collect::<Vec<_>>()
        .join(",");
    format!("{}:{}={members}", l.protocol.as_str(), l.port)
}

fn lbs_table(list: &[LoadBalancer]) -> String {
    let mut t = Table::new(&["ID", "NAME", "VIP", "VIP_PORT_ID", "STATUS", "LISTENERS"]);
    for l in list {
        t.row(vec![
            l.id.clone(),
            l.name.clone(),
            l.vip_address.clone(),
            l.vip_port_id.clone(),
            l.status.clone(),
            l.listeners
                .iter()
                .map(listener_text)
                .collect::<Vec<_>>()
                .join(" "),
        ]);
    }
    t.render()
}

fn lb_kv(l: &LoadBalancer) -> String {
    let mut rows = vec![
        ("id", l.id.clone()),
        ("name", l.name.clone()),
        ("status", l.status.clone()),
        ("vpc_id", l.vpc_id.clone()),
        ("subnet_id", l.subnet_id.clone()),
        ("vip_address", l.vip_address.clone()),
        ("vip_port_id", l.vip_port_id.clone()),
    ];
    for li in &l.listeners {
        rows.push(("listener", listener_text(li)));
    }
    rows.push(("created_at", l.created_at.clone()));
    kv(&rows)
}

fn sites_table(list: &[Site]) -> String {
    let mut t = Table::new(&["ID", "NAME", "VPC", "CIDR", "STATUS"]);
    for s in list {
        t.row(vec![
            s.id.clone(),
            s.name.clone(),
            s.vpc_id.clone(),
            s.cidr.clone(),
            s.status.clone(),
        ]);
    }
    t.render()
}

fn site_kv(s: &Site) -> String {
    kv(&[
        ("id", s.id.clone()),
        ("name", s.name.clone()),
        ("vpc_id", s.vpc_id.clone()),
        ("cidr", s.cidr.clone()),
        ("status", s.status.clone()),
        ("created_at", s.created_at.clone()),
    ])
}

// ---- commands -----------------------------------------------------------------------------------

pub async fn run(args: LabArgs) -> anyhow::Result<()> {
    let out = args.conn.output;
    if let LabCommand::Down { ns_prefix } = &args.cmd {
        let names = vpcep_dataplane::plan::naming::Namespaces {
            prefix: ns_prefix.clone(),
        };
        let n = vpcep_dataplane::kernel::linux::teardown(&names).await?;
        eprintln!("removed {n} namespace(s) with prefix {ns_prefix}");
        return Ok(());
    }
    let c = args.conn.client()?;
    if let LabCommand::Exec {
        name,
        command,
        ns_prefix,
    } = &args.cmd
    {
        let names = vpcep_dataplane::plan::naming::Namespaces {
            prefix: ns_prefix.clone(),
        };
        let ns = find_lab_namespace(&c, &names, name).await?;
        let status = std::process::Command::new("ip")
            .args(["netns", "exec", &ns])
            .args(command)
            .status()
            .map_err(|e| anyhow::anyhow!("cannot run ip netns exec: {e}"))?;
        std::process::exit(status.code().unwrap_or(1));
    }
    match args.cmd {
        LabCommand::Exec { .. } | LabCommand::Down { .. } => Ok(()),
        LabCommand::Vpc(cmd) => match cmd {
            VpcCommand::Create {
                name,
                cidr,
                description,
            } => {
                let v = c
                    .create_vpc(CreateVpcBody {
                        name: Some(name),
                        cidr: Some(cidr),
                        description,
                        ..Default::default()
                    })
                    .await
                    .api()?;
                emit(out, &json!({ "vpc": v }), || vpc_kv(&v))
            }
            VpcCommand::List => {
                let list = c.list_vpcs().await.api()?;
                emit(out, &json!({ "vpcs": list }), || vpcs_table(&list))
            }
            VpcCommand::Show { id } => {
                let v = c.get_vpc(&id).await.api()?;
                emit(out, &json!({ "vpc": v }), || vpc_kv(&v))
            }
            VpcCommand::Delete { id } => {
                c.delete_vpc(&id).await.api()?;
                done(out, format!("vpc {id} deleted"));
                Ok(())
            }
        },
        LabCommand::Subnet(cmd) => match cmd {
            SubnetCommand::Create {
                name,
                vpc_id,
                cidr,
                gateway,
                description,
            } => {
                let gateway = match gateway {
                    Some(g) => g.to_string(),
                    None => parse::first_host(&cidr).map_err(anyhow::Error::msg)?,
                };
                let body = CreateSubnetBody {
                    name: Some(name),
                    vpc_id: Some(vpc_id),
                    cidr: Some(cidr),
                    gateway_ip: Some(gateway),
                    description,
                    ..Default::default()
                };
                let s = c.create_subnet(body).await.api()?;
                emit(out, &json!({ "subnet": s }), || subnet_kv(&s))
            }
            SubnetCommand::List { vpc_id } => {
                let list = c.list_subnets(vpc_id.as_deref()).await.api()?;
                emit(out, &json!({ "subnets": list }), || subnets_table(&list))
            }
            SubnetCommand::Show { id } => {
                let s = c.get_subnet(&id).await.api()?;
                emit(out, &json!({ "subnet": s }), || subnet_kv(&s))
            }
            SubnetCommand::Delete { vpc_id, id } => {
                c.delete_subnet(&vpc_id, &id).await.api()?;
                done(out, format!("subnet {id} deleted"));
                Ok(())
            }
        },
        LabCommand::Sg(cmd) => match cmd {
            SgCommand::Create {
                name,
                vpc_id,
                description,
            } => {
                let g = c
                    .create_security_group(CreateSecurityGroupBody {
                        name: Some(name),
                        vpc_id,
                        description,
                        ..Default::default()
                    })
                    .await
                    .api()?;
                emit(out, &json!({ "security_group": g }), || sg_kv(&g))
            }
            SgCommand::List => {
                let list = c.list_security_groups(None).await.api()?;
                emit(out, &json!({ "security_groups": list }), || {
                    sgs_table(&list)
                })
            }
            SgCommand::Show { id } => {
                let g = c.get_security_group(&id).await.api()?;
                emit(out, &json!({ "security_group": g }), || sg_kv(&g))
            }
            SgCommand::Delete { id } => {
                c.delete_security_group(&id).await.api()?;
                done(out, format!("security group {id} deleted"));
                Ok(())
            }
        },
        LabCommand::SgRule(cmd) => match cmd {
            RuleCommand::Add {
                sg_id,
                direction,
                protocol,
                ports,
                remote_ip,
                remote_group,
                description,
            } => {
                if ports.is_some()
                    && !matches!(protocol, Some(RuleProtocol::Tcp | RuleProtocol::Udp))
                {
                    bail!("--ports needs --protocol tcp or udp");
                }
                let body = CreateSecurityGroupRuleBody {
                    security_group_id: Some(sg_id),
                    description,
                    direction: Some(match direction {
                        Direction::Ingress => "ingress".into(),
                        Direction::Egress => "egress".into(),
                    }),
                    ethertype: Some("IPv4".into()),
                    protocol: protocol.map(|p| {
                        match p {
                            RuleProtocol::Tcp => "tcp",
                            RuleProtocol::Udp => "udp",
                            RuleProtocol::Icmp => "icmp",
                        }
                        .to_string()
                    }),
                    port_range_min: ports.map(|(a, _)| a.into()),
                    port_range_max: ports.map(|(_, b)| b.into()),
                    remote_ip_prefix: remote_ip,
                    remote_group_id: remote_group,
                    ..Default::default()
                };
                let r = c.create_security_group_rule(body).await.api()?;
                emit(out, &json!({ "security_group_rule": r }), || {
                    rules_table(std::slice::from_ref(&r))
                })
            }
            RuleCommand::List { sg_id } => {
                let list = c.list_security_group_rules(sg_id.as_deref()).await.api()?;
                emit(out, &json!({ "security_group_rules": list }), || {
                    rules_table(&list)
                })
            }
            RuleCommand::Delete { id } => {
                c.delete_security_group_rule(&id).await.api()?;
                done(out, format!("security group rule {id} deleted"));
                Ok(())
            }
        },
        LabCommand::Server(cmd) => match cmd {
            ServerCommand::Create {
                name,
                vpc_id,
                nics,
                security_groups,
                wait,
            } => {
                let mut s = c
                    .create_server(&ServerSpec {
                        name,
                        vpc_id,
                        nics,
                        security_groups,
                    })
                    .await
                    .api()?;
                if wait.wait {
                    let id = s.id.clone();
                    s = wait_host(format!("server {id}"), out, &wait, || async {
                        let h = c.get_server(&id).await?;
                        Ok((h.status.clone(), h.fault.clone(), h))
                    })
                    .await?;
                }
                emit(out, &json!({ "server": s }), || server_kv(&s))
            }
            ServerCommand::List => {
                let list = c.list_servers().await.api()?;
                emit(out, &json!({ "servers": list }), || servers_table(&list))
            }
            ServerCommand::Show { id } => {
                let s = c.get_server(&id).await.api()?;
                emit(out, &json!({ "server": s }), || server_kv(&s))
            }
            ServerCommand::Delete { id } => {
                c.delete_server(&id).await.api()?;
                done(out, format!("server {id} deleted"));
                Ok(())
            }
        },
        LabCommand::Lb(cmd) => match cmd {
            LbCommand::Create {
                name,
                vpc_id,
                subnet_id,
                vip,
                listeners,
                wait,
            } => {
                let spec = LoadBalancerSpec {
                    name,
                    vpc_id,
                    subnet_id,
                    vip_address: vip.map(|v| v.to_string()),
                    listeners,
                };
                let mut l = c.create_loadbalancer(&spec).await.api()?;
                if wait.wait {
                    l = wait_lb(&c, l.id.clone(), out, &wait).await?;
                }
                emit(out, &json!({ "loadbalancer": l }), || lb_kv(&l))
            }
            LbCommand::List => {
                let list = c.list_loadbalancers().await.api()?;
                emit(out, &json!({ "loadbalancers": list }), || lbs_table(&list))
            }
            LbCommand::Show { id } => {
                let l = c.get_loadbalancer(&id).await.api()?;
                emit(out, &json!({ "loadbalancer": l }), || lb_kv(&l))
            }
            LbCommand::Update {
                id,
                listeners,
                no_listeners,
                name,
                wait,
            } => {
                let listeners = if no_listeners {
                    Some(Vec::new())
                } else {
                    (!listeners.is_empty()).then_some(listeners)
                };
                if listeners.is_none() && name.is_none() {
                    bail!("nothing to update: give --listener, --no-listeners or --name");
                }
                let mut l = c
                    .update_loadbalancer(&id, &LoadBalancerUpdate { name, listeners })
                    .await
                    .api()?;
                if wait.wait {
                    l = wait_lb(&c, id, out, &wait).await?;
                }
                emit(out, &json!({ "loadbalancer": l }), || lb_kv(&l))
            }
            LbCommand::Delete { id } => {
                c.delete_loadbalancer(&id).await.api()?;
                done(out, format!("load balancer {id} deleted"));
                Ok(())
            }
        },
        LabCommand::Site(cmd) => match cmd {
            SiteCommand::Create {
                name,
                vpc_id,
                cidr,
                wait,
            } => {
                let mut s = c
                    .create_site(&SiteSpec { name, vpc_id, cidr })
                    .await
                    .api()?;
                if wait.wait {
                    let id = s.id.clone();
                    s = wait_host(format!("site {id}"), out, &wait, || async {
                        let h = c.get_site(&id).await?;
                        Ok((h.status.clone(), h.fault.clone(), h))
                    })
                    .await?;
                }
                emit(out, &json!({ "site": s }), || site_kv(&s))
            }
            SiteCommand::List => {
                let list = c.list_sites().await.api()?;
                emit(out, &json!({ "sites": list }), || sites_table(&list))
            }
            SiteCommand::Show { id } => {
                let s = c.get_site(&id).await.api()?;
                emit(out, &json!({ "site": s }), || site_kv(&s))
            }
            SiteCommand::Delete { id } => {
                c.delete_site(&id).await.api()?;
                done(out, format!("site {id} deleted"));
                Ok(())
            }
        },
    }
}

/// The namespace of the server, load balancer or site called `name` (or with that id).
async fn find_lab_namespace(
    c: &vpcep_client::Client,
    names: &vpcep_dataplane::plan::naming::Namespaces,
    name: &str,
) -> anyhow::Result<String> {
    let v: serde_json::Value = c.get(&c.project_path("/lab/servers"), &[]).await?;
    for s in v["servers"].as_array().cloned().unwrap_or_default() {
        if s["name"] == name || s["id"] == name {
            return Ok(names.server(s["id"].as_str().unwrap_or_default()));
        }
    }
    let v: serde_json::Value = c.get(&c.project_path("/lab/loadbalancers"), &[]).await?;
    for s in v["loadbalancers"].as_array().cloned().unwrap_or_default() {
        if s["name"] == name || s["id"] == name {
            return Ok(names.lb(s["id"].as_str().unwrap_or_default()));
        }
    }
    let v: serde_json::Value = c.get(&c.project_path("/lab/sites"), &[]).await?;
    for s in v["sites"].as_array().cloned().unwrap_or_default() {
        if s["name"] == name || s["id"] == name {
            return Ok(names.site(s["id"].as_str().unwrap_or_default()));
        }
    }
    bail!("no server, load balancer or site named '{name}' in this project")
}

async fn wait_lb(
    c: &vpcep_client::Client,
    id: String,
    out: Output,
    wait: &WaitArgs,
) -> anyhow::Result<vpcep_client::lab::LoadBalancer> {
    wait_host(format!("load balancer {id}"), out, wait, || async {
        let h = c.get_loadbalancer(&id).await?;
        Ok((h.status.clone(), h.fault.clone(), h))
    })
    .await
}

/// `--wait` for a lab host: until the data plane reports it `ACTIVE`; `ERROR` fails with the
/// host's fault.
async fn wait_host<T, F, Fut>(
    what: String,
    out: Output,
    args: &WaitArgs,
    mut get: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(String, Option<String>, T), vpcep_client::ClientError>>,
{
    let mut w = Waiter::new(what.clone(), out, args);
    loop {
        let (status, fault, host) = get().await.api()?;
        w.observe(&status);
        match status.as_str() {
            "ACTIVE" => {
                w.finish();
                return Ok(host);
            }
            "ERROR" => {
                w.finish();
                bail!("{what} is ERROR: {}", fault.unwrap_or_default());
            }
            _ => w.tick().await?,
        }
    }
}
