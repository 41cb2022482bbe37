/*
 * storage/db_internal.h — what the storage module's files share: the connection record,
 * parameterised queries, result readers, the SQLSTATE mapping and the migration runner over
 * any list.
 *
 * Only storage/ (and its tests) include this header; it is the one place libpq's types appear.
 * Every statement that carries a value goes through db_query() with $n parameters: SQL text
 * is never built from values. A connection is used by one thread at a time.
 */
#ifndef LODE_STORAGE_DB_INTERNAL_H
#define LODE_STORAGE_DB_INTERNAL_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "storage/db.h"

/* Transactions: attempts before a serialization failure or deadlock becomes LODE_EUNAVAIL, and
 * the jittered exponential back-off between attempts (full jitter, capped). */
#define DB_TX_ATTEMPTS_MAX 6
#define DB_TX_BACKOFF_BASE_MS 4
#define DB_TX_BACKOFF_CAP_MS 250
#define DB_RETRY_AFTER_S 1

/* Session settings applied to every connection (milliseconds). */
#define DB_STATEMENT_TIMEOUT_MS 30000
#define DB_LOCK_TIMEOUT_MS 10000
#define DB_IDLE_IN_TX_TIMEOUT_MS 60000
#define DB_CONNECT_TIMEOUT_S 10

struct db_conn {
    PGconn *pg;
    bool broken;       /* the server went away: the pool reconnects before the next job */
    bool tx_retryable; /* a statement failed with 40001/40P01 since the attempt began */
    int tx_attempts;   /* attempts the last db_tx() made (tests read it) */
};

/* ---- parameters ---- */

#define DB_PARAMS_MAX 12

struct db_params {
    int count;
    const char *values[DB_PARAMS_MAX];
    int lengths[DB_PARAMS_MAX];
    int formats[DB_PARAMS_MAX]; /* 0 text, 1 binary */
    char numbers[DB_PARAMS_MAX][24];
};

void db_params_init(struct db_params *p);
/* NUL-terminated text; NULL is SQL NULL. */
void db_params_text(struct db_params *p, const char *text);
void db_params_int64(struct db_params *p, int64_t value);
/* Raw bytes sent in binary format (for bytea). */
void db_params_bytes(struct db_params *p, const void *bytes, size_t len);

/* Runs one parameterised statement (p may be NULL); results are in text format. On success
 * *res_out (may be NULL: then the result is cleared) is the result, to PQclear by the caller.
 * Returns LODE_OK or the mapped error. */
enum lode_code db_query(struct db_conn *conn, const char *sql, const struct db_params *p,
                        PGresult **res_out, struct lode_error *err);

/* Runs a statement that answers one integer (first column of the first row; NULL reads as 0)
 * into *out. LODE_OK, LODE_EINTERNAL when no row came back, or the mapped error. */
enum lode_code db_query_int64(struct db_conn *conn, const char *sql, const struct db_params *p,
                              int64_t *out, struct lode_error *err);

/* Readers for a text-format result; a NULL field reads as 0 / "" / false. */
int64_t db_result_int64(const PGresult *res, int row, int col);
bool db_result_bool(const PGresult *res, int row, int col);
/* Copies the field into buf (cap bytes, NUL-terminated); false when it did not fit. */
bool db_result_text(const PGresult *res, int row, int col, char *buf, size_t cap);
/* Decodes a field selected as encode(x, 'hex') into exactly len bytes; false otherwise. */
bool db_result_hex(const PGresult *res, int row, int col, uint8_t *out, size_t len);

/* ---- errors (db_error.c) ---- */

/* The project code for a SQLSTATE (NULL or unknown -> LODE_EINTERNAL). Pure. */
enum lode_code db_sqlstate_code(const char *sqlstate);
bool db_sqlstate_is_retryable(const char *sqlstate);

/* Fills err from a failed result (res may be NULL when libpq returned none): the mapped code,
 * a client-safe message, the constraint name; PostgreSQL's text goes to log_detail only.
 * Marks the connection broken or the transaction retryable as the SQLSTATE says. Returns the
 * code. */
enum lode_code db_error_from_result(struct db_conn *conn, const PGresult *res,
                                    struct lode_error *err);

/* ---- migrations over an explicit list (migrate.c; the embedded list is the default) ---- */

extern const struct db_migration db_embedded_migrations[];
extern const size_t db_embedded_migrations_count;

enum lode_code db_migrate_list(struct db_conn *conn, const struct db_migration *list, size_t count,
                               int *applied_out, struct lode_error *err);
enum lode_code db_migrations_current_list(struct db_conn *conn, const struct db_migration *list,
                                          size_t count, struct lode_error *err);
enum lode_code db_migrations_status_list(struct db_conn *conn, const struct db_migration *list,
                                         size_t count, bool *applied_out, struct lode_error *err);

#endif
