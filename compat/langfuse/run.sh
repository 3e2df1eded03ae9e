#!/usr/bin/env bash
# Runs the unmodified Langfuse Python SDK (compat/langfuse/requirements.txt) against a fresh
# promptreg server: builds the debug binary, starts it on a free port over a temporary SQLite
# data dir (which starts with the development, staging and production environments), creates a key pair, runs
# test_sdk.py, and stops the server. Needs python3 (with venv), curl and PyPI access the first
# time (the venv is kept in target/compat-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
START=$(date +%s)

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$TARGET/compat-venv
if [[ ! -x $VENV/bin/python ]] || ! cmp -s compat/langfuse/requirements.txt "$VENV/requirements.txt"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r compat/langfuse/requirements.txt
    cp compat/langfuse/requirements.txt "$VENV/requirements.txt"
fi

cargo build --quiet -p promptreg-cli
BIN=$TARGET/debug/promptreg

TMP=$(mktemp -d)
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
TOKEN=compat-admin-$RANDOM$RANDOM
PROMPTREG_ADMIN_TOKEN=$TOKEN "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" \
    >"$TMP/server.log" 2>&1 &
PID=$!
cleanup() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT

for _ in $(seq 1 100); do
    curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
    kill -0 "$PID" 2>/dev/null || { cat "$TMP/server.log"; echo "server exited" >&2; exit 1; }
    sleep 0.1
done
curl -fsS "$URL/readyz" >/dev/null

api() {
    curl -fsS -X "$1" "$URL$2" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -d "$3"
}
# A new project starts with development, staging and production: nothing to create.
PAIR=$(api POST /v1/key-pairs '{"name":"langfuse-sdk","role":"deployer"}')
field() { "$VENV/bin/python" -c "import json,sys; print(json.load(sys.stdin)['$1'])" <<<"$PAIR"; }

status=0
LANGFUSE_PUBLIC_KEY=$(field public_key) LANGFUSE_SECRET_KEY=$(field secret_key) \
    LANGFUSE_BASE_URL=$URL LANGFUSE_HOST=$URL LANGFUSE_TRACING_ENABLED=false \
    "$VENV/bin/python" compat/langfuse/test_sdk.py || status=$?
if [[ $status != 0 ]]; then
    echo "--- server log" >&2
    tail -n 40 "$TMP/server.log" >&2
fi
echo "compat/langfuse/run.sh: exit $status in $(($(date +%s) - START))s"
exit $status
