/*
 * detector/internal.h — shared internals of the detector module (not part of its contract).
 *
 * struct detector_text is one normalised text: ASCII bytes, word spans and the statistics the
 * out-of-distribution checks need. The n-gram iterators are shared by scoring and training so
 * that both see exactly the same n-grams.
 */
#ifndef LODE_DETECTOR_INTERNAL_H
#define LODE_DETECTOR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zstd.h>

#include "core/error.h"
#include "detector/detector.h"

#define DETECTOR_FORMAT_VERSION 4
#define DETECTOR_CHAR_N 4
#define DETECTOR_TABLE_BITS 18 /* buckets per n-gram table: 2^18 */
#define DETECTOR_LLR_SCALE 2048.0 /* int16 table entries are LLR * scale */
#define DETECTOR_SURPRISAL_SCALE 1024.0 /* int16 background entries are bits * scale */
#define DETECTOR_DICT_BYTES_MAX (1u << 20)
#define DETECTOR_ZSTD_LEVEL 3
#define DETECTOR_REF_WINDOW 2048 /* normalised bytes compared against the reference corpus */
#define DETECTOR_LM_ORDER 3      /* character language models: contexts of up to 2 characters */
#define DETECTOR_LM_ALPHABET 64  /* symbols assumed by the unigram smoothing */
#define DETECTOR_REFERENCE_MAX 16

enum detector_feature {
    FEAT_ZSTD_XENT,     /* bits/byte against the human dictionary minus against the machine one */
    FEAT_CHAR_NGRAM,    /* mean char 4-gram log-likelihood ratio (machine vs human) */
    FEAT_WORD_NGRAM,    /* mean word 1+2-gram log-likelihood ratio */
    FEAT_SENT_CV,       /* coefficient of variation of sentence lengths (burstiness) */
    FEAT_SENT_MEAN_LOG, /* log of mean words per sentence */
    FEAT_MATTR,         /* moving-average type-token ratio, window 50 */
    FEAT_WORD_LEN,      /* mean word length in characters */
    FEAT_COMMA,         /* commas per word */
    FEAT_SEMI_COLON,    /* semicolons and colons per word */
    FEAT_PAREN,         /* parentheses per word */
    FEAT_QUESTION_EXCL, /* question and exclamation marks per sentence */
    FEAT_FUNCTION,      /* share of words that are English function words */
    FEAT_CHAR_SURPRISAL, /* mean surprisal (bits) of char 4-grams under the pooled corpus */
    FEAT_WORD_SURPRISAL, /* mean surprisal of words under the pooled corpus */
    FEAT_WORD_SURPRISAL_SD, /* standard deviation of word surprisal */
    FEAT_RANK_TOP10,    /* share of words among the 10 most frequent of the human training text */
    FEAT_RANK_TOP100,   /* share among ranks 11-100 */
    FEAT_RANK_TOP1000,  /* share among ranks 101-1000 */
    FEAT_SENT_SURPRISAL_SD, /* standard deviation of per-sentence mean word surprisal */
    FEAT_TRIGRAM_REPEAT, /* share of word 3-grams repeated within 100-word windows */
    FEAT_REF_LLR,       /* mean log-likelihood ratio of the opening's characters: machine
                         * reference corpus vs human training text (character models) */
    FEAT_ASSISTANT_VOCAB, /* rate of words that assistant models favour (text.c's list) */
};

/* assistant_vocabulary counts a word of text.c's list only when the same word is not among
 * the DETECTOR_ASSISTANT_WINDOW words before it (part of format 4: a model trained with another
 * window would be scored wrongly). */
#define DETECTOR_ASSISTANT_WINDOW 100

/* Rank classes of a word under the human word-frequency table (the RKWD section). */
#define DETECTOR_RANK_CLASSES 4 /* 0: top 10, 1: 11-100, 2: 101-1000, 3: rarer or unseen */

struct detector_span {
    uint32_t start, len;
};

struct detector_text {
    char *buf;    /* normalised ASCII, not NUL-terminated */
    size_t len;
    bool truncated;
    struct detector_span *words;
    size_t nwords;
    size_t sentences;
    /* statistics of the raw input, for the out-of-distribution checks */
    size_t letters, latin_letters, nonspace, controls;
    size_t function_words;
    size_t lines_left_out; /* lines of program output or tables not scored (text.c) */
};

/* Validates and normalises; on rejection returns LODE_EINVAL with the reason as err's message
 * and *insufficient_out telling `insufficient` (true) from out-of-distribution `uncertain`.
 * Returns LODE_OK, LODE_EINVAL, LODE_ENOMEM. */
enum lode_code detector_text_prepare(const char *text, size_t len, struct detector_text *out,
                                     bool *insufficient_out, struct lode_error *err);
void detector_text_release(struct detector_text *t);

/* Stylometric features into f (model-free ones only). */
void detector_text_style(const struct detector_text *t, double f[DETECTOR_FEATURE_COUNT]);

/* Calls fn(bucket, ctx) for every char n-gram / word n-gram of t, bucket < 2^DETECTOR_TABLE_BITS.
 * Returns the number of n-grams. */
typedef void (*detector_gram_fn)(uint32_t bucket, void *ctx);
size_t detector_char_grams(const struct detector_text *t, detector_gram_fn fn, void *ctx);
size_t detector_word_grams(const struct detector_text *t, detector_gram_fn fn, void *ctx);
size_t detector_word_unigrams(const struct detector_text *t, detector_gram_fn fn, void *ctx);

/* Compressed size of t with a dictionary (a fresh context per call: thread-safe). 0 = failure. */
size_t detector_compressed_size(const ZSTD_CDict *dict, const struct detector_text *t);

/* Character language model over hashed 1..DETECTOR_LM_ORDER-gram counts (2^DETECTOR_TABLE_BITS
 * buckets): counts minus `minus` (held-out counts, or NULL); total = count of all characters
 * (1-grams) after the subtraction. */
struct detector_lm {
    const double *counts, *minus;
    double total;
};

/* Calls fn for every 1..DETECTOR_LM_ORDER-gram ending at each byte of buf. Returns their number. */
size_t detector_lm_grams(const char *buf, size_t len, detector_gram_fn fn, void *ctx);

/* log2 P(buf[k] | up to DETECTOR_LM_ORDER - 1 preceding bytes) under lm. */
double detector_lm_log2p(const struct detector_lm *lm, const char *buf, size_t k);

/* machine_reference_llr of t: mean over the first DETECTOR_REF_WINDOW normalised bytes of
 * log2 P_reference - log2 P_background (> 0: the text reads more like the machine reference
 * corpus than like the background, the human training text). 0 when a model is empty. */
double detector_reference_llr(const struct detector_lm *reference,
                              const struct detector_lm *background, const struct detector_text *t);

/* Normalises a reference corpus (pieces separated by lines holding only "%%") into one
 * dictionary buffer: each piece as detector_text_prepare() normalises it, pieces joined by a
 * newline; pieces the detector would refuse are left out. *out is malloc'd. Returns LODE_OK,
 * LODE_EINVAL (no usable piece, or the result exceeds DETECTOR_DICT_BYTES_MAX), LODE_ENOMEM. */
enum lode_code detector_reference_prepare(const char *corpus, size_t len, char **out,
                                          size_t *len_out, size_t *pieces_out,
                                          struct lode_error *err);

struct detector_dicts {
    const uint8_t *human, *machine, *reference;
    size_t human_len, machine_len, reference_len;
};
ZSTD_CDict *detector_cdict_create(const void *dict, size_t len);

struct detector_model {
    char version[64];
    uint8_t *file; /* the whole file */
    size_t file_len;
    double mean[DETECTOR_FEATURE_COUNT], scale[DETECTOR_FEATURE_COUNT];
    double weight[DETECTOR_FEATURE_COUNT], bias;
    double platt_a, platt_b;
    double threshold_synthetic, threshold_human;
    double threshold_synthetic_short; /* for texts under DETECTOR_SHORT_WORDS words */
    double ood_z_max; /* |standardised feature| above this: out of distribution */
    ZSTD_CDict *cdict_human, *cdict_machine; /* NULL when their section is empty */
    double *ref_counts, *bg_counts; /* character models (2^DETECTOR_TABLE_BITS each) */
    double bg_total;                /* characters of the background model */
    struct detector_lm ref_lm, bg_lm; /* over ref_counts / bg_counts */
    int16_t *char_llr, *word_llr; /* 2^DETECTOR_TABLE_BITS each */
    int16_t *char_bg, *word_bg;   /* surprisal under the pooled corpus, same size */
    int16_t *word_rank;           /* rank class (0..DETECTOR_RANK_CLASSES-1) of each word bucket */
    size_t nref;
    char *ref_text[DETECTOR_REFERENCE_MAX];
    double ref_p[DETECTOR_REFERENCE_MAX];
    enum detector_verdict ref_verdict[DETECTOR_REFERENCE_MAX];
};

/* Bucket of each word of t in order (the same buckets as detector_word_unigrams). */
uint32_t detector_word_bucket(const struct detector_text *t, size_t i);

/* Standard deviation, over sentences of at least 3 words, of the mean of `value` over each
 * sentence's words (value has t->nwords entries, in word order); 0 with fewer than 2 such
 * sentences. Sentences end as in detector_text_style(). */
double detector_sentence_spread(const struct detector_text *t, const double *value);

/* Fills the three rank features from counts of words in each rank class. */
void detector_rank_features(const size_t counts[DETECTOR_RANK_CLASSES], size_t nwords,
                            double f[DETECTOR_FEATURE_COUNT]);

/* Fills the three surprisal features from sums over char grams and word unigrams. */
void detector_surprisal_features(double char_sum, size_t nchar, double word_sum, double word_sumsq,
                                 size_t nword, double f[DETECTOR_FEATURE_COUNT]);

/* Features of a prepared text under a model (all of them). */
void detector_model_features(const struct detector_model *m, const struct detector_text *t,
                             double f[DETECTOR_FEATURE_COUNT]);

/* Serialises a model file from its parts. meta_json is the JSON metadata section; tables are
 * CHAR, WORD, BGCH, BGWD, RKWD, of which CHAR and WORD may be NULL (written empty); bg_counts
 * NULL writes an empty BGLM. */
enum lode_code detector_model_write(const char *meta_json, const struct detector_dicts *dicts,
                                    const int16_t *const tables[5], const float *bg_counts,
                                    uint8_t **out, size_t *len_out, struct lode_error *err);

#endif
