/*
 * tests/unit/storage/scratch_db.c — create and drop scratch databases for storage tests.
 */
#include "scratch_db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SCRATCH_MAX 32

static const char *admin_url;
static char names[SCRATCH_MAX][64];
static int created;

void scratch_db_init(void)
{
    admin_url = getenv("LODE_TEST_DATABASE_URL");
    if (admin_url == NULL || admin_url[0] == '\0') {
        fprintf(stderr, "LODE_TEST_DATABASE_URL is not set: skipping\n");
        exit(77);
    }
}

static PGconn *admin_connect(void)
{
    PGconn *pg = PQconnectdb(admin_url);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "could not connect to LODE_TEST_DATABASE_URL: %s", PQerrorMessage(pg));
        abort();
    }
    return pg;
}

static void admin_exec(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "could not run \"%s\": %s", sql, PQerrorMessage(pg));
        abort();
    }
    PQclear(res);
}

/* Appends key='value' with libpq's quoting rules. */
static void append_kv(char *out, size_t cap, const char *key, const char *value)
{
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, cap - n, "%s%s='", n > 0 ? " " : "", key);
    for (const char *v = value; *v != '\0' && n + 3 < cap; v++) {
        if (*v == '\'' || *v == '\\')
            out[n++] = '\\';
        out[n++] = *v;
    }
    snprintf(out + n, cap - n, "'");
}

void scratch_db_create(char url_out[SCRATCH_URL_BYTES])
{
    char *errmsg = NULL;
    PQconninfoOption *opts;
    char sql[128];
    PGconn *pg;

    if (created == SCRATCH_MAX)
        abort();
    snprintf(names[created], sizeof names[created], "lode_t_%d_%d", (int)getpid(), created);
    pg = admin_connect();
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", names[created]);
    admin_exec(pg, sql);
    PQfinish(pg);

    opts = PQconninfoParse(admin_url, &errmsg);
    if (opts == NULL) {
        fprintf(stderr, "could not parse LODE_TEST_DATABASE_URL: %s\n", errmsg ? errmsg : "");
        abort();
    }
    url_out[0] = '\0';
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++)
        if (o->val != NULL && strcmp(o->keyword, "dbname") != 0)
            append_kv(url_out, SCRATCH_URL_BYTES, o->keyword, o->val);
    append_kv(url_out, SCRATCH_URL_BYTES, "dbname", names[created]);
    PQconninfoFree(opts);
    created++;
}

struct db_conn *scratch_db_connect(const char *url)
{
    struct db_conn *conn = NULL;
    struct lode_error err = {0};

    if (db_conn_open(url, &conn, &err) != LODE_OK) {
        fprintf(stderr, "could not connect to a scratch database: %s (%s)\n", err.message,
                err.log_detail);
        abort();
    }
    return conn;
}

void scratch_db_cleanup(void)
{
    char sql[128];
    PGconn *pg;

    if (created == 0)
        return;
    pg = admin_connect();
    for (int i = 0; i < created; i++) {
        snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", names[i]);
        admin_exec(pg, sql);
    }
    PQfinish(pg);
    created = 0;
}
