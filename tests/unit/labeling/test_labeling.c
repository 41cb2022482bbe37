/*
 * tests/unit/labeling/test_labeling.c — the aggregation engine on small hand-computed cases:
 * majority vote and its tie-break, one EM step of DS / ONECOIN / HDS against numbers worked
 * out by hand, gold clamping, labeler quality intervals, ratings, multi-label, Krippendorff's
 * alpha on the textbook example, and the CSV reader's rules and errors.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/error.h"
#include "labeling/labeling.h"
#include "test_main.h"

#define NEAR(a, b, eps) CU_ASSERT(fabs((a) - (b)) < (eps))

static struct labeling_result run(const struct labeling_answer *a, size_t n, uint32_t items,
                                  uint32_t workers, uint32_t labels, enum labeling_method m,
                                  unsigned iterations, struct arena *arena)
{
    struct labeling_problem p = {a, n, NULL, 0, items, workers, labels};
    struct labeling_options o;
    struct labeling_result r;
    struct lode_error err = {0};
    labeling_options_init(&o);
    o.method = m;
    if (iterations)
        o.iterations_max = iterations;
    CU_ASSERT_EQUAL(labeling_aggregate(&p, &o, arena, &r, &err), LODE_OK);
    return r;
}

/* ---- majority vote ------------------------------------------------------------------------ */

static void test_mv_majority_and_reliability_tiebreak(void)
{
    /* workers 0 (A), 1 (B), 2 (C). Item 2 is a 1-1 tie between A (label 0) and C (label 1).
     * Agreement with co-labelers: A agrees on 2 of 5 pairs -> (2+1)/(5+2) = 3/7,
     * C on 0 of 5 -> 1/7; so the tie goes to A's label 0. */
    const struct labeling_answer a[] = {
        {0, 0, 0}, {0, 1, 0}, {0, 2, 1}, {1, 0, 1}, {1, 1, 1}, {1, 2, 0}, {2, 0, 0}, {2, 2, 1},
    };
    struct arena *arena = arena_create(0);
    struct labeling_result r = run(a, 8, 4, 3, 2, LABELING_METHOD_MV, 0, arena);
    CU_ASSERT_EQUAL(r.label[0], 0);
    CU_ASSERT_EQUAL(r.label[1], 1);
    CU_ASSERT_EQUAL(r.label[2], 0);
    CU_ASSERT_EQUAL(r.label[3], LABELING_NONE); /* no answers */
    NEAR(r.confidence[0], 3.0 / 5.0, 1e-12);     /* (2 + 1) / (3 + 2) */
    NEAR(r.confidence[2], 2.0 / 4.0, 1e-12);
    CU_ASSERT_EQUAL(r.confidence[3], 0.0);
    CU_ASSERT_EQUAL(r.votes[0 * 2 + 0], 2);
    CU_ASSERT_EQUAL(r.votes[0 * 2 + 1], 1);
    CU_ASSERT_EQUAL(r.method, LABELING_METHOD_MV);
    /* labeler quality: A agrees with the consensus on all 3 of its answers */
    NEAR(r.workers[0].agreement, 1.0, 1e-12);
    NEAR(r.workers[2].agreement, 0.0, 1e-12);
    NEAR(r.workers[0].pairwise, 2.0 / 5.0, 1e-12);
    arena_destroy(arena);
}

static void test_mv_exact_tie_is_hashed_and_unbiased(void)
{
    /* 400 items, each answered 0 by one worker and 1 by another; all workers alike, so every
     * tie falls to the hash: deterministic per (item, seed), and both labels win often */
    enum { ITEMS = 400 };
    static struct labeling_answer a[2 * ITEMS];
    struct arena *arena = arena_create(0);
    unsigned zeros = 0;
    for (uint32_t i = 0; i < ITEMS; i++) {
        a[2 * i] = (struct labeling_answer){i, 2 * i, 0};
        a[2 * i + 1] = (struct labeling_answer){i, 2 * i + 1, 1};
    }
    struct labeling_result r1 = run(a, 2 * ITEMS, ITEMS, 2 * ITEMS, 2, LABELING_METHOD_MV, 0, arena);
    struct labeling_result r2 = run(a, 2 * ITEMS, ITEMS, 2 * ITEMS, 2, LABELING_METHOD_MV, 0, arena);
    for (uint32_t i = 0; i < ITEMS; i++) {
        CU_ASSERT_EQUAL(r1.label[i], r2.label[i]);
        zeros += r1.label[i] == 0;
    }
    CU_ASSERT(zeros > ITEMS / 2 - 60 && zeros < ITEMS / 2 + 60);
    arena_destroy(arena);
}

/* ---- EM models: one step against hand-computed values --------------------------------------- */

/* items 0, 1; workers 0, 1; item 0: both say 0; item 1: worker 0 says 1, worker 1 says 0.
 * Start: shares item0 = [1, 0], item1 = [.5, .5]; class prior (1.5+1)/4, (.5+1)/4. */
static const struct labeling_answer tiny[] = {{0, 0, 0}, {0, 1, 0}, {1, 0, 1}, {1, 1, 0}};

static void test_ds_one_step(void)
{
    /* worker 0 counts [[1, .5], [0, .5]], worker 1 [[1.5, 0], [.5, 0]], smoothing 0.01:
     * item1 ∝ .625 * (.51/1.52) * (1.51/1.52) vs .375 * (.51/.52) * (.51/.52) */
    struct arena *arena = arena_create(0);
    struct labeling_result r = run(tiny, 4, 2, 2, 2, LABELING_METHOD_DS, 1, arena);
    NEAR(r.posterior[2], 0.3660978919854129, 1e-9);
    NEAR(r.posterior[3], 0.6339021080145870, 1e-9);
    NEAR(r.posterior[0], 0.9831452895237399, 1e-9);
    CU_ASSERT_EQUAL(r.label[1], 1);
    CU_ASSERT_EQUAL(r.iterations, 1);
    arena_destroy(arena);
}

static void test_onecoin_one_step(void)
{
    /* both workers: expected right 1.5 of 2, Beta prior (2, 1) -> accuracy 3.5/5 = .7;
     * item1 ∝ .625 * .3 * .7 vs .375 * .7 * .3 -> [.625, .375] */
    struct arena *arena = arena_create(0);
    struct labeling_result r = run(tiny, 4, 2, 2, 2, LABELING_METHOD_ONECOIN, 1, arena);
    NEAR(r.posterior[2], 0.625, 1e-9);
    NEAR(r.posterior[3], 0.375, 1e-9);
    arena_destroy(arena);
}

static void test_hds_one_step(void)
{
    /* one-coin centre .7 for both workers, 16 pseudo-answers per row:
     * item1 ∝ .625 * (5.3/17.5) * (12.7/17.5) vs .375 * (11.7/16.5) * (5.3/16.5) */
    struct arena *arena = arena_create(0);
    struct labeling_result r = run(tiny, 4, 2, 2, 2, LABELING_METHOD_HDS, 1, arena);
    NEAR(r.posterior[2], 0.6166038038680685, 1e-9);
    NEAR(r.posterior[3], 0.3833961961319316, 1e-9);
    arena_destroy(arena);
}

static void test_ds_learns_a_flipping_worker(void)
{
    /* 3 honest-but-noisy workers and two who always answer the opposite: where one honest
     * worker errs, majority vote follows the flippers 3 to 2; DS reads them inverted */
    enum { ITEMS = 64 };
    static struct labeling_answer a[ITEMS * 5];
    size_t n = 0;
    uint32_t truth[ITEMS];
    for (uint32_t i = 0; i < ITEMS; i++) {
        truth[i] = i % 2;
        for (uint32_t w = 0; w < 3; w++) {
            uint32_t l = truth[i];
            if ((i + w) % 8 == 0) /* each honest worker errs on 1 item in 8 */
                l ^= 1;
            a[n++] = (struct labeling_answer){i, w, l};
        }
        a[n++] = (struct labeling_answer){i, 3, truth[i] ^ 1};
        a[n++] = (struct labeling_answer){i, 4, truth[i] ^ 1};
    }
    struct arena *arena = arena_create(0);
    struct labeling_result ds = run(a, n, ITEMS, 5, 2, LABELING_METHOD_DS, 0, arena);
    struct labeling_result mv = run(a, n, ITEMS, 5, 2, LABELING_METHOD_MV, 0, arena);
    unsigned ds_right = 0, mv_right = 0;
    for (uint32_t i = 0; i < ITEMS; i++) {
        ds_right += ds.label[i] == truth[i];
        mv_right += mv.label[i] == truth[i];
    }
    CU_ASSERT_EQUAL(ds_right, ITEMS);
    CU_ASSERT_EQUAL(mv_right, ITEMS - 3 * ITEMS / 8);
    CU_ASSERT(ds.converged);
    /* the flipper agrees with nobody, and the model knows it */
    CU_ASSERT(ds.workers[3].model_mean < 0.1);
    CU_ASSERT(ds.workers[0].model_mean > 0.6);
    arena_destroy(arena);
}

static void test_gold_is_clamped_and_scores_workers(void)
{
    /* item 0 is gold with label 1 although both workers say 0; worker 1 also answers gold
     * item 1 correctly */
    const struct labeling_answer a[] = {{0, 0, 0}, {0, 1, 0}, {1, 1, 1}, {2, 0, 1}, {2, 1, 1}};
    const struct labeling_gold g[] = {{0, 1}, {1, 1}};
    for (int m = 0; m <= LABELING_METHOD_AUTO; m++) {
        struct arena *arena = arena_create(0);
        struct labeling_problem p = {a, 5, g, 2, 3, 2, 2};
        struct labeling_options o;
        struct labeling_result r;
        struct lode_error err = {0};
        labeling_options_init(&o);
        o.method = (enum labeling_method)m;
        o.folds = 2;
        CU_ASSERT_EQUAL_FATAL(labeling_aggregate(&p, &o, arena, &r, &err), LODE_OK);
        CU_ASSERT_EQUAL(r.label[0], 1);
        NEAR(r.confidence[0], 1.0, 1e-12);
        CU_ASSERT_EQUAL(r.workers[0].gold_answers, 1);
        CU_ASSERT_EQUAL(r.workers[0].gold_right, 0);
        CU_ASSERT_EQUAL(r.workers[1].gold_answers, 2);
        CU_ASSERT_EQUAL(r.workers[1].gold_right, 1);
        NEAR(r.workers[1].gold_mean, 2.0 / 4.0, 1e-12); /* Beta(1 + 1, 1 + 1) */
        NEAR(r.workers[0].gold_mean, 1.0 / 3.0, 1e-12); /* Beta(1, 2) */
        arena_destroy(arena);
    }
}

static void test_beta_interval(void)
{
    double mean, lo, hi;
    labeling_beta_interval(1, 1, &mean, &lo, &hi); /* uniform */
    NEAR(mean, 0.5, 1e-12);
    NEAR(lo, 0.05, 1e-9);
    NEAR(hi, 0.95, 1e-9);
    labeling_beta_interval(2, 1, &mean, &lo, &hi); /* cdf x^2 */
    NEAR(lo, sqrt(0.05), 1e-9);
    NEAR(hi, sqrt(0.95), 1e-9);
    labeling_beta_interval(1, 3, &mean, &lo, &hi); /* cdf 1 - (1 - x)^3 */
    NEAR(lo, 1 - cbrt(0.95), 1e-9);
    NEAR(hi, 1 - cbrt(0.05), 1e-9);
    /* five right answers of five: still far from known-good; 500 of 500: narrow */
    double lo5, hi5, lo500, hi500;
    labeling_beta_interval(6, 1, &mean, &lo5, &hi5);
    labeling_beta_interval(501, 1, &mean, &lo500, &hi500);
    CU_ASSERT(lo5 < 0.65);
    CU_ASSERT(hi5 - lo5 > 5 * (hi500 - lo500));
}

static void test_quality_uncertainty_shrinks_with_answers(void)
{
    /* worker 0 answers 5 items, worker 1 answers 200; both always agree with workers 2, 3 */
    enum { ITEMS = 200 };
    static struct labeling_answer a[ITEMS * 3 + 5];
    size_t n = 0;
    for (uint32_t i = 0; i < ITEMS; i++) {
        a[n++] = (struct labeling_answer){i, 1, i % 3 == 0};
        a[n++] = (struct labeling_answer){i, 2, i % 3 == 0};
        a[n++] = (struct labeling_answer){i, 3, i % 3 == 0};
    }
    for (uint32_t i = 0; i < 5; i++)
        a[n++] = (struct labeling_answer){i, 0, i % 3 == 0};
    struct arena *arena = arena_create(0);
    struct labeling_result r = run(a, n, ITEMS, 4, 2, LABELING_METHOD_DS, 0, arena);
    const struct labeling_quality *few = &r.workers[0], *many = &r.workers[1];
    CU_ASSERT_EQUAL(few->answers, 5);
    CU_ASSERT(few->model_low < 0.7);
    CU_ASSERT(many->model_low > 0.95);
    CU_ASSERT(few->model_high - few->model_low > 4 * (many->model_high - many->model_low));
    arena_destroy(arena);
}

/* ---- input rules -------------------------------------------------------------------------- */

static void test_bad_input(void)
{
    struct arena *arena = arena_create(0);
    struct labeling_options o;
    struct labeling_result r;
    struct lode_error err = {0};
    labeling_options_init(&o);
    const struct labeling_answer dup[] = {{0, 0, 0}, {0, 0, 1}};
    struct labeling_problem p = {dup, 2, NULL, 0, 1, 1, 2};
    CU_ASSERT_EQUAL(labeling_aggregate(&p, &o, arena, &r, &err), LODE_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message, "worker 0 labels item 0 twice");
    const struct labeling_answer range[] = {{0, 0, 2}};
    struct labeling_problem q = {range, 1, NULL, 0, 1, 1, 2};
    CU_ASSERT_EQUAL(labeling_aggregate(&q, &o, arena, &r, &err), LODE_EINVAL);
    q.label_count = 1;
    CU_ASSERT_EQUAL(labeling_aggregate(&q, &o, arena, &r, &err), LODE_EINVAL);
    const struct labeling_gold g[] = {{0, 0}, {0, 1}};
    struct labeling_problem s = {NULL, 0, g, 2, 1, 1, 2};
    CU_ASSERT_EQUAL(labeling_aggregate(&s, &o, arena, &r, &err), LODE_EINVAL);
    /* no answers at all: every item is LABELING_NONE, not an error */
    struct labeling_problem e = {NULL, 0, NULL, 0, 3, 0, 2};
    for (int m = 0; m <= LABELING_METHOD_AUTO; m++) {
        o.method = (enum labeling_method)m;
        CU_ASSERT_EQUAL_FATAL(labeling_aggregate(&e, &o, arena, &r, &err), LODE_OK);
        CU_ASSERT_EQUAL(r.label[2], LABELING_NONE);
    }
    /* a small arena budget is an error, not a crash */
    struct arena *tight = arena_create(256);
    const struct labeling_answer ok[] = {{0, 0, 0}, {1, 0, 1}};
    struct labeling_problem t = {ok, 2, NULL, 0, 2, 1, 2};
    CU_ASSERT_EQUAL(labeling_aggregate(&t, &o, tight, &r, &err), LODE_ENOMEM);
    arena_destroy(tight);
    arena_destroy(arena);
}

static void test_dedupe_last_wins(void)
{
    struct labeling_answer a[] = {{0, 0, 0}, {1, 0, 1}, {0, 0, 1}, {0, 1, 0}, {0, 0, 2}};
    struct arena *arena = arena_create(0);
    struct lode_error err = {0};
    size_t n = 0;
    CU_ASSERT_EQUAL(labeling_answers_dedupe(a, 5, 2, 2, arena, &n, &err), LODE_OK);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT(a[0].item == 1 && a[0].label == 1);
    CU_ASSERT(a[1].item == 0 && a[1].worker == 1);
    CU_ASSERT(a[2].item == 0 && a[2].worker == 0 && a[2].label == 2);
    arena_destroy(arena);
}

static void test_auto_is_deterministic(void)
{
    static struct labeling_answer a[300];
    size_t n = 0;
    for (uint32_t i = 0; i < 100; i++)
        for (uint32_t w = 0; w < 3; w++)
            a[n++] = (struct labeling_answer){i, (i + w) % 7, (i * 7 + w * (i % 3 == 0)) % 3};
    struct arena *arena = arena_create(0);
    struct labeling_result r1 = run(a, n, 100, 7, 3, LABELING_METHOD_AUTO, 0, arena);
    struct labeling_result r2 = run(a, n, 100, 7, 3, LABELING_METHOD_AUTO, 0, arena);
    CU_ASSERT_EQUAL(r1.method, r2.method);
    CU_ASSERT(r1.method != LABELING_METHOD_AUTO);
    CU_ASSERT(memcmp(r1.label, r2.label, 100 * sizeof *r1.label) == 0);
    CU_ASSERT(memcmp(r1.posterior, r2.posterior, 300 * sizeof *r1.posterior) == 0);
    for (int c = 0; c < LABELING_CANDIDATES; c++)
        CU_ASSERT(isfinite(r1.heldout[c]) && r1.heldout[c] <= 0);
    arena_destroy(arena);
}

/* ---- ratings and multi-label -------------------------------------------------------------- */

static void test_ratings_robust(void)
{
    /* workers 0 and 1 rate close to the truth, worker 2 adds 50 to everything: under both
     * estimators the consensus stays within the honest pair and the biased scale is large */
    const double truth[4] = {1, 5, 9, 3};
    struct labeling_rating r[12];
    size_t n = 0;
    for (uint32_t i = 0; i < 4; i++) {
        r[n++] = (struct labeling_rating){i, 0, truth[i]};
        r[n++] = (struct labeling_rating){i, 1, truth[i] + (i % 2 ? 0.5 : -0.5)};
        r[n++] = (struct labeling_rating){i, 2, truth[i] + 50};
    }
    struct arena *arena = arena_create(0);
    struct labeling_rating_result out;
    struct lode_error err = {0};
    for (int m = LABELING_RATING_GAUSSIAN; m <= LABELING_RATING_MEDIAN; m++) {
        CU_ASSERT_EQUAL_FATAL(labeling_aggregate_ratings(r, n, 5, 3,
                                                         (enum labeling_rating_method)m, arena,
                                                         &out, &err),
                              LODE_OK);
        for (uint32_t i = 0; i < 4; i++)
            CU_ASSERT(fabs(out.value[i] - truth[i]) <= 0.5 + 1e-9);
        CU_ASSERT(isnan(out.value[4]));
        CU_ASSERT_EQUAL(out.ratings[0], 3);
        CU_ASSERT(out.worker_scale[2] > 10 * out.worker_scale[0]);
    }
    /* weighted median by hand: one rater, three values -> the middle one; spread 0 */
    const struct labeling_rating one[] = {{0, 0, 7}, {1, 0, 2}};
    CU_ASSERT_EQUAL(labeling_aggregate_ratings(one, 2, 2, 1, LABELING_RATING_MEDIAN, arena, &out,
                                               &err),
                    LODE_OK);
    NEAR(out.value[0], 7, 1e-12);
    NEAR(out.spread[1], 0, 1e-12);
    /* equal weights, values 1, 2, 10 from three workers on one item: median 2, mean 13/3 in
     * the first round; the median stays at 2 */
    const struct labeling_rating three[] = {{0, 0, 1}, {0, 1, 2}, {0, 2, 10}};
    CU_ASSERT_EQUAL(labeling_aggregate_ratings(three, 3, 1, 3, LABELING_RATING_MEDIAN, arena,
                                               &out, &err),
                    LODE_OK);
    NEAR(out.value[0], 2, 1e-12);
    struct labeling_rating bad = {0, 0, NAN};
    CU_ASSERT_EQUAL(labeling_aggregate_ratings(&bad, 1, 1, 1, LABELING_RATING_GAUSSIAN, arena,
                                               &out, &err),
                    LODE_EINVAL);
    arena_destroy(arena);
}

static void test_multilabel(void)
{
    /* item 0: {0,1}, {0}, {0,1} -> {0,1}; item 1: {2}, {2}, {} -> {2} */
    const struct labeling_multi_answer a[] = {
        {0, 0, 0x3}, {0, 1, 0x1}, {0, 2, 0x3}, {1, 0, 0x4}, {1, 1, 0x4}, {1, 2, 0x0},
    };
    struct arena *arena = arena_create(0);
    struct labeling_options o;
    struct labeling_multi_result r;
    struct lode_error err = {0};
    labeling_options_init(&o);
    o.method = LABELING_METHOD_MV;
    CU_ASSERT_EQUAL_FATAL(labeling_aggregate_multi(a, 6, 2, 3, 3, &o, arena, &r, &err), LODE_OK);
    CU_ASSERT_EQUAL(r.labels[0], 0x3);
    CU_ASSERT_EQUAL(r.labels[1], 0x4);
    NEAR(r.confidence[0 * 3 + 1], 3.0 / 5.0, 1e-12); /* 2 of 3 chose label 1: (2+1)/(3+2) */
    const struct labeling_multi_answer bad[] = {{0, 0, 0x8}};
    CU_ASSERT_EQUAL(labeling_aggregate_multi(bad, 1, 1, 1, 3, &o, arena, &r, &err), LODE_EINVAL);
    arena_destroy(arena);
}

/* ---- Krippendorff's alpha ----------------------------------------------------------------- */

/* Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the example with four
 * observers, twelve units and missing values: nominal 0.743, interval 0.849. */
static const int kripp[4][12] = {
    {1, 2, 3, 3, 2, 1, 4, 1, 2, 0, 0, 0},
    {1, 2, 3, 3, 2, 2, 4, 1, 2, 5, 0, 3},
    {0, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, 0},
    {1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, 0},
};

static void test_alpha_textbook(void)
{
    struct labeling_answer a[48];
    struct labeling_rating r[48];
    size_t n = 0;
    for (uint32_t c = 0; c < 4; c++)
        for (uint32_t u = 0; u < 12; u++)
            if (kripp[c][u] != 0) {
                a[n] = (struct labeling_answer){u, c, (uint32_t)kripp[c][u]};
                r[n] = (struct labeling_rating){u, c, kripp[c][u]};
                n++;
            }
    struct arena *arena = arena_create(0);
    struct lode_error err = {0};
    double alpha;
    CU_ASSERT_EQUAL(labeling_alpha_nominal(a, n, 12, 6, arena, &alpha, &err), LODE_OK);
    NEAR(alpha, 0.743, 0.0005);
    CU_ASSERT_EQUAL(labeling_alpha_interval(r, n, 12, arena, &alpha, &err), LODE_OK);
    NEAR(alpha, 0.849, 0.0005);
    /* perfect agreement -> 1; one value throughout -> undefined */
    const struct labeling_answer same[] = {{0, 0, 1}, {0, 1, 1}, {1, 0, 0}, {1, 1, 0}};
    CU_ASSERT_EQUAL(labeling_alpha_nominal(same, 4, 2, 2, arena, &alpha, &err), LODE_OK);
    NEAR(alpha, 1.0, 1e-12);
    CU_ASSERT_EQUAL(labeling_alpha_nominal(same, 2, 2, 2, arena, &alpha, &err), LODE_OK);
    CU_ASSERT(isnan(alpha));
    /* hand case: units {0,1}, {0,0}: n = 4, values 0 x3, 1 x1; observed 2/1 = 2;
     * expected 16 - (9 + 1) = 6; alpha = 1 - 3 * 2 / 6 = 0 */
    const struct labeling_answer hand[] = {{0, 0, 0}, {0, 1, 1}, {1, 0, 0}, {1, 1, 0}};
    CU_ASSERT_EQUAL(labeling_alpha_nominal(hand, 4, 2, 2, arena, &alpha, &err), LODE_OK);
    NEAR(alpha, 0.0, 1e-12);
    arena_destroy(arena);
}

/* ---- CSV ---------------------------------------------------------------------------------- */

static enum lode_code parse(const char *text, struct arena *arena, struct labeling_table *t,
                            struct lode_error *err)
{
    return labeling_csv_parse(text, strlen(text), arena, t, err);
}

static void test_csv_reader(void)
{
    struct arena *arena = arena_create(0);
    struct labeling_table t;
    struct lode_error err = {0};
    const char *ok = "\xEF\xBB\xBFid,Label,worker,task,note\r\n"
                     "1,cat,w1,t1,x\r\n"
                     "2,\"d,og\",w2,t1,\"say \"\"hi\"\"\nsecond line\"\r\n"
                     "\r\n"
                     "3,cat,w1,t2,\n"
                     "4,dog,w1,t1,late answer wins\n";
    CU_ASSERT_EQUAL_FATAL(parse(ok, arena, &t, &err), LODE_OK);
    CU_ASSERT_EQUAL(t.task_count, 2);
    CU_ASSERT_EQUAL(t.worker_count, 2);
    CU_ASSERT_EQUAL(t.label_count, 3);
    CU_ASSERT_STRING_EQUAL(t.label_names[1], "d,og");
    CU_ASSERT_EQUAL(t.row_count, 4);
    CU_ASSERT_EQUAL(t.duplicate_count, 1);
    CU_ASSERT_EQUAL(t.answer_count, 3);
    /* (t1, w1) kept its last answer, "dog" (label 2) */
    bool found = false;
    for (size_t i = 0; i < t.answer_count; i++)
        if (t.answers[i].item == 0 && t.answers[i].worker == 0)
            found = t.answers[i].label == 2;
    CU_ASSERT(found);

    static const struct {
        const char *text;
        enum lode_code code;
        const char *message;
    } bad[] = {
        {"", LODE_EINVAL, "empty file: expected a header with the columns task, worker, label"},
        {"\n\n", LODE_EINVAL, "empty file: expected a header with the columns task, worker, label"},
        {"task,worker\nt,w\n", LODE_EINVAL, "header has no column \"label\" (need task, worker, label)"},
        {"task,worker,label\n", LODE_EINVAL, "no answers after the header"},
        {"task,worker,label\nt,w,l\nt,w\n", LODE_EINVAL, "line 3: 2 fields, the header has 3"},
        {"task,worker,label\nt,w,l,x\n", LODE_EINVAL, "line 2: 4 fields, the header has 3"},
        {"task,worker,label\nt,,l\n", LODE_EINVAL, "line 2: empty worker"},
        {"task,worker,label\nt,w,\"l\n", LODE_EINVAL, "line 2: quoted field is not closed"},
        {"task,worker,label\nt,w,\"l\"x\n", LODE_EINVAL, "line 2: unexpected character after a quoted field"},
        {"task,worker,label\nt,w,l\"\n", LODE_EINVAL, "line 2: quote inside an unquoted field"},
        {"task,worker,label\nt,w,l\rx\n", LODE_EINVAL, "line 2: carriage return without a line feed"},
        {"task,task,worker,label\n", LODE_EINVAL, "line 1: column \"task\" appears twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CU_ASSERT_EQUAL(parse(bad[i].text, arena, &t, &err), bad[i].code);
        CU_ASSERT_STRING_EQUAL(err.message, bad[i].message);
        if (strcmp(err.message, bad[i].message) != 0)
            fprintf(stderr, "case %zu: %s\n", i, err.message);
    }
    /* a label schema pins ids and rejects labels outside it */
    static const char *const schema[] = {"no", "yes", "maybe"};
    CU_ASSERT_EQUAL(labeling_csv_parse_schema("task,worker,label\nt,w,yes\n", 25, schema, 3,
                                              arena, &t, &err), LODE_OK);
    CU_ASSERT_EQUAL(t.label_count, 3);
    CU_ASSERT_EQUAL(t.answers[0].label, 1);
    CU_ASSERT_STRING_EQUAL(t.label_names[2], "maybe");
    const char *outside = "task,worker,label\nt,w,yes\nt,v,nope\n";
    CU_ASSERT_EQUAL(labeling_csv_parse_schema(outside, strlen(outside), schema, 3, arena, &t,
                                              &err), LODE_EINVAL);
    CU_ASSERT_STRING_EQUAL(err.message, "line 3: label \"nope\" is not in the schema");
    static const char *const twice[] = {"a", "a"};
    CU_ASSERT_EQUAL(labeling_csv_parse_schema(outside, strlen(outside), twice, 2, arena, &t,
                                              &err), LODE_EINVAL);
    /* NUL byte, a field one past the limit, a label one past the limit */
    const char nul[] = "task,worker,label\nt,w\0,l\n";
    CU_ASSERT_EQUAL(labeling_csv_parse(nul, sizeof nul - 1, arena, &t, &err), LODE_EINVAL);
    char *big = malloc(2 * 1024 + 64);
    int off = sprintf(big, "task,worker,label\nt,w,");
    memset(big + off, 'x', 1025);
    strcpy(big + off + 1025, "\n");
    CU_ASSERT_EQUAL(parse(big, arena, &t, &err), LODE_ETOOBIG);
    CU_ASSERT_STRING_EQUAL(err.message, "line 2: field longer than 1024 bytes");
    free(big);
    char *many = malloc(257 * 32 + 64);
    off = sprintf(many, "task,worker,label\n");
    for (int i = 0; i < 257; i++)
        off += sprintf(many + off, "t,w%d,l%d\n", i, i);
    CU_ASSERT_EQUAL(parse(many, arena, &t, &err), LODE_ETOOBIG);
    CU_ASSERT_STRING_EQUAL(err.message, "line 258: more than 256 distinct labels");
    free(many);
    arena_destroy(arena);
}

int main(void)
{
    static const struct test_case engine[] = {
        {"mv majority and reliability tie-break", test_mv_majority_and_reliability_tiebreak},
        {"mv exact ties hashed, deterministic, unbiased", test_mv_exact_tie_is_hashed_and_unbiased},
        {"ds one EM step by hand", test_ds_one_step},
        {"onecoin one EM step by hand", test_onecoin_one_step},
        {"hds one EM step by hand", test_hds_one_step},
        {"ds learns a flipping worker", test_ds_learns_a_flipping_worker},
        {"gold clamped and scores workers", test_gold_is_clamped_and_scores_workers},
        {"beta intervals", test_beta_interval},
        {"quality uncertainty shrinks with answers", test_quality_uncertainty_shrinks_with_answers},
        {"bad input", test_bad_input},
        {"dedupe keeps the last answer", test_dedupe_last_wins},
        {"auto is deterministic", test_auto_is_deterministic},
        {NULL, NULL},
    };
    static const struct test_case other[] = {
        {"ratings: gaussian worker model and weighted median", test_ratings_robust},
        {"multi-label", test_multilabel},
        {"krippendorff alpha textbook example", test_alpha_textbook},
        {"csv reader", test_csv_reader},
        {NULL, NULL},
    };
    static const struct test_suite suites[] = {
        {"labeling_engine", engine},
        {"labeling_ratings_agreement_csv", other},
        {NULL, NULL},
    };
    return test_main(suites);
}
