#!/usr/bin/env bash
# Veracity bonds end to end over HTTP/2: the operator shortens the windows, deposits, jurors
# stake, a bond is posted and challenged, the in-server scheduler draws the jury from a later
# checkpoint, jurors commit and reveal, the first round rules, the loser appeals, a larger jury
# is drawn and rules, and the bond settles by the documented rules with money conserved (SQL).
# The draw of both rounds is recomputed from public data only (tests/e2e/bond_jury.py). Abuse:
# own bond, voting twice, bad reveal, acting after a deadline, staking over the balance,
# overflowing amounts, wrong roles, missing Idempotency-Key; an unchallenged bond resolves by
# itself; reputation scores carry their evidence. A second replica on the same database ticks
# too and serves half of the votes: every step is applied once. The appeal round's reveals are
# sent all at once, multiplexed on one HTTP/2 connection over TLS. `lode verify jury` checks
# both draws against the signed log.
. "$(dirname "$0")/lib.sh"
e2e_start --bond-tick-ms 100 --ledger-batch-delay-ms 5

H2_PORT=$(free_port)
H2="http://127.0.0.1:$H2_PORT"
"$LODE_BIN" serve --listen "127.0.0.1:$H2_PORT" --tls-listen "" --threads 1 --db-pool-size 4 \
    --ledger-key "$E2E_TMP/checkpoint.key" --ledger-origin "lode.test/e2e" --bond-tick-ms 100 \
    --ledger-batch-delay-ms 5 >>"$E2E_TMP/server2.out" 2>>"$E2E_TMP/server2.log" &
SECOND=$!
for _ in $(seq 1 100); do curl -sf "$H2/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
check "a second replica serves the same database" curl -sf "$H2/readyz"

e2e_client
HERE="$(dirname "$0")"

BASE="$H"
post() { local url="$1" body="$2"; shift 2
    "${CURL[@]}" -o "$T/out" -w '%{http_code}' "$@" "${JSON[@]}" --data-binary "$body" "$BASE$url"; }
put() { local url="$1" body="$2"; shift 2
    "${CURL[@]}" -X PUT -o "$T/out" -w '%{http_code}' "$@" "${JSON[@]}" --data-binary "$body" "$H$url"; }
key() { printf 'Idempotency-Key: %s' "$1"; }
id_of() { "${CURL[@]}" -H "$(auth "$1")" "$H/v1/me" | jq .id; }
sql() { local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    "$bin/psql" -h "$LODE_TEST_PG_DIR" -U lode -d "$E2E_DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
commitment() { python3 -c 'import hashlib,struct,sys
b,r,j,v,s=sys.argv[1:]
print(hashlib.sha256(b"lode vote v1"+struct.pack(">q",int(b))+bytes([int(r)])+struct.pack(">q",int(j))+bytes([int(v)])+bytes.fromhex(s)).hexdigest())' "$@"; }
# wait_state BOND STATE: polls the bond until it reaches STATE (30 s at most)
wait_state() { for _ in $(seq 1 300); do
        [ "$("${CURL[@]}" -H "$(auth "$OP")" "$H/v1/bonds/$1" | jq -r .state)" = "$2" ] && return 0
        sleep 0.1; done
    "${CURL[@]}" -H "$(auth "$OP")" "$H/v1/bonds/$1" | jq -c '{state, draw_error}' >&2; return 1; }
available() { "${CURL[@]}" -H "$(auth "$OP")" "$H/v1/accounts/$1/balance" |
    jq '[.balances[] | select(.currency == "EUR") | .available] | add // 0'; }
staked() { "${CURL[@]}" -H "$(auth "$OP")" "$H/v1/accounts/$1/balance" |
    jq '[.balances[] | select(.currency == "EUR") | .juror_stake] | add // 0'; }

OP=$(operator_token)
PUB=$("$LODE_BIN" account create --role publisher --name pub | tail -n 1)
CH=$("$LODE_BIN" account create --role fact-checker --name checker | tail -n 1)
BOTH=$("$LODE_BIN" account create --role publisher,fact-checker --name both | tail -n 1)
PUB_ID=$(id_of "$PUB"); CH_ID=$(id_of "$CH"); BOTH_ID=$(id_of "$BOTH")
declare -A TOKEN
JURORS=()
for i in $(seq 1 12); do
    tok=$("$LODE_BIN" account create --role fact-checker --name "juror$i" | tail -n 1)
    jid=$(id_of "$tok"); TOKEN[$jid]=$tok; JURORS+=("$jid")
done

# ---- the rules: the operator shortens the windows ----
CFG='{"window_ms_min":100,"commit_ms":30000,"reveal_ms":30000,"appeal_window_ms":30000}'
expect_eq "a publisher may not change the rules" 403 "$(put /v1/reputation/config "$CFG" -H "$(auth "$PUB")")"
expect_eq "rules with an even jury are refused" 400 "$(put /v1/reputation/config '{"jury_seats":4}' -H "$(auth "$OP")")"
expect_eq "an unknown parameter is refused" 400 "$(put /v1/reputation/config '{"jury_size":5}' -H "$(auth "$OP")")"
expect_eq "the operator shortens the windows" 200 "$(put /v1/reputation/config "$CFG" -H "$(auth "$OP")")"
check "the rules in force say so, the rest at defaults" jq -e '.params.commit_ms == 30000 and .params.window_ms_min == 100 and .params.jury_seats == 5 and .params.burn_bps == 2500' "$T/out"
expect_eq "anyone signed in reads the rules" 200 "$(get /v1/reputation/config -H "$(auth "$CH")")"

# ---- money: deposits and juror stakes ----
deposit() { post "/v1/accounts/$1/deposits" "{\"amount\":$2,\"currency\":\"EUR\",\"reference\":\"wire-$1-$2\"}" -H "$(auth "$OP")" -H "$(key "dep-$1-$2")"; }
expect_eq "deposit to the publisher" 201 "$(deposit "$PUB_ID" 100000)"
expect_eq "deposit to the challenger" 201 "$(deposit "$CH_ID" 100000)"
expect_eq "deposit to the publisher-checker" 201 "$(deposit "$BOTH_ID" 50000)"
ok=0
for j in "${JURORS[@]}"; do
    [ "$(deposit "$j" 20000)" = 201 ] && ok=$((ok + 1))
    [ "$(post /v1/juror-stake '{"amount":10000,"currency":"EUR"}' -H "$(auth "${TOKEN[$j]}")" -H "$(key "stake-$j")")" = 201 ] && ok=$((ok + 1))
done
expect_eq "twelve jurors deposit and stake" 24 "$ok"
JUR0=0; for j in "${JURORS[@]}"; do JUR0=$((JUR0 + $(available "$j") + $(staked "$j"))); done

# ---- posting a bond ----
BOND_BODY='{"subject":{"kind":"claim","ref":"the 2026 harvest report is human-written"},"statement":"human-made","amount":10000,"currency":"EUR","window_ms":600000}'
expect_eq "a fact-checker may not post a bond" 403 "$(post /v1/bonds "$BOND_BODY" -H "$(auth "$CH")" -H "$(key b0)")"
expect_eq "a bond without Idempotency-Key is 400" 400 "$(post /v1/bonds "$BOND_BODY" -H "$(auth "$PUB")")"
expect_eq "a bond over the balance is 422" 422 "$(post /v1/bonds "${BOND_BODY/10000/10000000}" -H "$(auth "$PUB")" -H "$(key b1)")"
check "the 422 names the balance" jq -e '.detail | test("insufficient balance")' "$T/out"
expect_eq "an amount that overflows is 400" 400 "$(post /v1/bonds "${BOND_BODY/10000/9223372036854775807}" -H "$(auth "$PUB")" -H "$(key b2)")"
expect_eq "an amount beyond int64 is 400" 400 "$(post /v1/bonds "${BOND_BODY/10000/99999999999999999999999}" -H "$(auth "$PUB")" -H "$(key b3)")"
expect_eq "a bond below the minimum is 422" 422 "$(post /v1/bonds "${BOND_BODY/10000/5}" -H "$(auth "$PUB")" -H "$(key b4)")"
expect_eq "a bad statement is 400" 400 "$(post /v1/bonds "${BOND_BODY/human-made/Human Made}" -H "$(auth "$PUB")" -H "$(key b5)")"
expect_eq "an unknown dataset as subject is 404" 404 "$(post /v1/bonds '{"subject":{"kind":"dataset","ref":"999999"},"statement":"accurate","amount":1000,"currency":"EUR","window_ms":600000}' -H "$(auth "$PUB")" -H "$(key b6)")"
expect_eq "a window beyond the rules is 422" 422 "$(post /v1/bonds "${BOND_BODY/600000/99999999999999}" -H "$(auth "$PUB")" -H "$(key b7)")"
expect_eq "the publisher posts a bond" 201 "$(post /v1/bonds "$BOND_BODY" -H "$(auth "$PUB")" -H "$(key bond-1)")"
B=$(jq .bond.id "$T/out")
check "posted, in escrow, with a bond.posted receipt" jq -e '.bond.state == "posted" and .bond.amount == 10000 and .bond.currency == "EUR" and (.ledger | length) == 1 and (.ledger[0].index | type == "number")' "$T/out"
expect_eq "a replay answers 201 again" 201 "$(post /v1/bonds "$BOND_BODY" -H "$(auth "$PUB")" -H "$(key bond-1)")"
expect_eq "with the same bond" "$B" "$(jq .bond.id "$T/out")"
expect_eq "and nothing moved twice" 90000 "$(available "$PUB_ID")"

# ---- challenges ----
expect_eq "the publisher-checker posts a bond" 201 "$(post /v1/bonds "${BOND_BODY/harvest/budget}" -H "$(auth "$BOTH")" -H "$(key bond-own)")"
OWN=$(jq .bond.id "$T/out")
expect_eq "challenging one's own bond is 403" 403 "$(post "/v1/bonds/$OWN/challenges" '{"stake":10000,"evidence":"mine"}' -H "$(auth "$BOTH")" -H "$(key c0)")"
expect_eq "a publisher may not challenge" 403 "$(post "/v1/bonds/$B/challenges" '{"stake":10000,"evidence":"x"}' -H "$(auth "$PUB")" -H "$(key c1)")"
expect_eq "a counter-stake below the bond is 422" 422 "$(post "/v1/bonds/$B/challenges" '{"stake":9999,"evidence":"x"}' -H "$(auth "$CH")" -H "$(key c2)")"
expect_eq "a counter-stake over the balance is 422" 422 "$(post "/v1/bonds/$B/challenges" '{"stake":100001,"evidence":"x"}' -H "$(auth "$CH")" -H "$(key c3)")"
expect_eq "a challenge of an unknown bond is 404" 404 "$(post /v1/bonds/999999/challenges '{"stake":10000,"evidence":"x"}' -H "$(auth "$CH")" -H "$(key c4)")"
expect_eq "empty evidence is 400" 400 "$(post "/v1/bonds/$B/challenges" '{"stake":10000,"evidence":""}' -H "$(auth "$CH")" -H "$(key c5)")"
EVID="https://example.org/harvest-report-was-generated"
expect_eq "the fact-checker challenges" 201 "$(post "/v1/bonds/$B/challenges" "{\"stake\":10000,\"evidence\":\"$EVID\"}" -H "$(auth "$CH")" -H "$(key chal-1)")"
check "awaiting the draw; the entry holds the evidence hash" jq -e --arg h "$(printf %s "$EVID" | sha256sum | cut -c1-64)" '.bond.state == "awaiting_draw" and .bond.evidence == $h' "$T/out"
expect_eq "a second challenge is 409" 409 "$(post "/v1/bonds/$B/challenges" '{"stake":10000,"evidence":"again"}' -H "$(auth "$BOTH")" -H "$(key c6)")"

# ---- round 0: the scheduler draws, jurors commit and reveal ----
wait_state "$B" commit; expect_eq "the scheduler draws the jury from a later checkpoint" 0 $?
get "/v1/bonds/$B" -H "$(auth "$OP")" >/dev/null
cp "$T/out" "$T/bond"
mapfile -t R0 < <(jq -r '.rounds[0].jurors[] | "\(.account) \(.seats)"' "$T/bond")
check "five seats among the jurors, parties excluded" jq -e --argjson p "$PUB_ID" --argjson c "$CH_ID" '([.rounds[0].jurors[].seats] | add) == 5 and all(.rounds[0].jurors[]; .account != $p and .account != $c)' "$T/bond"
check "one juror.drawn entry per juror, with the checkpoint" jq -e '([.entries[] | select(.type == "juror.drawn")] | length) == (.rounds[0].jurors | length) and all(.entries[] | select(.type == "juror.drawn"); .entry.checkpoint_size > 0 and (.entry.checkpoint_root | length) == 64)' "$T/bond"
declare -A SALT
vote_all() { # vote_all ROUND VOTE(1 uphold, 2 reject) NAME [parallel]
    local round=$1 v=$2 name=$3 par=${4:-} ok=0 twice=0 bad=0 rev=0 j s c
    mapfile -t ROUND < <(jq -r ".rounds[$round].jurors[].account" "$T/bond")
    local k=0
    for j in "${ROUND[@]}"; do
        k=$((k + 1)); BASE="$H"; [ $((k % 2)) = 0 ] && BASE="$H2"
        s=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'); SALT[$j]=$s
        c=$(commitment "$B" "$round" "$j" "$v" "$s")
        [ "$(post "/v1/bonds/$B/commitments" "{\"commitment\":\"$c\"}" -H "$(auth "${TOKEN[$j]}")")" = 201 ] && ok=$((ok + 1))
        [ "$(post "/v1/bonds/$B/commitments" "{\"commitment\":\"$c\"}" -H "$(auth "${TOKEN[$j]}")")" = 409 ] && twice=$((twice + 1))
    done
    expect_eq "$name: every juror commits" "${#ROUND[@]}" "$ok"
    expect_eq "$name: committing twice is 409" "${#ROUND[@]}" "$twice"
    local other=uphold vote=reject
    [ "$v" = 1 ] && { other=reject; vote=uphold; }
    for j in "${ROUND[@]}"; do
        k=$((k + 1)); BASE="$H"; [ $((k % 2)) = 0 ] && BASE="$H2"
        [ "$(post "/v1/bonds/$B/reveals" "{\"vote\":\"$other\",\"salt\":\"${SALT[$j]}\"}" -H "$(auth "${TOKEN[$j]}")")" = 422 ] && bad=$((bad + 1))
        [ -z "$par" ] && [ "$(post "/v1/bonds/$B/reveals" "{\"vote\":\"$vote\",\"salt\":\"${SALT[$j]}\"}" -H "$(auth "${TOKEN[$j]}")")" = 201 ] && rev=$((rev + 1))
    done
    BASE="$H"
    if [ -n "$par" ]; then # every reveal at once, multiplexed on one HTTP/2 connection over TLS
        local args=()
        for j in "${ROUND[@]}"; do
            [ ${#args[@]} -gt 0 ] && args+=(--next)
            args+=(--http2 --cacert "$CACERT" -sS -o /dev/null -w '%{http_code}\n' -H "$(auth "${TOKEN[$j]}")"
                   "${JSON[@]}" --data-binary "{\"vote\":\"$vote\",\"salt\":\"${SALT[$j]}\"}" "$S/v1/bonds/$B/reveals")
        done
        rev=$(curl --parallel --parallel-immediate --parallel-max 32 "${args[@]}" | grep -c '^201$')
    fi
    expect_eq "$name: a reveal that does not match its commitment is 422" "${#ROUND[@]}" "$bad"
    expect_eq "$name: every juror reveals" "${#ROUND[@]}" "$rev"
}
NOT_JUROR=""
for j in "${JURORS[@]}"; do jq -e --argjson j "$j" 'any(.rounds[0].jurors[]; .account == $j)' "$T/bond" >/dev/null || NOT_JUROR=$j; done
if [ -n "$NOT_JUROR" ]; then
    expect_eq "a fact-checker off the jury may not commit" 403 "$(post "/v1/bonds/$B/commitments" "{\"commitment\":\"$(printf x | sha256sum | cut -c1-64)\"}" -H "$(auth "${TOKEN[$NOT_JUROR]}")")"
fi
expect_eq "a malformed commitment is 400" 400 "$(post "/v1/bonds/$B/commitments" '{"commitment":"zz"}' -H "$(auth "$CH")")"
vote_all 0 2 "round 0"
get "/v1/bonds/$B" -H "$(auth "$OP")" >/dev/null
check "round 0 rules for the challenger; the bond is appealable" jq -e '.state == "appealable" and .rounds[0].outcome == "rejected" and .rounds[0].seats_reject == 5 and any(.entries[]; .type == "round.decided")' "$T/out"
check "the reveals are public in the bond" jq -e 'all(.rounds[0].jurors[]; .revealed and .vote == "reject")' "$T/out"
j0=$(jq -r '.rounds[0].jurors[0].account' "$T/out")
expect_eq "revealing again is 409" 409 "$(post "/v1/bonds/$B/reveals" "{\"vote\":\"reject\",\"salt\":\"${SALT[$j0]}\"}" -H "$(auth "${TOKEN[$j0]}")")"
expect_eq "the recomputed draw of round 0 matches, from public data" 0 "$(python3 "$HERE/bond_jury.py" "$H" "$B" 0 >"$T/v0" 2>&1; echo $?)"
cat "$T/v0"

# ---- the appeal ----
expect_eq "the winner may not appeal" 403 "$(post "/v1/bonds/$B/appeals" '{}' -H "$(auth "$CH")" -H "$(key a0)")"
expect_eq "an appeal without Idempotency-Key is 400" 400 "$(post "/v1/bonds/$B/appeals" '{}' -H "$(auth "$PUB")")"
expect_eq "the publisher appeals" 201 "$(post "/v1/bonds/$B/appeals" '{}' -H "$(auth "$PUB")" -H "$(key appeal-1)")"
check "the appeal fee is paid, a second round awaits its draw" jq -e --argjson p "$PUB_ID" '.bond.appellant == $p and .bond.appeal_fee == 10000 and .bond.state == "awaiting_draw"' "$T/out"
expect_eq "a second appeal is 409" 409 "$(post "/v1/bonds/$B/appeals" '{}' -H "$(auth "$PUB")" -H "$(key a1)")"
wait_state "$B" commit; expect_eq "the scheduler draws the larger jury" 0 $?
get "/v1/bonds/$B" -H "$(auth "$OP")" >/dev/null
cp "$T/out" "$T/bond"
check "eleven seats in the appeal round" jq -e '([.rounds[1].jurors[].seats] | add) == 11 and .rounds[1].seats == 11' "$T/bond"
vote_all 1 2 "round 1" parallel
check "settled: the challenger wins" wait_state "$B" resolved
get "/v1/bonds/$B" -H "$(auth "$OP")" >/dev/null
cp "$T/out" "$T/final"
check "resolved rejected with a bond.resolved entry listing the transfers" jq -e '.outcome == "rejected" and any(.entries[]; .type == "bond.resolved" and (.entry.transfers | length) > 0 and .entry.burned == 5000)' "$T/final"
expect_eq "the recomputed draw of the appeal round matches, from public data" 0 "$(python3 "$HERE/bond_jury.py" "$H" "$B" 1 >"$T/v1" 2>&1; echo $?)"
cat "$T/v1"
curl -s "$H/v1/ledger" | jq -r .verifier_key >"$T/vkey"
for r in 0 1; do
    expect_eq "lode verify jury recomputes round $r from public data and the signed log" 0 "$("$LODE_BIN" verify jury --url "$H" --vkey "@$T/vkey" --bond "$B" --round "$r" >"$T/vj" 2>&1; echo $?)"
    cat "$T/vj"
done
expect_eq "the jury data needs no token" 200 "$(get "/v1/bonds/$B/jury?round=1")"
check "its pool hash is the one in the appeal entry" jq -e '.pool_sha256 == .filing.entry.pool and (.drawn_entries | length) > 0 and .checkpoint.size > .filing.index' "$T/out"

# ---- settlement by the rules: the loser paid F = 10000 + 10000; 25 % burned, 10 % to the 16
# coherent seats (125 each), the rest and its own stake to the winner ----
expect_eq "publisher: 100000 - bond - fee" 80000 "$(available "$PUB_ID")"
expect_eq "challenger: 100000 + 6500 + 6500" 113000 "$(available "$CH_ID")"
JUR1=0; for j in "${JURORS[@]}"; do JUR1=$((JUR1 + $(available "$j") + $(staked "$j"))); done
expect_eq "jurors together gain the 2000 reward" $((JUR0 + 2000)) "$JUR1"
expect_eq "the burn account holds 5000" 5000 "$(sql "SELECT balance FROM money_balances WHERE kind = 5 AND currency = 'EUR'")"
expect_eq "the bond's escrow is empty" 0 "$(sql "SELECT balance FROM money_balances WHERE kind = 4 AND account_id = $B")"
expect_eq "money is conserved (all balances sum to zero)" 0 "$(sql "SELECT sum(balance) FROM money_balances")"
expect_eq "no balance below zero but the outside world" 0 "$(sql "SELECT count(*) FROM money_balances WHERE kind <> 1 AND balance < 0")"
expect_eq "every bond entry is in the ledger" 0 "$(sql "SELECT count(*) FROM bond_entries e JOIN ledger_queue q ON q.id = e.ledger_queue_id WHERE q.ledger_index IS NULL")"
expect_eq "acting on a resolved bond is refused" 409 "$(post "/v1/bonds/$B/reveals" "{\"vote\":\"reject\",\"salt\":\"${SALT[$j0]}\"}" -H "$(auth "${TOKEN[$j0]}")")"

# ---- a challenge no jury could ever decide (one juror in USD) is refused whole ----
LOCKED_J=${JURORS[0]}
ok=0
for a in "$BOTH_ID:20000" "$CH_ID:20000" "$LOCKED_J:5000"; do
    [ "$(post "/v1/accounts/${a%%:*}/deposits" "{\"amount\":${a##*:},\"currency\":\"USD\",\"reference\":\"usd-${a%%:*}\"}" -H "$(auth "$OP")" -H "$(key "usd-${a%%:*}")")" = 201 ] && ok=$((ok + 1))
done
[ "$(post /v1/juror-stake '{"amount":3000,"currency":"USD"}' -H "$(auth "${TOKEN[$LOCKED_J]}")" -H "$(key usd-stake)")" = 201 ] && ok=$((ok + 1))
expect_eq "USD deposits and one USD juror" 4 "$ok"
post /v1/bonds "${BOND_BODY/EUR/USD}" -H "$(auth "$BOTH")" -H "$(key bond-usd)" >/dev/null
BU=$(jq .bond.id "$T/out")
USD_LINES=$(sql "SELECT count(*) FROM money_lines WHERE currency = 'USD'")
expect_eq "a challenge with too few eligible jurors is 422" 422 "$(post "/v1/bonds/$BU/challenges" '{"stake":10000,"evidence":"usd"}' -H "$(auth "$CH")" -H "$(key chal-usd)")"
check "the problem says how many jurors the jury needs" jq -e '.detail | test("1 jurors have staked USD, the jury needs 5 seats")' "$T/out"
get "/v1/bonds/$BU" -H "$(auth "$OP")" >/dev/null
check "the bond stays posted, unchallenged, with no challenge entry" jq -e '.state == "posted" and .challenger == 0 and all(.entries[]; .type != "challenge.filed")' "$T/out"
expect_eq "no money moved for the refused challenge" "$USD_LINES" "$(sql "SELECT count(*) FROM money_lines WHERE currency = 'USD'")"
expect_eq "no pool snapshot was kept" 0 "$(sql "SELECT count(*) FROM bond_pools WHERE bond_id = $BU")"
expect_eq "lode verify jury says no for a draw that never happened" 1 "$("$LODE_BIN" verify jury --url "$H" --vkey "@$T/vkey" --bond "$BU" >/dev/null 2>&1; echo $?)"
expect_eq "the juror's USD stake is free" 201 "$(post /v1/juror-stake/withdrawals '{"amount":3000,"currency":"USD"}' -H "$(auth "${TOKEN[$LOCKED_J]}")" -H "$(key unstake-1)")"

# ---- an unchallenged bond resolves by itself; a late challenge is 410 ----
expect_eq "a bond with a short window" 201 "$(post /v1/bonds "${BOND_BODY/600000/300}" -H "$(auth "$PUB")" -H "$(key bond-short)")"
BS=$(jq .bond.id "$T/out")
sleep 0.4
expect_eq "a challenge after the window is 410" 410 "$(post "/v1/bonds/$BS/challenges" '{"stake":10000,"evidence":"late"}' -H "$(auth "$CH")" -H "$(key c-late)")"
check "the scheduler resolves it unchallenged" wait_state "$BS" resolved
expect_eq "and returns the bond" 80000 "$(available "$PUB_ID")"

# ---- lists ----
expect_eq "list resolved bonds" 200 "$(get "/v1/bonds?state=resolved&limit=1" -H "$(auth "$CH")")"
check "one per page with a cursor" jq -e '(.items | length) == 1 and .items[0].state == "resolved" and (.next_cursor | type == "string")' "$T/out"
expect_eq "an unknown state filter is 400" 400 "$(get "/v1/bonds?state=nope" -H "$(auth "$CH")")"
SUBJ=$(printf 'claim:the 2026 harvest report is human-written' | sha256sum | cut -c1-64)
expect_eq "list by subject" 200 "$(get "/v1/bonds?subject=$SUBJ" -H "$(auth "$CH")")"
check "the subject's bonds" jq -e --argjson b "$B" '[.items[].id] | index($b) != null and all(.[]; . != null)' "$T/out"
expect_eq "an unknown bond is 404" 404 "$(get /v1/bonds/999999 -H "$(auth "$CH")")"
expect_eq "no token is 401" 401 "$(get "/v1/bonds/$B")"

# ---- reputation ----
expect_eq "the publisher's reputation" 200 "$(get "/v1/accounts/$PUB_ID/reputation" -H "$(auth "$CH")")"
check "a lost bond weighs -2, an unchallenged one +0.25" jq -e '.roles.publisher.evidence.counts.bond_lost == 1 and .roles.publisher.evidence.counts.bond_unchallenged == 1 and .roles.publisher.mean < 0.5' "$T/out"
expect_eq "the challenger's reputation" 200 "$(get "/v1/accounts/$CH_ID/reputation" -H "$(auth "$CH")")"
check "a won challenge, with its interval" jq -e '.roles.fact_checker.evidence.counts.challenge_won == 1 and .roles.fact_checker.mean > 0.5 and (.roles.fact_checker.interval | length) == 2' "$T/out"
get "/v1/accounts/$j0/reputation" -H "$(auth "$CH")" >/dev/null
check "a coherent juror gains" jq -e '.roles.fact_checker.evidence.counts.juror_coherent >= 1 and .roles.fact_checker.mean > 0.5' "$T/out"
get "/v1/accounts/$BOTH_ID/reputation" -H "$(auth "$CH")" >/dev/null
check "a new labeler is uncertain, not trusted" jq -e '.roles.labeler.mean == 0.5 and .roles.labeler.interval[0] < 0.03 and .roles.labeler.interval[1] > 0.97 and .roles.labeler.established == false' "$T/out"
expect_eq "an unknown account is 404" 404 "$(get /v1/accounts/999999/reputation -H "$(auth "$CH")")"

# ---- a refused draw renews the pool: two bonds share five GBP jurors of one seat each ----
# Both challenges are filed while no checkpoint can be written (a lock on ledger_checkpoints),
# so both snapshots hold the same five jurors; the first draw takes every juror's stake, the
# journal refuses the second, and its retry renews the pool (a pool.renewed entry, the new
# filing entry) once the jurors stake again; the draw then follows from a later checkpoint.
GJ=(); ok=0
for i in 1 2 3 4 5; do
    tok=$("$LODE_BIN" account create --role fact-checker --name "gbpjuror$i" | tail -n 1)
    gid=$(id_of "$tok"); TOKEN[$gid]=$tok; GJ+=("$gid")
    [ "$(post "/v1/accounts/$gid/deposits" "{\"amount\":2500,\"currency\":\"GBP\",\"reference\":\"gbp-$gid\"}" -H "$(auth "$OP")" -H "$(key "gbp-$gid")")" = 201 ] && ok=$((ok + 1))
    [ "$(post /v1/juror-stake '{"amount":1000,"currency":"GBP"}' -H "$(auth "$tok")" -H "$(key "gbp-stake-$gid")")" = 201 ] && ok=$((ok + 1))
done
for a in "$PUB_ID" "$CH_ID"; do
    [ "$(post "/v1/accounts/$a/deposits" "{\"amount\":20000,\"currency\":\"GBP\",\"reference\":\"gbp-$a\"}" -H "$(auth "$OP")" -H "$(key "gbp-$a")")" = 201 ] && ok=$((ok + 1))
done
expect_eq "five GBP jurors stake one seat deposit each" 12 "$ok"
GBP_BOND="${BOND_BODY/EUR/GBP}"
post /v1/bonds "${GBP_BOND/harvest/rainfall}" -H "$(auth "$PUB")" -H "$(key bond-gbp-1)" >/dev/null; BX=$(jq .bond.id "$T/out")
post /v1/bonds "${GBP_BOND/harvest/wheat}" -H "$(auth "$PUB")" -H "$(key bond-gbp-2)" >/dev/null; BY=$(jq .bond.id "$T/out")
PSQL="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)/psql"
"$PSQL" -h "$LODE_TEST_PG_DIR" -U lode -d "$E2E_DB" -qAtX -c "BEGIN" \
    -c "LOCK TABLE ledger_checkpoints IN EXCLUSIVE MODE" -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null 2>&1 &
LOCKER=$!
for _ in $(seq 1 50); do
    [ "$(sql "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'ledger_checkpoints' AND l.mode = 'ExclusiveLock' AND l.granted")" = 1 ] && break
    sleep 0.1
done
CHALS=()
for b in "$BX" "$BY"; do
    "${CURL[@]}" -o "$T/chal-$b" -w '%{http_code}' -H "$(auth "$CH")" -H "$(key "chal-gbp-$b")" "${JSON[@]}" \
        --data-binary '{"stake":10000,"evidence":"gbp"}' "$H/v1/bonds/$b/challenges" >"$T/chal-$b.code" &
    CHALS+=($!)
done
for _ in $(seq 1 50); do
    [ "$(sql "SELECT count(*) FROM bonds WHERE id IN ($BX, $BY) AND state = 'awaiting_draw'")" = 2 ] && break
    sleep 0.05
done
expect_eq "both challenges were filed before any checkpoint covered them" 0 "$(sql "SELECT count(*) FROM bond_entries e JOIN ledger_queue q ON q.id = e.ledger_queue_id JOIN ledger_checkpoints c ON c.size > q.ledger_index WHERE e.bond_id IN ($BX, $BY) AND e.type = 'challenge.filed'")"
wait "$LOCKER" "${CHALS[@]}"
expect_eq "both challenges are accepted" "201 201" "$(cat "$T/chal-$BX.code") $(cat "$T/chal-$BY.code")"
for _ in $(seq 1 300); do
    [ "$(sql "SELECT count(*) FROM bonds WHERE id IN ($BX, $BY) AND (state = 'commit' OR draw_error IS NOT NULL)")" = 2 ] && break
    sleep 0.1
done
REF=$(sql "SELECT id FROM bonds WHERE id IN ($BX, $BY) AND state = 'awaiting_draw'")
expect_eq "one draw takes every juror's stake, the journal refuses the other" 1 "$(sql "SELECT count(*) FROM bonds WHERE id IN ($BX, $BY) AND state = 'commit'")"
get "/v1/bonds/$REF" -H "$(auth "$OP")" >/dev/null
check "the refusal is shown without a balance" jq -e '.state == "awaiting_draw" and .draw_error == "a drawn juror'"'"'s stake no longer covers its seats"' "$T/out"
ok=0
for g in "${GJ[@]}"; do # the first a little more, so the renewed pool differs
    amount=1000; [ "$g" = "${GJ[0]}" ] && amount=1500
    [ "$(post /v1/juror-stake "{\"amount\":$amount,\"currency\":\"GBP\"}" -H "$(auth "${TOKEN[$g]}")" -H "$(key "gbp-restake-$g")")" = 201 ] && ok=$((ok + 1))
done
expect_eq "the jurors stake again" 5 "$ok"
check "the retry renews the pool and the jury is drawn" wait_state "$REF" commit
get "/v1/bonds/$REF" -H "$(auth "$OP")" >/dev/null
check "a pool.renewed entry of round 0 with the new pool hash and the reason" jq -e '([.entries[] | select(.type == "challenge.filed")][0].entry.pool) as $old | ([.entries[] | select(.type == "pool.renewed")] | length) == 1 and any(.entries[]; .type == "pool.renewed" and .entry.round == 0 and .entry.reason == "a drawn juror'"'"'s stake no longer covers its seats" and (.entry.pool | length) == 64 and .entry.pool != $old)' "$T/out"
expect_eq "its jury data is public" 200 "$(get "/v1/bonds/$REF/jury?round=0")"
check "the filing is the renewal, its hash the pool's, the draw's checkpoint covers it" jq -e '.filing.entry.type == "pool.renewed" and .pool_sha256 == .filing.entry.pool and .checkpoint.size > .filing.index and ([.jurors[].seats] | add) == 5' "$T/out"
expect_eq "the recomputed draw after a renewal matches, from public data" 0 "$(python3 "$HERE/bond_jury.py" "$H" "$REF" 0 >"$T/vr" 2>&1; echo $?)"
cat "$T/vr"
expect_eq "lode verify jury checks the draw after a renewal" 0 "$("$LODE_BIN" verify jury --url "$H" --vkey "@$T/vkey" --bond "$REF" --round 0 >"$T/vj" 2>&1; echo $?)"
cat "$T/vj"
expect_eq "money is still conserved" 0 "$(sql "SELECT sum(balance) FROM money_balances")"

# ---- two replicas ticked the same database: every step once ----
expect_eq "one bond.resolved per resolved bond" 0 "$(sql "SELECT count(*) FROM bonds b WHERE b.state = 'resolved' AND (SELECT count(*) FROM bond_entries e WHERE e.bond_id = b.id AND e.type = 'bond.resolved') <> 1")"
expect_eq "one round.decided per round" 0 "$(sql "SELECT count(*) FROM (SELECT bond_id, entry::jsonb->>'round' FROM bond_entries WHERE type = 'round.decided' GROUP BY 1, 2 HAVING count(*) > 1) x")"
expect_eq "one juror.drawn per juror and round" 0 "$(sql "SELECT count(*) FROM (SELECT bond_id, entry::jsonb->>'round', entry::jsonb->>'juror' FROM bond_entries WHERE type = 'juror.drawn' GROUP BY 1, 2, 3 HAVING count(*) > 1) x")"
kill -TERM "$SECOND"; rc=0; wait "$SECOND" || rc=$?
expect_eq "the second replica exits 0" 0 "$rc"
check "no sanitizer report from the second replica" bash -c "! grep -q 'AddressSanitizer\|runtime error:\|LeakSanitizer' '$E2E_TMP/server2.log'"
check "the replicas' schedulers advanced bonds" bash -c "grep -q bonds_advanced '$E2E_TMP/server.log' || grep -q bonds_advanced '$E2E_TMP/server2.log'"

e2e_finish
