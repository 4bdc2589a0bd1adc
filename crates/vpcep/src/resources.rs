//! Resource commands over the signed API (service, endpoint, lab, configure).

use clap::Subcommand;

#[derive(Subcommand, Debug)]
pub enum ResourceCommand {}

pub async fn run(cmd: ResourceCommand) -> anyhow::Result<()> {
    match cmd {}
}
