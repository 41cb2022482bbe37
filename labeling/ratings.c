/*
 * labeling/ratings.c — consensus of numeric ratings, and multi-label consensus.
 *
 * Ratings, two estimators over the same worker model. Each worker has a robust error scale:
 * the median of their absolute residuals against the current consensus, shrunk toward the
 * crowd's median residual by SCALE_PRIOR pseudo-ratings, so that a worker with two ratings is
 * neither trusted nor dismissed on so little. Then per item:
 *   GAUSSIAN  the precision-weighted mean, weight 1 / scale^2 (a Gaussian worker model);
 *   MEDIAN    the weighted median, weight 1 / scale: unmoved by a few wild single ratings.
 * Both start from the plain median (a robust first consensus for the first scales) and iterate
 * RATING_ROUNDS times. A
 * worker who is off on every item (a spammer, or a +50 bias) gets a large scale and next to
 * no weight under either.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "labeling/labeling.h"

#define RATING_ROUNDS 5
#define SCALE_PRIOR 30.0

struct pair {
    double value;
    double weight;
};

static int pair_cmp(const void *a, const void *b)
{
    double x = ((const struct pair *)a)->value, y = ((const struct pair *)b)->value;
    return (x > y) - (x < y);
}

static int double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Weighted median of n pairs (sorted here): the smallest value whose cumulative weight reaches
 * half the total; when it reaches exactly half, the mean of that value and the next. */
static double weighted_median(struct pair *p, size_t n)
{
    double total = 0, cum = 0;
    qsort(p, n, sizeof *p, pair_cmp);
    for (size_t i = 0; i < n; i++)
        total += p[i].weight;
    for (size_t i = 0; i < n; i++) {
        cum += p[i].weight;
        if (cum >= total / 2) {
            if (fabs(cum - total / 2) <= 1e-12 * total && i + 1 < n)
                return (p[i].value + p[i + 1].value) / 2;
            return p[i].value;
        }
    }
    return n ? p[n - 1].value : NAN;
}

static double plain_median(double *v, size_t n)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof *v, double_cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

enum lode_code labeling_aggregate_ratings(const struct labeling_rating *ratings, size_t count,
                                          uint32_t item_count, uint32_t worker_count,
                                          enum labeling_rating_method method, struct arena *arena,
                                          struct labeling_rating_result *result_out,
                                          struct lode_error *err)
{
    struct labeling_rating_result *r = result_out;
    uint32_t *ioff, *iord, *woff, *word, *fill;
    struct pair *pairs;
    double *resid, *weight;

    memset(r, 0, sizeof *r);
    if (method != LABELING_RATING_GAUSSIAN && method != LABELING_RATING_MEDIAN)
        return lode_error_set(err, LODE_EINVAL, "unknown rating method");
    if (count > LODE_LABELING_ANSWERS_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "%zu ratings exceed the limit of %u", count,
                              LODE_LABELING_ANSWERS_MAX);
    if (item_count == UINT32_MAX || worker_count == UINT32_MAX)
        return lode_error_set(err, LODE_EINVAL, "item or worker count out of range");
    for (size_t i = 0; i < count; i++)
        if (ratings[i].item >= item_count || ratings[i].worker >= worker_count ||
            !isfinite(ratings[i].value))
            return lode_error_set(err, LODE_EINVAL,
                                  "rating %zu (item %u, worker %u) is out of range or not finite",
                                  i, ratings[i].item, ratings[i].worker);
    size_t I = item_count ? item_count : 1, W = worker_count ? worker_count : 1;
    size_t N = count ? count : 1;
    r->item_count = item_count;
    r->worker_count = worker_count;
    r->value = arena_calloc(arena, I, sizeof *r->value);
    r->spread = arena_calloc(arena, I, sizeof *r->spread);
    r->ratings = arena_calloc(arena, I, sizeof *r->ratings);
    r->worker_scale = arena_calloc(arena, W, sizeof *r->worker_scale);
    ioff = arena_calloc(arena, I + 1, sizeof *ioff);
    woff = arena_calloc(arena, W + 1, sizeof *woff);
    iord = arena_calloc(arena, N, sizeof *iord);
    word = arena_calloc(arena, N, sizeof *word);
    fill = arena_calloc(arena, (I > W ? I : W) + 1, sizeof *fill);
    pairs = arena_calloc(arena, N, sizeof *pairs);
    resid = arena_calloc(arena, N, sizeof *resid);
    weight = arena_calloc(arena, W, sizeof *weight);
    if (r->value == NULL || r->spread == NULL || r->ratings == NULL || r->worker_scale == NULL ||
        ioff == NULL || woff == NULL || iord == NULL || word == NULL || fill == NULL ||
        pairs == NULL || resid == NULL || weight == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate rating state");

    /* group rating indexes by item and by worker (stable counting sorts) */
    for (size_t i = 0; i < count; i++) {
        ioff[ratings[i].item + 1]++;
        woff[ratings[i].worker + 1]++;
    }
    for (uint32_t i = 0; i < item_count; i++)
        ioff[i + 1] += ioff[i];
    for (uint32_t v = 0; v < worker_count; v++)
        woff[v + 1] += woff[v];
    memcpy(fill, ioff, (size_t)item_count * sizeof *fill);
    for (size_t i = 0; i < count; i++)
        iord[fill[ratings[i].item]++] = (uint32_t)i;
    memcpy(fill, woff, (size_t)worker_count * sizeof *fill);
    for (size_t i = 0; i < count; i++)
        word[fill[ratings[i].worker]++] = (uint32_t)i;

    for (uint32_t v = 0; v < worker_count; v++)
        weight[v] = 1.0;
    for (int round = 0; round <= RATING_ROUNDS; round++) {
        /* consensus from the current weights */
        for (uint32_t i = 0; i < item_count; i++) {
            size_t n = ioff[i + 1] - ioff[i];
            for (size_t j = 0; j < n; j++) {
                const struct labeling_rating *x = &ratings[iord[ioff[i] + j]];
                pairs[j].value = x->value;
                pairs[j].weight = weight[x->worker];
            }
            r->ratings[i] = (uint32_t)n;
            if (method == LABELING_RATING_MEDIAN || round == 0) { /* robust start */
                r->value[i] = n ? weighted_median(pairs, n) : NAN;
            } else {
                double sw = 0, sx = 0;
                for (size_t j = 0; j < n; j++) {
                    sw += pairs[j].weight;
                    sx += pairs[j].weight * pairs[j].value;
                }
                r->value[i] = n ? sx / sw : NAN;
            }
        }
        if (round == RATING_ROUNDS)
            break;
        /* crowd scale: median absolute residual over all ratings */
        for (size_t i = 0; i < count; i++)
            resid[i] = fabs(ratings[i].value - r->value[ratings[i].item]);
        double crowd = plain_median(resid, count);
        if (!(crowd > 0))
            crowd = 1e-9;
        /* worker scales, shrunk toward the crowd's */
        for (uint32_t v = 0; v < worker_count; v++) {
            size_t n = woff[v + 1] - woff[v];
            for (size_t j = 0; j < n; j++) {
                const struct labeling_rating *x = &ratings[word[woff[v] + j]];
                resid[j] = fabs(x->value - r->value[x->item]);
            }
            double own = n ? plain_median(resid, n) : crowd;
            double scale = (n * own + SCALE_PRIOR * crowd) / (n + SCALE_PRIOR);
            r->worker_scale[v] = scale;
            double floor_scale = scale + 0.01 * crowd;
            weight[v] = method == LABELING_RATING_MEDIAN ? 1.0 / floor_scale
                                                         : 1.0 / (floor_scale * floor_scale);
        }
    }
    /* spread: weighted median absolute deviation around the consensus */
    for (uint32_t i = 0; i < item_count; i++) {
        size_t n = ioff[i + 1] - ioff[i];
        for (size_t j = 0; j < n; j++) {
            const struct labeling_rating *x = &ratings[iord[ioff[i] + j]];
            pairs[j].value = fabs(x->value - r->value[i]);
            pairs[j].weight = weight[x->worker];
        }
        r->spread[i] = n ? weighted_median(pairs, n) : NAN;
    }
    return LODE_OK;
}

enum lode_code labeling_aggregate_multi(const struct labeling_multi_answer *answers, size_t count,
                                        uint32_t item_count, uint32_t worker_count,
                                        uint32_t label_count,
                                        const struct labeling_options *options,
                                        struct arena *arena,
                                        struct labeling_multi_result *result_out,
                                        struct lode_error *err)
{
    struct labeling_multi_result *r = result_out;
    struct labeling_answer *bin;
    enum lode_code rc;

    memset(r, 0, sizeof *r);
    if (label_count < 1 || label_count > 64)
        return lode_error_set(err, LODE_EINVAL, "label count %u is outside 1..64", label_count);
    if (count > LODE_LABELING_ANSWERS_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "%zu answers exceed the limit of %u", count,
                              LODE_LABELING_ANSWERS_MAX);
    for (size_t i = 0; i < count; i++)
        if (label_count < 64 && (answers[i].labels >> label_count) != 0)
            return lode_error_set(err, LODE_EINVAL, "answer %zu names a label outside 0..%u", i,
                                  label_count - 1);
    r->item_count = item_count;
    r->label_count = label_count;
    r->labels = arena_calloc(arena, item_count ? item_count : 1, sizeof *r->labels);
    r->confidence = arena_calloc(arena, (size_t)(item_count ? item_count : 1) * label_count,
                                 sizeof *r->confidence);
    bin = arena_calloc(arena, count ? count : 1, sizeof *bin);
    if (r->labels == NULL || r->confidence == NULL || bin == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate multi-label state");
    for (uint32_t k = 0; k < label_count; k++) {
        struct labeling_result one;
        struct labeling_problem p = {bin, count, NULL, 0, item_count, worker_count, 2};
        for (size_t i = 0; i < count; i++) {
            bin[i].item = answers[i].item;
            bin[i].worker = answers[i].worker;
            bin[i].label = (uint32_t)((answers[i].labels >> k) & 1u);
        }
        rc = labeling_aggregate(&p, options, arena, &one, err);
        if (rc != LODE_OK)
            return rc;
        for (uint32_t i = 0; i < item_count; i++) {
            r->confidence[(size_t)i * label_count + k] = one.posterior[(size_t)i * 2 + 1];
            if (one.label[i] == 1)
                r->labels[i] |= 1ull << k;
        }
    }
    return LODE_OK;
}
