/*
 * detector/detector.h — scores text for how likely it is machine-generated (pure engine).
 *
 * What: a text is validated (UTF-8, not binary, long enough, Latin script, English-like),
 * normalised (Unicode compatibility folding, case folding, accents stripped, typographic quotes
 * and dashes mapped to ASCII, whitespace and tokeniser spacing around punctuation collapsed, so
 * that corpus conventions such as all-lower-case text or " , " spacing carry no signal), and
 * described by DETECTOR_FEATURE_COUNT features: zstd cross-entropy against a human and a
 * machine dictionary of training text, how much more the opening's characters resemble a
 * machine-written reference corpus than human training text (character-model likelihood
 * ratio), hashed character and word n-gram log-likelihood ratios,
 * surprisal under the pooled training text, word-frequency ranks in the human training text,
 * and stylometric rates. A linear score of the standardised features (equal +1/-1 weights or a
 * logistic regression, chosen at training) with Platt calibration gives the probability that
 * the text is machine-generated, and thresholds a verdict. The evidence is the features with
 * the largest signed contributions to the log-odds.
 *
 * Verdicts: `human` (p < threshold_human), `synthetic` (p >= threshold_synthetic, or under
 * DETECTOR_SHORT_WORDS words p >= threshold_synthetic_short), `uncertain` (between, or text
 * unlike anything the model was trained on: then no probability), and `insufficient` (too
 * short, not UTF-8, binary: no probability).
 *
 * Invariants: a loaded model is immutable; detector_score() reads at most the first
 * DETECTOR_WINDOW_BYTES of normalised text and refuses inputs over LODE_DETECTOR_TEXT_BYTES_MAX.
 * Training is deterministic: the same samples, seed and provenance give the same model bytes.
 *
 * Ownership: detector_model_load*() return a model the caller frees with detector_model_free();
 * detector_train() returns a malloc'd buffer the caller free()s. A result holds no pointers to
 * the input text; its evidence feature names point to static strings.
 *
 * Threads: any number of threads may call detector_score() on one model at the same time.
 */
#ifndef LODE_DETECTOR_DETECTOR_H
#define LODE_DETECTOR_DETECTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define DETECTOR_FEATURE_COUNT 22
#define DETECTOR_EVIDENCE_MAX 4
#define DETECTOR_REASON_MAX 512
#define DETECTOR_WINDOW_BYTES 32768 /* normalised bytes that are scored */
#define DETECTOR_MIN_WORDS 50       /* fewer words: `insufficient` (MATTR needs a full window) */
#define DETECTOR_SHORT_WORDS 100    /* fewer words: the model's stricter short-text threshold */
#define DETECTOR_LINE_SCAN_BYTES (128u * 1024) /* input bytes searched for non-prose lines */
#define DETECTOR_MODEL_FILE "lode-detector.ldm" /* name of the shipped model in detector/models */
/* Features the shipped model gives weight 0: the default of `lode detect-train --drop-features`
 * and of bench/detector_eval (docs/detector.md gives the measurements behind the list). */
#define DETECTOR_DEFAULT_DROP                                                                    \
    "zstd_cross_entropy,char_ngrams,word_ngrams,sentence_length_variation,word_length,"          \
    "comma_rate,semicolon_colon_rate,parenthesis_rate,question_exclamation_rate,"                \
    "word_surprisal_spread,rank_top10,rank_top100,rank_top1000,sentence_surprisal_spread,"      \
    "machine_reference_llr"

enum detector_verdict {
    DETECTOR_HUMAN,
    DETECTOR_SYNTHETIC,
    DETECTOR_UNCERTAIN,
    DETECTOR_INSUFFICIENT,
};

struct detector_model;

struct detector_evidence {
    const char *feature;     /* stable feature name, e.g. "char_ngrams" */
    char explanation[DETECTOR_REASON_MAX]; /* plain words, in the direction the feature pushes */
    double value;            /* the raw feature value of this text */
    double contribution;     /* signed log-odds contribution: > 0 towards machine-generated */
};

struct detector_result {
    enum detector_verdict verdict;
    bool has_probability;  /* false for `insufficient` and out-of-distribution `uncertain` */
    double probability;    /* P(machine-generated) when has_probability, else 0 */
    size_t words;          /* words in the scored window */
    bool truncated;        /* the text was longer than the scored window */
    size_t lines_left_out; /* lines that look like program output or tables, not scored */
    char reason[DETECTOR_REASON_MAX]; /* one sentence: why this verdict */
    size_t evidence_count;
    struct detector_evidence evidence[DETECTOR_EVIDENCE_MAX]; /* by decreasing |contribution| */
    double features[DETECTOR_FEATURE_COUNT]; /* raw values, in detector_feature_name() order */
};

/* A labelled training text. label: 0 human, 1 machine. source names the corpus it came from
 * (texts are weighted so that every (source, label) group counts equally). kind, optional,
 * names a kind of writing within a source (non-native essays, say): the synthetic threshold
 * keeps the out-of-fold false-positive rate of every kind of human text, as of every source,
 * within the target; it does not change the weighting. */
struct detector_sample {
    const char *text;
    size_t len;
    int label;
    const char *source;
    const char *kind; /* NULL: no kind of its own */
};

struct detector_train_options {
    uint64_t seed;           /* folds and dictionary sampling */
    const char *provenance;  /* JSON text recorded in the model (inputs, command); may be NULL */
    const char *exclude_source; /* drop this source's samples before training; may be NULL */
    uint32_t drop_features;     /* bit i set: feature i gets weight 0 (and is not computed) */
    double l2;                  /* L2 penalty of the logistic regression; 0: the default (30) */
    bool equal_weights;         /* weights +1/-1 on standardised features (signs from the data)
                                 * instead of a logistic regression; calibration is the same */
    /* Machine-written reference corpus for machine_reference_llr: pieces separated by
     * lines holding only "%%" (detector/reference/machine-text.txt); may be NULL when that
     * feature is dropped. Stored in the model file, normalised. */
    const char *reference_machine;
    size_t reference_machine_len;
};

/* Reads and validates a model file of at most LODE_DETECTOR_MODEL_BYTES_MAX bytes.
 * Returns LODE_OK, LODE_EIO (unreadable), LODE_ETOOBIG, LODE_EINVAL (malformed), LODE_ENOMEM. */
enum lode_code detector_model_load(const char *path, struct detector_model **model_out,
                                   struct lode_error *err);

/* The same from bytes in memory (copied). Returns as detector_model_load() without LODE_EIO. */
enum lode_code detector_model_load_buffer(const uint8_t *buf, size_t len,
                                          struct detector_model **model_out,
                                          struct lode_error *err);

/* Finds the shipped model: `override` if not NULL/empty (the LODE_DETECTOR_MODEL option), else
 * detector/models/DETECTOR_MODEL_FILE searched upwards from the running binary's folder, else
 * share/lode/DETECTOR_MODEL_FILE beside it. Returns LODE_OK or LODE_ENOTFOUND. */
enum lode_code detector_model_locate(const char *override, char *path_out, size_t path_cap,
                                     struct lode_error *err);

void detector_model_free(struct detector_model *model);

/* "lode-detector/<format version>/<first 16 hex digits of the BLAKE2b-256 of the file>". */
const char *detector_model_version(const struct detector_model *model);

/* The model's thresholds on the probability. */
double detector_model_threshold_synthetic(const struct detector_model *model);
double detector_model_threshold_human(const struct detector_model *model);
/* the synthetic threshold for texts under DETECTOR_SHORT_WORDS words (>= the main one) */
double detector_model_threshold_synthetic_short(const struct detector_model *model);

/* Reference texts recorded at training time and their probabilities then. i < count. */
size_t detector_model_reference_count(const struct detector_model *model);
bool detector_model_reference(const struct detector_model *model, size_t i, const char **text_out,
                              double *probability_out, enum detector_verdict *verdict_out);

/* Scores `len` bytes of `text`. Fills *result_out on LODE_OK; every input that is not too big
 * gets a verdict (bad input answers `insufficient`/`uncertain` with the reason).
 * Returns LODE_OK, LODE_ETOOBIG (len > LODE_DETECTOR_TEXT_BYTES_MAX), LODE_ENOMEM. */
enum lode_code detector_score(const struct detector_model *model, const char *text, size_t len,
                              struct detector_result *result_out, struct lode_error *err);

/* Trains a model from n samples (both labels present, at most LODE_DETECTOR_TRAIN_SAMPLES_MAX)
 * and returns the model file bytes. Returns LODE_OK, LODE_EINVAL, LODE_ENOMEM, LODE_EINTERNAL. */
enum lode_code detector_train(const struct detector_sample *samples, size_t n,
                              const struct detector_train_options *options, uint8_t **model_out,
                              size_t *len_out, struct lode_error *err);

const char *detector_verdict_name(enum detector_verdict verdict);
const char *detector_feature_name(size_t i); /* NULL past the last feature */

/* Feature extraction without a model, for tests and fuzzing: the stylometric features of
 * detector_feature_name() order (model-based features are left 0). Returns LODE_OK, LODE_EINVAL
 * with the reason in err when the text is rejected before scoring, LODE_ETOOBIG, LODE_ENOMEM. */
enum lode_code detector_text_features(const char *text, size_t len,
                                      double features_out[DETECTOR_FEATURE_COUNT],
                                      size_t *words_out, struct lode_error *err);

#endif
