//! Handlers of the Huawei VPCEP v1 API (reference `huawei-vpcep-api.md` §2, operations 1–33).

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::{Extension, Json, Router};
use bytes::Bytes;
use vpcep_control::Caller;
use vpcep_core::validate;
use vpcep_huawei::ApiError;
use vpcep_huawei::error::codes;
use vpcep_huawei::vpcep::*;

use crate::AppState;
use crate::error::{Reply, parse_body, query_map};

type P1 = Path<String>;
type P2 = Path<(String, String)>;
type P3 = Path<(String, String, String)>;

pub fn routes() -> Router<AppState> {
    const S: &str = "/v1/{project_id}/vpc-endpoint-services";
    const E: &str = "/v1/{project_id}/vpc-endpoints";
    Router::new()
        .route("/v1/{project_id}/quotas", get(list_quota_details))
        .route(S, get(list_endpoint_service).post(create_endpoint_service))
        .route(&format!("{S}/describe"), get(list_service_describe_details))
        .route(&format!("{S}/public"), get(list_service_public_details))
        .route(
            &format!("{S}/{{service_id}}"),
            get(list_service_details)
                .put(update_endpoint_service)
                .delete(delete_endpoint_service),
        )
        .route(
            &format!("{S}/{{service_id}}/connections"),
            get(list_service_connections),
        )
        .route(
            &format!("{S}/{{service_id}}/connections/action"),
            post(accept_or_reject_endpoint),
        )
        .route(
            &format!("{S}/{{service_id}}/connections/description"),
            put(update_endpoint_connections_desc),
        )
        .route(
            &format!("{S}/{{service_id}}/flows"),
            get(list_service_flows),
        )
        .route(
            &format!("{S}/{{service_id}}/name"),
            put(update_endpoint_service_name),
        )
        .route(
            &format!("{S}/{{service_id}}/permissions"),
            get(list_service_permissions_details),
        )
        .route(
            &format!("{S}/{{service_id}}/permissions/action"),
            post(add_or_remove_service_permissions),
        )
        .route(
            &format!("{S}/{{service_id}}/permissions/batch-create"),
            post(batch_add_endpoint_service_permissions),
        )
        .route(
            &format!("{S}/{{service_id}}/permissions/batch-delete"),
            post(batch_remove_endpoint_service_permissions),
        )
        .route(
            &format!("{S}/{{service_id}}/permissions/{{permission_id}}"),
            put(update_endpoint_service_permission_desc),
        )
        .route(E, get(list_endpoints).post(create_endpoint))
        .route(
            &format!("{E}/{{endpoint_id}}"),
            get(list_endpoint_info_details)
                .put(update_endpoint_white)
                .delete(delete_endpoint),
        )
        .route(
            &format!("{E}/{{endpoint_id}}/flows"),
            get(list_endpoint_flows),
        )
        .route(
            &format!("{E}/{{endpoint_id}}/policy"),
            put(update_endpoint_policy).delete(delete_endpoint_policy),
        )
        .route(
            &format!("{E}/{{endpoint_id}}/routetables"),
            put(update_endpoint_routetable),
        )
        .route(
            "/v1/{project_id}/{resource_type}/resource_instances/action",
            post(list_resource_instances),
        )
        .route(
            "/v1/{project_id}/{resource_type}/tags",
            get(list_query_project_resource_tags),
        )
        .route(
            "/v1/{project_id}/{resource_type}/{resource_id}/tags/action",
            post(batch_add_or_remove_resource_instance),
        )
        .route(
            "/v2/{project_id}/vpc-endpoint-services/{service_id}/add-server-resources",
            post(professional_only),
        )
        .route(
            "/v2/{project_id}/vpc-endpoint-services/{service_id}/upgrade",
            post(professional_only),
        )
        .route(
            "/v2/{project_id}/vpc-endpoints/{endpoint_id}/upgrade",
            post(professional_only),
        )
}

/// Version discovery: unauthenticated, like Huawei's.
pub fn version_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(list_version_details))
        .route("/{version}", get(list_specified_version_details))
}

fn version(host: &str) -> VersionOut {
    VersionOut {
        id: "v1".into(),
        links: vec![LinkOut {
            href: format!("http://{host}/v1"),
            kind: "application/json".into(),
            rel: "self".into(),
        }],
        version: "1".into(),
        status: "CURRENT".into(),
        updated: "2018-09-30T00:00:00Z".into(),
        min_version: String::new(),
    }
}

fn host(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_string()
}

async fn list_version_details(headers: HeaderMap) -> Json<VersionsOut> {
    Json(VersionsOut {
        versions: vec![version(&host(&headers))],
    })
}

async fn list_specified_version_details(
    headers: HeaderMap,
    Path(v): P1,
) -> Reply<Json<VersionOneOut>> {
    if v != "v1" {
        return Err(
            ApiError::not_found(format!("API version '{v}' does not exist: use v1.")).into(),
        );
    }
    Ok(Json(VersionOneOut {
        version: version(&host(&headers)),
    }))
}

fn page(
    q: &std::collections::HashMap<String, String>,
    max: i64,
) -> Result<validate::Page, vpcep_core::DomainError> {
    validate::page(
        q.get("limit").map(String::as_str),
        q.get("offset").map(String::as_str),
        q.get("sort_key").map(String::as_str),
        q.get("sort_dir").map(String::as_str),
        max,
    )
}

fn qs<'a>(q: &'a std::collections::HashMap<String, String>, k: &str) -> Option<&'a str> {
    q.get(k).map(String::as_str)
}

// ---- quotas -------------------------------------------------------------------------------------

async fn list_quota_details(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Reply<Json<QuotasOut>> {
    let q = query_map(q.as_deref());
    let usage = s.control.quota_usage(&c, qs(&q, "type")).await?;
    Ok(Json(QuotasOut {
        quotas: QuotaResources {
            resources: usage
                .into_iter()
                .map(|(t, used, quota)| QuotaOut {
                    kind: t.as_str().to_string(),
                    used,
                    quota,
                })
                .collect(),
        },
    }))
}

// ---- services -----------------------------------------------------------------------------------

async fn create_endpoint_service(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Reply<Json<ServiceOut>> {
    let b: CreateEndpointServiceBody = parse_body(&body)?;
    let svc = s.control.create_service(&c, b.into()).await?;
    Ok(Json(ServiceOut::from_service(&svc, None)))
}

async fn list_endpoint_service(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Reply<Json<ServiceListOut>> {
    let q = query_map(q.as_deref());
    let p = page(&q, 1000)?;
    let (list, total) = s
        .control
        .list_services(
            &c,
            qs(&q, "endpoint_service_name"),
            qs(&q, "id"),
            qs(&q, "status"),
            p,
        )
        .await?;
    let ids: Vec<String> = list.iter().map(|svc| svc.id.clone()).collect();
    let counts = s.control.connection_counts(&ids).await?;
    let out = list
        .iter()
        .map(|svc| ServiceOut::from_service(svc, counts.get(&svc.id).copied()))
        .collect();
    Ok(Json(ServiceListOut {
        endpoint_services: out,
        total_count: total,
    }))
}

async fn list_service_details(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> Reply<Json<ServiceOut>> {
    let svc = s.control.get_service(&c, &id).await?;
    let n = s.control.connection_count(&svc.id).await?;
    Ok(Json(ServiceOut::from_service(&svc, Some(n))))
}

async fn update_endpoint_service(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<ServiceOut>> {
    let b: UpdateEndpointServiceBody = parse_body(&body)?;
    let svc = s.control.update_service(&c, &id, b.into()).await?;
    Ok(Json(ServiceOut::from_service(&svc, None)))
}

async fn delete_endpoint_service(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> Reply<StatusCode> {
    s.control.delete_service(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update_endpoint_service_name(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<RenameServiceResponse>> {
    let b: RenameServiceBody = parse_body(&body)?;
    let svc = s
        .control
        .rename_service(&c, &id, b.endpoint_service_name)
        .await?;
    Ok(Json(RenameServiceResponse {
        endpoint_service_name: svc.short_name.unwrap_or_default(),
    }))
}

async fn list_service_describe_details(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Reply<Json<ServiceSummaryOut>> {
    let q = query_map(q.as_deref());
    let svc = s
        .control
        .describe_service(&c, qs(&q, "id"), qs(&q, "endpoint_service_name"))
        .await?;
    Ok(Json(ServiceSummaryOut::from_service(&svc)))
}

async fn list_service_public_details(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Reply<Json<PublicServiceListOut>> {
    let q = query_map(q.as_deref());
    let p = page(&q, 1000)?;
    let (list, total) = s
        .control
        .list_public_services(&c, qs(&q, "endpoint_service_name"), qs(&q, "id"), p)
        .await?;
    Ok(Json(PublicServiceListOut {
        endpoint_services: list.iter().map(PublicServiceOut::from_service).collect(),
        total_count: total,
    }))
}

// ---- flow records (lab extension, docs/flows.md) ------------------------------------------------

fn flow_params(q: Option<&str>) -> vpcep_core::flows::FlowParams {
    let q = query_map(q);
    let get = |k: &str| q.get(k).cloned();
    vpcep_core::flows::FlowParams {
        from: get("from"),
        to: get("to"),
        limit: get("limit"),
        marker: get("marker"),
        translated: get("translated"),
    }
}

fn flow_list(p: vpcep_control::flows::FlowPage) -> Json<FlowListOut> {
    Json(FlowListOut {
        flows: p.records,
        next_marker: p.next_marker,
    })
}

async fn list_service_flows(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    RawQuery(q): RawQuery,
) -> Reply<Json<FlowListOut>> {
    let p = flow_params(q.as_deref());
    Ok(flow_list(s.control.service_flows(&c, &id, &p).await?))
}

async fn list_endpoint_flows(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    RawQuery(q): RawQuery,
) -> Reply<Json<FlowListOut>> {
    let p = flow_params(q.as_deref());
    Ok(flow_list(s.control.endpoint_flows(&c, &id, &p).await?))
}

// ---- connections --------------------------------------------------------------------------------

async fn list_service_connections(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    RawQuery(q): RawQuery,
) -> Reply<Json<ConnectionListOut>> {
    let q = query_map(q.as_deref());
    let p = page(&q, 1000)?;
    let (list, total) = s
        .control
        .list_connections(
            &c,
            &id,
            qs(&q, "id"),
            qs(&q, "marker_id"),
            qs(&q, "status"),
            p,
        )
        .await?;
    Ok(Json(ConnectionListOut {
        connections: list.iter().map(ConnectionOut::from_endpoint).collect(),
        total_count: Some(total),
    }))
}

async fn accept_or_reject_endpoint(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<ConnectionListOut>> {
    let b: ConnectionActionBody = parse_body(&body)?;
    let e = s.control.connection_action(&c, &id, b.into()).await?;
    Ok(Json(ConnectionListOut {
        connections: vec![ConnectionOut::from_endpoint(&e)],
        total_count: None,
    }))
}

async fn update_endpoint_connections_desc(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<ConnectionListOut>> {
    let b: ConnectionsDescBody = parse_body(&body)?;
    let list = s.control.describe_connections(&c, &id, b.into()).await?;
    Ok(Json(ConnectionListOut {
        connections: list.iter().map(ConnectionOut::from_endpoint).collect(),
        total_count: None,
    }))
}

// ---- permissions --------------------------------------------------------------------------------

async fn list_service_permissions_details(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    RawQuery(q): RawQuery,
) -> Reply<Json<PermissionListOut>> {
    let q = query_map(q.as_deref());
    let p = page(&q, 500)?;
    let (list, total) = s
        .control
        .list_permissions(&c, &id, qs(&q, "permission"), p)
        .await?;
    Ok(Json(PermissionListOut {
        permissions: list.iter().map(PermissionOut::from).collect(),
        total_count: Some(total),
    }))
}

async fn add_or_remove_service_permissions(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<PermissionsActionResponse>> {
    let b: PermissionsActionBody = parse_body(&body)?;
    let ptype = b
        .permission_type
        .clone()
        .unwrap_or_else(|| "domainId".to_string());
    let list = s.control.permissions_action(&c, &id, b.into()).await?;
    Ok(Json(PermissionsActionResponse {
        permissions: list.into_iter().map(|p| p.permission).collect(),
        permission_type: ptype,
    }))
}

async fn batch_add_endpoint_service_permissions(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<PermissionListOut>> {
    let b: BatchAddPermissionsBody = parse_body(&body)?;
    let list = s.control.batch_add_permissions(&c, &id, b.into()).await?;
    Ok(Json(PermissionListOut {
        permissions: list.iter().map(PermissionOut::from).collect(),
        total_count: None,
    }))
}

async fn batch_remove_endpoint_service_permissions(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<PermissionListOut>> {
    let b: BatchRemovePermissionsBody = parse_body(&body)?;
    let list = s
        .control
        .batch_remove_permissions(&c, &id, b.into())
        .await?;
    Ok(Json(PermissionListOut {
        permissions: list.iter().map(PermissionOut::from).collect(),
        total_count: None,
    }))
}

async fn update_endpoint_service_permission_desc(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id, pid)): P3,
    body: Bytes,
) -> Reply<Json<PermissionListOut>> {
    let b: UpdatePermissionDescBody = parse_body(&body)?;
    let p = s
        .control
        .update_permission_description(&c, &id, &pid, b.permission.and_then(|p| p.description))
        .await?;
    Ok(Json(PermissionListOut {
        permissions: vec![PermissionOut::from(&p)],
        total_count: None,
    }))
}

// ---- endpoints ----------------------------------------------------------------------------------

async fn create_endpoint(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    body: Bytes,
) -> Reply<Json<EndpointOut>> {
    let b: CreateEndpointBody = parse_body(&body)?;
    let e = s.control.create_endpoint(&c, b.into()).await?;
    Ok(Json(EndpointOut::from_endpoint(&e)))
}

async fn list_endpoints(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    RawQuery(q): RawQuery,
) -> Reply<Json<EndpointListOut>> {
    let q = query_map(q.as_deref());
    let p = page(&q, 1000)?;
    if let Some(v) = qs(&q, "vpc_id").filter(|v| !v.is_empty() && !validate::is_uuid(v)) {
        return Err(
            ApiError::new(400, codes::INVALID_VPC_ID, format!("Invalid VPC ID '{v}'.")).into(),
        );
    }
    let (list, total) = s
        .control
        .list_endpoints(
            &c,
            qs(&q, "endpoint_service_name"),
            qs(&q, "vpc_id"),
            qs(&q, "id"),
            p,
        )
        .await?;
    Ok(Json(EndpointListOut {
        endpoints: list.iter().map(EndpointOut::from_endpoint).collect(),
        total_count: total,
    }))
}

async fn list_endpoint_info_details(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> Reply<Json<EndpointOut>> {
    let e = s.control.get_endpoint(&c, &id).await?;
    Ok(Json(EndpointOut::from_endpoint(&e)))
}

async fn update_endpoint_white(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<EndpointOut>> {
    let b: UpdateEndpointWhiteBody = parse_body(&body)?;
    let e = s
        .control
        .update_endpoint_whitelist(&c, &id, b.into())
        .await?;
    Ok(Json(EndpointOut::from_endpoint(&e)))
}

async fn delete_endpoint(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> Reply<StatusCode> {
    s.control.delete_endpoint(&c, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn update_endpoint_policy(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<EndpointOut>> {
    let b: UpdateEndpointPolicyBody = parse_body(&body)?;
    let e = s.control.update_endpoint_policy(&c, &id, b.into()).await?;
    Ok(Json(EndpointOut::from_endpoint(&e)))
}

async fn delete_endpoint_policy(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
) -> Reply<Json<EndpointOut>> {
    let e = s.control.delete_endpoint_policy(&c, &id).await?;
    Ok(Json(EndpointOut::from_endpoint(&e)))
}

async fn update_endpoint_routetable(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, id)): P2,
    body: Bytes,
) -> Reply<Json<UpdateRoutetablesResponse>> {
    let b: UpdateRoutetablesBody = parse_body(&body)?;
    let e = s
        .control
        .update_endpoint_routetables(&c, &id, b.routetables)
        .await?;
    Ok(Json(UpdateRoutetablesResponse {
        routetables: e.routetables,
        error: vec![],
    }))
}

// ---- tags ---------------------------------------------------------------------------------------

async fn list_resource_instances(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, rt)): P2,
    body: Bytes,
) -> Reply<Json<ResourceInstancesOut>> {
    let b: ResourceInstancesBody = parse_body(&body)?;
    let (items, total) = s.control.resource_instances(&c, &rt, b.into()).await?;
    Ok(Json(ResourceInstancesOut {
        resources: items.map(|v| {
            v.into_iter()
                .map(|(id, name, tags)| ResourceInstanceOut {
                    resource_id: id,
                    resource_name: name,
                    tags: tags.iter().map(Tag::from).collect(),
                })
                .collect()
        }),
        total_count: total,
    }))
}

async fn list_query_project_resource_tags(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, rt)): P2,
) -> Reply<Json<ProjectTagsOut>> {
    let tags = s.control.project_tags(&c, &rt).await?;
    Ok(Json(ProjectTagsOut {
        tags: tags
            .into_iter()
            .map(|(key, values)| TagValuesOut { key, values })
            .collect(),
    }))
}

async fn batch_add_or_remove_resource_instance(
    State(s): State<AppState>,
    Extension(c): Extension<Caller>,
    Path((_, rt, id)): P3,
    body: Bytes,
) -> Reply<StatusCode> {
    let b: TagsActionBody = parse_body(&body)?;
    s.control.tags_action(&c, &rt, &id, b.into()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Operations 30–32 concern Huawei's professional edition (several AZs, IPv6), which this
/// implementation does not offer; they answer a clear error rather than pretending.
async fn professional_only() -> Reply<StatusCode> {
    Err(ApiError::new(
        400,
        codes::INVALID_REQUEST,
        "Invalid request: the professional edition (upgrade, extra server resources) is not offered by this deployment.",
    )
    .into())
}
