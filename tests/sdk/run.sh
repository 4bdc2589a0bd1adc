#!/usr/bin/env bash
# End-to-end suite: drives a real `vpcep serve` with the official Huawei Cloud Python SDKs.
#
#   tests/sdk/run.sh [pytest args...]
#
# Env: VPCEP_BIN   the server binary (default <repo>/target/debug/vpcep; build it first with
#                  `cargo build -p vpcep`)
#      VPCEP_VENV  the virtualenv to use/create (default <repo>/target/sdk-venv)
#      PYTHON      interpreter used to create the venv (default python3)
# Exits non-zero when any test fails (pytest's exit code).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${VPCEP_VENV:-$repo/target/sdk-venv}"
export VPCEP_BIN="${VPCEP_BIN:-$repo/target/debug/vpcep}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1

if [ ! -x "$VPCEP_BIN" ]; then
    echo "run.sh: no vpcep binary at $VPCEP_BIN (run: cargo build -p vpcep)" >&2
    exit 2
fi

if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi

# (re)install only when requirements.txt changed since the last successful install
stamp="$venv/.vpcep-sdk-requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi

cd "$here"
exec "$venv/bin/python" -m pytest -q -p no:cacheprovider --rootdir "$here" "$@"
