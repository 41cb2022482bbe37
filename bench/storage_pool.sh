#!/bin/sh
# bench/storage_pool.sh BUILD_DIR — the storage pool's SELECT 1 throughput beside pgbench running
# the same statement with the same number of clients (extended protocol, as PQexecParams), on a
# private throwaway PostgreSQL cluster; prints both and the ratio. Figures only.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/bench}
LODE_ROOT=$ROOT
. "$ROOT/scripts/lib/pg.sh"
lode_pg_throwaway off
DIR=$LODE_PG_TMP
BIN=$(lode_pg_bindir)
printf 'SELECT 1;\n' >"$DIR/select1.sql"
chmod 644 "$DIR/select1.sql"; chmod 755 "$DIR"

"$BUILD/bench/storage_pool" "$LODE_PG_URL" 20000 | tee "$DIR/pool.txt"
echo "pgbench: SELECT 1, extended protocol, 5 s per run, median of 3 runs"
for c in 1 2 4; do
    tps=""
    for i in 1 2 3; do
        t=$(lode_pg_as_owner "$BIN/pgbench" -h "$LODE_PG_DIR" -U lode -n -M extended \
            -f "$DIR/select1.sql" -c $c -j $c -T 5 lode 2>/dev/null |
            sed -n 's/^tps = \([0-9.]*\).*/\1/p')
        tps="$tps $t"
    done
    med=$(echo $tps | tr ' ' '\n' | sort -n | sed -n 2p)
    pool=$(sed -n "s/^  pool size $c: \([0-9]*\) jobs\/s/\1/p" "$DIR/pool.txt")
    awk -v c=$c -v p="$pool" -v t="$med" \
        'BEGIN { printf "  %d clients: %.0f tps; pool/pgbench = %.2f\n", c, t, p / t }'
done
