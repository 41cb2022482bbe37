/*
 * storage/blob_store.c — content-addressed zstd blobs, and their PostgreSQL backend.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/encoding.h"
#include "core/limits.h"
#include "storage/blob_store.h"
#include "storage/db_internal.h"

/* ---- the PostgreSQL backend ---- */

static enum lode_code pg_put(void *impl, struct db_conn *conn, const uint8_t sha256[32],
                             const uint8_t *zdata, size_t zlen, uint64_t raw_bytes,
                             bool *created_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    (void)impl;
    db_params_init(&p);
    db_params_bytes(&p, sha256, 32);
    db_params_int64(&p, (int64_t)raw_bytes);
    db_params_bytes(&p, zdata, zlen);
    rc = db_query(conn,
                  "INSERT INTO blobs (sha256, codec, raw_bytes, data) VALUES ($1, 'zstd', $2, $3)"
                  " ON CONFLICT (sha256) DO NOTHING RETURNING 1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    *created_out = PQntuples(res) == 1;
    PQclear(res);
    return LODE_OK;
}

static enum lode_code pg_get(void *impl, struct db_conn *conn, const uint8_t sha256[32],
                             struct arena *arena, uint8_t **zdata_out, size_t *zlen_out,
                             uint64_t *raw_bytes_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    const char *hex;
    size_t hex_len, got = 0;

    (void)impl;
    db_params_init(&p);
    db_params_bytes(&p, sha256, 32);
    rc = db_query(conn, "SELECT raw_bytes, encode(data, 'hex') FROM blobs WHERE sha256 = $1", &p,
                  &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "no blob with this SHA-256 is stored");
    }
    *raw_bytes_out = (uint64_t)db_result_int64(res, 0, 0);
    hex = PQgetvalue(res, 0, 1);
    hex_len = strlen(hex);
    *zdata_out = arena_alloc(arena, hex_len / 2 + 1);
    if (*zdata_out == NULL) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOMEM, "could not hold a stored blob");
    }
    if (!hex_decode(hex, hex_len, *zdata_out, hex_len / 2 + 1, &got)) {
        PQclear(res);
        return lode_error_set(err, LODE_EINTERNAL, "could not read a stored blob");
    }
    PQclear(res);
    *zlen_out = got;
    return LODE_OK;
}

static enum lode_code pg_exists(void *impl, struct db_conn *conn, const uint8_t sha256[32],
                                bool *exists_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    (void)impl;
    db_params_init(&p);
    db_params_bytes(&p, sha256, 32);
    rc = db_query(conn, "SELECT 1 FROM blobs WHERE sha256 = $1", &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    *exists_out = PQntuples(res) == 1;
    PQclear(res);
    return LODE_OK;
}

static const struct blob_store_ops pg_ops = {pg_put, pg_get, pg_exists};
static const struct blob_store pg_store = {&pg_ops, NULL};

const struct blob_store *blob_store_postgres(void)
{
    return &pg_store;
}

/* ---- the generic layer: hashing and compression ---- */

enum lode_code blob_put(const struct blob_store *store, struct db_conn *conn, const void *bytes,
                        size_t len, uint8_t sha256_out[32], bool *created_out,
                        struct lode_error *err)
{
    size_t cap, zlen;
    uint8_t *z;
    bool created = false;
    enum lode_code rc;

    if (len > LODE_BLOB_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "a blob holds at most %u bytes, not %zu",
                              LODE_BLOB_BYTES_MAX, len);
    crypto_hash_sha256(sha256_out, bytes, len);
    cap = ZSTD_compressBound(len);
    z = malloc(cap);
    if (z == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate a compression buffer");
    zlen = ZSTD_compress(z, cap, bytes, len, BLOB_ZSTD_LEVEL);
    if (ZSTD_isError(zlen)) {
        free(z);
        return lode_error_set(err, LODE_EINTERNAL, "could not compress a blob: %s",
                              ZSTD_getErrorName(zlen));
    }
    rc = store->ops->put(store->impl, conn, sha256_out, z, zlen, len, &created, err);
    free(z);
    if (created_out != NULL)
        *created_out = created;
    return rc;
}

enum lode_code blob_put_compressed(const struct blob_store *store, struct db_conn *conn,
                                   const uint8_t sha256[32], const uint8_t *zdata, size_t zlen,
                                   uint64_t raw_bytes, bool *created_out, struct lode_error *err)
{
    unsigned long long frame;
    bool created = false;
    enum lode_code rc;

    if (raw_bytes > LODE_BLOB_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "a blob holds at most %u bytes, not %llu",
                              LODE_BLOB_BYTES_MAX, (unsigned long long)raw_bytes);
    if (zdata == NULL || zlen == 0 || ZSTD_findFrameCompressedSize(zdata, zlen) != zlen)
        return lode_error_set(err, LODE_EINVAL, "could not store a blob: not one zstd frame");
    frame = ZSTD_getFrameContentSize(zdata, zlen);
    if (frame != ZSTD_CONTENTSIZE_UNKNOWN && frame != raw_bytes)
        return lode_error_set(err, LODE_EINVAL,
                              "could not store a blob: its frame holds %llu bytes, not %llu",
                              frame, (unsigned long long)raw_bytes);
    rc = store->ops->put(store->impl, conn, sha256, zdata, zlen, raw_bytes, &created, err);
    if (created_out != NULL)
        *created_out = created;
    return rc;
}

enum lode_code blob_get(const struct blob_store *store, struct db_conn *conn,
                        const uint8_t sha256[32], struct arena *arena, uint8_t **bytes_out,
                        size_t *len_out, struct lode_error *err)
{
    uint8_t *z = NULL, *out, digest[32];
    size_t zlen = 0, n;
    uint64_t raw = 0;
    unsigned long long frame;
    enum lode_code rc;

    rc = store->ops->get(store->impl, conn, sha256, arena, &z, &zlen, &raw, err);
    if (rc != LODE_OK)
        return rc;
    frame = ZSTD_getFrameContentSize(z, zlen);
    /* a streamed blob's frame may not record its size: the row's size bounds it instead */
    if (raw > LODE_BLOB_BYTES_MAX || (frame != raw && frame != ZSTD_CONTENTSIZE_UNKNOWN))
        return lode_error_set(err, LODE_EINTERNAL,
                              "could not read a stored blob: its size does "
                              "not match its record");
    out = arena_alloc(arena, (size_t)raw + 1);
    if (out == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold a %llu-byte blob",
                              (unsigned long long)raw);
    n = ZSTD_decompress(out, (size_t)raw, z, zlen);
    if (ZSTD_isError(n) || n != raw)
        return lode_error_set(err, LODE_EINTERNAL, "could not decompress a stored blob");
    crypto_hash_sha256(digest, out, n);
    if (sodium_memcmp(digest, sha256, 32) != 0)
        return lode_error_set(err, LODE_EINTERNAL, "a stored blob does not match its SHA-256");
    out[n] = 0;
    *bytes_out = out;
    *len_out = n;
    return LODE_OK;
}

enum lode_code blob_exists(const struct blob_store *store, struct db_conn *conn,
                           const uint8_t sha256[32], bool *exists_out, struct lode_error *err)
{
    return store->ops->exists(store->impl, conn, sha256, exists_out, err);
}
