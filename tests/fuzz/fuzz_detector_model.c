/*
 * tests/fuzz/fuzz_detector_model.c — the detector model loader. The input is loaded as is
 * (almost always refused by the checksum) and again with a correct BLAKE2b-256 checksum
 * appended, so that the section framing, metadata and table checks behind it are reached.
 */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "detector/detector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct detector_model *m = NULL;
    struct lode_error err;
    uint8_t *buf;

    if (detector_model_load_buffer(data, size, &m, &err) == LODE_OK)
        detector_model_free(m);
    if (size > (1u << 22) || sodium_init() < 0)
        return 0;
    buf = malloc(size + 32);
    if (buf == NULL)
        return 0;
    if (size > 0)
        memcpy(buf, data, size);
    crypto_generichash(buf + size, 32, buf, size, NULL, 0);
    m = NULL;
    if (detector_model_load_buffer(buf, size + 32, &m, &err) == LODE_OK)
        detector_model_free(m);
    free(buf);
    return 0;
}
