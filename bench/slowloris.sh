#!/usr/bin/env bash
# Slow clients on loopback (issue 11, defect 4): starts a release promptreg server on a fresh
# SQLite data dir, deploys one prompt, and runs bench/src/bin/slowloris.rs against it: N
# connections that trickle a header byte every 2 s and never finish, while a well-behaved
# client resolves on new connections. Runs twice: with the limits turned off (header and idle
# timeouts of an hour, no practical connection cap: what axum::serve did before) and with the
# defaults. Prints one JSON line per run and a Markdown table.
#
# Environment (all optional):
#   SLOWLORIS_CONNECTIONS  slow connections held            (default 15000)
#   SLOWLORIS_DURATION     measured seconds per run          (default 30)
#   SLOWLORIS_RAMP         seconds of attack before measuring (default 10)
#   SLOWLORIS_PORT         server port                        (default 8790)
#   SLOWLORIS_SERVER_FILES the server's open-files limit, soft and hard (default 12000: fewer
#                          than the attack's connections, as in the issue's report)
#   SLOWLORIS_PROFILE      release or debug                   (default release)
#   BENCH_SKIP_BUILD=1     use the binaries already built
#   CARGO_TARGET_DIR       where cargo puts binaries          (default <repo>/target)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CONNS=${SLOWLORIS_CONNECTIONS:-15000}
DURATION=${SLOWLORIS_DURATION:-30}
RAMP=${SLOWLORIS_RAMP:-10}
PORT=${SLOWLORIS_PORT:-8790}
FILES=${SLOWLORIS_SERVER_FILES:-12000}
TOKEN=bench-admin-token
PROFILE=${SLOWLORIS_PROFILE:-release}
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE
URL=http://127.0.0.1:$PORT

if [[ ${BENCH_SKIP_BUILD:-} != 1 ]]; then
    [[ $PROFILE == release ]] && FLAG=--release || FLAG=
    cargo build $FLAG --quiet -p promptreg-cli -p promptreg-bench --bin promptreg --bin slowloris
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/promptreg-slowloris.XXXXXX")
PID=
cleanup() {
    [[ -n $PID ]] && { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; }
    rm -rf "$TMP"
}
trap cleanup EXIT

# The attacker and the server each need a descriptor per connection.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

api() {
    curl -fsS -X "$1" "$URL$2" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -d "$3" >/dev/null
}

run_one() {
    local label=$1
    shift
    rm -rf "$TMP/data"
    (
        ulimit -Sn "$FILES" && ulimit -Hn "$FILES" || exit 1
        PROMPTREG_ADMIN_TOKEN=$TOKEN exec "$BIN/promptreg" serve --listen "127.0.0.1:$PORT" \
            --data-dir "$TMP/data" "$@"
    ) >"$TMP/$label.log" 2>&1 &
    PID=$!
    for _ in $(seq 1 100); do
        curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -fsS "$URL/readyz" >/dev/null
    api POST /v1/environments '{"name":"production"}'
    api POST /v1/prompts/bench%2Fp/versions '{"type":"text","template":"Hello {{ name }}"}'
    api PUT /v1/environments/production/prompts/bench%2Fp '{"version":1}'
    "$BIN/slowloris" --addr "127.0.0.1:$PORT" --connections "$CONNS" --duration "$DURATION" \
        --ramp "$RAMP" --pid "$PID" --json | sed "s/^{/{\"run\":\"$label\",/" | tee "$TMP/$label.json"
    kill "$PID"
    wait "$PID" 2>/dev/null || true
    PID=
}

run_one unprotected --header-timeout-secs 3600 --idle-timeout-secs 3600 --max-connections 1000000
run_one defaults

python3 - "$TMP/unprotected.json" "$TMP/defaults.json" <<'PY'
import json, sys
runs = [json.load(open(p)) for p in sys.argv[1:]]
rows = [
    ("slow connections held open (min-max while measuring)", lambda r: f"{r['attack_open_min']}-{r['attack_open_max']}"),
    ("attack connections closed by the server", lambda r: r["attack_closed_by_server"]),
    ("attack connections refused with 503", lambda r: r["attack_refused_503"]),
    ("client resolves answered / failed (5 s limit)", lambda r: f"{r['client_ok']} / {r['client_failed']}"),
    ("client latency p50 / p99 / max, ms", lambda r: f"{r['client_p50_ms']:.2f} / {r['client_p99_ms']:.2f} / {r['client_max_ms']:.1f}"),
    ("server RSS at start / peak, MiB", lambda r: f"{(r['server_rss_kib_at_start'] or 0)/1024:.0f} / {r['server_rss_kib_peak']/1024:.0f}"),
]
print("| | " + " | ".join(r["run"] for r in runs) + " |")
print("| --- | " + " | ".join("---" for _ in runs) + " |")
for name, f in rows:
    print(f"| {name} | " + " | ".join(str(f(r)) for r in runs) + " |")
PY
