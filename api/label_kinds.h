/*
 * api/label_kinds.h — the kinds of labeling task (single_choice, multi_label, rating) as seen
 * over HTTP: schemas, label values in and out, and the consensus and agreement of the
 * multi_label and rating kinds (docs/labeling.md, "Task kinds"). Internal to api/.
 *
 * Values. A label is a JSON string naming a class (single_choice), an array of distinct class
 * names, possibly empty (multi_label), or a number on the task's grid min + k * step (rating).
 * Its canonical form, the one the ledger commitment covers, is the class name, the array of
 * names in schema order, or the rating's canonical text (label_rating_canonical(): "%.15g" of
 * the grid point) as a JSON string, since canonical JSON has no floats.
 *
 * Consensus. multi_label: every class is a binary question (chosen or not by each labeler who
 * labeled the item) aggregated with the requested labeling/ method, gold clamped per class; the
 * consensus set holds the classes whose consensus is "chosen" (posterior above one half, ties by
 * the engine's documented rule). rating: labeling_aggregate_ratings (gaussian or median), gold
 * items take their known value.
 * Agreement. multi_label: Krippendorff's nominal alpha of each class's binary decisions, and
 * one pooled over every (item, class) decision. rating: Krippendorff's interval alpha.
 *
 * Ownership. Results live in the arena given; JSON is returned with a new reference.
 * Threads. Reentrant.
 */
#ifndef LODE_API_LABEL_KINDS_H
#define LODE_API_LABEL_KINDS_H

#include <jansson.h>
#include <stdbool.h>

#include "core/arena.h"
#include "core/error.h"
#include "labeling/labeling.h"
#include "storage/label_store.h"

/* Reads "schema": {"type"?, "classes"} or {"type": "rating", "min", "max", "step"?}.
 * false with err set (400, pointer under /schema). */
bool label_schema_parse(struct arena *arena, const json_t *schema, struct label_task *t,
                        struct lode_error *err);
json_t *label_schema_json(const struct label_task *t);

/* Reads a label of the task's kind; pointer names the field ("/label", "/gold/3/label").
 * false with err set (LODE_EINVAL, pointer at the offending element). */
bool label_value_parse(const struct label_task *t, const json_t *label, const char *pointer,
                       struct label_value *value_out, struct lode_error *err);
/* The label as answered to clients (string, array of names, number) and its canonical form
 * (string, array of names in schema order, canonical text). */
json_t *label_value_json(const struct label_task *t, const struct label_value *v);
json_t *label_value_canonical(const struct label_task *t, const struct label_value *v);

/* Consensus and agreement of a multi_label or rating task. */
struct label_kinds_result {
    const char *method; /* the model used: a labeling_method_name, "mixed" (auto chose
                           different models for different classes), "gaussian" or "median" */
    uint32_t *labels;   /* [item] labels received */
    /* multi_label */
    uint64_t *set;        /* [item] consensus set */
    double *confidence;   /* [item * K + k] posterior that class k applies */
    uint32_t *votes;      /* [item * K + k] labels choosing class k */
    double *class_alpha;  /* [K] */
    double alpha_nominal; /* pooled over (item, class) decisions */
    /* rating */
    struct labeling_rating_result rating;
    uint32_t *by_item_start; /* [item + 1] answers of item i: by_item[start[i] .. start[i+1]) */
    uint32_t *by_item;
    double alpha_interval;
    /* per labeler */
    struct label_kinds_worker {
        uint32_t labels;
        double agreement;  /* multi: share of labels equal to the consensus set;
                              rating: share within half a step of the consensus */
        double jaccard;    /* multi: mean Jaccard index with the consensus set */
        double model_right, model_total; /* multi: binary decisions, model estimate */
        uint32_t gold_answers, gold_right; /* multi: binary decisions on gold items */
        double abs_error;  /* rating: mean absolute difference from the consensus */
        double gold_abs_error; /* rating: on gold items, NaN without */
        double scale;      /* rating: the engine's error scale */
    } *workers;
};

/* Aggregates a multi_label or rating task's answers (a->answer_count > 0). method: NULL for
 * the default (auto; gaussian for ratings) or the query's value. LODE_OK, LODE_EINVAL (a method
 * the kind does not have; pointer "method"), LODE_ENOMEM. */
enum lode_code label_kinds_aggregate(const struct label_task *t, const struct label_answers *a,
                                     const char *method, uint64_t seed, struct arena *arena,
                                     struct label_kinds_result *out, struct lode_error *err);

/* The consensus row of item i (aggregated false: no labels in the task), and its snapshot leaf
 * (canonical JSON without floats). */
json_t *label_kinds_row(const struct label_task *t, const struct label_answers *a,
                        const struct label_kinds_result *r, bool aggregated, uint32_t i,
                        bool is_gold);
json_t *label_kinds_leaf(const struct label_task *t, const struct label_answers *a,
                         const struct label_kinds_result *r, bool aggregated, uint32_t i);
/* Per labeler agreement objects, in a->labeler_ids order. */
json_t *label_kinds_labelers(const struct label_task *t, const struct label_answers *a,
                             const struct label_kinds_result *r);

#endif
