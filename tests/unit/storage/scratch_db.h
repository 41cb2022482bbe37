/*
 * tests/unit/storage/scratch_db.h — scratch databases for storage tests.
 *
 * scratch_db_init() reads LODE_TEST_DATABASE_URL and exits 77 (skipped) when it is unset.
 * scratch_db_create() makes an empty database lode_t_<pid>_<n> and returns a connection string
 * for it; scratch_db_cleanup() drops every database made. Main thread only.
 */
#ifndef LODE_TEST_SCRATCH_DB_H
#define LODE_TEST_SCRATCH_DB_H

#include <stddef.h>

#include "storage/db.h"

#define SCRATCH_URL_BYTES 2048

void scratch_db_init(void);
/* Writes the connection string of a new empty database to url_out; aborts on failure. */
void scratch_db_create(char url_out[SCRATCH_URL_BYTES]);
/* Opens a connection or aborts. */
struct db_conn *scratch_db_connect(const char *url);
void scratch_db_cleanup(void);

#endif
