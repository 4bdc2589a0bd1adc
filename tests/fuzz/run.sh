#!/usr/bin/env bash
# API fuzzing: schemathesis drives every operation of a real `vpcep serve`'s /openapi.json with
# SDK-HMAC-SHA256 signed requests, once on SQLite and once on PostgreSQL (tests/fuzz/fuzz.py).
#
#   tests/fuzz/run.sh [fuzz.py args...]      e.g. --max-examples 30, -- --include-path-regex vpcs
#
# Env: VPCEP_BIN          the server binary (default <repo>/target/debug/vpcep)
#      VPCEP_FUZZ_VENV    the virtualenv (default <repo>/target/fuzz-venv)
#      VPCEP_FUZZ_PG_URL  server URL of the PostgreSQL to use (default postgres://postgres@127.0.0.1:5432);
#                         the database vpcep_fuzz is dropped and created there
#      VPCEP_FUZZ_EXAMPLES / VPCEP_FUZZ_SEED / VPCEP_FUZZ_PHASES   see fuzz.py
# Exits non-zero when either run finds a failure (5xx, schema/content-type violation, error body
# not {"error_code","error_msg"}) or the server panicked.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${VPCEP_FUZZ_VENV:-$repo/target/fuzz-venv}"
export VPCEP_BIN="${VPCEP_BIN:-$repo/target/debug/vpcep}"
export PIP_DISABLE_PIP_VERSION_CHECK=1
export PYTHONDONTWRITEBYTECODE=1
pg="${VPCEP_FUZZ_PG_URL:-postgres://postgres@127.0.0.1:5432}"

if [ ! -x "$VPCEP_BIN" ]; then
    echo "run.sh: no vpcep binary at $VPCEP_BIN (run: cargo build -p vpcep)" >&2
    exit 2
fi

if [ ! -x "$venv/bin/python" ]; then
    "${PYTHON:-python3}" -m venv "$venv"
fi
# (re)install only when requirements.txt changed since the last successful install
stamp="$venv/.vpcep-fuzz-requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi

status=0
"$venv/bin/python" "$here/fuzz.py" --backend sqlite "$@" || status=1

if pg_isready -d "$pg/postgres" -q 2>/dev/null; then
    psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS vpcep_fuzz WITH (FORCE)"
    psql "$pg/postgres" -qc "CREATE DATABASE vpcep_fuzz"
    "$venv/bin/python" "$here/fuzz.py" --backend postgres --database-url "$pg/vpcep_fuzz" "$@" || status=1
else
    echo "fuzz[postgres]: SKIPPED — PostgreSQL not reachable at $pg" >&2
fi
exit $status
