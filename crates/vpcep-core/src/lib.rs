//! vpcep's domain core: the resource model, every validation rule, status state machines, naming,
//! address allocation and the wire shapes. Pure: no I/O, no async, no clock (callers pass time in).

pub mod agent;
pub mod builtin;
pub mod error;
pub mod inventory;
pub mod ipam;
pub mod model;
pub mod naming;
pub mod state;
pub mod timefmt;
pub mod validate;
pub mod vpc_wire;
pub mod wire;

pub use error::{ApiError, ApiResult};
