#!/usr/bin/env bash
# Tests the Python SDK (sdk/python) against a real promptreg server: creates a venv with the
# pinned test dependencies (requirements-test.txt), installs the package from this directory
# (`pip install ./sdk/python`, as a user would), type-checks it (mypy --strict), and runs pytest
# on SQLite, then on PostgreSQL when PROMPTREG_TEST_PG_URL is set (each server in a fresh schema).
#
# The server binary: PROMPTREG_BIN, or target/debug/promptreg built here (cargo build -p
# promptreg-cli). Needs python3 (3.11+) with venv, and psql for the PostgreSQL half.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
START=$(date +%s)

TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=$TARGET/pysdk-venv
REQ=sdk/python/requirements-test.txt
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "sdk/python/run-tests.sh: needs Python 3.11 or newer ($PY is $("$PY" --version 2>&1))" >&2
    exit 1
fi
if [[ ! -x $VENV/bin/python ]] || ! cmp -s "$REQ" "$VENV/requirements-test.txt"; then
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQ"
    cp "$REQ" "$VENV/requirements-test.txt"
fi
# Not editable: the tests import the installed package, py.typed and all.
"$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --force-reinstall ./sdk/python

if [[ -z ${PROMPTREG_BIN:-} ]]; then
    cargo build --quiet -p promptreg-cli
    export PROMPTREG_BIN=$TARGET/debug/promptreg
fi
echo "sdk/python: server binary $PROMPTREG_BIN"

echo "sdk/python: mypy --strict"
(cd sdk/python && "$VENV/bin/mypy" --strict src)

status=0
echo "sdk/python: pytest on SQLite"
(cd sdk/python && PROMPTREG_TEST_BACKEND=sqlite "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@") || status=$?

if [[ -n ${PROMPTREG_TEST_PG_URL:-} ]]; then
    echo "sdk/python: pytest on PostgreSQL ($PROMPTREG_TEST_PG_URL, a schema per server)"
    (cd sdk/python && PROMPTREG_TEST_BACKEND=postgres "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@") || status=$?
else
    echo "sdk/python: PostgreSQL SKIPPED: PROMPTREG_TEST_PG_URL is not set"
fi
echo "sdk/python/run-tests.sh: exit $status in $(($(date +%s) - START))s"
exit $status
