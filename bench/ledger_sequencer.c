/*
 * bench/ledger_sequencer.c — durable ledger throughput on PostgreSQL and bytes at rest.
 *
 *   ledger_sequencer [--database-url URL] [--producers N] [--delay-ms MS] [--scale X]
 *   (URL defaults to LODE_BENCH_DATABASE_URL; the role must be allowed to CREATE DATABASE)
 *
 * For batch sizes 1, 64, 256 and 1024, three runs each (median printed), every run in a fresh
 * database made on the same server and dropped afterwards:
 *   end-to-end  N producer threads, each with its own connection, enqueue ~300-byte canonical
 *               entries one committed transaction each (durable once acknowledged) while one
 *               sequencer integrates; time from the first enqueue until the checkpoint covers
 *               every entry.
 *   sequencer   the same number of entries queued beforehand (in one transaction), then the
 *               time one sequencer takes to integrate them all: the integration rate alone.
 * Then bytes per entry at rest (compressed bundles, hash tiles) against raw canonical JSON, from
 * the last batch-1024 run. Prints figures only.
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

#include "bench/bench.h"
#include "core/encoding.h"
#include "core/log.h"
#include "storage/db.h"
#include "storage/db_admin.h"
#include "storage/ledger_sequencer.h"
#include "storage/ledger_store.h"

#define RUNS 3
#define URL_BYTES 2048
#define ENTRY_BYTES_MAX 512
#define PRODUCERS_MAX 64

static const char *admin_url;
static char key_path[64];
static int producers = 8;
static int delay_ms = 2;
static double scale = 1.0;

static void die(const char *what, const struct lode_error *err)
{
    fprintf(stderr, "ledger_sequencer: %s: %s (%s)\n", what, err != NULL ? err->message : "",
            err != NULL ? err->log_detail : "");
    exit(3);
}

/* A canonical item.contributed entry of about 300 bytes (the shape the market writes). */
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

/* ---- scratch databases ---- */

static void db_make(const char *name, char url_out[URL_BYTES])
{
    struct lode_error err = {0};

    if (db_database_create(admin_url, name, url_out, URL_BYTES, &err) != LODE_OK) {
        fprintf(stderr, "ledger_sequencer: could not create database %s: %s %s\n", name,
                err.message, err.log_detail);
        exit(3);
    }
}

static void db_drop(const char *name)
{
    struct lode_error err = {0};

    if (db_database_drop(admin_url, name, &err) != LODE_OK)
        fprintf(stderr, "ledger_sequencer: could not drop database %s: %s\n", name, err.message);
}

/* ---- producers ---- */

struct producer {
    const char *url;
    unsigned seed, count;
};

static void *produce(void *arg)
{
    struct producer *pr = arg;
    struct lode_error err = {0};
    struct db_conn *conn = NULL;
    char entry[ENTRY_BYTES_MAX];
    int64_t id;

    if (db_conn_open(pr->url, &conn, &err) != LODE_OK)
        die("could not connect a producer", &err);
    for (unsigned i = 0; i < pr->count; i++) {
        size_t len = entry_make(pr->seed, i, entry);
        if (ledger_enqueue(conn, (const uint8_t *)entry, len, &id, &err) != LODE_OK)
            die("could not enqueue", &err);
    }
    db_conn_close(conn);
    return NULL;
}

static void wait_size(struct db_conn *conn, uint64_t size)
{
    struct ledger_checkpoint cp;
    struct lode_error err = {0};
    struct timespec ts = {0, 1000000};

    for (;;) {
        if (ledger_checkpoint_latest(conn, &cp, &err) == LODE_OK && cp.size >= size)
            return;
        nanosleep(&ts, NULL);
    }
}

static struct ledger_sequencer *seq_start(const char *url, int batch_max)
{
    struct ledger_sequencer_config cfg = {
        .database_url = url,
        .origin = "bench.example/lode",
        .signing_key_path = key_path,
        .batch_max = batch_max,
        .batch_delay_ms = delay_ms,
    };
    struct ledger_sequencer *seq = NULL;
    struct lode_error err = {0};

    if (ledger_sequencer_start(&cfg, &seq, &err) != LODE_OK)
        die("could not start the sequencer", &err);
    return seq;
}

/* One run: entries/s. end_to_end = producers enqueue concurrently; else pre-queued. */
/* Compressed and raw bundle bytes, split by whether a dictionary was used. */
struct split {
    double stored[2], raw[2], entries[2];
};

static void split_row(void *ctx, int ncols, const char *const *v)
{
    struct split *out = ctx;
    int d;

    if (ncols < 4 || v[0] == NULL)
        return;
    d = strcmp(v[0], "0") != 0;
    out->stored[d] = v[1] != NULL ? strtod(v[1], NULL) : 0;
    out->raw[d] = v[2] != NULL ? strtod(v[2], NULL) : 0;
    out->entries[d] = v[3] != NULL ? strtod(v[3], NULL) : 0;
}

static void split_read(const char *url, struct split *out)
{
    struct db_conn *conn = NULL;
    struct lode_error err = {0};

    memset(out, 0, sizeof *out);
    if (db_conn_open(url, &conn, &err) != LODE_OK)
        return;
    db_query_text(conn,
                  "SELECT (dictionary_id IS NOT NULL)::int, sum(octet_length(data)),"
                  " sum(raw_bytes - 2 * width), sum(width) FROM ledger_bundles GROUP BY 1",
                  split_row, out, &err);
    db_conn_close(conn);
}

static double run(int batch_max, unsigned entries, bool end_to_end, int seq_no,
                  struct ledger_storage_stats *stats_out, struct split *split_out)
{
    char name[64], url[URL_BYTES], entry[ENTRY_BYTES_MAX];
    struct lode_error err = {0};
    struct db_conn *conn = NULL;
    struct ledger_sequencer *seq;
    pthread_t threads[PRODUCERS_MAX];
    struct producer pr[PRODUCERS_MAX];
    double t0, t1;
    unsigned per = (entries + (unsigned)producers - 1) / (unsigned)producers;

    snprintf(name, sizeof name, "lode_bench_ledger_%d_%d", (int)getpid(), seq_no);
    db_make(name, url);
    if (db_conn_open(url, &conn, &err) != LODE_OK || db_migrate(conn, NULL, &err) != LODE_OK)
        die("could not prepare the database", &err);
    entries = per * (unsigned)producers;
    if (end_to_end) {
        seq = seq_start(url, batch_max);
        wait_size(conn, 0);
        t0 = bench_now_s();
        for (int i = 0; i < producers; i++) {
            pr[i].url = url;
            pr[i].seed = (unsigned)i;
            pr[i].count = per;
            if (pthread_create(&threads[i], NULL, produce, &pr[i]) != 0)
                die("could not start a producer", NULL);
        }
        for (int i = 0; i < producers; i++)
            pthread_join(threads[i], NULL);
    } else {
        int64_t id;
        if (db_exec(conn, "BEGIN", &err) != LODE_OK)
            die("could not begin", &err);
        for (unsigned i = 0; i < entries; i++) {
            size_t len = entry_make(i % (unsigned)producers, i / (unsigned)producers, entry);
            if (ledger_enqueue(conn, (const uint8_t *)entry, len, &id, &err) != LODE_OK)
                die("could not enqueue", &err);
        }
        if (db_exec(conn, "COMMIT", &err) != LODE_OK)
            die("could not commit", &err);
        t0 = bench_now_s();
        seq = seq_start(url, batch_max);
    }
    wait_size(conn, entries);
    t1 = bench_now_s();
    ledger_sequencer_stop(seq);
    if (stats_out != NULL && ledger_storage_stats(conn, stats_out, &err) != LODE_OK)
        die("could not read the storage figures", &err);
    if (split_out != NULL)
        split_read(url, split_out);
    db_conn_close(conn);
    db_drop(name);
    return entries / (t1 - t0);
}

int main(int argc, char **argv)
{
    static const int batches[] = {1, 64, 256, 1024};
    static const unsigned base_entries[] = {1500, 20000, 40000, 40000};
    struct ledger_storage_stats st = {0};
    struct split split = {0};
    uint8_t seed[32];
    char b64[BASE64_ENCODED_BYTES(32)];
    int fd, seq_no = 0;

    admin_url = getenv("LODE_BENCH_DATABASE_URL");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--database-url") == 0 && i + 1 < argc)
            admin_url = argv[++i];
        else if (strcmp(argv[i], "--producers") == 0 && i + 1 < argc)
            producers = atoi(argv[++i]);
        else if (strcmp(argv[i], "--delay-ms") == 0 && i + 1 < argc)
            delay_ms = atoi(argv[++i]);
        else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc)
            scale = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: ledger_sequencer [--database-url URL] [--producers N]"
                            " [--delay-ms MS] [--scale X]\n");
            return 2;
        }
    }
    if (admin_url == NULL || admin_url[0] == '\0') {
        fprintf(stderr, "ledger_sequencer: set LODE_BENCH_DATABASE_URL or --database-url\n");
        return 2;
    }
    if (producers < 1 || producers > PRODUCERS_MAX || delay_ms < 0 || delay_ms > 10000 ||
        scale <= 0 || scale > 100) {
        fprintf(stderr, "ledger_sequencer: producers 1..%d, delay 0..10000 ms, scale 0..100\n",
                PRODUCERS_MAX);
        return 2;
    }
    if (sodium_init() < 0)
        return 3;
    log_set_level(LOG_WARN);
    randombytes_buf(seed, sizeof seed);
    base64_encode(seed, sizeof seed, b64);
    snprintf(key_path, sizeof key_path, "/tmp/lode_bench_key_XXXXXX");
    fd = mkstemp(key_path);
    if (fd < 0 || write(fd, b64, strlen(b64)) != (ssize_t)strlen(b64))
        return 3;
    close(fd);

    printf("ledger sequencer on PostgreSQL: %d producers (one commit per entry), batch delay"
           " %d ms, median of %d runs\n",
           producers, delay_ms, RUNS);
    printf("%-6s %-9s %16s %16s\n", "batch", "entries", "end-to-end e/s", "sequencer e/s");
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        unsigned entries = (unsigned)(base_entries[b] * scale);
        double e2e[RUNS], seq_only[RUNS];
        if (entries < (unsigned)producers)
            entries = (unsigned)producers;
        for (int r = 0; r < RUNS; r++) {
            e2e[r] = run(batches[b], entries, true, seq_no++, NULL, NULL);
            seq_only[r] = run(batches[b], entries, false, seq_no++, batches[b] == 1024 ? &st : NULL,
                              batches[b] == 1024 ? &split : NULL);
        }
        qsort(e2e, RUNS, sizeof e2e[0], bench_cmp_double);
        qsort(seq_only, RUNS, sizeof seq_only[0], bench_cmp_double);
        printf("%-6d %-9u %16.0f %16.0f\n", batches[b], entries, e2e[RUNS / 2], seq_only[RUNS / 2]);
        fflush(stdout);
    }
    unlink(key_path);
    if (st.entries > 0) {
        printf("\nbytes at rest after %" PRIu64 " entries (dictionary version %d):\n", st.entries,
               st.dictionary_version);
        printf("  raw canonical JSON   %8.1f bytes/entry\n",
               (double)st.raw_entry_bytes / (double)st.entries);
        printf("  compressed bundles   %8.1f bytes/entry (%.2fx smaller)\n",
               (double)st.bundle_bytes / (double)st.entries,
               (double)st.raw_entry_bytes / (double)st.bundle_bytes);
        printf("  hash tiles           %8.1f bytes/entry\n",
               (double)st.tile_bytes / (double)st.entries);
        for (int d = 0; d < 2; d++)
            if (split.entries[d] > 0)
                printf("  bundles %-12s %8.1f bytes/entry over %.0f entries (raw %.1f)\n",
                       d ? "with dict" : "without dict", split.stored[d] / split.entries[d],
                       split.entries[d], split.raw[d] / split.entries[d]);
    }
    return 0;
}
