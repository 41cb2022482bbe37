#!/bin/sh
# bench/bond_settle.sh BUILD_DIR [BONDS] — bond lifecycle and settlement throughput through
# PostgreSQL on a private throwaway cluster (fsync off unless LODE_BENCH_FSYNC=on, as the other
# storage benchmarks: the figures measure lode's statements and locking, not the disk).
# Figures only.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build/bench}
LODE_ROOT=$ROOT
. "$ROOT/scripts/lib/pg.sh"
lode_pg_throwaway ${LODE_BENCH_FSYNC:-off}
"$BUILD/bench/bond_settle" "$LODE_PG_URL" "${2:-200}"
