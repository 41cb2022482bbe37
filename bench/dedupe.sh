#!/bin/sh
# bench/dedupe.sh — figures for docs/dedupe.md: quality on the labelled pair sets, engine
# throughput, and `lode dedupe` wall time and peak memory at scale, each next to a reference.
#
# usage: bench/dedupe.sh [DATA_DIR] [BUILD_DIR]
#   DATA_DIR   shared reference data (default ../shared/data)
#   BUILD_DIR  a Release build with targets lode and dedupe_throughput (default build/release):
#              cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release &&
#              cmake --build build/release --target lode dedupe_throughput
# Environment: LODE_BIN (default BUILD_DIR/cli/lode), RUNS (default 3), WORK (generated data,
# default ${TMPDIR:-/tmp}/lode-dedupe-bench; files are reused when present: generation is
# deterministic). Needs python3 and /usr/bin/time (Debian package "time").
set -eu

DATA=${1:-../shared/data}
BUILD=${2:-build/release}
LODE_BIN=${LODE_BIN:-$BUILD/cli/lode}
THROUGHPUT=$BUILD/bench/dedupe_throughput
RUNS=${RUNS:-3}
WORK=${WORK:-${TMPDIR:-/tmp}/lode-dedupe-bench}
HERE=$(dirname "$0")
GEN="python3 $HERE/dedupe_data.py"

for f in "$LODE_BIN" "$THROUGHPUT" /usr/bin/time; do
    [ -x "$f" ] || { echo "missing $f (see the usage comment)" >&2; exit 2; }
done
[ -d "$DATA/detector" ] || { echo "no reference data at $DATA" >&2; exit 2; }
mkdir -p "$WORK"

echo "== machine: $(nproc) cores, $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME"); load $(cut -d' ' -f1-3 /proc/loadavg)"
[ -f "$WORK/eval_short.jsonl" ] || $GEN eval "$DATA" "$WORK"
[ -f "$WORK/short_1m.jsonl" ] || $GEN short "$DATA" 1000000 "$WORK/short_1m.jsonl"
[ -f "$WORK/long_100k.jsonl" ] || $GEN long "$DATA" 100000 "$WORK/long_100k.jsonl"

echo
echo "== quality: labelled pair sets (ground truth: word edit rate <= 10%)"
for set in short long; do
    for args in "" "--threshold 0.8" "--verify estimate" "--shingle word:3 --threshold 0.6"; do
        # shellcheck disable=SC2086
        "$LODE_BIN" dedupe --input "$WORK/eval_$set.jsonl" $args > "$WORK/eval_out.jsonl"
        printf '%-6s %-36s ' "$set" "${args:-(defaults)}"
        $GEN score "$WORK/eval_$set.labels.tsv" "$WORK/eval_out.jsonl" | sed -n 2p
    done
done

echo
echo "== throughput (one core; reference: SHA-256 of the same bytes in the same process)"
"$THROUGHPUT" "$WORK/short_1m.jsonl" 200000 char:5 word:3 2>/dev/null
"$THROUGHPUT" "$WORK/long_100k.jsonl" 20000 char:5 word:3 2>/dev/null

# median_run NAME CMD...: runs CMD $RUNS times under /usr/bin/time -v; prints the median wall
# time, the median CPU time (user + system: less sensitive to other load on the machine) and
# the largest peak RSS.
median_run() {
    name=$1
    shift
    : > "$WORK/times"
    i=0
    while [ $i -lt "$RUNS" ]; do
        /usr/bin/time -v "$@" > /dev/null 2> "$WORK/time.txt"
        wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$WORK/time.txt" |
            awk -F: '{ s = 0; for (k = 1; k <= NF; k++) s = s * 60 + $k; print s }')
        rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt")
        cpu=$(sed -n 's/.*User time (seconds): //p; s/.*System time (seconds): //p' "$WORK/time.txt" |
            awk '{ s += $1 } END { print s }')
        echo "$wall $rss $cpu" >> "$WORK/times"
        i=$((i + 1))
    done
    sort -n -k3 "$WORK/times" | awk '{ c[NR] = $3 } END { print c[int((NR + 1) / 2)] }' > "$WORK/cpu"
    sort -n "$WORK/times" | awk -v name="$name" -v runs="$RUNS" -v cpu="$(cat "$WORK/cpu")" '
        { w[NR] = $1; if ($2 > m) m = $2 }
        END { printf "%-44s wall %7.2f s  cpu %7.2f s  peak RSS %7.1f MiB  (median of %d)\n",
              name, w[int((NR + 1) / 2)], cpu, m / 1024, runs }'
    sort -n "$WORK/times" | awk '{ w[NR] = $1 } END { print w[int((NR + 1) / 2)] }' > "$WORK/median"
}

echo
echo "== lode dedupe at scale (reference floor: exact dedupe of lower-cased lines, sort -u)"
for f in short_1m long_100k; do
    input="$WORK/$f.jsonl"
    echo "(load average $(cut -d' ' -f1-3 /proc/loadavg))"
    echo "-- $f: $(wc -l < "$input") records, $(($(wc -c < "$input") / 1048576)) MiB"
    "$LODE_BIN" dedupe --input "$input" --stats 2>&1 > /dev/null | tail -1
    median_run "lode dedupe (char:5, threshold default)" "$LODE_BIN" dedupe --input "$input"
    t_lode=$(cat "$WORK/median")
    c_lode=$(cat "$WORK/cpu")
    if [ "$f" = long_100k ]; then
        median_run "lode dedupe --shingle word:3 --threshold 0.6" \
            "$LODE_BIN" dedupe --input "$input" --shingle word:3 --threshold 0.6
    fi
    median_run "lode dedupe --verify estimate" \
        "$LODE_BIN" dedupe --input "$input" --verify estimate
    median_run "reference: tr A-Z a-z | sort -u | wc -l" \
        sh -c "LC_ALL=C tr 'A-Z' 'a-z' < '$input' | LC_ALL=C sort -u | wc -l"
    t_ref=$(cat "$WORK/median")
    c_ref=$(cat "$WORK/cpu")
    awk -v a="$t_lode" -v b="$t_ref" -v c="$c_lode" -v d="$c_ref" 'BEGIN {
        printf "ratio lode dedupe / sort -u floor: wall %.2f, cpu %.2f\n", a / b, c / d }'
done
