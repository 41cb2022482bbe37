/*
 * core/encoding.h — hex and base64 (RFC 4648 standard alphabet, padded) codecs.
 *
 * Decoders are strict: no whitespace, no missing or extra padding, no stray characters, and
 * the decoded length must fit the caller's buffer. Pure functions; any thread.
 */
#ifndef LODE_CORE_ENCODING_H
#define LODE_CORE_ENCODING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes needed for the encoded text of n input bytes, including the NUL. */
#define HEX_ENCODED_BYTES(n) ((n) * 2 + 1)
#define BASE64_ENCODED_BYTES(n) ((((n) + 2) / 3) * 4 + 1)

/* Writes lower-case hex and a NUL; out must hold HEX_ENCODED_BYTES(len). */
void hex_encode(const uint8_t *in, size_t len, char *out);

/* Decodes exactly text_len hex characters (either case) into out (cap bytes).
 * Returns false on a bad character, odd length or a result larger than cap. */
bool hex_decode(const char *text, size_t text_len, uint8_t *out, size_t cap, size_t *len_out);

/* Writes padded standard base64 and a NUL; out must hold BASE64_ENCODED_BYTES(len). */
void base64_encode(const uint8_t *in, size_t len, char *out);

/* Strict decode of padded standard base64. Returns false on any deviation or overflow. */
bool base64_decode(const char *text, size_t text_len, uint8_t *out, size_t cap, size_t *len_out);

#endif
