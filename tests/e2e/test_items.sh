#!/usr/bin/env bash
# Datasets and contributions end to end over HTTP/2: dataset policy, uploads of one record, of
# NDJSON batches and of files, receipts verified offline, exact and near-duplicate verdicts
# under each policy and scope, contributor signatures, Idempotency-Key replays, provenance and
# content lookups, and bad input answered with a precise 4xx that writes nothing.
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 64 --ledger-batch-delay-ms 10

e2e_client
DB_URL="$LODE_DATABASE_URL"
sql() { # runs SQL on this test's database
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    "$bin/psql" -h "$LODE_TEST_PG_DIR" -U lode -d "$E2E_DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"
}
counts() { sql "SELECT (SELECT count(*) FROM items) || ' ' || (SELECT count(*) FROM ledger_queue) || ' ' || (SELECT count(*) FROM blobs) || ' ' || (SELECT count(*) FROM item_bands)"; }

"${CURL[@]}" "$H/v1/ledger" | jq -r .verifier_key >"$T/vkey"
A=$("$LODE_BIN" account create --role contributor --name alice | tail -n 1)
B=$("$LODE_BIN" account create --role publisher --name bob | tail -n 1)
L=$("$LODE_BIN" account create --role labeler --name lena | tail -n 1)
AA=(-H "Authorization: Bearer $A")
AB=(-H "Authorization: Bearer $B")
AID=$("${CURL[@]}" "${AA[@]}" "$H/v1/me" | jq .id)
BID=$("${CURL[@]}" "${AB[@]}" "$H/v1/me" | jq .id)

# post URL BODY [curl args...] -> status; body in $T/out
post() { local url="$1" body="$2"; shift 2
    "${CURL[@]}" -o "$T/out" -w '%{http_code}' "$@" --data-binary "$body" "$H$url"; }
patch() { local url="$1" body="$2"; shift 2
    "${CURL[@]}" -X PATCH -o "$T/out" -w '%{http_code}' "$@" "${JSON[@]}" --data-binary "$body" "$H$url"; }
sha() { printf '%s' "$1" | sha256sum | cut -c1-64; }

# ---- datasets ----
expect_eq "a contributor creates a dataset" 201 "$(post /v1/datasets '{"name":"poems","description":"short poems"}' "${AA[@]}" "${JSON[@]}")"
check "the caller owns it, with the default policy" jq -e ".owner == $AID and .policy.exact_duplicate == \"reject\" and .policy.near_duplicate == \"quarantine\" and .policy.near_threshold == 0.75 and .policy.scope == \"dataset\" and .policy.signatures == \"optional\"" "$T/out"
D1=$(jq .id "$T/out")
expect_eq "a publisher creates a dataset with a policy" 201 "$(post /v1/datasets '{"name":"news","policy":{"near_duplicate":"accept","near_threshold":0.8,"scope":"global"}}' "${AB[@]}" "${JSON[@]}")"
check "the given policy members are kept" jq -e '.policy.near_duplicate == "accept" and .policy.near_threshold == 0.8 and .policy.scope == "global" and .policy.exact_duplicate == "reject"' "$T/out"
DG=$(jq .id "$T/out")
expect_eq "a labeler may not create a dataset" 403 "$(post /v1/datasets '{"name":"x"}' -H "Authorization: Bearer $L" "${JSON[@]}")"
expect_eq "a threshold under 0.7 is refused" 400 "$(post /v1/datasets '{"name":"x","policy":{"near_threshold":0.5}}' "${AA[@]}" "${JSON[@]}")"
check "the problem points at the threshold" jq -e '.pointer == "/policy/near_threshold"' "$T/out"
expect_eq "an unknown action is refused" 400 "$(post /v1/datasets '{"name":"x","policy":{"exact_duplicate":"drop"}}' "${AA[@]}" "${JSON[@]}")"
expect_eq "an unknown policy member is refused" 400 "$(post /v1/datasets '{"name":"x","policy":{"colour":"red"}}' "${AA[@]}" "${JSON[@]}")"
expect_eq "a dataset without a name is refused" 400 "$(post /v1/datasets '{"description":"x"}' "${AA[@]}" "${JSON[@]}")"
expect_eq "GET a dataset" 200 "$(get "/v1/datasets/$D1" "${AB[@]}")"
check "GET returns its name" jq -e '.name == "poems"' "$T/out"
expect_eq "datasets need a token" 401 "$(get /v1/datasets)"
expect_eq "GET an unknown dataset is 404" 404 "$(get /v1/datasets/999999 "${AA[@]}")"
expect_eq "list one owner's datasets" 200 "$(get "/v1/datasets?owner=$BID" "${AA[@]}")"
check "the owner filter applies" jq -e "(.items | length) == 1 and .items[0].id == $DG" "$T/out"
get "/v1/datasets?limit=1" "${AA[@]}" >/dev/null
CUR=$(jq -r .next_cursor "$T/out")
check "a full page has a cursor" jq -e "(.items | length) == 1 and .items[0].id == $D1" "$T/out"
get "/v1/datasets?limit=1&cursor=$CUR" "${AA[@]}" >/dev/null
check "the cursor gives the next page" jq -e ".items[0].id == $DG" "$T/out"
expect_eq "a bad cursor is refused" 400 "$(get "/v1/datasets?cursor=x" "${AA[@]}")"
expect_eq "another account may not change a dataset" 403 "$(patch "/v1/datasets/$D1" '{"description":"mine"}' "${AB[@]}")"
expect_eq "the owner changes the description" 200 "$(patch "/v1/datasets/$D1" '{"description":"short poems, curated"}' "${AA[@]}")"
check "only the description changed" jq -e '.description == "short poems, curated" and .policy.exact_duplicate == "reject"' "$T/out"

# ---- one record ----
TXT1="The quick brown fox jumps over the lazy dog while the farmer sleeps under the old oak tree near the river bank."
before=$(counts)
expect_eq "a JSON record is contributed" 201 "$(post "/v1/datasets/$D1/items" "{\"text\":\"$TXT1\",\"meta\":{\"lang\":\"en\"}}" "${AA[@]}" "${JSON[@]}")"
cp "$T/out" "$T/r1"
check "the receipt names item, hash, status and verdict" jq -e ".dataset == $D1 and (.items | length) == 1 and .items[0].sha256 == \"$(sha "$TXT1")\" and .items[0].status == \"accepted\" and .items[0].dedupe.verdict == \"distinct\" and .items[0].signed == false" "$T/r1"
check "the receipt carries ledger index, leaf hash, proof and checkpoint" jq -e '(.items[0].ledger.index | type) == "number" and (.items[0].ledger.leaf_hash | length) == 64 and (.items[0].ledger.inclusion_proof | type) == "array" and .checkpoint.size > .items[0].ledger.index' "$T/r1"
ITEM1=$(jq .items[0].item "$T/r1")
IDX1=$(jq .items[0].ledger.index "$T/r1")
jq -j .checkpoint.note "$T/r1" >"$T/cp1"
jq '{proof: .items[0].ledger.inclusion_proof}' "$T/r1" >"$T/p1"
check "the receipt verifies offline (lode verify inclusion)" "$LODE_BIN" verify inclusion --vkey "@$T/vkey" \
    --checkpoint "$T/cp1" --index "$IDX1" --proof "$T/p1" --leaf-hash "$(jq -r .items[0].ledger.leaf_hash "$T/r1" | xxd -r -p | base64)"
"${CURL[@]}" "$H/v1/ledger/entries/$IDX1" >"$T/e1"
check "the ledger entry is item.contributed with hashes and references only" jq -e ".entry.type == \"item.contributed\" and .entry.item == $ITEM1 and .entry.dataset == $D1 and .entry.contributor == $AID and .entry.sha256 == \"$(sha "$TXT1")\" and .entry.dedupe.verdict == \"distinct\" and (.entry | has(\"text\") | not)" "$T/e1"
expect_eq "one item, one entry, one blob and its bands were written" \
    "$(echo "$before" | awk '{print $1+1, $2+1, $3+1}')" "$(counts | awk '{print $1, $2, $3}')"
check "the item's band keys are stored" test "$(sql "SELECT count(*) FROM item_bands WHERE item_id = $ITEM1")" -ge 20

# ---- exact duplicates ----
before=$(counts)
DUP1="THE QUICK brown fox -- jumps over the lazy dog, while the farmer sleeps under the old oak tree near the river bank!"
expect_eq "an exact duplicate (same normalised text) is rejected by default" 409 "$(post "/v1/datasets/$D1/items" "{\"text\":\"$DUP1\"}" "${AA[@]}" "${JSON[@]}")"
check "the 409 names the matched item and its hash" jq -e ".dedupe.verdict == \"exact\" and .dedupe.duplicate_of.item == $ITEM1 and .dedupe.duplicate_of.sha256 == \"$(sha "$TXT1")\" and .dedupe.similarity == 1" "$T/out"
expect_eq "a rejected item writes nothing" "$before" "$(counts)"
post /v1/datasets '{"name":"verse"}' "${AB[@]}" "${JSON[@]}" >/dev/null
D2=$(jq .id "$T/out")
expect_eq "the same record in another dataset (scope dataset) is distinct" 201 "$(post "/v1/datasets/$D2/items" "{\"text\":\"$TXT1\"}" "${AB[@]}" "${JSON[@]}")"
check "... and shares the stored blob" test "$(sql "SELECT count(*) FROM blobs WHERE sha256 = '\\x$(sha "$TXT1")'")" = 1
ITEMG=$(jq .items[0].item "$T/out")

# ---- near duplicates under each policy ----
NEAR1="The quick brown fox jumps over the lazy dog while the farmer sleeps under the old oak tree near the river bend."
expect_eq "a near duplicate is quarantined by default" 201 "$(post "/v1/datasets/$D1/items" "{\"text\":\"$NEAR1\"}" "${AA[@]}" "${JSON[@]}")"
check "verdict near, matched item, verified similarity at or above the threshold" jq -e ".items[0].status == \"quarantined\" and .items[0].dedupe.verdict == \"near\" and .items[0].dedupe.duplicate_of.item == $ITEM1 and .items[0].dedupe.similarity >= 0.75 and .items[0].dedupe.similarity < 1 and .items[0].dedupe.similarity_exact == true" "$T/out"
NEARITEM=$(jq .items[0].item "$T/out")
"${CURL[@]}" "$H/v1/ledger/entries/$(jq .items[0].ledger.index "$T/out")" >"$T/e2"
check "the entry records status and verdict (similarity in millionths)" jq -e ".entry.status == \"quarantined\" and .entry.dedupe.duplicate_of == $ITEM1 and (.entry.dedupe.similarity_ppm | type) == \"number\"" "$T/e2"
expect_eq "the owner sets near duplicates to reject" 200 "$(patch "/v1/datasets/$D1" '{"policy":{"near_duplicate":"reject"}}' "${AA[@]}")"
before=$(counts)
NEAR2="The quick brown fox jumps over the lazy dog while the farmer sleeps under the old oak tree near the river banks."
expect_eq "a near duplicate is then rejected" 409 "$(post "/v1/datasets/$D1/items" "{\"text\":\"$NEAR2\"}" "${AA[@]}" "${JSON[@]}")"
check "the 409 names the near match and its similarity" jq -e '.dedupe.verdict == "near" and .dedupe.similarity >= 0.75 and (.dedupe.duplicate_of.item | type) == "number"' "$T/out"
expect_eq "nothing was written" "$before" "$(counts)"
patch "/v1/datasets/$D1" '{"policy":{"near_duplicate":"accept","exact_duplicate":"quarantine"}}' "${AA[@]}" >/dev/null
expect_eq "a near duplicate is accepted with a flag under accept" 201 "$(post "/v1/datasets/$D1/items" "{\"text\":\"$NEAR2\"}" "${AA[@]}" "${JSON[@]}")"
check "accepted, flagged near" jq -e '.items[0].status == "accepted" and .items[0].dedupe.verdict == "near"' "$T/out"
expect_eq "an exact duplicate is quarantined under quarantine" 201 "$(post "/v1/datasets/$D1/items" "{\"text\":\"$DUP1\"}" "${AA[@]}" "${JSON[@]}")"
check "quarantined, flagged exact" jq -e ".items[0].status == \"quarantined\" and .items[0].dedupe.verdict == \"exact\" and .items[0].dedupe.duplicate_of.item == $ITEM1" "$T/out"
patch "/v1/datasets/$D1" '{"policy":{"exact_duplicate":"reject","near_duplicate":"quarantine"}}' "${AA[@]}" >/dev/null
expect_eq "an unrelated text is distinct" 201 "$(post "/v1/datasets/$D1/items" '{"text":"Rain on the tin roof, a kettle humming, and letters from a faraway sister."}' "${AA[@]}" "${JSON[@]}")"
check "distinct" jq -e '.items[0].dedupe.verdict == "distinct" and .items[0].status == "accepted"' "$T/out"
# scope global: the news dataset sees poems' items too
expect_eq "scope global finds an exact duplicate in another dataset" 409 "$(post "/v1/datasets/$DG/items" '{"text":"rain on the tin roof a kettle humming and letters from a faraway sister"}' "${AB[@]}" "${JSON[@]}")"

# ---- NDJSON batches ----
printf '{"text":"first line of a batch about mountains and valleys"}\n{"text":"second line of a batch about oceans and rivers","meta":{"n":2}}\r\n{"text":"third line of a batch about deserts and dunes"}\n' >"$T/b1"
before=$(counts)
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b1" "$H/v1/datasets/$D1/items")
expect_eq "an NDJSON batch of three is contributed" 201 "$code"
check "three receipts in input order, one checkpoint" jq -e ".items | length == 3 and .[0].sha256 == \"$(sha 'first line of a batch about mountains and valleys')\" and .[2].sha256 == \"$(sha 'third line of a batch about deserts and dunes')\"" "$T/out"
check "consecutive ledger indices" jq -e '.items[1].ledger.index == .items[0].ledger.index + 1 and .items[2].ledger.index == .items[1].ledger.index + 1' "$T/out"
jq -j .checkpoint.note "$T/out" >"$T/cpb"
jq '{proof: .items[2].ledger.inclusion_proof}' "$T/out" >"$T/pb"
check "a batch receipt verifies offline" "$LODE_BIN" verify inclusion --vkey "@$T/vkey" --checkpoint "$T/cpb" \
    --index "$(jq .items[2].ledger.index "$T/out")" --proof "$T/pb" --leaf-hash "$(jq -r .items[2].ledger.leaf_hash "$T/out" | xxd -r -p | base64)"
expect_eq "a batch writes three items and three entries" "$(echo "$before" | awk '{print $1+3, $2+3}')" "$(counts | awk '{print $1, $2}')"
before=$(counts)
printf '{"text":"a fresh line about clocks"}\n{"text":"A fresh line, about clocks!"}\n' >"$T/b2"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b2" "$H/v1/datasets/$D1/items")
expect_eq "a batch is checked against itself (exact reject)" 409 "$code"
check "the 409 names line 2" jq -e '.record == 2 and (.detail | startswith("line 2:")) and .dedupe.verdict == "exact"' "$T/out"
expect_eq "a rejected batch writes nothing (all or nothing)" "$before" "$(counts)"
printf '{"text":"ok one"}\n{"text": oops}\n{"text":"ok three"}\n' >"$T/b3"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b3" "$H/v1/datasets/$D1/items")
expect_eq "invalid JSON on a line is 400" 400 "$code"
check "the problem names line 2" jq -e '.pointer == "/line/2" and (.detail | startswith("line 2:"))' "$T/out"
printf '{"text":"ok one"}\n\n{"text":"ok three"}\n' >"$T/b4"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b4" "$H/v1/datasets/$D1/items")
expect_eq "an empty line is 400" 400 "$code"
check "... naming line 2" jq -e '.pointer == "/line/2"' "$T/out"
printf '{"text":"ok"}\n{"txt":"typo"}\n' >"$T/b5"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b5" "$H/v1/datasets/$D1/items")
expect_eq "an unknown field is 400" 400 "$code"
check "... naming line 2" jq -e '.pointer == "/line/2"' "$T/out"
python3 -c 'import sys; sys.stdout.write("".join("{\"text\":\"line %d\"}\n" % i for i in range(1001)))' >"$T/b6"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b6" "$H/v1/datasets/$D1/items")
expect_eq "a batch of 1001 records is 413" 413 "$code"
python3 -c 'import sys; sys.stdout.write(("{\"text\":\"%s\"}\n" % ("x" * 1000000)) * 9)' >"$T/b7"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b7" "$H/v1/datasets/$D1/items")
expect_eq "a batch over 8 MiB is 413" 413 "$code"

# ---- bad input ----
before=$(counts)
expect_eq "an empty body is 400" 400 "$(post "/v1/datasets/$D1/items" "" "${AA[@]}" "${JSON[@]}")"
printf '{"text":"caf\xe9 latin-1"}' >"$T/latin1"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${JSON[@]}" --data-binary "@$T/latin1" "$H/v1/datasets/$D1/items")
expect_eq "non-UTF-8 text is 400" 400 "$code"
printf '{"text":"ok"}\n{"text":"caf\xe9"}\n' >"$T/latin2"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/latin2" "$H/v1/datasets/$D1/items")
expect_eq "non-UTF-8 text on a line is 400" 400 "$code"
check "... naming line 2" jq -e '.pointer == "/line/2"' "$T/out"
expect_eq "an empty text is 400" 400 "$(post "/v1/datasets/$D1/items" '{"text":""}' "${AA[@]}" "${JSON[@]}")"
expect_eq "a text that is not a string is 400" 400 "$(post "/v1/datasets/$D1/items" '{"text":42}' "${AA[@]}" "${JSON[@]}")"
python3 -c 'import sys; sys.stdout.write("{\"text\":\"%s\"}" % ("y" * 1100000))' >"$T/big"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${JSON[@]}" --data-binary "@$T/big" "$H/v1/datasets/$D1/items")
expect_eq "a text over 1 MiB is 413" 413 "$code"
head -c 17000000 /dev/zero >"$T/huge"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" -H "content-type: application/octet-stream" -H "lode-filename: z.bin" --data-binary "@$T/huge" "$H/v1/datasets/$D1/items")
expect_eq "a file over 16 MiB is 413" 413 "$code"
expect_eq "an unknown dataset is 404" 404 "$(post /v1/datasets/999999/items '{"text":"lost"}' "${AA[@]}" "${JSON[@]}")"
expect_eq "a text/plain body is 415" 415 "$(post "/v1/datasets/$D1/items" 'plain' "${AA[@]}" -H "content-type: text/plain")"
expect_eq "a labeler may not contribute" 403 "$(post "/v1/datasets/$D1/items" '{"text":"labels"}' -H "Authorization: Bearer $L" "${JSON[@]}")"
expect_eq "no bad input wrote anything" "$before" "$(counts)"

# ---- signatures ----
openssl genpkey -algorithm ed25519 -out "$T/a.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$T/b.pem" 2>/dev/null
openssl genpkey -algorithm ed25519 -out "$T/c.pem" 2>/dev/null
pk() { openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64; }
sign() { printf '%s' "$2" | sha256sum | cut -c1-64 | xxd -r -p >"$T/h.bin"
    openssl pkeyutl -sign -inkey "$1" -rawin -in "$T/h.bin" | base64 -w0; }
PKA=$(pk "$T/a.pem"); PKB=$(pk "$T/b.pem"); PKC=$(pk "$T/c.pem")
post "/v1/accounts/$AID/keys" "{\"public_key\":\"$PKA\"}" "${AA[@]}" "${JSON[@]}" >/dev/null
post "/v1/accounts/$BID/keys" "{\"public_key\":\"$PKB\"}" "${AB[@]}" "${JSON[@]}" >/dev/null
STXT="A signed record about lighthouses, fog horns and the sailors who listen for them."
code=$(post "/v1/datasets/$D1/items" "{\"text\":\"$STXT\"}" "${AA[@]}" "${JSON[@]}" -H "lode-key: $PKA" -H "lode-signature: $(sign "$T/a.pem" "$STXT")")
expect_eq "a record signed with the caller's key is accepted" 201 "$code"
check "the receipt says signed" jq -e '.items[0].signed == true' "$T/out"
SIDX=$(jq .items[0].ledger.index "$T/out")
"${CURL[@]}" "$H/v1/ledger/entries/$SIDX" >"$T/es"
check "the ledger entry carries key and signature" jq -e ".entry.key == \"$PKA\" and .entry.signature == \"$(sign "$T/a.pem" "$STXT")\"" "$T/es"
before=$(counts)
OTXT="Another record, signed over the wrong text on purpose by its author."
code=$(post "/v1/datasets/$D1/items" "{\"text\":\"$OTXT\"}" "${AA[@]}" "${JSON[@]}" -H "lode-key: $PKA" -H "lode-signature: $(sign "$T/a.pem" "$STXT")")
expect_eq "a signature that does not verify is 422" 422 "$code"
code=$(post "/v1/datasets/$D1/items" "{\"text\":\"$OTXT\"}" "${AA[@]}" "${JSON[@]}" -H "lode-key: $PKB" -H "lode-signature: $(sign "$T/b.pem" "$OTXT")")
expect_eq "a key registered to another account is 403" 403 "$code"
code=$(post "/v1/datasets/$D1/items" "{\"text\":\"$OTXT\"}" "${AA[@]}" "${JSON[@]}" -H "lode-key: $PKC" -H "lode-signature: $(sign "$T/c.pem" "$OTXT")")
expect_eq "an unregistered key is 422" 422 "$code"
code=$(post "/v1/datasets/$D1/items" "{\"text\":\"$OTXT\"}" "${AA[@]}" "${JSON[@]}" -H "lode-key: $PKA")
expect_eq "a key without a signature is 400" 400 "$code"
printf '{"text":"batch line one, signed"}\n{"text":"batch line two, signed by another","key":"%s","signature":"%s"}\n' \
    "$PKB" "$(sign "$T/b.pem" "batch line two, signed by another")" >"$T/bs"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/bs" "$H/v1/datasets/$D1/items")
expect_eq "a batch line signed with another account's key is 403" 403 "$code"
check "... naming line 2" jq -e '.pointer == "/line/2"' "$T/out"
expect_eq "failed signatures wrote nothing" "$before" "$(counts)"
printf '{"text":"batch line one, signed","key":"%s","signature":"%s"}\n' "$PKA" "$(sign "$T/a.pem" "batch line one, signed")" >"$T/bs2"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/bs2" "$H/v1/datasets/$D1/items")
expect_eq "a batch line signed in its fields is accepted" 201 "$code"
check "... and marked signed" jq -e '.items[0].signed == true' "$T/out"
patch "/v1/datasets/$D1" '{"policy":{"signatures":"required"}}' "${AA[@]}" >/dev/null
expect_eq "an unsigned record where signatures are required is 422" 422 "$(post "/v1/datasets/$D1/items" '{"text":"unsigned words"}' "${AA[@]}" "${JSON[@]}")"
patch "/v1/datasets/$D1" '{"policy":{"signatures":"optional"}}' "${AA[@]}" >/dev/null

# ---- Idempotency-Key ----
before=$(counts)
ITXT="An idempotent record about bread, salt and the patience of bakers."
expect_eq "an upload with an Idempotency-Key" 201 "$(post "/v1/datasets/$D1/items" "{\"text\":\"$ITXT\"}" "${AA[@]}" "${JSON[@]}" -H "idempotency-key: up-1")"
cp "$T/out" "$T/i1"
code=$("${CURL[@]}" -D "$T/hdr" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${JSON[@]}" -H "idempotency-key: up-1" --data-binary "{\"text\":\"$ITXT\"}" "$H/v1/datasets/$D1/items")
expect_eq "its retry is answered 201 again" 201 "$code"
expect_eq "the retry returns the same item" "$(jq .items[0].item "$T/i1") $(jq .items[0].ledger.index "$T/i1")" "$(jq .items[0].item "$T/out") $(jq .items[0].ledger.index "$T/out")"
check "the retry is marked as a replay" grep -qi '^idempotent-replayed: true' "$T/hdr"
expect_eq "a retried upload created one item only" "$(echo "$before" | awk '{print $1+1, $2+1}')" "$(counts | awk '{print $1, $2}')"
before=$(counts)
printf '{"text":"idempotent batch line about harbours"}\n{"text":"idempotent batch line about mountain passes"}\n' >"$T/bi"
code=$("${CURL[@]}" -o "$T/bi1" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" -H "idempotency-key: batch-1" --data-binary "@$T/bi" "$H/v1/datasets/$D1/items")
expect_eq "a batch with an Idempotency-Key" 201 "$code"
code=$("${CURL[@]}" -o "$T/bi2" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" -H "idempotency-key: batch-1" --data-binary "@$T/bi" "$H/v1/datasets/$D1/items")
expect_eq "its retry replays the same two receipts" "201 $(jq -c '[.items[] | [.item, .ledger.index]]' "$T/bi1")" "$code $(jq -c '[.items[] | [.item, .ledger.index]]' "$T/bi2")"
expect_eq "a malformed Idempotency-Key is 400" 400 "$(post "/v1/datasets/$D1/items" '{"text":"x y z"}' "${AA[@]}" "${JSON[@]}" -H "idempotency-key: has space")"
expect_eq "the key with another body is 422" 422 "$(post "/v1/datasets/$D1/items" '{"text":"something else"}' "${AA[@]}" "${JSON[@]}" -H "idempotency-key: up-1")"
expect_eq "a retried batch created its two items once" "$(echo "$before" | awk '{print $1+2, $2+2}')" "$(counts | awk '{print $1, $2}')"

# ---- files ----
head -c 5000 /dev/urandom >"$T/file.bin"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" -H "content-type: application/octet-stream" -H "lode-filename: sample.bin" -H "lode-media-type: application/x-sample" --data-binary "@$T/file.bin" "$H/v1/datasets/$D1/items")
expect_eq "a file is contributed" 201 "$code"
FHASH=$(sha256sum "$T/file.bin" | cut -c1-64)
check "its receipt has the file's hash and media type" jq -e ".items[0].sha256 == \"$FHASH\" and .items[0].media_type == \"application/x-sample\" and .items[0].bytes == 5000" "$T/out"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" -H "content-type: application/octet-stream" -H "lode-filename: again.bin" --data-binary "@$T/file.bin" "$H/v1/datasets/$D1/items")
expect_eq "the same file again is an exact duplicate (rejected)" 409 "$code"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" -H "content-type: application/octet-stream" --data-binary "@$T/file.bin" "$H/v1/datasets/$D1/items")
expect_eq "a file without Lode-Filename is 400" 400 "$code"
code=$("${CURL[@]}" -o "$T/got.bin" -D "$T/hdr" -w '%{http_code}' "${AA[@]}" "$H/v1/items/$FHASH/content")
expect_eq "the file's content is served" 200 "$code"
check "byte for byte" cmp "$T/file.bin" "$T/got.bin"
check "with its media type" grep -qi '^content-type: application/x-sample' "$T/hdr"

# ---- provenance and content ----
expect_eq "provenance of the first record" 200 "$(get "/v1/items/$(sha "$TXT1")" "${AB[@]}")"
check "contributor, dataset, time, verdict and ledger position" jq -e ".item.item == $ITEM1 and .item.contributor == $AID and .item.dataset == $D1 and (.item.created_at | type) == \"string\" and .item.dedupe.verdict == \"distinct\" and .item.ledger.index == $IDX1 and .item.meta.lang == \"en\" and .item.signature == null" "$T/out"
check "the same bytes in another dataset are listed as a copy" jq -e "[.copies[].item] == [$ITEMG]" "$T/out"
check "its recorded duplicates are listed with their verdicts" jq -e "[.duplicates[] | select(.item == $NEARITEM) | .dedupe.verdict] == [\"near\"] and ([.duplicates[].dedupe.verdict] | index(\"exact\") != null)" "$T/out"
jq -j .checkpoint.note "$T/out" >"$T/cpp"
jq '{proof: .inclusion_proof}' "$T/out" >"$T/pp"
check "the inclusion proof verifies against the latest checkpoint" "$LODE_BIN" verify inclusion --vkey "@$T/vkey" \
    --checkpoint "$T/cpp" --index "$IDX1" --proof "$T/pp" --leaf-hash "$(jq -r .item.ledger.leaf_hash "$T/out" | xxd -r -p | base64)"
expect_eq "provenance of a signed record" 200 "$(get "/v1/items/$(sha "$STXT")" "${AB[@]}")"
check "shows key and signature" jq -e ".item.signature.key == \"$PKA\" and .item.signature.algorithm == \"ed25519\"" "$T/out"
code=$("${CURL[@]}" -o "$T/content" -D "$T/hdr" -w '%{http_code}' "${AA[@]}" "$H/v1/items/$(sha "$TXT1")/content")
expect_eq "the content of a record" 200 "$code"
expect_eq "is its text, decompressed" "$TXT1" "$(cat "$T/content")"
check "as text/plain" grep -qi '^content-type: text/plain; charset=utf-8' "$T/hdr"
expect_eq "an unknown hash is 404" 404 "$(get "/v1/items/$(sha nothing-here)" "${AA[@]}")"
expect_eq "a malformed hash is 404" 404 "$(get /v1/items/xyz "${AA[@]}")"
expect_eq "an unknown hash's content is 404" 404 "$(get "/v1/items/$(sha nothing-here)/content" "${AA[@]}")"

# ---- concurrency: the same text uploaded 8 times at once yields one item ----
before=$(counts)
CTXT="Concurrent uploads of a single sentence about snow falling on cedars in December."
pids=()
for i in $(seq 1 8); do
    "${CURL[@]}" -o /dev/null -w '%{http_code}' "${AA[@]}" "${JSON[@]}" --data-binary "{\"text\":\"$CTXT\"}" \
        "$H/v1/datasets/$D1/items" >"$T/cc$i" &
    pids+=($!)
done
wait "${pids[@]}"
expect_eq "of 8 concurrent identical uploads one is accepted, 7 rejected" "1 7" \
    "$(cat "$T"/cc* | grep -o 201 | wc -l) $(cat "$T"/cc* | grep -o 409 | wc -l)"
expect_eq "one item was written" "$(echo "$before" | awk '{print $1+1}')" "$(counts | awk '{print $1}')"

e2e_finish
