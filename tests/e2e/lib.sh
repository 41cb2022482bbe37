# tests/e2e/lib.sh — helpers for end-to-end tests: a real `lode serve` on a scratch database of
# the test cluster (LODE_TEST_DATABASE_URL), spoken to with curl and nghttp.
#
# A test script sources this file, calls e2e_start, runs checks with `check NAME CONDITION...`
# and ends with e2e_finish, which stops the server (SIGTERM; it must exit 0 with no sanitizer
# report) and prints "N passed, M failed".
set -uo pipefail

: "${LODE_BIN:?LODE_BIN must point to the lode binary}"
PASSED=0
FAILED=0
E2E_TMP=$(mktemp -d /tmp/lode-e2e.XXXXXX)
SERVER_PID=""

if [ -z "${LODE_TEST_DATABASE_URL:-}" ]; then
    echo "LODE_TEST_DATABASE_URL is not set: skipping (run through scripts/test)"
    exit 77
fi

pass() { PASSED=$((PASSED + 1)); echo "ok - $1"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $1"; [ $# -gt 1 ] && echo "    $2"; return 0; }

# check NAME COMMAND...: passes when the command succeeds.
check() {
    local name="$1"; shift
    if "$@" >/dev/null 2>&1; then pass "$name"; else fail "$name" "$*"; fi
}

# expect_eq NAME WANT GOT
expect_eq() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1" "want [$2] got [$3]"; fi
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

psql_test() { # runs SQL on the test cluster's maintenance database
    local dir="${LODE_TEST_PG_DIR:?}"
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    "$bin/psql" -h "$dir" -U lode -d postgres -qAtX -v ON_ERROR_STOP=1 -c "$1"
}

# e2e_start [extra serve args...]: scratch database, TLS certificate, server on free ports.
e2e_start() {
    local name; name="lode_e2e_$(basename "$0" .sh)_$$"
    psql_test "DROP DATABASE IF EXISTS $name" && psql_test "CREATE DATABASE $name" || {
        echo "could not create database $name"; exit 1; }
    E2E_DB="$name"
    export LODE_DATABASE_URL="${LODE_TEST_DATABASE_URL%/*}/$name"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=localhost" -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$E2E_TMP/key.pem" -out "$E2E_TMP/cert.pem" 2>/dev/null
    "$LODE_BIN" keygen --out "$E2E_TMP/checkpoint.key" >"$E2E_TMP/checkpoint.pub"
    HTTP_PORT=$(free_port)
    TLS_PORT=$(free_port)
    H="http://127.0.0.1:$HTTP_PORT"
    S="https://localhost:$TLS_PORT"
    CACERT="$E2E_TMP/cert.pem"
    E2E_SERVE_ARGS=("$@")
    e2e_serve
}

# e2e_serve: (re)starts the server on the same ports, database and keys.
e2e_serve() {
    "$LODE_BIN" serve --listen "127.0.0.1:$HTTP_PORT" --tls-listen "127.0.0.1:$TLS_PORT" \
        --tls-cert "$E2E_TMP/cert.pem" --tls-key "$E2E_TMP/key.pem" --threads 2 \
        --db-pool-size 4 --debug-routes --shutdown-timeout-ms 5000 \
        --ledger-key "$E2E_TMP/checkpoint.key" --ledger-origin "lode.test/e2e" \
        ${E2E_SERVE_ARGS[@]+"${E2E_SERVE_ARGS[@]}"} \
        >>"$E2E_TMP/server.out" 2>>"$E2E_TMP/server.log" &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -sf "$H/healthz" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "server did not start:"; cat "$E2E_TMP/server.log"; exit 1
}

# e2e_client (after e2e_start): the HTTP/2 cleartext client most scripts use. Sets CURL, JSON,
# NDJSON (header arguments) and T (the scratch folder). post URL BODY [curl args] sends a JSON
# body, get URL [curl args] a GET; both leave the response body in $T/out and print the status.
# auth TOKEN prints a bearer Authorization header. A script may redefine post for other bodies.
e2e_client() {
    CURL=(curl -sS --max-time 60 --http2-prior-knowledge)
    JSON=(-H "content-type: application/json")
    NDJSON=(-H "content-type: application/x-ndjson")
    T="$E2E_TMP"
}
post() { local url="$1" body="$2"; shift 2
    "${CURL[@]}" -o "$T/out" -w '%{http_code}' "$@" "${JSON[@]}" --data-binary "$body" "$H$url"; }
get() { local url="$1"; shift; "${CURL[@]}" -o "$T/out" -w '%{http_code}' "$@" "$H$url"; }
auth() { printf 'Authorization: Bearer %s' "$1"; }

# e2e_crash: kill -9 the server (no shutdown at all).
e2e_crash() {
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=""
}

# operator_token: creates an operator account through the CLI and prints its token.
operator_token() {
    "$LODE_BIN" account create --role operator --name "op-$RANDOM" | tail -n 1
}

e2e_stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null
    local rc=0
    wait "$SERVER_PID" || rc=$?
    SERVER_PID=""
    expect_eq "server exits 0 after SIGTERM" 0 "$rc"
    if grep -q "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$E2E_TMP/server.log"; then
        fail "no sanitizer report in the server log"
        grep -A30 "ERROR: AddressSanitizer\|runtime error:\|LeakSanitizer" "$E2E_TMP/server.log" | head -60
    else
        pass "no sanitizer report in the server log"
    fi
    if grep -q '"status":500' "$E2E_TMP/server.log"; then
        fail "no request was answered 500"
        grep '"status":500' "$E2E_TMP/server.log" | head -5
    else
        pass "no request was answered 500"
    fi
}

e2e_finish() {
    e2e_stop_server
    psql_test "DROP DATABASE IF EXISTS $E2E_DB" >/dev/null 2>&1 || true
    if [ "$FAILED" -ne 0 ]; then
        echo "--- server log (last 40 lines) ---"; tail -40 "$E2E_TMP/server.log"
    fi
    rm -rf "$E2E_TMP"
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}
trap '[ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null; true' EXIT
