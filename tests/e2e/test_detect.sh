#!/usr/bin/env bash
# POST /v1/detect: verdicts with evidence, bad input, size limit and the per-account rate limit.
. "$(dirname "$0")/lib.sh"
e2e_start
OP=$(operator_token)
T="$E2E_TMP"
detect() { curl -sS --http2-prior-knowledge -H "Authorization: Bearer $OP" -H 'content-type: application/json' "$@" "$H/v1/detect"; }
TEXT="The harbour was quiet that morning, and the fishermen argued about the weather while the gulls waited on the railings. Nobody expected the ferry to be late again, yet it was, and the old woman with the basket of eggs complained loudly to anyone who would listen. Her grandson laughed, kicked a pebble into the water and said the captain probably overslept, which was not far from the truth."
jq -n --arg t "$TEXT" '{text: $t}' >"$T/body.json"
detect -o "$T/r1" -d @"$T/body.json"
check "a paragraph gets a verdict with a score" jq -e '(.verdict | IN("human","synthetic","uncertain")) and (.score | type) == "number" and (.model_version | startswith("lode-detector/"))' "$T/r1"
check "the verdict comes with evidence" jq -e '(.evidence | length) > 0 and (.evidence[0].explanation | length) > 0' "$T/r1"
check "no line was left out of a paragraph" jq -e '.lines_left_out == 0 and .words > 50' "$T/r1"
# the paragraph with a pasted log: the log's lines are left out, and the prose scores the same
{ printf '%s\n' "$TEXT"; for i in $(seq 10 29); do printf '18:51:%s lists/l-k has %s msgs in unseen\n' "$i" "$((80 - i))"; done; } |
    jq -Rs '{text: .}' >"$T/log.json"
detect -o "$T/r3" -d @"$T/log.json"
check "a pasted log's 20 lines are left out" jq -e '.lines_left_out == 20' "$T/r3"
check "and the rest is scored as the paragraph alone" jq -e --slurpfile a "$T/r1" '.score == $a[0].score and .words == $a[0].words' "$T/r3"
detect -o "$T/r2" -d '{"text":"too short"}'
check "a short text is insufficient, with no score" jq -e '.verdict == "insufficient" and .score == null' "$T/r2"
expect_eq "empty body is a 400" 400 "$(detect -o /dev/null -w '%{http_code}' -d '')"
expect_eq "a non-string text is a 400" 400 "$(detect -o /dev/null -w '%{http_code}' -d '{"text":5}')"
expect_eq "an unknown field is a 400" 400 "$(detect -o /dev/null -w '%{http_code}' -d '{"text":"a","lang":"en"}')"
head -c 70000 /dev/zero | tr '\0' a | jq -Rs '{text: .}' >"$T/big.json"
expect_eq "a text over 64 KiB is a 413" 413 "$(detect -o /dev/null -w '%{http_code}' -d @"$T/big.json")"
expect_eq "no token is a 401" 401 "$(curl -sS --http2-prior-knowledge -o /dev/null -w '%{http_code}' -H 'content-type: application/json' -d @"$T/body.json" "$H/v1/detect")"
# 60 requests in flight at once on one connection: the bucket (20, +5/s) must refuse some
printf '{"text":"x"}' >"$T/x.json"
h2load -n 60 -c 1 -m 60 -d "$T/x.json" -H "authorization: Bearer $OP" -H 'content-type: application/json' \
    "$H/v1/detect" >"$T/h2load.out" 2>&1
ok=$(awk '/^status codes:/ {print $3}' "$T/h2load.out")
client=$(awk '/^status codes:/ {print $7}' "$T/h2load.out")
check "60 requests at once: some are refused with 4xx (429)" test "${client:-0}" -gt 0
check "and at most the burst plus refill succeed" test "${ok:-99}" -le 30
# 40 more at once on one connection (nghttp): whatever the machine's speed, some are refused,
# and each refusal names when to come back
nghttp -nv -m 40 -d "$T/x.json" -H "authorization: Bearer $OP" -H 'content-type: application/json' \
    "$H/v1/detect" >"$T/nghttp.out" 2>&1
check "429 carries Retry-After" grep -Eqi 'retry-after: [0-9]' "$T/nghttp.out"
e2e_finish
