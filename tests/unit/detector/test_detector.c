/*
 * tests/unit/detector/test_detector.c — features on hand-made texts, bad input, training
 * determinism, the model loader's checks, and the shipped model's recorded reference scores.
 */
#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "detector/detector.h"
#include "detector/internal.h"
#include "test_main.h"

enum { F_SENT_CV = 3, F_SENT_LEN = 4, F_MATTR = 5, F_WORD_LEN = 6, F_COMMA = 7, F_SEMI = 8,
       F_PAREN = 9, F_QE = 10, F_FUNCTION = 11 };

static void features_of(const char *text, double f[DETECTOR_FEATURE_COUNT], size_t *words)
{
    struct lode_error err;
    CU_ASSERT_EQUAL_FATAL(detector_text_features(text, strlen(text), f, words, &err), LODE_OK);
}

/* Sentences of the given lengths; word j of a sentence is "the" when j % 4 == 0, "of" when
 * j % 4 == 2, else a distinct three-letter word (letters only: digits fold to 0). With
 * distinct == false every word is "the". */
static char *sentences(const size_t *lens, size_t n, bool distinct)
{
    static const char *const letters = "abcdefghijklmnopqrstuvwxyz";
    char *s = calloc(1, 65536);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < lens[i]; j++) {
            char w[8];
            if (i + j > 0)
                strcat(s, " ");
            if (!distinct || j % 4 == 0) {
                strcat(s, j == 0 ? "The" : "the");
            } else if (j % 4 == 2) {
                strcat(s, "of");
            } else {
                snprintf(w, sizeof w, "%c%cx", letters[(k / 26) % 26], letters[k % 26]);
                strcat(s, w);
                k++;
            }
        }
        strcat(s, ".");
    }
    return s;
}

static void test_sentence_features(void)
{
    double f[DETECTOR_FEATURE_COUNT];
    size_t words, equal[] = {10, 10, 10, 10, 10}, varied[] = {5, 15, 5, 15, 5, 15};
    char *a = sentences(equal, 5, true), *b = sentences(varied, 6, true);
    features_of(a, f, &words);
    CU_ASSERT_EQUAL(words, 50);
    CU_ASSERT_DOUBLE_EQUAL(f[F_SENT_CV], 0.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(f[F_SENT_LEN], log(10.0), 1e-12);
    /* one window of 50 words: 25 distinct words + "the" + "of" */
    CU_ASSERT_DOUBLE_EQUAL(f[F_MATTR], 27.0 / 50.0, 1e-12);
    /* 25 three-letter words, 15 "the", 10 "of" */
    CU_ASSERT_DOUBLE_EQUAL(f[F_WORD_LEN], (25 * 3 + 15 * 3 + 10 * 2) / 50.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(f[F_FUNCTION], 25.0 / 50.0, 1e-12);
    features_of(b, f, &words);
    CU_ASSERT_EQUAL(words, 60);
    CU_ASSERT_DOUBLE_EQUAL(f[F_SENT_CV], 0.5, 1e-12); /* mean 10, standard deviation 5 */
    free(a);
    free(b);
}

static size_t feature_index(const char *name)
{
    size_t k = 0;
    while (detector_feature_name(k) != NULL && strcmp(detector_feature_name(k), name) != 0)
        k++;
    CU_ASSERT_PTR_NOT_NULL_FATAL(detector_feature_name(k));
    return k;
}

/* Repeated word 3-grams, per 100-word window. */
static void test_trigram_repeat(void)
{
    double f[DETECTOR_FEATURE_COUNT];
    size_t words, equal[] = {10, 10, 10, 10, 10}, one[] = {60}, long250[] = {250},
                  long240[] = {240}, k = feature_index("word_trigram_repeat");
    char *s = sentences(equal, 5, true); /* every 3-gram holds a word used once */
    features_of(s, f, &words);
    CU_ASSERT_DOUBLE_EQUAL(f[k], 0.0, 1e-12);
    free(s);
    s = sentences(one, 1, false); /* 58 3-grams "the the the", 57 of them repeats */
    features_of(s, f, &words);
    CU_ASSERT_DOUBLE_EQUAL(f[k], 57.0 / 58.0, 1e-12);
    free(s);
    s = sentences(long250, 1, false); /* windows of 100, 100 and 50 words */
    features_of(s, f, &words);
    CU_ASSERT_EQUAL(words, 250);
    CU_ASSERT_DOUBLE_EQUAL(f[k], (97.0 / 98.0 * 2 + 47.0 / 48.0) / 3.0, 1e-12);
    free(s);
    s = sentences(long240, 1, false); /* a last window of 40 words is left out */
    features_of(s, f, &words);
    CU_ASSERT_DOUBLE_EQUAL(f[k], 97.0 / 98.0, 1e-12);
    free(s);
}

static void test_vocabulary_and_function_words(void)
{
    double f[DETECTOR_FEATURE_COUNT];
    size_t words, lens[] = {60};
    char *s = sentences(lens, 1, false); /* "The the the ... ." */
    features_of(s, f, &words);
    CU_ASSERT_EQUAL(words, 60);
    CU_ASSERT_DOUBLE_EQUAL(f[F_MATTR], 1.0 / 50.0, 1e-12); /* one type in every window of 50 */
    CU_ASSERT_DOUBLE_EQUAL(f[F_FUNCTION], 1.0, 1e-12);
    free(s);
}

/* The assistant word list: case is folded, only whole words of the list count (not
 * "delivered", "furthering" or "insightful"), and a word repeated within the window counts once. */
static void test_assistant_vocabulary(void)
{
    double f[DETECTOR_FEATURE_COUNT];
    size_t words;
    /* 60 words; list words: Furthermore, DELVE, crucial, Tapestry, utilizing, landscape, and
     * "crucial" again (repeated within the window: not counted) */
    const char *t = "Furthermore, we DELVE into the crucial question of how the river shaped "
                    "the town, a Tapestry of streets and bridges. The builders were utilizing "
                    "stone from the hills, and the landscape changed. Nobody delivered the "
                    "post, furthering the sense of a crucial place; an insightful "
                    "visitor wrote that the town slept while the water kept on moving past "
                    "the mills.";
    features_of(t, f, &words);
    CU_ASSERT_EQUAL(words, 60);
    CU_ASSERT_DOUBLE_EQUAL(f[FEAT_ASSISTANT_VOCAB], 6.0 / 60.0, 1e-12);

    /* the same list word once every 60 words: each occurrence is within the window of the one
     * before, so only the first counts; once every window + 1 words, each counts */
    for (size_t gap = 60; gap <= DETECTOR_ASSISTANT_WINDOW + 1; gap += DETECTOR_ASSISTANT_WINDOW + 1 - 60) {
        size_t n = 5 * gap, len = 0;
        char *buf = malloc(n * 8 + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(buf);
        for (size_t i = 0; i < n; i++)
            len += (size_t)sprintf(buf + len, "%s ", i % gap == 0 ? "pivotal" : "the");
        features_of(buf, f, &words);
        CU_ASSERT_EQUAL(words, n);
        CU_ASSERT_DOUBLE_EQUAL(f[FEAT_ASSISTANT_VOCAB],
                               (gap > DETECTOR_ASSISTANT_WINDOW ? 5.0 : 1.0) / (double)n, 1e-12);
        free(buf);
    }
}

static void test_punctuation_rates(void)
{
    double f[DETECTOR_FEATURE_COUNT];
    size_t words;
    /* 53 words, 4 commas, 2 semicolons, 1 colon, one pair of parentheses, 3 sentences of which
     * 2 end with ! or ? */
    const char *t = "Well, we went to the shore early; the tide was out, and the sand was cold "
                    "(very cold) under our feet: nobody else was there at all! Did you ever see "
                    "the gulls, the crabs and the boats, all of them waiting; for what? We all "
                    "went home to sleep early that night.";
    features_of(t, f, &words);
    CU_ASSERT_EQUAL(words, 53);
    CU_ASSERT_DOUBLE_EQUAL(f[F_COMMA], 4.0 / 53.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(f[F_SEMI], 3.0 / 53.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(f[F_PAREN], 2.0 / 53.0, 1e-12);
    CU_ASSERT_DOUBLE_EQUAL(f[F_QE], 2.0 / 3.0, 1e-12);
}

/* Corpus conventions must not change any feature: case, tokeniser spacing, newlines, quotes. */
static void test_normalisation_neutralises_conventions(void)
{
    double a[DETECTOR_FEATURE_COUNT], b[DETECTOR_FEATURE_COUNT];
    size_t wa, wb;
    const char *plain =
        "It's a fact that the council didn't fix the road (again), so we walked - slowly - to "
        "the station, which took an hour; \"never again\", said my sister, who was tired. The "
        "next day we took the car instead, and it was quicker, though parking cost more than "
        "the bus fare would have.";
    const char *tokenised =
        "IT 'S A FACT THAT THE COUNCIL DID N'T FIX THE ROAD ( AGAIN ) , SO WE WALKED - SLOWLY - "
        "TO\n\nTHE STATION , WHICH TOOK AN HOUR ; \xe2\x80\x9cnever again\xe2\x80\x9d , SAID MY "
        "SISTER , WHO WAS TIRED .\r\nTHE NEXT DAY WE TOOK THE CAR INSTEAD , AND IT WAS QUICKER , "
        "THOUGH PARKING COST MORE THAN THE BUS FARE WOULD HAVE .";
    features_of(plain, a, &wa);
    features_of(tokenised, b, &wb);
    CU_ASSERT_EQUAL(wa, wb);
    for (size_t i = 0; i < DETECTOR_FEATURE_COUNT; i++)
        CU_ASSERT_DOUBLE_EQUAL(a[i], b[i], 1e-12);
}

static void expect_rejected(const char *text, size_t len, const char *needle)
{
    double f[DETECTOR_FEATURE_COUNT];
    size_t words;
    struct lode_error err;
    CU_ASSERT_EQUAL(detector_text_features(text, len, f, &words, &err), LODE_EINVAL);
    if (strstr(err.message, needle) == NULL)
        fprintf(stderr, "expected \"%s\" in \"%s\"\n", needle, err.message);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, needle));
}

static void test_bad_input(void)
{
    const char greek[] = "\xce\x91\xcf\x85\xcf\x84\xcf\x8c \xce\xb5\xce\xaf\xce\xbd\xce\xb1\xce\xb9 "
                         "\xce\xad\xce\xbd\xce\xb1 \xce\xba\xce\xb5\xce\xaf\xce\xbc\xce\xb5\xce\xbd"
                         "\xce\xbf \xcf\x83\xcf\x84\xce\xb1 \xce\xb5\xce\xbb\xce\xbb\xce\xb7\xce\xbd"
                         "\xce\xb9\xce\xba\xce\xac.";
    const char *french =
        "Le chat dort sur le canap\xc3\xa9 depuis ce matin, et personne ne veut le d\xc3\xa9ranger "
        "parce qu'il a l'air si tranquille. Nous avons mang\xc3\xa9 des cr\xc3\xaapes, puis nous "
        "sommes sortis nous promener le long de la rivi\xc3\xa8re jusqu'au vieux pont de pierre, "
        "o\xc3\xb9 les enfants jouaient encore avec leurs bateaux de papier sous le soleil.";
    char digits[600], bin[300];
    memset(digits, 0, sizeof digits);
    for (int i = 0; i < 60; i++)
        strcat(digits, "12.5% 3 ");
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (char)(i % 32); /* valid UTF-8, but control characters and NULs */
    expect_rejected("", 0, "too short");
    expect_rejected("Hello there, this is short.", 27, "too short");
    expect_rejected("\xff\xfe text", 7, "not valid UTF-8");
    expect_rejected(bin, sizeof bin, "binary");
    expect_rejected(greek, strlen(greek), "script");
    expect_rejected(french, strlen(french), "English");
    expect_rejected(digits, strlen(digits), "letters");
}

/* Lines left out of a prepared text (and whether it was accepted). */
static size_t lines_left_out(const char *text, size_t *words)
{
    struct detector_text t;
    struct lode_error err;
    bool insufficient;
    CU_ASSERT_EQUAL_FATAL(detector_text_prepare(text, strlen(text), &t, &insufficient, &err),
                          LODE_OK);
    size_t n = t.lines_left_out;
    *words = t.nwords;
    detector_text_release(&t);
    return n;
}

static void expect_same_features(const char *a, const char *b)
{
    double fa[DETECTOR_FEATURE_COUNT], fb[DETECTOR_FEATURE_COUNT];
    size_t wa, wb;
    features_of(a, fa, &wa);
    features_of(b, fb, &wb);
    CU_ASSERT_EQUAL(wa, wb);
    for (size_t i = 0; i < DETECTOR_FEATURE_COUNT; i++)
        CU_ASSERT_DOUBLE_EQUAL(fa[i], fb[i], 1e-12);
}

static void test_structured_lines(void)
{
    size_t lens[] = {12, 9, 15, 11, 14}, words;
    char *prose = sentences(lens, 5, true), *text = malloc(16384), line[128];

    /* a pasted log: the same line with other numbers, and an error repeated verbatim */
    snprintf(text, 16384, "%s\n", prose);
    for (int i = 0; i < 20; i++) {
        snprintf(line, sizeof line, "18:51:%02d lists/l-k has %d msgs in unseen\n", 10 + i, 57 - i);
        strcat(text, line);
    }
    for (int i = 0; i < 3; i++)
        strcat(text, "E: Tried to dequeue a fetching object\n");
    CU_ASSERT_EQUAL(lines_left_out(text, &words), 23);
    expect_same_features(prose, text);

    /* rows of figures and a rule are left out wherever they are; prose lines around them stay */
    snprintf(text, 16384, "Here are the results:\n    0.707  0.530  won    -25.04%%\n"
                          "    0.873  0.524  won    -39.98%%\n==========\n%s", prose);
    CU_ASSERT_EQUAL(lines_left_out(text, &words), 3);
    CU_ASSERT_EQUAL(words, 4 + 61);

    /* a sentence repeated on its own lines is prose, as in a model's loop: it stays */
    snprintf(text, 16384, "%s\nWe will keep going.\nWe will keep going.\nWe will keep going.\n",
             prose);
    CU_ASSERT_EQUAL(lines_left_out(text, &words), 0);
    CU_ASSERT_EQUAL(words, 61 + 12);
    /* so does a short line seen only twice, and a long one seen three times */
    snprintf(text, 16384, "%s\nsee the log\nsee the log\n", prose);
    CU_ASSERT_EQUAL(lines_left_out(text, &words), 0);
    snprintf(text, 16384, "%s\n", prose);
    for (int i = 0; i < 3; i++)
        strcat(text, "one two three four five six seven eight nine ten eleven twelve thirteen\n");
    CU_ASSERT_EQUAL(lines_left_out(text, &words), 0);

    /* CRLF and bare CR line ends, and a table drawn with box characters */
    snprintf(text, 16384, "%s\r\n", prose);
    for (int i = 0; i < 4; i++)
        strcat(text, "E: Tried to dequeue a fetching object\r\n");
    CU_ASSERT_EQUAL(lines_left_out(text, &words), 4);
    snprintf(text, 16384, "%s\r", prose);
    for (int i = 0; i < 4; i++)
        strcat(text, "E: Tried to dequeue a fetching object\r");
    CU_ASSERT_EQUAL(lines_left_out(text, &words), 4);
    expect_same_features(prose, text);
    snprintf(text, 16384, "%s\n\xe2\x94\x82 a \xe2\x94\x82 b \xe2\x94\x82 c \xe2\x94\x82\n"
                          "\xe2\x94\x9c\xe2\x94\x80\xe2\x94\x80\xe2\x94\xbc\xe2\x94\x80"
                          "\xe2\x94\x80\xe2\x94\xa4\n", prose);
    CU_ASSERT_EQUAL(lines_left_out(text, &words), 2);
    CU_ASSERT_EQUAL(words, 61);

    /* a long log: nothing past the scanned bytes is scored, so it cannot fill the window */
    {
        size_t cap = 3 * DETECTOR_LINE_SCAN_BYTES, used;
        char *big = malloc(cap);
        struct detector_text t;
        struct lode_error err;
        bool insufficient;
        CU_ASSERT_PTR_NOT_NULL_FATAL(big);
        used = (size_t)snprintf(big, cap, "%s\n", prose);
        for (int i = 0; used + 64 < cap; i++)
            used += (size_t)snprintf(big + used, cap - used,
                                     "E: could not dequeue the fetching object %d\n", i);
        CU_ASSERT_EQUAL_FATAL(detector_text_prepare(big, used, &t, &insufficient, &err), LODE_OK);
        CU_ASSERT_TRUE(t.truncated);
        /* the prose, and at most the line that the scan limit cut (kept: never classified) */
        CU_ASSERT_TRUE(t.nwords >= 61 && t.nwords <= 61 + 7);
        CU_ASSERT_TRUE(t.lines_left_out > 2000);
        detector_text_release(&t);
        free(big);
    }

    /* what is left must still be long enough */
    snprintf(text, 16384, "It still seems slower than a month ago, see the log:\n");
    for (int i = 0; i < 30; i++) {
        snprintf(line, sizeof line, "18:51:%02d lists/l-k has %d msgs in unseen\n", 10 + i, 57 - i);
        strcat(text, line);
    }
    expect_rejected(text, strlen(text), "besides 30 lines of program output or tables");
    free(text);
    free(prose);
}

/* Hand-made training texts: "human" ones vary their sentences, "machine" ones are formulaic. */
static char *make_text(unsigned seed, int label)
{
    static const char *const nouns[] = {"river", "bus", "kitchen", "letter", "garden", "market",
                                        "teacher", "storm", "bridge", "window", "dog", "harbour"};
    static const char *const formal[] = {"Furthermore", "Moreover", "Additionally",
                                         "In conclusion", "Overall", "Ultimately"};
    char *s = calloc(1, 4096);
    unsigned x = seed * 2654435761u + 1;
    for (int i = 0; i < 8; i++) {
        x = x * 1103515245u + 12345u;
        const char *n1 = nouns[(x >> 8) % 12], *n2 = nouns[(x >> 16) % 12];
        char sent[256];
        if (label)
            snprintf(sent, sizeof sent, "%s, the %s plays a crucial role in enhancing the overall "
                     "experience of the %s. ", formal[(x >> 4) % 6], n1, n2);
        else if (x % 3 == 0)
            snprintf(sent, sizeof sent, "my %s broke again. ", n1);
        else
            snprintf(sent, sizeof sent, "we went past the old %s by the %s and honestly it was "
                     "a bit of a mess, nobody knew why! ", n1, n2);
        strcat(s, sent);
    }
    return s;
}

/* A machine reference corpus of formulaic pieces (other seeds than the training texts). */
static char *make_reference(void)
{
    char *ref = calloc(1, 8 * 4200);
    for (unsigned i = 0; i < 8; i++) {
        char *piece = make_text(500 + i, 1);
        strcat(ref, piece);
        strcat(ref, i + 1 < 8 ? "\n%%\n" : "\n");
        free(piece);
    }
    return ref;
}

static uint8_t *train_small(size_t *len, uint32_t drop)
{
    struct detector_sample s[48];
    char *texts[48], *ref = make_reference();
    uint8_t *model = NULL;
    struct lode_error err;
    for (int i = 0; i < 48; i++) {
        texts[i] = make_text((unsigned)i, i % 2);
        s[i] = (struct detector_sample){texts[i], strlen(texts[i]), i % 2, i < 24 ? "a" : "b",
                                        NULL};
    }
    struct detector_train_options opt = {7, "{\"test\":true}", NULL, drop, 0, false,
                                         ref,   strlen(ref)};
    CU_ASSERT_EQUAL(detector_train(s, 48, &opt, &model, len, &err), LODE_OK);
    /* without a reference corpus, machine_reference_llr must be dropped */
    uint8_t *none = NULL;
    size_t none_len = 0;
    opt.reference_machine = NULL;
    opt.reference_machine_len = 0;
    if ((drop & 1u << FEAT_REF_LLR) == 0) {
        CU_ASSERT_EQUAL(detector_train(s, 48, &opt, &none, &none_len, &err), LODE_EINVAL);
        CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "reference"));
    }
    free(none);
    for (int i = 0; i < 48; i++)
        free(texts[i]);
    free(ref);
    return model;
}

/* Payload of section `tag` of a model file and its length, or NULL when absent. */
static const uint8_t *section_find(const uint8_t *a, size_t len, const char *tag,
                                   size_t *len_out)
{
    for (size_t off = 16; off + 8 <= len - 32;) {
        size_t l = (size_t)a[off + 4] | (size_t)a[off + 5] << 8 | (size_t)a[off + 6] << 16 |
                   (size_t)a[off + 7] << 24;
        if (memcmp(a + off, tag, 4) == 0) {
            *len_out = l;
            return a + off + 8;
        }
        off += 8 + l;
    }
    return NULL;
}

/* Length of section `tag` of a model file, or -1 when absent. */
static long section_len(const uint8_t *a, size_t len, const char *tag)
{
    size_t l;
    return section_find(a, len, tag, &l) != NULL ? (long)l : -1;
}

/* The META section of a model file, parsed (NULL when absent or not JSON). */
static json_t *model_meta(const uint8_t *a, size_t len)
{
    size_t l;
    const uint8_t *meta = section_find(a, len, "META", &l);
    return meta != NULL ? json_loadb((const char *)meta, l, 0, NULL) : NULL;
}

/* Trains on 120 human and 60 machine texts of source "a" and 20 of each of source "b". With
 * `kinds`, the human texts of "a" are six kinds of writing of 20 texts each. Returns the
 * model's synthetic threshold and its META. */
static double threshold_with_kinds(bool kinds, json_t **meta_out)
{
    enum { N = 220 };
    static const char *const names[] = {"k0", "k1", "k2", "k3", "k4", "k5"};
    struct detector_sample s[N];
    char *texts[N];
    uint8_t *bytes = NULL;
    size_t len = 0, k = 0;
    struct lode_error err;
    struct detector_model *m = NULL;
    for (unsigned i = 0; i < 120; i++, k++) {
        texts[k] = make_text(1000 + i, 0);
        s[k] = (struct detector_sample){texts[k], strlen(texts[k]), 0, "a",
                                        kinds ? names[i % 6] : NULL};
    }
    for (unsigned i = 0; i < 60; i++, k++) {
        texts[k] = make_text(2000 + i, 1);
        s[k] = (struct detector_sample){texts[k], strlen(texts[k]), 1, "a", NULL};
    }
    for (unsigned i = 0; i < 40; i++, k++) {
        texts[k] = make_text(3000 + i, (int)(i % 2));
        s[k] = (struct detector_sample){texts[k], strlen(texts[k]), (int)(i % 2), "b", NULL};
    }
    /* six of the shipped features (no text here uses the assistant list) */
    static const char *const keep[] = {"sentence_length", "mattr", "function_word_rate",
                                       "char_surprisal", "word_surprisal", "word_trigram_repeat"};
    uint32_t drop = (1u << DETECTOR_FEATURE_COUNT) - 1;
    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        drop &= ~(1u << feature_index(keep[i]));
    struct detector_train_options opt = {3, NULL, NULL, drop, 0, true, NULL, 0};
    CU_ASSERT_EQUAL_FATAL(detector_train(s, N, &opt, &bytes, &len, &err), LODE_OK);
    CU_ASSERT_EQUAL_FATAL(detector_model_load_buffer(bytes, len, &m, &err), LODE_OK);
    double t = m->threshold_synthetic;
    *meta_out = model_meta(bytes, len);
    detector_model_free(m);
    free(bytes);
    for (size_t i = 0; i < N; i++)
        free(texts[i]);
    return t;
}

/* Out-of-fold false-positive rate and texts scored of the human group of source "a". */
static double human_group_fpr(const json_t *meta, json_int_t *scored)
{
    size_t i;
    const json_t *g;
    json_array_foreach(json_object_get(json_object_get(meta, "training"), "groups"), i, g)
    {
        if (strcmp(json_string_value(json_object_get(g, "source")), "a") == 0 &&
            strcmp(json_string_value(json_object_get(g, "label")), "human") == 0) {
            *scored = json_integer_value(json_object_get(g, "scored"));
            return json_real_value(json_object_get(g, "oof_false_positive_rate"));
        }
    }
    *scored = 0;
    return -1;
}

static void test_threshold_holds_each_kind(void)
{
    json_t *plain, *kinded;
    json_int_t scored, scored_k;
    double t_plain = threshold_with_kinds(false, &plain);
    double t_kind = threshold_with_kinds(true, &kinded);
    CU_ASSERT_PTR_NOT_NULL_FATAL(plain);
    CU_ASSERT_PTR_NOT_NULL_FATAL(kinded);
    /* one source of more than 100 human texts: 1% lets one of them be flagged out of fold */
    double fpr = human_group_fpr(plain, &scored);
    CU_ASSERT_DOUBLE_EQUAL(fpr, 1.0 / (double)scored, 1e-12);
    CU_ASSERT_TRUE(scored > 100);
    CU_ASSERT_PTR_NULL(json_object_get(json_object_get(plain, "training"), "human_kinds"));
    /* six kinds of about 20 texts: 1% of each lets none be flagged, so the threshold rises */
    CU_ASSERT_TRUE(t_kind > t_plain);
    fpr = human_group_fpr(kinded, &scored_k);
    CU_ASSERT_DOUBLE_EQUAL(fpr, 0.0, 1e-12);
    const json_t *kinds = json_object_get(json_object_get(kinded, "training"), "human_kinds"), *k;
    size_t i;
    json_int_t total = 0;
    CU_ASSERT_EQUAL(json_array_size(kinds), 6);
    json_array_foreach(kinds, i, k)
    {
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(k, "source")), "a");
        char name[24];
        snprintf(name, sizeof name, "k%zu", i);
        CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(k, "kind")), name);
        CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(k, "oof_false_positive_rate")),
                               0.0, 1e-12);
        total += json_integer_value(json_object_get(k, "scored"));
    }
    CU_ASSERT_EQUAL(total, scored_k);
    json_decref(plain);
    json_decref(kinded);
}


static void add_count(uint32_t bucket, void *ctx)
{
    ((double *)ctx)[bucket] += 1;
}

static void test_reference_corpus(void)
{
    char *p1 = make_text(300, 1), *p2 = make_text(301, 1), corpus[8192];
    snprintf(corpus, sizeof corpus, "%s\n%%%%\r\ntoo short to keep\n%%%%\n%s\n", p1, p2);
    free(p1);
    free(p2);
    char *dict = NULL;
    size_t dict_len = 0, pieces = 0;
    struct lode_error err;
    CU_ASSERT_EQUAL_FATAL(
        detector_reference_prepare(corpus, strlen(corpus), &dict, &dict_len, &pieces, &err),
        LODE_OK);
    CU_ASSERT_EQUAL(pieces, 2); /* the short middle piece is left out */
    CU_ASSERT_EQUAL(memchr(dict, '%', dict_len), NULL);
    CU_ASSERT_EQUAL(memchr(dict, 'F', dict_len), NULL); /* normalised: case folded */
    /* character models: the reference corpus, and a background of the casual texts */
    double *ref = calloc((size_t)1 << DETECTOR_TABLE_BITS, sizeof(double));
    double *bg = calloc((size_t)1 << DETECTOR_TABLE_BITS, sizeof(double));
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bg);
    size_t bg_chars = 0;
    detector_lm_grams(dict, dict_len, add_count, ref);
    for (unsigned i = 0; i < 6; i++) {
        char *h = make_text(900 + i, 0);
        struct detector_text t;
        bool insufficient;
        CU_ASSERT_EQUAL_FATAL(detector_text_prepare(h, strlen(h), &t, &insufficient, &err),
                              LODE_OK);
        detector_lm_grams(t.buf, t.len, add_count, bg);
        bg_chars += t.len;
        detector_text_release(&t);
        free(h);
    }
    const struct detector_lm rl = {ref, NULL, (double)dict_len}, bl = {bg, NULL, (double)bg_chars};
    char *machine = make_text(77, 1), *human = make_text(78, 0);
    struct detector_text tm, th;
    bool insufficient;
    CU_ASSERT_EQUAL_FATAL(detector_text_prepare(machine, strlen(machine), &tm, &insufficient, &err),
                          LODE_OK);
    CU_ASSERT_EQUAL_FATAL(detector_text_prepare(human, strlen(human), &th, &insufficient, &err),
                          LODE_OK);
    double lm = detector_reference_llr(&rl, &bl, &tm), lh = detector_reference_llr(&rl, &bl, &th);
    /* the formulaic text reads like the reference, the casual one like the background */
    CU_ASSERT_TRUE(lm > 0.5);
    CU_ASSERT_TRUE(lh < -0.5);
    /* the same model on both sides: no evidence either way */
    CU_ASSERT_DOUBLE_EQUAL(detector_reference_llr(&rl, &rl, &tm), 0.0, 1e-12);
    /* a conditional probability is a probability */
    for (size_t k = 0; k < tm.len; k++) {
        double l = detector_lm_log2p(&rl, tm.buf, k);
        CU_ASSERT_TRUE(l < 0 && l > -20);
    }
    /* held-out counts are subtracted: removing everything leaves the smoothed unigram only */
    const struct detector_lm gone = {ref, ref, 0};
    CU_ASSERT_DOUBLE_EQUAL(detector_lm_log2p(&gone, tm.buf, 10), log2(1.0 / DETECTOR_LM_ALPHABET),
                           1e-12);
    detector_text_release(&tm);
    detector_text_release(&th);
    free(ref);
    free(bg);
    free(dict);
    free(machine);
    free(human);
    CU_ASSERT_EQUAL(detector_reference_prepare("%%\nshort\n%%\n", 13, &dict, &dict_len, &pieces,
                                               &err),
                    LODE_EINVAL);
}

static void test_train_deterministic_and_scores(void)
{
    size_t la = 0, lb = 0;
    uint8_t *a = train_small(&la, 0), *b = train_small(&lb, 0);
    struct detector_model *m = NULL;
    struct detector_result r;
    struct lode_error err;
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    CU_ASSERT_EQUAL(la, lb);
    CU_ASSERT_EQUAL(memcmp(a, b, la), 0);
    CU_ASSERT_EQUAL_FATAL(detector_model_load_buffer(a, la, &m, &err), LODE_OK);
    CU_ASSERT_PTR_NOT_NULL(strstr(detector_model_version(m), "lode-detector/4/"));
    /* every feature used: the dictionaries, the reference corpus and its background model are
     * stored; with the features that need them dropped, those sections are empty */
    CU_ASSERT_TRUE(section_len(a, la, "DICH") > 0);
    CU_ASSERT_TRUE(section_len(a, la, "REFM") > 0);
    CU_ASSERT_EQUAL(section_len(a, la, "BGLM"), 4L << DETECTOR_TABLE_BITS);
    size_t lc = 0;
    uint8_t *c = train_small(&lc, 1u << FEAT_ZSTD_XENT | 1u << FEAT_REF_LLR);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_EQUAL(section_len(c, lc, "DICH"), 0);
    CU_ASSERT_EQUAL(section_len(c, lc, "DICM"), 0);
    CU_ASSERT_EQUAL(section_len(c, lc, "REFM"), 0);
    CU_ASSERT_EQUAL(section_len(c, lc, "BGLM"), 0);
    CU_ASSERT_EQUAL(section_len(c, lc, "CHAR"), 2L << DETECTOR_TABLE_BITS); /* still used */
    struct detector_model *mc = NULL;
    CU_ASSERT_EQUAL(detector_model_load_buffer(c, lc, &mc, &err), LODE_OK);
    detector_model_free(mc);
    free(c);
    char *human = make_text(1000, 0), *machine = make_text(1001, 1);
    CU_ASSERT_EQUAL(detector_score(m, machine, strlen(machine), &r, &err), LODE_OK);
    CU_ASSERT_TRUE(r.has_probability);
    double pm = r.probability;
    CU_ASSERT_TRUE(r.evidence_count > 0);
    CU_ASSERT_EQUAL(detector_score(m, human, strlen(human), &r, &err), LODE_OK);
    CU_ASSERT_TRUE(r.has_probability);
    CU_ASSERT_TRUE(pm > r.probability);
    CU_ASSERT_TRUE(pm > 0.5 && r.probability < 0.5);
    double human_features[DETECTOR_FEATURE_COUNT];
    memcpy(human_features, r.features, sizeof human_features);
    CU_ASSERT_EQUAL(detector_score(m, "short", 5, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.verdict, DETECTOR_INSUFFICIENT);
    CU_ASSERT_FALSE(r.has_probability);
    /* thread-safety of scoring is by construction (model immutable); results are repeatable */
    struct detector_result r2;
    CU_ASSERT_EQUAL(detector_score(m, human, strlen(human), &r2, &err), LODE_OK);
    CU_ASSERT_EQUAL(memcmp(human_features, r2.features, sizeof human_features), 0);
    free(human);
    free(machine);
    detector_model_free(m);
    free(a);
    free(b);
}

/* Rank classes come from the human training texts only; the sentence spread of per-sentence
 * word surprisal is 0 when every sentence is the same. */
static void test_rank_and_sentence_surprisal(void)
{
    size_t len = 0, top10 = feature_index("rank_top10"), top100 = feature_index("rank_top100"),
           top1000 = feature_index("rank_top1000"),
           spread = feature_index("sentence_surprisal_spread");
    uint8_t *a = train_small(&len, 0);
    struct detector_model *m = NULL;
    struct detector_result r;
    struct lode_error err;
    size_t lens[] = {60};
    char *the = sentences(lens, 1, false), same[2048] = "", mixed[2048] = "";
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(detector_model_load_buffer(a, len, &m, &err), LODE_OK);
    CU_ASSERT_EQUAL(detector_score(m, the, strlen(the), &r, &err), LODE_OK);
    CU_ASSERT_DOUBLE_EQUAL(r.features[top10], 1.0, 1e-12); /* "the": a top-10 human word */
    CU_ASSERT_DOUBLE_EQUAL(r.features[top100] + r.features[top1000], 0.0, 1e-12);
    for (int i = 0; i < 8; i++) { /* 8 x 9 words; 4 x 9 + 4 x 7 words */
        strcat(same, "We went past the old river by the bus. ");
        strcat(mixed, i % 2 ? "Zorp quib flen the dax wug plim. "
                            : "We went past the old river by the bus. ");
    }
    CU_ASSERT_EQUAL(detector_score(m, same, strlen(same), &r, &err), LODE_OK);
    CU_ASSERT_DOUBLE_EQUAL(r.features[spread], 0.0, 1e-6);
    double seen = r.features[top10] + r.features[top100] + r.features[top1000];
    CU_ASSERT_DOUBLE_EQUAL(seen, 1.0, 1e-12); /* every word occurs in the human texts */
    CU_ASSERT_EQUAL(detector_score(m, mixed, strlen(mixed), &r, &err), LODE_OK);
    CU_ASSERT_TRUE(r.features[spread] > 1.0); /* unseen words: many bits more per word */
    /* 24 of the 64 words were never seen in training: rank class "rarer" */
    CU_ASSERT_DOUBLE_EQUAL(r.features[top10] + r.features[top100] + r.features[top1000],
                           40.0 / 64.0, 1e-12);
    free(the);
    detector_model_free(m);
    free(a);
}

struct score_job {
    const struct detector_model *m;
    const char *text;
    double expected;
    int mismatches;
};

static void *score_many(void *arg)
{
    struct score_job *j = arg;
    for (int i = 0; i < 20; i++) {
        struct detector_result r;
        struct lode_error err;
        if (detector_score(j->m, j->text, strlen(j->text), &r, &err) != LODE_OK ||
            r.probability != j->expected)
            j->mismatches++;
    }
    return NULL;
}

/* One model, four threads scoring at once: every result equals the single-threaded one. */
static void test_concurrent_scoring(void)
{
    size_t len = 0;
    uint8_t *a = train_small(&len, 0);
    struct detector_model *m = NULL;
    struct detector_result r;
    struct lode_error err;
    pthread_t th[4];
    struct score_job jobs[4];
    char *text = make_text(2000, 1);
    CU_ASSERT_EQUAL_FATAL(detector_model_load_buffer(a, len, &m, &err), LODE_OK);
    CU_ASSERT_EQUAL(detector_score(m, text, strlen(text), &r, &err), LODE_OK);
    for (int i = 0; i < 4; i++) {
        jobs[i] = (struct score_job){m, text, r.probability, 0};
        CU_ASSERT_EQUAL(pthread_create(&th[i], NULL, score_many, &jobs[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CU_ASSERT_EQUAL(jobs[i].mismatches, 0);
    }
    free(text);
    detector_model_free(m);
    free(a);
}

static void reseal(uint8_t *buf, size_t len)
{
    crypto_generichash(buf + len - 32, 32, buf, len - 32, NULL, 0);
}

static void test_loader_rejects(void)
{
    size_t len = 0;
    uint8_t *a = train_small(&len, 0);
    struct detector_model *m = NULL;
    struct lode_error err;
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, 10, &m, &err), LODE_EINVAL);
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, len - 1, &m, &err), LODE_EINVAL);
    a[100] ^= 1; /* damaged: checksum */
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, len, &m, &err), LODE_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "checksum"));
    a[100] ^= 1;
    CU_ASSERT_EQUAL(a[8], DETECTOR_FORMAT_VERSION);
    a[8] = DETECTOR_FORMAT_VERSION - 1; /* an older format: its features differ */
    reseal(a, len);
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, len, &m, &err), LODE_EINVAL);
    a[8] = DETECTOR_FORMAT_VERSION;
    uint8_t *rank = memmem(a, len, "RKWD", 4); /* a rank class out of range */
    CU_ASSERT_PTR_NOT_NULL_FATAL(rank);
    rank[8] = 4;
    reseal(a, len);
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, len, &m, &err), LODE_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "rank"));
    rank[8] = 0;
    reseal(a, len);
    CU_ASSERT_EQUAL_FATAL(detector_model_load_buffer(a, len, &m, &err), LODE_OK);
    detector_model_free(m);
    m = NULL;
    a[16 + 4] ^= 0x40; /* first section's length now runs past the end */
    reseal(a, len);
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, len, &m, &err), LODE_EINVAL);
    a[16 + 4] ^= 0x40;
    a[16 + 8] = '['; /* metadata no longer a JSON object */
    reseal(a, len);
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, len, &m, &err), LODE_EINVAL);
    CU_ASSERT_PTR_NULL(m);
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, LODE_DETECTOR_MODEL_BYTES_MAX + 1, &m, &err),
                    LODE_ETOOBIG);
    CU_ASSERT_EQUAL(detector_model_load("/nonexistent/model.ldm", &m, &err), LODE_EIO);
    free(a);
}

/* The first n whitespace-separated words of t, in a new string. */
static char *first_words(const char *t, size_t n)
{
    size_t i = 0, words = 0;
    while (t[i] != '\0' && words < n) {
        while (t[i] == ' ')
            i++;
        while (t[i] != '\0' && t[i] != ' ')
            i++;
        words++;
    }
    return strndup(t, i);
}

/* Under DETECTOR_SHORT_WORDS words a text is flagged only at the short-text threshold; a model
 * file without that threshold uses the main one, and one below the main one is refused. */
static void test_short_text_threshold(void)
{
    size_t len = 0;
    uint8_t *a = train_small(&len, 0);
    struct detector_model *m = NULL;
    struct detector_result r;
    struct lode_error err;
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL_FATAL(detector_model_load_buffer(a, len, &m, &err), LODE_OK);
    /* the fit: the first 50 and 75 words of every human training text of more than 100 words,
     * each scored by the model; with under 100 prefixes per source none may be flagged */
    json_t *root = model_meta(a, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(root);
    json_int_t recorded =
        json_integer_value(json_object_get(json_object_get(root, "training"), "short_text_prefixes"));
    double t_short = detector_model_threshold_synthetic_short(m), highest = 0;
    CU_ASSERT_DOUBLE_EQUAL(json_real_value(json_object_get(root, "threshold_synthetic_short")),
                           t_short, 0);
    json_decref(root);
    json_int_t prefixes = 0;
    for (unsigned i = 0; i < 48; i += 2) {
        char *human = make_text(i, 0), *longer = first_words(human, DETECTOR_SHORT_WORDS + 1);
        if (strlen(longer) < strlen(human)) { /* more than 100 words */
            for (size_t k = 0; k < 2; k++) {
                char *cut = first_words(human, k == 0 ? 50 : 75);
                CU_ASSERT_EQUAL(detector_score(m, cut, strlen(cut), &r, &err), LODE_OK);
                if (r.has_probability && r.words < DETECTOR_SHORT_WORDS) {
                    prefixes++;
                    highest = fmax(highest, r.probability);
                }
                free(cut);
            }
        }
        free(longer);
        free(human);
    }
    CU_ASSERT_TRUE(prefixes > 0);
    CU_ASSERT_EQUAL(recorded, prefixes);
    CU_ASSERT_TRUE(t_short >= detector_model_threshold_synthetic(m));
    CU_ASSERT_TRUE(t_short > highest || t_short == 0.999);
    CU_ASSERT_TRUE(t_short <= fmax(detector_model_threshold_synthetic(m), highest + 1e-6) + 1e-12);

    char *machine = make_text(1001, 1), *short_text = first_words(machine, 70);
    CU_ASSERT_EQUAL_FATAL(detector_score(m, short_text, strlen(short_text), &r, &err), LODE_OK);
    CU_ASSERT_TRUE_FATAL(r.has_probability);
    CU_ASSERT_TRUE_FATAL(r.words < DETECTOR_SHORT_WORDS);
    double p = r.probability;
    m->threshold_human = 0;
    m->threshold_synthetic = p - 1e-6;
    m->threshold_synthetic_short = p + 1e-6; /* flagged if long, not at this length */
    CU_ASSERT_EQUAL(detector_score(m, short_text, strlen(short_text), &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.verdict, DETECTOR_UNCERTAIN);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.reason, "short texts give less stable scores"));
    m->threshold_synthetic_short = p - 1e-6;
    CU_ASSERT_EQUAL(detector_score(m, short_text, strlen(short_text), &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.verdict, DETECTOR_SYNTHETIC);
    CU_ASSERT_PTR_NOT_NULL(strstr(r.reason, "for short texts"));
    /* a long text ignores the short-text threshold */
    CU_ASSERT_EQUAL_FATAL(detector_score(m, machine, strlen(machine), &r, &err), LODE_OK);
    CU_ASSERT_TRUE_FATAL(r.has_probability && r.words >= DETECTOR_SHORT_WORDS);
    m->threshold_synthetic = r.probability - 1e-6;
    m->threshold_synthetic_short = 1;
    CU_ASSERT_EQUAL(detector_score(m, machine, strlen(machine), &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.verdict, DETECTOR_SYNTHETIC);
    detector_model_free(m);
    m = NULL;

    /* the value in the file, overwritten in place: 0 is below the main threshold */
    const char *key = "\"threshold_synthetic_short\": ";
    uint8_t *at = memmem(a, len, key, strlen(key));
    CU_ASSERT_PTR_NOT_NULL_FATAL(at);
    uint8_t *digits = at + strlen(key), saved[24];
    memcpy(saved, digits, sizeof saved);
    for (size_t i = 0; i < sizeof saved && (isdigit(digits[i]) || digits[i] == '.'); i++)
        if (digits[i] != '.')
            digits[i] = '0';
    reseal(a, len);
    CU_ASSERT_EQUAL(detector_model_load_buffer(a, len, &m, &err), LODE_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "short-text threshold"));
    memcpy(digits, saved, sizeof saved);
    at[strlen(key) - 4] = 'x'; /* the key renamed: an older model, one threshold */
    reseal(a, len);
    CU_ASSERT_EQUAL_FATAL(detector_model_load_buffer(a, len, &m, &err), LODE_OK);
    CU_ASSERT_DOUBLE_EQUAL(detector_model_threshold_synthetic_short(m),
                           detector_model_threshold_synthetic(m), 0);
    detector_model_free(m);
    free(machine);
    free(short_text);
    free(a);
}

static void test_score_too_big(void)
{
    size_t len = 0;
    uint8_t *a = train_small(&len, 0);
    struct detector_model *m = NULL;
    struct detector_result r;
    struct lode_error err;
    char *big = malloc(LODE_DETECTOR_TEXT_BYTES_MAX + 1);
    CU_ASSERT_EQUAL_FATAL(detector_model_load_buffer(a, len, &m, &err), LODE_OK);
    memset(big, 'a', LODE_DETECTOR_TEXT_BYTES_MAX + 1);
    CU_ASSERT_EQUAL(detector_score(m, big, LODE_DETECTOR_TEXT_BYTES_MAX + 1, &r, &err),
                    LODE_ETOOBIG);
    /* a long text is scored on its first window */
    for (size_t i = 0; i + 6 < LODE_DETECTOR_TEXT_BYTES_MAX; i += 6)
        memcpy(big + i, "of it ", 6);
    CU_ASSERT_EQUAL(detector_score(m, big, LODE_DETECTOR_TEXT_BYTES_MAX, &r, &err), LODE_OK);
    CU_ASSERT_TRUE(r.truncated);
    free(big);
    detector_model_free(m);
    free(a);
}

static void test_shipped_model_reproduces_reference(void)
{
    char path[4096];
    struct detector_model *m = NULL;
    struct lode_error err;
    snprintf(path, sizeof path, "%s/detector/models/%s", LODE_SOURCE_DIR, DETECTOR_MODEL_FILE);
    CU_ASSERT_EQUAL_FATAL(detector_model_load(path, &m, &err), LODE_OK);
    CU_ASSERT_TRUE(detector_model_reference_count(m) >= 3);
    CU_ASSERT_TRUE(detector_model_threshold_synthetic(m) >= detector_model_threshold_human(m));
    for (size_t i = 0; i < detector_model_reference_count(m); i++) {
        const char *text;
        double p;
        enum detector_verdict v;
        struct detector_result r;
        CU_ASSERT_TRUE(detector_model_reference(m, i, &text, &p, &v));
        CU_ASSERT_EQUAL(detector_score(m, text, strlen(text), &r, &err), LODE_OK);
        CU_ASSERT_EQUAL(r.verdict, v);
        CU_ASSERT_DOUBLE_EQUAL(r.probability, p, 1e-9);
    }
    /* the shipped model holds no excerpt of its training corpora: the training-text
     * dictionaries are empty (zstd_cross_entropy is not used), and so are the machine reference
     * corpus and its background model (machine_reference_llr is not used) */
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    uint8_t *bytes = malloc(LODE_DETECTOR_MODEL_BYTES_MAX);
    size_t n = fread(bytes, 1, LODE_DETECTOR_MODEL_BYTES_MAX, f);
    fclose(f);
    CU_ASSERT_EQUAL(section_len(bytes, n, "DICH"), 0);
    CU_ASSERT_EQUAL(section_len(bytes, n, "DICM"), 0);
    CU_ASSERT_EQUAL(section_len(bytes, n, "REFM"), 0);
    CU_ASSERT_EQUAL(section_len(bytes, n, "BGLM"), 0);
    CU_ASSERT_EQUAL(section_len(bytes, n, "CHAR"), 0); /* char_ngrams and word_ngrams unused */
    CU_ASSERT_EQUAL(section_len(bytes, n, "WORD"), 0);
    CU_ASSERT_EQUAL(section_len(bytes, n, "BGCH"), 2L << DETECTOR_TABLE_BITS);
    free(bytes);
    char located[4096];
    CU_ASSERT_EQUAL(detector_model_locate(path, located, sizeof located, &err), LODE_OK);
    CU_ASSERT_STRING_EQUAL(located, path);
    detector_model_free(m);
}

static const struct test_case feature_cases[] = {
    {"sentence length variation, length, MATTR, word length", test_sentence_features},
    {"MATTR and function words on a repeated word", test_vocabulary_and_function_words},
    {"assistant vocabulary: whole words of the list, any case, once per window", test_assistant_vocabulary},
    {"punctuation rates", test_punctuation_rates},
    {"repeated word 3-grams per 100-word window", test_trigram_repeat},
    {"case, spacing, newlines and quotes are neutralised", test_normalisation_neutralises_conventions},
    {"bad input is refused with a reason", test_bad_input},
    {"pasted program output and tables are left out", test_structured_lines},
    {"machine reference corpus and character models", test_reference_corpus},
    {NULL, NULL},
};

static const struct test_case model_cases[] = {
    {"training is deterministic and separates hand-made texts", test_train_deterministic_and_scores},
    {"rank classes and sentence surprisal spread", test_rank_and_sentence_surprisal},
    {"loader rejects damaged files", test_loader_rejects},
    {"too big and very long texts", test_score_too_big},
    {"short texts are flagged only at the short-text threshold", test_short_text_threshold},
    {"the threshold holds each named kind of human text to the target", test_threshold_holds_each_kind},
    {"concurrent scoring on one model", test_concurrent_scoring},
    {"shipped model reproduces its reference scores", test_shipped_model_reproduces_reference},
    {NULL, NULL},
};

int main(void)
{
    const struct test_suite suites[] = {
        {"detector features", feature_cases},
        {"detector model", model_cases},
        {NULL, NULL},
    };
    return test_main(suites);
}
