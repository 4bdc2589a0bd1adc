//! Huawei-style API errors: every user mistake maps to a documented `EndPoint.xxxx` code and an
//! HTTP status, so fronts (API, console, CLI) only translate and never invent codes.

use serde::{Deserialize, Serialize};

/// An error that reaches a user. `status` is the HTTP status the API answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The request field the error is about, when there is one (the console shows the message next
    /// to that field). Not part of the Huawei wire format.
    pub field: Option<&'static str>,
}

/// The body the API returns for an error: `{"error_code": "...", "error_msg": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error_code: String,
    pub error_msg: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    /// Attach the request field this error concerns.
    pub fn on(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error_code: self.code.to_string(),
            error_msg: self.message.clone(),
        }
    }

    pub fn system(message: impl Into<String>) -> Self {
        Self::new(500, codes::SYSTEM, message)
    }
    pub fn param(message: impl Into<String>) -> Self {
        Self::new(400, codes::PARAMETER, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(
            401,
            codes::AUTH_FAILED,
            "Authentication failed or authentication information is invalid.",
        )
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, codes::FORBIDDEN, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, codes::NOT_FOUND, message)
    }
    pub fn service_not_found(id: &str) -> Self {
        Self::new(
            404,
            codes::NOT_FOUND,
            format!("The endpoint service {id} does not exist."),
        )
    }
    pub fn endpoint_not_found(id: &str) -> Self {
        Self::new(
            404,
            codes::ENDPOINT_NOT_FOUND,
            format!("The endpoint {id} does not exist."),
        )
    }
    pub fn quota_exceeded(what: &str, quota: i64) -> Self {
        Self::new(
            400,
            codes::QUOTA_EXCEEDED,
            format!("Quota exceeded: at most {quota} {what} per account."),
        )
    }
}

/// Documented error codes (reference `huawei-vpcep-api.md` §6). Only the codes we emit are listed.
pub mod codes {
    pub const SYSTEM: &str = "EndPoint.0001";
    pub const PARAMETER: &str = "EndPoint.0002";
    pub const AUTH_FAILED: &str = "EndPoint.0003";
    pub const FORBIDDEN: &str = "EndPoint.0004";
    pub const NOT_FOUND: &str = "EndPoint.0005";
    pub const INVALID_LIMIT: &str = "EndPoint.0006";
    pub const INVALID_ACTION: &str = "EndPoint.0007";
    pub const INVALID_OFFSET: &str = "EndPoint.0010";
    pub const BODY_NULL: &str = "EndPoint.0011";
    pub const TIMEOUT: &str = "EndPoint.0013";
    pub const INVALID_PROJECT: &str = "EndPoint.0014";
    pub const BATCH_LIMIT: &str = "EndPoint.0016";
    pub const INVALID_SORT_KEY: &str = "EndPoint.0017";
    pub const INVALID_SORT_DIR: &str = "EndPoint.0018";
    pub const INVALID_STATUS: &str = "EndPoint.0019";
    pub const INVALID_VPC_ID: &str = "EndPoint.0020";
    pub const INVALID_MARKER_ID: &str = "EndPoint.0021";
    pub const TOO_MANY_REQUESTS: &str = "EndPoint.0022";
    pub const INVALID_SUBNET_ID: &str = "EndPoint.0023";
    pub const INVALID_SERVICE_NAME: &str = "EndPoint.1003";
    pub const INVALID_REQUEST: &str = "EndPoint.1004";
    /// Printed with a lower-case `p` in Huawei's docs; kept as documented.
    pub const QUOTA_EXCEEDED: &str = "Endpoint.1018";
    pub const VPC_NOT_FOUND: &str = "EndPoint.2001";
    pub const SERVICE_NOT_FOUND: &str = "EndPoint.2003";
    pub const SERVICE_UNAVAILABLE: &str = "EndPoint.2004";
    pub const ENDPOINT_NOT_FOUND: &str = "EndPoint.2006";
    pub const SUBNET_EMPTY: &str = "EndPoint.2010";
    pub const VPC_EMPTY: &str = "EndPoint.2011";
    pub const NO_PERMISSION_TO_CONNECT: &str = "EndPoint.2012";
    pub const NOT_OF_SERVICE: &str = "EndPoint.2013";
    pub const ENDPOINT_DELETING: &str = "EndPoint.2018";
    pub const ENDPOINT_CREATING: &str = "EndPoint.2019";
    pub const INVALID_ENDPOINT_ACTION: &str = "EndPoint.2027";
    pub const SERVICE_ID_EMPTY: &str = "EndPoint.2029";
    pub const ONLY_ONE_ENDPOINT: &str = "EndPoint.2031";
    pub const SUBNET_NOT_IN_VPC: &str = "EndPoint.2037";
    pub const INVALID_PORT_IP: &str = "EndPoint.2041";
    pub const PORT_IP_IN_USE: &str = "EndPoint.2042";
    pub const PORT_IP_NOT_IN_SUBNET: &str = "EndPoint.2043";
    pub const INVALID_WHITELIST: &str = "EndPoint.2045";
    pub const INVALID_ENDPOINT_WHITELIST: &str = "EndPoint.2044";
    pub const FAILED_NOT_MODIFIABLE: &str = "EndPoint.2047";
    pub const INVALID_POLICY: &str = "EndPoint.2048";
    pub const NO_POLICY: &str = "EndPoint.2049";
    pub const INVALID_PERMISSION: &str = "EndPoint.3002";
    pub const INVALID_PORT_ID: &str = "EndPoint.3003";
    pub const INVALID_PORT: &str = "EndPoint.3004";
    pub const SERVICE_IN_USE: &str = "EndPoint.3006";
    pub const PORT_NOT_FOUND: &str = "EndPoint.3008";
    pub const INVALID_CIDR: &str = "EndPoint.3009";
    pub const INVALID_IP: &str = "EndPoint.3010";
    pub const INVALID_SERVER_TYPE: &str = "EndPoint.3021";
    pub const INVALID_PERMISSION_ACTION: &str = "EndPoint.3035";
    pub const EMPTY_PERMISSIONS: &str = "EndPoint.3036";
    pub const PORT_NOT_IN_VPC: &str = "EndPoint.3042";
    pub const INVALID_SERVICE_PORT: &str = "EndPoint.3043";
    pub const PORTS_CONFLICT: &str = "EndPoint.3044";
    pub const STATE_NOT_MODIFIABLE: &str = "EndPoint.3045";
    pub const PERMISSION_LIMIT: &str = "EndPoint.3049";
    pub const BACKEND_LIMIT: &str = "EndPoint.3056";
    pub const INVALID_SERVICE_ID: &str = "EndPoint.3062";
    pub const TAG_EMPTY: &str = "EndPoint.3066";
    pub const TAG_KEY_DUPLICATED: &str = "EndPoint.3067";
    pub const TAG_INVALID: &str = "EndPoint.3068";
    pub const TAG_LIMIT: &str = "EndPoint.3069";
    pub const INVALID_RESOURCE_TYPE: &str = "EndPoint.3070";
    pub const TAG_KEY_SIZE: &str = "EndPoint.3072";
    pub const TAG_VALUE_SIZE: &str = "EndPoint.3073";
    pub const PORTS_LIMIT: &str = "EndPoint.3074";
    pub const INVALID_PROTOCOL: &str = "EndPoint.3075";
    pub const INVALID_SERVICE_NAME_3076: &str = "EndPoint.3076";
}

pub type ApiResult<T> = Result<T, ApiError>;
