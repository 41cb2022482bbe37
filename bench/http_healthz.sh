#!/usr/bin/env bash
# bench/http_healthz.sh — requests/s of `GET /healthz` with h2load, over h2c and TLS, next to
# nghttpd serving a static file of the same bytes in the same run, and their ratio.
#
#   bench/http_healthz.sh [BUILD_DIR]     (default build/release; built by scripts/up)
# Environment: RUNS (default 5), REQUESTS (default 100000), CLIENTS (32), STREAMS (10).
# Both servers get one event loop / worker thread and h2load one thread, so on a 2-core machine
# each side has a core. Prints the median of RUNS and every run.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-5}
REQUESTS=${REQUESTS:-100000}
CLIENTS=${CLIENTS:-32}
STREAMS=${STREAMS:-10}
command -v h2load >/dev/null && command -v nghttpd >/dev/null ||
    { echo "needs h2load and nghttpd (Debian: nghttp2-client, nghttp2-server)" >&2; exit 2; }

LODE_PG_FSYNC=off bench_setup "${1:-}"
bench_serve --threads 1
mkdir -p "$TMP/www"
printf '{"status":"ok"}' >"$TMP/www/healthz"
NH=$(bench_port); NS=$(bench_port)
nghttpd --no-tls -n 1 -d "$TMP/www" "$NH" >/dev/null 2>&1 &
BENCH_PIDS+=($!)
nghttpd -n 1 -d "$TMP/www" "$NS" "$TMP/key.pem" "$TMP/cert.pem" >/dev/null 2>&1 &
BENCH_PIDS+=($!)
sleep 0.5

rps() { # rps URL -> requests per second of one h2load run
    h2load -n "$REQUESTS" -c "$CLIENTS" -m "$STREAMS" -t 1 "$1" 2>/dev/null |
        awk '/^finished in/ {gsub(",", "", $4); print $4}'
}

echo "h2load -n $REQUESTS -c $CLIENTS -m $STREAMS -t 1, $RUNS runs each, $(nproc) cores"
for transport in h2c tls; do
    if [ "$transport" = h2c ]; then lu="$H/healthz"; nu="http://127.0.0.1:$NH/healthz"
    else lu="$S/healthz"; nu="https://127.0.0.1:$NS/healthz"; fi
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
