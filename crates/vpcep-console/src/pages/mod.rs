//! The console's pages, one module per area of the user guide.

pub mod account;
pub mod auth;
pub mod endpoints;
pub mod services;
