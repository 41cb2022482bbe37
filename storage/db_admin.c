/*
 * storage/db_admin.c — scratch databases and text reads (see db_admin.h).
 */
#include "storage/db_admin.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <string.h>

#include "storage/db_internal.h"

#define ROW_COLUMNS_MAX 32

static bool name_is_valid(const char *name)
{
    size_t n = strlen(name);

    if (n == 0 || n > 63)
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return false;
    return true;
}

/* Appends key='value' with the conninfo quoting rules; false when it does not fit. */
static bool conninfo_append(char *out, size_t cap, const char *key, const char *value)
{
    size_t n = strlen(out);
    int w = snprintf(out + n, cap - n, "%s%s='", n > 0 ? " " : "", key);

    if (w < 0 || (size_t)w >= cap - n)
        return false;
    n += (size_t)w;
    for (const char *v = value; *v != '\0'; v++) {
        if (n + 3 >= cap)
            return false;
        if (*v == '\'' || *v == '\\')
            out[n++] = '\\';
        out[n++] = *v;
    }
    if (n + 2 > cap)
        return false;
    out[n++] = '\'';
    out[n] = '\0';
    return true;
}

static enum lode_code admin_exec(const char *admin_url, const char *sql, struct lode_error *err)
{
    struct db_conn *conn = NULL;
    enum lode_code rc = db_conn_open(admin_url, &conn, err);

    if (rc != LODE_OK)
        return rc;
    rc = db_exec(conn, sql, err);
    db_conn_close(conn);
    return rc;
}

enum lode_code db_database_create(const char *admin_url, const char *name, char *url_out,
                                  size_t cap, struct lode_error *err)
{
    char sql[128], *errmsg = NULL;
    PQconninfoOption *opts;
    enum lode_code rc;
    bool fits = true;

    if (!name_is_valid(name) || cap == 0)
        return lode_error_set(err, LODE_EINVAL, "database name \"%.64s\" is not [a-z0-9_]{1,63}",
                              name);
    opts = PQconninfoParse(admin_url, &errmsg);
    if (opts == NULL) {
        PQfreemem(errmsg);
        return lode_error_set(err, LODE_EINVAL, "could not parse the database URL");
    }
    url_out[0] = '\0';
    for (const PQconninfoOption *o = opts; o->keyword != NULL && fits; o++)
        if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
            fits = conninfo_append(url_out, cap, o->keyword, o->val);
    PQconninfoFree(opts);
    if (!fits || !conninfo_append(url_out, cap, "dbname", name))
        return lode_error_set(err, LODE_EINVAL, "the database URL is longer than %zu bytes", cap);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    rc = admin_exec(admin_url, sql, err);
    return rc;
}

enum lode_code db_database_drop(const char *admin_url, const char *name, struct lode_error *err)
{
    char sql[128];

    if (!name_is_valid(name))
        return lode_error_set(err, LODE_EINVAL, "database name \"%.64s\" is not [a-z0-9_]{1,63}",
                              name);
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    return admin_exec(admin_url, sql, err);
}

enum lode_code db_query_text(struct db_conn *conn, const char *sql,
                             void (*row)(void *ctx, int ncols, const char *const *values),
                             void *ctx, struct lode_error *err)
{
    PGresult *res = NULL;
    const char *values[ROW_COLUMNS_MAX];
    enum lode_code rc = db_query(conn, sql, NULL, &res, err);

    if (rc != LODE_OK)
        return rc;
    int ncols = PQnfields(res);
    if (ncols > ROW_COLUMNS_MAX)
        ncols = ROW_COLUMNS_MAX;
    for (int r = 0; r < PQntuples(res); r++) {
        for (int c = 0; c < ncols; c++)
            values[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
        row(ctx, ncols, values);
    }
    PQclear(res);
    return LODE_OK;
}
