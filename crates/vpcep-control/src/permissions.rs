//! Service whitelists (权限管理, SPEC S5): three API styles over one record type.

use vpcep_core::command::{AddPermissions, ChangePermissions, RemovePermissions};
use vpcep_core::error::{DomainError, DomainResult, Limit, Thing, quoted};
use vpcep_core::model::{Kind, Permission};
use vpcep_core::validate::{self, Page as PageReq};
use vpcep_store::{Query, StoreExt, Tx, TxExt};

use crate::services::{order, own_service};
use crate::{Caller, Control, new_uuid, now_ms};

/// Whitelist records per service.
pub const MAX_PERMISSIONS_PER_SERVICE: i64 = 1000;

fn check_type(t: Option<&str>) -> DomainResult<()> {
    match t {
        None | Some("") | Some("domainId") | Some("orgPath") => Ok(()),
        Some(other) => Err(DomainError::Unsupported {
            field: "permission_type",
            value: quoted(other),
            allowed: &["domainId", "orgPath"],
        }),
    }
}

fn check_batch(n: usize) -> DomainResult<()> {
    if n == 0 {
        return Err(DomainError::Missing {
            field: "permissions",
        });
    }
    if n > validate::MAX_PERMISSIONS_PER_CALL {
        return Err(DomainError::TooMany {
            field: "permissions",
            max: validate::MAX_PERMISSIONS_PER_CALL,
        });
    }
    Ok(())
}

/// Add records (idempotent per permission string); returns the records for `wanted`.
async fn add_records(
    tx: &mut Box<dyn Tx>,
    caller: &Caller,
    service_id: &str,
    wanted: Vec<(String, String)>,
) -> DomainResult<Vec<Permission>> {
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
            return Err(DomainError::LimitReached {
                limit: Limit::PermissionsPerService,
                max: MAX_PERMISSIONS_PER_SERVICE,
            });
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
    ) -> DomainResult<(Vec<Permission>, i64)> {
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
        body: ChangePermissions,
    ) -> DomainResult<Vec<Permission>> {
        check_type(body.permission_type.as_deref())?;
        let perms = body.permissions.unwrap_or_default();
        check_batch(perms.len())?;
        let add = match body.action.as_deref() {
            Some("add") => true,
            Some("remove") => false,
            other => {
                return Err(DomainError::Unsupported {
                    field: "action",
                    value: quoted(other.unwrap_or("")),
                    allowed: &["add", "remove"],
                });
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
        body: AddPermissions,
    ) -> DomainResult<Vec<Permission>> {
        check_type(body.permission_type.as_deref())?;
        let items = body.permissions.unwrap_or_default();
        check_batch(items.len())?;
        let mut wanted = Vec::new();
        for i in items {
            let Some(p) = i.permission else {
                return Err(DomainError::Incomplete {
                    field: "permissions",
                });
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
        body: RemovePermissions,
    ) -> DomainResult<Vec<Permission>> {
        let ids = body.permission_ids.unwrap_or_default();
        check_batch(ids.len())?;
        let mut tx = self.store.begin().await?;
        own_service(&mut tx, caller, service_id).await?;
        let mut out = Vec::new();
        for id in ids {
            match tx.load::<Permission>(&id).await? {
                Some(p) if p.service_id == service_id => {
                    tx.delete(Kind::Permission, &p.id).await?;
                    out.push(p);
                }
                _ => {
                    return Err(DomainError::NotFound {
                        kind: Thing::Permission,
                        id: quoted(&id),
                    });
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
    ) -> DomainResult<Permission> {
        let description = description.ok_or(DomainError::Missing {
            field: "permission.description",
        })?;
        validate::description("description", &description)?;
        let mut tx = self.store.begin().await?;
        own_service(&mut tx, caller, service_id).await?;
        let mut p = match tx.load::<Permission>(permission_id).await? {
            Some(p) if p.service_id == service_id => p,
            _ => {
                return Err(DomainError::NotFound {
                    kind: Thing::Permission,
                    id: quoted(permission_id),
                });
            }
        };
        p.description = description;
        tx.save(&p, 1).await?;
        tx.commit().await?;
        Ok(p)
    }

    /// All whitelist records of a service (for the console and tests).
    pub async fn all_permissions(&self, service_id: &str) -> DomainResult<Vec<Permission>> {
        Ok(self
            .store
            .load_page::<Permission>(Query::of(Kind::Permission).parent(service_id))
            .await?
            .0)
    }
}
