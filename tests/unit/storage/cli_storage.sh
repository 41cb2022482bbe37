#!/bin/sh
# tests/unit/storage/cli_storage.sh LODE — `lode migrate` and `lode account create|token` on a
# scratch database: output format, exit codes, the token stored only as its SHA-256.
# Skips (77) without LODE_TEST_DATABASE_URL.
set -u
LODE="$1"
[ -n "${LODE_TEST_DATABASE_URL:-}" ] || { echo "LODE_TEST_DATABASE_URL is not set: skipping"; exit 77; }
command -v psql >/dev/null || { echo "psql not found: skipping"; exit 77; }

DB="lode_t_cli_$$"
psql -qAt -d "$LODE_TEST_DATABASE_URL" -c "CREATE DATABASE $DB" || exit 1
cleanup() { psql -qAt -d "$LODE_TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)"; }
trap cleanup EXIT
# the same server and role, another database: libpq takes the last dbname
URL=$(psql -qAt -d "$LODE_TEST_DATABASE_URL" -c "SELECT CASE WHEN inet_server_addr() IS NULL
    THEN 'host=''' || trim(split_part(current_setting('unix_socket_directories'), ',', 1)) || ''''
    ELSE 'host=' || host(inet_server_addr()) END
    || ' port=' || current_setting('port') || ' user=''' || current_user || ''''")
URL="$URL dbname=$DB"
export LODE_DATABASE_URL="$URL"
q() { psql -qAt -d "$URL" -c "$1"; }
fail=0
check() { if [ "$2" != "$3" ]; then echo "FAIL $1: got [$2] want [$3]"; fail=1; else echo "ok   $1"; fi; }

out=$("$LODE" account create --no-migrate --role operator --name ops 2>/dev/null); rc=$?
check "create refuses an unmigrated database with --no-migrate" "$rc" 3

out=$("$LODE" migrate); rc=$?
check "migrate exit" "$rc" 0
check "migrate names what it applied" "$(echo "$out" | head -n 1)" "applied 0001_accounts.sql"
out=$("$LODE" migrate); rc=$?
check "second migrate applies nothing" "$(echo "$out" | head -n 1)" "0 migrations applied; schema at version $(q 'SELECT max(version) FROM schema_migrations')"

out=$("$LODE" account create --role operator,labeler --name "First Operator"); rc=$?
check "account create exit" "$rc" 0
check "account line" "$(echo "$out" | head -n 1)" 'account 1 "First Operator" roles labeler,operator'
token=$(echo "$out" | tail -n 1)
check "token format" "$(echo "$token" | grep -cE '^lode_[A-Za-z0-9_-]{43}$')" 1
check "token stored as its hash" "$(q "SELECT count(*) FROM api_tokens WHERE token_hash = sha256(convert_to('$token', 'UTF8'))")" 1
check "token text not stored" "$(q "SELECT count(*) FROM api_tokens WHERE name = '$token' OR prefix = '$token'")" 0
check "roles stored" "$(q 'SELECT array_to_string(roles, $$,$$) FROM accounts WHERE id = 1')" "labeler,operator"

out=$("$LODE" account token --account 1 --name ci); rc=$?
token2=$(echo "$out" | tail -n 1)
check "account token exit" "$rc" 0
check "second token differs" "$([ "$token" != "$token2" ] && echo yes)" yes
check "two tokens" "$(q 'SELECT count(*) FROM api_tokens WHERE account_id = 1')" 2

"$LODE" account token --account 99 --name ci >/dev/null 2>&1; rc=$?
check "token for a missing account" "$rc" 2
"$LODE" account create --role pilot --name x >/dev/null 2>&1; rc=$?
check "unknown role" "$rc" 2
"$LODE" account create --role operator >/dev/null 2>&1; rc=$?
check "missing name" "$rc" 2
"$LODE" account frobnicate >/dev/null 2>&1; rc=$?
check "unknown subcommand" "$rc" 2
"$LODE" account create --help >/dev/null; rc=$?
check "help" "$rc" 0
"$LODE" migrate --database-url "host=/nonexistent-socket-dir dbname=x" >/dev/null 2>&1; rc=$?
check "unreachable database" "$rc" 3

# a changed applied migration stops migrate
q "UPDATE schema_migrations SET checksum = sha256('x') WHERE version = 1" >/dev/null
err=$("$LODE" migrate 2>&1 >/dev/null); rc=$?
check "changed migration exit" "$rc" 3
check "changed migration named" "$(echo "$err" | grep -c 'migration 0001_accounts.sql was changed after it was applied')" 1
exit $fail
