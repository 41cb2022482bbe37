#!/bin/sh
# tests/unit/dedupe/cli_dedupe.sh LODE — `lode dedupe` end to end on small fixtures: output
# format and order, exact and near duplicates, clusters, bad-line handling, usage errors.
set -u
LODE=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
check() { # NAME EXPECTED ACTUAL
    if [ "$2" != "$3" ]; then
        printf 'FAIL %s\n--- expected\n%s\n--- actual\n%s\n' "$1" "$2" "$3"
        fail=1
    fi
}

cat > "$T/in.jsonl" <<'JSONL'
{"text": "The quick brown fox jumps over the lazy dog near the river bank today."}
{"text": "the QUICK brown fox jumps over the lazy dog, near the river bank today"}
{"id": 7, "text": "Completely unrelated: a recipe for bread with flour, water and salt."}
{"text": "The quick brown fox jumps over the lazy dog near the river bank this morning."}
{"text": "ＴＨＥ quick brown ﬁx"}
{"text": ""}
{"text": "  ...  "}
JSONL
out=$("$LODE" dedupe --input "$T/in.jsonl"); rc=$?
check "exit status" 0 "$rc"
check "records" '{"index":0,"cluster":0,"duplicate_of":null,"similarity":null}
{"index":1,"cluster":0,"duplicate_of":0,"similarity":1.0000}
{"index":2,"cluster":2,"duplicate_of":null,"similarity":null}
{"index":3,"cluster":0,"duplicate_of":0,"similarity":0.7973}
{"index":4,"cluster":4,"duplicate_of":null,"similarity":null}
{"index":5,"cluster":5,"duplicate_of":null,"similarity":null}
{"index":6,"cluster":5,"duplicate_of":5,"similarity":1.0000}' "$out"

# a stricter threshold drops the near duplicate, not the exact one
out=$("$LODE" dedupe --input "$T/in.jsonl" --threshold 0.9 | sed -n 2,4p)
check "threshold 0.9" '{"index":1,"cluster":0,"duplicate_of":0,"similarity":1.0000}
{"index":2,"cluster":2,"duplicate_of":null,"similarity":null}
{"index":3,"cluster":3,"duplicate_of":null,"similarity":null}' "$out"

# bad lines: fail reports the line and stops with 2; skip writes an error record and goes on
printf '{"text": "a b c"}\nnot json\n{"text": 5}\n{"body": "x"}\n{"text": "a\\ud800"}\n{"text": "caf\351"}\n{"text": "a b c"}\n' > "$T/bad.jsonl"
out=$("$LODE" dedupe --input "$T/bad.jsonl" 2> "$T/err"); rc=$?
check "fail: status" 2 "$rc"
check "fail: output before the bad line" '{"index":0,"cluster":0,"duplicate_of":null,"similarity":null}' "$out"
check "fail: message" "lode dedupe: line 2: malformed JSON" "$(head -1 "$T/err" | cut -c1-35)"
out=$("$LODE" dedupe --input "$T/bad.jsonl" --on-error skip 2> "$T/err"); rc=$?
check "skip: status" 0 "$rc"
check "skip: records" 7 "$(printf '%s\n' "$out" | wc -l | tr -d ' ')"
check "skip: error records" 5 "$(printf '%s\n' "$out" | grep -c '"error":')"
check "skip: duplicate after bad lines" '{"index":6,"cluster":0,"duplicate_of":0,"similarity":1.0000}' "$(printf '%s\n' "$out" | tail -1)"
check "skip: warnings" 5 "$(wc -l < "$T/err" | tr -d ' ')"

# a blank line is a bad line too
printf '{"text": "a"}\n\n{"text": "a"}\n' > "$T/blank.jsonl"
"$LODE" dedupe --input "$T/blank.jsonl" > /dev/null 2> "$T/err"; rc=$?
check "blank line: status" 2 "$rc"
check "blank line: message" "lode dedupe: line 2: line is empty" "$(cat "$T/err")"

# usage errors
"$LODE" dedupe --input "$T/in.jsonl" --threshold 1.5 > /dev/null 2>&1; check "threshold > 1" 2 "$?"
"$LODE" dedupe --input "$T/in.jsonl" --threshold x > /dev/null 2>&1; check "threshold text" 2 "$?"
"$LODE" dedupe --input "$T/in.jsonl" --shingle byte:3 > /dev/null 2>&1; check "scheme" 2 "$?"
"$LODE" dedupe --input "$T/missing.jsonl" > /dev/null 2>&1; check "missing file" 2 "$?"
"$LODE" dedupe > /dev/null 2>&1; check "no input" 2 "$?"
"$LODE" dedupe --help > /dev/null 2>&1; check "help" 0 "$?"
# standard input, empty input
check "stdin" 7 "$("$LODE" dedupe --input - < "$T/in.jsonl" | wc -l | tr -d ' ')"
check "empty input" "" "$("$LODE" dedupe --input /dev/null)"
exit $fail
