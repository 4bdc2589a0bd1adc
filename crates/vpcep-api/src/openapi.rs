//! The OpenAPI 3.1 document served at `/openapi.json`, assembled in this one module from a table
//! of operations, the query parameters each handler reads and the wire types' schemas. `tests/it`
//! checks every row is a live route and every parameter has a schema; the SDK suite validates the
//! served document with `openapi-spec-validator`, and `tests/fuzz` drives every operation from it.

use agent_schema::{Changes, Reports, ReportsAck, Snapshot, UsageAck, UsageReport};
use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, ParameterStyle, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ComponentsBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required, Schema,
};
use vpcep_huawei::ErrorBody;
use vpcep_huawei::audit::AuditListOut;
use vpcep_huawei::vpc as w;
use vpcep_huawei::vpcep::*;

use vpcep_huawei::usage::UsageOut;

use vpcep_huawei::lab::{
    CreateLoadBalancerRequest, CreateServerRequest, CreateSiteRequest, LoadBalancerEnvelope,
    LoadBalancersEnvelope, ServerEnvelope, ServersEnvelope, SiteEnvelope, SitesEnvelope,
    UpdateLoadBalancerRequest,
};

/// Schemas of the agent protocol (`vpcep_core::agent`). The core carries no OpenAPI dependency, so
/// the document describes the protocol with these mirrors; `mirrors_match_the_protocol` keeps them
/// in step (a value of the core type must read into the mirror and write back unchanged).
mod agent_schema {
    use serde::{Deserialize, Serialize};
    use utoipa::ToSchema;

    /// Every kind of object kept in the store. The string form is what the store and the change
    /// feed carry.
    #[derive(Serialize, Deserialize, ToSchema)]
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

    /// One object in the feed: its kind, id, generation, the revision that last changed it, and
    /// the stored record.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct FeedObject {
        pub kind: Kind,
        pub id: String,
        pub generation: u64,
        pub revision: u64,
        #[schema(value_type = Object)]
        pub spec: serde_json::Value,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Snapshot {
        pub revision: u64,
        pub objects: Vec<FeedObject>,
    }

    /// A change: the object's new state, or `object: null` when it is gone.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Change {
        pub kind: Kind,
        pub id: String,
        pub revision: u64,
        pub object: Option<FeedObject>,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Changes {
        pub revision: u64,
        pub changes: Vec<Change>,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum Outcome {
        Applied,
        Removed,
        Failed,
    }

    /// Why the data plane could not realise an object.
    #[derive(Serialize, Deserialize, ToSchema)]
    #[serde(tag = "reason", rename_all = "snake_case")]
    pub enum Failure {
        ServiceUnavailable,
        BackendGone,
        Namespace { namespace: String, detail: String },
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct ObjectResult {
        pub kind: Kind,
        pub id: String,
        pub generation: u64,
        pub outcome: Outcome,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub failure: Option<Failure>,
        #[serde(default)]
        pub error_code: Option<String>,
        #[serde(default)]
        pub error_message: Option<String>,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Reports {
        /// Which agent reports.
        #[serde(default)]
        pub agent: String,
        pub results: Vec<ObjectResult>,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct ReportsAck {
        /// How many results changed a status.
        pub accepted: usize,
        /// How many were ignored as stale (older generation or object gone).
        pub stale: usize,
    }

    /// Packets and bytes of one direction.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct Traffic {
        pub packets: u64,
        pub bytes: u64,
    }

    /// One endpoint's cumulative counters in one gateway namespace.
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct EndpointCounter {
        pub endpoint_id: String,
        pub project_id: String,
        pub service_id: String,
        pub namespace: String,
        pub rx: Traffic,
        pub tx: Traffic,
        /// New connections counted (cumulative; drawn in the console's charts, not billed).
        #[serde(default)]
        pub connections: u64,
        /// When the agent read them (epoch ms): older readings arriving later are ignored.
        pub read_ms: i64,
    }

    /// Every live endpoint's cumulative traffic counters (billed by the delta rule).
    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct UsageReport {
        #[serde(default)]
        pub agent: String,
        /// The host's boot id: a new boot is a new counter.
        pub boot_id: String,
        pub counters: Vec<EndpointCounter>,
    }

    #[derive(Serialize, Deserialize, ToSchema)]
    pub struct UsageAck {
        /// Readings that added traffic to the bill.
        pub counted: usize,
        /// Readings equal to the last seen.
        pub unchanged: usize,
    }

    #[cfg(test)]
    mod tests {
        use serde::Serialize;
        use serde::de::DeserializeOwned;
        use vpcep_core::agent as protocol;
        use vpcep_core::model::Kind as CoreKind;

        fn same_json<Core: Serialize, Mirror: Serialize + DeserializeOwned>(value: &Core) {
            let json = serde_json::to_value(value).unwrap();
            let mirrored: Mirror = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(mirrored).unwrap(), json);
        }

        #[test]
        fn mirrors_match_the_protocol() {
            let object = |kind| protocol::FeedObject {
                kind,
                id: "x".into(),
                generation: 2,
                revision: 7,
                spec: protocol::FeedObject::spec_of(&serde_json::json!({"a": 1}))
                    .expect("JSON text"),
            };
            same_json::<_, super::Snapshot>(&protocol::Snapshot {
                revision: 7,
                objects: CoreKind::ALL.into_iter().map(object).collect(),
            });
            same_json::<_, super::Changes>(&protocol::Changes {
                revision: 8,
                changes: vec![protocol::Change {
                    kind: CoreKind::Endpoint,
                    id: "x".into(),
                    revision: 8,
                    object: Some(object(CoreKind::Endpoint)),
                }],
            });
            let result = |(outcome, failure)| protocol::ObjectResult {
                kind: CoreKind::Server,
                id: "s".into(),
                generation: 1,
                outcome,
                failure,
                error_code: Some("c".into()),
                error_message: None,
            };
            same_json::<_, super::Reports>(&protocol::Reports {
                agent: "a".into(),
                results: [
                    (protocol::Outcome::Applied, None),
                    (protocol::Outcome::Removed, None),
                    (
                        protocol::Outcome::Failed,
                        Some(protocol::Failure::ServiceUnavailable),
                    ),
                    (
                        protocol::Outcome::Failed,
                        Some(protocol::Failure::BackendGone),
                    ),
                    (
                        protocol::Outcome::Failed,
                        Some(protocol::Failure::Namespace {
                            namespace: "n".into(),
                            detail: "d".into(),
                        }),
                    ),
                ]
                .into_iter()
                .map(result)
                .collect(),
            });
            same_json::<_, super::UsageReport>(&protocol::UsageReport {
                agent: "a".into(),
                boot_id: "b".into(),
                counters: vec![protocol::EndpointCounter {
                    endpoint_id: "e".into(),
                    project_id: "p".into(),
                    service_id: "s".into(),
                    namespace: "gw".into(),
                    rx: vpcep_core::metering::Traffic {
                        packets: 1,
                        bytes: 2,
                    },
                    tx: vpcep_core::metering::Traffic {
                        packets: 3,
                        bytes: 4,
                    },
                    connections: 3,
                    read_ms: 5,
                }],
            });
            same_json::<_, super::UsageAck>(&protocol::UsageAck {
                counted: 1,
                unchanged: 2,
            });
            same_json::<_, super::ReportsAck>(&protocol::ReportsAck {
                accepted: 1,
                stale: 2,
            });
        }
    }
}

/// One documented operation: method, path, operationId (the Huawei SDK's name where there is
/// one), summary, request schema, response schema, success status.
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub id: &'static str,
    pub summary: &'static str,
    pub request: Option<&'static str>,
    pub response: Option<&'static str>,
    pub status: u16,
}

macro_rules! ops {
    ($( $m:literal $p:literal $id:literal $sum:literal $req:expr, $resp:expr, $st:literal; )*) => {
        &[ $( Operation { method: $m, path: $p, id: $id, summary: $sum, request: $req, response: $resp, status: $st } ),* ]
    };
}

const S: Option<&str> = None;

pub const OPERATIONS: &[Operation] = ops! {
    "GET" "/" "ListVersionDetails" "List API versions" S, Some("VersionsOut"), 200;
    "GET" "/{version}" "ListSpecifiedVersionDetails" "Show one API version" S, Some("VersionOneOut"), 200;
    "GET" "/v1/{project_id}/quotas" "ListQuotaDetails" "Quotas and usage" S, Some("QuotasOut"), 200;
    "GET" "/v1/{project_id}/vpc-endpoint-services" "ListEndpointService" "List endpoint services" S, Some("ServiceListOut"), 200;
    "POST" "/v1/{project_id}/vpc-endpoint-services" "CreateEndpointService" "Create an endpoint service" Some("CreateEndpointServiceBody"), Some("ServiceOut"), 200;
    "GET" "/v1/{project_id}/vpc-endpoint-services/describe" "ListServiceDescribeDetails" "Find a service by id or name" S, Some("ServiceSummaryOut"), 200;
    "GET" "/v1/{project_id}/vpc-endpoint-services/public" "ListServicePublicDetails" "List cloud (public) services" S, Some("PublicServiceListOut"), 200;
    "DELETE" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}" "DeleteEndpointService" "Delete an endpoint service" S, S, 204;
    "GET" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}" "ListServiceDetails" "Show an endpoint service" S, Some("ServiceOut"), 200;
    "PUT" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}" "UpdateEndpointService" "Update an endpoint service" Some("UpdateEndpointServiceBody"), Some("ServiceOut"), 200;
    "GET" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/connections" "ListServiceConnections" "List connections" S, Some("ConnectionListOut"), 200;
    "POST" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/connections/action" "AcceptOrRejectEndpoint" "Accept (receive) or reject a connection" Some("ConnectionActionBody"), Some("ConnectionListOut"), 200;
    "PUT" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/connections/description" "UpdateEndpointConnectionsDesc" "Describe connections" Some("ConnectionsDescBody"), Some("ConnectionListOut"), 200;
    "GET" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/flows" "ListServiceFlows" "Flow records of the service's endpoints (lab extension)" S, Some("FlowListOut"), 200;
    "PUT" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/name" "UpdateEndpointServiceName" "Rename a service" Some("RenameServiceBody"), Some("RenameServiceResponse"), 200;
    "GET" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/permissions" "ListServicePermissionsDetails" "List whitelist records" S, Some("PermissionListOut"), 200;
    "POST" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/permissions/action" "AddOrRemoveServicePermissions" "Add or remove whitelist records" Some("PermissionsActionBody"), Some("PermissionsActionResponse"), 200;
    "POST" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/permissions/batch-create" "BatchAddEndpointServicePermissions" "Add whitelist records with descriptions" Some("BatchAddPermissionsBody"), Some("PermissionListOut"), 200;
    "POST" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/permissions/batch-delete" "BatchRemoveEndpointServicePermissions" "Remove whitelist records by id" Some("BatchRemovePermissionsBody"), Some("PermissionListOut"), 200;
    "PUT" "/v1/{project_id}/vpc-endpoint-services/{vpc_endpoint_service_id}/permissions/{permission_id}" "UpdateEndpointServicePermissionDesc" "Describe a whitelist record" Some("UpdatePermissionDescBody"), Some("PermissionListOut"), 200;
    "GET" "/v1/{project_id}/vpc-endpoints" "ListEndpoints" "List endpoints" S, Some("EndpointListOut"), 200;
    "POST" "/v1/{project_id}/vpc-endpoints" "CreateEndpoint" "Create an endpoint" Some("CreateEndpointBody"), Some("EndpointOut"), 200;
    "DELETE" "/v1/{project_id}/vpc-endpoints/{vpc_endpoint_id}" "DeleteEndpoint" "Delete an endpoint" S, S, 204;
    "GET" "/v1/{project_id}/vpc-endpoints/{vpc_endpoint_id}" "ListEndpointInfoDetails" "Show an endpoint" S, Some("EndpointOut"), 200;
    "PUT" "/v1/{project_id}/vpc-endpoints/{vpc_endpoint_id}" "UpdateEndpointWhite" "Set the endpoint's source whitelist" Some("UpdateEndpointWhiteBody"), Some("EndpointOut"), 200;
    "GET" "/v1/{project_id}/vpc-endpoints/{vpc_endpoint_id}/flows" "ListEndpointFlows" "Flow records of the endpoint (lab extension)" S, Some("FlowListOut"), 200;
    "DELETE" "/v1/{project_id}/vpc-endpoints/{vpc_endpoint_id}/policy" "DeleteEndpointPolicy" "Delete the endpoint policy" S, Some("EndpointOut"), 200;
    "PUT" "/v1/{project_id}/vpc-endpoints/{vpc_endpoint_id}/policy" "UpdateEndpointPolicy" "Set the endpoint policy" Some("UpdateEndpointPolicyBody"), Some("EndpointOut"), 200;
    "PUT" "/v1/{project_id}/vpc-endpoints/{vpc_endpoint_id}/routetables" "UpdateEndpointRoutetable" "Set route tables" Some("UpdateRoutetablesBody"), Some("UpdateRoutetablesResponse"), 200;
    "POST" "/v1/{project_id}/{resource_type}/resource_instances/action" "ListResourceInstances" "Filter or count resources by tags" Some("ResourceInstancesBody"), Some("ResourceInstancesOut"), 200;
    "GET" "/v1/{project_id}/{resource_type}/tags" "ListQueryProjectResourceTags" "Tags used in the project" S, Some("ProjectTagsOut"), 200;
    "POST" "/v1/{project_id}/{resource_type}/{resource_id}/tags/action" "BatchAddOrRemoveResourceInstance" "Add or delete tags" Some("TagsActionBody"), S, 204;
    "GET" "/v1/{project_id}/vpcs" "ListVpcs" "List VPCs" S, Some("VpcsEnvelope"), 200;
    "POST" "/v1/{project_id}/vpcs" "CreateVpc" "Create a VPC" Some("CreateVpcRequest"), Some("VpcEnvelope"), 200;
    "GET" "/v1/{project_id}/vpcs/{vpc_id}" "ShowVpc" "Show a VPC" S, Some("VpcEnvelope"), 200;
    "PUT" "/v1/{project_id}/vpcs/{vpc_id}" "UpdateVpc" "Update a VPC" Some("UpdateVpcRequest"), Some("VpcEnvelope"), 200;
    "DELETE" "/v1/{project_id}/vpcs/{vpc_id}" "DeleteVpc" "Delete a VPC" S, S, 204;
    "GET" "/v1/{project_id}/subnets" "ListSubnets" "List subnets" S, Some("SubnetsEnvelope"), 200;
    "POST" "/v1/{project_id}/subnets" "CreateSubnet" "Create a subnet" Some("CreateSubnetRequest"), Some("SubnetEnvelope"), 200;
    "GET" "/v1/{project_id}/subnets/{subnet_id}" "ShowSubnet" "Show a subnet" S, Some("SubnetEnvelope"), 200;
    "PUT" "/v1/{project_id}/vpcs/{vpc_id}/subnets/{subnet_id}" "UpdateSubnet" "Update a subnet" Some("UpdateSubnetRequest"), Some("SubnetResultEnvelope"), 200;
    "DELETE" "/v1/{project_id}/vpcs/{vpc_id}/subnets/{subnet_id}" "DeleteSubnet" "Delete a subnet" S, S, 204;
    "GET" "/v1/{project_id}/ports" "ListPorts" "List ports" S, Some("PortsEnvelope"), 200;
    "POST" "/v1/{project_id}/ports" "CreatePort" "Create a port" Some("CreatePortRequest"), Some("PortEnvelope"), 200;
    "GET" "/v1/{project_id}/ports/{port_id}" "ShowPort" "Show a port" S, Some("PortEnvelope"), 200;
    "PUT" "/v1/{project_id}/ports/{port_id}" "UpdatePort" "Update a port" Some("UpdatePortRequest"), Some("PortEnvelope"), 200;
    "DELETE" "/v1/{project_id}/ports/{port_id}" "DeletePort" "Delete a port" S, S, 204;
    "GET" "/v1/{project_id}/security-groups" "ListSecurityGroups" "List security groups" S, Some("SecurityGroupsEnvelope"), 200;
    "POST" "/v1/{project_id}/security-groups" "CreateSecurityGroup" "Create a security group" Some("CreateSecurityGroupRequest"), Some("SecurityGroupEnvelope"), 200;
    "GET" "/v1/{project_id}/security-groups/{security_group_id}" "ShowSecurityGroup" "Show a security group" S, Some("SecurityGroupEnvelope"), 200;
    "DELETE" "/v1/{project_id}/security-groups/{security_group_id}" "DeleteSecurityGroup" "Delete a security group" S, S, 204;
    "GET" "/v1/{project_id}/security-group-rules" "ListSecurityGroupRules" "List rules" S, Some("SecurityGroupRulesEnvelope"), 200;
    "POST" "/v1/{project_id}/security-group-rules" "CreateSecurityGroupRule" "Create a rule" Some("CreateSecurityGroupRuleRequest"), Some("SecurityGroupRuleEnvelope"), 200;
    "GET" "/v1/{project_id}/security-group-rules/{security_group_rule_id}" "ShowSecurityGroupRule" "Show a rule" S, Some("SecurityGroupRuleEnvelope"), 200;
    "DELETE" "/v1/{project_id}/security-group-rules/{security_group_rule_id}" "DeleteSecurityGroupRule" "Delete a rule" S, S, 204;
    "GET" "/v1/{project_id}/lab/servers" "ListLabServers" "List lab cloud hosts" S, Some("ServersEnvelope"), 200;
    "POST" "/v1/{project_id}/lab/servers" "CreateLabServer" "Create a lab cloud host (NICs, security groups)" Some("CreateServerRequest"), Some("ServerEnvelope"), 200;
    "GET" "/v1/{project_id}/lab/servers/{server_id}" "ShowLabServer" "Show a lab cloud host" S, Some("ServerEnvelope"), 200;
    "DELETE" "/v1/{project_id}/lab/servers/{server_id}" "DeleteLabServer" "Delete a lab cloud host" S, S, 204;
    "GET" "/v1/{project_id}/lab/loadbalancers" "ListLabLoadBalancers" "List lab load balancers" S, Some("LoadBalancersEnvelope"), 200;
    "POST" "/v1/{project_id}/lab/loadbalancers" "CreateLabLoadBalancer" "Create a lab load balancer (VIP + listeners)" Some("CreateLoadBalancerRequest"), Some("LoadBalancerEnvelope"), 200;
    "GET" "/v1/{project_id}/lab/loadbalancers/{loadbalancer_id}" "ShowLabLoadBalancer" "Show a lab load balancer" S, Some("LoadBalancerEnvelope"), 200;
    "PUT" "/v1/{project_id}/lab/loadbalancers/{loadbalancer_id}" "UpdateLabLoadBalancer" "Change name or listeners" Some("UpdateLoadBalancerRequest"), Some("LoadBalancerEnvelope"), 200;
    "DELETE" "/v1/{project_id}/lab/loadbalancers/{loadbalancer_id}" "DeleteLabLoadBalancer" "Delete a lab load balancer" S, S, 204;
    "GET" "/v1/{project_id}/lab/sites" "ListLabSites" "List on-premises sites" S, Some("SitesEnvelope"), 200;
    "POST" "/v1/{project_id}/lab/sites" "CreateLabSite" "Create an on-premises site joined by VPN" Some("CreateSiteRequest"), Some("SiteEnvelope"), 200;
    "GET" "/v1/{project_id}/lab/sites/{site_id}" "ShowLabSite" "Show a site" S, Some("SiteEnvelope"), 200;
    "DELETE" "/v1/{project_id}/lab/sites/{site_id}" "DeleteLabSite" "Delete a site" S, S, 204;
    "GET" "/v1/{project_id}/audit" "ListAuditLogs" "The account's audit log: every mutating request, newest first" S, Some("AuditListOut"), 200;
    "GET" "/agent/v1/snapshot" "AgentSnapshot" "Agent: every object the data plane needs, at one revision" S, Some("Snapshot"), 200;
    "GET" "/agent/v1/changes" "AgentChanges" "Agent: changes after a revision (long-poll)" S, Some("Changes"), 200;
    "POST" "/agent/v1/reports" "AgentReports" "Agent: per-object results" Some("Reports"), Some("ReportsAck"), 200;
    "POST" "/agent/v1/usage" "AgentUsage" "Agent: cumulative traffic counters per endpoint" Some("UsageReport"), Some("UsageAck"), 200;
    "GET" "/v1/{project_id}/usage" "ListUsage" "Metered usage per endpoint and hour (JSON, or CSV with format=csv)" S, Some("UsageOut"), 200;
};

fn collect<T: ToSchema>(out: &mut Vec<(String, RefOr<Schema>)>) {
    out.push((T::name().to_string(), T::schema()));
    T::schemas(out);
}

fn schemas() -> Vec<(String, RefOr<Schema>)> {
    let mut v = Vec::new();
    macro_rules! all { ($($t:ty),* $(,)?) => { $( collect::<$t>(&mut v); )* } }
    all!(
        ErrorBody,
        VersionsOut,
        VersionOneOut,
        QuotasOut,
        ServiceListOut,
        CreateEndpointServiceBody,
        ServiceOut,
        ServiceSummaryOut,
        PublicServiceListOut,
        UpdateEndpointServiceBody,
        ConnectionListOut,
        FlowListOut,
        ConnectionActionBody,
        ConnectionsDescBody,
        RenameServiceBody,
        RenameServiceResponse,
        PermissionListOut,
        PermissionsActionBody,
        PermissionsActionResponse,
        BatchAddPermissionsBody,
        BatchRemovePermissionsBody,
        UpdatePermissionDescBody,
        EndpointListOut,
        CreateEndpointBody,
        EndpointOut,
        UpdateEndpointWhiteBody,
        UpdateEndpointPolicyBody,
        UpdateRoutetablesBody,
        UpdateRoutetablesResponse,
        ResourceInstancesBody,
        ResourceInstancesOut,
        ProjectTagsOut,
        TagsActionBody,
        w::VpcsEnvelope,
        w::CreateVpcRequest,
        w::VpcEnvelope,
        w::UpdateVpcRequest,
        w::SubnetsEnvelope,
        w::CreateSubnetRequest,
        w::SubnetEnvelope,
        w::UpdateSubnetRequest,
        w::SubnetResultEnvelope,
        w::PortsEnvelope,
        w::CreatePortRequest,
        w::PortEnvelope,
        w::UpdatePortRequest,
        w::SecurityGroupsEnvelope,
        w::CreateSecurityGroupRequest,
        w::SecurityGroupEnvelope,
        w::SecurityGroupRulesEnvelope,
        w::CreateSecurityGroupRuleRequest,
        w::SecurityGroupRuleEnvelope,
        ServersEnvelope,
        CreateServerRequest,
        ServerEnvelope,
        LoadBalancersEnvelope,
        CreateLoadBalancerRequest,
        LoadBalancerEnvelope,
        UpdateLoadBalancerRequest,
        SitesEnvelope,
        CreateSiteRequest,
        SiteEnvelope,
        AuditListOut,
        Snapshot,
        Changes,
        Reports,
        ReportsAck,
        UsageReport,
        UsageAck,
        UsageOut,
    );
    v
}

/// What a query parameter holds, as far as the handler enforces it (a value outside an enum or a
/// bound is answered 400; a filter the handler only compares is plain text).
#[derive(Debug, Clone, Copy)]
pub enum QueryValue {
    Text,
    /// Repeated keys (`id=a&id=b`), collected by the handler.
    TextList,
    Bool,
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    OneOf(&'static [&'static str]),
}

/// One query parameter an operation's handler reads.
#[derive(Debug, Clone, Copy)]
pub struct QueryParam {
    pub name: &'static str,
    pub value: QueryValue,
    pub required: bool,
    pub description: &'static str,
}

const fn q(name: &'static str, value: QueryValue, description: &'static str) -> QueryParam {
    QueryParam {
        name,
        value,
        required: false,
        description,
    }
}

const TEXT: QueryValue = QueryValue::Text;
const SORT_KEYS: &[&str] = &["create_at", "created_at", "update_at", "updated_at"];
const SORT_DIRS: &[&str] = &["asc", "desc"];
const SERVICE_STATUSES: &[&str] = &["creating", "available", "failed", "deleting"];
const ENDPOINT_STATUSES: &[&str] = &[
    "pendingAcceptance",
    "creating",
    "accepted",
    "rejected",
    "failed",
    "deleting",
];

/// `limit`/`offset`/`sort_key`/`sort_dir` as `validate::page` checks them (`max` is the largest
/// page the operation allows).
fn paging(max: i64) -> [QueryParam; 4] {
    [
        q(
            "limit",
            QueryValue::Int {
                min: Some(0),
                max: Some(max),
            },
            "Page size (default 10).",
        ),
        q(
            "offset",
            QueryValue::Int {
                min: Some(0),
                max: None,
            },
            "Records to skip.",
        ),
        q(
            "sort_key",
            QueryValue::OneOf(SORT_KEYS),
            "Sort field (default create_at).",
        ),
        q(
            "sort_dir",
            QueryValue::OneOf(SORT_DIRS),
            "Sort direction (default desc).",
        ),
    ]
}

/// The VPC v1 lists page with `limit` and `marker` (the id of the last item of the previous page);
/// a `limit` that is not a positive integer means no limit there.
fn marker_paging() -> [QueryParam; 2] {
    [
        q(
            "limit",
            QueryValue::Int {
                min: None,
                max: None,
            },
            "Page size.",
        ),
        q(
            "marker",
            TEXT,
            "Id of the last item of the previous page; results start after it.",
        ),
    ]
}

/// The query parameters each operation's handler reads (`vpcep.rs`, `vpc.rs`, `agent.rs`).
pub fn query_params(operation_id: &str) -> Vec<QueryParam> {
    let name = q(
        "endpoint_service_name",
        TEXT,
        "Substring of the service name.",
    );
    let id = q("id", TEXT, "Exact id.");
    match operation_id {
        "ListQuotaDetails" => vec![q(
            "type",
            QueryValue::OneOf(&["endpoint_service", "endpoint"]),
            "Only this resource type.",
        )],
        "ListEndpointService" => {
            let mut v = paging(1000).to_vec();
            v.extend([
                name,
                id,
                q(
                    "status",
                    QueryValue::OneOf(SERVICE_STATUSES),
                    "Service status.",
                ),
            ]);
            v
        }
        "ListServiceDescribeDetails" => vec![
            q("id", TEXT, "Service id (give exactly one of id and name)."),
            q(
                "endpoint_service_name",
                TEXT,
                "Full service name (give exactly one of id and name).",
            ),
        ],
        "ListServicePublicDetails" => {
            let mut v = paging(1000).to_vec();
            v.extend([name, id]);
            v
        }
        "ListServiceConnections" => {
            let mut v = paging(1000).to_vec();
            v.extend([
                q("id", TEXT, "Endpoint id."),
                q(
                    "marker_id",
                    TEXT,
                    "Endpoint marker id (a decimal integer; anything else is 400).",
                ),
                q(
                    "status",
                    QueryValue::OneOf(ENDPOINT_STATUSES),
                    "Connection status.",
                ),
            ]);
            v
        }
        "ListServiceFlows" | "ListEndpointFlows" => vec![
            q(
                "from",
                TEXT,
                "Records at or after this time (Unix milliseconds or YYYY-MM-DDTHH:MM:SSZ).",
            ),
            q("to", TEXT, "Records before this time (same forms as from)."),
            q(
                "limit",
                QueryValue::Int {
                    min: Some(1),
                    max: Some(1000),
                },
                "Page size (default 100).",
            ),
            q(
                "marker",
                QueryValue::Int {
                    min: Some(0),
                    max: None,
                },
                "next_marker of the previous page (a record's seq); results start after it.",
            ),
            q(
                "translated",
                TEXT,
                "Only the connection the backend saw from this 198.19.128.0/20 address (ADDR:PORT or ADDR).",
            ),
        ],
        "ListServicePermissionsDetails" => {
            let mut v = paging(500).to_vec();
            v.push(q("permission", TEXT, "Substring of the permission."));
            v
        }
        "ListEndpoints" => {
            let mut v = paging(1000).to_vec();
            v.extend([
                name,
                q("vpc_id", TEXT, "VPC id (a UUID; anything else is 400)."),
                id,
            ]);
            v
        }
        "ListVpcs" => {
            let mut v = marker_paging().to_vec();
            v.push(q("id", TEXT, "Only this VPC."));
            v
        }
        "ListSubnets" | "ListSecurityGroups" => {
            let mut v = marker_paging().to_vec();
            v.push(q("vpc_id", TEXT, "Only this VPC's."));
            v
        }
        "ListSecurityGroupRules" => {
            let mut v = marker_paging().to_vec();
            v.extend([
                q("security_group_id", TEXT, "Only this group's rules."),
                q("remote_ip_prefix", TEXT, "Exact remote CIDR."),
            ]);
            v
        }
        "ListPorts" => vec![
            q("name", TEXT, "Exact name."),
            q("id", QueryValue::TextList, "Any of these ids."),
            q(
                "limit",
                QueryValue::Int {
                    min: None,
                    max: None,
                },
                "Page size (an integer; anything else is 400).",
            ),
            q("marker", TEXT, "Id of the last port of the previous page."),
            q("admin_state_up", QueryValue::Bool, "Admin state."),
            q("network_id", TEXT, "The v1 subnet id."),
            q("mac_address", TEXT, "Exact MAC address."),
            q("device_id", TEXT, "Exact device id."),
            q("device_owner", TEXT, "Exact device owner."),
            q(
                "status",
                QueryValue::OneOf(&["ACTIVE", "BUILD", "DOWN"]),
                "Port status.",
            ),
            q(
                "security_groups",
                QueryValue::TextList,
                "Ports in all of these groups.",
            ),
            q(
                "fixed_ips",
                QueryValue::TextList,
                "`ip_address=<ip>` or `subnet_id=<neutron subnet id>`.",
            ),
            q("enterprise_project_id", TEXT, "Accepted, not filtered on."),
            q(
                "enable_efi",
                QueryValue::Bool,
                "Accepted (must be a boolean), not filtered on.",
            ),
        ],
        "ListUsage" => vec![
            q(
                "from",
                TEXT,
                "Start (RFC 3339 or epoch ms; rounded down to the hour). Default: today 00:00 UTC.",
            ),
            q(
                "to",
                TEXT,
                "End, exclusive (RFC 3339 or epoch ms; rounded up to the hour). Default: now.",
            ),
            q(
                "format",
                QueryValue::OneOf(&["json", "csv"]),
                "csv: the same rows as text/csv (also with Accept: text/csv).",
            ),
        ],
        "ListAuditLogs" => vec![
            q(
                "from",
                TEXT,
                "Entries recorded at or after this time (RFC 3339 or milliseconds since 1970-01-01 UTC).",
            ),
            q(
                "to",
                TEXT,
                "Entries recorded before this time (RFC 3339 or milliseconds since 1970-01-01 UTC).",
            ),
            q(
                "limit",
                QueryValue::Int {
                    min: Some(0),
                    max: Some(1000),
                },
                "Page size (default 100).",
            ),
            q(
                "marker",
                QueryValue::Int {
                    min: Some(0),
                    max: None,
                },
                "The `next_marker` of the previous page; results continue after it.",
            ),
        ],
        "AgentChanges" => vec![
            QueryParam {
                required: true,
                ..q(
                    "after",
                    QueryValue::Int {
                        min: Some(0),
                        max: None,
                    },
                    "Revision already seen; changes after it are returned.",
                )
            },
            q(
                "timeout_ms",
                QueryValue::Int {
                    min: Some(0),
                    max: None,
                },
                "Long-poll at most this long when nothing changed (default 30000, capped at 60000).",
            ),
        ],
        _ => vec![],
    }
}

fn query_schema(value: QueryValue) -> Schema {
    let text = || ObjectBuilder::new().schema_type(Type::String);
    match value {
        QueryValue::Text => text().build().into(),
        QueryValue::TextList => ArrayBuilder::new().items(text()).build().into(),
        QueryValue::Bool => ObjectBuilder::new()
            .schema_type(Type::Boolean)
            .build()
            .into(),
        QueryValue::Int { min, max } => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                utoipa::openapi::KnownFormat::Int64,
            )))
            .minimum(min)
            .maximum(max)
            .build()
            .into(),
        QueryValue::OneOf(values) => text()
            .enum_values(Some(values.iter().copied()))
            .build()
            .into(),
    }
}

/// The schema of a path parameter: `resource_type` is checked against two values, everything else
/// is an id (or the version) looked up as given.
fn path_schema(name: &str) -> Schema {
    let b = ObjectBuilder::new().schema_type(Type::String);
    match name {
        "resource_type" => b.enum_values(Some(["endpoint_service", "endpoint"])),
        _ => b,
    }
    .build()
    .into()
}

fn path_description(name: &str) -> &'static str {
    match name {
        "project_id" => "The caller's project id (the one its credentials are bound to).",
        "version" => "API version (only `v1` exists).",
        "resource_type" => "Taggable resource type.",
        _ => "Resource id.",
    }
}

/// The error statuses an operation answers (each with the `{"error_code","error_msg"}` body); any
/// other (5xx) is covered by `default`.
fn error_statuses(op: &Operation) -> Vec<(u16, &'static str)> {
    let mut v = Vec::new();
    if op.path.starts_with("/v1/") {
        v.extend([
            (400, "Invalid parameter, query or body."),
            (
                401,
                "Missing, malformed or wrong SDK-HMAC-SHA256 signature.",
            ),
            (
                403,
                "The project is not the caller's, or the action is not allowed.",
            ),
            (404, "No such resource (or API path)."),
        ]);
        if op.method != "GET" {
            v.push((
                409,
                "The resource is still in use, or an identical one exists.",
            ));
        }
    } else if op.path.starts_with("/agent/") {
        v.extend([
            (400, "Invalid query or body."),
            (401, "Missing or wrong agent bearer token."),
        ]);
        if op.id == "AgentChanges" {
            v.push((410, "The revision is no longer in the change history."));
        }
    } else if op.path == "/{version}" {
        v.push((404, "No such API version."));
    }
    if op.request.is_some() {
        v.push((
            413,
            "The request body is too large (12 MiB for signed requests).",
        ));
    }
    v
}

fn json_content(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
}

fn request_id_header() -> utoipa::openapi::header::Header {
    utoipa::openapi::header::HeaderBuilder::new()
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .description(Some("Identifies the request in the server's log."))
        .build()
}

const SIGNED: &str = "SdkHmacSha256";
const AGENT: &str = "AgentToken";

fn operation(path: &str, op: &Operation) -> utoipa::openapi::path::Operation {
    let mut b = OperationBuilder::new()
        .operation_id(Some(op.id))
        .summary(Some(op.summary));
    for seg in path.split('/').filter(|s| s.starts_with('{')) {
        let name = seg.trim_matches(|c| c == '{' || c == '}');
        b = b.parameter(
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(path_description(name)))
                .schema(Some(path_schema(name))),
        );
    }
    for p in query_params(op.id) {
        let list = matches!(p.value, QueryValue::TextList);
        b = b.parameter(
            ParameterBuilder::new()
                .name(p.name)
                .parameter_in(ParameterIn::Query)
                .required(if p.required {
                    Required::True
                } else {
                    Required::False
                })
                .description(Some(p.description))
                .style(list.then_some(ParameterStyle::Form))
                .explode(list.then_some(true))
                .schema(Some(query_schema(p.value))),
        );
    }
    if let Some(req) = op.request {
        b = b.request_body(Some(
            RequestBodyBuilder::new()
                .content("application/json", json_content(req))
                .required(Some(Required::True))
                .build(),
        ));
    }
    let mut ok = ResponseBuilder::new()
        .description("Success")
        .header("X-Request-Id", request_id_header());
    if let Some(resp) = op.response {
        ok = ok.content("application/json", json_content(resp));
    }
    if op.id == "ListUsage" {
        // The CSV export (`format=csv` or `Accept: text/csv`): the JSON rows as RFC 4180 text.
        ok = ok.content(
            "text/csv",
            ContentBuilder::new()
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build(),
        );
    }
    b = b.response(op.status.to_string(), ok.build());
    let error = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .header("X-Request-Id", request_id_header())
            .content("application/json", json_content("ErrorBody"))
            .build()
    };
    for (status, description) in error_statuses(op) {
        b = b.response(status.to_string(), error(description));
    }
    b = b.response(
        "default",
        error("Any other error (`EndPoint.xxxx` / `VPC.xxxx`), e.g. 500."),
    );
    if op.path.starts_with("/v1/") {
        b = b.security(SecurityRequirement::new(SIGNED, Vec::<String>::new()));
    } else if op.path.starts_with("/agent/") {
        b = b.security(SecurityRequirement::new(AGENT, Vec::<String>::new()));
    }
    b.build()
}

pub fn document() -> utoipa::openapi::OpenApi {
    let mut paths = PathsBuilder::new();
    let mut items: std::collections::BTreeMap<&str, Vec<&Operation>> = Default::default();
    for op in OPERATIONS {
        items.entry(op.path).or_default().push(op);
    }
    for (path, ops) in items {
        let mut item: Option<PathItem> = None;
        for op in ops {
            let method = match op.method {
                "GET" => HttpMethod::Get,
                "POST" => HttpMethod::Post,
                "PUT" => HttpMethod::Put,
                _ => HttpMethod::Delete,
            };
            let built = PathItem::new(method, operation(path, op));
            item = Some(match item {
                None => built,
                Some(mut i) => {
                    i.merge_operations(built);
                    i
                }
            });
        }
        if let Some(i) = item {
            paths = paths.path(path, i);
        }
    }
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            SIGNED,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "`SDK-HMAC-SHA256 Access=<AK>, SignedHeaders=<names>, Signature=<hex>` over the \
                 canonical request, with an `X-Sdk-Date` header (Huawei's AK/SK signing, as the \
                 official SDKs do it).",
            ))),
        )
        .security_scheme(
            AGENT,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The token in `<data-dir>/agent.token`."))
                    .build(),
            ),
        );
    for (name, schema) in schemas() {
        components = components.schema(name, schema);
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("vpcep")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Huawei Cloud VPCEP v1 API, Huawei VPC v1 subset, lab resources and the agent protocol. Requests to /v1 and /v2 are signed with SDK-HMAC-SHA256."))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components.build()))
        .build()
}
