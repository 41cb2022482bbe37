/*
 * storage/db.c — connections, parameterised queries, transactions with bounded retry.
 *
 * Each connection gets application_name=lode (unless the URL names one) and session timeouts,
 * so a stuck statement, lock wait or abandoned transaction cannot hold a worker forever.
 * Thread-safety: a struct db_conn is used by one thread at a time; functions here keep no
 * other state.
 */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/encoding.h"
#include "core/log.h"
#include "storage/db_internal.h"

/* Server notices (warnings) go to the structured log, not to stderr as libpq would. */
static void notice_to_log(void *arg, const char *message)
{
    char line[LODE_ERROR_MESSAGE_MAX];
    size_t n;

    snprintf(line, sizeof line, "%s", message);
    n = strlen(line);
    while (n > 0 && line[n - 1] == '\n')
        line[--n] = '\0';
    log_emit(LOG_WARN, "db_notice", "message", line, (const char *)LOG_END);
}

enum lode_code db_conn_open(const char *url, struct db_conn **conn_out, struct lode_error *err)
{
    /* later keywords override earlier ones: the URL (expanded from dbname) may set its own
     * application_name or connect_timeout */
    const char *const keys[] = {"application_name", "connect_timeout", "dbname", NULL};
    char timeout[16];
    const char *values[4];
    struct db_conn *conn;
    char settings[256];

    *conn_out = NULL;
    if (sodium_init() < 0)
        return lode_error_set(err, LODE_EINTERNAL, "could not initialise libsodium");
    snprintf(timeout, sizeof timeout, "%d", DB_CONNECT_TIMEOUT_S);
    values[0] = "lode";
    values[1] = timeout;
    values[2] = url != NULL ? url : "";
    values[3] = NULL;
    conn = calloc(1, sizeof *conn);
    if (conn == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate a database connection");
    conn->pg = PQconnectdbParams(keys, values, 1);
    if (conn->pg == NULL || PQstatus(conn->pg) != CONNECTION_OK) {
        lode_error_set(err, LODE_EUNAVAIL, "could not connect to the database");
        if (err != NULL) {
            err->retry_after_s = DB_RETRY_AFTER_S;
            lode_error_log_detail(err, "%s",
                                  conn->pg != NULL ? PQerrorMessage(conn->pg) : "out of memory");
            size_t n = strlen(err->log_detail);
            while (n > 0 && err->log_detail[n - 1] == '\n')
                err->log_detail[--n] = '\0';
        }
        PQfinish(conn->pg);
        free(conn);
        return LODE_EUNAVAIL;
    }
    PQsetNoticeProcessor(conn->pg, notice_to_log, NULL);
    snprintf(settings, sizeof settings,
             "SET statement_timeout = %d; SET lock_timeout = %d; "
             "SET idle_in_transaction_session_timeout = %d; SET client_min_messages = warning",
             DB_STATEMENT_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS, DB_IDLE_IN_TX_TIMEOUT_MS);
    enum lode_code rc = db_exec(conn, settings, err);
    if (rc != LODE_OK) {
        db_conn_close(conn);
        return rc;
    }
    *conn_out = conn;
    return LODE_OK;
}

void db_conn_close(struct db_conn *conn)
{
    if (conn == NULL)
        return;
    PQfinish(conn->pg);
    free(conn);
}

static bool status_ok(ExecStatusType st)
{
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

enum lode_code db_exec(struct db_conn *conn, const char *sql, struct lode_error *err)
{
    PGresult *res = PQexec(conn->pg, sql);
    enum lode_code rc = LODE_OK;

    /* with several statements PQexec returns the last result; a failure stops the batch */
    if (res == NULL || !status_ok(PQresultStatus(res)))
        rc = db_error_from_result(conn, res, err);
    PQclear(res);
    return rc;
}

enum lode_code db_ping(struct db_conn *conn, struct lode_error *err)
{
    return db_query(conn, "SELECT 1", NULL, NULL, err);
}

enum lode_code db_now_ms(struct db_conn *conn, int64_t *now_ms, struct lode_error *err)
{
    return db_query_int64(conn,
                          "SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint",
                          NULL, now_ms, err);
}

/* ---- parameterised queries ---- */

void db_params_init(struct db_params *p)
{
    memset(p, 0, sizeof *p);
}

static int params_slot(struct db_params *p)
{
    /* a statement with more parameters than DB_PARAMS_MAX is a bug in a store */
    if (p->count >= DB_PARAMS_MAX)
        abort();
    return p->count++;
}

void db_params_text(struct db_params *p, const char *text)
{
    int i = params_slot(p);
    p->values[i] = text;
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void db_params_int64(struct db_params *p, int64_t value)
{
    int i = params_slot(p);
    snprintf(p->numbers[i], sizeof p->numbers[i], "%" PRId64, value);
    p->values[i] = p->numbers[i];
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

void db_params_bytes(struct db_params *p, const void *bytes, size_t len)
{
    int i = params_slot(p);
    if (len > INT32_MAX)
        abort();
    p->values[i] = bytes;
    p->lengths[i] = (int)len;
    p->formats[i] = 1;
}

enum lode_code db_query(struct db_conn *conn, const char *sql, const struct db_params *p,
                        PGresult **res_out, struct lode_error *err)
{
    PGresult *res;

    if (res_out != NULL)
        *res_out = NULL;
    res = PQexecParams(conn->pg, sql, p != NULL ? p->count : 0, NULL, p != NULL ? p->values : NULL,
                       p != NULL ? p->lengths : NULL, p != NULL ? p->formats : NULL, 0);
    if (res == NULL || !status_ok(PQresultStatus(res))) {
        enum lode_code rc = db_error_from_result(conn, res, err);
        PQclear(res);
        return rc;
    }
    if (res_out != NULL)
        *res_out = res;
    else
        PQclear(res);
    return LODE_OK;
}

enum lode_code db_query_int64(struct db_conn *conn, const char *sql, const struct db_params *p,
                              int64_t *out, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc = db_query(conn, sql, p, &res, err);

    if (rc != LODE_OK)
        return rc;
    if (PQntuples(res) < 1 || PQnfields(res) < 1) {
        PQclear(res);
        return lode_error_set(err, LODE_EINTERNAL, "a one-value query returned nothing");
    }
    *out = db_result_int64(res, 0, 0);
    PQclear(res);
    return LODE_OK;
}

int64_t db_result_int64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col))
        return 0;
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

bool db_result_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

bool db_result_text(const PGresult *res, int row, int col, char *buf, size_t cap)
{
    size_t n = (size_t)PQgetlength(res, row, col);

    if (cap == 0)
        return false;
    if (n >= cap) {
        buf[0] = '\0';
        return false;
    }
    memcpy(buf, PQgetvalue(res, row, col), n);
    buf[n] = '\0';
    return true;
}

bool db_result_hex(const PGresult *res, int row, int col, uint8_t *out, size_t len)
{
    size_t got = 0;
    const char *v = PQgetvalue(res, row, col);

    if (PQgetisnull(res, row, col))
        return false;
    return hex_decode(v, strlen(v), out, len, &got) && got == len;
}

/* ---- transactions ---- */

static const char *begin_sql(enum db_isolation isolation)
{
    switch (isolation) {
    case DB_REPEATABLE_READ:
        return "BEGIN ISOLATION LEVEL REPEATABLE READ";
    case DB_SERIALIZABLE:
        return "BEGIN ISOLATION LEVEL SERIALIZABLE";
    case DB_READ_COMMITTED:
        break;
    }
    return "BEGIN ISOLATION LEVEL READ COMMITTED";
}

static void backoff_sleep(int attempt)
{
    uint32_t cap = DB_TX_BACKOFF_BASE_MS;
    struct timespec ts;

    for (int i = 1; i < attempt && cap < DB_TX_BACKOFF_CAP_MS; i++)
        cap *= 2;
    if (cap > DB_TX_BACKOFF_CAP_MS)
        cap = DB_TX_BACKOFF_CAP_MS;
    /* full jitter: a uniform wait in [0, cap] ms spreads competing retries apart */
    uint32_t us = randombytes_uniform(cap * 1000 + 1);
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (long)(us % 1000000) * 1000;
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void rollback_quietly(struct db_conn *conn)
{
    if (conn->broken || PQtransactionStatus(conn->pg) == PQTRANS_IDLE)
        return;
    PGresult *res = PQexec(conn->pg, "ROLLBACK");
    if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK)
        if (PQstatus(conn->pg) == CONNECTION_BAD)
            conn->broken = true;
    PQclear(res);
}

enum lode_code db_tx(struct db_conn *conn, enum db_isolation isolation,
                     enum lode_code (*fn)(struct db_conn *conn, void *arg, struct lode_error *err),
                     void *arg, struct lode_error *err)
{
    enum lode_code rc = LODE_OK;

    conn->tx_attempts = 0;
    if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE)
        return lode_error_set(err, LODE_EINTERNAL,
                              "could not begin a transaction: one is already open");
    for (int attempt = 1; attempt <= DB_TX_ATTEMPTS_MAX; attempt++) {
        conn->tx_attempts = attempt;
        conn->tx_retryable = false;
        if (attempt > 1)
            backoff_sleep(attempt - 1);
        lode_error_clear(err);
        rc = db_exec(conn, begin_sql(isolation), err);
        if (rc != LODE_OK)
            return rc;
        rc = fn(conn, arg, err);
        if (rc == LODE_OK && !conn->tx_retryable &&
            PQtransactionStatus(conn->pg) == PQTRANS_INERROR) {
            /* fn ignored a failed statement: COMMIT would quietly roll back */
            rc = lode_error_set(err, LODE_EINTERNAL,
                                "could not commit: a statement in the transaction failed");
        } else if (rc == LODE_OK && !conn->tx_retryable) {
            rc = db_exec(conn, "COMMIT", err); /* may itself report 40001 */
            if (rc == LODE_OK)
                return LODE_OK;
        }
        rollback_quietly(conn);
        if (!conn->tx_retryable || conn->broken)
            return rc;
    }
    lode_error_set(err, LODE_EUNAVAIL,
                   "could not complete the transaction: too much concurrent activity");
    if (err != NULL) {
        err->retry_after_s = DB_RETRY_AFTER_S;
        lode_error_log_detail(err, "serialization failure or deadlock on each of %d attempts",
                              DB_TX_ATTEMPTS_MAX);
    }
    return LODE_EUNAVAIL;
}
