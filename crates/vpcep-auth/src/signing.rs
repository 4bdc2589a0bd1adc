//! Huawei Cloud `SDK-HMAC-SHA256` request signing (AK/SK), server and client side.
//!
//! Mirrors `huaweicloudsdkcore/signer/signer.py` byte for byte so that the
//! official SDKs verify against this server and this crate's client signs
//! requests a real Huawei endpoint would accept.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::AuthError;

/// Name of the only algorithm this module implements.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";

/// Everything except RFC 3986 unreserved characters is escaped, like Python's `quote(s, safe='~')`.
const ENCODE_SET: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

type HmacSha256 = Hmac<Sha256>;

fn encode(s: &str) -> String {
    utf8_percent_encode(s, ENCODE_SET).to_string()
}

/// Percent-decodes like Python's `unquote`: malformed escapes stay literal and
/// invalid UTF-8 becomes U+FFFD, so both sides agree on odd inputs.
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn new_mac(secret_key: &str) -> HmacSha256 {
    // HMAC is defined for keys of any length, so this cannot fail.
    HmacSha256::new_from_slice(secret_key.as_bytes()).expect("HMAC accepts keys of any length")
}

/// Canonical form of the request path, so that differently escaped spellings
/// of the same path sign identically.
pub fn canonical_uri(raw_path: &str) -> String {
    let decoded = decode(raw_path);
    let mut uri = decoded.split('/').map(encode).collect::<Vec<_>>().join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The query string's `(key, value)` pairs, in the order sent, decoded the one way both the
/// signature check and the handlers read them: as Python's `parse_qsl` does (the reference
/// verifier), `+` is a space and `%2B` a plus. Sharing this function is what makes a signature
/// pin the values a handler acts on: signed over `a%2Bb`, a request sent as `a+b` means `a b` and
/// fails the check instead of reaching the handler with a different value.
pub fn query_pairs(raw_query: &str) -> Vec<(String, String)> {
    raw_query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

/// Canonical form of the query string, so that parameter order and escaping
/// choices do not affect the signature (over the values [`query_pairs`] reads).
pub fn canonical_query(raw_query: &str) -> String {
    let mut pairs = query_pairs(raw_query);
    // Sort on decoded values, as the SDK does, not on their escaped forms.
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Borrowed view of an HTTP request, independent of any HTTP framework.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// HTTP method (any case; upper-cased when signing).
    pub method: &'a str,
    /// Path exactly as received, still percent-encoded, without the query.
    pub raw_path: &'a str,
    /// Query string exactly as received, without the leading `?`.
    pub raw_query: &'a str,
    /// Header names in any case, values as received.
    pub headers: &'a [(String, String)],
    /// Exact body bytes.
    pub body: &'a [u8],
}

/// Trimmed values of every header called `name` (case-insensitive), joined by
/// `,` so that repeated headers cannot be smuggled past the signature.
fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    let mut values = headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim());
    let first = values.next()?;
    Some(values.fold(first.to_owned(), |mut acc, v| {
        acc.push(',');
        acc.push_str(v);
        acc
    }))
}

fn build_canonical_request(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    signed_headers: &[String],
    values: &[String],
    body: &[u8],
) -> String {
    let mut out = String::new();
    out.push_str(&method.to_ascii_uppercase());
    out.push('\n');
    out.push_str(&canonical_uri(raw_path));
    out.push('\n');
    out.push_str(&canonical_query(raw_query));
    out.push('\n');
    for (name, value) in signed_headers.iter().zip(values) {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&signed_headers.join(";"));
    out.push('\n');
    out.push_str(&sha256_hex(body));
    out
}

/// The exact text both sides hash; exposed so mismatches can be debugged
/// against other implementations.
///
/// Header lines use the names as given in `signed_headers` (the SDK sends them
/// lower-case) and look them up case-insensitively. Fails if a signed header
/// is absent.
pub fn canonical_request(
    parts: &RequestParts,
    signed_headers: &[String],
) -> Result<String, AuthError> {
    let values = signed_headers
        .iter()
        .map(|name| {
            header_value(parts.headers, name)
                .ok_or_else(|| AuthError::MissingHeader(name.to_ascii_lowercase()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(build_canonical_request(
        parts.method,
        parts.raw_path,
        parts.raw_query,
        signed_headers,
        &values,
        parts.body,
    ))
}

/// Binds the signature to the algorithm and the request time.
pub fn string_to_sign(sdk_date: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{sdk_date}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// Lower-case hex HMAC-SHA256 of `string_to_sign` keyed by the secret key bytes.
pub fn signature_hex(secret_key: &str, string_to_sign: &str) -> String {
    let mut mac = new_mac(secret_key);
    mac.update(string_to_sign.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Parsed `Authorization` header; the access key selects which secret to verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id (AK), not secret.
    pub access_key: String,
    /// Lower-case header names covered by the signature, in the client's order.
    pub signed_headers: Vec<String>,
    /// 64 lower-case hex characters.
    pub signature: String,
}

impl Authorization {
    /// The header value a client sends, so clients and tests need not format it by hand.
    pub fn to_header_value(&self) -> String {
        format!(
            "{ALGORITHM} Access={}, SignedHeaders={}, Signature={}",
            self.access_key,
            self.signed_headers.join(";"),
            self.signature
        )
    }
}

fn is_header_name_char(b: u8) -> bool {
    // RFC 9110 token characters, minus upper case: the SDK always lower-cases.
    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b;c, Signature=hex`
/// strictly, so that odd encodings cannot reach the verifier.
pub fn parse_authorization(value: &str) -> Result<Authorization, AuthError> {
    let (algorithm, rest) = value
        .trim()
        .split_once(' ')
        .ok_or(AuthError::MalformedAuthorization("missing credentials"))?;
    if algorithm != ALGORITHM {
        return Err(AuthError::UnsupportedAlgorithm);
    }
    let (mut access, mut signed, mut signature) = (None, None, None);
    for field in rest.split(',') {
        let (key, val) = field
            .trim()
            .split_once('=')
            .ok_or(AuthError::MalformedAuthorization("field without '='"))?;
        let slot = match key {
            "Access" => &mut access,
            "SignedHeaders" => &mut signed,
            "Signature" => &mut signature,
            _ => return Err(AuthError::MalformedAuthorization("unknown field")),
        };
        if slot.replace(val).is_some() {
            return Err(AuthError::MalformedAuthorization("duplicate field"));
        }
    }
    let access = access.ok_or(AuthError::MalformedAuthorization("missing Access"))?;
    let signed = signed.ok_or(AuthError::MalformedAuthorization("missing SignedHeaders"))?;
    let signature = signature.ok_or(AuthError::MalformedAuthorization("missing Signature"))?;

    if access.is_empty() || !access.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AuthError::MalformedAuthorization("invalid Access"));
    }
    let mut signed_headers: Vec<String> = Vec::new();
    for name in signed.split(';') {
        if name.is_empty() || !name.bytes().all(is_header_name_char) {
            return Err(AuthError::MalformedAuthorization("invalid SignedHeaders"));
        }
        if signed_headers.iter().any(|h| h == name) {
            return Err(AuthError::MalformedAuthorization("duplicate signed header"));
        }
        signed_headers.push(name.to_owned());
    }
    if signature.len() != 64
        || !signature
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(AuthError::MalformedAuthorization("invalid Signature"));
    }
    Ok(Authorization {
        access_key: access.to_owned(),
        signed_headers,
        signature: signature.to_owned(),
    })
}

/// `X-Sdk-Date` representation (`YYYYMMDDTHHMMSSZ`, UTC).
pub fn format_sdk_date(t: OffsetDateTime) -> String {
    let t = t.checked_to_offset(UtcOffset::UTC).unwrap_or(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Strict parser for `YYYYMMDDTHHMMSSZ`; anything else is rejected rather than guessed.
pub fn parse_sdk_date(value: &str) -> Result<OffsetDateTime, AuthError> {
    let b = value.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(AuthError::InvalidDate);
    }
    let num = |range: std::ops::Range<usize>| -> Result<u16, AuthError> {
        b[range].iter().try_fold(0u16, |acc, &c| {
            if c.is_ascii_digit() {
                Ok(acc * 10 + u16::from(c - b'0'))
            } else {
                Err(AuthError::InvalidDate)
            }
        })
    };
    let small = |range| -> Result<u8, AuthError> {
        u8::try_from(num(range)?).map_err(|_| AuthError::InvalidDate)
    };
    let month = Month::try_from(small(4..6)?).map_err(|_| AuthError::InvalidDate)?;
    let date = Date::from_calendar_date(i32::from(num(0..4)?), month, small(6..8)?)
        .map_err(|_| AuthError::InvalidDate)?;
    let time = Time::from_hms(small(9..11)?, small(11..13)?, small(13..15)?)
        .map_err(|_| AuthError::InvalidDate)?;
    Ok(PrimitiveDateTime::new(date, time).assume_utc())
}

/// Server-side check of a signed request.
///
/// Requires `host` and `x-sdk-date` to be signed (otherwise a signature could
/// be replayed to another host or forever) and the date to be within
/// `max_skew` of `now`. The signature is compared in constant time.
pub fn verify(
    parts: &RequestParts,
    auth: &Authorization,
    secret_key: &str,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<(), AuthError> {
    check_headers(parts.headers, auth, now, max_skew)?;
    let sdk_date = header_value(parts.headers, "x-sdk-date")
        .ok_or_else(|| AuthError::MissingHeader("x-sdk-date".into()))?;
    let creq = canonical_request(parts, &auth.signed_headers)?;
    let sts = string_to_sign(&sdk_date, &creq);
    let expected = hex::decode(&auth.signature).map_err(|_| AuthError::SignatureMismatch)?;
    let mut mac = new_mac(secret_key);
    mac.update(sts.as_bytes());
    mac.verify_slice(&expected)
        .map_err(|_| AuthError::SignatureMismatch)
}

/// Everything about a signed request that can be checked from its headers alone: `Host` and
/// `X-Sdk-Date` are signed, the date parses and lies within `max_skew` of `now`, every signed
/// header is present. A server runs this before it reads (and buffers) any body, so a request
/// that can never verify costs no memory.
pub fn check_headers(
    headers: &[(String, String)],
    auth: &Authorization,
    now: OffsetDateTime,
    max_skew: Duration,
) -> Result<(), AuthError> {
    let is_signed = |name: &str| {
        auth.signed_headers
            .iter()
            .any(|h| h.eq_ignore_ascii_case(name))
    };
    if !is_signed("host") {
        return Err(AuthError::HostNotSigned);
    }
    if !is_signed("x-sdk-date") {
        return Err(AuthError::DateNotSigned);
    }
    let sdk_date = header_value(headers, "x-sdk-date")
        .ok_or_else(|| AuthError::MissingHeader("x-sdk-date".into()))?;
    let signed_at = parse_sdk_date(&sdk_date)?;
    if (now - signed_at).abs() > max_skew {
        return Err(AuthError::DateOutOfRange);
    }
    for name in &auth.signed_headers {
        if header_value(headers, name).is_none() {
            return Err(AuthError::MissingHeader(name.clone()));
        }
    }
    Ok(())
}

/// Client-side signing, identical to the Python SDK's `Signer.sign`.
///
/// Adds `X-Sdk-Date` (unless already present) and `Authorization` (replacing
/// any existing one) to `headers`. Every header present whose name contains no
/// `_` is signed, so headers must be final before calling; headers the HTTP
/// library adds later are simply unsigned. The caller must already have put
/// `Host` (the URL authority, with port) in `headers`, or servers will reject
/// the request. `raw_query` must be sent exactly as passed here.
#[allow(clippy::too_many_arguments)]
pub fn sign_request(
    access_key: &str,
    secret_key: &str,
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &mut Vec<(String, String)>,
    body: &[u8],
    now: OffsetDateTime,
) {
    headers.retain(|(name, _)| !name.eq_ignore_ascii_case("authorization"));
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("x-sdk-date"))
    {
        headers.push(("X-Sdk-Date".to_owned(), format_sdk_date(now)));
    }
    let mut signed: Vec<String> = headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| !name.is_empty() && !name.contains('_'))
        .collect();
    signed.sort();
    signed.dedup();
    let values: Vec<String> = signed
        .iter()
        .map(|name| header_value(headers, name).unwrap_or_default())
        .collect();
    let sdk_date = header_value(headers, "x-sdk-date").unwrap_or_default();
    let creq = build_canonical_request(method, raw_path, raw_query, &signed, &values, body);
    let signature = signature_hex(secret_key, &string_to_sign(&sdk_date, &creq));
    let auth = Authorization {
        access_key: access_key.to_owned(),
        signed_headers: signed,
        signature,
    };
    headers.push(("Authorization".to_owned(), auth.to_header_value()));
}

#[cfg(test)]
mod tests;
