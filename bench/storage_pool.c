/*
 * bench/storage_pool.c — throughput of the storage worker pool and of token authentication.
 *
 *   storage_pool URL [JOBS]
 * For pool sizes 1, 2 and 4: submits JOBS `SELECT 1` jobs (db_ping) to a pool whose queue holds
 * them all and times until the last `done`; prints the median jobs/s of 3 runs. Then times
 * token_authenticate() (one indexed lookup) on one connection in a scratch schema of the
 * database. Prints figures only; bench/storage_pool.sh runs pgbench beside it for a reference.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench.h"
#include "storage/account_store.h"
#include "storage/db.h"

#define RUNS 3

static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;
static int remaining;
static int failures;

static enum lode_code run_ping(struct db_conn *conn, struct db_job *job)
{
    return db_ping(conn, &job->err);
}

static void job_done(struct db_job *job)
{
    pthread_mutex_lock(&mutex);
    if (job->result != LODE_OK)
        failures++;
    if (--remaining == 0)
        pthread_cond_signal(&all_done);
    pthread_mutex_unlock(&mutex);
}

static double pool_run(const char *url, int size, int jobs_count)
{
    struct db_pool *pool = NULL;
    struct lode_error err = {0};
    struct db_job *jobs = calloc((size_t)jobs_count, sizeof *jobs);
    double t0, t1;

    if (jobs == NULL || db_pool_create(url, size, jobs_count, &pool, &err) != LODE_OK) {
        fprintf(stderr, "could not create the pool: %s %s\n", err.message, err.log_detail);
        exit(3);
    }
    remaining = jobs_count;
    t0 = bench_now_s();
    for (int i = 0; i < jobs_count; i++) {
        jobs[i].run = run_ping;
        jobs[i].done = job_done;
        if (db_pool_submit(pool, &jobs[i]) != LODE_OK)
            exit(3);
    }
    pthread_mutex_lock(&mutex);
    while (remaining > 0)
        pthread_cond_wait(&all_done, &mutex);
    pthread_mutex_unlock(&mutex);
    t1 = bench_now_s();
    db_pool_destroy(pool);
    free(jobs);
    return jobs_count / (t1 - t0);
}

static double auth_run(struct db_conn *conn, const char *token, int count)
{
    struct principal who;
    struct lode_error err = {0};
    double t0 = bench_now_s();

    for (int i = 0; i < count; i++)
        if (token_authenticate(conn, token, &who, &err) != LODE_OK) {
            fprintf(stderr, "could not authenticate: %s\n", err.message);
            exit(3);
        }
    return count / (bench_now_s() - t0);
}

int main(int argc, char **argv)
{
    const char *url;
    int jobs_count = 20000;
    double r[RUNS];
    struct db_conn *conn = NULL;
    struct lode_error err = {0};

    if (argc < 2) {
        fprintf(stderr, "usage: storage_pool URL [JOBS]\n");
        return 2;
    }
    url = argv[1];
    if (argc > 2)
        jobs_count = atoi(argv[2]);
    if (jobs_count < 100 || jobs_count > 10000000) {
        fprintf(stderr, "JOBS must be from 100 to 10000000\n");
        return 2;
    }
    printf("pool: %d SELECT 1 jobs per run, median of %d runs\n", jobs_count, RUNS);
    for (int size = 1; size <= 4; size *= 2) {
        for (int i = 0; i < RUNS; i++)
            r[i] = pool_run(url, size, jobs_count);
        qsort(r, RUNS, sizeof r[0], bench_cmp_double);
        printf("  pool size %d: %.0f jobs/s\n", size, r[RUNS / 2]);
    }
    if (failures > 0)
        printf("  (%d jobs failed)\n", failures);

    /* token authentication, one connection, against the migrated schema */
    if (db_conn_open(url, &conn, &err) != LODE_OK || db_migrate(conn, NULL, &err) != LODE_OK) {
        fprintf(stderr, "could not prepare: %s %s\n", err.message, err.log_detail);
        return 3;
    }
    struct account acct;
    struct api_token tok;
    char text[TOKEN_TEXT_BYTES];
    if (account_create(conn, "bench", ROLE_CONTRIBUTOR, &acct, &err) != LODE_OK ||
        token_create(conn, acct.id, "bench", &tok, text, &err) != LODE_OK) {
        fprintf(stderr, "could not create a token: %s\n", err.message);
        return 3;
    }
    for (int i = 0; i < RUNS; i++)
        r[i] = auth_run(conn, text, jobs_count / 4);
    qsort(r, RUNS, sizeof r[0], bench_cmp_double);
    printf("token_authenticate: %.0f /s on one connection (median of %d runs of %d)\n", r[RUNS / 2],
           RUNS, jobs_count / 4);
    db_conn_close(conn);
    return 0;
}
