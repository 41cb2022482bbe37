/*
 * storage/account_store.c — accounts, roles, API tokens and Ed25519 public keys.
 *
 * Roles are stored as a text[] of role names (checked by the schema) and handled here as a
 * bit set. A token is "lode_" + base64url(32 random bytes); the database keeps SHA-256(token
 * text) and the first characters for display. Authentication looks the hash up through its
 * unique index, so timing reveals nothing about any stored token.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "storage/account_store.h"
#include "storage/db_internal.h"

#define TOKEN_RANDOM_BYTES 32
#define TOKEN_TAG "lode_"
#define TOKEN_TAG_LEN 5
#define TOKEN_B64_LEN 43 /* 32 bytes in unpadded base64url */
#define BASE64URL_ALPHABET "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
#define TOKEN_PREFIX_LEN (TOKEN_TAG_LEN + 8)
#define LIST_LIMIT_MAX 1000
#define LAST_USED_INTERVAL_S 60

_Static_assert(TOKEN_TAG_LEN + TOKEN_B64_LEN + 1 <= TOKEN_TEXT_BYTES, "token text fits");
_Static_assert(TOKEN_PREFIX_LEN + 1 <= TOKEN_PREFIX_BYTES, "token prefix fits");
_Static_assert(LODE_NAME_BYTES_MAX + 1 == ACCOUNT_NAME_BYTES, "name limits agree");

static const char *const role_names[] = {"contributor", "labeler",      "trainer",
                                         "publisher",   "fact-checker", "operator"};
#define ROLE_COUNT (sizeof role_names / sizeof role_names[0])

unsigned account_role_parse(const char *name)
{
    for (size_t i = 0; name != NULL && i < ROLE_COUNT; i++)
        if (strcmp(name, role_names[i]) == 0)
            return 1u << i;
    return 0;
}

const char *account_role_name(unsigned role)
{
    for (size_t i = 0; i < ROLE_COUNT; i++)
        if (role == 1u << i)
            return role_names[i];
    return NULL;
}

/* "{contributor,operator}" in role order; roles must be within ROLE_ALL_MASK. */
static void roles_literal(unsigned roles, char *out, size_t cap)
{
    size_t n = (size_t)snprintf(out, cap, "{");
    for (size_t i = 0; i < ROLE_COUNT; i++)
        if (roles & (1u << i))
            n += (size_t)snprintf(out + n, cap - n, "%s%s", n > 1 ? "," : "", role_names[i]);
    snprintf(out + n, cap - n, "}");
}

/* Parses "a,b,c" as produced by array_to_string(roles, ','). */
static unsigned roles_from_csv(const char *csv)
{
    char buf[128];
    unsigned roles = 0;
    char *save = NULL;

    snprintf(buf, sizeof buf, "%s", csv);
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save))
        roles |= account_role_parse(tok);
    return roles;
}

/* 1..LODE_NAME_BYTES_MAX bytes, no control characters (PostgreSQL checks the UTF-8). */
static bool name_is_valid(const char *name, bool may_be_empty)
{
    size_t n;

    if (name == NULL)
        return may_be_empty;
    n = strlen(name);
    if (n > LODE_NAME_BYTES_MAX || (n == 0 && !may_be_empty))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
            return false;
    return true;
}

static enum lode_code bad_name(struct lode_error *err, const char *field, bool may_be_empty)
{
    lode_error_set(err, LODE_EINVAL, "%s must be %s %d bytes of text without control characters",
                   field, may_be_empty ? "at most" : "1 to", LODE_NAME_BYTES_MAX);
    lode_error_pointer(err, field);
    return LODE_EINVAL;
}

static bool limit_is_valid(int limit)
{
    return limit >= 1 && limit <= LIST_LIMIT_MAX;
}

static enum lode_code bad_limit(struct lode_error *err)
{
    lode_error_set(err, LODE_EINVAL, "limit must be from 1 to %d", LIST_LIMIT_MAX);
    lode_error_pointer(err, "limit");
    return LODE_EINVAL;
}

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"

/* ---- accounts ---- */

#define ACCOUNT_COLUMNS "id, name, array_to_string(roles, ','), " MS("created_at")

static void account_read(const PGresult *res, int row, struct account *out)
{
    memset(out, 0, sizeof *out);
    out->id = db_result_int64(res, row, 0);
    db_result_text(res, row, 1, out->name, sizeof out->name);
    out->roles = roles_from_csv(PQgetvalue(res, row, 2));
    out->created_at_ms = db_result_int64(res, row, 3);
}

enum lode_code account_create(struct db_conn *conn, const char *name, unsigned roles,
                              struct account *out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    char literal[128];
    enum lode_code rc;

    if (roles == 0 || (roles & ~(unsigned)ROLE_ALL_MASK) != 0) {
        lode_error_set(err, LODE_EINVAL, "an account needs at least one known role");
        lode_error_pointer(err, "roles");
        return LODE_EINVAL;
    }
    if (!name_is_valid(name, false))
        return bad_name(err, "name", false);
    roles_literal(roles, literal, sizeof literal);
    db_params_init(&p);
    db_params_text(&p, name);
    db_params_text(&p, literal);
    rc = db_query(conn,
                  "INSERT INTO accounts (name, roles) VALUES ($1, $2::text[])"
                  " RETURNING " ACCOUNT_COLUMNS,
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    account_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}

enum lode_code account_get(struct db_conn *conn, int64_t id, struct account *out,
                           struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, id);
    rc = db_query(conn, "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id = $1", &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "account %" PRId64 " does not exist", id);
    }
    account_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}

enum lode_code account_list(struct db_conn *conn, int64_t after_id, int limit, struct account *out,
                            int *count_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    *count_out = 0;
    if (!limit_is_valid(limit))
        return bad_limit(err);
    db_params_init(&p);
    db_params_int64(&p, after_id);
    db_params_int64(&p, limit);
    rc = db_query(conn,
                  "SELECT " ACCOUNT_COLUMNS " FROM accounts WHERE id > $1 ORDER BY id LIMIT $2", &p,
                  &res, err);
    if (rc != LODE_OK)
        return rc;
    for (int i = 0; i < PQntuples(res) && i < limit; i++)
        account_read(res, i, &out[i]);
    *count_out = PQntuples(res) < limit ? PQntuples(res) : limit;
    PQclear(res);
    return LODE_OK;
}

/* ---- tokens ---- */

#define TOKEN_COLUMNS                                                                              \
    "id, account_id, name, prefix, " MS("created_at") ", " MS("last_used_at") ", " MS("revoked_"   \
                                                                                      "at")

static void token_read(const PGresult *res, int row, struct api_token *out)
{
    memset(out, 0, sizeof *out);
    out->id = db_result_int64(res, row, 0);
    out->account_id = db_result_int64(res, row, 1);
    db_result_text(res, row, 2, out->name, sizeof out->name);
    db_result_text(res, row, 3, out->prefix, sizeof out->prefix);
    out->created_at_ms = db_result_int64(res, row, 4);
    out->last_used_at_ms = db_result_int64(res, row, 5);
    out->revoked_at_ms = db_result_int64(res, row, 6);
}

static void token_hash(const char *text, uint8_t out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)text, strlen(text));
}

/* "lode_" then exactly 43 base64url characters that decode canonically to 32 bytes. */
bool token_text_is_well_formed(const char *text)
{
    uint8_t raw[TOKEN_RANDOM_BYTES];
    size_t raw_len = 0;

    if (text == NULL || strnlen(text, TOKEN_TEXT_BYTES) != TOKEN_TAG_LEN + TOKEN_B64_LEN ||
        memcmp(text, TOKEN_TAG, TOKEN_TAG_LEN) != 0)
        return false;
    /* libsodium 1.0.18's decoder lets some bytes >= 0x80 through: check the alphabet first */
    if (strspn(text + TOKEN_TAG_LEN, BASE64URL_ALPHABET) != TOKEN_B64_LEN)
        return false;
    if (sodium_base642bin(raw, sizeof raw, text + TOKEN_TAG_LEN, TOKEN_B64_LEN, NULL, &raw_len,
                          NULL, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        raw_len != sizeof raw)
        return false;
    sodium_memzero(raw, sizeof raw);
    return true;
}

enum lode_code token_create(struct db_conn *conn, int64_t account_id, const char *name,
                            struct api_token *out, char *token_text_out, struct lode_error *err)
{
    uint8_t raw[TOKEN_RANDOM_BYTES], hash[32];
    char text[TOKEN_TEXT_BYTES], prefix[TOKEN_PREFIX_BYTES];
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    token_text_out[0] = '\0';
    if (!name_is_valid(name, true))
        return bad_name(err, "name", true);
    if (name == NULL)
        name = "";
    randombytes_buf(raw, sizeof raw);
    memcpy(text, TOKEN_TAG, TOKEN_TAG_LEN);
    sodium_bin2base64(text + TOKEN_TAG_LEN, sizeof text - TOKEN_TAG_LEN, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
    token_hash(text, hash);
    memcpy(prefix, text, TOKEN_PREFIX_LEN);
    prefix[TOKEN_PREFIX_LEN] = '\0';

    db_params_init(&p);
    db_params_int64(&p, account_id);
    db_params_bytes(&p, hash, sizeof hash);
    db_params_text(&p, prefix);
    db_params_text(&p, name);
    rc = db_query(conn,
                  "INSERT INTO api_tokens (account_id, token_hash, prefix, name)"
                  " VALUES ($1, $2, $3, $4) RETURNING " TOKEN_COLUMNS,
                  &p, &res, err);
    if (rc == LODE_ENOTFOUND && err != NULL &&
        strcmp(err->constraint, "api_tokens_account_fk") == 0)
        snprintf(err->message, sizeof err->message, "account %" PRId64 " does not exist",
                 account_id);
    if (rc != LODE_OK) {
        sodium_memzero(text, sizeof text);
        return rc;
    }
    token_read(res, 0, out);
    PQclear(res);
    memcpy(token_text_out, text, sizeof text);
    sodium_memzero(text, sizeof text);
    return LODE_OK;
}

enum lode_code token_list(struct db_conn *conn, int64_t account_id, int limit,
                          struct api_token *out, int *count_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    *count_out = 0;
    if (!limit_is_valid(limit))
        return bad_limit(err);
    db_params_init(&p);
    db_params_int64(&p, account_id);
    db_params_int64(&p, limit);
    rc = db_query(conn,
                  "SELECT " TOKEN_COLUMNS " FROM api_tokens WHERE account_id = $1"
                  " ORDER BY id DESC LIMIT $2",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    int n = PQntuples(res) < limit ? PQntuples(res) : limit;
    for (int i = 0; i < n; i++)
        token_read(res, i, &out[i]);
    *count_out = n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code token_revoke(struct db_conn *conn, int64_t account_id, int64_t token_id,
                            struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    db_params_init(&p);
    db_params_int64(&p, token_id);
    db_params_int64(&p, account_id);
    rc = db_query(conn,
                  "UPDATE api_tokens SET revoked_at = now()"
                  " WHERE id = $1 AND account_id = $2 AND revoked_at IS NULL RETURNING id",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    PQclear(res);
    if (n == 1)
        return LODE_OK;
    rc =
        db_query(conn, "SELECT 1 FROM api_tokens WHERE id = $1 AND account_id = $2", &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    PQclear(res);
    if (n == 1)
        return lode_error_set(err, LODE_ECONFLICT, "token %" PRId64 " is already revoked",
                              token_id);
    return lode_error_set(err, LODE_ENOTFOUND, "account %" PRId64 " has no token %" PRId64,
                          account_id, token_id);
}

enum lode_code token_authenticate(struct db_conn *conn, const char *token_text,
                                  struct principal *out, struct lode_error *err)
{
    uint8_t hash[32], stored[32];
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    char interval[16];

    memset(out, 0, sizeof *out);
    if (!token_text_is_well_formed(token_text))
        return lode_error_set(err, LODE_EUNAUTH, "the token is malformed");
    token_hash(token_text, hash);
    db_params_init(&p);
    db_params_bytes(&p, hash, sizeof hash);
    snprintf(interval, sizeof interval, "%d", LAST_USED_INTERVAL_S);
    db_params_text(&p, interval);
    rc = db_query(conn,
                  "SELECT t.id, t.account_id, array_to_string(a.roles, ','),"
                  " t.revoked_at IS NOT NULL, encode(t.token_hash, 'hex'),"
                  " t.last_used_at IS NULL"
                  "  OR t.last_used_at < now() - $2::int * interval '1 second'"
                  " FROM api_tokens t JOIN accounts a ON a.id = t.account_id"
                  " WHERE t.token_hash = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    /* the index found the row; compare the full hash once more in constant time */
    if (PQntuples(res) != 1 || !db_result_hex(res, 0, 4, stored, sizeof stored) ||
        sodium_memcmp(stored, hash, sizeof hash) != 0) {
        PQclear(res);
        return lode_error_set(err, LODE_EUNAUTH, "the token is not valid");
    }
    if (db_result_bool(res, 0, 3)) {
        PQclear(res);
        return lode_error_set(err, LODE_EUNAUTH, "the token has been revoked");
    }
    out->token_id = db_result_int64(res, 0, 0);
    out->account_id = db_result_int64(res, 0, 1);
    out->roles = roles_from_csv(PQgetvalue(res, 0, 2));
    bool touch = db_result_bool(res, 0, 5);
    PQclear(res);
    if (touch) {
        /* at most one write per token per interval, however many requests use it */
        db_params_init(&p);
        db_params_int64(&p, out->token_id);
        db_params_text(&p, interval);
        rc = db_query(conn,
                      "UPDATE api_tokens SET last_used_at = now() WHERE id = $1"
                      " AND (last_used_at IS NULL"
                      "  OR last_used_at < now() - $2::int * interval '1 second')",
                      &p, NULL, err);
        if (rc != LODE_OK) {
            memset(out, 0, sizeof *out);
            return rc;
        }
    }
    return LODE_OK;
}

/* ---- keys ---- */

#define KEY_COLUMNS                                                                                \
    "id, account_id, encode(public_key, 'hex'), label, " MS("created_at") ", " MS("revoked_at")

static void key_read(const PGresult *res, int row, struct account_key *out)
{
    memset(out, 0, sizeof *out);
    out->id = db_result_int64(res, row, 0);
    out->account_id = db_result_int64(res, row, 1);
    db_result_hex(res, row, 2, out->public_key, sizeof out->public_key);
    db_result_text(res, row, 3, out->label, sizeof out->label);
    out->created_at_ms = db_result_int64(res, row, 4);
    out->revoked_at_ms = db_result_int64(res, row, 5);
}

enum lode_code key_register(struct db_conn *conn, int64_t account_id, const uint8_t pk[32],
                            const char *label, struct account_key *out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    if (!name_is_valid(label, true))
        return bad_name(err, "label", true);
    db_params_init(&p);
    db_params_int64(&p, account_id);
    db_params_bytes(&p, pk, 32);
    db_params_text(&p, label != NULL ? label : "");
    rc = db_query(conn,
                  "INSERT INTO account_keys (account_id, public_key, label) VALUES ($1, $2, $3)"
                  " RETURNING " KEY_COLUMNS,
                  &p, &res, err);
    if (rc != LODE_OK && err != NULL) {
        if (rc == LODE_ECONFLICT && strcmp(err->constraint, "account_keys_public_key_unique") == 0)
            snprintf(err->message, sizeof err->message, "the public key is already registered");
        else if (rc == LODE_ENOTFOUND && strcmp(err->constraint, "account_keys_account_fk") == 0)
            snprintf(err->message, sizeof err->message, "account %" PRId64 " does not exist",
                     account_id);
    }
    if (rc != LODE_OK)
        return rc;
    key_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}

enum lode_code key_list(struct db_conn *conn, int64_t account_id, int limit,
                        struct account_key *out, int *count_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    *count_out = 0;
    if (!limit_is_valid(limit))
        return bad_limit(err);
    db_params_init(&p);
    db_params_int64(&p, account_id);
    db_params_int64(&p, limit);
    rc = db_query(conn,
                  "SELECT " KEY_COLUMNS " FROM account_keys WHERE account_id = $1"
                  " ORDER BY id LIMIT $2",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    int n = PQntuples(res) < limit ? PQntuples(res) : limit;
    for (int i = 0; i < n; i++)
        key_read(res, i, &out[i]);
    *count_out = n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code key_find(struct db_conn *conn, const uint8_t pk[32], struct account_key *out,
                        struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_bytes(&p, pk, 32);
    rc = db_query(conn,
                  "SELECT " KEY_COLUMNS " FROM account_keys"
                  " WHERE public_key = $1 AND revoked_at IS NULL",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "no account holds this public key");
    }
    key_read(res, 0, out);
    PQclear(res);
    return LODE_OK;
}
