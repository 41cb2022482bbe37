#!/usr/bin/env bash
# bench/items_api.sh — contributions per second through the API, with dedupe and the ledger:
# every 201 counts an item that was normalised, signed off (MinHash), checked against the
# persistent band index, stored (zstd blob, item row, band keys) and integrated in the ledger
# under a signed checkpoint. PostgreSQL runs with fsync on.
#
# The records are distinct (h2load can only repeat one body, which would measure the
# exact-duplicate path): sentences of 12 to 30 words drawn from a 3,000-word synthetic
# vocabulary with a fixed seed, one in ten a near duplicate (one word changed) of an earlier
# one, so the near-duplicate look-up and its verification run on a growing index. The dataset
# accepts duplicates with a flag, so every upload is a 201. Each run uses a fresh dataset.
#   * single records: one JSON record per POST, PARALLEL curl processes at once, each sending
#     its share of the records one after the other over its own HTTP/2 connection;
#   * batches: NDJSON of BATCH_RECORDS records per POST, 4 connections.
#
#   bench/items_api.sh [BUILD_DIR]
# Environment: RUNS (3), RECORDS (2000), PARALLEL (32), BATCH_RECORDS (100), LEDGER_BATCH (256),
# DELAY_MS (5).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
RUNS=${RUNS:-3}
RECORDS=${RECORDS:-2000}
PARALLEL=${PARALLEL:-32}
BATCH_RECORDS=${BATCH_RECORDS:-100}
LEDGER_BATCH=${LEDGER_BATCH:-256}
DELAY_MS=${DELAY_MS:-5}

bench_setup "${1:-}"
bench_serve --ledger-batch-max "$LEDGER_BATCH" --ledger-batch-delay-ms "$DELAY_MS" --db-pool-size 16
TOKEN=$("$LODE" account create --role contributor --name bench | tail -n 1)

# records for all runs: run r uses lines [r * RECORDS, (r + 1) * RECORDS)
python3 - "$TMP/records.txt" "$RUNS" "$RECORDS" <<'EOF'
import json, random, sys
out, runs, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(20261125)
letters = "abcdefghijklmnopqrstuvwxyz"
vocab = sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(3000)})
texts = []
for i in range(runs * n):
    if texts and rng.random() < 0.1 and i % n > 0:
        words = rng.choice(texts[(i // n) * n:]).split()
        words[rng.randrange(len(words))] = rng.choice(vocab)
        texts.append(" ".join(words))
    else:
        texts.append(" ".join(rng.choice(vocab) for _ in range(rng.randint(12, 30))) + ".")
with open(out, "w") as f:
    for t in texts:
        f.write(json.dumps({"text": t}) + "\n")
EOF

new_dataset() {
    curl -s --http2-prior-knowledge -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        -d "{\"name\":\"bench-$1\",\"policy\":{\"exact_duplicate\":\"accept\",\"near_duplicate\":\"accept\"}}" \
        "$H/v1/datasets" | jq .id
}

# curl configs: the files split into CONNS configs; each curl process sends its files one after
# the other over one HTTP/2 connection (TLS with ALPN h2: curl 7.88 fails to reuse a cleartext
# prior-knowledge connection for a second request), CONNS processes at a time.
curl_configs() { # DATASET CONTENT_TYPE CONNS OUTDIR FILES...
    local ds="$1" ct="$2" conns="$3" dir="$4" i=0; shift 4
    mkdir -p "$dir"; rm -f "$dir"/*.cfg
    for f in "$@"; do
        local cfg="$dir/$((i % conns)).cfg"
        [ -f "$cfg" ] && echo next >>"$cfg"
        printf 'url = "%s/v1/datasets/%s/items"\nhttp2\ninsecure\nsilent\nheader = "authorization: Bearer %s"\nheader = "content-type: %s"\ndata-binary = "@%s"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
            "$S" "$ds" "$TOKEN" "$ct" "$f" >>"$cfg"
        i=$((i + 1))
    done
}
send() { # DIR CONNS -> status codes on stdout
    ls "$1"/*.cfg | xargs -P "$2" -n 1 curl -K
}

now() { date +%s.%N; }

echo "POST /v1/datasets/{id}/items: $RECORDS distinct records per run, $(nproc) cores, ledger batch <= $LEDGER_BATCH, delay $DELAY_MS ms"
: >"$TMP/single"
: >"$TMP/batch"
for run in $(seq 1 "$RUNS"); do
    mkdir -p "$TMP/r$run/one" "$TMP/r$run/nd"
    start=$(( (run - 1) * RECORDS + 1 ))
    sed -n "${start},$((start + RECORDS - 1))p" "$TMP/records.txt" >"$TMP/r$run/all"
    split -l 1 -a 6 "$TMP/r$run/all" "$TMP/r$run/one/"
    split -l "$BATCH_RECORDS" -a 6 "$TMP/r$run/all" "$TMP/r$run/nd/"

    ds=$(new_dataset "single-$run")
    curl_configs "$ds" application/json "$PARALLEL" "$TMP/cfg1" "$TMP/r$run"/one/*
    t0=$(now)
    send "$TMP/cfg1" "$PARALLEL" >"$TMP/codes" || true
    t1=$(now)
    ok=$(grep -c '^201$' "$TMP/codes" || true)
    r=$(echo "$ok $t0 $t1" | awk '{printf "%.0f", $1 / ($3 - $2)}')
    echo "run $run, single records ($PARALLEL connections): $r items/s ($ok of $RECORDS answered 201)"
    echo "$r" >>"$TMP/single"

    ds=$(new_dataset "batch-$run")
    curl_configs "$ds" application/x-ndjson 4 "$TMP/cfg2" "$TMP/r$run"/nd/*
    t0=$(now)
    send "$TMP/cfg2" 4 >"$TMP/codes" || true
    t1=$(now)
    ok=$(grep -c '^201$' "$TMP/codes" || true)
    items=$(( ok * BATCH_RECORDS ))
    r=$(echo "$items $t0 $t1" | awk '{printf "%.0f", $1 / ($3 - $2)}')
    echo "run $run, NDJSON batches of $BATCH_RECORDS (4 connections): $r items/s ($ok batches answered 201)"
    echo "$r" >>"$TMP/batch"
done
echo "median: $(median <"$TMP/single") items/s as single records, $(median <"$TMP/batch") items/s in NDJSON batches of $BATCH_RECORDS"
PSQL="$(lode_pg_bindir)/psql"
echo "verdicts over all runs: $("$PSQL" "$LODE_DATABASE_URL" -qAtc "SELECT count(*) FILTER (WHERE dedupe_verdict = 'near') || ' near, ' || count(*) FILTER (WHERE dedupe_verdict = 'exact') || ' exact, ' || count(*) || ' items' FROM items")"
