#!/usr/bin/env bash
# Every SPEC figure (P1–P6) from one command, as root: builds the `vpcep-bench` harness and runs
# it. It sets up its own labs (namespaces under unique prefixes, never `vpcep-`), tears them
# down, writes target/bench/result.json and, in the full mode, docs/benchmarks.md and
# docs/benchmarks.svg from the same run, and prints the table (docs/benchmarks.md says how).
#
#   scripts/bench.sh              # full: release build, ~15 minutes on 2 cores
#   scripts/bench.sh --quick      # seconds-scale sizes, debug build, target/bench/ only
#   scripts/bench.sh --only P2,P3 # some areas (target/bench/ only)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "scripts/bench.sh needs root (network namespaces)" >&2
  exit 1
fi
need=()
for tool in iperf3 socat nft clang; do
  command -v "$tool" >/dev/null || need+=("$tool")
done
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
if [ ${#need[@]} -gt 0 ]; then
  pkgs=("${need[@]/nft/nftables}")
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

profile=release
for a in "$@"; do [ "$a" = --quick ] && profile=debug; done
if [ "$profile" = release ]; then
  cargo build --release --locked -p vpcep-bench --bin vpcep-bench
else
  cargo build --locked -p vpcep-bench --bin vpcep-bench
fi
VPCEP_BENCH_COMMAND="scripts/bench.sh${*:+ $*}" exec "target/$profile/vpcep-bench" "$@"
