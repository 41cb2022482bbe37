/*
 * tests/fuzz/fuzz_detector_text.c — the detector's validation, normalisation and feature
 * extraction, and scoring under a small model trained once from hand-made texts (all
 * features enabled, so the n-gram tables and zstd dictionaries are exercised too).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "detector/detector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct detector_model *model;

static void train_once(void)
{
    static const char *const a[] = {"we went down to the harbour and honestly it was a mess, ",
                                    "my bike broke again! ", "nobody knew why the bus was late. "};
    static const char *const b[] = {"Furthermore, the market plays a crucial role in the ",
                                    "overall experience. ", "Moreover, it is essential to note that "};
    struct detector_sample s[24];
    char *texts[24];
    uint8_t *bytes = NULL;
    size_t len = 0;
    struct lode_error err;
    for (int i = 0; i < 24; i++) {
        texts[i] = calloc(1, 2048);
        for (int j = 0; j < 12; j++)
            strcat(texts[i], (i % 2 ? b : a)[(i + j * 7) % 3]);
        s[i] = (struct detector_sample){texts[i], strlen(texts[i]), i % 2, "seed", NULL};
    }
    /* every feature used, machine_reference_llr too: a reference corpus of machine-like pieces */
    char *ref = calloc(1, 3 * 2048 + 16);
    for (int i = 1; i < 6; i += 2) {
        strcat(ref, texts[i]);
        strcat(ref, "\n%%\n");
    }
    struct detector_train_options opt = {1, NULL, NULL, 0, 0, false, ref, strlen(ref)};
    if (detector_train(s, 24, &opt, &bytes, &len, &err) != LODE_OK ||
        detector_model_load_buffer(bytes, len, &model, &err) != LODE_OK) {
        fprintf(stderr, "fuzz_detector_text: could not train: %s\n", err.message);
        abort();
    }
    free(bytes);
    free(ref);
    for (int i = 0; i < 24; i++)
        free(texts[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    double f[DETECTOR_FEATURE_COUNT];
    size_t words;
    struct lode_error err;
    struct detector_result r;

    if (model == NULL)
        train_once();
    (void)detector_text_features((const char *)data, size, f, &words, &err);
    if (detector_score(model, (const char *)data, size, &r, &err) == LODE_OK) {
        if (r.has_probability && !(r.probability >= 0 && r.probability <= 1))
            abort();
        if (r.verdict == DETECTOR_INSUFFICIENT && r.has_probability)
            abort();
    }
    return 0;
}
