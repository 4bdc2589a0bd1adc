//! The Huawei VPCEP v1 wire format: request bodies as the SDK sends them (parsed leniently, so a
//! wrong type becomes a documented error code rather than a framework rejection) and response
//! bodies with the exact JSON keys, built from the domain model. Shared by the API server and the
//! typed client.

use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

use vpcep_core::model::{self, Endpoint, EndpointService, Permission, PortMapping};
use vpcep_core::timefmt::to_wire;

/// `true`/`false`, or the strings `"true"`/`"false"` that Huawei's own docs examples send.
pub fn lenient_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

/// An integer, or a string holding one (older docs show ports as strings).
pub fn lenient_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("expected an integer, got {n}"))),
        Some(serde_json::Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("expected an integer, got \"{s}\""))),
        Some(other) => Err(serde::de::Error::custom(format!(
            "expected an integer, got {other}"
        ))),
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PortListIn {
    #[serde(default, deserialize_with = "lenient_int")]
    pub client_port: Option<i64>,
    #[serde(default, deserialize_with = "lenient_int")]
    pub server_port: Option<i64>,
    #[serde(default)]
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TagIn {
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateEndpointServiceBody {
    pub port_id: Option<String>,
    pub service_name: Option<String>,
    pub vpc_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub approval_enabled: Option<bool>,
    pub service_type: Option<String>,
    pub server_type: Option<String>,
    pub ip: Option<String>,
    pub ports: Option<Vec<PortListIn>>,
    pub tcp_proxy: Option<String>,
    pub tags: Option<Vec<TagIn>>,
    pub description: Option<String>,
    pub ip_version: Option<String>,
    pub snat_network_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub enable_policy: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateEndpointServiceBody {
    #[serde(default, deserialize_with = "lenient_bool")]
    pub approval_enabled: Option<bool>,
    pub service_name: Option<String>,
    pub ports: Option<Vec<PortListIn>>,
    pub port_id: Option<String>,
    pub tcp_proxy: Option<String>,
    pub description: Option<String>,
    pub ip: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RenameServiceBody {
    pub endpoint_service_name: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RenameServiceResponse {
    pub endpoint_service_name: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ConnectionActionBody {
    pub action: Option<String>,
    pub endpoints: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ConnectionDescIn {
    pub id: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ConnectionsDescBody {
    pub connections: Option<Vec<ConnectionDescIn>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PermissionsActionBody {
    pub permissions: Option<Vec<String>>,
    pub permission_type: Option<String>,
    pub action: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PermissionsActionResponse {
    pub permissions: Vec<String>,
    pub permission_type: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PermissionIn {
    pub permission: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BatchAddPermissionsBody {
    pub permissions: Option<Vec<PermissionIn>>,
    pub permission_type: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PermissionIdIn {
    pub id: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct BatchRemovePermissionsBody {
    pub permissions: Option<Vec<PermissionIdIn>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PermissionDescIn {
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdatePermissionDescBody {
    pub permission: Option<PermissionDescIn>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct CreateEndpointBody {
    pub endpoint_service_id: Option<String>,
    pub vpc_id: Option<String>,
    pub subnet_id: Option<String>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub enable_dns: Option<bool>,
    pub port_ip: Option<String>,
    pub whitelist: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub enable_whitelist: Option<bool>,
    pub tags: Option<Vec<TagIn>>,
    pub routetables: Option<Vec<String>>,
    pub description: Option<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub policy_statement: Option<Vec<serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub policy_document: Option<serde_json::Value>,
    pub ip_version: Option<String>,
    pub ipv6_address: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateEndpointWhiteBody {
    pub whitelist: Option<Vec<String>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub enable_whitelist: Option<bool>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateEndpointPolicyBody {
    #[schema(value_type = Option<Vec<Object>>)]
    pub policy_statement: Option<Vec<serde_json::Value>>,
    #[schema(value_type = Option<Object>)]
    pub policy_document: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct UpdateRoutetablesBody {
    pub routetables: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct UpdateRoutetablesResponse {
    pub routetables: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub error: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TagsActionBody {
    pub action: Option<String>,
    pub tags: Option<Vec<TagIn>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct TagValuesIn {
    pub key: Option<String>,
    pub values: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct MatchIn {
    pub key: Option<String>,
    pub value: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct ResourceInstancesBody {
    pub action: Option<String>,
    pub tags: Option<Vec<TagValuesIn>>,
    pub tags_any: Option<Vec<TagValuesIn>>,
    pub not_tags: Option<Vec<TagValuesIn>>,
    pub not_tags_any: Option<Vec<TagValuesIn>>,
    pub sys_tags: Option<Vec<TagValuesIn>>,
    #[serde(default, deserialize_with = "lenient_int")]
    pub limit: Option<i64>,
    #[serde(default, deserialize_with = "lenient_int")]
    pub offset: Option<i64>,
    pub matches: Option<Vec<MatchIn>>,
    #[serde(default, deserialize_with = "lenient_bool")]
    pub without_any_tag: Option<bool>,
}

// ------------------------------------------------------------------------------------------------
// Responses
// ------------------------------------------------------------------------------------------------

/// A resource tag as responses show it (requests use the lenient [`TagIn`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

impl From<&model::Tag> for Tag {
    fn from(t: &model::Tag) -> Self {
        Self {
            key: t.key.clone(),
            value: t.value.clone(),
        }
    }
}

fn tags_out(tags: &[model::Tag]) -> Vec<Tag> {
    tags.iter().map(Tag::from).collect()
}

/// Error item on a failed service (`error[]` with `code`/`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
}

impl From<&model::ServiceError> for ServiceError {
    fn from(e: &model::ServiceError) -> Self {
        Self {
            code: e.code.clone(),
            message: e.message.clone(),
        }
    }
}

/// Error item on a failed endpoint or connection (`error[]` with `error_code`/`error_message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct QueryError {
    pub error_code: String,
    pub error_message: String,
}

impl From<&model::QueryError> for QueryError {
    fn from(e: &model::QueryError) -> Self {
        Self {
            error_code: e.error_code.clone(),
            error_message: e.error_message.clone(),
        }
    }
}

fn query_errors_out(errors: &[model::QueryError]) -> Vec<QueryError> {
    errors.iter().map(QueryError::from).collect()
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PortListOut {
    pub client_port: u16,
    pub server_port: u16,
    pub protocol: String,
}

impl From<&PortMapping> for PortListOut {
    fn from(p: &PortMapping) -> Self {
        Self {
            client_port: p.client_port,
            server_port: p.server_port,
            protocol: p.protocol.as_str().to_string(),
        }
    }
}

/// Service as returned by create, detail, update and list (list adds `domain_id`,
/// `connection_count`; detail adds `cidr_type`). One shape with every field: the SDK ignores keys a
/// model does not declare.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceOut {
    pub id: String,
    pub port_id: String,
    pub service_name: String,
    pub server_type: String,
    pub vpc_id: String,
    pub pool_id: String,
    pub approval_enabled: bool,
    pub status: String,
    pub service_type: String,
    pub supported_editions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub project_id: String,
    pub domain_id: String,
    pub cidr_type: String,
    pub ports: Vec<PortListOut>,
    pub tcp_proxy: String,
    pub tags: Vec<Tag>,
    pub error: Vec<ServiceError>,
    pub enable_policy: bool,
    pub description: String,
    pub ip_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_count: Option<i64>,
    pub public_border_group: String,
}

impl ServiceOut {
    pub fn from_service(s: &EndpointService, connection_count: Option<i64>) -> Self {
        Self {
            id: s.id.clone(),
            port_id: s.port_id.clone(),
            service_name: s.service_name.clone(),
            server_type: format!("{:?}", s.server_type),
            vpc_id: s.vpc_id.clone(),
            pool_id: String::new(),
            approval_enabled: s.approval_enabled,
            status: s.status.as_str().to_string(),
            service_type: serde_plain(&s.service_type),
            supported_editions: vec!["basic".to_string()],
            created_at: to_wire(s.created_ms),
            updated_at: to_wire(s.updated_ms),
            project_id: s.project_id.clone(),
            domain_id: s.domain_id.clone(),
            cidr_type: "internal".to_string(),
            ports: s.ports.iter().map(PortListOut::from).collect(),
            tcp_proxy: serde_plain(&s.tcp_proxy),
            tags: tags_out(&s.tags),
            error: s.error.iter().map(ServiceError::from).collect(),
            enable_policy: s.enable_policy,
            description: s.description.clone(),
            ip_version: "ipv4".to_string(),
            connection_count,
            public_border_group: "center".to_string(),
        }
    }
}

fn serde_plain<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceListOut {
    pub endpoint_services: Vec<ServiceOut>,
    pub total_count: i64,
}

/// `describe`: what a consumer may see of someone else's service.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ServiceSummaryOut {
    pub id: String,
    pub service_name: String,
    pub service_type: String,
    pub created_at: String,
    pub is_charge: bool,
    pub public_border_group: String,
    pub enable_policy: bool,
}

impl ServiceSummaryOut {
    pub fn from_service(s: &EndpointService) -> Self {
        Self {
            id: s.id.clone(),
            service_name: s.service_name.clone(),
            service_type: serde_plain(&s.service_type),
            created_at: to_wire(s.created_ms),
            is_charge: !s.is_public,
            public_border_group: "center".to_string(),
            enable_policy: s.enable_policy,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublicServiceOut {
    pub id: String,
    pub owner: String,
    pub service_name: String,
    pub service_type: String,
    pub created_at: String,
    pub is_charge: bool,
    pub enable_policy: bool,
}

impl PublicServiceOut {
    pub fn from_service(s: &EndpointService) -> Self {
        Self {
            id: s.id.clone(),
            owner: s.domain_id.clone(),
            service_name: s.service_name.clone(),
            service_type: serde_plain(&s.service_type),
            created_at: to_wire(s.created_ms),
            is_charge: false,
            enable_policy: s.enable_policy,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PublicServiceListOut {
    pub endpoint_services: Vec<PublicServiceOut>,
    pub total_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionOut {
    pub id: String,
    pub marker_id: u64,
    pub created_at: String,
    pub updated_at: String,
    pub domain_id: String,
    pub error: Vec<QueryError>,
    pub status: String,
    pub description: String,
}

impl ConnectionOut {
    pub fn from_endpoint(e: &Endpoint) -> Self {
        Self {
            id: e.id.clone(),
            marker_id: e.marker_id,
            created_at: to_wire(e.created_ms),
            updated_at: to_wire(e.updated_ms),
            domain_id: e.domain_id.clone(),
            error: query_errors_out(&e.error),
            status: e.status.as_str().to_string(),
            description: e.connection_description.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ConnectionListOut {
    pub connections: Vec<ConnectionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
}

/// One page of flow records (lab extension, docs/flows.md).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct FlowListOut {
    /// Records as the agent wrote them, oldest first (fields: docs/flows.md).
    #[schema(value_type = Vec<Object>)]
    pub flows: Vec<vpcep_core::flows::FlowRecord>,
    /// The `marker` of the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_marker: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PermissionOut {
    pub id: String,
    pub permission: String,
    pub permission_type: String,
    pub description: String,
    pub created_at: String,
}

impl From<&Permission> for PermissionOut {
    fn from(p: &Permission) -> Self {
        Self {
            id: p.id.clone(),
            permission: p.permission.clone(),
            permission_type: p.permission_type.clone(),
            description: p.description.clone(),
            created_at: to_wire(p.created_ms),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PermissionListOut {
    pub permissions: Vec<PermissionOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_count: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndpointOut {
    pub id: String,
    pub service_type: String,
    pub status: String,
    pub active_status: Vec<String>,
    pub enable_status: String,
    pub endpoint_service_name: String,
    pub marker_id: u64,
    pub endpoint_service_id: String,
    pub enable_dns: bool,
    pub dns_names: Vec<String>,
    pub ip: String,
    pub vpc_id: String,
    pub subnet_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub project_id: String,
    pub tags: Vec<Tag>,
    pub error: Vec<QueryError>,
    pub whitelist: Vec<String>,
    pub enable_whitelist: bool,
    pub routetables: Vec<String>,
    pub description: String,
    #[schema(value_type = Vec<Object>)]
    pub policy_statement: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub policy_document: Option<serde_json::Value>,
    pub specification_name: String,
    pub public_border_group: String,
}

impl EndpointOut {
    pub fn from_endpoint(e: &Endpoint) -> Self {
        Self {
            id: e.id.clone(),
            service_type: serde_plain(&e.service_type),
            status: e.status.as_str().to_string(),
            active_status: vec!["active".to_string()],
            enable_status: "enable".to_string(),
            endpoint_service_name: e.service_name.clone(),
            marker_id: e.marker_id,
            endpoint_service_id: e.service_id.clone(),
            enable_dns: e.enable_dns,
            dns_names: e.dns_names.clone(),
            ip: e.ip.clone(),
            vpc_id: e.vpc_id.clone(),
            subnet_id: e.subnet_id.clone(),
            created_at: to_wire(e.created_ms),
            updated_at: to_wire(e.updated_ms),
            project_id: e.project_id.clone(),
            tags: tags_out(&e.tags),
            error: query_errors_out(&e.error),
            whitelist: e.whitelist.clone(),
            enable_whitelist: e.enable_whitelist,
            routetables: e.routetables.clone(),
            description: e.description.clone(),
            policy_statement: e.policy_statement.clone(),
            policy_document: e.policy_document.clone(),
            specification_name: "default".to_string(),
            public_border_group: "center".to_string(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EndpointListOut {
    pub endpoints: Vec<EndpointOut>,
    pub total_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuotaOut {
    #[serde(rename = "type")]
    pub kind: String,
    pub used: i64,
    pub quota: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuotaResources {
    pub resources: Vec<QuotaOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QuotasOut {
    pub quotas: QuotaResources,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TagValuesOut {
    pub key: String,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ProjectTagsOut {
    pub tags: Vec<TagValuesOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResourceInstanceOut {
    pub resource_id: String,
    pub resource_name: String,
    pub tags: Vec<Tag>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResourceInstancesOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Vec<ResourceInstanceOut>>,
    pub total_count: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LinkOut {
    pub href: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub rel: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionOut {
    pub id: String,
    pub links: Vec<LinkOut>,
    pub version: String,
    pub status: String,
    pub updated: String,
    pub min_version: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionsOut {
    pub versions: Vec<VersionOut>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionOneOut {
    pub version: VersionOut,
}
