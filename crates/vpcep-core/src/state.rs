//! Status state machines (SPEC S4, S11). The control plane moves statuses on user actions; only an
//! agent's report moves them to `available` / `accepted` / `failed`, and confirms a delete.

use crate::agent::Outcome;
use crate::error::{DomainError, DomainResult, quoted};
use crate::model::{EndpointStatus, ServiceStatus};

/// Status of a new endpoint.
pub fn new_endpoint_status(approval_enabled: bool) -> EndpointStatus {
    if approval_enabled {
        EndpointStatus::PendingAcceptance
    } else {
        EndpointStatus::Creating
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionAction {
    Receive,
    Reject,
}

impl ConnectionAction {
    /// The actions' names on the wire.
    pub const NAMES: &'static [&'static str] = &["receive", "reject"];

    pub fn parse(s: &str) -> DomainResult<Self> {
        match s {
            "receive" => Ok(Self::Receive),
            "reject" => Ok(Self::Reject),
            other => Err(DomainError::Unsupported {
                field: "action",
                value: quoted(other),
                allowed: Self::NAMES,
            }),
        }
    }
}

/// The owner accepts or rejects a connection.
pub fn on_connection_action(
    current: EndpointStatus,
    action: ConnectionAction,
) -> DomainResult<EndpointStatus> {
    use EndpointStatus::*;
    match (current, action) {
        (Deleting, _) => Err(DomainError::EndpointDeleting),
        (Failed, _) => Err(DomainError::EndpointFailed),
        // Accepting an already accepted or in-progress connection changes nothing.
        (Accepted, ConnectionAction::Receive) => Ok(Accepted),
        (Creating, ConnectionAction::Receive) => Ok(Creating),
        (PendingAcceptance | Rejected, ConnectionAction::Receive) => Ok(Creating),
        (PendingAcceptance | Creating | Accepted | Rejected, ConnectionAction::Reject) => {
            Ok(Rejected)
        }
    }
}

/// The user deletes an endpoint.
pub fn on_endpoint_delete(current: EndpointStatus) -> DomainResult<EndpointStatus> {
    match current {
        EndpointStatus::Deleting => Err(DomainError::EndpointDeleting),
        _ => Ok(EndpointStatus::Deleting),
    }
}

/// What an agent report does to an endpoint. `None`: nothing to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportEffect<S> {
    SetStatus(S),
    Remove,
    Nothing,
}

pub fn on_endpoint_report(
    current: EndpointStatus,
    outcome: Outcome,
) -> ReportEffect<EndpointStatus> {
    use EndpointStatus::*;
    match (current, outcome) {
        (Creating | Failed, Outcome::Applied) => ReportEffect::SetStatus(Accepted),
        (Creating | Accepted, Outcome::Failed) => ReportEffect::SetStatus(Failed),
        (Deleting, Outcome::Removed) => ReportEffect::Remove,
        _ => ReportEffect::Nothing,
    }
}

pub fn on_service_report(current: ServiceStatus, outcome: Outcome) -> ReportEffect<ServiceStatus> {
    use ServiceStatus::*;
    match (current, outcome) {
        (Creating, Outcome::Applied) => ReportEffect::SetStatus(Available),
        (Creating | Available, Outcome::Failed) => ReportEffect::SetStatus(Failed),
        (Failed, Outcome::Applied) => ReportEffect::SetStatus(Available),
        (Deleting, Outcome::Removed) => ReportEffect::Remove,
        _ => ReportEffect::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EndpointStatus::*;

    #[test]
    fn approval_flow() {
        assert_eq!(new_endpoint_status(true), PendingAcceptance);
        assert_eq!(new_endpoint_status(false), Creating);
        assert_eq!(
            on_connection_action(PendingAcceptance, ConnectionAction::Receive).unwrap(),
            Creating
        );
        assert_eq!(
            on_endpoint_report(Creating, Outcome::Applied),
            ReportEffect::SetStatus(Accepted)
        );
        assert_eq!(
            on_connection_action(Accepted, ConnectionAction::Reject).unwrap(),
            Rejected
        );
        assert_eq!(
            on_connection_action(Rejected, ConnectionAction::Receive).unwrap(),
            Creating
        );
        assert_eq!(
            on_endpoint_report(PendingAcceptance, Outcome::Applied),
            ReportEffect::Nothing
        );
        assert_eq!(
            on_endpoint_report(Rejected, Outcome::Applied),
            ReportEffect::Nothing
        );
        assert!(on_connection_action(Deleting, ConnectionAction::Receive).is_err());
        assert!(matches!(
            ConnectionAction::parse("accept"),
            Err(DomainError::Unsupported {
                field: "action",
                ..
            })
        ));
    }

    #[test]
    fn deletes() {
        assert_eq!(on_endpoint_delete(Accepted).unwrap(), Deleting);
        assert!(on_endpoint_delete(Deleting).is_err());
        assert_eq!(
            on_endpoint_report(Deleting, Outcome::Removed),
            ReportEffect::Remove
        );
        assert_eq!(
            on_endpoint_report(Deleting, Outcome::Applied),
            ReportEffect::Nothing
        );
        assert_eq!(
            on_service_report(ServiceStatus::Deleting, Outcome::Removed),
            ReportEffect::Remove
        );
        assert_eq!(
            on_service_report(ServiceStatus::Creating, Outcome::Applied),
            ReportEffect::SetStatus(ServiceStatus::Available)
        );
    }
}
