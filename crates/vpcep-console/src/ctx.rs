//! Per-request context: language, the signed-in session (if any), and response helpers.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::Markup;
use vpcep_control::Caller;
use vpcep_core::error::DomainError;
use vpcep_core::model::Project;

use crate::ConsoleState;
use crate::errors::{ConsoleError, Localized, Msg, PageError};
use crate::i18n::{Lang, M};
use crate::session::{self, SessionData};

/// A signed-in user acting in one project.
#[derive(Debug, Clone)]
pub struct Auth {
    pub data: SessionData,
    pub caller: Caller,
    pub csrf: String,
    pub account_name: String,
    pub projects: Vec<Project>,
}

/// What every handler gets.
#[derive(Clone)]
pub struct Ctx {
    pub lang: Lang,
    /// Path and query of this request (for the language switch to come back to).
    pub here: String,
    pub auth: Option<Auth>,
    pub state: ConsoleState,
    /// The `vpcep_login` cookie (sign-in CSRF nonce), if the browser sent one.
    pub login_nonce: Option<String>,
}

/// Handlers answer a page or, early, another page (redirect, error).
pub type Out = Result<Response, Fail>;

/// An early answer (redirect to sign-in, error page), boxed to keep `Result`s small.
pub struct Fail(Box<Response>);

impl From<Response> for Fail {
    fn from(r: Response) -> Self {
        Fail(Box::new(r))
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        *self.0
    }
}

impl FromRequestParts<ConsoleState> for Ctx {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ConsoleState,
    ) -> Result<Self, Self::Rejection> {
        let cookies = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ");
        let query_lang = parts.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lang")
                .and_then(|(_, v)| Lang::parse(&v))
        });
        let lang = query_lang
            .or_else(|| session::read_cookie(&cookies, session::LANG_COOKIE).and_then(Lang::parse))
            .unwrap_or_default();
        let here = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/console/".to_string());
        let login_nonce = session::read_cookie(&cookies, session::LOGIN_COOKIE)
            .filter(|v| v.len() <= 128 && v.chars().all(|c| c.is_ascii_hexdigit()))
            .map(str::to_string);
        let mut auth = None;
        if let Some(raw) = session::read_cookie(&cookies, session::SESSION_COOKIE)
            && let Some(data) = state.keys.open(raw, session::now_secs())
        {
            auth = load_auth(state, data).await;
        }
        Ok(Ctx {
            lang,
            here,
            auth,
            state: state.clone(),
            login_nonce,
        })
    }
}

async fn load_auth(state: &ConsoleState, data: SessionData) -> Option<Auth> {
    let control = &state.control;
    let caller = control
        .caller_for(&data.domain_id, &data.project_id)
        .await
        .ok()?;
    let account = control.account_of(&data.domain_id).await.ok().flatten()?;
    let projects = control.projects_of(&data.domain_id).await.ok()?;
    let csrf = state.keys.csrf_token(&data);
    Some(Auth {
        data,
        caller,
        csrf,
        account_name: account.name,
        projects,
    })
}

impl Ctx {
    pub fn t(&self, m: M) -> &'static str {
        m.t(self.lang)
    }

    /// The signed-in user, or a redirect to the sign-in page.
    pub fn auth(&self) -> Result<&Auth, Fail> {
        self.auth
            .as_ref()
            .ok_or_else(|| redirect("/console/login").into())
    }

    pub fn caller(&self) -> Result<&Caller, Fail> {
        Ok(&self.auth()?.caller)
    }

    pub fn csrf(&self) -> &str {
        self.auth.as_ref().map(|a| a.csrf.as_str()).unwrap_or("")
    }

    /// Check the CSRF token of a POST (signed-in forms).
    pub fn check_csrf(&self, token: &str) -> Result<&Auth, Fail> {
        let auth = self.auth()?;
        if self.state.keys.check_csrf(&auth.data, token) {
            Ok(auth)
        } else {
            tracing::info!(path = self.here, "console: CSRF token rejected");
            Err(self
                .error_page(
                    StatusCode::FORBIDDEN,
                    self.t(M::ErrorTitle),
                    self.t(M::CsrfFailed),
                )
                .into())
        }
    }

    /// An error in the page's language, worded from its domain error, its code apart (see
    /// [`crate::errors`]).
    pub fn api_message(&self, e: &impl ConsoleError) -> Msg {
        self.localize(e).msg
    }

    /// An error in the page's language with the field and port-row input it belongs to.
    pub fn localize(&self, e: &impl ConsoleError) -> Localized {
        crate::errors::localize(e, self.lang, &self.state.codes)
    }

    /// The HTTP status of a page showing `e` (the API front's status for it).
    pub fn status_of(&self, e: &DomainError) -> StatusCode {
        StatusCode::from_u16((self.state.codes.status)(e)).unwrap_or(StatusCode::BAD_REQUEST)
    }

    /// Whether `e` says the thing asked for does not exist (or is not the caller's to see).
    pub fn is_not_found(&self, e: &DomainError) -> bool {
        self.status_of(e) == StatusCode::NOT_FOUND
    }

    pub fn error_page(&self, status: StatusCode, title: &str, message: impl Into<Msg>) -> Response {
        let message = message.into();
        let body = crate::layout::error_body(self, title, &message);
        let markup = if self.auth.is_some() {
            crate::layout::page(self, title, None, body)
        } else {
            crate::layout::bare_page(self, title, body)
        };
        html_status(status, markup)
    }

    /// A page for an error that has no form to go back to.
    pub fn api_error_page(&self, e: &(impl Clone + Into<PageError>)) -> Response {
        let e: PageError = e.clone().into();
        let status = self.status_of(&e.error);
        let title = if status == StatusCode::NOT_FOUND {
            self.t(M::NotFoundTitle)
        } else {
            self.t(M::ErrorTitle)
        };
        self.error_page(status, title, self.api_message(&e))
    }
}

pub fn html(m: Markup) -> Response {
    html_status(StatusCode::OK, m)
}

pub fn html_status(status: StatusCode, m: Markup) -> Response {
    let mut r = (status, m.into_string()).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    r
}

/// `303 See Other` to a console path.
pub fn redirect(to: &str) -> Response {
    let mut r = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Only console paths are valid redirect targets (no open redirect).
pub fn safe_back(raw: &str) -> String {
    let ok = raw.starts_with("/console")
        && !raw.starts_with("//")
        && !raw.contains("://")
        && !raw.contains('\\')
        && raw.chars().all(|c| !c.is_control());
    if ok {
        raw.to_string()
    } else {
        "/console/".to_string()
    }
}

pub fn with_cookie(mut r: Response, cookie: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(cookie) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Percent-encode a query value.
pub fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
