#!/usr/bin/env bash
# bench/ledger_api.sh — durable appends per second through the API: h2load POSTs
# /v1/attestations with many concurrent clients; each response is a receipt, so it counts only
# entries that are integrated in the log and covered by a signed checkpoint. PostgreSQL runs
# with fsync on (durability is the point). Also prints inclusion-proof latency through the API.
#
#   bench/ledger_api.sh [BUILD_DIR]
# Environment: RUNS (3), REQUESTS (5000), CLIENTS (64), STREAMS (4), BATCH (256), DELAY_MS (5).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
REQUESTS=${REQUESTS:-5000}
CLIENTS=${CLIENTS:-64}
STREAMS=${STREAMS:-4}
BATCH=${BATCH:-256}
DELAY_MS=${DELAY_MS:-5}

bench_setup "${1:-}"
bench_serve --ledger-batch-max "$BATCH" --ledger-batch-delay-ms "$DELAY_MS" --db-pool-size 16
TOKEN=$("$LODE" account create --role operator --name bench | tail -n 1)
printf '{"sha256":"%s"}' "$(printf bench | sha256sum | cut -c1-64)" >"$TMP/body.json"

echo "POST /v1/attestations: h2load -n $REQUESTS -c $CLIENTS -m $STREAMS over h2c, batch <= $BATCH, delay $DELAY_MS ms, $(nproc) cores"
: >"$TMP/rps"
for run in $(seq 1 "$RUNS"); do
    h2load -n "$REQUESTS" -c "$CLIENTS" -m "$STREAMS" -t 1 -d "$TMP/body.json" \
        -H 'content-type: application/json' -H "authorization: Bearer $TOKEN" \
        "$H/v1/attestations" >"$TMP/h2load.out" 2>&1
    ok=$(awk '/^status codes:/ {print $3}' "$TMP/h2load.out")
    r=$(awk '/^finished in/ {gsub(",", "", $4); print $4}' "$TMP/h2load.out")
    echo "run $run: $r appends/s ($ok of $REQUESTS answered 2xx)"
    echo "$r" >>"$TMP/rps"
done
echo "median: $(median <"$TMP/rps") durable appends/s"

SIZE=$(curl -s "$H/v1/ledger" | jq .size)
echo "log size now $SIZE; inclusion proofs through the API (GET /v1/ledger/proofs/inclusion):"
: >"$TMP/lat"
for i in $(seq 1 200); do
    idx=$(( (i * 7919) % SIZE ))
    curl -s -o /dev/null -w '%{time_total}\n' --http2-prior-knowledge \
        "$H/v1/ledger/proofs/inclusion?index=$idx&tree_size=$SIZE" >>"$TMP/lat"
done
sort -n "$TMP/lat" | awk '{a[NR]=$1} END {printf "  p50 %.2f ms, p99 %.2f ms over %d requests (curl, one connection each)\n", a[int(NR*0.5)]*1000, a[int(NR*0.99)]*1000, NR}'
