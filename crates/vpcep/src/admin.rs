//! `vpcep admin`: operator commands working directly on the store (the first account needs no
//! running server).

use anyhow::anyhow;
use clap::{Args, Subcommand, ValueEnum};
use vpcep_control::Control;
use vpcep_control::audit::{AuditEntry, Front};
use vpcep_core::model::QuotaType;

use crate::config::StoreArgs;

#[derive(Args, Debug)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
    #[command(flatten)]
    store: StoreArgs,
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Output::Table)]
    output: Output,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
enum AdminCommand {
    /// Accounts (domain id + one project + AK/SK).
    #[command(subcommand)]
    Account(AccountCommand),
    /// Extra AK/SK pairs.
    #[command(subcommand)]
    Credential(CredentialCommand),
    /// Projects in other regions.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Per-account quotas.
    #[command(subcommand)]
    Quota(QuotaCommand),
    /// Operator cloud services (云服务): usable by every account in the region, no whitelist.
    #[command(subcommand, name = "cloud-service")]
    CloudService(CloudServiceCommand),
}

#[derive(Subcommand, Debug)]
enum CloudServiceCommand {
    /// Publish a backend of the operator account `--account` as a cloud service.
    Create {
        /// Operator account owning the backend (its project in `--region`).
        #[arg(long)]
        account: String,
        #[arg(long)]
        name: String,
        #[arg(long = "vpc")]
        vpc_id: String,
        #[arg(long)]
        port_id: String,
        /// VM or LB.
        #[arg(long, default_value = "VM")]
        server_type: String,
        /// Mappings such as `53:53/udp,53:53/tcp` (client:server/protocol).
        #[arg(long)]
        ports: String,
    },
}

#[derive(Subcommand, Debug)]
enum AccountCommand {
    /// Create an account with a project in `--region`; prints its domain id, project id, AK and
    /// SK (the secret is shown only now).
    Create {
        name: String,
    },
    List,
    Show {
        account: String,
    },
}

#[derive(Subcommand, Debug)]
enum CredentialCommand {
    Create { account: String },
}

#[derive(Subcommand, Debug)]
enum ProjectCommand {
    /// Give an account a project in `--region`.
    Create { account: String },
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum QuotaKind {
    #[value(name = "endpoint_service")]
    EndpointService,
    #[value(name = "endpoint")]
    Endpoint,
}

#[derive(Subcommand, Debug)]
enum QuotaCommand {
    /// Set an account's quota for one resource type.
    Set {
        account: String,
        #[arg(long = "type", value_enum)]
        kind: QuotaKind,
        #[arg(long)]
        limit: i64,
    },
    Show {
        account: String,
    },
}

fn print<T: serde::Serialize>(
    output: Output,
    value: &T,
    table: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    match output {
        Output::Json => println!("{}", serde_json::to_string_pretty(value)?),
        Output::Table => print!("{}", table(value)),
    }
    Ok(())
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let (control, store) = args.store.open().await?;
    let region = args.store.region.clone();
    let out = args.output;
    let result = async {
        match args.command {
            AdminCommand::Account(AccountCommand::Create { name }) => {
                let r = control.create_account(&name, None).await;
                let (domain, project, ids) = match &r {
                    Ok(a) => (a.domain_id.clone(), a.project_id.clone(), vec![a.domain_id.clone(), a.access_key.clone()]),
                    Err(_) => (String::new(), String::new(), vec![]),
                };
                audit(&control, "admin.account.create", domain, project, ids, r.as_ref().map(|_| ())).await;
                let a = r.map_err(api)?;
                print(out, &a, |a| {
                    format!(
                        "account     {}\ndomain_id   {}\nproject_id  {}\nregion      {}\naccess_key  {}\nsecret_key  {}\n\nThe secret key is shown only now; store it safely.\n",
                        a.name, a.domain_id, a.project_id, a.region, a.access_key, a.secret_key
                    )
                })
            }
            AdminCommand::Account(AccountCommand::List) => {
                let list = control.list_accounts().await.map_err(api)?;
                print(out, &list, |list| {
                    let mut s = format!("{:<20} {:<34} {:<34} {}\n", "NAME", "DOMAIN_ID", "PROJECT_ID", "REGION");
                    for a in list {
                        for p in &a.projects {
                            s += &format!("{:<20} {:<34} {:<34} {}\n", a.name, a.domain_id, p.project_id, p.region);
                        }
                    }
                    s
                })
            }
            AdminCommand::Account(AccountCommand::Show { account }) => {
                let a = control.find_account(&account).await.map_err(api)?;
                let v = control.account_view(a).await.map_err(api)?;
                print(out, &v, |v| serde_json::to_string_pretty(v).unwrap_or_default() + "\n")
            }
            AdminCommand::Credential(CredentialCommand::Create { account }) => {
                let domain = account_domain(&control, &account).await;
                let r = control.create_credential(&account).await;
                let ids = r.as_ref().map(|c| vec![c.access_key.clone()]).unwrap_or_default();
                audit(&control, "admin.credential.create", domain, String::new(), ids, r.as_ref().map(|_| ())).await;
                let c = r.map_err(api)?;
                print(out, &c, |c| format!("access_key  {}\nsecret_key  {}\n", c.access_key, c.secret_key))
            }
            AdminCommand::Project(ProjectCommand::Create { account }) => {
                let domain = account_domain(&control, &account).await;
                let r = control.create_project(&account, &region).await;
                let (project, ids) = r.as_ref().map(|p| (p.project_id.clone(), vec![p.project_id.clone()])).unwrap_or_default();
                audit(&control, "admin.project.create", domain, project, ids, r.as_ref().map(|_| ())).await;
                let p = r.map_err(api)?;
                print(out, &p, |p| format!("project_id  {}\nregion      {}\n", p.project_id, p.region))
            }
            AdminCommand::Quota(QuotaCommand::Set { account, kind, limit }) => {
                let t = match kind {
                    QuotaKind::EndpointService => QuotaType::EndpointService,
                    QuotaKind::Endpoint => QuotaType::Endpoint,
                };
                let domain = account_domain(&control, &account).await;
                let r = control.set_quota(&account, t, limit).await;
                audit(&control, "admin.quota.set", domain.clone(), String::new(), vec![domain], r.as_ref().map(|_| ())).await;
                let q = r.map_err(api)?;
                print(out, &q, |q| format!("endpoint_service  {}\nendpoint          {}\n", q.endpoint_service, q.endpoint))
            }
            AdminCommand::CloudService(CloudServiceCommand::Create { account, name, vpc_id, port_id, server_type, ports }) => {
                let caller = control.caller_for_account(&account, &region).await.map_err(api)?;
                let ports = crate::resources::parse::ports(&ports).map_err(|e| anyhow!(e))?.0;
                let command = vpcep_core::command::CreateService {
                    port_id: Some(port_id),
                    vpc_id: Some(vpc_id),
                    server_type: Some(server_type),
                    service_name: Some(name),
                    approval_enabled: Some(false),
                    // One parser per notation: the same `--ports` syntax as `vpcep service create`.
                    ports: Some(ports.into_iter().map(Into::into).collect()),
                    ..Default::default()
                };
                let r = control.create_service_as(&caller, command, true).await;
                let ids = r.as_ref().map(|s| vec![s.id.clone()]).unwrap_or_default();
                audit(&control, "admin.cloud-service.create", caller.domain_id.clone(), caller.project_id.clone(), ids, r.as_ref().map(|_| ())).await;
                let svc = r.map_err(api)?;
                print(out, &vpcep_huawei::vpcep::ServiceOut::from_service(&svc, None), |s| {
                    format!("id            {}\nservice_name  {}\nstatus        {}\n", s.id, s.service_name, s.status)
                })
            }
            AdminCommand::Quota(QuotaCommand::Show { account }) => {
                let a = control.find_account(&account).await.map_err(api)?;
                let q = control.quotas_for(&a.domain_id).await.map_err(api)?;
                print(out, &q, |q| format!("endpoint_service  {}\nendpoint          {}\n", q.endpoint_service, q.endpoint))
            }
        }
    }
    .await;
    store.close().await;
    result
}

/// The account an operator command names, for its audit entry (empty when there is none).
async fn account_domain(control: &Control, account: &str) -> String {
    control
        .find_account(account)
        .await
        .map(|a| a.domain_id)
        .unwrap_or_default()
}

/// Who is at the terminal: the audit log's `source` is `local:<user>` for admin commands.
fn operator() -> String {
    std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "admin".to_string())
}

/// Append the audit entry of a mutating admin command (listed under the account it changed,
/// with the status and code the API would have answered). Secrets shown to the operator are never
/// part of it: an account's or credential's access key id is, its secret key is not. A failure
/// to record is reported on stderr; the command's own outcome stands.
async fn audit(
    control: &Control,
    operation: &str,
    domain_id: String,
    project_id: String,
    resource_ids: Vec<String>,
    outcome: Result<(), &vpcep_core::DomainError>,
) {
    let (status, error_code) = match outcome {
        Ok(()) => (200, String::new()),
        Err(e) => {
            let a = vpcep_huawei::error::vpcep(e);
            (a.status, a.code.to_string())
        }
    };
    let entry = AuditEntry {
        domain_id,
        project_id,
        access_key_id: String::new(),
        front: Front::Admin,
        operation: operation.to_string(),
        resource_ids,
        request_id: vpcep_control::new_uuid(),
        source: format!("local:{}", operator()),
        status,
        error_code,
    };
    if let Err(e) = control.record_audit(entry).await {
        eprintln!("warning: the audit entry of {operation} was not recorded: {e}");
    }
}

/// The CLI's own wording of a domain error (not the API's codes: an operator at a terminal reads
/// it).
fn api(e: vpcep_core::DomainError) -> anyhow::Error {
    anyhow!("{e}")
}
