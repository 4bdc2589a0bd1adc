//! What the test suites and benches share instead of copying, dev-only (never a normal
//! dependency of a product crate):
//! - [`server`]: a control plane per test (either store, the real API router on a loopback port,
//!   accounts with signed clients, an agent stand-in) and the API tests' resource builders;
//! - [`lab`]: that control plane with a namespace prefix, the real agent and private DNS
//!   following it, and the lab resources the data-plane tests and benches build on;
//! - [`fake_kernel`]: a kernel that only records, for the agent's logic without root.

pub mod fake_kernel;
pub mod lab;
pub mod server;

#[cfg(test)]
mod tests {
    /// This crate holds test doubles and set-ups; a product crate linking it would ship them. Only
    /// `[dev-dependencies]` may name it.
    #[test]
    fn no_crate_depends_on_it_outside_its_dev_dependencies() {
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut offenders = vec![];
        for entry in std::fs::read_dir(&crates).expect("crates dir").flatten() {
            let Ok(manifest) = std::fs::read_to_string(entry.path().join("Cargo.toml")) else {
                continue;
            };
            let mut section = String::new();
            for line in manifest.lines().map(str::trim) {
                if line.starts_with('[') {
                    section = line.to_string();
                } else if line.starts_with("vpcep-test-support")
                    && section.ends_with("dependencies]")
                    && !section.ends_with("dev-dependencies]")
                {
                    offenders.push(format!("{} {section}", entry.path().display()));
                }
            }
        }
        assert!(
            offenders.is_empty(),
            "normal dependency on vpcep-test-support: {offenders:?}"
        );
    }
}
