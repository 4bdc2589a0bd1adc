//! The OpenAPI document served at `/openapi.json`, assembled in this one module from a table of
//! operations and the wire types' schemas. `tests/it` checks every row is a live route.

use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::ComponentsBuilder;
use utoipa::openapi::{
    ContentBuilder, InfoBuilder, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required, Schema,
};
use vpcep_core::agent::{Changes, Reports, ReportsAck, Snapshot};
use vpcep_core::error::ErrorBody;
use vpcep_core::vpc_wire as w;
use vpcep_core::wire::*;

use crate::vpc::{
    CreateLoadBalancerRequest, CreateServerRequest, CreateSiteRequest, LoadBalancerEnvelope,
    LoadBalancersEnvelope, ServerEnvelope, ServersEnvelope, SiteEnvelope, SitesEnvelope,
    UpdateLoadBalancerRequest,
};

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
    "GET" "/agent/v1/snapshot" "AgentSnapshot" "Agent: every object the data plane needs, at one revision" S, Some("Snapshot"), 200;
    "GET" "/agent/v1/changes" "AgentChanges" "Agent: changes after a revision (long-poll)" S, Some("Changes"), 200;
    "POST" "/agent/v1/reports" "AgentReports" "Agent: per-object results" Some("Reports"), Some("ReportsAck"), 200;
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
        Snapshot,
        Changes,
        Reports,
        ReportsAck,
    );
    v
}

fn json_content(schema: &str) -> utoipa::openapi::Content {
    ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(schema)))
        .build()
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
            let mut b = OperationBuilder::new()
                .operation_id(Some(op.id))
                .summary(Some(op.summary));
            for seg in path.split('/').filter(|s| s.starts_with('{')) {
                let name = seg.trim_matches(|c| c == '{' || c == '}');
                b = b.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Path)
                        .required(Required::True),
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
            let mut ok = ResponseBuilder::new().description("Success");
            if let Some(resp) = op.response {
                ok = ok.content("application/json", json_content(resp));
            }
            b = b.response(op.status.to_string(), ok.build());
            b = b.response(
                "default",
                ResponseBuilder::new()
                    .description("Error (`EndPoint.xxxx` / `VPC.xxxx`)")
                    .content("application/json", json_content("ErrorBody"))
                    .build(),
            );
            item = Some(match item {
                None => PathItem::new(method, b.build()),
                Some(mut i) => {
                    let extra = PathItem::new(method, b.build());
                    i.merge_operations(extra);
                    i
                }
            });
        }
        if let Some(i) = item {
            paths = paths.path(path, i);
        }
    }
    let mut components = ComponentsBuilder::new();
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
