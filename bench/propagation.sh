#!/usr/bin/env bash
# promptreg propagation benchmark (issue 15): how long a rollback takes to reach every agent
# watching the change stream (`GET /v1/watch`), measured with the `propagation` binary from
# the rollback's HTTP answer to the last watcher receiving its `pointer_moved` frame.
#
#   (a) one release server on a fresh SQLite data dir, PROPAGATION_WATCHERS watchers on it;
#   (b) two release servers (replicas) on one fresh PostgreSQL database, half the watchers on
#       each, every rollback sent to the first: the second learns of it through the database's
#       change feed.
#
# Each setup times PROPAGATION_ROLLBACKS rollbacks (each followed by a deploy back, timed too)
# after two untimed pairs. A watcher that misses a move fails the run. Writes
# bench/results/propagation.json (every move of both setups) and prints a Markdown table.
#
# Environment (all optional):
#   PROPAGATION_WATCHERS   watchers in all, per setup                 (default 1000)
#   PROPAGATION_ROLLBACKS  timed rollbacks per setup                  (default 100)
#   PROPAGATION_THREADS    tokio threads of the watchers              (default 1)
#   PROMPTREG_BENCH_PG_URL PostgreSQL server for (b); the run creates and drops its own
#                          database there       (default postgres://postgres@127.0.0.1:5432/test)
#   PROPAGATION_SKIP_PG=1  run (a) only
#   BENCH_PORT, BENCH_PORT2  ports of the servers                     (default 8783, 8784)
#   BENCH_SKIP_BUILD=1     use the release binaries already built
#   BENCH_RESULTS          results file     (default bench/results/propagation.json)
#   CARGO_TARGET_DIR       where cargo puts binaries                  (default <repo>/target)
# Needs curl, and psql for (b).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
WATCHERS=${PROPAGATION_WATCHERS:-1000}
ROLLBACKS=${PROPAGATION_ROLLBACKS:-100}
THREADS=${PROPAGATION_THREADS:-1}
PG_BASE=${PROMPTREG_BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
PORT=${BENCH_PORT:-8783}
PORT2=${BENCH_PORT2:-8784}
TOKEN=bench-admin-token
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results/propagation.json}
RUN_ID=$(date +%s)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'propagation: error: %s\n' "$*" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promptreg-propagation.XXXXXX")
PIDS=()
PG_DB=
PG_ADMIN=
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
    local pid
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        wait "$pid" 2>/dev/null || true
    done
    if [[ -n $PG_DB ]]; then
        psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS \"$PG_DB\"" >/dev/null 2>&1 ||
            log "could not drop database $PG_DB"
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# serve NAME PORT ARGS... : starts a release server (output in $TMP/NAME.log), waits for
# /readyz 200 and sets STARTED_PID.
STARTED_PID=
serve() {
    local name=$1 port=$2 i
    shift 2
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
        die "something already listens on 127.0.0.1:$port (set BENCH_PORT/BENCH_PORT2)"
    fi
    PROMPTREG_ADMIN_TOKEN=$TOKEN "$BIN/promptreg" serve --listen "127.0.0.1:$port" "$@" \
        >"$TMP/$name.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
    for ((i = 0; i < 600; i++)); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/readyz" 2>/dev/null && return 0
        kill -0 "$STARTED_PID" 2>/dev/null || { cat "$TMP/$name.log" >&2; die "$name exited"; }
        sleep 0.1
    done
    cat "$TMP/$name.log" >&2
    die "$name not ready after 60 s"
}

# stop PID : stops one server this script started.
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# measure NAME LABEL ARGS... : runs the propagation binary; its row goes to $TMP/rows.md,
# its JSON to $TMP/NAME.json.
measure() {
    local name=$1 label=$2
    shift 2
    log "$label: $WATCHERS watchers, $ROLLBACKS rollbacks"
    "$BIN/propagation" --token "$TOKEN" --watchers "$WATCHERS" --rollbacks "$ROLLBACKS" \
        --threads "$THREADS" --label "$label" --json-out "$TMP/$name.json" "$@" \
        >>"$TMP/rows.md" || die "$label: the propagation run failed (see above)"
}

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release -p promptreg-bench -p promptreg-cli
fi
for b in propagation promptreg; do
    [[ -x $BIN/$b ]] || die "$BIN/$b not found"
done
command -v curl >/dev/null || die "curl is required"

# (a) SQLite, one server.
mkdir -p "$TMP/sqlite"
serve sqlite "$PORT" --data-dir "$TMP/sqlite"
SQLITE_PID=$STARTED_PID
measure sqlite "SQLite, 1 server" --url "http://127.0.0.1:$PORT" --server-pid "$SQLITE_PID"
stop "$SQLITE_PID"
RUNS=("$TMP/sqlite.json")

# (b) PostgreSQL, two replicas on a database of their own (the test suites' schemas and
# earlier runs are left alone).
if [[ ${PROPAGATION_SKIP_PG:-0} != 1 ]]; then
    command -v psql >/dev/null || die "psql is required for the PostgreSQL setup (or PROPAGATION_SKIP_PG=1)"
    PG_ADMIN=$PG_BASE
    psql -q "$PG_ADMIN" -c 'SELECT 1' >/dev/null ||
        die "cannot reach $PG_BASE (set PROMPTREG_BENCH_PG_URL, or PROPAGATION_SKIP_PG=1)"
    PG_DB=promptreg_propagation_$RUN_ID
    psql -q "$PG_ADMIN" -c "CREATE DATABASE \"$PG_DB\"" >/dev/null
    # Same server and options, another database: replace the path of the URL.
    base=${PG_BASE%%\?*}
    query=${PG_BASE#"$base"}
    [[ $base =~ ^[a-z]+://[^/]+/ ]] && base=${base%/*}
    DB_URL=$base/$PG_DB$query
    head -c 32 /dev/urandom | base64 >"$TMP/kek" # replicas share the KEK
    mkdir -p "$TMP/pg-a" "$TMP/pg-b"
    serve pg-a "$PORT" --database-url "$DB_URL" --data-dir "$TMP/pg-a" --kek-file "$TMP/kek" \
        --instance replica-a
    PG_A=$STARTED_PID
    serve pg-b "$PORT2" --database-url "$DB_URL" --data-dir "$TMP/pg-b" --kek-file "$TMP/kek" \
        --instance replica-b
    PG_B=$STARTED_PID
    measure postgres "PostgreSQL, 2 replicas" --url "http://127.0.0.1:$PORT" \
        --url "http://127.0.0.1:$PORT2" --api-url "http://127.0.0.1:$PORT" \
        --server-pid "$PG_A" --server-pid "$PG_B"
    stop "$PG_A"
    stop "$PG_B"
    RUNS+=("$TMP/postgres.json")
fi

json_str() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}
mkdir -p "$(dirname "$RESULTS")"
{
    printf '{"date":%s,"git_rev":%s,' "$(json_str "$(date -u +%Y-%m-%dT%H:%M:%SZ)")" \
        "$(json_str "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)")"
    printf '"machine":{"nproc":%s,"kernel":%s,"cpu_model":%s},' "$(nproc)" \
        "$(json_str "$(uname -r)")" \
        "$(json_str "$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)")"
    printf '"target_p99_ms":100,"ttl_cache_s":{"max":60,"mean":30},"runs":['
    sep=
    for f in "${RUNS[@]}"; do
        printf '%s' "$sep"
        cat "$f"
        sep=,
    done
    printf ']}\n'
} >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
log "wrote $RESULTS"

cat <<EOF

## Propagation: a rollback reaching $WATCHERS watchers — $(date -u +%Y-%m-%d)

Machine: $(nproc) CPUs; servers, watchers and database on the same machine. Times in ms from the
rollback's HTTP answer to the last watcher (and to the median one) receiving its frame, over
$ROLLBACKS rollbacks; "request → last" counts from sending the rollback instead.

| setup | watchers | rollbacks | last p50 | last p99 | last max | median watcher p50 | request → last p99 | deploy: last p99 |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(cat "$TMP/rows.md")

Target: p99 ≤ 100 ms. A 60 s TTL cache (Langfuse, MLflow clients): up to 60,000 ms, 30,000 ms on average.
EOF
