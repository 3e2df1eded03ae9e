#!/usr/bin/env bash
# promptreg benchmark: builds the release binaries, starts the `hello` ceiling server and
# a promptreg server on a fresh SQLite data dir, seeds one prompt, measures resolve and
# publish with `loadgen`, records idle RSS, writes bench/results/latest.json and prints a
# Markdown table against the targets.
#
# Environment (all optional):
#   BENCH_DURATION         measured seconds per run            (default 10)
#   BENCH_WARMUP           warm-up seconds per run             (default 2)
#   BENCH_LOADGEN_THREADS  loadgen tokio worker threads        (default 1)
#   BENCH_HELLO_PORT       port of the hello server            (default 8799)
#   BENCH_PORT             port of the promptreg server        (default 8780)
#   BENCH_PG_PORT          port of the Postgres-backed server  (default 8781)
#   BENCH_SKIP_BUILD=1     use the binaries already built
#   BENCH_STRICT=1         exit 1 when a target is missed
#   BENCH_RESULTS          results file        (default bench/results/latest.json)
#   PROMPTREG_BENCH_PG_URL also measure publish against a server using this Postgres URL
#   CARGO_TARGET_DIR       where cargo puts binaries           (default <repo>/target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
LOADGEN_THREADS=${BENCH_LOADGEN_THREADS:-1}
HELLO_PORT=${BENCH_HELLO_PORT:-8799}
PR_PORT=${BENCH_PORT:-8780}
PG_PORT=${BENCH_PG_PORT:-8781}
TOKEN=bench-admin-token
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
RESULTS=${BENCH_RESULTS:-$ROOT/bench/results/latest.json}
RUN_ID=$(date +%s)

# Targets.
T_RESOLVE_C32_RPS=40000
T_RESOLVE_VS_HELLO=0.60
T_RESOLVE_C1_P50_US=150
T_RESOLVE_C1_P99_US=1000
T_PUBLISH_SERIAL_VPS=1500
T_RSS_MIB=40

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# Process management
# ---------------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/promptreg-bench.XXXXXX")
PIDS=()
# shellcheck disable=SC2317  # invoked through the EXIT trap
cleanup() {
    local pid
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in ${PIDS[@]+"${PIDS[@]}"}; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start_server NAME CMD... : starts CMD in the background (output in $TMP/NAME.log) and
# sets STARTED_PID to its process id (the server itself, not a wrapper shell).
STARTED_PID=
start_server() {
    local name=$1
    shift
    "$@" >"$TMP/$name.log" 2>&1 &
    STARTED_PID=$!
    PIDS+=("$STARTED_PID")
}

# port_free PORT : fails when something already answers on PORT (we would measure it).
port_free() {
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then
        die "something is already listening on 127.0.0.1:$1 (set BENCH_*PORT to move)"
    fi
}

# wait_ready NAME PID URL : polls URL/readyz until it answers 2xx, the process dies, or
# 60 s pass.
wait_ready() {
    local name=$1 pid=$2 url=$3 i
    for ((i = 0; i < 600; i++)); do
        if curl -fsS -o /dev/null --max-time 1 "$url/readyz" 2>/dev/null; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$TMP/$name.log" >&2 || true
            die "$name exited before becoming ready"
        fi
        sleep 0.1
    done
    cat "$TMP/$name.log" >&2 || true
    die "$name not ready after 60 s"
}

# rss_kb PID : resident set size in kB.
rss_kb() {
    awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"
}

# ---------------------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------------------
# api BASE METHOD PATH BODY CODE... : one admin request; dies unless the status is a CODE.
api() {
    local base=$1 method=$2 path=$3 body=$4 code want
    shift 4
    code=$(curl -sS -o "$TMP/api.out" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        ${body:+--data-binary "$body"} "$base$path") || die "curl $method $path failed"
    for want in "$@"; do
        [[ $code == "$want" ]] && return 0
    done
    die "$method $path -> HTTP $code (wanted $*): $(head -c 2000 "$TMP/api.out")"
}

# json_num JSON KEY : the number after "KEY": in a one-line JSON object (last occurrence).
json_num() {
    local v
    v=$(sed -nE "s/.*\"$2\":(-?[0-9][0-9.eE+-]*).*/\1/p" <<<"$1")
    [[ -n $v ]] || die "no numeric \"$2\" in: $1"
    printf '%s' "$v"
}

# json_str STRING : STRING as a JSON string literal.
json_str() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    s=${s//$'\t'/ }
    s=${s//$'\n'/ }
    printf '"%s"' "$s"
}

# calc EXPR [DECIMALS] : floating-point arithmetic through awk.
calc() {
    awk "BEGIN { printf \"%.${2:-0}f\", ($1) }"
}

# check VALUE OP TARGET : prints PASS or FAIL.
check() {
    if awk "BEGIN { exit !(($1) $2 ($3)) }"; then
        printf 'PASS'
    else
        printf 'FAIL'
    fi
}

# loadgen NAME ARGS... : runs loadgen with the common options, stores its JSON line in
# RUN_<NAME> and in the runs list, and logs a one-line summary.
RUN_NAMES=()
loadgen() {
    local name=$1 out
    shift
    log "loadgen $name (${DURATION}s + ${WARMUP}s warm-up)"
    out=$("$BIN/loadgen" --duration "$DURATION" --warmup "$WARMUP" \
        --threads "$LOADGEN_THREADS" --json "$@") || die "loadgen $name failed"
    printf -v "RUN_$name" '%s' "$out"
    RUN_NAMES+=("$name")
    local errors
    errors=$(json_num "$out" errors)
    printf '    %-18s %8.0f req/s  p50 %5s µs  p99 %6s µs  errors %s\n' "$name" \
        "$(json_num "$out" ok_rps)" "$(json_num "$out" p50)" "$(json_num "$out" p99)" \
        "$errors" >&2
    if [[ $errors != 0 ]]; then
        printf '    WARNING: %s errors; statuses: %s\n' "$errors" \
            "$(sed -nE 's/.*"status":(\{[^}]*\}).*/\1/p' <<<"$out")" >&2
    fi
}

# run_field NAME KEY : a number from a stored run.
run_field() {
    local var="RUN_$1"
    json_num "${!var}" "$2"
}

# ---------------------------------------------------------------------------------------
# Build and start
# ---------------------------------------------------------------------------------------
if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release -p promptreg-bench -p promptreg-cli
fi
for b in loadgen hello promptreg; do
    [[ -x $BIN/$b ]] || die "$BIN/$b not found (build failed or BENCH_SKIP_BUILD set too early)"
done
command -v curl >/dev/null || die "curl is required"

HELLO_URL=http://127.0.0.1:$HELLO_PORT
PR_URL=http://127.0.0.1:$PR_PORT
port_free "$HELLO_PORT"
port_free "$PR_PORT"

log "starting hello on $HELLO_URL"
start_server hello "$BIN/hello" --listen "127.0.0.1:$HELLO_PORT"
HELLO_PID=$STARTED_PID

log "starting promptreg on $PR_URL (SQLite in $TMP/data)"
mkdir -p "$TMP/data"
start_server promptreg env PROMPTREG_ADMIN_TOKEN="$TOKEN" \
    "$BIN/promptreg" serve --listen "127.0.0.1:$PR_PORT" --data-dir "$TMP/data"
PR_PID=$STARTED_PID

wait_ready hello "$HELLO_PID" "$HELLO_URL"
wait_ready promptreg "$PR_PID" "$PR_URL"
RSS_PR_STARTUP=$(rss_kb "$PR_PID")
RSS_HELLO=$(rss_kb "$HELLO_PID")
log "idle RSS: promptreg ${RSS_PR_STARTUP} kB, hello ${RSS_HELLO} kB"

# ---------------------------------------------------------------------------------------
# Seed
# ---------------------------------------------------------------------------------------
log "seeding prompt bench/support v1 (a new project has the production environment)"
TEMPLATE="You are the customer-support assistant for ACME Corp. "
while ((${#TEMPLATE} < 1000)); do
    TEMPLATE+="Answer accurately, politely and briefly, and cite the help-centre article when one applies. "
done
TEMPLATE+="The customer's name is {{ name }}."
api "$PR_URL" POST /v1/prompts/bench%2Fsupport/versions \
    "$(printf '{"type":"text","template":"%s","variables":{"type":"object","properties":{"name":{"type":"string"}}}}' "$TEMPLATE")" \
    200 201
api "$PR_URL" PUT /v1/environments/production/prompts/bench%2Fsupport '{"version":1}' 200 201 204
RESOLVE_PATH='/v1/resolve/bench%2Fsupport?env=production&subject=agent-7'
api "$PR_URL" GET "$RESOLVE_PATH" '' 200
RSS_PR_SEEDED=$(rss_kb "$PR_PID")
log "idle RSS after seeding: promptreg ${RSS_PR_SEEDED} kB"

# ---------------------------------------------------------------------------------------
# Measure
# ---------------------------------------------------------------------------------------
AUTH="Authorization: Bearer $TOKEN"
JSON_CT='Content-Type: application/json'

loadgen hello_c1 --url "$HELLO_URL/" --connections 1 --expect-status 200
loadgen hello_c32 --url "$HELLO_URL/" --connections 32 --expect-status 200
loadgen resolve_c1 --url "$PR_URL$RESOLVE_PATH" --connections 1 -H "$AUTH" --expect-status 200
loadgen resolve_c32 --url "$PR_URL$RESOLVE_PATH" --connections 32 -H "$AUTH" --expect-status 200

# Resolve while a canary of the same prompt serves v2 to half of the subjects: every request
# computes its subject's bucket (murmur3 of "<rollout>:<subject>") and answers with its arm.
log "starting a canary of bench/support (v2 to 50 % of subjects)"
api "$PR_URL" POST /v1/prompts/bench%2Fsupport/versions \
    "$(printf '{"type":"text","template":"%s Keep it short.","variables":{"type":"object","properties":{"name":{"type":"string"}}}}' "$TEMPLATE")" \
    201
api "$PR_URL" POST /v1/environments/production/prompts/bench%2Fsupport/rollouts \
    '{"candidate":2,"strategy":{"canary":{"steps":[{"set_weight":5000},{"pause":{}}]}}}' 201
sleep 1 # the controller's first pass sets the weight
ROLLOUT_PATH='/v1/resolve/bench%2Fsupport?env=production&subject=agent-{c}'
loadgen resolve_rollout_c32 --url "$PR_URL$ROLLOUT_PATH" --connections 32 -H "$AUTH" --expect-status 200

# publish_runs BASE PREFIX TAG : serial, 8 writers on one prompt, 8 writers on 8 prompts.
# Bodies embed the run id and phase so no two requests ever carry the same content.
publish_runs() {
    local base=$1 prefix=$2 tag=$3
    loadgen "${tag}_serial" --url "$base/v1/prompts/bench%2F$prefix/versions" \
        --method POST -H "$AUTH" -H "$JSON_CT" --expect-status 201 --connections 1 \
        --body-template "{\"type\":\"text\",\"template\":\"publish body $RUN_ID serial {n}\"}"
    loadgen "${tag}_c8" --url "$base/v1/prompts/bench%2F$prefix/versions" \
        --method POST -H "$AUTH" -H "$JSON_CT" --expect-status 201 --connections 8 \
        --body-template "{\"type\":\"text\",\"template\":\"publish body $RUN_ID c8 {n}\"}"
    loadgen "${tag}_c8_spread" --url "$base/v1/prompts/bench%2F$prefix-{c}/versions" \
        --method POST -H "$AUTH" -H "$JSON_CT" --expect-status 201 --connections 8 \
        --body-template "{\"type\":\"text\",\"template\":\"publish body $RUN_ID spread {c} {n}\"}"
}
publish_runs "$PR_URL" publish publish
RSS_PR_AFTER_LOAD=$(rss_kb "$PR_PID")

if [[ -n ${PROMPTREG_BENCH_PG_URL:-} ]]; then
    PG_URL=http://127.0.0.1:$PG_PORT
    port_free "$PG_PORT"
    log "starting promptreg on $PG_URL (Postgres)"
    start_server promptreg-pg env PROMPTREG_ADMIN_TOKEN="$TOKEN" \
        "$BIN/promptreg" serve --listen "127.0.0.1:$PG_PORT" \
        --database-url "$PROMPTREG_BENCH_PG_URL"
    wait_ready promptreg-pg "$STARTED_PID" "$PG_URL"
    # The database may outlive this run: use prompt names unique to it.
    publish_runs "$PG_URL" "publish-$RUN_ID" publish_pg
fi

# ---------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------
HELLO_C1_RPS=$(run_field hello_c1 ok_rps)
HELLO_C32_RPS=$(run_field hello_c32 ok_rps)
RESOLVE_C1_RPS=$(run_field resolve_c1 ok_rps)
RESOLVE_C1_P50=$(run_field resolve_c1 p50)
RESOLVE_C1_P99=$(run_field resolve_c1 p99)
RESOLVE_C32_RPS=$(run_field resolve_c32 ok_rps)
RESOLVE_VS_HELLO=$(calc "$HELLO_C32_RPS > 0 ? $RESOLVE_C32_RPS / $HELLO_C32_RPS : 0" 3)
RESOLVE_ROLLOUT_C32_RPS=$(run_field resolve_rollout_c32 ok_rps)
RESOLVE_ROLLOUT_VS_HELLO=$(calc "$HELLO_C32_RPS > 0 ? $RESOLVE_ROLLOUT_C32_RPS / $HELLO_C32_RPS : 0" 3)
PUBLISH_SERIAL_VPS=$(run_field publish_serial ok_rps)
PUBLISH_C8_VPS=$(run_field publish_c8 ok_rps)
PUBLISH_C8_SPREAD_VPS=$(run_field publish_c8_spread ok_rps)
RSS_PR_STARTUP_MIB=$(calc "$RSS_PR_STARTUP / 1024" 1)
RSS_PR_SEEDED_MIB=$(calc "$RSS_PR_SEEDED / 1024" 1)
RSS_PR_AFTER_LOAD_MIB=$(calc "$RSS_PR_AFTER_LOAD / 1024" 1)
RSS_HELLO_MIB=$(calc "$RSS_HELLO / 1024" 1)

S_RESOLVE_C32=$(check "$RESOLVE_C32_RPS" '>=' "$T_RESOLVE_C32_RPS")
S_RESOLVE_VS_HELLO=$(check "$RESOLVE_VS_HELLO" '>=' "$T_RESOLVE_VS_HELLO")
S_RESOLVE_ROLLOUT_VS_HELLO=$(check "$RESOLVE_ROLLOUT_VS_HELLO" '>=' "$T_RESOLVE_VS_HELLO")
S_RESOLVE_P50=$(check "$RESOLVE_C1_P50" '<=' "$T_RESOLVE_C1_P50_US")
S_RESOLVE_P99=$(check "$RESOLVE_C1_P99" '<=' "$T_RESOLVE_C1_P99_US")
S_PUBLISH=$(check "$PUBLISH_SERIAL_VPS" '>=' "$T_PUBLISH_SERIAL_VPS")
S_RSS_STARTUP=$(check "$RSS_PR_STARTUP" '<=' "$T_RSS_MIB * 1024")
S_RSS_SEEDED=$(check "$RSS_PR_SEEDED" '<=' "$T_RSS_MIB * 1024")
FAILED=0
for s in "$S_RESOLVE_C32" "$S_RESOLVE_VS_HELLO" "$S_RESOLVE_ROLLOUT_VS_HELLO" "$S_RESOLVE_P50" "$S_RESOLVE_P99" \
    "$S_PUBLISH" "$S_RSS_STARTUP" "$S_RSS_SEEDED"; do
    [[ $s == PASS ]] || FAILED=$((FAILED + 1))
done

NPROC=$(nproc)
KERNEL=$(uname -r)
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
CPU_MODEL=${CPU_MODEL:-unknown}
MEM_TOTAL_KB=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)

mkdir -p "$(dirname "$RESULTS")"
{
    printf '{"date":%s,"git_rev":%s,' "$(json_str "$DATE")" "$(json_str "$GIT_REV")"
    printf '"machine":{"nproc":%s,"kernel":%s,"cpu_model":%s,"mem_total_kb":%s},' \
        "$NPROC" "$(json_str "$KERNEL")" "$(json_str "$CPU_MODEL")" "${MEM_TOTAL_KB:-0}"
    printf '"config":{"duration_s":%s,"warmup_s":%s,"loadgen_threads":%s,"store":"sqlite","postgres":%s},' \
        "$DURATION" "$WARMUP" "$LOADGEN_THREADS" \
        "$([[ -n ${PROMPTREG_BENCH_PG_URL:-} ]] && echo true || echo false)"
    printf '"figures":{'
    printf '"hello_c1_rps":%s,"hello_c1_p50_us":%s,"hello_c1_p99_us":%s,' \
        "$HELLO_C1_RPS" "$(run_field hello_c1 p50)" "$(run_field hello_c1 p99)"
    printf '"hello_c32_rps":%s,"hello_c32_p50_us":%s,"hello_c32_p99_us":%s,' \
        "$HELLO_C32_RPS" "$(run_field hello_c32 p50)" "$(run_field hello_c32 p99)"
    printf '"resolve_c1_rps":%s,"resolve_c1_p50_us":%s,"resolve_c1_p90_us":%s,"resolve_c1_p99_us":%s,"resolve_c1_max_us":%s,' \
        "$RESOLVE_C1_RPS" "$RESOLVE_C1_P50" "$(run_field resolve_c1 p90)" "$RESOLVE_C1_P99" \
        "$(run_field resolve_c1 max)"
    printf '"resolve_c32_rps":%s,"resolve_c32_p50_us":%s,"resolve_c32_p99_us":%s,' \
        "$RESOLVE_C32_RPS" "$(run_field resolve_c32 p50)" "$(run_field resolve_c32 p99)"
    printf '"resolve_c32_vs_hello_c32":%s,' "$RESOLVE_VS_HELLO"
    printf '"resolve_rollout_c32_rps":%s,"resolve_rollout_c32_p99_us":%s,"resolve_rollout_c32_vs_hello_c32":%s,' \
        "$RESOLVE_ROLLOUT_C32_RPS" "$(run_field resolve_rollout_c32 p99)" "$RESOLVE_ROLLOUT_VS_HELLO"
    printf '"publish_serial_vps":%s,"publish_serial_p50_us":%s,"publish_serial_p99_us":%s,' \
        "$PUBLISH_SERIAL_VPS" "$(run_field publish_serial p50)" "$(run_field publish_serial p99)"
    printf '"publish_c8_vps":%s,"publish_c8_p99_us":%s,"publish_c8_errors":%s,' \
        "$PUBLISH_C8_VPS" "$(run_field publish_c8 p99)" "$(run_field publish_c8 errors)"
    printf '"publish_c8_spread_vps":%s,"publish_c8_spread_p99_us":%s,' \
        "$PUBLISH_C8_SPREAD_VPS" "$(run_field publish_c8_spread p99)"
    if [[ -n ${PROMPTREG_BENCH_PG_URL:-} ]]; then
        printf '"publish_pg_serial_vps":%s,"publish_pg_c8_vps":%s,"publish_pg_c8_spread_vps":%s,' \
            "$(run_field publish_pg_serial ok_rps)" "$(run_field publish_pg_c8 ok_rps)" \
            "$(run_field publish_pg_c8_spread ok_rps)"
    fi
    printf '"rss_kb_promptreg_startup":%s,"rss_kb_promptreg_seeded":%s,"rss_kb_promptreg_after_load":%s,"rss_kb_hello":%s},' \
        "$RSS_PR_STARTUP" "$RSS_PR_SEEDED" "$RSS_PR_AFTER_LOAD" "$RSS_HELLO"
    printf '"targets":{"resolve_c32_rps":%s,"resolve_c32_vs_hello_c32":%s,"resolve_c1_p50_us":%s,"resolve_c1_p99_us":%s,"publish_serial_vps":%s,"rss_mib":%s},' \
        "$T_RESOLVE_C32_RPS" "$T_RESOLVE_VS_HELLO" "$T_RESOLVE_C1_P50_US" "$T_RESOLVE_C1_P99_US" \
        "$T_PUBLISH_SERIAL_VPS" "$T_RSS_MIB"
    printf '"pass":{"resolve_c32_rps":%s,"resolve_c32_vs_hello_c32":%s,"resolve_c1_p50_us":%s,"resolve_c1_p99_us":%s,"publish_serial_vps":%s,"rss_startup":%s,"rss_seeded":%s},' \
        "$([[ $S_RESOLVE_C32 == PASS ]] && echo true || echo false)" \
        "$([[ $S_RESOLVE_VS_HELLO == PASS ]] && echo true || echo false)" \
        "$([[ $S_RESOLVE_P50 == PASS ]] && echo true || echo false)" \
        "$([[ $S_RESOLVE_P99 == PASS ]] && echo true || echo false)" \
        "$([[ $S_PUBLISH == PASS ]] && echo true || echo false)" \
        "$([[ $S_RSS_STARTUP == PASS ]] && echo true || echo false)" \
        "$([[ $S_RSS_SEEDED == PASS ]] && echo true || echo false)"
    printf '"peers":{"unleash_edge":{"rps_c32":21000,"p50_us_c1":133,"rss_mb":17},"mlflow":{"best_latency_us":3200,"rps":420}},'
    printf '"runs":{'
    sep=
    for name in "${RUN_NAMES[@]}"; do
        var="RUN_$name"
        printf '%s"%s":%s' "$sep" "$name" "${!var}"
        sep=,
    done
    printf '}}\n'
} >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"
log "wrote $RESULTS"

fmt_int() { calc "$1" 0; }
cat <<EOF

## promptreg benchmark — $DATE

Machine: $NPROC CPUs ($CPU_MODEL), kernel $KERNEL; ${DURATION}s per run after ${WARMUP}s warm-up; loadgen on $LOADGEN_THREADS thread(s), same machine.

| Measurement | Result | Target | Status |
| --- | ---: | --- | --- |
| hello @1 conn (ceiling) | $(fmt_int "$HELLO_C1_RPS") req/s, p50 $(run_field hello_c1 p50) µs, p99 $(run_field hello_c1 p99) µs | — | |
| hello @32 conns (ceiling) | $(fmt_int "$HELLO_C32_RPS") req/s, p99 $(run_field hello_c32 p99) µs | — | |
| resolve @1 conn, p50 | $RESOLVE_C1_P50 µs ($(fmt_int "$RESOLVE_C1_RPS") req/s) | ≤ $T_RESOLVE_C1_P50_US µs | $S_RESOLVE_P50 |
| resolve @1 conn, p99 | $RESOLVE_C1_P99 µs | ≤ $T_RESOLVE_C1_P99_US µs | $S_RESOLVE_P99 |
| resolve @32 conns | $(fmt_int "$RESOLVE_C32_RPS") req/s, p99 $(run_field resolve_c32 p99) µs | ≥ $T_RESOLVE_C32_RPS req/s | $S_RESOLVE_C32 |
| resolve@32 / hello@32 | $(calc "$RESOLVE_VS_HELLO * 100" 1) % | ≥ $(calc "$T_RESOLVE_VS_HELLO * 100" 0) % | $S_RESOLVE_VS_HELLO |
| resolve@32 with a 50 % canary active | $(fmt_int "$RESOLVE_ROLLOUT_C32_RPS") req/s, p99 $(run_field resolve_rollout_c32 p99) µs | — | |
| resolve with canary@32 / hello@32 | $(calc "$RESOLVE_ROLLOUT_VS_HELLO * 100" 1) % | ≥ $(calc "$T_RESOLVE_VS_HELLO * 100" 0) % | $S_RESOLVE_ROLLOUT_VS_HELLO |
| publish serial (SQLite) | $(fmt_int "$PUBLISH_SERIAL_VPS") versions/s, p50 $(run_field publish_serial p50) µs | ≥ $T_PUBLISH_SERIAL_VPS versions/s | $S_PUBLISH |
| publish 8 writers, one prompt | $(fmt_int "$PUBLISH_C8_VPS") versions/s, p99 $(run_field publish_c8 p99) µs, $(run_field publish_c8 errors) errors | — | |
| publish 8 writers, 8 prompts | $(fmt_int "$PUBLISH_C8_SPREAD_VPS") versions/s, p99 $(run_field publish_c8_spread p99) µs | — | |
EOF
if [[ -n ${PROMPTREG_BENCH_PG_URL:-} ]]; then
    cat <<EOF
| publish serial (Postgres) | $(fmt_int "$(run_field publish_pg_serial ok_rps)") versions/s, p50 $(run_field publish_pg_serial p50) µs | — | |
| publish 8 writers, one prompt (Postgres) | $(fmt_int "$(run_field publish_pg_c8 ok_rps)") versions/s, $(run_field publish_pg_c8 errors) errors | — | |
| publish 8 writers, 8 prompts (Postgres) | $(fmt_int "$(run_field publish_pg_c8_spread ok_rps)") versions/s | — | |
EOF
fi
cat <<EOF
| idle RSS after start-up | $RSS_PR_STARTUP_MIB MiB | ≤ $T_RSS_MIB MiB | $S_RSS_STARTUP |
| idle RSS after seeding | $RSS_PR_SEEDED_MIB MiB | ≤ $T_RSS_MIB MiB | $S_RSS_SEEDED |
| RSS after the load runs | $RSS_PR_AFTER_LOAD_MIB MiB | — | |
| hello idle RSS | $RSS_HELLO_MIB MiB | — | |

Peer figures recorded earlier, for reference (not measured in this run):

| Peer | Throughput | Latency | RSS |
| --- | --- | --- | --- |
| Unleash Edge | ~21,000 req/s @32 conns | 133 µs p50 @1 conn | 17 MB |
| MLflow | ~420 req/s | 3.2 ms best | — |

EOF

if ((FAILED > 0)); then
    log "$FAILED target(s) missed"
    [[ ${BENCH_STRICT:-0} == 1 ]] && exit 1
fi
exit 0
