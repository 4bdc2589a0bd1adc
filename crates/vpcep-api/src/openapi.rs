//! The OpenAPI document served at `/openapi.json`.

pub fn document() -> serde_json::Value {
    serde_json::json!({"openapi": "3.1.0", "info": {"title": "vpcep", "version": env!("CARGO_PKG_VERSION")}, "paths": {}})
}
