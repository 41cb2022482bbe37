#!/usr/bin/env bash
# RFC 9113 behaviour at the frame level (tests/e2e/h2_frames.py) against the real server.
. "$(dirname "$0")/lib.sh"
e2e_start
while IFS= read -r line; do
    case "$line" in
        "ok - "*) pass "${line#ok - }" ;;
        "FAIL - "*) fail "${line#FAIL - }" ;;
        *) echo "$line" ;;
    esac
done < <(python3 "$(dirname "$0")/h2_frames.py" "$HTTP_PORT" 2>&1)
check "the server still serves after the protocol errors" curl -sf --http2-prior-knowledge "$H/healthz"
e2e_finish
