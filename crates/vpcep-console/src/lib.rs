//! The web console (SPEC S12, R6): server-rendered pages under `/console`, served by `vpcep serve`
//! next to the API. Every action goes through the same service layer (`vpcep-control`) as the
//! API, so rules and error messages are the API's own; a rejected form comes back filled in with
//! the message next to the field the error names.
//!
//! Sign-in is with an account's AK/SK; the session is a signed cookie (see [`session`]), every
//! form carries a CSRF token derived from it. Chinese by default, English with `?lang=en` or the
//! switch in the header (a `vpcep_lang` cookie).

mod audit;
pub mod charts;
pub mod ctx;
pub mod errors;
pub mod form;
pub mod i18n;
pub mod layout;
mod pages;
pub mod session;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::Response;
use axum::routing::{get, post};
use vpcep_control::Control;

pub use errors::{ErrorCodes, PageError};
pub use session::Keys;

/// Errors of setting the console up (key file). Request-time problems are pages, not errors.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("cannot read or write the console key {path}: {source}")]
    KeyFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the console key {path} is not 64 hex characters")]
    BadKey { path: String },
    #[error("no randomness available: {0}")]
    Random(String),
}

/// Options of the console.
#[derive(Debug, Clone, Default)]
pub struct ConsoleOptions {
    /// Add `Secure` to cookies (set when the console is served over HTTPS by a proxy).
    pub secure_cookies: bool,
}

#[derive(Clone)]
pub struct ConsoleState {
    pub control: Control,
    pub keys: Arc<Keys>,
    pub options: Arc<ConsoleOptions>,
    /// The private-DNS resolver of this process, when it runs one (`vpcep serve`): the endpoint
    /// page then says whether its name resolves. Without it the page claims nothing.
    pub names: Option<Arc<dyn NameCheck>>,
    /// The codes and statuses of the API front served beside the console.
    pub codes: ErrorCodes,
}

/// Whether a private name resolves in a VPC now, asked of the state the resolver answers from
/// (its sockets for that VPC open, the name in that VPC's view).
pub trait NameCheck: Send + Sync {
    /// The addresses `name` answers with from `vpc_id`'s resolver; `None` when it does not.
    fn resolves(&self, vpc_id: &str, name: &str) -> Option<Vec<std::net::Ipv4Addr>>;
}

impl ConsoleState {
    pub fn new(control: Control, keys: Keys, options: ConsoleOptions, codes: ErrorCodes) -> Self {
        Self {
            control,
            keys: Arc::new(keys),
            options: Arc::new(options),
            names: None,
            codes,
        }
    }

    /// Let the endpoint page ask `names` whether private names resolve.
    pub fn with_name_check(mut self, names: Arc<dyn NameCheck>) -> Self {
        self.names = Some(names);
        self
    }
}

const CSS: &str = include_str!("../static/console.css");
const JS: &str = include_str!("../static/console.js");

/// The console's routes, all under `/console`; merge into the app router.
pub fn router(state: ConsoleState) -> Router {
    use pages::{account, auth, endpoints, services};
    Router::new()
        .route("/console", get(auth::home))
        .route("/console/", get(auth::home))
        .route("/console/static/console.css", get(css))
        .route("/console/static/console.js", get(js))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route(
            "/console/region",
            get(auth::region_page).post(auth::choose_region),
        )
        .route("/console/lang/{lang}", get(auth::switch_lang))
        .route("/console/endpoints", get(endpoints::list))
        .route(
            "/console/endpoints/new",
            get(endpoints::new_form).post(endpoints::new_submit),
        )
        .route("/console/endpoints/verify", get(endpoints::verify))
        .route("/console/endpoints/{id}", get(endpoints::detail))
        .route("/console/endpoints/{id}/delete", post(endpoints::delete))
        .route("/console/services", get(services::list))
        .route(
            "/console/services/new",
            get(services::new_form).post(services::new_submit),
        )
        .route("/console/services/{id}", get(services::detail))
        .route("/console/services/{id}/delete", post(services::delete))
        .route(
            "/console/services/{id}/connections",
            post(services::connection_action),
        )
        .route(
            "/console/services/{id}/permissions",
            post(services::add_permissions),
        )
        .route(
            "/console/services/{id}/permissions/remove",
            post(services::remove_permission),
        )
        .route(
            "/console/status/endpoint/{id}",
            get(endpoints::status_fragment),
        )
        .route(
            "/console/status/service/{id}",
            get(services::status_fragment),
        )
        .route(
            "/console/status/connection/{sid}/{eid}",
            get(services::connection_status_fragment),
        )
        .route("/console/credentials", get(account::credentials))
        .route("/console/quotas", get(account::quotas))
        .route("/console/network", get(account::network))
        .route(
            "/console/{*rest}",
            get(auth::not_found).post(auth::not_found),
        )
        .layer(from_fn_with_state(state.clone(), audit::record))
        .layer(from_fn(security_headers))
        .with_state(state)
}

async fn css() -> Response {
    asset(CSS, "text/css; charset=utf-8")
}

async fn js() -> Response {
    asset(JS, "text/javascript; charset=utf-8")
}

fn asset(body: &'static str, ct: &'static str) -> Response {
    let mut r = Response::new(axum::body::Body::from(body));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    r
}

/// Headers on every console response: no framing, no inline script, nothing cached that is
/// private, and a `?lang=` choice remembered in its cookie.
async fn security_headers(req: Request, next: Next) -> Response {
    let lang_choice = req
        .uri()
        .query()
        .and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "lang")
                .map(|(_, v)| v.into_owned())
        })
        .and_then(|v| i18n::Lang::parse(&v));
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if let Some(l) = lang_choice
        && let Ok(v) = HeaderValue::from_str(&session::cookie(
            session::LANG_COOKIE,
            l.code(),
            365 * 24 * 3600,
            false,
        ))
    {
        h.append(header::SET_COOKIE, v);
    }
    res
}
