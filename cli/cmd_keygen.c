/*
 * cli/cmd_keygen.c — `lode keygen`: an Ed25519 key pair for signing contributions or checkpoints.
 *
 * Writes the 32-byte seed as base64 to the private key file (mode 0600, refusing to overwrite)
 * and prints the public key as base64 on standard output.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/commands.h"
#include "core/encoding.h"
#include "core/options.h"

int cmd_keygen(int argc, char **argv)
{
    const char *out_path = NULL;
    bool force = false;
    const struct option_spec options[] = {
        {"out", OPTION_STRING, &out_path, "lode-ed25519.key",
         "file to write the private key (base64 of the 32-byte seed) to", 0, 0},
        {"force", OPTION_FLAG, &force, "false", "overwrite the file if it exists", 0, 0},
        {0},
    };
    const struct command_spec spec = {
        "keygen", "Write an Ed25519 key pair: the private key to a file, the public key to stdout.",
        "The public key is printed as base64 of its 32 bytes; register it with\n"
        "POST /v1/accounts/{id}/keys to sign contributions.",
        options, NULL};
    int first = 0;
    uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    uint8_t seed[crypto_sign_SEEDBYTES];
    char seed_b64[BASE64_ENCODED_BYTES(crypto_sign_SEEDBYTES)];
    char pk_b64[BASE64_ENCODED_BYTES(crypto_sign_PUBLICKEYBYTES)];
    int fd, flags;

    switch (options_parse(&spec, argc, argv, &first, stdout, stderr)) {
    case OPTIONS_HELP: return EXIT_OK;
    case OPTIONS_ERROR: return EXIT_USAGE;
    case OPTIONS_OK: break;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "lode keygen: could not initialise libsodium\n");
        return EXIT_RUNTIME;
    }
    crypto_sign_keypair(pk, sk);
    crypto_sign_ed25519_sk_to_seed(seed, sk);
    base64_encode(seed, sizeof seed, seed_b64);
    base64_encode(pk, sizeof pk, pk_b64);
    sodium_memzero(sk, sizeof sk);
    sodium_memzero(seed, sizeof seed);

    flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL);
    fd = open(out_path, flags, 0600);
    if (fd < 0) {
        fprintf(stderr, "lode keygen: could not create \"%s\": %s%s\n", out_path, strerror(errno),
                errno == EEXIST ? " (use --force to overwrite)" : "");
        return EXIT_RUNTIME;
    }
    size_t n = strlen(seed_b64);
    seed_b64[n] = '\n';
    if (write(fd, seed_b64, n + 1) != (ssize_t)(n + 1) || close(fd) != 0) {
        fprintf(stderr, "lode keygen: could not write \"%s\": %s\n", out_path, strerror(errno));
        return EXIT_RUNTIME;
    }
    sodium_memzero(seed_b64, sizeof seed_b64);
    printf("%s\n", pk_b64);
    return EXIT_OK;
}
