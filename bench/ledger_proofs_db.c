/*
 * bench/ledger_proofs_db.c — proof latency on a large ledger stored in PostgreSQL.
 *
 *   ledger_proofs_db [--database-url URL] [--entries N]
 *   (URL defaults to LODE_BENCH_DATABASE_URL; the role must be allowed to CREATE DATABASE)
 *
 * In a fresh database made on that server (dropped afterwards):
 *   build        N ~300-byte canonical entries (default 1,000,000) are queued with
 *                ledger_enqueue in transactions of 10,000, then one sequencer (batch_max 4096)
 *                integrates them; the time until the latest checkpoint covers all N is printed,
 *                with the rate it implies.
 *   inclusion    on one connection, 2,000 pseudo-random indices: ledger_prove_inclusion(index, N)
 *                alone, and the same followed by merkle_verify_inclusion against the checkpoint
 *                root (the leaf hash comes from ledger_entry_read beforehand, not timed); for
 *                reference, the latency of one "SELECT 1" round trip on the same connection.
 *   consistency  200 pseudo-random pairs of checkpointed sizes 0 < from < to:
 *                ledger_prove_consistency, each proof checked outside the timed region.
 * Latencies are p50/p90/p99 in microseconds; each percentile is the median over 3 passes.
 * Prints figures only.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench.h"
#include "core/arena.h"
#include "core/encoding.h"
#include "core/log.h"
#include "ledger/merkle.h"
#include "storage/db.h"
#include "storage/db_admin.h"
#include "storage/ledger_sequencer.h"
#include "storage/ledger_store.h"

#define PASSES 3
#define PROBES 2000
#define PAIRS 200
#define TX_ENTRIES 10000
#define BATCH_MAX 4096
#define BATCH_DELAY_MS 2
#define ENTRIES_MAX UINT64_C(100000000)
#define URL_BYTES 2048
#define ENTRY_BYTES_MAX 512
#define SETTING_BYTES 128

static const char *admin_url;
static char key_path[64];

static void die(const char *what, const struct lode_error *err)
{
    fprintf(stderr, "ledger_proofs_db: %s: %s (%s)\n", what, err != NULL ? err->message : "",
            err != NULL ? err->log_detail : "");
    exit(3);
}

/* splitmix64: a fixed pseudo-random sequence, so every run probes the same indices. */
static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* A canonical item.contributed entry of about 300 bytes, distinct for every n. */
static size_t entry_make(uint64_t n, char out[ENTRY_BYTES_MAX])
{
    uint8_t digest[crypto_hash_sha512_BYTES], in[8];
    char hex[HEX_ENCODED_BYTES(32)], sig[BASE64_ENCODED_BYTES(64)];

    for (int i = 0; i < 8; i++)
        in[i] = (uint8_t)(n >> (8 * i));
    crypto_hash_sha512(digest, in, sizeof in);
    hex_encode(digest, 32, hex);
    base64_encode(digest, 64, sig);
    return (size_t)snprintf(out, ENTRY_BYTES_MAX,
                            "{\"account\":%" PRIu64 ",\"dataset\":\"ds-%04u\",\"item_sha256\":\"%s\","
                            "\"licence\":\"CC-BY-4.0\",\"media_type\":\"text/plain\","
                            "\"signature\":\"%s\",\"size_bytes\":%" PRIu64 ","
                            "\"type\":\"item.contributed\"}",
                            1000 + n % 8, (unsigned)(n % 97), hex, sig, 100 + n * 7);
}

/* ---- the scratch database ---- */

static void setting_row(void *ctx, int ncols, const char *const *v)
{
    if (ncols >= 1 && v[0] != NULL)
        snprintf(ctx, SETTING_BYTES, "%s", v[0]);
}

/* The server's value of a setting, for the header ("?" when it cannot be read). */
static void admin_setting(const char *sql, char out[SETTING_BYTES])
{
    struct db_conn *conn = NULL;
    struct lode_error err = {0};

    snprintf(out, SETTING_BYTES, "?");
    if (db_conn_open(admin_url, &conn, &err) != LODE_OK)
        return;
    db_query_text(conn, sql, setting_row, out, &err);
    db_conn_close(conn);
}

/* Creates database `name` and writes a connection string for it. */
static void db_make(const char *name, char url_out[URL_BYTES])
{
    struct lode_error err = {0};

    if (db_database_create(admin_url, name, url_out, URL_BYTES, &err) != LODE_OK)
        die("could not create the scratch database", &err);
}

static void db_drop(const char *name)
{
    struct lode_error err = {0};

    if (db_database_drop(admin_url, name, &err) != LODE_OK)
        fprintf(stderr, "ledger_proofs_db: could not drop database %s: %s\n", name, err.message);
}

static void key_file_write(void)
{
    uint8_t seed[32];
    char b64[BASE64_ENCODED_BYTES(32)];
    size_t len;
    int fd;

    randombytes_buf(seed, sizeof seed);
    base64_encode(seed, sizeof seed, b64);
    len = strlen(b64);
    snprintf(key_path, sizeof key_path, "/tmp/lode_bench_key_XXXXXX");
    fd = mkstemp(key_path);
    if (fd < 0 || write(fd, b64, len) != (ssize_t)len) {
        fprintf(stderr, "ledger_proofs_db: could not write the signing key file\n");
        exit(3);
    }
    close(fd);
    sodium_memzero(seed, sizeof seed);
}

/* ---- building the log ---- */

static double enqueue_all(struct db_conn *conn, uint64_t entries)
{
    struct lode_error err = {0};
    char entry[ENTRY_BYTES_MAX];
    int64_t id;
    double t0 = bench_now_s();

    for (uint64_t done = 0; done < entries;) {
        uint64_t end = done + TX_ENTRIES < entries ? done + TX_ENTRIES : entries;
        if (db_exec(conn, "BEGIN", &err) != LODE_OK)
            die("could not begin", &err);
        for (; done < end; done++) {
            size_t len = entry_make(done, entry);
            if (ledger_enqueue(conn, (const uint8_t *)entry, len, &id, &err) != LODE_OK)
                die("could not enqueue", &err);
        }
        if (db_exec(conn, "COMMIT", &err) != LODE_OK)
            die("could not commit", &err);
    }
    return bench_now_s() - t0;
}

/* Starts the sequencer and waits for a checkpoint of at least `entries`; returns the seconds. */
static double integrate_all(const char *url, struct db_conn *conn, uint64_t entries,
                            struct ledger_checkpoint *cp_out)
{
    struct ledger_sequencer_config cfg = {
        .database_url = url,
        .origin = "bench.example/lode",
        .signing_key_path = key_path,
        .batch_max = BATCH_MAX,
        .batch_delay_ms = BATCH_DELAY_MS,
    };
    struct ledger_sequencer *seq = NULL;
    struct lode_error err = {0};
    struct timespec pause = {0, 20 * 1000000}; /* polling lightly: the machine is small */
    double t0 = bench_now_s(), t1;

    if (ledger_sequencer_start(&cfg, &seq, &err) != LODE_OK)
        die("could not start the sequencer", &err);
    for (;;) {
        if (ledger_checkpoint_latest(conn, cp_out, &err) == LODE_OK && cp_out->size >= entries)
            break;
        nanosleep(&pause, NULL);
    }
    t1 = bench_now_s();
    ledger_sequencer_stop(seq);
    return t1 - t0;
}

/* ---- latency figures ---- */

struct percentiles {
    double p50, p90, p99;
};

static double nearest_rank(const double *sorted, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n + 0.999999);
    return sorted[rank == 0 ? 0 : rank - 1];
}

/* Sorts `us` in place and reads p50/p90/p99. */
static struct percentiles percentiles_of(double *us, size_t n)
{
    struct percentiles p;

    qsort(us, n, sizeof us[0], bench_cmp_double);
    p.p50 = nearest_rank(us, n, 0.50);
    p.p90 = nearest_rank(us, n, 0.90);
    p.p99 = nearest_rank(us, n, 0.99);
    return p;
}

/* Each percentile's median over the passes. */
static struct percentiles percentiles_median(const struct percentiles *passes)
{
    double a[PASSES], b[PASSES], c[PASSES];
    struct percentiles m;

    for (int i = 0; i < PASSES; i++) {
        a[i] = passes[i].p50;
        b[i] = passes[i].p90;
        c[i] = passes[i].p99;
    }
    qsort(a, PASSES, sizeof a[0], bench_cmp_double);
    qsort(b, PASSES, sizeof b[0], bench_cmp_double);
    qsort(c, PASSES, sizeof c[0], bench_cmp_double);
    m.p50 = a[PASSES / 2];
    m.p90 = b[PASSES / 2];
    m.p99 = c[PASSES / 2];
    return m;
}

/* hashes_mean < 0: not a proof, no hash count printed. */
static void percentiles_print(const char *label, const struct percentiles *passes,
                              double hashes_mean)
{
    struct percentiles m = percentiles_median(passes);

    printf("  %-34s p50 %9.1f  p90 %9.1f  p99 %9.1f us", label, m.p50, m.p90, m.p99);
    if (hashes_mean >= 0)
        printf("  (%.1f hashes/proof)", hashes_mean);
    printf("\n");
}

static void measure_inclusion(struct db_conn *conn, const struct ledger_checkpoint *cp)
{
    static uint64_t index[PROBES];
    static uint8_t leaf[PROBES][MERKLE_HASH_BYTES];
    static double us[PROBES];
    uint8_t proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    struct percentiles round_trip[PASSES], prove_only[PASSES], prove_verify[PASSES];
    struct lode_error err = {0};
    struct arena *arena = arena_create(1 << 20);
    uint64_t state = 42, hashes = 0;
    size_t count = 0;

    if (arena == NULL)
        die("could not create an arena", NULL);
    for (size_t i = 0; i < PROBES; i++) {
        uint8_t *entry = NULL;
        size_t len = 0;
        index[i] = next_random(&state) % cp->size;
        arena_reset(arena);
        if (ledger_entry_read(conn, index[i], arena, &entry, &len, leaf[i], &err) != LODE_OK)
            die("could not read an entry", &err);
    }
    arena_destroy(arena);

    for (int pass = 0; pass < PASSES; pass++) {
        for (size_t i = 0; i < PROBES; i++) {
            double t0 = bench_now_s();
            if (db_exec(conn, "SELECT 1", &err) != LODE_OK)
                die("could not run the reference query", &err);
            us[i] = (bench_now_s() - t0) * 1e6;
        }
        round_trip[pass] = percentiles_of(us, PROBES);
        for (size_t i = 0; i < PROBES; i++) {
            double t0 = bench_now_s();
            if (ledger_prove_inclusion(conn, index[i], cp->size, proof, &count, &err) != LODE_OK)
                die("could not prove inclusion", &err);
            us[i] = (bench_now_s() - t0) * 1e6;
            hashes += count;
        }
        prove_only[pass] = percentiles_of(us, PROBES);
        for (size_t i = 0; i < PROBES; i++) {
            double t0 = bench_now_s();
            if (ledger_prove_inclusion(conn, index[i], cp->size, proof, &count, &err) != LODE_OK)
                die("could not prove inclusion", &err);
            if (!merkle_verify_inclusion(leaf[i], index[i], cp->size,
                                         (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count,
                                         cp->root))
                die("an inclusion proof did not verify", NULL);
            us[i] = (bench_now_s() - t0) * 1e6;
        }
        prove_verify[pass] = percentiles_of(us, PROBES);
    }
    printf("inclusion proofs, %d random indices in a tree of %" PRIu64 ", one connection:\n",
           PROBES, cp->size);
    percentiles_print("reference: one SELECT 1 round trip", round_trip, -1.0);
    percentiles_print("ledger_prove_inclusion", prove_only,
                      (double)hashes / (double)(PASSES * PROBES));
    percentiles_print("prove + merkle_verify_inclusion", prove_verify,
                      (double)hashes / (double)(PASSES * PROBES));
}

struct sized_root {
    uint64_t size;
    uint8_t root[MERKLE_HASH_BYTES];
};

struct size_list {
    uint64_t *sizes;
    size_t count, cap;
};

static void size_row(void *ctx, int ncols, const char *const *v)
{
    struct size_list *l = ctx;

    if (ncols < 1 || v[0] == NULL)
        return;
    if (l->count == l->cap) {
        size_t cap = l->cap != 0 ? l->cap * 2 : 256;
        uint64_t *n = realloc(l->sizes, cap * sizeof *n);
        if (n == NULL)
            die("could not allocate the checkpoint list", NULL);
        l->sizes = n;
        l->cap = cap;
    }
    l->sizes[l->count++] = strtoull(v[0], NULL, 10);
}

/* Every checkpointed size above 0 with its root, ascending; returns how many. */
static size_t checkpoint_sizes(const char *url, struct sized_root **out)
{
    struct db_conn *conn = NULL;
    struct lode_error err = {0};
    struct ledger_checkpoint cp;
    struct size_list list = {0};

    if (db_conn_open(url, &conn, &err) != LODE_OK)
        die("could not connect", &err);
    if (db_query_text(conn, "SELECT size FROM ledger_checkpoints WHERE size > 0 ORDER BY size",
                      size_row, &list, &err) != LODE_OK)
        die("could not list checkpoints", &err);
    *out = calloc(list.count > 0 ? list.count : 1, sizeof **out);
    if (*out == NULL)
        die("could not allocate the checkpoint list", NULL);
    for (size_t i = 0; i < list.count; i++) {
        (*out)[i].size = list.sizes[i];
        if (ledger_checkpoint_at_least(conn, list.sizes[i], &cp, &err) != LODE_OK ||
            cp.size != list.sizes[i])
            die("could not read a checkpoint", &err);
        memcpy((*out)[i].root, cp.root, MERKLE_HASH_BYTES);
    }
    db_conn_close(conn);
    free(list.sizes);
    return list.count;
}

static void measure_consistency(const char *url, struct db_conn *conn)
{
    static double us[PAIRS];
    static size_t from[PAIRS], to[PAIRS];
    uint8_t proof[MERKLE_PROOF_HASHES_MAX][MERKLE_HASH_BYTES];
    struct percentiles passes[PASSES];
    struct lode_error err = {0};
    struct sized_root *cps = NULL;
    size_t n = checkpoint_sizes(url, &cps), count = 0;
    uint64_t state = 7, hashes = 0;

    if (n < 2) {
        printf("consistency proofs: fewer than two non-empty checkpoints, not measured\n");
        free(cps);
        return;
    }
    for (size_t i = 0; i < PAIRS; i++) {
        size_t a = (size_t)(next_random(&state) % n), b;
        do
            b = (size_t)(next_random(&state) % n);
        while (b == a);
        from[i] = a < b ? a : b;
        to[i] = a < b ? b : a;
    }
    for (int pass = 0; pass < PASSES; pass++) {
        for (size_t i = 0; i < PAIRS; i++) {
            const struct sized_root *f = &cps[from[i]], *t = &cps[to[i]];
            double t0 = bench_now_s();
            if (ledger_prove_consistency(conn, f->size, t->size, proof, &count, &err) != LODE_OK)
                die("could not prove consistency", &err);
            us[i] = (bench_now_s() - t0) * 1e6;
            hashes += count;
            if (!merkle_verify_consistency(f->size, t->size,
                                           (const uint8_t(*)[MERKLE_HASH_BYTES])proof, count,
                                           f->root, t->root))
                die("a consistency proof did not verify", NULL);
        }
        passes[pass] = percentiles_of(us, PAIRS);
    }
    printf("consistency proofs, %d random pairs among %zu checkpointed sizes (each verified,"
           " untimed):\n",
           PAIRS, n);
    percentiles_print("ledger_prove_consistency", passes, (double)hashes / (double)(PASSES * PAIRS));
    free(cps);
}

int main(int argc, char **argv)
{
    char name[64], url[URL_BYTES], version[SETTING_BYTES], fsync_on[SETTING_BYTES];
    struct lode_error err = {0};
    struct db_conn *conn = NULL;
    struct ledger_checkpoint cp;
    uint64_t entries = 1000000;
    double enqueue_s, integrate_s;

    admin_url = getenv("LODE_BENCH_DATABASE_URL");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--database-url") == 0 && i + 1 < argc) {
            admin_url = argv[++i];
        } else if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc) {
            char *end = NULL;
            entries = strtoull(argv[++i], &end, 10);
            if (end == argv[i] || *end != '\0' || entries < 1 || entries > ENTRIES_MAX) {
                fprintf(stderr, "ledger_proofs_db: --entries takes 1 .. %" PRIu64 "\n",
                        ENTRIES_MAX);
                return 2;
            }
        } else {
            fprintf(stderr, "usage: ledger_proofs_db [--database-url URL] [--entries N]\n");
            return 2;
        }
    }
    if (admin_url == NULL || admin_url[0] == '\0') {
        fprintf(stderr, "ledger_proofs_db: set LODE_BENCH_DATABASE_URL or --database-url\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 3;
    log_set_level(LOG_WARN);
    key_file_write();
    admin_setting("SHOW server_version", version);
    admin_setting("SHOW fsync", fsync_on);

    printf("ledger proofs on PostgreSQL %s (fsync %s), %ld cores online, N = %" PRIu64
           " entries\n",
           version, fsync_on, sysconf(_SC_NPROCESSORS_ONLN), entries);
    fflush(stdout);

    snprintf(name, sizeof name, "lode_bench_proofs_%d", (int)getpid());
    db_make(name, url);
    if (db_conn_open(url, &conn, &err) != LODE_OK || db_migrate(conn, NULL, &err) != LODE_OK)
        die("could not prepare the database", &err);

    enqueue_s = enqueue_all(conn, entries);
    printf("enqueue   %" PRIu64 " entries in transactions of %d: %.1f s (%.0f entries/s)\n",
           entries, TX_ENTRIES, enqueue_s, (double)entries / enqueue_s);
    fflush(stdout);
    integrate_s = integrate_all(url, conn, entries, &cp);
    printf("integrate one sequencer, batch_max %d, delay %d ms: %.1f s (%.0f entries/s),"
           " checkpoint size %" PRIu64 "\n",
           BATCH_MAX, BATCH_DELAY_MS, integrate_s, (double)entries / integrate_s, cp.size);
    printf("latencies are the median over %d passes of each percentile\n", PASSES);
    fflush(stdout);

    measure_inclusion(conn, &cp);
    fflush(stdout);
    measure_consistency(url, conn);

    db_conn_close(conn);
    db_drop(name);
    unlink(key_path);
    return 0;
}
