# bench/detector_lib.sh — shared by the detector benchmark scripts (POSIX sh, sourced).
# detector_lode BUILD_DIR: prints BUILD_DIR/cli/lode, or fails when it is not built.
detector_lode() {
    [ -x "$1/cli/lode" ] || { echo "no lode binary at $1/cli/lode" >&2; return 2; }
    echo "$1/cli/lode"
}

# detect_each DIR LODE [MODEL]: scores every DIR/*.jsonl ("text" field) with `LODE detect` into
# DIR/<name>.out, with MODEL or else the shipped model.
detect_each() {
    for f in "$1"/*.jsonl; do
        "$2" detect --input "$f" --field text ${3:+--model "$3"} > "${f%.jsonl}.out"
    done
}
