//! `vpcep`: the one binary. `serve` runs the all-in-one control plane; `admin` works on the same
//! store directly (no server needed); resource commands talk to a server over the signed API.

mod admin;
mod config;
mod resources;
mod serve;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "vpcep",
    version,
    about = "Self-hosted VPC Endpoint service (Huawei VPCEP v1 API)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the all-in-one server (API; later also agent, DNS and console) on embedded SQLite.
    Serve(serve::ServeArgs),
    /// Operator commands on the store: accounts, credentials, projects, quotas.
    Admin(admin::AdminArgs),
    #[command(flatten)]
    Resource(resources::ResourceCommand),
}

fn main() -> std::process::ExitCode {
    if let Err(e) = config::apply_config_file() {
        eprintln!("error: {e:#}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::run(a).await,
            Command::Admin(a) => admin::run(a).await,
            Command::Resource(r) => resources::run(r).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
