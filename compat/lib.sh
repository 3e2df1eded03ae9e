# Shared by the compatibility runners (compat/*/run.sh), which source it from the repository's
# root: a pinned virtualenv, and a fresh promptreg server on a free port over a temporary
# SQLite data directory, stopped (and its directory removed) when the runner exits.

ROOT=$PWD
START=$(date +%s)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

# compat_venv DIR PIP_INSTALL_ARGS...: (re)creates the virtualenv DIR with
# `pip install PIP_INSTALL_ARGS` unless it already holds exactly the files named after `-r`
# and `-c` (their contents are kept in DIR/installed.txt).
compat_venv() {
    local venv=$1 prev= arg
    shift
    local files=()
    for arg in "$@"; do
        [[ $prev == -r || $prev == -c ]] && files+=("$arg")
        prev=$arg
    done
    if [[ -x $venv/bin/python ]] && cat "${files[@]}" | cmp -s - "$venv/installed.txt"; then
        return
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    cat "${files[@]}" >"$venv/installed.txt"
}

# compat_server [SERVE_OPTIONS...]: builds the debug binary (or uses PROMPTREG_BIN, an already
# built one), starts `promptreg serve SERVE_OPTIONS` with a random admin token and waits until
# it is ready. Sets BIN, TMP, URL, TOKEN and PID.
compat_server() {
    if [[ -n ${PROMPTREG_BIN:-} ]]; then
        BIN=$PROMPTREG_BIN
    else
        cargo build --quiet -p promptreg-cli
        BIN=$TARGET/debug/promptreg
    fi
    TMP=$(mktemp -d)
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    URL=http://127.0.0.1:$port
    TOKEN=compat-admin-$RANDOM$RANDOM
    PROMPTREG_ADMIN_TOKEN=$TOKEN "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$TMP/data" \
        "$@" >"$TMP/server.log" 2>&1 &
    PID=$!
    trap compat_stop EXIT
    for _ in $(seq 1 100); do
        curl -fsS "$URL/readyz" >/dev/null 2>&1 && break
        kill -0 "$PID" 2>/dev/null || { cat "$TMP/server.log"; echo "server exited" >&2; exit 1; }
        sleep 0.1
    done
    curl -fsS "$URL/readyz" >/dev/null
}

compat_stop() {
    kill "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    rm -rf "$TMP"
}

# api METHOD PATH BODY: one call as the admin; prints the answer, fails on an error status.
api() {
    curl -fsS -X "$1" "$URL$2" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' -d "$3"
}

# compat_finish NAME STATUS: the server log's tail when STATUS is a failure, the time taken,
# and exits with STATUS.
compat_finish() {
    if [[ $2 != 0 ]]; then
        echo "--- server log" >&2
        tail -n 40 "$TMP/server.log" >&2
    fi
    echo "$1: exit $2 in $(($(date +%s) - START))s"
    exit "$2"
}
