//! 我的凭证, 配额, and a read-only view of the network the pickers offer.

use maud::html;
use vpcep_core::model::QuotaType;

use crate::ctx::{Ctx, Out, html};
use crate::i18n::M;
use crate::layout::{self, Nav};

pub async fn credentials(ctx: Ctx) -> Out {
    let auth = ctx.auth()?.clone();
    let control = &ctx.state.control;
    let account = control
        .account_of(&auth.data.domain_id)
        .await
        .ok()
        .flatten();
    let view = match account {
        Some(a) => control.account_view(a).await.ok(),
        None => None,
    };
    let keys = view.map(|v| v.access_keys).unwrap_or_default();
    let body = html! {
        h1 { (ctx.t(M::CredentialsTitle)) }
        section.panel aria-labelledby="acct-title" {
            h2 #acct-title { (ctx.t(M::BasicInfo)) }
            dl.info {
                div { dt { (ctx.t(M::AccountName)) } dd #account-name { (auth.account_name) } }
                div { dt { (ctx.t(M::AccountId)) } dd.mono #account-id { (auth.data.domain_id) } }
            }
            p.hint { (ctx.t(M::AccountIdHint)) }
            p.mono.copyable #whitelist-example { "iam:domain::" (auth.data.domain_id) }
        }
        section.panel aria-labelledby="proj-title" {
            h2 #proj-title { (ctx.t(M::Projects)) }
            div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
                table.list {
                    thead { tr { th scope="col" { (ctx.t(M::Region)) } th scope="col" { (ctx.t(M::ProjectId)) } } }
                    tbody {
                        @for p in &auth.projects {
                            tr {
                                td { (p.region) @if p.project_id == auth.caller.project_id { " " span.muted { (layout::paren(ctx.lang, ctx.t(M::Current))) } } }
                                td.mono { (p.project_id) }
                            }
                        }
                    }
                }
            }
        }
        section.panel aria-labelledby="keys-title" {
            h2 #keys-title { (ctx.t(M::AccessKeys)) }
            ul.plain { @for k in &keys { li.mono { (k) } } }
            p.hint { (ctx.t(M::SecretNotShown)) }
        }
    };
    Ok(html(layout::page(
        &ctx,
        ctx.t(M::CredentialsTitle),
        Some(Nav::Credentials),
        body,
    )))
}

pub async fn quotas(ctx: Ctx) -> Out {
    let caller = ctx.caller()?.clone();
    let rows = ctx
        .state
        .control
        .quota_usage(&caller, None)
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let body = html! {
        h1 { (ctx.t(M::QuotasTitle)) }
        p.hint { (ctx.t(M::QuotasHint)) }
        div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
            table.list #quota-table {
                thead { tr {
                    th scope="col" { (ctx.t(M::ResourceType)) }
                    th scope="col" { (ctx.t(M::Used)) }
                    th scope="col" { (ctx.t(M::Limit)) }
                } }
                tbody {
                    @for (t, used, limit) in &rows {
                        tr data-type=(t.as_str()) {
                            td { (ctx.t(match t { QuotaType::EndpointService => M::Services, QuotaType::Endpoint => M::Endpoints })) }
                            td { (used) }
                            td { (limit) }
                        }
                    }
                }
            }
        }
    };
    Ok(html(layout::page(
        &ctx,
        ctx.t(M::QuotasTitle),
        Some(Nav::Quotas),
        body,
    )))
}

pub async fn network(ctx: Ctx) -> Out {
    let caller = ctx.caller()?.clone();
    let c = &ctx.state.control;
    let err = |e| ctx.api_error_page(&e);
    let vpcs = c.list_vpcs(&caller).await.map_err(err)?;
    let subnets = c.list_subnets(&caller, None).await.map_err(err)?;
    let lbs = c.list_loadbalancers(&caller).await.map_err(err)?;
    let servers = c.list_servers(&caller).await.map_err(err)?;
    let vpc_name = |id: &str| {
        vpcs.iter()
            .find(|v| v.id == id)
            .map(|v| v.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let body = html! {
        h1 { (ctx.t(M::NetworkTitle)) }
        p.hint { (ctx.t(M::NetworkHint)) }
        section.panel aria-labelledby="vpc-title" {
            h2 #vpc-title { (ctx.t(M::Vpc)) }
            div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) { table.list {
                thead { tr { th scope="col" { (ctx.t(M::Name)) } th scope="col" { (ctx.t(M::Cidr)) } th scope="col" { (ctx.t(M::Id)) } } }
                tbody {
                    @if vpcs.is_empty() { (layout::empty_row(&ctx, 3)) }
                    @for v in &vpcs { tr { td { (v.name) } td.mono { (v.cidr) } td.mono.small { (v.id) } } }
                }
            } }
        }
        section.panel aria-labelledby="subnet-title" {
            h2 #subnet-title { (ctx.t(M::Subnet)) }
            div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) { table.list {
                thead { tr { th scope="col" { (ctx.t(M::Name)) } th scope="col" { (ctx.t(M::Cidr)) } th scope="col" { (ctx.t(M::Gateway)) } th scope="col" { (ctx.t(M::Vpc)) } } }
                tbody {
                    @if subnets.is_empty() { (layout::empty_row(&ctx, 4)) }
                    @for s in &subnets { tr { td { (s.name) } td.mono { (s.cidr) } td.mono { (s.gateway_ip) } td { (vpc_name(&s.vpc_id)) } } }
                }
            } }
        }
        section.panel aria-labelledby="lb-title" {
            h2 #lb-title { (ctx.t(M::LoadBalancers)) }
            div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) { table.list {
                thead { tr { th scope="col" { (ctx.t(M::Name)) } th scope="col" { (ctx.t(M::Vip)) } th scope="col" { (ctx.t(M::Vpc)) } } }
                tbody {
                    @if lbs.is_empty() { (layout::empty_row(&ctx, 3)) }
                    @for l in &lbs { tr { td { (l.name) } td.mono { (l.vip_address) } td { (vpc_name(&l.vpc_id)) } } }
                }
            } }
        }
        section.panel aria-labelledby="srv-title" {
            h2 #srv-title { (ctx.t(M::Servers)) }
            div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) { table.list {
                thead { tr { th scope="col" { (ctx.t(M::Name)) } th scope="col" { (ctx.t(M::Nics)) } th scope="col" { (ctx.t(M::Vpc)) } } }
                tbody {
                    @if servers.is_empty() { (layout::empty_row(&ctx, 3)) }
                    @for (s, nics) in &servers {
                        tr {
                            td { (s.name) }
                            td.mono { @for (i, p) in nics.iter().enumerate() {
                                (if i == 0 { ctx.t(M::PrimaryNic) } else { ctx.t(M::SecondaryNic) }) " " (p.ip_address) br;
                            } }
                            td { (vpc_name(&s.vpc_id)) }
                        }
                    }
                }
            } }
        }
    };
    Ok(html(layout::page(
        &ctx,
        ctx.t(M::NetworkTitle),
        Some(Nav::Network),
        body,
    )))
}
