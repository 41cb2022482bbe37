/*
 * bench/money_post.c — throughput of money_post (storage/money_store.h) on PostgreSQL.
 *
 *   money_post URL [POSTINGS] [ACCOUNTS]
 * Migrates the database at URL (use a throwaway one: bench/money_post.sh makes a cluster),
 * deposits into ACCOUNTS (default 1000) user accounts, then for 1 and 4 connections (one
 * thread each) runs POSTINGS (default 4000) postings in total, each in its own committed
 * READ COMMITTED transaction, each of two transfers: user a -> user b and user a -> an escrow.
 *   spread  the escrow is one of 64, accounts drawn at random: little contention;
 *   hot     every posting pays the same escrow: every transaction locks that one row.
 * After one uncounted warm-up run, prints the median postings/s of 3 runs, the transactions retried (deadlocks would show here)
 * and a conservation check of the whole journal at the end. Figures only.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "core/arena.h"
#include "storage/db.h"
#include "storage/money_store.h"

#define RUNS 3
#define SEED_AMOUNT 1000000000000LL

struct worker {
    const char *url;
    int postings;
    int accounts;
    bool hot;
    uint64_t rng;
    int failed;
    int retried;
    struct lode_error err;
};

struct post_arg {
    struct money_transfer t[2];
};

static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static enum lode_code post_fn(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct post_arg *a = arg;
    struct money_context ctx = {"bench", 1};
    return money_post(conn, a->t, 2, &ctx, NULL, err);
}

/* Counts the attempts of one transaction through a wrapper that runs fn. */
struct counted {
    struct post_arg *arg;
    int calls;
};

static enum lode_code counted_fn(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct counted *c = arg;
    c->calls++;
    return post_fn(conn, c->arg, err);
}

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    struct db_conn *conn = NULL;

    if (db_conn_open(w->url, &conn, &w->err) != LODE_OK) {
        w->failed = w->postings;
        return NULL;
    }
    for (int i = 0; i < w->postings; i++) {
        struct post_arg p;
        struct counted c = {&p, 0};
        int64_t a = 1 + (int64_t)(next_rand(&w->rng) % (uint64_t)w->accounts);
        int64_t b = 1 + (int64_t)(next_rand(&w->rng) % (uint64_t)(w->accounts - 1));
        if (b >= a)
            b++;
        memset(&p, 0, sizeof p);
        p.t[0].from = (struct money_account){MONEY_ACCOUNT_USER, a};
        p.t[0].to = (struct money_account){MONEY_ACCOUNT_USER, b};
        p.t[0].amount = 1 + (int64_t)(next_rand(&w->rng) % 100);
        p.t[0].reason = "bench_pay";
        p.t[1].from = p.t[0].from;
        p.t[1].to = (struct money_account){
            MONEY_ACCOUNT_ESCROW, w->hot ? 1 : 1 + (int64_t)(next_rand(&w->rng) % 64)};
        p.t[1].amount = 1;
        p.t[1].reason = "bond_stake";
        memcpy(p.t[0].currency, "EUR", 4);
        memcpy(p.t[1].currency, "EUR", 4);
        if (db_tx(conn, DB_READ_COMMITTED, counted_fn, &c, &w->err) != LODE_OK)
            w->failed++;
        if (c.calls > 1)
            w->retried += c.calls - 1;
    }
    db_conn_close(conn);
    return NULL;
}

static double run(const char *url, int threads, int postings, int accounts, bool hot,
                  uint64_t seed, int *failed_out, int *retried_out)
{
    struct worker w[4];
    pthread_t th[4];
    double t0, t1;

    for (int i = 0; i < threads; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].url = url;
        w[i].postings = postings / threads;
        w[i].accounts = accounts;
        w[i].hot = hot;
        w[i].rng = seed * 7919 + (uint64_t)i * 104729 + 1;
    }
    t0 = bench_now_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker_run, &w[i]);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    t1 = bench_now_s();
    for (int i = 0; i < threads; i++) {
        *failed_out += w[i].failed;
        *retried_out += w[i].retried;
        if (w[i].failed > 0)
            fprintf(stderr, "worker %d: %s\n", i, w[i].err.message);
    }
    return (double)(postings / threads * threads) / (t1 - t0);
}

int main(int argc, char **argv)
{
    struct db_conn *conn = NULL;
    struct lode_error err = {0};
    struct money_transfer *seed;
    struct money_context ctx = {"bench_seed", 0};
    struct arena *arena;
    struct money_total *totals;
    size_t total_count;
    int postings = argc > 2 ? atoi(argv[2]) : 4000;
    int accounts = argc > 3 ? atoi(argv[3]) : 1000;

    if (argc < 2 || postings < 4 || accounts < 2 || accounts > MONEY_POSTING_TRANSFERS_MAX) {
        fprintf(stderr, "usage: money_post URL [POSTINGS >= 4] [ACCOUNTS 2..%d]\n",
                MONEY_POSTING_TRANSFERS_MAX);
        return 2;
    }
    if (db_conn_open(argv[1], &conn, &err) != LODE_OK || db_migrate(conn, NULL, &err) != LODE_OK ||
        db_exec(conn, "BEGIN", &err) != LODE_OK) {
        fprintf(stderr, "could not prepare: %s %s\n", err.message, err.log_detail);
        return 3;
    }
    seed = calloc((size_t)accounts, sizeof *seed);
    if (seed == NULL)
        return 3;
    for (int i = 0; i < accounts; i++) {
        seed[i].from = (struct money_account){MONEY_ACCOUNT_EXTERNAL, 0};
        seed[i].to = (struct money_account){MONEY_ACCOUNT_USER, i + 1};
        memcpy(seed[i].currency, "EUR", 4);
        seed[i].amount = SEED_AMOUNT;
        seed[i].reason = "deposit";
    }
    if (money_post(conn, seed, (size_t)accounts, &ctx, NULL, &err) != LODE_OK ||
        db_exec(conn, "COMMIT", &err) != LODE_OK) {
        fprintf(stderr, "could not seed: %s %s\n", err.message, err.log_detail);
        return 3;
    }
    free(seed);
    printf("money_post: 2-transfer postings, one committed transaction each, %d postings per run,"
           " %d accounts, median of %d runs\n",
           postings, accounts, RUNS);
    {
        /* warm-up, not counted: caches, the first balance rows of every account */
        int failed = 0, retried = 0;
        run(argv[1], 4, postings, accounts, false, 99, &failed, &retried);
    }
    for (int hot = 0; hot <= 1; hot++)
        for (int threads = 1; threads <= 4; threads += 3) {
            double r[RUNS];
            int failed = 0, retried = 0;
            for (int i = 0; i < RUNS; i++)
                r[i] = run(argv[1], threads, postings, accounts, hot, (uint64_t)(i + 1),
                           &failed, &retried);
            qsort(r, RUNS, sizeof r[0], bench_cmp_double);
            printf("  %-6s %d connection%s: %.0f postings/s (runs %.0f..%.0f; %d retried,"
                   " %d failed)\n",
                   hot ? "hot" : "spread", threads, threads > 1 ? "s" : " ", r[RUNS / 2], r[0],
                   r[RUNS - 1], retried, failed);
        }
    arena = arena_create(1 << 20);
    if (arena == NULL || money_totals(conn, arena, &totals, &total_count, &err) != LODE_OK) {
        fprintf(stderr, "could not total: %s\n", err.message);
        return 3;
    }
    for (size_t i = 0; i < total_count; i++)
        printf("conservation %s: sum of balances %" PRId64 ", sum of lines %" PRId64
               ", balances = sums of lines: %s\n",
               totals[i].currency, totals[i].all, totals[i].lines,
               totals[i].lines_match ? "yes" : "NO");
    arena_destroy(arena);
    db_conn_close(conn);
    return 0;
}
