/*
 * labeling/labeling.h — truth inference for crowd labels: consensus, confidence, evidence,
 * labeler quality and agreement. Pure: no I/O, no clock, no global state.
 *
 * What. Answers come in as arrays of integers (item, worker, label) with dense ids
 * 0..item_count-1, 0..worker_count-1, 0..label_count-1; the caller (storage, the offline CLI)
 * maps its own keys to dense ids. Out come, per item, the consensus label, its posterior
 * confidence, the posterior over all labels and the vote counts (the evidence), and per worker
 * an accuracy estimate with a 90% interval from gold answers and from the model.
 *
 * Methods (docs/labeling.md gives the maths and the measured accuracy on public crowd sets):
 *   MV       majority vote; ties go to the label whose voters are more reliable, then to a
 *            hash of (item, seed) — deterministic, unbiased between labels.
 *   DS       Dawid-Skene EM, one KxK confusion matrix per worker, Dirichlet smoothing.
 *   ONECOIN  one accuracy per worker, errors spread evenly over the other labels.
 *   HDS      Dawid-Skene whose matrices are shrunk toward the worker's own one-coin matrix
 *            (hierarchical prior), so a worker with few answers behaves like ONECOIN until
 *            their answers show label-dependent errors.
 *   AUTO     scores MV (as a pooled one-accuracy model), ONECOIN, HDS and DS by k-fold
 *            held-out predictive log-likelihood, averaged per worker so that every worker
 *            weighs the same (above 1e6 answers one fold is scored instead of k; scoring
 *            fits stop at tolerance 1e-4 or 50 iterations). It starts
 *            from MV, moves to ONECOIN only if ONECOIN predicts clearly better, then to the
 *            better of HDS and DS only if that predicts clearly better still, "clearly" being
 *            a paired per-worker difference above 1.645 standard errors.
 * Every EM method starts from majority-vote shares and clamps gold items to their true label.
 *
 * Invariants. Every id in the input is range-checked; a worker answering the same item twice
 * is an input error (labeling_answers_dedupe() applies the "last answer wins" rule first when
 * the caller wants it). Items without answers get LABELING_NONE and confidence 0. Results are
 * a deterministic function of the input and options (same input, same bytes out).
 *
 * Ownership. Results are allocated from the caller's arena and live until it is reset; inputs
 * are only read. An arena budget bounds memory: past it a call fails with LODE_ENOMEM.
 * Threads. Reentrant; calls on different arenas may run concurrently.
 */
#ifndef LODE_LABELING_LABELING_H
#define LODE_LABELING_LABELING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/error.h"

#define LABELING_NONE UINT32_MAX

struct labeling_answer {
    uint32_t item;
    uint32_t worker;
    uint32_t label;
};

struct labeling_gold {
    uint32_t item;
    uint32_t label;
};

enum labeling_method {
    LABELING_METHOD_MV = 0,
    LABELING_METHOD_ONECOIN,
    LABELING_METHOD_HDS,
    LABELING_METHOD_DS,
    LABELING_METHOD_AUTO,
};
#define LABELING_CANDIDATES 4 /* MV, ONECOIN, HDS, DS: the models AUTO chooses between */

struct labeling_options {
    enum labeling_method method;
    unsigned iterations_max; /* EM iteration cap */
    double tolerance;        /* EM stops when no posterior moves by more than this */
    double smoothing;        /* DS: Dirichlet pseudo-count added to every confusion cell */
    double shrinkage;        /* HDS: pseudo-answers per matrix row drawn from the one-coin matrix */
    double coin_prior;       /* ONECOIN/MV: Beta pseudo-counts (right, wrong) = (2c, c) */
    unsigned folds;          /* AUTO: held-out folds (2..10) */
    uint64_t seed;           /* tie-break hash and fold assignment */
};

struct labeling_problem {
    const struct labeling_answer *answers;
    size_t answer_count;
    const struct labeling_gold *gold; /* known items, clamped during EM; may be NULL */
    size_t gold_count;
    uint32_t item_count;
    uint32_t worker_count;
    uint32_t label_count;
};

/* Accuracy of one worker. Both estimates are Beta(1 + right, 1 + wrong) posteriors: mean and
 * the 5% and 95% quantiles, so five answers leave a wide interval. "gold" counts answers on
 * gold items; "model" counts each answer as right with the consensus posterior of its label. */
struct labeling_quality {
    uint32_t answers;
    uint32_t gold_answers;
    uint32_t gold_right;
    double gold_mean, gold_low, gold_high;
    double model_mean, model_low, model_high;
    double agreement; /* share of the worker's answers equal to the consensus label */
    double pairwise;  /* share of (this answer, other answer on the same item) pairs that match;
                         NaN when the worker never shares an item */
};

struct labeling_result {
    uint32_t item_count, worker_count, label_count;
    uint32_t *label;       /* [item] consensus, LABELING_NONE without answers */
    double *confidence;    /* [item] posterior of the consensus label */
    double *posterior;     /* [item * label_count + k] */
    uint32_t *votes;       /* [item * label_count + k] answers per label: the evidence */
    struct labeling_quality *workers; /* [worker] */
    enum labeling_method method;      /* the model that produced the labels (AUTO resolved) */
    unsigned iterations;
    bool converged;
    double heldout[LABELING_CANDIDATES]; /* AUTO: held-out log-likelihood per answer, averaged
                                             per worker, of each candidate (MV, ONECOIN, HDS,
                                             DS); NaN for the other methods */
};

/* Fills defaults: AUTO, 100 iterations, tolerance 1e-6, smoothing 0.01, shrinkage 16,
 * coin prior 1, 5 folds, seed 0. */
void labeling_options_init(struct labeling_options *options);

/* Name ("mv", "onecoin", "hds", "ds", "auto") and its inverse (false when unknown). */
const char *labeling_method_name(enum labeling_method method);
bool labeling_method_parse(const char *name, enum labeling_method *method_out);

/* Removes repeated (item, worker) pairs in place, keeping the last one in array order; the
 * survivors keep their relative order. Writes the new count. LODE_OK, LODE_EINVAL (an id out of
 * range), LODE_ENOMEM (arena budget). */
enum lode_code labeling_answers_dedupe(struct labeling_answer *answers, size_t answer_count,
                                       uint32_t item_count, uint32_t worker_count,
                                       struct arena *arena, size_t *count_out,
                                       struct lode_error *err);

/* Consensus labels by options->method. LODE_OK, LODE_EINVAL (ids out of range, a repeated
 * (item, worker) pair, a gold item given twice with different labels, label_count outside
 * 2..LODE_LABELING_LABELS_MAX), LODE_ENOMEM (arena budget). */
enum lode_code labeling_aggregate(const struct labeling_problem *problem,
                                  const struct labeling_options *options, struct arena *arena,
                                  struct labeling_result *result_out, struct lode_error *err);

/* Posterior mean and the 5% / 95% quantiles of Beta(a, b), a, b > 0. */
void labeling_beta_interval(double a, double b, double *mean_out, double *low_out,
                            double *high_out);

/* ---- numeric ratings ---------------------------------------------------------------------- */

struct labeling_rating {
    uint32_t item;
    uint32_t worker;
    double value;
};

enum labeling_rating_method {
    LABELING_RATING_GAUSSIAN = 0, /* precision-weighted mean, Gaussian worker model */
    LABELING_RATING_MEDIAN,       /* weighted median */
};

struct labeling_rating_result {
    uint32_t item_count, worker_count;
    double *value;     /* [item] consensus, NaN without ratings */
    double *spread;    /* [item] weighted median absolute deviation around it */
    uint32_t *ratings; /* [item] number of ratings */
    double *worker_scale; /* [worker] robust error scale; smaller = more reliable */
};

/* Robust consensus of numeric ratings. Each worker's error scale is the median of their
 * absolute residuals against the consensus, shrunk toward the crowd's by 30 pseudo-ratings;
 * GAUSSIAN takes per item the mean weighted by 1 / scale^2, MEDIAN the median weighted by
 * 1 / scale; a few rounds from the plain median. A worker who is off everywhere gets next to no
 * weight. Non-finite values are an error. LODE_OK, LODE_EINVAL, LODE_ENOMEM. */
enum lode_code labeling_aggregate_ratings(const struct labeling_rating *ratings, size_t count,
                                          uint32_t item_count, uint32_t worker_count,
                                          enum labeling_rating_method method, struct arena *arena,
                                          struct labeling_rating_result *result_out,
                                          struct lode_error *err);

/* ---- multi-label -------------------------------------------------------------------------- */

struct labeling_multi_answer {
    uint32_t item;
    uint32_t worker;
    uint64_t labels; /* bit k set = the worker chose label k; label_count <= 64 */
};

struct labeling_multi_result {
    uint32_t item_count, label_count;
    uint64_t *labels;     /* [item] consensus set */
    double *confidence;   /* [item * label_count + k] posterior that label k applies */
};

/* Multi-label consensus: each label is a binary question (chosen / not chosen by every worker
 * who answered the item), aggregated with options->method. LODE_OK, LODE_EINVAL, LODE_ENOMEM. */
enum lode_code labeling_aggregate_multi(const struct labeling_multi_answer *answers, size_t count,
                                        uint32_t item_count, uint32_t worker_count,
                                        uint32_t label_count,
                                        const struct labeling_options *options,
                                        struct arena *arena,
                                        struct labeling_multi_result *result_out,
                                        struct lode_error *err);

/* ---- agreement ---------------------------------------------------------------------------- */

/* Krippendorff's alpha over (item, worker, value) ratings, any number of workers per item and
 * missing values allowed; items with fewer than two values are not pairable and ignored.
 * Nominal: any two different values disagree. Interval: disagreement (a - b)^2.
 * Writes NaN when no disagreement is possible (fewer than two pairable values or a single
 * value throughout). LODE_OK, LODE_EINVAL (id out of range, non-finite value), LODE_ENOMEM. */
enum lode_code labeling_alpha_nominal(const struct labeling_answer *answers, size_t count,
                                      uint32_t item_count, uint32_t label_count,
                                      struct arena *arena, double *alpha_out,
                                      struct lode_error *err);
enum lode_code labeling_alpha_interval(const struct labeling_rating *ratings, size_t count,
                                       uint32_t item_count, struct arena *arena,
                                       double *alpha_out, struct lode_error *err);

/* ---- offline CSV answers ------------------------------------------------------------------ */

/* A parsed answers file: dense ids assigned in first-appearance order, names kept. */
struct labeling_table {
    uint32_t task_count, worker_count, label_count;
    const char **task_names;   /* [task] */
    const char **worker_names; /* [worker] */
    const char **label_names;  /* [label] */
    struct labeling_answer *answers; /* duplicates removed: the last (task, worker) row wins */
    size_t answer_count;
    size_t duplicate_count; /* rows replaced by a later row for the same (task, worker) */
    size_t row_count;       /* data rows read */
};

/* Parses RFC 4180 CSV with a header row naming (in any order) the columns task, worker and
 * label; other columns are ignored. CRLF or LF line ends, quoted fields with "" escapes and
 * embedded line breaks, an optional UTF-8 byte order mark. Limits (core/limits.h): field bytes,
 * row fields, rows, distinct labels. Errors carry the 1-based line number. LODE_OK, LODE_EINVAL
 * (syntax, missing column, ragged row, empty field, no data rows), LODE_ETOOBIG (a limit),
 * LODE_ENOMEM (arena budget). */
enum lode_code labeling_csv_parse(const char *data, size_t len, struct arena *arena,
                                  struct labeling_table *table_out, struct lode_error *err);

/* As labeling_csv_parse, with the task's label schema: schema[k] gets label id k (so every
 * schema label exists even if nobody chose it) and a label outside the schema is an error
 * naming its line. LODE_OK, LODE_EINVAL (as above, a label outside the schema, an empty or
 * repeated schema label), LODE_ETOOBIG, LODE_ENOMEM. */
enum lode_code labeling_csv_parse_schema(const char *data, size_t len,
                                         const char *const *schema, uint32_t schema_count,
                                         struct arena *arena, struct labeling_table *table_out,
                                         struct lode_error *err);

#endif
