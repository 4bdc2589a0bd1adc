//! Service whitelists (权限管理, SPEC S5): three API styles over one record type.

use vpcep_core::error::{ApiError, ApiResult, codes};
use vpcep_core::model::{Kind, Permission};
use vpcep_core::validate::{self, Page as PageReq};
use vpcep_core::wire::{
    BatchAddPermissionsBody, BatchRemovePermissionsBody, PermissionsActionBody,
};
use vpcep_store::{Query, StoreExt, Tx, TxExt};

use crate::services::{order, own_service};
use crate::{Caller, Control, new_uuid, now_ms};

/// Whitelist records per service.
pub const MAX_PERMISSIONS_PER_SERVICE: i64 = 1000;

fn check_type(t: Option<&str>) -> ApiResult<()> {
    match t {
        None | Some("") | Some("domainId") | Some("orgPath") => Ok(()),
        Some(other) => Err(ApiError::new(
            400,
            codes::INVALID_PERMISSION,
            format!("Invalid permission_type '{other}': use domainId or orgPath."),
        )
        .on("permission_type")),
    }
}

fn check_batch(n: usize) -> ApiResult<()> {
    if n == 0 {
        return Err(ApiError::new(
            400,
            codes::EMPTY_PERMISSIONS,
            "Invalid permissions: the list is empty.",
        )
        .on("permissions"));
    }
    if n > validate::MAX_PERMISSIONS_PER_CALL {
        return Err(ApiError::new(
            400,
            codes::BATCH_LIMIT,
            format!(
                "At most {} whitelist records per call.",
                validate::MAX_PERMISSIONS_PER_CALL
            ),
        )
        .on("permissions"));
    }
    Ok(())
}

/// Add records (idempotent per permission string); returns the records for `wanted`.
async fn add_records(
    tx: &mut Box<dyn Tx>,
    caller: &Caller,
    service_id: &str,
    wanted: Vec<(String, String)>,
) -> ApiResult<Vec<Permission>> {
    let existing = tx
        .load_all::<Permission>(Query::of(Kind::Permission).parent(service_id))
        .await?;
    let mut count = existing.len() as i64;
    let mut out = Vec::new();
    for (perm, desc) in wanted {
        let ptype = validate::permission(&perm)?;
        validate::description("description", &desc)?;
        if let Some(e) = existing
            .iter()
            .chain(out.iter())
            .find(|p| p.permission == perm)
        {
            let mut e = e.clone();
            if !desc.is_empty() && e.description != desc {
                e.description = desc;
                tx.save(&e, 1).await?;
            }
            if !out.iter().any(|p: &Permission| p.id == e.id) {
                out.push(e);
            }
            continue;
        }
        if count >= MAX_PERMISSIONS_PER_SERVICE {
            return Err(ApiError::new(
                400,
                codes::PERMISSION_LIMIT,
                format!("The maximum number of whitelist records ({MAX_PERMISSIONS_PER_SERVICE}) has been reached."),
            )
            .on("permissions"));
        }
        let p = Permission {
            id: new_uuid(),
            project_id: caller.project_id.clone(),
            service_id: service_id.to_string(),
            permission: perm,
            permission_type: ptype.to_string(),
            description: desc,
            created_ms: now_ms(),
        };
        tx.save(&p, 1).await?;
        count += 1;
        out.push(p);
    }
    Ok(out)
}

impl Control {
    pub async fn list_permissions(
        &self,
        caller: &Caller,
        service_id: &str,
        filter: Option<&str>,
        page: PageReq,
    ) -> ApiResult<(Vec<Permission>, i64)> {
        self.get_service(caller, service_id).await?;
        let mut q = Query::of(Kind::Permission).parent(service_id);
        q.name_contains = filter.filter(|s| !s.is_empty()).map(str::to_string);
        q.order = order(&page);
        q.limit = Some(page.limit);
        q.offset = page.offset;
        Ok(self.store.load_page::<Permission>(q).await?)
    }

    /// Legacy `permissions/action`: add or remove permission strings; returns the whole list.
    pub async fn permissions_action(
        &self,
        caller: &Caller,
        service_id: &str,
        body: PermissionsActionBody,
    ) -> ApiResult<Vec<Permission>> {
        check_type(body.permission_type.as_deref())?;
        let perms = body.permissions.unwrap_or_default();
        check_batch(perms.len())?;
        let add = match body.action.as_deref() {
            Some("add") => true,
            Some("remove") => false,
            other => {
                return Err(ApiError::new(
                    400,
                    codes::INVALID_PERMISSION_ACTION,
                    format!(
                        "Invalid action '{}': use add or remove.",
                        other.unwrap_or("")
                    ),
                )
                .on("action"));
            }
        };
        let mut tx = self.store.begin().await?;
        own_service(&mut tx, caller, service_id).await?;
        if add {
            add_records(
                &mut tx,
                caller,
                service_id,
                perms.into_iter().map(|p| (p, String::new())).collect(),
            )
            .await?;
        } else {
            for p in &perms {
                validate::permission(p)?;
            }
            let existing = tx
                .load_all::<Permission>(Query::of(Kind::Permission).parent(service_id))
                .await?;
            for e in existing.iter().filter(|e| perms.contains(&e.permission)) {
                tx.delete(Kind::Permission, &e.id).await?;
            }
        }
        let mut q = Query::of(Kind::Permission).parent(service_id);
        q.order = vpcep_store::Order::CreatedAsc;
        let all = tx.load_all::<Permission>(q).await?;
        tx.commit().await?;
        Ok(all)
    }

    pub async fn batch_add_permissions(
        &self,
        caller: &Caller,
        service_id: &str,
        body: BatchAddPermissionsBody,
    ) -> ApiResult<Vec<Permission>> {
        check_type(body.permission_type.as_deref())?;
        let items = body.permissions.unwrap_or_default();
        check_batch(items.len())?;
        let mut wanted = Vec::new();
        for i in items {
            let Some(p) = i.permission else {
                return Err(ApiError::new(
                    400,
                    codes::INVALID_PERMISSION,
                    "Each record needs a permission.",
                )
                .on("permissions"));
            };
            wanted.push((p, i.description.unwrap_or_default()));
        }
        let mut tx = self.store.begin().await?;
        own_service(&mut tx, caller, service_id).await?;
        let out = add_records(&mut tx, caller, service_id, wanted).await?;
        tx.commit().await?;
        Ok(out)
    }

    pub async fn batch_remove_permissions(
        &self,
        caller: &Caller,
        service_id: &str,
        body: BatchRemovePermissionsBody,
    ) -> ApiResult<Vec<Permission>> {
        let items = body.permissions.unwrap_or_default();
        check_batch(items.len())?;
        let mut tx = self.store.begin().await?;
        own_service(&mut tx, caller, service_id).await?;
        let mut out = Vec::new();
        for i in items {
            let id = i.id.unwrap_or_default();
            match tx.load::<Permission>(&id).await? {
                Some(p) if p.service_id == service_id => {
                    tx.delete(Kind::Permission, &p.id).await?;
                    out.push(p);
                }
                _ => {
                    return Err(ApiError::new(
                        404,
                        codes::NOT_FOUND,
                        format!("The whitelist record {id} does not exist."),
                    )
                    .on("permissions"));
                }
            }
        }
        tx.commit().await?;
        Ok(out)
    }

    pub async fn update_permission_description(
        &self,
        caller: &Caller,
        service_id: &str,
        permission_id: &str,
        description: Option<String>,
    ) -> ApiResult<Permission> {
        let description = description.ok_or_else(|| {
            ApiError::param("permission.description is required.").on("description")
        })?;
        validate::description("description", &description)?;
        let mut tx = self.store.begin().await?;
        own_service(&mut tx, caller, service_id).await?;
        let mut p = match tx.load::<Permission>(permission_id).await? {
            Some(p) if p.service_id == service_id => p,
            _ => {
                return Err(ApiError::new(
                    404,
                    codes::NOT_FOUND,
                    format!("The whitelist record {permission_id} does not exist."),
                ));
            }
        };
        p.description = description;
        tx.save(&p, 1).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// All whitelist records of a service (for the console and tests).
    pub async fn all_permissions(&self, service_id: &str) -> ApiResult<Vec<Permission>> {
        Ok(self
            .store
            .load_page::<Permission>(Query::of(Kind::Permission).parent(service_id))
            .await?
            .0)
    }
}
