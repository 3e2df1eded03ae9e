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
source compat/lib.sh
MAX_TIME=${SCHEMATHESIS_MAX_TIME:-120}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-60}
SEED=${SCHEMATHESIS_SEED:-1}

VENV=$TARGET/schemathesis-venv
compat_venv "$VENV" -r compat/schemathesis/requirements.txt -c compat/schemathesis/constraints.txt

# PROMPTREG_BIN (compat/lib.sh): fuzz an already built binary (a release build, say).
# The fuzzer sends thousands of requests with bad credentials on purpose (`ignored_auth`);
# with the per-address limit on failed authentication, everything after the first twenty
# would be a (declared) 429 and nothing else would be exercised. The limit has its own test
# (tests/api/grants.rs).
compat_server --auth-failure-limit 0

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
compat_finish compat/schemathesis/run.sh "$status"
