/*
 * tests/fuzz/fuzz_ledger_bundle.c — entry bundle decoding, stored-bundle decompression and
 * the entry validator. A bundle that decodes re-encodes to the same bytes; a stored bundle
 * never decompresses beyond its cap; entries that validate are canonical.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ledger/bundle_codec.h"
#include "ledger/entry.h"
#include "ledger/tile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tile_bundle_entry entries[TILE_WIDTH];
    static uint8_t out[1 << 20];
    struct lode_error err;
    size_t n = 0, len = 0;

    if (tile_bundle_decode(data, size, 0, entries, TILE_WIDTH, &n) == LODE_OK) {
        if (tile_bundle_encode(entries, n, out, sizeof out, &len) != LODE_OK || len != size ||
            (size > 0 && memcmp(out, data, size) != 0))
            __builtin_trap();
        for (size_t i = 0; i < n && i < 4; i++)
            ledger_entry_validate((const char *)entries[i].data, entries[i].len, NULL, &err);
    }
    if (bundle_codec_decompress(NULL, 0, data, size, out, 4096, &len, &err) == LODE_OK &&
        len > 4096)
        __builtin_trap();
    ledger_entry_validate((const char *)data, size, NULL, &err);
    return 0;
}
