# bench/lib.sh — shared set-up for the benchmark scripts: a throwaway PostgreSQL, a TLS
# certificate, a checkpoint key, `lode serve` on free ports, and medians.
#   . bench/lib.sh; bench_setup BUILD_DIR; bench_serve [serve args...]
# sets LODE, TMP, LH/LS (ports), H/S (base URLs); bench_cleanup runs at exit.
LODE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LODE_ROOT
. "$LODE_ROOT/scripts/lib/pg.sh"
BENCH_PIDS=()

bench_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
median() { sort -n | awk '{a[NR]=$1} END {if (NR == 0) print 0; else print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

bench_cleanup() {
    for p in "${BENCH_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${TMP:-}" ] && { lode_pg_stop "$TMP/pg"; rm -rf "$TMP"; }
}

bench_setup() {
    local build=${1:-$LODE_ROOT/build/release}
    LODE="$build/cli/lode"
    [ -x "$LODE" ] || { echo "no lode binary at $LODE (run scripts/up or build first)" >&2; exit 2; }
    TMP=$(mktemp -d /tmp/lode-bench.XXXXXX)
    trap bench_cleanup EXIT
    LODE_PG_FSYNC=${LODE_PG_FSYNC:-on} lode_pg_start "$TMP/pg" >/dev/null
    export LODE_DATABASE_URL="$LODE_PG_URL"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=localhost -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
    "$LODE" keygen --out "$TMP/checkpoint.key" >/dev/null
}

bench_serve() {
    LH=$(bench_port); LS=$(bench_port)
    H="http://127.0.0.1:$LH"; S="https://127.0.0.1:$LS"
    "$LODE" serve --listen "127.0.0.1:$LH" --tls-listen "127.0.0.1:$LS" \
        --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" --log-level warn \
        --ledger-key "$TMP/checkpoint.key" "$@" 2>>"$TMP/lode.log" &
    BENCH_PIDS+=($!)
    for _ in $(seq 1 100); do curl -sf "$H/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "lode serve did not start:" >&2; tail "$TMP/lode.log" >&2; exit 1
}
