/*
 * storage/item_store.c — the contribution transaction, the persistent LSH band index and
 * provenance reads.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/encoding.h"
#include "ledger/entry.h"
#include "storage/account_store.h"
#include "storage/blob_store.h"
#include "storage/db_internal.h"
#include "storage/item_store.h"
#include "storage/ledger_store.h"

#define LOCK_CLASS 0x6c6f6465 /* advisory lock class of dedupe keys ("lode") */
#define KEY_TEXT_BYTES 22     /* "-9223372036854775808," */
#define VERIFY_ARENA_BYTES (64u << 20)
#define LIST_LIMIT_MAX 1000

void item_index_params(double threshold, struct dedupe_params *out)
{
    struct lode_error err;

    memset(out, 0, sizeof *out);
    /* constants that always parse: failure here is a bug */
    if (dedupe_params_parse_scheme(out, ITEM_SHINGLE_SCHEME, &err) != LODE_OK ||
        dedupe_params_init(out, out->kind, out->k, DATASET_NEAR_THRESHOLD_MIN, &err) != LODE_OK)
        abort();
    out->threshold = threshold;
}

const char *item_status_name(enum item_status status)
{
    return status == ITEM_QUARANTINED ? "quarantined" : "accepted";
}

const char *item_verdict_name(enum dedupe_verdict verdict)
{
    return verdict == DEDUPE_EXACT ? "exact" : verdict == DEDUPE_NEAR ? "near" : "distinct";
}

static enum dedupe_verdict verdict_parse(const char *s)
{
    return strcmp(s, "exact") == 0  ? DEDUPE_EXACT
           : strcmp(s, "near") == 0 ? DEDUPE_NEAR
                                    : DEDUPE_DISTINCT;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- signatures as stored bytes ---- */

static void put_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void minhash_pack(const struct dedupe_signature *sig, uint8_t out[ITEM_MINHASH_BYTES])
{
    put_le32(out, sig->scheme);
    put_le32(out + 4, sig->shingles);
    for (int i = 0; i < DEDUPE_HASHES; i++)
        put_le32(out + 8 + 4 * i, sig->mins[i]);
}

static void minhash_unpack(const uint8_t in[ITEM_MINHASH_BYTES], struct dedupe_signature *sig)
{
    sig->scheme = get_le32(in);
    sig->shingles = get_le32(in + 4);
    for (int i = 0; i < DEDUPE_HASHES; i++)
        sig->mins[i] = get_le32(in + 8 + 4 * i);
}

/* "{k1,k2,...}" of signed 64-bit keys, malloc'd. */
static char *int_array_literal(const int64_t *keys, size_t n)
{
    char *s = malloc(n * KEY_TEXT_BYTES + 3);
    size_t used = 0;

    if (s == NULL)
        return NULL;
    s[used++] = '{';
    for (size_t i = 0; i < n; i++)
        used += (size_t)sprintf(s + used, "%s%" PRId64, i > 0 ? "," : "", keys[i]);
    s[used++] = '}';
    s[used] = '\0';
    return s;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int64_t key_of_hash(const uint8_t h[32])
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)h[i] << (8 * i);
    return (int64_t)v;
}

/* ---- the contribution ---- */

struct contribution {
    struct db_conn *conn;
    const struct dataset *ds;
    int64_t contributor_id;
    struct dedupe_params params; /* threshold = the dataset's */
    struct dedupe_workspace ws;
    int64_t scope_dataset; /* 0 = every dataset */
    /* the last key looked up, so a batch signed with one key asks once */
    uint8_t key_pk[32];
    int64_t key_id;
    bool key_known;
};

/* Locks every exact key and band key of the items, in ascending order. */
static enum lode_code lock_keys(struct contribution *c, const struct item_input *items,
                                size_t count, struct lode_error *err)
{
    size_t cap = count * (DEDUPE_HASHES + 1), n = 0, u = 0;
    int64_t *keys = malloc(cap * sizeof *keys);
    uint64_t bands[DEDUPE_HASHES];
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    char *literal;

    if (keys == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the lock keys");
    for (size_t i = 0; i < count; i++) {
        const struct item_input *it = &items[i];
        int64_t k = key_of_hash(it->is_text ? it->keys.text_sha256 : it->keys.bytes_sha256);
        keys[n++] = (int32_t)((uint64_t)k ^ ((uint64_t)k >> 32));
        if (!it->is_text)
            continue;
        size_t nb = dedupe_signature_bands(&c->params, &it->minhash, bands);
        for (size_t b = 0; b < nb; b++)
            keys[n++] = (int32_t)(bands[b] ^ (bands[b] >> 32));
    }
    qsort(keys, n, sizeof *keys, cmp_i64);
    for (size_t i = 0; i < n; i++)
        if (u == 0 || keys[u - 1] != keys[i])
            keys[u++] = keys[i];
    literal = int_array_literal(keys, u);
    free(keys);
    if (literal == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the lock keys");
    db_params_init(&p);
    db_params_int64(&p, LOCK_CLASS);
    db_params_text(&p, literal);
    rc = db_query(c->conn,
                  "SELECT count(pg_advisory_xact_lock($1::int4, k))"
                  " FROM (SELECT k FROM unnest($2::int4[]) AS k ORDER BY k) AS sorted",
                  &p, &res, err);
    free(literal);
    if (rc != LODE_OK)
        return rc;
    PQclear(res);
    return LODE_OK;
}

/* An exact duplicate: same normalised text (records) or same bytes (files). */
static enum lode_code find_exact(struct contribution *c, const struct item_input *it,
                                 struct item_outcome *o, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_bytes(&p, it->is_text ? it->keys.text_sha256 : it->keys.bytes_sha256, 32);
    db_params_int64(&p, c->scope_dataset);
    rc = db_query(c->conn,
                  it->is_text ? "SELECT id, dataset_id, encode(sha256, 'hex') FROM items"
                                " WHERE text_sha256 = $1 AND ($2 = 0 OR dataset_id = $2)"
                                " ORDER BY id LIMIT 1"
                              : "SELECT id, dataset_id, encode(sha256, 'hex') FROM items"
                                " WHERE sha256 = $1 AND text_sha256 IS NULL"
                                " AND ($2 = 0 OR dataset_id = $2) ORDER BY id LIMIT 1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 1) {
        o->verdict = DEDUPE_EXACT;
        o->duplicate_of = db_result_int64(res, 0, 0);
        o->duplicate_dataset = db_result_int64(res, 0, 1);
        db_result_hex(res, 0, 2, o->duplicate_sha256, 32);
        o->similarity = 1.0;
        o->similarity_exact = true;
    }
    PQclear(res);
    return LODE_OK;
}

struct candidate {
    int64_t id;
    int64_t dataset_id;
    uint8_t sha256[32];
    struct dedupe_signature sig;
    double estimate;
};

static int cmp_candidate(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    if (x->estimate != y->estimate)
        return x->estimate > y->estimate ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* Verifies one candidate with the exact Jaccard over both texts (reads its blob). */
static enum lode_code verify_exact(struct contribution *c, const struct item_input *it,
                                   const struct candidate *cand, struct dedupe_match *m,
                                   struct lode_error *err)
{
    struct arena *arena = arena_create(VERIFY_ARENA_BYTES);
    uint8_t *bytes = NULL;
    size_t len = 0, norm_len = 0;
    const char *norm = NULL;
    char *own_norm;
    enum lode_code rc;

    rc = blob_get(blob_store_postgres(), c->conn, cand->sha256, arena, &bytes, &len, err);
    if (rc == LODE_OK)
        rc = dedupe_text_normalise(&c->ws, (const char *)bytes, len, &norm, &norm_len, err);
    if (rc != LODE_OK) {
        arena_destroy(arena);
        return rc;
    }
    /* the workspace's text buffer is reused by the Jaccard computation */
    own_norm = arena_strndup(arena, norm, norm_len);
    if (own_norm == NULL) {
        arena_destroy(arena);
        return lode_error_set(err, LODE_ENOMEM, "could not hold a candidate's text");
    }
    rc = dedupe_candidate_verify(&c->ws, &c->params, &it->minhash, &cand->sig, it->norm,
                                 it->norm_len, own_norm, norm_len, m, err);
    arena_destroy(arena);
    return rc;
}

/* Near-duplicate candidates from the band index, verified; the best match goes to o. */
static enum lode_code find_near(struct contribution *c, const struct item_input *it,
                                struct item_outcome *o, struct lode_error *err)
{
    uint64_t bands[DEDUPE_HASHES];
    int64_t keys[DEDUPE_HASHES];
    size_t nb = dedupe_signature_bands(&c->params, &it->minhash, bands);
    struct candidate cands[ITEM_CANDIDATES_MAX];
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    char *literal;
    int n;

    if (nb == 0)
        return LODE_OK;
    for (size_t i = 0; i < nb; i++)
        keys[i] = (int64_t)bands[i];
    literal = int_array_literal(keys, nb);
    if (literal == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the band keys");
    db_params_init(&p);
    db_params_text(&p, literal);
    db_params_int64(&p, c->scope_dataset);
    db_params_int64(&p, ITEM_CANDIDATES_MAX);
    rc = db_query(c->conn,
                  "SELECT i.id, i.dataset_id, encode(i.sha256, 'hex'), encode(i.minhash, 'hex')"
                  " FROM (SELECT item_id, count(*) AS shared FROM item_bands"
                  "       WHERE band_key = ANY($1::bigint[]) AND ($2 = 0 OR dataset_id = $2)"
                  "       GROUP BY item_id ORDER BY count(*) DESC, item_id LIMIT $3) AS b"
                  " JOIN items i ON i.id = b.item_id WHERE i.minhash IS NOT NULL"
                  " ORDER BY b.shared DESC, i.id",
                  &p, &res, err);
    free(literal);
    if (rc != LODE_OK)
        return rc;
    n = 0;
    for (int r = 0; r < PQntuples(res) && n < ITEM_CANDIDATES_MAX; r++) {
        uint8_t packed[ITEM_MINHASH_BYTES];
        struct candidate *cand = &cands[n];
        cand->id = db_result_int64(res, r, 0);
        cand->dataset_id = db_result_int64(res, r, 1);
        if (!db_result_hex(res, r, 2, cand->sha256, 32) ||
            !db_result_hex(res, r, 3, packed, sizeof packed))
            continue;
        minhash_unpack(packed, &cand->sig);
        cand->estimate = dedupe_signature_similarity(&it->minhash, &cand->sig);
        n++;
    }
    PQclear(res);
    qsort(cands, (size_t)n, sizeof cands[0], cmp_candidate);
    for (int i = 0; i < n; i++) {
        struct dedupe_match m = {DEDUPE_DISTINCT, 0.0, 0.0, false};
        if (i < ITEM_VERIFY_EXACT_MAX)
            rc = verify_exact(c, it, &cands[i], &m, err);
        else
            rc = dedupe_candidate_verify(&c->ws, &c->params, &it->minhash, &cands[i].sig, NULL, 0,
                                         NULL, 0, &m, err);
        if (rc != LODE_OK)
            return rc;
        if (m.verdict == DEDUPE_DISTINCT)
            continue;
        /* exact beats near; then the higher similarity; then the older item */
        if (o->verdict == DEDUPE_DISTINCT ||
            (m.verdict == DEDUPE_EXACT && o->verdict != DEDUPE_EXACT) ||
            (m.verdict == o->verdict && m.similarity > o->similarity)) {
            o->verdict = m.verdict;
            o->similarity = m.similarity;
            o->similarity_exact = m.exact;
            o->duplicate_of = cands[i].id;
            o->duplicate_dataset = cands[i].dataset_id;
            memcpy(o->duplicate_sha256, cands[i].sha256, 32);
        }
    }
    return LODE_OK;
}

/* The caller's own, active key for a signed item. */
static enum lode_code check_key(struct contribution *c, const struct item_input *it,
                                struct item_outcome *o, struct lode_error *err)
{
    struct account_key key;
    enum lode_code rc;

    if (c->key_known && memcmp(c->key_pk, it->public_key, 32) == 0) {
        o->key_id = c->key_id;
        return LODE_OK;
    }
    rc = key_find(c->conn, it->public_key, &key, err);
    if (rc == LODE_ENOTFOUND)
        return lode_error_set(err, LODE_EUNPROCESSABLE,
                              "the signing key is not registered to any account (or revoked)");
    if (rc != LODE_OK)
        return rc;
    if (key.account_id != c->contributor_id)
        return lode_error_set(err, LODE_EFORBIDDEN,
                              "the signing key is registered to another "
                              "account");
    memcpy(c->key_pk, it->public_key, 32);
    c->key_id = key.id;
    c->key_known = true;
    o->key_id = key.id;
    return LODE_OK;
}

/* The detector's record in entries: no floats, so the score in parts per million. */
static json_t *synthetic_entry_json(const struct item_synthetic *sy)
{
    json_t *d = json_pack("{s:s, s:s}", "verdict", sy->verdict, "model_version", sy->model_version);
    if (d != NULL && sy->has_score)
        json_object_set_new(d, "score_ppm", json_integer((json_int_t)(sy->score * 1e6 + 0.5)));
    return d;
}

/* The item.flagged entry of a flagged item. */
static json_t *flag_entry_build(const struct contribution *c, const struct item_input *it,
                                const struct item_outcome *o)
{
    char hex[HEX_ENCODED_BYTES(32)];

    hex_encode(it->keys.bytes_sha256, 32, hex);
    return json_pack("{s:s, s:I, s:s, s:I, s:s, s:I, s:s, s:s, s:I}", "type", "item.flagged",
                     "item", (json_int_t)o->item_id, "sha256", hex, "dataset",
                     (json_int_t)c->ds->id, "verdict", it->synthetic.verdict, "score_ppm",
                     (json_int_t)(it->synthetic.score * 1e6 + 0.5), "model_version",
                     it->synthetic.model_version, "status", item_status_name(o->status), "time_ms",
                     (json_int_t)o->created_at_ms);
}

/* The item.contributed entry: hashes and references, never the content. */
static json_t *entry_build(const struct contribution *c, const struct item_input *it,
                           const struct item_outcome *o)
{
    char hex[HEX_ENCODED_BYTES(32)];
    json_t *e, *dd;

    hex_encode(it->keys.bytes_sha256, 32, hex);
    e = json_pack("{s:s, s:I, s:I, s:I, s:s, s:I, s:s, s:s, s:I}", "type", "item.contributed",
                  "item", (json_int_t)o->item_id, "dataset", (json_int_t)c->ds->id, "contributor",
                  (json_int_t)c->contributor_id, "sha256", hex, "bytes", (json_int_t)it->len,
                  "media_type", it->media_type, "status", item_status_name(o->status), "time_ms",
                  (json_int_t)o->created_at_ms);
    if (e == NULL)
        return NULL;
    if (it->is_text) {
        hex_encode(it->keys.text_sha256, 32, hex);
        json_object_set_new(e, "text_sha256", json_string(hex));
    }
    dd = json_pack("{s:s}", "verdict", item_verdict_name(o->verdict));
    if (o->verdict != DEDUPE_DISTINCT) {
        json_object_set_new(dd, "duplicate_of", json_integer(o->duplicate_of));
        /* entries hold no floats: similarity in millionths */
        json_object_set_new(dd, "similarity_ppm",
                            json_integer((json_int_t)(o->similarity * 1e6 + 0.5)));
    }
    json_object_set_new(e, "dedupe", dd);
    if (it->has_signature) {
        char pk[BASE64_ENCODED_BYTES(32)], sig[BASE64_ENCODED_BYTES(64)];
        base64_encode(it->public_key, 32, pk);
        base64_encode(it->signature, 64, sig);
        json_object_set_new(e, "key", json_string(pk));
        json_object_set_new(e, "signature", json_string(sig));
    }
    if (it->synthetic.scored) {
        json_t *d = synthetic_entry_json(&it->synthetic);
        if (d == NULL) {
            json_decref(e);
            return NULL;
        }
        json_object_set_new(e, "detector", d);
    }
    return e;
}

static enum lode_code next_item_id(struct db_conn *conn, int64_t *id_out, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc =
        db_query(conn, "SELECT nextval(pg_get_serial_sequence('items', 'id'))", NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    *id_out = db_result_int64(res, 0, 0);
    PQclear(res);
    return LODE_OK;
}

static enum lode_code insert_item(struct contribution *c, const struct item_input *it,
                                  const struct item_outcome *o, struct lode_error *err)
{
    uint8_t packed[ITEM_MINHASH_BYTES];
    struct db_params p;
    PGresult *res = NULL;
    json_t *row;
    char *row_text;
    enum lode_code rc;

    row =
        json_pack("{s:s, s:s, s:s, s:b, s:I}", "media_type", it->media_type, "status",
                  item_status_name(o->status), "dedupe_verdict", item_verdict_name(o->verdict),
                  "similarity_exact", o->similarity_exact, "time_ms", (json_int_t)o->created_at_ms);
    if (row == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not build an item row");
    if (it->filename != NULL)
        json_object_set_new(row, "filename", json_string(it->filename));
    if (o->verdict != DEDUPE_DISTINCT) {
        json_object_set_new(row, "duplicate_of", json_integer(o->duplicate_of));
        json_object_set_new(row, "similarity", json_real(o->similarity));
    }
    if (o->key_id != 0)
        json_object_set_new(row, "key_id", json_integer(o->key_id));
    if (it->synthetic.scored) {
        json_object_set_new(row, "synthetic_verdict", json_string(it->synthetic.verdict));
        json_object_set_new(row, "detector_model", json_string(it->synthetic.model_version));
        if (it->synthetic.has_score)
            json_object_set_new(row, "synthetic_score", json_real(it->synthetic.score));
    }
    json_object_set_new(row, "synthetic_flagged", json_boolean(o->flagged));
    if (o->flagged)
        json_object_set_new(row, "flag_queue_id", json_integer(o->flag_queue_id));
    row_text = json_dumps(row, JSON_COMPACT);
    json_decref(row);
    if (row_text == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not build an item row");
    db_params_init(&p);
    db_params_int64(&p, o->item_id);
    db_params_int64(&p, c->ds->id);
    db_params_int64(&p, c->contributor_id);
    db_params_bytes(&p, it->keys.bytes_sha256, 32);
    if (it->is_text) {
        minhash_pack(&it->minhash, packed);
        db_params_bytes(&p, it->keys.text_sha256, 32);
        db_params_bytes(&p, packed, sizeof packed);
    } else {
        db_params_text(&p, NULL);
        db_params_text(&p, NULL);
    }
    if (it->has_signature)
        db_params_bytes(&p, it->signature, 64);
    else
        db_params_text(&p, NULL);
    db_params_int64(&p, o->queue_id);
    db_params_text(&p, it->meta_json);
    db_params_text(&p, row_text);
    rc = db_query(c->conn,
                  "INSERT INTO items (id, dataset_id, contributor_id, sha256, text_sha256, minhash,"
                  " signature, ledger_queue_id, meta, media_type, filename, status, dedupe_verdict,"
                  " duplicate_of, similarity, similarity_exact, key_id, created_at,"
                  " synthetic_verdict, synthetic_score, synthetic_flagged, detector_model,"
                  " flag_queue_id)"
                  " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, r.media_type, r.filename,"
                  " r.status, r.dedupe_verdict, r.duplicate_of, r.similarity, r.similarity_exact,"
                  " r.key_id, to_timestamp(r.time_ms / 1000.0), r.synthetic_verdict,"
                  " r.synthetic_score, r.synthetic_flagged, r.detector_model, r.flag_queue_id"
                  " FROM json_to_record($10::json) AS r(media_type text, filename text,"
                  " status text, dedupe_verdict text, duplicate_of bigint,"
                  " similarity double precision, similarity_exact boolean, key_id bigint,"
                  " time_ms bigint, synthetic_verdict text, synthetic_score double precision,"
                  " synthetic_flagged boolean, detector_model text, flag_queue_id bigint)",
                  &p, &res, err);
    free(row_text);
    if (rc != LODE_OK)
        return rc;
    PQclear(res);
    return LODE_OK;
}

static enum lode_code insert_bands(struct contribution *c, const struct item_input *it,
                                   int64_t item_id, struct lode_error *err)
{
    uint64_t bands[DEDUPE_HASHES];
    int64_t keys[DEDUPE_HASHES];
    size_t nb = it->is_text ? dedupe_signature_bands(&c->params, &it->minhash, bands) : 0;
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    char *literal;

    if (nb == 0)
        return LODE_OK;
    for (size_t i = 0; i < nb; i++)
        keys[i] = (int64_t)bands[i];
    literal = int_array_literal(keys, nb);
    if (literal == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the band keys");
    db_params_init(&p);
    db_params_text(&p, literal);
    db_params_int64(&p, item_id);
    db_params_int64(&p, c->ds->id);
    rc = db_query(c->conn,
                  "INSERT INTO item_bands (band_key, item_id, dataset_id)"
                  " SELECT DISTINCT k, $2::bigint, $3::bigint FROM unnest($1::bigint[]) AS k",
                  &p, &res, err);
    free(literal);
    if (rc != LODE_OK)
        return rc;
    PQclear(res);
    return LODE_OK;
}

static enum lode_code contribute_one(struct contribution *c, const struct item_input *it,
                                     struct item_outcome *o, struct lode_error *err)
{
    enum dataset_action action;
    enum lode_code rc;

    memset(o, 0, sizeof *o);
    if (c->ds->policy.signatures_required && !it->has_signature)
        return lode_error_set(err, LODE_EUNPROCESSABLE,
                              "dataset %" PRId64 " requires every item to be signed", c->ds->id);
    if (it->has_signature && (rc = check_key(c, it, o, err)) != LODE_OK)
        return rc;
    if ((rc = find_exact(c, it, o, err)) != LODE_OK)
        return rc;
    if (o->verdict == DEDUPE_DISTINCT && it->is_text && (rc = find_near(c, it, o, err)) != LODE_OK)
        return rc;

    /* the duplicate policy decides, then the synthetic policy (the stricter status wins) */
    action = o->verdict == DEDUPE_EXACT  ? c->ds->policy.exact_action
             : o->verdict == DEDUPE_NEAR ? c->ds->policy.near_action
                                         : DATASET_ACCEPT;
    if (action == DATASET_REJECT) {
        char hex[HEX_ENCODED_BYTES(32)];
        hex_encode(o->duplicate_sha256, 32, hex);
        lode_error_set(err, LODE_ECONFLICT,
                       "this item is %s duplicate (similarity %.3f) of item %" PRId64
                       " (sha256 %s), and dataset %" PRId64 " rejects %s duplicates",
                       o->verdict == DEDUPE_EXACT ? "an exact" : "a near", o->similarity,
                       o->duplicate_of, hex, c->ds->id,
                       o->verdict == DEDUPE_EXACT ? "exact" : "near");
        return LODE_ECONFLICT;
    }
    o->status = action == DATASET_QUARANTINE ? ITEM_QUARANTINED : ITEM_ACCEPTED;
    if (it->synthetic.scored && strcmp(it->synthetic.verdict, "synthetic") == 0) {
        if (c->ds->policy.synthetic_action == DATASET_REJECT) {
            o->synthetic_rejected = true;
            return lode_error_set(err, LODE_ECONFLICT,
                                  "the detector (%s) calls this text synthetic with score %.3f,"
                                  " and dataset %" PRId64 " rejects synthetic text",
                                  it->synthetic.model_version, it->synthetic.score, c->ds->id);
        }
        if (c->ds->policy.synthetic_action == DATASET_QUARANTINE)
            o->status = ITEM_QUARANTINED;
        o->flagged = true;
    }
    o->created_at_ms = now_ms();

    if (it->zbytes != NULL)
        rc = blob_put_compressed(blob_store_postgres(), c->conn, it->keys.bytes_sha256, it->zbytes,
                                 it->zlen, it->len, NULL, err);
    else
        rc = blob_put(blob_store_postgres(), c->conn, it->bytes, it->len, (uint8_t[32]){0}, NULL,
                      err);
    if (rc != LODE_OK)
        return rc;
    if ((rc = next_item_id(c->conn, &o->item_id, err)) != LODE_OK)
        return rc;
    if ((rc = ledger_enqueue_json(c->conn, entry_build(c, it, o), &o->queue_id, err)) != LODE_OK)
        return rc;
    if (o->flagged &&
        (rc = ledger_enqueue_json(c->conn, flag_entry_build(c, it, o), &o->flag_queue_id,
                                  err)) != LODE_OK)
        return rc;
    if ((rc = insert_item(c, it, o, err)) != LODE_OK)
        return rc;
    return insert_bands(c, it, o->item_id, err);
}

/* Refuses a call that flags items and would push the dataset past its maximum synthetic
 * fraction (the whole call counted with the items already stored). */
static enum lode_code check_synthetic_fraction(struct contribution *c,
                                               const struct item_outcome *out, size_t count,
                                               struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    size_t flagged = 0;
    int64_t total, flagged_total;

    for (size_t i = 0; i < count; i++)
        flagged += out[i].flagged ? 1 : 0;
    if (flagged == 0 || !c->ds->policy.has_max_synthetic)
        return LODE_OK;
    /* flagging calls to one dataset take turns, so each counts the others' committed items */
    db_params_init(&p);
    db_params_int64(&p, LOCK_CLASS + 1);
    db_params_int64(&p, c->ds->id);
    rc =
        db_query(c->conn, "SELECT pg_advisory_xact_lock($1::int4, ($2::bigint % 2147483647)::int4)",
                 &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    PQclear(res);
    rc = dataset_stats(c->conn, c->ds->id, &total, &flagged_total, err);
    if (rc != LODE_OK)
        return rc;
    if (total > 0 &&
        (double)flagged_total > c->ds->policy.max_synthetic_fraction * (double)total + 1e-9)
        return lode_error_set(err, LODE_ECONFLICT,
                              "this upload flags %zu of its %zu items as synthetic, which would"
                              " raise dataset %" PRId64 "'s synthetic fraction to %" PRId64
                              "/%" PRId64 " (%.3f), past its maximum of %.3f",
                              flagged, count, c->ds->id, flagged_total, total,
                              (double)flagged_total / (double)total,
                              c->ds->policy.max_synthetic_fraction);
    return LODE_OK;
}

enum lode_code item_contribute(struct db_conn *conn, const struct dataset *ds,
                               int64_t contributor_id, const struct item_input *items, size_t count,
                               struct item_outcome *out, size_t *failed_out, struct lode_error *err)
{
    struct contribution c;
    enum lode_code rc = LODE_OK;

    *failed_out = 0;
    if (count == 0)
        return lode_error_set(err, LODE_EINVAL, "there are no items to contribute");
    for (size_t i = 0; i < count; i++) {
        const struct item_input *it = &items[i];
        if (it->media_type == NULL || it->media_type[0] == '\0' ||
            strlen(it->media_type) >= ITEM_MEDIA_TYPE_BYTES ||
            (it->filename != NULL &&
             (it->filename[0] == '\0' || strlen(it->filename) >= ITEM_FILENAME_BYTES)) ||
            (it->is_text && it->norm == NULL)) {
            *failed_out = i;
            return lode_error_set(err, LODE_EINVAL, "item %zu is not fully described", i);
        }
    }
    memset(&c, 0, sizeof c);
    c.conn = conn;
    c.ds = ds;
    c.contributor_id = contributor_id;
    c.scope_dataset = ds->policy.scope == DATASET_SCOPE_GLOBAL ? 0 : ds->id;
    item_index_params(ds->policy.near_threshold, &c.params);
    dedupe_workspace_init(&c.ws);
    rc = lock_keys(&c, items, count, err);
    for (size_t i = 0; rc == LODE_OK && i < count; i++) {
        rc = contribute_one(&c, &items[i], &out[i], err);
        if (rc != LODE_OK)
            *failed_out = i;
    }
    dedupe_workspace_fini(&c.ws);
    if (rc == LODE_OK && (rc = check_synthetic_fraction(&c, out, count, err)) != LODE_OK)
        *failed_out = count; /* the call as a whole */
    return rc;
}

/* ---- provenance ---- */

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"
#define RECORD_COLUMNS                                                                             \
    "i.id, i.dataset_id, i.contributor_id, encode(i.sha256, 'hex'),"                               \
    " encode(i.text_sha256, 'hex'), b.raw_bytes, i.media_type, coalesce(i.filename, ''),"          \
    " i.meta::text, i.status, i.dedupe_verdict, coalesce(i.duplicate_of, 0), i.similarity,"        \
    " i.similarity_exact, encode(k.public_key, 'hex'), encode(i.signature, 'hex'),"                \
    " i.ledger_queue_id, q.ledger_index IS NOT NULL, q.ledger_index, encode(q.leaf_hash, 'hex'),"  \
    " " MS("i.created_at") ", coalesce(i.synthetic_verdict, ''), i.synthetic_score,"              \
    " i.synthetic_flagged, coalesce(i.detector_model, ''), f.ledger_index IS NOT NULL,"            \
    " f.ledger_index, encode(f.leaf_hash, 'hex')"
#define RECORD_FROM                                                                                \
    " FROM items i JOIN blobs b ON b.sha256 = i.sha256"                                            \
    " JOIN ledger_queue q ON q.id = i.ledger_queue_id"                                             \
    " LEFT JOIN ledger_queue f ON f.id = i.flag_queue_id"                                          \
    " LEFT JOIN account_keys k ON k.id = i.key_id"

static void record_read(const PGresult *res, int row, struct arena *arena, struct item_record *out)
{
    memset(out, 0, sizeof *out);
    out->id = db_result_int64(res, row, 0);
    out->dataset_id = db_result_int64(res, row, 1);
    out->contributor_id = db_result_int64(res, row, 2);
    db_result_hex(res, row, 3, out->sha256, 32);
    out->has_text_sha256 =
        !PQgetisnull(res, row, 4) && db_result_hex(res, row, 4, out->text_sha256, 32);
    out->bytes = (uint64_t)db_result_int64(res, row, 5);
    db_result_text(res, row, 6, out->media_type, sizeof out->media_type);
    db_result_text(res, row, 7, out->filename, sizeof out->filename);
    if (!PQgetisnull(res, row, 8))
        out->meta_json =
            arena_strndup(arena, PQgetvalue(res, row, 8), (size_t)PQgetlength(res, row, 8));
    out->status =
        strcmp(PQgetvalue(res, row, 9), "quarantined") == 0 ? ITEM_QUARANTINED : ITEM_ACCEPTED;
    out->verdict = verdict_parse(PQgetvalue(res, row, 10));
    out->duplicate_of = db_result_int64(res, row, 11);
    out->similarity = PQgetisnull(res, row, 12) ? 0.0 : strtod(PQgetvalue(res, row, 12), NULL);
    out->similarity_exact = db_result_bool(res, row, 13);
    out->is_signed = !PQgetisnull(res, row, 14) &&
                     db_result_hex(res, row, 14, out->public_key, 32) &&
                     db_result_hex(res, row, 15, out->signature, 64);
    out->queue_id = db_result_int64(res, row, 16);
    out->integrated = db_result_bool(res, row, 17);
    out->ledger_index = (uint64_t)db_result_int64(res, row, 18);
    db_result_hex(res, row, 19, out->leaf_hash, 32);
    out->created_at_ms = db_result_int64(res, row, 20);
    db_result_text(res, row, 21, out->synthetic_verdict, sizeof out->synthetic_verdict);
    out->has_synthetic_score = !PQgetisnull(res, row, 22);
    out->synthetic_score = out->has_synthetic_score ? strtod(PQgetvalue(res, row, 22), NULL) : 0;
    out->synthetic_flagged = db_result_bool(res, row, 23);
    db_result_text(res, row, 24, out->detector_model, sizeof out->detector_model);
    out->flag_integrated = db_result_bool(res, row, 25);
    if (out->flag_integrated) {
        out->flag_ledger_index = (uint64_t)db_result_int64(res, row, 26);
        db_result_hex(res, row, 27, out->flag_leaf_hash, 32);
    }
}

static enum lode_code list_records(struct db_conn *conn, struct arena *arena, const char *sql,
                                   struct db_params *p, int limit, struct item_record *out,
                                   int *count_out, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    *count_out = 0;
    if (limit < 1 || limit > LIST_LIMIT_MAX)
        return lode_error_set(err, LODE_EINVAL, "limit must be from 1 to %d", LIST_LIMIT_MAX);
    db_params_int64(p, limit);
    rc = db_query(conn, sql, p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res) < limit ? PQntuples(res) : limit;
    for (int i = 0; i < n; i++)
        record_read(res, i, arena, &out[i]);
    *count_out = n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code item_list_by_hash(struct db_conn *conn, struct arena *arena,
                                 const uint8_t sha256[32], int limit, struct item_record *out,
                                 int *count_out, struct lode_error *err)
{
    struct db_params p;

    db_params_init(&p);
    db_params_bytes(&p, sha256, 32);
    return list_records(conn, arena,
                        "SELECT " RECORD_COLUMNS RECORD_FROM
                        " WHERE i.sha256 = $1 ORDER BY i.id LIMIT $2",
                        &p, limit, out, count_out, err);
}

enum lode_code item_list_duplicates(struct db_conn *conn, struct arena *arena, int64_t item_id,
                                    int limit, struct item_record *out, int *count_out,
                                    struct lode_error *err)
{
    struct db_params p;

    db_params_init(&p);
    db_params_int64(&p, item_id);
    return list_records(conn, arena,
                        "SELECT " RECORD_COLUMNS RECORD_FROM
                        " WHERE i.duplicate_of = $1 ORDER BY i.id LIMIT $2",
                        &p, limit, out, count_out, err);
}

enum lode_code item_bands_read(struct db_conn *conn, int64_t item_id, int64_t *keys_out,
                               size_t *count_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    int n;

    db_params_init(&p);
    db_params_int64(&p, item_id);
    db_params_int64(&p, DEDUPE_HASHES);
    rc = db_query(conn,
                  "SELECT band_key FROM item_bands WHERE item_id = $1 ORDER BY band_key"
                  " LIMIT $2",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    n = PQntuples(res);
    for (int i = 0; i < n; i++)
        keys_out[i] = db_result_int64(res, i, 0);
    *count_out = (size_t)n;
    PQclear(res);
    return LODE_OK;
}

enum lode_code item_delete(struct db_conn *conn, int64_t item_id, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, item_id);
    rc = db_query(conn,
                  "WITH gone AS (DELETE FROM items WHERE id = $1 RETURNING sha256)"
                  " SELECT encode(sha256, 'hex') FROM gone",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "item %" PRId64 " does not exist", item_id);
    }
    uint8_t sha[32];
    bool ok = db_result_hex(res, 0, 0, sha, 32);
    PQclear(res);
    if (!ok)
        return lode_error_set(err, LODE_EINTERNAL, "could not read a stored hash");
    db_params_init(&p);
    db_params_bytes(&p, sha, 32);
    rc = db_query(conn,
                  "DELETE FROM blobs WHERE sha256 = $1"
                  " AND NOT EXISTS (SELECT 1 FROM items WHERE sha256 = $1)",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    PQclear(res);
    return LODE_OK;
}
