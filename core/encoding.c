/*
 * core/encoding.c — hex and base64 on top of libsodium's constant-time codecs.
 */
#include "core/encoding.h"

#include <sodium.h>

void hex_encode(const uint8_t *in, size_t len, char *out)
{
    sodium_bin2hex(out, HEX_ENCODED_BYTES(len), in, len);
}

bool hex_decode(const char *text, size_t text_len, uint8_t *out, size_t cap, size_t *len_out)
{
    size_t n = 0;
    const char *end = NULL;

    if (text_len % 2 != 0 || text_len / 2 > cap)
        return false;
    if (sodium_hex2bin(out, cap, text, text_len, NULL, &n, &end) != 0)
        return false;
    if (end != text + text_len || n != text_len / 2)
        return false;
    *len_out = n;
    return true;
}

void base64_encode(const uint8_t *in, size_t len, char *out)
{
    sodium_bin2base64(out, BASE64_ENCODED_BYTES(len), in, len, sodium_base64_VARIANT_ORIGINAL);
}

bool base64_decode(const char *text, size_t text_len, uint8_t *out, size_t cap, size_t *len_out)
{
    size_t n = 0;
    const char *end = NULL;

    if (text_len % 4 != 0 || (text_len / 4) * 3 > cap + 2)
        return false;
    if (sodium_base642bin(out, cap, text, text_len, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    if (end != text + text_len)
        return false;
    *len_out = n;
    return true;
}
