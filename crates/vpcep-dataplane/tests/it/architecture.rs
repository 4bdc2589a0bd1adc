//! The crate's layering as a test (see `src/lib.rs`): `plan` is pure and knows neither the kernel
//! layer nor the agent; `kernel` does not know the agent. Checked on the sources, so a new import
//! that breaks the direction fails here instead of in review.

use std::path::{Path, PathBuf};

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("source dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Lines of every file under `src/{part}` holding one of `forbidden` (but `plan/tests.rs`).
fn offences(part: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(part);
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(!files.is_empty(), "no sources under {}", root.display());
    let mut found = Vec::new();
    for f in files {
        // Unit tests may reach out (scratch namespaces check what the planner emits).
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&f).expect("source");
        // Whole files, unit-test modules included: they hold to the same rule.
        for (i, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for word in forbidden {
                if line.contains(word) {
                    found.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn plan_is_pure_and_points_nowhere_else() {
    let found = offences(
        "plan",
        &[
            "crate::kernel",
            "crate::agent",
            "crate::doctor",
            "tokio",
            "std::fs",
            "std::process",
            "std::net::TcpStream",
            "std::net::UdpSocket",
            "netlink_sys",
            "rtnetlink",
        ],
    );
    assert!(
        found.is_empty(),
        "plan/ must stay pure:\n{}",
        found.join("\n")
    );
}

#[test]
fn kernel_layer_does_not_know_the_agent() {
    let found = offences("kernel", &["crate::agent", "crate::doctor"]);
    assert!(
        found.is_empty(),
        "kernel/ points back up:\n{}",
        found.join("\n")
    );
}
