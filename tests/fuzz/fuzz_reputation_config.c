/*
 * tests/fuzz/fuzz_reputation_config.c — the JSON settlement parameters parser: any input is
 * either refused with a code and message, or yields a configuration that passes its checks.
 */
#include <stdint.h>
#include <stdlib.h>

#include "reputation/reputation.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct reputation_config cfg;
    struct lode_error err = {0};

    if (reputation_config_parse((const char *)data, size, &cfg, &err) == LODE_OK) {
        if (reputation_config_check(&cfg, &err) != LODE_OK)
            abort();
    } else if (err.code == LODE_OK || err.message[0] == '\0') {
        abort();
    }
    return 0;
}
