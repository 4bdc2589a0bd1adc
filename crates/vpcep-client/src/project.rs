//! Project-wide operations: quotas (§3.6) and tags (§3.7).

use vpcep_huawei::vpcep::{
    ProjectTagsOut, QuotasOut, ResourceInstancesBody, ResourceInstancesOut, TagIn, TagsActionBody,
};

use crate::params::{compact, push_opt};
use crate::{Client, ClientError};

/// What tags are attached to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagResource {
    EndpointService,
    Endpoint,
}

impl TagResource {
    /// The `{resource_type}` path segment.
    pub fn as_path(self) -> &'static str {
        match self {
            TagResource::EndpointService => "endpoint_service",
            TagResource::Endpoint => "endpoint",
        }
    }
}

impl Client {
    /// `GET /quotas`, optionally for one type (`endpoint_service` or `endpoint`).
    pub async fn quotas(&self, kind: Option<&str>) -> Result<QuotasOut, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "type", kind);
        self.get(&self.project_path("/quotas"), &q).await
    }

    /// Add (`create`) tags to a resource; a tag with an existing key replaces its value.
    pub async fn add_tags(
        &self,
        resource: TagResource,
        id: &str,
        tags: &[(String, String)],
    ) -> Result<(), ClientError> {
        let tags = tags
            .iter()
            .map(|(k, v)| TagIn {
                key: Some(k.clone()),
                value: Some(v.clone()),
            })
            .collect();
        self.tags_action(resource, id, "create", tags).await
    }

    /// Remove (`delete`) tags; a `None` value removes the key whatever its value.
    pub async fn remove_tags(
        &self,
        resource: TagResource,
        id: &str,
        tags: &[(String, Option<String>)],
    ) -> Result<(), ClientError> {
        let tags = tags
            .iter()
            .map(|(k, v)| TagIn {
                key: Some(k.clone()),
                value: v.clone(),
            })
            .collect();
        self.tags_action(resource, id, "delete", tags).await
    }

    async fn tags_action(
        &self,
        resource: TagResource,
        id: &str,
        action: &str,
        tags: Vec<TagIn>,
    ) -> Result<(), ClientError> {
        let body = compact(&TagsActionBody {
            action: Some(action.to_string()),
            tags: Some(tags),
        });
        let path = self.project_path(&format!("/{}/{id}/tags/action", resource.as_path()));
        self.call(reqwest::Method::POST, &path, &[], Some(&body))
            .await
            .map(|_| ())
    }

    /// Every tag key of the project's resources of one type, with the values in use.
    pub async fn project_tags(&self, resource: TagResource) -> Result<ProjectTagsOut, ClientError> {
        self.get(
            &self.project_path(&format!("/{}/tags", resource.as_path())),
            &[],
        )
        .await
    }

    /// Filter or count resources by tags.
    pub async fn resource_instances(
        &self,
        resource: TagResource,
        body: &ResourceInstancesBody,
    ) -> Result<ResourceInstancesOut, ClientError> {
        self.post(
            &self.project_path(&format!(
                "/{}/resource_instances/action",
                resource.as_path()
            )),
            &compact(body),
        )
        .await
    }
}

impl Client {
    /// `GET /usage`: metered usage per endpoint and hour in `[from, to)` (RFC 3339 or epoch
    /// ms, rounded to whole hours; defaults: today 00:00 UTC to now). The CSV export is
    /// `vpcep_huawei::usage::csv` of the rows, the same text the server sends for `format=csv`.
    pub async fn usage(
        &self,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<vpcep_huawei::usage::UsageOut, ClientError> {
        let mut q = Vec::new();
        push_opt(&mut q, "from", from);
        push_opt(&mut q, "to", to);
        self.get(&self.project_path("/usage"), &q).await
    }
}
