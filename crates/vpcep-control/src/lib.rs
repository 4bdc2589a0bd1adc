//! The service layer: one function per user action. Each authorises the caller, applies the core
//! rules and writes one store transaction. API, console and CLI call only this.

pub mod agent;
pub mod audit;
pub mod bootstrap;
pub mod console_support;
pub mod endpoints;
pub mod flows;
pub mod identity;
pub mod inventory;
pub mod permissions;
pub mod recent;
pub mod services;
pub mod tags;
pub mod usage;

use std::sync::Arc;

use vpcep_auth::SecretBox;
use vpcep_core::error::{DomainError, DomainResult, Field, Thing, quoted};
use vpcep_core::inventory::{
    LoadBalancer, Port, SecurityGroup, SecurityGroupRule, Server, Site, Subnet, Vpc,
};
use vpcep_core::model::{Endpoint, EndpointService, Permission, Quotas, RecordedFailureWording};
use vpcep_store::SharedStore;

pub use identity::{Caller, NewAccount};

/// Server-wide settings the rules depend on.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The region this control plane serves by default (new accounts get a project here).
    pub region: String,
    /// Quotas for accounts without an operator override.
    pub default_quotas: Quotas,
    /// Prefix of the built-in DNS cloud service name (`{prefix}.{region}.dns`).
    pub vendor_prefix: String,
    /// Accepted clock skew of signed requests.
    pub max_clock_skew_secs: i64,
    /// Where this machine's agent writes flow records (docs/flows.md); `None`: no records here
    /// (the flows queries answer with an empty page).
    pub flow_dir: Option<std::path::PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            region: "cn-north-4".to_string(),
            default_quotas: Quotas::default(),
            vendor_prefix: vpcep_core::builtin::DEFAULT_VENDOR_PREFIX.to_string(),
            max_clock_skew_secs: 15 * 60,
            flow_dir: None,
        }
    }
}

/// Handle on the service layer; cheap to clone.
#[derive(Clone)]
pub struct Control {
    /// Private: every reader and writer (API, console, CLI, agent feed, tests) goes through the
    /// methods of this crate, so each rule and ownership check has one place.
    store: SharedStore,
    pub settings: Arc<Settings>,
    secrets: Arc<SecretBox>,
    /// How failures recorded on resources are worded: chosen by the front serving the records.
    word_failure: RecordedFailureWording,
    /// The last hour of each endpoint's traffic, for charts (in memory; `recent.rs`).
    recent: Arc<recent::RecentTraffic>,
}

impl Control {
    /// `word_failure` words the failures the service layer records on resources (the Huawei
    /// front's is `vpcep_huawei::error::recorded_failure`).
    pub fn new(
        store: SharedStore,
        settings: Settings,
        secrets: SecretBox,
        word_failure: RecordedFailureWording,
    ) -> Self {
        Self {
            store,
            settings: Arc::new(settings),
            secrets: Arc::new(secrets),
            word_failure,
            recent: Arc::default(),
        }
    }

    /// The store's current revision: readiness (the store answers) and the agent feed's cursor.
    pub async fn revision(&self) -> DomainResult<u64> {
        Ok(self.store.revision().await?)
    }

    /// How many records of `kind` exist across all projects (operator statistics; tests check
    /// that a restart adds none).
    pub async fn count_all(&self, kind: vpcep_core::model::Kind) -> DomainResult<i64> {
        Ok(self.store.count(&vpcep_store::Query::of(kind)).await?)
    }

    /// How many records of `kind` are in `status` across all projects (operator metrics).
    pub async fn count_in_status(
        &self,
        kind: vpcep_core::model::Kind,
        status: &str,
    ) -> DomainResult<i64> {
        let q = vpcep_store::Query {
            kind: Some(kind),
            status: Some(status.to_string()),
            ..Default::default()
        };
        Ok(self.store.count(&q).await?)
    }
}

/// A resource that belongs to one project.
pub trait Owned {
    fn project_id(&self) -> &str;
}

macro_rules! owned {
    ($($ty:ty),* $(,)?) => {
        $(impl Owned for $ty {
            fn project_id(&self) -> &str {
                &self.project_id
            }
        })*
    };
}

owned!(
    Vpc,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Server,
    LoadBalancer,
    Site,
    EndpointService,
    Endpoint,
    Permission,
);

impl Caller {
    fn owns(&self, r: &impl Owned) -> bool {
        r.project_id() == self.project_id
    }

    /// `found` when it is in the caller's project: the one ownership check of the service layer.
    /// Another project's resource reads as missing, never as forbidden, so that its existence
    /// is not disclosed.
    pub fn own<R: Owned>(&self, found: Option<R>, kind: Thing, id: &str) -> DomainResult<R> {
        found
            .filter(|r| self.owns(r))
            .ok_or_else(|| DomainError::NotFound {
                kind,
                id: quoted(id),
            })
    }

    /// [`Caller::own`] for a resource that request field `field` names: a missing one is a bad
    /// reference in the request rather than a missing addressed resource.
    pub fn own_reference<R: Owned>(
        &self,
        found: Option<R>,
        field: Field,
        kind: Thing,
        id: &str,
    ) -> DomainResult<R> {
        found
            .filter(|r| self.owns(r))
            .ok_or_else(|| DomainError::UnknownReference {
                field,
                kind,
                id: quoted(id),
            })
    }
}

/// Milliseconds since the epoch; the only clock the service layer reads.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

pub fn new_uuid() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// 32 lowercase hex characters (account and project ids).
pub fn new_hex32() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
