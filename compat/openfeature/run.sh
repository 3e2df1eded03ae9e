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
source compat/lib.sh

VENV=$TARGET/compat-openfeature-venv
# --no-deps: every package, dependencies included, is pinned in the file.
compat_venv "$VENV" --no-deps -r compat/openfeature/requirements.txt
"$VENV/bin/pip" check --quiet
compat_server

status=0
PROMPTREG_URL=$URL PROMPTREG_TOKEN=$TOKEN "$VENV/bin/python" compat/openfeature/check_sdk.py || status=$?
compat_finish compat/openfeature/run.sh "$status"
