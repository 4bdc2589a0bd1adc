//! Authentication for vpcep: Huawei `SDK-HMAC-SHA256` AK/SK request signing
//! (so the official SDKs work unchanged) and protection of stored credentials.
//!
//! Pure computation except [`secrets::load_or_create_key_file`].

mod error;
pub mod secrets;
pub mod signing;

pub use error::AuthError;
pub use secrets::{SecretBox, generate_access_key, generate_secret_key, load_or_create_key_file};
pub use signing::{
    Authorization, RequestParts, canonical_query, canonical_request, canonical_uri, check_headers,
    format_sdk_date, parse_authorization, parse_sdk_date, sign_request, signature_hex,
    string_to_sign, verify,
};
