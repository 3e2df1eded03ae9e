#!/usr/bin/env bash
# promptreg outcome ingestion benchmark: starts a release `promptreg serve` on a fresh SQLite
# data dir (or PostgreSQL with PROMPTREG_BENCH_PG_URL), seeds a prompt with two versions and
# a 50% canary (so every event is checked against the rollout's arms and counted in both
# kinds of windows, with the controller judging every 250 ms), then posts batches of
# outcome events with `loadgen` (every event id unique: "{n}-i") and prints events/s for
# each batch size.
#
# Environment (all optional):
#   BENCH_DURATION      measured seconds per run              (default 10)
#   BENCH_WARMUP        warm-up seconds per run               (default 2)
#   BENCH_CONNECTIONS   concurrent connections                (default 2)
#   BENCH_BATCHES       batch sizes to measure                (default "1000 10000")
#   BENCH_PORT          port of the promptreg server          (default 8782)
#   BENCH_SKIP_BUILD=1  use the binaries already built
#   PROMPTREG_BENCH_PG_URL  run the server on this PostgreSQL database instead of SQLite
#   CARGO_TARGET_DIR    where cargo puts binaries             (default <repo>/target)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-2}
BATCHES=${BENCH_BATCHES:-"1000 10000"}
PORT=${BENCH_PORT:-8782}
TOKEN=bench-admin-token
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
URL=http://127.0.0.1:$PORT

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promptreg-outcomes.XXXXXX")
SERVER=
cleanup() {
    [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT

api() {
    local method=$1 path=$2 body=$3 code
    code=$(curl -sS -o "$TMP/api.out" -w '%{http_code}' -X "$method" \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        ${body:+--data-binary "$body"} "$URL$path") || die "curl $method $path failed"
    [[ $code == 2* ]] || die "$method $path -> HTTP $code: $(head -c 2000 "$TMP/api.out")"
    cat "$TMP/api.out"
}

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release -p promptreg-bench -p promptreg-cli
fi
for b in loadgen promptreg; do
    [[ -x $BIN/$b ]] || die "$BIN/$b not found"
done
if curl -s -o /dev/null --max-time 1 "$URL/"; then
    die "something already listens on $URL (set BENCH_PORT)"
fi

mkdir -p "$TMP/data"
DB_ARGS=(--data-dir "$TMP/data")
[[ -n ${PROMPTREG_BENCH_PG_URL:-} ]] && DB_ARGS+=(--database-url "$PROMPTREG_BENCH_PG_URL")
log "starting promptreg on $URL (${PROMPTREG_BENCH_PG_URL:+PostgreSQL}${PROMPTREG_BENCH_PG_URL:-SQLite})"
PROMPTREG_ADMIN_TOKEN=$TOKEN "$BIN/promptreg" serve --listen "127.0.0.1:$PORT" \
    "${DB_ARGS[@]}" >"$TMP/server.log" 2>&1 &
SERVER=$!
for ((i = 0; i < 600; i++)); do
    curl -fsS -o /dev/null --max-time 1 "$URL/readyz" 2>/dev/null && break
    kill -0 "$SERVER" 2>/dev/null || { cat "$TMP/server.log" >&2; die "server exited"; }
    sleep 0.1
done

log "seeding bench/greet v1 (live) and v2 (50% canary)"
api POST /v1/prompts/bench%2Fgreet/versions '{"type":"text","template":"Hello {{ who }}"}' >/dev/null
api POST /v1/prompts/bench%2Fgreet/versions '{"type":"text","template":"Hi {{ who }}"}' >/dev/null
api PUT /v1/environments/production/prompts/bench%2Fgreet '{"version":1}' >/dev/null
ROLLOUT=$(api POST /v1/environments/production/prompts/bench%2Fgreet/rollouts \
    '{"candidate":2,"strategy":{"canary":{"steps":[{"set_weight":5000},{"pause":{}}]}},"analysis":{"interval":"250ms","breakers":[{"metric":"unsafe_action_rate","max":0.5}]}}' |
    sed -nE 's/.*"id":"([^"]+)".*/\1/p')
[[ -n $ROLLOUT ]] || die "no rollout id"

# batch_template N : N events; half on each arm, with success, latency, cost and score.
batch_template() {
    local n=$1 i sep="" arm version
    printf '{"events":['
    for ((i = 0; i < n; i++)); do
        if ((i % 2)); then arm=candidate version=2; else arm=stable version=1; fi
        printf '%s{"id":"{n}-%d","prompt":"bench/greet","version":%d,"rollout":"%s","arm":"%s","subject":"agent-%d","success":%s,"latency_ms":%d,"cost":0.0%d,"score":%d}' \
            "$sep" "$i" "$version" "$ROLLOUT" "$arm" "$i" "$([[ $((i % 10)) == 0 ]] && echo false || echo true)" \
            "$((100 + i % 400))" "$((1 + i % 9))" "$((i % 5))"
        sep=,
    done
    printf ']}'
}

printf '\n| batch | connections | batches/s | events/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|\n'
COUNTER=0
for batch in $BATCHES; do
    batch_template "$batch" >"$TMP/batch.json"
    log "batch of $batch events ($(wc -c <"$TMP/batch.json") bytes), $CONNECTIONS connections, ${DURATION}s"
    out=$("$BIN/loadgen" --url "$URL/v1/outcomes" --method POST \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        --body-template-file "$TMP/batch.json" --counter-start "$COUNTER" \
        --connections "$CONNECTIONS" --duration "$DURATION" --warmup "$WARMUP" \
        --expect-status 200 --json)
    COUNTER=$((COUNTER + 10000000))
    rps=$(sed -nE 's/.*"ok_rps":([0-9.]+).*/\1/p' <<<"$out")
    p50=$(sed -nE 's/.*"p50":([0-9]+).*/\1/p' <<<"$out")
    p99=$(sed -nE 's/.*"p99":([0-9]+).*/\1/p' <<<"$out")
    errors=$(sed -nE 's/.*"errors":([0-9]+).*/\1/p' <<<"$out")
    printf '| %s | %s | %.1f | %.0f | %.1f | %.1f | %s |\n' "$batch" "$CONNECTIONS" "$rps" \
        "$(awk "BEGIN { print $rps * $batch }")" "$(awk "BEGIN { print $p50 / 1000 }")" \
        "$(awk "BEGIN { print $p99 / 1000 }")" "$errors"
done

# The events were counted: the candidate's figures as the server reports them.
sleep 1
log "candidate (v2) figures: $(api GET '/v1/prompts/bench%2Fgreet/versions/2/outcomes?env=production' '')"
log "rollout: $(api GET "/v1/rollouts/$ROLLOUT" '' | sed -nE 's/.*"status":"([a-z_]+)".*/status \1/p')"
