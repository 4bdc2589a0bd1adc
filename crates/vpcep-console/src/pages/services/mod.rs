//! 终端节点服务: list, create (with 规格确认), detail tabs (基本信息, 连接管理, 权限管理,
//! 端口映射), whitelist records, accept/reject, delete, live status — a module per part.

mod actions;
mod create;
mod detail;

pub use actions::*;
pub use create::*;
pub use detail::*;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;
use vpcep_control::Caller;
use vpcep_control::console_support::BackendFinding;
use vpcep_control::services::parse_ports;
use vpcep_core::command::{
    AddPermissions, CreateService, DecideConnection, PermissionInput, PortMappingInput,
    RemovePermissions,
};
use vpcep_core::inventory::{LoadBalancer, Port, Server, Vpc};
use vpcep_core::model::{EndpointService, EndpointStatus, PortMapping, ServerType};
use vpcep_core::validate;

use crate::ctx::{Ctx, Out, html, html_status, q, redirect};
use crate::errors::{Msg, PortPart};
use crate::form::FormData;
use crate::i18n::M;
use crate::layout::{
    self, Errors, Field, Nav, confirm_button, endpoint_badge, fmt_time, service_badge,
};
use crate::pages::endpoints::{PAGE_SIZE, pager};

/// The console adds at most this many port mappings (or whitelist records) per operation.
pub const MAX_ROWS: usize = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    q: Option<String>,
    offset: Option<i64>,
    msg: Option<String>,
}

fn status_url(id: &str) -> String {
    format!("/console/status/service/{}", q(id))
}

fn conn_status_url(sid: &str, eid: &str) -> String {
    format!("/console/status/connection/{}/{}", q(sid), q(eid))
}

fn page_req(offset: i64, limit: i64) -> validate::Page {
    validate::Page {
        limit,
        offset: offset.max(0),
        sort_key: validate::SortKey::CreatedAt,
        descending: true,
    }
}

fn backend_type(ctx: &Ctx, t: ServerType) -> &'static str {
    match t {
        ServerType::LB => ctx.t(M::BackendLb),
        ServerType::VM | ServerType::VIP => ctx.t(M::BackendVm),
    }
}

pub async fn list(ctx: Ctx, Query(lq): Query<ListQuery>) -> Out {
    let caller = ctx.caller()?.clone();
    let control = &ctx.state.control;
    let text = lq.q.clone().unwrap_or_default().trim().to_string();
    let offset = lq.offset.unwrap_or(0).max(0);
    let (items, total) = control
        .list_services(
            &caller,
            Some(&text),
            None,
            None,
            page_req(offset, PAGE_SIZE),
        )
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let ids: Vec<String> = items.iter().map(|s| s.id.clone()).collect();
    let counts = control.connection_counts(&ids).await.unwrap_or_default();
    let base = format!("/console/services?q={}", q(&text));
    let body = html! {
        div.page-head {
            h1 { (ctx.t(M::Services)) }
            a.btn.btn-primary href="/console/services/new" #create-service { (ctx.t(M::CreateService)) }
        }
        (layout::flash(&ctx, lq.msg.as_deref()))
        form.search method="get" action="/console/services" role="search" {
            label for="search-q" { (ctx.t(M::ServiceName)) }
            input #search-q type="search" name="q" value=(text) placeholder=(ctx.t(M::SearchText));
            button.btn type="submit" { (ctx.t(M::Search)) }
            @if !text.is_empty() { a.btn-link href="/console/services" { (ctx.t(M::Reset)) } }
        }
        div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
            table.list.actions-last #service-table {
                thead { tr {
                    th scope="col" { (ctx.t(M::Name)) }
                    th scope="col" { (ctx.t(M::Id)) }
                    th scope="col" { (ctx.t(M::Status)) }
                    th scope="col" { (ctx.t(M::ServiceType)) }
                    th scope="col" { (ctx.t(M::BackendType)) }
                    th scope="col" { (ctx.t(M::Approval)) }
                    th scope="col" { (ctx.t(M::ConnectionCount)) }
                    th scope="col" { (ctx.t(M::CreatedAt)) }
                    th scope="col" { (ctx.t(M::Operation)) }
                } }
                tbody {
                    @if items.is_empty() { (layout::empty_row(&ctx, 9)) }
                    @for s in &items {
                        tr data-id=(s.id) {
                            td.wrap { a href={ "/console/services/" (s.id) } { (s.service_name) } }
                            td.mono.small { (s.id) }
                            td { (service_badge(ctx.lang, Some(s.status), s.error.first().map(|x| x.message.as_str()), &status_url(&s.id))) }
                            td { (ctx.t(M::Interface)) }
                            td.nowrap { (backend_type(&ctx, s.server_type)) }
                            td { (ctx.t(if s.approval_enabled { M::On } else { M::Off })) }
                            td { (counts.get(&s.id).copied().unwrap_or(0)) }
                            td.nowrap { (fmt_time(s.created_ms)) }
                            td {
                                (confirm_button(&ctx, &format!("/console/services/{}/delete", s.id), &[],
                                    ctx.t(M::Delete), &M::ConfirmDeleteService.fill(ctx.lang, "x", &s.service_name),
                                    "btn-link danger", &format!("{} {}", ctx.t(M::Delete), s.service_name)))
                            }
                        }
                    }
                }
            }
        }
        (pager(&ctx, &base, offset, total))
    };
    Ok(html(layout::page(
        &ctx,
        ctx.t(M::Services),
        Some(Nav::Services),
        body,
    )))
}

// ---- live status ------------------------------------------------------------------------------

pub async fn status_fragment(ctx: Ctx, Path(id): Path<String>) -> Out {
    let Some(auth) = ctx.auth.as_ref() else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    let url = status_url(&id);
    match ctx.state.control.get_service(&auth.caller, &id).await {
        Ok(s) => Ok(html(service_badge(
            ctx.lang,
            Some(s.status),
            s.error.first().map(|x| x.message.as_str()),
            &url,
        ))),
        Err(e) if ctx.is_not_found(&e) => Ok(html(service_badge(ctx.lang, None, None, &url))),
        Err(e) => Ok((ctx.status_of(&e), ctx.api_message(&e).text).into_response()),
    }
}

pub async fn connection_status_fragment(ctx: Ctx, Path((sid, eid)): Path<(String, String)>) -> Out {
    let Some(auth) = ctx.auth.as_ref() else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    let url = conn_status_url(&sid, &eid);
    match ctx
        .state
        .control
        .list_connections(&auth.caller, &sid, Some(&eid), None, None, page_req(0, 1))
        .await
    {
        Ok((list, _)) => Ok(html(endpoint_badge(
            ctx.lang,
            list.first().map(|e| e.status),
            list.first()
                .and_then(|e| e.error.first())
                .map(|x| x.error_message.as_str()),
            &url,
        ))),
        Err(e) if ctx.is_not_found(&e) => Ok(html(endpoint_badge(ctx.lang, None, None, &url))),
        Err(e) => Ok((ctx.status_of(&e), ctx.api_message(&e).text).into_response()),
    }
}
