#!/usr/bin/env bash
# Labeling task kinds end to end over HTTP/2: a multi-label task and a rating task, each with
# four labelers (one unreliable) and gold, served by /next; labels outside the schema (400 with
# a pointer at the offending element); commitments over the canonical label; consensus,
# agreement checked against Krippendorff's alpha computed here independently (pooled and
# per-class nominal for multi-label, interval for ratings), consensus snapshots whose roots
# recompute from the rows; then /next leases: ten labelers asking at once over one TLS
# connection never push an item past its overlap, and a lease that expires frees its item.
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 64 --ledger-batch-delay-ms 5

e2e_client

O=$("$LODE_BIN" account create --role contributor --name owner | tail -n 1)
AO=(-H "$(auth "$O")")
declare -a LT LID
for i in $(seq 1 10); do
    LT[$i]=$("$LODE_BIN" account create --role labeler --name "labeler$i" | tail -n 1)
    LID[$i]=$("${CURL[@]}" -H "$(auth "${LT[$i]}")" "$H/v1/me" | jq .id)
done

# dataset: n items; prints the dataset id, item ids in $T/items
make_dataset() { local name="$1" n="$2"
    post /v1/datasets "{\"name\":\"$name\",\"policy\":{\"synthetic\":\"accept\"}}" "${AO[@]}" >/dev/null
    local d; d=$(jq .id "$T/out")
    : >"$T/items.ndjson"
    for k in $(seq 1 "$n"); do
        printf '{"text":"%s item %d: %s"}\n' "$name" "$k" "$(head -c 48 /dev/urandom | base64 | tr -d '/+=\n')" >>"$T/items.ndjson"
    done
    "${CURL[@]}" -o "$T/out" "${AO[@]}" "${NDJSON[@]}" --data-binary "@$T/items.ndjson" "$H/v1/datasets/$d/items"
    jq -r '.items[] | select(.status == "accepted") | .item' "$T/out" >"$T/items"
    echo "$d"
}
D=$(make_dataset things 8)
mapfile -t ITEMS <"$T/items"
expect_eq "eight items are accepted" 8 "${#ITEMS[@]}"
index_of() { for k in "${!ITEMS[@]}"; do [ "${ITEMS[$k]}" = "$1" ] && echo "$k"; done; }

# ---- schemas ----
bad_schema() { # name body pointer
    expect_eq "$1 is 400" 400 "$(post /v1/label-tasks "{\"dataset\":$D,\"schema\":$2}" "${AO[@]}")"
    check "$1: the problem points at $3" jq -e ".pointer == \"$3\"" "$T/out"
}
bad_schema "an unknown schema type" '{"type":"ranking","classes":["a","b"]}' /schema/type
bad_schema "a multi-label schema of 65 classes" "{\"type\":\"multi_label\",\"classes\":$(python3 -c 'import json; print(json.dumps(["c%d" % i for i in range(65)]))')}" /schema/classes
bad_schema "a rating step that does not divide the range" '{"type":"rating","min":1,"max":5,"step":0.3}' /schema/step
bad_schema "a rating with max below min" '{"type":"rating","min":5,"max":1}' /schema/max
bad_schema "a rating with classes" '{"type":"rating","min":1,"max":5,"classes":["a"]}' /schema/classes
bad_schema "a single-choice schema with a step" '{"classes":["a","b"],"step":1}' /schema/step
expect_eq "a lease under 10 s is 400" 400 "$(post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"classes\":[\"a\",\"b\"]},\"lease_seconds\":5}" "${AO[@]}")"

# run_labelers TASK LABELFN: labelers 1-4 take /next in turn until each gets 204, answering
# with "$(LABELFN labeler index)"; records "index labeler label-json" in $T/answers.
run_labelers() { local task="$1" fn="$2"
    declare -A done_=() seen=()
    bad=0; repeats=0; leaks=0
    : >"$T/answers"
    while :; do
        local progressed=0
        for i in 4 1 2 3; do
            [ -n "${done_[$i]:-}" ] && continue
            code=$(get "/v1/label-tasks/$task/next" -H "$(auth "${LT[$i]}")")
            if [ "$code" = 204 ]; then done_[$i]=1; continue; fi
            [ "$code" = 200 ] || { bad=$((bad + 1)); done_[$i]=1; continue; }
            progressed=1
            jq -e '(keys == ["instructions","item","schema","task"])' "$T/out" >/dev/null || leaks=$((leaks + 1))
            item=$(jq .item.id "$T/out")
            [ -n "${seen[$i:$item]:-}" ] && repeats=$((repeats + 1))
            seen[$i:$item]=1
            k=$(index_of "$item")
            label=$("$fn" "$i" "$k")
            code=$(post "/v1/label-tasks/$task/labels" "{\"item\":$item,\"label\":$label}" -H "$(auth "${LT[$i]}")")
            [ "$code" = 201 ] || { bad=$((bad + 1)); cat "$T/out"; }
            cp "$T/out" "$T/receipt"
            echo "$k ${LID[$i]} $label" >>"$T/answers"
        done
        [ "$progressed" = 0 ] && break
    done
    expect_eq "$task: every /next and label answered as expected" 0 "$bad"
    expect_eq "$task: /next never repeats an item for a labeler" 0 "$repeats"
    expect_eq "$task: /next shows nothing but the item, schema and instructions" 0 "$leaks"
}

# Krippendorff's alpha from $T/answers-like rows (unit labeler value), independently of lode.
cat >"$T/alpha.py" <<'PY'
import collections, itertools, json, sys
def alpha(units, delta):
    """units: {unit: [values]}; delta(a, b): squared distance."""
    pairable = {u: v for u, v in units.items() if len(v) >= 2}
    o = collections.Counter()
    for v in pairable.values():
        m = len(v)
        for a, b in itertools.permutations(range(m), 2):
            o[(v[a], v[b])] += 1.0 / (m - 1)
    n_c = collections.Counter()
    for (a, b), w in o.items():
        n_c[a] += w
    n = sum(n_c.values())
    do = sum(w * delta(a, b) for (a, b), w in o.items())
    de = sum(n_c[a] * n_c[b] * delta(a, b) for a in n_c for b in n_c)
    if de == 0:
        return None
    return 1.0 - (n - 1) * do / de
PY

# ============================ multi-label ============================
CLASSES='["red","round","large"]'
truth_set() { # item index -> JSON array of classes in schema order
    local k="$1" out=()
    [ $((k % 2)) = 0 ] && out+=('"red"')
    [ $((k % 3)) = 0 ] && out+=('"round"')
    [ $((k % 4)) -lt 2 ] && out+=('"large"')
    local IFS=,; echo "[${out[*]}]"
}
multi_label() { # labeler 4 flips "large"; labeler 2 lists the classes in reverse order
    local i="$1" k="$2" t; t=$(truth_set "$k")
    if [ "$i" = 4 ]; then
        echo "$t" | jq -c 'if index("large") then map(select(. != "large")) else . + ["large"] end'
    elif [ "$i" = 2 ]; then echo "$t" | jq -c 'reverse'
    else echo "$t"; fi
}
expect_eq "the owner creates a multi-label task" 201 "$(post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"type\":\"multi_label\",\"classes\":$CLASSES},\"overlap\":3,\"max_overlap\":4,\"gold_share\":0.3}" "${AO[@]}")"
MT=$(jq .id "$T/out")
check "the task shows its multi-label schema and default lease" jq -e '.schema == {"type":"multi_label","classes":["red","round","large"]} and .lease_seconds == 600' "$T/out"
expect_eq "gold outside the classes is 400" 400 "$(post "/v1/label-tasks/$MT/gold" "{\"gold\":[{\"item\":${ITEMS[0]},\"label\":[\"red\",\"blue\"]}]}" "${AO[@]}")"
check "the problem points at the element" jq -e '.pointer == "/gold/0/label/1"' "$T/out"
expect_eq "two gold sets" 200 "$(post "/v1/label-tasks/$MT/gold" "{\"gold\":[{\"item\":${ITEMS[0]},\"label\":$(truth_set 0)},{\"item\":${ITEMS[1]},\"label\":$(truth_set 1)}]}" "${AO[@]}")"
check "the task counts its gold" jq -e '.stats.gold == 2' "$T/out"
expect_eq "/next offers a multi-label item with its schema" 200 "$(get "/v1/label-tasks/$MT/next" -H "$(auth "${LT[5]}")")"
check "the schema is in the offer" jq -e '.schema.type == "multi_label" and (.schema.classes | length) == 3' "$T/out"
ITEM5=$(jq .item.id "$T/out")
L5=(-H "$(auth "${LT[5]}")")
for bad in '"red"' '["red","blue"]' '["red","red"]' '[1]' '["red","round","large","red"]'; do
    expect_eq "multi-label $bad is 400" 400 "$(post "/v1/label-tasks/$MT/labels" "{\"item\":$ITEM5,\"label\":$bad}" "${L5[@]}")"
done
post "/v1/label-tasks/$MT/labels" "{\"item\":$ITEM5,\"label\":[\"red\",\"blue\"]}" "${L5[@]}" >/dev/null
check "a class outside the schema points at its element" jq -e '.pointer == "/label/1"' "$T/out"
post "/v1/label-tasks/$MT/labels" "{\"item\":$ITEM5,\"label\":\"red\"}" "${L5[@]}" >/dev/null
check "a string where a set is due points at the label" jq -e '.pointer == "/label"' "$T/out"
expect_eq "the empty set is a label" 201 "$(post "/v1/label-tasks/$MT/labels" "{\"item\":$ITEM5,\"label\":[]}" "${L5[@]}")"
check "the receipt carries the empty set" jq -e '.label == []' "$T/out"
# labeler 5's label stays in the task: record it for the independent alpha
EXTRA_MULTI="$(index_of "$ITEM5") ${LID[5]} []"

run_labelers "$MT" multi_label
echo "$EXTRA_MULTI" >>"$T/answers"
cp "$T/answers" "$T/multi_answers"
check "receipts give the set in schema order" jq -e '.label | type == "array"' "$T/receipt"
grep -q '"round","red"\|"large","round"\|"large","red"' "$T/multi_answers" && reordered=1 || reordered=0
expect_eq "labeler 2 submitted sets out of schema order" 1 "$reordered"
"${CURL[@]}" "$H/v1/ledger/entries/$(jq .ledger.index "$T/receipt")" >"$T/entry"
want=$(jq -c '{item, "label": .label, labeler, nonce, task}' "$T/receipt" | python3 -c 'import hashlib, json, sys; o = json.load(sys.stdin); print(hashlib.sha256(json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest())')
expect_eq "the commitment covers the canonical set" "$want" "$(jq -r .entry.commitment "$T/entry")"
check "the entry does not name the label" jq -e '.entry | has("label") | not' "$T/entry"

expect_eq "multi-label consensus by mv" 200 "$(get "/v1/label-tasks/$MT/consensus?method=mv" "${AO[@]}")"
cp "$T/out" "$T/mcons"
wrong=0
while read -r item label; do
    [ "$label" = "$(truth_set "$(index_of "$item")")" ] || wrong=$((wrong + 1))
done < <(jq -r '.items[] | "\(.item) \(.label | tostring)"' "$T/mcons")
expect_eq "the consensus set is the truth on every item" 0 "$wrong"
check "consensus rows: kind, per-class confidence, votes, labels >= 3, gold marked" jq -e "(.kind == \"multi_label\") and (.items | all((.confidence | keys | length) == 3 and .labels >= 3 and (.confidence | all(.[]; . >= 0 and . <= 1)))) and ([.items[] | select(.gold) | .item] == [${ITEMS[0]},${ITEMS[1]}])" "$T/mcons"
for m in auto ds; do
    expect_eq "multi-label consensus by $m" 200 "$(get "/v1/label-tasks/$MT/consensus?method=$m" "${AO[@]}")"
    check "consensus by $m: a set per item" jq -e '.items | all(.label | type == "array")' "$T/out"
done
expect_eq "a rating method on a multi-label task is 400" 400 "$(get "/v1/label-tasks/$MT/consensus?method=median" "${AO[@]}")"

expect_eq "multi-label agreement" 200 "$(get "/v1/label-tasks/$MT/agreement?method=mv" "${AO[@]}")"
cp "$T/out" "$T/magree"
python3 - "$T/multi_answers" "$T/magree" "$T/alpha.py" <<'PY' >"$T/alpha_check"
import json, sys
exec(open(sys.argv[3]).read())
classes = ["red", "round", "large"]
rows = [l.split(" ", 2) for l in open(sys.argv[1]).read().splitlines() if l]
per_class = {}
pooled = {}
for k, w, label in rows:
    s = set(json.loads(label))
    for c in classes:
        per_class.setdefault(c, {}).setdefault(k, []).append(int(c in s))
        pooled.setdefault((k, c), []).append(int(c in s))
nominal = lambda a, b: 0.0 if a == b else 1.0
got = json.load(open(sys.argv[2]))
ok = abs(got["alpha_nominal"] - alpha(pooled, nominal)) < 1e-9
for c in classes:
    want = alpha(per_class[c], nominal)
    ok = ok and ((want is None and got["alpha_per_class"][c] is None) or abs(got["alpha_per_class"][c] - want) < 1e-9)
print("ok" if ok else "mismatch %s %s" % (got["alpha_nominal"], alpha(pooled, nominal)))
PY
expect_eq "pooled and per-class nominal alpha equal an independent computation" ok "$(cat "$T/alpha_check")"
check "alpha is between 0 and 1 (one labeler disagrees on one class)" jq -e '.alpha_nominal > 0 and .alpha_nominal < 1 and .alpha_per_class.large < 1' "$T/magree"
check "five labelers; the unreliable one has the lowest jaccard and accuracy" jq -e "(.labelers | length) == 5 and ((.labelers | map(select(.labels > 1)) | min_by(.jaccard) | .labeler) == ${LID[4]}) and ((.labelers | map(select(.labels > 1)) | min_by(.accuracy.mean) | .labeler) == ${LID[4]})" "$T/magree"
check "the unreliable labeler's gold decisions are partly wrong" jq -e ".labelers[] | select(.labeler == ${LID[4]}) | .gold.answers == 6 and .gold.right == 4" "$T/magree"

# snapshot: leaves {"item", "label", "labels", "votes"}
cat >"$T/root.py" <<'PY'
import hashlib, json, sys
rows = json.load(open(sys.argv[1]))["items"]
kind = sys.argv[2]
def leaf(r):
    label = r["label"]
    if kind == "rating" and label is not None:
        label = "%.15g" % label
    row = {"item": r["item"], "label": label, "labels": r["labels"], "votes": r["votes"]}
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
expect_eq "a multi-label consensus snapshot" 201 "$(post "/v1/label-tasks/$MT/consensus/snapshots?method=mv" '' "${AO[@]}")"
cp "$T/out" "$T/snap"
get "/v1/label-tasks/$MT/consensus?method=mv&limit=1000" "${AO[@]}" >/dev/null
expect_eq "the multi-label root recomputes from the consensus rows" "$(jq -r .root "$T/snap")" "$(python3 "$T/root.py" "$T/out" multi_label)"
"${CURL[@]}" "$H/v1/ledger/entries/$(jq .ledger.index "$T/snap")" >"$T/entry"
check "the label.consensus entry holds the same root" jq -e ".entry.type == \"label.consensus\" and .entry.root == \"$(jq -r .root "$T/snap")\" and .entry.method == \"mv\"" "$T/entry"

# ============================ rating ============================
truth_rating() { python3 -c "print('%g' % (1 + ($1 * 3 % 9) * 0.5))"; }
rating() { # labelers 1 and 3 exact, labeler 2 half a step high (capped), labeler 4 mirrored
    local i="$1" k="$2" t; t=$(truth_rating "$k")
    case "$i" in
        2) python3 -c "print('%g' % min(5, $t + 0.5))" ;;
        4) python3 -c "print('%g' % (6 - $t))" ;;
        *) echo "$t" ;;
    esac
}
expect_eq "the owner creates a rating task" 201 "$(post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"type\":\"rating\",\"min\":1,\"max\":5,\"step\":0.5},\"overlap\":3,\"max_overlap\":4,\"gold_share\":0.3}" "${AO[@]}")"
RT=$(jq .id "$T/out")
check "the task shows its grid" jq -e '.schema == {"type":"rating","min":1,"max":5,"step":0.5}' "$T/out"
expect_eq "gold off the grid is 400" 400 "$(post "/v1/label-tasks/$RT/gold" "{\"gold\":[{\"item\":${ITEMS[0]},\"label\":1.25}]}" "${AO[@]}")"
check "the problem points at the gold label" jq -e '.pointer == "/gold/0/label"' "$T/out"
expect_eq "gold ratings" 200 "$(post "/v1/label-tasks/$RT/gold" "{\"gold\":[{\"item\":${ITEMS[0]},\"label\":$(truth_rating 0)},{\"item\":${ITEMS[1]},\"label\":$(truth_rating 1)}]}" "${AO[@]}")"
for bad in 5.5 0.5 3.25 '"3"' '[3]' null; do
    expect_eq "rating $bad is 400" 400 "$(post "/v1/label-tasks/$RT/labels" "{\"item\":${ITEMS[7]},\"label\":$bad}" "${L5[@]}")"
    check "rating $bad: pointer /label" jq -e '.pointer == "/label"' "$T/out"
done
run_labelers "$RT" rating
cp "$T/answers" "$T/rating_answers"
check "the receipt gives the rating as a number" jq -e '.label | type == "number"' "$T/receipt"
"${CURL[@]}" "$H/v1/ledger/entries/$(jq .ledger.index "$T/receipt")" >"$T/entry"
want=$(jq -c '{item, "label": .label, labeler, nonce, task}' "$T/receipt" | python3 -c 'import hashlib, json, sys; o = json.load(sys.stdin); o["label"] = "%.15g" % o["label"]; print(hashlib.sha256(json.dumps(o, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest())')
expect_eq "the commitment covers the rating's canonical text" "$want" "$(jq -r .entry.commitment "$T/entry")"

expect_eq "rating consensus" 200 "$(get "/v1/label-tasks/$RT/consensus" "${AO[@]}")"
cp "$T/out" "$T/rcons"
check "gaussian by default; every item rated 3 or 4 times" jq -e '.method == "gaussian" and .kind == "rating" and (.items | all(.labels >= 3 and .labels <= 4 and (.spread | type) == "number"))' "$T/rcons"
far=0
while read -r item label; do
    python3 -c "import sys; sys.exit(0 if abs($label - $(truth_rating "$(index_of "$item")")) <= 0.5 else 1)" || far=$((far + 1))
done < <(jq -r '.items[] | "\(.item) \(.label)"' "$T/rcons")
expect_eq "the consensus is within half a step of the truth on every item" 0 "$far"
check "gold items take their known value" jq -e ".items[] | select(.item == ${ITEMS[0]}) | .gold and .label == $(truth_rating 0)" "$T/rcons"
expect_eq "rating consensus by median" 200 "$(get "/v1/label-tasks/$RT/consensus?method=median" "${AO[@]}")"
check "method median" jq -e '.method == "median"' "$T/out"
expect_eq "a choice method on a rating task is 400" 400 "$(get "/v1/label-tasks/$RT/consensus?method=ds" "${AO[@]}")"
check "the problem names the rating methods" jq -e '(.detail // .title | tostring | test("gaussian")) and .pointer == "method"' "$T/out"

expect_eq "rating agreement" 200 "$(get "/v1/label-tasks/$RT/agreement" "${AO[@]}")"
cp "$T/out" "$T/ragree"
python3 - "$T/rating_answers" "$T/ragree" "$T/alpha.py" <<'PY' >"$T/alpha_check"
import json, sys
exec(open(sys.argv[3]).read())
units = {}
for line in open(sys.argv[1]).read().splitlines():
    k, w, v = line.split(" ", 2)
    units.setdefault(k, []).append(float(v))
want = alpha(units, lambda a, b: (a - b) ** 2)
got = json.load(open(sys.argv[2]))["alpha_interval"]
print("ok" if abs(got - want) < 1e-9 else "mismatch %r %r" % (got, want))
PY
expect_eq "interval alpha equals an independent computation" ok "$(cat "$T/alpha_check")"
check "nominal alpha is null for ratings; interval alpha below 1" jq -e '.alpha_nominal == null and .alpha_interval < 1 and .alpha_interval > -1' "$T/ragree"
check "the mirrored labeler has the largest error and scale" jq -e "((.labelers | max_by(.abs_error) | .labeler) == ${LID[4]}) and ((.labelers | max_by(.scale) | .labeler) == ${LID[4]}) and (.labelers[] | select(.labeler == ${LID[1]}) | .gold.answers == 2 and .gold.abs_error == 0)" "$T/ragree"

expect_eq "a rating consensus snapshot" 201 "$(post "/v1/label-tasks/$RT/consensus/snapshots" '' "${AO[@]}")"
cp "$T/out" "$T/snap"
get "/v1/label-tasks/$RT/consensus?limit=1000" "${AO[@]}" >/dev/null
expect_eq "the rating root recomputes from the consensus rows" "$(jq -r .root "$T/snap")" "$(python3 "$T/root.py" "$T/out" rating)"
check "the snapshot names the gaussian model" jq -e '.method == "gaussian" and .items == 8' "$T/snap"

# an empty rating task
post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"type\":\"rating\",\"min\":0,\"max\":10}}" "${AO[@]}" >/dev/null
ET=$(jq .id "$T/out")
expect_eq "agreement of an empty rating task" 200 "$(get "/v1/label-tasks/$ET/agreement" "${AO[@]}")"
check "no alpha, no labelers" jq -e '.alpha_interval == null and .labelers == []' "$T/out"
expect_eq "consensus of an empty rating task" 200 "$(get "/v1/label-tasks/$ET/consensus" "${AO[@]}")"
check "every item without a label" jq -e '(.items | length) == 8 and (.items | all(.label == null and .labels == 0))' "$T/out"

# ============================ /next leases ============================
# overlap 1 on eight items; ten labelers ask at once over one TLS connection (HTTP/2 streams)
expect_eq "a task with overlap 1" 201 "$(post /v1/label-tasks "{\"dataset\":$D,\"schema\":{\"classes\":[\"yes\",\"no\"]},\"overlap\":1,\"gold_share\":0}" "${AO[@]}")"
PT=$(jq .id "$T/out")
# (options other than --parallel are per transfer: each one after --next repeats them)
args=(curl --parallel --parallel-immediate --parallel-max 10)
for i in $(seq 1 10); do
    [ "$i" -gt 1 ] && args+=(--next)
    args+=(-sS --max-time 60 --http2 --cacert "$CACERT" -H "$(auth "${LT[$i]}")" -o "$T/par$i" -w "$i %{http_code} %{http_version}\n" "$S/v1/label-tasks/$PT/next")
done
"${args[@]}" >"$T/par_codes"
expect_eq "eight labelers get an item, two get 204" "8 2" "$(grep -c ' 200 ' "$T/par_codes") $(grep -c ' 204 ' "$T/par_codes")"
expect_eq "the parallel requests went over HTTP/2" 10 "$(grep -c ' 2$' "$T/par_codes")"
offered=$(for i in $(seq 1 10); do [ -s "$T/par$i" ] && jq .item.id "$T/par$i"; done | sort -u | wc -l)
expect_eq "eight different items: none offered twice" 8 "$offered"
labeled=0
for i in $(seq 1 10); do
    [ -s "$T/par$i" ] || continue
    code=$(post "/v1/label-tasks/$PT/labels" "{\"item\":$(jq .item.id "$T/par$i"),\"label\":\"yes\"}" -H "$(auth "${LT[$i]}")")
    [ "$code" = 201 ] && labeled=$((labeled + 1))
done
expect_eq "each labels their item" 8 "$labeled"
expect_eq "overlap reached: nothing left for anyone" 204 "$(get "/v1/label-tasks/$PT/next" -H "$(auth "${LT[9]}")")"
get "/v1/label-tasks/$PT/consensus?method=mv" "${AO[@]}" >/dev/null
check "every item has exactly one label" jq -e '.items | all(.labels == 1)' "$T/out"

# a lease expires: one item, lease 10 s
D2=$(make_dataset single 1)
expect_eq "a task with a 10 s lease" 201 "$(post /v1/label-tasks "{\"dataset\":$D2,\"schema\":{\"classes\":[\"yes\",\"no\"]},\"overlap\":1,\"gold_share\":0,\"lease_seconds\":10}" "${AO[@]}")"
LT2=$(jq .id "$T/out")
check "the task shows its lease" jq -e '.lease_seconds == 10' "$T/out"
expect_eq "labeler 1 takes the only item" 200 "$(get "/v1/label-tasks/$LT2/next" -H "$(auth "${LT[1]}")")"
expect_eq "labeler 2 finds it reserved" 204 "$(get "/v1/label-tasks/$LT2/next" -H "$(auth "${LT[2]}")")"
expect_eq "labeler 1 asking again gets the same item" 200 "$(get "/v1/label-tasks/$LT2/next" -H "$(auth "${LT[1]}")")"
sleep 10.5
expect_eq "after the lease expires labeler 2 gets it" 200 "$(get "/v1/label-tasks/$LT2/next" -H "$(auth "${LT[2]}")")"
expect_eq "labeler 1 may still label it (labels are never refused for a lost lease)" 201 "$(post "/v1/label-tasks/$LT2/labels" "{\"item\":$(jq .item.id "$T/out"),\"label\":\"yes\"}" -H "$(auth "${LT[1]}")")"

# ============================ pay per label ============================
OP=$(operator_token)
OID=$("${CURL[@]}" "${AO[@]}" "$H/v1/me" | jq .id)
expect_eq "an operator credits 100 EUR to the owner" 201 "$(post "/v1/accounts/$OID/deposits" '{"amount":100,"currency":"EUR","reference":"labeling-kinds-1"}' -H "$(auth "$OP")" -H "Idempotency-Key: dep-1")"
D3=$(make_dataset paid 3)
mapfile -t PITEMS <"$T/items"
expect_eq "a task paying 5 EUR per label, every offer gold first" 201 "$(post /v1/label-tasks "{\"dataset\":$D3,\"schema\":{\"classes\":[\"yes\",\"no\"]},\"overlap\":1,\"gold_share\":1,\"pay_per_label\":{\"amount\":5,\"currency\":\"EUR\"}}" "${AO[@]}")"
PAY=$(jq .id "$T/out")
check "a new task has no budget" jq -e '.budget == 0 and .pay_per_label.amount == 5' "$T/out"
post "/v1/label-tasks/$PAY/gold" "{\"gold\":[{\"item\":${PITEMS[0]},\"label\":\"yes\"}]}" "${AO[@]}" >/dev/null
expect_eq "/next on an unfunded paying task is 204" 204 "$("${CURL[@]}" -D "$T/headers" -o /dev/null -w '%{http_code}' -H "$(auth "${LT[1]}")" "$H/v1/label-tasks/$PAY/next")"
check "with the reason" grep -qi '^lode-reason: task budget exhausted' "$T/headers"
expect_eq "funding without an Idempotency-Key is 400" 400 "$(post "/v1/label-tasks/$PAY/funding" '{"amount":12}' "${AO[@]}")"
expect_eq "a labeler may not fund the task" 403 "$(post "/v1/label-tasks/$PAY/funding" '{"amount":12}' -H "$(auth "${LT[1]}")" -H "Idempotency-Key: f-x")"
expect_eq "funding in another currency is 400" 400 "$(post "/v1/label-tasks/$PAY/funding" '{"amount":12,"currency":"USD"}' "${AO[@]}" -H "Idempotency-Key: f-usd")"
expect_eq "funding beyond the owner's money is 422" 422 "$(post "/v1/label-tasks/$PAY/funding" '{"amount":1000}' "${AO[@]}" -H "Idempotency-Key: f-big")"
expect_eq "the owner funds the task with 12" 201 "$(post "/v1/label-tasks/$PAY/funding" '{"amount":12}' "${AO[@]}" -H "Idempotency-Key: f-1")"
check "the budget is 12, with a ledger receipt" jq -e '.budget == 12 and .currency == "EUR" and .posting > 0 and (.ledger.index | type == "number") and (has("ledger_queue_id") | not)' "$T/out"
FUND_INDEX=$(jq .ledger.index "$T/out")
FUND_POSTING=$(jq .posting "$T/out")
code=$("${CURL[@]}" -D "$T/headers" -o "$T/out" -w '%{http_code}' "${AO[@]}" "${JSON[@]}" -H "Idempotency-Key: f-1" --data-binary '{"amount":12}' "$H/v1/label-tasks/$PAY/funding")
expect_eq "a replayed funding answers 201" 201 "$code"
check "the replay returns the first answer, not a second posting" jq -e --argjson i "$FUND_INDEX" '.budget == 12 and .ledger.index == $i' "$T/out"
check "the replay is marked" grep -qi '^idempotent-replayed: true' "$T/headers"
get "/v1/label-tasks/$PAY" "${AO[@]}" >/dev/null
check "the task shows its budget" jq -e '.budget == 12' "$T/out"
expect_eq "the ledger holds the funding entry" 200 "$(get "/v1/ledger/entries/$FUND_INDEX")"
check "the entry is task.funded with task, funder, amount and posting" jq -e --argjson t "$PAY" --argjson o "$OID" --argjson p "$FUND_POSTING" '.entry.type == "task.funded" and .entry.task == $t and .entry.funder == $o and .entry.amount == 12 and .entry.currency == "EUR" and .entry.posting == $p and (.entry.dataset | type == "number")' "$T/out"
balance_of() { "${CURL[@]}" -H "$(auth "$OP")" "$H/v1/accounts/$1/balance" | jq '[.balances[] | select(.currency == "EUR") | .available] | add // 0'; }
expect_eq "the owner kept 88" 88 "$(balance_of "$OID")"

expect_eq "labeler 1 is offered the gold item" 200 "$(get "/v1/label-tasks/$PAY/next" -H "$(auth "${LT[1]}")")"
expect_eq "it is the gold item" "${PITEMS[0]}" "$(jq .item.id "$T/out")"
expect_eq "labeler 1 labels the gold item" 201 "$(post "/v1/label-tasks/$PAY/labels" "{\"item\":${PITEMS[0]},\"label\":\"no\"}" -H "$(auth "${LT[1]}")")"
PAID_LABEL=$(jq .id "$T/out")
expect_eq "a gold label is paid like any other" 5 "$(balance_of "${LID[1]}")"
"${CURL[@]}" -H "$(auth "${LT[1]}")" "$H/v1/accounts/${LID[1]}/statement" >"$T/out"
check "the statement shows label_pay from the task for that label" jq -e ".lines | any(.reason == \"label_pay\" and .delta == 5 and .counterparty.kind == \"task\" and .counterparty.id == $PAY and .context.kind == \"label\" and .context.id == $PAID_LABEL)" "$T/out"
expect_eq "labeler 2 is offered an item (7 left pays one)" 200 "$(get "/v1/label-tasks/$PAY/next" -H "$(auth "${LT[2]}")")"
ITEM2=$(jq .item.id "$T/out")
expect_eq "labeler 3 waits: the 7 left is reserved for labeler 2's lease" 204 "$("${CURL[@]}" -D "$T/headers" -o /dev/null -w '%{http_code}' -H "$(auth "${LT[3]}")" "$H/v1/label-tasks/$PAY/next")"
check "the reason is the budget" grep -qi '^lode-reason: task budget exhausted' "$T/headers"
expect_eq "the owner may not take back 3 of the 7: 5 pays labeler 2's lease" 409 "$(post "/v1/label-tasks/$PAY/funding/withdrawals" '{"amount":3}' "${AO[@]}" -H "Idempotency-Key: r-lease")"
check "the problem says how much can be taken back" jq -e '.detail | test("5 EUR .* leased to labelers now; 2 can be taken back")' "$T/out"
UNASKED=$(for x in "${PITEMS[@]}"; do [ "$x" != "${PITEMS[0]}" ] && [ "$x" != "$ITEM2" ] && echo "$x"; done | head -n 1)
expect_eq "labeler 3 may not take the reserved pay with a label it was not offered" 409 "$(post "/v1/label-tasks/$PAY/labels" "{\"item\":$UNASKED,\"label\":\"yes\"}" -H "$(auth "${LT[3]}")")"
check "the problem says the budget is reserved for leased items" jq -e '.detail // .title | test("reserved for items leased to other labelers")' "$T/out"
expect_eq "labeler 2 labels" 201 "$(post "/v1/label-tasks/$PAY/labels" "{\"item\":$ITEM2,\"label\":\"yes\"}" -H "$(auth "${LT[2]}")")"
expect_eq "labeler 2 is paid" 5 "$(balance_of "${LID[2]}")"
OTHER=$(for x in "${PITEMS[@]}"; do [ "$x" != "${PITEMS[0]}" ] && [ "$x" != "$ITEM2" ] && echo "$x"; done | head -n 1)
expect_eq "a label the budget (2) cannot pay is 409" 409 "$(post "/v1/label-tasks/$PAY/labels" "{\"item\":$OTHER,\"label\":\"yes\"}" -H "$(auth "${LT[3]}")")"
check "the problem says the task budget is exhausted" jq -e '.detail // .title | test("task budget exhausted")' "$T/out"
expect_eq "nothing was paid" 0 "$(balance_of "${LID[3]}")"
get "/v1/label-tasks/$PAY" "${AO[@]}" >/dev/null
check "nothing was written: two labels, budget 2" jq -e '.stats.labels == 2 and .budget == 2' "$T/out"

# ---- the owner takes back what no lease reserves ----
expect_eq "a labeler may not take back the budget" 403 "$(post "/v1/label-tasks/$PAY/funding/withdrawals" '{"amount":2}' -H "$(auth "${LT[1]}")" -H "Idempotency-Key: r-x")"
expect_eq "taking back more than the budget is 422" 422 "$(post "/v1/label-tasks/$PAY/funding/withdrawals" '{"amount":3}' "${AO[@]}" -H "Idempotency-Key: r-big")"
expect_eq "taking back without an Idempotency-Key is 400" 400 "$(post "/v1/label-tasks/$PAY/funding/withdrawals" '{"amount":2}' "${AO[@]}")"
expect_eq "the owner takes back the 2 left" 201 "$(post "/v1/label-tasks/$PAY/funding/withdrawals" '{"amount":2}' "${AO[@]}" -H "Idempotency-Key: r-1")"
check "the budget is 0, with a ledger receipt" jq -e '.budget == 0 and .amount == 2 and (.ledger.index | type == "number")' "$T/out"
REFUND_INDEX=$(jq .ledger.index "$T/out")
expect_eq "a replay answers 201 again" 201 "$(post "/v1/label-tasks/$PAY/funding/withdrawals" '{"amount":2}' "${AO[@]}" -H "Idempotency-Key: r-1")"
check "without a second posting" jq -e --argjson i "$REFUND_INDEX" '.budget == 0 and .ledger.index == $i' "$T/out"
expect_eq "the owner holds 90 again" 90 "$(balance_of "$OID")"
expect_eq "the ledger holds the refund entry" 200 "$(get "/v1/ledger/entries/$REFUND_INDEX")"
check "the entry is task.refunded to the owner" jq -e --argjson t "$PAY" --argjson o "$OID" '.entry.type == "task.refunded" and .entry.task == $t and .entry.owner == $o and .entry.by == $o and .entry.amount == 2' "$T/out"
expect_eq "the owner funds 3 more" 201 "$(post "/v1/label-tasks/$PAY/funding" '{"amount":3}' "${AO[@]}" -H "Idempotency-Key: f-3")"
expect_eq "taking back in another currency is 400" 400 "$(post "/v1/label-tasks/$PAY/funding/withdrawals" '{"amount":3,"currency":"USD"}' -H "$(auth "$OP")" -H "Idempotency-Key: r-usd")"
expect_eq "an operator takes back the 3" 201 "$(post "/v1/label-tasks/$PAY/funding/withdrawals" '{"amount":3}' -H "$(auth "$OP")" -H "Idempotency-Key: r-op")"
expect_eq "which goes to the owner, not the operator" 90 "$(balance_of "$OID")"
expect_eq "the operator's entry" 200 "$(get "/v1/ledger/entries/$(jq .ledger.index "$T/out")")"
check "names the owner and who took it back" jq -e --argjson o "$OID" '.entry.type == "task.refunded" and .entry.owner == $o and .entry.by != $o and .entry.amount == 3' "$T/out"

e2e_finish
