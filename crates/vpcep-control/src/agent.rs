//! The agent protocol's server side (see `vpcep_core::agent`): snapshot, watch, and reports that
//! move statuses. Only reports move services to `available` and endpoints to `accepted`/`failed`.

use std::time::Duration;

use vpcep_core::agent::{
    Change, Changes, FeedObject, ObjectResult, Outcome, Reports, ReportsAck, Snapshot,
};
use vpcep_core::error::{DomainError, DomainResult};
use vpcep_core::model::{
    Endpoint, EndpointService, Kind, QueryError, RecordedFailure, ServiceError,
};
use vpcep_core::state::{self, ReportEffect};
use vpcep_store::{Record, StoreError, TxExt};

use crate::{Control, now_ms};

fn feed_kinds() -> Vec<Kind> {
    Kind::ALL
        .into_iter()
        .filter(|k| k.in_change_feed())
        .collect()
}

fn feed_object(r: Record) -> DomainResult<FeedObject> {
    Ok(FeedObject {
        spec: FeedObject::spec_of(&r.body).map_err(|e| {
            DomainError::internal(format!("feed object {} {}: {e}", r.kind.as_str(), r.id))
        })?,
        kind: r.kind,
        id: r.id,
        generation: r.generation,
        revision: r.revision,
    })
}

/// Why a watch cannot be answered from history.
#[derive(Debug)]
pub enum WatchError {
    /// The agent must take a new snapshot.
    Compacted,
    Other(DomainError),
}

impl From<DomainError> for WatchError {
    fn from(e: DomainError) -> Self {
        Self::Other(e)
    }
}

impl Control {
    pub async fn agent_snapshot(&self) -> DomainResult<Snapshot> {
        let (revision, records) = self.store.snapshot(&feed_kinds()).await?;
        Ok(Snapshot {
            revision,
            objects: records
                .into_iter()
                .map(feed_object)
                .collect::<DomainResult<_>>()?,
        })
    }

    /// Changes after `after`; waits up to `timeout` for the first one.
    pub async fn agent_changes(
        &self,
        after: u64,
        timeout: Duration,
    ) -> Result<Changes, WatchError> {
        let mut rx = self.store.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let current = *rx.borrow_and_update();
            if current > after {
                break;
            }
            // Also re-read the store: another process (admin CLI, replica) may have committed.
            let stored = self.store.revision().await.map_err(DomainError::from)?;
            if stored > after {
                break;
            }
            let wait = tokio::time::timeout_at(deadline, rx.changed());
            match tokio::time::timeout(Duration::from_millis(500), wait).await {
                Ok(Ok(Ok(()))) => continue,
                Ok(Ok(Err(_))) => break,
                Ok(Err(_)) => break, // deadline
                Err(_) => {
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                }
            }
        }
        let set = match self.store.changes_since(after, &feed_kinds()).await {
            Ok(s) => s,
            Err(StoreError::Compacted(_)) => return Err(WatchError::Compacted),
            Err(e) => return Err(WatchError::Other(e.into())),
        };
        let mut changes: Vec<Change> = set
            .written
            .into_iter()
            .map(|r| {
                Ok(Change {
                    kind: r.kind,
                    id: r.id.clone(),
                    revision: r.revision,
                    object: Some(feed_object(r)?),
                })
            })
            .collect::<DomainResult<_>>()?;
        changes.extend(set.deleted.into_iter().map(|(kind, id, revision)| Change {
            kind,
            id,
            revision,
            object: None,
        }));
        changes.sort_by_key(|c| c.revision);
        Ok(Changes {
            revision: set.revision.max(after),
            changes,
        })
    }

    /// Apply an agent's per-object results in one transaction.
    pub async fn agent_report(&self, reports: Reports) -> DomainResult<ReportsAck> {
        let mut ack = ReportsAck {
            accepted: 0,
            stale: 0,
        };
        if reports.results.is_empty() {
            return Ok(ack);
        }
        let mut tx = self.store.begin().await?;
        for r in reports.results {
            if self.apply_result(&mut tx, &r).await? {
                ack.accepted += 1;
            } else {
                ack.stale += 1;
            }
        }
        tx.commit().await?;
        Ok(ack)
    }

    async fn apply_result(
        &self,
        tx: &mut Box<dyn vpcep_store::Tx>,
        r: &ObjectResult,
    ) -> DomainResult<bool> {
        let Some(rec) = tx.get(r.kind, &r.id).await? else {
            return Ok(false);
        };
        if rec.generation != r.generation {
            return Ok(false);
        }
        // The agent reports what went wrong; the code and message users see are worded here.
        // A result worded by an older agent keeps its own words.
        let (default_code, default_message) =
            (self.word_failure)(RecordedFailure::DataPlane(r.failure.as_ref()));
        let (code, message) = match (&r.failure, &r.error_code) {
            (None, Some(code)) => (
                code.clone(),
                r.error_message.clone().unwrap_or(default_message),
            ),
            _ => (default_code.to_string(), default_message),
        };
        match r.kind {
            Kind::Endpoint => {
                let mut e: Endpoint = vpcep_store::typed::from_record(&rec)?;
                match state::on_endpoint_report(e.status, r.outcome) {
                    ReportEffect::SetStatus(s) => {
                        e.status = s;
                        e.error = if r.outcome == Outcome::Failed {
                            vec![QueryError {
                                error_code: code,
                                error_message: message,
                            }]
                        } else {
                            vec![]
                        };
                        e.updated_ms = now_ms();
                        tx.save(&e, e.generation).await?;
                        tracing::info!(
                            endpoint = e.id,
                            status = e.status.as_str(),
                            "agent reported"
                        );
                        Ok(true)
                    }
                    ReportEffect::Remove => {
                        Control::purge_endpoint(tx, &e).await?;
                        self.recent.forget(&e.id);
                        tracing::info!(endpoint = e.id, "endpoint deleted");
                        Ok(true)
                    }
                    ReportEffect::Nothing => Ok(false),
                }
            }
            Kind::EndpointService => {
                let mut s: EndpointService = vpcep_store::typed::from_record(&rec)?;
                match state::on_service_report(s.status, r.outcome) {
                    ReportEffect::SetStatus(st) => {
                        s.status = st;
                        s.error = if r.outcome == Outcome::Failed {
                            vec![ServiceError { code, message }]
                        } else {
                            vec![]
                        };
                        s.updated_ms = now_ms();
                        tx.save(&s, s.generation).await?;
                        tracing::info!(
                            service = s.id,
                            status = s.status.as_str(),
                            "agent reported"
                        );
                        Ok(true)
                    }
                    ReportEffect::Remove => {
                        Control::purge_service(tx, &s).await?;
                        tracing::info!(service = s.id, "endpoint service deleted");
                        Ok(true)
                    }
                    ReportEffect::Nothing => Ok(false),
                }
            }
            // Lab hosts: BUILD until programmed, ACTIVE after, ERROR with the fault.
            Kind::Server => {
                report_host::<vpcep_core::inventory::Server>(tx, &rec, r.outcome, &message).await
            }
            Kind::Loadbalancer => {
                report_host::<vpcep_core::inventory::LoadBalancer>(tx, &rec, r.outcome, &message)
                    .await
            }
            Kind::Site => {
                report_host::<vpcep_core::inventory::Site>(tx, &rec, r.outcome, &message).await
            }
            // Other inventory objects are records whose status the agent confirms; failures are
            // logged for the operator.
            _ => {
                if r.outcome == Outcome::Failed {
                    tracing::warn!(
                        kind = r.kind.as_str(),
                        id = r.id,
                        code,
                        message,
                        "agent failed to realise object"
                    );
                }
                Ok(true)
            }
        }
    }
}

/// What a report can change on a lab host.
trait LabHost: vpcep_core::model::Resource {
    fn reported(&mut self) -> (&mut String, &mut Option<String>, &mut i64);
    fn generation(&self) -> u64;
}

macro_rules! lab_host {
    ($($t:ty),*) => {$(
        impl LabHost for $t {
            fn reported(&mut self) -> (&mut String, &mut Option<String>, &mut i64) {
                (&mut self.status, &mut self.fault, &mut self.updated_ms)
            }
            fn generation(&self) -> u64 {
                self.generation
            }
        }
    )*};
}
lab_host!(
    vpcep_core::inventory::Server,
    vpcep_core::inventory::LoadBalancer,
    vpcep_core::inventory::Site
);

/// A lab host's status after a report: `applied` → ACTIVE, `failed` → ERROR with the fault.
/// Returns whether anything changed (and saved it then).
async fn report_host<H: LabHost>(
    tx: &mut Box<dyn vpcep_store::Tx>,
    rec: &vpcep_store::Record,
    outcome: Outcome,
    message: &str,
) -> DomainResult<bool> {
    use vpcep_core::inventory::host_status::{ACTIVE, ERROR};
    let mut host: H = vpcep_store::typed::from_record(rec)?;
    let (new_status, new_fault) = match outcome {
        Outcome::Applied => (ACTIVE, None),
        Outcome::Failed => (ERROR, Some(message.to_string())),
        Outcome::Removed => return Ok(false),
    };
    let (status, fault, updated_ms) = host.reported();
    if status == new_status && *fault == new_fault {
        return Ok(false);
    }
    *status = new_status.to_string();
    *fault = new_fault;
    *updated_ms = now_ms();
    let generation = host.generation();
    tx.save(&host, generation).await?;
    Ok(true)
}
