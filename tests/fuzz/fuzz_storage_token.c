/*
 * tests/fuzz/fuzz_storage_token.c — the untrusted-text checks of storage: bearer token form,
 * Idempotency-Key form and role names. Each must accept exactly what its contract says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/account_store.h"
#include "storage/idempotency_store.h"

#define INPUT_BYTES_MAX 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text;
    size_t len;

    if (size > INPUT_BYTES_MAX)
        return 0;
    text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    len = strlen(text);

    if (token_text_is_well_formed(text)) {
        if (len != 48 || memcmp(text, "lode_", 5) != 0 ||
            strspn(text + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
                43)
            abort();
    }
    if (idempotency_key_is_valid(text)) {
        if (len == 0 || len > IDEMPOTENCY_KEY_BYTES_MAX)
            abort();
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)text[i] < 0x21 || (unsigned char)text[i] > 0x7e)
                abort();
    }
    unsigned role = account_role_parse(text);
    if (role != 0 && strcmp(account_role_name(role), text) != 0)
        abort();
    free(text);
    return 0;
}
