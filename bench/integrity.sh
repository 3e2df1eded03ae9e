#!/usr/bin/env bash
# promptreg integrity benchmark (issue 13): what signing every version and pointer move costs,
# measured in one run against the same build with signing off (`serve --bench-unsigned`; the
# ledger is the event log every change already appends, so it cannot be switched off).
#
# For SQLite (and PostgreSQL with PROMPTREG_BENCH_PG_URL) it measures publish at 1 and 8
# connections, signed and unsigned, and prints the ratios; then, on SQLite, start-up time and
# RSS of a server whose database holds 10,000 signed versions (100 prompts x 100 versions,
# each prompt live in two environments), resolve at 32 connections against the `hello`
# ceiling on that server, and the time `promptreg verify` takes over it.
#
# Environment (all optional):
#   BENCH_DURATION     measured seconds per run               (default 10)
#   BENCH_WARMUP       warm-up seconds per run                (default 2)
#   BENCH_PORT         first port used (four are used)        (default 8790)
#   BENCH_SKIP_BUILD=1 use the release binaries already built
#   INTEGRITY_VERSIONS versions for the start-up measurement  (default 10000)
#   PROMPTREG_BENCH_PG_URL  also measure publish on this PostgreSQL database
#   CARGO_TARGET_DIR   where cargo puts binaries              (default <repo>/target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
PORT=${BENCH_PORT:-8790}
VERSIONS=${INTEGRITY_VERSIONS:-10000}
TOKEN=bench-admin-token
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
RUN_ID=$(date +%s)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'integrity: error: %s\n' "$*" >&2; exit 1; }
num() { sed -nE "s/.*\"$2\":(-?[0-9][0-9.eE+-]*).*/\1/p" <<<"$1"; }
calc() { awk "BEGIN { printf \"%.${2:-0}f\", ($1) }"; }
now_ms() { date +%s%3N; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promptreg-integrity.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do kill "$pid" 2>/dev/null || true; done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release -p promptreg-bench -p promptreg-cli
fi
for b in loadgen hello promptreg; do
    [[ -x $BIN/$b ]] || die "$BIN/$b not found"
done

# serve NAME PORT ARGS... : starts a server, waits for /readyz, sets SERVER_PID and READY_MS.
serve() {
    local name=$1 port=$2 start i
    shift 2
    start=$(now_ms)
    PROMPTREG_ADMIN_TOKEN=$TOKEN "$BIN/promptreg" serve --listen "127.0.0.1:$port" "$@" \
        >"$TMP/$name.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    for ((i = 0; i < 1200; i++)); do
        if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/readyz" 2>/dev/null; then
            READY_MS=$(($(now_ms) - start))
            return 0
        fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$TMP/$name.log" >&2; die "$name exited"; }
        sleep 0.05
    done
    die "$name not ready after 60 s"
}

stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

api() {
    local base=$1 method=$2 path=$3 body=$4 code
    code=$(curl -sS -o "$TMP/api.out" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        ${body:+--data-binary "$body"} "$base$path") || die "curl $method $path failed"
    [[ $code == 2* ]] || die "$method $path -> HTTP $code: $(head -c 500 "$TMP/api.out")"
}

# load ARGS... : one loadgen run, its JSON line on stdout.
load() {
    "$BIN/loadgen" --duration "$DURATION" --warmup "$WARMUP" --json "$@" || die "loadgen failed"
}

# publish BASE PREFIX CONNECTIONS : loadgen JSON of a publish run (unique content per request).
publish() {
    local base=$1 prefix=$2 c=$3
    load --url "$base/v1/prompts/bench%2F$prefix-{c}/versions" --method POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --expect-status 201 --connections "$c" \
        --body-template "{\"type\":\"text\",\"template\":\"integrity $RUN_ID $prefix {c} {n}\"}"
}

ROWS=()
# compare BACKEND ARGS... : signed vs unsigned publish on one backend.
compare() {
    local backend=$1 mode p port=$PORT
    shift
    for mode in signed unsigned; do
        local extra=()
        [[ $mode == unsigned ]] && extra=(--bench-unsigned)
        mkdir -p "$TMP/$backend-$mode"
        serve "$backend-$mode" "$port" --data-dir "$TMP/$backend-$mode" "$@" "${extra[@]}"
        for c in 1 8; do
            log "$backend $mode publish, $c connection(s)"
            p=$(publish "http://127.0.0.1:$port" "$backend-$mode-$RUN_ID-c$c" "$c")
            printf -v "R_${backend}_${mode}_c$c" '%s' "$p"
        done
        stop "$SERVER_PID"
        port=$((port + 1))
    done
    for c in 1 8; do
        local s u
        s="R_${backend}_signed_c$c"
        u="R_${backend}_unsigned_c$c"
        ROWS+=("| $backend, $c writer(s) | $(calc "$(num "${!s}" ok_rps)") /s, p99 $(num "${!s}" p99) µs | $(calc "$(num "${!u}" ok_rps)") /s, p99 $(num "${!u}" p99) µs | $(calc "$(num "${!s}" ok_rps) / $(num "${!u}" ok_rps) * 100") % |")
    done
}

compare sqlite
if [[ -n ${PROMPTREG_BENCH_PG_URL:-} ]]; then
    compare postgres --database-url "$PROMPTREG_BENCH_PG_URL"
fi

# --- 10,000 signed versions: start-up, memory, resolve, verify ---------------------------
P=$((PORT + 2))
BASE=http://127.0.0.1:$P
PROMPTS=100
PER=$((VERSIONS / PROMPTS))
mkdir -p "$TMP/big"
serve big "$P" --data-dir "$TMP/big"
log "publishing $VERSIONS versions ($PROMPTS prompts, about $PER each)"
"$BIN/loadgen" --duration 3600 --warmup 0 --json --connections "$PROMPTS" --requests "$VERSIONS" \
    --url "$BASE/v1/prompts/big%2Fp{c}/versions" --method POST \
    -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' --expect-status 201 \
    --body-template "{\"type\":\"text\",\"template\":\"Hello {{ name }}, version {n} of prompt {c}.\"}" \
    >"$TMP/fill.json" || die "fill failed"
for ((i = 0; i < PROMPTS; i++)); do
    api "$BASE" PUT "/v1/environments/production/prompts/big%2Fp$i" '{"version":2}'
    api "$BASE" PUT "/v1/environments/staging/prompts/big%2Fp$i" '{"version":1}'
done
stop "$SERVER_PID"
serve big-restart "$P" --data-dir "$TMP/big"
START_MS=$READY_MS
RSS_KB=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status")
log "start-up with $VERSIONS versions: $START_MS ms, RSS $RSS_KB kB"

HP=$((PORT + 3))
"$BIN/hello" --listen "127.0.0.1:$HP" >"$TMP/hello.log" 2>&1 &
PIDS+=("$!")
sleep 0.3
log "resolve at 32 connections vs hello"
HELLO=$(load --url "http://127.0.0.1:$HP/" --connections 32 --expect-status 200)
RESOLVE=$(load --url "$BASE/v1/resolve/big%2Fp{c}?env=production" --connections 32 \
    -H "Authorization: Bearer $TOKEN" --expect-status 200)

log "promptreg verify over $VERSIONS versions"
VSTART=$(now_ms)
if "$BIN/promptreg" verify --url "$BASE" --token "$TOKEN" --output json >"$TMP/verify.json" 2>"$TMP/verify.err"; then
    VERIFY="$(($(now_ms) - VSTART)) ms (ok)"
else
    VERIFY="failed: $(head -c 300 "$TMP/verify.err") $(head -c 300 "$TMP/verify.json")"
fi

cat <<REPORT

## Integrity benchmark ($(date -u +%Y-%m-%d), ${DURATION}s runs)

| publish | signed | unsigned (\`--bench-unsigned\`) | signed / unsigned |
| --- | --- | --- | --- |
$(printf '%s\n' "${ROWS[@]}")

| $VERSIONS signed versions ($PROMPTS prompts, 2 environments) | figure |
| --- | --- |
| start-up to \`/readyz\` 200 (audit of every live pointer included) | $START_MS ms |
| RSS once ready | $(calc "$RSS_KB / 1024" 1) MiB |
| resolve @32 | $(calc "$(num "$RESOLVE" ok_rps)") req/s = $(calc "$(num "$RESOLVE" ok_rps) / $(num "$HELLO" ok_rps) * 100") % of hello ($(calc "$(num "$HELLO" ok_rps)") req/s) |
| \`promptreg verify\` (every digest, signature, leaf and proof) | $VERIFY |
REPORT
