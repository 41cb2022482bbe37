/*
 * tests/fuzz/fuzz_api_accept_encoding.c — the Accept-Encoding reader (http_accepts_coding)
 * over arbitrary field values, for the codings the server offers and for an empty one.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "api/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = malloc(size + 1);

    if (value == NULL)
        return 0;
    memcpy(value, data, size);
    value[size] = '\0';
    bool zstd = http_accepts_coding(value, "zstd");
    (void)http_accepts_coding(value, "gzip");
    (void)http_accepts_coding(value, "");
    /* a value that names nothing acceptable is not made acceptable by appending a refusal */
    if (!zstd && size < 512) {
        char *more = malloc(size + 16);
        if (more != NULL) {
            memcpy(more, value, strlen(value));
            strcpy(more + strlen(value), ",zstd;q=0");
            assert(!http_accepts_coding(more, "zstd"));
            free(more);
        }
    }
    free(value);
    return 0;
}
