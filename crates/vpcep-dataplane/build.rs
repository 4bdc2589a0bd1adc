//! Builds the router fast path's BPF object (`bpf/router_skip.bpf.c`) with clang, the only way
//! to a BPF program on stable Rust here (`../shared/reference/stack.md`): Debian's `clang` and
//! `libbpf-dev` (for `bpf/bpf_helpers.h`), installed by `scripts/run.sh` and `scripts/test.sh`.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let src = "bpf/router_skip.bpf.c";
    println!("cargo:rerun-if-changed={src}");
    println!("cargo:rerun-if-env-changed=CLANG");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let obj = out.join("router_skip.o");
    let clang = std::env::var("CLANG").unwrap_or_else(|_| "clang".into());
    // The kernel's UAPI headers include <asm/types.h>, which Debian keeps under the host's
    // multiarch directory.
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_else(|_| "x86_64".into());
    let multiarch = format!("/usr/include/{arch}-linux-gnu");
    let status = Command::new(&clang)
        .args([
            "-O2", "-g", "-Wall", "-Werror", "-target", "bpf", "-I", &multiarch, "-c", src, "-o",
        ])
        .arg(&obj)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            panic!("{clang} failed to build {src} ({s}); it needs Debian's clang and libbpf-dev")
        }
        Err(e) => panic!(
            "cannot run {clang} ({e}): the data plane's BPF program is built with clang \
             (apt-get install clang libbpf-dev; scripts/run.sh and scripts/test.sh do)"
        ),
    }
}
