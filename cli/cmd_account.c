/*
 * cli/cmd_account.c — `lode account create|token`: accounts and API tokens from the shell.
 *
 * This is how the first operator account comes to exist. A token is printed once, alone on the
 * last line of standard output so scripts can capture it (`| tail -n 1`); only its hash is
 * kept. Both subcommands first apply pending migrations (as `lode migrate` would) so they work
 * on a fresh database; --no-migrate makes them refuse a database that is not current instead.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/options.h"
#include "storage/account_store.h"
#include "storage/db.h"

static void print_error(const char *cmd, const struct lode_error *err)
{
    fprintf(stderr, "lode account %s: %s", cmd, err->message);
    if (err->log_detail[0] != '\0')
        fprintf(stderr, " (%s)", err->log_detail);
    fprintf(stderr, "\n");
    if (err->hint[0] != '\0')
        fprintf(stderr, "hint: %s\n", err->hint);
}

/* Opens the database and brings the schema up to date (or checks it). NULL after an error. */
static struct db_conn *open_schema(const char *cmd, const char *url, bool no_migrate)
{
    struct lode_error err = {0};
    struct db_conn *conn = NULL;
    int applied = 0;

    if (db_conn_open(url, &conn, &err) != LODE_OK) {
        print_error(cmd, &err);
        return NULL;
    }
    if (no_migrate ? db_migrations_current(conn, &err) != LODE_OK
                   : db_migrate(conn, &applied, &err) != LODE_OK) {
        print_error(cmd, &err);
        if (no_migrate)
            fprintf(stderr, "hint: run lode migrate first\n");
        db_conn_close(conn);
        return NULL;
    }
    if (applied > 0)
        fprintf(stderr, "lode account %s: applied %d pending migration%s first\n", cmd, applied,
                applied == 1 ? "" : "s");
    return conn;
}

/* "operator,labeler" -> bit set; 0 (after a message) for an empty list or an unknown role. */
static unsigned parse_roles(const char *list)
{
    char buf[256];
    unsigned roles = 0;
    char *save = NULL;

    if (list == NULL || strlen(list) >= sizeof buf) {
        fprintf(stderr, "lode account create: --role is required\n");
        return 0;
    }
    snprintf(buf, sizeof buf, "%s", list);
    for (char *tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        unsigned r = account_role_parse(tok);
        if (r == 0) {
            fprintf(stderr,
                    "lode account create: unknown role \"%s\" (roles: contributor, labeler, "
                    "trainer, publisher, fact-checker, operator)\n",
                    tok);
            return 0;
        }
        roles |= r;
    }
    if (roles == 0)
        fprintf(stderr, "lode account create: --role needs at least one role\n");
    return roles;
}

static void print_roles(unsigned roles)
{
    const char *sep = "";
    for (unsigned bit = 1; bit <= ROLE_ALL_MASK; bit <<= 1)
        if (roles & bit) {
            printf("%s%s", sep, account_role_name(bit));
            sep = ",";
        }
}

static int issue_token(const char *cmd, struct db_conn *conn, int64_t account_id, const char *name)
{
    struct lode_error err = {0};
    struct api_token token;
    char text[TOKEN_TEXT_BYTES];

    if (token_create(conn, account_id, name, &token, text, &err) != LODE_OK) {
        print_error(cmd, &err);
        return err.code == LODE_EINVAL || err.code == LODE_ENOTFOUND ? EXIT_USAGE : EXIT_RUNTIME;
    }
    printf("token %" PRId64 " \"%s\" for account %" PRId64
           " (shown once, on the next line; only its hash is stored)\n",
           token.id, token.name, account_id);
    printf("%s\n", text);
    memset(text, 0, sizeof text);
    return EXIT_OK;
}

static int account_create_cmd(int argc, char **argv)
{
    const char *url = NULL, *name = NULL, *role = NULL, *token_name = NULL;
    bool no_migrate = false;
    const struct option_spec options[] = {
        {"name", OPTION_STRING, &name, NULL, "display name of the account (required)", 0, 0},
        {"role", OPTION_STRING, &role, NULL,
         "comma-separated roles: contributor, labeler, trainer, publisher, fact-checker, "
         "operator (required)",
         0, 0},
        {"token-name", OPTION_STRING, &token_name, "initial", "name of the first API token", 0, 0},
        {"database-url", OPTION_STRING, &url, CLI_DATABASE_URL_DEFAULT, CLI_DATABASE_URL_HELP, 0, 0},
        {"no-migrate", OPTION_FLAG, &no_migrate, "false",
         "do not apply pending migrations; refuse a database that is not current", 0, 0},
        {0},
    };
    const struct command_spec spec = {
        "account create", "Create an account and its first API token.",
        "Prints the account, then the token alone on the last line (shown only this once):\n"
        "  TOKEN=$(lode account create --role operator --name ops | tail -n 1)",
        options, NULL};
    struct lode_error err = {0};
    struct account acct;
    struct db_conn *conn;
    unsigned roles;
    int first = 0, rc;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP:
        return EXIT_OK;
    case OPTIONS_ERROR:
        return EXIT_USAGE;
    case OPTIONS_OK:
        break;
    }
    if (name == NULL) {
        fprintf(stderr, "lode account create: --name is required\n");
        return EXIT_USAGE;
    }
    roles = parse_roles(role);
    if (roles == 0)
        return EXIT_USAGE;
    conn = open_schema("create", url, no_migrate);
    if (conn == NULL)
        return EXIT_RUNTIME;
    if (account_create(conn, name, roles, &acct, &err) != LODE_OK) {
        print_error("create", &err);
        db_conn_close(conn);
        return err.code == LODE_EINVAL ? EXIT_USAGE : EXIT_RUNTIME;
    }
    printf("account %" PRId64 " \"%s\" roles ", acct.id, acct.name);
    print_roles(acct.roles);
    printf("\n");
    rc = issue_token("create", conn, acct.id, token_name);
    db_conn_close(conn);
    return rc;
}

static int account_token_cmd(int argc, char **argv)
{
    const char *url = NULL, *name = NULL;
    int64_t account_id = 0;
    bool no_migrate = false;
    const struct option_spec options[] = {
        {"account", OPTION_INT, &account_id, NULL, "id of the account (required)", 1, INT64_MAX},
        {"name", OPTION_STRING, &name, NULL, "name of the token, e.g. where it is used (required)",
         0, 0},
        {"database-url", OPTION_STRING, &url, CLI_DATABASE_URL_DEFAULT, CLI_DATABASE_URL_HELP, 0, 0},
        {"no-migrate", OPTION_FLAG, &no_migrate, "false",
         "do not apply pending migrations; refuse a database that is not current", 0, 0},
        {0},
    };
    const struct command_spec spec = {
        "account token", "Issue another API token for an account.",
        "The token is printed alone on the last line, only this once.", options, NULL};
    struct db_conn *conn;
    int first = 0, rc;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP:
        return EXIT_OK;
    case OPTIONS_ERROR:
        return EXIT_USAGE;
    case OPTIONS_OK:
        break;
    }
    if (account_id == 0 || name == NULL) {
        fprintf(stderr, "lode account token: --account and --name are required\n");
        return EXIT_USAGE;
    }
    conn = open_schema("token", url, no_migrate);
    if (conn == NULL)
        return EXIT_RUNTIME;
    rc = issue_token("token", conn, account_id, name);
    db_conn_close(conn);
    return rc;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: lode account <subcommand> [options]\n\n"
                 "Accounts and API tokens.\n\nsubcommands:\n"
                 "  create         create an account and its first API token\n"
                 "  token          issue another API token for an account\n\n"
                 "'lode account <subcommand> --help' describes its options.\n");
}

int cmd_account(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "create") == 0)
        return account_create_cmd(argc - 1, argv + 1);
    if (strcmp(argv[1], "token") == 0)
        return account_token_cmd(argc - 1, argv + 1);
    fprintf(stderr, "lode account: unknown subcommand \"%s\"\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
