//! Signed session cookies and CSRF tokens.
//!
//! The session is stateless so it survives a server restart: the cookie carries
//! `v1.<domain_id>.<project_id>.<expiry>.<nonce>` and an HMAC-SHA256 of it under the console key
//! (`<data-dir>/console.key`). The CSRF token of a session is another HMAC of the same payload,
//! put in a hidden field of every form and checked on every POST. Before sign-in, a random
//! `vpcep_login` cookie plays the session's part for the sign-in form.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ConsoleError;

type HmacSha256 = Hmac<Sha256>;

pub const SESSION_COOKIE: &str = "vpcep_session";
pub const LOGIN_COOKIE: &str = "vpcep_login";
pub const LANG_COOKIE: &str = "vpcep_lang";
/// How long a sign-in lasts.
pub const SESSION_SECS: i64 = 12 * 3600;

/// The console's signing key.
#[derive(Clone)]
pub struct Keys {
    key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

pub fn random_hex(n: usize) -> Result<String, ConsoleError> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| ConsoleError::Random(e.to_string()))?;
    Ok(hex::encode(b))
}

impl Keys {
    pub fn from_bytes(key: [u8; 32]) -> Self {
        Self { key }
    }

    pub fn generate() -> Result<Self, ConsoleError> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key).map_err(|e| ConsoleError::Random(e.to_string()))?;
        Ok(Self { key })
    }

    /// Read the key (64 hex characters) from `path`, creating it with mode 0600 when missing.
    pub fn load_or_create(path: &Path) -> Result<Self, ConsoleError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let io = |e: std::io::Error| ConsoleError::KeyFile {
            path: path.display().to_string(),
            source: e,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let bytes = hex::decode(text.trim()).map_err(|_| ConsoleError::BadKey {
                    path: path.display().to_string(),
                })?;
                let key: [u8; 32] = bytes.try_into().map_err(|_| ConsoleError::BadKey {
                    path: path.display().to_string(),
                })?;
                Ok(Self { key })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let keys = Self::generate()?;
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(path)
                    .map_err(io)?;
                f.write_all(hex::encode(keys.key).as_bytes()).map_err(io)?;
                Ok(keys)
            }
            Err(e) => Err(io(e)),
        }
    }

    fn mac(&self, purpose: &str, data: &str) -> HmacSha256 {
        // A 32-byte key is always a valid HMAC key.
        let mut m = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        m.update(purpose.as_bytes());
        m.update(b"\0");
        m.update(data.as_bytes());
        m
    }

    fn sign(&self, purpose: &str, data: &str) -> String {
        hex::encode(self.mac(purpose, data).finalize().into_bytes())
    }

    fn verify(&self, purpose: &str, data: &str, sig_hex: &str) -> bool {
        match hex::decode(sig_hex) {
            Ok(sig) => self.mac(purpose, data).verify_slice(&sig).is_ok(),
            Err(_) => false,
        }
    }

    /// Constant-time equality of two secrets (compares their MACs).
    pub fn secrets_equal(&self, a: &str, b: &str) -> bool {
        let tag = self.mac("cmp", b).finalize().into_bytes();
        self.mac("cmp", a).verify_slice(&tag).is_ok()
    }

    // ---- sessions ------------------------------------------------------------------------

    pub fn issue(&self, s: &SessionData) -> String {
        let payload = s.payload();
        format!("{payload}.{}", self.sign("session", &payload))
    }

    /// A valid, unexpired session from a cookie value.
    pub fn open(&self, cookie: &str, now_secs: i64) -> Option<SessionData> {
        let (payload, sig) = cookie.rsplit_once('.')?;
        if !self.verify("session", payload, sig) {
            return None;
        }
        let s = SessionData::parse(payload)?;
        (s.expires > now_secs).then_some(s)
    }

    pub fn csrf_token(&self, s: &SessionData) -> String {
        self.sign("csrf", &s.payload())
    }

    pub fn check_csrf(&self, s: &SessionData, token: &str) -> bool {
        self.verify("csrf", &s.payload(), token)
    }

    pub fn login_token(&self, nonce: &str) -> String {
        self.sign("login-csrf", nonce)
    }

    pub fn check_login_token(&self, nonce: &str, token: &str) -> bool {
        !nonce.is_empty() && self.verify("login-csrf", nonce, token)
    }
}

/// What a session cookie says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionData {
    pub domain_id: String,
    pub project_id: String,
    pub expires: i64,
    pub nonce: String,
}

fn id_safe(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl SessionData {
    fn payload(&self) -> String {
        format!(
            "v1.{}.{}.{}.{}",
            self.domain_id, self.project_id, self.expires, self.nonce
        )
    }

    fn parse(payload: &str) -> Option<Self> {
        let mut it = payload.split('.');
        if it.next()? != "v1" {
            return None;
        }
        let domain_id = it.next()?.to_string();
        let project_id = it.next()?.to_string();
        let expires = it.next()?.parse().ok()?;
        let nonce = it.next()?.to_string();
        if it.next().is_some() || !id_safe(&domain_id) || !id_safe(&project_id) {
            return None;
        }
        Some(Self {
            domain_id,
            project_id,
            expires,
            nonce,
        })
    }
}

pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A `Set-Cookie` value with the console's flags.
pub fn cookie(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/console; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The value of cookie `name` in a `Cookie` header.
pub fn read_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|kv| {
        let (k, v) = kv.trim().split_once('=')?;
        (k == name).then_some(v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> SessionData {
        SessionData {
            domain_id: "0123456789abcdef0123456789abcdef".into(),
            project_id: "fedcba9876543210fedcba9876543210".into(),
            expires: 2_000,
            nonce: "00ff".into(),
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let k = Keys::from_bytes([7; 32]);
        let c = k.issue(&data());
        assert_eq!(k.open(&c, 1_000), Some(data()));
        assert_eq!(k.open(&c, 2_000), None, "expired");
        let other = Keys::from_bytes([8; 32]);
        assert_eq!(other.open(&c, 1_000), None, "other key");
        let forged = c.replace("fedcba", "aaaaaa");
        assert_eq!(k.open(&forged, 1_000), None, "altered payload");
        assert_eq!(k.open("garbage", 1_000), None);
        assert_eq!(k.open("", 1_000), None);
    }

    #[test]
    fn csrf() {
        let k = Keys::from_bytes([7; 32]);
        let t = k.csrf_token(&data());
        assert!(k.check_csrf(&data(), &t));
        assert!(!k.check_csrf(&data(), "00"));
        let mut d2 = data();
        d2.nonce = "01ff".into();
        assert!(!k.check_csrf(&d2, &t), "token is per session");
        let lt = k.login_token("abc");
        assert!(k.check_login_token("abc", &lt));
        assert!(!k.check_login_token("", &lt));
        assert!(k.secrets_equal("x", "x"));
        assert!(!k.secrets_equal("x", "y"));
    }

    #[test]
    fn key_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("console.key");
        let a = Keys::load_or_create(&p).expect("create");
        let b = Keys::load_or_create(&p).expect("load");
        assert_eq!(a.key, b.key);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn cookies() {
        assert_eq!(read_cookie("a=1; b=2", "b"), Some("2"));
        assert_eq!(read_cookie("a=1", "b"), None);
        let c = cookie("x", "y", 10, false);
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Path=/console")
        );
    }
}
