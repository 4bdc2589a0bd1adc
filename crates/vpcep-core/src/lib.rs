//! vpcep's domain core: the resource model, every validation rule, status state machines, naming
//! and address allocation. Pure: no I/O, no async, no clock (callers pass time in), and no wire
//! format: the Huawei shapes live in the front crate `vpcep-huawei`.

pub mod agent;
pub mod builtin;
pub mod command;
pub mod error;
pub mod flows;
pub mod inventory;
pub mod ipam;
pub mod metering;
pub mod model;
pub mod naming;
pub mod state;
pub mod timefmt;
pub mod validate;

pub use error::{DomainError, DomainResult};
