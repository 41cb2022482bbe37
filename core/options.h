/*
 * core/options.h — command-line options that also read LODE_* environment variables.
 *
 * A command declares its options as a table; options_parse() fills the targets from defaults,
 * then the environment (LODE_<NAME>, upper case, '-' as '_'), then the command line
 * (--name VALUE, --name=VALUE, or --name for flags), so flags win over the environment.
 * `--help` prints usage generated from the same table. Not thread-safe (start-up only).
 */
#ifndef LODE_CORE_OPTIONS_H
#define LODE_CORE_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum option_type {
    OPTION_STRING, /* target: const char ** */
    OPTION_INT,    /* target: int64_t *, bounded by min/max */
    OPTION_FLAG,   /* target: bool *; env accepts 1/0/true/false/yes/no */
};

struct option_spec {
    const char *name;   /* long name without dashes, e.g. "database-url" */
    enum option_type type;
    void *target;
    const char *default_value; /* as text; NULL = leave target as initialised */
    const char *help;
    int64_t min, max; /* OPTION_INT bounds */
};

struct command_spec {
    const char *name;     /* "serve" */
    const char *synopsis; /* one line */
    const char *description;
    const struct option_spec *options; /* terminated by a zeroed entry */
    const char *positional; /* usage text for positional arguments, or NULL for none */
};

enum options_result {
    OPTIONS_OK = 0,   /* parsed; *first_positional set */
    OPTIONS_HELP = 1, /* --help printed to out */
    OPTIONS_ERROR = 2 /* message printed to err */
};

/* Parses argv[1..argc-1] (argv[0] is the command name). On OPTIONS_OK, positional arguments are
 * argv[*first_positional .. argc-1] ("--" ends options). */
enum options_result options_parse(const struct command_spec *cmd, int argc, char **argv,
                                  int *first_positional, FILE *out, FILE *err);

/* Prints the usage text of a command. */
void options_usage(const struct command_spec *cmd, FILE *out);

#endif
