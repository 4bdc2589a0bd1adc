//! URL-encoded form bodies with repeated keys (port-mapping and whitelist rows).

use axum::body::Bytes;

/// The fields of a submitted form, in order.
#[derive(Debug, Clone, Default)]
pub struct FormData {
    pairs: Vec<(String, String)>,
}

impl FormData {
    pub fn parse(body: &[u8]) -> Self {
        Self {
            pairs: form_urlencoded::parse(body).into_owned().collect(),
        }
    }

    pub fn from_bytes(b: &Bytes) -> Self {
        Self::parse(b)
    }

    /// The first value of `name`, trimmed; empty when absent.
    pub fn get(&self, name: &str) -> String {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    }

    /// The first value of `name` exactly as sent (secrets are not trimmed).
    pub fn raw(&self, name: &str) -> String {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub fn has(&self, name: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == name)
    }

    /// Every value of `name`, trimmed, in order.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// A checkbox: present and not "off"/"false".
    pub fn checked(&self, name: &str) -> bool {
        self.pairs
            .iter()
            .any(|(k, v)| k == name && v != "off" && v != "false" && v != "0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys() {
        let f = FormData::parse(b"a=1&p=TCP&p=UDP&name=+x%20y+&c=on");
        assert_eq!(f.get("a"), "1");
        assert_eq!(f.all("p"), vec!["TCP", "UDP"]);
        assert_eq!(f.get("name"), "x y");
        assert!(f.checked("c"));
        assert!(!f.checked("d"));
        assert_eq!(f.get("missing"), "");
    }
}
