//! The resource model: what the control plane stores and the data plane consumes. Field names
//! follow the Huawei VPCEP wire format where a field is also on the wire, so a stored record maps
//! onto a response without renaming.

use serde::{Deserialize, Serialize};

/// Every kind of object kept in the store. The string form is what the store and the change feed
/// carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Vpc,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Server,
    Loadbalancer,
    Site,
    EndpointService,
    Endpoint,
    Permission,
    Account,
    Project,
    Credential,
    QuotaOverride,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Vpc,
        Kind::Subnet,
        Kind::Port,
        Kind::SecurityGroup,
        Kind::SecurityGroupRule,
        Kind::Server,
        Kind::Loadbalancer,
        Kind::Site,
        Kind::EndpointService,
        Kind::Endpoint,
        Kind::Permission,
        Kind::Account,
        Kind::Project,
        Kind::Credential,
        Kind::QuotaOverride,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Vpc => "vpc",
            Kind::Subnet => "subnet",
            Kind::Port => "port",
            Kind::SecurityGroup => "security_group",
            Kind::SecurityGroupRule => "security_group_rule",
            Kind::Server => "server",
            Kind::Loadbalancer => "loadbalancer",
            Kind::Site => "site",
            Kind::EndpointService => "endpoint_service",
            Kind::Endpoint => "endpoint",
            Kind::Permission => "permission",
            Kind::Account => "account",
            Kind::Project => "project",
            Kind::Credential => "credential",
            Kind::QuotaOverride => "quota_override",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Kinds the data plane needs: the network and the endpoint resources; not whitelist records
    /// or identity, which only the control plane evaluates.
    pub fn in_change_feed(self) -> bool {
        !matches!(
            self,
            Kind::Permission
                | Kind::Account
                | Kind::Project
                | Kind::Credential
                | Kind::QuotaOverride
        )
    }
}

/// Columns the store indexes for every object, so lists filter and sort in SQL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexColumns {
    pub project_id: String,
    /// The owning object: the VPC of a subnet, the subnet of a port, the service of an endpoint or
    /// whitelist record, the group of a rule.
    pub parent_id: String,
    pub vpc_id: String,
    pub name: String,
    pub status: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// Visible to every tenant (operator cloud services, SPEC S2).
    pub shared: bool,
}

/// A stored resource type.
pub trait Resource: Serialize + serde::de::DeserializeOwned + Send + Sync {
    const KIND: Kind;
    fn id(&self) -> &str;
    fn index(&self) -> IndexColumns;
}

// ---------------------------------------------------------------------------------------------
// Endpoint services and endpoints
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerType {
    VM,
    LB,
    /// Deprecated by Huawei; accepted on input for compatibility and treated as a VM NIC.
    VIP,
}

impl ServerType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "VM" => Some(Self::VM),
            "LB" => Some(Self::LB),
            "VIP" => Some(Self::VIP),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceType {
    Interface,
    Gateway,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpProxy {
    Close,
    ToaOpen,
    ProxyOpen,
    Open,
}

impl TcpProxy {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "close" => Some(Self::Close),
            "toa_open" => Some(Self::ToaOpen),
            "proxy_open" => Some(Self::ProxyOpen),
            "open" => Some(Self::Open),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Protocol {
    TCP,
    UDP,
}

impl Protocol {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TCP" | "tcp" => Some(Self::TCP),
            "UDP" | "udp" => Some(Self::UDP),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TCP => "TCP",
            Self::UDP => "UDP",
        }
    }
}

/// One port mapping of a service: the endpoint listens on `client_port`, the backend on
/// `server_port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortMapping {
    pub client_port: u16,
    pub server_port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// Service statuses (SPEC S11). A deleted service disappears; there is no `deleted`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ServiceStatus {
    Creating,
    Available,
    Failed,
    Deleting,
}

impl ServiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Available => "available",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Creating,
            Self::Available,
            Self::Failed,
            Self::Deleting,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// Endpoint (connection) statuses (SPEC S11).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EndpointStatus {
    PendingAcceptance,
    Creating,
    Accepted,
    Rejected,
    Failed,
    Deleting,
}

impl EndpointStatus {
    pub const ALL: [EndpointStatus; 6] = [
        Self::PendingAcceptance,
        Self::Creating,
        Self::Accepted,
        Self::Rejected,
        Self::Failed,
        Self::Deleting,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingAcceptance => "pendingAcceptance",
            Self::Creating => "creating",
            Self::Accepted => "accepted",
            Self::Rejected => "rejected",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
    /// Whether the data plane should carry traffic for an endpoint in this status. `creating` is
    /// included: that is the status in which the agent builds the path and then reports it; and
    /// `failed`: the agent keeps trying, and reports the endpoint accepted again once its path
    /// is programmed (a failure below it is shown, and so is the recovery).
    pub fn carries_traffic(self) -> bool {
        matches!(self, Self::Creating | Self::Accepted | Self::Failed)
    }
    /// Counted by `connection_count` (reference §10).
    pub fn counts_as_connection(self) -> bool {
        matches!(self, Self::Creating | Self::Accepted)
    }
}

/// Error item on a failed service (`error[]` with `code`/`message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
}

/// Error item on a failed endpoint or connection (`error[]` with `error_code`/`error_message`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryError {
    pub error_code: String,
    pub error_message: String,
}

/// Why the control plane marks a resource failed. Resources keep their failure worded (the
/// `error[]` items above, read back by every front as stored), so the front that serves them
/// supplies the wording ([`RecordedFailureWording`]) when the service layer is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordedFailure<'a> {
    /// The data plane's report (`None`: it failed without saying why).
    DataPlane(Option<&'a crate::agent::Failure>),
    /// The endpoint's service was deleted under it.
    ServiceDeleted,
}

/// A front's (code, message) for a [`RecordedFailure`].
pub type RecordedFailureWording = fn(RecordedFailure<'_>) -> (&'static str, String);

/// Where a service's traffic goes, resolved from its `port_id` at create/update time so the data
/// plane never has to look the port up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Backend {
    /// The NIC (VM) or load balancer VIP port (LB).
    pub port_id: String,
    pub ip: String,
    pub subnet_id: String,
    /// For LB backends, the load balancer that owns the VIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loadbalancer_id: Option<String>,
    /// For VM backends, the server that owns the NIC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointService {
    pub id: String,
    pub project_id: String,
    pub domain_id: String,
    pub region: String,
    /// The name the user gave (≤16 chars), if any; `service_name` is the composed full name.
    pub short_name: Option<String>,
    pub service_name: String,
    pub port_id: String,
    pub vpc_id: String,
    pub server_type: ServerType,
    pub service_type: ServiceType,
    pub approval_enabled: bool,
    pub status: ServiceStatus,
    pub ports: Vec<PortMapping>,
    pub tcp_proxy: TcpProxy,
    pub tags: Vec<Tag>,
    pub description: String,
    pub enable_policy: bool,
    /// Operator-created cloud service (SPEC S2): listed publicly, no whitelist needed.
    pub is_public: bool,
    pub backend: Option<Backend>,
    pub error: Vec<ServiceError>,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Resource for EndpointService {
    const KIND: Kind = Kind::EndpointService;
    fn id(&self) -> &str {
        &self.id
    }
    fn index(&self) -> IndexColumns {
        IndexColumns {
            project_id: self.project_id.clone(),
            parent_id: self.port_id.clone(),
            vpc_id: self.vpc_id.clone(),
            name: self.service_name.clone(),
            status: self.status.as_str().to_string(),
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
            shared: self.is_public,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub project_id: String,
    pub domain_id: String,
    pub region: String,
    pub service_id: String,
    /// Copied from the service (and kept in step on rename) so lists need no join.
    pub service_name: String,
    pub service_type: ServiceType,
    pub vpc_id: String,
    pub subnet_id: String,
    pub ip: String,
    pub marker_id: u64,
    pub status: EndpointStatus,
    pub enable_dns: bool,
    pub dns_names: Vec<String>,
    pub whitelist: Vec<String>,
    pub enable_whitelist: bool,
    pub tags: Vec<Tag>,
    pub description: String,
    /// Set by the service owner through `connections/description`.
    pub connection_description: String,
    pub routetables: Vec<String>,
    pub policy_statement: Vec<serde_json::Value>,
    pub policy_document: Option<serde_json::Value>,
    pub error: Vec<QueryError>,
    pub generation: u64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

impl Resource for Endpoint {
    const KIND: Kind = Kind::Endpoint;
    fn id(&self) -> &str {
        &self.id
    }
    fn index(&self) -> IndexColumns {
        IndexColumns {
            project_id: self.project_id.clone(),
            parent_id: self.service_id.clone(),
            vpc_id: self.vpc_id.clone(),
            name: self.service_name.clone(),
            status: self.status.as_str().to_string(),
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
            shared: false,
        }
    }
}

/// One service whitelist record (权限管理).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Permission {
    pub id: String,
    pub project_id: String,
    pub service_id: String,
    pub permission: String,
    pub permission_type: String,
    pub description: String,
    pub created_ms: i64,
}

impl Resource for Permission {
    const KIND: Kind = Kind::Permission;
    fn id(&self) -> &str {
        &self.id
    }
    fn index(&self) -> IndexColumns {
        IndexColumns {
            project_id: self.project_id.clone(),
            parent_id: self.service_id.clone(),
            vpc_id: String::new(),
            name: self.permission.clone(),
            status: String::new(),
            created_ms: self.created_ms,
            updated_ms: self.created_ms,
            shared: false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Identity
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub domain_id: String,
    pub name: String,
    pub created_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub project_id: String,
    pub domain_id: String,
    pub region: String,
}

/// Per-account limits (SPEC S9). Defaults come from the server configuration; an operator may set
/// an account-specific value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quotas {
    pub endpoint_service: i64,
    pub endpoint: i64,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            endpoint_service: 20,
            endpoint: 50,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaType {
    EndpointService,
    Endpoint,
}

impl QuotaType {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "endpoint_service" => Some(Self::EndpointService),
            "endpoint" => Some(Self::Endpoint),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndpointService => "endpoint_service",
            Self::Endpoint => "endpoint",
        }
    }
}

impl Resource for Account {
    const KIND: Kind = Kind::Account;
    fn id(&self) -> &str {
        &self.domain_id
    }
    fn index(&self) -> IndexColumns {
        IndexColumns {
            project_id: String::new(),
            parent_id: String::new(),
            name: self.name.clone(),
            created_ms: self.created_ms,
            updated_ms: self.created_ms,
            ..Default::default()
        }
    }
}

impl Resource for Project {
    const KIND: Kind = Kind::Project;
    fn id(&self) -> &str {
        &self.project_id
    }
    fn index(&self) -> IndexColumns {
        IndexColumns {
            project_id: self.project_id.clone(),
            parent_id: self.domain_id.clone(),
            name: self.region.clone(),
            ..Default::default()
        }
    }
}

/// An AK/SK pair. The secret key is stored sealed with the server key (never in clear).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub access_key: String,
    pub domain_id: String,
    pub sealed_secret: String,
    pub description: String,
    pub created_ms: i64,
}

impl Resource for Credential {
    const KIND: Kind = Kind::Credential;
    fn id(&self) -> &str {
        &self.access_key
    }
    fn index(&self) -> IndexColumns {
        IndexColumns {
            parent_id: self.domain_id.clone(),
            created_ms: self.created_ms,
            updated_ms: self.created_ms,
            ..Default::default()
        }
    }
}

/// An operator's per-account quota values, overriding the server defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaOverride {
    pub domain_id: String,
    pub endpoint_service: Option<i64>,
    pub endpoint: Option<i64>,
}

impl Resource for QuotaOverride {
    const KIND: Kind = Kind::QuotaOverride;
    fn id(&self) -> &str {
        &self.domain_id
    }
    fn index(&self) -> IndexColumns {
        IndexColumns {
            parent_id: self.domain_id.clone(),
            ..Default::default()
        }
    }
}
