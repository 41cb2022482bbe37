/*
 * storage/db.h — PostgreSQL access: connections, a bounded worker pool, transactions, migrations.
 *
 * storage/ is the only module that includes libpq. Everything above it sees `struct db_conn`
 * (one PostgreSQL connection, used by one thread at a time) and the project's error codes;
 * SQLSTATEs are mapped to `enum lode_code` in exactly one place (db_error.c), keeping the
 * constraint name in `err->constraint` and PostgreSQL's own text in `err->log_detail` only.
 *
 * The pool owns `size` worker threads, each with its own connection, and a queue of at most
 * `queue_max` jobs. db_pool_submit() never blocks: when the queue is full it returns
 * LODE_EUNAVAIL so the caller can answer 503 with Retry-After. A job's `run` executes on a
 * worker with that worker's connection; then `done` is called on the same worker thread and
 * must hand the job back to its owner (for api/, by waking the owning event loop). A broken
 * connection is re-established before the next job.
 *
 * Transactions: db_tx() runs a function inside BEGIN ... COMMIT at the requested isolation and
 * retries it, a bounded number of times with jittered back-off, when PostgreSQL reports a
 * serialization failure (40001) or a deadlock (40P01); past the bound it returns LODE_EUNAVAIL
 * with retry_after_s set. Any other failure rolls back and is returned as is.
 */
#ifndef LODE_STORAGE_DB_H
#define LODE_STORAGE_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

struct db_conn;
struct db_pool;

/* Opens one connection (libpq URI or key=value string). Returns LODE_OK, LODE_EUNAVAIL. */
enum lode_code db_conn_open(const char *url, struct db_conn **conn_out, struct lode_error *err);
void db_conn_close(struct db_conn *conn);

/* Runs one or more SQL statements with no parameters and no result rows (DDL, SET ...).
 * Returns LODE_OK or the mapped error. */
enum lode_code db_exec(struct db_conn *conn, const char *sql, struct lode_error *err);

/* Round trip to the server; LODE_OK when it answers. */
enum lode_code db_ping(struct db_conn *conn, struct lode_error *err);

/* The database server's clock (clock_timestamp()) in milliseconds since the Unix epoch: one
 * clock for every replica, for deadlines that several replicas judge. */
enum lode_code db_now_ms(struct db_conn *conn, int64_t *now_ms, struct lode_error *err);

enum db_isolation { DB_READ_COMMITTED, DB_REPEATABLE_READ, DB_SERIALIZABLE };

/* Runs fn(conn, arg, err) inside a transaction with bounded retry (see above). fn returns
 * LODE_OK to commit; anything else rolls back and is returned. fn must be safe to run again. */
enum lode_code db_tx(struct db_conn *conn, enum db_isolation isolation,
                     enum lode_code (*fn)(struct db_conn *conn, void *arg, struct lode_error *err),
                     void *arg, struct lode_error *err);

/* ---- the worker pool ---- */

struct db_job {
    enum lode_code (*run)(struct db_conn *conn, struct db_job *job); /* on a worker */
    void (*done)(struct db_job *job);                                /* on the same worker */
    void *arg;
    enum lode_code result; /* set from run's return value before done */
    struct lode_error err; /* filled by run */
    struct db_job *next;   /* queue link, owned by the pool while queued */
};

struct db_pool_stats {
    int size;          /* worker threads (= connections) */
    int busy;          /* workers running a job now */
    int queued;        /* jobs waiting */
    int queue_max;
    uint64_t submitted; /* jobs accepted since start */
    uint64_t rejected;  /* jobs refused because the queue was full */
};

/* Creates the pool and opens all connections. Returns LODE_OK, LODE_EUNAVAIL (cannot connect),
 * LODE_EINVAL (size not 1 to 1024, queue_max not 1 to 1000000). */
enum lode_code db_pool_create(const char *url, int size, int queue_max, struct db_pool **pool_out,
                              struct lode_error *err);

/* Stops accepting jobs, finishes queued and running ones, closes connections, frees the pool. */
void db_pool_destroy(struct db_pool *pool);

/* Queues a job. Returns LODE_OK, or LODE_EUNAVAIL when the queue is full or the pool stops. */
enum lode_code db_pool_submit(struct db_pool *pool, struct db_job *job);

void db_pool_stats(struct db_pool *pool, struct db_pool_stats *out);

/* ---- migrations (migrations/NNNN_name.sql, embedded in the binary at build time) ---- */

struct db_migration {
    int version;       /* NNNN */
    const char *name;  /* file name */
    const char *sql;
};

/* The migrations compiled into this binary, in version order. */
const struct db_migration *db_migrations(size_t *count_out);

/* Applies every pending migration, each in its own transaction, under an advisory lock so
 * concurrent callers apply each exactly once; records version, name and SHA-256 checksum.
 * An applied migration whose checksum differs from the embedded file is LODE_ECONFLICT.
 * *applied_out (may be NULL) receives how many were applied now. */
enum lode_code db_migrate(struct db_conn *conn, int *applied_out, struct lode_error *err);

/* Which embedded migrations are applied: applied_out[i] for db_migrations()[i] (an array of
 * the count db_migrations() gives). Returns LODE_OK or the mapped error. */
enum lode_code db_migrations_status(struct db_conn *conn, bool *applied_out,
                                    struct lode_error *err);

/* LODE_OK when every embedded migration is applied with a matching checksum;
 * LODE_EUNAVAIL (with a message naming the first missing or changed one) otherwise. */
enum lode_code db_migrations_current(struct db_conn *conn, struct lode_error *err);

#endif
