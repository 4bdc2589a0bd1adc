#!/usr/bin/env bash
# The main job on a fresh machine: build vpcep and run the user guide's quick start for real
# (`vpcep demo`: two VPCs with the same CIDR, an ELB-backed service with approval, an endpoint,
# accept, an HTTP request through it), then leave the server running for you to explore.
# Needs root for the network namespaces; without root it runs `vpcep serve` (API only).
#   VPCEP_DEMO_DIR (default ./vpcep-demo, emptied at each run), VPCEP_DATA_DIR (default
#   ./vpcep-data, API-only mode), VPCEP_LISTEN (default 127.0.0.1:8480)
set -euo pipefail
cd "$(dirname "$0")/.."
export VPCEP_DATA_DIR="${VPCEP_DATA_DIR:-$PWD/vpcep-data}"
export VPCEP_DEMO_DIR="${VPCEP_DEMO_DIR:-$PWD/vpcep-demo}"
export VPCEP_LISTEN="${VPCEP_LISTEN:-127.0.0.1:8480}"
if [ "$(id -u)" = 0 ]; then
  need=()
  for t in nft:nftables conntrack:conntrack socat:socat curl:curl ip:iproute2 clang:clang; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
  done
  # The routers' fast path is a BPF program built with clang against libbpf's headers.
  [ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
cargo build --release -p vpcep --locked
bin=target/release/vpcep
if [ "$(id -u)" = 0 ]; then
  exec "$bin" demo
fi
echo "not root: running the API only (the data plane needs root); see README" >&2
mkdir -p "$VPCEP_DATA_DIR"
if [ ! -s "$VPCEP_DATA_DIR/first-account.json" ]; then
  "$bin" admin account create admin -o json > "$VPCEP_DATA_DIR/first-account.json.tmp"
  mv "$VPCEP_DATA_DIR/first-account.json.tmp" "$VPCEP_DATA_DIR/first-account.json"
  chmod 600 "$VPCEP_DATA_DIR/first-account.json"
  echo "First account created; its credentials (shown once) are in $VPCEP_DATA_DIR/first-account.json:"
  cat "$VPCEP_DATA_DIR/first-account.json"
fi
exec "$bin" serve --no-agent
