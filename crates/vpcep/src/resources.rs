//! Resource commands over the signed API (service, endpoint, lab, configure).
//!
//! Every command takes the connection options of [`conn::Conn`] (flags, `VPCEP_*` variables, or
//! the config file written by `vpcep configure`) and `-o table|json`.

mod audit;
mod conn;
mod doctor;
mod endpoint;
mod flows;
mod lab;
mod misc;
mod output;
pub(crate) mod parse;
mod service;
mod usage;
mod wait;

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct ConfigureArgs {
    #[command(flatten)]
    conn: conn::Conn,
}

#[derive(Subcommand, Debug)]
pub enum ResourceCommand {
    /// Save endpoint, access key, secret key and project id to the config file (mode 0600).
    Configure(ConfigureArgs),
    /// Endpoint services you offer: create, list, connections, whitelist.
    Service(service::ServiceArgs),
    /// Endpoints: reach a service from one of your VPCs.
    Endpoint(endpoint::EndpointArgs),
    /// Quotas of the project (used / allowed).
    Quota(misc::QuotaArgs),
    /// Tags on endpoint services and endpoints.
    Tag(misc::TagArgs),
    /// Metered usage per endpoint and hour: time accepted, bytes each way (`-o csv` exports).
    Usage(usage::UsageArgs),
    /// The lab network: VPCs, subnets, security groups, servers, load balancers, sites.
    Lab(lab::LabArgs),
    /// Why does a service or endpoint carry no traffic? One line per finding, with the fix.
    Doctor(doctor::DoctorArgs),
    /// The account's audit log: who changed what, when, from where, with what outcome.
    Audit(audit::AuditArgs),
}

pub async fn run(cmd: ResourceCommand) -> anyhow::Result<()> {
    match cmd {
        ResourceCommand::Configure(a) => conn::configure(&a.conn),
        ResourceCommand::Service(a) => service::run(a).await,
        ResourceCommand::Endpoint(a) => endpoint::run(a).await,
        ResourceCommand::Quota(a) => misc::quota(a).await,
        ResourceCommand::Tag(a) => misc::tag(a).await,
        ResourceCommand::Usage(a) => usage::run(a).await,
        ResourceCommand::Lab(a) => lab::run(a).await,
        ResourceCommand::Doctor(a) => doctor::run(a).await,
        ResourceCommand::Audit(a) => audit::run(a).await,
    }
}
