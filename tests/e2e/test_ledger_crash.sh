#!/usr/bin/env bash
# Crash safety of the ledger: kill -9 the server while many clients append; after a restart
# every acknowledged entry is in the log at the index its receipt named, the new checkpoint is
# consistent with every checkpoint served before the crash, and no index is used twice.
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 32 --ledger-batch-delay-ms 5

CURL=(curl -sS --max-time 10 --http2-prior-knowledge)
OP=$(operator_token)
T="$E2E_TMP"
mkdir -p "$T/ack" "$T/cps"

appender() { # appender ID: appends until the server goes away, keeping every receipt
    local id=$1 n=0 h
    while [ "$n" -lt 400 ]; do
        h=$(printf 'crash %s %s' "$id" "$n" | sha256sum | cut -c1-64)
        code=$("${CURL[@]}" -H "Authorization: Bearer $OP" -H 'content-type: application/json' \
            -o "$T/ack/$id.$n" -w '%{http_code}' -d "{\"sha256\":\"$h\"}" "$H/v1/attestations" 2>/dev/null)
        if [ "$code" != 201 ]; then rm -f "$T/ack/$id.$n"; break; fi
        n=$((n + 1))
    done
}
watcher() { # keeps every checkpoint the server serves
    while "${CURL[@]}" -o "$T/cp.tmp" "$H/ledger/checkpoint" 2>/dev/null; do
        mv "$T/cp.tmp" "$T/cps/$(sed -n 2p "$T/cp.tmp" 2>/dev/null || echo x)"
    done
}

pids=()
for id in $(seq 1 12); do appender "$id" & pids+=($!); done
watcher & pids+=($!)
sleep 3
e2e_crash
wait "${pids[@]}" 2>/dev/null
ACKED=$(ls "$T/ack" | wc -l)
echo "acknowledged before the crash: $ACKED entries; checkpoints seen: $(ls "$T/cps" | wc -l)"
check "clients appended before the crash" test "$ACKED" -gt 20

e2e_serve
sleep 1
"${CURL[@]}" "$H/v1/ledger" | jq -r .verifier_key >"$T/vkey"
"${CURL[@]}" "$H/ledger/checkpoint" >"$T/new"
SIZE=$(sed -n 2p "$T/new")
check "the checkpoint after restart verifies" "$LODE_BIN" verify checkpoint --vkey "@$T/vkey" "$T/new"
check "the log holds at least every acknowledged entry" test "$SIZE" -ge "$ACKED"

# every acknowledged entry is at the index its receipt named, with the same leaf hash
missing=0
for f in "$T"/ack/*; do
    idx=$(jq .index "$f")
    leaf=$(jq -r .leaf_hash "$f")
    got=$("${CURL[@]}" "$H/v1/ledger/entries/$idx" | jq -r .leaf_hash)
    [ "$got" = "$leaf" ] || missing=$((missing + 1))
done
expect_eq "every acknowledged entry survived at its index" 0 "$missing"
expect_eq "receipts name distinct indices" "$ACKED" "$(jq .index "$T"/ack/* | sort -n | uniq | wc -l)"

# every checkpoint served before the crash is consistent with the new one
inconsistent=0
for cp in "$T"/cps/*; do
    old=$(basename "$cp")
    [ "$old" -gt 0 ] 2>/dev/null || continue
    "${CURL[@]}" "$H/v1/ledger/proofs/consistency?from=$old&to=$SIZE" >"$T/proof"
    "$LODE_BIN" verify consistency --vkey "@$T/vkey" --old "$cp" --new "$T/new" --proof "$T/proof" \
        >/dev/null 2>&1 || inconsistent=$((inconsistent + 1))
done
expect_eq "every earlier checkpoint is consistent with the new one" 0 "$inconsistent"

# no index used twice: each entry's leaf hash leads back to its own index
dup=0
for i in $(seq 0 $((SIZE - 1))); do
    leaf=$("${CURL[@]}" "$H/v1/ledger/entries/$i" | jq -r .leaf_hash)
    [ "$("${CURL[@]}" "$H/v1/ledger/leaves/$leaf" | jq .index)" = "$i" ] || dup=$((dup + 1))
done
expect_eq "no entry appears twice and no index is reused" 0 "$dup"

# appends go on after the restart
h=$(printf 'after the crash' | sha256sum | cut -c1-64)
expect_eq "appends work after restart" 201 "$("${CURL[@]}" -H "Authorization: Bearer $OP" \
    -H 'content-type: application/json' -o /dev/null -w '%{http_code}' -d "{\"sha256\":\"$h\"}" "$H/v1/attestations")"
check "a monitor accepts the log" "$LODE_BIN" verify monitor --url "$H/ledger" --state "$T/mon" --vkey "@$T/vkey"
e2e_finish
