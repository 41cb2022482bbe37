/*
 * labeling/agreement.c — Krippendorff's alpha, nominal and interval.
 *
 * alpha = 1 - D_o / D_e, written with the coincidence counts of Krippendorff (2011):
 *   D_o = sum over pairable items u (m_u >= 2 values) of  P_u / (m_u - 1),
 *   D_e = P / (n - 1),   n = number of pairable values,
 * where P_u sums the disagreement over the ordered pairs of values inside item u and P over
 * the ordered pairs of all pairable values. Nominal: P_u = m_u^2 - sum_c n_uc^2. Interval:
 * P_u = 2 m_u sum (v - mean_u)^2 (the sum of (a - b)^2 over ordered pairs), computed around
 * the mean for accuracy. One pass over grouped values: O(values + items * labels).
 */
#include <math.h>
#include <string.h>

#include "core/limits.h"
#include "labeling/labeling.h"

enum lode_code labeling_alpha_nominal(const struct labeling_answer *answers, size_t count,
                                      uint32_t item_count, uint32_t label_count,
                                      struct arena *arena, double *alpha_out,
                                      struct lode_error *err)
{
    uint32_t *m, *nc;
    double *totals;
    double observed = 0, n = 0, sumsq = 0;

    *alpha_out = NAN;
    if (label_count < 1 || label_count > LODE_LABELING_LABELS_MAX)
        return lode_error_set(err, LODE_EINVAL, "label count %u is outside 1..%d", label_count,
                              LODE_LABELING_LABELS_MAX);
    for (size_t i = 0; i < count; i++)
        if (answers[i].item >= item_count || answers[i].label >= label_count)
            return lode_error_set(err, LODE_EINVAL, "answer %zu is out of range", i);
    m = arena_calloc(arena, item_count ? item_count : 1, sizeof *m);
    nc = arena_calloc(arena, (size_t)(item_count ? item_count : 1) * label_count, sizeof *nc);
    totals = arena_calloc(arena, label_count, sizeof *totals);
    if (m == NULL || nc == NULL || totals == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate agreement state");
    for (size_t i = 0; i < count; i++) {
        m[answers[i].item]++;
        nc[(size_t)answers[i].item * label_count + answers[i].label]++;
    }
    for (uint32_t u = 0; u < item_count; u++) {
        if (m[u] < 2)
            continue;
        double same = 0;
        for (uint32_t c = 0; c < label_count; c++) {
            double x = nc[(size_t)u * label_count + c];
            same += x * x;
            totals[c] += x;
        }
        observed += ((double)m[u] * m[u] - same) / (m[u] - 1.0);
        n += m[u];
    }
    for (uint32_t c = 0; c < label_count; c++)
        sumsq += totals[c] * totals[c];
    double expected = n * n - sumsq;
    if (n >= 2 && expected > 0)
        *alpha_out = 1.0 - (n - 1.0) * observed / expected;
    return LODE_OK;
}

enum lode_code labeling_alpha_interval(const struct labeling_rating *ratings, size_t count,
                                       uint32_t item_count, struct arena *arena,
                                       double *alpha_out, struct lode_error *err)
{
    uint32_t *m;
    double *sum, *dev;
    double observed = 0, n = 0, grand = 0, expected = 0;

    *alpha_out = NAN;
    for (size_t i = 0; i < count; i++)
        if (ratings[i].item >= item_count || !isfinite(ratings[i].value))
            return lode_error_set(err, LODE_EINVAL, "rating %zu is out of range or not finite",
                                  i);
    m = arena_calloc(arena, item_count ? item_count : 1, sizeof *m);
    sum = arena_calloc(arena, item_count ? item_count : 1, sizeof *sum);
    dev = arena_calloc(arena, item_count ? item_count : 1, sizeof *dev);
    if (m == NULL || sum == NULL || dev == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate agreement state");
    for (size_t i = 0; i < count; i++) {
        m[ratings[i].item]++;
        sum[ratings[i].item] += ratings[i].value;
    }
    for (uint32_t u = 0; u < item_count; u++)
        if (m[u] >= 2) {
            n += m[u];
            grand += sum[u];
        }
    if (n < 2)
        return LODE_OK;
    grand /= n;
    for (size_t i = 0; i < count; i++) {
        uint32_t u = ratings[i].item;
        if (m[u] < 2)
            continue;
        double d = ratings[i].value - sum[u] / m[u];
        double g = ratings[i].value - grand;
        dev[u] += d * d;
        expected += g * g;
    }
    for (uint32_t u = 0; u < item_count; u++)
        if (m[u] >= 2)
            observed += 2.0 * m[u] * dev[u] / (m[u] - 1.0);
    expected *= 2.0 * n; /* sum of (a - b)^2 over ordered pairs of all pairable values */
    if (expected > 0)
        *alpha_out = 1.0 - (n - 1.0) * observed / expected;
    return LODE_OK;
}
