//! Tags on services and endpoints, and tag-based search.

use std::collections::BTreeMap;

use vpcep_core::command::{ChangeTags, FindByTags, TagFilter, TagInput};
use vpcep_core::error::{DomainError, DomainResult, Thing, quoted};
use vpcep_core::model::{Endpoint, EndpointService, Kind, Tag};
use vpcep_core::validate;
use vpcep_store::{Query, StoreExt, TxExt};

use crate::{Caller, Control, now_ms};

pub fn parse_tags(raw: &[TagInput]) -> DomainResult<Vec<Tag>> {
    let tags: Vec<Tag> = raw
        .iter()
        .map(|t| Tag {
            key: t.key.clone().unwrap_or_default().trim().to_string(),
            value: t.value.clone().unwrap_or_default(),
        })
        .collect();
    validate::tags(&tags)?;
    Ok(tags)
}

/// `endpoint_service` or `endpoint`.
pub fn resource_kind(s: &str) -> DomainResult<Kind> {
    match s {
        "endpoint_service" => Ok(Kind::EndpointService),
        "endpoint" => Ok(Kind::Endpoint),
        other => Err(DomainError::Unsupported {
            field: "resource_type",
            value: quoted(other),
            allowed: &["endpoint_service", "endpoint"],
        }),
    }
}

/// A taggable resource: (id, display name, tags).
struct Tagged {
    id: String,
    name: String,
    tags: Vec<Tag>,
}

fn matches_all(tags: &[Tag], want: &[TagFilter]) -> bool {
    want.iter().all(|w| {
        let key = w.key.as_deref().unwrap_or_default();
        let values = w.values.as_deref().unwrap_or_default();
        tags.iter()
            .any(|t| t.key == key && (values.is_empty() || values.contains(&t.value)))
    })
}

fn matches_any(tags: &[Tag], want: &[TagFilter]) -> bool {
    want.iter().any(|w| {
        let key = w.key.as_deref().unwrap_or_default();
        let values = w.values.as_deref().unwrap_or_default();
        tags.iter()
            .any(|t| t.key == key && (values.is_empty() || values.contains(&t.value)))
    })
}

impl Control {
    async fn tagged(&self, caller: &Caller, kind: Kind) -> DomainResult<Vec<Tagged>> {
        let q = Query::of(kind).project(&caller.project_id);
        Ok(match kind {
            Kind::EndpointService => {
                let (list, _) = self.store.load_page::<EndpointService>(q).await?;
                list.into_iter()
                    .map(|s| Tagged {
                        id: s.id,
                        name: s.service_name,
                        tags: s.tags,
                    })
                    .collect()
            }
            _ => {
                let (list, _) = self.store.load_page::<Endpoint>(q).await?;
                list.into_iter()
                    .map(|e| Tagged {
                        name: e.id.clone(),
                        id: e.id,
                        tags: e.tags,
                    })
                    .collect()
            }
        })
    }

    /// `POST /{resource_type}/{resource_id}/tags/action` (create / delete).
    pub async fn tags_action(
        &self,
        caller: &Caller,
        resource_type: &str,
        id: &str,
        body: ChangeTags,
    ) -> DomainResult<()> {
        let kind = resource_kind(resource_type)?;
        let create = match body.action.as_deref() {
            Some("create") => true,
            Some("delete") => false,
            other => {
                return Err(DomainError::Unsupported {
                    field: "action",
                    value: quoted(other.unwrap_or("")),
                    allowed: &["create", "delete"],
                });
            }
        };
        let raw = body.tags.unwrap_or_default();
        if raw.is_empty() {
            return Err(DomainError::Missing { field: "tags" });
        }
        let mut tx = self.store.begin().await?;
        let current: Vec<Tag> = match kind {
            Kind::EndpointService => {
                caller
                    .own(
                        tx.load::<EndpointService>(id).await?,
                        Thing::EndpointService,
                        id,
                    )?
                    .tags
            }
            _ => {
                caller
                    .own(tx.load::<Endpoint>(id).await?, Thing::Endpoint, id)?
                    .tags
            }
        };
        let mut tags = current;
        if create {
            let new = parse_tags(&raw)?;
            for t in new {
                match tags.iter_mut().find(|x| x.key == t.key) {
                    Some(x) => x.value = t.value,
                    None => tags.push(t),
                }
            }
            validate::tags(&tags)?;
        } else {
            for t in &raw {
                let key = t.key.clone().unwrap_or_default();
                tags.retain(|x| {
                    !(x.key == key
                        && t.value
                            .as_ref()
                            .is_none_or(|v| v.is_empty() || *v == x.value))
                });
            }
        }
        match kind {
            Kind::EndpointService => {
                if let Some(mut s) = tx.load::<EndpointService>(id).await? {
                    s.tags = tags;
                    s.updated_ms = now_ms();
                    tx.save(&s, s.generation).await?;
                }
            }
            _ => {
                if let Some(mut e) = tx.load::<Endpoint>(id).await? {
                    e.tags = tags;
                    e.updated_ms = now_ms();
                    tx.save(&e, e.generation).await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// `GET /{resource_type}/tags`: every key used in the project with its values.
    pub async fn project_tags(
        &self,
        caller: &Caller,
        resource_type: &str,
    ) -> DomainResult<Vec<(String, Vec<String>)>> {
        let kind = resource_kind(resource_type)?;
        let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in self.tagged(caller, kind).await? {
            for t in r.tags {
                let v = map.entry(t.key).or_default();
                if !v.contains(&t.value) {
                    v.push(t.value);
                }
            }
        }
        Ok(map.into_iter().collect())
    }

    /// `POST /{resource_type}/resource_instances/action`: filter or count by tags.
    pub async fn resource_instances(
        &self,
        caller: &Caller,
        resource_type: &str,
        body: FindByTags,
    ) -> DomainResult<(Option<Vec<(String, String, Vec<Tag>)>>, i64)> {
        let kind = resource_kind(resource_type)?;
        let count_only = match body.action.as_deref() {
            Some("filter") => false,
            Some("count") => true,
            other => {
                return Err(DomainError::Unsupported {
                    field: "action",
                    value: quoted(other.unwrap_or("")),
                    allowed: &["filter", "count"],
                });
            }
        };
        let limit = body.limit.unwrap_or(1000);
        let offset = body.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) {
            return Err(DomainError::FilterLimitOutOfRange { value: limit });
        }
        if offset < 0 {
            return Err(DomainError::NegativeOffset { value: offset });
        }
        let name_match = body
            .matches
            .unwrap_or_default()
            .into_iter()
            .find(|m| m.key.as_deref() == Some("resource_name"))
            .and_then(|m| m.value);
        let hits: Vec<Tagged> = self
            .tagged(caller, kind)
            .await?
            .into_iter()
            .filter(|r| {
                if body.without_any_tag == Some(true) {
                    return r.tags.is_empty();
                }
                body.tags.as_deref().is_none_or(|w| matches_all(&r.tags, w))
                    && body
                        .tags_any
                        .as_deref()
                        .is_none_or(|w| w.is_empty() || matches_any(&r.tags, w))
                    && body
                        .not_tags
                        .as_deref()
                        .is_none_or(|w| w.is_empty() || !matches_all(&r.tags, w))
                    && body
                        .not_tags_any
                        .as_deref()
                        .is_none_or(|w| !matches_any(&r.tags, w))
                    && name_match.as_deref().is_none_or(|n| r.name.contains(n))
            })
            .collect();
        let total = hits.len() as i64;
        if count_only {
            return Ok((None, total));
        }
        let page = hits
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|r| (r.id, r.name, r.tags))
            .collect();
        Ok((Some(page), total))
    }
}
