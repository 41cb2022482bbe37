/*
 * cli/main.c — the lode binary: dispatches to a subcommand.
 */
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"

static const struct command commands[] = {
    {"serve", cmd_serve, "serve the HTTP API (HTTP/2 and HTTP/1.1, TLS and cleartext)"},
    {"keygen", cmd_keygen, "write an Ed25519 key pair and print the public key"},
    {"verify", cmd_verify, "verify ledger checkpoints and proofs, or monitor a log"},
    {"aggregate", cmd_aggregate, "consensus labels from a CSV of crowd answers"},
    {"migrate", cmd_migrate, "apply pending database migrations"},
    {"account", cmd_account, "create accounts and issue API tokens"},
    {"money", cmd_money, "audit the money journal: balances, lines, deposits, withdrawals"},
    {"dedupe", cmd_dedupe, "find exact and near-duplicate records in a JSONL file"},
    {"detect", cmd_detect, "score the texts of a JSONL file for machine generation"},
    {"detect-train", cmd_detect_train, "train the synthetic-text detector model"},
};

static void usage(FILE *out)
{
    fprintf(out, "usage: lode <command> [options]\n\n"
                 "lode is a data marketplace with a provenance ledger.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n'lode <command> --help' describes a command's options; every option can\n"
                 "also be set with a LODE_* environment variable.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("lode %s\n", LODE_VERSION);
        return EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lode: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
