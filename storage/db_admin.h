/*
 * storage/db_admin.h — scratch databases and plain text reads for tools and benchmarks.
 *
 * Benchmarks and command-line tools sometimes need a fresh database of their own and a few
 * ad-hoc read queries (sizes, settings). These functions give them that without including
 * libpq, which stays inside storage/. They are not for the request path: the stores own the
 * SQL the service runs. Any thread; each call opens its own connection where it says so.
 */
#ifndef LODE_STORAGE_DB_ADMIN_H
#define LODE_STORAGE_DB_ADMIN_H

#include <stddef.h>

#include "core/error.h"
#include "storage/db.h"

#define DB_URL_BYTES_MAX 2048

/* Creates database `name` ([a-z0-9_], at most 63 bytes) on the server `admin_url` reaches, and
 * writes a connection string for it (the admin URL's other fields, dbname replaced) into
 * url_out (cap bytes). Returns LODE_OK, LODE_EINVAL (bad name, URL or cap), LODE_EUNAVAIL, or
 * the mapped database error. */
enum lode_code db_database_create(const char *admin_url, const char *name, char *url_out,
                                  size_t cap, struct lode_error *err);

/* Drops database `name` if it exists, ending its sessions. Returns as db_database_create. */
enum lode_code db_database_drop(const char *admin_url, const char *name, struct lode_error *err);

/* Runs one read query without parameters and calls row(ctx, ncols, values) for each row, with
 * values as text (NULL for SQL NULL). Returns LODE_OK or the mapped database error. */
enum lode_code db_query_text(struct db_conn *conn, const char *sql,
                             void (*row)(void *ctx, int ncols, const char *const *values),
                             void *ctx, struct lode_error *err);

#endif
