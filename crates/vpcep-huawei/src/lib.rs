//! The Huawei front: the wire shapes of Huawei's VPCEP v1 ([`vpcep`]) and VPC v1 ([`vpc`]) APIs
//! and of vpcep's lab resources ([`lab`]), their conversions from the domain model and into its commands ([`command`]), their OpenAPI
//! schemas, and the error body ([`error`]). Written once here and used by the API server and the
//! typed client. Depends on the domain core; the core knows nothing of it.

pub mod audit;
pub mod command;
pub mod error;
pub mod lab;
pub mod usage;
pub mod vpc;
pub mod vpcep;

pub use error::{ApiError, ErrorBody};
