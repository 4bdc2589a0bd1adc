#!/usr/bin/env bash
# The main job on a fresh machine: build vpcep, create a first account if there is none, and run
# the all-in-one server on embedded SQLite. Nothing else to install by hand (Rust is on the
# machine; SQLite is compiled in).
#   VPCEP_DATA_DIR (default ./vpcep-data)  VPCEP_LISTEN (default 127.0.0.1:8480)
set -euo pipefail
cd "$(dirname "$0")/.."
export VPCEP_DATA_DIR="${VPCEP_DATA_DIR:-$PWD/vpcep-data}"
export VPCEP_LISTEN="${VPCEP_LISTEN:-127.0.0.1:8480}"
cargo build --release -p vpcep --locked
bin=target/release/vpcep
mkdir -p "$VPCEP_DATA_DIR"
if [ ! -s "$VPCEP_DATA_DIR/first-account.json" ]; then
  "$bin" admin account create admin -o json > "$VPCEP_DATA_DIR/first-account.json.tmp"
  mv "$VPCEP_DATA_DIR/first-account.json.tmp" "$VPCEP_DATA_DIR/first-account.json"
  chmod 600 "$VPCEP_DATA_DIR/first-account.json"
  echo "First account created; its credentials (shown once) are in $VPCEP_DATA_DIR/first-account.json:"
  cat "$VPCEP_DATA_DIR/first-account.json"
fi
exec "$bin" serve
