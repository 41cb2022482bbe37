/*
 * storage/ledger_store.c — the ledger's queue, tiles, bundles, checkpoints and proofs in
 * PostgreSQL (schema: migrations/0002_ledger.sql).
 *
 * Results come back in text format, so bytea fields are "\x" + hex and decoded here. Proofs
 * read their tiles in one query: merkle_plan_reads names the nodes, tile_list_for_nodes the
 * tiles, and a tile_hash_reader serves the engine from that set.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/encoding.h"
#include "core/limits.h"
#include "ledger/entry.h"
#include "storage/db_internal.h"
#include "storage/ledger_internal.h"
#include "storage/ledger_store.h"

#define MS(col) "(extract(epoch FROM " col ") * 1000)::bigint"
#define CHECKPOINT_COLUMNS "size, encode(root, 'hex'), note, " MS("created_at")
#define DICT_CACHE_MAX 64

_Static_assert(LEDGER_NOTE_BYTES_MAX <= LODE_NOTE_BYTES_MAX, "stored notes fit the note limit");

/* ---- shared helpers (storage/ledger_internal.h) ---- */

/* Hex digit values, 0xff for anything else. The ledger's bytea values (tiles, bundles, entries)
 * are public, so a table lookup replaces libsodium's constant-time decoder, which dominated the
 * client side of proof requests. */
static uint8_t hex_value[256];

static void hex_table_init(void)
{
    memset(hex_value, 0xff, sizeof hex_value);
    for (int i = 0; i < 10; i++)
        hex_value['0' + i] = (uint8_t)i;
    for (int i = 0; i < 6; i++)
        hex_value['a' + i] = hex_value['A' + i] = (uint8_t)(10 + i);
}

bool ledger_bytea_read(const PGresult *res, int row, int col, uint8_t *out, size_t cap,
                       size_t *len_out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    const unsigned char *v = (const unsigned char *)PQgetvalue(res, row, col);
    size_t n = (size_t)PQgetlength(res, row, col);

    if (PQgetisnull(res, row, col) || n < 2 || v[0] != '\\' || v[1] != 'x' || (n - 2) % 2 != 0 ||
        (n - 2) / 2 > cap)
        return false;
    pthread_once(&once, hex_table_init);
    for (size_t i = 2, o = 0; i < n; i += 2, o++) {
        uint8_t hi = hex_value[v[i]], lo = hex_value[v[i + 1]];
        if ((hi | lo) == 0xff)
            return false;
        out[o] = (uint8_t)(hi << 4 | lo);
    }
    *len_out = (n - 2) / 2;
    return true;
}

size_t ledger_bytea_len(const PGresult *res, int row, int col)
{
    size_t n = (size_t)PQgetlength(res, row, col);
    return PQgetisnull(res, row, col) || n < 2 ? 0 : (n - 2) / 2;
}

static bool stored_size_is_valid(uint64_t size)
{
    return size <= MERKLE_TREE_SIZE_MAX;
}

enum lode_code ledger_tile_row_read(struct db_conn *conn, unsigned level, uint64_t index,
                                    unsigned min_width, uint8_t *data_out, size_t *len_out,
                                    struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    size_t len = 0;

    if (level > TILE_LEVEL_MAX || index > (UINT64_C(1) << 54))
        return lode_error_set(err, LODE_ENOTFOUND, "tile %u/%" PRIu64 " does not exist", level,
                              index);
    db_params_init(&p);
    db_params_int64(&p, level);
    db_params_int64(&p, (int64_t)index);
    rc = db_query(conn, "SELECT width, data FROM ledger_tiles WHERE level = $1 AND idx = $2", &p,
                  &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0 || db_result_int64(res, 0, 0) < (int64_t)min_width) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "tile %u/%" PRIu64 " is not in the log yet",
                              level, index);
    }
    if (!ledger_bytea_read(res, 0, 1, data_out, TILE_DATA_BYTES_MAX, &len) ||
        len != (size_t)db_result_int64(res, 0, 0) * MERKLE_HASH_BYTES) {
        PQclear(res);
        return lode_error_set(err, LODE_EINTERNAL, "could not read stored tile %u/%" PRIu64, level,
                              index);
    }
    PQclear(res);
    *len_out = len;
    return LODE_OK;
}

/* Loaded dictionaries, never freed: there are a handful per log and each is immutable. */
static pthread_mutex_t dict_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bundle_dict *dict_cache[DICT_CACHE_MAX];
static size_t dict_cache_count;

static const struct bundle_dict *dict_cache_find(const uint8_t id[BUNDLE_DICT_ID_BYTES])
{
    const struct bundle_dict *found = NULL;

    pthread_mutex_lock(&dict_lock);
    for (size_t i = 0; i < dict_cache_count && found == NULL; i++)
        if (memcmp(dict_cache[i]->id, id, BUNDLE_DICT_ID_BYTES) == 0)
            found = dict_cache[i];
    pthread_mutex_unlock(&dict_lock);
    return found;
}

enum lode_code ledger_dict_get(struct db_conn *conn, const uint8_t id[BUNDLE_DICT_ID_BYTES],
                               const struct bundle_dict **dict_out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    struct bundle_dict *d;
    uint8_t *bytes;
    size_t len = 0;
    enum lode_code rc;

    *dict_out = dict_cache_find(id);
    if (*dict_out != NULL)
        return LODE_OK;
    db_params_init(&p);
    db_params_bytes(&p, id, BUNDLE_DICT_ID_BYTES);
    rc = db_query(conn, "SELECT version, bytes FROM ledger_dictionaries WHERE id = $1", &p, &res,
                  err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "bundle dictionary does not exist");
    }
    bytes = malloc(LODE_ZSTD_DICT_BYTES_MAX);
    d = calloc(1, sizeof *d);
    if (bytes == NULL || d == NULL)
        abort();
    if (!ledger_bytea_read(res, 0, 1, bytes, LODE_ZSTD_DICT_BYTES_MAX, &len) ||
        bundle_dict_init(d, bytes, len, (uint32_t)db_result_int64(res, 0, 0), 1, err) != LODE_OK) {
        PQclear(res);
        free(bytes);
        free(d);
        return lode_error_set(err, LODE_EINTERNAL, "could not load a stored bundle dictionary");
    }
    PQclear(res);
    free(bytes);
    pthread_mutex_lock(&dict_lock);
    for (size_t i = 0; i < dict_cache_count; i++) {
        if (memcmp(dict_cache[i]->id, d->id, BUNDLE_DICT_ID_BYTES) == 0) {
            /* another thread loaded it meanwhile */
            pthread_mutex_unlock(&dict_lock);
            bundle_dict_fini(d);
            free(d);
            *dict_out = dict_cache[i];
            return LODE_OK;
        }
    }
    if (dict_cache_count == DICT_CACHE_MAX) {
        pthread_mutex_unlock(&dict_lock);
        bundle_dict_fini(d);
        free(d);
        return lode_error_set(err, LODE_EINTERNAL, "could not cache more than %d dictionaries",
                              DICT_CACHE_MAX);
    }
    dict_cache[dict_cache_count++] = d;
    pthread_mutex_unlock(&dict_lock);
    *dict_out = d;
    return LODE_OK;
}

enum lode_code ledger_bundle_row_read(struct db_conn *conn, uint64_t index, uint8_t **raw_out,
                                      size_t *raw_len_out, unsigned *width_out,
                                      struct lode_error *err)
{
    static const uint8_t no_dict[BUNDLE_DICT_ID_BYTES] = {0};
    struct db_params p;
    PGresult *res = NULL;
    const struct bundle_dict *dict = NULL;
    uint8_t id[BUNDLE_DICT_ID_BYTES];
    uint8_t *stored = NULL, *raw = NULL;
    size_t stored_len = 0, stored_cap, raw_cap, raw_len = 0, count = 0;
    struct tile_bundle_entry *entries = NULL;
    unsigned width;
    enum lode_code rc;

    *raw_out = NULL;
    if (index > (UINT64_C(1) << 54))
        return lode_error_set(err, LODE_ENOTFOUND, "bundle %" PRIu64 " does not exist", index);
    db_params_init(&p);
    db_params_int64(&p, (int64_t)index);
    rc = db_query(conn, "SELECT width, raw_bytes, data FROM ledger_bundles WHERE idx = $1", &p,
                  &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "bundle %" PRIu64 " is not in the log yet",
                              index);
    }
    width = (unsigned)db_result_int64(res, 0, 0);
    raw_cap = (size_t)db_result_int64(res, 0, 1);
    stored_cap = ledger_bytea_len(res, 0, 2);
    if (raw_cap > TILE_BUNDLE_BYTES_MAX || stored_cap < BUNDLE_HEADER_BYTES) {
        rc = lode_error_set(err, LODE_EINTERNAL, "stored bundle %" PRIu64 " is malformed", index);
        goto clear_res;
    }
    stored = malloc(stored_cap);
    raw = malloc(raw_cap > 0 ? raw_cap : 1);
    entries = malloc(TILE_WIDTH * sizeof *entries);
    if (stored == NULL || raw == NULL || entries == NULL)
        abort();
    if (!ledger_bytea_read(res, 0, 2, stored, stored_cap, &stored_len) ||
        bundle_codec_dict_id(stored, stored_len, id) != LODE_OK) {
        rc = lode_error_set(err, LODE_EINTERNAL, "stored bundle %" PRIu64 " is malformed", index);
        goto free_buffers;
    }
    if (memcmp(id, no_dict, sizeof id) != 0) {
        rc = ledger_dict_get(conn, id, &dict, err);
        if (rc != LODE_OK)
            goto free_buffers;
    }
    /* the size cap is the raw size the row records: a frame declaring more is refused */
    rc = bundle_codec_decompress(&dict, dict != NULL ? 1 : 0, stored, stored_len, raw, raw_cap,
                                 &raw_len, err);
    if (rc == LODE_OK && (raw_len != raw_cap || tile_bundle_decode(raw, raw_len, width, entries,
                                                                   TILE_WIDTH, &count) != LODE_OK))
        rc = LODE_EINVAL;
    if (rc != LODE_OK) {
        rc = lode_error_set(err, LODE_EINTERNAL, "could not decode stored bundle %" PRIu64, index);
        goto free_buffers;
    }
    free(stored);
    free(entries);
    PQclear(res);
    *raw_out = raw;
    *raw_len_out = raw_len;
    *width_out = width;
    return LODE_OK;

free_buffers:
    free(stored);
    free(raw);
    free(entries);
clear_res:
    PQclear(res);
    return rc;
}

/* ---- the queue ---- */

enum lode_code ledger_enqueue(struct db_conn *conn, const uint8_t *entry, size_t len,
                              int64_t *queue_id_out, struct lode_error *err)
{
    uint8_t leaf[MERKLE_HASH_BYTES];
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    if (len > LODE_ENTRY_BYTES_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "a ledger entry must be at most %d bytes",
                              LODE_ENTRY_BYTES_MAX);
    rc = ledger_entry_validate((const char *)entry, len, NULL, err);
    if (rc != LODE_OK)
        return rc;
    merkle_hash_leaf(entry, len, leaf);
    db_params_init(&p);
    db_params_bytes(&p, entry, len);
    db_params_bytes(&p, leaf, sizeof leaf);
    /* the notification is delivered when the caller's transaction commits, not before; it is
     * sent only while the sequencer sleeps (see ledger_sequencer_state in the migration) */
    rc = db_query(conn,
                  "WITH q AS (INSERT INTO ledger_queue (entry, leaf_hash) VALUES ($1, $2)"
                  " RETURNING id)"
                  " SELECT q.id, CASE WHEN s.idle IS NOT FALSE"
                  " THEN pg_notify('" LEDGER_CHANNEL_QUEUE "', '') END"
                  " FROM q LEFT JOIN ledger_sequencer_state s ON true",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    *queue_id_out = db_result_int64(res, 0, 0);
    PQclear(res);
    return LODE_OK;
}

enum lode_code ledger_enqueue_json(struct db_conn *conn, json_t *entry, int64_t *queue_id_out,
                                   struct lode_error *err)
{
    char *bytes = NULL;
    size_t len = 0;
    enum lode_code rc;

    if (entry == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not build the ledger entry");
    rc = ledger_entry_encode(entry, &bytes, &len, err);
    json_decref(entry);
    if (rc == LODE_OK)
        rc = ledger_enqueue(conn, (const uint8_t *)bytes, len, queue_id_out, err);
    free(bytes);
    return rc;
}

enum lode_code ledger_queue_lookup(struct db_conn *conn, int64_t queue_id, bool *integrated_out,
                                   uint64_t *index_out, uint8_t leaf_hash_out[MERKLE_HASH_BYTES],
                                   struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, queue_id);
    rc = db_query(conn,
                  "SELECT ledger_index IS NOT NULL, ledger_index, encode(leaf_hash, 'hex')"
                  " FROM ledger_queue WHERE id = $1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_ENOTFOUND, "queued entry %" PRId64 " does not exist",
                              queue_id);
    }
    *integrated_out = db_result_bool(res, 0, 0);
    *index_out = (uint64_t)db_result_int64(res, 0, 1);
    if (!db_result_hex(res, 0, 2, leaf_hash_out, MERKLE_HASH_BYTES)) {
        PQclear(res);
        return lode_error_set(err, LODE_EINTERNAL, "could not read a stored leaf hash");
    }
    PQclear(res);
    return LODE_OK;
}

/* ---- checkpoints ---- */

static enum lode_code checkpoint_row(PGresult *res, struct ledger_checkpoint *out,
                                     struct lode_error *err)
{
    memset(out, 0, sizeof *out);
    out->size = (uint64_t)db_result_int64(res, 0, 0);
    out->created_at_ms = db_result_int64(res, 0, 3);
    if (!db_result_hex(res, 0, 1, out->root, MERKLE_HASH_BYTES) ||
        !db_result_text(res, 0, 2, out->note, sizeof out->note))
        return lode_error_set(err, LODE_EINTERNAL, "could not read a stored checkpoint");
    out->note_len = strlen(out->note);
    return LODE_OK;
}

enum lode_code ledger_checkpoint_latest(struct db_conn *conn, struct ledger_checkpoint *out,
                                        struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc;

    rc = db_query(
        conn, "SELECT " CHECKPOINT_COLUMNS " FROM ledger_checkpoints ORDER BY size DESC LIMIT 1",
        NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = lode_error_set(err, LODE_ENOTFOUND, "the ledger has no checkpoint yet");
    else
        rc = checkpoint_row(res, out, err);
    PQclear(res);
    return rc;
}

enum lode_code ledger_checkpoint_at_least(struct db_conn *conn, uint64_t min_size,
                                          struct ledger_checkpoint *out, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    if (!stored_size_is_valid(min_size))
        return lode_error_set(err, LODE_ENOTFOUND, "no checkpoint covers size %" PRIu64, min_size);
    db_params_init(&p);
    db_params_int64(&p, (int64_t)min_size);
    rc = db_query(conn,
                  "SELECT " CHECKPOINT_COLUMNS " FROM ledger_checkpoints WHERE size >= $1"
                  " ORDER BY size LIMIT 1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = lode_error_set(err, LODE_ENOTFOUND, "no checkpoint covers size %" PRIu64, min_size);
    else
        rc = checkpoint_row(res, out, err);
    PQclear(res);
    return rc;
}

/* LODE_OK when some checkpoint has exactly this size, else LODE_ENOTFOUND. */
static enum lode_code checkpointed(struct db_conn *conn, uint64_t size, struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    if (!stored_size_is_valid(size))
        return lode_error_set(err, LODE_ENOTFOUND, "no checkpoint has tree size %" PRIu64, size);
    db_params_init(&p);
    db_params_int64(&p, (int64_t)size);
    rc = db_query(conn, "SELECT 1 FROM ledger_checkpoints WHERE size = $1", &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = lode_error_set(err, LODE_ENOTFOUND, "no checkpoint has tree size %" PRIu64, size);
    PQclear(res);
    return rc;
}

/* ---- tiles and bundles ---- */

static bool tile_id_is_valid(const struct tile_id *tile)
{
    return tile->level <= TILE_LEVEL_MAX && tile->width >= 1 && tile->width <= TILE_WIDTH &&
           tile->index <= (UINT64_C(1) << 54) && (!tile->entries || tile->level == 0);
}

enum lode_code ledger_tile_read(struct db_conn *conn, const struct tile_id *tile, uint8_t *data_out,
                                size_t *len_out, struct lode_error *err)
{
    size_t len = 0;
    enum lode_code rc;

    if (tile->entries || !tile_id_is_valid(tile))
        return lode_error_set(err, LODE_ENOTFOUND, "no such hash tile");
    rc = ledger_tile_row_read(conn, tile->level, tile->index, tile->width, data_out, &len, err);
    if (rc != LODE_OK)
        return rc;
    *len_out = (size_t)tile->width * MERKLE_HASH_BYTES; /* a prefix of the stored tile */
    return LODE_OK;
}

enum lode_code ledger_bundle_read(struct db_conn *conn, const struct tile_id *tile,
                                  struct arena *arena, uint8_t **data_out, size_t *len_out,
                                  struct lode_error *err)
{
    uint8_t *raw = NULL, *copy;
    size_t raw_len = 0, len, count = 0;
    unsigned width = 0;
    struct tile_bundle_entry *entries;
    enum lode_code rc;

    if (!tile->entries || !tile_id_is_valid(tile))
        return lode_error_set(err, LODE_ENOTFOUND, "no such entry bundle");
    rc = ledger_bundle_row_read(conn, tile->index, &raw, &raw_len, &width, err);
    if (rc != LODE_OK)
        return rc;
    if (width < tile->width) {
        free(raw);
        return lode_error_set(err, LODE_ENOTFOUND, "entry bundle %" PRIu64 " is not that wide yet",
                              tile->index);
    }
    len = raw_len;
    if (width > tile->width) {
        /* the narrower bundle is a prefix: it ends where entry width-1 ends */
        entries = malloc(TILE_WIDTH * sizeof *entries);
        if (entries == NULL)
            abort();
        if (tile_bundle_decode(raw, raw_len, width, entries, TILE_WIDTH, &count) != LODE_OK) {
            free(entries);
            free(raw);
            return lode_error_set(err, LODE_EINTERNAL, "could not decode a stored bundle");
        }
        len = (size_t)(entries[tile->width - 1].data + entries[tile->width - 1].len - raw);
        free(entries);
    }
    copy = arena_alloc(arena, len > 0 ? len : 1);
    if (copy == NULL) {
        free(raw);
        return lode_error_set(err, LODE_ENOMEM, "entry bundle is over the memory budget");
    }
    memcpy(copy, raw, len);
    free(raw);
    *data_out = copy;
    *len_out = len;
    return LODE_OK;
}

enum lode_code ledger_entry_read(struct db_conn *conn, uint64_t index, struct arena *arena,
                                 uint8_t **entry_out, size_t *len_out,
                                 uint8_t leaf_hash_out[MERKLE_HASH_BYTES], struct lode_error *err)
{
    uint8_t *raw = NULL, *copy;
    size_t raw_len = 0, count = 0;
    unsigned width = 0, slot = (unsigned)(index % TILE_WIDTH);
    struct tile_bundle_entry *entries;
    enum lode_code rc;

    if (!stored_size_is_valid(index))
        return lode_error_set(err, LODE_ENOTFOUND, "entry %" PRIu64 " is not in the log", index);
    rc = ledger_bundle_row_read(conn, index / TILE_WIDTH, &raw, &raw_len, &width, err);
    if (rc == LODE_ENOTFOUND || (rc == LODE_OK && slot >= width)) {
        free(raw);
        return lode_error_set(err, LODE_ENOTFOUND, "entry %" PRIu64 " is not in the log", index);
    }
    if (rc != LODE_OK)
        return rc;
    entries = malloc(TILE_WIDTH * sizeof *entries);
    if (entries == NULL)
        abort();
    if (tile_bundle_decode(raw, raw_len, width, entries, TILE_WIDTH, &count) != LODE_OK) {
        free(entries);
        free(raw);
        return lode_error_set(err, LODE_EINTERNAL, "could not decode a stored bundle");
    }
    copy = arena_alloc(arena, entries[slot].len > 0 ? entries[slot].len : 1);
    if (copy == NULL) {
        free(entries);
        free(raw);
        return lode_error_set(err, LODE_ENOMEM, "entry is over the memory budget");
    }
    memcpy(copy, entries[slot].data, entries[slot].len);
    *len_out = entries[slot].len;
    merkle_hash_leaf(copy, entries[slot].len, leaf_hash_out);
    *entry_out = copy;
    free(entries);
    free(raw);
    return LODE_OK;
}

enum lode_code ledger_index_by_leaf(struct db_conn *conn,
                                    const uint8_t leaf_hash[MERKLE_HASH_BYTES], uint64_t *index_out,
                                    struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    db_params_init(&p);
    db_params_bytes(&p, leaf_hash, MERKLE_HASH_BYTES);
    rc = db_query(conn,
                  "SELECT ledger_index FROM ledger_leaves WHERE leaf_hash = $1"
                  " ORDER BY ledger_index LIMIT 1",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0)
        rc = lode_error_set(err, LODE_ENOTFOUND, "no entry has that leaf hash");
    else
        *index_out = (uint64_t)db_result_int64(res, 0, 0);
    PQclear(res);
    return rc;
}

/* ---- proofs: the tiles a proof needs, fetched in one query ---- */

struct tile_set {
    struct db_conn *conn;
    struct lode_error *err;
    size_t count;
    struct {
        unsigned level;
        uint64_t index;
        size_t len;
        uint8_t data[TILE_DATA_BYTES_MAX];
    } tiles[]; /* count slots */
};

static enum lode_code tile_set_load(struct db_conn *conn, const struct tile_id *ids, size_t count,
                                    struct tile_set **set_out, struct lode_error *err)
{
    struct tile_set *set;
    char *levels, *indices;
    size_t lp = 0, ip = 0, cap = 3 + count * 24; /* "{" + items + "}" + NUL */
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;

    set = calloc(1, sizeof *set + (count > 0 ? count : 1) * sizeof set->tiles[0]);
    levels = malloc(cap);
    indices = malloc(cap);
    if (set == NULL || levels == NULL || indices == NULL)
        abort();
    set->conn = conn;
    set->err = err;
    lp += (size_t)snprintf(levels + lp, cap - lp, "{");
    ip += (size_t)snprintf(indices + ip, cap - ip, "{");
    for (size_t i = 0; i < count; i++) {
        lp += (size_t)snprintf(levels + lp, cap - lp, "%s%u", i > 0 ? "," : "", ids[i].level);
        ip +=
            (size_t)snprintf(indices + ip, cap - ip, "%s%" PRIu64, i > 0 ? "," : "", ids[i].index);
    }
    snprintf(levels + lp, cap - lp, "}");
    snprintf(indices + ip, cap - ip, "}");
    db_params_init(&p);
    db_params_text(&p, levels);
    db_params_text(&p, indices);
    rc = db_query(conn,
                  "SELECT t.level, t.idx, t.data FROM ledger_tiles t"
                  " JOIN unnest($1::smallint[], $2::bigint[]) AS w(level, idx)"
                  " ON t.level = w.level AND t.idx = w.idx",
                  &p, &res, err);
    free(levels);
    free(indices);
    if (rc != LODE_OK) {
        free(set);
        return rc;
    }
    for (int r = 0; r < PQntuples(res) && set->count < count; r++) {
        size_t i = set->count;
        set->tiles[i].level = (unsigned)db_result_int64(res, r, 0);
        set->tiles[i].index = (uint64_t)db_result_int64(res, r, 1);
        if (!ledger_bytea_read(res, r, 2, set->tiles[i].data, TILE_DATA_BYTES_MAX,
                               &set->tiles[i].len)) {
            PQclear(res);
            free(set);
            return lode_error_set(err, LODE_EINTERNAL, "could not read a stored tile");
        }
        set->count++;
    }
    PQclear(res);
    *set_out = set;
    return LODE_OK;
}

/* tile_fetch_fn over a tile set, falling back to the database for a tile it lacks. */
static enum lode_code tile_set_fetch(void *ctx, const struct tile_id *tile, uint8_t *data_out,
                                     size_t cap, size_t *len_out)
{
    struct tile_set *set = ctx;

    if (cap < TILE_DATA_BYTES_MAX)
        return LODE_EINVAL;
    for (size_t i = 0; i < set->count; i++) {
        if (set->tiles[i].level == tile->level && set->tiles[i].index == tile->index &&
            set->tiles[i].len >= (size_t)tile->width * MERKLE_HASH_BYTES) {
            memcpy(data_out, set->tiles[i].data, set->tiles[i].len);
            *len_out = set->tiles[i].len;
            return LODE_OK;
        }
    }
    return ledger_tile_row_read(set->conn, tile->level, tile->index, tile->width, data_out, len_out,
                                set->err);
}

static enum lode_code prove(struct db_conn *conn, enum merkle_plan_kind kind, uint64_t a,
                            uint64_t b, uint8_t (*proof_out)[MERKLE_HASH_BYTES], size_t *count_out,
                            struct lode_error *err)
{
    struct merkle_node nodes[MERKLE_READ_NODES_MAX];
    struct tile_id ids[MERKLE_READ_NODES_MAX];
    struct tile_hash_reader *thr;
    struct merkle_reader reader;
    struct tile_set *set = NULL;
    size_t node_count = 0, tile_count = 0;
    enum lode_code rc;

    if (merkle_plan_reads(kind, a, b, nodes, &node_count) != LODE_OK ||
        tile_list_for_nodes(nodes, node_count, b, ids, MERKLE_READ_NODES_MAX, &tile_count) !=
            LODE_OK)
        return lode_error_set(err, LODE_EINVAL, "could not plan the proof");
    rc = tile_set_load(conn, ids, tile_count, &set, err);
    if (rc != LODE_OK)
        return rc;
    thr = malloc(sizeof *thr);
    if (thr == NULL)
        abort();
    tile_hash_reader_init(thr, b, tile_set_fetch, set, &reader);
    if (kind == MERKLE_PLAN_INCLUSION)
        rc = merkle_prove_inclusion(&reader, a, b, proof_out, count_out);
    else
        rc = merkle_prove_consistency(&reader, a, b, proof_out, count_out);
    free(thr);
    free(set);
    if (rc == LODE_ENOTFOUND)
        /* a checkpointed size whose tiles are missing: the store is damaged */
        return lode_error_set(err, LODE_EINTERNAL, "could not read the tiles of a checkpoint");
    if (rc != LODE_OK && err != NULL && err->code == LODE_OK)
        lode_error_set(err, rc, "could not compute the proof");
    return rc;
}

enum lode_code ledger_prove_inclusion(struct db_conn *conn, uint64_t index, uint64_t tree_size,
                                      uint8_t (*proof_out)[MERKLE_HASH_BYTES], size_t *count_out,
                                      struct lode_error *err)
{
    enum lode_code rc;

    *count_out = 0;
    rc = checkpointed(conn, tree_size, err);
    if (rc != LODE_OK)
        return rc;
    if (index >= tree_size) {
        lode_error_set(err, LODE_EINVAL, "index %" PRIu64 " is not below tree size %" PRIu64, index,
                       tree_size);
        lode_error_pointer(err, "index");
        return LODE_EINVAL;
    }
    lode_error_clear(err);
    return prove(conn, MERKLE_PLAN_INCLUSION, index, tree_size, proof_out, count_out, err);
}

enum lode_code ledger_prove_consistency(struct db_conn *conn, uint64_t from, uint64_t to,
                                        uint8_t (*proof_out)[MERKLE_HASH_BYTES], size_t *count_out,
                                        struct lode_error *err)
{
    enum lode_code rc;

    *count_out = 0;
    if (from > to) {
        lode_error_set(err, LODE_EINVAL, "from %" PRIu64 " is larger than to %" PRIu64, from, to);
        lode_error_pointer(err, "from");
        return LODE_EINVAL;
    }
    rc = checkpointed(conn, from, err);
    if (rc == LODE_OK)
        rc = checkpointed(conn, to, err);
    if (rc != LODE_OK)
        return rc;
    if (from == 0 || from == to)
        return LODE_OK; /* the empty proof (see ledger/merkle.h for size 0) */
    lode_error_clear(err);
    return prove(conn, MERKLE_PLAN_CONSISTENCY, from, to, proof_out, count_out, err);
}

enum lode_code ledger_storage_stats(struct db_conn *conn, struct ledger_storage_stats *out,
                                    struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc;

    memset(out, 0, sizeof *out);
    rc = db_query(conn,
                  "SELECT (SELECT count(*) FROM ledger_leaves),"
                  " (SELECT coalesce(sum(octet_length(data)), 0) FROM ledger_bundles),"
                  " (SELECT coalesce(sum(entry_bytes), 0) FROM ledger_leaves),"
                  " (SELECT coalesce(sum(octet_length(data)), 0) FROM ledger_tiles),"
                  " (SELECT coalesce(max(version), 0) FROM ledger_dictionaries)",
                  NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    out->entries = (uint64_t)db_result_int64(res, 0, 0);
    out->bundle_bytes = (uint64_t)db_result_int64(res, 0, 1);
    out->raw_entry_bytes = (uint64_t)db_result_int64(res, 0, 2);
    out->tile_bytes = (uint64_t)db_result_int64(res, 0, 3);
    out->dictionary_version = (int)db_result_int64(res, 0, 4);
    PQclear(res);
    return LODE_OK;
}
