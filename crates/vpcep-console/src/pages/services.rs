//! 终端节点服务: list, create (with 规格确认), detail tabs (基本信息, 连接管理, 权限管理,
//! 端口映射), whitelist records, accept/reject, delete, live status.

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
use vpcep_huawei::ApiError;

use crate::ctx::{Ctx, Out, html, html_status, q, redirect};
use crate::errors::{Msg, PortPart, localize};
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

fn bad(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST)
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

// ---- create -----------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct PortRow {
    protocol: String,
    server: String,
    client: String,
}

impl PortRow {
    fn blank() -> Self {
        Self {
            protocol: "TCP".into(),
            server: String::new(),
            client: String::new(),
        }
    }
    fn is_blank(&self) -> bool {
        self.server.is_empty() && self.client.is_empty()
    }
    fn input(&self) -> PortMappingInput {
        PortMappingInput {
            client_port: self.client.parse().ok(),
            server_port: self.server.parse().ok(),
            protocol: Some(self.protocol.clone()),
        }
    }
}

#[derive(Debug, Clone)]
struct SvcForm {
    name: String,
    vpc_id: String,
    approval: bool,
    server_type: String,
    lb_port_id: String,
    vm_port_id: String,
    ports: Vec<PortRow>,
}

impl Default for SvcForm {
    fn default() -> Self {
        Self {
            name: String::new(),
            vpc_id: String::new(),
            approval: true,
            server_type: "LB".into(),
            lb_port_id: String::new(),
            vm_port_id: String::new(),
            ports: vec![PortRow::blank()],
        }
    }
}

impl SvcForm {
    fn from(f: &FormData) -> Self {
        let protos = f.all("port_protocol");
        let servers = f.all("port_server");
        let clients = f.all("port_client");
        let n = protos.len().max(servers.len()).max(clients.len());
        let ports = (0..n)
            .map(|i| PortRow {
                protocol: protos.get(i).cloned().unwrap_or_else(|| "TCP".into()),
                server: servers.get(i).cloned().unwrap_or_default(),
                client: clients.get(i).cloned().unwrap_or_default(),
            })
            .collect();
        Self {
            name: f.get("service_name"),
            vpc_id: f.get("vpc_id"),
            approval: f.get("approval") != "off",
            server_type: if f.get("server_type") == "VM" {
                "VM".into()
            } else {
                "LB".into()
            },
            lb_port_id: f.get("lb_port_id"),
            vm_port_id: f.get("vm_port_id"),
            ports,
        }
    }

    fn port_id(&self) -> &str {
        if self.server_type == "VM" {
            &self.vm_port_id
        } else {
            &self.lb_port_id
        }
    }

    fn hidden(&self) -> Markup {
        html! {
            input type="hidden" name="service_name" value=(self.name);
            input type="hidden" name="vpc_id" value=(self.vpc_id);
            input type="hidden" name="approval" value=(if self.approval { "on" } else { "off" });
            input type="hidden" name="server_type" value=(self.server_type);
            input type="hidden" name="lb_port_id" value=(self.lb_port_id);
            input type="hidden" name="vm_port_id" value=(self.vm_port_id);
            @for p in &self.ports {
                input type="hidden" name="port_protocol" value=(p.protocol);
                input type="hidden" name="port_server" value=(p.server);
                input type="hidden" name="port_client" value=(p.client);
            }
        }
    }

    /// Check the form with the core's rules (the same the API applies), row by row first so a
    /// message lands next to its row and marks only the wrong input. Returns the parsed mappings.
    fn check(&self, ctx: &Ctx) -> Result<Vec<PortMapping>, Errors> {
        let mut errors = Errors::none();
        if !self.name.is_empty()
            && let Err(e) = validate::service_short_name(&self.name)
        {
            errors.add("service_name", ctx.api_message(&e));
        }
        let rows: Vec<(usize, &PortRow)> = self
            .ports
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_blank())
            .collect();
        if rows.len() > MAX_ROWS {
            errors.add("ports", ctx.t(M::PortsLimit));
        }
        let mut row_errors = false;
        for (i, r) in &rows {
            if let Err(e) = parse_ports(&[r.input()]) {
                let l = localize(&e, ctx.lang);
                let parts = match l.part {
                    Some(p) => vec![p],
                    // A mapping without one of its ports: the empty one is wrong.
                    None => [(PortPart::Server, &r.server), (PortPart::Client, &r.client)]
                        .into_iter()
                        .filter(|(_, v)| v.is_empty())
                        .map(|(p, _)| p)
                        .collect(),
                };
                for p in parts {
                    errors.mark(format!("{}_{i}", p.input_name()));
                }
                errors.add(&format!("ports.{i}"), l.msg);
                row_errors = true;
            }
        }
        let parsed = if errors.get("ports").is_none() {
            let inputs: Vec<PortMappingInput> = rows.iter().map(|(_, r)| r.input()).collect();
            match parse_ports(&inputs) {
                Ok(p) => Some(p),
                Err(e) => {
                    if !row_errors {
                        let l = localize(&e, ctx.lang);
                        // A repeated port: mark its later occurrences only.
                        if let (Some(part), Some((proto, port))) = (l.part, &l.duplicate) {
                            let mut seen = false;
                            for (i, r) in &rows {
                                let value = match part {
                                    PortPart::Client => &r.client,
                                    _ => &r.server,
                                };
                                let same = r.protocol.eq_ignore_ascii_case(proto)
                                    && value.parse::<u16>().ok() == Some(*port);
                                if same && seen {
                                    errors.mark(format!("{}_{i}", part.input_name()));
                                }
                                seen |= same;
                            }
                        }
                        errors.add("ports", l.msg);
                    }
                    None
                }
            }
        } else {
            None
        };
        match parsed {
            Some(p) if errors.is_empty() => Ok(p),
            _ => Err(errors),
        }
    }

    fn command(&self) -> CreateService {
        let rows: Vec<PortMappingInput> = self
            .ports
            .iter()
            .filter(|r| !r.is_blank())
            .map(PortRow::input)
            .collect();
        CreateService {
            port_id: Some(self.port_id().to_string()),
            service_name: Some(self.name.clone()).filter(|s| !s.is_empty()),
            vpc_id: Some(self.vpc_id.clone()),
            approval_enabled: Some(self.approval),
            service_type: Some("interface".into()),
            server_type: Some(self.server_type.clone()),
            ports: Some(rows),
            ..Default::default()
        }
    }
}

const FIELD_MAP: &[(&str, &str)] = &[
    ("service_name", "service_name"),
    ("vpc_id", "vpc_id"),
    ("port_id", "port_id"),
    ("server_type", "port_id"),
    ("ports", "ports"),
];

struct Network {
    vpcs: Vec<Vpc>,
    lbs: Vec<LoadBalancer>,
    servers: Vec<(Server, Vec<Port>)>,
}

async fn network(ctx: &Ctx, caller: &Caller) -> Result<Network, ApiError> {
    let c = &ctx.state.control;
    Ok(Network {
        vpcs: c.list_vpcs(caller).await?,
        lbs: c.list_loadbalancers(caller).await?,
        servers: c.list_servers(caller).await?,
    })
}

fn nic_label(ctx: &Ctx, i: usize, p: &Port) -> String {
    let kind = if i == 0 {
        ctx.t(M::PrimaryNic)
    } else {
        ctx.t(M::SecondaryNic)
    };
    format!("{kind} · {}", p.ip_address)
}

fn port_row(ctx: &Ctx, i: usize, r: &PortRow, err: Option<&Msg>, errors: &Errors) -> Markup {
    let n = (i + 1).to_string();
    let row_label = M::Row.fill(ctx.lang, "n", &n);
    let err_id = format!("ports-{i}-err");
    // Only the wrong input is marked; it points at its row's message, or at the list's.
    let described = if err.is_some() {
        err_id.clone()
    } else {
        "ports-err".to_string()
    };
    let bad = |part: PortPart| {
        errors
            .marked(&format!("{}_{i}", part.input_name()))
            .then_some("true")
    };
    let desc = |part: PortPart| bad(part).map(|_| described.clone());
    html! {
        tr.port-row class=[err.map(|_| "has-error")] {
            td {
                label.sr-only for={ "port_protocol_" (i) } { (row_label) " " (ctx.t(M::Protocol)) }
                select id={ "port_protocol_" (i) } name="port_protocol"
                    aria-invalid=[bad(PortPart::Protocol)] aria-describedby=[desc(PortPart::Protocol)] {
                    option value="TCP" selected[r.protocol != "UDP"] { "TCP" }
                    option value="UDP" selected[r.protocol == "UDP"] { "UDP" }
                }
            }
            td {
                label.sr-only for={ "port_server_" (i) } { (row_label) " " (ctx.t(M::ServerPort)) }
                input.port-input id={ "port_server_" (i) } type="number" name="port_server" value=(r.server)
                    min="1" max="65535" inputmode="numeric" placeholder="1-65535"
                    aria-invalid=[bad(PortPart::Server)] aria-describedby=[desc(PortPart::Server)];
            }
            td {
                label.sr-only for={ "port_client_" (i) } { (row_label) " " (ctx.t(M::ClientPort)) }
                input.port-input id={ "port_client_" (i) } type="number" name="port_client" value=(r.client)
                    min="1" max="65535" inputmode="numeric" placeholder="1-65535"
                    aria-invalid=[bad(PortPart::Client)] aria-describedby=[desc(PortPart::Client)];
            }
            td {
                button.btn-link.remove-row type="submit" name="op" value={ "del-port-" (i) }
                    aria-label={ (ctx.t(M::RemoveRow)) " " (row_label) } { (ctx.t(M::RemoveRow)) }
                @if let Some(e) = err { p.field-error id=(err_id) { (e) } }
            }
        }
    }
}

fn empty_port_row_template(ctx: &Ctx) -> Markup {
    html! {
        template #port-row-template {
            (port_row(ctx, 9999, &PortRow::blank(), None, &Errors::none()))
        }
    }
}

async fn render_form(ctx: &Ctx, f: &SvcForm, errors: &Errors, status: StatusCode) -> Out {
    let caller = ctx.caller()?.clone();
    let net = network(ctx, &caller)
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let vpc_sel = if f.vpc_id.is_empty() {
        net.vpcs.first().map(|v| v.id.clone()).unwrap_or_default()
    } else {
        f.vpc_id.clone()
    };
    // Offer only the backend types the chosen VPC has (console.js follows a VPC change).
    let lb_in_vpc = net.lbs.iter().any(|l| l.vpc_id == vpc_sel);
    let vm_in_vpc = net.servers.iter().any(|(s, _)| s.vpc_id == vpc_sel);
    let any_backend = lb_in_vpc || vm_in_vpc;
    let is_lb = match (f.server_type != "VM", lb_in_vpc, vm_in_vpc) {
        (true, false, true) => false,
        (false, true, false) => true,
        (wanted, _, _) => wanted,
    };
    let f_region = Field::new("region", ctx.t(M::Region)).hint(layout::region_hint(ctx));
    let f_name = Field::new("service_name", ctx.t(M::ServiceNameShort))
        .hint(ctx.t(M::ServiceShortHint))
        .error(errors.get("service_name"));
    let f_vpc = Field::new("vpc_id", ctx.t(M::Vpc))
        .required()
        .error(errors.get("vpc_id"));
    let f_type = Field::new("service_type", ctx.t(M::ServiceType)).hint(ctx.t(M::ServiceTypeHint));
    let f_appr = Field::new("approval", ctx.t(M::Approval)).hint(ctx.t(M::ApprovalHint));
    let rows_used = f.ports.len();
    let left = MAX_ROWS.saturating_sub(rows_used);
    let f_ports = Field::new("ports", ctx.t(M::PortMappings))
        .required()
        .hint(M::PortsLeft.fill(ctx.lang, "n", &left.to_string()))
        .error(errors.get("ports"));
    let port_err = errors.get("port_id");
    // With no backend in the VPC there is no picker to show a backend error under.
    let f_btype = Field::new("server_type", ctx.t(M::BackendType))
        .required()
        .hint(ctx.t(M::BackendLimitNote))
        .error(if any_backend || net.vpcs.is_empty() {
            None
        } else {
            port_err
        });
    let f_lb = Field::new("lb_port_id", ctx.t(M::SelectLb))
        .required()
        .error(if is_lb { port_err } else { None });
    let f_vm = Field::new("vm_port_id", ctx.t(M::SelectNic))
        .required()
        .error(if is_lb { None } else { port_err });

    let body = html! {
        nav.crumbs aria-label="breadcrumb" { a href="/console/services" { (ctx.t(M::Services)) } " / " span { (ctx.t(M::CreateService)) } }
        h1 { (ctx.t(M::CreateService)) }
        (layout::form_errors(ctx, errors))
        form.panel.form #service-form method="post" action="/console/services/new" novalidate {
            (layout::csrf(ctx))
            (f_region.wrap(html! {
                input #region type="text" value=(caller.region) readonly aria-describedby=[f_region.described()];
            }))
            (f_name.wrap(html! {
                input #service_name type="text" name="service_name" value=(f.name) maxlength="64"
                    spellcheck="false" autocomplete="off"
                    aria-invalid=[f_name.invalid()] aria-describedby=[f_name.described()];
            }))
            (f_vpc.wrap(html! {
                @if net.vpcs.is_empty() { p.field-error { (ctx.t(M::NoVpc)) } }
                select #vpc_id name="vpc_id" data-filters="lb_port_id vm_port_id" aria-required="true"
                    aria-invalid=[f_vpc.invalid()] aria-describedby=[f_vpc.described()] {
                    @for v in &net.vpcs {
                        option value=(v.id) selected[v.id == vpc_sel] { (v.name) " (" (v.cidr) ")" }
                    }
                }
            }))
            (f_type.wrap_group(html! {
                div.segmented {
                    label { input type="radio" name="service_type" value="interface" checked aria-describedby=[f_type.described()]; span { (ctx.t(M::Interface)) } }
                }
            }))
            (f_appr.wrap_group(html! {
                div.segmented {
                    label { input type="radio" name="approval" value="on" checked[f.approval] aria-describedby=[f_appr.described()]; span { (ctx.t(M::On)) } }
                    label { input type="radio" name="approval" value="off" checked[!f.approval]; span { (ctx.t(M::Off)) } }
                }
            }))
            (f_ports.wrap_group(html! {
                div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
                    table.ports.actions-last #port-table data-max=(MAX_ROWS) {
                        thead { tr {
                            th scope="col" { (ctx.t(M::Protocol)) }
                            th scope="col" { (ctx.t(M::ServerPort)) }
                            th scope="col" { (ctx.t(M::ClientPort)) }
                            th scope="col" { span.sr-only { (ctx.t(M::Operation)) } }
                        } }
                        tbody #port-rows {
                            @for (i, r) in f.ports.iter().enumerate() {
                                (port_row(ctx, i, r, errors.get(&format!("ports.{i}")), errors))
                            }
                        }
                    }
                }
                (empty_port_row_template(ctx))
                button.btn.btn-small #add-port type="submit" name="op" value="add-port"
                    disabled[rows_used >= MAX_ROWS] { "+ " (ctx.t(M::AddPortMapping)) }
                span.sr-only #ports-left-template data-text=(M::PortsLeft.t(ctx.lang)) {}
            }))
            (f_btype.wrap_group(html! {
                div.segmented hidden[!any_backend && !net.vpcs.is_empty()] {
                    label data-backend-type="LB" data-backend-select="lb_port_id" hidden[any_backend && !lb_in_vpc] {
                        input type="radio" name="server_type" value="LB" checked[is_lb] disabled[any_backend && !lb_in_vpc] aria-describedby=[f_btype.described()];
                        span { (ctx.t(M::BackendLb)) }
                    }
                    label data-backend-type="VM" data-backend-select="vm_port_id" hidden[any_backend && !vm_in_vpc] {
                        input type="radio" name="server_type" value="VM" checked[!is_lb] disabled[any_backend && !vm_in_vpc];
                        span { (ctx.t(M::BackendVm)) }
                    }
                }
                p.field-error #no-backend hidden[any_backend || net.vpcs.is_empty()] { (ctx.t(M::NoBackend)) }
                div.note role="note" #sg-note { (ctx.t(M::SgNote)) }
            }))
            div data-when="server_type=LB" hidden[!is_lb || !lb_in_vpc && !net.vpcs.is_empty()] {
                (f_lb.wrap(html! {
                    select #lb_port_id name="lb_port_id" aria-required="true"
                        aria-invalid=[f_lb.invalid()] aria-describedby=[f_lb.described()] {
                        @for l in &net.lbs {
                            option value=(l.vip_port_id) data-vpc=(l.vpc_id) selected[l.vip_port_id == f.lb_port_id]
                                hidden[l.vpc_id != vpc_sel] { (l.name) " (" (l.vip_address) ")" }
                        }
                    }
                    p.muted.empty-hint data-empty-for="lb_port_id" hidden[lb_in_vpc] { (ctx.t(M::NoLb)) }
                }))
            }
            div data-when="server_type=VM" hidden[is_lb || !vm_in_vpc && !net.vpcs.is_empty()] {
                (f_vm.wrap(html! {
                    select #vm_port_id name="vm_port_id" aria-required="true"
                        aria-invalid=[f_vm.invalid()] aria-describedby=[f_vm.described()] {
                        @for (s, nics) in &net.servers {
                            optgroup label=(s.name) data-vpc=(s.vpc_id) hidden[s.vpc_id != vpc_sel] {
                                @for (i, p) in nics.iter().enumerate() {
                                    option value=(p.id) data-vpc=(s.vpc_id) selected[p.id == f.vm_port_id]
                                        hidden[s.vpc_id != vpc_sel] { (s.name) " · " (nic_label(ctx, i, p)) }
                                }
                            }
                        }
                    }
                    p.muted.empty-hint data-empty-for="vm_port_id" hidden[vm_in_vpc] { (ctx.t(M::NoServer)) }
                }))
            }
            div.actions.sticky-actions {
                a.btn href="/console/services" { (ctx.t(M::Cancel)) }
                button.btn.btn-primary #create-now type="submit" name="op" value="confirm" { (ctx.t(M::CreateNow)) }
            }
        }
    };
    Ok(html_status(
        status,
        layout::page(ctx, ctx.t(M::CreateService), Some(Nav::Services), body),
    ))
}

pub async fn new_form(ctx: Ctx) -> Out {
    ctx.caller()?;
    render_form(&ctx, &SvcForm::default(), &Errors::none(), StatusCode::OK).await
}

pub async fn new_submit(ctx: Ctx, body: Bytes) -> Out {
    let form = FormData::parse(&body);
    ctx.check_csrf(&form.get("csrf"))?;
    let caller = ctx.caller()?.clone();
    let mut f = SvcForm::from(&form);
    let op = form.get("op");
    if op == "add-port" {
        if f.ports.len() < MAX_ROWS {
            f.ports.push(PortRow::blank());
        }
        return render_form(&ctx, &f, &Errors::none(), StatusCode::OK).await;
    }
    if let Some(i) = op
        .strip_prefix("del-port-")
        .and_then(|i| i.parse::<usize>().ok())
    {
        if i < f.ports.len() {
            f.ports.remove(i);
        }
        if f.ports.is_empty() {
            f.ports.push(PortRow::blank());
        }
        return render_form(&ctx, &f, &Errors::none(), StatusCode::OK).await;
    }
    if op == "back" {
        return render_form(&ctx, &f, &Errors::none(), StatusCode::OK).await;
    }
    let mappings = match f.check(&ctx) {
        Ok(m) => m,
        Err(errors) => return render_form(&ctx, &f, &errors, StatusCode::BAD_REQUEST).await,
    };
    if op == "submit" {
        return match ctx.state.control.create_service(&caller, f.command()).await {
            Ok(_) => Ok(redirect("/console/services?msg=submitted")),
            Err(e) => {
                let errors = Errors::from_api(&ctx, &e, FIELD_MAP);
                render_form(&ctx, &f, &errors, bad(ApiError::from(e.clone()).status)).await
            }
        };
    }
    confirm_step(&ctx, &caller, &f, &mappings).await
}

async fn confirm_step(ctx: &Ctx, caller: &Caller, f: &SvcForm, mappings: &[PortMapping]) -> Out {
    let net = network(ctx, caller)
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let mut errors = Errors::none();
    let vpc = net.vpcs.iter().find(|v| v.id == f.vpc_id);
    if vpc.is_none() {
        let e = vpcep_core::error::DomainError::UnknownReference {
            field: "vpc_id",
            kind: vpcep_core::error::Thing::Vpc,
            id: vpcep_core::error::quoted(&f.vpc_id),
        };
        errors.add("vpc_id", ctx.api_message(&e));
    }
    // The backend is checked here, before 提交: chosen, existing, and in the chosen VPC.
    let slot = "port_id";
    let pick = if f.server_type == "VM" {
        M::PickNic
    } else {
        M::PickLb
    };
    let found: Option<(String, &str)> = if f.server_type == "VM" {
        net.servers.iter().find_map(|(s, nics)| {
            nics.iter()
                .enumerate()
                .find(|(_, p)| p.id == f.vm_port_id)
                .map(|(i, p)| {
                    (
                        format!("{} · {}", s.name, nic_label(ctx, i, p)),
                        s.vpc_id.as_str(),
                    )
                })
        })
    } else {
        net.lbs
            .iter()
            .find(|l| l.vip_port_id == f.lb_port_id)
            .map(|l| (format!("{} ({})", l.name, l.vip_address), l.vpc_id.as_str()))
    };
    let backend = match found {
        _ if f.port_id().is_empty() => {
            errors.add(slot, ctx.t(pick));
            None
        }
        None => {
            let e = vpcep_core::error::DomainError::UnknownReference {
                field: "port_id",
                kind: vpcep_core::error::Thing::Port,
                id: vpcep_core::error::quoted(f.port_id()),
            };
            errors.add(slot, ctx.api_message(&e));
            None
        }
        Some((_, vpc_id)) if vpc.is_some() && vpc_id != f.vpc_id => {
            let e = vpcep_core::error::DomainError::PortNotInVpc {
                port_id: vpcep_core::error::quoted(f.port_id()),
                vpc_id: vpcep_core::error::quoted(&f.vpc_id),
            };
            errors.add(slot, ctx.api_message(&e));
            None
        }
        Some((label, _)) => Some(label),
    };
    let (Some(vpc), Some(backend)) = (vpc, backend) else {
        return render_form(ctx, f, &errors, StatusCode::BAD_REQUEST).await;
    };
    let name_preview = if f.name.is_empty() {
        format!("{}.{{service_id}}", caller.region)
    } else {
        format!("{}.{}.{{service_id}}", caller.region, f.name)
    };
    let body = html! {
        nav.crumbs aria-label="breadcrumb" { a href="/console/services" { (ctx.t(M::Services)) } " / " span { (ctx.t(M::CreateService)) } }
        h1 { (ctx.t(M::SpecConfirm)) }
        p.hint { (ctx.t(M::SpecConfirmHint)) }
        form.panel method="post" action="/console/services/new" #confirm-form {
            (layout::csrf(ctx))
            (f.hidden())
            table.spec {
                tbody {
                    tr { th scope="row" { (ctx.t(M::Region)) } td { (caller.region) } }
                    tr { th scope="row" { (ctx.t(M::ServiceNameShort)) } td.wrap #spec-name { (name_preview) } }
                    tr { th scope="row" { (ctx.t(M::Vpc)) } td { (vpc.name) " (" (vpc.cidr) ")" } }
                    tr { th scope="row" { (ctx.t(M::ServiceType)) } td { (ctx.t(M::Interface)) } }
                    tr { th scope="row" { (ctx.t(M::Approval)) } td #spec-approval { (ctx.t(if f.approval { M::On } else { M::Off })) } }
                    tr { th scope="row" { (ctx.t(M::BackendType)) } td { (ctx.t(if f.server_type == "VM" { M::BackendVm } else { M::BackendLb })) } }
                    tr { th scope="row" { (ctx.t(M::Backend)) } td { (backend) } }
                    tr { th scope="row" { (ctx.t(M::PortMappings)) } td #spec-ports {
                        @for m in mappings {
                            span.mapping { (m.protocol.as_str()) " " (m.server_port) " → " (m.client_port) }
                        }
                    } }
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
        Some(Nav::Services),
        body,
    )))
}

// ---- detail -----------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    tab: Option<String>,
    add: Option<String>,
    msg: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Basic,
    Connections,
    Permissions,
    Ports,
}

impl Tab {
    fn parse(s: Option<&str>) -> Tab {
        match s {
            Some("connections") => Tab::Connections,
            Some("permissions") => Tab::Permissions,
            Some("ports") => Tab::Ports,
            _ => Tab::Basic,
        }
    }
    fn key(self) -> &'static str {
        match self {
            Tab::Basic => "basic",
            Tab::Connections => "connections",
            Tab::Permissions => "permissions",
            Tab::Ports => "ports",
        }
    }
    fn label(self) -> M {
        match self {
            Tab::Basic => M::BasicInfo,
            Tab::Connections => M::Connections,
            Tab::Permissions => M::Permissions,
            Tab::Ports => M::PortMappings,
        }
    }
}

/// What the detail page shows beyond the stored service.
struct DetailState<'a> {
    tab: Tab,
    banner: Option<Msg>,
    /// The add-whitelist dialog: open, with these rows and errors.
    add_open: bool,
    add_rows: Vec<String>,
    add_errors: &'a Errors,
    msg: Option<String>,
}

pub async fn detail(ctx: Ctx, Path(id): Path<String>, Query(dq): Query<DetailQuery>) -> Out {
    let none = Errors::none();
    let st = DetailState {
        tab: Tab::parse(dq.tab.as_deref()),
        banner: None,
        add_open: dq.add.as_deref() == Some("1"),
        add_rows: vec![String::new()],
        add_errors: &none,
        msg: dq.msg,
    };
    render_detail(&ctx, &id, st, StatusCode::OK).await
}

async fn render_detail(ctx: &Ctx, id: &str, st: DetailState<'_>, status: StatusCode) -> Out {
    let caller = ctx.caller()?.clone();
    let control = &ctx.state.control;
    let s = control
        .get_service(&caller, id)
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let base = format!("/console/services/{}", s.id);
    let tab_body = match st.tab {
        Tab::Basic => basic_tab(ctx, &caller, &s).await,
        Tab::Connections => connections_tab(ctx, &caller, &s).await?,
        Tab::Permissions => permissions_tab(ctx, &caller, &s, &st).await?,
        Tab::Ports => ports_tab(ctx, &s),
    };
    let body = html! {
        nav.crumbs aria-label="breadcrumb" { a href="/console/services" { (ctx.t(M::Services)) } " / " span.wrap { (s.service_name) } }
        div.page-head {
            h1.wrap #service-title { (s.service_name) }
            (confirm_button(ctx, &format!("{base}/delete"), &[], ctx.t(M::Delete),
                &M::ConfirmDeleteService.fill(ctx.lang, "x", &s.service_name), "btn btn-danger",
                &format!("{} {}", ctx.t(M::Delete), s.service_name)))
        }
        (layout::flash(ctx, st.msg.as_deref()))
        @if let Some(b) = &st.banner { div.alert.alert-error role="alert" #form-error { (b) } }
        nav.tabs aria-label=(ctx.t(M::ServiceDetail)) {
            @for t in [Tab::Basic, Tab::Connections, Tab::Permissions, Tab::Ports] {
                a href={ (base) "?tab=" (t.key()) } aria-current=[(t == st.tab).then_some("page")] #{ "tab-" (t.key()) } { (ctx.t(t.label())) }
            }
        }
        section.panel.tab-panel aria-labelledby={ "tab-" (st.tab.key()) } { (tab_body) }
    };
    Ok(html_status(
        status,
        layout::page(ctx, ctx.t(M::ServiceDetail), Some(Nav::Services), body),
    ))
}

async fn basic_tab(ctx: &Ctx, caller: &Caller, s: &EndpointService) -> Markup {
    let control = &ctx.state.control;
    let vpc = control.get_vpc(caller, &s.vpc_id).await.ok();
    let count = control.connection_count(&s.id).await.unwrap_or(0);
    let findings = control.backend_check(caller, s).await.ok();
    let backend_name = match s.backend.as_ref() {
        Some(b) => {
            if let Some(lb) = b.loadbalancer_id.as_deref() {
                control
                    .get_loadbalancer(caller, lb)
                    .await
                    .ok()
                    .map(|l| l.name)
            } else if let Some(sv) = b.server_id.as_deref() {
                control
                    .get_server(caller, sv)
                    .await
                    .ok()
                    .map(|(s, _)| s.name)
            } else {
                None
            }
        }
        None => None,
    };
    html! {
        dl.info #service-info {
            div { dt { (ctx.t(M::Name)) } dd.wrap #svc-name { (s.service_name) } }
            div { dt { (ctx.t(M::Id)) } dd.mono #svc-id { (s.id) } }
            div { dt { (ctx.t(M::Status)) } dd #svc-status { (service_badge(ctx.lang, Some(s.status), s.error.first().map(|x| x.message.as_str()), &status_url(&s.id))) } }
            div { dt { (ctx.t(M::ServiceType)) } dd { (ctx.t(M::Interface)) } }
            div { dt { (ctx.t(M::Approval)) } dd #svc-approval { (ctx.t(if s.approval_enabled { M::On } else { M::Off })) } }
            div { dt { (ctx.t(M::BackendType)) } dd { (backend_type(ctx, s.server_type)) } }
            div { dt { (ctx.t(M::Backend)) } dd {
                (backend_name.unwrap_or_else(|| s.port_id.clone()))
            } }
            div { dt { (ctx.t(M::BackendIp)) } dd.mono { (s.backend.as_ref().map(|b| b.ip.as_str()).unwrap_or("—")) } }
            div { dt { (ctx.t(M::Vpc)) } dd { @if let Some(v) = &vpc { (v.name) " (" (v.cidr) ")" } @else { (s.vpc_id) } } }
            div { dt { (ctx.t(M::Region)) } dd { (s.region) } }
            div { dt { (ctx.t(M::ConnectionCount)) } dd { (count) } }
            div { dt { (ctx.t(M::CreatedAt)) } dd { (fmt_time(s.created_ms)) } }
            @if !s.description.is_empty() { div { dt { (ctx.t(M::Description)) } dd.wrap { (s.description) } } }
            @if !s.error.is_empty() {
                div { dt { (ctx.t(M::ErrorInfo)) } dd.wrap { @for e in &s.error { p.failure { (layout::failure_info(ctx.lang, &e.code, &e.message)) } } } }
            }
        }
        div.note role="note" { (ctx.t(M::SgNote)) }
        @if let Some(findings) = &findings { (backend_check(ctx, findings)) }
    }
}

/// FAQ 4.2 on the detail page: does the backend's security group admit 198.19.128.0/20 on
/// every mapped port? Each problem comes with its fix.
fn backend_check(ctx: &Ctx, findings: &[BackendFinding]) -> Markup {
    let l = ctx.lang;
    let problems: Vec<&BackendFinding> = findings.iter().filter(|f| f.is_problem()).collect();
    let sentence = |f: &BackendFinding| -> String {
        match f {
            BackendFinding::Admitted { ip, protocol, port } => M::CheckAdmitted.fill_many(
                l,
                &[
                    ("ip", ip),
                    ("proto", protocol.as_str()),
                    ("port", &port.to_string()),
                ],
            ),
            BackendFinding::NotAdmitted {
                ip,
                protocol,
                port,
                security_group,
            } => M::CheckNotAdmitted.fill_many(
                l,
                &[
                    ("ip", ip),
                    ("proto", protocol.as_str()),
                    ("port", &port.to_string()),
                    ("sg", security_group.as_deref().unwrap_or("—")),
                ],
            ),
            BackendFinding::NoListener {
                loadbalancer,
                protocol,
                port,
                ..
            } => M::CheckNoListener.fill_many(
                l,
                &[
                    ("lb", loadbalancer),
                    ("proto", protocol.as_str()),
                    ("port", &port.to_string()),
                ],
            ),
            BackendFinding::UnknownMember { address, port } => {
                M::CheckUnknownMember.fill_many(l, &[("ip", address), ("port", &port.to_string())])
            }
            BackendFinding::BackendGone { port_id } => M::CheckBackendGone.fill(l, "x", port_id),
        }
    };
    html! {
        section.backend-check #backend-check aria-labelledby="backend-check-title" {
            h2 #backend-check-title { (ctx.t(M::CheckTitle)) }
            @if problems.is_empty() {
                p.check-ok #backend-check-ok { span.dot aria-hidden="true" {} (ctx.t(M::CheckAllOk)) }
            } @else {
                ul.findings {
                    @for f in &problems {
                        li.finding.problem {
                            p.finding-text { (sentence(f)) }
                            @if let Some(cmd) = f.fix_command() {
                                p.finding-fix { (ctx.t(if matches!(f, BackendFinding::NotAdmitted { .. }) { M::CheckFixSg } else { M::CheckFix })) }
                                pre.mono.copyable { code { (cmd) } }
                            }
                        }
                    }
                }
            }
            @let oks: Vec<&BackendFinding> = findings.iter().filter(|f| !f.is_problem()).collect();
            @if !oks.is_empty() {
                ul.findings.ok-list {
                    @for f in &oks { li.finding.ok { (sentence(f)) } }
                }
            }
        }
    }
}

async fn connections_tab(
    ctx: &Ctx,
    caller: &Caller,
    s: &EndpointService,
) -> Result<Markup, crate::ctx::Fail> {
    let (conns, _) = ctx
        .state
        .control
        .list_connections(caller, &s.id, None, None, None, page_req(0, 1000))
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let action = format!("/console/services/{}/connections", s.id);
    Ok(html! {
        h2.sr-only { (ctx.t(M::Connections)) }
        div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
            table.list.actions-last #connection-table {
                thead { tr {
                    th scope="col" { (ctx.t(M::EndpointId)) }
                    th scope="col" { (ctx.t(M::MarkerId)) }
                    th scope="col" { (ctx.t(M::AccountId)) }
                    th scope="col" { (ctx.t(M::Status)) }
                    th scope="col" { (ctx.t(M::CreatedAt)) }
                    th scope="col" { (ctx.t(M::Operation)) }
                } }
                tbody {
                    @if conns.is_empty() { tr.empty { td colspan="6" { (ctx.t(M::NoConnections)) } } }
                    @for e in &conns {
                        tr data-id=(e.id) {
                            td.mono { (e.id) }
                            td.mono { (e.marker_id) }
                            td.mono.small { (e.domain_id) }
                            td { (endpoint_badge(ctx.lang, Some(e.status), e.error.first().map(|x| x.error_message.as_str()), &conn_status_url(&s.id, &e.id))) }
                            td.nowrap { (fmt_time(e.created_ms)) }
                            td.row-actions {
                                @if matches!(e.status, EndpointStatus::PendingAcceptance | EndpointStatus::Rejected) {
                                    form.inline method="post" action=(action) {
                                        (layout::csrf(ctx))
                                        input type="hidden" name="action" value="receive";
                                        input type="hidden" name="endpoint_id" value=(e.id);
                                        button.btn-link type="submit" aria-label={ (ctx.t(M::Accept)) " " (e.id) } { (ctx.t(M::Accept)) }
                                    }
                                }
                                @if matches!(e.status, EndpointStatus::PendingAcceptance | EndpointStatus::Creating | EndpointStatus::Accepted) {
                                    (confirm_button(ctx, &action, &[("action", "reject"), ("endpoint_id", &e.id)],
                                        ctx.t(M::Reject), &M::ConfirmReject.fill(ctx.lang, "x", &e.id), "btn-link danger",
                                        &format!("{} {}", ctx.t(M::Reject), e.id)))
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

fn perm_row(ctx: &Ctx, i: usize, value: &str, err: Option<&Msg>) -> Markup {
    let n = (i + 1).to_string();
    let err_id = format!("perm-{i}-err");
    html! {
        tr.perm-row class=[err.map(|_| "has-error")] {
            td {
                label.sr-only for={ "permission_" (i) } { (ctx.t(M::AuthorizedAccount)) " " (n) }
                input id={ "permission_" (i) } type="text" name="permission" value=(value)
                    placeholder="iam:domain::domain_id" spellcheck="false" autocomplete="off"
                    aria-invalid=[err.map(|_| "true")] aria-describedby=[err.map(|_| err_id.clone())];
                @if let Some(e) = err { p.field-error id=(err_id) { (e) } }
            }
            td {
                button.btn-link.remove-row type="button" aria-label={ (ctx.t(M::Delete)) " " (n) } { (ctx.t(M::Delete)) }
            }
        }
    }
}

async fn permissions_tab(
    ctx: &Ctx,
    caller: &Caller,
    s: &EndpointService,
    st: &DetailState<'_>,
) -> Result<Markup, crate::ctx::Fail> {
    let (perms, _) = ctx
        .state
        .control
        .list_permissions(caller, &s.id, None, page_req(0, 1000))
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let base = format!("/console/services/{}", s.id);
    let rows = if st.add_rows.is_empty() {
        vec![String::new()]
    } else {
        st.add_rows.clone()
    };
    let left = MAX_ROWS.saturating_sub(rows.len());
    let e = st.add_errors;
    Ok(html! {
        div.tab-head {
            h2.sr-only { (ctx.t(M::Permissions)) }
            a.btn.btn-primary #add-whitelist href={ (base) "?tab=permissions&add=1" } data-open-dialog="perm-dialog" { (ctx.t(M::AddWhitelist)) }
        }
        p.hint { (ctx.t(M::PermsHint)) }
        div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
            table.list.actions-last #permission-table {
                thead { tr {
                    th scope="col" { (ctx.t(M::AuthorizedAccount)) }
                    th scope="col" { (ctx.t(M::AddedAt)) }
                    th scope="col" { (ctx.t(M::Operation)) }
                } }
                tbody {
                    @if perms.is_empty() { tr.empty { td colspan="3" { (ctx.t(M::NoPermissions)) } } }
                    @for p in &perms {
                        tr data-id=(p.id) {
                            td.mono.wrap { (p.permission) }
                            td.nowrap { (fmt_time(p.created_ms)) }
                            td {
                                (confirm_button(ctx, &format!("{base}/permissions/remove"), &[("permission_id", &p.id)],
                                    ctx.t(M::Remove), &M::ConfirmRemovePermission.fill(ctx.lang, "x", &p.permission),
                                    "btn-link danger", &format!("{} {}", ctx.t(M::Remove), p.permission)))
                            }
                        }
                    }
                }
            }
        }
        dialog #perm-dialog aria-labelledby="perm-dialog-title" open[st.add_open] data-open-on-load=[st.add_open.then_some("1")] {
            form method="post" action={ (base) "/permissions" } novalidate #perm-form {
                (layout::csrf(ctx))
                h2 #perm-dialog-title { (ctx.t(M::AddWhitelist)) }
                @if let Some(g) = e.get("permissions") { div.alert.alert-error role="alert" #perm-error { (g) } }
                div.field.static-field {
                    span.field-label { (ctx.t(M::ServiceName)) }
                    div.field-control.wrap { (s.service_name) }
                }
                table.ports #perm-rows-table data-max=(MAX_ROWS) {
                    thead { tr { th scope="col" { (ctx.t(M::AuthorizedAccount)) } th scope="col" { (ctx.t(M::Operation)) } } }
                    tbody #perm-rows {
                        @for (i, v) in rows.iter().enumerate() {
                            (perm_row(ctx, i, v, e.get(&format!("permissions.{i}"))))
                        }
                    }
                }
                template #perm-row-template { (perm_row(ctx, 9999, "", None)) }
                p {
                    button.btn.btn-small #add-perm-row type="button" disabled[left == 0] { "+ " (ctx.t(M::AddMore)) }
                    " "
                    span.muted #perms-left data-text=(M::PermsLeft.t(ctx.lang)) aria-live="polite" {
                        (M::PermsLeft.fill(ctx.lang, "n", &left.to_string()))
                    }
                }
                div.actions {
                    a.btn #perm-cancel href={ (base) "?tab=permissions" } data-close-dialog="perm-dialog" { (ctx.t(M::Cancel)) }
                    button.btn.btn-primary #perm-ok type="submit" { (ctx.t(M::Ok)) }
                }
            }
        }
    })
}

fn ports_tab(ctx: &Ctx, s: &EndpointService) -> Markup {
    html! {
        h2.sr-only { (ctx.t(M::PortMappings)) }
        div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
            table.list #port-mapping-table {
                thead { tr {
                    th scope="col" { (ctx.t(M::Protocol)) }
                    th scope="col" { (ctx.t(M::ServerPort)) }
                    th scope="col" { (ctx.t(M::ClientPort)) }
                } }
                tbody {
                    @for m in &s.ports {
                        tr { td { (m.protocol.as_str()) } td { (m.server_port) } td { (m.client_port) } }
                    }
                }
            }
        }
    }
}

// ---- actions ----------------------------------------------------------------------------------

pub async fn connection_action(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Out {
    let form = FormData::parse(&body);
    ctx.check_csrf(&form.get("csrf"))?;
    let caller = ctx.caller()?.clone();
    let action = form.get("action");
    let eid = form.get("endpoint_id");
    let base = format!("/console/services/{}/connections", q(&id));
    if action == "reject" && form.get("confirmed") != "1" {
        let question = M::ConfirmReject.fill(ctx.lang, "x", &eid);
        let fields = vec![
            ("action".to_string(), action),
            ("endpoint_id".to_string(), eid),
        ];
        let cancel = format!("/console/services/{}?tab=connections", q(&id));
        return Ok(html(layout::confirm_page(
            &ctx, &base, &fields, &question, &cancel,
        )));
    }
    let r = ctx
        .state
        .control
        .connection_action(
            &caller,
            &id,
            DecideConnection {
                action: Some(action),
                endpoints: Some(vec![eid]),
            },
        )
        .await;
    match r {
        Ok(_) => Ok(redirect(&format!(
            "/console/services/{}?tab=connections",
            q(&id)
        ))),
        Err(e) => {
            let none = Errors::none();
            let st = DetailState {
                tab: Tab::Connections,
                banner: Some(ctx.api_message(&e)),
                add_open: false,
                add_rows: vec![],
                add_errors: &none,
                msg: None,
            };
            render_detail(&ctx, &id, st, bad(ApiError::from(e.clone()).status)).await
        }
    }
}

pub async fn add_permissions(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Out {
    let form = FormData::parse(&body);
    ctx.check_csrf(&form.get("csrf"))?;
    let caller = ctx.caller()?.clone();
    let rows = form.all("permission");
    let mut errors = Errors::none();
    let filled: Vec<(usize, &String)> = rows
        .iter()
        .enumerate()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    if filled.is_empty() {
        errors.add("permissions", ctx.t(M::PermsEmpty));
    } else if filled.len() > MAX_ROWS {
        errors.add("permissions", ctx.t(M::PermsLimit));
    }
    for (i, v) in &filled {
        if let Err(e) = validate::permission(v) {
            errors.add(&format!("permissions.{i}"), ctx.api_message(&e));
        }
    }
    if errors.is_empty() {
        let body = AddPermissions {
            permissions: Some(
                filled
                    .iter()
                    .map(|(_, v)| PermissionInput {
                        permission: Some((*v).clone()),
                        description: None,
                    })
                    .collect(),
            ),
            permission_type: None,
        };
        match ctx
            .state
            .control
            .batch_add_permissions(&caller, &id, body)
            .await
        {
            Ok(_) => {
                return Ok(redirect(&format!(
                    "/console/services/{}?tab=permissions",
                    q(&id)
                )));
            }
            Err(e) => errors.add("permissions", ctx.api_message(&e)),
        }
    }
    let st = DetailState {
        tab: Tab::Permissions,
        banner: None,
        add_open: true,
        add_rows: rows,
        add_errors: &errors,
        msg: None,
    };
    render_detail(&ctx, &id, st, StatusCode::BAD_REQUEST).await
}

pub async fn remove_permission(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Out {
    let form = FormData::parse(&body);
    ctx.check_csrf(&form.get("csrf"))?;
    let caller = ctx.caller()?.clone();
    let pid = form.get("permission_id");
    if form.get("confirmed") != "1" {
        let action = format!("/console/services/{}/permissions/remove", q(&id));
        let fields = vec![("permission_id".to_string(), pid.clone())];
        let cancel = format!("/console/services/{}?tab=permissions", q(&id));
        let question = M::ConfirmRemovePermission.fill(ctx.lang, "x", &pid);
        return Ok(html(layout::confirm_page(
            &ctx, &action, &fields, &question, &cancel,
        )));
    }
    let body = RemovePermissions {
        permission_ids: Some(vec![pid]),
    };
    match ctx
        .state
        .control
        .batch_remove_permissions(&caller, &id, body)
        .await
    {
        Ok(_) => Ok(redirect(&format!(
            "/console/services/{}?tab=permissions",
            q(&id)
        ))),
        Err(e) => {
            let none = Errors::none();
            let st = DetailState {
                tab: Tab::Permissions,
                banner: Some(ctx.api_message(&e)),
                add_open: false,
                add_rows: vec![],
                add_errors: &none,
                msg: None,
            };
            render_detail(&ctx, &id, st, bad(ApiError::from(e.clone()).status)).await
        }
    }
}

pub async fn delete(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Out {
    let form = FormData::parse(&body);
    ctx.check_csrf(&form.get("csrf"))?;
    let caller = ctx.caller()?.clone();
    if form.get("confirmed") != "1" {
        let name = ctx
            .state
            .control
            .get_service(&caller, &id)
            .await
            .map(|s| s.service_name)
            .unwrap_or_else(|_| id.clone());
        let action = format!("/console/services/{}/delete", q(&id));
        let question = M::ConfirmDeleteService.fill(ctx.lang, "x", &name);
        return Ok(html(layout::confirm_page(
            &ctx,
            &action,
            &[],
            &question,
            "/console/services",
        )));
    }
    match ctx.state.control.delete_service(&caller, &id).await {
        Ok(()) => Ok(redirect("/console/services?msg=deleted")),
        Err(e) if ApiError::from(e.clone()).status == 404 => Err(ctx.api_error_page(&e).into()),
        Err(e) => {
            let none = Errors::none();
            // SERVICE_IN_USE says how many endpoints to reject or delete first.
            let banner = ctx.api_message(&e);
            let st = DetailState {
                tab: Tab::Connections,
                banner: Some(banner),
                add_open: false,
                add_rows: vec![],
                add_errors: &none,
                msg: None,
            };
            render_detail(&ctx, &id, st, bad(ApiError::from(e.clone()).status)).await
        }
    }
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
        Err(e) if ApiError::from(e.clone()).status == 404 => {
            Ok(html(service_badge(ctx.lang, None, None, &url)))
        }
        Err(e) => Ok((
            bad(ApiError::from(e.clone()).status),
            ctx.api_message(&e).text,
        )
            .into_response()),
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
        Err(e) if ApiError::from(e.clone()).status == 404 => {
            Ok(html(endpoint_badge(ctx.lang, None, None, &url)))
        }
        Err(e) => Ok((
            bad(ApiError::from(e.clone()).status),
            ctx.api_message(&e).text,
        )
            .into_response()),
    }
}
