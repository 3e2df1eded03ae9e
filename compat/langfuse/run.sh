#!/usr/bin/env bash
# Runs the unmodified Langfuse Python SDK (compat/langfuse/requirements.txt) against a fresh
# promptreg server: builds the debug binary, starts it on a free port over a temporary SQLite
# data dir (which starts with the development, staging and production environments), creates a key pair, runs
# test_sdk.py, and stops the server. Needs python3 (with venv), curl and PyPI access the first
# time (the venv is kept in target/compat-venv).
set -euo pipefail
cd "$(dirname "$0")/../.."
source compat/lib.sh

VENV=$TARGET/compat-venv
compat_venv "$VENV" -r compat/langfuse/requirements.txt
compat_server

# A new project starts with development, staging and production: nothing to create.
PAIR=$(api POST /v1/key-pairs '{"name":"langfuse-sdk","role":"deployer"}')
field() { "$VENV/bin/python" -c "import json,sys; print(json.load(sys.stdin)['$1'])" <<<"$PAIR"; }

status=0
LANGFUSE_PUBLIC_KEY=$(field public_key) LANGFUSE_SECRET_KEY=$(field secret_key) \
    LANGFUSE_BASE_URL=$URL LANGFUSE_HOST=$URL LANGFUSE_TRACING_ENABLED=false \
    "$VENV/bin/python" compat/langfuse/test_sdk.py || status=$?
compat_finish compat/langfuse/run.sh "$status"
