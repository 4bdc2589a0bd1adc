//! Endpoints (reference §3.5, operations 19–26).

use vpcep_huawei::vpcep::{
    CreateEndpointBody, EndpointListOut, EndpointOut, FlowListOut, UpdateEndpointPolicyBody,
    UpdateEndpointWhiteBody, UpdateRoutetablesBody, UpdateRoutetablesResponse,
};

use crate::params::{FlowFilter, Page, compact, push_opt};
use crate::{Client, ClientError};

/// Filters of `GET /vpc-endpoints`.
#[derive(Debug, Clone, Default)]
pub struct EndpointFilter {
    /// Substring of the service's full name.
    pub service_name: Option<String>,
    pub vpc_id: Option<String>,
    pub id: Option<String>,
    pub page: Page,
}

const ENDPOINTS: &str = "/vpc-endpoints";

impl Client {
    fn endpoint_path(&self, id: &str, rest: &str) -> String {
        self.project_path(&format!("{ENDPOINTS}/{id}{rest}"))
    }

    pub async fn create_endpoint(
        &self,
        body: &CreateEndpointBody,
    ) -> Result<EndpointOut, ClientError> {
        self.post(&self.project_path(ENDPOINTS), &compact(body))
            .await
    }

    pub async fn list_endpoints(&self, f: &EndpointFilter) -> Result<EndpointListOut, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "endpoint_service_name", f.service_name.as_deref());
        push_opt(&mut q, "vpc_id", f.vpc_id.as_deref());
        push_opt(&mut q, "id", f.id.as_deref());
        f.page.push(&mut q);
        self.get(&self.project_path(ENDPOINTS), &q).await
    }

    /// Flow records of endpoint `id` (its owner asks; docs/flows.md).
    pub async fn endpoint_flows(
        &self,
        id: &str,
        f: &FlowFilter,
    ) -> Result<FlowListOut, ClientError> {
        self.get(&self.endpoint_path(id, "/flows"), &f.query())
            .await
    }

    pub async fn get_endpoint(&self, id: &str) -> Result<EndpointOut, ClientError> {
        self.get(&self.endpoint_path(id, ""), &[]).await
    }

    pub async fn delete_endpoint(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.endpoint_path(id, "")).await.map(|_| ())
    }

    /// Replace the endpoint's IP whitelist (`Some(vec![])` clears it) and/or switch it on or off.
    pub async fn update_endpoint_whitelist(
        &self,
        id: &str,
        whitelist: Option<Vec<String>>,
        enable: Option<bool>,
    ) -> Result<EndpointOut, ClientError> {
        let body = UpdateEndpointWhiteBody {
            whitelist,
            enable_whitelist: enable,
        };
        self.put(&self.endpoint_path(id, ""), &compact(&body)).await
    }

    pub async fn update_endpoint_policy(
        &self,
        id: &str,
        body: &UpdateEndpointPolicyBody,
    ) -> Result<EndpointOut, ClientError> {
        self.put(&self.endpoint_path(id, "/policy"), &compact(body))
            .await
    }

    pub async fn delete_endpoint_policy(&self, id: &str) -> Result<EndpointOut, ClientError> {
        self.json(
            reqwest::Method::DELETE,
            &self.endpoint_path(id, "/policy"),
            &[],
            None,
        )
        .await
    }

    pub async fn update_endpoint_routetables(
        &self,
        id: &str,
        routetables: &[String],
    ) -> Result<UpdateRoutetablesResponse, ClientError> {
        let body = UpdateRoutetablesBody {
            routetables: Some(routetables.to_vec()),
        };
        self.put(&self.endpoint_path(id, "/routetables"), &body)
            .await
    }
}
