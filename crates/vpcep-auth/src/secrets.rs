//! Credential generation and encryption of secret keys at rest.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{Key, KeyInit, XChaCha20Poly1305, XNonce};

use crate::AuthError;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const UPPER_DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

fn random_bytes(buf: &mut [u8]) -> Result<(), AuthError> {
    getrandom::fill(buf).map_err(|e| AuthError::Random(e.to_string()))
}

/// Uniform random string over `alphabet` (rejection sampling avoids modulo bias).
///
/// # Panics
/// If the OS random number generator fails: issuing weak credentials would be worse.
fn random_string(alphabet: &[u8], len: usize) -> String {
    // Largest multiple of the alphabet size that fits in a byte.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        random_bytes(&mut buf).expect("OS random number generator failed");
        for &b in &buf {
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    out
}

/// New access key id (20 chars, `A-Z0-9`), in the format Huawei issues.
///
/// # Panics
/// If the OS random number generator fails.
pub fn generate_access_key() -> String {
    random_string(UPPER_DIGITS, 20)
}

/// New secret key (40 chars, `A-Za-z0-9`, ~238 bits), in the format Huawei issues.
///
/// # Panics
/// If the OS random number generator fails.
pub fn generate_secret_key() -> String {
    random_string(ALNUM, 40)
}

/// Encrypts stored secret keys with a server key so that a leaked database
/// alone does not reveal them (XChaCha20-Poly1305, random 192-bit nonces).
#[derive(Clone)]
pub struct SecretBox {
    key: [u8; 32],
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("key", &"<redacted>")
            .finish()
    }
}

impl SecretBox {
    /// Fresh random server key; the raw key is returned so it can be persisted.
    pub fn generate() -> Result<(Self, [u8; 32]), AuthError> {
        let mut key = [0u8; 32];
        random_bytes(&mut key)?;
        Ok((Self { key }, key))
    }

    /// Loads a key persisted with [`SecretBox::key_hex`]; surrounding whitespace is ignored.
    pub fn from_key_hex(key_hex: &str) -> Result<Self, AuthError> {
        let bytes = hex::decode(key_hex.trim()).map_err(|_| AuthError::InvalidKey)?;
        let key: [u8; 32] = bytes.try_into().map_err(|_| AuthError::InvalidKey)?;
        Ok(Self { key })
    }

    /// Hex form of the key, for persisting it. Treat the result as a secret.
    pub fn key_hex(&self) -> String {
        hex::encode(self.key)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(Key::from_slice(&self.key))
    }

    /// Encrypts `plaintext`; `associated_data` (e.g. the access key) binds the
    /// ciphertext to its owner so it cannot be swapped onto another record.
    /// Returns hex of `nonce || ciphertext || tag`.
    ///
    /// # Panics
    /// If the OS random number generator fails (a fixed nonce would be unsafe).
    pub fn seal(&self, plaintext: &str, associated_data: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        random_bytes(&mut nonce).expect("OS random number generator failed");
        let ciphertext = self
            .cipher()
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: associated_data.as_bytes(),
                },
            )
            // Only fails for messages beyond ~256 GiB.
            .expect("XChaCha20-Poly1305 encryption failed");
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        hex::encode(out)
    }

    /// Decrypts a value produced by [`SecretBox::seal`] with the same associated data.
    pub fn open(&self, sealed: &str, associated_data: &str) -> Result<String, AuthError> {
        let bytes = hex::decode(sealed).map_err(|_| AuthError::Unseal)?;
        if bytes.len() < NONCE_LEN + TAG_LEN {
            return Err(AuthError::Unseal);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let plaintext = self
            .cipher()
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: associated_data.as_bytes(),
                },
            )
            .map_err(|_| AuthError::Unseal)?;
        String::from_utf8(plaintext).map_err(|_| AuthError::Unseal)
    }
}

/// Loads the server key from `path`, creating it (hex, mode 0600) on first
/// start so that deployments need no manual key provisioning.
///
/// An existing but unreadable or malformed file is an error, never silently
/// replaced: a new key would make every stored secret undecryptable. The
/// parent directory must exist.
pub fn load_or_create_key_file(path: &Path) -> Result<SecretBox, AuthError> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(mut file) => {
            let (secret_box, _) = SecretBox::generate()?;
            let written = file
                .write_all(format!("{}\n", secret_box.key_hex()).as_bytes())
                .and_then(|()| file.sync_all());
            if let Err(e) = written {
                // Do not leave a truncated key behind for the next start to choke on.
                let _ = std::fs::remove_file(path);
                return Err(e.into());
            }
            Ok(secret_box)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let mut text = String::new();
            std::fs::File::open(path)?.read_to_string(&mut text)?;
            SecretBox::from_key_hex(&text)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests;
