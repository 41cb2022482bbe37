/*
 * tests/unit/storage/test_ledger_store.c — the ledger store and sequencer on real PostgreSQL.
 *
 * Every tile, bundle, checkpoint and proof read back is checked against a pure in-memory
 * recomputation (merkle_mem) of the entries in the order the database indexed them.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/encoding.h"
#include "ledger/merkle.h"
#include "ledger/note.h"
#include "ledger/tile.h"
#include "scratch_db.h"
#include "storage/db_internal.h"
#include "storage/ledger_sequencer.h"
#include "storage/ledger_store.h"
#include "test_main.h"

#define ORIGIN "test.example/lode"
#define ENTRY_BYTES_MAX 512
#define WAIT_MS_MAX 60000

static char key_path[64];

/* ---- helpers ---- */

/* A canonical item.contributed entry of about 300 bytes, different for each (seed, n). */
static size_t entry_make(unsigned seed, unsigned n, char out[ENTRY_BYTES_MAX])
{
    uint8_t h[64], in[8];
    char hex[HEX_ENCODED_BYTES(32)], sig[BASE64_ENCODED_BYTES(64)];

    memcpy(in, &seed, 4);
    memcpy(in + 4, &n, 4);
    crypto_hash_sha512(h, in, sizeof in);
    hex_encode(h, 32, hex);
    base64_encode(h, 64, sig);
    return (size_t)snprintf(out, ENTRY_BYTES_MAX,
                            "{\"account\":%u,\"dataset\":\"ds-%04u\",\"item_sha256\":\"%s\","
                            "\"licence\":\"CC-BY-4.0\",\"media_type\":\"text/plain\","
                            "\"signature\":\"%s\",\"size_bytes\":%u,"
                            "\"type\":\"item.contributed\"}",
                            1000 + seed, n % 97, hex, sig, 100 + n * 7);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static int64_t query_int(struct db_conn *conn, const char *sql)
{
    PGresult *res = NULL;
    struct lode_error err = {0};
    int64_t v = -1;

    if (db_query(conn, sql, NULL, &res, &err) == LODE_OK && PQntuples(res) == 1)
        v = db_result_int64(res, 0, 0);
    PQclear(res);
    return v;
}

static struct db_conn *fresh_db(char url[SCRATCH_URL_BYTES])
{
    struct lode_error err = {0};
    struct db_conn *conn;

    scratch_db_create(url);
    conn = scratch_db_connect(url);
    if (db_migrate(conn, NULL, &err) != LODE_OK) {
        fprintf(stderr, "could not migrate: %s (%s)\n", err.message, err.log_detail);
        abort();
    }
    return conn;
}

struct seen {
    atomic_uint_fast64_t max_size;
    atomic_int calls;
};

static void on_integrated(void *ctx, uint64_t size)
{
    struct seen *s = ctx;
    uint64_t cur = atomic_load(&s->max_size);
    while (size > cur && !atomic_compare_exchange_weak(&s->max_size, &cur, size))
        ;
    atomic_fetch_add(&s->calls, 1);
}

static struct ledger_sequencer *seq_start(const char *url, int batch_max, int delay_ms,
                                          struct seen *seen)
{
    struct ledger_sequencer_config cfg = {
        .database_url = url,
        .origin = ORIGIN,
        .signing_key_path = key_path,
        .batch_max = batch_max,
        .batch_delay_ms = delay_ms,
        .on_integrated = on_integrated,
        .ctx = seen,
    };
    struct ledger_sequencer *seq = NULL;
    struct lode_error err = {0};

    CU_ASSERT_FATAL(ledger_sequencer_start(&cfg, &seq, &err) == LODE_OK);
    return seq;
}

/* Waits until the latest checkpoint has `size` entries; false on time-out. */
static bool wait_size(struct db_conn *conn, uint64_t size)
{
    struct ledger_checkpoint cp;
    struct lode_error err = {0};

    for (int waited = 0; waited < WAIT_MS_MAX; waited += 20) {
        if (ledger_checkpoint_latest(conn, &cp, &err) == LODE_OK && cp.size >= size)
            return cp.size == size;
        sleep_ms(20);
    }
    return false;
}

struct producer {
    char url[SCRATCH_URL_BYTES];
    unsigned seed, count;
    int64_t *ids;
    bool ok;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    struct lode_error err = {0};
    struct db_conn *conn = NULL;
    char entry[ENTRY_BYTES_MAX];

    pr->ok = db_conn_open(pr->url, &conn, &err) == LODE_OK;
    for (unsigned i = 0; pr->ok && i < pr->count; i++) {
        size_t len = entry_make(pr->seed, i, entry);
        pr->ok = ledger_enqueue(conn, (const uint8_t *)entry, len, &pr->ids[i], &err) == LODE_OK;
    }
    db_conn_close(conn);
    return NULL;
}

/* Enqueues `per_thread` entries from each of `threads` threads (seeds seed0, seed0 + 1, ...). */
static void produce_all(const char *url, unsigned seed0, int threads, unsigned per_thread,
                        int64_t **ids_out)
{
    pthread_t t[8];
    struct producer pr[8];

    memset(pr, 0, sizeof pr);

    for (int i = 0; i < threads; i++) {
        snprintf(pr[i].url, sizeof pr[i].url, "%s", url);
        pr[i].seed = seed0 + (unsigned)i;
        pr[i].count = per_thread;
        pr[i].ids = ids_out[i];
        CU_ASSERT_FATAL(pthread_create(&t[i], NULL, produce, &pr[i]) == 0);
    }
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        CU_ASSERT(pr[i].ok);
    }
}

/* Checks the whole log against an in-memory recomputation: every queued entry (seeds
 * seed0.., per_thread each) has exactly one index, in queue order per producer; entries,
 * bundles, tiles, checkpoints, consistency and inclusion proofs all match. */
static void verify_log(struct db_conn *conn, const char *vkey, unsigned seed0, int threads,
                       unsigned per_thread, int64_t **ids)
{
    struct lode_error err = {0};
    uint64_t total = (uint64_t)threads * per_thread, size;
    char(*entries)[ENTRY_BYTES_MAX] = calloc(total, sizeof *entries);
    size_t *lens = calloc(total, sizeof *lens);
    bool *used = calloc(total, sizeof *used);
    uint8_t(*leaves)[MERKLE_HASH_BYTES] = calloc(total, sizeof *leaves);
    struct arena *arena = arena_create(0);
    struct merkle_mem mem;
    struct merkle_reader mr;
    struct note_verifier v;
    struct ledger_checkpoint cp;
    uint8_t proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    size_t proof_n = 0;
    bool unique = true, ordered = true, entries_ok = true;

    CU_ASSERT_FATAL(entries != NULL && lens != NULL && used != NULL && leaves != NULL);
    CU_ASSERT_FATAL(note_verifier_parse(vkey, strlen(vkey), &v, &err) == LODE_OK);
    CU_ASSERT_FATAL(ledger_checkpoint_latest(conn, &cp, &err) == LODE_OK);
    CU_ASSERT_EQUAL_FATAL(cp.size, total);
    size = cp.size;

    /* indices: unique, complete, increasing with queue id for each producer */
    for (int t = 0; t < threads; t++) {
        uint64_t prev = 0;
        for (unsigned i = 0; i < per_thread; i++) {
            bool integrated = false;
            uint64_t index = 0;
            uint8_t leaf[MERKLE_HASH_BYTES];
            char entry[ENTRY_BYTES_MAX];
            size_t len = entry_make(seed0 + (unsigned)t, i, entry);
            CU_ASSERT_FATAL(ledger_queue_lookup(conn, ids[t][i], &integrated, &index, leaf, &err) ==
                            LODE_OK);
            CU_ASSERT_FATAL(integrated && index < total);
            if (used[index])
                unique = false;
            used[index] = true;
            if (i > 0 && index <= prev)
                ordered = false;
            prev = index;
            memcpy(entries[index], entry, len);
            lens[index] = len;
            merkle_hash_leaf((const uint8_t *)entry, len, leaves[index]);
            if (memcmp(leaf, leaves[index], MERKLE_HASH_BYTES) != 0)
                entries_ok = false;
        }
    }
    CU_ASSERT(unique);
    CU_ASSERT(ordered);
    CU_ASSERT(entries_ok);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM ledger_queue WHERE entry IS NOT NULL"),
                    0);

    /* entries and leaf-hash lookups */
    for (uint64_t i = 0; i < total; i++) {
        uint8_t *got = NULL, leaf[MERKLE_HASH_BYTES];
        size_t len = 0;
        uint64_t index = UINT64_MAX;
        if (ledger_entry_read(conn, i, arena, &got, &len, leaf, &err) != LODE_OK ||
            len != lens[i] || memcmp(got, entries[i], len) != 0 ||
            memcmp(leaf, leaves[i], MERKLE_HASH_BYTES) != 0)
            entries_ok = false;
        if (ledger_index_by_leaf(conn, leaves[i], &index, &err) != LODE_OK || index != i)
            entries_ok = false;
        arena_reset(arena);
    }
    CU_ASSERT(entries_ok);

    /* every tile and bundle of the log, at its current width and at a narrower one */
    merkle_mem_init(&mem);
    CU_ASSERT_FATAL(merkle_mem_append(&mem, (const uint8_t(*)[MERKLE_HASH_BYTES])leaves, total) ==
                    LODE_OK);
    merkle_mem_reader(&mem, &mr);
    {
        struct tile_id tiles[256];
        size_t n = 0;
        bool tiles_ok = true;
        CU_ASSERT_FATAL(tile_list_changed(0, size, true, tiles, 256, &n) == LODE_OK);
        for (size_t i = 0; i < n; i++) {
            unsigned widths[2] = {tiles[i].width, 1};
            for (unsigned wi = 0; wi < (tiles[i].width > 1 ? 2u : 1u); wi++) {
                unsigned w = widths[wi];
                struct tile_id t = tiles[i];
                t.width = w;
                if (t.entries) {
                    struct tile_bundle_entry be[TILE_WIDTH];
                    uint8_t *want = malloc(TILE_WIDTH * (2 + ENTRY_BYTES_MAX)), *got = NULL;
                    size_t want_len = 0, got_len = 0;
                    for (unsigned j = 0; j < w; j++) {
                        be[j].data = (const uint8_t *)entries[t.index * TILE_WIDTH + j];
                        be[j].len = lens[t.index * TILE_WIDTH + j];
                    }
                    CU_ASSERT_FATAL(tile_bundle_encode(be, w, want,
                                                       TILE_WIDTH * (2 + ENTRY_BYTES_MAX),
                                                       &want_len) == LODE_OK);
                    if (ledger_bundle_read(conn, &t, arena, &got, &got_len, &err) != LODE_OK ||
                        got_len != want_len || memcmp(got, want, want_len) != 0)
                        tiles_ok = false;
                    free(want);
                    arena_reset(arena);
                } else {
                    uint8_t want[TILE_DATA_BYTES_MAX], got[TILE_DATA_BYTES_MAX];
                    size_t want_len = 0, got_len = 0;
                    CU_ASSERT_FATAL(tile_data_build(&mr, &t, want, sizeof want, &want_len) ==
                                    LODE_OK);
                    if (ledger_tile_read(conn, &t, got, &got_len, &err) != LODE_OK ||
                        got_len != want_len || memcmp(got, want, want_len) != 0)
                        tiles_ok = false;
                }
            }
        }
        CU_ASSERT(tiles_ok);
    }

    /* every checkpoint verifies and extends the one before; inclusion proofs verify */
    {
        PGresult *res = NULL;
        bool cps_ok = true, cons_ok = true, incl_ok = true;
        uint64_t prev_size = 0;
        uint8_t prev_root[MERKLE_HASH_BYTES];
        CU_ASSERT_FATAL(db_query(conn, "SELECT size FROM ledger_checkpoints ORDER BY size", NULL,
                                 &res, &err) == LODE_OK);
        CU_ASSERT(PQntuples(res) >= 2);
        for (int r = 0; r < PQntuples(res); r++) {
            uint64_t s = (uint64_t)db_result_int64(res, r, 0);
            struct checkpoint parsed;
            uint8_t root[MERKLE_HASH_BYTES];
            if (ledger_checkpoint_at_least(conn, s, &cp, &err) != LODE_OK || cp.size != s ||
                checkpoint_open(cp.note, cp.note_len, &v, &parsed, &err) != LODE_OK ||
                parsed.size != s || strcmp(parsed.origin, ORIGIN) != 0 ||
                merkle_tree_root(&mr, s, root) != LODE_OK ||
                memcmp(root, parsed.root, MERKLE_HASH_BYTES) != 0 ||
                memcmp(root, cp.root, MERKLE_HASH_BYTES) != 0) {
                cps_ok = false;
                continue;
            }
            if (r > 0) {
                if (ledger_prove_consistency(conn, prev_size, s, proof, &proof_n, &err) !=
                        LODE_OK ||
                    !merkle_verify_checkpoints_consistent(
                        prev_size, s, (const uint8_t(*)[MERKLE_HASH_BYTES])proof, proof_n,
                        prev_root, root) ||
                    (prev_size > 0 && !merkle_verify_consistency(
                                          prev_size, s, (const uint8_t(*)[MERKLE_HASH_BYTES])proof,
                                          proof_n, prev_root, root)))
                    cons_ok = false;
            }
            /* a few inclusion proofs at this size */
            for (uint64_t i = 0; s > 0 && i < s; i += s / 5 + 1) {
                if (ledger_prove_inclusion(conn, i, s, proof, &proof_n, &err) != LODE_OK ||
                    !merkle_verify_inclusion(
                        leaves[i], i, s, (const uint8_t(*)[MERKLE_HASH_BYTES])proof, proof_n, root))
                    incl_ok = false;
            }
            prev_size = s;
            memcpy(prev_root, root, MERKLE_HASH_BYTES);
        }
        PQclear(res);
        CU_ASSERT(cps_ok);
        CU_ASSERT(cons_ok);
        CU_ASSERT(incl_ok);
        /* every index at the latest size */
        for (uint64_t i = 0; i < size; i++) {
            uint8_t root[MERKLE_HASH_BYTES];
            merkle_tree_root(&mr, size, root);
            if (ledger_prove_inclusion(conn, i, size, proof, &proof_n, &err) != LODE_OK ||
                !merkle_verify_inclusion(leaves[i], i, size,
                                         (const uint8_t(*)[MERKLE_HASH_BYTES])proof, proof_n, root))
                incl_ok = false;
        }
        CU_ASSERT(incl_ok);
    }

    /* reads beyond the log */
    {
        struct tile_id t = {false, 0, size / TILE_WIDTH + 1, 1};
        uint8_t data[TILE_DATA_BYTES_MAX], *got = NULL, leaf[MERKLE_HASH_BYTES];
        size_t len = 0;
        CU_ASSERT_EQUAL(ledger_tile_read(conn, &t, data, &len, &err), LODE_ENOTFOUND);
        t.entries = true;
        CU_ASSERT_EQUAL(ledger_bundle_read(conn, &t, arena, &got, &len, &err), LODE_ENOTFOUND);
        t.entries = false;
        t.index = size / TILE_WIDTH;
        t.width = TILE_WIDTH;
        if (size % TILE_WIDTH != 0)
            CU_ASSERT_EQUAL(ledger_tile_read(conn, &t, data, &len, &err), LODE_ENOTFOUND);
        CU_ASSERT_EQUAL(ledger_entry_read(conn, size, arena, &got, &len, leaf, &err),
                        LODE_ENOTFOUND);
        CU_ASSERT_EQUAL(ledger_entry_read(conn, UINT64_MAX, arena, &got, &len, leaf, &err),
                        LODE_ENOTFOUND);
        CU_ASSERT_EQUAL(ledger_prove_inclusion(conn, 0, size + 1, proof, &proof_n, &err),
                        LODE_ENOTFOUND);
        CU_ASSERT_EQUAL(ledger_prove_inclusion(conn, size, size, proof, &proof_n, &err),
                        LODE_EINVAL);
        CU_ASSERT_EQUAL(ledger_prove_consistency(conn, size, 1, proof, &proof_n, &err),
                        LODE_EINVAL);
        CU_ASSERT_EQUAL(ledger_prove_consistency(conn, 1, size + 7, proof, &proof_n, &err),
                        LODE_ENOTFOUND);
        CU_ASSERT_EQUAL(ledger_checkpoint_at_least(conn, size + 1, &cp, &err), LODE_ENOTFOUND);
        memset(leaf, 0xab, sizeof leaf);
        uint64_t index = 0;
        CU_ASSERT_EQUAL(ledger_index_by_leaf(conn, leaf, &index, &err), LODE_ENOTFOUND);
    }

    merkle_mem_fini(&mem);
    arena_destroy(arena);
    free(entries);
    free(lens);
    free(used);
    free(leaves);
}

static int64_t **ids_alloc(int threads, unsigned per_thread)
{
    int64_t **ids = calloc((size_t)threads, sizeof *ids);
    for (int i = 0; i < threads; i++)
        ids[i] = calloc(per_thread, sizeof **ids);
    return ids;
}

static void ids_free(int64_t **ids, int threads)
{
    for (int i = 0; i < threads; i++)
        free(ids[i]);
    free(ids);
}

/* ---- tests ---- */

static void test_enqueue(void)
{
    char url[SCRATCH_URL_BYTES], entry[ENTRY_BYTES_MAX];
    struct db_conn *conn = fresh_db(url);
    struct lode_error err = {0};
    int64_t id = 0;
    bool integrated = true;
    uint64_t index = 0;
    uint8_t leaf[MERKLE_HASH_BYTES], *big;
    size_t len = entry_make(1, 1, entry);

    /* a rolled-back transaction leaves nothing */
    CU_ASSERT_EQUAL(db_exec(conn, "BEGIN", &err), LODE_OK);
    CU_ASSERT_EQUAL(ledger_enqueue(conn, (const uint8_t *)entry, len, &id, &err), LODE_OK);
    CU_ASSERT(id > 0);
    CU_ASSERT_EQUAL(db_exec(conn, "ROLLBACK", &err), LODE_OK);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM ledger_queue"), 0);
    CU_ASSERT_EQUAL(ledger_queue_lookup(conn, id, &integrated, &index, leaf, &err), LODE_ENOTFOUND);

    /* a committed one is pending with its leaf hash */
    CU_ASSERT_EQUAL(ledger_enqueue(conn, (const uint8_t *)entry, len, &id, &err), LODE_OK);
    CU_ASSERT_EQUAL(ledger_queue_lookup(conn, id, &integrated, &index, leaf, &err), LODE_OK);
    CU_ASSERT(!integrated);
    {
        uint8_t want[MERKLE_HASH_BYTES];
        merkle_hash_leaf((const uint8_t *)entry, len, want);
        CU_ASSERT_EQUAL(memcmp(leaf, want, sizeof want), 0);
    }

    /* bad entries */
    CU_ASSERT_EQUAL(ledger_enqueue(conn, (const uint8_t *)"{\"type\":\"nope\"}", 15, &id, &err),
                    LODE_EINVAL);
    CU_ASSERT_EQUAL(
        ledger_enqueue(conn, (const uint8_t *)"{ \"type\": \"item.flagged\"}", 25, &id, &err),
        LODE_EINVAL);
    big = calloc(1, 70000);
    CU_ASSERT_EQUAL(ledger_enqueue(conn, big, 70000, &id, &err), LODE_ETOOBIG);
    free(big);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM ledger_queue"), 1);

    /* nothing checkpointed yet */
    {
        struct ledger_checkpoint cp;
        CU_ASSERT_EQUAL(ledger_checkpoint_latest(conn, &cp, &err), LODE_ENOTFOUND);
    }
    db_conn_close(conn);
}

static void test_sequencer(void)
{
    enum { THREADS = 4, PER = 180 };
    char url[SCRATCH_URL_BYTES];
    struct db_conn *conn = fresh_db(url);
    struct seen seen;
    struct ledger_sequencer *seq;
    int64_t **ids = ids_alloc(THREADS, PER);
    struct ledger_storage_stats st;
    struct lode_error err = {0};

    atomic_init(&seen.max_size, 0);
    atomic_init(&seen.calls, 0);
    seq = seq_start(url, 64, 5, &seen);
    CU_ASSERT_STRING_EQUAL(ledger_sequencer_origin(seq), ORIGIN);
    CU_ASSERT(strncmp(ledger_sequencer_vkey(seq), ORIGIN "+", strlen(ORIGIN) + 1) == 0);
    /* the first leader writes the empty checkpoint */
    CU_ASSERT(wait_size(conn, 0));
    produce_all(url, 10, THREADS, PER, ids);
    CU_ASSERT_FATAL(wait_size(conn, THREADS * PER));
    /* on_integrated runs after the commit: wait for it to report the final size */
    for (int i = 0; i < 500 && atomic_load(&seen.max_size) < THREADS * PER; i++)
        sleep_ms(10);
    CU_ASSERT_EQUAL(atomic_load(&seen.max_size), THREADS * PER);
    CU_ASSERT(atomic_load(&seen.calls) >= (THREADS * PER) / 64);
    verify_log(conn, ledger_sequencer_vkey(seq), 10, THREADS, PER, ids);

    /* an index cannot be used twice, whatever a second writer tries */
    CU_ASSERT_EQUAL(
        db_exec(conn, "INSERT INTO ledger_leaves VALUES (5, sha256('x'::bytea), 1)", &err),
        LODE_ECONFLICT);
    CU_ASSERT_STRING_EQUAL(err.constraint, "ledger_leaves_pkey");
    CU_ASSERT_EQUAL(
        db_exec(conn, "UPDATE ledger_queue SET ledger_index = 7 WHERE ledger_index = 8", &err),
        LODE_ECONFLICT);
    CU_ASSERT_STRING_EQUAL(err.constraint, "ledger_queue_index_unique");

    CU_ASSERT_EQUAL(ledger_storage_stats(conn, &st, &err), LODE_OK);
    CU_ASSERT_EQUAL(st.entries, THREADS * PER);
    CU_ASSERT(st.raw_entry_bytes > 250 * st.entries);
    CU_ASSERT(st.bundle_bytes > 0 && st.bundle_bytes < st.raw_entry_bytes);
    CU_ASSERT(st.tile_bytes >= 32 * st.entries);
    CU_ASSERT_EQUAL(st.dictionary_version, 0);
    ledger_sequencer_stop(seq);
    ids_free(ids, THREADS);
    db_conn_close(conn);
}

static void test_two_sequencers(void)
{
    enum { THREADS = 3, PER = 150 };
    char url[SCRATCH_URL_BYTES];
    struct db_conn *conn = fresh_db(url);
    struct seen seen_a, seen_b;
    struct ledger_sequencer *a, *b;
    int64_t **ids = ids_alloc(THREADS + 1, PER);
    int64_t *later[THREADS + 1];

    atomic_init(&seen_a.max_size, 0);
    atomic_init(&seen_a.calls, 0);
    atomic_init(&seen_b.max_size, 0);
    atomic_init(&seen_b.calls, 0);
    char vkey[NOTE_KEY_TEXT_BYTES_MAX];

    /* a starts alone and leads (it writes the empty checkpoint); b waits for the lock */
    a = seq_start(url, 16, 2, &seen_a);
    CU_ASSERT_FATAL(wait_size(conn, 0));
    b = seq_start(url, 16, 2, &seen_b);
    snprintf(vkey, sizeof vkey, "%s", ledger_sequencer_vkey(b));
    CU_ASSERT_STRING_EQUAL(vkey, ledger_sequencer_vkey(a));
    produce_all(url, 20, THREADS, PER, ids);
    CU_ASSERT_FATAL(wait_size(conn, THREADS * PER));
    /* both learn the size: one integrated it, the other heard the notification */
    for (int i = 0; i < 500 && (atomic_load(&seen_a.max_size) < THREADS * PER ||
                                atomic_load(&seen_b.max_size) < THREADS * PER);
         i++)
        sleep_ms(10);
    CU_ASSERT_EQUAL(atomic_load(&seen_a.max_size), THREADS * PER);
    CU_ASSERT_EQUAL(atomic_load(&seen_b.max_size), THREADS * PER);

    /* stopping the leader lets b take over */
    ledger_sequencer_stop(a);
    for (int i = 0; i < THREADS; i++)
        later[i] = ids[i];
    later[THREADS] = ids[THREADS];
    produce_all(url, 20 + THREADS, 1, PER, &later[THREADS]);
    CU_ASSERT_FATAL(wait_size(conn, (THREADS + 1) * PER));
    for (int i = 0; i < 500 && atomic_load(&seen_b.max_size) < (THREADS + 1) * PER; i++)
        sleep_ms(10);
    CU_ASSERT(atomic_load(&seen_b.max_size) == (THREADS + 1) * PER);
    ledger_sequencer_stop(b);
    verify_log(conn, vkey, 20, THREADS + 1, PER, ids);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM ledger_leaves"), (THREADS + 1) * PER);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(DISTINCT ledger_index) FROM ledger_queue"),
                    (THREADS + 1) * PER);
    ids_free(ids, THREADS + 1);
    db_conn_close(conn);
}

static void test_dictionary(void)
{
    enum { PER = 600 };
    char url[SCRATCH_URL_BYTES], vkey[NOTE_KEY_TEXT_BYTES_MAX];
    struct db_conn *conn = fresh_db(url);
    struct seen seen;
    struct ledger_sequencer *seq;
    int64_t **ids = ids_alloc(3, PER);
    struct ledger_storage_stats before, after;
    struct lode_error err = {0};

    atomic_init(&seen.max_size, 0);
    atomic_init(&seen.calls, 0);
    seq = seq_start(url, 256, 2, &seen);
    snprintf(vkey, sizeof vkey, "%s", ledger_sequencer_vkey(seq));
    produce_all(url, 40, 2, PER, ids);
    CU_ASSERT_FATAL(wait_size(conn, 2 * PER));
    /* past 1024 entries the sequencer trains the first dictionary */
    memset(&before, 0, sizeof before);
    for (int i = 0; i < 1000; i++) {
        if (ledger_storage_stats(conn, &before, &err) == LODE_OK && before.dictionary_version > 0)
            break;
        sleep_ms(20);
    }
    CU_ASSERT_EQUAL_FATAL(before.dictionary_version, 1);
    produce_all(url, 42, 1, PER, &ids[2]);
    CU_ASSERT_FATAL(wait_size(conn, 3 * PER));
    ledger_sequencer_stop(seq);
    /* new bundles name the dictionary; the old full ones have none and stay readable */
    CU_ASSERT(query_int(conn, "SELECT count(*) FROM ledger_bundles"
                              " WHERE dictionary_id IS NOT NULL") >= 2);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM ledger_bundles"
                                    " WHERE dictionary_id IS NULL"),
                    4);
    CU_ASSERT_EQUAL(ledger_storage_stats(conn, &after, &err), LODE_OK);
    CU_ASSERT_EQUAL(after.entries, 3 * PER);
    CU_ASSERT(after.bundle_bytes < after.raw_entry_bytes);
    verify_log(conn, vkey, 40, 3, PER, ids);
    ids_free(ids, 3);
    db_conn_close(conn);
}

/* The server drops every connection of the sequencer: it reconnects, takes the lock again and
 * carries on from the latest checkpoint. */
static void test_reconnect(void)
{
    enum { PER = 200 };
    char url[SCRATCH_URL_BYTES], vkey[NOTE_KEY_TEXT_BYTES_MAX];
    struct db_conn *conn = fresh_db(url);
    struct seen seen;
    struct ledger_sequencer *seq;
    int64_t **ids = ids_alloc(2, PER);

    atomic_init(&seen.max_size, 0);
    atomic_init(&seen.calls, 0);
    seq = seq_start(url, 32, 1, &seen);
    snprintf(vkey, sizeof vkey, "%s", ledger_sequencer_vkey(seq));
    produce_all(url, 60, 1, PER, ids);
    CU_ASSERT_FATAL(wait_size(conn, PER));
    CU_ASSERT(query_int(conn, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                              " WHERE datname = current_database()"
                              " AND pid <> pg_backend_pid()") >= 3);
    produce_all(url, 61, 1, PER, &ids[1]);
    CU_ASSERT_FATAL(wait_size(conn, 2 * PER));
    ledger_sequencer_stop(seq);
    verify_log(conn, vkey, 60, 2, PER, ids);
    ids_free(ids, 2);
    db_conn_close(conn);
}

static void test_bad_config(void)
{
    struct ledger_sequencer_config cfg = {.database_url = "postgresql:///nonexistent",
                                          .origin = ORIGIN,
                                          .signing_key_path = key_path,
                                          .batch_max = 0,
                                          .batch_delay_ms = 0};
    struct ledger_sequencer *seq = NULL;
    struct lode_error err = {0};
    char bad_key[] = "/tmp/lode_ledger_badkey_XXXXXX";
    int fd;

    CU_ASSERT_EQUAL(ledger_sequencer_start(&cfg, &seq, &err), LODE_EINVAL);
    cfg.batch_max = 5000;
    CU_ASSERT_EQUAL(ledger_sequencer_start(&cfg, &seq, &err), LODE_EINVAL);
    cfg.batch_max = 10;
    cfg.batch_delay_ms = -1;
    CU_ASSERT_EQUAL(ledger_sequencer_start(&cfg, &seq, &err), LODE_EINVAL);
    cfg.batch_delay_ms = 1;
    cfg.origin = "has space";
    CU_ASSERT_EQUAL(ledger_sequencer_start(&cfg, &seq, &err), LODE_EINVAL);
    cfg.origin = ORIGIN;
    cfg.signing_key_path = "/nonexistent/key";
    CU_ASSERT_EQUAL(ledger_sequencer_start(&cfg, &seq, &err), LODE_EIO);
    fd = mkstemp(bad_key);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(write(fd, "not base64!\n", 12) == 12);
    close(fd);
    cfg.signing_key_path = bad_key;
    CU_ASSERT_EQUAL(ledger_sequencer_start(&cfg, &seq, &err), LODE_EINVAL);
    unlink(bad_key);
    CU_ASSERT_PTR_NULL(seq);
    ledger_sequencer_stop(NULL);
}

static const struct test_case ledger_cases[] = {
    {"enqueue", test_enqueue},
    {"bad config", test_bad_config},
    {"sequencer", test_sequencer},
    {"two sequencers", test_two_sequencers},
    {"dictionary", test_dictionary},
    {"reconnect", test_reconnect},
    {NULL, NULL},
};

static const struct test_suite suites[] = {
    {"storage/ledger", ledger_cases},
    {NULL, NULL},
};

int main(void)
{
    uint8_t seed[32];
    char b64[BASE64_ENCODED_BYTES(32)];
    int fd, rc;

    scratch_db_init();
    if (sodium_init() < 0)
        return 1;
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)(i * 7 + 1);
    base64_encode(seed, sizeof seed, b64);
    snprintf(key_path, sizeof key_path, "/tmp/lode_ledger_key_XXXXXX");
    fd = mkstemp(key_path);
    if (fd < 0 || write(fd, b64, strlen(b64)) != (ssize_t)strlen(b64) || write(fd, "\n", 1) != 1)
        return 1;
    close(fd);
    rc = test_main(suites);
    unlink(key_path);
    scratch_db_cleanup();
    return rc;
}
