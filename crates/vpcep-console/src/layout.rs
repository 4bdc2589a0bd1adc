//! The page shell and the small components every page uses.

use maud::{DOCTYPE, Markup, html};
use vpcep_core::model::{EndpointStatus, ServiceStatus};

use crate::ctx::{Ctx, q};
use crate::errors::{ConsoleError, Msg};
use crate::i18n::{self, Lang, M};

/// Which side-navigation entry is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Endpoints,
    Services,
    Quotas,
    Credentials,
    Network,
}

fn head(ctx: &Ctx, title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) " - " (ctx.t(M::Product)) }
            link rel="icon" href="data:,";
            link rel="stylesheet" href="/console/static/console.css";
            script src="/console/static/console.js" defer {}
        }
    }
}

fn lang_switch(ctx: &Ctx) -> Markup {
    let other = ctx.lang.other();
    let href = format!("/console/lang/{}?back={}", other.code(), q(&ctx.here));
    html! {
        a.lang-switch href=(href) lang=(other.html_lang()) hreflang=(other.html_lang())
            aria-label=(ctx.t(M::SwitchLangLabel)) { (ctx.t(M::SwitchLang)) }
    }
}

/// The confirmation dialog every `data-confirm` form opens (see console.js).
fn confirm_dialog(ctx: &Ctx) -> Markup {
    html! {
        dialog #confirm-dialog aria-labelledby="confirm-title" aria-describedby="confirm-text" {
            form method="dialog" {
                h2 #confirm-title { (ctx.t(M::ConfirmDeleteTitle)) }
                p #confirm-text {}
                div.actions {
                    button type="submit" value="cancel" .btn { (ctx.t(M::Cancel)) }
                    button type="submit" value="ok" .btn.btn-danger #confirm-ok { (ctx.t(M::Ok)) }
                }
            }
        }
    }
}

/// A signed-in page: header, side navigation, main content.
pub fn page(ctx: &Ctx, title: &str, nav: Option<Nav>, body: Markup) -> Markup {
    let auth = ctx.auth.as_ref();
    let nav_items = [
        (Nav::Endpoints, "/console/endpoints", M::NavEndpoints),
        (Nav::Services, "/console/services", M::NavServices),
        (Nav::Quotas, "/console/quotas", M::NavQuotas),
        (Nav::Credentials, "/console/credentials", M::NavCredentials),
        (Nav::Network, "/console/network", M::NavNetwork),
    ];
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.html_lang()) {
            (head(ctx, title))
            body {
                a.skip href="#main" { (ctx.t(M::SkipToMain)) }
                header.topbar {
                    a.brand href="/console/endpoints" { (ctx.t(M::Product)) }
                    div.top-right {
                        @if let Some(a) = auth {
                            @if a.projects.len() > 1 {
                                form.region-form method="post" action="/console/region" {
                                    input type="hidden" name="csrf" value=(a.csrf);
                                    input type="hidden" name="back" value=(ctx.here);
                                    label for="region-select" { (ctx.t(M::Region)) }
                                    select #region-select name="project_id" {
                                        @for p in &a.projects {
                                            option value=(p.project_id) selected[p.project_id == a.caller.project_id] { (p.region) }
                                        }
                                    }
                                    button.btn.btn-small type="submit" { (ctx.t(M::SwitchRegion)) }
                                }
                            } @else {
                                span.region { (ctx.t(M::Region)) (colon(ctx.lang)) strong #current-region { (a.caller.region) } }
                            }
                        }
                        (lang_switch(ctx))
                        @if let Some(a) = auth {
                            a.who href="/console/credentials" title=(ctx.t(M::NavCredentials)) {
                                (ctx.t(M::Account)) (colon(ctx.lang)) strong #current-account { (a.account_name) }
                            }
                            form.logout-form method="post" action="/console/logout" {
                                input type="hidden" name="csrf" value=(a.csrf);
                                button.btn-link type="submit" { (ctx.t(M::SignOut)) }
                            }
                        }
                    }
                }
                div.layout {
                    nav.sidenav aria-label=(ctx.t(M::NavMain)) {
                        p.sidenav-title { (ctx.t(M::Product)) }
                        ul {
                            @for (n, href, m) in nav_items {
                                li {
                                    a href=(href) aria-current=[(Some(n) == nav).then_some("page")] { (ctx.t(m)) }
                                }
                            }
                        }
                    }
                    main #main tabindex="-1" {
                        (body)
                    }
                }
                (confirm_dialog(ctx))
            }
        }
    }
}

/// A page without navigation (sign-in).
pub fn bare_page(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(ctx.lang.html_lang()) {
            (head(ctx, title))
            body.bare {
                header.topbar {
                    span.brand { (ctx.t(M::Product)) " · " (ctx.t(M::ConsoleTitle)) }
                    div.top-right { (lang_switch(ctx)) }
                }
                main #main tabindex="-1" { (body) }
            }
        }
    }
}

pub fn error_body(ctx: &Ctx, title: &str, message: &Msg) -> Markup {
    html! {
        h1 { (title) }
        div.alert.alert-error role="alert" { (message) }
        p { a href="/console/" { (ctx.t(M::BackToList)) } }
    }
}

pub fn csrf(ctx: &Ctx) -> Markup {
    html! { input type="hidden" name="csrf" value=(ctx.csrf()); }
}

/// A one-line notice from a `?msg=` after a redirect.
pub fn flash(ctx: &Ctx, msg: Option<&str>) -> Markup {
    let m = match msg {
        Some("submitted") => Some(M::Submitted),
        Some("deleted") => Some(M::Deleted),
        _ => None,
    };
    html! {
        @if let Some(m) = m {
            div.alert.alert-ok role="status" { (ctx.t(m)) }
        }
    }
}

/// A time for the browser's time zone: `<time datetime="…Z">` showing UTC (marked as such);
/// console.js rewrites the text in the browser's zone, keeping UTC in the tooltip.
pub fn fmt_time(ms: i64) -> Markup {
    let shown = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    let iso = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok();
    let (Some(s), Some(i)) = (
        t.and_then(|t| t.format(&shown).ok()),
        t.and_then(|t| t.format(&iso).ok()),
    ) else {
        return html! {};
    };
    html! { time datetime=(i) data-local { (s) " UTC" } }
}

/// A label's colon: full-width in Chinese.
pub fn colon(lang: Lang) -> &'static str {
    match lang {
        Lang::Zh => "：",
        Lang::En => ": ",
    }
}

/// `text` in parentheses: full-width in Chinese.
pub fn paren(lang: Lang, text: &str) -> String {
    match lang {
        Lang::Zh => format!("（{text}）"),
        Lang::En => format!("({text})"),
    }
}

/// Why the data plane failed an object: a sentence in the page's language, then the code and
/// the data plane's own words on a detail line.
pub fn failure_info(ctx: &Ctx, code: &str, message: &str) -> Markup {
    let m = crate::errors::failure(ctx.lang, &ctx.state.codes, code, message);
    html! {
        @match ctx.lang {
            Lang::Zh => { (m.text) span.err-code { (code) " · " (message) } }
            Lang::En => { (m) }
        }
    }
}

/// The region field's hint; "switch at the top right" only when there is another region.
pub fn region_hint(ctx: &Ctx) -> String {
    let hint = ctx.t(M::RegionHint);
    if ctx.auth.as_ref().is_none_or(|a| a.projects.len() <= 1) {
        return hint.to_string();
    }
    let gap = if ctx.lang == Lang::En { " " } else { "" };
    format!("{hint}{gap}{}", ctx.t(M::RegionSwitchHint))
}

// ---- statuses ---------------------------------------------------------------------------------

/// How often a badge asks for its status again: 1 s while something is in progress, 5 s while
/// waiting for a person (pending acceptance), never when settled.
fn poll_ms_endpoint(s: EndpointStatus) -> u32 {
    match s {
        EndpointStatus::Creating | EndpointStatus::Deleting => 1000,
        // Pending waits for the owner; failed for the data plane's retry (recovery shows too).
        EndpointStatus::PendingAcceptance | EndpointStatus::Failed => 5000,
        _ => 0,
    }
}

fn poll_ms_service(s: ServiceStatus) -> u32 {
    match s {
        ServiceStatus::Creating | ServiceStatus::Deleting => 1000,
        ServiceStatus::Failed => 5000,
        _ => 0,
    }
}

/// A status badge; `reason` (why an object failed, as the data plane reported it) shows next to
/// it and as its tooltip.
fn badge(lang: Lang, class: &str, text: M, reason: Option<&str>, url: &str, poll: u32) -> Markup {
    html! {
        span class={ "badge st-" (class) @if poll == 1000 { " busy" } }
            data-status-url=(url) data-poll=(poll) title=[reason] {
            span.dot aria-hidden="true" {}
            span.label { (text.t(lang)) }
            @if let Some(r) = reason {
                span.reason { @if lang == Lang::Zh { (M::DataPlaneFailed.t(lang)) } @else { (r) } }
            }
        }
    }
}

pub fn endpoint_badge(
    lang: Lang,
    s: Option<EndpointStatus>,
    reason: Option<&str>,
    url: &str,
) -> Markup {
    match s {
        Some(s) => badge(
            lang,
            s.as_str(),
            i18n::endpoint_status(s),
            reason.filter(|_| s == EndpointStatus::Failed),
            url,
            poll_ms_endpoint(s),
        ),
        None => badge(lang, "deleted", M::StDeleted, None, url, 0),
    }
}

pub fn service_badge(
    lang: Lang,
    s: Option<ServiceStatus>,
    reason: Option<&str>,
    url: &str,
) -> Markup {
    match s {
        Some(s) => badge(
            lang,
            s.as_str(),
            i18n::service_status(s),
            reason.filter(|_| s == ServiceStatus::Failed),
            url,
            poll_ms_service(s),
        ),
        None => badge(lang, "deleted", M::StDeleted, None, url, 0),
    }
}

// ---- forms ------------------------------------------------------------------------------------

/// Messages of a rejected form, by slot (usually the input's name); `""` is the form as a whole.
/// `marks` are the ids of inputs that are wrong without a message of their own (a duplicated
/// port in a list-level message): only they, not the whole form, show as invalid.
#[derive(Debug, Clone, Default)]
pub struct Errors {
    items: Vec<(String, Msg)>,
    marks: Vec<String>,
}

impl Errors {
    pub fn none() -> Self {
        Self::default()
    }
    pub fn add(&mut self, slot: &str, msg: impl Into<Msg>) {
        self.items.push((slot.to_string(), msg.into()));
    }
    pub fn one(slot: &str, msg: impl Into<Msg>) -> Self {
        let mut e = Self::default();
        e.add(slot, msg);
        e
    }
    /// Mark input `id` invalid.
    pub fn mark(&mut self, id: impl Into<String>) {
        self.marks.push(id.into());
    }
    pub fn marked(&self, id: &str) -> bool {
        self.marks.iter().any(|m| m == id)
    }
    /// An API error placed on the slot its `field` maps to (through `map`), or on the form.
    pub fn from_api(ctx: &Ctx, e: &impl ConsoleError, map: &[(&str, &str)]) -> Self {
        let l = ctx.localize(e);
        let slot = l
            .field
            .and_then(|f| map.iter().find(|(api, _)| *api == f).map(|(_, s)| *s))
            .unwrap_or("");
        Self::one(slot, l.msg)
    }
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    pub fn get(&self, slot: &str) -> Option<&Msg> {
        self.items.iter().find(|(s, _)| s == slot).map(|(_, m)| m)
    }
}

/// One labelled form row; `id` is the control's id.
pub struct Field<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub required: bool,
    pub hint: Option<String>,
    pub error: Option<&'a Msg>,
}

impl<'a> Field<'a> {
    pub fn new(id: &'a str, label: &'a str) -> Self {
        Self {
            id,
            label,
            required: false,
            hint: None,
            error: None,
        }
    }
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }
    pub fn hint(mut self, h: impl Into<String>) -> Self {
        self.hint = Some(h.into());
        self
    }
    pub fn error(mut self, e: Option<&'a Msg>) -> Self {
        self.error = e;
        self
    }
    /// For the control's `aria-describedby`.
    pub fn described(&self) -> Option<String> {
        let mut ids = Vec::new();
        if self.error.is_some() {
            ids.push(format!("{}-err", self.id));
        }
        if self.hint.is_some() {
            ids.push(format!("{}-hint", self.id));
        }
        (!ids.is_empty()).then(|| ids.join(" "))
    }
    pub fn invalid(&self) -> Option<&'static str> {
        self.error.map(|_| "true")
    }
    /// The row around `control`; `group` renders a fieldset with a legend (radio groups).
    pub fn wrap(&self, control: Markup) -> Markup {
        self.render(control, false)
    }
    pub fn wrap_group(&self, control: Markup) -> Markup {
        self.render(control, true)
    }
    fn render(&self, control: Markup, group: bool) -> Markup {
        let req = html! { @if self.required { span.req aria-hidden="true" { "*" } } };
        let tail = html! {
            @if let Some(e) = self.error {
                p.field-error id={ (self.id) "-err" } { (e) }
            }
            @if let Some(h) = &self.hint {
                p.hint id={ (self.id) "-hint" } { (h) }
            }
        };
        html! {
            @if group {
                fieldset class={ "field" @if self.error.is_some() { " has-error" } } id={ (self.id) "-row" } {
                    legend.field-label { (req) (self.label) }
                    div.field-control { (control) (tail) }
                }
            } @else {
                div class={ "field" @if self.error.is_some() { " has-error" } } id={ (self.id) "-row" } {
                    label.field-label for=(self.id) { (req) (self.label) }
                    div.field-control { (control) (tail) }
                }
            }
        }
    }
}

/// The form-level error banner.
pub fn form_errors(ctx: &Ctx, e: &Errors) -> Markup {
    html! {
        @if !e.is_empty() {
            div.alert.alert-error role="alert" #form-error {
                @if let Some(g) = e.get("") { (g) } @else { (ctx.t(M::FormHasErrors)) }
            }
        }
    }
}

/// A POST button that asks first (console.js opens the dialog; without script the server shows a
/// confirmation page). `fields` are extra hidden inputs.
pub fn confirm_button(
    ctx: &Ctx,
    action: &str,
    fields: &[(&str, &str)],
    label: &str,
    question: &str,
    class: &str,
    aria_label: &str,
) -> Markup {
    html! {
        form.inline method="post" action=(action) data-confirm=(question)
            data-confirm-title=(ctx.t(if fields.iter().any(|(k, v)| *k == "action" && *v == "reject") { M::Confirm } else { M::ConfirmDeleteTitle })) {
            (csrf(ctx))
            input type="hidden" name="confirmed" value="0";
            @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
            button type="submit" class=(class) aria-label=(aria_label) { (label) }
        }
    }
}

/// The no-script confirmation page for a `confirm_button` form.
pub fn confirm_page(
    ctx: &Ctx,
    action: &str,
    fields: &[(String, String)],
    question: &str,
    cancel: &str,
) -> Markup {
    let body = html! {
        h1 { (ctx.t(M::ConfirmDeleteTitle)) }
        div.panel {
            p { (question) }
            form method="post" action=(action) {
                (csrf(ctx))
                input type="hidden" name="confirmed" value="1";
                @for (k, v) in fields { input type="hidden" name=(k) value=(v); }
                div.actions {
                    a.btn href=(cancel) { (ctx.t(M::Cancel)) }
                    button.btn.btn-danger type="submit" { (ctx.t(M::Ok)) }
                }
            }
        }
    };
    page(ctx, ctx.t(M::ConfirmDeleteTitle), None, body)
}

pub fn empty_row(ctx: &Ctx, cols: usize) -> Markup {
    html! { tr.empty { td colspan=(cols) { (ctx.t(M::Empty)) } } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_badge_says_why_and_keeps_polling_for_the_recovery() {
        let why =
            "The data plane could not program namespace vpcep-s-1: Cannot open network namespace";
        let failed =
            service_badge(Lang::Zh, Some(ServiceStatus::Failed), Some(why), "/u").into_string();
        assert!(failed.contains(&format!("title=\"{why}\"")), "{failed}");
        assert!(failed.contains("class=\"reason\""), "{failed}");
        assert!(failed.contains("data-poll=\"5000\""), "{failed}");
        let ep =
            endpoint_badge(Lang::En, Some(EndpointStatus::Failed), Some(why), "/u").into_string();
        assert!(
            ep.contains(why) && ep.contains("data-poll=\"5000\""),
            "{ep}"
        );
        // A reason left on a recovered object is not shown.
        let ok =
            service_badge(Lang::Zh, Some(ServiceStatus::Available), Some(why), "/u").into_string();
        assert!(!ok.contains(why) && ok.contains("data-poll=\"0\""), "{ok}");
    }
}
