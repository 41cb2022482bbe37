/*
 * storage/ledger_sequencer.c — the sequencer thread: leadership, batching, integration.
 *
 * Three connections per sequencer, all owned by its thread: `lock` holds the session advisory
 * lock and does nothing else (it is never inside a transaction or a wait), `work` runs the
 * batch transactions, `listen` LISTENs on the queue and size channels and is what the thread
 * sleeps on (poll() with a timeout, plus a pipe that ledger_sequencer_stop writes to).
 *
 * Caches, valid only for the tree size they were built at (the size read from the latest
 * checkpoint inside each batch transaction): the right-edge hash tile of every level and the
 * raw bytes of the last, partial entry bundle. A batch stages its new edge tiles and bundle and
 * installs them only after COMMIT; any failure drops the caches.
 *
 * Bundles: partial bundles are compressed fast (they are rewritten by every batch until full),
 * a bundle that becomes full is compressed at FULL_BUNDLE_LEVEL once. Once the log holds
 * DICT_TRAIN_ENTRIES entries and no dictionary exists, one is trained on the first entries and
 * stored as version 1; every bundle written afterwards uses the newest dictionary.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/encoding.h"
#include "core/limits.h"
#include "core/log.h"
#include "storage/db_internal.h"
#include "storage/ledger_internal.h"
#include "storage/ledger_sequencer.h"
#include "storage/ledger_store.h"

/* the session advisory lock: "lode" "ledg" as the two 32-bit halves pg_locks shows */
#define LOCK_CLASSID INT64_C(0x6c6f6465)
#define LOCK_OBJID INT64_C(0x6c656467)
#define LOCK_KEY ((LOCK_CLASSID << 32) | LOCK_OBJID)

#define FOLLOWER_RETRY_MS 1000 /* a non-leader tries the lock this often */
#define IDLE_POLL_MS 250       /* a leader re-checks the queue this often without notifications */
#define ERROR_PAUSE_MS 200     /* after a failed batch */
#define RECONNECT_PAUSE_MS 1000
#define PARTIAL_BUNDLE_LEVEL 3 /* rewritten by every batch until full */
#define FULL_BUNDLE_LEVEL 9 /* written once; see docs/ledger-storage.md for the measured choice */
#define DICT_TRAIN_ENTRIES 1024  /* no dictionary until the log holds this many entries */
#define DICT_SAMPLE_ENTRIES 4096 /* entries the dictionary is trained on, at most */
#define DICT_BYTES_MAX (32u << 10)

struct edge_tile {
    bool valid;
    uint64_t index;
    size_t len;
    uint8_t data[TILE_DATA_BYTES_MAX];
};

struct ledger_sequencer {
    struct ledger_sequencer_config config;
    char *database_url, *origin;
    struct note_signer signer;
    char vkey[NOTE_KEY_TEXT_BYTES_MAX];
    pthread_t thread;
    int wake[2]; /* pipe: stop writes, the thread polls the read end */
    atomic_bool stopping;

    /* everything below belongs to the sequencer thread */
    struct db_conn *lock_conn, *work_conn, *listen_conn;
    uint64_t dict_train_at; /* log size at which to try training the first dictionary */

    /* caches at cache_size (see the file comment) */
    uint64_t cache_size;
    struct edge_tile edge[TILE_LEVEL_MAX + 1];
    struct edge_tile next_edge[TILE_LEVEL_MAX + 1];
    uint64_t bundle_index, next_bundle_index;
    uint8_t *bundle_raw, *next_bundle_raw;
    size_t bundle_len, next_bundle_len;
    unsigned bundle_width, next_bundle_width;

    /* the newest dictionary, prepared twice: for partial and for full bundles */
    struct bundle_dict dict_fast, dict_full;
    uint32_t dict_version;

    /* the batch in progress */
    struct tile_hash_reader thr;
    struct lode_error fetch_err;
    uint64_t batch_new_size;
    size_t batch_count;

    bool leader;
    bool queue_signalled;   /* a queue notification arrived since the last count */
    bool lost_lead;         /* a batch found the lock gone */
    bool marked_idle;       /* ledger_sequencer_state.idle is true as far as we know */
    bool cache_valid;       /* the caches hold the tree at cache_size */
    bool bundle_valid;      /* bundle_raw is the last (partial) bundle at cache_size */
    bool next_bundle_valid; /* staged by the batch in progress */
    bool have_dict;
};

/* ---- small utilities ---- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void log_error(const char *event, const struct lode_error *err)
{
    log_emit(LOG_WARN, event, "code", lode_code_name(err->code), "message", err->message, "detail",
             err->log_detail, (const char *)LOG_END);
}

static char *dup_text(const char *s)
{
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy == NULL)
        abort();
    memcpy(copy, s, n);
    return copy;
}

/* Reads the base64 seed that `lode keygen` writes (trailing whitespace allowed). */
static enum lode_code key_load(const char *path, uint8_t seed_out[NOTE_KEY_BYTES],
                               struct lode_error *err)
{
    char text[LODE_LEDGER_KEY_FILE_BYTES_MAX + 1];
    size_t n, got = 0;
    FILE *f;

    if (path == NULL)
        return lode_error_set(err, LODE_EINVAL, "the sequencer needs a signing key file");
    f = fopen(path, "rb");
    if (f == NULL)
        return lode_error_set(err, LODE_EIO, "could not open the signing key file \"%s\": %s", path,
                              strerror(errno));
    n = fread(text, 1, sizeof text, f);
    if (ferror(f)) {
        fclose(f);
        return lode_error_set(err, LODE_EIO, "could not read the signing key file \"%s\"", path);
    }
    fclose(f);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
        n--;
    if (n > LODE_LEDGER_KEY_FILE_BYTES_MAX ||
        !base64_decode(text, n, seed_out, NOTE_KEY_BYTES, &got) || got != NOTE_KEY_BYTES) {
        sodium_memzero(text, sizeof text);
        return lode_error_set(err, LODE_EINVAL,
                              "signing key file \"%s\" does not hold base64 of a 32-byte seed",
                              path);
    }
    sodium_memzero(text, sizeof text);
    return LODE_OK;
}

static void cache_reset(struct ledger_sequencer *seq)
{
    seq->cache_valid = false;
    for (unsigned l = 0; l <= TILE_LEVEL_MAX; l++)
        seq->edge[l].valid = false;
    seq->bundle_valid = false;
}

/* ---- connections ---- */

static void connections_close(struct ledger_sequencer *seq)
{
    db_conn_close(seq->lock_conn);
    db_conn_close(seq->work_conn);
    db_conn_close(seq->listen_conn);
    seq->lock_conn = seq->work_conn = seq->listen_conn = NULL;
    seq->leader = false;
    cache_reset(seq);
}

static enum lode_code connections_open(struct ledger_sequencer *seq, struct lode_error *err)
{
    enum lode_code rc;

    rc = db_conn_open(seq->database_url, &seq->lock_conn, err);
    if (rc == LODE_OK)
        rc = db_conn_open(seq->database_url, &seq->work_conn, err);
    if (rc == LODE_OK)
        rc = db_conn_open(seq->database_url, &seq->listen_conn, err);
    if (rc == LODE_OK)
        rc = db_exec(seq->listen_conn,
                     "LISTEN " LEDGER_CHANNEL_QUEUE "; LISTEN " LEDGER_CHANNEL_SIZE, err);
    if (rc == LODE_OK && PQsetnonblocking(seq->listen_conn->pg, 1) != 0)
        rc = lode_error_set(err, LODE_EUNAVAIL,
                            "could not make the listening connection non-blocking");
    if (rc != LODE_OK)
        connections_close(seq);
    seq->queue_signalled = true; /* look at the queue once after (re)connecting */
    seq->lost_lead = false;
    return rc;
}

static bool connections_broken(const struct ledger_sequencer *seq)
{
    return seq->lock_conn == NULL || seq->lock_conn->broken || seq->work_conn->broken ||
           seq->listen_conn->broken || PQstatus(seq->lock_conn->pg) != CONNECTION_OK ||
           PQstatus(seq->work_conn->pg) != CONNECTION_OK ||
           PQstatus(seq->listen_conn->pg) != CONNECTION_OK;
}

/* Handles pending notifications: sizes integrated by another replica go to on_integrated. */
static void notifications_drain(struct ledger_sequencer *seq)
{
    PGnotify *n;
    int own_pid = PQbackendPID(seq->work_conn->pg);

    if (PQconsumeInput(seq->listen_conn->pg) == 0) {
        seq->listen_conn->broken = true;
        return;
    }
    while ((n = PQnotifies(seq->listen_conn->pg)) != NULL) {
        if (strcmp(n->relname, LEDGER_CHANNEL_QUEUE) == 0) {
            seq->queue_signalled = true;
        } else if (strcmp(n->relname, LEDGER_CHANNEL_SIZE) == 0 && n->be_pid != own_pid) {
            char *end = NULL;
            unsigned long long size = strtoull(n->extra, &end, 10);
            if (end != n->extra && *end == '\0' && seq->config.on_integrated != NULL)
                seq->config.on_integrated(seq->config.ctx, (uint64_t)size);
        }
        PQfreemem(n);
    }
}

/* Sleeps until a notification, a stop request or timeout_ms. */
static void wait_for(struct ledger_sequencer *seq, int timeout_ms)
{
    struct pollfd fds[2];
    nfds_t nfds = 1;

    if (atomic_load(&seq->stopping))
        return;
    fds[0].fd = seq->wake[0];
    fds[0].events = POLLIN;
    if (seq->listen_conn != NULL && PQsocket(seq->listen_conn->pg) >= 0) {
        fds[1].fd = PQsocket(seq->listen_conn->pg);
        fds[1].events = POLLIN;
        nfds = 2;
    }
    if (poll(fds, nfds, timeout_ms < 0 ? 0 : timeout_ms) > 0 && nfds == 2 &&
        (fds[1].revents & (POLLIN | POLLERR | POLLHUP)) != 0)
        notifications_drain(seq);
}

/* ---- the tile reader of a batch: edge cache, then the database ---- */

static enum lode_code batch_fetch(void *ctx, const struct tile_id *tile, uint8_t *data_out,
                                  size_t cap, size_t *len_out)
{
    struct ledger_sequencer *seq = ctx;
    struct edge_tile *e = &seq->edge[tile->level];
    uint64_t last;
    enum lode_code rc;

    if (cap < TILE_DATA_BYTES_MAX || tile->level > TILE_LEVEL_MAX)
        return LODE_EINVAL;
    if (e->valid && e->index == tile->index && e->len >= (size_t)tile->width * MERKLE_HASH_BYTES) {
        memcpy(data_out, e->data, e->len);
        *len_out = e->len;
        return LODE_OK;
    }
    rc = ledger_tile_row_read(seq->work_conn, tile->level, tile->index, tile->width, data_out,
                              len_out, &seq->fetch_err);
    if (rc != LODE_OK)
        return rc;
    last = (tile_level_hashes(tile->level, seq->thr.tree_size) - 1) / TILE_WIDTH;
    if (tile->index == last) {
        e->valid = true;
        e->index = tile->index;
        e->len = *len_out;
        memcpy(e->data, data_out, *len_out);
    }
    return LODE_OK;
}

/* A reader that sees the nodes a batch appends on top of the tree before it. */
struct overlay {
    const struct merkle_reader *base;
    uint64_t old_count; /* stored hashes of the old tree: older nodes come from base */
    const struct merkle_node *nodes;
    const uint8_t (*hashes)[MERKLE_HASH_BYTES];
    size_t count;
};

static enum lode_code overlay_read(void *ctx, const struct merkle_node *nodes, size_t count,
                                   uint8_t (*hashes_out)[MERKLE_HASH_BYTES])
{
    const struct overlay *o = ctx;

    for (size_t i = 0; i < count; i++) {
        uint64_t want = merkle_stored_index(nodes[i].level, nodes[i].index);
        if (want < o->old_count) {
            enum lode_code rc = o->base->read_hashes(o->base->ctx, &nodes[i], 1, &hashes_out[i]);
            if (rc != LODE_OK)
                return rc;
            continue;
        }
        /* new nodes are in stored-index order */
        size_t lo = 0, hi = o->count;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (merkle_stored_index(o->nodes[mid].level, o->nodes[mid].index) < want)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo == o->count || o->nodes[lo].level != nodes[i].level ||
            o->nodes[lo].index != nodes[i].index)
            return LODE_EINTERNAL;
        memcpy(hashes_out[i], o->hashes[lo], MERKLE_HASH_BYTES);
    }
    return LODE_OK;
}

/* ---- checkpoints ---- */

static enum lode_code checkpoint_sign(struct ledger_sequencer *seq, uint64_t size,
                                      const uint8_t root[MERKLE_HASH_BYTES], char *note_out,
                                      size_t cap, size_t *len_out, struct lode_error *err)
{
    struct checkpoint cp;
    char text[LODE_NOTE_NAME_BYTES_MAX + 128];
    size_t text_len = 0;

    memset(&cp, 0, sizeof cp);
    snprintf(cp.origin, sizeof cp.origin, "%s", seq->origin);
    cp.size = size;
    memcpy(cp.root, root, MERKLE_HASH_BYTES);
    if (checkpoint_format(&cp, text, sizeof text, &text_len) != LODE_OK ||
        note_sign(text, text_len, &seq->signer, 1, note_out, cap - 1, len_out) != LODE_OK)
        return lode_error_set(err, LODE_EINTERNAL, "could not sign the checkpoint of size %" PRIu64,
                              size);
    note_out[*len_out] = '\0';
    return LODE_OK;
}

static enum lode_code checkpoint_insert(struct db_conn *conn, uint64_t size,
                                        const uint8_t root[MERKLE_HASH_BYTES], const char *note,
                                        bool if_absent, struct lode_error *err)
{
    struct db_params p;
    char size_text[24];
    enum lode_code rc;

    db_params_init(&p);
    db_params_int64(&p, (int64_t)size);
    db_params_bytes(&p, root, MERKLE_HASH_BYTES);
    db_params_text(&p, note);
    rc = db_query(conn,
                  if_absent
                      ? "INSERT INTO ledger_checkpoints (size, root, note)"
                        " SELECT $1, $2, $3"
                        " WHERE NOT EXISTS (SELECT 1 FROM ledger_checkpoints)"
                      : "INSERT INTO ledger_checkpoints (size, root, note) VALUES ($1, $2, $3)",
                  &p, NULL, err);
    if (rc != LODE_OK)
        return rc;
    snprintf(size_text, sizeof size_text, "%" PRIu64, size);
    db_params_init(&p);
    db_params_text(&p, size_text);
    return db_query(conn, "SELECT pg_notify('" LEDGER_CHANNEL_SIZE "', $1)", &p, NULL, err);
}

/* Our lock session still holds the advisory lock (checked inside each batch transaction). */
static enum lode_code leadership_check(struct ledger_sequencer *seq, struct db_conn *conn,
                                       struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    enum lode_code rc;
    bool held;

    db_params_init(&p);
    db_params_int64(&p, LOCK_CLASSID);
    db_params_int64(&p, LOCK_OBJID);
    db_params_int64(&p, PQbackendPID(seq->lock_conn->pg));
    rc = db_query(conn,
                  "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'"
                  " AND classid = $1::bigint::oid AND objid = $2::bigint::oid AND objsubid = 1"
                  " AND pid = $3 AND granted)",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    held = db_result_bool(res, 0, 0);
    PQclear(res);
    if (!held) {
        seq->lost_lead = true;
        return lode_error_set(err, LODE_EUNAVAIL, "could not integrate: no longer the sequencer");
    }
    return LODE_OK;
}

static enum lode_code genesis_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct ledger_sequencer *seq = arg;
    uint8_t root[MERKLE_HASH_BYTES];
    char note[LEDGER_NOTE_BYTES_MAX];
    size_t note_len = 0;
    enum lode_code rc;

    rc = leadership_check(seq, conn, err);
    if (rc != LODE_OK)
        return rc;
    merkle_hash_empty(root);
    rc = checkpoint_sign(seq, 0, root, note, sizeof note, &note_len, err);
    if (rc != LODE_OK)
        return rc;
    return checkpoint_insert(conn, 0, root, note, true, err);
}

/* ---- dictionaries ---- */

/* Makes the newest stored dictionary the one new bundles use. */
static enum lode_code dict_refresh(struct ledger_sequencer *seq, struct db_conn *conn,
                                   struct lode_error *err)
{
    struct db_params p;
    PGresult *res = NULL;
    uint8_t *bytes;
    size_t len = 0;
    uint32_t version;
    enum lode_code rc;

    rc = db_query(conn, "SELECT version FROM ledger_dictionaries ORDER BY version DESC LIMIT 1",
                  NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    version = PQntuples(res) > 0 ? (uint32_t)db_result_int64(res, 0, 0) : 0;
    PQclear(res);
    if (version == 0 || (seq->have_dict && version == seq->dict_version))
        return LODE_OK;
    db_params_init(&p);
    db_params_int64(&p, version);
    rc = db_query(conn, "SELECT bytes FROM ledger_dictionaries WHERE version = $1", &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    bytes = malloc(LODE_ZSTD_DICT_BYTES_MAX);
    if (bytes == NULL)
        abort();
    if (PQntuples(res) != 1 ||
        !ledger_bytea_read(res, 0, 0, bytes, LODE_ZSTD_DICT_BYTES_MAX, &len)) {
        PQclear(res);
        free(bytes);
        return lode_error_set(err, LODE_EINTERNAL, "could not read bundle dictionary %" PRIu32,
                              version);
    }
    PQclear(res);
    if (seq->have_dict) {
        bundle_dict_fini(&seq->dict_fast);
        bundle_dict_fini(&seq->dict_full);
        seq->have_dict = false;
    }
    rc = bundle_dict_init(&seq->dict_fast, bytes, len, version, PARTIAL_BUNDLE_LEVEL, err);
    if (rc == LODE_OK) {
        rc = bundle_dict_init(&seq->dict_full, bytes, len, version, FULL_BUNDLE_LEVEL, err);
        if (rc != LODE_OK)
            bundle_dict_fini(&seq->dict_fast);
    }
    free(bytes);
    if (rc != LODE_OK)
        return rc;
    seq->have_dict = true;
    seq->dict_version = version;
    return LODE_OK;
}

/* Trains the first dictionary on the log's first entries, in its own short transaction. */
static bool dict_train(struct ledger_sequencer *seq, uint64_t size)
{
    struct lode_error err = {0};
    uint64_t want = size < DICT_SAMPLE_ENTRIES ? size : DICT_SAMPLE_ENTRIES;
    uint8_t **raws = calloc(want / TILE_WIDTH + 1, sizeof *raws);
    const uint8_t **samples = calloc(want, sizeof *samples);
    size_t *lens = calloc(want, sizeof *lens);
    struct tile_bundle_entry *entries = malloc(TILE_WIDTH * sizeof *entries);
    size_t bundles = 0, n = 0, dict_len = 0;
    uint8_t *dict = NULL, id[MERKLE_HASH_BYTES];
    struct db_params p;
    enum lode_code rc = LODE_OK;

    if (raws == NULL || samples == NULL || lens == NULL || entries == NULL)
        abort();
    while (n < want && rc == LODE_OK) {
        size_t raw_len = 0, count = 0;
        unsigned width = 0;
        rc =
            ledger_bundle_row_read(seq->work_conn, bundles, &raws[bundles], &raw_len, &width, &err);
        if (rc != LODE_OK)
            break;
        bundles++;
        if (tile_bundle_decode(raws[bundles - 1], raw_len, width, entries, TILE_WIDTH, &count) !=
            LODE_OK) {
            rc = lode_error_set(&err, LODE_EINTERNAL, "could not decode a stored bundle");
            break;
        }
        for (size_t i = 0; i < count && n < want; i++, n++) {
            samples[n] = entries[i].data;
            lens[n] = entries[i].len;
        }
    }
    if (rc == LODE_OK)
        rc = bundle_dict_train(samples, lens, n, DICT_BYTES_MAX, &dict, &dict_len, &err);
    if (rc == LODE_OK) {
        crypto_hash_sha256(id, dict, dict_len);
        db_params_init(&p);
        db_params_bytes(&p, id, sizeof id);
        db_params_bytes(&p, dict, dict_len);
        db_params_int64(&p, (int64_t)n);
        /* only the first dictionary is trained automatically; two leaders cannot both add it */
        rc = db_query(seq->work_conn,
                      "INSERT INTO ledger_dictionaries (id, version, bytes, trained_entries)"
                      " SELECT $1, 1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM ledger_dictionaries)"
                      " ON CONFLICT DO NOTHING",
                      &p, NULL, &err);
    }
    if (rc == LODE_OK) {
        char text[64];
        snprintf(text, sizeof text, "%zu", dict_len);
        log_emit(LOG_INFO, "ledger_dictionary_trained", "bytes", text, (const char *)LOG_END);
    } else {
        log_error("ledger_dictionary_failed", &err);
    }
    free(dict);
    for (size_t i = 0; i < bundles; i++)
        free(raws[i]);
    free(raws);
    free(samples);
    free(lens);
    free(entries);
    return rc == LODE_OK;
}

/* ---- one batch ---- */

/* Comma-separated array literal of int64 values: "{1,2,3}". malloc'd. */
static char *array_literal(const int64_t *values, size_t count)
{
    size_t cap = 3 + count * 21, n = 0;
    char *out = malloc(cap);
    if (out == NULL)
        abort();
    n += (size_t)snprintf(out + n, cap - n, "{");
    for (size_t i = 0; i < count; i++)
        n += (size_t)snprintf(out + n, cap - n, "%s%" PRId64, i > 0 ? "," : "", values[i]);
    snprintf(out + n, cap - n, "}");
    return out;
}

/* Writes the bundle `tile` (the entries of this batch after the old ones). */
static enum lode_code bundle_write(struct ledger_sequencer *seq, struct db_conn *conn,
                                   const struct tile_id *tile, uint64_t old_size,
                                   const struct tile_bundle_entry *batch, size_t batch_count,
                                   struct lode_error *err)
{
    uint64_t first = tile->index * TILE_WIDTH;
    uint64_t from = old_size > first ? old_size : first;
    unsigned old_width = (unsigned)(from - first);
    size_t new_count = first + tile->width - from, add = 0, old_len = 0, raw_len = 0, out_len = 0;
    const struct tile_bundle_entry *news = batch + (from - old_size);
    uint8_t *old_raw = NULL, *raw, *out;
    bool old_owned = false;
    const struct bundle_dict *dict = NULL;
    struct db_params p;
    enum lode_code rc;

    if (from - old_size + new_count > batch_count)
        return lode_error_set(err, LODE_EINTERNAL, "could not place the batch in bundles");
    if (old_width > 0) {
        if (seq->bundle_valid && seq->bundle_index == tile->index &&
            seq->bundle_width == old_width) {
            old_raw = seq->bundle_raw;
            old_len = seq->bundle_len;
        } else {
            unsigned width = 0;
            rc = ledger_bundle_row_read(conn, tile->index, &old_raw, &old_len, &width, err);
            if (rc == LODE_OK && width != old_width)
                rc = lode_error_set(err, LODE_EINTERNAL,
                                    "stored bundle %" PRIu64 " has %u entries, expected %u",
                                    tile->index, width, old_width);
            if (rc != LODE_OK) {
                free(old_raw);
                return rc;
            }
            old_owned = true;
        }
    }
    for (size_t i = 0; i < new_count; i++)
        add += 2 + news[i].len;
    raw = malloc(old_len + add > 0 ? old_len + add : 1);
    if (raw == NULL)
        abort();
    if (old_len > 0)
        memcpy(raw, old_raw, old_len);
    if (old_owned)
        free(old_raw);
    /* the bundle format is a concatenation, so the new entries' encoding extends the old one */
    rc = tile_bundle_encode(news, new_count, raw + old_len, add, &raw_len);
    if (rc != LODE_OK) {
        free(raw);
        return lode_error_set(err, LODE_EINTERNAL, "could not encode bundle %" PRIu64, tile->index);
    }
    raw_len += old_len;
    if (seq->have_dict)
        dict = tile->width == TILE_WIDTH ? &seq->dict_full : &seq->dict_fast;
    out = malloc(bundle_codec_bound(raw_len));
    if (out == NULL)
        abort();
    rc = bundle_codec_compress(dict,
                               tile->width == TILE_WIDTH ? FULL_BUNDLE_LEVEL : PARTIAL_BUNDLE_LEVEL,
                               raw, raw_len, out, bundle_codec_bound(raw_len), &out_len);
    if (rc != LODE_OK) {
        free(out);
        free(raw);
        return lode_error_set(err, LODE_EINTERNAL, "could not compress bundle %" PRIu64,
                              tile->index);
    }
    db_params_init(&p);
    db_params_int64(&p, (int64_t)tile->index);
    db_params_int64(&p, tile->width);
    if (dict != NULL)
        db_params_bytes(&p, dict->id, BUNDLE_DICT_ID_BYTES);
    else
        db_params_text(&p, NULL);
    db_params_bytes(&p, out, out_len);
    db_params_int64(&p, (int64_t)raw_len);
    rc = db_query(conn,
                  "INSERT INTO ledger_bundles (idx, width, dictionary_id, data, raw_bytes)"
                  " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (idx) DO UPDATE SET"
                  " width = EXCLUDED.width, dictionary_id = EXCLUDED.dictionary_id,"
                  " data = EXCLUDED.data, raw_bytes = EXCLUDED.raw_bytes",
                  &p, NULL, err);
    free(out);
    if (rc != LODE_OK) {
        free(raw);
        return rc;
    }
    /* stage the raw bytes of a partial last bundle for the next batch */
    if (tile->width < TILE_WIDTH) {
        free(seq->next_bundle_raw);
        seq->next_bundle_raw = raw;
        seq->next_bundle_len = raw_len;
        seq->next_bundle_index = tile->index;
        seq->next_bundle_width = tile->width;
        seq->next_bundle_valid = true;
    } else {
        free(raw);
    }
    return LODE_OK;
}

static enum lode_code tile_write(struct ledger_sequencer *seq, struct db_conn *conn,
                                 const struct merkle_reader *overlay, const struct tile_id *tile,
                                 uint64_t new_size, struct lode_error *err)
{
    struct edge_tile *next = &seq->next_edge[tile->level];
    struct db_params p;
    enum lode_code rc;
    size_t len = 0;
    uint8_t *data = next->data; /* built in place: the staging slot of its level */
    uint64_t last = (tile_level_hashes(tile->level, new_size) - 1) / TILE_WIDTH;

    if (tile->index != last)
        data = malloc(TILE_DATA_BYTES_MAX);
    if (data == NULL)
        abort();
    rc = tile_data_build(overlay, tile, data, TILE_DATA_BYTES_MAX, &len);
    if (rc != LODE_OK) {
        if (data != next->data)
            free(data);
        if (rc == LODE_ENOTFOUND && seq->fetch_err.code != LODE_OK)
            *err = seq->fetch_err;
        else
            lode_error_set(err, rc == LODE_ENOTFOUND ? LODE_EINTERNAL : rc,
                           "could not build tile %u/%" PRIu64, tile->level, tile->index);
        return err != NULL ? err->code : rc;
    }
    db_params_init(&p);
    db_params_int64(&p, tile->level);
    db_params_int64(&p, (int64_t)tile->index);
    db_params_int64(&p, tile->width);
    db_params_bytes(&p, data, len);
    rc = db_query(conn,
                  "INSERT INTO ledger_tiles (level, idx, width, data) VALUES ($1, $2, $3, $4)"
                  " ON CONFLICT (level, idx) DO UPDATE SET width = EXCLUDED.width,"
                  " data = EXCLUDED.data",
                  &p, NULL, err);
    if (data != next->data) {
        free(data);
    } else if (rc == LODE_OK) {
        next->valid = true;
        next->index = tile->index;
        next->len = len;
    }
    return rc;
}

static enum lode_code batch_tx(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct ledger_sequencer *seq = arg;
    struct db_params p;
    PGresult *res = NULL;
    uint64_t old_size, new_size;
    size_t k, node_cap, node_count = 0, tile_cap, tile_count = 0, total = 0;
    int64_t *ids = NULL, *lens = NULL;
    uint8_t *entry_bytes = NULL, (*leaves)[MERKLE_HASH_BYTES] = NULL;
    uint8_t(*hashes)[MERKLE_HASH_BYTES] = NULL, root[MERKLE_HASH_BYTES];
    struct merkle_node *nodes = NULL;
    struct tile_bundle_entry *views = NULL;
    struct tile_id *tiles = NULL;
    struct merkle_reader base, over;
    struct overlay ov;
    char note[LEDGER_NOTE_BYTES_MAX], *ids_text = NULL, *lens_text = NULL;
    size_t note_len = 0;
    enum lode_code rc;

    seq->batch_count = 0;
    seq->next_bundle_valid = false;
    for (unsigned l = 0; l <= TILE_LEVEL_MAX; l++)
        seq->next_edge[l].valid = false;
    lode_error_clear(&seq->fetch_err);

    rc = leadership_check(seq, conn, err);
    if (rc != LODE_OK)
        return rc;
    /* the log's size is the latest checkpoint's, never what this process remembers */
    rc = db_query(conn, "SELECT size FROM ledger_checkpoints ORDER BY size DESC LIMIT 1", NULL,
                  &res, err);
    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) == 0) {
        PQclear(res);
        return lode_error_set(err, LODE_EINTERNAL,
                              "could not integrate: the log has no checkpoint");
    }
    old_size = (uint64_t)db_result_int64(res, 0, 0);
    PQclear(res);
    if (!seq->cache_valid || seq->cache_size != old_size) {
        cache_reset(seq);
        seq->cache_size = old_size;
        seq->cache_valid = true;
    }
    rc = dict_refresh(seq, conn, err);
    if (rc != LODE_OK)
        return rc;

    db_params_init(&p);
    db_params_int64(&p, seq->config.batch_max);
    rc = db_query(conn,
                  "SELECT id, entry FROM ledger_queue WHERE ledger_index IS NULL"
                  " ORDER BY id LIMIT $1 FOR UPDATE",
                  &p, &res, err);
    if (rc != LODE_OK)
        return rc;
    k = (size_t)PQntuples(res);
    if (k == 0) {
        PQclear(res);
        return LODE_OK;
    }
    if (old_size + k > MERKLE_TREE_SIZE_MAX) {
        PQclear(res);
        return lode_error_set(err, LODE_EINTERNAL, "could not integrate: the log is full");
    }
    new_size = old_size + k;
    for (size_t i = 0; i < k; i++)
        total += ledger_bytea_len(res, (int)i, 1);
    ids = malloc(k * sizeof *ids);
    lens = malloc(k * sizeof *lens);
    entry_bytes = malloc(total > 0 ? total : 1);
    leaves = malloc(k * sizeof *leaves);
    views = malloc(k * sizeof *views);
    if (ids == NULL || lens == NULL || entry_bytes == NULL || leaves == NULL || views == NULL)
        abort();
    for (size_t i = 0, pos = 0; i < k; i++) {
        size_t len = 0;
        ids[i] = db_result_int64(res, (int)i, 0);
        if (!ledger_bytea_read(res, (int)i, 1, entry_bytes + pos, total - pos, &len) || len == 0) {
            PQclear(res);
            rc =
                lode_error_set(err, LODE_EINTERNAL, "could not read queued entry %" PRId64, ids[i]);
            goto free_batch;
        }
        views[i].data = entry_bytes + pos;
        views[i].len = len;
        lens[i] = (int64_t)len;
        merkle_hash_leaf(entry_bytes + pos, len, leaves[i]);
        pos += len;
    }
    PQclear(res);

    /* the new nodes of the tree, then a reader that sees them over the stored tiles */
    node_cap = (size_t)merkle_append_count(old_size, k);
    nodes = malloc(node_cap * sizeof *nodes);
    hashes = malloc(node_cap * sizeof *hashes);
    if (nodes == NULL || hashes == NULL)
        abort();
    tile_hash_reader_init(&seq->thr, old_size, batch_fetch, seq, &base);
    rc = merkle_append(&base, old_size, (const uint8_t(*)[MERKLE_HASH_BYTES])leaves, k, nodes,
                       hashes, node_cap, &node_count);
    if (rc != LODE_OK) {
        if (seq->fetch_err.code != LODE_OK)
            *err = seq->fetch_err;
        else
            lode_error_set(err, LODE_EINTERNAL, "could not append to the tree of size %" PRIu64,
                           old_size);
        rc = err != NULL ? err->code : rc;
        goto free_batch;
    }
    ov.base = &base;
    ov.old_count = merkle_stored_count(old_size);
    ov.nodes = nodes;
    ov.hashes = (const uint8_t(*)[MERKLE_HASH_BYTES])hashes;
    ov.count = node_count;
    over.read_hashes = overlay_read;
    over.ctx = &ov;
    rc = merkle_tree_root(&over, new_size, root);
    if (rc != LODE_OK) {
        rc = lode_error_set(err, LODE_EINTERNAL, "could not compute the root of size %" PRIu64,
                            new_size);
        goto free_batch;
    }

    /* every changed hash tile and bundle */
    tile_cap = 2 * (k / TILE_WIDTH + 2) * (TILE_LEVEL_MAX + 1);
    tiles = malloc(tile_cap * sizeof *tiles);
    if (tiles == NULL)
        abort();
    rc = tile_list_changed(old_size, new_size, true, tiles, tile_cap, &tile_count);
    if (rc != LODE_OK) {
        rc = lode_error_set(err, LODE_EINTERNAL, "could not list the changed tiles");
        goto free_batch;
    }
    for (size_t i = 0; i < tile_count && rc == LODE_OK; i++) {
        if (tiles[i].entries)
            rc = bundle_write(seq, conn, &tiles[i], old_size, views, k, err);
        else
            rc = tile_write(seq, conn, &over, &tiles[i], new_size, err);
    }
    if (rc != LODE_OK)
        goto free_batch;

    /* the leaf index rows and the queue rows, one statement each */
    lens_text = array_literal(lens, k);
    db_params_init(&p);
    db_params_int64(&p, (int64_t)old_size);
    db_params_bytes(&p, leaves, k * MERKLE_HASH_BYTES);
    db_params_text(&p, lens_text);
    rc = db_query(conn,
                  "INSERT INTO ledger_leaves (ledger_index, leaf_hash, entry_bytes)"
                  " SELECT $1::bigint + u.o - 1, substring($2::bytea FROM ((u.o - 1) * 32 + 1)::int"
                  " FOR 32), u.len FROM unnest($3::int[]) WITH ORDINALITY AS u(len, o)",
                  &p, NULL, err);
    if (rc != LODE_OK)
        goto free_batch;
    ids_text = array_literal(ids, k);
    db_params_init(&p);
    db_params_int64(&p, (int64_t)old_size);
    db_params_text(&p, ids_text);
    rc = db_query(conn,
                  "UPDATE ledger_queue q SET ledger_index = $1::bigint + u.o - 1, entry = NULL,"
                  " integrated_at = now()"
                  " FROM unnest($2::bigint[]) WITH ORDINALITY AS u(id, o) WHERE q.id = u.id",
                  &p, &res, err);
    if (rc != LODE_OK)
        goto free_batch;
    if (strtoull(PQcmdTuples(res), NULL, 10) != k) {
        PQclear(res);
        rc = lode_error_set(err, LODE_EINTERNAL, "could not mark the batch's queue rows");
        goto free_batch;
    }
    PQclear(res);

    rc = checkpoint_sign(seq, new_size, root, note, sizeof note, &note_len, err);
    if (rc == LODE_OK)
        rc = checkpoint_insert(conn, new_size, root, note, false, err);
    if (rc == LODE_OK) {
        seq->batch_new_size = new_size;
        seq->batch_count = k;
    }

free_batch:
    free(ids);
    free(lens);
    free(entry_bytes);
    free(leaves);
    free(views);
    free(nodes);
    free(hashes);
    free(tiles);
    free(ids_text);
    free(lens_text);
    return rc;
}

/* Installs the staged caches after a commit at new_size. */
static void cache_commit(struct ledger_sequencer *seq, uint64_t new_size)
{
    for (unsigned l = 0; l <= TILE_LEVEL_MAX; l++) {
        if (seq->next_edge[l].valid) {
            seq->edge[l].valid = true;
            seq->edge[l].index = seq->next_edge[l].index;
            seq->edge[l].len = seq->next_edge[l].len;
            memcpy(seq->edge[l].data, seq->next_edge[l].data, seq->next_edge[l].len);
        }
    }
    if (seq->next_bundle_valid) {
        uint8_t *old = seq->bundle_raw;
        seq->bundle_raw = seq->next_bundle_raw;
        seq->bundle_len = seq->next_bundle_len;
        seq->bundle_index = seq->next_bundle_index;
        seq->bundle_width = seq->next_bundle_width;
        seq->bundle_valid = true;
        seq->next_bundle_raw = old;
        seq->next_bundle_valid = false;
    } else if (new_size % TILE_WIDTH == 0) {
        seq->bundle_valid = false; /* the last bundle is full: the next batch starts a new one */
    }
    seq->cache_size = new_size;
    seq->cache_valid = true;
}

/* Integrates one batch. Returns how many entries it integrated (0 when none or on failure). */
static size_t batch_run(struct ledger_sequencer *seq)
{
    struct lode_error err = {0};
    enum lode_code rc;

    rc = db_tx(seq->work_conn, DB_READ_COMMITTED, batch_tx, seq, &err);
    if (rc != LODE_OK) {
        cache_reset(seq);
        log_error("ledger_batch_failed", &err);
        if (seq->lost_lead)
            seq->lock_conn->broken = true; /* start over: reconnect, then try the lock */
        return 0;
    }
    if (seq->batch_count == 0)
        return 0;
    cache_commit(seq, seq->batch_new_size);
    if (seq->config.on_integrated != NULL)
        seq->config.on_integrated(seq->config.ctx, seq->batch_new_size);
    /* a failed training (entries too alike or too few bytes) is retried when the log doubled */
    if (!seq->have_dict && seq->batch_new_size >= seq->dict_train_at) {
        if (!dict_train(seq, seq->batch_new_size))
            seq->dict_train_at = seq->batch_new_size * 2;
    }
    return seq->batch_count;
}

/* Pending entries, at most `limit`; -1 on failure. */
static long pending_count(struct ledger_sequencer *seq, int limit)
{
    struct lode_error err = {0};
    struct db_params p;
    PGresult *res = NULL;
    long n;

    seq->queue_signalled = false;
    db_params_init(&p);
    db_params_int64(&p, limit);
    if (db_query(seq->work_conn,
                 "SELECT count(*) FROM (SELECT 1 FROM ledger_queue WHERE ledger_index IS NULL"
                 " LIMIT $1) s",
                 &p, &res, &err) != LODE_OK) {
        log_error("ledger_queue_count_failed", &err);
        return -1;
    }
    n = (long)db_result_int64(res, 0, 0);
    PQclear(res);
    return n;
}

static bool lock_try(struct ledger_sequencer *seq)
{
    struct lode_error err = {0};
    struct db_params p;
    PGresult *res = NULL;
    bool got;

    db_params_init(&p);
    db_params_int64(&p, LOCK_KEY);
    if (db_query(seq->lock_conn, "SELECT pg_try_advisory_lock($1)", &p, &res, &err) != LODE_OK) {
        log_error("ledger_lock_failed", &err);
        return false;
    }
    got = db_result_bool(res, 0, 0);
    PQclear(res);
    return got;
}

/* Sets the shared idle flag (not worth a WAL flush: a lost update costs one poll interval). */
static bool idle_mark(struct ledger_sequencer *seq, bool idle)
{
    struct lode_error err = {0};

    if (db_exec(seq->work_conn,
                idle ? "BEGIN; SET LOCAL synchronous_commit = off;"
                       " UPDATE ledger_sequencer_state SET idle = true; COMMIT"
                     : "BEGIN; SET LOCAL synchronous_commit = off;"
                       " UPDATE ledger_sequencer_state SET idle = false; COMMIT",
                &err) != LODE_OK) {
        log_error("ledger_idle_flag_failed", &err);
        db_exec(seq->work_conn, "ROLLBACK", NULL);
        return false;
    }
    seq->marked_idle = idle;
    return true;
}

/* Leader work: gather a batch (up to batch_max, for up to batch_delay_ms), integrate it. */
static void leader_step(struct ledger_sequencer *seq)
{
    long pending = pending_count(seq, seq->config.batch_max);

    if (pending < 0) {
        wait_for(seq, ERROR_PAUSE_MS);
        return;
    }
    if (pending == 0 && !seq->marked_idle) {
        /* ask enqueues to notify from now on, then look once more: an entry committed
         * before the flag was visible is found by this count or by the next poll */
        if (idle_mark(seq, true))
            pending = pending_count(seq, seq->config.batch_max);
        if (pending < 0) {
            wait_for(seq, ERROR_PAUSE_MS);
            return;
        }
    }
    if (pending > 0 && seq->marked_idle)
        idle_mark(seq, false);
    if (pending == 0) {
        wait_for(seq, IDLE_POLL_MS);
        if (!seq->queue_signalled) {
            struct lode_error err = {0};
            /* quiet: make sure the lock session is still there */
            if (db_ping(seq->lock_conn, &err) != LODE_OK)
                seq->lock_conn->broken = true;
        }
        return;
    }
    if (pending < seq->config.batch_max && seq->config.batch_delay_ms > 0) {
        int64_t deadline = now_ms() + seq->config.batch_delay_ms;
        while (pending >= 0 && pending < seq->config.batch_max && !atomic_load(&seq->stopping) &&
               now_ms() < deadline) {
            wait_for(seq, (int)(deadline - now_ms()));
            if (seq->queue_signalled)
                pending = pending_count(seq, seq->config.batch_max);
        }
    }
    if (batch_run(seq) == 0)
        wait_for(seq, ERROR_PAUSE_MS);
}

static void *sequencer_main(void *arg)
{
    struct ledger_sequencer *seq = arg;
    struct lode_error err = {0};

    while (!atomic_load(&seq->stopping)) {
        if (seq->lock_conn == NULL) {
            if (connections_open(seq, &err) != LODE_OK) {
                log_error("ledger_sequencer_connect_failed", &err);
                wait_for(seq, RECONNECT_PAUSE_MS);
                continue;
            }
        }
        notifications_drain(seq);
        if (!seq->leader && lock_try(seq)) {
            seq->leader = true;
            cache_reset(seq);
            log_emit(LOG_INFO, "ledger_sequencer_leader", "origin", seq->origin,
                     (const char *)LOG_END);
            if (db_tx(seq->work_conn, DB_READ_COMMITTED, genesis_tx, seq, &err) != LODE_OK)
                log_error("ledger_genesis_failed", &err);
        }
        if (seq->leader)
            leader_step(seq);
        else
            wait_for(seq, FOLLOWER_RETRY_MS);
        if (connections_broken(seq)) {
            log_emit(LOG_WARN, "ledger_sequencer_disconnected", (const char *)LOG_END);
            connections_close(seq);
        }
    }
    connections_close(seq); /* closing the lock session hands leadership on */
    return NULL;
}

/* ---- lifecycle ---- */

static void sequencer_free(struct ledger_sequencer *seq)
{
    if (seq == NULL)
        return;
    note_signer_wipe(&seq->signer);
    if (seq->have_dict) {
        bundle_dict_fini(&seq->dict_fast);
        bundle_dict_fini(&seq->dict_full);
    }
    free(seq->bundle_raw);
    free(seq->next_bundle_raw);
    free(seq->database_url);
    free(seq->origin);
    if (seq->wake[0] >= 0)
        close(seq->wake[0]);
    if (seq->wake[1] >= 0)
        close(seq->wake[1]);
    free(seq);
}

enum lode_code ledger_sequencer_start(const struct ledger_sequencer_config *config,
                                      struct ledger_sequencer **seq_out, struct lode_error *err)
{
    struct ledger_sequencer *seq;
    struct note_verifier v;
    uint8_t seed[NOTE_KEY_BYTES];
    enum lode_code rc;

    *seq_out = NULL;
    if (config == NULL || config->database_url == NULL || config->origin == NULL ||
        !note_name_is_valid(config->origin, strlen(config->origin)))
        return lode_error_set(err, LODE_EINVAL,
                              "the sequencer needs a database and a valid origin");
    if (config->batch_max < 1 || config->batch_max > LODE_LEDGER_BATCH_MAX)
        return lode_error_set(err, LODE_EINVAL, "batch_max must be from 1 to %d",
                              LODE_LEDGER_BATCH_MAX);
    if (config->batch_delay_ms < 0 || config->batch_delay_ms > LODE_LEDGER_BATCH_DELAY_MS_MAX)
        return lode_error_set(err, LODE_EINVAL, "batch_delay_ms must be from 0 to %d",
                              LODE_LEDGER_BATCH_DELAY_MS_MAX);
    if (sodium_init() < 0)
        return lode_error_set(err, LODE_EINTERNAL, "could not initialise libsodium");
    rc = key_load(config->signing_key_path, seed, err);
    if (rc != LODE_OK)
        return rc;
    seq = calloc(1, sizeof *seq);
    if (seq == NULL)
        abort();
    seq->wake[0] = seq->wake[1] = -1;
    seq->config = *config;
    seq->database_url = dup_text(config->database_url);
    seq->origin = dup_text(config->origin);
    seq->config.database_url = seq->database_url;
    seq->config.origin = seq->origin;
    seq->config.signing_key_path = NULL;
    seq->dict_train_at = DICT_TRAIN_ENTRIES;
    atomic_init(&seq->stopping, false);
    rc = note_signer_create(seq->origin, seed, &seq->signer);
    sodium_memzero(seed, sizeof seed);
    if (rc != LODE_OK) {
        sequencer_free(seq);
        return lode_error_set(err, LODE_EINVAL, "could not make a signer for origin \"%s\"",
                              config->origin);
    }
    note_signer_verifier(&seq->signer, &v);
    if (note_verifier_format(&v, seq->vkey, sizeof seq->vkey) != LODE_OK) {
        sequencer_free(seq);
        return lode_error_set(err, LODE_EINVAL, "could not format the verifier key");
    }
    if (pipe(seq->wake) != 0) {
        seq->wake[0] = seq->wake[1] = -1;
        sequencer_free(seq);
        return lode_error_set(err, LODE_EINTERNAL, "could not create a pipe: %s", strerror(errno));
    }
    rc = connections_open(seq, err);
    if (rc != LODE_OK) {
        sequencer_free(seq);
        return rc;
    }
    if (pthread_create(&seq->thread, NULL, sequencer_main, seq) != 0) {
        connections_close(seq);
        sequencer_free(seq);
        return lode_error_set(err, LODE_EINTERNAL, "could not start the sequencer thread");
    }
    *seq_out = seq;
    return LODE_OK;
}

void ledger_sequencer_stop(struct ledger_sequencer *seq)
{
    char byte = 1;

    if (seq == NULL)
        return;
    atomic_store(&seq->stopping, true);
    if (write(seq->wake[1], &byte, 1) < 0)
        log_emit(LOG_WARN, "ledger_sequencer_wake_failed", (const char *)LOG_END);
    pthread_join(seq->thread, NULL);
    sequencer_free(seq);
}

const char *ledger_sequencer_vkey(const struct ledger_sequencer *seq)
{
    return seq->vkey;
}

const char *ledger_sequencer_origin(const struct ledger_sequencer *seq)
{
    return seq->origin;
}
