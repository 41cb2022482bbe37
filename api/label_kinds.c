/*
 * api/label_kinds.c — schemas, label values, and the consensus and agreement of multi_label
 * and rating tasks (see label_kinds.h and docs/labeling.md, "Task kinds").
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/label_kinds.h"
#include "core/json.h"
#include "core/limits.h"

#define RATING_MAGNITUDE_STEPS_MAX 1e12 /* |min|, |max| in steps: 15 digits hold the grid */
/* ratings beyond this lose the precision the aggregation's squares and sums need */
#define RATING_MAGNITUDE_MAX 1e15

static void error_at(struct lode_error *err, const char *pointer)
{
    lode_error_pointer(err, pointer);
}

/* ---- schema ---- */

static bool classes_parse(struct arena *arena, const json_t *classes, size_t min, size_t max,
                          struct label_task *t, struct lode_error *err)
{
    size_t n = json_is_array(classes) ? json_array_size(classes) : 0;

    if (n < min || n > max) {
        lode_error_set(err, LODE_EINVAL, "schema.classes must be an array of %zu to %zu names",
                       min, max);
        error_at(err, "/schema/classes");
        return false;
    }
    t->classes = arena_calloc(arena, n, sizeof *t->classes);
    if (t->classes == NULL) {
        lode_error_set(err, LODE_ENOMEM, "could not hold the classes");
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *c = json_array_get(classes, i);
        const char *s = json_is_string(c) ? json_string_value(c) : NULL;
        size_t len = s != NULL ? json_string_length(c) : 0;
        bool ok = s != NULL && len >= 1 && len <= LODE_LABEL_CLASS_BYTES_MAX && strlen(s) == len;
        for (size_t k = 0; ok && k < len; k++)
            ok = (unsigned char)s[k] >= 0x20 && s[k] != 0x7f;
        for (size_t k = 0; ok && k < i; k++)
            ok = strcmp(t->classes[k], s) != 0;
        if (!ok) {
            char ptr[LODE_ERROR_NAME_MAX];
            lode_error_set(err, LODE_EINVAL,
                           "schema.classes[%zu] must be a distinct name of 1 to %d bytes"
                           " without control characters",
                           i, LODE_LABEL_CLASS_BYTES_MAX);
            snprintf(ptr, sizeof ptr, "/schema/classes/%zu", i);
            error_at(err, ptr);
            return false;
        }
        t->classes[i] = s;
    }
    t->class_count = (uint32_t)n;
    return true;
}

/* A finite number member, or def when absent and not required. */
static bool number_get(const json_t *obj, const char *name, bool required, double def,
                       double *out, struct lode_error *err)
{
    const json_t *v = json_object_get(obj, name);
    char ptr[LODE_ERROR_NAME_MAX];

    if (v == NULL && !required) {
        *out = def;
        return true;
    }
    if (v == NULL || !json_is_number(v) || !isfinite(json_number_value(v))) {
        lode_error_set(err, LODE_EINVAL, "schema.%s must be a number", name);
        snprintf(ptr, sizeof ptr, "/schema/%s", name);
        error_at(err, ptr);
        return false;
    }
    *out = json_number_value(v);
    return true;
}

static bool rating_parse(const json_t *schema, struct label_task *t, struct lode_error *err)
{
    double steps;

    if (!number_get(schema, "min", true, 0, &t->rating_min, err) ||
        !number_get(schema, "max", true, 0, &t->rating_max, err) ||
        !number_get(schema, "step", false, 1.0, &t->rating_step, err))
        return false;
    if (!(t->rating_min < t->rating_max)) {
        lode_error_set(err, LODE_EINVAL, "schema.max must be greater than schema.min");
        error_at(err, "/schema/max");
        return false;
    }
    steps = (t->rating_max - t->rating_min) / t->rating_step;
    if (!(t->rating_step > 0) || !(steps >= 1) || steps > LODE_LABEL_RATING_STEPS_MAX + 0.5 ||
        fabs(steps - nearbyint(steps)) > 1e-9 * fmax(1.0, steps)) {
        lode_error_set(err, LODE_EINVAL,
                       "schema.step must be positive and divide max - min into 1 to %d steps",
                       LODE_LABEL_RATING_STEPS_MAX);
        error_at(err, "/schema/step");
        return false;
    }
    if (fmax(fabs(t->rating_min), fabs(t->rating_max)) > RATING_MAGNITUDE_MAX) {
        lode_error_set(err, LODE_EINVAL, "schema.min and schema.max must be within 1e15 of zero");
        error_at(err, fabs(t->rating_min) > RATING_MAGNITUDE_MAX ? "/schema/min" : "/schema/max");
        return false;
    }
    if (fmax(fabs(t->rating_min), fabs(t->rating_max)) / t->rating_step >
        RATING_MAGNITUDE_STEPS_MAX) {
        lode_error_set(err, LODE_EINVAL,
                       "schema.min and schema.max must be within 1e12 steps of zero");
        error_at(err, "/schema/step");
        return false;
    }
    t->classes = NULL;
    t->class_count = 0;
    return true;
}

bool label_schema_parse(struct arena *arena, const json_t *schema, struct label_task *t,
                        struct lode_error *err)
{
    static const char *const fields[] = {"type", "classes", "min", "max", "step", NULL};
    static const char *const rating_only[] = {"min", "max", "step", NULL};
    const char *type = NULL;

    if (!json_is_object(schema)) {
        lode_error_set(err, LODE_EINVAL, "field \"schema\" must be an object");
        error_at(err, "/schema");
        return false;
    }
    if (json_object_check_fields(schema, fields, err) != LODE_OK ||
        json_get_string(schema, "type", false, 32, &type, err) != LODE_OK) {
        char ptr[LODE_ERROR_NAME_MAX + 8];
        snprintf(ptr, sizeof ptr, "/schema%s", err->pointer);
        error_at(err, ptr);
        return false;
    }
    t->kind = LABEL_KIND_SINGLE_CHOICE;
    if (type != NULL && !label_kind_parse(type, &t->kind)) {
        lode_error_set(err, LODE_EINVAL,
                       "schema.type must be single_choice, multi_label or rating");
        error_at(err, "/schema/type");
        return false;
    }
    if (t->kind == LABEL_KIND_RATING) {
        if (json_object_get(schema, "classes") != NULL) {
            lode_error_set(err, LODE_EINVAL, "a rating schema has no classes");
            error_at(err, "/schema/classes");
            return false;
        }
        return rating_parse(schema, t, err);
    }
    for (size_t i = 0; rating_only[i] != NULL; i++)
        if (json_object_get(schema, rating_only[i]) != NULL) {
            char ptr[LODE_ERROR_NAME_MAX];
            lode_error_set(err, LODE_EINVAL, "schema.%s applies to rating schemas only",
                           rating_only[i]);
            snprintf(ptr, sizeof ptr, "/schema/%s", rating_only[i]);
            error_at(err, ptr);
            return false;
        }
    if (t->kind == LABEL_KIND_MULTI_LABEL)
        return classes_parse(arena, json_object_get(schema, "classes"), 1,
                             LODE_LABEL_MULTI_CLASSES_MAX, t, err);
    return classes_parse(arena, json_object_get(schema, "classes"), 2, LODE_LABELING_LABELS_MAX,
                         t, err);
}

json_t *label_schema_json(const struct label_task *t)
{
    json_t *classes;

    if (t->kind == LABEL_KIND_RATING)
        return json_pack("{s:s, s:f, s:f, s:f}", "type", "rating", "min", t->rating_min, "max",
                         t->rating_max, "step", t->rating_step);
    classes = json_array();
    for (uint32_t i = 0; i < t->class_count; i++)
        json_array_append_new(classes, json_string(t->classes[i]));
    return json_pack("{s:s, s:o}", "type", label_kind_name(t->kind), "classes", classes);
}

/* ---- values ---- */

static uint32_t class_find(const struct label_task *t, const char *name)
{
    for (uint32_t i = 0; i < t->class_count; i++)
        if (strcmp(t->classes[i], name) == 0)
            return i;
    return UINT32_MAX;
}

bool label_value_parse(const struct label_task *t, const json_t *label, const char *pointer,
                       struct label_value *value_out, struct lode_error *err)
{
    char ptr[LODE_ERROR_NAME_MAX], text[LABEL_RATING_TEXT_BYTES];

    memset(value_out, 0, sizeof *value_out);
    switch (t->kind) {
    case LABEL_KIND_SINGLE_CHOICE:
        if (!json_is_string(label)) {
            lode_error_set(err, LODE_EINVAL, "the label must be the name of a class");
            break;
        }
        value_out->class_index = class_find(t, json_string_value(label));
        if (value_out->class_index == UINT32_MAX) {
            lode_error_set(err, LODE_EINVAL, "label \"%.64s\" is not a class of label task %lld",
                           json_string_value(label), (long long)t->id);
            break;
        }
        return true;
    case LABEL_KIND_MULTI_LABEL:
        if (!json_is_array(label) || json_array_size(label) > t->class_count) {
            lode_error_set(err, LODE_EINVAL,
                           "the label must be an array of at most %u distinct class names",
                           t->class_count);
            break;
        }
        for (size_t i = 0; i < json_array_size(label); i++) {
            const json_t *c = json_array_get(label, i);
            uint32_t k = json_is_string(c) ? class_find(t, json_string_value(c)) : UINT32_MAX;
            if (k == UINT32_MAX || (value_out->class_set >> k & 1u) != 0) {
                lode_error_set(err, LODE_EINVAL,
                               k == UINT32_MAX ? "label[%zu] is not a class of the task"
                                               : "label[%zu] repeats a class",
                               i);
                snprintf(ptr, sizeof ptr, "%s/%zu", pointer, i);
                error_at(err, ptr);
                return false;
            }
            value_out->class_set |= 1ull << k;
        }
        return true;
    case LABEL_KIND_RATING:
        if (!json_is_number(label) ||
            !label_rating_canonical(t, json_number_value(label), &value_out->rating, text)) {
            lode_error_set(err, LODE_EINVAL,
                           "the label must be a number from %.15g to %.15g in steps of %.15g",
                           t->rating_min, t->rating_max, t->rating_step);
            break;
        }
        return true;
    }
    error_at(err, pointer);
    return false;
}

static json_t *set_json(const struct label_task *t, uint64_t set)
{
    json_t *names = json_array();
    for (uint32_t k = 0; k < t->class_count; k++)
        if ((set >> k & 1u) != 0)
            json_array_append_new(names, json_string(t->classes[k]));
    return names;
}

static json_t *rating_text(const struct label_task *t, double v)
{
    char text[LABEL_RATING_TEXT_BYTES];
    double canonical;
    if (!label_rating_canonical(t, v, &canonical, text))
        snprintf(text, sizeof text, "%.15g", v);
    return json_string(text);
}

json_t *label_value_json(const struct label_task *t, const struct label_value *v)
{
    switch (t->kind) {
    case LABEL_KIND_SINGLE_CHOICE:
        return json_string(v->class_index < t->class_count ? t->classes[v->class_index] : "");
    case LABEL_KIND_MULTI_LABEL:
        return set_json(t, v->class_set);
    case LABEL_KIND_RATING:
        return json_real(v->rating);
    }
    return json_null();
}

json_t *label_value_canonical(const struct label_task *t, const struct label_value *v)
{
    return t->kind == LABEL_KIND_RATING ? rating_text(t, v->rating) : label_value_json(t, v);
}

/* ---- consensus and agreement ---- */

/* Krippendorff's nominal alpha of binary decisions from per-unit counts: unit u has m[u]
 * values of which c[u] are 1; units with fewer than two values are not pairable. */
static double binary_alpha(const uint32_t *m, const uint32_t *c, size_t stride, size_t units)
{
    double n0 = 0, n1 = 0, d = 0;

    for (size_t u = 0; u < units; u++) {
        double mu = m[u], one = c[u * stride], zero = mu - one;
        if (mu < 2)
            continue;
        n0 += zero;
        n1 += one;
        d += 2.0 * zero * one / (mu - 1.0);
    }
    if (n0 * n1 == 0)
        return NAN;
    return 1.0 - (n0 + n1 - 1.0) * d / (2.0 * n0 * n1);
}

static enum lode_code multi_aggregate(const struct label_task *t, const struct label_answers *a,
                                      enum labeling_method method, uint64_t seed,
                                      struct arena *arena, struct label_kinds_result *out,
                                      struct lode_error *err)
{
    const uint32_t K = t->class_count, I = a->item_count, W = a->labeler_count;
    /* per-class scratch within what is left of the request's budget, so one request never
     * holds more than LODE_REQUEST_ARENA_BYTES_MAX in all */
    size_t used = arena_used_bytes(arena);
    struct arena *scratch =
        arena_create(used < LODE_REQUEST_ARENA_BYTES_MAX ? LODE_REQUEST_ARENA_BYTES_MAX - used : 1);
    struct labeling_answer *bin = NULL;
    struct labeling_gold *gold = NULL;
    struct labeling_options options;
    enum lode_code rc = LODE_OK;
    uint32_t *pool_m = NULL, *pool_c = NULL;

    if (scratch == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the aggregation");
    out->set = arena_calloc(arena, (size_t)I + 1, sizeof *out->set);
    out->confidence = arena_calloc(arena, (size_t)I * K + 1, sizeof *out->confidence);
    out->votes = arena_calloc(arena, (size_t)I * K + 1, sizeof *out->votes);
    out->class_alpha = arena_calloc(arena, (size_t)K + 1, sizeof *out->class_alpha);
    bin = arena_calloc(arena, a->answer_count + 1, sizeof *bin);
    gold = arena_calloc(arena, a->gold_count + 1, sizeof *gold);
    if (out->set == NULL || out->confidence == NULL || out->votes == NULL ||
        out->class_alpha == NULL || bin == NULL || gold == NULL) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not hold the aggregation");
        goto destroy_scratch;
    }
    labeling_options_init(&options);
    options.method = method;
    options.seed = seed;
    out->method = NULL;
    for (uint32_t k = 0; k < K; k++) {
        struct labeling_result one;
        struct labeling_problem p = {bin, a->answer_count, gold, a->gold_count, I, W, 2};
        const char *name;

        for (size_t i = 0; i < a->answer_count; i++) {
            bin[i].item = a->answer_item[i];
            bin[i].worker = a->answer_labeler[i];
            bin[i].label = (uint32_t)(a->answer_set[i] >> k & 1u);
        }
        for (size_t g = 0; g < a->gold_count; g++) {
            gold[g].item = a->gold_item[g];
            gold[g].label = (uint32_t)(a->gold_set[g] >> k & 1u);
        }
        arena_reset(scratch);
        rc = labeling_aggregate(&p, &options, scratch, &one, err);
        if (rc != LODE_OK)
            goto destroy_scratch;
        name = labeling_method_name(one.method);
        out->method = out->method == NULL || strcmp(out->method, name) == 0 ? name : "mixed";
        for (uint32_t i = 0; i < I; i++) {
            out->confidence[(size_t)i * K + k] = one.posterior[(size_t)i * 2 + 1];
            out->votes[(size_t)i * K + k] = one.votes[(size_t)i * 2 + 1];
            if (one.label[i] == 1)
                out->set[i] |= 1ull << k;
        }
        for (uint32_t w = 0; w < W; w++) {
            const struct labeling_quality *q = &one.workers[w];
            /* the model estimate is Beta(1 + right, 1 + wrong): recover right */
            out->workers[w].model_right += q->model_mean * (q->answers + 2.0) - 1.0;
            out->workers[w].model_total += q->answers;
            out->workers[w].gold_answers += q->gold_answers;
            out->workers[w].gold_right += q->gold_right;
        }
    }
    if (out->method == NULL)
        out->method = labeling_method_name(method);
    for (uint32_t k = 0; k < K; k++)
        out->class_alpha[k] = binary_alpha(out->labels, out->votes + k, K, I);
    /* pooled: every (item, class) decision is a unit */
    pool_m = arena_calloc(scratch, (size_t)I * K + 1, sizeof *pool_m);
    pool_c = arena_calloc(scratch, (size_t)I * K + 1, sizeof *pool_c);
    if (pool_m == NULL || pool_c == NULL) {
        rc = lode_error_set(err, LODE_ENOMEM, "could not hold the aggregation");
        goto destroy_scratch;
    }
    for (uint32_t i = 0; i < I; i++)
        for (uint32_t k = 0; k < K; k++) {
            pool_m[(size_t)i * K + k] = out->labels[i];
            pool_c[(size_t)i * K + k] = out->votes[(size_t)i * K + k];
        }
    out->alpha_nominal = binary_alpha(pool_m, pool_c, 1, (size_t)I * K);
    for (size_t i = 0; i < a->answer_count; i++) {
        struct label_kinds_worker *w = &out->workers[a->answer_labeler[i]];
        uint64_t s = a->answer_set[i], c = out->set[a->answer_item[i]];
        int both = __builtin_popcountll(s & c), either = __builtin_popcountll(s | c);
        w->agreement += s == c;
        w->jaccard += either == 0 ? 1.0 : (double)both / either;
    }
destroy_scratch:
    arena_destroy(scratch);
    return rc;
}

static enum lode_code rating_aggregate(const struct label_task *t, const struct label_answers *a,
                                       enum labeling_rating_method method, struct arena *arena,
                                       struct label_kinds_result *out, struct lode_error *err)
{
    const uint32_t I = a->item_count;
    struct labeling_rating *ratings = arena_calloc(arena, a->answer_count + 1, sizeof *ratings);
    uint32_t *fill = arena_calloc(arena, (size_t)I + 1, sizeof *fill);
    uint32_t *gold_n = arena_calloc(arena, (size_t)a->labeler_count + 1, sizeof *gold_n);
    double *gold_value = arena_calloc(arena, (size_t)I + 1, sizeof *gold_value);
    bool *is_gold = arena_calloc(arena, (size_t)I + 1, sizeof *is_gold);
    enum lode_code rc;

    out->by_item_start = arena_calloc(arena, (size_t)I + 2, sizeof *out->by_item_start);
    out->by_item = arena_calloc(arena, a->answer_count + 1, sizeof *out->by_item);
    if (ratings == NULL || fill == NULL || gold_n == NULL || gold_value == NULL ||
        is_gold == NULL || out->by_item_start == NULL || out->by_item == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the aggregation");
    for (size_t i = 0; i < a->answer_count; i++) {
        ratings[i].item = a->answer_item[i];
        ratings[i].worker = a->answer_labeler[i];
        ratings[i].value = a->answer_rating[i];
        out->by_item_start[a->answer_item[i] + 1]++;
    }
    for (uint32_t i = 0; i < I; i++)
        out->by_item_start[i + 1] += out->by_item_start[i];
    for (size_t i = 0; i < a->answer_count; i++) {
        uint32_t item = a->answer_item[i];
        out->by_item[out->by_item_start[item] + fill[item]++] = (uint32_t)i;
    }
    rc = labeling_aggregate_ratings(ratings, a->answer_count, I, a->labeler_count, method, arena,
                                    &out->rating, err);
    if (rc != LODE_OK)
        return rc;
    for (size_t g = 0; g < a->gold_count; g++) {
        is_gold[a->gold_item[g]] = true;
        gold_value[a->gold_item[g]] = a->gold_rating[g];
        if (out->rating.ratings[a->gold_item[g]] > 0)
            out->rating.value[a->gold_item[g]] = a->gold_rating[g]; /* the known value */
    }
    rc = labeling_alpha_interval(ratings, a->answer_count, I, arena, &out->alpha_interval, err);
    if (rc != LODE_OK)
        return rc;
    for (uint32_t w = 0; w < a->labeler_count; w++) {
        out->workers[w].scale = out->rating.worker_scale[w];
        out->workers[w].gold_abs_error = 0;
    }
    for (size_t i = 0; i < a->answer_count; i++) {
        struct label_kinds_worker *w = &out->workers[a->answer_labeler[i]];
        uint32_t item = a->answer_item[i];
        double d = fabs(a->answer_rating[i] - out->rating.value[item]);
        w->abs_error += d;
        w->agreement += d <= t->rating_step / 2;
        if (is_gold[item]) {
            w->gold_abs_error += fabs(a->answer_rating[i] - gold_value[item]);
            gold_n[a->answer_labeler[i]]++;
        }
    }
    for (uint32_t w = 0; w < a->labeler_count; w++) {
        out->workers[w].gold_answers = gold_n[w];
        out->workers[w].gold_abs_error =
            gold_n[w] > 0 ? out->workers[w].gold_abs_error / gold_n[w] : NAN;
    }
    return LODE_OK;
}

enum lode_code label_kinds_aggregate(const struct label_task *t, const struct label_answers *a,
                                     const char *method, uint64_t seed, struct arena *arena,
                                     struct label_kinds_result *out, struct lode_error *err)
{
    enum labeling_rating_method rm = LABELING_RATING_GAUSSIAN;
    enum labeling_method m = LABELING_METHOD_AUTO;
    enum lode_code rc;

    memset(out, 0, sizeof *out);
    out->alpha_nominal = NAN;
    out->alpha_interval = NAN;
    if (t->kind == LABEL_KIND_RATING) {
        if (method != NULL && strcmp(method, "median") == 0)
            rm = LABELING_RATING_MEDIAN;
        else if (method != NULL && strcmp(method, "gaussian") != 0) {
            lode_error_set(err, LODE_EINVAL,
                           "query parameter \"method\" must be gaussian or median for a rating"
                           " task");
            error_at(err, "method");
            return err->code;
        }
        out->method = rm == LABELING_RATING_MEDIAN ? "median" : "gaussian";
    } else {
        if (method != NULL && !labeling_method_parse(method, &m)) {
            lode_error_set(err, LODE_EINVAL,
                           "query parameter \"method\" must be mv, onecoin, hds, ds or auto");
            error_at(err, "method");
            return err->code;
        }
        out->method = labeling_method_name(m);
    }
    out->labels = arena_calloc(arena, (size_t)a->item_count + 1, sizeof *out->labels);
    out->workers = arena_calloc(arena, (size_t)a->labeler_count + 1, sizeof *out->workers);
    if (out->labels == NULL || out->workers == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not hold the aggregation");
    if (a->answer_count == 0 || a->item_count == 0)
        return LODE_OK;
    for (size_t i = 0; i < a->answer_count; i++) {
        out->labels[a->answer_item[i]]++;
        out->workers[a->answer_labeler[i]].labels++;
    }
    if (t->kind == LABEL_KIND_RATING)
        rc = rating_aggregate(t, a, rm, arena, out, err);
    else
        rc = multi_aggregate(t, a, m, seed, arena, out, err);
    if (rc != LODE_OK)
        return rc;
    for (uint32_t w = 0; w < a->labeler_count; w++) {
        struct label_kinds_worker *q = &out->workers[w];
        double n = q->labels > 0 ? q->labels : NAN;
        q->agreement /= n;
        q->jaccard /= n;
        q->abs_error /= n;
    }
    return LODE_OK;
}

static json_t *number_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Votes of item i: multi_label {class: labels choosing it}; rating {canonical text: count}. */
static json_t *votes_json(const struct label_task *t, const struct label_answers *a,
                          const struct label_kinds_result *r, uint32_t i)
{
    json_t *votes = json_object();

    if (t->kind == LABEL_KIND_MULTI_LABEL) {
        for (uint32_t k = 0; k < t->class_count; k++) {
            uint32_t n = r->votes[(size_t)i * t->class_count + k];
            if (n > 0)
                json_object_set_new(votes, t->classes[k], json_integer(n));
        }
        return votes;
    }
    for (uint32_t j = r->by_item_start[i]; j < r->by_item_start[i + 1]; j++) {
        json_t *key = rating_text(t, a->answer_rating[r->by_item[j]]);
        const char *s = json_string_value(key);
        json_t *old = s != NULL ? json_object_get(votes, s) : NULL;
        if (s != NULL)
            json_object_set_new(votes, s, json_integer(old != NULL ? json_integer_value(old) + 1
                                                                   : 1));
        json_decref(key);
    }
    return votes;
}

json_t *label_kinds_row(const struct label_task *t, const struct label_answers *a,
                        const struct label_kinds_result *r, bool aggregated, uint32_t i,
                        bool is_gold)
{
    uint32_t n = aggregated ? r->labels[i] : 0;
    json_t *row;

    if (t->kind == LABEL_KIND_RATING) {
        double v = n > 0 ? r->rating.value[i] : NAN;
        return json_pack("{s:I, s:o, s:o, s:b, s:I, s:o}", "item", (json_int_t)a->item_ids[i],
                         "label", number_or_null(v), "spread",
                         number_or_null(n > 0 ? r->rating.spread[i] : NAN), "gold", is_gold,
                         "labels", (json_int_t)n, "votes",
                         n > 0 ? votes_json(t, a, r, i) : json_object());
    }
    row = json_pack("{s:I, s:o, s:o, s:b, s:I, s:o}", "item", (json_int_t)a->item_ids[i], "label",
                    n > 0 ? set_json(t, r->set[i]) : json_null(), "confidence", json_object(),
                    "gold", is_gold, "labels", (json_int_t)n, "votes",
                    n > 0 ? votes_json(t, a, r, i) : json_object());
    for (uint32_t k = 0; n > 0 && row != NULL && k < t->class_count; k++)
        json_object_set_new(json_object_get(row, "confidence"), t->classes[k],
                            json_real(r->confidence[(size_t)i * t->class_count + k]));
    return row;
}

json_t *label_kinds_leaf(const struct label_task *t, const struct label_answers *a,
                         const struct label_kinds_result *r, bool aggregated, uint32_t i)
{
    uint32_t n = aggregated ? r->labels[i] : 0;
    json_t *label;

    if (n == 0)
        label = json_null();
    else if (t->kind == LABEL_KIND_RATING)
        label = json_sprintf("%.15g", r->rating.value[i]);
    else
        label = set_json(t, r->set[i]);
    return json_pack("{s:I, s:o, s:I, s:o}", "item", (json_int_t)a->item_ids[i], "label", label,
                     "labels", (json_int_t)n, "votes",
                     n > 0 ? votes_json(t, a, r, i) : json_object());
}

json_t *label_kinds_labelers(const struct label_task *t, const struct label_answers *a,
                             const struct label_kinds_result *r)
{
    json_t *list = json_array();

    for (uint32_t w = 0; w < a->labeler_count; w++) {
        const struct label_kinds_worker *q = &r->workers[w];
        if (t->kind == LABEL_KIND_RATING) {
            json_array_append_new(
                list, json_pack("{s:I, s:I, s:o, s:o, s:o, s:{s:I, s:o}}", "labeler",
                                (json_int_t)a->labeler_ids[w], "labels", (json_int_t)q->labels,
                                "agreement", number_or_null(q->agreement), "abs_error",
                                number_or_null(q->abs_error), "scale", number_or_null(q->scale),
                                "gold", "answers", (json_int_t)q->gold_answers, "abs_error",
                                number_or_null(q->gold_abs_error)));
        } else {
            double mean, low, high, gmean, glow, ghigh;
            double right = fmax(0.0, fmin(q->model_right, q->model_total));
            labeling_beta_interval(1.0 + right, 1.0 + q->model_total - right, &mean, &low, &high);
            labeling_beta_interval(1.0 + q->gold_right,
                                   1.0 + (double)(q->gold_answers - q->gold_right), &gmean,
                                   &glow, &ghigh);
            if (q->gold_answers == 0)
                gmean = glow = ghigh = NAN;
            json_array_append_new(
                list,
                json_pack("{s:I, s:I, s:o, s:o, s:{s:o, s:o, s:o}, s:{s:I, s:I, s:o, s:o, s:o}}",
                          "labeler", (json_int_t)a->labeler_ids[w], "labels",
                          (json_int_t)q->labels, "agreement", number_or_null(q->agreement),
                          "jaccard", number_or_null(q->jaccard), "accuracy", "mean",
                          number_or_null(mean), "low", number_or_null(low), "high",
                          number_or_null(high), "gold", "answers", (json_int_t)q->gold_answers,
                          "right", (json_int_t)q->gold_right, "mean", number_or_null(gmean),
                          "low", number_or_null(glow), "high", number_or_null(ghigh)));
        }
    }
    return list;
}
