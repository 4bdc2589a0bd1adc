#!/usr/bin/env bash
# Browser tests of the web console: starts `vpcep serve` on a free port with a temporary data dir
# and three accounts (alice, bob, ops), then walks the seed guide's quick-starts in headless
# Debian chromium (playwright-core). Screenshots go to target/console-shots/.
#
#   e2e/console/run.sh
#
# Env: VPCEP_BIN  the server binary (default <repo>/target/debug/vpcep; `cargo build -p vpcep`)
# Exits non-zero when any browser test fails. Always stops the server and removes the temp dir.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${VPCEP_BIN:-$repo/target/debug/vpcep}"
shots="$repo/target/console-shots"

if [ ! -x "$bin" ]; then
    echo "console e2e: no vpcep binary at $bin (run: cargo build -p vpcep)" >&2
    exit 2
fi

# Debian's chromium (no browser download) and a CJK font so screenshots show the Chinese pages.
if [ ! -x /usr/bin/chromium ]; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
if ! fc-list :lang=zh 2>/dev/null | grep -q .; then
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-wqy-microhei
fi

cd "$here"
if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund
fi

tmp="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

data="$tmp/data"
mkdir -p "$data"
export VPCEP_DATA_DIR="$data"
for name in alice bob ops; do
    "$bin" admin account create "$name" -o json > "$tmp/$name.json"
done

port="$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
# Statuses must follow the test agent only: keep a built-in data-plane agent (if any) off.
agent_flag=()
if "$bin" serve --help 2>/dev/null | grep -q -- '--no-agent'; then
    agent_flag=(--no-agent)
fi
"$bin" serve --listen "127.0.0.1:$port" "${agent_flag[@]}" > "$tmp/server.log" 2>&1 &
server_pid=$!

url="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    if node -e "fetch('$url/readyz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"; then
        break
    fi
    if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "console e2e: the server exited:" >&2
        cat "$tmp/server.log" >&2
        exit 1
    fi
    sleep 0.1
done

rm -rf "$shots"
mkdir -p "$shots"
status=0
CONSOLE_URL="$url" ACCOUNTS_DIR="$tmp" DATA_DIR="$data" VPCEP_BIN="$bin" SHOTS_DIR="$shots" \
    node "$here/quickstarts.mjs" || status=$?
if [ "$status" -ne 0 ]; then
    echo "---- server log (last 60 lines) ----" >&2
    grep -v "/agent/v1/" "$tmp/server.log" | tail -n 60 >&2 || true
fi
exit "$status"
