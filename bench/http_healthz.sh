#!/usr/bin/env bash
# bench/http_healthz.sh — requests/s of `GET /healthz` with h2load, over h2c and TLS, next to
# nghttpd serving a static file of the same bytes in the same run, and their ratio.
#
#   bench/http_healthz.sh [BUILD_DIR]     (default build/release; built by scripts/up)
# Environment: RUNS (default 5), REQUESTS (default 100000), CLIENTS (32), STREAMS (10).
# Both servers get one event loop / worker thread and h2load one thread, so on a 2-core machine
# each side has a core. Prints the median of RUNS and every run.
set -euo pipefail
LODE_ROOT=$(cd "$(dirname "$0")/.." && pwd)
export LODE_ROOT
. "$LODE_ROOT/scripts/lib/pg.sh"
BUILD=${1:-$LODE_ROOT/build/release}
LODE="$BUILD/cli/lode"
RUNS=${RUNS:-5}
REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-32}
STREAMS=${STREAMS:-10}
[ -x "$LODE" ] || { echo "no lode binary at $LODE (run scripts/up or build first)" >&2; exit 2; }
command -v h2load >/dev/null && command -v nghttpd >/dev/null ||
    { echo "needs h2load and nghttpd (Debian: nghttp2-client, nghttp2-server)" >&2; exit 2; }

TMP=$(mktemp -d /tmp/lode-bench.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    lode_pg_stop "$TMP/pg"
    rm -rf "$TMP"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

LODE_PG_FSYNC=off lode_pg_start "$TMP/pg" >/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
mkdir -p "$TMP/www"
printf '{"status":"ok"}' >"$TMP/www/healthz"

LH=$(port); LS=$(port); NH=$(port); NS=$(port)
LODE_DATABASE_URL="$LODE_PG_URL" "$LODE" serve --listen "127.0.0.1:$LH" --tls-listen "127.0.0.1:$LS" \
    --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" --threads 1 --log-level warn 2>"$TMP/lode.log" &
pids+=($!)
nghttpd --no-tls -n 1 -d "$TMP/www" "$NH" >/dev/null 2>&1 &
pids+=($!)
nghttpd -n 1 -d "$TMP/www" "$NS" "$TMP/key.pem" "$TMP/cert.pem" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$LH/healthz" >/dev/null 2>&1 && break; sleep 0.1; done

rps() { # rps URL -> requests per second of one h2load run
    h2load -n "$REQUESTS" -c "$CLIENTS" -m "$STREAMS" -t 1 "$1" 2>/dev/null |
        awk '/^finished in/ {gsub(",", "", $4); print $4}'
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "h2load -n $REQUESTS -c $CLIENTS -m $STREAMS -t 1, $RUNS runs each, $(nproc) cores"
for transport in h2c tls; do
    if [ "$transport" = h2c ]; then lu="http://127.0.0.1:$LH/healthz"; nu="http://127.0.0.1:$NH/healthz"
    else lu="https://127.0.0.1:$LS/healthz"; nu="https://127.0.0.1:$NS/healthz"; fi
    : >"$TMP/l"; : >"$TMP/n"
    for _ in $(seq 1 "$RUNS"); do   # interleaved, so drift hits both alike
        rps "$lu" >>"$TMP/l"
        rps "$nu" >>"$TMP/n"
    done
    lm=$(median <"$TMP/l"); nm=$(median <"$TMP/n")
    printf '%-4s lode /healthz   median %10.0f req/s   runs: %s\n' "$transport" "$lm" "$(tr '\n' ' ' <"$TMP/l")"
    printf '%-4s nghttpd static  median %10.0f req/s   runs: %s\n' "$transport" "$nm" "$(tr '\n' ' ' <"$TMP/n")"
    awk -v a="$lm" -v b="$nm" -v t="$transport" 'BEGIN {printf "%-4s ratio lode/nghttpd  %.2f\n", t, a/b}'
done
