/*
 * tests/unit/storage/test_db.c — SQLSTATE mapping, transactions with retry, the worker pool
 * and the migration runner, against a real PostgreSQL (scratch databases).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "scratch_db.h"
#include "storage/db.h"
#include "storage/db_internal.h"
#include "test_main.h"

static char url[SCRATCH_URL_BYTES]; /* shared scratch database for error, tx and pool tests */

static struct db_conn *connect_shared(void)
{
    return scratch_db_connect(url);
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

/* ---- SQLSTATE mapping ---- */

static void test_sqlstate_table(void)
{
    CU_ASSERT_EQUAL(db_sqlstate_code("23505"), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(db_sqlstate_code("23P01"), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(db_sqlstate_code("23503"), LODE_ENOTFOUND);
    CU_ASSERT_EQUAL(db_sqlstate_code("23514"), LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(db_sqlstate_code("23502"), LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(db_sqlstate_code("22P02"), LODE_EINVAL);
    CU_ASSERT_EQUAL(db_sqlstate_code("22003"), LODE_EINVAL);
    CU_ASSERT_EQUAL(db_sqlstate_code("22021"), LODE_EINVAL);
    CU_ASSERT_EQUAL(db_sqlstate_code("40001"), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(db_sqlstate_code("40P01"), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(db_sqlstate_code("57014"), LODE_ETIMEOUT);
    CU_ASSERT_EQUAL(db_sqlstate_code("55P03"), LODE_ETIMEOUT);
    CU_ASSERT_EQUAL(db_sqlstate_code("08006"), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(db_sqlstate_code("08001"), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(db_sqlstate_code("53300"), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(db_sqlstate_code("57P01"), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(db_sqlstate_code("42601"), LODE_EINTERNAL);
    CU_ASSERT_EQUAL(db_sqlstate_code("42P01"), LODE_EINTERNAL);
    CU_ASSERT_EQUAL(db_sqlstate_code("XX000"), LODE_EINTERNAL);
    CU_ASSERT_EQUAL(db_sqlstate_code(NULL), LODE_EINTERNAL);
    CU_ASSERT_EQUAL(db_sqlstate_code("2350"), LODE_EINTERNAL);
    CU_ASSERT_TRUE(db_sqlstate_is_retryable("40001"));
    CU_ASSERT_TRUE(db_sqlstate_is_retryable("40P01"));
    CU_ASSERT_FALSE(db_sqlstate_is_retryable("40002"));
    CU_ASSERT_FALSE(db_sqlstate_is_retryable(NULL));
}

static enum lode_code insert_row(struct db_conn *conn, const char *k, const char *parent,
                                 const char *v, struct lode_error *err)
{
    struct db_params p;

    db_params_init(&p);
    db_params_text(&p, k);
    db_params_text(&p, parent);
    db_params_text(&p, v);
    return db_query(conn, "INSERT INTO child (k, parent_id, v) VALUES ($1, $2::int, $3::int)", &p,
                    NULL, err);
}

static void test_errors_from_server(void)
{
    struct db_conn *conn = connect_shared();
    struct lode_error err = {0};

    CU_ASSERT_EQUAL(db_exec(conn,
                            "CREATE TABLE parent (id int PRIMARY KEY);"
                            "INSERT INTO parent VALUES (1);"
                            "CREATE TABLE child (k text CONSTRAINT child_k_unique UNIQUE,"
                            " parent_id int CONSTRAINT child_parent_fk REFERENCES parent (id),"
                            " v int NOT NULL CONSTRAINT child_v_positive CHECK (v > 0))",
                            &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(insert_row(conn, "a", "1", "5", &err), LODE_OK);

    CU_ASSERT_EQUAL(insert_row(conn, "a", "1", "5", &err), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(err.code, LODE_ECONFLICT);
    CU_ASSERT_STRING_EQUAL(err.constraint, "child_k_unique");
    CU_ASSERT_PTR_NOT_NULL(strstr(err.log_detail, "23505"));
    CU_ASSERT_PTR_NULL(strstr(err.message, "child")); /* server text stays out */
    CU_ASSERT_PTR_NULL(strstr(err.message, "violates"));

    CU_ASSERT_EQUAL(insert_row(conn, "b", "1", "-1", &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_STRING_EQUAL(err.constraint, "child_v_positive");

    CU_ASSERT_EQUAL(insert_row(conn, "c", "9", "1", &err), LODE_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(err.constraint, "child_parent_fk");

    CU_ASSERT_EQUAL(insert_row(conn, "d", "1", NULL, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.log_detail, "23502"));

    CU_ASSERT_EQUAL(insert_row(conn, "e", "1", "seven", &err), LODE_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.log_detail, "22P02"));
    CU_ASSERT_STRING_EQUAL(err.constraint, "");

    CU_ASSERT_EQUAL(insert_row(conn, "f", "1", "99999999999", &err), LODE_EINVAL);

    /* a value is data, never SQL */
    CU_ASSERT_EQUAL(insert_row(conn, "x'); DROP TABLE child; --", "1", "3", &err), LODE_OK);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM child"), 2);

    CU_ASSERT_EQUAL(db_exec(conn, "SELEC 1", &err), LODE_EINTERNAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.log_detail, "42601"));
    CU_ASSERT_EQUAL(db_exec(conn, "SELECT * FROM no_such_table", &err), LODE_EINTERNAL);

    CU_ASSERT_EQUAL(db_exec(conn, "SET statement_timeout = 50", &err), LODE_OK);
    CU_ASSERT_EQUAL(db_exec(conn, "SELECT pg_sleep(5)", &err), LODE_ETIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.log_detail, "57014"));
    CU_ASSERT_EQUAL(db_exec(conn, "RESET statement_timeout", &err), LODE_OK);
    CU_ASSERT_EQUAL(db_ping(conn, &err), LODE_OK);

    /* the server's clock: it moves forward, and the test server runs on this machine */
    int64_t first_ms = 0, next_ms = 0;
    struct timespec ts;
    CU_ASSERT_EQUAL(db_now_ms(conn, &first_ms, &err), LODE_OK);
    CU_ASSERT_EQUAL(db_now_ms(conn, &next_ms, &err), LODE_OK);
    clock_gettime(CLOCK_REALTIME, &ts);
    CU_ASSERT_TRUE(next_ms >= first_ms);
    CU_ASSERT_TRUE(llabs(next_ms - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000)) < 60000);
    db_conn_close(conn);
}

static void test_connection_failures(void)
{
    struct db_conn *conn = NULL;
    struct lode_error err = {0};

    CU_ASSERT_EQUAL(
        db_conn_open("host=/nonexistent-socket-dir dbname=x connect_timeout=2", &conn, &err),
        LODE_EUNAVAIL);
    CU_ASSERT_PTR_NULL(conn);
    CU_ASSERT_EQUAL(err.retry_after_s, 1);
    CU_ASSERT_NOT_EQUAL(err.log_detail[0], '\0');
    CU_ASSERT_EQUAL(db_conn_open("postgresql://[bad", &conn, &err), LODE_EUNAVAIL);

    /* the server ends the session: the connection is marked broken and the code is 503 */
    conn = connect_shared();
    CU_ASSERT_EQUAL(query_int(conn, "SELECT 1"), 1);
    CU_ASSERT_EQUAL(db_exec(conn, "SELECT pg_terminate_backend(pg_backend_pid())", &err),
                    LODE_EUNAVAIL);
    CU_ASSERT_TRUE(conn->broken);
    CU_ASSERT_EQUAL(db_ping(conn, &err), LODE_EUNAVAIL);
    int64_t now_ms = -1;
    CU_ASSERT_EQUAL(db_now_ms(conn, &now_ms, &err), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(now_ms, -1);
    db_conn_close(conn);

    /* application_name is set */
    conn = connect_shared();
    PGresult *res = NULL;
    CU_ASSERT_EQUAL(db_query(conn, "SELECT current_setting('application_name')", NULL, &res, &err),
                    LODE_OK);
    if (res != NULL)
        CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "lode");
    PQclear(res);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT (current_setting('statement_timeout') = '30s')::int"),
                    1);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT (current_setting('lock_timeout') = '10s')::int"), 1);
    db_conn_close(conn);
}

/* ---- transactions ---- */

struct tx_arg {
    struct db_conn *other; /* interferes from a second connection on the first attempt(s) */
    int interfere_attempts;
    int runs;
    enum lode_code fail_with;
};

static enum lode_code bump(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct tx_arg *a = arg;
    enum lode_code rc;
    struct lode_error other_err = {0};

    a->runs++;
    /* the first read fixes this transaction's snapshot */
    rc = db_query(conn, "SELECT v FROM counter WHERE k = 1", NULL, NULL, err);
    if (rc != LODE_OK)
        return rc;
    if (a->runs <= a->interfere_attempts)
        CU_ASSERT_EQUAL(db_exec(a->other, "UPDATE counter SET v = v + 100 WHERE k = 1", &other_err),
                        LODE_OK);
    /* a concurrent committed update of the row now is a serialization failure (40001) */
    rc = db_exec(conn, "UPDATE counter SET v = v + 1 WHERE k = 1", err);
    if (rc != LODE_OK)
        return rc;
    return a->fail_with;
}

static void test_tx_retry_on_serialization_failure(void)
{
    struct db_conn *a = connect_shared(), *b = connect_shared();
    struct lode_error err = {0};
    struct tx_arg arg = {b, 1, 0, LODE_OK};

    CU_ASSERT_EQUAL(db_exec(a,
                            "CREATE TABLE counter (k int PRIMARY KEY, v int NOT NULL);"
                            "INSERT INTO counter VALUES (1, 0)",
                            &err),
                    LODE_OK);
    CU_ASSERT_EQUAL(db_tx(a, DB_REPEATABLE_READ, bump, &arg, &err), LODE_OK);
    CU_ASSERT_EQUAL(arg.runs, 2);
    CU_ASSERT_EQUAL(a->tx_attempts, 2);
    CU_ASSERT_EQUAL(query_int(a, "SELECT v FROM counter WHERE k = 1"), 101);

    /* serializable too */
    arg = (struct tx_arg){b, 2, 0, LODE_OK};
    CU_ASSERT_EQUAL(db_tx(a, DB_SERIALIZABLE, bump, &arg, &err), LODE_OK);
    CU_ASSERT_EQUAL(arg.runs, 3);
    CU_ASSERT_EQUAL(query_int(a, "SELECT v FROM counter WHERE k = 1"), 302);

    /* a conflict on every attempt: bounded, then 503 with Retry-After */
    arg = (struct tx_arg){b, 1000, 0, LODE_OK};
    CU_ASSERT_EQUAL(db_tx(a, DB_REPEATABLE_READ, bump, &arg, &err), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(arg.runs, DB_TX_ATTEMPTS_MAX);
    CU_ASSERT_EQUAL(err.retry_after_s, 1);
    CU_ASSERT_EQUAL(query_int(a, "SELECT v FROM counter WHERE k = 1"),
                    302 + 100 * DB_TX_ATTEMPTS_MAX);

    /* fn's own failure rolls back and is returned as is, without retry */
    arg = (struct tx_arg){b, 0, 0, LODE_EUNPROCESSABLE};
    int64_t before = query_int(a, "SELECT v FROM counter WHERE k = 1");
    CU_ASSERT_EQUAL(db_tx(a, DB_READ_COMMITTED, bump, &arg, &err), LODE_EUNPROCESSABLE);
    CU_ASSERT_EQUAL(arg.runs, 1);
    CU_ASSERT_EQUAL(query_int(a, "SELECT v FROM counter WHERE k = 1"), before);
    db_conn_close(a);
    db_conn_close(b);
}

static enum lode_code swallow_error(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct lode_error ignored = {0};
    (void)db_exec(conn, "INSERT INTO counter VALUES (1, 0)", &ignored); /* duplicate key */
    return LODE_OK;
}

static void test_tx_refuses_commit_after_failed_statement(void)
{
    struct db_conn *a = connect_shared();
    struct lode_error err = {0};

    CU_ASSERT_EQUAL(db_tx(a, DB_READ_COMMITTED, swallow_error, NULL, &err), LODE_EINTERNAL);
    CU_ASSERT_EQUAL(db_ping(a, &err), LODE_OK); /* rolled back, usable */
    db_conn_close(a);
}

/* Two transactions lock two rows in opposite orders: PostgreSQL kills one (40P01), db_tx retries
 * it, and both complete. */
struct deadlock_arg {
    pthread_barrier_t *barrier;
    int first, second;
    int runs;
    enum lode_code rc;
};

static enum lode_code lock_two(struct db_conn *conn, void *arg, struct lode_error *err)
{
    struct deadlock_arg *a = arg;
    struct db_params p;
    enum lode_code rc;

    a->runs++;
    db_params_init(&p);
    db_params_int64(&p, a->first);
    rc = db_query(conn, "UPDATE counter SET v = v + 1 WHERE k = $1", &p, NULL, err);
    if (rc != LODE_OK)
        return rc;
    if (a->runs == 1)
        pthread_barrier_wait(a->barrier);
    db_params_init(&p);
    db_params_int64(&p, a->second);
    return db_query(conn, "UPDATE counter SET v = v + 1 WHERE k = $1", &p, NULL, err);
}

static void *deadlock_thread(void *arg)
{
    struct deadlock_arg *a = arg;
    struct db_conn *conn = scratch_db_connect(url);
    struct lode_error err = {0};

    a->rc = db_tx(conn, DB_READ_COMMITTED, lock_two, a, &err);
    db_conn_close(conn);
    return NULL;
}

static void test_tx_retry_on_deadlock(void)
{
    struct db_conn *conn = connect_shared();
    struct lode_error err = {0};
    pthread_barrier_t barrier;
    struct deadlock_arg a = {&barrier, 10, 11, 0, LODE_EINTERNAL};
    struct deadlock_arg b = {&barrier, 11, 10, 0, LODE_EINTERNAL};
    pthread_t ta, tb;

    CU_ASSERT_EQUAL(db_exec(conn, "INSERT INTO counter VALUES (10, 0), (11, 0)", &err), LODE_OK);
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_create(&ta, NULL, deadlock_thread, &a);
    pthread_create(&tb, NULL, deadlock_thread, &b);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&barrier);
    CU_ASSERT_EQUAL(a.rc, LODE_OK);
    CU_ASSERT_EQUAL(b.rc, LODE_OK);
    /* at least one victim was retried (a retry can meet the survivor again and be retried
     * once more, so the exact count is not fixed) */
    CU_ASSERT(a.runs + b.runs >= 3);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT sum(v) FROM counter WHERE k IN (10, 11)"), 4);
    db_conn_close(conn);
}

/* ---- pool ---- */

struct gate {
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    bool open;
    atomic_int done;
    atomic_int ok;
};

static struct gate gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0, 0};

static enum lode_code job_wait_then_ping(struct db_conn *conn, struct db_job *job)
{
    pthread_mutex_lock(&gate.mutex);
    while (!gate.open)
        pthread_cond_wait(&gate.cond, &gate.mutex);
    pthread_mutex_unlock(&gate.mutex);
    return db_ping(conn, &job->err);
}

static enum lode_code job_ping(struct db_conn *conn, struct db_job *job)
{
    return db_ping(conn, &job->err);
}

static enum lode_code job_kill_session(struct db_conn *conn, struct db_job *job)
{
    return db_exec(conn, "SELECT pg_terminate_backend(pg_backend_pid())", &job->err);
}

static enum lode_code job_leave_tx_open(struct db_conn *conn, struct db_job *job)
{
    return db_exec(conn, "BEGIN; SELECT 1", &job->err);
}

static enum lode_code job_check_idle(struct db_conn *conn, struct db_job *job)
{
    return PQtransactionStatus(conn->pg) == PQTRANS_IDLE ? LODE_OK : LODE_EINTERNAL;
}

static void job_done(struct db_job *job)
{
    if (job->result == LODE_OK)
        atomic_fetch_add(&gate.ok, 1);
    atomic_fetch_add(&gate.done, 1);
}

static void gate_reset(void)
{
    gate.open = false;
    atomic_store(&gate.done, 0);
    atomic_store(&gate.ok, 0);
}

static void gate_open(void)
{
    pthread_mutex_lock(&gate.mutex);
    gate.open = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.mutex);
}

static void test_pool_bounded_queue(void)
{
    struct db_pool *pool = NULL;
    struct lode_error err = {0};
    struct db_job jobs[6];
    struct db_pool_stats st;

    gate_reset();
    CU_ASSERT_EQUAL_FATAL(db_pool_create(url, 2, 3, &pool, &err), LODE_OK);
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 6; i++) {
        jobs[i].run = job_wait_then_ping;
        jobs[i].done = job_done;
    }
    CU_ASSERT_EQUAL(db_pool_submit(pool, &jobs[0]), LODE_OK);
    CU_ASSERT_EQUAL(db_pool_submit(pool, &jobs[1]), LODE_OK);
    /* wait until both workers hold a job (no time asserted: poll the counters) */
    do {
        usleep(1000);
        db_pool_stats(pool, &st);
    } while (st.busy < 2);
    for (int i = 2; i < 5; i++)
        CU_ASSERT_EQUAL(db_pool_submit(pool, &jobs[i]), LODE_OK);
    CU_ASSERT_EQUAL(db_pool_submit(pool, &jobs[5]), LODE_EUNAVAIL);
    db_pool_stats(pool, &st);
    CU_ASSERT_EQUAL(st.size, 2);
    CU_ASSERT_EQUAL(st.busy, 2);
    CU_ASSERT_EQUAL(st.queued, 3);
    CU_ASSERT_EQUAL(st.queue_max, 3);
    CU_ASSERT_EQUAL(st.submitted, 5);
    CU_ASSERT_EQUAL(st.rejected, 1);
    gate_open();
    do {
        usleep(1000);
    } while (atomic_load(&gate.done) < 5);
    CU_ASSERT_EQUAL(atomic_load(&gate.ok), 5);
    db_pool_stats(pool, &st);
    CU_ASSERT_EQUAL(st.queued, 0);
    /* room again */
    CU_ASSERT_EQUAL(db_pool_submit(pool, &jobs[5]), LODE_OK);
    db_pool_destroy(pool);
    CU_ASSERT_EQUAL(atomic_load(&gate.done), 6);
}

static void test_pool_shutdown_finishes_queued_jobs(void)
{
    struct db_pool *pool = NULL;
    struct lode_error err = {0};
    struct db_job jobs[8];

    gate_reset();
    gate_open();
    CU_ASSERT_EQUAL_FATAL(db_pool_create(url, 1, 8, &pool, &err), LODE_OK);
    memset(jobs, 0, sizeof jobs);
    for (int i = 0; i < 8; i++) {
        jobs[i].run = job_ping;
        jobs[i].done = job_done;
        CU_ASSERT_EQUAL(db_pool_submit(pool, &jobs[i]), LODE_OK);
    }
    db_pool_destroy(pool);
    CU_ASSERT_EQUAL(atomic_load(&gate.done), 8);
    CU_ASSERT_EQUAL(atomic_load(&gate.ok), 8);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(jobs[i].result, LODE_OK);
}

static void test_pool_reconnects_and_cleans_up(void)
{
    struct db_pool *pool = NULL;
    struct lode_error err = {0};
    struct db_job kill = {0}, after = {0}, open_tx = {0}, idle = {0};

    gate_reset();
    CU_ASSERT_EQUAL_FATAL(db_pool_create(url, 1, 4, &pool, &err), LODE_OK);
    kill.run = job_kill_session;
    kill.done = job_done;
    after.run = job_ping;
    after.done = job_done;
    open_tx.run = job_leave_tx_open;
    open_tx.done = job_done;
    idle.run = job_check_idle;
    idle.done = job_done;
    CU_ASSERT_EQUAL(db_pool_submit(pool, &kill), LODE_OK);
    CU_ASSERT_EQUAL(db_pool_submit(pool, &after), LODE_OK);
    CU_ASSERT_EQUAL(db_pool_submit(pool, &open_tx), LODE_OK);
    CU_ASSERT_EQUAL(db_pool_submit(pool, &idle), LODE_OK);
    db_pool_destroy(pool);
    CU_ASSERT_EQUAL(kill.result, LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(after.result, LODE_OK); /* the same worker reconnected */
    CU_ASSERT_EQUAL(open_tx.result, LODE_OK);
    CU_ASSERT_EQUAL(idle.result, LODE_OK); /* the open transaction was rolled back */
}

static void test_pool_bad_arguments(void)
{
    struct db_pool *pool = NULL;
    struct lode_error err = {0};

    CU_ASSERT_EQUAL(db_pool_create(url, 0, 4, &pool, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(db_pool_create(url, 2, 0, &pool, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(db_pool_create("host=/nonexistent-socket-dir dbname=x", 2, 4, &pool, &err),
                    LODE_EUNAVAIL);
    CU_ASSERT_PTR_NULL(pool);
}

/* ---- migrations ---- */

static const struct db_migration five[] = {
    {1, "0001_a.sql", "CREATE TABLE a (id int PRIMARY KEY); CREATE TABLE applied_log (v int)"},
    {2, "0002_b.sql", "CREATE TABLE b (id int); INSERT INTO applied_log VALUES (2)"},
    {3, "0003_c.sql", "ALTER TABLE b ADD COLUMN note text; INSERT INTO applied_log VALUES (3)"},
    {5, "0005_e.sql", "CREATE INDEX b_note_idx ON b (note); INSERT INTO applied_log VALUES (5)"},
    {7, "0007_g.sql", "INSERT INTO applied_log VALUES (7); SELECT pg_sleep(0.05)"},
};

struct migrate_arg {
    const char *url;
    int applied;
    enum lode_code rc;
};

static void *migrate_thread(void *p)
{
    struct migrate_arg *a = p;
    struct db_conn *conn = scratch_db_connect(a->url);
    struct lode_error err = {0};

    a->rc = db_migrate_list(conn, five, 5, &a->applied, &err);
    db_conn_close(conn);
    return NULL;
}

static void test_migrate_concurrently_once(void)
{
    char murl[SCRATCH_URL_BYTES];
    struct migrate_arg args[4];
    pthread_t threads[4];
    int total = 0;
    struct lode_error err = {0};

    scratch_db_create(murl);
    for (int i = 0; i < 4; i++) {
        args[i] = (struct migrate_arg){murl, -1, LODE_EINTERNAL};
        pthread_create(&threads[i], NULL, migrate_thread, &args[i]);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        CU_ASSERT_EQUAL(args[i].rc, LODE_OK);
        total += args[i].applied;
    }
    CU_ASSERT_EQUAL(total, 5);
    struct db_conn *conn = scratch_db_connect(murl);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM schema_migrations"), 5);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM applied_log"), 4);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(DISTINCT v) FROM applied_log"), 4);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM schema_migrations"
                                    " WHERE octet_length(checksum) = 32"),
                    5);
    CU_ASSERT_EQUAL(db_migrations_current_list(conn, five, 5, &err), LODE_OK);

    /* the session settings are back after migrating */
    PGresult *res = NULL;
    CU_ASSERT_EQUAL(db_query(conn, "SELECT current_setting('statement_timeout')", NULL, &res, &err),
                    LODE_OK);
    if (res != NULL)
        CU_ASSERT_STRING_EQUAL(PQgetvalue(res, 0, 0), "30s");
    PQclear(res);

    /* a changed, already-applied file is a conflict naming it; nothing is applied */
    struct db_migration changed[6];
    memcpy(changed, five, sizeof five);
    changed[1].sql = "CREATE TABLE b (id bigint); INSERT INTO applied_log VALUES (2)";
    changed[5] = (struct db_migration){8, "0008_h.sql", "CREATE TABLE h (id int)"};
    int applied = -1;
    CU_ASSERT_EQUAL(db_migrate_list(conn, changed, 6, &applied, &err), LODE_ECONFLICT);
    CU_ASSERT_EQUAL(applied, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "0002_b.sql"));
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM schema_migrations"), 5);
    CU_ASSERT_EQUAL(db_migrations_current_list(conn, changed, 6, &err), LODE_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "0002_b.sql"));

    /* a renamed file is a conflict too */
    memcpy(changed, five, sizeof five);
    changed[2].name = "0003_renamed.sql";
    CU_ASSERT_EQUAL(db_migrate_list(conn, changed, 5, &applied, &err), LODE_ECONFLICT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "0003_renamed.sql"));

    /* unordered lists are refused before touching the database */
    memcpy(changed, five, sizeof five);
    changed[3].version = 2;
    CU_ASSERT_EQUAL(db_migrate_list(conn, changed, 5, &applied, &err), LODE_EINTERNAL);
    db_conn_close(conn);
}

static void test_migrate_pending_and_failure(void)
{
    char murl[SCRATCH_URL_BYTES];
    struct lode_error err = {0};
    int applied = -1;
    bool status[5];

    scratch_db_create(murl);
    struct db_conn *conn = scratch_db_connect(murl);
    /* nothing applied yet: not current, naming the first missing one */
    CU_ASSERT_EQUAL(db_migrations_current_list(conn, five, 3, &err), LODE_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "0001_a.sql"));
    CU_ASSERT_EQUAL(db_migrations_status_list(conn, five, 5, status, &err), LODE_OK);
    CU_ASSERT_FALSE(status[0]);

    CU_ASSERT_EQUAL(db_migrate_list(conn, five, 3, &applied, &err), LODE_OK);
    CU_ASSERT_EQUAL(applied, 3);
    CU_ASSERT_EQUAL(db_migrations_current_list(conn, five, 3, &err), LODE_OK);
    CU_ASSERT_EQUAL(db_migrations_current_list(conn, five, 5, &err), LODE_EUNAVAIL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "0005_e.sql"));
    CU_ASSERT_EQUAL(db_migrations_status_list(conn, five, 5, status, &err), LODE_OK);
    CU_ASSERT_TRUE(status[0] && status[1] && status[2]);
    CU_ASSERT_FALSE(status[3] || status[4]);

    /* a failing migration rolls back whole, is not recorded, and stops the run */
    struct db_migration bad[5];
    memcpy(bad, five, sizeof five);
    bad[3].sql = "CREATE TABLE half (id int); SELECT no_such_function()";
    CU_ASSERT_EQUAL(db_migrate_list(conn, bad, 5, &applied, &err), LODE_EINTERNAL);
    CU_ASSERT_EQUAL(applied, 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "0005_e.sql"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err.log_detail, "42883"));
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM schema_migrations"), 3);
    CU_ASSERT_EQUAL(query_int(conn, "SELECT count(*) FROM pg_tables WHERE tablename = 'half'"), 0);

    CU_ASSERT_EQUAL(db_migrate_list(conn, five, 5, &applied, &err), LODE_OK);
    CU_ASSERT_EQUAL(applied, 2);
    CU_ASSERT_EQUAL(db_migrate_list(conn, five, 5, &applied, &err), LODE_OK);
    CU_ASSERT_EQUAL(applied, 0);
    /* a database migrated by a newer binary (versions unknown here) is still current */
    CU_ASSERT_EQUAL(db_migrations_current_list(conn, five, 4, &err), LODE_OK);
    db_conn_close(conn);
}

static void test_migrate_embedded(void)
{
    char murl[SCRATCH_URL_BYTES];
    struct lode_error err = {0};
    size_t count = 0;
    const struct db_migration *list = db_migrations(&count);
    int applied = -1;

    CU_ASSERT_FATAL(count >= 1);
    CU_ASSERT_EQUAL(list[0].version, 1);
    CU_ASSERT_STRING_EQUAL(list[0].name, "0001_accounts.sql");
    CU_ASSERT_PTR_NOT_NULL(strstr(list[0].sql, "CREATE TABLE accounts"));
    for (size_t i = 1; i < count; i++)
        CU_ASSERT(list[i].version > list[i - 1].version);

    scratch_db_create(murl);
    struct db_conn *conn = scratch_db_connect(murl);
    CU_ASSERT_EQUAL(db_migrations_current(conn, &err), LODE_EUNAVAIL);
    CU_ASSERT_EQUAL(db_migrate(conn, &applied, &err), LODE_OK);
    CU_ASSERT_EQUAL(applied, (int)count);
    CU_ASSERT_EQUAL(db_migrations_current(conn, &err), LODE_OK);
    CU_ASSERT_EQUAL(db_migrate(conn, &applied, &err), LODE_OK);
    CU_ASSERT_EQUAL(applied, 0);
    bool *status = calloc(count, sizeof *status);
    CU_ASSERT_EQUAL(db_migrations_status(conn, status, &err), LODE_OK);
    for (size_t i = 0; i < count; i++)
        CU_ASSERT_TRUE(status[i]);
    free(status);
    db_conn_close(conn);
}

static const struct test_case error_cases[] = {
    {"sqlstate table", test_sqlstate_table},
    {"errors from the server", test_errors_from_server},
    {"connection failures", test_connection_failures},
    {NULL, NULL},
};

static const struct test_case tx_cases[] = {
    {"retry on serialization failure", test_tx_retry_on_serialization_failure},
    {"retry on deadlock", test_tx_retry_on_deadlock},
    {"refuse commit after a failed statement", test_tx_refuses_commit_after_failed_statement},
    {NULL, NULL},
};

static const struct test_case pool_cases[] = {
    {"bounded queue", test_pool_bounded_queue},
    {"shutdown finishes queued jobs", test_pool_shutdown_finishes_queued_jobs},
    {"reconnect and clean up", test_pool_reconnects_and_cleans_up},
    {"bad arguments", test_pool_bad_arguments},
    {NULL, NULL},
};

static const struct test_case migrate_cases[] = {
    {"concurrent migrators apply once", test_migrate_concurrently_once},
    {"pending and failing migrations", test_migrate_pending_and_failure},
    {"embedded migrations", test_migrate_embedded},
    {NULL, NULL},
};

static const struct test_suite suites[] = {
    {"storage/errors", error_cases},
    {"storage/tx", tx_cases},
    {"storage/pool", pool_cases},
    {"storage/migrate", migrate_cases},
    {NULL, NULL},
};

int main(void)
{
    int rc;

    scratch_db_init();
    scratch_db_create(url);
    rc = test_main(suites);
    scratch_db_cleanup();
    return rc;
}
