//! The architecture invariants of `ARCHITECTURE.md`, checked on the workspace's manifests
//! (`cargo metadata`) and sources, so a dependency that points the wrong way, a wire or I/O crate
//! in the domain core, or a new `unsafe` block fails here instead of in review.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Which workspace crates each crate may depend on (normal dependencies). Inward only: the
/// domain core at the centre, fronts (Huawei wire, console, CLI) at the edge, the data plane
/// beside the control plane and never reading its store.
const ALLOWED: &[(&str, &[&str])] = &[
    ("vpcep-core", &[]),
    ("vpcep-auth", &[]),
    ("vpcep-dns", &[]),
    ("vpcep-huawei", &["vpcep-core"]),
    ("vpcep-store", &["vpcep-core"]),
    (
        "vpcep-control",
        &["vpcep-core", "vpcep-auth", "vpcep-store"],
    ),
    (
        "vpcep-api",
        &[
            "vpcep-core",
            "vpcep-huawei",
            "vpcep-auth",
            "vpcep-store",
            "vpcep-control",
        ],
    ),
    ("vpcep-console", &["vpcep-core", "vpcep-control"]),
    (
        "vpcep-client",
        &["vpcep-core", "vpcep-huawei", "vpcep-auth"],
    ),
    (
        "vpcep-dataplane",
        &["vpcep-core", "vpcep-dns", "vpcep-client"],
    ),
    (
        "vpcep",
        &[
            "vpcep-core",
            "vpcep-huawei",
            "vpcep-auth",
            "vpcep-store",
            "vpcep-control",
            "vpcep-api",
            "vpcep-client",
            "vpcep-dataplane",
            "vpcep-dns",
            "vpcep-console",
        ],
    ),
];

/// Dev-only crates: test and benchmark set-ups that may use any crate (they build whole labs),
/// and that product crates may use only as dev-dependencies, so no shipped binary contains them.
const DEV_ONLY: &[&str] = &["vpcep-test-support", "vpcep-bench"];

/// Edges that break the rule above today and are to go (see ARCHITECTURE.md, "Known debt").
/// A ratchet: the test fails when one is no longer there, so the list only shrinks.
const DEBT: &[(&str, &str)] = &[];

/// Crates the domain core must never use: wire formats, HTTP, SQL, async runtimes, kernel
/// interfaces, templates.
const CORE_FORBIDDEN: &[&str] = &[
    "utoipa",
    "axum",
    "tower",
    "hyper",
    "reqwest",
    "sqlx",
    "tokio",
    "rtnetlink",
    "netlink-sys",
    "netlink-packet-core",
    "netlink-packet-netfilter",
    "nix",
    "libc",
    "hickory-server",
    "hickory-proto",
    "maud",
];

/// The only places `unsafe` is allowed (file, what for). Each block carries a `// SAFETY:` line.
const UNSAFE_SITES: &[(&str, usize)] = &[
    // std::env::set_var before any thread exists (config file values as VPCEP_* variables).
    ("crates/vpcep/src/config.rs", 1),
    // The gratuitous ARP: sendto on an AF_PACKET socket (zeroed sockaddr_ll, then the call).
    ("crates/vpcep-dataplane/src/kernel/netlink/mod.rs", 2),
    // malloc_trim(0) after a large feed message: freed heap pages returned; mallopt's fixed
    // mmap threshold, so large buffers never stay in the heap, and one arena (agent RSS, P4).
    ("crates/vpcep-dataplane/src/agent/mod.rs", 3),
];

struct Package {
    name: String,
    /// (dependency, kind: "normal" | "dev" | "build")
    deps: Vec<(String, String)>,
}

fn workspace() -> (PathBuf, Vec<Package>) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let root = PathBuf::from(meta["workspace_root"].as_str().expect("workspace_root"));
    let packages = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| Package {
            name: p["name"].as_str().expect("name").to_string(),
            deps: p["dependencies"]
                .as_array()
                .expect("dependencies")
                .iter()
                .map(|d| {
                    (
                        d["name"].as_str().expect("dep name").to_string(),
                        d["kind"].as_str().unwrap_or("normal").to_string(),
                    )
                })
                .collect(),
        })
        .collect();
    (root, packages)
}

#[test]
fn dependencies_point_inward() {
    let (_, packages) = workspace();
    let members: BTreeSet<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut debt_seen = BTreeSet::new();
    for p in &packages {
        if DEV_ONLY.contains(&p.name.as_str()) {
            continue;
        }
        let Some(ok) = allowed.get(p.name.as_str()) else {
            wrong.push(format!(
                "{} is not in ARCHITECTURE.md's map (ALLOWED)",
                p.name
            ));
            continue;
        };
        for (dep, kind) in &p.deps {
            if !members.contains(dep.as_str()) {
                continue;
            }
            if DEV_ONLY.contains(&dep.as_str()) {
                if kind != "dev" {
                    wrong.push(format!(
                        "{} depends on {dep} outside [dev-dependencies]",
                        p.name
                    ));
                }
                continue;
            }
            if kind != "normal" || ok.contains(&dep.as_str()) {
                continue;
            }
            if DEBT.contains(&(p.name.as_str(), dep.as_str())) {
                debt_seen.insert((p.name.clone(), dep.clone()));
                continue;
            }
            wrong.push(format!("{} → {dep}", p.name));
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies that point the wrong way: {wrong:#?}"
    );
    for (from, to) in DEBT {
        assert!(
            debt_seen.contains(&(from.to_string(), to.to_string())),
            "{from} → {to} is gone: remove it from DEBT and from ARCHITECTURE.md's known debt"
        );
    }
}

#[test]
fn the_core_knows_no_wire_format_and_does_no_io() {
    let (root, packages) = workspace();
    let core = packages
        .iter()
        .find(|p| p.name == "vpcep-core")
        .expect("vpcep-core");
    let bad: Vec<&str> = core
        .deps
        .iter()
        .filter(|(d, kind)| kind == "normal" && CORE_FORBIDDEN.contains(&d.as_str()))
        .map(|(d, _)| d.as_str())
        .collect();
    assert!(bad.is_empty(), "vpcep-core depends on {bad:?}");
    // No wire module either (the Huawei shapes live in vpcep-huawei).
    let src = root.join("crates/vpcep-core/src");
    for wire in ["wire.rs", "vpc_wire.rs", "wire"] {
        assert!(!src.join(wire).exists(), "vpcep-core has {wire}");
    }
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_sources(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn unsafe_only_where_listed_and_explained() {
    let (root, _) = workspace();
    // Product sources: every crate's src/ (tests and benches hold no unsafe either, but this
    // file names the word in its checks).
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates"))
        .expect("crates")
        .flatten()
    {
        rust_sources(&krate.path().join("src"), &mut files);
    }
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    let mut unexplained = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("source");
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if !(code.contains("unsafe {")
                || code.contains("unsafe fn ")
                || code.contains("unsafe impl"))
            {
                continue;
            }
            let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
            *found.entry(rel.clone()).or_default() += 1;
            let explained = lines[i.saturating_sub(4)..i]
                .iter()
                .any(|l| l.trim_start().starts_with("// SAFETY:"));
            if !explained {
                unexplained.push(format!("{rel}:{}", i + 1));
            }
        }
    }
    let listed: BTreeMap<String, usize> = UNSAFE_SITES
        .iter()
        .map(|(f, n)| (f.to_string(), *n))
        .collect();
    assert_eq!(
        found, listed,
        "unsafe blocks differ from ARCHITECTURE.md's list"
    );
    assert!(
        unexplained.is_empty(),
        "unsafe without a // SAFETY: line: {unexplained:?}"
    );
}
