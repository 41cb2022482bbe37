/*
 * storage/db_error.c — the one mapping from PostgreSQL's SQLSTATEs to enum lode_code.
 *
 * The client-facing message says what kind of thing went wrong in words that reveal nothing
 * about the server; the constraint name (when PostgreSQL names one) goes to err->constraint so
 * the domain can turn it into a sentence; PostgreSQL's own text goes to err->log_detail only.
 * The table is documented in docs/storage.md: keep both in step.
 */
#include <string.h>

#include "storage/db_internal.h"

static bool class_is(const char *sqlstate, const char *cls)
{
    return sqlstate[0] == cls[0] && sqlstate[1] == cls[1];
}

bool db_sqlstate_is_retryable(const char *sqlstate)
{
    return sqlstate != NULL && (strcmp(sqlstate, "40001") == 0 || strcmp(sqlstate, "40P01") == 0);
}

enum lode_code db_sqlstate_code(const char *sqlstate)
{
    if (sqlstate == NULL || strlen(sqlstate) != 5)
        return LODE_EINTERNAL;
    if (strcmp(sqlstate, "23505") == 0) /* unique_violation */
        return LODE_ECONFLICT;
    if (strcmp(sqlstate, "23P01") == 0) /* exclusion_violation */
        return LODE_ECONFLICT;
    if (strcmp(sqlstate, "23503") == 0) /* foreign_key_violation: the referenced row is missing */
        return LODE_ENOTFOUND;
    if (strcmp(sqlstate, "23514") == 0 || /* check_violation */
        strcmp(sqlstate, "23502") == 0 || /* not_null_violation */
        strcmp(sqlstate, "23001") == 0)   /* restrict_violation */
        return LODE_EUNPROCESSABLE;
    if (class_is(sqlstate, "22")) /* data exceptions: bad text for a type, out of range ... */
        return LODE_EINVAL;
    if (db_sqlstate_is_retryable(sqlstate)) /* retried by db_tx() first */
        return LODE_EUNAVAIL;
    if (strcmp(sqlstate, "57014") == 0 || /* query_canceled (statement_timeout) */
        strcmp(sqlstate, "55P03") == 0)   /* lock_not_available (lock_timeout) */
        return LODE_ETIMEOUT;
    if (class_is(sqlstate, "08") || /* connection exceptions */
        class_is(sqlstate, "53") || /* insufficient resources */
        strcmp(sqlstate, "57P01") == 0 || strcmp(sqlstate, "57P02") == 0 ||
        strcmp(sqlstate, "57P03") == 0 || /* server shutting down or starting */
        strcmp(sqlstate, "25006") == 0)   /* read-only transaction: a standby */
        return LODE_EUNAVAIL;
    return LODE_EINTERNAL;
}

static const char *client_message(enum lode_code code)
{
    switch (code) {
    case LODE_ECONFLICT:
        return "the data conflicts with existing data";
    case LODE_ENOTFOUND:
        return "a referenced resource does not exist";
    case LODE_EUNPROCESSABLE:
        return "the data violates a rule";
    case LODE_EINVAL:
        return "a value is not valid for its field";
    case LODE_ETIMEOUT:
        return "the database did not answer in time";
    case LODE_EUNAVAIL:
        return "the database is temporarily unavailable";
    default:
        return "could not complete the database operation";
    }
}

enum lode_code db_error_from_result(struct db_conn *conn, const PGresult *res,
                                    struct lode_error *err)
{
    const char *sqlstate = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *constraint = res != NULL ? PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME) : NULL;
    const char *primary = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    const char *detail = res != NULL ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
    enum lode_code code;

    if (sqlstate == NULL && conn != NULL && PQstatus(conn->pg) == CONNECTION_BAD)
        sqlstate = "08006"; /* libpq lost the connection and made up no SQLSTATE */
    code = db_sqlstate_code(sqlstate);
    if (conn != NULL) {
        if (class_is(sqlstate != NULL ? sqlstate : "XX", "08") ||
            (sqlstate != NULL && strncmp(sqlstate, "57P0", 4) == 0) ||
            PQstatus(conn->pg) == CONNECTION_BAD)
            conn->broken = true;
        if (db_sqlstate_is_retryable(sqlstate))
            conn->tx_retryable = true;
    }
    lode_error_set(err, code, "%s", client_message(code));
    if (err == NULL)
        return code;
    if (constraint != NULL)
        snprintf(err->constraint, sizeof err->constraint, "%s", constraint);
    if (code == LODE_EUNAVAIL)
        err->retry_after_s = DB_RETRY_AFTER_S;
    if (primary == NULL && conn != NULL)
        primary = PQerrorMessage(conn->pg);
    lode_error_log_detail(err, "sqlstate %s: %s%s%s", sqlstate != NULL ? sqlstate : "none",
                          primary != NULL ? primary : "no message", detail != NULL ? "; " : "",
                          detail != NULL ? detail : "");
    size_t n = strlen(err->log_detail);
    while (n > 0 && (err->log_detail[n - 1] == '\n' || err->log_detail[n - 1] == ' '))
        err->log_detail[--n] = '\0';
    return code;
}
