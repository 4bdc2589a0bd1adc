//! 终端节点: list with search, create (with 规格确认), detail, delete, live status.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use maud::{Markup, html};
use serde::Deserialize;
use vpcep_control::Caller;
use vpcep_core::command::CreateEndpoint;
use vpcep_core::inventory::{Subnet, Vpc};
use vpcep_core::model::{Endpoint, EndpointService, EndpointStatus};
use vpcep_core::validate;

use crate::ctx::{Ctx, Out, html, html_status, q, redirect};
use crate::errors::PageError;
use crate::form::FormData;
use crate::i18n::M;
use crate::layout::{self, Errors, Field, Nav, confirm_button, endpoint_badge, fmt_time};

pub const PAGE_SIZE: i64 = 50;

#[derive(Deserialize, Default)]
pub struct ListQuery {
    by: Option<String>,
    q: Option<String>,
    offset: Option<i64>,
    msg: Option<String>,
}

pub fn status_url(id: &str) -> String {
    format!("/console/status/endpoint/{}", q(id))
}

pub async fn vpc_names(ctx: &Ctx, caller: &Caller) -> HashMap<String, String> {
    ctx.state
        .control
        .list_vpcs(caller)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|v| (v.id, v.name))
        .collect()
}

fn page_req(offset: i64) -> validate::Page {
    validate::Page {
        limit: PAGE_SIZE,
        offset: offset.max(0),
        sort_key: validate::SortKey::CreatedAt,
        descending: true,
    }
}

pub fn pager(ctx: &Ctx, base: &str, offset: i64, total: i64) -> Markup {
    let prev = (offset > 0).then(|| (offset - PAGE_SIZE).max(0));
    let next = (offset + PAGE_SIZE < total).then_some(offset + PAGE_SIZE);
    let sep = if base.contains('?') { '&' } else { '?' };
    html! {
        div.pager {
            span.muted { (M::Total.fill(ctx.lang, "n", &total.to_string())) }
            @if let Some(p) = prev { a href={ (base) (sep) "offset=" (p) } { "‹" } }
            @if let Some(n) = next { a href={ (base) (sep) "offset=" (n) } { "›" } }
        }
    }
}

pub async fn list(ctx: Ctx, Query(lq): Query<ListQuery>) -> Out {
    let caller = ctx.caller()?.clone();
    let by = match lq.by.as_deref() {
        Some("id") => "id",
        _ => "service_name",
    };
    let text = lq.q.clone().unwrap_or_default().trim().to_string();
    let (name_f, id_f) = if by == "id" {
        (None, Some(text.as_str()))
    } else {
        (Some(text.as_str()), None)
    };
    let offset = lq.offset.unwrap_or(0).max(0);
    let (items, total) = ctx
        .state
        .control
        .list_endpoints(&caller, name_f, None, id_f, page_req(offset))
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let vpcs = vpc_names(&ctx, &caller).await;
    let base = format!("/console/endpoints?by={by}&q={}", q(&text));
    let body = html! {
        div.page-head {
            h1 { (ctx.t(M::Endpoints)) }
            a.btn.btn-primary href="/console/endpoints/new" #create-endpoint { (ctx.t(M::CreateEndpoint)) }
        }
        (layout::flash(&ctx, lq.msg.as_deref()))
        form.search method="get" action="/console/endpoints" role="search" {
            label for="search-by" { (ctx.t(M::SearchBy)) }
            select #search-by name="by" {
                option value="service_name" selected[by == "service_name"] { (ctx.t(M::SearchByServiceName)) }
                option value="id" selected[by == "id"] { (ctx.t(M::SearchByEndpointId)) }
            }
            label.sr-only for="search-q" { (ctx.t(M::SearchText)) }
            input #search-q type="search" name="q" value=(text) placeholder=(ctx.t(M::SearchText));
            button.btn type="submit" { (ctx.t(M::Search)) }
            @if !text.is_empty() { a.btn-link href="/console/endpoints" { (ctx.t(M::Reset)) } }
        }
        div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
            table.list.actions-last #endpoint-table {
                thead { tr {
                    th scope="col" { (ctx.t(M::EndpointId)) }
                    th scope="col" { (ctx.t(M::ServiceName)) }
                    th scope="col" { (ctx.t(M::Status)) }
                    th scope="col" { (ctx.t(M::NodeIp)) }
                    th scope="col" { (ctx.t(M::Vpc)) }
                    th scope="col" { (ctx.t(M::CreatedAt)) }
                    th scope="col" { (ctx.t(M::Operation)) }
                } }
                tbody {
                    @if items.is_empty() { (layout::empty_row(&ctx, 7)) }
                    @for e in &items {
                        tr data-id=(e.id) {
                            td { a.mono href={ "/console/endpoints/" (e.id) } { (e.id) } }
                            td.wrap { (e.service_name) }
                            td { (endpoint_badge(ctx.lang, Some(e.status), e.error.first().map(|x| x.error_message.as_str()), &status_url(&e.id))) }
                            td.mono { (e.ip) }
                            td { (vpcs.get(&e.vpc_id).cloned().unwrap_or_else(|| e.vpc_id.clone())) }
                            td.nowrap { (fmt_time(e.created_ms)) }
                            td {
                                (confirm_button(&ctx, &format!("/console/endpoints/{}/delete", e.id), &[],
                                    ctx.t(M::Delete), &M::ConfirmDeleteEndpoint.fill(ctx.lang, "x", &e.id),
                                    "btn-link danger", &format!("{} {}", ctx.t(M::Delete), e.id)))
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
        ctx.t(M::Endpoints),
        Some(Nav::Endpoints),
        body,
    )))
}

// ---- create -----------------------------------------------------------------------------------

/// The create form's values, as typed.
#[derive(Debug, Clone, Default)]
struct EpForm {
    category: String,
    cloud_service_id: String,
    service_name: String,
    enable_dns: bool,
    vpc_id: String,
    subnet_id: String,
    port_ip: String,
}

impl EpForm {
    fn from(f: &FormData) -> Self {
        Self {
            category: if f.get("category") == "name" {
                "name".into()
            } else {
                "cloud".into()
            },
            cloud_service_id: f.get("cloud_service_id"),
            service_name: f.get("service_name"),
            enable_dns: f.checked("enable_dns"),
            vpc_id: f.get("vpc_id"),
            subnet_id: f.get("subnet_id"),
            port_ip: f.get("port_ip"),
        }
    }
    fn hidden(&self) -> Markup {
        html! {
            input type="hidden" name="category" value=(self.category);
            input type="hidden" name="cloud_service_id" value=(self.cloud_service_id);
            input type="hidden" name="service_name" value=(self.service_name);
            @if self.enable_dns { input type="hidden" name="enable_dns" value="on"; }
            input type="hidden" name="vpc_id" value=(self.vpc_id);
            input type="hidden" name="subnet_id" value=(self.subnet_id);
            input type="hidden" name="port_ip" value=(self.port_ip);
        }
    }
}

/// Find a service the caller may connect to by full name (or id), as 验证 does.
async fn find_service(
    ctx: &Ctx,
    caller: &Caller,
    name: &str,
) -> Result<EndpointService, PageError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(PageError::from(vpcep_core::error::DomainError::Missing {
            field: "endpoint_service_id",
        }));
    }
    let by_id = validate::is_uuid(name);
    ctx.state
        .control
        .describe_service(caller, by_id.then_some(name), (!by_id).then_some(name))
        .await
        .map_err(|e| PageError::from(e).on("endpoint_service_id"))
}

/// The service the form points at.
async fn chosen_service(
    ctx: &Ctx,
    caller: &Caller,
    f: &EpForm,
) -> Result<EndpointService, PageError> {
    if f.category == "cloud" {
        if f.cloud_service_id.is_empty() {
            return Err(PageError::from(vpcep_core::error::DomainError::Missing {
                field: "endpoint_service_id",
            }));
        }
        find_service(ctx, caller, &f.cloud_service_id).await
    } else {
        find_service(ctx, caller, &f.service_name).await
    }
}

const FIELD_MAP: &[(&str, &str)] = &[
    ("endpoint_service_id", "service"),
    ("vpc_id", "vpc_id"),
    ("subnet_id", "subnet_id"),
    ("port_ip", "port_ip"),
];

fn verify_result(ctx: &Ctx, found: Option<bool>) -> Markup {
    html! {
        @match found {
            Some(true) => span.verify-ok { span.dot aria-hidden="true" {} (ctx.t(M::ServiceFound)) },
            Some(false) => span.verify-bad { span.dot aria-hidden="true" {} (ctx.t(M::ServiceNotFound)) " " span.muted { (ctx.t(M::ServiceNotFoundHint)) } },
            None => {},
        }
    }
}

async fn network(ctx: &Ctx, caller: &Caller) -> Result<(Vec<Vpc>, Vec<Subnet>), PageError> {
    let vpcs = ctx.state.control.list_vpcs(caller).await?;
    let subnets = ctx.state.control.list_subnets(caller, None).await?;
    Ok((vpcs, subnets))
}

async fn render_form(
    ctx: &Ctx,
    f: &EpForm,
    errors: &Errors,
    verified: Option<bool>,
    status: StatusCode,
) -> Out {
    let caller = ctx.caller()?.clone();
    let control = &ctx.state.control;
    let (cloud, _) = control
        .list_public_services(&caller, None, None, page_req(0))
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let (vpcs, subnets) = network(ctx, &caller)
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let vpc_sel = if f.vpc_id.is_empty() {
        vpcs.first().map(|v| v.id.clone()).unwrap_or_default()
    } else {
        f.vpc_id.clone()
    };
    let cloud_sel = if f.cloud_service_id.is_empty() {
        cloud.first().map(|s| s.id.clone()).unwrap_or_default()
    } else {
        f.cloud_service_id.clone()
    };
    let subnet_sel = subnets
        .iter()
        .find(|s| s.id == f.subnet_id && s.vpc_id == vpc_sel)
        .or_else(|| subnets.iter().find(|s| s.vpc_id == vpc_sel))
        .map(|s| s.id.clone())
        .unwrap_or_default();
    let is_cloud = f.category == "cloud";
    let svc_err = errors.get("service");

    let f_region = Field::new("region", ctx.t(M::Region)).hint(layout::region_hint(ctx));
    let f_cat = Field::new("category", ctx.t(M::ServiceCategory)).required();
    let f_cloud = Field::new("cloud_service_id", ctx.t(M::SelectService))
        .required()
        .error(if is_cloud { svc_err } else { None });
    let example = format!("{}.web.<id>", caller.region);
    let f_name = Field::new("service_name", ctx.t(M::ServiceName))
        .required()
        .hint(M::ServiceNameHint.fill(ctx.lang, "x", &example))
        .error(if is_cloud { None } else { svc_err });
    let f_dns = Field::new("enable_dns", ctx.t(M::PrivateDomain)).hint(ctx.t(M::PrivateDomainHint));
    let f_vpc = Field::new("vpc_id", ctx.t(M::Vpc))
        .required()
        .error(errors.get("vpc_id"));
    let f_subnet = Field::new("subnet_id", ctx.t(M::Subnet))
        .required()
        .error(errors.get("subnet_id"));
    let f_ip = Field::new("port_ip", ctx.t(M::PortIp))
        .hint(ctx.t(M::PortIpHint))
        .error(errors.get("port_ip"));
    let vpc_label: HashMap<&str, &str> = vpcs
        .iter()
        .map(|v| (v.id.as_str(), v.name.as_str()))
        .collect();

    let body = html! {
        nav.crumbs aria-label="breadcrumb" { a href="/console/endpoints" { (ctx.t(M::Endpoints)) } " / " span { (ctx.t(M::CreateEndpoint)) } }
        h1 { (ctx.t(M::CreateEndpoint)) }
        (layout::form_errors(ctx, errors))
        form.panel.form #endpoint-form method="post" action="/console/endpoints/new" novalidate {
            (layout::csrf(ctx))
            (f_region.wrap(html! {
                input #region type="text" value=(caller.region) readonly aria-describedby=[f_region.described()];
            }))
            div.field.static-field {
                span.field-label { (ctx.t(M::BillingMode)) }
                div.field-control { span { (ctx.t(M::OnDemand)) } }
            }
            (f_cat.wrap_group(html! {
                div.segmented {
                    label { input type="radio" name="category" value="cloud" checked[is_cloud]; span { (ctx.t(M::CloudService)) } }
                    label { input type="radio" name="category" value="name" checked[!is_cloud]; span { (ctx.t(M::FindByName)) } }
                }
            }))
            div data-when="category=cloud" hidden[!is_cloud] {
                (f_cloud.wrap(html! {
                    @if cloud.is_empty() {
                        p.muted #cloud_service_id { (ctx.t(M::NoCloudService)) }
                    } @else {
                        select #cloud_service_id name="cloud_service_id"
                            aria-invalid=[f_cloud.invalid()] aria-describedby=[f_cloud.described()] {
                            @for s in &cloud {
                                option value=(s.id) selected[s.id == cloud_sel] { (s.service_name) }
                            }
                        }
                    }
                }))
            }
            div data-when="category=name" hidden[is_cloud] {
                (f_name.wrap(html! {
                    div.input-with-button {
                        input #service_name type="text" name="service_name" value=(f.service_name)
                            spellcheck="false" autocomplete="off" aria-required="true"
                            aria-invalid=[f_name.invalid()] aria-describedby=[f_name.described()];
                        button.btn #verify-button type="submit" name="op" value="verify" formnovalidate { (ctx.t(M::Verify)) }
                    }
                    p.verify-result #verify-result aria-live="polite" { (verify_result(ctx, verified)) }
                }))
            }
            (f_dns.wrap(html! {
                label.check {
                    input #enable_dns type="checkbox" name="enable_dns" checked[f.enable_dns]
                        aria-describedby=[f_dns.described()];
                    span { (ctx.t(M::CreatePrivateDomain)) }
                }
            }))
            (f_vpc.wrap(html! {
                @if vpcs.is_empty() { p.field-error { (ctx.t(M::NoVpc)) } }
                select #vpc_id name="vpc_id" data-filters="subnet_id" aria-required="true"
                    aria-invalid=[f_vpc.invalid()] aria-describedby=[f_vpc.described()] {
                    @for v in &vpcs {
                        option value=(v.id) selected[v.id == vpc_sel] { (v.name) " (" (v.cidr) ")" }
                    }
                }
            }))
            (f_subnet.wrap(html! {
                select #subnet_id name="subnet_id" aria-required="true"
                    aria-invalid=[f_subnet.invalid()] aria-describedby=[f_subnet.described()] {
                    @for s in &subnets {
                        option value=(s.id) data-vpc=(s.vpc_id) selected[s.id == subnet_sel]
                            hidden[s.vpc_id != vpc_sel] {
                            (s.name) " (" (s.cidr) ") · " (vpc_label.get(s.vpc_id.as_str()).copied().unwrap_or(""))
                        }
                    }
                }
            }))
            (f_ip.wrap(html! {
                input #port_ip type="text" name="port_ip" value=(f.port_ip) inputmode="decimal"
                    spellcheck="false" autocomplete="off"
                    aria-invalid=[f_ip.invalid()] aria-describedby=[f_ip.described()];
            }))
            div.actions.sticky-actions {
                a.btn href="/console/endpoints" { (ctx.t(M::Cancel)) }
                button.btn.btn-primary #create-now type="submit" name="op" value="confirm" { (ctx.t(M::CreateNow)) }
            }
        }
    };
    Ok(html_status(
        status,
        layout::page(ctx, ctx.t(M::CreateEndpoint), Some(Nav::Endpoints), body),
    ))
}

pub async fn new_form(ctx: Ctx) -> Out {
    ctx.caller()?;
    render_form(
        &ctx,
        &EpForm {
            category: "cloud".into(),
            ..Default::default()
        },
        &Errors::none(),
        None,
        StatusCode::OK,
    )
    .await
}

pub async fn new_submit(ctx: Ctx, body: Bytes) -> Out {
    let form = FormData::parse(&body);
    ctx.check_csrf(&form.get("csrf"))?;
    let caller = ctx.caller()?.clone();
    let f = EpForm::from(&form);
    match form.get("op").as_str() {
        "verify" => {
            let found = find_service(&ctx, &caller, &f.service_name).await.is_ok();
            render_form(&ctx, &f, &Errors::none(), Some(found), StatusCode::OK).await
        }
        "back" => render_form(&ctx, &f, &Errors::none(), None, StatusCode::OK).await,
        "submit" => {
            let svc = match chosen_service(&ctx, &caller, &f).await {
                Ok(s) => s,
                Err(e) => {
                    return render_form(
                        &ctx,
                        &f,
                        &Errors::from_api(&ctx, &e, FIELD_MAP),
                        None,
                        ctx.status_of(&e.error),
                    )
                    .await;
                }
            };
            let body = CreateEndpoint {
                endpoint_service_id: Some(svc.id.clone()),
                vpc_id: Some(f.vpc_id.clone()),
                subnet_id: Some(f.subnet_id.clone()),
                enable_dns: Some(f.enable_dns),
                port_ip: Some(f.port_ip.clone()).filter(|s| !s.is_empty()),
                ..Default::default()
            };
            match ctx.state.control.create_endpoint(&caller, body).await {
                Ok(_) => Ok(redirect("/console/endpoints?msg=submitted")),
                Err(e) => {
                    render_form(
                        &ctx,
                        &f,
                        &Errors::from_api(&ctx, &e, FIELD_MAP),
                        None,
                        ctx.status_of(&e),
                    )
                    .await
                }
            }
        }
        _ => confirm_step(&ctx, &caller, &f).await,
    }
}

/// 规格确认: check what can be checked without creating, then show the summary.
async fn confirm_step(ctx: &Ctx, caller: &Caller, f: &EpForm) -> Out {
    let control = &ctx.state.control;
    let svc = match chosen_service(ctx, caller, f).await {
        Ok(s) => Some(s),
        Err(e) => {
            let verified = (f.category == "name").then_some(false);
            return render_form(
                ctx,
                f,
                &Errors::from_api(ctx, &e, FIELD_MAP),
                verified,
                ctx.status_of(&e.error),
            )
            .await;
        }
    };
    let mut errors = Errors::none();
    let vpc = match control.get_vpc(caller, &f.vpc_id).await {
        Ok(v) => Some(v),
        Err(e) => {
            errors.add("vpc_id", ctx.api_message(&e));
            None
        }
    };
    let subnet = match control.get_subnet(caller, &f.subnet_id).await {
        Ok(s) if s.vpc_id == f.vpc_id => Some(s),
        Ok(s) => {
            let e = vpcep_core::error::DomainError::SubnetNotInVpc {
                subnet_id: s.id,
                vpc_id: vpcep_core::error::quoted(&f.vpc_id),
            };
            errors.add("subnet_id", ctx.api_message(&e));
            None
        }
        Err(e) => {
            errors.add("subnet_id", ctx.api_message(&e));
            None
        }
    };
    let (Some(svc), Some(vpc), Some(subnet)) = (svc, vpc, subnet) else {
        return render_form(ctx, f, &errors, None, StatusCode::BAD_REQUEST).await;
    };
    let dash = "—";
    let body = html! {
        nav.crumbs aria-label="breadcrumb" { a href="/console/endpoints" { (ctx.t(M::Endpoints)) } " / " span { (ctx.t(M::CreateEndpoint)) } }
        h1 { (ctx.t(M::SpecConfirm)) }
        p.hint { (ctx.t(M::SpecConfirmHint)) }
        form.panel method="post" action="/console/endpoints/new" #confirm-form {
            (layout::csrf(ctx))
            (f.hidden())
            table.spec {
                tbody {
                    tr { th scope="row" { (ctx.t(M::Region)) } td { (caller.region) } }
                    tr { th scope="row" { (ctx.t(M::BillingMode)) } td { (ctx.t(M::OnDemand)) } }
                    tr { th scope="row" { (ctx.t(M::ServiceCategory)) } td { (ctx.t(if f.category == "cloud" { M::CloudService } else { M::FindByName })) } }
                    tr { th scope="row" { (ctx.t(M::ServiceName)) } td.wrap #spec-service { (svc.service_name) } }
                    tr { th scope="row" { (ctx.t(M::Type)) } td { (ctx.t(M::Interface)) } }
                    tr { th scope="row" { (ctx.t(M::PrivateDomain)) } td { (ctx.t(if f.enable_dns { M::Yes } else { M::No })) } }
                    tr { th scope="row" { (ctx.t(M::Vpc)) } td { (vpc.name) " (" (vpc.cidr) ")" } }
                    tr { th scope="row" { (ctx.t(M::Subnet)) } td { (subnet.name) " (" (subnet.cidr) ")" } }
                    tr { th scope="row" { (ctx.t(M::NodeIp)) } td { @if f.port_ip.is_empty() { (dash) } @else { (f.port_ip) } } }
                }
            }
            div.actions {
                button.btn #back-button type="submit" name="op" value="back" { (ctx.t(M::Back)) }
                button.btn.btn-primary #submit-button type="submit" name="op" value="submit" { (ctx.t(M::Submit)) }
            }
        }
    };
    Ok(html(layout::page(
        ctx,
        ctx.t(M::SpecConfirm),
        Some(Nav::Endpoints),
        body,
    )))
}

#[derive(Deserialize)]
pub struct VerifyQuery {
    service_name: Option<String>,
}

/// The 验证 button (script): answers 已找到服务 / 未找到服务 as a fragment.
pub async fn verify(ctx: Ctx, Query(v): Query<VerifyQuery>) -> Out {
    let Some(auth) = ctx.auth.as_ref() else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    let found = find_service(&ctx, &auth.caller, v.service_name.as_deref().unwrap_or(""))
        .await
        .is_ok();
    Ok(html(verify_result(&ctx, Some(found))))
}

// ---- detail, delete, status -------------------------------------------------------------------

pub async fn detail(ctx: Ctx, Path(id): Path<String>, Query(lq): Query<ListQuery>) -> Out {
    let caller = ctx.caller()?.clone();
    let control = &ctx.state.control;
    let e = control
        .get_endpoint(&caller, &id)
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let vpcs = vpc_names(&ctx, &caller).await;
    let subnet = control.get_subnet(&caller, &e.subnet_id).await.ok();
    let traffic = control.endpoint_recent_traffic(&caller, &e.id).await.ok();
    let body = html! {
        nav.crumbs aria-label="breadcrumb" { a href="/console/endpoints" { (ctx.t(M::Endpoints)) } " / " span.mono { (e.id) } }
        div.page-head {
            h1 { (ctx.t(M::EndpointDetail)) }
            (confirm_button(&ctx, &format!("/console/endpoints/{}/delete", e.id), &[],
                ctx.t(M::Delete), &M::ConfirmDeleteEndpoint.fill(ctx.lang, "x", &e.id), "btn btn-danger",
                &format!("{} {}", ctx.t(M::Delete), e.id)))
        }
        (layout::flash(&ctx, lq.msg.as_deref()))
        section.panel aria-labelledby="basic-title" {
            h2 #basic-title { (ctx.t(M::BasicInfo)) }
            (endpoint_info(&ctx, &e, &vpcs, subnet.as_ref()))
        }
        @if let Some(hour) = &traffic {
            (crate::charts::traffic_panel(ctx.lang, hour))
        }
    };
    Ok(html(layout::page(
        &ctx,
        ctx.t(M::EndpointDetail),
        Some(Nav::Endpoints),
        body,
    )))
}

/// Whether the endpoint's name `name` resolves, as its VPC's resolver would answer now; nothing
/// when this console's process does not run the resolver.
fn dns_state(ctx: &Ctx, e: &Endpoint, name: &str) -> Markup {
    let Some(check) = ctx.state.names.as_ref() else {
        return html! {};
    };
    if e.status != EndpointStatus::Accepted {
        return html! { span.muted.dns-state { (ctx.t(M::DnsAfterAccept)) } br; };
    }
    match check.resolves(&e.vpc_id, name) {
        Some(ips) if !ips.is_empty() => html! {
            span.ok.dns-state #dns-resolves { "✓ " (ctx.t(M::DnsResolves)) " " span.mono { (ips.iter().map(|ip| ip.to_string()).collect::<Vec<_>>().join(", ")) } } br;
        },
        _ => html! { span.muted.dns-state #dns-not-yet { (ctx.t(M::DnsNotYet)) } br; },
    }
}

fn endpoint_info(
    ctx: &Ctx,
    e: &Endpoint,
    vpcs: &HashMap<String, String>,
    subnet: Option<&Subnet>,
) -> Markup {
    html! {
        dl.info #endpoint-info {
            div { dt { (ctx.t(M::EndpointId)) } dd.mono #ep-id { (e.id) } }
            div { dt { (ctx.t(M::Status)) } dd #ep-status { (endpoint_badge(ctx.lang, Some(e.status), e.error.first().map(|x| x.error_message.as_str()), &status_url(&e.id))) } }
            div { dt { (ctx.t(M::ServiceName)) } dd.wrap #ep-service { (e.service_name) } }
            div { dt { (ctx.t(M::NodeIp)) } dd.mono #ep-ip { (e.ip) } }
            div { dt { (ctx.t(M::PrivateDomain)) } dd.wrap #ep-dns {
                @if e.dns_names.is_empty() { "—" }
                @for n in &e.dns_names { span.mono { (n) } br; (dns_state(ctx, e, n)) }
            } }
            div { dt { (ctx.t(M::Type)) } dd { (ctx.t(M::Interface)) } }
            div { dt { (ctx.t(M::Vpc)) } dd { (vpcs.get(&e.vpc_id).cloned().unwrap_or_else(|| e.vpc_id.clone())) } }
            div { dt { (ctx.t(M::Subnet)) } dd {
                @if let Some(s) = subnet { (s.name) " (" (s.cidr) ")" } @else { span.mono { (e.subnet_id) } }
            } }
            div { dt { (ctx.t(M::BillingMode)) } dd { (ctx.t(M::OnDemand)) } }
            div { dt { (ctx.t(M::CreatedAt)) } dd { (fmt_time(e.created_ms)) } }
            @if !e.error.is_empty() {
                div { dt { (ctx.t(M::ErrorInfo)) } dd.wrap {
                    @for er in &e.error { p.failure { (layout::failure_info(ctx, &er.error_code, &er.error_message)) } }
                } }
            }
        }
    }
}

pub async fn delete(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Out {
    let form = FormData::parse(&body);
    ctx.check_csrf(&form.get("csrf"))?;
    let caller = ctx.caller()?.clone();
    let action = format!("/console/endpoints/{}/delete", q(&id));
    if form.get("confirmed") != "1" {
        let question = M::ConfirmDeleteEndpoint.fill(ctx.lang, "x", &id);
        return Ok(html(layout::confirm_page(
            &ctx,
            &action,
            &[],
            &question,
            "/console/endpoints",
        )));
    }
    match ctx.state.control.delete_endpoint(&caller, &id).await {
        Ok(()) => Ok(redirect("/console/endpoints?msg=deleted")),
        Err(e) => Err(ctx.api_error_page(&e).into()),
    }
}

pub async fn status_fragment(ctx: Ctx, Path(id): Path<String>) -> Out {
    let Some(auth) = ctx.auth.as_ref() else {
        return Ok(StatusCode::UNAUTHORIZED.into_response());
    };
    let url = status_url(&id);
    match ctx.state.control.get_endpoint(&auth.caller, &id).await {
        Ok(e) => Ok(html(endpoint_badge(
            ctx.lang,
            Some(e.status),
            e.error.first().map(|x| x.error_message.as_str()),
            &url,
        ))),
        Err(e) if ctx.is_not_found(&e) => Ok(html(endpoint_badge(ctx.lang, None, None, &url))),
        Err(e) => Ok((ctx.status_of(&e), ctx.api_message(&e).text).into_response()),
    }
}
