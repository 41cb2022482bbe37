/*
 * cli/cmd_migrate.c — `lode migrate`: apply the migrations embedded in this binary.
 *
 * Prints each migration it applied, then the schema version. Safe to run from several places
 * at once (an advisory lock serialises migrators); a changed, already-applied migration stops
 * it with exit status 3 and nothing applied.
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/commands.h"
#include "core/options.h"
#include "storage/db.h"

int cmd_migrate(int argc, char **argv)
{
    const char *url = NULL;
    const struct option_spec options[] = {
        {"database-url", OPTION_STRING, &url, CLI_DATABASE_URL_DEFAULT, CLI_DATABASE_URL_HELP, 0,
         0},
        {0},
    };
    const struct command_spec spec = {
        "migrate", "Apply pending database migrations.",
        "Runs every migration compiled into this binary that the database lacks, each in its\n"
        "own transaction, and records it with its SHA-256 in schema_migrations. An applied\n"
        "migration whose text changed is an error: migrations are forward-only.",
        options, NULL};
    int first = 0, applied = 0;
    size_t count = 0;
    const struct db_migration *list = db_migrations(&count);
    struct lode_error err = {0};
    struct db_conn *conn = NULL;
    bool *before;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP:
        return EXIT_OK;
    case OPTIONS_ERROR:
        return EXIT_USAGE;
    case OPTIONS_OK:
        break;
    }
    if (db_conn_open(url, &conn, &err) != LODE_OK) {
        fprintf(stderr, "lode migrate: %s: %s\n", err.message, err.log_detail);
        return EXIT_RUNTIME;
    }
    before = calloc(count + 1, sizeof *before);
    if (before == NULL || db_migrations_status(conn, before, &err) != LODE_OK ||
        db_migrate(conn, &applied, &err) != LODE_OK) {
        fprintf(stderr, "lode migrate: %s%s%s\n", before == NULL ? "out of memory" : err.message,
                err.log_detail[0] != '\0' ? ": " : "", err.log_detail);
        if (err.hint[0] != '\0')
            fprintf(stderr, "hint: %s\n", err.hint);
        free(before);
        db_conn_close(conn);
        return EXIT_RUNTIME;
    }
    /* another migrator may have applied some of those pending before: ask again */
    bool *after = calloc(count + 1, sizeof *after);
    int newly = 0;
    if (after != NULL && db_migrations_status(conn, after, &err) == LODE_OK)
        for (size_t i = 0; i < count; i++)
            newly += !before[i] && after[i];
    if (after == NULL) {
        /* could not ask again: the count above is still right */
    } else if (newly == applied) {
        for (size_t i = 0; i < count; i++)
            if (!before[i] && after[i])
                printf("applied %s\n", list[i].name);
    } else {
        printf("%d more migration%s applied by another migrator meanwhile\n", newly - applied,
               newly - applied == 1 ? " was" : "s were");
    }
    printf("%d migration%s applied; schema at version %d\n", applied, applied == 1 ? "" : "s",
           count > 0 ? list[count - 1].version : 0);
    free(after);
    free(before);
    db_conn_close(conn);
    return EXIT_OK;
}
