/*
 * cli/cmd_money.c — `lode money audit`: checks the money journal's invariants in the database.
 *
 * Per currency it prints the balances by account kind, the deposits and withdrawals recorded
 * by the payment adapters, and four checks: the balances sum to zero, the journal lines sum to
 * zero, every balance equals the sum of its lines, and the money inside lode (everything but
 * the external account) equals the deposits minus the withdrawals not failed. Exit status 0
 * when every check holds, 1 when one fails, 2 usage, 3 database errors.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "core/arena.h"
#include "core/options.h"
#include "storage/db.h"
#include "storage/money_store.h"

static int audit(const char *url)
{
    struct lode_error err = {0};
    struct db_conn *conn = NULL;
    struct arena *arena = arena_create(1 << 20);
    struct money_total *t = NULL;
    size_t n = 0;
    int failed = 0;

    if (arena == NULL) {
        fprintf(stderr, "lode money: out of memory\n");
        return EXIT_RUNTIME;
    }
    if (db_conn_open(url, &conn, &err) != LODE_OK ||
        money_totals(conn, arena, &t, &n, &err) != LODE_OK) {
        fprintf(stderr, "lode money: %s%s%s\n", err.message, err.log_detail[0] != '\0' ? ": " : "",
                err.log_detail);
        db_conn_close(conn);
        arena_destroy(arena);
        return EXIT_RUNTIME;
    }
    for (size_t i = 0; i < n; i++) {
        int64_t inside = 0;
        bool inside_ok = true, flows_ok;
        for (int k = MONEY_ACCOUNT_USER; k <= MONEY_ACCOUNT_TASK; k++)
            if (__builtin_add_overflow(inside, t[i].by_kind[k], &inside))
                inside_ok = false;
        flows_ok = inside_ok && inside == t[i].deposits - t[i].withdrawals;
        printf("%s: user %" PRId64 ", juror_stake %" PRId64 ", escrow %" PRId64 ", task %" PRId64
               ", burn %" PRId64 ", external %" PRId64 "\n",
               t[i].currency, t[i].by_kind[MONEY_ACCOUNT_USER],
               t[i].by_kind[MONEY_ACCOUNT_JUROR_STAKE], t[i].by_kind[MONEY_ACCOUNT_ESCROW],
               t[i].by_kind[MONEY_ACCOUNT_TASK], t[i].by_kind[MONEY_ACCOUNT_BURN],
               t[i].by_kind[MONEY_ACCOUNT_EXTERNAL]);
        printf("%s: deposits %" PRId64 ", withdrawals not failed %" PRId64 "\n", t[i].currency,
               t[i].deposits, t[i].withdrawals);
        printf("%s: balances sum to zero: %s\n", t[i].currency, t[i].all == 0 ? "ok" : "FAILED");
        printf("%s: journal lines sum to zero: %s\n", t[i].currency,
               t[i].lines == 0 ? "ok" : "FAILED");
        printf("%s: every balance is the sum of its lines: %s\n", t[i].currency,
               t[i].lines_match ? "ok" : "FAILED");
        printf("%s: money inside = deposits - withdrawals: %s\n", t[i].currency,
               flows_ok ? "ok" : "FAILED");
        failed += (t[i].all != 0) + (t[i].lines != 0) + !t[i].lines_match + !flows_ok;
    }
    printf("%zu currenc%s, %d check%s failed\n", n, n == 1 ? "y" : "ies", failed,
           failed == 1 ? "" : "s");
    db_conn_close(conn);
    arena_destroy(arena);
    return failed == 0 ? EXIT_OK : EXIT_NEGATIVE;
}

int cmd_money(int argc, char **argv)
{
    const char *url = NULL;
    const struct option_spec options[] = {
        {"database-url", OPTION_STRING, &url, CLI_DATABASE_URL_DEFAULT, CLI_DATABASE_URL_HELP, 0,
         0},
        {0},
    };
    const struct command_spec spec = {
        "money", "Audit the money journal: lode money audit [options].",
        "audit: per currency, the balances by account kind, the deposits and withdrawals, and\n"
        "whether balances and journal lines sum to zero, every balance equals the sum of its\n"
        "lines, and the money inside equals deposits minus withdrawals (exit 1 if not).",
        options, "audit"};
    int first = 0;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP:
        return EXIT_OK;
    case OPTIONS_ERROR:
        return EXIT_USAGE;
    case OPTIONS_OK:
        break;
    }
    if (first >= argc || strcmp(argv[first], "audit") != 0 || first + 1 != argc) {
        fprintf(stderr, "lode money: expected one subcommand: audit\n");
        options_usage(&spec, stderr);
        return EXIT_USAGE;
    }
    return audit(url);
}
