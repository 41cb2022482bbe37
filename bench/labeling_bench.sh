#!/bin/sh
# bench/labeling_bench.sh — aggregation time and peak memory for 100k and 10M synthetic answers.
# Builds an optimised, unsanitised copy in build/labeling/release, then prints the figures:
# medians of RUNS_SMALL runs at 100k answers and RUNS_LARGE runs at 10M answers, per method.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build/labeling/release}
RUNS_SMALL=${RUNS_SMALL:-5}
RUNS_LARGE=${RUNS_LARGE:-3}
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLODE_SANITIZE=OFF -DLODE_TESTS=OFF >/dev/null
cmake --build "$BUILD" --target labeling_bench -j2 >/dev/null
uname -sr
nproc | sed 's/^/cores: /'
"$BUILD"/bench/labeling_bench 100000 "$RUNS_SMALL"
"$BUILD"/bench/labeling_bench 10000000 "$RUNS_LARGE" "${METHODS_LARGE:-mv,onecoin,hds,ds,auto}"
