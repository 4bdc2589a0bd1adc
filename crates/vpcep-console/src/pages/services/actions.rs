//! 终端节点服务 actions: accept/reject a connection, whitelist records, delete.

use super::*;

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
        Err(e) => failed_on_tab(&ctx, &id, Tab::Connections, &e).await,
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
        Err(e) => failed_on_tab(&ctx, &id, Tab::Permissions, &e).await,
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
        Err(e) if ctx.is_not_found(&e) => Err(ctx.api_error_page(&e).into()),
        Err(e) => {
            // SERVICE_IN_USE says how many endpoints to reject or delete first.
            failed_on_tab(&ctx, &id, Tab::Connections, &e).await
        }
    }
}

/// The detail page on `tab` with `e` in its banner, answered with `e`'s status: what every
/// action shows when the service layer refused it.
async fn failed_on_tab(ctx: &Ctx, id: &str, tab: Tab, e: &vpcep_core::DomainError) -> Out {
    let none = Errors::none();
    let st = DetailState {
        tab,
        banner: Some(ctx.api_message(e)),
        add_open: false,
        add_rows: vec![],
        add_errors: &none,
        msg: None,
    };
    render_detail(ctx, id, st, ctx.status_of(e)).await
}
