#!/usr/bin/env bash
# Labeling end to end over HTTP/2: a task with overlap 3 and gold on a dataset of 10 items, four
# labelers (one who always answers wrong) served by /next round-robin, blind assignment that
# never repeats an item, every label committed in the ledger, bad input (duplicate label,
# label outside the schema, item outside the task, wrong roles), consensus by each method with
# pagination, agreement with the bad labeler ranked last.
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 64 --ledger-batch-delay-ms 5

e2e_client

O=$("$LODE_BIN" account create --role contributor --name owner | tail -n 1)
X=$("$LODE_BIN" account create --role contributor --name other | tail -n 1)
declare -a LT
for i in 1 2 3 4; do LT[$i]=$("$LODE_BIN" account create --role labeler --name "labeler$i" | tail -n 1); done
LID4=$("${CURL[@]}" -H "$(auth "${LT[4]}")" "$H/v1/me" | jq .id)
AO=(-H "$(auth "$O")")

# ---- a dataset of 10 items, and one of another owner ----
expect_eq "the owner creates a dataset" 201 "$(post /v1/datasets '{"name":"pets","policy":{"synthetic":"accept"}}' "${AO[@]}")"
D=$(jq .id "$T/out")
: >"$T/items.ndjson"
for k in $(seq 0 9); do
    printf '{"text":"photo %d: %s"}\n' "$k" "$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')" >>"$T/items.ndjson"
done
code=$("${CURL[@]}" -o "$T/out" -w '%{http_code}' "${AO[@]}" "${NDJSON[@]}" --data-binary "@$T/items.ndjson" "$H/v1/datasets/$D/items")
expect_eq "ten items are contributed" 201 "$code"
mapfile -t ITEMS < <(jq -r '.items[] | select(.status == "accepted") | .item' "$T/out")
expect_eq "all ten are accepted" 10 "${#ITEMS[@]}"
post /v1/datasets '{"name":"elsewhere","policy":{"synthetic":"accept"}}' -H "$(auth "$X")" >/dev/null
DX=$(jq .id "$T/out")
"${CURL[@]}" -o "$T/out" -H "$(auth "$X")" "${NDJSON[@]}" --data-binary "{\"text\":\"an unrelated item $RANDOM $RANDOM\"}" "$H/v1/datasets/$DX/items"
FOREIGN=$(jq '.items[0].item' "$T/out")

CLASSES='["cat","dog","bird"]'
classes=(cat dog bird)
truth() { echo "${classes[$(( $1 % 3 ))]}"; }   # the true class of ITEMS[k]
index_of() { for k in "${!ITEMS[@]}"; do [ "${ITEMS[$k]}" = "$1" ] && echo "$k"; done; }

# ---- tasks ----
TASK_BODY="{\"dataset\":$D,\"schema\":{\"type\":\"single_choice\",\"classes\":$CLASSES},\"instructions\":\"which animal?\",\"overlap\":3,\"max_overlap\":4,\"pay_per_label\":{\"amount\":5,\"currency\":\"EUR\"},\"gold_share\":0.3}"
expect_eq "another contributor may not create a task on the dataset" 403 "$(post /v1/label-tasks "$TASK_BODY" -H "$(auth "$X")")"
expect_eq "a task with one class is refused" 400 "$(post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"classes\":[\"cat\"]}}" "${AO[@]}")"
expect_eq "a task with repeated classes is refused" 400 "$(post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"classes\":[\"cat\",\"cat\"]}}" "${AO[@]}")"
expect_eq "max_overlap under overlap is refused" 400 "$(post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"classes\":$CLASSES},\"overlap\":3,\"max_overlap\":2}" "${AO[@]}")"
expect_eq "a task on an unknown dataset is 404" 404 "$(post /v1/label-tasks "{\"dataset\":999999,\"schema\":{\"classes\":$CLASSES}}" "${AO[@]}")"
expect_eq "the owner creates a task" 201 "$(post /v1/label-tasks "$TASK_BODY" "${AO[@]}")"
TASK=$(jq .id "$T/out")
check "the task has its schema, overlap, pay and ten items" jq -e '.schema.classes == ["cat","dog","bird"] and .overlap == 3 and .max_overlap == 4 and .pay_per_label.amount == 5 and .gold_share == 0.3 and .stats.items == 10 and .stats.labels == 0' "$T/out"
expect_eq "GET the task" 200 "$(get "/v1/label-tasks/$TASK" -H "$(auth "${LT[1]}")")"
expect_eq "GET an unknown task is 404" 404 "$(get /v1/label-tasks/999999 "${AO[@]}")"
# the task pays 5 EUR per label from its budget: the owner funds it (docs/labeling.md)
OID=$("${CURL[@]}" "${AO[@]}" "$H/v1/me" | jq .id)
expect_eq "an operator credits the owner" 201 "$(post "/v1/accounts/$OID/deposits" '{"amount":1000,"currency":"EUR","reference":"labeling-1"}' -H "$(auth "$(operator_token)")" -H "Idempotency-Key: dep-1")"
expect_eq "the owner funds the task" 201 "$(post "/v1/label-tasks/$TASK/funding" '{"amount":500}' "${AO[@]}" -H "Idempotency-Key: fund-1")"

# ---- gold ----
GOLD="{\"gold\":[{\"item\":${ITEMS[0]},\"label\":\"$(truth 0)\"},{\"item\":${ITEMS[1]},\"label\":\"$(truth 1)\"},{\"item\":${ITEMS[2]},\"label\":\"$(truth 2)\"}]}"
expect_eq "another account may not set gold" 403 "$(post "/v1/label-tasks/$TASK/gold" "$GOLD" -H "$(auth "$X")")"
expect_eq "gold on an item outside the task is 422" 422 "$(post "/v1/label-tasks/$TASK/gold" "{\"gold\":[{\"item\":$FOREIGN,\"label\":\"cat\"}]}" "${AO[@]}")"
expect_eq "gold outside the schema is 400" 400 "$(post "/v1/label-tasks/$TASK/gold" "{\"gold\":[{\"item\":${ITEMS[0]},\"label\":\"fish\"}]}" "${AO[@]}")"
expect_eq "the owner sets three gold answers" 200 "$(post "/v1/label-tasks/$TASK/gold" "$GOLD" "${AO[@]}")"
check "the task counts its gold" jq -e '.stats.gold == 3' "$T/out"

# ---- assignment and labels, round-robin; labeler 4 always answers wrong ----
expect_eq "a contributor may not ask for items" 403 "$(get "/v1/label-tasks/$TASK/next" "${AO[@]}")"
expect_eq "/next on an unknown task is 404" 404 "$(get /v1/label-tasks/999999/next -H "$(auth "${LT[1]}")")"
declare -A DONE SEEN
repeats=0; leaks=0; bad_status=0; LAST_IDX=""; LAST_RECEIPT=""
while :; do
    progressed=0
    for i in 4 1 2 3; do
        [ -n "${DONE[$i]:-}" ] && continue
        code=$(get "/v1/label-tasks/$TASK/next" -H "$(auth "${LT[$i]}")")
        if [ "$code" = 204 ]; then DONE[$i]=1; continue; fi
        [ "$code" = 200 ] || { bad_status=$((bad_status + 1)); DONE[$i]=1; continue; }
        progressed=1
        jq -e '(keys == ["instructions","item","schema","task"]) and (.item | keys == ["content","id","media_type","sha256"])' "$T/out" >/dev/null || leaks=$((leaks + 1))
        item=$(jq .item.id "$T/out")
        [ -n "${SEEN[$i:$item]:-}" ] && repeats=$((repeats + 1))
        SEEN[$i:$item]=1
        k=$(index_of "$item")
        label=$(truth "$k")
        [ "$i" = 4 ] && label="${classes[$(( (k + 1) % 3 ))]}"
        code=$(post "/v1/label-tasks/$TASK/labels" "{\"item\":$item,\"label\":\"$label\"}" -H "$(auth "${LT[$i]}")")
        [ "$code" = 201 ] || bad_status=$((bad_status + 1))
        LAST_IDX=$(jq .ledger.index "$T/out"); cp "$T/out" "$T/receipt"
    done
    [ "$progressed" = 0 ] && break
done
expect_eq "every /next and label answered as expected" 0 "$bad_status"
expect_eq "/next never repeats an item for a labeler" 0 "$repeats"
expect_eq "/next never shows labels, votes or a gold flag" 0 "$leaks"
expect_eq "labeler 4 saw all three gold items" 3 "$(for g in 0 1 2; do [ -n "${SEEN[4:${ITEMS[$g]}]:-}" ] && echo; done | wc -l)"

# ---- the ledger ----
check "the receipt carries index, leaf hash, proof, checkpoint and the commitment's nonce" jq -e '(.ledger.leaf_hash | length) == 64 and (.ledger.inclusion_proof | type) == "array" and .ledger.checkpoint.size > .ledger.index and (.nonce | length) == 32' "$T/receipt"
"${CURL[@]}" "$H/v1/ledger/entries/$LAST_IDX" >"$T/entry"
check "the ledger entry is label.submitted for this task and labeler" jq -e ".entry.type == \"label.submitted\" and .entry.task == $TASK and .entry.dataset == $D and .entry.labeler == $(jq .labeler "$T/receipt")" "$T/entry"
check "the entry names neither the label nor the item (gold stays hidden)" jq -e '.entry | (has("label") or has("item") or has("item_sha256")) | not' "$T/entry"
want=$(jq -c '{item, "label": .label, labeler, nonce, task}' "$T/receipt" | python3 -c 'import hashlib, json, sys; o = json.load(sys.stdin); print(hashlib.sha256(json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest())')
expect_eq "the entry's commitment opens with the receipt's label and nonce" "$want" "$(jq -r .entry.commitment "$T/entry")"

# ---- bad labels ----
L1=(-H "$(auth "${LT[1]}")")
expect_eq "a second label of the same item by the same labeler is 409" 409 "$(post "/v1/label-tasks/$TASK/labels" "{\"item\":${ITEMS[5]},\"label\":\"cat\"}" "${L1[@]}")"
expect_eq "a label outside the schema is 400" 400 "$(post "/v1/label-tasks/$TASK/labels" "{\"item\":${ITEMS[5]},\"label\":\"fish\"}" "${L1[@]}")"
check "the problem points at the label" jq -e '.pointer == "/label"' "$T/out"
expect_eq "a label for an item outside the task is 422" 422 "$(post "/v1/label-tasks/$TASK/labels" "{\"item\":$FOREIGN,\"label\":\"cat\"}" "${L1[@]}")"
expect_eq "a label on an unknown task is 404" 404 "$(post /v1/label-tasks/999999/labels "{\"item\":${ITEMS[5]},\"label\":\"cat\"}" "${L1[@]}")"
expect_eq "a label without an item is 400" 400 "$(post "/v1/label-tasks/$TASK/labels" '{"label":"cat"}' "${L1[@]}")"
expect_eq "a contributor may not label" 403 "$(post "/v1/label-tasks/$TASK/labels" "{\"item\":${ITEMS[5]},\"label\":\"cat\"}" "${AO[@]}")"

# ---- consensus ----
expect_eq "a labeler may not read the consensus (blind)" 403 "$(get "/v1/label-tasks/$TASK/consensus" "${L1[@]}")"
expect_eq "an unknown method is 400" 400 "$(get "/v1/label-tasks/$TASK/consensus?method=vote" "${AO[@]}")"
for m in mv ds auto; do
    expect_eq "consensus by $m" 200 "$(get "/v1/label-tasks/$TASK/consensus?method=$m" "${AO[@]}")"
    jq -r '.items[] | "\(.item) \(.label)"' "$T/out" >"$T/cons"
    wrong=0
    while read -r item label; do
        [ "$label" = "$(truth "$(index_of "$item")")" ] || wrong=$((wrong + 1))
    done <"$T/cons"
    expect_eq "consensus by $m equals the majority on every item" "10 0" "$(wc -l <"$T/cons") $wrong"
    check "consensus by $m: at least 3 labels per item, votes that sum up, confidence in (0,1]" jq -e '.items | all(.labels >= 3 and ([.votes[]] | add) == .labels and .confidence > 0 and .confidence <= 1)' "$T/out"
    check "consensus by $m marks exactly the gold items" jq -e "[.items[] | select(.gold) | .item] == [${ITEMS[0]},${ITEMS[1]},${ITEMS[2]}]" "$T/out"
done
got=()
cursor=""
pages=0
while :; do
    get "/v1/label-tasks/$TASK/consensus?method=mv&limit=4${cursor:+&cursor=$cursor}" "${AO[@]}" >/dev/null
    mapfile -t -O "${#got[@]}" got < <(jq -r '.items[].item' "$T/out")
    pages=$((pages + 1))
    cursor=$(jq -r '.next_cursor // empty' "$T/out")
    [ -z "$cursor" ] || [ "$pages" -gt 5 ] && break
done
expect_eq "pages of 4 cover the ten items in order" "3 ${ITEMS[*]}" "$pages ${got[*]}"

# ---- agreement ----
expect_eq "agreement" 200 "$(get "/v1/label-tasks/$TASK/agreement" "${AO[@]}")"
check "alpha is a number below 1 (one labeler disagrees)" jq -e '(.alpha_nominal | type) == "number" and .alpha_nominal < 1 and .alpha_nominal > 0' "$T/out"
check "four labelers with intervals around their accuracy" jq -e '(.labelers | length) == 4 and (.labelers | all(.accuracy.low <= .accuracy.mean and .accuracy.mean <= .accuracy.high))' "$T/out"
check "the bad labeler has the lowest estimated accuracy" jq -e "(.labelers | min_by(.accuracy.mean) | .labeler) == $LID4" "$T/out"
check "the bad labeler missed all three gold answers" jq -e ".labelers[] | select(.labeler == $LID4) | .gold.answers == 3 and .gold.right == 0" "$T/out"
expect_eq "a labeler may not read agreement" 403 "$(get "/v1/label-tasks/$TASK/agreement" "${L1[@]}")"

# ---- a consensus snapshot in the ledger ----
expect_eq "a labeler may not publish a snapshot" 403 "$(post "/v1/label-tasks/$TASK/consensus/snapshots?method=mv" '' "${L1[@]}")"
expect_eq "the owner publishes a consensus snapshot" 201 "$(post "/v1/label-tasks/$TASK/consensus/snapshots?method=mv" '' "${AO[@]}")"
cp "$T/out" "$T/snap"
check "the snapshot names its items, labels, last label and root with a receipt" jq -e '.items == 10 and .labels >= 30 and .last_label > 0 and (.root | length) == 64 and .method == "mv" and (.ledger.leaf_hash | length) == 64' "$T/snap"
"${CURL[@]}" "$H/v1/ledger/entries/$(jq .ledger.index "$T/snap")" >"$T/entry"
check "the ledger entry is label.consensus with the same root" jq -e ".entry.type == \"label.consensus\" and .entry.task == $TASK and .entry.root == \"$(jq -r .root "$T/snap")\" and .entry.items == 10 and .entry.last_label == $(jq .last_label "$T/snap")" "$T/entry"
get "/v1/label-tasks/$TASK/consensus?method=mv&limit=1000" "${AO[@]}" >/dev/null
root=$(python3 - "$T/out" <<'PY'
import hashlib, json, sys
rows = json.load(open(sys.argv[1]))["items"]
def leaf(r):
    row = {"item": r["item"], "label": r["label"], "votes": r["votes"]}
    return hashlib.sha256(b"\x00" + json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).digest()
def root(h):
    if len(h) == 1:
        return h[0]
    k = 1
    while k * 2 < len(h):
        k *= 2
    return hashlib.sha256(b"\x01" + root(h[:k]) + root(h[k:])).digest()
print(root([leaf(r) for r in rows]).hex())
PY
)
expect_eq "the root recomputes from the consensus rows (RFC 9162 over canonical JSON)" "$(jq -r .root "$T/snap")" "$root"

# ---- a task with no labels ----
post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"classes\":[\"yes\",\"no\"]}}" "${AO[@]}" >/dev/null
EMPTY=$(jq .id "$T/out")
expect_eq "consensus of a task with no labels" 200 "$(get "/v1/label-tasks/$EMPTY/consensus" "${AO[@]}")"
check "every item without a consensus label" jq -e '(.items | length) == 10 and (.items | all(.label == null and .labels == 0))' "$T/out"
expect_eq "agreement of a task with no labels" 200 "$(get "/v1/label-tasks/$EMPTY/agreement" "${AO[@]}")"
check "no alpha and no labelers" jq -e '.alpha_nominal == null and .labelers == []' "$T/out"
expect_eq "a snapshot of a task with no labels" 201 "$(post "/v1/label-tasks/$EMPTY/consensus/snapshots" '' "${AO[@]}")"
check "it covers the ten items and no label" jq -e '.items == 10 and .labels == 0 and .last_label == 0' "$T/out"

e2e_finish
