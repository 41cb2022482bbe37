/*
 * storage/idempotency_store.c — claim, replay, finish and purge Idempotency-Key records.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"
#include "storage/db_internal.h"
#include "storage/idempotency_store.h"

#define CLAIM_ATTEMPTS 3

bool idempotency_key_is_valid(const char *key)
{
    size_t n = 0;

    if (key == NULL)
        return false;
    for (; key[n] != '\0'; n++)
        if ((unsigned char)key[n] < 0x21 || (unsigned char)key[n] > 0x7e ||
            n >= IDEMPOTENCY_KEY_BYTES_MAX)
            return false;
    return n > 0;
}

void idempotency_request_hash(const char *method, const char *path, const uint8_t *body,
                              size_t body_bytes, uint8_t hash_out[32])
{
    crypto_hash_sha256_state st;

    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)method, strlen(method) + 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)path, strlen(path) + 1);
    if (body_bytes > 0)
        crypto_hash_sha256_update(&st, body, body_bytes);
    crypto_hash_sha256_final(&st, hash_out);
}

static void key_params(struct db_params *p, int64_t account_id, const char *key)
{
    db_params_init(p);
    db_params_int64(p, account_id);
    db_params_text(p, key);
}

/* Copies a stored response into out (body into the arena). */
static enum lode_code read_response(const PGresult *res, struct arena *arena,
                                    struct idempotency_response *out, struct lode_error *err)
{
    const char *hex = PQgetvalue(res, 0, 3);
    size_t hex_len = strlen(hex), got = 0;
    uint8_t *body;

    out->status = (int)db_result_int64(res, 0, 1);
    if (!db_result_text(res, 0, 2, out->content_type, sizeof out->content_type))
        return lode_error_set(err, LODE_EINTERNAL, "could not read a stored response");
    body = arena_alloc(arena, hex_len / 2 + 1);
    if (body == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold a stored response");
    if (!hex_decode(hex, hex_len, body, hex_len / 2 + 1, &got))
        return lode_error_set(err, LODE_EINTERNAL, "could not read a stored response");
    out->body = body;
    out->body_bytes = got;
    return LODE_OK;
}

enum lode_code idempotency_begin(struct db_conn *conn, struct arena *arena, int64_t account_id,
                                 const char *key, const uint8_t request_hash[32],
                                 struct idempotency_response *out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    char hash_hex[HEX_ENCODED_BYTES(32)];
    char claim_timeout[16];

    memset(out, 0, sizeof *out);
    if (!idempotency_key_is_valid(key)) {
        lode_error_set(err, LODE_EINVAL,
                       "the Idempotency-Key must be 1 to %d printable characters without spaces",
                       IDEMPOTENCY_KEY_BYTES_MAX);
        lode_error_pointer(err, "Idempotency-Key");
        return LODE_EINVAL;
    }
    hex_encode(request_hash, 32, hash_hex);
    snprintf(claim_timeout, sizeof claim_timeout, "%d", IDEMPOTENCY_CLAIM_TIMEOUT_S);
    for (int attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
        key_params(&p, account_id, key);
        db_params_bytes(&p, request_hash, 32);
        rc = db_query(conn,
                      "INSERT INTO idempotency_keys (account_id, key, request_hash)"
                      " VALUES ($1, $2, $3) ON CONFLICT (account_id, key) DO NOTHING RETURNING 1",
                      &p, &res, err);
        if (rc != LODE_OK)
            return rc;
        int claimed = PQntuples(res);
        PQclear(res);
        if (claimed == 1)
            return LODE_OK;

        key_params(&p, account_id, key);
        db_params_text(&p, claim_timeout);
        rc = db_query(conn,
                      "SELECT encode(request_hash, 'hex'), status, content_type,"
                      " encode(body, 'hex'), created_at < now() - $3::int * interval '1 second'"
                      " FROM idempotency_keys WHERE account_id = $1 AND key = $2",
                      &p, &res, err);
        if (rc != LODE_OK)
            return rc;
        if (PQntuples(res) == 0) { /* released between the two statements: claim again */
            PQclear(res);
            continue;
        }
        if (strcmp(PQgetvalue(res, 0, 0), hash_hex) != 0) {
            PQclear(res);
            lode_error_set(err, LODE_EUNPROCESSABLE,
                           "the Idempotency-Key was already used for a different request");
            lode_error_pointer(err, "Idempotency-Key");
            return LODE_EUNPROCESSABLE;
        }
        if (!PQgetisnull(res, 0, 1)) {
            rc = read_response(res, arena, out, err);
            PQclear(res);
            return rc;
        }
        bool stale = db_result_bool(res, 0, 4);
        PQclear(res);
        if (stale) {
            key_params(&p, account_id, key);
            db_params_text(&p, claim_timeout);
            rc = db_query(conn,
                          "UPDATE idempotency_keys SET created_at = now()"
                          " WHERE account_id = $1 AND key = $2 AND status IS NULL"
                          " AND created_at < now() - $3::int * interval '1 second' RETURNING 1",
                          &p, &res, err);
            if (rc != LODE_OK)
                return rc;
            claimed = PQntuples(res);
            PQclear(res);
            if (claimed == 1)
                return LODE_OK;
        }
        break;
    }
    lode_error_set(err, LODE_ECONFLICT,
                   "a request with this Idempotency-Key is still being processed");
    lode_error_pointer(err, "Idempotency-Key");
    if (err != NULL)
        err->retry_after_s = 1;
    return LODE_ECONFLICT;
}

enum lode_code idempotency_finish(struct db_conn *conn, int64_t account_id, const char *key,
                                  int status, const char *content_type, const uint8_t *body,
                                  size_t body_bytes, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    static const uint8_t empty[1] = {0};

    if (status < 100 || status > 599)
        return lode_error_set(err, LODE_EINVAL, "a response status must be from 100 to 599");
    if (content_type == NULL)
        content_type = "";
    if (strlen(content_type) >= IDEMPOTENCY_CONTENT_TYPE_BYTES)
        return lode_error_set(err, LODE_EINVAL, "the content type is too long to store");
    if (body_bytes > IDEMPOTENCY_BODY_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG,
                              "the response is too large to keep for Idempotency-Key replay");
    key_params(&p, account_id, key);
    db_params_int64(&p, status);
    db_params_text(&p, content_type);
    db_params_bytes(&p, body_bytes > 0 ? body : empty, body_bytes);
    rc = db_query(conn,
                  "UPDATE idempotency_keys SET status = $3, content_type = $4, body = $5,"
                  " completed_at = now()"
                  " WHERE account_id = $1 AND key = $2 AND status IS NULL RETURNING 1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    int n = PQntuples(res);
    PQclear(res);
    if (n != 1)
        return lode_error_set(err, LODE_ENOTFOUND,
                              "no unfinished request holds this "
                              "Idempotency-Key");
    return LODE_OK;
}

enum lode_code idempotency_release(struct db_conn *conn, int64_t account_id, const char *key,
                                   struct lode_error *err)
{
    struct db_params p;

    key_params(&p, account_id, key);
    return db_query(conn,
                    "DELETE FROM idempotency_keys"
                    " WHERE account_id = $1 AND key = $2 AND status IS NULL",
                    &p, NULL, err);
}

enum lode_code idempotency_purge(struct db_conn *conn, int64_t older_than_s, int64_t *deleted_out,
                                 struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    if (deleted_out != NULL)
        *deleted_out = 0;
    if (older_than_s < 0)
        return lode_error_set(err, LODE_EINVAL, "the purge age must not be negative");
    db_params_init(&p);
    db_params_int64(&p, older_than_s);
    rc = db_query(conn,
                  "DELETE FROM idempotency_keys"
                  " WHERE created_at < now() - $1::bigint * interval '1 second'",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (deleted_out != NULL)
        *deleted_out = strtoll(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    return LODE_OK;
}
