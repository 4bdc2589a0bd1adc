//! Security groups and their rules: `/v1/{project_id}/security-groups` and
//! `/v1/{project_id}/security-group-rules`.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_huawei::vpc as w;

use super::{P2, paged};
use crate::AppState;
use crate::error::{VpcReply, parse_body, query_map};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/v1/{project_id}/security-groups",
            get(list_security_groups).post(create_security_group),
        )
        .route(
            "/v1/{project_id}/security-groups/{id}",
            get(show_security_group).delete(delete_security_group),
        )
        .route(
            "/v1/{project_id}/security-group-rules",
            get(list_security_group_rules).post(create_security_group_rule),
        )
        .route(
            "/v1/{project_id}/security-group-rules/{id}",
            get(show_security_group_rule).delete(delete_security_group_rule),
        )
}

async fn create_security_group(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::SecurityGroupEnvelope>> {
    let b: w::CreateSecurityGroupRequest = parse_body(&body)?;
    let (g, rules) = s
        .control
        .create_security_group(&c, b.security_group.into())
        .await?;
    Ok(Json(w::SecurityGroupEnvelope {
        security_group: w::SecurityGroup::from_group(&g, &rules),
    }))
}

async fn list_security_groups(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> VpcReply<Json<w::SecurityGroupsEnvelope>> {
    let q = query_map(q.as_deref());
    let list = s
        .control
        .list_security_groups(&c, q.get("vpc_id").map(String::as_str))
        .await?;
    let list = paged(
        list,
        |(g, _)| &g.id,
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
    );
    Ok(Json(w::SecurityGroupsEnvelope {
        security_groups: list
            .iter()
            .map(|(g, r)| w::SecurityGroup::from_group(g, r))
            .collect(),
    }))
}

async fn show_security_group(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::SecurityGroupEnvelope>> {
    let (g, rules) = s.control.get_security_group(&c, &id).await?;
    Ok(Json(w::SecurityGroupEnvelope {
        security_group: w::SecurityGroup::from_group(&g, &rules),
    }))
}

async fn delete_security_group(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_security_group(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_security_group_rule(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> VpcReply<Json<w::SecurityGroupRuleEnvelope>> {
    let b: w::CreateSecurityGroupRuleRequest = parse_body(&body)?;
    let r = s
        .control
        .create_security_group_rule(&c, b.security_group_rule.into())
        .await?;
    Ok(Json(w::SecurityGroupRuleEnvelope {
        security_group_rule: w::SecurityGroupRule::from(&r),
    }))
}

async fn list_security_group_rules(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> VpcReply<Json<w::SecurityGroupRulesEnvelope>> {
    let q = query_map(q.as_deref());
    let mut list = s
        .control
        .list_security_group_rules(&c, q.get("security_group_id").map(String::as_str))
        .await?;
    if let Some(p) = q.get("remote_ip_prefix").filter(|p| !p.is_empty()) {
        list.retain(|r| r.remote_ip_prefix.as_ref() == Some(p));
    }
    let list = paged(
        list,
        |r| &r.id,
        q.get("limit").map(String::as_str),
        q.get("marker").map(String::as_str),
    );
    Ok(Json(w::SecurityGroupRulesEnvelope {
        security_group_rules: list.iter().map(w::SecurityGroupRule::from).collect(),
    }))
}

async fn show_security_group_rule(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<Json<w::SecurityGroupRuleEnvelope>> {
    Ok(Json(w::SecurityGroupRuleEnvelope {
        security_group_rule: w::SecurityGroupRule::from(
            &s.control.get_security_group_rule(&c, &id).await?,
        ),
    }))
}

async fn delete_security_group_rule(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> VpcReply<StatusCode> {
    s.control.delete_security_group_rule(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
