/*
 * tests/unit/storage/test_items.c — blobs, datasets, the contribution transaction and the
 * persistent LSH band index on a scratch database migrated with the embedded migrations.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "core/arena.h"
#include "core/limits.h"
#include "scratch_db.h"
#include "storage/account_store.h"
#include "storage/blob_store.h"
#include "storage/dataset_store.h"
#include "storage/db_internal.h"
#include "storage/item_store.h"
#include "test_main.h"

#define BATCH_MAX 4

static char db_url[SCRATCH_URL_BYTES];
static struct db_conn *conn;
static struct account alice, bob;

static int64_t count_rows(const char *table)
{
    char sql[128];
    PGresult *res = NULL;
    struct lode_error err = {0};
    int64_t n;

    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    if (db_query(conn, sql, NULL, &res, &err) != LODE_OK)
        return -1;
    n = db_result_int64(res, 0, 0);
    PQclear(res);
    return n;
}

/* ---- blobs ---- */

static void test_blobs(void)
{
    const struct blob_store *bs = blob_store_postgres();
    struct lode_error err = {0};
    struct arena *a = arena_create(64u << 20);
    uint8_t h[32], h2[32], want[32], *got = NULL;
    size_t len = 0, big_len = 1u << 20;
    bool created = false, exists = false;
    char *big = malloc(big_len);
    PGresult *res = NULL;
    struct db_params p;

    CU_ASSERT_EQUAL_FATAL(blob_put(bs, conn, "hello, blob", 11, h, &created, &err), LODE_OK);
    CU_ASSERT(created);
    crypto_hash_sha256(want, (const unsigned char *)"hello, blob", 11);
    CU_ASSERT_EQUAL(memcmp(h, want, 32), 0);
    CU_ASSERT_EQUAL(blob_put(bs, conn, "hello, blob", 11, h2, &created, &err), LODE_OK);
    CU_ASSERT(!created); /* stored once per hash */
    CU_ASSERT_EQUAL(blob_get(bs, conn, h, a, &got, &len, &err), LODE_OK);
    CU_ASSERT_EQUAL(len, 11);
    CU_ASSERT_EQUAL(memcmp(got, "hello, blob", 11), 0);
    CU_ASSERT_EQUAL(blob_exists(bs, conn, h, &exists, &err), LODE_OK);
    CU_ASSERT(exists);

    /* an empty blob is a blob too */
    CU_ASSERT_EQUAL(blob_put(bs, conn, "", 0, h2, &created, &err), LODE_OK);
    CU_ASSERT_EQUAL(blob_get(bs, conn, h2, a, &got, &len, &err), LODE_OK);
    CU_ASSERT_EQUAL(len, 0);

    /* compressible bytes are stored compressed */
    for (size_t i = 0; i < big_len; i++)
        big[i] = "the same few words again and again "[i % 35];
    CU_ASSERT_EQUAL(blob_put(bs, conn, big, big_len, h2, &created, &err), LODE_OK);
    db_params_init(&p);
    db_params_bytes(&p, h2, 32);
    CU_ASSERT_EQUAL_FATAL(db_query(conn,
                                   "SELECT octet_length(data), raw_bytes, codec FROM blobs"
                                   " WHERE sha256 = $1",
                                   &p, &res, &err),
                          LODE_OK);
    CU_ASSERT(db_result_int64(res, 0, 0) < 10000);
    CU_ASSERT_EQUAL(db_result_int64(res, 0, 1), (int64_t)big_len);
    CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 2), "zstd");
    PQclear(res);
    CU_ASSERT_EQUAL(blob_get(bs, conn, h2, a, &got, &len, &err), LODE_OK);
    CU_ASSERT_EQUAL(len, big_len);
    CU_ASSERT_EQUAL(memcmp(got, big, big_len), 0);

    /* limits, unknown hashes, and a stored blob that no longer matches its hash */
    CU_ASSERT_EQUAL(blob_put(bs, conn, big, (size_t)LODE_BLOB_BYTES_MAX + 1, h2, NULL, &err),
                    LODE_ETOOBIG);
    memset(want, 0x5a, 32);
    CU_ASSERT_EQUAL(blob_get(bs, conn, want, a, &got, &len, &err), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(blob_exists(bs, conn, want, &exists, &err), LODE_OK);
    CU_ASSERT(!exists);
    CU_ASSERT_EQUAL(blob_put(bs, conn, "other bytes", 11, h2, NULL, &err), LODE_OK);
    db_params_init(&p);
    db_params_bytes(&p, h, 32);
    db_params_bytes(&p, h2, 32);
    CU_ASSERT_EQUAL_FATAL(db_query(conn,
                                   "UPDATE blobs SET data = (SELECT data FROM blobs WHERE"
                                   " sha256 = $2) WHERE sha256 = $1",
                                   &p, &res, &err),
                          LODE_OK);
    PQclear(res);
    CU_ASSERT_EQUAL(blob_get(bs, conn, h, a, &got, &len, &err), LODE_EINTERNAL);
    free(big);
    arena_destroy(a);
}

/* Compresses bytes as a stream (as api/ does for an upload), with or without the size known
 * in advance; returns the frame's length, 0 on failure. */
static size_t stream_compress(const char *bytes, size_t len, bool pledge, uint8_t *out, size_t cap)
{
    ZSTD_CStream *zs = ZSTD_createCStream();
    ZSTD_outBuffer o = {out, cap, 0};
    size_t left = 1;

    if (zs == NULL || ZSTD_isError(ZSTD_CCtx_setParameter(zs, ZSTD_c_compressionLevel, 3)) ||
        (pledge && ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(zs, len)))) {
        ZSTD_freeCStream(zs);
        return 0;
    }
    /* in pieces of 1000 bytes, as chunks arrive */
    for (size_t off = 0; off < len; off += 1000) {
        ZSTD_inBuffer in = {bytes + off, len - off < 1000 ? len - off : 1000, 0};
        while (in.pos < in.size)
            if (ZSTD_isError(ZSTD_compressStream2(zs, &o, &in, ZSTD_e_continue))) {
                ZSTD_freeCStream(zs);
                return 0;
            }
    }
    while (left != 0) {
        ZSTD_inBuffer in = {NULL, 0, 0};
        left = ZSTD_compressStream2(zs, &o, &in, ZSTD_e_end);
        if (ZSTD_isError(left)) {
            ZSTD_freeCStream(zs);
            return 0;
        }
    }
    ZSTD_freeCStream(zs);
    return o.pos;
}

static void test_blobs_compressed(void)
{
    const struct blob_store *bs = blob_store_postgres();
    struct lode_error err = {0};
    struct arena *a = arena_create(16u << 20);
    size_t len = 300000, cap = ZSTD_compressBound(300000), zlen, got_len = 0;
    char *text = malloc(len);
    uint8_t *z = malloc(cap), h[32], h_sized[32], *got = NULL;
    bool created = false;

    CU_ASSERT_FATAL(text != NULL && z != NULL);
    for (size_t i = 0; i < len; i++)
        text[i] = "streamed bytes arrive in chunks; "[i % 33] + (char)(i / 33 % 2);
    crypto_hash_sha256(h, (const unsigned char *)text, len);

    /* a frame without its content size: the recorded size bounds the read */
    zlen = stream_compress(text, len, false, z, cap);
    CU_ASSERT_FATAL(zlen > 0);
    CU_ASSERT_EQUAL(ZSTD_getFrameContentSize(z, zlen), ZSTD_CONTENTSIZE_UNKNOWN);
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h, z, zlen, len - 1, NULL, &err), LODE_OK);
    CU_ASSERT_EQUAL(blob_get(bs, conn, h, a, &got, &got_len, &err), LODE_EINTERNAL); /* wrong size */
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h, z, zlen, len, &created, &err), LODE_OK);
    CU_ASSERT(!created); /* the first put kept its row: stored once per hash */

    /* a frame with its size, under another hash: read back and checked */
    text[0] = 'S';
    crypto_hash_sha256(h_sized, (const unsigned char *)text, len);
    zlen = stream_compress(text, len, true, z, cap);
    CU_ASSERT_FATAL(zlen > 0);
    CU_ASSERT_EQUAL(ZSTD_getFrameContentSize(z, zlen), len);
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h_sized, z, zlen, len + 1, NULL, &err),
                    LODE_EINVAL); /* the header disagrees */
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h_sized, z, zlen - 1, len, NULL, &err),
                    LODE_EINVAL); /* a truncated frame */
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h_sized, (const uint8_t *)"not zstd", 8, 8, NULL,
                                        &err),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h_sized, z, zlen,
                                        (uint64_t)LODE_BLOB_BYTES_MAX + 1, NULL, &err),
                    LODE_ETOOBIG);
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h_sized, z, zlen, len, &created, &err), LODE_OK);
    CU_ASSERT(created);
    CU_ASSERT_EQUAL_FATAL(blob_get(bs, conn, h_sized, a, &got, &got_len, &err), LODE_OK);
    CU_ASSERT_EQUAL(got_len, len);
    CU_ASSERT_EQUAL(memcmp(got, text, len), 0);

    /* a sizeless frame read back through blob_get */
    text[0] = 'T';
    crypto_hash_sha256(h, (const unsigned char *)text, len);
    zlen = stream_compress(text, len, false, z, cap);
    CU_ASSERT_FATAL(zlen > 0);
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h, z, zlen, len, &created, &err), LODE_OK);
    CU_ASSERT(created);
    CU_ASSERT_EQUAL_FATAL(blob_get(bs, conn, h, a, &got, &got_len, &err), LODE_OK);
    CU_ASSERT_EQUAL(got_len, len);
    CU_ASSERT_EQUAL(memcmp(got, text, len), 0);
    /* a hash the bytes do not have is caught on read */
    memset(h, 0x33, 32);
    CU_ASSERT_EQUAL(blob_put_compressed(bs, conn, h, z, zlen, len, NULL, &err), LODE_OK);
    CU_ASSERT_EQUAL(blob_get(bs, conn, h, a, &got, &got_len, &err), LODE_EINTERNAL);
    free(text);
    free(z);
    arena_destroy(a);
}

/* ---- datasets ---- */

static void test_datasets(void)
{
    struct lode_error err = {0};
    struct dataset_policy pol;
    struct dataset_policy_patch patch = {
        .near_action = DATASET_ACCEPT, .near_threshold = 0.9, .signatures_required = 1};
    struct dataset d1, d2, got, list[4];
    int n = -1;

    dataset_policy_default(&pol);
    CU_ASSERT_EQUAL(pol.exact_action, DATASET_REJECT);
    CU_ASSERT_EQUAL(pol.near_action, DATASET_QUARANTINE);
    CU_ASSERT_EQUAL(dataset_action_parse("quarantine"), DATASET_QUARANTINE);
    CU_ASSERT_EQUAL(dataset_action_parse("drop"), 0);
    CU_ASSERT_EQUAL(dataset_scope_parse("global"), DATASET_SCOPE_GLOBAL);
    CU_ASSERT_EQUAL_FATAL(dataset_create(conn, alice.id, "poems", "short\npoems", &pol, &d1, &err),
                          LODE_OK);
    CU_ASSERT_STRING_EQUAL(d1.description, "short\npoems");
    CU_ASSERT_EQUAL(d1.policy.near_threshold, DEDUPE_THRESHOLD_DEFAULT);
    CU_ASSERT_EQUAL_FATAL(dataset_create(conn, bob.id, "news", NULL, &pol, &d2, &err), LODE_OK);
    CU_ASSERT_EQUAL(dataset_create(conn, alice.id, "", NULL, &pol, &got, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(dataset_create(conn, alice.id, "bad\x01name", NULL, &pol, &got, &err),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(dataset_create(conn, 999999, "orphan", NULL, &pol, &got, &err), LODE_ENOTFOUND);
    pol.near_threshold = 0.69;
    CU_ASSERT_EQUAL(dataset_create(conn, alice.id, "low", NULL, &pol, &got, &err), LODE_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.pointer, "/policy/near_threshold");

    CU_ASSERT_EQUAL(dataset_get(conn, d1.id, false, &got, &err), LODE_OK);
    CU_ASSERT_STRING_EQUAL(got.name, "poems");
    CU_ASSERT_EQUAL(dataset_get(conn, d2.id + 100, false, &got, &err), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(dataset_list(conn, bob.id, 0, 4, list, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(list[0].id, d2.id);
    CU_ASSERT_EQUAL(dataset_list(conn, 0, d1.id, 4, list, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(dataset_list(conn, 0, 0, 0, list, &n, &err), LODE_EINVAL);

    CU_ASSERT_EQUAL(dataset_update(conn, d1.id, bob.id, false, "mine", NULL, &got, &err),
                    LODE_EFORBIDDEN);
    CU_ASSERT_EQUAL(dataset_update(conn, d1.id + 100, bob.id, true, "x", NULL, &got, &err),
                    LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(dataset_update(conn, d1.id, alice.id, false, NULL, &patch, &got, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(got.policy.exact_action, DATASET_REJECT); /* unchanged */
    CU_ASSERT_EQUAL(got.policy.near_action, DATASET_ACCEPT);
    CU_ASSERT_EQUAL(got.policy.near_threshold, 0.9);
    CU_ASSERT(got.policy.signatures_required);
    CU_ASSERT_STRING_EQUAL(got.description, "short\npoems");
    CU_ASSERT_EQUAL(dataset_update(conn, d1.id, bob.id, true, "by an operator", NULL, &got, &err),
                    LODE_OK);
    CU_ASSERT_STRING_EQUAL(got.description, "by an operator");
    patch.near_threshold = 1.5;
    CU_ASSERT_EQUAL(dataset_update(conn, d1.id, alice.id, false, NULL, &patch, &got, &err),
                    LODE_EINVAL);
}

/* ---- contributions and the band index ---- */

struct prepared {
    struct item_input in;
    char norm[4096];
};

static void prepare(const char *text, struct prepared *out)
{
    struct dedupe_workspace ws;
    struct dedupe_params p;
    struct lode_error err = {0};
    const char *norm = NULL;
    size_t norm_len = 0;

    memset(out, 0, sizeof *out);
    item_index_params(DATASET_NEAR_THRESHOLD_MIN, &p);
    dedupe_workspace_init(&ws);
    CU_ASSERT_EQUAL_FATAL(dedupe_text_analyse(&ws, &p, text, strlen(text), &out->in.keys,
                                              &out->in.minhash, &norm, &norm_len, &err),
                          LODE_OK);
    CU_ASSERT_FATAL(norm_len < sizeof out->norm);
    memcpy(out->norm, norm, norm_len);
    dedupe_workspace_fini(&ws);
    out->in.bytes = (const uint8_t *)text;
    out->in.len = strlen(text);
    out->in.media_type = ITEM_RECORD_MEDIA_TYPE;
    out->in.is_text = true;
    out->in.norm = out->norm;
    out->in.norm_len = norm_len;
}

struct contribute_args {
    const struct dataset *ds;
    int64_t who;
    struct item_input items[BATCH_MAX];
    size_t count;
    struct item_outcome out[BATCH_MAX];
    size_t failed;
};

static enum lode_code contribute_fn(struct db_conn *c, void *arg, struct lode_error *err)
{
    struct contribute_args *a = arg;
    return item_contribute(c, a->ds, a->who, a->items, a->count, a->out, &a->failed, err);
}

/* Contributes texts in one transaction (rolled back on failure). */
static enum lode_code contribute(struct db_conn *c, const struct dataset *ds, int64_t who,
                                 const char *const *texts, size_t count, struct contribute_args *a,
                                 struct lode_error *err)
{
    static struct prepared prep[BATCH_MAX];

    memset(a, 0, sizeof *a);
    a->ds = ds;
    a->who = who;
    a->count = count;
    for (size_t i = 0; i < count; i++) {
        prepare(texts[i], &prep[i]);
        a->items[i] = prep[i].in;
    }
    return db_tx(c, DB_READ_COMMITTED, contribute_fn, a, err);
}

static struct dataset make_dataset(const char *name, enum dataset_action exact,
                                   enum dataset_action near, enum dataset_scope scope)
{
    struct dataset_policy pol;
    struct dataset d;
    struct lode_error err = {0};

    dataset_policy_default(&pol);
    pol.exact_action = exact;
    pol.near_action = near;
    pol.scope = scope;
    CU_ASSERT_EQUAL_FATAL(dataset_create(conn, alice.id, name, NULL, &pol, &d, &err), LODE_OK);
    return d;
}

#define BASE                                                                                       \
    "A heron stands in the shallow reeds at dawn, waiting without moving for the silver fish to "  \
    "come."
#define BASE_CASE                                                                                  \
    "a HERON stands in the shallow reeds at dawn -- waiting without moving, for the silver fish "  \
    "to come!"
#define NEAR                                                                                       \
    "A heron stands in the shallow reeds at dawn, waiting without moving for the silver fish to "  \
    "pass."
#define OTHER                                                                                      \
    "Trains leave the northern station every hour, loaded with timber, coal and sleepy "           \
    "travellers."

static void test_contribute(void)
{
    struct dataset d =
        make_dataset("birds", DATASET_REJECT, DATASET_QUARANTINE, DATASET_SCOPE_DATASET);
    struct dataset other =
        make_dataset("birds-too", DATASET_REJECT, DATASET_REJECT, DATASET_SCOPE_DATASET);
    struct dataset global =
        make_dataset("all-birds", DATASET_REJECT, DATASET_REJECT, DATASET_SCOPE_GLOBAL);
    struct contribute_args a;
    struct lode_error err = {0};
    struct dedupe_params p;
    int64_t keys[DEDUPE_HASHES], first;
    size_t nkeys = 0;
    int64_t items0, queue0, bands0;

    item_index_params(0.75, &p);
    CU_ASSERT_EQUAL(p.bands * p.rows <= DEDUPE_HASHES, true);
    CU_ASSERT(dedupe_lsh_probability(DATASET_NEAR_THRESHOLD_MIN, p.bands, p.rows) >= 0.99);

    CU_ASSERT_EQUAL_FATAL(contribute(conn, &d, alice.id, (const char *[]){BASE}, 1, &a, &err),
                          LODE_OK);
    first = a.out[0].item_id;
    CU_ASSERT(first > 0);
    CU_ASSERT(a.out[0].queue_id > 0);
    CU_ASSERT_EQUAL(a.out[0].status, ITEM_ACCEPTED);
    CU_ASSERT_EQUAL(a.out[0].verdict, DEDUPE_DISTINCT);
    CU_ASSERT_EQUAL(item_bands_read(conn, first, keys, &nkeys, &err), LODE_OK);
    CU_ASSERT_EQUAL(nkeys, p.bands); /* one row per band key */

    /* an exact duplicate (same normalised text) under reject: nothing is written */
    items0 = count_rows("items");
    queue0 = count_rows("ledger_queue");
    bands0 = count_rows("item_bands");
    CU_ASSERT_EQUAL(contribute(conn, &d, alice.id, (const char *[]){BASE_CASE}, 1, &a, &err),
                    LODE_ECONFLICT);
    CU_ASSERT_EQUAL(a.failed, 0);
    CU_ASSERT_EQUAL(a.out[0].verdict, DEDUPE_EXACT);
    CU_ASSERT_EQUAL(a.out[0].duplicate_of, first);
    CU_ASSERT(strstr(err.message, "rejects exact duplicates") != NULL);
    CU_ASSERT_EQUAL(count_rows("items"), items0);
    CU_ASSERT_EQUAL(count_rows("ledger_queue"), queue0);
    CU_ASSERT_EQUAL(count_rows("item_bands"), bands0);

    /* a near duplicate under quarantine: stored, flagged, verified by exact Jaccard */
    CU_ASSERT_EQUAL_FATAL(contribute(conn, &d, bob.id, (const char *[]){NEAR}, 1, &a, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL(a.out[0].status, ITEM_QUARANTINED);
    CU_ASSERT_EQUAL(a.out[0].verdict, DEDUPE_NEAR);
    CU_ASSERT_EQUAL(a.out[0].duplicate_of, first);
    CU_ASSERT(a.out[0].similarity_exact);
    CU_ASSERT(a.out[0].similarity >= 0.75 && a.out[0].similarity < 1.0);

    /* scope: another dataset does not see it, a global one does */
    CU_ASSERT_EQUAL(contribute(conn, &other, alice.id, (const char *[]){BASE}, 1, &a, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(a.out[0].verdict, DEDUPE_DISTINCT);
    CU_ASSERT_EQUAL(contribute(conn, &global, alice.id, (const char *[]){NEAR}, 1, &a, &err),
                    LODE_ECONFLICT);
    CU_ASSERT_EQUAL(a.out[0].verdict, DEDUPE_EXACT); /* NEAR itself is stored in "birds" */

    /* a batch is checked against itself, and fails whole */
    items0 = count_rows("items");
    CU_ASSERT_EQUAL(
        contribute(conn, &other, alice.id, (const char *[]){OTHER, NEAR, NEAR}, 3, &a, &err),
        LODE_ECONFLICT);
    CU_ASSERT_EQUAL(a.failed, 1); /* NEAR is a near duplicate of BASE in "birds-too" */
    CU_ASSERT_EQUAL(a.out[1].verdict, DEDUPE_NEAR);
    CU_ASSERT_EQUAL(count_rows("items"), items0);
}

/* The band index lives in PostgreSQL: a new connection finds what another one stored, and
 * deleting an item removes its bands (and its blob when nobody else holds the bytes). */
static void test_index_persists_and_deletes(void)
{
    struct dataset d =
        make_dataset("trains", DATASET_REJECT, DATASET_ACCEPT, DATASET_SCOPE_DATASET);
    struct db_conn *c2 = scratch_db_connect(db_url);
    struct contribute_args a;
    struct lode_error err = {0};
    int64_t keys[DEDUPE_HASHES], id;
    size_t nkeys = 0;
    bool exists = true;
    const char *near_other =
        "Trains leave the northern station every hour, loaded with timber, coal and sleepy "
        "passengers.";

    CU_ASSERT_EQUAL_FATAL(contribute(conn, &d, alice.id, (const char *[]){OTHER}, 1, &a, &err),
                          LODE_OK);
    id = a.out[0].item_id;
    CU_ASSERT_EQUAL_FATAL(contribute(c2, &d, alice.id, (const char *[]){near_other}, 1, &a, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL(a.out[0].verdict, DEDUPE_NEAR);
    CU_ASSERT_EQUAL(a.out[0].duplicate_of, id);
    CU_ASSERT_EQUAL(a.out[0].status, ITEM_ACCEPTED);

    CU_ASSERT_EQUAL(item_delete(c2, a.out[0].item_id, &err), LODE_OK);
    CU_ASSERT_EQUAL(item_delete(conn, id, &err), LODE_OK);
    CU_ASSERT_EQUAL(item_delete(conn, id, &err), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(item_bands_read(conn, id, keys, &nkeys, &err), LODE_OK);
    CU_ASSERT_EQUAL(nkeys, 0);
    uint8_t h[32];
    crypto_hash_sha256(h, (const unsigned char *)OTHER, strlen(OTHER));
    CU_ASSERT_EQUAL(blob_exists(blob_store_postgres(), conn, h, &exists, &err), LODE_OK);
    CU_ASSERT(!exists);
    /* with its bands gone, the near duplicate is distinct again */
    CU_ASSERT_EQUAL(contribute(c2, &d, alice.id, (const char *[]){near_other}, 1, &a, &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(a.out[0].verdict, DEDUPE_DISTINCT);
    db_conn_close(c2);
}

static void test_signatures(void)
{
    struct dataset d =
        make_dataset("signed", DATASET_REJECT, DATASET_REJECT, DATASET_SCOPE_DATASET);
    struct dataset_policy_patch req = {.signatures_required = 1};
    struct contribute_args a;
    struct lode_error err = {0};
    struct account_key key;
    uint8_t pk[32], sk[64], pk_bob[32], sk_bob[64];
    struct prepared prep;
    const char *text = "Signed words about a lighthouse keeper and the long winter nights.";

    crypto_sign_keypair(pk, sk);
    crypto_sign_keypair(pk_bob, sk_bob);
    CU_ASSERT_EQUAL_FATAL(key_register(conn, alice.id, pk, "laptop", &key, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(key_register(conn, bob.id, pk_bob, "bob", &key, &err), LODE_OK);

    prepare(text, &prep);
    memset(&a, 0, sizeof a);
    a.ds = &d;
    a.who = alice.id;
    a.count = 1;
    a.items[0] = prep.in;
    a.items[0].has_signature = true;
    memcpy(a.items[0].public_key, pk_bob, 32);
    crypto_sign_detached(a.items[0].signature, NULL, prep.in.keys.bytes_sha256, 32, sk_bob);
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, contribute_fn, &a, &err), LODE_EFORBIDDEN);
    crypto_sign_keypair(a.items[0].public_key, sk_bob); /* a key nobody registered */
    CU_ASSERT_EQUAL(db_tx(conn, DB_READ_COMMITTED, contribute_fn, &a, &err), LODE_EUNPROCESSABLE);
    memcpy(a.items[0].public_key, pk, 32);
    crypto_sign_detached(a.items[0].signature, NULL, prep.in.keys.bytes_sha256, 32, sk);
    CU_ASSERT_EQUAL_FATAL(db_tx(conn, DB_READ_COMMITTED, contribute_fn, &a, &err), LODE_OK);
    CU_ASSERT_EQUAL(a.out[0].key_id, key.id - 1); /* alice's key was registered first */

    CU_ASSERT_EQUAL_FATAL(dataset_update(conn, d.id, alice.id, false, NULL, &req, &d, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL(contribute(conn, &d, alice.id, (const char *[]){OTHER}, 1, &a, &err),
                    LODE_EUNPROCESSABLE);
}

/* Contributes texts with the given detector verdicts (NULL: not scored) in one transaction. */
static enum lode_code contribute_scored(const struct dataset *ds, const char *const *texts,
                                        const char *const *verdicts, size_t count,
                                        struct contribute_args *a, struct lode_error *err)
{
    static struct prepared prep[BATCH_MAX];

    memset(a, 0, sizeof *a);
    a->ds = ds;
    a->who = alice.id;
    a->count = count;
    for (size_t i = 0; i < count; i++) {
        prepare(texts[i], &prep[i]);
        a->items[i] = prep[i].in;
        if (verdicts[i] == NULL)
            continue;
        a->items[i].synthetic.scored = true;
        a->items[i].synthetic.verdict = verdicts[i];
        a->items[i].synthetic.has_score = strcmp(verdicts[i], "insufficient") != 0;
        a->items[i].synthetic.score = strcmp(verdicts[i], "synthetic") == 0 ? 0.975 : 0.25;
        a->items[i].synthetic.model_version = "lode-detector/1/0123456789abcdef";
    }
    return db_tx(conn, DB_READ_COMMITTED, contribute_fn, a, err);
}

static int64_t flagged_rows(int64_t dataset_id)
{
    int64_t items = -1, flagged = -1;
    struct lode_error err = {0};

    CU_ASSERT_EQUAL(dataset_stats(conn, dataset_id, &items, &flagged, &err), LODE_OK);
    return flagged;
}

#define SYN_A "The first text that the detector is said to call synthetic for this test."
#define SYN_B "A second, unrelated sentence about lighthouses, gulls and the winter sea."
#define SYN_C "Third: the orchard was sold in spring and the new owners planted vines."
#define HUM_A "Fourth: my neighbour repairs old radios in his shed on Sunday afternoons."

static void test_synthetic_policy(void)
{
    struct dataset d =
        make_dataset("syn", DATASET_REJECT, DATASET_QUARANTINE, DATASET_SCOPE_DATASET);
    struct dataset_policy_patch patch = {.signatures_required = -1};
    struct contribute_args a;
    struct lode_error err = {0};
    int64_t items0, queue0, n = -1, f = -1;

    CU_ASSERT_EQUAL(d.policy.synthetic_action, DATASET_QUARANTINE);
    CU_ASSERT_FALSE(d.policy.has_max_synthetic);
    /* reject: nothing written, the outcome says why */
    patch.synthetic_action = DATASET_REJECT;
    CU_ASSERT_EQUAL_FATAL(dataset_update(conn, d.id, alice.id, false, NULL, &patch, &d, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL(d.policy.synthetic_action, DATASET_REJECT);
    items0 = count_rows("items");
    queue0 = count_rows("ledger_queue");
    CU_ASSERT_EQUAL(contribute_scored(&d, (const char *[]){HUM_A, SYN_A},
                                      (const char *[]){"human", "synthetic"}, 2, &a, &err),
                    LODE_ECONFLICT);
    CU_ASSERT_EQUAL(a.failed, 1);
    CU_ASSERT(a.out[1].synthetic_rejected);
    CU_ASSERT(strstr(err.message, "synthetic with score 0.975") != NULL);
    CU_ASSERT_EQUAL(count_rows("items"), items0);
    CU_ASSERT_EQUAL(count_rows("ledger_queue"), queue0);

    /* quarantine: stored quarantined, flagged, two entries; other verdicts flag nothing */
    patch.synthetic_action = DATASET_QUARANTINE;
    CU_ASSERT_EQUAL_FATAL(dataset_update(conn, d.id, alice.id, false, NULL, &patch, &d, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL_FATAL(contribute_scored(&d, (const char *[]){SYN_A, HUM_A, SYN_C},
                                            (const char *[]){"synthetic", "uncertain", NULL}, 3, &a,
                                            &err),
                          LODE_OK);
    CU_ASSERT(a.out[0].flagged);
    CU_ASSERT_EQUAL(a.out[0].status, ITEM_QUARANTINED);
    CU_ASSERT(a.out[0].flag_queue_id > a.out[0].queue_id);
    CU_ASSERT_FALSE(a.out[1].flagged);
    CU_ASSERT_EQUAL(a.out[1].status, ITEM_ACCEPTED);
    CU_ASSERT_FALSE(a.out[2].flagged);
    CU_ASSERT_EQUAL(count_rows("ledger_queue"), queue0 + 4);
    CU_ASSERT_EQUAL(dataset_stats(conn, d.id, &n, &f, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(f, 1);

    /* accept with a flag, and a maximum of 0.5: 2/4 passes, 3/5 is refused as a whole */
    patch.synthetic_action = DATASET_ACCEPT;
    patch.max_synthetic = 1;
    patch.max_synthetic_fraction = 0.5;
    CU_ASSERT_EQUAL_FATAL(dataset_update(conn, d.id, alice.id, false, NULL, &patch, &d, &err),
                          LODE_OK);
    CU_ASSERT(d.policy.has_max_synthetic && d.policy.max_synthetic_fraction == 0.5);
    CU_ASSERT_EQUAL_FATAL(
        contribute_scored(&d, (const char *[]){SYN_B}, (const char *[]){"synthetic"}, 1, &a, &err),
        LODE_OK);
    CU_ASSERT(a.out[0].flagged);
    CU_ASSERT_EQUAL(a.out[0].status, ITEM_ACCEPTED);
    CU_ASSERT_EQUAL(flagged_rows(d.id), 2);
    items0 = count_rows("items");
    CU_ASSERT_EQUAL(contribute_scored(&d, (const char *[]){"one more flagged text about kites"},
                                      (const char *[]){"synthetic"}, 1, &a, &err),
                    LODE_ECONFLICT);
    CU_ASSERT_EQUAL(a.failed, 1); /* the call as a whole */
    CU_ASSERT(strstr(err.message, "3/5") != NULL);
    CU_ASSERT_EQUAL(count_rows("items"), items0);
    /* an upload that flags nothing is never refused for the fraction */
    patch.synthetic_action = 0;
    patch.max_synthetic_fraction = 0.1;
    CU_ASSERT_EQUAL_FATAL(dataset_update(conn, d.id, alice.id, false, NULL, &patch, &d, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL(d.policy.synthetic_action, DATASET_ACCEPT);
    CU_ASSERT_EQUAL(contribute_scored(&d, (const char *[]){"plain words about a bicycle"},
                                      (const char *[]){"human"}, 1, &a, &err),
                    LODE_OK);
    /* removing the maximum; out-of-range values are refused */
    patch.max_synthetic = -1;
    CU_ASSERT_EQUAL(dataset_update(conn, d.id, alice.id, false, NULL, &patch, &d, &err), LODE_OK);
    CU_ASSERT_FALSE(d.policy.has_max_synthetic);
    patch.max_synthetic = 1;
    patch.max_synthetic_fraction = 1.5;
    CU_ASSERT_EQUAL(dataset_update(conn, d.id, alice.id, false, NULL, &patch, &d, &err),
                    LODE_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.pointer, "/policy/max_synthetic_fraction");
    CU_ASSERT_EQUAL(dataset_get(conn, d.id, false, &d, &err), LODE_OK);
    CU_ASSERT_FALSE(d.policy.has_max_synthetic);
}

static const struct test_case item_cases[] = {
    {"blob store", test_blobs},
    {"blob store: pre-compressed frames", test_blobs_compressed},
    {"datasets", test_datasets},
    {"contributions and policy", test_contribute},
    {"band index persists and deletes", test_index_persists_and_deletes},
    {"signatures", test_signatures},
    {"synthetic policy and maximum fraction", test_synthetic_policy},
    {NULL, NULL},
};

static const struct test_suite suites[] = {
    {"storage/items", item_cases},
    {NULL, NULL},
};

int main(void)
{
    struct lode_error err = {0};
    int rc;

    scratch_db_init();
    scratch_db_create(db_url);
    conn = scratch_db_connect(db_url);
    if (db_migrate(conn, NULL, &err) != LODE_OK ||
        account_create(conn, "alice", ROLE_CONTRIBUTOR, &alice, &err) != LODE_OK ||
        account_create(conn, "bob", ROLE_PUBLISHER, &bob, &err) != LODE_OK) {
        fprintf(stderr, "could not set up: %s (%s)\n", err.message, err.log_detail);
        db_conn_close(conn);
        scratch_db_cleanup();
        return 1;
    }
    rc = test_main(suites);
    db_conn_close(conn);
    scratch_db_cleanup();
    return rc;
}
