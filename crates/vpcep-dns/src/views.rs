//! Per-VPC DNS views: the pure data model the resolver answers from.
//!
//! No I/O here, so every rule (validation, isolation between VPCs, incremental
//! changes) is unit-testable without sockets. The resolver holds a `Views`
//! behind an `ArcSwap` and replaces it as a whole on every change: readers never
//! lock, and a change is visible to the very next query.

use std::collections::HashMap;
use std::net::Ipv4Addr;

/// Longest name (without the trailing root dot), RFC 1035 §2.3.4 presentation limit.
pub const MAX_NAME_LEN: usize = 253;
/// Longest label, RFC 1035 §2.3.4.
pub const MAX_LABEL_LEN: usize = 63;

/// One A record of one VPC's view.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Record {
    /// VPC id whose view holds the record.
    pub vpc: String,
    /// Domain name; case-insensitive, with or without the trailing dot.
    pub name: String,
    /// Address the name resolves to.
    pub ip: Ipv4Addr,
}

/// Why a record was rejected by the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    #[error("empty VPC id")]
    EmptyVpc,
    #[error("empty domain name")]
    EmptyName,
    #[error("domain name {name:?} is {len} characters long, the limit is {MAX_NAME_LEN}")]
    NameTooLong { name: String, len: usize },
    #[error("label {label:?} of {name:?} is empty or longer than {MAX_LABEL_LEN} characters")]
    BadLabelLength { name: String, label: String },
    #[error("label {label:?} of {name:?} has a character outside [a-z0-9-]")]
    BadLabelChar { name: String, label: String },
    #[error("label {label:?} of {name:?} starts or ends with '-'")]
    BadLabelHyphen { name: String, label: String },
}

/// Validates `name` and returns its canonical key: lower-cased, fully
/// qualified (trailing dot), which is also how the resolver spells query names.
///
/// Only LDH names are allowed (`[a-z0-9-]` labels, RFC 1123 hostname rules):
/// these names come from endpoint configuration and end up in other tenants'
/// resolvers, so anything exotic (underscores, escapes, non-ASCII) is refused
/// instead of being silently encoded.
pub fn canonical_name(name: &str) -> Result<String, ViewError> {
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(ViewError::EmptyName);
    }
    if trimmed.len() > MAX_NAME_LEN {
        return Err(ViewError::NameTooLong {
            name: name.to_owned(),
            len: trimmed.len(),
        });
    }
    let lower = trimmed.to_ascii_lowercase();
    for label in lower.split('.') {
        if label.is_empty() || label.len() > MAX_LABEL_LEN {
            return Err(ViewError::BadLabelLength {
                name: name.to_owned(),
                label: label.to_owned(),
            });
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ViewError::BadLabelChar {
                name: name.to_owned(),
                label: label.to_owned(),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(ViewError::BadLabelHyphen {
                name: name.to_owned(),
                label: label.to_owned(),
            });
        }
    }
    let mut fqdn = lower;
    fqdn.push('.');
    Ok(fqdn)
}

fn check_vpc(vpc: &str) -> Result<(), ViewError> {
    if vpc.is_empty() {
        Err(ViewError::EmptyVpc)
    } else {
        Ok(())
    }
}

/// The names of one VPC: canonical FQDN → addresses (deduplicated, insertion order).
pub type View = HashMap<String, Vec<Ipv4Addr>>;

/// All VPC views. A VPC sees only its own map, so two VPCs may hold the same
/// name with different addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Views {
    vpcs: HashMap<String, View>,
}

impl Views {
    /// An empty set of views.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds views from a full snapshot. Fails on the first invalid record so a
    /// bad snapshot never half-replaces a good one.
    pub fn from_records(records: impl IntoIterator<Item = Record>) -> Result<Self, ViewError> {
        let mut views = Self::new();
        for record in records {
            views.upsert(record)?;
        }
        Ok(views)
    }

    /// Adds `record.ip` to `record.name` in `record.vpc`'s view. Idempotent.
    pub fn upsert(&mut self, record: Record) -> Result<(), ViewError> {
        check_vpc(&record.vpc)?;
        let name = canonical_name(&record.name)?;
        let ips = self
            .vpcs
            .entry(record.vpc)
            .or_default()
            .entry(name)
            .or_default();
        if !ips.contains(&record.ip) {
            ips.push(record.ip);
        }
        Ok(())
    }

    /// Removes `name` (all its addresses) from `vpc`'s view. Returns whether it existed.
    pub fn remove(&mut self, vpc: &str, name: &str) -> Result<bool, ViewError> {
        let name = canonical_name(name)?;
        let Some(view) = self.vpcs.get_mut(vpc) else {
            return Ok(false);
        };
        let existed = view.remove(&name).is_some();
        if view.is_empty() {
            // Keep the outer map proportional to VPCs that actually have names.
            self.vpcs.remove(vpc);
        }
        Ok(existed)
    }

    /// Removes one address of `name` in `vpc`; the name goes away with its last
    /// address. Returns whether the address was present.
    pub fn remove_ip(&mut self, vpc: &str, name: &str, ip: Ipv4Addr) -> Result<bool, ViewError> {
        let name = canonical_name(name)?;
        let Some(view) = self.vpcs.get_mut(vpc) else {
            return Ok(false);
        };
        let Some(ips) = view.get_mut(&name) else {
            return Ok(false);
        };
        let before = ips.len();
        ips.retain(|a| *a != ip);
        let removed = ips.len() != before;
        if ips.is_empty() {
            view.remove(&name);
        }
        if view.is_empty() {
            self.vpcs.remove(vpc);
        }
        Ok(removed)
    }

    /// Replaces the whole view of `vpc` with `records` (name, address) pairs;
    /// an empty iterator deletes the view. All-or-nothing: on an invalid name
    /// the previous view is kept.
    pub fn replace_vpc(
        &mut self,
        vpc: &str,
        records: impl IntoIterator<Item = (String, Ipv4Addr)>,
    ) -> Result<(), ViewError> {
        check_vpc(vpc)?;
        let mut view = View::new();
        for (name, ip) in records {
            let ips = view.entry(canonical_name(&name)?).or_default();
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        if view.is_empty() {
            self.vpcs.remove(vpc);
        } else {
            self.vpcs.insert(vpc.to_owned(), view);
        }
        Ok(())
    }

    /// The addresses of `name` as `vpc` sees it. `name` must already be
    /// canonical (lower-case FQDN), as query names are; no allocation here
    /// because this is the per-query path.
    pub fn lookup(&self, vpc: &str, fqdn: &str) -> Option<&[Ipv4Addr]> {
        self.vpcs.get(vpc)?.get(fqdn).map(Vec::as_slice)
    }

    /// The view of one VPC, if it has any name.
    pub fn view(&self, vpc: &str) -> Option<&View> {
        self.vpcs.get(vpc)
    }

    /// Number of VPCs with at least one name.
    pub fn vpc_count(&self) -> usize {
        self.vpcs.len()
    }

    /// Total number of names over all VPCs.
    pub fn name_count(&self) -> usize {
        self.vpcs.values().map(HashMap::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(vpc: &str, name: &str, ip: [u8; 4]) -> Record {
        Record {
            vpc: vpc.into(),
            name: name.into(),
            ip: Ipv4Addr::from(ip),
        }
    }

    #[test]
    fn canonical_lowercases_and_qualifies() {
        assert_eq!(canonical_name("Svc.Internal").unwrap(), "svc.internal.");
        assert_eq!(canonical_name("svc.internal.").unwrap(), "svc.internal.");
        assert_eq!(
            canonical_name("a-1.b2.internal").unwrap(),
            "a-1.b2.internal."
        );
    }

    #[test]
    fn invalid_names_are_rejected() {
        assert_eq!(canonical_name(""), Err(ViewError::EmptyName));
        assert_eq!(canonical_name("."), Err(ViewError::EmptyName));
        assert!(matches!(
            canonical_name("a..b"),
            Err(ViewError::BadLabelLength { .. })
        ));
        assert!(matches!(
            canonical_name(&format!("{}.internal", "a".repeat(64))),
            Err(ViewError::BadLabelLength { .. })
        ));
        assert!(canonical_name(&format!("{}.internal", "a".repeat(63))).is_ok());
        // 4 labels of 63 + 3 dots = 255 > 253.
        let long = vec!["a".repeat(63); 4].join(".");
        assert!(matches!(
            canonical_name(&long),
            Err(ViewError::NameTooLong { len: 255, .. })
        ));
        // Exactly 253 is fine: 3×63 + 61 + 3 dots.
        let max = format!("{}.{}", vec!["b".repeat(63); 3].join("."), "c".repeat(61));
        assert_eq!(max.len(), 253);
        assert!(canonical_name(&max).is_ok());
        for bad in [
            "a_b.internal",
            "a b.internal",
            "é.internal",
            "a*.internal",
            "a\\.b",
        ] {
            assert!(
                matches!(canonical_name(bad), Err(ViewError::BadLabelChar { .. })),
                "{bad}"
            );
        }
        assert!(matches!(
            canonical_name("-a.internal"),
            Err(ViewError::BadLabelHyphen { .. })
        ));
        assert!(matches!(
            canonical_name("a-.internal"),
            Err(ViewError::BadLabelHyphen { .. })
        ));
    }

    #[test]
    fn model_rejects_invalid_records() {
        let mut v = Views::new();
        assert_eq!(
            v.upsert(rec("", "a.internal", [10, 0, 0, 1])),
            Err(ViewError::EmptyVpc)
        );
        assert!(
            v.upsert(rec("vpc-a", "a_b.internal", [10, 0, 0, 1]))
                .is_err()
        );
        assert_eq!(v, Views::new());
        let err = Views::from_records([
            rec("vpc-a", "ok.internal", [10, 0, 0, 1]),
            rec("vpc-a", "bad!", [10, 0, 0, 2]),
        ]);
        assert!(matches!(err, Err(ViewError::BadLabelChar { .. })));
    }

    #[test]
    fn vpcs_are_isolated() {
        let v = Views::from_records([
            rec("vpc-a", "svc.internal", [10, 0, 0, 5]),
            rec("vpc-b", "SVC.internal.", [10, 0, 0, 9]),
            rec("vpc-a", "only-a.internal", [10, 0, 0, 6]),
        ])
        .unwrap();
        assert_eq!(
            v.lookup("vpc-a", "svc.internal."),
            Some(&[Ipv4Addr::new(10, 0, 0, 5)][..])
        );
        assert_eq!(
            v.lookup("vpc-b", "svc.internal."),
            Some(&[Ipv4Addr::new(10, 0, 0, 9)][..])
        );
        assert_eq!(v.lookup("vpc-b", "only-a.internal."), None);
        assert_eq!(v.lookup("vpc-c", "svc.internal."), None);
        assert_eq!(v.vpc_count(), 2);
        assert_eq!(v.name_count(), 3);
    }

    #[test]
    fn incremental_changes() {
        let mut v = Views::new();
        v.upsert(rec("vpc-a", "svc.internal", [10, 0, 0, 5]))
            .unwrap();
        v.upsert(rec("vpc-a", "svc.internal", [10, 0, 0, 6]))
            .unwrap();
        v.upsert(rec("vpc-a", "svc.internal", [10, 0, 0, 5]))
            .unwrap();
        assert_eq!(
            v.lookup("vpc-a", "svc.internal."),
            Some(&[Ipv4Addr::new(10, 0, 0, 5), Ipv4Addr::new(10, 0, 0, 6)][..])
        );
        assert_eq!(
            v.remove_ip("vpc-a", "svc.internal", Ipv4Addr::new(10, 0, 0, 5)),
            Ok(true)
        );
        assert_eq!(
            v.lookup("vpc-a", "svc.internal."),
            Some(&[Ipv4Addr::new(10, 0, 0, 6)][..])
        );
        assert_eq!(v.remove("vpc-a", "svc.internal"), Ok(true));
        assert_eq!(v.remove("vpc-a", "svc.internal"), Ok(false));
        assert_eq!(v.lookup("vpc-a", "svc.internal."), None);
        assert_eq!(v.vpc_count(), 0);

        v.upsert(rec("vpc-a", "old.internal", [10, 0, 0, 1]))
            .unwrap();
        v.upsert(rec("vpc-b", "keep.internal", [10, 0, 0, 2]))
            .unwrap();
        v.replace_vpc(
            "vpc-a",
            [("new.internal".to_owned(), Ipv4Addr::new(10, 0, 0, 3))],
        )
        .unwrap();
        assert_eq!(v.lookup("vpc-a", "old.internal."), None);
        assert_eq!(
            v.lookup("vpc-a", "new.internal."),
            Some(&[Ipv4Addr::new(10, 0, 0, 3)][..])
        );
        assert_eq!(
            v.lookup("vpc-b", "keep.internal."),
            Some(&[Ipv4Addr::new(10, 0, 0, 2)][..])
        );
        // An invalid replacement keeps the previous view.
        assert!(
            v.replace_vpc(
                "vpc-a",
                [("bad_name".to_owned(), Ipv4Addr::new(1, 1, 1, 1))]
            )
            .is_err()
        );
        assert_eq!(
            v.lookup("vpc-a", "new.internal."),
            Some(&[Ipv4Addr::new(10, 0, 0, 3)][..])
        );
        v.replace_vpc("vpc-a", []).unwrap();
        assert!(v.view("vpc-a").is_none());
    }
}
