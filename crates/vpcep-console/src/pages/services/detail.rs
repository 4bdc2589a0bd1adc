//! 终端节点服务 detail: 基本信息 (with the FAQ 4.2 backend check), 连接管理, 权限管理, 端口映射, 监控 (the last hour of its endpoints' traffic).

use super::*;

#[derive(Deserialize, Default)]
pub struct DetailQuery {
    pub(super) tab: Option<String>,
    pub(super) add: Option<String>,
    pub(super) msg: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Tab {
    Basic,
    Connections,
    Permissions,
    Ports,
    Traffic,
}

impl Tab {
    pub(super) fn parse(s: Option<&str>) -> Tab {
        match s {
            Some("connections") => Tab::Connections,
            Some("permissions") => Tab::Permissions,
            Some("ports") => Tab::Ports,
            Some("traffic") => Tab::Traffic,
            _ => Tab::Basic,
        }
    }
    pub(super) fn key(self) -> &'static str {
        match self {
            Tab::Basic => "basic",
            Tab::Connections => "connections",
            Tab::Permissions => "permissions",
            Tab::Ports => "ports",
            Tab::Traffic => "traffic",
        }
    }
    pub(super) fn label(self) -> M {
        match self {
            Tab::Basic => M::BasicInfo,
            Tab::Connections => M::Connections,
            Tab::Permissions => M::Permissions,
            Tab::Ports => M::PortMappings,
            Tab::Traffic => M::Monitoring,
        }
    }
}

/// What the detail page shows beyond the stored service.
pub(super) struct DetailState<'a> {
    pub(super) tab: Tab,
    pub(super) banner: Option<Msg>,
    /// The add-whitelist dialog: open, with these rows and errors.
    pub(super) add_open: bool,
    pub(super) add_rows: Vec<String>,
    pub(super) add_errors: &'a Errors,
    pub(super) msg: Option<String>,
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

pub(super) async fn render_detail(
    ctx: &Ctx,
    id: &str,
    st: DetailState<'_>,
    status: StatusCode,
) -> Out {
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
        Tab::Traffic => traffic_tab(ctx, &caller, &s).await?,
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
            @for t in [Tab::Basic, Tab::Connections, Tab::Permissions, Tab::Ports, Tab::Traffic] {
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

/// 监控: the last hour of all the service's endpoints' traffic.
async fn traffic_tab(
    ctx: &Ctx,
    caller: &Caller,
    s: &EndpointService,
) -> Result<Markup, crate::ctx::Fail> {
    let hour = ctx
        .state
        .control
        .service_recent_traffic(caller, &s.id)
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    let flows = ctx
        .state
        .control
        .service_recent_flows(caller, &s.id, RECENT_FLOWS)
        .await
        .map_err(|e| ctx.api_error_page(&e))?;
    Ok(html! {
        h2 { (ctx.t(M::TrafficTitle)) }
        (crate::charts::traffic_charts(ctx.lang, &hour))
        h2 #recent-flows-title { (ctx.t(M::RecentFlows)) }
        p.small.muted { (ctx.t(M::RecentFlowsHint)) }
        @if flows.is_empty() {
            p.muted #no-flows { (ctx.t(M::NoFlows)) }
        } @else {
            div.table-wrap data-scroll-hint=(ctx.t(M::ScrollHint)) {
                table.list #flow-table aria-labelledby="recent-flows-title" {
                    thead { tr {
                        th { (ctx.t(M::FlowTime)) } th { (ctx.t(M::FlowEvent)) }
                        th { (ctx.t(M::FlowConsumer)) } th { (ctx.t(M::FlowSource)) }
                        th { (ctx.t(M::FlowTranslated)) } th { (ctx.t(M::FlowBackend)) }
                        th { (ctx.t(M::FlowBytes)) }
                    } }
                    tbody {
                        @for r in &flows {
                            tr {
                                td.nowrap { (fmt_time(i64::try_from(r.time_ns / 1_000_000).unwrap_or(0))) }
                                td { (flow_event(ctx, r)) }
                                td.mono { (r.project_id) }
                                td.mono { (addr(r.source)) }
                                td.mono { (addr(r.translated)) }
                                td.mono { (addr(r.backend)) }
                                td.nowrap { (bytes(r)) }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// How many records the 监控 tab lists.
const RECENT_FLOWS: usize = 20;

fn addr(a: Option<std::net::SocketAddrV4>) -> String {
    a.map_or_else(|| "—".to_string(), |a| a.to_string())
}

/// Bytes each way of an end record: consumer → backend / backend → consumer.
fn bytes(r: &vpcep_core::flows::FlowRecord) -> String {
    use crate::charts::{Unit, amount};
    match (r.to_backend, r.to_consumer) {
        (Some(up), Some(down)) => format!(
            "{} / {}",
            amount(Unit::Bytes, up.bytes),
            amount(Unit::Bytes, down.bytes)
        ),
        _ => "—".to_string(),
    }
}

fn flow_event(ctx: &Ctx, r: &vpcep_core::flows::FlowRecord) -> String {
    use vpcep_core::flows::{EndReason, FlowEvent};
    match (r.event, r.end_reason) {
        (FlowEvent::Start, _) => ctx.t(M::FlowStart).to_string(),
        (FlowEvent::Overrun, _) => ctx.t(M::FlowOverrun).to_string(),
        (FlowEvent::End, reason) => {
            let why = match reason {
                Some(EndReason::Closed) => ctx.t(M::EndClosed),
                Some(EndReason::Reset) => ctx.t(M::EndReset),
                Some(EndReason::Timeout) => ctx.t(M::EndTimeout),
                Some(EndReason::Cut) => ctx.t(M::EndCut),
                None => return ctx.t(M::FlowEnd).to_string(),
            };
            let gap = if ctx.lang == crate::i18n::Lang::En {
                " "
            } else {
                ""
            };
            format!("{}{gap}{}", ctx.t(M::FlowEnd), layout::paren(ctx.lang, why))
        }
    }
}

pub(super) async fn basic_tab(ctx: &Ctx, caller: &Caller, s: &EndpointService) -> Markup {
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
                div { dt { (ctx.t(M::ErrorInfo)) } dd.wrap { @for e in &s.error { p.failure { (layout::failure_info(ctx, &e.code, &e.message)) } } } }
            }
        }
        div.note role="note" { (ctx.t(M::SgNote)) }
        @if let Some(findings) = &findings { (backend_check(ctx, findings)) }
    }
}

/// FAQ 4.2 on the detail page: does the backend's security group admit 198.19.128.0/20 on
/// every mapped port? Each problem comes with its fix.
pub(super) fn backend_check(ctx: &Ctx, findings: &[BackendFinding]) -> Markup {
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

pub(super) async fn connections_tab(
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

pub(super) fn perm_row(ctx: &Ctx, i: usize, value: &str, err: Option<&Msg>) -> Markup {
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

pub(super) async fn permissions_tab(
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

pub(super) fn ports_tab(ctx: &Ctx, s: &EndpointService) -> Markup {
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
