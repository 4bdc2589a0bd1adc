//! Helpers shared by the typed methods: list paging and request bodies as the SDK sends them.

use serde::Serialize;

/// `limit` / `offset` / `sort_key` / `sort_dir` of the VPCEP list operations (reference §5).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    /// `create_at` or `update_at`.
    pub sort_key: Option<String>,
    /// `asc` or `desc`.
    pub sort_dir: Option<String>,
}

impl Page {
    pub fn limit(limit: u32) -> Self {
        Self {
            limit: Some(limit),
            ..Self::default()
        }
    }

    pub(crate) fn push(&self, q: &mut Vec<(&'static str, String)>) {
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(o) = self.offset {
            q.push(("offset", o.to_string()));
        }
        push_opt(q, "sort_key", self.sort_key.as_deref());
        push_opt(q, "sort_dir", self.sort_dir.as_deref());
    }
}

/// Add `key=value` when `value` is set and not empty (the SDK drops unset parameters).
pub(crate) fn push_opt(
    q: &mut Vec<(&'static str, String)>,
    key: &'static str,
    value: Option<&str>,
) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        q.push((key, v.to_string()));
    }
}

/// Serialize a body and drop `null` members at any depth: the wire request types declare every
/// field optional, and the SDK leaves unset fields out rather than sending `null`.
pub fn compact<T: Serialize>(body: &T) -> serde_json::Value {
    fn strip(v: serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => serde_json::Value::Object(
                m.into_iter()
                    .filter(|(_, v)| !v.is_null())
                    .map(|(k, v)| (k, strip(v)))
                    .collect(),
            ),
            serde_json::Value::Array(a) => {
                serde_json::Value::Array(a.into_iter().map(strip).collect())
            }
            other => other,
        }
    }
    strip(serde_json::to_value(body).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn compact_drops_nulls_at_any_depth() {
        let v = json!({"a": null, "b": 1, "c": [{"d": null, "e": "x"}], "f": {"g": null}});
        assert_eq!(compact(&v), json!({"b": 1, "c": [{"e": "x"}], "f": {}}));
    }

    #[test]
    fn page_params() {
        let mut q = Vec::new();
        Page {
            limit: Some(5),
            offset: Some(10),
            sort_key: None,
            sort_dir: Some("asc".into()),
        }
        .push(&mut q);
        assert_eq!(
            q,
            vec![
                ("limit", "5".to_string()),
                ("offset", "10".to_string()),
                ("sort_dir", "asc".to_string())
            ]
        );
    }
}

/// Filters of the flow-record queries (`GET …/flows`, docs/flows.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowFilter {
    /// Unix milliseconds or `YYYY-MM-DDTHH:MM:SSZ`, inclusive.
    pub from: Option<String>,
    /// Same forms, exclusive.
    pub to: Option<String>,
    pub limit: Option<u32>,
    /// The `next_marker` of the previous page (or the last record's `seq`, to follow).
    pub marker: Option<u64>,
    /// `ADDR:PORT` (or `ADDR`) in 198.19.128.0/20, as a backend saw it.
    pub translated: Option<String>,
}

impl FlowFilter {
    pub(crate) fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = Vec::new();
        push_opt(&mut q, "from", self.from.as_deref());
        push_opt(&mut q, "to", self.to.as_deref());
        if let Some(l) = self.limit {
            q.push(("limit", l.to_string()));
        }
        if let Some(m) = self.marker {
            q.push(("marker", m.to_string()));
        }
        push_opt(&mut q, "translated", self.translated.as_deref());
        q
    }
}
