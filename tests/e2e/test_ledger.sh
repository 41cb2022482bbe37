#!/usr/bin/env bash
# The ledger end to end: appends (attestations, signed and unsigned) with receipts, checkpoints
# verified offline with `lode verify`, inclusion and consistency proofs, tiles and bundles at
# their tlog-tiles paths, the monitor, and bad input.
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 16 --ledger-batch-delay-ms 20

CURL=(curl -sS --max-time 30 --http2-prior-knowledge)
OP=$(operator_token)
AUTH=(-H "Authorization: Bearer $OP")
JSON=(-H "content-type: application/json")
T="$E2E_TMP"

"${CURL[@]}" "$H/v1/ledger" >"$T/info"
check "GET /v1/ledger names the origin" jq -e '.origin == "lode.test/e2e"' "$T/info"
jq -r .verifier_key "$T/info" >"$T/vkey"
check "the verifier key is in C2SP form" grep -qE '^lode\.test/e2e\+[0-9a-f]{8}\+[A-Za-z0-9+/]{44}$' "$T/vkey"
"${CURL[@]}" "$H/ledger/checkpoint" >"$T/cp0"
check "the first checkpoint verifies offline" "$LODE_BIN" verify checkpoint --vkey "@$T/vkey" "$T/cp0"
expect_eq "checkpoint starts with the origin line" "lode.test/e2e" "$(head -n 1 "$T/cp0")"

# ---- appends ----
attest() { # attest N -> receipt file $T/r$N
    local h; h=$(printf 'document %s' "$1" | sha256sum | cut -c1-64)
    "${CURL[@]}" "${AUTH[@]}" "${JSON[@]}" -o "$T/r$1" -w '%{http_code}' -d "{\"sha256\":\"$h\"}" "$H/v1/attestations"
}
expect_eq "an attestation is appended with a receipt" 201 "$(attest 0)"
check "the receipt carries index, leaf hash, checkpoint and proof" \
    jq -e '.index == 0 and (.leaf_hash | length) == 64 and .checkpoint.size >= 1 and (.inclusion_proof | type) == "array" and .entry.type == "hash.attested"' "$T/r0"
# 40 concurrent appends over several connections
pids=()
for i in $(seq 1 40); do attest "$i" >"$T/code$i" & pids+=($!); done
wait "${pids[@]}"
expect_eq "40 concurrent appends all succeed" "40" "$(cat "$T"/code* | grep -o 201 | wc -l)"
expect_eq "every index is used once" "41" "$(jq -r .index "$T"/r* | sort -n | uniq | wc -l)"
expect_eq "indices are 0..40" "0 40" "$(jq -r .index "$T"/r* | sort -n | sed -n '1p;$p' | tr '\n' ' ' | sed 's/ $//')"

# every receipt verifies offline against the checkpoint it carries
bad=0
for i in $(seq 0 40); do
    jq -j .checkpoint.note "$T/r$i" >"$T/rc$i"
    jq '{proof: .inclusion_proof}' "$T/r$i" >"$T/rp$i"
    leaf=$(jq -r .leaf_hash "$T/r$i" | xxd -r -p | base64)
    "$LODE_BIN" verify inclusion --vkey "@$T/vkey" --checkpoint "$T/rc$i" --index "$(jq .index "$T/r$i")" \
        --proof "$T/rp$i" --leaf-hash "$leaf" >/dev/null 2>&1 || bad=$((bad + 1))
done
expect_eq "all 41 receipts verify offline (lode verify inclusion)" 0 "$bad"

# Idempotency-Key: a retried append returns the first receipt and writes nothing new
IK=(-H "Idempotency-Key: attest-$$")
HK=$(printf 'idempotent' | sha256sum | cut -c1-64)
"${CURL[@]}" "${AUTH[@]}" "${JSON[@]}" "${IK[@]}" -o "$T/i1" -d "{\"sha256\":\"$HK\"}" "$H/v1/attestations"
"${CURL[@]}" "${AUTH[@]}" "${JSON[@]}" "${IK[@]}" -D "$T/i2h" -o "$T/i2" -d "{\"sha256\":\"$HK\"}" "$H/v1/attestations"
expect_eq "a retry with the same Idempotency-Key names the same index" "$(jq .index "$T/i1")" "$(jq .index "$T/i2")"
check "the retry says it was replayed" grep -qi '^idempotent-replayed: true' "$T/i2h"
check "the retry returns the first entry" bash -c "[ \"\$(jq -c .entry '$T/i1')\" = \"\$(jq -c .entry '$T/i2')\" ]"
expect_eq "the same key for another request is refused" 422 "$("${CURL[@]}" "${AUTH[@]}" "${JSON[@]}" "${IK[@]}" -o /dev/null -w '%{http_code}' -d "{\"sha256\":\"$(printf other | sha256sum | cut -c1-64)\"}" "$H/v1/attestations")"
expect_eq "a malformed Idempotency-Key is refused" 400 "$("${CURL[@]}" "${AUTH[@]}" "${JSON[@]}" -H 'Idempotency-Key: has space' -o /dev/null -w '%{http_code}' -d "{\"sha256\":\"$HK\"}" "$H/v1/attestations")"

# the entry bytes served by index hash to the leaf hash in the receipt
"${CURL[@]}" "$H/v1/ledger/entries/7" >"$T/e7"
got=$( (printf '\0'; jq -r .entry_base64 "$T/e7" | base64 -d) | sha256sum | cut -c1-64)
expect_eq "leaf hash = SHA-256(0x00 || entry bytes)" "$(jq -r .leaf_hash "$T/e7")" "$got"
expect_eq "lookup by leaf hash finds the index" 7 "$("${CURL[@]}" "$H/v1/ledger/leaves/$(jq -r .leaf_hash "$T/e7")" | jq .index)"

# signed attestation with a key registered by the caller (openssl makes and uses the key)
openssl genpkey -algorithm ed25519 -out "$T/ed.pem" 2>/dev/null
PK=$(openssl pkey -in "$T/ed.pem" -pubout -outform DER | tail -c 32 | base64)
ME=$("${CURL[@]}" "${AUTH[@]}" "$H/v1/me" | jq .id)
"${CURL[@]}" "${AUTH[@]}" "${JSON[@]}" -o /dev/null -d "{\"public_key\":\"$PK\"}" "$H/v1/accounts/$ME/keys"
printf 'signed document' | sha256sum | cut -c1-64 >"$T/h.hex"
xxd -r -p "$T/h.hex" >"$T/h.bin"
SIG=$(openssl pkeyutl -sign -inkey "$T/ed.pem" -rawin -in "$T/h.bin" | base64 -w0)
code=$("${CURL[@]}" "${AUTH[@]}" "${JSON[@]}" -o "$T/rs" -w '%{http_code}' \
    -d "{\"sha256\":\"$(cat "$T/h.hex")\",\"key\":\"$PK\",\"signature\":\"$SIG\"}" "$H/v1/attestations")
expect_eq "a signed attestation is accepted" 201 "$code"
check "the entry carries the key and signature" jq -e ".entry.key == \"$PK\" and .entry.signature == \"$SIG\"" "$T/rs"
code=$("${CURL[@]}" "${AUTH[@]}" "${JSON[@]}" -o "$T/body" -w '%{http_code}' \
    -d "{\"sha256\":\"$(printf 'other' | sha256sum | cut -c1-64)\",\"key\":\"$PK\",\"signature\":\"$SIG\"}" "$H/v1/attestations")
expect_eq "a signature over another hash is refused" 422 "$code"

# ---- proofs and tiles ----
"${CURL[@]}" "$H/ledger/checkpoint" >"$T/cp1"
SIZE=$(sed -n 2p "$T/cp1")
check "the latest checkpoint verifies" "$LODE_BIN" verify checkpoint --vkey "@$T/vkey" "$T/cp1"
OLD=$(jq .checkpoint.size "$T/r0")
"${CURL[@]}" "$H/v1/ledger/proofs/consistency?from=$OLD&to=$SIZE" >"$T/cons"
jq -j .checkpoint.note "$T/r0" >"$T/cpold"
check "consistency of the first receipt's checkpoint with the latest (lode verify)" \
    "$LODE_BIN" verify consistency --vkey "@$T/vkey" --old "$T/cpold" --new "$T/cp1" --proof "$T/cons"
"${CURL[@]}" "$H/v1/ledger/proofs/inclusion?index=5&tree_size=$SIZE" >"$T/inc5"
check "inclusion proof endpoint agrees" jq -e ".index == 5 and .tree_size == $SIZE" "$T/inc5"
expect_eq "hash tile level 0 has one hash per entry" "$((SIZE * 32))" \
    "$("${CURL[@]}" "$H/ledger/tile/0/000.p/$SIZE" | wc -c)"
"${CURL[@]}" -D "$T/hdr" -o "$T/bundle" "$H/ledger/tile/entries/000.p/$SIZE"
check "entry bundle served" test -s "$T/bundle"
ETAG=$(grep -i '^etag:' "$T/hdr" | cut -d' ' -f2 | tr -d '\r')
expect_eq "If-None-Match gives 304" 304 "$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H "if-none-match: $ETAG" "$H/ledger/tile/entries/000.p/$SIZE")"
check "an entry bundle varies by Accept-Encoding" grep -qi '^vary: accept-encoding' "$T/hdr"
check "and is sent as it is without one" bash -c "! grep -qi '^content-encoding' '$T/hdr'"
# Content-Encoding: zstd for clients that accept it (curl --compressed offers it and decodes)
"${CURL[@]}" -H 'accept-encoding: zstd' -D "$T/zhdr" -o "$T/zwire" "$H/ledger/tile/entries/000.p/$SIZE"
check "with Accept-Encoding: zstd the bundle comes zstd-coded" grep -qi '^content-encoding: zstd' "$T/zhdr"
check "smaller than the bundle" test "$(wc -c <"$T/zwire")" -lt "$(wc -c <"$T/bundle")"
check "and the zstd tool decodes it to the same bytes" bash -c "zstd -dc '$T/zwire' | cmp - '$T/bundle'"
"${CURL[@]}" --compressed -o "$T/zdecoded" "$H/ledger/tile/entries/000.p/$SIZE"
check "curl --compressed decodes it to the same bytes" cmp "$T/zdecoded" "$T/bundle"
ZETAG=$(grep -i '^etag:' "$T/zhdr" | cut -d' ' -f2 | tr -d '\r')
check "the coded answer has its own ETag" test "$ZETAG" = "${ETAG%\"}-zstd\""
expect_eq "If-None-Match on the coded ETag gives 304" 304 "$("${CURL[@]}" -o /dev/null -w '%{http_code}' -H 'accept-encoding: zstd' -H "if-none-match: $ZETAG" "$H/ledger/tile/entries/000.p/$SIZE")"
"${CURL[@]}" -H 'accept-encoding: zstd;q=0, *' -D "$T/z0hdr" -o /dev/null "$H/ledger/tile/entries/000.p/$SIZE"
check "zstd;q=0 refuses the coding" bash -c "! grep -qi '^content-encoding' '$T/z0hdr'"
"${CURL[@]}" -H 'accept-encoding: zstd' -D "$T/thdr" -o "$T/tile0" "$H/ledger/tile/0/000.p/$SIZE"
check "hash tiles (hashes do not compress) are never coded" bash -c "! grep -qi '^content-encoding' '$T/thdr'"
echo "entry bundle of $SIZE entries: $(wc -c <"$T/bundle") bytes, zstd-coded $(wc -c <"$T/zwire") bytes"
check "a monitor verifies the log from tiles (first run)" "$LODE_BIN" verify monitor --url "$H/ledger" --state "$T/mon" --vkey "@$T/vkey"
attest 100 >/dev/null
check "a monitor verifies growth since its saved checkpoint" "$LODE_BIN" verify monitor --url "$H/ledger" --state "$T/mon" --vkey "@$T/vkey"

# ---- bad input ----
status() { "${CURL[@]}" -o /dev/null -w '%{http_code}' "$@"; }
expect_eq "index not a number" 400 "$(status "$H/v1/ledger/proofs/inclusion?index=abc")"
expect_eq "negative index" 400 "$(status "$H/v1/ledger/proofs/inclusion?index=-1")"
expect_eq "index beyond the tree" 400 "$(status "$H/v1/ledger/proofs/inclusion?index=999999")"
expect_eq "tree size no checkpoint has" 404 "$(status "$H/v1/ledger/proofs/inclusion?index=0&tree_size=999999")"
expect_eq "consistency from > to" 400 "$(status "$H/v1/ledger/proofs/consistency?from=5&to=2")"
expect_eq "missing parameter" 400 "$(status "$H/v1/ledger/proofs/consistency?from=1")"
expect_eq "entry beyond the log" 404 "$(status "$H/v1/ledger/entries/999999")"
expect_eq "entry index not a number" 404 "$(status "$H/v1/ledger/entries/x1")"
expect_eq "malformed leaf hash" 404 "$(status "$H/v1/ledger/leaves/abc")"
expect_eq "non-canonical tile path" 404 "$(status "$H/ledger/tile/0/1")"
expect_eq "tile beyond the log" 404 "$(status "$H/ledger/tile/0/x999/999")"
expect_eq "attestation with a bad hash" 400 "$(status "${AUTH[@]}" "${JSON[@]}" -d '{"sha256":"xyz"}' "$H/v1/attestations")"
expect_eq "attestation with a key but no signature" 400 "$(status "${AUTH[@]}" "${JSON[@]}" -d "{\"sha256\":\"$(cat "$T/h.hex")\",\"key\":\"$PK\"}" "$H/v1/attestations")"
expect_eq "attestation without a token" 401 "$(status "${JSON[@]}" -d "{\"sha256\":\"$(cat "$T/h.hex")\"}" "$H/v1/attestations")"
e2e_finish
