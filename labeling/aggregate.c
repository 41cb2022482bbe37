/*
 * labeling/aggregate.c — majority vote, one-coin, shrunk and plain Dawid-Skene EM, the held-out
 * choice between them, and labeler quality.
 *
 * All EM models share one loop: start from majority-vote shares, then alternate an M-step
 * (parameters from the current posteriors over the training answers) and an E-step (posteriors
 * from the parameters), clamping gold items, until no posterior moves by more than the
 * tolerance or the iteration cap is reached. Both steps stream over the answer array once, so
 * a pass costs O(answers * labels) and memory is O(items * labels + workers * labels^2).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/limits.h"
#include "labeling/labeling.h"

enum model_kind { MODEL_POOLED, MODEL_ONECOIN, MODEL_HDS, MODEL_DS };

#define AUTO_CV_ANSWERS_MAX 1000000 /* AUTO: full k-fold up to this many answers, then 1 fold */
#define AUTO_Z 1.645 /* AUTO: a richer model must win by this many standard errors (one-sided 95%) */

/* Working state of one aggregation, allocated once and reused by every fit. */
struct work {
    const struct labeling_problem *p;
    const struct labeling_options *o;
    uint32_t K;
    uint32_t *gold;      /* [item] clamped label or LABELING_NONE */
    double *post;        /* [item * K] */
    double *acc;         /* [item * K] E-step accumulator */
    double *theta;       /* [worker * K * K] log-probabilities (DS/HDS) */
    double *coin;        /* [worker] accuracy (ONECOIN) */
    double *log_right;   /* [worker] log(accuracy) */
    double *log_wrong;   /* [worker] log((1 - accuracy) / (K - 1)) */
    double *right;       /* [worker] expected right answers */
    uint32_t *count;     /* [worker] training answers */
    double logprior[LODE_LABELING_LABELS_MAX];
    const uint8_t *skip; /* NULL = every answer trains; else answers of fold skip_fold are
                            held out of the fit */
    uint8_t skip_fold;
    const uint8_t *fold; /* [answer] fold id (AUTO) */
    unsigned iterations;
    bool converged;
};

static uint64_t mix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

void labeling_options_init(struct labeling_options *options)
{
    memset(options, 0, sizeof *options);
    options->method = LABELING_METHOD_AUTO;
    options->iterations_max = 100;
    options->tolerance = 1e-6;
    options->smoothing = 0.01;
    options->shrinkage = 16.0;
    options->coin_prior = 1.0;
    options->folds = 5;
    options->seed = 0;
}

static const char *const method_names[] = {"mv", "onecoin", "hds", "ds", "auto"};

const char *labeling_method_name(enum labeling_method method)
{
    if ((unsigned)method > LABELING_METHOD_AUTO)
        return "unknown";
    return method_names[method];
}

bool labeling_method_parse(const char *name, enum labeling_method *method_out)
{
    for (unsigned i = 0; i <= LABELING_METHOD_AUTO; i++)
        if (strcmp(name, method_names[i]) == 0) {
            *method_out = (enum labeling_method)i;
            return true;
        }
    return false;
}

/* ---- Beta posterior intervals ------------------------------------------------------------ */

/* Continued fraction of the regularized incomplete beta function (modified Lentz). */
static double beta_fraction(double a, double b, double x)
{
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0), h;

    if (fabs(d) < tiny)
        d = tiny;
    d = 1.0 / d;
    h = d;
    for (int m = 1; m <= 300; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        if (fabs(d) < tiny)
            d = tiny;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        c = 1.0 + num / c;
        if (fabs(d) < tiny)
            d = tiny;
        if (fabs(c) < tiny)
            c = tiny;
        d = 1.0 / d;
        double step = d * c;
        h *= step;
        if (fabs(step - 1.0) < 1e-12)
            break;
    }
    return h;
}

static double beta_cdf(double a, double b, double x)
{
    if (x <= 0.0)
        return 0.0;
    if (x >= 1.0)
        return 1.0;
    double ln = lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x);
    if (x < (a + 1.0) / (a + b + 2.0))
        return exp(ln) * beta_fraction(a, b, x) / a;
    return 1.0 - exp(ln) * beta_fraction(b, a, 1.0 - x) / b;
}

static double beta_quantile(double a, double b, double q)
{
    double lo = 0.0, hi = 1.0;
    for (int i = 0; i < 50; i++) {
        double mid = 0.5 * (lo + hi);
        if (beta_cdf(a, b, mid) < q)
            lo = mid;
        else
            hi = mid;
    }
    return 0.5 * (lo + hi);
}

void labeling_beta_interval(double a, double b, double *mean_out, double *low_out,
                            double *high_out)
{
    *mean_out = a / (a + b);
    *low_out = beta_quantile(a, b, 0.05);
    *high_out = beta_quantile(a, b, 0.95);
}

/* ---- validation and duplicates ----------------------------------------------------------- */

static enum lode_code check_ids(const struct labeling_answer *answers, size_t count,
                                uint32_t item_count, uint32_t worker_count, uint32_t label_count,
                                struct lode_error *err)
{
    if (count > LODE_LABELING_ANSWERS_MAX)
        return lode_error_set(err, LODE_ETOOBIG, "%zu answers exceed the limit of %u", count,
                              LODE_LABELING_ANSWERS_MAX);
    if (item_count == UINT32_MAX || worker_count == UINT32_MAX)
        return lode_error_set(err, LODE_EINVAL, "item or worker count out of range");
    for (size_t i = 0; i < count; i++) {
        const struct labeling_answer *a = &answers[i];
        if (a->item >= item_count || a->worker >= worker_count || a->label >= label_count)
            return lode_error_set(err, LODE_EINVAL,
                                  "answer %zu (item %u, worker %u, label %u) is out of range", i,
                                  a->item, a->worker, a->label);
    }
    return LODE_OK;
}

/* Answer indexes grouped by item (stable counting sort): offsets[item_count + 1], order[count]. */
static enum lode_code group_by_item(const struct labeling_answer *answers, size_t count,
                                    uint32_t item_count, struct arena *arena,
                                    uint32_t **offsets_out, uint32_t **order_out,
                                    struct lode_error *err)
{
    uint32_t *off = arena_calloc(arena, (size_t)item_count + 1, sizeof *off);
    uint32_t *order = arena_calloc(arena, count ? count : 1, sizeof *order);
    if (off == NULL || order == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the answer index");
    for (size_t i = 0; i < count; i++)
        off[answers[i].item + 1]++;
    for (uint32_t i = 0; i < item_count; i++)
        off[i + 1] += off[i];
    uint32_t *fill = arena_calloc(arena, item_count ? item_count : 1, sizeof *fill);
    if (fill == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the answer index");
    memcpy(fill, off, (size_t)item_count * sizeof *fill);
    for (size_t i = 0; i < count; i++)
        order[fill[answers[i].item]++] = (uint32_t)i;
    *offsets_out = off;
    *order_out = order;
    return LODE_OK;
}

enum lode_code labeling_answers_dedupe(struct labeling_answer *answers, size_t answer_count,
                                       uint32_t item_count, uint32_t worker_count,
                                       struct arena *arena, size_t *count_out,
                                       struct lode_error *err)
{
    enum lode_code rc = check_ids(answers, answer_count, item_count, worker_count, UINT32_MAX, err);
    uint32_t *off, *order, *stamp;
    uint8_t *drop;

    if (rc != LODE_OK)
        return rc;
    rc = group_by_item(answers, answer_count, item_count, arena, &off, &order, err);
    if (rc != LODE_OK)
        return rc;
    stamp = arena_calloc(arena, worker_count ? worker_count : 1, sizeof *stamp);
    drop = arena_calloc(arena, answer_count ? answer_count : 1, 1);
    if (stamp == NULL || drop == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the duplicate index");
    for (uint32_t it = 0; it < item_count; it++)
        for (uint32_t j = off[it + 1]; j > off[it]; j--) { /* last answer first */
            uint32_t a = order[j - 1];
            if (stamp[answers[a].worker] == it + 1)
                drop[a] = 1;
            stamp[answers[a].worker] = it + 1;
        }
    size_t n = 0;
    for (size_t i = 0; i < answer_count; i++)
        if (!drop[i])
            answers[n++] = answers[i];
    *count_out = n;
    return LODE_OK;
}

static enum lode_code validate(const struct labeling_problem *p, struct arena *arena,
                               uint32_t **gold_out, struct lode_error *err)
{
    uint32_t *off = NULL, *order = NULL, *stamp, *gold;
    enum lode_code rc;

    if (p->label_count < 2 || p->label_count > LODE_LABELING_LABELS_MAX)
        return lode_error_set(err, LODE_EINVAL, "label count %u is outside 2..%d", p->label_count,
                              LODE_LABELING_LABELS_MAX);
    if (p->answer_count > 0 && p->answers == NULL)
        return lode_error_set(err, LODE_EINVAL, "answers missing");
    rc = check_ids(p->answers, p->answer_count, p->item_count, p->worker_count, p->label_count,
                   err);
    if (rc != LODE_OK)
        return rc;
    rc = group_by_item(p->answers, p->answer_count, p->item_count, arena, &off, &order, err);
    if (rc != LODE_OK)
        return rc;
    if (off == NULL || order == NULL) /* defensive: group_by_item sets both on success */
        return lode_error_set(err, LODE_EINTERNAL, "could not group the answers by item");
    stamp = arena_calloc(arena, p->worker_count ? p->worker_count : 1, sizeof *stamp);
    gold = arena_alloc(arena, (p->item_count ? p->item_count : 1) * sizeof *gold);
    if (stamp == NULL || gold == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the duplicate index");
    for (uint32_t it = 0; it < p->item_count; it++)
        for (uint32_t j = off[it]; j < off[it + 1]; j++) {
            const struct labeling_answer *a = &p->answers[order[j]];
            if (stamp[a->worker] == it + 1)
                return lode_error_set(err, LODE_EINVAL, "worker %u labels item %u twice",
                                      a->worker, it);
            stamp[a->worker] = it + 1;
        }
    for (uint32_t it = 0; it < p->item_count; it++)
        gold[it] = LABELING_NONE;
    for (size_t g = 0; g < p->gold_count; g++) {
        const struct labeling_gold *k = &p->gold[g];
        if (k->item >= p->item_count || k->label >= p->label_count)
            return lode_error_set(err, LODE_EINVAL, "gold %zu (item %u, label %u) is out of range",
                                  g, k->item, k->label);
        if (gold[k->item] != LABELING_NONE && gold[k->item] != k->label)
            return lode_error_set(err, LODE_EINVAL, "gold item %u has two different labels",
                                  k->item);
        gold[k->item] = k->label;
    }
    *gold_out = gold;
    return LODE_OK;
}

/* ---- helpers ----------------------------------------------------------------------------- */

/* Index of the largest value; exact ties broken by a hash of (item, seed). */
static uint32_t pick_max(const double *row, uint32_t K, uint32_t item, uint64_t seed)
{
    double best = row[0];
    uint32_t ties = 0, chosen = 0;
    for (uint32_t k = 1; k < K; k++)
        if (row[k] > best)
            best = row[k];
    for (uint32_t k = 0; k < K; k++)
        if (row[k] >= best - 1e-12 * fabs(best))
            ties++;
    uint32_t want = ties > 1 ? (uint32_t)(mix64(seed ^ ((uint64_t)item << 1)) % ties) : 0;
    for (uint32_t k = 0; k < K; k++)
        if (row[k] >= best - 1e-12 * fabs(best)) {
            if (want == 0) {
                chosen = k;
                break;
            }
            want--;
        }
    return chosen;
}

static bool used(const struct work *w, size_t a)
{
    return w->skip == NULL || w->fold[a] != w->skip_fold;
}

static void clamp_gold(struct work *w)
{
    uint32_t K = w->K;
    for (uint32_t i = 0; i < w->p->item_count; i++)
        if (w->gold[i] != LABELING_NONE) {
            for (uint32_t k = 0; k < K; k++)
                w->post[(size_t)i * K + k] = 0.0;
            w->post[(size_t)i * K + w->gold[i]] = 1.0;
        }
}

/* Posteriors start as vote shares over the used answers (uniform for items without any). */
static void init_shares(struct work *w)
{
    uint32_t K = w->K;
    size_t cells = (size_t)w->p->item_count * K;
    memset(w->acc, 0, cells * sizeof *w->acc);
    for (size_t a = 0; a < w->p->answer_count; a++)
        if (used(w, a)) {
            const struct labeling_answer *x = &w->p->answers[a];
            w->acc[(size_t)x->item * K + x->label] += 1.0;
        }
    for (uint32_t i = 0; i < w->p->item_count; i++) {
        double n = 0;
        for (uint32_t k = 0; k < K; k++)
            n += w->acc[(size_t)i * K + k];
        for (uint32_t k = 0; k < K; k++)
            w->post[(size_t)i * K + k] = n > 0 ? w->acc[(size_t)i * K + k] / n : 1.0 / K;
    }
    clamp_gold(w);
}

/* M-step: parameters of `kind` from the current posteriors. */
static void m_step(struct work *w, enum model_kind kind)
{
    const struct labeling_problem *p = w->p;
    uint32_t K = w->K, W = p->worker_count;
    double cls[LODE_LABELING_LABELS_MAX] = {0}, total = 0;

    memset(w->right, 0, (size_t)W * sizeof *w->right);
    if (kind == MODEL_POOLED) {
        for (uint32_t k = 0; k < K; k++)
            w->logprior[k] = -log((double)K);
    } else {
        for (uint32_t i = 0; i < p->item_count; i++)
            for (uint32_t k = 0; k < K; k++)
                cls[k] += w->post[(size_t)i * K + k];
        for (uint32_t k = 0; k < K; k++)
            total += cls[k];
        for (uint32_t k = 0; k < K; k++)
            w->logprior[k] = log((cls[k] + 1.0) / (total + K));
    }

    if (kind == MODEL_POOLED || kind == MODEL_ONECOIN) {
        double c = w->o->coin_prior, all_right = 0, all_n = 0;
        for (size_t a = 0; a < p->answer_count; a++)
            if (used(w, a)) {
                const struct labeling_answer *x = &p->answers[a];
                w->right[x->worker] += w->post[(size_t)x->item * K + x->label];
            }
        for (uint32_t v = 0; v < W; v++) {
            all_right += w->right[v];
            all_n += w->count[v];
        }
        for (uint32_t v = 0; v < W; v++) {
            double r = kind == MODEL_POOLED ? all_right : w->right[v];
            double n = kind == MODEL_POOLED ? all_n : w->count[v];
            double acc = (r + 2.0 * c) / (n + 3.0 * c);
            /* keep strictly inside (0, 1) so logs stay finite */
            if (acc < 1e-6)
                acc = 1e-6;
            if (acc > 1.0 - 1e-6)
                acc = 1.0 - 1e-6;
            w->coin[v] = acc;
            w->log_right[v] = log(acc);
            w->log_wrong[v] = log((1.0 - acc) / (K - 1));
        }
        return;
    }

    /* confusion counts: theta temporarily holds expected counts */
    size_t cells = (size_t)W * K * K;
    memset(w->theta, 0, cells * sizeof *w->theta);
    for (size_t a = 0; a < p->answer_count; a++)
        if (used(w, a)) {
            const struct labeling_answer *x = &p->answers[a];
            double *m = &w->theta[(size_t)x->worker * K * K];
            const double *q = &w->post[(size_t)x->item * K];
            for (uint32_t k = 0; k < K; k++)
                m[(size_t)k * K + x->label] += q[k];
        }
    for (uint32_t v = 0; v < W; v++) {
        double *m = &w->theta[(size_t)v * K * K];
        double diag = 0, tot = 0;
        for (uint32_t k = 0; k < K; k++)
            for (uint32_t l = 0; l < K; l++) {
                tot += m[(size_t)k * K + l];
                diag += k == l ? m[(size_t)k * K + l] : 0.0;
            }
        /* HDS: the worker's own one-coin accuracy is the centre its matrix is shrunk toward */
        double pc = (diag + 2.0 * w->o->coin_prior) / (tot + 3.0 * w->o->coin_prior);
        for (uint32_t k = 0; k < K; k++) {
            double row = 0, *r = &m[(size_t)k * K];
            for (uint32_t l = 0; l < K; l++)
                row += r[l];
            if (kind == MODEL_HDS) {
                double s = w->o->shrinkage;
                for (uint32_t l = 0; l < K; l++)
                    r[l] = log((r[l] + s * (l == k ? pc : (1 - pc) / (K - 1))) / (row + s));
            } else {
                double s = w->o->smoothing;
                for (uint32_t l = 0; l < K; l++)
                    r[l] = log((r[l] + s) / (row + K * s));
            }
        }
    }
}

/* log P(worker answers l | true k) under the current parameters. */
static double log_emit(const struct work *w, enum model_kind kind, uint32_t v, uint32_t k,
                       uint32_t l)
{
    if (kind == MODEL_POOLED || kind == MODEL_ONECOIN)
        return k == l ? w->log_right[v] : w->log_wrong[v];
    return w->theta[((size_t)v * w->K + k) * w->K + l];
}

/* E-step: posteriors from parameters; returns the largest change of any posterior. */
static double e_step(struct work *w, enum model_kind kind)
{
    const struct labeling_problem *p = w->p;
    uint32_t K = w->K;
    double delta = 0;

    for (uint32_t i = 0; i < p->item_count; i++)
        memcpy(&w->acc[(size_t)i * K], w->logprior, K * sizeof(double));
    if (kind == MODEL_POOLED || kind == MODEL_ONECOIN) {
        for (size_t a = 0; a < p->answer_count; a++)
            if (used(w, a)) {
                const struct labeling_answer *x = &p->answers[a];
                double *acc = &w->acc[(size_t)x->item * K];
                double lr = w->log_right[x->worker];
                double lw = w->log_wrong[x->worker];
                for (uint32_t k = 0; k < K; k++)
                    acc[k] += lw;
                acc[x->label] += lr - lw;
            }
    } else {
        for (size_t a = 0; a < p->answer_count; a++)
            if (used(w, a)) {
                const struct labeling_answer *x = &p->answers[a];
                double *acc = &w->acc[(size_t)x->item * K];
                const double *m = &w->theta[(size_t)x->worker * K * K + x->label];
                for (uint32_t k = 0; k < K; k++)
                    acc[k] += m[(size_t)k * K];
            }
    }
    for (uint32_t i = 0; i < p->item_count; i++) {
        double *acc = &w->acc[(size_t)i * K], *q = &w->post[(size_t)i * K];
        double top = acc[0], sum = 0;
        for (uint32_t k = 1; k < K; k++)
            if (acc[k] > top)
                top = acc[k];
        for (uint32_t k = 0; k < K; k++)
            sum += (acc[k] = exp(acc[k] - top));
        for (uint32_t k = 0; k < K; k++) {
            double nv = w->gold[i] != LABELING_NONE ? (k == w->gold[i] ? 1.0 : 0.0) : acc[k] / sum;
            double d = fabs(nv - q[k]);
            if (d > delta)
                delta = d;
            q[k] = nv;
        }
    }
    return delta;
}

static void fit(struct work *w, enum model_kind kind, double tolerance, unsigned iterations_max)
{
    memset(w->count, 0, (size_t)w->p->worker_count * sizeof *w->count);
    for (size_t a = 0; a < w->p->answer_count; a++)
        if (used(w, a))
            w->count[w->p->answers[a].worker]++;
    init_shares(w);
    w->iterations = 0;
    w->converged = false;
    while (w->iterations < iterations_max) {
        m_step(w, kind);
        double delta = e_step(w, kind);
        w->iterations++;
        if (delta < tolerance) {
            w->converged = true;
            break;
        }
    }
    if (w->iterations == 0) /* iteration cap 0: parameters still needed for scoring */
        m_step(w, kind);
}

/* Mean log-probability of the held-out fold's answers under the model fitted without them. */
/* Adds, per worker, the log-probability of each held-out answer under the model fitted
 * without it: P(l | rest) = sum_k posterior(k | training answers) * P(worker says l | k). */
static void heldout_score(struct work *w, enum model_kind kind, double *wsum, double *wn)
{
    const struct labeling_problem *p = w->p;
    uint32_t K = w->K;
    for (size_t a = 0; a < p->answer_count; a++) {
        if (used(w, a))
            continue;
        const struct labeling_answer *x = &p->answers[a];
        const double *q = &w->post[(size_t)x->item * K];
        double pr = 0;
        for (uint32_t k = 0; k < K; k++)
            pr += q[k] * exp(log_emit(w, kind, x->worker, k, x->label));
        wsum[x->worker] += log(pr > 1e-300 ? pr : 1e-300);
        wn[x->worker] += 1;
    }
}

/* ---- majority vote ----------------------------------------------------------------------- */

/* Majority vote. The winner is the label with the most answers; a tie goes to the tied label
 * whose voters have the larger summed reliability (each worker's Beta(1, 1)-smoothed agreement
 * with co-labelers on the same items, and with the truth on gold items); an exact tie of that
 * too goes to the tied label picked by a hash of (item, seed). Gold items keep their label. */
static void majority_vote(struct work *w, const uint32_t *votes, struct labeling_result *r)
{
    const struct labeling_problem *p = w->p;
    uint32_t K = w->K, W = p->worker_count;
    double *rel = w->coin, *agree = w->right, *tie = w->acc;
    uint32_t *seen = w->count;
    double score[LODE_LABELING_LABELS_MAX];

    memset(agree, 0, (size_t)W * sizeof *agree);
    memset(seen, 0, (size_t)W * sizeof *seen);
    for (size_t a = 0; a < p->answer_count; a++) {
        const struct labeling_answer *x = &p->answers[a];
        const uint32_t *v = &votes[(size_t)x->item * K];
        uint32_t m = 0;
        for (uint32_t k = 0; k < K; k++)
            m += v[k];
        agree[x->worker] += v[x->label] - 1;
        seen[x->worker] += m - 1;
        if (w->gold[x->item] != LABELING_NONE) {
            agree[x->worker] += w->gold[x->item] == x->label;
            seen[x->worker]++;
        }
    }
    for (uint32_t v = 0; v < W; v++)
        rel[v] = (agree[v] + 1.0) / (seen[v] + 2.0);
    memset(tie, 0, (size_t)p->item_count * K * sizeof *tie);
    for (size_t a = 0; a < p->answer_count; a++) {
        const struct labeling_answer *x = &p->answers[a];
        tie[(size_t)x->item * K + x->label] += rel[x->worker];
    }
    for (uint32_t i = 0; i < p->item_count; i++) {
        const uint32_t *v = &votes[(size_t)i * K];
        uint32_t n = 0, top = 0;
        for (uint32_t k = 0; k < K; k++) {
            n += v[k];
            if (v[k] > top)
                top = v[k];
        }
        r->label[i] = w->gold[i];
        if (w->gold[i] == LABELING_NONE && n > 0) {
            for (uint32_t k = 0; k < K; k++)
                score[k] = v[k] == top ? tie[(size_t)i * K + k] : -1.0;
            r->label[i] = pick_max(score, K, i, w->o->seed);
        }
        for (uint32_t k = 0; k < K; k++) {
            double share = (v[k] + 1.0) / (n + (double)K); /* Dirichlet(1) posterior mean */
            if (w->gold[i] != LABELING_NONE)
                share = k == w->gold[i] ? 1.0 : 0.0;
            r->posterior[(size_t)i * K + k] = share;
        }
    }
}

/* ---- quality ----------------------------------------------------------------------------- */

static void worker_quality(struct work *w, const uint32_t *votes, struct labeling_result *r)
{
    const struct labeling_problem *p = w->p;
    uint32_t K = w->K, W = p->worker_count;
    double *model = w->right;
    double *pair_ok = w->coin; /* reuse scratch: W doubles each */
    double *pair_n = w->acc;   /* items * K >= W is not guaranteed: sized in setup */

    memset(model, 0, (size_t)W * sizeof *model);
    memset(pair_ok, 0, (size_t)W * sizeof *pair_ok);
    memset(pair_n, 0, (size_t)W * sizeof *pair_n);
    for (uint32_t v = 0; v < W; v++)
        memset(&r->workers[v], 0, sizeof r->workers[v]);
    for (size_t a = 0; a < p->answer_count; a++) {
        const struct labeling_answer *x = &p->answers[a];
        struct labeling_quality *q = &r->workers[x->worker];
        const uint32_t *v = &votes[(size_t)x->item * K];
        uint32_t m = 0;
        for (uint32_t k = 0; k < K; k++)
            m += v[k];
        q->answers++;
        model[x->worker] += r->posterior[(size_t)x->item * K + x->label];
        q->agreement += r->label[x->item] == x->label;
        pair_ok[x->worker] += v[x->label] - 1;
        pair_n[x->worker] += m - 1;
        if (w->gold[x->item] != LABELING_NONE) {
            q->gold_answers++;
            q->gold_right += w->gold[x->item] == x->label;
        }
    }
    for (uint32_t v = 0; v < W; v++) {
        struct labeling_quality *q = &r->workers[v];
        labeling_beta_interval(1.0 + q->gold_right, 1.0 + (q->gold_answers - q->gold_right),
                               &q->gold_mean, &q->gold_low, &q->gold_high);
        double right = model[v] < q->answers ? model[v] : q->answers;
        labeling_beta_interval(1.0 + right, 1.0 + (q->answers - right), &q->model_mean,
                               &q->model_low, &q->model_high);
        q->agreement = q->answers ? q->agreement / q->answers : NAN;
        q->pairwise = pair_n[v] > 0 ? pair_ok[v] / pair_n[v] : NAN;
    }
}

static const enum model_kind candidate_kind[LABELING_CANDIDATES] = {MODEL_POOLED, MODEL_ONECOIN,
                                                                   MODEL_HDS, MODEL_DS};

/* ---- model choice (AUTO) ----------------------------------------------------------------- */

/* True when candidate a predicts held-out answers better than b by more than AUTO_Z standard
 * errors of the mean per-worker difference (a paired comparison over workers). */
static bool clearly_better(const double *mean, uint32_t W, int a, int b)
{
    double sum = 0, sq = 0, n = 0;
    for (uint32_t v = 0; v < W; v++) {
        double x = mean[(size_t)a * W + v], y = mean[(size_t)b * W + v];
        if (isnan(x) || isnan(y))
            continue;
        sum += x - y;
        sq += (x - y) * (x - y);
        n += 1;
    }
    if (n < 2)
        return false;
    double m = sum / n, var = (sq - n * m * m) / (n - 1);
    double se = sqrt(var > 0 ? var : 0) / sqrt(n);
    return m > 0 && m > AUTO_Z * se;
}

/* Scores every candidate by k-fold held-out log-likelihood per worker and picks one:
 * the symmetric family first (MV, replaced by ONECOIN only if ONECOIN is clearly better),
 * then the label-dependent family (the better of HDS and DS), adopted only if clearly better
 * than the symmetric choice. Each worker weighs the same in the comparison, so a few prolific
 * workers with shared errors cannot decide alone which model explains the crowd. */
static enum lode_code choose_model(struct work *w, struct arena *arena, struct labeling_result *r,
                                   enum labeling_method *method_out, struct lode_error *err)
{
    const struct labeling_problem *p = w->p;
    const struct labeling_options *o = w->o;
    uint32_t W = p->worker_count;
    uint8_t *fold = arena_alloc(arena, p->answer_count ? p->answer_count : 1);
    double *wsum = arena_calloc(arena, W ? W : 1, sizeof(double));
    double *wn = arena_calloc(arena, W ? W : 1, sizeof(double));
    double *mean = arena_calloc(arena, (size_t)(W ? W : 1) * LABELING_CANDIDATES, sizeof(double));

    if (fold == NULL || wsum == NULL || wn == NULL || mean == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate the held-out scores");
    for (size_t a = 0; a < p->answer_count; a++) {
        const struct labeling_answer *x = &p->answers[a];
        uint64_t h = mix64(o->seed ^ mix64(((uint64_t)x->item << 32) | x->worker));
        fold[a] = (uint8_t)(h % o->folds);
    }
    w->fold = fold;
    w->skip = fold;
    /* scoring needs predictive probabilities to a few digits, not labels to the last */
    double tolerance = o->tolerance > 1e-4 ? o->tolerance : 1e-4;
    unsigned iterations = o->iterations_max < 50 ? o->iterations_max : 50;
    /* past AUTO_CV_ANSWERS_MAX answers one held-out fold already holds hundreds of thousands
       of answers: score that one instead of all, at 1/folds of the cost */
    unsigned scored = p->answer_count > AUTO_CV_ANSWERS_MAX ? 1 : o->folds;
    for (int c = 0; c < LABELING_CANDIDATES; c++) {
        double sum = 0, n = 0;
        memset(wsum, 0, (size_t)W * sizeof *wsum);
        memset(wn, 0, (size_t)W * sizeof *wn);
        for (unsigned f = 0; f < scored; f++) {
            w->skip_fold = (uint8_t)f;
            fit(w, candidate_kind[c], tolerance, iterations);
            heldout_score(w, candidate_kind[c], wsum, wn);
        }
        for (uint32_t v = 0; v < W; v++) {
            mean[(size_t)c * W + v] = wn[v] > 0 ? wsum[v] / wn[v] : NAN;
            if (wn[v] > 0) {
                sum += wsum[v] / wn[v];
                n += 1;
            }
        }
        r->heldout[c] = n > 0 ? sum / n : 0;
    }
    w->skip = NULL;
    int sym = clearly_better(mean, W, LABELING_METHOD_ONECOIN, LABELING_METHOD_MV)
                  ? LABELING_METHOD_ONECOIN
                  : LABELING_METHOD_MV;
    int dep = r->heldout[LABELING_METHOD_DS] > r->heldout[LABELING_METHOD_HDS]
                  ? LABELING_METHOD_DS
                  : LABELING_METHOD_HDS;
    *method_out = (enum labeling_method)(clearly_better(mean, W, dep, sym) ? dep : sym);
    return LODE_OK;
}

/* ---- entry point ------------------------------------------------------------------------- */


enum lode_code labeling_aggregate(const struct labeling_problem *problem,
                                  const struct labeling_options *options, struct arena *arena,
                                  struct labeling_result *result_out, struct lode_error *err)
{
    struct labeling_result *r = result_out;
    struct work w = {0};
    enum lode_code rc;
    uint32_t K = problem->label_count, I = problem->item_count, W = problem->worker_count;
    enum labeling_method method = options->method;

    memset(r, 0, sizeof *r);
    if ((unsigned)method > LABELING_METHOD_AUTO || options->folds < 2 || options->folds > 10 ||
        !(options->tolerance >= 0) || !(options->smoothing > 0) || !(options->shrinkage > 0) ||
        !(options->coin_prior > 0))
        return lode_error_set(err, LODE_EINVAL, "invalid aggregation options");
    rc = validate(problem, arena, &w.gold, err);
    if (rc != LODE_OK)
        return rc;
    w.p = problem;
    w.o = options;
    w.K = K;
    size_t cells = (size_t)I * K;
    size_t scratch = cells > W ? cells : W;
    w.post = arena_calloc(arena, cells ? cells : 1, sizeof(double));
    w.acc = arena_calloc(arena, scratch ? scratch : 1, sizeof(double));
    w.coin = arena_calloc(arena, W ? W : 1, sizeof(double));
    w.log_right = arena_calloc(arena, W ? W : 1, sizeof(double));
    w.log_wrong = arena_calloc(arena, W ? W : 1, sizeof(double));
    w.right = arena_calloc(arena, W ? W : 1, sizeof(double));
    w.count = arena_calloc(arena, W ? W : 1, sizeof(uint32_t));
    r->label = arena_calloc(arena, I ? I : 1, sizeof *r->label);
    r->confidence = arena_calloc(arena, I ? I : 1, sizeof *r->confidence);
    r->posterior = arena_calloc(arena, cells ? cells : 1, sizeof *r->posterior);
    r->votes = arena_calloc(arena, cells ? cells : 1, sizeof *r->votes);
    r->workers = arena_calloc(arena, W ? W : 1, sizeof *r->workers);
    if (w.post == NULL || w.acc == NULL || w.coin == NULL || w.log_right == NULL ||
        w.log_wrong == NULL || w.right == NULL || w.count == NULL ||
        r->label == NULL || r->confidence == NULL || r->posterior == NULL ||
        r->votes == NULL || r->workers == NULL)
        return lode_error_set(err, LODE_ENOMEM, "could not allocate aggregation state");
    if (method == LABELING_METHOD_DS || method == LABELING_METHOD_HDS ||
        method == LABELING_METHOD_AUTO) {
        w.theta = arena_calloc(arena, (W ? (size_t)W * K * K : 1), sizeof(double));
        if (w.theta == NULL)
            return lode_error_set(err, LODE_ENOMEM, "could not allocate confusion matrices");
    }
    r->item_count = I;
    r->worker_count = W;
    r->label_count = K;
    for (int c = 0; c < LABELING_CANDIDATES; c++)
        r->heldout[c] = NAN;
    for (size_t a = 0; a < problem->answer_count; a++) {
        const struct labeling_answer *x = &problem->answers[a];
        r->votes[(size_t)x->item * K + x->label]++;
    }

    if (method == LABELING_METHOD_AUTO) {
        rc = choose_model(&w, arena, r, &method, err);
        if (rc != LODE_OK)
            return rc;
    }
    r->method = method;
    if (method == LABELING_METHOD_MV) {
        majority_vote(&w, r->votes, r);
        r->iterations = 0;
        r->converged = true;
    } else {
        fit(&w, candidate_kind[method], options->tolerance, options->iterations_max);
        memcpy(r->posterior, w.post, cells * sizeof(double));
        for (uint32_t i = 0; i < I; i++) {
            uint32_t n = 0;
            for (uint32_t k = 0; k < K; k++)
                n += r->votes[(size_t)i * K + k];
            r->label[i] = n > 0 || w.gold[i] != LABELING_NONE
                              ? pick_max(&r->posterior[(size_t)i * K], K, i, options->seed)
                              : LABELING_NONE;
        }
        r->iterations = w.iterations;
        r->converged = w.converged;
    }
    for (uint32_t i = 0; i < I; i++)
        r->confidence[i] = r->label[i] == LABELING_NONE ? 0.0
                                                        : r->posterior[(size_t)i * K + r->label[i]];
    worker_quality(&w, r->votes, r);
    return LODE_OK;
}
