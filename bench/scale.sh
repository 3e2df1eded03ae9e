#!/usr/bin/env bash
# promptreg scale benchmark (issue 11): N prompts x 10 versions each, deployed in two
# environments, on SQLite. For a small catalogue (100 prompts) and a large one (100,000) in the
# same run it measures:
#   - start-up: from spawning `promptreg serve` to the first `/readyz` 200 (for the large
#     catalogue: its first start without a ledger snapshot, then the restart from it, and
#     how long each one's background audit took);
#   - RSS once ready;
#   - resolve rate at 32 connections (each connection resolves its own prompt);
#   - the size of `/metrics` in bytes after the load (its per-prompt series are capped by
#     --metrics-max-prompt-series).
#
# The database is filled directly with bulk SQL (sqlite3 CLI), not through the API: a server
# first starts on an empty data dir (migrations, first environments, one real version whose
# stored content is the pattern for all others), is stopped, and the versions, deployment
# records, pointers and ledger events are inserted in one transaction. Every version holds
# the pattern's content (so its digest is right), and the ledger gets one event per version
# and per move, as the start-up audit requires (it serves nothing that does not verify).
#
# Environment (all optional):
#   SCALE_PROMPTS      the large catalogue's prompts      (default 100000)
#   SCALE_SMALL        the small catalogue's prompts      (default 100)
#   SCALE_VERSIONS     versions per prompt                (default 10)
#   BENCH_DURATION     measured seconds per resolve run   (default 10)
#   BENCH_WARMUP       warm-up seconds per resolve run    (default 2)
#   BENCH_PORT         port of the promptreg server       (default 8782)
#   BENCH_SKIP_BUILD=1 use the release binaries already built
#   CARGO_TARGET_DIR   where cargo puts binaries          (default <repo>/target)
#   SCALE_SERVER_BIN   the promptreg binary to measure    (default the release build)
#   SCALE_KEEP=1       keep the filled data dirs (their path is printed) to profile start-up
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LARGE=${SCALE_PROMPTS:-100000}
SMALL=${SCALE_SMALL:-100}
VERSIONS=${SCALE_VERSIONS:-10}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
PORT=${BENCH_PORT:-8782}
URL=http://127.0.0.1:$PORT
TOKEN=bench-admin-token
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
SERVER=${SCALE_SERVER_BIN:-$BIN/promptreg}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'scale: error: %s\n' "$*" >&2; exit 1; }

if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    log "building release binaries"
    cargo build --release -p promptreg-bench -p promptreg-cli
fi
[[ -x $BIN/loadgen ]] || die "$BIN/loadgen not found"
[[ -x $SERVER ]] || die "$SERVER not found"
command -v sqlite3 >/dev/null || die "the sqlite3 CLI is required"
if curl -s -o /dev/null --max-time 1 "$URL/"; then
    die "something already listens on $URL (set BENCH_PORT)"
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promptreg-scale.XXXXXX")
PID=
cleanup() {
    [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    if [[ ${SCALE_KEEP:-0} == 1 ]]; then
        log "kept the data dirs in $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

# start DIR : starts the server on DIR, waits for /readyz 200, sets PID and STARTUP_MS.
start() {
    local t0 i
    t0=$(now_ms)
    PROMPTREG_ADMIN_TOKEN=$TOKEN "$SERVER" serve --listen "127.0.0.1:$PORT" \
        --data-dir "$1" >>"$TMP/server.log" 2>&1 &
    PID=$!
    for ((i = 0; i < 12000; i++)); do
        if curl -fs -o /dev/null --max-time 1 "$URL/readyz" 2>/dev/null; then
            STARTUP_MS=$(($(now_ms) - t0))
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || { tail -20 "$TMP/server.log" >&2; die "server exited"; }
        sleep 0.005
    done
    die "not ready after 60 s"
}

stop() {
    kill "$PID" && wait "$PID" 2>/dev/null || true
    PID=
}

# fill DIR N : a data dir with N prompts x VERSIONS versions, the newest live in
# `production` and the one before it in `staging`.
fill() {
    local dir=$1 n=$2 db=$1/promptreg.db
    start "$dir"
    curl -fsS -o /dev/null -X POST "$URL/v1/prompts/pattern/versions" \
        -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -d '{"type":"text","template":"You are the assistant for ACME (MARKER). Greet {{ name }} and answer briefly.","variables":{"type":"object","properties":{"name":{"type":"string"}}},"model":{"provider":"openai","name":"gpt-4o"}}'
    stop
    [[ -f $db ]] || db=$(ls "$dir"/*.db | head -1)
    log "filling $n prompts x $VERSIONS versions into $db"
    local t0
    t0=$(now_ms)
    sqlite3 "$db" <<SQL
PRAGMA synchronous = OFF;
BEGIN;
CREATE TEMP TABLE n AS
  WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $n - 1) SELECT i FROM n;
CREATE TEMP TABLE k AS
  WITH RECURSIVE k(v) AS (SELECT 1 UNION ALL SELECT v + 1 FROM k WHERE v < $VERSIONS) SELECT v FROM k;
-- The pattern's content object in plaintext: the published row holds it encrypted, and bulk
-- rows are written the way rows from before encryption at rest are (read as they are).
CREATE TEMP TABLE pat AS SELECT '{"model":{"name":"gpt-4o","provider":"openai"},"template":"You are the assistant for ACME (MARKER). Greet {{ name }} and answer briefly.","type":"text","variables":{"properties":{"name":{"type":"string"}},"type":"object"}}' AS content,
  digest, created_at FROM versions WHERE name = 'pattern';
INSERT INTO prompts (project, name, latest_version, created_at)
  SELECT 'default', printf('scale/p%d', i), $VERSIONS, (SELECT created_at FROM pat) FROM n;
INSERT INTO versions (project, name, version, digest, prompt_type, content, commit_message,
                      metadata, parent, created_by, created_at)
  SELECT 'default', printf('scale/p%d', i), v, (SELECT digest FROM pat), 'text',
         (SELECT content FROM pat),
         'bulk', '{}', CASE WHEN v > 1 THEN v - 1 END, 'bench', (SELECT created_at FROM pat)
  FROM n, k ORDER BY 2, 3;
INSERT INTO deployments (project, env, name, seq, from_version, to_version, digest, actor,
                         reason, at, kind)
  SELECT 'default', e.env, printf('scale/p%d', i), 1, NULL, e.v,
         (SELECT digest FROM pat), 'bench', NULL, (SELECT created_at FROM pat),
         'deploy'
  FROM n, (SELECT 'production' AS env, $VERSIONS AS v UNION ALL
           SELECT 'staging', $VERSIONS - 1) e;
INSERT INTO pointers (project, env, name, version, seq, updated_at)
  SELECT project, env, name, to_version, 1, at FROM deployments WHERE name LIKE 'scale/%';
-- The ledger: one event per version and per move, after the events already logged, so the
-- start-up audit finds every pointer's last move (it serves nothing that does not verify).
CREATE TEMP TABLE ev AS
  SELECT name, version AS v, NULL AS env, 0 AS k FROM versions WHERE name LIKE 'scale/%'
  UNION ALL SELECT name, to_version, env, 1 FROM deployments WHERE name LIKE 'scale/%';
INSERT INTO event_log (project, seq, kind, at, body)
  SELECT 'default', (SELECT MAX(seq) FROM event_log) + ROW_NUMBER() OVER (ORDER BY k, name, env, v),
         CASE k WHEN 0 THEN 'version_created' ELSE 'pointer_moved' END,
         (SELECT created_at FROM pat),
         json_object('actor', 'bench', 'at', (SELECT created_at FROM pat),
           'change', CASE k
             WHEN 0 THEN json_object('digest', (SELECT digest FROM pat), 'event', 'version_created',
                                     'name', name, 'project', 'default', 'version', v)
             ELSE json_object('digest', (SELECT digest FROM pat), 'env', env, 'event', 'pointer_moved',
                              'from_version', NULL, 'kind', 'deploy', 'name', name,
                              'project', 'default', 'seq', 1, 'to_version', v) END,
           'project', 'default',
           'seq', (SELECT MAX(seq) FROM event_log) + ROW_NUMBER() OVER (ORDER BY k, name, env, v))
  FROM ev;
COMMIT;
SQL
    log "filled in $(($(now_ms) - t0)) ms ($(du -sh "$dir" | cut -f1))"
}

# audits_done : how many background audits the server log reports as done.
audits_done() { grep -c 'background audit done' "$TMP/server.log" || true; }

# wait_audit N : waits until more than N background audits are done; sets AUDIT_MS to the
# last one's duration as logged.
wait_audit() {
    local i
    for ((i = 0; i < 2400; i++)); do
        if (($(audits_done) > $1)); then
            AUDIT_MS=$(grep 'background audit done' "$TMP/server.log" | tail -1 | grep -oE 'ms=[0-9]+' | head -1 | cut -d= -f2)
            return 0
        fi
        sleep 0.05
    done
    die "no background audit done after 120 s"
}

# measure LABEL DIR N : start-up, RSS, resolve @32, /metrics size. The large catalogue
# starts twice: first on a data dir without a ledger snapshot (a first start ever, which
# saves one), then the measured restart; each start's background audit is waited for
# (and timed) before the next step, so the resolve run measures the served index alone.
measure() {
    local label=$1 dir=$2 n=$3 out rss metrics audits
    if [[ $label == large ]]; then
        audits=$(audits_done)
        start "$dir"
        log "$label: first start (no ledger snapshot) ready in $STARTUP_MS ms"
        printf 'first start, no snapshot: %s ms\n' "$STARTUP_MS" >>"$TMP/starts.txt"
        wait_audit "$audits"
        printf 'its background audit: %s ms\n' "$AUDIT_MS" >>"$TMP/starts.txt"
        stop
    fi
    audits=$(audits_done)
    start "$dir"
    rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status")
    log "$label: ready in $STARTUP_MS ms, RSS $rss kB"
    if [[ $label == large ]]; then
        wait_audit "$audits"
        printf 'restart, from the snapshot: %s ms\nits background audit: %s ms\n' \
            "$STARTUP_MS" "$AUDIT_MS" >>"$TMP/starts.txt"
    fi
    # Connection c resolves prompt `scale/p<c>`: 32 distinct prompts.
    out=$("$BIN/loadgen" --duration "$DURATION" --warmup "$WARMUP" --threads 1 --json \
        --connections 32 -H "Authorization: Bearer $TOKEN" --expect-status 200 \
        --url "$URL/v1/resolve/scale%2Fp{c}?env=production") ||
        die "loadgen failed"
    metrics=$(curl -fsS -H "Authorization: Bearer $TOKEN" "$URL/metrics" | wc -c)
    local rss_after
    rss_after=$(awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status")
    stop
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$STARTUP_MS" "$rss" "$rss_after" "$metrics" "$out" \
        >>"$TMP/results.tsv"
}

mkdir -p "$TMP/small" "$TMP/large"
fill "$TMP/small" "$SMALL"
fill "$TMP/large" "$LARGE"
measure small "$TMP/small" "$SMALL"
measure large "$TMP/large" "$LARGE"

num() { sed -nE "s/.*\"$2\":(-?[0-9][0-9.eE+-]*).*/\1/p" <<<"$1"; }
printf '\n| catalogue | start-up to /readyz 200 | RSS ready / after load | resolve @32 | p99 | /metrics |\n'
printf '| --- | ---: | ---: | ---: | ---: | ---: |\n'
while IFS=$'\t' read -r label ms rss rss_after metrics out; do
    n=$SMALL
    [[ $label == large ]] && n=$LARGE
    printf '| %s prompts x %s versions, 2 envs | %s ms | %s / %s MiB | %.0f req/s | %s µs | %s bytes |\n' \
        "$n" "$VERSIONS" "$ms" "$(awk "BEGIN { printf \"%.1f\", $rss / 1024 }")" \
        "$(awk "BEGIN { printf \"%.1f\", $rss_after / 1024 }")" "$(num "$out" ok_rps)" \
        "$(num "$out" p99)" "$metrics"
    printf '%s\n' "$out" >"$TMP/$label.json"
done <"$TMP/results.tsv"
small=$(num "$(cat "$TMP/small.json")" ok_rps)
large=$(num "$(cat "$TMP/large.json")" ok_rps)
# Where the large catalogue's start-up went, as the server logs it.
printf '\nstart-up of the large catalogue, as logged: %s\n' \
    "$(grep 'index loaded' "$TMP/server.log" | tail -1 | grep -oE '(live|cold|from_snapshot|live_read_ms|log_replay_ms|audit_ms|index_ms|total_ms)=[0-9a-z]+' | tr '\n' ' ')"
printf '\nthe large catalogue'"'"'s starts:\n'
sed 's/^/  /' "$TMP/starts.txt"
printf '\nresolve @32, large / small: %s %%\n' "$(awk "BEGIN { printf \"%.1f\", 100 * $large / $small }")"
