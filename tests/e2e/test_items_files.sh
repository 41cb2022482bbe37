#!/usr/bin/env bash
# Streamed file uploads end to end: files of several MiB (compressible text and incompressible
# bytes, generated deterministically) over HTTP/2 with and without a Content-Length and over
# HTTP/1.1 chunked; the receipt's hash is the file's SHA-256, the content reads back byte for
# byte, the same file again is an exact duplicate, an Idempotency-Key retry replays, and a file
# over the limit is 413 (early from its Content-Length, or midway) with nothing written.
. "$(dirname "$0")/lib.sh"
e2e_start --ledger-batch-max 64 --ledger-batch-delay-ms 10

H2=(curl -sS --max-time 120 --http2-prior-knowledge)
H1=(curl -sS --max-time 120 --http1.1)
T="$E2E_TMP"
sql() { # runs SQL on this test's database
    local bin; bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    "$bin/psql" -h "$LODE_TEST_PG_DIR" -U lode -d "$E2E_DB" -qAtX -v ON_ERROR_STOP=1 -c "$1"
}
counts() { sql "SELECT (SELECT count(*) FROM items) || ' ' || (SELECT count(*) FROM ledger_queue) || ' ' || (SELECT count(*) FROM blobs)"; }
sha_of() { sha256sum "$1" | cut -c1-64; }

A=$("$LODE_BIN" account create --role contributor --name alice | tail -n 1)
AA=(-H "Authorization: Bearer $A")
OCTET=(-H "content-type: application/octet-stream" -H "lode-media-type: application/x-test")
"${H2[@]}" "${AA[@]}" -H "content-type: application/json" -o "$T/out" \
    --data-binary '{"name":"files"}' "$H/v1/datasets"
D=$(jq .id "$T/out")
"${H2[@]}" "${AA[@]}" -H "content-type: application/json" -o "$T/out" \
    --data-binary '{"name":"copies","policy":{"exact_duplicate":"accept","scope":"global"}}' "$H/v1/datasets"
DC=$(jq .id "$T/out")

# deterministic files: 6 MB of numbered lines (compresses well), 5 MB of AES-CTR keystream
# (does not compress), 3 MB more text sent without a Content-Length
seq 1 900000 | sed 's/$/ lode streams every file it is given/' | head -c 6000000 >"$T/text.bin"
openssl enc -aes-256-ctr -nosalt -pbkdf2 -pass pass:lode-files </dev/zero 2>/dev/null |
    head -c 5000000 >"$T/noise.bin"
seq 2000000 2400000 | head -c 3000000 >"$T/chunked.bin"
{ cat "$T/noise.bin" "$T/noise.bin" "$T/noise.bin"; head -c 1777217 "$T/noise.bin"; } >"$T/over.bin"
expect_eq "the oversized file is 16 MiB + 1 byte" 16777217 "$(stat -c %s "$T/over.bin")"

# upload CURL_ARRAY_NAME FILE NAME DATASET [curl args...] -> status; body in $T/out
upload() { local -n cl="$1"; local file="$2" name="$3" ds="$4"; shift 4
    "${cl[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${OCTET[@]}" -H "lode-filename: $name" \
        "$@" --data-binary "@$file" "$H/v1/datasets/$ds/items"; }
# streamed from stdin: no Content-Length (HTTP/2) or chunked (HTTP/1.1)
upload_stdin() { local -n cl="$1"; local file="$2" name="$3" ds="$4"; shift 4
    "${cl[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" "${OCTET[@]}" -H "lode-filename: $name" \
        -X POST -T - "$@" "$H/v1/datasets/$ds/items" <"$file"; }
content_matches() { # FILE: GET .../content returns the same bytes
    "${H2[@]}" "${AA[@]}" -o "$T/got" "$H/v1/items/$(sha_of "$1")/content" && cmp -s "$1" "$T/got"; }

# ---- HTTP/2 with a Content-Length ----
expect_eq "a 6 MB text file over HTTP/2 is contributed" 201 "$(upload H2 "$T/text.bin" text.bin "$D")"
check "its receipt has the file's SHA-256, size and media type" jq -e ".items[0].sha256 == \"$(sha_of "$T/text.bin")\" and .items[0].bytes == 6000000 and .items[0].media_type == \"application/x-test\" and .items[0].dedupe.verdict == \"distinct\"" "$T/out"
check "its content reads back byte for byte" content_matches "$T/text.bin"
check "the stored blob is compressed" test "$(sql "SELECT length(data) < raw_bytes / 4 AND raw_bytes = 6000000 FROM blobs WHERE sha256 = '\\x$(sha_of "$T/text.bin")'")" = t
expect_eq "the same file again is an exact duplicate (rejected)" 409 "$(upload H2 "$T/text.bin" again.bin "$D")"
check "... naming the first item and the exact verdict" jq -e ".dedupe.verdict == \"exact\" and .dedupe.duplicate_of.sha256 == \"$(sha_of "$T/text.bin")\" and .dedupe.similarity == 1" "$T/out"

expect_eq "a 5 MB incompressible file over HTTP/2 is contributed" 201 "$(upload H2 "$T/noise.bin" noise.bin "$D")"
check "its receipt has the file's SHA-256" jq -e ".items[0].sha256 == \"$(sha_of "$T/noise.bin")\" and .items[0].bytes == 5000000" "$T/out"
check "its content reads back byte for byte" content_matches "$T/noise.bin"

# ---- HTTP/2 without a Content-Length, HTTP/1.1 chunked ----
expect_eq "a file over HTTP/2 without a Content-Length is contributed" 201 "$(upload_stdin H2 "$T/chunked.bin" stdin.bin "$D")"
check "its receipt has the file's SHA-256" jq -e ".items[0].sha256 == \"$(sha_of "$T/chunked.bin")\" and .items[0].bytes == 3000000" "$T/out"
check "its content reads back byte for byte" content_matches "$T/chunked.bin"
expect_eq "the same file over HTTP/1.1 chunked is an exact duplicate (accepted here)" 201 "$(upload_stdin H1 "$T/chunked.bin" h1.bin "$DC")"
check "... with the exact verdict and the first item's hash" jq -e ".items[0].dedupe.verdict == \"exact\" and .items[0].sha256 == \"$(sha_of "$T/chunked.bin")\" and .items[0].dedupe.duplicate_of.sha256 == \"$(sha_of "$T/chunked.bin")\"" "$T/out"
expect_eq "the 5 MB noise over HTTP/1.1 chunked is an exact duplicate (rejected)" 409 "$(upload_stdin H1 "$T/noise.bin" noise-h1.bin "$D")"
check "... with the exact verdict" jq -e '.dedupe.verdict == "exact"' "$T/out"
cat "$T/text.bin" "$T/chunked.bin" >"$T/both.bin"
expect_eq "a 9 MB file over HTTP/1.1 chunked is contributed" 201 "$(upload_stdin H1 "$T/both.bin" both.bin "$D")"
check "its receipt has the file's SHA-256" jq -e ".items[0].sha256 == \"$(sha_of "$T/both.bin")\" and .items[0].bytes == 9000000" "$T/out"
check "its content reads back byte for byte" content_matches "$T/both.bin"
expect_eq "a file over HTTP/1.1 with a Content-Length is an exact duplicate (accepted here)" 201 "$(upload H1 "$T/both.bin" both-h1.bin "$DC")"
check "... with the exact verdict" jq -e '.items[0].dedupe.verdict == "exact"' "$T/out"
expect_eq "each distinct file is one blob" 4 "$(sql 'SELECT count(*) FROM blobs')"

# ---- Idempotency-Key ----
tail -c 2000000 "$T/text.bin" | tr "0-9" "a-j" >"$T/idem.bin"
expect_eq "a file with an Idempotency-Key is contributed" 201 "$(upload H2 "$T/idem.bin" idem.bin "$D" -H "idempotency-key: file-1")"
cp "$T/out" "$T/idem1"
expect_eq "the retry over HTTP/1.1 chunked replays" 201 "$(upload_stdin H1 "$T/idem.bin" idem.bin "$D" -H "idempotency-key: file-1")"
check "... with the same item" jq -e --slurpfile a "$T/idem1" '.items[0].item == $a[0].items[0].item' "$T/out"
expect_eq "the key with another file is refused" 422 "$(upload H2 "$T/text.bin" other.bin "$D" -H "idempotency-key: file-1")"

# ---- bad input writes nothing ----
before=$(counts)
expect_eq "a file over 16 MiB with a Content-Length is 413 (HTTP/2)" 413 "$(upload H2 "$T/over.bin" over.bin "$D")"
expect_eq "a file over 16 MiB without a Content-Length is 413 (HTTP/2)" 413 "$(upload_stdin H2 "$T/over.bin" over.bin "$D")"
expect_eq "a file over 16 MiB chunked is 413 (HTTP/1.1)" 413 "$(upload_stdin H1 "$T/over.bin" over.bin "$D")"
check "... as a problem naming the limit" jq -e '.status == 413 and (.detail | test("16777216"))' "$T/out"
: >"$T/empty.bin"
expect_eq "an empty file is 400" 400 "$(upload H2 "$T/empty.bin" empty.bin "$D")"
expect_eq "an empty chunked file is 400" 400 "$(upload_stdin H1 "$T/empty.bin" empty.bin "$D")"
expect_eq "a streamed file without Lode-Filename is 400" 400 "$("${H2[@]}" -o "$T/out" -w '%{http_code}' "${AA[@]}" -H "content-type: application/octet-stream" --data-binary "@$T/idem.bin" "$H/v1/datasets/$D/items")"
expect_eq "a streamed file to an unknown dataset is 404" 404 "$(upload H2 "$T/idem.bin" x.bin 999999)"
expect_eq "no bad input wrote anything" "$before" "$(counts)"
expect_eq "the server still answers" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "$H/healthz")"

e2e_finish
