#!/usr/bin/env bash
# Money end to end over HTTP/2: operator-credited deposits with idempotent replay and one credit
# per external reference, withdrawals (paid, and failed then refunded), overdrafts (422), bad
# amounts and currencies (400), other accounts (403), balances, statement pages, juror stake and
# unstake, ledger entries where money enters and leaves, parallel withdrawals over TLS that never
# overspend, and conservation checked in SQL at the end.
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 64 --ledger-batch-delay-ms 5

e2e_client

post() { local url="$1" body="$2"; shift 2
    "${CURL[@]}" -o "$T/out" -D "$T/headers" -w '%{http_code}' "$@" "${JSON[@]}" --data-binary "$body" "$H$url"; }
key() { printf 'Idempotency-Key: %s' "$1"; }
sql() { # runs SQL on the server's database
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    "$bin/psql" -h "$LODE_TEST_PG_DIR" -U lode -d "$E2E_DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"
}

OP=$(operator_token)
A=$("$LODE_BIN" account create --role contributor --name alice | tail -n 1)
B=$("$LODE_BIN" account create --role contributor --name bob | tail -n 1)
F=$("$LODE_BIN" account create --role fact-checker --name fiona | tail -n 1)
AO=(-H "$(auth "$OP")")
AA=(-H "$(auth "$A")")
AB=(-H "$(auth "$B")")
AF=(-H "$(auth "$F")")
IA=$("${CURL[@]}" "${AA[@]}" "$H/v1/me" | jq .id)
IB=$("${CURL[@]}" "${AB[@]}" "$H/v1/me" | jq .id)
IF=$("${CURL[@]}" "${AF[@]}" "$H/v1/me" | jq .id)

# ---- deposits ----
DEP='{"amount":10000,"currency":"EUR","reference":"wire-0001"}'
expect_eq "a deposit without Idempotency-Key is 400" 400 "$(post "/v1/accounts/$IA/deposits" "$DEP" "${AO[@]}")"
check "the problem names the header" jq -e '.detail | test("Idempotency-Key")' "$T/out"
expect_eq "a contributor may not credit deposits" 403 "$(post "/v1/accounts/$IA/deposits" "$DEP" "${AA[@]}" -H "$(key d0)")"
expect_eq "the operator credits a deposit" 201 "$(post "/v1/accounts/$IA/deposits" "$DEP" "${AO[@]}" -H "$(key d1)")"
check "the deposit answers the posting, the new balance and a ledger receipt" jq -e '.deposit.amount == 10000 and .deposit.currency == "EUR" and .deposit.reference == "wire-0001" and (.posting | type == "number") and .balance == {"currency":"EUR","available":10000,"juror_stake":0} and (.ledger.index | type == "number") and (.ledger | has("ledger_queue_id") | not) and (has("ledger_queue_id") | not)' "$T/out"
DEP_ID=$(jq .deposit.id "$T/out")
DEP_INDEX=$(jq .ledger.index "$T/out")
cp "$T/out" "$T/first"
expect_eq "a replay with the same key answers 201 again" 201 "$(post "/v1/accounts/$IA/deposits" "$DEP" "${AO[@]}" -H "$(key d1)")"
check "the replay is marked" grep -qi '^idempotent-replayed: true' "$T/headers"
check "the replay is the first answer" jq -e --slurpfile f "$T/first" '.deposit == $f[0].deposit and .posting == $f[0].posting and .balance == $f[0].balance and .ledger.index == $f[0].ledger.index' "$T/out"
expect_eq "the same key with another body is 422" 422 "$(post "/v1/accounts/$IA/deposits" '{"amount":1,"currency":"EUR","reference":"wire-0009"}' "${AO[@]}" -H "$(key d1)")"
expect_eq "the same reference under another key is 409" 409 "$(post "/v1/accounts/$IA/deposits" "$DEP" "${AO[@]}" -H "$(key d2)")"
expect_eq "a deposit to an unknown account is 404" 404 "$(post /v1/accounts/999999/deposits '{"amount":5,"currency":"EUR","reference":"wire-x"}' "${AO[@]}" -H "$(key d3)")"
expect_eq "a deposit without reference is 400" 400 "$(post "/v1/accounts/$IA/deposits" '{"amount":5,"currency":"EUR"}' "${AO[@]}" -H "$(key d4)")"
expect_eq "a reference with a space is 400" 400 "$(post "/v1/accounts/$IA/deposits" '{"amount":5,"currency":"EUR","reference":"a b"}' "${AO[@]}" -H "$(key d5)")"
n=0
for amount in 0 -1 1.5 '"100"' 9007199254740992 99999999999999999999 1e3 null true; do
    n=$((n + 1))
    code=$(post "/v1/accounts/$IA/deposits" "{\"amount\":$amount,\"currency\":\"EUR\",\"reference\":\"bad-$n\"}" "${AO[@]}" -H "$(key "bad-$n")")
    expect_eq "amount $amount is 400" 400 "$code"
done
expect_eq "a missing amount is 400" 400 "$(post "/v1/accounts/$IA/deposits" '{"currency":"EUR","reference":"bad-m"}' "${AO[@]}" -H "$(key bad-m)")"
for cur in '"eur"' '"EURO"' '"E1R"' 12; do
    expect_eq "currency $cur is 400" 400 "$(post "/v1/accounts/$IA/deposits" "{\"amount\":5,\"currency\":$cur,\"reference\":\"bad-c\"}" "${AO[@]}" -H "$(key "bad-c$cur")")"
done
expect_eq "an unknown field is 400" 400 "$(post "/v1/accounts/$IA/deposits" '{"amount":5,"currency":"EUR","reference":"bad-f","tip":1}' "${AO[@]}" -H "$(key bad-f)")"
expect_eq "the largest exact amount is accepted" 201 "$(post "/v1/accounts/$IB/deposits" '{"amount":9007199254740991,"currency":"JPY","reference":"big-1"}' "${AO[@]}" -H "$(key big1)")"
expect_eq "the ledger holds the deposit entry" 200 "$(get "/v1/ledger/entries/$DEP_INDEX")"
check "the entry is deposit.credited with the amount and a hashed reference" jq -e --argjson d "$DEP_ID" --argjson a "$IA" '.entry.type == "deposit.credited" and .entry.deposit == $d and .entry.account == $a and .entry.amount == 10000 and (.entry.reference_sha256 | length == 64)' "$T/out"

# ---- withdrawals ----
expect_eq "bob may not withdraw from alice" 403 "$(post "/v1/accounts/$IA/withdrawals" '{"amount":100,"currency":"EUR"}' "${AB[@]}" -H "$(key w0)")"
expect_eq "a withdrawal without Idempotency-Key is 400" 400 "$(post "/v1/accounts/$IA/withdrawals" '{"amount":100,"currency":"EUR"}' "${AA[@]}")"
expect_eq "an overdraft is 422" 422 "$(post "/v1/accounts/$IA/withdrawals" '{"amount":10001,"currency":"EUR"}' "${AA[@]}" -H "$(key w1)")"
check "the 422 says insufficient balance with the amounts" jq -e --arg a "$IA" '.detail == "insufficient balance: user account \($a) holds 10000 EUR, needs 10001"' "$T/out"
expect_eq "a withdrawal in a currency never held is 422" 422 "$(post "/v1/accounts/$IA/withdrawals" '{"amount":1,"currency":"USD"}' "${AA[@]}" -H "$(key w1u)")"
expect_eq "alice withdraws 3000" 201 "$(post "/v1/accounts/$IA/withdrawals" '{"amount":3000,"currency":"EUR"}' "${AA[@]}" -H "$(key w2)")"
check "requested at once, the balance is down" jq -e '.withdrawal.state == "requested" and .withdrawal.amount == 3000 and .balance.available == 7000 and (.ledger.index | type == "number")' "$T/out"
W1=$(jq .withdrawal.id "$T/out")
W1_INDEX=$(jq .ledger.index "$T/out")
expect_eq "the operator withdraws 1000 for alice" 201 "$(post "/v1/accounts/$IA/withdrawals" '{"amount":1000,"currency":"EUR"}' "${AO[@]}" -H "$(key w3)")"
W2=$(jq .withdrawal.id "$T/out")
check "the balance is 6000" jq -e '.balance.available == 6000' "$T/out"
expect_eq "alice may not settle" 403 "$(post "/v1/withdrawals/$W1/settle" '{"state":"paid"}' "${AA[@]}" -H "$(key s0)")"
expect_eq "an unknown state is 400" 400 "$(post "/v1/withdrawals/$W1/settle" '{"state":"lost"}' "${AO[@]}" -H "$(key s1)")"
expect_eq "the operator settles it as paid" 201 "$(post "/v1/withdrawals/$W1/settle" '{"state":"paid","reference":"payout-77"}' "${AO[@]}" -H "$(key s2)")"
check "paid, no refund, the balance unchanged" jq -e '.withdrawal.state == "paid" and .withdrawal.reference == "payout-77" and .posting == null and .balance.available == 6000' "$T/out"
expect_eq "settling it again is 409" 409 "$(post "/v1/withdrawals/$W1/settle" '{"state":"failed"}' "${AO[@]}" -H "$(key s3)")"
expect_eq "the second withdrawal fails" 201 "$(post "/v1/withdrawals/$W2/settle" '{"state":"failed"}' "${AO[@]}" -H "$(key s4)")"
check "failed, refunded by a posting" jq -e '.withdrawal.state == "failed" and (.withdrawal.refund_posting | type == "number") and .balance.available == 7000' "$T/out"
expect_eq "settling an unknown withdrawal is 404" 404 "$(post /v1/withdrawals/999999/settle '{"state":"paid"}' "${AO[@]}" -H "$(key s5)")"
expect_eq "the ledger holds the withdrawal entry" 200 "$(get "/v1/ledger/entries/$W1_INDEX")"
check "the entry is withdrawal.requested" jq -e --argjson w "$W1" '.entry.type == "withdrawal.requested" and .entry.withdrawal == $w and .entry.amount == 3000' "$T/out"

# ---- parallel withdrawals over TLS (HTTP/2 multiplexed): never more than the balance ----
post "/v1/accounts/$IB/deposits" '{"amount":1000,"currency":"EUR","reference":"wire-b1"}' "${AO[@]}" -H "$(key db1)" >/dev/null
: >"$T/parallel.cfg"
for i in $(seq 1 10); do
    {
        [ "$i" -gt 1 ] && echo "next"
        echo "url = \"$S/v1/accounts/$IB/withdrawals\""
        echo "http2"
        echo "cacert = \"$CACERT\""
        echo "silent"
        echo "header = \"$(auth "$B")\""
        echo "header = \"content-type: application/json\""
        echo "header = \"Idempotency-Key: par-$i\""
        echo "data = \"{\\\"amount\\\":300,\\\"currency\\\":\\\"EUR\\\"}\""
        echo "output = \"$T/par-$i.json\""
        echo "write-out = \"%{http_code}\\n\""
    } >>"$T/parallel.cfg"
done
curl -sS --max-time 60 -Z --parallel-max 10 -K "$T/parallel.cfg" >"$T/parallel.codes" 2>"$T/parallel.err"
expect_eq "exactly three of ten parallel withdrawals of 300 from 1000 succeed" 3 "$(grep -c '^201$' "$T/parallel.codes")"
expect_eq "the other seven are 422" 7 "$(grep -c '^422$' "$T/parallel.codes")"
get "/v1/accounts/$IB/balance" "${AB[@]}" >/dev/null
check "bob keeps 100 EUR" jq -e '.balances[] | select(.currency == "EUR") | .available == 100' "$T/out"

expect_eq "the operator lists the requested withdrawals" 200 "$(get "/v1/withdrawals?state=requested&limit=2" "${AO[@]}")"
check "a first page of two of bob's, with a cursor" jq -e --argjson b "$IB" '(.items | length) == 2 and all(.items[]; .account == $b and .state == "requested" and .amount == 300) and (.next_cursor | type == "string")' "$T/out"
expect_eq "the next page" 200 "$(get "/v1/withdrawals?state=requested&limit=2&cursor=$(jq -r .next_cursor "$T/out")" "${AO[@]}")"
check "holds the third" jq -e '(.items | length) == 1' "$T/out"
expect_eq "alice lists her own withdrawals" 200 "$(get /v1/withdrawals "${AA[@]}")"
check "two, paid and failed" jq -e '[.items[].state] == ["paid","failed"] and .next_cursor == null' "$T/out"
expect_eq "bob may not list alice's" 403 "$(get "/v1/withdrawals?account=$IA" "${AB[@]}")"
expect_eq "an unknown state filter is 400" 400 "$(get "/v1/withdrawals?state=lost" "${AO[@]}")"

# ---- balances ----
expect_eq "alice reads her balance" 200 "$(get "/v1/accounts/$IA/balance" "${AA[@]}")"
check "7000 EUR available" jq -e --argjson a "$IA" '.account == $a and .balances == [{"currency":"EUR","available":7000,"juror_stake":0}]' "$T/out"
expect_eq "bob may not read alice's balance" 403 "$(get "/v1/accounts/$IA/balance" "${AB[@]}")"
expect_eq "the operator reads it" 200 "$(get "/v1/accounts/$IA/balance" "${AO[@]}")"
expect_eq "an unknown account is 404" 404 "$(get /v1/accounts/999999/balance "${AO[@]}")"
expect_eq "no token is 401" 401 "$(get "/v1/accounts/$IA/balance")"

# ---- statement pages ----
: >"$T/lines"
cursor=""
pages=0
while :; do
    q="limit=2"; [ -n "$cursor" ] && q="$q&cursor=$cursor"
    code=$(get "/v1/accounts/$IA/statement?$q" "${AA[@]}")
    [ "$code" = 200 ] || break
    jq -c '.lines[]' "$T/out" >>"$T/lines"
    pages=$((pages + 1))
    cursor=$(jq -r '.next_cursor // empty' "$T/out")
    [ -n "$cursor" ] && [ "$pages" -lt 50 ] || break
done
expect_eq "the statement pages end with 200" 200 "$code"
expect_eq "alice's statement has 4 lines (deposit, 2 withdrawals, refund)" 4 "$(wc -l <"$T/lines")"
expect_eq "in 2 pages of 2 and a last empty one" 3 "$pages"
check "ascending ids, balances after each posting, reasons and contexts" jq -se '(map(.id) | . == sort) and map(.balance_after) == [10000,7000,6000,7000] and map(.delta) == [10000,-3000,-1000,1000] and map(.reason) == ["deposit","withdrawal","withdrawal","withdrawal_refund"] and map(.context.kind) == ["deposit","withdrawal","withdrawal","withdrawal"] and (map(.counterparty.kind) | unique) == ["external"]' "$T/lines"
expect_eq "bob may not read alice's statement" 403 "$(get "/v1/accounts/$IA/statement" "${AB[@]}")"
expect_eq "limit 0 is 400" 400 "$(get "/v1/accounts/$IA/statement?limit=0" "${AA[@]}")"
expect_eq "limit 501 is 400" 400 "$(get "/v1/accounts/$IA/statement?limit=501" "${AA[@]}")"
expect_eq "a malformed cursor is 400" 400 "$(get "/v1/accounts/$IA/statement?cursor=abc" "${AA[@]}")"

# ---- juror stake ----
post "/v1/accounts/$IF/deposits" '{"amount":5000,"currency":"EUR","reference":"wire-f1"}' "${AO[@]}" -H "$(key df1)" >/dev/null
expect_eq "a contributor may not stake as a juror" 403 "$(post /v1/juror-stake '{"amount":100,"currency":"EUR"}' "${AA[@]}" -H "$(key j0)")"
expect_eq "staking without Idempotency-Key is 400" 400 "$(post /v1/juror-stake '{"amount":100,"currency":"EUR"}' "${AF[@]}")"
expect_eq "the fact-checker stakes 2000" 201 "$(post /v1/juror-stake '{"amount":2000,"currency":"EUR"}' "${AF[@]}" -H "$(key j1)")"
check "3000 available, 2000 staked" jq -e '.balance == {"currency":"EUR","available":3000,"juror_stake":2000} and .direction == "user_to_juror_stake" and (.ledger.index | type == "number")' "$T/out"
STAKE_INDEX=$(jq .ledger.index "$T/out")
STAKE_POSTING=$(jq .posting "$T/out")
expect_eq "a stake replay is 201" 201 "$(post /v1/juror-stake '{"amount":2000,"currency":"EUR"}' "${AF[@]}" -H "$(key j1)")"
check "and moves nothing again" jq -e --argjson i "$STAKE_INDEX" '.balance.juror_stake == 2000 and .ledger.index == $i' "$T/out"
expect_eq "staking more than available is 422" 422 "$(post /v1/juror-stake '{"amount":3001,"currency":"EUR"}' "${AF[@]}" -H "$(key j2)")"
expect_eq "unstaking 500 is 201" 201 "$(post /v1/juror-stake/withdrawals '{"amount":500,"currency":"EUR"}' "${AF[@]}" -H "$(key j3)")"
check "3500 available, 1500 staked" jq -e '.balance == {"currency":"EUR","available":3500,"juror_stake":1500} and .direction == "juror_stake_to_user"' "$T/out"
UNSTAKE_INDEX=$(jq .ledger.index "$T/out")
expect_eq "the ledger holds the stake entry" 200 "$(get "/v1/ledger/entries/$STAKE_INDEX")"
check "the entry is juror.staked with the account, amount and posting" jq -e --argjson p "$STAKE_POSTING" '.entry.type == "juror.staked" and .entry.amount == 2000 and .entry.currency == "EUR" and .entry.posting == $p and (.entry.account | type == "number")' "$T/out"
expect_eq "the ledger holds the unstake entry" 200 "$(get "/v1/ledger/entries/$UNSTAKE_INDEX")"
check "the entry is juror.unstaked" jq -e '.entry.type == "juror.unstaked" and .entry.amount == 500' "$T/out"
expect_eq "unstaking more than the stake is 422" 422 "$(post /v1/juror-stake/withdrawals '{"amount":1501,"currency":"EUR"}' "${AF[@]}" -H "$(key j4)")"
expect_eq "the fact-checker's balance" 200 "$(get "/v1/accounts/$IF/balance" "${AF[@]}")"
check "shows the stake" jq -e '.balances == [{"currency":"EUR","available":3500,"juror_stake":1500}]' "$T/out"

# ---- conservation, in SQL ----
expect_eq "every currency's balances sum to zero" "" "$(sql "SELECT currency FROM money_balances GROUP BY currency HAVING sum(balance) <> 0")"
expect_eq "every posting's lines sum to zero per currency" "" "$(sql "SELECT posting_id FROM money_lines GROUP BY posting_id, currency HAVING sum(delta) <> 0")"
expect_eq "no balance but external is negative" 0 "$(sql "SELECT count(*) FROM money_balances WHERE balance < 0 AND kind <> 1")"
expect_eq "every balance is the sum of its lines" 0 "$(sql "SELECT count(*) FROM money_balances b WHERE balance <> (SELECT coalesce(sum(delta), 0) FROM money_lines l WHERE (l.kind, l.account_id, l.currency) = (b.kind, b.account_id, b.currency))")"
expect_eq "money inside = deposits - withdrawals not failed (EUR)" \
    "$(sql "SELECT (SELECT sum(amount) FROM money_deposits WHERE currency = 'EUR') - (SELECT coalesce(sum(amount), 0) FROM money_withdrawals WHERE currency = 'EUR' AND state <> 'failed')")" \
    "$(sql "SELECT sum(balance) FROM money_balances WHERE currency = 'EUR' AND kind <> 1")"
expect_eq "one deposit row per credited reference" 4 "$(sql "SELECT count(*) FROM money_deposits")"

"$LODE_BIN" money audit >"$T/audit" 2>&1
expect_eq "lode money audit passes" 0 "$?"
check "and reports every check ok in EUR and JPY" grep -q '^2 currencies, 0 checks failed$' "$T/audit"
sql "UPDATE money_balances SET balance = balance + 1 WHERE kind = 2 AND account_id = $IA AND currency = 'EUR'" >/dev/null
"$LODE_BIN" money audit >"$T/audit" 2>&1
expect_eq "the audit fails on a balance changed behind the journal's back" 1 "$?"
check "naming the broken checks" grep -q '^EUR: every balance is the sum of its lines: FAILED$' "$T/audit"
expect_eq "lode money without a subcommand is a usage error" 2 "$("$LODE_BIN" money >/dev/null 2>&1; echo $?)"

e2e_finish
