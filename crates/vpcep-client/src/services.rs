//! Endpoint services, their connections and whitelist (reference §3.2–§3.4, operations 3–18).

use vpcep_huawei::vpcep::{
    BatchAddPermissionsBody, BatchRemovePermissionsBody, ConnectionActionBody, ConnectionDescIn,
    ConnectionListOut, ConnectionsDescBody, CreateEndpointServiceBody, FlowListOut,
    PermissionDescIn, PermissionIdIn, PermissionIn, PermissionListOut, PermissionsActionBody,
    PermissionsActionResponse, PublicServiceListOut, RenameServiceBody, RenameServiceResponse,
    ServiceListOut, ServiceOut, ServiceSummaryOut, UpdateEndpointServiceBody,
    UpdatePermissionDescBody,
};

use crate::params::{FlowFilter, Page, compact, push_opt};
use crate::{Client, ClientError};

/// Filters of `GET /vpc-endpoint-services`.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilter {
    /// Substring of the full service name.
    pub name: Option<String>,
    pub id: Option<String>,
    /// `creating`, `available`, `failed`, `deleting`.
    pub status: Option<String>,
    pub page: Page,
}

/// Filters of `GET …/{service_id}/connections`.
#[derive(Debug, Clone, Default)]
pub struct ConnectionFilter {
    /// An endpoint id.
    pub id: Option<String>,
    pub marker_id: Option<String>,
    /// `pendingAcceptance`, `accepted`, `rejected`, `failed`.
    pub status: Option<String>,
    pub page: Page,
}

/// How `describe` finds a service: exactly one of the two.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceRef {
    Id(String),
    /// The full name `{region}.{name}.{id}`.
    Name(String),
}

/// Accept or reject a connection (`receive` / `reject` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionAction {
    Accept,
    Reject,
}

impl ConnectionAction {
    pub fn as_wire(self) -> &'static str {
        match self {
            ConnectionAction::Accept => "receive",
            ConnectionAction::Reject => "reject",
        }
    }
}

const SERVICES: &str = "/vpc-endpoint-services";

impl Client {
    fn service_path(&self, id: &str, rest: &str) -> String {
        self.project_path(&format!("{SERVICES}/{id}{rest}"))
    }

    pub async fn create_service(
        &self,
        body: &CreateEndpointServiceBody,
    ) -> Result<ServiceOut, ClientError> {
        self.post(&self.project_path(SERVICES), &compact(body))
            .await
    }

    pub async fn list_services(&self, f: &ServiceFilter) -> Result<ServiceListOut, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "endpoint_service_name", f.name.as_deref());
        push_opt(&mut q, "id", f.id.as_deref());
        push_opt(&mut q, "status", f.status.as_deref());
        f.page.push(&mut q);
        self.get(&self.project_path(SERVICES), &q).await
    }

    /// Flow records of every endpoint of service `id` (its owner asks; docs/flows.md).
    pub async fn service_flows(
        &self,
        id: &str,
        f: &FlowFilter,
    ) -> Result<FlowListOut, ClientError> {
        self.get(&self.service_path(id, "/flows"), &f.query()).await
    }

    pub async fn get_service(&self, id: &str) -> Result<ServiceOut, ClientError> {
        self.get(&self.service_path(id, ""), &[]).await
    }

    pub async fn update_service(
        &self,
        id: &str,
        body: &UpdateEndpointServiceBody,
    ) -> Result<ServiceOut, ClientError> {
        self.put(&self.service_path(id, ""), &compact(body)).await
    }

    pub async fn rename_service(
        &self,
        id: &str,
        name: &str,
    ) -> Result<RenameServiceResponse, ClientError> {
        let body = RenameServiceBody {
            endpoint_service_name: Some(name.to_string()),
        };
        self.put(&self.service_path(id, "/name"), &body).await
    }

    pub async fn delete_service(&self, id: &str) -> Result<(), ClientError> {
        self.delete(&self.service_path(id, "")).await.map(|_| ())
    }

    /// `describe`: the summary a consumer may see, by id or full name.
    pub async fn describe_service(
        &self,
        by: &ServiceRef,
    ) -> Result<ServiceSummaryOut, ClientError> {
        let q = match by {
            ServiceRef::Id(id) => vec![("id", id.clone())],
            ServiceRef::Name(n) => vec![("endpoint_service_name", n.clone())],
        };
        self.get(&self.project_path(&format!("{SERVICES}/describe")), &q)
            .await
    }

    pub async fn list_public_services(
        &self,
        name: Option<&str>,
        page: &Page,
    ) -> Result<PublicServiceListOut, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "endpoint_service_name", name);
        page.push(&mut q);
        self.get(&self.project_path(&format!("{SERVICES}/public")), &q)
            .await
    }

    // ---- connections ------------------------------------------------------------------------

    pub async fn list_connections(
        &self,
        service_id: &str,
        f: &ConnectionFilter,
    ) -> Result<ConnectionListOut, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "id", f.id.as_deref());
        push_opt(&mut q, "marker_id", f.marker_id.as_deref());
        push_opt(&mut q, "status", f.status.as_deref());
        f.page.push(&mut q);
        self.get(&self.service_path(service_id, "/connections"), &q)
            .await
    }

    /// Accept (`receive`) or reject one endpoint's connection.
    pub async fn connection_action(
        &self,
        service_id: &str,
        action: ConnectionAction,
        endpoint_id: &str,
    ) -> Result<ConnectionListOut, ClientError> {
        let body = ConnectionActionBody {
            action: Some(action.as_wire().to_string()),
            endpoints: Some(vec![endpoint_id.to_string()]),
        };
        self.post(&self.service_path(service_id, "/connections/action"), &body)
            .await
    }

    /// Set the owner's description of connections: `(endpoint id, description)` pairs.
    pub async fn describe_connections(
        &self,
        service_id: &str,
        items: &[(String, String)],
    ) -> Result<ConnectionListOut, ClientError> {
        let body = ConnectionsDescBody {
            connections: Some(
                items
                    .iter()
                    .map(|(id, d)| ConnectionDescIn {
                        id: Some(id.clone()),
                        description: Some(d.clone()),
                    })
                    .collect(),
            ),
        };
        self.put(
            &self.service_path(service_id, "/connections/description"),
            &body,
        )
        .await
    }

    // ---- whitelist ----------------------------------------------------------------------------

    pub async fn list_permissions(
        &self,
        service_id: &str,
        permission: Option<&str>,
        page: &Page,
    ) -> Result<PermissionListOut, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "permission", permission);
        page.push(&mut q);
        self.get(&self.service_path(service_id, "/permissions"), &q)
            .await
    }

    /// Batch-create whitelist records: `(permission, description)` pairs of one `permission_type`
    /// (`domainId` or `orgPath`).
    pub async fn add_permissions(
        &self,
        service_id: &str,
        permission_type: &str,
        items: &[(String, String)],
    ) -> Result<PermissionListOut, ClientError> {
        let body = BatchAddPermissionsBody {
            permissions: Some(
                items
                    .iter()
                    .map(|(p, d)| PermissionIn {
                        permission: Some(p.clone()),
                        description: Some(d.clone()),
                    })
                    .collect(),
            ),
            permission_type: Some(permission_type.to_string()),
        };
        self.post(
            &self.service_path(service_id, "/permissions/batch-create"),
            &body,
        )
        .await
    }

    /// Batch-delete whitelist records by record id.
    pub async fn remove_permissions(
        &self,
        service_id: &str,
        ids: &[String],
    ) -> Result<PermissionListOut, ClientError> {
        let body = BatchRemovePermissionsBody {
            permissions: Some(
                ids.iter()
                    .map(|id| PermissionIdIn {
                        id: Some(id.clone()),
                    })
                    .collect(),
            ),
        };
        self.post(
            &self.service_path(service_id, "/permissions/batch-delete"),
            &body,
        )
        .await
    }

    /// The legacy `permissions/action` (`add` / `remove` permission strings).
    pub async fn permissions_action(
        &self,
        service_id: &str,
        action: &str,
        permission_type: &str,
        permissions: &[String],
    ) -> Result<PermissionsActionResponse, ClientError> {
        let body = PermissionsActionBody {
            permissions: Some(permissions.to_vec()),
            permission_type: Some(permission_type.to_string()),
            action: Some(action.to_string()),
        };
        self.post(&self.service_path(service_id, "/permissions/action"), &body)
            .await
    }

    pub async fn update_permission_description(
        &self,
        service_id: &str,
        permission_id: &str,
        description: &str,
    ) -> Result<PermissionListOut, ClientError> {
        let body = UpdatePermissionDescBody {
            permission: Some(PermissionDescIn {
                description: Some(description.to_string()),
            }),
        };
        self.put(
            &self.service_path(service_id, &format!("/permissions/{permission_id}")),
            &body,
        )
        .await
    }
}
