#!/usr/bin/env bash
# Runs Schemathesis (pinned in compat/schemathesis/requirements.txt) against the OpenAPI
# document of a fresh promptreg server, so the document and the server cannot drift apart:
# every status a route answers must be declared with its body schema and content type, no
# input may cause a 5xx, invalid input must be refused and every route must check auth.
#
# Two passes: the native API (`/v1`, service routes) with the admin Bearer token, and the
# Langfuse-compatible routes (`/api/public`) with a key pair. Each pass is bounded by
# SCHEMATHESIS_MAX_TIME seconds (default 120) and SCHEMATHESIS_MAX_EXAMPLES cases per
# operation (default 60), with a fixed SCHEMATHESIS_SEED (default 1) so CI is reproducible.
# Builds the debug binary, starts it on a free port over a temporary SQLite data dir, seeds an
# environment and a prompt so that reads find something, stops the server at the end. Needs
# python3 (with venv), curl and PyPI access the first time (the venv is kept in
# target/schemathesis-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
START=$(date +%s)
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-120}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-60}
SEED=${SCHEMATHESIS_SEED:-1}

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$TARGET/schemathesis-venv
REQ=compat/schemathesis/requirements.txt
CON=compat/schemathesis/constraints.txt
if [[ ! -x $VENV/bin/schemathesis ]] || ! cat "$REQ" "$CON" | cmp -s - "$VENV/installed.txt"; then
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ" -c "$CON"
    cat "$REQ" "$CON" >"$VENV/installed.txt"
fi

# PROMPTREG_BIN: fuzz an already built binary (a release build, say) instead of building one.
if [[ -n ${PROMPTREG_BIN:-} ]]; then
    BIN=$PROMPTREG_BIN
else
    cargo build --quiet -p promptreg-cli
    BIN=$TARGET/debug/promptreg
fi

TMP=$(mktemp -d)
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
URL=http://127.0.0.1:$PORT
TOKEN=schemathesis-admin-$RANDOM$RANDOM
# The fuzzer sends thousands of requests with bad credentials on purpose (`ignored_auth`);
# with the per-address limit on failed authentication, everything after the first twenty
# would be a (declared) 429 and nothing else would be exercised. The limit has its own test
# (tests/api/grants.rs).
PROMPTREG_ADMIN_TOKEN=$TOKEN "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$TMP/data" \
    --auth-failure-limit 0 \
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
api POST /v1/prompts/greeting/versions '{"type":"text","template":"Hello {{ name }}"}' >/dev/null
api PUT /v1/environments/production/prompts/greeting '{"version":1}' >/dev/null
field() { "$VENV/bin/python" -c "import json,sys; print(json.load(sys.stdin)['$1'])" <<<"$PAIR"; }

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,ignored_auth
# From the temporary directory, so its example database (.schemathesis/) is not kept.
# One worker: with two, Hypothesis (which parses lambdas' source to describe strategies, not
# thread-safely) once failed a clean-clone CI run with "AST constructor recursion depth
# mismatch" on an unchanged route.
run() {
    (cd "$TMP" && "$VENV/bin/schemathesis" run "$URL/openapi.json" --checks "$CHECKS" \
        --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --seed "$SEED" \
        --request-timeout 10 --workers 1 --no-color "$@")
}
status=0
echo "--- native API (Bearer)"
# /v1/watch is a stream that never ends (Server-Sent Events): every call would time out. Its
# refusals are covered by tests/api/watch.rs and authz.rs.
run --exclude-path-regex '^/api/public|^/v1/watch$' -H "Authorization: Bearer $TOKEN" || status=$?
echo "--- Langfuse-compatible API (Basic)"
# Made only now: the native pass may revoke every token it can list (DELETE /v1/tokens/{id}).
PAIR=$(api POST /v1/key-pairs '{"name":"schemathesis","role":"admin"}')
BASIC=$(printf '%s:%s' "$(field public_key)" "$(field secret_key)" | base64 -w0)
run --include-path-regex '^/api/public' -H "Authorization: Basic $BASIC" || status=$?
if [[ $status != 0 ]]; then
    echo "--- server log" >&2
    tail -n 40 "$TMP/server.log" >&2
fi
echo "compat/schemathesis/run.sh: exit $status in $(($(date +%s) - START))s"
exit $status
