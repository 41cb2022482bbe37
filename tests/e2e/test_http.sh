#!/usr/bin/env bash
# The HTTP foundation end to end: protocols (h2 over TLS by ALPN, h2c prior knowledge,
# HTTP/1.1 on both ports), operational endpoints, problems for bad input, accounts, tokens,
# keys and roles, a slow database request that does not hold up others, graceful shutdown.
. "$(dirname "$0")/lib.sh"
e2e_start

CURL=(curl -sS --max-time 20)

# ---- protocols ----
expect_eq "h2 over TLS (ALPN)" "2 200" \
    "$("${CURL[@]}" --http2 --cacert "$CACERT" -o /dev/null -w '%{http_version} %{http_code}' "$S/healthz")"
expect_eq "HTTP/1.1 over TLS" "1.1 200" \
    "$("${CURL[@]}" --http1.1 --cacert "$CACERT" -o /dev/null -w '%{http_version} %{http_code}' "$S/healthz")"
expect_eq "h2c with prior knowledge" "2 200" \
    "$("${CURL[@]}" --http2-prior-knowledge -o /dev/null -w '%{http_version} %{http_code}' "$H/healthz")"
expect_eq "HTTP/1.1 cleartext" "1.1 200" \
    "$("${CURL[@]}" --http1.1 -o /dev/null -w '%{http_version} %{http_code}' "$H/healthz")"
check "nghttp over h2c" bash -c "nghttp -v '$H/healthz' 2>&1 | grep -q ':status: 200'"
check "nghttp over TLS" bash -c "nghttp -v '$S/healthz' 2>&1 | grep -q ':status: 200'"
check "nghttp sends SETTINGS with our stream limit" \
    bash -c "nghttp -v '$H/healthz' 2>&1 | grep -q 'SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100'"
# several requests multiplexed on one connection
check "nghttp multiplexes 4 streams on one connection" \
    bash -c "[ \$(nghttp -nv '$H/healthz' '$H/readyz' '$H/openapi.json' '$H/metrics' 2>&1 | grep -c 'recv DATA frame <length=[0-9]*, flags=0x01') -eq 4 ]"
# keep-alive and several requests over one HTTP/1.1 connection
expect_eq "HTTP/1.1 keep-alive reuses one connection" "1" \
    "$("${CURL[@]}" --http1.1 -v "$H/healthz" "$H/healthz" "$H/healthz" 2>&1 >/dev/null | grep -c 'Connected to')"
# pipelined HTTP/1.1 requests answered in order
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' >"$E2E_TMP/pipe.txt"
got=$(python3 - "$HTTP_PORT" "$E2E_TMP/pipe.txt" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(open(sys.argv[2], "rb").read())
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
import re
print(" ".join(m.decode() for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)))
PY
)
expect_eq "pipelined HTTP/1.1 answered in order" "200 404 200" "$got"

# ---- operational endpoints ----
expect_eq "readyz 200" "200" "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$H/readyz")"
check "openapi.json is OpenAPI 3.1" bash -c "curl -sS --max-time 20 '$H/openapi.json' | jq -e '.openapi == \"3.1.0\" and (.paths | length) > 5'"
check "metrics has request counters" bash -c "curl -sS --max-time 20 '$H/metrics' | grep -q 'lode_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"}'"
check "metrics has pool gauges" bash -c "curl -sS --max-time 20 '$H/metrics' | grep -q '^lode_db_pool_connections 4'"
check "x-request-id is echoed" bash -c "curl -sS --max-time 20 -i -H 'x-request-id: abc-123' '$H/healthz' | grep -qi '^x-request-id: abc-123'"
check "access log is JSON with the request id" bash -c "grep '\"request_id\":\"abc-123\"' '$E2E_TMP/server.log' | tail -n 1 | jq -e '.status == 200'"

# ---- problems ----
problem() { # problem NAME STATUS CURL-ARGS...
    local name="$1" want="$2"; shift 2
    local out; out=$("${CURL[@]}" -o "$E2E_TMP/body" -w '%{http_code} %{content_type}' "$@")
    expect_eq "$name" "$want application/problem+json" "$out"
    check "$name: body is a problem" jq -e ".status == $want and (.detail | length) > 0 and (.type | startswith(\"urn:lode:problem:\"))" "$E2E_TMP/body"
}
problem "404 for an unknown path (h2)" 404 --http2-prior-knowledge "$H/nope"
problem "404 for an unknown path (h1)" 404 --http1.1 "$H/nope"
problem "405 for a wrong method" 405 --http2-prior-knowledge -X DELETE "$H/healthz"
check "405 names the allowed methods" bash -c "curl -sS --max-time 20 -i -X PUT '$H/v1/accounts' | grep -qi '^allow: POST, GET, HEAD'"
problem "414 for a long target (h1)" 414 --http1.1 "$H/$(head -c 5000 /dev/zero | tr '\0' a)"
problem "414 for a long target (h2)" 414 --http2-prior-knowledge "$H/$(head -c 5000 /dev/zero | tr '\0' a)"
problem "431 for huge headers (h1)" 431 --http1.1 -H "x-big: $(head -c 17000 /dev/zero | tr '\0' a)" "$H/healthz"
BIG=$(head -c 3000 /dev/zero | tr '\0' a)
problem "431 for many headers (h2)" 431 --http2-prior-knowledge \
    -H "x-a: $BIG" -H "x-b: $BIG" -H "x-c: $BIG" -H "x-d: $BIG" -H "x-e: $BIG" -H "x-f: $BIG" "$H/healthz"
problem "400 for a bad percent-encoding" 400 --http1.1 "$H/v1/acc%zzounts"
problem "401 without a token" 401 --http2-prior-knowledge "$H/v1/me"
check "401 carries WWW-Authenticate" bash -c "curl -sS --max-time 20 -i '$H/v1/me' | grep -qi '^www-authenticate: Bearer'"
problem "401 for a bad token" 401 --http2-prior-knowledge -H "Authorization: Bearer lode_nonsense" "$H/v1/me"
# malformed HTTP/1.1 gets 400, not a dropped connection
got=$(printf 'GARBAGE\r\n\r\n' | python3 -c '
import socket,sys
s=socket.create_connection(("127.0.0.1",'"$HTTP_PORT"'))
s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).split(b"\r\n")[0].decode())')
expect_eq "malformed HTTP/1.1 request line is a 400" "HTTP/1.1 400 Bad Request" "$got"
# a client that starts a request and stalls gets 408 once the header deadline passes
got=$(python3 -c '
import socket
s=socket.create_connection(("127.0.0.1",'"$HTTP_PORT"'))
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
s.settimeout(20)
print(s.recv(4096).split(b"\r\n")[0].decode())')
expect_eq "a slow HTTP/1.1 client gets 408" "HTTP/1.1 408 Request Timeout" "$got"

# ---- accounts, tokens, keys, roles ----
OP=$(operator_token)
check "lode account create printed a token" bash -c "[[ '$OP' == lode_* ]]"
AUTH=(-H "Authorization: Bearer $OP")
JSON=(-H "content-type: application/json")
expect_eq "operator GET /v1/me" "200" "$("${CURL[@]}" --http2-prior-knowledge "${AUTH[@]}" -o "$E2E_TMP/me" -w '%{http_code}' "$H/v1/me")"
check "/v1/me names the operator role" jq -e '.roles == ["operator"]' "$E2E_TMP/me"

problem "400 for malformed JSON" 400 --http2-prior-knowledge "${AUTH[@]}" "${JSON[@]}" -d '{"name":' "$H/v1/accounts"
problem "400 for an unknown field" 400 --http2-prior-knowledge "${AUTH[@]}" "${JSON[@]}" -d '{"name":"a","roles":["labeler"],"x":1}' "$H/v1/accounts"
check "unknown field is named in the pointer" jq -e '.pointer == "/x"' "$E2E_TMP/body"
problem "400 for a wrong type" 400 --http2-prior-knowledge "${AUTH[@]}" "${JSON[@]}" -d '{"name":5,"roles":["labeler"]}' "$H/v1/accounts"
problem "400 for an unknown role" 400 --http2-prior-knowledge "${AUTH[@]}" "${JSON[@]}" -d '{"name":"a","roles":["king"]}' "$H/v1/accounts"
problem "400 for invalid UTF-8" 400 --http2-prior-knowledge "${AUTH[@]}" "${JSON[@]}" --data-binary $'{"name":"\xff\xfe","roles":["labeler"]}' "$H/v1/accounts"
problem "400 for deep nesting" 400 --http2-prior-knowledge "${AUTH[@]}" "${JSON[@]}" -d "$(printf '[%.0s' $(seq 1 40))" "$H/v1/accounts"
problem "415 for a wrong content type" 415 --http2-prior-knowledge "${AUTH[@]}" -H "content-type: text/plain" -d 'x' "$H/v1/accounts"
head -c 20000 /dev/zero | tr '\0' ' ' >"$E2E_TMP/big.json"
problem "413 for an oversized body (h2)" 413 --http2-prior-knowledge "${AUTH[@]}" "${JSON[@]}" --data-binary @"$E2E_TMP/big.json" "$H/v1/accounts"
problem "413 for an oversized body (h1)" 413 --http1.1 "${AUTH[@]}" "${JSON[@]}" --data-binary @"$E2E_TMP/big.json" "$H/v1/accounts"
problem "413 for an oversized chunked body (h1)" 413 --http1.1 "${AUTH[@]}" "${JSON[@]}" -H "transfer-encoding: chunked" --data-binary @"$E2E_TMP/big.json" "$H/v1/accounts"

code=$("${CURL[@]}" --http2 --cacert "$CACERT" "${AUTH[@]}" "${JSON[@]}" -o "$E2E_TMP/acct" -w '%{http_code}' \
    -d '{"name":"ada","roles":["contributor","labeler"]}' "$S/v1/accounts")
expect_eq "operator creates a contributor over TLS h2" 201 "$code"
ADA=$(jq -r .id "$E2E_TMP/acct")
code=$("${CURL[@]}" --http1.1 "${AUTH[@]}" "${JSON[@]}" -o "$E2E_TMP/tok" -w '%{http_code}' -d '{"name":"laptop"}' "$H/v1/accounts/$ADA/tokens")
expect_eq "operator issues a token for ada" 201 "$code"
ADA_TOKEN=$(jq -r .token "$E2E_TMP/tok")
ADA_TOKEN_ID=$(jq -r .id "$E2E_TMP/tok")
ADA_AUTH=(-H "Authorization: Bearer $ADA_TOKEN")
expect_eq "ada sees herself" "ada" "$("${CURL[@]}" --http2-prior-knowledge "${ADA_AUTH[@]}" "$H/v1/me" | jq -r .name)"
problem "403 when ada lists accounts" 403 --http2-prior-knowledge "${ADA_AUTH[@]}" "$H/v1/accounts"
problem "403 when ada reads the operator" 403 --http2-prior-knowledge "${ADA_AUTH[@]}" "$H/v1/accounts/1"
problem "404 for an account that does not exist" 404 --http2-prior-knowledge "${AUTH[@]}" "$H/v1/accounts/999999"
problem "404 for a non-numeric id" 404 --http2-prior-knowledge "${AUTH[@]}" "$H/v1/accounts/abc"
check "operator lists accounts with a cursor" bash -c "curl -sS --max-time 20 --http2-prior-knowledge -H 'Authorization: Bearer $OP' '$H/v1/accounts?limit=1' | jq -e '(.items | length) == 1 and .next_cursor != null'"
problem "400 for a bad limit" 400 --http2-prior-knowledge "${AUTH[@]}" "$H/v1/accounts?limit=0"

PK=$("$LODE_BIN" keygen --out "$E2E_TMP/ada.key")
code=$("${CURL[@]}" --http2-prior-knowledge "${ADA_AUTH[@]}" "${JSON[@]}" -o "$E2E_TMP/key" -w '%{http_code}' \
    -d "{\"public_key\":\"$PK\",\"label\":\"laptop\"}" "$H/v1/accounts/$ADA/keys")
expect_eq "ada registers an Ed25519 key" 201 "$code"
check "the key registration is in the ledger" jq -e '.ledger.index >= 0 and .ledger.checkpoint.size > .ledger.index' "$E2E_TMP/key"
check "the key is listed" bash -c "curl -sS --max-time 20 --http2-prior-knowledge -H 'Authorization: Bearer $ADA_TOKEN' '$H/v1/accounts/$ADA/keys' | jq -e '.items[0].public_key == \"$PK\"'"
problem "409 for a key registered twice" 409 --http2-prior-knowledge "${AUTH[@]}" "${JSON[@]}" \
    -d "{\"public_key\":\"$PK\"}" "$H/v1/accounts/$ADA/keys"
problem "400 for a key of the wrong length" 400 --http2-prior-knowledge "${ADA_AUTH[@]}" "${JSON[@]}" \
    -d '{"public_key":"AAAA"}' "$H/v1/accounts/$ADA/keys"
check "token list never shows the token" bash -c "curl -sS --max-time 20 --http2-prior-knowledge -H 'Authorization: Bearer $ADA_TOKEN' '$H/v1/accounts/$ADA/tokens' | jq -e '(.items | length) == 1 and (.items[0] | has(\"token\") | not)'"
expect_eq "ada revokes her token" 204 "$("${CURL[@]}" --http2-prior-knowledge "${ADA_AUTH[@]}" -X DELETE -o /dev/null -w '%{http_code}' "$H/v1/accounts/$ADA/tokens/$ADA_TOKEN_ID")"
problem "401 with a revoked token" 401 --http2-prior-knowledge "${ADA_AUTH[@]}" "$H/v1/me"

# ---- a slow database request does not hold up others on the same connection ----
# (over TLS: curl 7.88 does not multiplex --parallel transfers on h2c prior-knowledge connections)
"${CURL[@]}" --http2 --cacert "$CACERT" --parallel -w '%{url_effective} %{http_code}\n' -o /dev/null -o /dev/null -o /dev/null \
    "$S/debug/sleep?ms=2500" "$S/readyz" "$S/healthz" -v 2>"$E2E_TMP/par.err" >"$E2E_TMP/par.out"
expect_eq "the slow request finishes last" "sleep" "$(tail -n 1 "$E2E_TMP/par.out" | sed 's|.*/debug/\(sleep\).*|\1|')"
expect_eq "all three succeed" "3" "$(grep -c ' 200$' "$E2E_TMP/par.out")"
expect_eq "all three share one connection" "1" "$(grep -c 'Connected to' "$E2E_TMP/par.err")"

# ---- graceful shutdown lets an in-flight request finish ----
"${CURL[@]}" --http2-prior-knowledge -o /dev/null -w '%{http_code}' "$H/debug/sleep?ms=1500" >"$E2E_TMP/inflight" &
client=$!
sleep 0.5
e2e_stop_server
wait $client
expect_eq "in-flight request completes during shutdown" 200 "$(cat "$E2E_TMP/inflight")"
check "the port is closed after shutdown" bash -c "! curl -s --max-time 2 '$H/healthz'"
e2e_finish
