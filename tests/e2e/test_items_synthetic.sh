#!/usr/bin/env bash
# The synthetic-data detector on the contribution path, end to end: every text item is scored
# with the shipped model; a `synthetic` verdict is rejected, quarantined or accepted with a flag
# as the dataset's policy says, and appends an `item.flagged` ledger entry beside its
# `item.contributed` entry; an upload may not push a dataset past its maximum synthetic
# fraction; dataset statistics show the flagged fraction; an item's provenance (GET
# /v1/items/{sha256}) shows its verdict, score, model and item.flagged position; without a model
# nothing is scored.
#
# The machine-like texts are repetition loops, a failure mode of sampled language models (the
# shipped model calls each of them synthetic with p > 0.99); the human paragraph scores about
# 0.42 (human).
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 64 --ledger-batch-delay-ms 10

e2e_client
sql() { # runs SQL on this test's database
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    "$bin/psql" -h "$LODE_TEST_PG_DIR" -U lode -d "$E2E_DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"
}
counts() { sql "SELECT (SELECT count(*) FROM items) || ' ' || (SELECT count(*) FROM ledger_queue) || ' ' || (SELECT count(*) FROM blobs)"; }
post() { local url="$1" body="$2"; shift 2
    "${CURL[@]}" -o "$T/out" -w '%{http_code}' "$@" --data-binary "$body" "$H$url"; }
patch() { local url="$1" body="$2"; shift 2
    "${CURL[@]}" -X PATCH -o "$T/out" -w '%{http_code}' "$@" "${JSON[@]}" --data-binary "$body" "$H$url"; }
sha() { printf '%s' "$1" | sha256sum | cut -c1-64; }
rep() { local s="$1" n="$2" out="" i; for ((i = 0; i < n; i++)); do out="$out${out:+ }$s"; done; printf '%s' "$out"; }
record() { jq -cn --arg t "$1" '{text: $t}'; }

HUMAN="My grandmother kept bees behind the garage for almost thirty years, and every August the whole street smelled faintly of wax. She never wore gloves. When I asked her why, she said the bees knew her hands and that gloves only made them nervous. I was stung twice that summer, once on the ear, and she laughed so hard she had to sit down on the upturned bucket she used as a stool. We sold the honey in old jam jars with hand-written labels, two dollars each, and the money went into a tin shaped like a double-decker bus."
SYN1=$(rep "The river is quiet tonight, and the river is quiet tomorrow, and the river will be quiet when we are gone." 6)
SYN2=$(rep "I will always remember you as you are, I will always remember you as you were, I will always remember you as you could be." 5)
SYN3=$(rep "Thank you for reading this post. Please like and share this post with your friends." 8)
SYN4=$(rep "The meeting is at noon. The meeting is at noon on Monday. The meeting is at noon on Monday in the hall." 6)

A=$("$LODE_BIN" account create --role contributor --name alice | tail -n 1)
AA=(-H "Authorization: Bearer $A")
"${CURL[@]}" "$H/v1/ledger" | jq -r .verifier_key >"$T/vkey"

# ---- the policy members ----
expect_eq "a dataset has the default synthetic policy" 201 "$(post /v1/datasets '{"name":"essays"}' "${AA[@]}" "${JSON[@]}")"
check "synthetic quarantine, no maximum fraction" jq -e '.policy.synthetic == "quarantine" and .policy.max_synthetic_fraction == null' "$T/out"
DQ=$(jq .id "$T/out")
expect_eq "an unknown synthetic action is refused" 400 "$(post /v1/datasets '{"name":"x","policy":{"synthetic":"drop"}}' "${AA[@]}" "${JSON[@]}")"
check "the problem points at it" jq -e '.pointer == "/policy/synthetic"' "$T/out"
expect_eq "a maximum fraction over 1 is refused" 400 "$(post /v1/datasets '{"name":"x","policy":{"max_synthetic_fraction":1.5}}' "${AA[@]}" "${JSON[@]}")"
check "the problem points at it" jq -e '.pointer == "/policy/max_synthetic_fraction"' "$T/out"
expect_eq "a string maximum fraction is refused" 400 "$(post /v1/datasets '{"name":"x","policy":{"max_synthetic_fraction":"half"}}' "${AA[@]}" "${JSON[@]}")"
expect_eq "a dataset that rejects synthetic text" 201 "$(post /v1/datasets '{"name":"strict","policy":{"synthetic":"reject"}}' "${AA[@]}" "${JSON[@]}")"
DR=$(jq .id "$T/out")
expect_eq "a dataset that accepts synthetic text with a flag" 201 "$(post /v1/datasets '{"name":"open","policy":{"synthetic":"accept","max_synthetic_fraction":0.5}}' "${AA[@]}" "${JSON[@]}")"
check "the members are kept" jq -e '.policy.synthetic == "accept" and .policy.max_synthetic_fraction == 0.5' "$T/out"
DA=$(jq .id "$T/out")

# ---- a human paragraph ----
expect_eq "a human paragraph is contributed" 201 "$(post "/v1/datasets/$DQ/items" "$(record "$HUMAN")" "${AA[@]}" "${JSON[@]}")"
check "accepted, verdict human, not flagged, with score, reasons and model version" jq -e '.items[0].status == "accepted" and .items[0].detector.verdict == "human" and .items[0].detector.flagged == false and .items[0].detector.score < 0.5 and (.items[0].detector.reasons | length) >= 1 and (.items[0].detector.model_version | startswith("lode-detector/")) and (.items[0].detector | has("ledger") | not)' "$T/out"
VERSION=$(jq -r .items[0].detector.model_version "$T/out")
"${CURL[@]}" "$H/v1/ledger/entries/$(jq .items[0].ledger.index "$T/out")" >"$T/e"
check "its item.contributed entry records the verdict in parts per million" jq -e ".entry.type == \"item.contributed\" and .entry.detector.verdict == \"human\" and .entry.detector.model_version == \"$VERSION\" and (.entry.detector.score_ppm | type) == \"number\" and .entry.detector.score_ppm < 500000" "$T/e"
check "the item row records verdict, score and model" test "$(sql "SELECT synthetic_verdict || ' ' || (synthetic_score < 0.5) || ' ' || synthetic_flagged || ' ' || detector_model FROM items")" = "human true false $VERSION"

# ---- quarantine (the default) ----
before=$(counts)
expect_eq "a machine-like text is contributed to a quarantining dataset" 201 "$(post "/v1/datasets/$DQ/items" "$(record "$SYN1")" "${AA[@]}" "${JSON[@]}")"
cp "$T/out" "$T/rq"
check "quarantined and flagged synthetic" jq -e '.items[0].status == "quarantined" and .items[0].detector.verdict == "synthetic" and .items[0].detector.flagged == true and .items[0].detector.score >= 0.9 and (.items[0].detector.reasons | length) >= 2' "$T/rq"
check "the receipt carries the item.flagged entry's position" jq -e '(.items[0].detector.ledger.index | type) == "number" and (.items[0].detector.ledger.leaf_hash | length) == 64 and .items[0].detector.ledger.index != .items[0].ledger.index and (.items[0] | has("flag_queue_id") | not)' "$T/rq"
expect_eq "one item, two entries, one blob" "$(echo "$before" | awk '{print $1+1, $2+2, $3+1}')" "$(counts)"
ITEMQ=$(jq .items[0].item "$T/rq")
SCORE_PPM=$(jq '.items[0].detector.score * 1000000 | round' "$T/rq")
expect_eq "GET the item.flagged entry" 200 "$(get "/v1/ledger/entries/$(jq .items[0].detector.ledger.index "$T/rq")")"
check "item.flagged: item, sha256, dataset, verdict, score in ppm, model version" jq -e ".entry.type == \"item.flagged\" and .entry.item == $ITEMQ and .entry.sha256 == \"$(sha "$SYN1")\" and .entry.dataset == $DQ and .entry.verdict == \"synthetic\" and .entry.score_ppm == $SCORE_PPM and .entry.model_version == \"$VERSION\" and .entry.status == \"quarantined\" and (.entry | has(\"text\") | not)" "$T/out"
"${CURL[@]}" "$H/v1/ledger/entries/$(jq .items[0].ledger.index "$T/rq")" >"$T/e"
check "the item.contributed entry is there too" jq -e ".entry.type == \"item.contributed\" and .entry.item == $ITEMQ and .entry.status == \"quarantined\" and .entry.detector.verdict == \"synthetic\"" "$T/e"
check "the row is flagged and names its item.flagged entry" test "$(sql "SELECT synthetic_flagged AND flag_queue_id IS NOT NULL FROM items WHERE id = $ITEMQ")" = t

# ---- provenance shows the verdict, as the contributor saw it in the receipt ----
expect_eq "GET the flagged item's provenance" 200 "$(get "/v1/items/$(sha "$SYN1")" "${AA[@]}")"
check "verdict, score, model version and the item.flagged position, as in the receipt" jq -e --slurpfile r "$T/rq" '.item.detector.verdict == "synthetic" and .item.detector.flagged == true and .item.detector.score == $r[0].items[0].detector.score and .item.detector.model_version == $r[0].items[0].detector.model_version and .item.detector.ledger == $r[0].items[0].detector.ledger and .item.detector.ledger.index != .item.ledger.index' "$T/out"
expect_eq "GET the human paragraph's provenance" 200 "$(get "/v1/items/$(sha "$HUMAN")" "${AA[@]}")"
check "verdict human, its score, not flagged, no item.flagged position" jq -e ".item.detector.verdict == \"human\" and .item.detector.score < 0.5 and .item.detector.flagged == false and .item.detector.ledger == null and .item.detector.model_version == \"$VERSION\"" "$T/out"

# ---- reject ----
before=$(counts)
expect_eq "a machine-like text is refused by a rejecting dataset" 409 "$(post "/v1/datasets/$DR/items" "$(record "$SYN1")" "${AA[@]}" "${JSON[@]}")"
check "the 409 names the verdict and score" jq -e '.detector.verdict == "synthetic" and .detector.score >= 0.9 and (.detail | test("synthetic with score (0\\.9|1\\.000)")) and .record == 1 and (has("dedupe") | not)' "$T/out"
expect_eq "nothing was written" "$before" "$(counts)"
printf '%s\n%s\n' "$(record "$HUMAN")" "$(record "$SYN2")" >"$T/b1"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b1" "$H/v1/datasets/$DR/items")
expect_eq "a batch with a machine-like line is refused as a whole" 409 "$code"
check "the 409 names line 2" jq -e '.record == 2 and (.detail | startswith("line 2:")) and .detector.verdict == "synthetic"' "$T/out"
expect_eq "nothing of the batch was written" "$before" "$(counts)"
expect_eq "the human paragraph alone is accepted there" 201 "$(post "/v1/datasets/$DR/items" "$(record "$HUMAN")" "${AA[@]}" "${JSON[@]}")"

# ---- accept with a flag, and the maximum fraction ----
printf '%s\n%s\n%s\n' "$(record "$HUMAN")" "$(record "$SYN1")" "$(record "Short lines are not judged at all.")" >"$T/b2"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b2" "$H/v1/datasets/$DA/items")
expect_eq "a batch of human, machine-like and short lines (1 of 3 flagged, max 0.5)" 201 "$code"
check "human accepted; machine-like accepted with a flag; short insufficient" jq -e '.items[0].detector.verdict == "human" and .items[1].status == "accepted" and .items[1].detector.verdict == "synthetic" and .items[1].detector.flagged == true and .items[2].detector.verdict == "insufficient" and .items[2].detector.score == null and .items[2].detector.flagged == false' "$T/out"
check "the flagged line has its entry; the others none" jq -e '(.items[1].detector.ledger.index | type) == "number" and (.items[0].detector | has("ledger") | not) and (.items[2].detector | has("ledger") | not)' "$T/out"
expect_eq "stats of the dataset" 200 "$(get "/v1/datasets/$DA" "${AA[@]}")"
check "3 items, 1 flagged, fraction 1/3" jq -e '.stats.items == 3 and .stats.flagged == 1 and (.stats.synthetic_fraction - 1/3 | fabs) < 1e-9' "$T/out"
before=$(counts)
printf '%s\n%s\n' "$(record "$SYN2")" "$(record "$SYN3")" >"$T/b3"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${NDJSON[@]}" --data-binary "@$T/b3" "$H/v1/datasets/$DA/items")
expect_eq "a batch that would raise the fraction to 3/5 is refused" 409 "$code"
check "the 409 gives the fraction and the maximum, for the upload as a whole" jq -e '(.detail | test("3/5")) and (.detail | test("0\\.500")) and (has("record") | not)' "$T/out"
expect_eq "nothing of it was written" "$before" "$(counts)"
expect_eq "one machine-like text (2/4 = the maximum) is accepted" 201 "$(post "/v1/datasets/$DA/items" "$(record "$SYN2")" "${AA[@]}" "${JSON[@]}")"
expect_eq "the next one (3/5) is refused" 409 "$(post "/v1/datasets/$DA/items" "$(record "$SYN3")" "${AA[@]}" "${JSON[@]}")"
expect_eq "the owner removes the maximum" 200 "$(patch "/v1/datasets/$DA" '{"policy":{"max_synthetic_fraction":null}}' "${AA[@]}")"
check "the maximum is gone, the action stays" jq -e '.policy.max_synthetic_fraction == null and .policy.synthetic == "accept"' "$T/out"
expect_eq "then a machine-like text is accepted" 201 "$(post "/v1/datasets/$DA/items" "$(record "$SYN3")" "${AA[@]}" "${JSON[@]}")"
get "/v1/datasets/$DA" "${AA[@]}" >/dev/null
check "stats: 5 items, 3 flagged" jq -e '.stats.items == 5 and .stats.flagged == 3 and (.stats.synthetic_fraction - 0.6 | fabs) < 1e-9' "$T/out"
patch "/v1/datasets/$DA" '{"policy":{"max_synthetic_fraction":0.5}}' "${AA[@]}" >/dev/null
expect_eq "past the maximum, an upload that flags nothing is still accepted" 201 "$(post "/v1/datasets/$DA/items" "$(record "Another note about the weather and the long walk home.")" "${AA[@]}" "${JSON[@]}")"
get "/v1/datasets/$DA" "${AA[@]}" >/dev/null
check "stats: 6 items, 3 flagged, fraction 0.5" jq -e '.stats.items == 6 and .stats.flagged == 3 and .stats.synthetic_fraction == 0.5' "$T/out"
expect_eq "the owner sets the synthetic action by PATCH" 200 "$(patch "/v1/datasets/$DQ" '{"policy":{"synthetic":"reject","max_synthetic_fraction":0}}' "${AA[@]}")"
check "both members changed" jq -e '.policy.synthetic == "reject" and .policy.max_synthetic_fraction == 0' "$T/out"
get "/v1/datasets/$DQ" "${AA[@]}" >/dev/null
check "stats of the quarantining dataset: 2 items, 1 flagged" jq -e '.stats.items == 2 and .stats.flagged == 1 and .stats.synthetic_fraction == 0.5' "$T/out"
check "a list does not carry statistics" bash -c "${CURL[*]} ${AA[*]} $H/v1/datasets | jq -e '.items[0] | has(\"stats\") | not'"

# ---- an Idempotency-Key replay renders the same receipts, item.flagged position included
post /v1/datasets '{"name":"replayed","policy":{"synthetic":"accept"}}' "${AA[@]}" "${JSON[@]}" >/dev/null
DI=$(jq .id "$T/out")
expect_eq "a flagged item under an Idempotency-Key" 201 "$(post "/v1/datasets/$DI/items" "$(record "$SYN4")" "${AA[@]}" "${JSON[@]}" -H "idempotency-key: syn-4")"
cp "$T/out" "$T/i1"
expect_eq "the same request again" 201 "$(post "/v1/datasets/$DI/items" "$(record "$SYN4")" "${AA[@]}" "${JSON[@]}" -H "idempotency-key: syn-4")"
check "the replay has the same detector verdict and ledger positions" jq -e --slurpfile a "$T/i1" '.items[0].detector == $a[0].items[0].detector and .items[0].ledger.index == $a[0].items[0].ledger.index and .items[0].detector.flagged == true' "$T/out"

# ---- files are not scored; without a model nothing is
printf 'binary\0data' >"$T/f"
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" -H "content-type: application/octet-stream" -H "lode-filename: f.bin" --data-binary "@$T/f" "$H/v1/datasets/$DA/items")
expect_eq "a file is contributed" 201 "$code"
check "a file is not scored, and says so" jq -e '.items[0].detector.verdict == "unscored" and .items[0].detector.score == null and (.items[0].detector.reasons[0] | test("files"))' "$T/out"
expect_eq "GET the file's provenance" 200 "$(get "/v1/items/$(printf 'binary\0data' | sha256sum | cut -c1-64)" "${AA[@]}")"
check "the file shows as unscored" jq -e '.item.detector == {"verdict": "unscored", "score": null, "model_version": null, "flagged": false, "ledger": null}' "$T/out"
e2e_stop_server
E2E_SERVE_ARGS+=(--detector-model "$T/no-such-model.ldm")
e2e_serve
expect_eq "without a model a machine-like text is accepted" 201 "$(post "/v1/datasets/$DR/items" "$(record "$SYN4")" "${AA[@]}" "${JSON[@]}")"
check "unscored, not flagged, and the receipt says why" jq -e '.items[0].status == "accepted" and .items[0].detector.verdict == "unscored" and .items[0].detector.flagged == false and (.items[0].detector.reasons[0] | test("no detector model"))' "$T/out"
check "the row has no verdict" test "$(sql "SELECT synthetic_verdict IS NULL AND NOT synthetic_flagged FROM items WHERE dataset_id = $DR AND sha256 = '\\x$(sha "$SYN4")'")" = t

e2e_finish
