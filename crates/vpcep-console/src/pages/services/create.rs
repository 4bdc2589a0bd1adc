//! 终端节点服务 creation: the form, its port-mapping rows, backend choice and 规格确认.

use super::*;

#[derive(Debug, Clone)]
pub(super) struct PortRow {
    pub(super) protocol: String,
    pub(super) server: String,
    pub(super) client: String,
}

impl PortRow {
    pub(super) fn blank() -> Self {
        Self {
            protocol: "TCP".into(),
            server: String::new(),
            client: String::new(),
        }
    }
    pub(super) fn is_blank(&self) -> bool {
        self.server.is_empty() && self.client.is_empty()
    }
    pub(super) fn input(&self) -> PortMappingInput {
        PortMappingInput {
            client_port: self.client.parse().ok(),
            server_port: self.server.parse().ok(),
            protocol: Some(self.protocol.clone()),
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct SvcForm {
    pub(super) name: String,
    pub(super) vpc_id: String,
    pub(super) approval: bool,
    pub(super) server_type: String,
    pub(super) lb_port_id: String,
    pub(super) vm_port_id: String,
    pub(super) ports: Vec<PortRow>,
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
    pub(super) fn from(f: &FormData) -> Self {
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

    pub(super) fn port_id(&self) -> &str {
        if self.server_type == "VM" {
            &self.vm_port_id
        } else {
            &self.lb_port_id
        }
    }

    pub(super) fn hidden(&self) -> Markup {
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
    pub(super) fn check(&self, ctx: &Ctx) -> Result<Vec<PortMapping>, Errors> {
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
                let l = ctx.localize(&e);
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
                        let l = ctx.localize(&e);
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

    pub(super) fn command(&self) -> CreateService {
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

pub(super) const FIELD_MAP: &[(&str, &str)] = &[
    ("service_name", "service_name"),
    ("vpc_id", "vpc_id"),
    ("port_id", "port_id"),
    ("server_type", "port_id"),
    ("ports", "ports"),
];

pub(super) struct Network {
    pub(super) vpcs: Vec<Vpc>,
    pub(super) lbs: Vec<LoadBalancer>,
    pub(super) servers: Vec<(Server, Vec<Port>)>,
}

pub(super) async fn network(
    ctx: &Ctx,
    caller: &Caller,
) -> Result<Network, vpcep_core::DomainError> {
    let c = &ctx.state.control;
    Ok(Network {
        vpcs: c.list_vpcs(caller).await?,
        lbs: c.list_loadbalancers(caller).await?,
        servers: c.list_servers(caller).await?,
    })
}

pub(super) fn nic_label(ctx: &Ctx, i: usize, p: &Port) -> String {
    let kind = if i == 0 {
        ctx.t(M::PrimaryNic)
    } else {
        ctx.t(M::SecondaryNic)
    };
    format!("{kind} · {}", p.ip_address)
}

pub(super) fn port_row(
    ctx: &Ctx,
    i: usize,
    r: &PortRow,
    err: Option<&Msg>,
    errors: &Errors,
) -> Markup {
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

pub(super) fn empty_port_row_template(ctx: &Ctx) -> Markup {
    html! {
        template #port-row-template {
            (port_row(ctx, 9999, &PortRow::blank(), None, &Errors::none()))
        }
    }
}

pub(super) async fn render_form(
    ctx: &Ctx,
    f: &SvcForm,
    errors: &Errors,
    status: StatusCode,
) -> Out {
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
                render_form(&ctx, &f, &errors, ctx.status_of(&e)).await
            }
        };
    }
    confirm_step(&ctx, &caller, &f, &mappings).await
}

pub(super) async fn confirm_step(
    ctx: &Ctx,
    caller: &Caller,
    f: &SvcForm,
    mappings: &[PortMapping],
) -> Out {
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
