//! Error type shared by signing and secret handling.

/// Why authentication or credential handling failed.
///
/// Variants are detailed so that logs can tell failure causes apart; HTTP
/// callers must still collapse every variant into one opaque 401 so that a
/// client cannot probe which check failed. No variant carries secret material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The `Authorization` header is not a well-formed `SDK-HMAC-SHA256` value.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// The `Authorization` header names another signing algorithm.
    #[error("unsupported signing algorithm")]
    UnsupportedAlgorithm,
    /// A header listed in `SignedHeaders` is absent from the request.
    #[error("signed header `{0}` is missing from the request")]
    MissingHeader(String),
    /// `host` is not covered by the signature, so the request could be replayed against another host.
    #[error("the host header is not signed")]
    HostNotSigned,
    /// `x-sdk-date` is not covered by the signature, so the freshness check would be meaningless.
    #[error("the x-sdk-date header is not signed")]
    DateNotSigned,
    /// `X-Sdk-Date` is not `YYYYMMDDTHHMMSSZ`.
    #[error("invalid X-Sdk-Date value")]
    InvalidDate,
    /// `X-Sdk-Date` is further from the server clock than the allowed skew.
    #[error("X-Sdk-Date is outside the allowed clock skew")]
    DateOutOfRange,
    /// The signature does not match the request.
    #[error("signature mismatch")]
    SignatureMismatch,
    /// A server key (hex) has the wrong length or is not hex.
    #[error("invalid secret-box key")]
    InvalidKey,
    /// A sealed value is malformed, was tampered with, or belongs to other associated data.
    #[error("sealed secret could not be opened")]
    Unseal,
    /// The operating system random number generator failed.
    #[error("random number generator failure: {0}")]
    Random(String),
    /// Reading or creating the key file failed.
    #[error("key file I/O: {0}")]
    Io(#[from] std::io::Error),
}
