/*
 * tests/fuzz/fuzz_dedupe_normalise.c — normalisation, shingles, signature, band keys and
 * verification on arbitrary bytes. The first byte picks the shingle scheme; the rest is split
 * in two texts at the first 0x00 byte (or halfway) to exercise the pairwise functions.
 * Checks invariants: the fast path equals the all-utf8proc reference byte for byte,
 * normalising twice changes nothing, output is valid UTF-8 with single separators, a text is an exact duplicate of itself, and similarity lies in [0, 1].
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "dedupe/dedupe.h"
#include "dedupe/internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dedupe_workspace ws;
    struct dedupe_params p;
    struct dedupe_signature sa, sb;
    struct dedupe_match m;
    struct dedupe_keys keys;
    uint64_t bands[DEDUPE_HASHES];
    const char *norm, *norm2;
    char *copies[2] = {NULL, NULL};
    size_t lens[2] = {0, 0}, n, n2, split;
    const char *text;
    const uint8_t *zero;

    if (size < 1)
        return 0;
    if (dedupe_params_init(&p, (data[0] & 1) ? DEDUPE_SHINGLE_WORD : DEDUPE_SHINGLE_CHAR,
                           1u + (data[0] >> 1) % 8, 0.5 + (data[0] >> 4) / 32.0, NULL) != LODE_OK)
        abort();
    data++;
    size--;
    text = (const char *)data;
    zero = memchr(data, 0, size);
    split = zero != NULL ? (size_t)(zero - data) : size / 2;

    for (int half = 0; half < 2; half++) {
        const char *t = half == 0 ? text : text + split + (zero != NULL);
        size_t len = half == 0 ? split : size - split - (zero != NULL);
        struct dedupe_signature *sig = half == 0 ? &sa : &sb;

        if (dedupe_text_analyse(&ws, &p, t, len, &keys, sig, &norm, &n, NULL) != LODE_OK)
            goto done;
        /* valid UTF-8, no leading, trailing or double separator */
        assert(utf8proc_decompose((const utf8proc_uint8_t *)norm, (utf8proc_ssize_t)n, NULL, 0,
                                  0) >= 0);
        assert(n == 0 || (norm[0] != ' ' && norm[n - 1] != ' '));
        assert(strstr(norm, "  ") == NULL);
        assert(strlen(norm) == n);
        copies[half] = malloc(n + 1);
        memcpy(copies[half], norm, n + 1);
        lens[half] = n;
        if (dedupe_text_normalise_reference(&ws, t, len, &norm2, &n2, NULL) != LODE_OK)
            abort();
        assert(n2 == n && memcmp(norm2, copies[half], n) == 0);
        /* idempotent */
        if (dedupe_text_normalise(&ws, copies[half], n, &norm2, &n2, NULL) != LODE_OK)
            abort();
        assert(n2 == n && memcmp(norm2, copies[half], n) == 0);
        assert(dedupe_signature_bands(&p, sig, bands) == (sig->shingles ? p.bands : 0));
    }
    if (dedupe_candidate_verify(&ws, &p, &sa, &sb, copies[0], lens[0], copies[1], lens[1], &m,
                                NULL) != LODE_OK)
        abort();
    assert(m.similarity >= 0.0 && m.similarity <= 1.0);
    assert(m.estimate >= 0.0 && m.estimate <= 1.0);
    if (dedupe_candidate_verify(&ws, &p, &sa, &sa, copies[0], lens[0], copies[0], lens[0], &m,
                                NULL) != LODE_OK)
        abort();
    assert(m.verdict == DEDUPE_EXACT);
done:
    free(copies[0]);
    free(copies[1]);
    return 0;
}
