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

/* Value of a base64 alphabet character, or -1. */
static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* libsodium's decoder maps some bytes outside the alphabet (>= 0x80) to values, so the text is
 * checked here first: alphabet only, '=' only as the last one or two characters, and the
 * bits that padding leaves unused are zero (one spelling per value). */
static bool b64_is_canonical(const char *text, size_t text_len)
{
    size_t pad = 0;

    if (text_len >= 1 && text[text_len - 1] == '=')
        pad = text_len >= 2 && text[text_len - 2] == '=' ? 2 : 1;
    for (size_t i = 0; i < text_len - pad; i++)
        if (b64_value((unsigned char)text[i]) < 0)
            return false;
    if (pad > 0) {
        int last = b64_value((unsigned char)text[text_len - pad - 1]);
        if (last < 0 || (last & (pad == 2 ? 0x0f : 0x03)) != 0)
            return false;
    }
    return true;
}

bool base64_decode(const char *text, size_t text_len, uint8_t *out, size_t cap, size_t *len_out)
{
    size_t n = 0;
    const char *end = NULL;

    if (text_len % 4 != 0 || (text_len / 4) * 3 > cap + 2)
        return false;
    if (!b64_is_canonical(text, text_len))
        return false;
    if (sodium_base642bin(out, cap, text, text_len, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    if (end != text + text_len)
        return false;
    *len_out = n;
    return true;
}
