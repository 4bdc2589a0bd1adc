//! `vpcep quota` and `vpcep tag`.

use clap::{Args, Subcommand, ValueEnum};
use vpcep_client::project::TagResource;

use super::conn::{ApiResultExt, Conn};
use super::output::{Table, done, emit};
use super::parse;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ResourceType {
    #[value(name = "endpoint_service")]
    EndpointService,
    #[value(name = "endpoint")]
    Endpoint,
}

impl ResourceType {
    fn tag_resource(self) -> TagResource {
        match self {
            ResourceType::EndpointService => TagResource::EndpointService,
            ResourceType::Endpoint => TagResource::Endpoint,
        }
    }
}

#[derive(Args, Debug)]
pub struct QuotaArgs {
    #[command(flatten)]
    pub conn: Conn,
    /// Only this resource type.
    #[arg(long = "type", value_enum)]
    kind: Option<ResourceType>,
}

#[derive(Args, Debug)]
pub struct TagArgs {
    #[command(flatten)]
    pub conn: Conn,
    #[command(subcommand)]
    cmd: TagCommand,
}

#[derive(Subcommand, Debug)]
enum TagCommand {
    /// Add tags (an existing key gets the new value).
    Add {
        #[arg(value_enum)]
        resource_type: ResourceType,
        id: String,
        #[arg(required = true, value_name = "KEY=VALUE", value_parser = parse::tag)]
        tags: Vec<(String, String)>,
    },
    /// Remove tags: KEY=VALUE removes that pair, KEY alone removes the key.
    Remove {
        #[arg(value_enum)]
        resource_type: ResourceType,
        id: String,
        #[arg(required = true, value_name = "KEY[=VALUE]")]
        tags: Vec<String>,
    },
}

pub async fn quota(args: QuotaArgs) -> anyhow::Result<()> {
    let out = args.conn.output;
    let client = args.conn.client()?;
    let kind = args
        .kind
        .and_then(|k| k.to_possible_value())
        .map(|v| v.get_name().to_string());
    let q = client.quotas(kind.as_deref()).await.api()?;
    emit(out, &q, || {
        let mut t = Table::new(&["TYPE", "USED", "QUOTA"]);
        for r in &q.quotas.resources {
            t.row(vec![
                r.kind.clone(),
                r.used.to_string(),
                r.quota.to_string(),
            ]);
        }
        t.render()
    })
}

pub async fn tag(args: TagArgs) -> anyhow::Result<()> {
    let out = args.conn.output;
    let client = args.conn.client()?;
    match args.cmd {
        TagCommand::Add {
            resource_type,
            id,
            tags,
        } => {
            client
                .add_tags(resource_type.tag_resource(), &id, &tags)
                .await
                .api()?;
            done(
                out,
                format!(
                    "{} tag(s) set on {} {id}",
                    tags.len(),
                    resource_type.tag_resource().as_path()
                ),
            );
        }
        TagCommand::Remove {
            resource_type,
            id,
            tags,
        } => {
            let pairs: Vec<(String, Option<String>)> = tags
                .iter()
                .map(|t| match t.split_once('=') {
                    Some((k, v)) => (k.to_string(), Some(v.to_string())),
                    None => (t.clone(), None),
                })
                .collect();
            client
                .remove_tags(resource_type.tag_resource(), &id, &pairs)
                .await
                .api()?;
            done(
                out,
                format!(
                    "{} tag(s) removed from {} {id}",
                    pairs.len(),
                    resource_type.tag_resource().as_path()
                ),
            );
        }
    }
    Ok(())
}
