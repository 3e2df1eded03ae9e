#!/usr/bin/env bash
# Runs the unmodified OpenFeature Python SDK with its OFREP provider
# (compat/openfeature/requirements.txt, pinned) against a fresh promptreg server: builds the
# debug binary, starts it on a free port over a temporary SQLite data dir, runs
# check_sdk.py (which creates the prompts, a rollout and a reader token through the native
# API, then evaluates them through OpenFeature), and stops the server. Needs python3 (with
# venv), curl and PyPI access the first time (the venv is kept in
# target/compat-openfeature-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
START=$(date +%s)

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$TARGET/compat-openfeature-venv
REQS=compat/openfeature/requirements.txt
if [[ ! -x $VENV/bin/python ]] || ! cmp -s "$REQS" "$VENV/requirements.txt"; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    # --no-deps: every package, dependencies included, is pinned in the file.
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQS"
    "$VENV/bin/pip" check
    cp "$REQS" "$VENV/requirements.txt"
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

status=0
PROMPTREG_URL=$URL PROMPTREG_TOKEN=$TOKEN "$VENV/bin/python" compat/openfeature/check_sdk.py || status=$?
if [[ $status != 0 ]]; then
    echo "--- server log" >&2
    tail -n 40 "$TMP/server.log" >&2
fi
echo "compat/openfeature/run.sh: exit $status in $(($(date +%s) - START))s"
exit $status
