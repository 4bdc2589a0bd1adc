//! Sign-in, region (project) choice, sign-out, language switch.

use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use maud::html;
use serde::Deserialize;
use vpcep_core::model::Project;

use crate::ctx::{Ctx, Out, html, html_status, redirect, safe_back, with_cookie};
use crate::form::FormData;
use crate::i18n::{Lang, M};
use crate::layout::{self, Errors, Field};
use crate::session::{self, SessionData};

pub async fn home(ctx: Ctx) -> Out {
    if ctx.auth.is_some() {
        Ok(redirect("/console/endpoints"))
    } else {
        Ok(redirect("/console/login"))
    }
}

pub async fn not_found(ctx: Ctx) -> Out {
    Ok(ctx.error_page(
        StatusCode::NOT_FOUND,
        ctx.t(M::NotFoundTitle),
        ctx.t(M::NotFoundTitle),
    ))
}

fn login_view(ctx: &Ctx, nonce: &str, ak: &str, errors: &Errors) -> maud::Markup {
    let token = ctx.state.keys.login_token(nonce);
    let f_ak = Field::new("ak", ctx.t(M::AccessKey))
        .required()
        .error(errors.get("ak"));
    let f_sk = Field::new("sk", ctx.t(M::SecretKey))
        .required()
        .error(errors.get("sk"));
    let body = html! {
        div.login-card {
            h1 { (ctx.t(M::SignInTitle)) }
            p.hint { (ctx.t(M::SignInHint)) }
            @if let Some(g) = errors.get("") {
                div.alert.alert-error role="alert" #form-error { (g) }
            }
            form method="post" action="/console/login" novalidate {
                input type="hidden" name="csrf" value=(token);
                (f_ak.wrap(html! {
                    input #ak type="text" name="ak" value=(ak) autocomplete="username"
                        spellcheck="false" autocapitalize="off" aria-required="true"
                        aria-invalid=[f_ak.invalid()] aria-describedby=[f_ak.described()];
                }))
                (f_sk.wrap(html! {
                    input #sk type="password" name="sk" autocomplete="current-password"
                        aria-required="true"
                        aria-invalid=[f_sk.invalid()] aria-describedby=[f_sk.described()];
                }))
                div.actions {
                    button.btn.btn-primary type="submit" #signin { (ctx.t(M::SignIn)) }
                }
            }
        }
    };
    layout::bare_page(ctx, ctx.t(M::SignInTitle), body)
}

/// Render the sign-in page, giving the browser a sign-in nonce cookie if it has none.
fn login_response(ctx: &Ctx, status: StatusCode, ak: &str, errors: &Errors) -> Out {
    let (nonce, fresh) = match &ctx.login_nonce {
        Some(n) => (n.clone(), false),
        None => (
            session::random_hex(16).map_err(|e| {
                tracing::error!(error = %e, "console: no randomness");
                ctx.error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ctx.t(M::ErrorTitle),
                    ctx.t(M::ErrSystem),
                )
            })?,
            true,
        ),
    };
    let r = html_status(status, login_view(ctx, &nonce, ak, errors));
    Ok(if fresh {
        with_cookie(
            r,
            &session::cookie(
                session::LOGIN_COOKIE,
                &nonce,
                3600,
                ctx.state.options.secure_cookies,
            ),
        )
    } else {
        r
    })
}

pub async fn login_page(ctx: Ctx) -> Out {
    if ctx.auth.is_some() {
        return Ok(redirect("/console/endpoints"));
    }
    login_response(&ctx, StatusCode::OK, "", &Errors::none())
}

async fn projects_of(ctx: &Ctx, domain_id: &str) -> Vec<Project> {
    ctx.state
        .control
        .projects_of(domain_id)
        .await
        .unwrap_or_default()
}

fn session_cookie(
    ctx: &Ctx,
    domain_id: &str,
    project_id: &str,
) -> Result<String, crate::ctx::Fail> {
    let nonce = session::random_hex(12).map_err(|_| {
        ctx.error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            ctx.t(M::ErrorTitle),
            ctx.t(M::ErrSystem),
        )
    })?;
    let data = SessionData {
        domain_id: domain_id.to_string(),
        project_id: project_id.to_string(),
        expires: session::now_secs() + session::SESSION_SECS,
        nonce,
    };
    Ok(session::cookie(
        session::SESSION_COOKIE,
        &ctx.state.keys.issue(&data),
        session::SESSION_SECS,
        ctx.state.options.secure_cookies,
    ))
}

pub async fn login(ctx: Ctx, body: Bytes) -> Out {
    let f = FormData::parse(&body);
    let ak = f.get("ak");
    let sk = f.raw("sk");
    let nonce = ctx.login_nonce.clone().unwrap_or_default();
    if !ctx.state.keys.check_login_token(&nonce, &f.get("csrf")) {
        return login_response(
            &ctx,
            StatusCode::FORBIDDEN,
            &ak,
            &Errors::one("", ctx.t(M::LoginExpired)),
        );
    }
    let mut errors = Errors::none();
    if ak.is_empty() {
        errors.add("ak", ctx.t(M::BadCredentials));
    }
    if sk.is_empty() {
        errors.add("sk", ctx.t(M::BadCredentials));
    }
    if !errors.is_empty() {
        return login_response(&ctx, StatusCode::BAD_REQUEST, &ak, &errors);
    }
    let found = match ctx.state.control.credential_secret(&ak).await {
        Ok(f) => f,
        // A key no store can hold (e.g. with NUL) names no credential: the same answer as any
        // unknown key, on every backend.
        Err(vpcep_core::DomainError::NulInText) => None,
        Err(e) => return Err(ctx.api_error_page(&e).into()),
    };
    // Compare in constant time; an unknown key is compared against a dummy so both take as long.
    let (stored, domain_id) = found.unwrap_or_else(|| (String::from("\u{0}"), String::new()));
    if !ctx.state.keys.secrets_equal(&sk, &stored) || domain_id.is_empty() {
        tracing::info!(access_key = ak, "console sign-in refused");
        return login_response(
            &ctx,
            StatusCode::UNAUTHORIZED,
            &ak,
            &Errors::one("sk", ctx.t(M::BadCredentials)),
        );
    }
    let projects = projects_of(&ctx, &domain_id).await;
    let Some(first) = projects
        .iter()
        .find(|p| p.region == ctx.state.control.settings.region)
        .or(projects.first())
    else {
        return login_response(
            &ctx,
            StatusCode::FORBIDDEN,
            &ak,
            &Errors::one("", ctx.t(M::NoProject)),
        );
    };
    tracing::info!(domain_id, access_key = ak, "console sign-in");
    let cookie = session_cookie(&ctx, &domain_id, &first.project_id)?;
    let next = if projects.len() > 1 {
        "/console/region"
    } else {
        "/console/endpoints"
    };
    let r = with_cookie(redirect(next), &cookie);
    Ok(with_cookie(
        r,
        &session::cookie(
            session::LOGIN_COOKIE,
            "",
            0,
            ctx.state.options.secure_cookies,
        ),
    ))
}

pub async fn region_page(ctx: Ctx) -> Out {
    let auth = ctx.auth()?;
    let body = html! {
        h1 { (ctx.t(M::ChooseRegion)) }
        p.hint { (ctx.t(M::ChooseRegionHint)) }
        form.panel method="post" action="/console/region" {
            (layout::csrf(&ctx))
            input type="hidden" name="back" value="/console/endpoints";
            fieldset.field {
                legend.field-label { (ctx.t(M::Region)) }
                div.field-control.choices {
                    @for p in &auth.projects {
                        label.choice {
                            input type="radio" name="project_id" value=(p.project_id)
                                checked[p.project_id == auth.caller.project_id];
                            strong { (p.region) }
                            span.muted { " · " (ctx.t(M::Project)) " " code { (p.project_id) } }
                        }
                    }
                }
            }
            div.actions { button.btn.btn-primary type="submit" { (ctx.t(M::Continue)) } }
        }
    };
    Ok(html(layout::page(&ctx, ctx.t(M::ChooseRegion), None, body)))
}

pub async fn choose_region(ctx: Ctx, body: Bytes) -> Out {
    let f = FormData::parse(&body);
    let auth = ctx.check_csrf(&f.get("csrf"))?;
    let project_id = f.get("project_id");
    if let Err(e) = ctx
        .state
        .control
        .caller_for(&auth.data.domain_id, &project_id)
        .await
    {
        return Err(ctx.api_error_page(&e).into());
    }
    let cookie = session_cookie(&ctx, &auth.data.domain_id, &project_id)?;
    // A detail page belongs to the old project: go to its list instead.
    let back = safe_back(&f.get("back"));
    let next = if back.starts_with("/console/services") {
        "/console/services".to_string()
    } else if back.starts_with("/console/endpoints") {
        "/console/endpoints".to_string()
    } else {
        back
    };
    Ok(with_cookie(redirect(&next), &cookie))
}

pub async fn logout(ctx: Ctx, body: Bytes) -> Out {
    let f = FormData::parse(&body);
    ctx.check_csrf(&f.get("csrf"))?;
    Ok(with_cookie(
        redirect("/console/login"),
        &session::cookie(
            session::SESSION_COOKIE,
            "",
            0,
            ctx.state.options.secure_cookies,
        ),
    ))
}

#[derive(Deserialize)]
pub struct BackQuery {
    back: Option<String>,
}

/// Remove a `lang=` parameter from a path's query (the cookie decides from now on).
fn strip_lang(path: &str) -> String {
    let Some((p, query)) = path.split_once('?') else {
        return path.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|kv| !kv.starts_with("lang=") && !kv.is_empty())
        .collect();
    if kept.is_empty() {
        p.to_string()
    } else {
        format!("{p}?{}", kept.join("&"))
    }
}

pub async fn switch_lang(ctx: Ctx, Path(lang): Path<String>, Query(q): Query<BackQuery>) -> Out {
    let lang = Lang::parse(&lang).unwrap_or_default();
    let back = strip_lang(&safe_back(q.back.as_deref().unwrap_or("/console/")));
    Ok(with_cookie(
        redirect(&back),
        &session::cookie(
            session::LANG_COOKIE,
            lang.code(),
            365 * 24 * 3600,
            ctx.state.options.secure_cookies,
        ),
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn strip_lang() {
        assert_eq!(
            super::strip_lang("/console/x?lang=en&a=1"),
            "/console/x?a=1"
        );
        assert_eq!(super::strip_lang("/console/x?lang=en"), "/console/x");
        assert_eq!(super::strip_lang("/console/x"), "/console/x");
    }
}
