/*
 * storage/migrate.c — the forward-only migration runner.
 *
 * The migrations are migrations/NNNN_name.sql, embedded at build time (embed_migrations.cmake).
 * db_migrate() takes a session-level advisory lock, so concurrent migrators run one after the
 * other and each sees what the previous one recorded: every migration is applied exactly once.
 * It first checks every applied migration against its embedded text (SHA-256), then applies
 * the pending ones in version order, each with its row in schema_migrations in one
 * transaction. Versions recorded in the database but unknown to this binary (a newer binary
 * migrated it) are left alone.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/encoding.h"
#include "core/log.h"
#include "storage/db_internal.h"

/* pg_advisory_lock key: the bytes "lodemigr" read as a big-endian integer */
#define MIGRATE_LOCK_KEY "7813574265301198706"

static const char create_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer PRIMARY KEY,"
    " name text NOT NULL,"
    " checksum bytea NOT NULL CONSTRAINT schema_migrations_checksum_length"
    "  CHECK (octet_length(checksum) = 32),"
    " applied_at timestamptz NOT NULL DEFAULT now())";

const struct db_migration *db_migrations(size_t *count_out)
{
    *count_out = db_embedded_migrations_count;
    return db_embedded_migrations;
}

static void checksum(const struct db_migration *m, uint8_t out[32])
{
    crypto_hash_sha256(out, (const unsigned char *)m->sql, strlen(m->sql));
}

static bool list_is_ordered(const struct db_migration *list, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (list[i].version < 1 || (i > 0 && list[i].version <= list[i - 1].version))
            return false;
    return true;
}

/* Applied rows: version, name, hex checksum. *res_out is NULL when the table does not exist. */
static enum lode_code read_applied(struct db_conn *conn, PGresult **res_out, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc;

    *res_out = NULL;
    rc = db_query(conn, "SELECT to_regclass('schema_migrations') IS NOT NULL", NULL, &res, err);
    if (rc != LODE_OK)
        return rc;
    bool exists = db_result_bool(res, 0, 0);
    PQclear(res);
    if (!exists)
        return LODE_OK;
    return db_query(conn,
                    "SELECT version, name, encode(checksum, 'hex') FROM schema_migrations"
                    " ORDER BY version",
                    NULL, res_out, err);
}

/* Row of `version` in the applied set, or -1. */
static int applied_row(const PGresult *res, int version)
{
    if (res == NULL)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        if (db_result_int64(res, i, 0) == version)
            return i;
    return -1;
}

/* LODE_OK when the applied row matches the migration; the code given otherwise, with a
 * message naming the file. */
static enum lode_code compare_applied(const PGresult *res, int row, const struct db_migration *m,
                                      enum lode_code code, struct lode_error *err)
{
    uint8_t sum[32];
    char hex[HEX_ENCODED_BYTES(32)];

    checksum(m, sum);
    hex_encode(sum, sizeof sum, hex);
    if (strcmp(PQgetvalue(res, row, 1), m->name) != 0) {
        lode_error_set(err, code, "migration %04d is recorded as \"%s\" but the file is \"%s\"",
                       m->version, PQgetvalue(res, row, 1), m->name);
        return code;
    }
    if (strcmp(PQgetvalue(res, row, 2), hex) != 0) {
        lode_error_set(err, code, "migration %s was changed after it was applied", m->name);
        lode_error_hint(err, "migrations are forward-only: restore the applied file and add a "
                             "new migration for the change");
        lode_error_log_detail(err, "applied checksum %s, file checksum %s", PQgetvalue(res, row, 2),
                              hex);
        return code;
    }
    return LODE_OK;
}

static enum lode_code apply_one(struct db_conn *conn, const struct db_migration *m,
                                struct lode_error *err)
{
    uint8_t sum[32];
    struct db_params p;
    enum lode_code rc;
    struct timespec t0, t1;
    char version[16], ms[32];

    clock_gettime(CLOCK_MONOTONIC, &t0);
    checksum(m, sum);
    rc = db_exec(conn, "BEGIN", err);
    if (rc != LODE_OK)
        return rc;
    rc = db_exec(conn, m->sql, err);
    if (rc == LODE_OK) {
        db_params_init(&p);
        db_params_int64(&p, m->version);
        db_params_text(&p, m->name);
        db_params_bytes(&p, sum, sizeof sum);
        rc = db_query(conn,
                      "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                      &p, NULL, err);
    }
    if (rc == LODE_OK)
        rc = db_exec(conn, "COMMIT", err);
    if (rc != LODE_OK) {
        PGresult *res = PQexec(conn->pg, "ROLLBACK");
        PQclear(res);
        /* keep the mapped code and PostgreSQL's text (log_detail); say which file failed */
        if (err != NULL)
            snprintf(err->message, sizeof err->message, "could not apply migration %s", m->name);
        return rc;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    snprintf(version, sizeof version, "%d", m->version);
    snprintf(ms, sizeof ms, "%" PRId64,
             (int64_t)(t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
    log_emit(LOG_INFO, "migration_applied", "version", version, "name", m->name, "ms", ms,
             (const char *)LOG_END);
    return LODE_OK;
}

static enum lode_code migrate_locked(struct db_conn *conn, const struct db_migration *list,
                                     size_t count, int *applied, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc;

    rc = db_exec(conn, create_table_sql, err);
    if (rc == LODE_OK)
        rc = read_applied(conn, &res, err);
    if (rc != LODE_OK)
        return rc;
    /* verify everything already applied before changing anything */
    for (size_t i = 0; i < count && rc == LODE_OK; i++) {
        int row = applied_row(res, list[i].version);
        if (row >= 0)
            rc = compare_applied(res, row, &list[i], LODE_ECONFLICT, err);
    }
    for (size_t i = 0; i < count && rc == LODE_OK; i++) {
        if (applied_row(res, list[i].version) >= 0)
            continue;
        rc = apply_one(conn, &list[i], err);
        if (rc == LODE_OK)
            (*applied)++;
    }
    PQclear(res);
    return rc;
}

enum lode_code db_migrate_list(struct db_conn *conn, const struct db_migration *list, size_t count,
                               int *applied_out, struct lode_error *err)
{
    struct db_params p;
    enum lode_code rc, rc2;
    int applied = 0;
    char restore[64];

    if (applied_out != NULL)
        *applied_out = 0;
    if (!list_is_ordered(list, count))
        return lode_error_set(err, LODE_EINTERNAL, "could not migrate: versions are not ordered");
    if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE)
        return lode_error_set(err, LODE_EINTERNAL,
                              "could not migrate: the connection is inside a transaction");
    /* the lock wait and a migration may both take longer than an ordinary statement */
    rc = db_exec(conn, "SET statement_timeout = 0; SET lock_timeout = 0", err);
    if (rc != LODE_OK)
        return rc;
    db_params_init(&p);
    db_params_text(&p, MIGRATE_LOCK_KEY);
    rc = db_query(conn, "SELECT pg_advisory_lock($1::bigint)", &p, NULL, err);
    if (rc == LODE_OK) {
        rc = migrate_locked(conn, list, count, &applied, err);
        struct lode_error unlock_err;
        rc2 = db_query(conn, "SELECT pg_advisory_unlock($1::bigint)", &p, NULL, &unlock_err);
        if (rc == LODE_OK && rc2 != LODE_OK) {
            rc = rc2;
            if (err != NULL)
                *err = unlock_err;
        }
    }
    snprintf(restore, sizeof restore, "SET statement_timeout = %d; SET lock_timeout = %d",
             DB_STATEMENT_TIMEOUT_MS, DB_LOCK_TIMEOUT_MS);
    struct lode_error set_err;
    rc2 = db_exec(conn, restore, &set_err);
    if (rc == LODE_OK && rc2 != LODE_OK) {
        rc = rc2;
        if (err != NULL)
            *err = set_err;
    }
    if (applied_out != NULL)
        *applied_out = applied;
    return rc;
}

enum lode_code db_migrate(struct db_conn *conn, int *applied_out, struct lode_error *err)
{
    return db_migrate_list(conn, db_embedded_migrations, db_embedded_migrations_count, applied_out,
                           err);
}

enum lode_code db_migrations_status_list(struct db_conn *conn, const struct db_migration *list,
                                         size_t count, bool *applied_out, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc = read_applied(conn, &res, err);

    if (rc != LODE_OK)
        return rc;
    for (size_t i = 0; i < count; i++)
        applied_out[i] = applied_row(res, list[i].version) >= 0;
    PQclear(res);
    return LODE_OK;
}

enum lode_code db_migrations_current_list(struct db_conn *conn, const struct db_migration *list,
                                          size_t count, struct lode_error *err)
{
    PGresult *res = NULL;
    enum lode_code rc = read_applied(conn, &res, err);

    if (rc != LODE_OK)
        return rc;
    for (size_t i = 0; i < count && rc == LODE_OK; i++) {
        int row = applied_row(res, list[i].version);
        if (row < 0)
            rc = lode_error_set(err, LODE_EUNAVAIL, "migration %s is not applied", list[i].name);
        else
            rc = compare_applied(res, row, &list[i], LODE_EUNAVAIL, err);
    }
    PQclear(res);
    if (rc != LODE_OK && err != NULL)
        err->retry_after_s = DB_RETRY_AFTER_S;
    return rc;
}

enum lode_code db_migrations_current(struct db_conn *conn, struct lode_error *err)
{
    return db_migrations_current_list(conn, db_embedded_migrations, db_embedded_migrations_count,
                                      err);
}

enum lode_code db_migrations_status(struct db_conn *conn, bool *applied_out, struct lode_error *err)
{
    return db_migrations_status_list(conn, db_embedded_migrations, db_embedded_migrations_count,
                                     applied_out, err);
}
