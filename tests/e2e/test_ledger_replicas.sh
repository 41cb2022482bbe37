#!/usr/bin/env bash
# Two `lode serve` replicas on one database: both accept appends, exactly one sequencer
# integrates at a time, every receipt names a distinct index, receipts from either replica
# verify against the checkpoints of the other, and when the leader stops the other takes over.
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 16 --ledger-batch-delay-ms 5

T="$E2E_TMP"
H2_PORT=$(free_port)
H2="http://127.0.0.1:$H2_PORT"
"$LODE_BIN" serve --listen "127.0.0.1:$H2_PORT" --tls-listen "" --threads 1 --db-pool-size 4 \
    --ledger-key "$T/checkpoint.key" --ledger-origin "lode.test/e2e" \
    >>"$T/server2.out" 2>>"$T/server2.log" &
SECOND=$!
for _ in $(seq 1 100); do curl -sf "$H2/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
check "the second replica serves" curl -sf "$H2/readyz"

CURL=(curl -sS --max-time 30 --http2-prior-knowledge)
OP=$(operator_token)
attest() { # attest BASE N
    local h; h=$(printf 'replica %s' "$2" | sha256sum | cut -c1-64)
    "${CURL[@]}" -H "Authorization: Bearer $OP" -H 'content-type: application/json' \
        -o "$T/r$2" -w '%{http_code}\n' -d "{\"sha256\":\"$h\"}" "$1/v1/attestations"
}
pids=()
for i in $(seq 1 30); do
    if [ $((i % 2)) -eq 0 ]; then attest "$H" "$i" >>"$T/codes" & else attest "$H2" "$i" >>"$T/codes" & fi
    pids+=($!)
done
wait "${pids[@]}"
expect_eq "30 appends through two replicas succeed" 30 "$(grep -c 201 "$T/codes")"
expect_eq "every receipt names a distinct index" 30 "$(jq .index "$T"/r* | sort -n | uniq | wc -l)"
leaders=$(cat "$T/server.log" "$T/server2.log" | grep -c '"event":"ledger_sequencer_leader"')
expect_eq "exactly one replica became the sequencer" 1 "$leaders"

"${CURL[@]}" "$H/v1/ledger" | jq -r .verifier_key >"$T/vkey"
"${CURL[@]}" "$H2/ledger/checkpoint" >"$T/cp2"
check "checkpoints served by the second replica verify" "$LODE_BIN" verify checkpoint --vkey "@$T/vkey" "$T/cp2"
bad=0
for f in "$T"/r*; do
    jq -j .checkpoint.note "$f" >"$T/rc"
    jq '{proof: .inclusion_proof}' "$f" >"$T/rp"
    "$LODE_BIN" verify inclusion --vkey "@$T/vkey" --checkpoint "$T/rc" --index "$(jq .index "$f")" \
        --proof "$T/rp" --leaf-hash "$(jq -r .leaf_hash "$f" | xxd -r -p | base64)" >/dev/null 2>&1 || bad=$((bad + 1))
done
expect_eq "all receipts verify offline" 0 "$bad"

# stop whichever replica leads; the other must take over the sequencer
if grep -q '"event":"ledger_sequencer_leader"' "$T/server.log"; then
    e2e_stop_server; SURVIVOR="$H2"
else
    kill -TERM "$SECOND"; wait "$SECOND"; SECOND=""; SURVIVOR="$H"
fi
sleep 2
expect_eq "after the leader stops, appends still complete" 201 "$(attest "$SURVIVOR" 99 | tail -n 1)"
[ -n "$SECOND" ] && { kill -TERM "$SECOND"; wait "$SECOND"; }
e2e_finish
