/*
 * storage/pool.c — a bounded pool of worker threads, each owning one PostgreSQL connection.
 *
 * Invariants: at most queue_max jobs wait in the FIFO (submit refuses the next one instead of
 * blocking); a job is run by exactly one worker and `done` is called exactly once, also for
 * jobs that could not run (broken connection that cannot be re-established: LODE_EUNAVAIL).
 * A worker leaves its connection outside any transaction between jobs. Destroy lets queued
 * jobs finish. The mutex protects the queue and counters; connections belong to their worker.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "storage/db_internal.h"

struct worker {
    struct db_pool *pool;
    pthread_t thread;
    struct db_conn *conn; /* NULL after a failed reconnect */
};

struct db_pool {
    pthread_mutex_t mutex;
    pthread_cond_t work; /* signalled when a job is queued or the pool stops */
    struct db_job *head, *tail;
    int queued, queue_max, busy, size;
    bool stopping;
    uint64_t submitted, rejected;
    char *url;
    struct worker *workers;
};

#define POOL_SIZE_MAX 1024
#define POOL_QUEUE_MAX 1000000

/* Makes sure the worker has a usable connection; reconnects after a break. */
static enum lode_code ensure_conn(struct worker *w, struct lode_error *err)
{
    if (w->conn != NULL && !w->conn->broken && PQstatus(w->conn->pg) == CONNECTION_OK)
        return LODE_OK;
    db_conn_close(w->conn);
    w->conn = NULL;
    enum lode_code rc = db_conn_open(w->pool->url, &w->conn, err);
    if (rc != LODE_OK)
        log_msg(LOG_WARN, "db_reconnect_failed", "%s", err->log_detail);
    else
        log_emit(LOG_INFO, "db_reconnected", (const char *)LOG_END);
    return rc;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct db_pool *pool = w->pool;

    /* the lock is taken once per job: popping the next job also counts the last one finished */
    pthread_mutex_lock(&pool->mutex);
    for (;;) {
        struct db_job *job;

        while (pool->head == NULL && !pool->stopping)
            pthread_cond_wait(&pool->work, &pool->mutex);
        if (pool->head == NULL) /* stopping and drained */
            break;
        job = pool->head;
        pool->head = job->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pool->queued--;
        pool->busy++;
        pthread_mutex_unlock(&pool->mutex);

        job->next = NULL;
        lode_error_clear(&job->err);
        job->result = ensure_conn(w, &job->err);
        if (job->result == LODE_OK) {
            job->result = job->run(w->conn, job);
            /* a job that left a transaction open must not leak it into the next job */
            if (!w->conn->broken && PQtransactionStatus(w->conn->pg) != PQTRANS_IDLE) {
                PGresult *res = PQexec(w->conn->pg, "ROLLBACK");
                PQclear(res);
                if (PQstatus(w->conn->pg) == CONNECTION_BAD)
                    w->conn->broken = true;
            }
        }
        if (job->done != NULL)
            job->done(job); /* the job belongs to its owner again: not touched after this */

        pthread_mutex_lock(&pool->mutex);
        pool->busy--;
    }
    pthread_mutex_unlock(&pool->mutex);
    return NULL;
}

static void pool_free(struct db_pool *pool)
{
    for (int i = 0; i < pool->size; i++)
        db_conn_close(pool->workers[i].conn);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->mutex);
    free(pool->workers);
    free(pool->url);
    free(pool);
}

enum lode_code db_pool_create(const char *url, int size, int queue_max, struct db_pool **pool_out,
                              struct lode_error *err)
{
    struct db_pool *pool;
    int started = 0;

    *pool_out = NULL;
    if (size < 1 || size > POOL_SIZE_MAX)
        return lode_error_set(err, LODE_EINVAL, "pool size must be from 1 to %d", POOL_SIZE_MAX);
    if (queue_max < 1 || queue_max > POOL_QUEUE_MAX)
        return lode_error_set(err, LODE_EINVAL, "pool queue length must be from 1 to %d",
                              POOL_QUEUE_MAX);
    pool = calloc(1, sizeof *pool);
    if (pool == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the database pool");
    pool->size = size;
    pool->queue_max = queue_max;
    pool->url = strdup(url != NULL ? url : "");
    pool->workers = calloc((size_t)size, sizeof *pool->workers);
    pthread_mutex_init(&pool->mutex, NULL);
    pthread_cond_init(&pool->work, NULL);
    if (pool->url == NULL || pool->workers == NULL) {
        pool->size = 0;
        pool_free(pool);
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the database pool");
    }
    /* open every connection before starting a thread so a bad URL fails here, synchronously */
    for (int i = 0; i < size; i++) {
        enum lode_code rc;
        pool->workers[i].pool = pool;
        rc = db_conn_open(pool->url, &pool->workers[i].conn, err);
        if (rc != LODE_OK) {
            pool_free(pool);
            return rc;
        }
    }
    for (; started < size; started++)
        if (pthread_create(&pool->workers[started].thread, NULL, worker_main,
                           &pool->workers[started]) != 0)
            break;
    if (started < size) {
        pthread_mutex_lock(&pool->mutex);
        pool->stopping = true;
        pthread_cond_broadcast(&pool->work);
        pthread_mutex_unlock(&pool->mutex);
        for (int i = 0; i < started; i++)
            pthread_join(pool->workers[i].thread, NULL);
        pool_free(pool);
        return lode_error_set(err, LODE_EUNAVAIL, "could not start the database worker threads");
    }
    *pool_out = pool;
    return LODE_OK;
}

void db_pool_destroy(struct db_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->mutex);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->mutex);
    for (int i = 0; i < pool->size; i++)
        pthread_join(pool->workers[i].thread, NULL);
    pool_free(pool);
}

enum lode_code db_pool_submit(struct db_pool *pool, struct db_job *job)
{
    pthread_mutex_lock(&pool->mutex);
    if (pool->stopping || pool->queued >= pool->queue_max) {
        pool->rejected++;
        pthread_mutex_unlock(&pool->mutex);
        return LODE_EUNAVAIL;
    }
    job->next = NULL;
    if (pool->tail != NULL)
        pool->tail->next = job;
    else
        pool->head = job;
    pool->tail = job;
    pool->queued++;
    pool->submitted++;
    pthread_cond_signal(&pool->work);
    pthread_mutex_unlock(&pool->mutex);
    return LODE_OK;
}

void db_pool_stats(struct db_pool *pool, struct db_pool_stats *out)
{
    pthread_mutex_lock(&pool->mutex);
    out->size = pool->size;
    out->busy = pool->busy;
    out->queued = pool->queued;
    out->queue_max = pool->queue_max;
    out->submitted = pool->submitted;
    out->rejected = pool->rejected;
    pthread_mutex_unlock(&pool->mutex);
}
