/*
 * tests/fuzz/fuzz_ledger_tile_path.c — the strict tile path parser (the HTTP router's input).
 * Whatever parses must format back to exactly the same bytes.
 */
#include <stdint.h>
#include <string.h>

#include "ledger/tile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct tile_id t;
    char back[TILE_PATH_BYTES_MAX];

    if (tile_path_parse((const char *)data, size, &t) != LODE_OK)
        return 0;
    if (tile_path_format(&t, back, sizeof back) != LODE_OK || strlen(back) != size ||
        memcmp(back, data, size) != 0)
        __builtin_trap();
    return 0;
}
