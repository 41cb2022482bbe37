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
DIR=$(mktemp -d /tmp/lode-bench-pg.XXXXXX)
trap 'lode_pg_stop "$DIR/pg"; rm -rf "$DIR"' EXIT
LODE_PG_FSYNC=${LODE_BENCH_FSYNC:-off} lode_pg_start "$DIR/pg" >/dev/null
"$BUILD/bench/bond_settle" "$LODE_PG_URL" "${2:-200}"
