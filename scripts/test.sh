#!/usr/bin/env bash
# The test command (README, .ci/run): lint, unit + integration tests on SQLite and PostgreSQL,
# then the official Huawei Python SDKs against a running `vpcep serve`, and schemathesis fuzzing it.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

# Debian packages the data-plane tests use (root tests create their own network namespaces).
step "system packages"
need=()
command -v nft >/dev/null || need+=(nftables)
command -v conntrack >/dev/null || need+=(conntrack)
command -v socat >/dev/null || need+=(socat)
command -v ip >/dev/null || need+=(iproute2)
command -v dig >/dev/null || need+=(dnsutils)
command -v named >/dev/null || need+=(bind9)
command -v nginx >/dev/null || need+=(nginx)
command -v iperf3 >/dev/null || need+=(iperf3)
# The build itself: the routers' fast path is a BPF program built with clang (build.rs).
command -v clang >/dev/null || need+=(clang)
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing ${need[*]} and not root: data-plane tests will be skipped" >&2
  fi
fi

# PostgreSQL: this machine kind runs one on 127.0.0.1:5432; start it if it is down.
step "PostgreSQL for the store conformance suite"
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null; then
    cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1{print $1" "$2}')
    [ -n "$cluster" ] && pg_ctlcluster $cluster start || true
  fi
  for _ in $(seq 1 50); do pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && break; sleep 0.2; done
fi
if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='vpcep_test'" | grep -q 1 \
    || psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE vpcep_test"
  export VPCEP_TEST_PG_URL="postgres://postgres@127.0.0.1:5432/vpcep_test"
  echo "using $VPCEP_TEST_PG_URL"
else
  echo "PostgreSQL not reachable: its conformance run will be skipped" >&2
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo nextest (unit + integration)"
cargo nextest run --workspace --locked --no-fail-fast

step "official Huawei SDKs against vpcep serve"
cargo build -p vpcep --locked
bash tests/sdk/run.sh

if [ "$(id -u)" = 0 ]; then
  step "the README's demo, once (vpcep demo --once: quick starts 2.2.2 and 2.1 end to end)"
  demo_dir=$(mktemp -d)
  VPCEP_DEMO_DIR="$demo_dir/demo" target/debug/vpcep demo --once --listen 127.0.0.1:18481
  rm -rf "$demo_dir"
fi

if [ "$(id -u)" = 0 ]; then
  step "the benchmark harness, quick mode (every figure produced and finite; target/bench/ only)"
  bash scripts/bench.sh --quick
fi

step "API fuzzing (schemathesis) on SQLite and PostgreSQL"
bash tests/fuzz/run.sh

step "web console in headless chromium"
bash e2e/console/run.sh
