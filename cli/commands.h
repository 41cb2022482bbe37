/*
 * cli/commands.h — the subcommands of the lode binary.
 *
 * Each command is `int cmd_<name>(int argc, char **argv)` with argv[0] the command's name; it
 * returns the process exit status: 0 success, 1 a negative answer (a proof that does not
 * verify, a check that fails), 2 usage or input errors, 3 runtime failures (I/O, database).
 * Every command parses its options through core/options.h, so --help and LODE_* variables
 * work the same everywhere.
 */
#ifndef LODE_CLI_COMMANDS_H
#define LODE_CLI_COMMANDS_H

enum {
    EXIT_OK = 0,
    EXIT_NEGATIVE = 1,
    EXIT_USAGE = 2,
    EXIT_RUNTIME = 3,
};

struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
};

/* The --database-url option every database command takes (LODE_DATABASE_URL). */
#define CLI_DATABASE_URL_DEFAULT "postgresql:///lode"
#define CLI_DATABASE_URL_HELP "PostgreSQL connection URI or key=value string"

int cmd_keygen(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_verify_jury(int argc, char **argv); /* lode verify jury (cmd_verify_jury.c) */
int cmd_aggregate(int argc, char **argv);
int cmd_migrate(int argc, char **argv);
int cmd_account(int argc, char **argv);
int cmd_dedupe(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_detect_train(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_money(int argc, char **argv);

#endif
