#!/bin/sh
# tests/unit/ledger/verify_cli.sh — `lode verify` end to end over logs written by ledger_testlog:
# exit codes 0 (verified), 1 (does not verify), 2 (usage), 3 (I/O), and a monitor that
# follows a growing log over file:// and refuses a forked one.
#   verify_cli.sh LODE LEDGER_TESTLOG WORKDIR
set -u
LODE=$1
GEN=$2
W=$3
rm -rf "$W"
mkdir -p "$W"
failures=0

expect() {
    want=$1
    shift
    "$@" >"$W/out" 2>"$W/err"
    got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL (exit $got, expected $want): $*"
        cat "$W/out" "$W/err"
        failures=$((failures + 1))
    else
        echo "ok (exit $got): $(cat "$W/out" "$W/err" | head -n 1)"
    fi
}

"$GEN" "$W/log" 1000 0 600 345 || exit 1
L=$W/log
VK=@$L/vkey

# checkpoint
expect 0 "$LODE" verify checkpoint --vkey "$VK" "$L/checkpoint"
expect 0 "$LODE" verify checkpoint --vkey "$(cat "$L/vkey")" "$L/checkpoint.600"
expect 1 "$LODE" verify checkpoint --vkey "@$L/vkey.other" "$L/checkpoint"
sed 's/^1000$/1001/' "$L/checkpoint" >"$W/tampered"
expect 1 "$LODE" verify checkpoint --vkey "$VK" "$W/tampered"
printf 'not a note\n' >"$W/garbage"
expect 2 "$LODE" verify checkpoint --vkey "$VK" "$W/garbage"
expect 2 "$LODE" verify checkpoint --vkey "not+a+key" "$L/checkpoint"
expect 2 "$LODE" verify checkpoint "$L/checkpoint"
expect 3 "$LODE" verify checkpoint --vkey "$VK" "$W/missing"
expect 2 "$LODE" verify
expect 2 "$LODE" verify nonsense

# inclusion
expect 0 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index 345 \
    --entry "$L/entry.345" --proof "$L/inclusion.345"
expect 1 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index 344 \
    --entry "$L/entry.345" --proof "$L/inclusion.345"
expect 1 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index 5000 \
    --entry "$L/entry.345" --proof "$L/inclusion.345"
printf ' ' | cat "$L/entry.345" - >"$W/entry.changed"
expect 1 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index 345 \
    --entry "$W/entry.changed" --proof "$L/inclusion.345"
sed '2s/^./A/;2s/^AA/BA/' "$L/inclusion.345" >"$W/proof.changed"
expect 1 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index 345 \
    --entry "$L/entry.345" --proof "$W/proof.changed"
expect 2 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index 345 \
    --entry "$L/entry.345" --proof "$W/garbage"
expect 2 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index -1 \
    --entry "$L/entry.345" --proof "$L/inclusion.345"
expect 2 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index x \
    --entry "$L/entry.345" --proof "$L/inclusion.345"
expect 2 "$LODE" verify inclusion --vkey "$VK" --checkpoint "$L/checkpoint" --index 345 \
    --proof "$L/inclusion.345"

# consistency (JSON proof)
expect 0 "$LODE" verify consistency --vkey "$VK" --old "$L/checkpoint.600" \
    --new "$L/checkpoint" --proof "$L/consistency.600"
expect 1 "$LODE" verify consistency --vkey "$VK" --old "$L/checkpoint" \
    --new "$L/checkpoint.600" --proof "$L/consistency.600"
printf '[]\n' >"$W/empty.json"
expect 1 "$LODE" verify consistency --vkey "$VK" --old "$L/checkpoint.600" \
    --new "$L/checkpoint" --proof "$W/empty.json"
"$GEN" "$W/zero" 10 0 0 1 || exit 1
expect 0 "$LODE" verify consistency --vkey "$VK" --old "$W/zero/checkpoint.0" \
    --new "$W/zero/checkpoint" --proof "$W/zero/consistency.0"

# monitor over file://: first use, growth, no change, a fork, a corrupt tile, absent log
M=$W/mon
"$GEN" "$M" 1000 0 0 1 || exit 1
expect 0 "$LODE" verify monitor --url "file://$M" --state "$W/state" --vkey "$VK"
"$GEN" "$M" 1500 0 0 1 || exit 1
expect 0 "$LODE" verify monitor --url "file://$M/" --state "$W/state" --vkey "$VK"
expect 0 "$LODE" verify monitor --url "file://$M" --state "$W/state" --vkey "$VK"
grep -qx 1500 "$W/state" || { echo "FAIL: state does not hold size 1500"; failures=$((failures + 1)); }
cp "$W/state" "$W/state.before"
rm -rf "$W/fork"
"$GEN" "$W/fork" 1600 700 0 1 || exit 1
expect 1 "$LODE" verify monitor --url "file://$W/fork" --state "$W/state" --vkey "$VK"
cmp -s "$W/state" "$W/state.before" || { echo "FAIL: a refused checkpoint replaced the state"; failures=$((failures + 1)); }
"$GEN" "$M" 2000 0 0 1 || exit 1
# leaf 1500 (hash 220 of tile 0/005) is under a node the proof from 1500 needs
printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' | dd of="$M/tile/0/005" bs=1 seek=7040 conv=notrunc 2>/dev/null
expect 1 "$LODE" verify monitor --url "file://$M" --state "$W/state" --vkey "$VK"
expect 1 "$LODE" verify monitor --url "file://$M" --state "$W/state" --vkey "@$L/vkey.other"
expect 3 "$LODE" verify monitor --url "file://$W/absent" --state "$W/state" --vkey "$VK"
expect 2 "$LODE" verify monitor --state "$W/state" --vkey "$VK"

echo "$failures failures"
[ "$failures" -eq 0 ]
